//! `<run dir>/report.jsonl`: one JSON object per point, appended whole (one
//! `write(2)` per record) and synced as the point ends: schema version, timestamps, the point's parameters and
//! outcome, model, backend and modality, metrics, the machine (hardware
//! profile, package versions), its health during the point and the quality
//! flags. `schemas/report.schema.json` describes each record; field names
//! follow mlx-knife's report where the meaning matches.

use std::path::Path;

use serde_json::json;

use super::model_info::ModelInfo;
use super::row::PointRow;
use crate::durable::{LineFile, push_json_line};
use crate::metrics::distribution::Stat;
use crate::metrics::point::PointMetrics;
use crate::spec::measure::percentile_label;

/// Version of the record layout written here (`schemas/HISTORY.md`).
pub const REPORT_SCHEMA_VERSION: &str = "0.9.0";

/// The JSON Schema of a record, as published in `schemas/`.
pub const REPORT_SCHEMA: &str = include_str!("../../schemas/report.schema.json");

/// What every record of a run shares.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub scenario: String,
    /// The run's name (its folder under `results/<scenario>/`).
    pub run_id: String,
    /// The `system` object: platform, hardware profile, package versions.
    pub system: serde_json::Value,
}

/// What a record says besides the row.
#[derive(Debug, Clone, Copy)]
pub struct RecordContext<'a> {
    pub backend_version: &'a str,
    pub model: &'a ModelInfo,
}

/// An open `report.jsonl`, appended to one record per point.
#[derive(Debug)]
pub struct JsonlSink {
    file: LineFile,
    run: RunInfo,
}

/// One latency as `{count, mean, std, min, max, exact, p50, …}` (ms).
fn latency(st: &Stat, qs: &[f64]) -> serde_json::Value {
    let mut v = json!({
        "count": st.count,
        "mean": st.mean,
        "std": st.std,
        "min": st.min,
        "max": st.max,
        "exact": st.exact,
    });
    for (q, value) in qs.iter().zip(&st.percentiles) {
        v[percentile_label(*q)] = json!(value);
    }
    v
}

impl JsonlSink {
    /// Open `path` to append records (created when missing: a resumed run
    /// appends to its file).
    pub fn create(path: &Path, run: RunInfo) -> std::io::Result<JsonlSink> {
        let file = LineFile::append(path)?;
        Ok(JsonlSink { file, run })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Append the record of one point as one line in one write, and sync
    /// it; the error names the file.
    pub fn write(&mut self, row: &PointRow, ctx: RecordContext<'_>) -> std::io::Result<()> {
        self.append(&record(&self.run, row, ctx))
    }

    fn append(&mut self, record: &serde_json::Value) -> std::io::Result<()> {
        let mut line = Vec::new();
        push_json_line(&mut line, record)
            .and_then(|()| self.file.append_synced(&line))
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot write {}: {e}", self.file.path().display()),
                )
            })
    }
}

/// The record of one point.
pub fn record(run: &RunInfo, row: &PointRow, ctx: RecordContext<'_>) -> serde_json::Value {
    json!({
            "schema_version": REPORT_SCHEMA_VERSION,
            "timestamp": row.ended_at,
            "test_start_ts": row.started_ts,
            "test_end_ts": row.ended_ts,
            "duration": ((row.ended_ts - row.started_ts).max(0.0) * 1000.0).round() / 1000.0,
            "mlxrun_version": crate::VERSION,
            "scenario": run.scenario,
            "run_id": run.run_id,
            "test": format!("{}::p{}[{}]", run.scenario, row.point, row.params()),
            "outcome": row.status,
            "outcome_detail": row.status_detail,
            "row_kind": row.row_kind,
            "search": row.search,
            "repeat": row.repeat,
            "repeats": row.repeats,
            "warmup": row.warmup,
            "intervals": row.intervals,
            "stability": row.stability,
            "precision": row.precision,
            "analysis_ms": row.analysis_ms,
            "point": row,
            "model": ctx.model,
            "backend": {"name": row.backend, "version": ctx.backend_version},
            "metadata": {"inference_modality": row.inference_modality},
            "metrics": metrics(&row.metrics),
            "per_instance": row.per_instance,
            "server_metrics": row
                .server_metrics
                .iter()
                .map(|(name, m)| {
                    let v = match m {
                        Ok(m) => json!(m),
                        Err(e) => json!({"error": e}),
                    };
                    (name.clone(), v)
                })
                .collect::<serde_json::Map<String, serde_json::Value>>(),
            "system": run.system,
            "system_health": row.health,
            "resources": row.resources,
            "client_check": row.client_check,
            "sampling": {
                "temperature": row.temperature,
                "top_p": row.top_p,
                "seed": row.sampling_seed,
            },
            "server_mode": row.server_mode,
            "energy": row.energy,
    })
}

/// The `metrics` object: what the client measured.
fn metrics(m: &PointMetrics) -> serde_json::Value {
    let qs = &m.percentiles;
    json!({
                "requests": m.requests,
                "ok_requests": m.ok_requests,
                "errors": m.errors,
                "error_kinds": m.error_kinds,
                "excluded_requests": m.excluded_requests,
                "completion_tokens": m.completion_tokens,
                "content_events": m.content_events,
                "requested_tokens": m.requested_tokens,
                "short_responses": m.short_responses,
                "prompt_tokens": m.prompt_tokens,
                "cached_tokens": m.cached_tokens,
                "elapsed_s": m.elapsed_s,
                "throughput_tps": m.throughput_tps,
                "total_tps": m.total_tps,
                "requests_per_s": m.requests_per_s,
                "ttft_ms": latency(&m.ttft_ms, qs),
                "tpot_ms": latency(&m.tpot_ms, qs),
                "itl_ms": latency(&m.itl_ms, qs),
                "itl_token_ms": latency(&m.itl_token_ms, qs),
                "e2e_ms": latency(&m.e2e_ms, qs),
                "queue_ms": latency(&m.queue_ms, qs),
                "client_lag_ms": latency(&m.client_lag_ms, qs),
                "client_cpu_ms_per_req": m.client_cpu_ms_per_req,
                "slo": m.slo,
                "retries": m.retries,
                "usage_missing": m.usage_missing,
                "audio_seconds": m.audio_seconds,
                "rtf_mean": m.rtf_mean,
                "rtf_p50": m.rtf_p50,
                "audio_s_per_s": m.audio_s_per_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_info() -> RunInfo {
        RunInfo {
            scenario: "s".into(),
            run_id: "s_1".into(),
            system: json!({}),
        }
    }

    #[test]
    fn each_record_is_one_whole_line_appended_after_what_is_there() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("report.jsonl");
        std::fs::write(&p, "{\"earlier\":1}\n").unwrap();
        let mut sink = JsonlSink::create(&p, run_info()).unwrap();
        for point in [1, 2] {
            sink.append(&json!({"point": {"point": point}, "text": "a\nb"}))
                .unwrap();
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["point"]["point"], 2);
        assert_eq!(lines[1]["text"], "a\nb");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_record_that_cannot_be_written_is_an_error_naming_the_file() {
        let mut sink = JsonlSink::create(Path::new("/dev/full"), run_info()).unwrap();
        let e = sink.append(&json!({"point": 1})).unwrap_err();
        assert!(e.to_string().starts_with("cannot write /dev/full: "), "{e}");
    }
}
