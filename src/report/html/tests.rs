//! Tests of report.html: the data blob and the inlined assets cannot close
//! their elements, run text is escaped, and an empty run still makes a page.

use super::*;
use crate::report::data::PointRecord;

#[test]
fn the_data_blob_cannot_close_its_script_element() {
    let v = serde_json::json!({"params": "</script><script>alert(1)</script>", "c": "<!-- x"});
    let s = script_json(&v);
    assert!(!s.contains('<'), "{s}");
    assert!(s.contains(r"\u003c/script>"), "{s}");
    let back: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(back, v, "JSON.parse gives back the same strings");
}

#[test]
fn the_embedded_assets_cannot_close_their_elements() {
    for (name, text, tag) in [
        ("uPlot.iife.min.js", UPLOT_JS, "</script"),
        ("report.js", REPORT_JS, "</script"),
        ("uPlot.min.css", UPLOT_CSS, "</style"),
        ("report.css", REPORT_CSS, "</style"),
    ] {
        assert!(!text.to_lowercase().contains(tag), "{name} contains {tag}");
    }
}

#[test]
fn the_page_escapes_run_text_and_carries_its_data_and_libraries() {
    let point = PointRecord {
        point: 1,
        outcome: "failed".into(),
        outcome_detail: "<b>boom</b> </script>".into(),
        model: "m<i>".into(),
        ..Default::default()
    };
    let run = RunData {
        run_id: "run<1>".into(),
        scenario: "s&t".into(),
        points: vec![point],
        ..Default::default()
    };
    let html = render(&run, &[]);
    assert!(
        html.starts_with("<!doctype html>"),
        "{}",
        &html[..200.min(html.len())]
    );
    assert!(html.contains("run&lt;1&gt;"), "the run id is escaped");
    assert!(
        html.contains("&lt;b&gt;boom&lt;&#x2f;b&gt;") || html.contains("&lt;b&gt;boom&lt;/b&gt;")
    );
    assert!(!html.contains("<b>boom"));
    // the only `</script` are the page's own element ends
    let opens = html.matches("<script").count();
    let closes = html.to_lowercase().matches("</script").count();
    assert_eq!(opens, closes, "every script element closes once");
    assert!(html.contains("var uPlot="), "uPlot is inlined");
    assert!(html.contains(r#"<script type="application/json" id="report-data">"#));
    assert!(html.contains("Content-Security-Policy"));
    // a run with nothing in it still makes a page
    let empty = render(&RunData::default(), &[]);
    assert!(empty.contains("0 points: 0 measured"), "{empty:.300}");
}
