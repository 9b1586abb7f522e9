//! What `mlxrun calibrate` measured of the client itself on this machine
//! (its request and SSE-event ceilings, its own TTFT floor), saved as JSON
//! and read by every run to flag a point served near the client's limit.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Share of a measured ceiling above which a point is flagged.
pub const NEAR_CEILING: f64 = 0.7;

/// What `calibrate` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub mlxrun_version: String,
    /// `release` or `debug`: a debug build is several times slower.
    pub build: String,
    pub measured_at: String,
    pub cpus: usize,
    pub concurrency: u32,
    pub tokens: u32,
    /// Requests/s with one-token responses.
    pub requests_per_s_ceiling: f64,
    /// SSE content events/s with `tokens`-token burst responses.
    pub sse_events_per_s_ceiling: f64,
    /// Requests/s with `tokens`-token responses.
    pub sse_requests_per_s: f64,
    /// mlxrun's CPU per request in the SSE measurement.
    pub client_cpu_ms_per_req: f64,
    /// Mean TTFT against a zero-delay stub: the client's own floor.
    pub zero_delay_ttft_ms: f64,
    /// Mean measured TTFT − 200 ms against the delaying stub.
    pub ttft_error_ms: f64,
    /// Mean measured ITL − 10 ms against the delaying stub.
    pub itl_error_ms: f64,
}

impl Calibration {
    /// The calibration at `path`, when there is a readable one.
    pub fn load(path: &Path) -> Option<Calibration> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Why a point that served `requests_per_s` and `events_per_s` is near
    /// what the client can do; `None` when it is not.
    pub fn near_ceiling(&self, requests_per_s: f64, events_per_s: f64) -> Option<String> {
        let rps = requests_per_s / self.requests_per_s_ceiling;
        let eps = events_per_s / self.sse_events_per_s_ceiling;
        if rps > NEAR_CEILING {
            Some(format!(
                "{:.0}% of the client's request ceiling",
                rps * 100.0
            ))
        } else if eps > NEAR_CEILING {
            Some(format!(
                "{:.0}% of the client's SSE event ceiling",
                eps * 100.0
            ))
        } else {
            None
        }
    }
}
