//! `mlxrun validate-report FILE…`: check report.jsonl and monitor.jsonl
//! files line by line against the JSON Schemas in `schemas/` (embedded in
//! the binary), naming the line and the field of every violation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;

use crate::monitor::schema::MONITOR_SCHEMA;
use crate::output::jsonl::{REPORT_SCHEMA, REPORT_SCHEMA_VERSION};

/// One line that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// 1-based line number.
    pub line: usize,
    /// JSON pointer of the field (`/metrics/ttft_ms/p50`), empty for the whole line.
    pub field: String,
    pub message: String,
}

/// The outcome for one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCheck {
    /// Non-blank lines.
    pub records: usize,
    /// Lines without a violation.
    pub valid: usize,
    pub violations: Vec<Violation>,
}

/// Which schema a line answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A line of report.jsonl (it has `schema_version`).
    Report,
    /// A line of monitor.jsonl (it has `kind`).
    Monitor,
}

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
        let compile = |s: &Value| {
            jsonschema::options()
                .should_validate_formats(true)
                .build(s)
                .map_err(|e| format!("schema: {e}"))
        };
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

    /// The record kinds with a schema of their own (`kind` constants of `$defs`).
    pub fn kinds(&self) -> Vec<&str> {
        self.by_kind.keys().map(String::as_str).collect()
    }

    /// The problems of one line as `/field: message` (empty when it is valid).
    pub fn check(&self, line: &str) -> Vec<String> {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => self
                .check_value(&v)
                .into_iter()
                .map(|(field, msg)| format!("{field}: {msg}"))
                .collect(),
            Err(e) => vec![format!("not JSON: {e}")],
        }
    }

    /// The problems of one parsed line as `(JSON pointer, message)`.
    pub fn check_value(&self, v: &Value) -> Vec<(String, String)> {
        if self.all.is_valid(v) {
            return Vec::new();
        }
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        let validator = self.by_kind.get(kind).unwrap_or(&self.all);
        let errors: Vec<(String, String)> = validator
            .iter_errors(v)
            .map(|e| (e.instance_path().to_string(), e.to_string()))
            .collect();
        if errors.is_empty() {
            vec![(
                "/kind".into(),
                format!("no schema branch accepts kind {kind:?}"),
            )]
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

fn validator(kind: RecordKind) -> &'static LineValidator {
    static REPORT: OnceLock<LineValidator> = OnceLock::new();
    static MONITOR: OnceLock<LineValidator> = OnceLock::new();
    let compile = |text: &str| {
        LineValidator::new(text).unwrap_or_else(|e| panic!("the embedded {kind:?} {e}"))
    };
    match kind {
        RecordKind::Report => REPORT.get_or_init(|| compile(REPORT_SCHEMA)),
        RecordKind::Monitor => MONITOR.get_or_init(|| compile(MONITOR_SCHEMA)),
    }
}

/// Violations of one parsed line (empty when it holds).
pub fn check_value(v: &serde_json::Value) -> Vec<(String, String)> {
    let kind = if v.get("schema_version").is_some() {
        RecordKind::Report
    } else if v.get("kind").is_some() {
        RecordKind::Monitor
    } else {
        return vec![(
            String::new(),
            "neither a report record (no schema_version) nor a monitor record (no kind)".into(),
        )];
    };
    if kind == RecordKind::Report {
        let version = v["schema_version"].as_str().unwrap_or_default();
        if version != REPORT_SCHEMA_VERSION {
            return vec![(
                "/schema_version".into(),
                format!(
                    "version {version:?} is not the current schema {REPORT_SCHEMA_VERSION}; check older records with the mlxrun that wrote them (schemas/HISTORY.md)"
                ),
            )];
        }
    }
    validator(kind).check_value(v)
}

/// Check every non-blank line of `text`.
pub fn check_text(text: &str) -> FileCheck {
    let mut out = FileCheck::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.records += 1;
        let found = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => check_value(&v),
            Err(e) => vec![(String::new(), format!("invalid JSON: {e}"))],
        };
        if found.is_empty() {
            out.valid += 1;
        }
        out.violations
            .extend(found.into_iter().map(|(field, message)| Violation {
                line: i + 1,
                field,
                message,
            }));
    }
    out
}

/// Check `files`, print one line per violation and a total per file;
/// returns the exit code: 0 all valid, 1 a violation, 2 a file unreadable.
pub fn run(files: &[PathBuf]) -> i32 {
    let mut code = 0;
    let (mut valid, mut total) = (0, 0);
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(text) => {
                let c = check_text(&text);
                report(f, &c);
                valid += c.valid;
                total += c.records;
                if !c.violations.is_empty() || c.records == 0 {
                    code = code.max(1);
                }
            }
            Err(e) => {
                eprintln!(
                    "error: cannot read {}: {e}\n  next: give the path of a report.jsonl or monitor.jsonl in a run dir",
                    f.display()
                );
                code = 2;
            }
        }
    }
    if files.len() > 1 {
        println!(
            "total: {valid}/{total} records valid across {} files",
            files.len()
        );
    }
    code
}

