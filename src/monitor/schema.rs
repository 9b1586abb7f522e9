//! JSON Schema checks of JSONL files: [`MONITOR_SCHEMA`] (compiled in from
//! `schemas/monitor.schema.json`) describes every line of `monitor.jsonl`,
//! and [`LineValidator`] checks JSONL text against such a schema (draft
//! 2020-12, no remote references), naming the line and the field of each
//! problem.

use std::collections::BTreeMap;

use jsonschema::Validator;
use serde_json::Value;

/// `schemas/monitor.schema.json`.
pub const MONITOR_SCHEMA: &str = include_str!("../../schemas/monitor.schema.json");

/// A compiled schema for the lines of a JSONL file.
pub struct LineValidator {
    all: Validator,
    /// One validator per `$defs` entry with a constant `kind`, so a bad
    /// line of a known kind gets that kind's errors, not just "matches no
    /// branch of oneOf".
    by_kind: BTreeMap<String, Validator>,
}

impl LineValidator {
    /// Compile `schema` (JSON text).
    pub fn new(schema: &str) -> Result<LineValidator, String> {
        let schema: Value = serde_json::from_str(schema).map_err(|e| format!("schema: {e}"))?;
        let compile = |s: &Value| jsonschema::validator_for(s).map_err(|e| format!("schema: {e}"));
        let mut by_kind = BTreeMap::new();
        if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
            for (name, def) in defs {
                if let Some(kind) = def
                    .pointer("/properties/kind/const")
                    .and_then(Value::as_str)
                {
                    let mut one = schema.clone();
                    let o = one
                        .as_object_mut()
                        .expect("a schema with $defs is an object");
                    o.remove("oneOf");
                    o.insert("$ref".into(), Value::from(format!("#/$defs/{name}")));
                    by_kind.insert(kind.to_string(), compile(&one)?);
                }
            }
        }
        Ok(LineValidator {
            all: compile(&schema)?,
            by_kind,
        })
    }

    /// The problems of one line (empty when it is valid).
    pub fn check(&self, line: &str) -> Vec<String> {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return vec![format!("not JSON: {e}")],
        };
        if self.all.is_valid(&v) {
            return Vec::new();
        }
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        let validator = self.by_kind.get(kind).unwrap_or(&self.all);
        let errors: Vec<String> = validator
            .iter_errors(&v)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            vec![format!("no schema branch accepts kind {kind:?}")]
        } else {
            errors
        }
    }

    /// `line N: problem` for every problem in `text` (empty lines skipped).
    pub fn check_jsonl(&self, text: &str) -> Vec<String> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .flat_map(|(i, l)| {
                self.check(l)
                    .into_iter()
                    .map(move |p| format!("line {}: {p}", i + 1))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_schema_is_valid_draft_2020_12() {
        let schema: Value = serde_json::from_str(MONITOR_SCHEMA).unwrap();
        assert!(jsonschema::meta::is_valid(&schema));
        assert_eq!(schema["title"], "mlxrun monitor record v1");
        let v = LineValidator::new(MONITOR_SCHEMA).unwrap();
        assert_eq!(
            v.by_kind.keys().collect::<Vec<_>>(),
            ["event", "header", "sample", "summary"]
        );
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
}
