//! `<run dir>/report.jsonl`: one JSON object per point, appended and flushed
//! as the point ends: parameters, outcome, timestamps and metrics.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::row::PointRow;
use crate::load::distribution::Stat;
use crate::scenario::measure::percentile_label;

/// Version of the record layout written here.
pub const REPORT_SCHEMA_VERSION: &str = "0.3.0";

/// An open JSONL report.
#[derive(Debug)]
pub struct ReportSink {
    file: File,
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

impl ReportSink {
    pub fn create(path: &Path) -> std::io::Result<ReportSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(ReportSink { file })
    }

    /// Append the record of one point.
    pub fn write(&mut self, scenario: &str, backend: &str, row: &PointRow) -> std::io::Result<()> {
        let m = &row.metrics;
        let qs = &m.percentiles;
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
            },
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
        });
        writeln!(self.file, "{v}")?;
        self.file.flush()
    }
}
