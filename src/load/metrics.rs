//! Per-point metrics from request records. Definitions (also in README.md):
//! - `throughput_tps`: Σ completion tokens of successful requests / wall time
//!   of the point (first send to last completion);
//! - `requests_per_s`: successful requests / wall time;
//! - TTFT: first send to first non-empty content chunk;
//! - ITL: gap between successive content chunks;
//! - E2E: first send to the end of the response.
//!
//! Percentiles use linear interpolation between closest ranks (numpy's
//! default `linear` method) over every sample of the point.

use std::collections::BTreeMap;
use std::time::Duration;

use super::record::RequestRecord;

/// Percentile `q` (0–100) of ascending `sorted`, numpy `linear` method.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Selected percentiles of one latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub mean: Option<f64>,
}

impl Latency {
    fn from_ms(mut v: Vec<f64>) -> Latency {
        v.sort_by(f64::total_cmp);
        let mean = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        Latency {
            p50: percentile(&v, 50.0),
            p90: percentile(&v, 90.0),
            p99: percentile(&v, 99.0),
            mean,
        }
    }
}

/// Everything measured at one point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointMetrics {
    /// Requests that finished (successfully or not).
    pub requests: u64,
    pub ok_requests: u64,
    /// Requests that failed after their retries.
    pub errors: u64,
    /// Failures by kind (`timeout`, `http_5xx`, …).
    pub error_kinds: BTreeMap<String, u64>,
    /// Σ completion tokens of successful requests.
    pub completion_tokens: u64,
    /// Σ prompt tokens of successful requests (from `usage`).
    pub prompt_tokens: u64,
    pub elapsed_s: f64,
    pub throughput_tps: f64,
    pub requests_per_s: f64,
    pub ttft_ms: Latency,
    pub itl_ms: Latency,
    pub e2e_ms: Latency,
    /// Retries over all requests.
    pub retries: u64,
    /// Successful requests whose server sent no `usage` (tokens counted from chunks).
    pub usage_missing: u64,
    /// First error message, for the status column.
    pub first_error: Option<String>,
}

/// Summarise `records` of a point that took `wall`.
pub fn summarize(records: &[RequestRecord], wall: Duration) -> PointMetrics {
    let mut m = PointMetrics {
        requests: records.len() as u64,
        elapsed_s: wall.as_secs_f64(),
        ..Default::default()
    };
    let mut ttft = Vec::new();
    let mut itl = Vec::new();
    let mut e2e = Vec::new();
    for r in records {
        m.retries += u64::from(r.retries);
        match &r.error {
            Some((kind, detail)) => {
                m.errors += 1;
                *m.error_kinds.entry(kind.as_str().to_string()).or_default() += 1;
                if m.first_error.is_none() {
                    m.first_error = Some(format!("{}: {detail}", kind.as_str()));
                }
            }
            None => {
                m.ok_requests += 1;
                m.completion_tokens += r.completion_tokens;
                m.prompt_tokens += r.prompt_tokens.unwrap_or(0);
                if !r.usage_reported {
                    m.usage_missing += 1;
                }
                if let Some(t) = r.ttft {
                    ttft.push(t.as_secs_f64() * 1e3);
                }
                itl.extend(r.itl_us.iter().map(|us| f64::from(*us) / 1e3));
                e2e.push(r.e2e.as_secs_f64() * 1e3);
            }
        }
    }
    if m.elapsed_s > 0.0 {
        m.throughput_tps = m.completion_tokens as f64 / m.elapsed_s;
        m.requests_per_s = m.ok_requests as f64 / m.elapsed_s;
    }
    m.ttft_ms = Latency::from_ms(ttft);
    m.itl_ms = Latency::from_ms(itl);
    m.e2e_ms = Latency::from_ms(e2e);
    m
}

#[cfg(test)]
mod tests {
    use super::super::record::ErrorKind;
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        // numpy.percentile([1,2,3,4], [50, 90, 99]) == [2.5, 3.7, 3.97]
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert!((percentile(&v, 90.0).unwrap() - 3.7).abs() < 1e-12);
        assert!((percentile(&v, 99.0).unwrap() - 3.97).abs() < 1e-12);
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn ok(tokens: u64, ttft_ms: u64, e2e_ms: u64, itl: &[u32]) -> RequestRecord {
        RequestRecord {
            ttft: Some(Duration::from_millis(ttft_ms)),
            e2e: Duration::from_millis(e2e_ms),
            itl_us: itl.to_vec(),
            completion_tokens: tokens,
            prompt_tokens: Some(10),
            usage_reported: true,
            ..Default::default()
        }
    }

    #[test]
    fn summary_by_hand() {
        let mut failed = ok(99, 1, 1, &[]);
        failed.error = Some((ErrorKind::Http5xx, "HTTP 503".into()));
        failed.retries = 2;
        let recs = vec![
            ok(100, 10, 200, &[1000, 3000]),
            ok(50, 30, 400, &[2000]),
            failed,
        ];
        let m = summarize(&recs, Duration::from_secs(2));
        assert_eq!((m.requests, m.ok_requests, m.errors), (3, 2, 1));
        assert_eq!(
            m.completion_tokens, 150,
            "failed requests' tokens do not count"
        );
        assert_eq!(m.prompt_tokens, 20);
        assert_eq!(m.throughput_tps, 75.0);
        assert_eq!(m.requests_per_s, 1.0);
        assert_eq!(m.ttft_ms.p50, Some(20.0));
        assert_eq!(m.e2e_ms.p50, Some(300.0));
        assert_eq!(m.itl_ms.p50, Some(2.0));
        assert_eq!(m.itl_ms.mean, Some(2.0));
        assert_eq!(m.retries, 2);
        assert_eq!(m.error_kinds.get("http_5xx"), Some(&1));
        assert_eq!(m.first_error.as_deref(), Some("http_5xx: HTTP 503"));
    }
}