fn report(path: &Path, c: &FileCheck) {
    for v in &c.violations {
        let field = if v.field.is_empty() {
            String::new()
        } else {
            format!(" {}:", v.field)
        };
        println!("{}:{}:{field} {}", path.display(), v.line, v.message);
    }
    if c.records == 0 {
        println!("{}: no records", path.display());
    } else {
        let mark = if c.violations.is_empty() {
            "ok"
        } else {
            "INVALID"
        };
        println!(
            "{mark} {}: {}/{} records valid",
            path.display(),
            c.valid,
            c.records
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::point::PointMetrics;
    use crate::output::jsonl::{RecordContext, RunInfo, record};
    use crate::output::model_info::ModelInfo;
    use crate::output::row::PointRow;
    use crate::scenario::expand::{Point, ServerConfig};
    use crate::spec::scenario::RouterKind;

    fn a_record() -> serde_json::Value {
        let cfg = ServerConfig {
            index: 0,
            model: 0,
            model_name: "tiny".into(),
            model_arg: "/m/tiny".into(),
            backend: "mlx_lm".into(),
            instances: 2,
            ranks: 1,
            ranks_total: 1,
            hosts: Vec::new(),
            placement: Vec::new(),
            launcher_backend: String::new(),
            axes: vec![],
            decode_concurrency: Some(4),
            prompt_concurrency: None,
            flags: vec![],
            router: RouterKind::Nginx,
            balance: None,
        };
        let point = Point {
            index: 2,
            server: 0,
            concurrency: 8,
            request_rate: None,
            max_tokens: 16,
            input_tokens: None,
            requests: 8,
            duration_s: None,
            modality: crate::spec::media::Modality::Text,
            image_count: None,
            image_size: None,
            audio_duration_s: None,
            sampling: crate::spec::scenario::Sampling {
                temperature: 0.3,
                top_p: Some(0.9),
                seed: None,
            },
            server_mode: vec![crate::backend::mode::ModeNote {
                code: "per_request_sampling".into(),
                detail: "temperature 0.3 > 0".into(),
            }],
        };
        let metrics = PointMetrics {
            percentiles: vec![50.0, 99.9],
            requests: 8,
            ok_requests: 8,
            ..Default::default()
        };
        let mut row = PointRow::new(&cfg, &point, metrics);
        row.ended_at = "2026-11-22T01:02:03.456Z".into();
        row.started_ts = 1_795_000_000.0;
        row.ended_ts = 1_795_000_002.5;
        row.health.quality_flags = vec!["clean".into()];
        row.client_check = "ok".into();
        let run = RunInfo {
            scenario: "s".into(),
            run_id: "s_20261122_010203".into(),
            system: crate::output::system_info::system_info(
                serde_json::to_value(crate::monitor::hardware::profile()).unwrap(),
                &[("mlx_lm".to_string(), "mlx-lm 0.32.2 mlx 0.32.4".to_string())].into(),
            ),
        };
        record(
            &run,
            &row,
            RecordContext {
                backend_version: "mlx-lm 0.32.2 mlx 0.32.4",
                model: &ModelInfo::default(),
            },
        )
    }

    #[test]
    fn a_written_record_is_valid_and_names_its_test() {
        let v = a_record();
        assert_eq!(check_value(&v), Vec::<(String, String)>::new());
        assert_eq!(v["duration"], 2.5);
        assert!(v["test"].as_str().unwrap().starts_with("s::p3[model=tiny"));
        assert_eq!(v["metrics"]["ttft_ms"]["p99_9"], serde_json::Value::Null);
        assert_eq!(v["system"]["mlx_version"], "0.32.4");
        assert!(
            v["system"]["hardware_profile"]["logical_cores"]
                .as_u64()
                .unwrap()
                >= 1
        );
    }

    #[test]
    fn violations_name_the_line_and_the_field() {
        let good = a_record().to_string();
        let mut wrong_type = a_record();
        wrong_type["metrics"]["requests"] = serde_json::json!("eight");
        let mut unknown_key = a_record();
        unknown_key["ram_free_gb"] = serde_json::json!(3.0);
        let mut bad_flag = a_record();
        bad_flag["system_health"]["quality_flags"] = serde_json::json!(["degraded_ram"]);
        let mut old = a_record();
        old["schema_version"] = serde_json::json!("0.3.0");
        let text =
            format!("{good}\n\n{wrong_type}\n{unknown_key}\n{{not json\n{bad_flag}\n{old}\n{{}}\n");
        let c = check_text(&text);
        assert_eq!((c.records, c.valid), (7, 1));
        let at = |line: usize| -> Vec<&Violation> {
            c.violations.iter().filter(|v| v.line == line).collect()
        };
        assert_eq!(at(3)[0].field, "/metrics/requests");
        assert!(at(4)[0].message.contains("ram_free_gb"), "{:?}", at(4));
        assert!(at(5)[0].message.starts_with("invalid JSON"));
        assert_eq!(at(6)[0].field, "/system_health/quality_flags/0");
        assert!(at(7)[0].message.contains("not the current schema"));
        assert!(at(8)[0].message.contains("neither a report record"));
    }
}
