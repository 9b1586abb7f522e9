//! `<run dir>/report.jsonl`: one JSON object per point, appended and flushed
//! as the point ends: parameters, outcome, timestamps and metrics.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::row::PointRow;
use crate::load::metrics::Latency;

/// Version of the record layout written here.
pub const REPORT_SCHEMA_VERSION: &str = "0.2.0";

/// An open JSONL report.
#[derive(Debug)]
pub struct ReportSink {
    file: File,
}

fn latency(l: &Latency) -> serde_json::Value {
    json!({"p50": l.p50, "p90": l.p90, "p99": l.p99, "mean": l.mean})
}

impl ReportSink {
    pub fn create(path: &Path) -> std::io::Result<ReportSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(ReportSink { file })
    }

    /// Append the record of one point.
    pub fn write(&mut self, scenario: &str, backend: &str, row: &PointRow) -> std::io::Result<()> {
        let m = &row.metrics;
        let v = json!({
            "schema_version": REPORT_SCHEMA_VERSION,
            "mlxrun_version": env!("CARGO_PKG_VERSION"),
            "scenario": scenario,
            "backend": backend,
            "point": row,
            "outcome": row.status,
            "metrics": {
                "requests": m.requests,
                "ok_requests": m.ok_requests,
                "errors": m.errors,
                "error_kinds": m.error_kinds,
                "completion_tokens": m.completion_tokens,
                "prompt_tokens": m.prompt_tokens,
                "elapsed_s": m.elapsed_s,
                "throughput_tps": m.throughput_tps,
                "requests_per_s": m.requests_per_s,
                "ttft_ms": latency(&m.ttft_ms),
                "itl_ms": latency(&m.itl_ms),
                "e2e_ms": latency(&m.e2e_ms),
                "retries": m.retries,
                "usage_missing": m.usage_missing,
            },
            "per_instance": row.per_instance,
        });
        writeln!(self.file, "{v}")?;
        self.file.flush()
    }
}
