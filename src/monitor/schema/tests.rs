//! Tests of the monitor schema: it is valid draft 2020-12 with the four
//! record kinds, and a line that drifts from it (an unknown field, a
//! negative time, a point_end without statistics, not JSON) is named.

use super::*;
use crate::cmd::validate_report::LineValidator;
use serde_json::{Value, json};

#[test]
fn the_schema_is_valid_draft_2020_12() {
    let schema: Value = serde_json::from_str(MONITOR_SCHEMA).unwrap();
    assert!(jsonschema::meta::is_valid(&schema));
    assert_eq!(schema["title"], "mlxrun monitor record v4");
    let v = LineValidator::new(MONITOR_SCHEMA).unwrap();
    assert_eq!(v.kinds(), ["event", "header", "sample", "summary"]);
}

#[test]
fn drift_and_bad_values_are_named() {
    let v = LineValidator::new(MONITOR_SCHEMA).unwrap();
    let ev = json!({"kind": "event", "name": "x", "ts": 1.0, "elapsed_s": 0.5, "fields": {}});
    assert!(v.check(&ev.to_string()).is_empty());
    let mut extra = ev.clone();
    extra["surprise"] = json!(1);
    let p = v.check(&extra.to_string());
    assert!(p.iter().any(|e| e.contains("surprise")), "{p:?}");
    let mut neg = ev.clone();
    neg["elapsed_s"] = json!(-1.0);
    let p = v.check(&neg.to_string());
    assert!(p.iter().any(|e| e.starts_with("/elapsed_s")), "{p:?}");
    // a point_end must carry its window statistics
    let mut end = ev.clone();
    end["name"] = json!("point_end");
    assert!(!v.check(&end.to_string()).is_empty());
    let p = v.check(r#"{"kind": "nope"}"#);
    assert!(!p.is_empty());
    let p = v.check_jsonl("{\"kind\":\"event\"}\n\nnot json\n");
    assert!(p[0].starts_with("line 1: "), "{p:?}");
    assert!(p.last().unwrap().starts_with("line 3: not JSON"), "{p:?}");
}

#[test]
fn power_readings_and_the_idle_power_event_are_described() {
    let v = LineValidator::new(MONITOR_SCHEMA).unwrap();
    let idle = json!({"kind": "event", "name": "idle_power", "ts": 1.0, "elapsed_s": 0.5,
        "fields": {"devices": [{"name": "gpu0", "power_w": 71.5}], "span_s": 1.0, "why": null}});
    assert!(
        v.check(&idle.to_string()).is_empty(),
        "{:?}",
        v.check(&idle.to_string())
    );
    let none = json!({"kind": "event", "name": "idle_power", "ts": 1.0, "elapsed_s": 0.5,
        "fields": {"devices": [], "span_s": null, "why": "no power source: rapl: no powercap"}});
    assert!(v.check(&none.to_string()).is_empty());
    let mut bad = idle.clone();
    bad["fields"]["devices"][0]["power_w"] = json!(-1.0);
    assert!(!v.check(&bad.to_string()).is_empty());
    let mut unknown = idle.clone();
    unknown["fields"]["devices"][0]["source"] = json!("guess");
    assert!(!v.check(&unknown.to_string()).is_empty());
}
