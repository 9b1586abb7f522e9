//! Per-point metrics from request records. Every definition is also in
//! README.md ("Metrics"); where a name matches vLLM's `bench serve`, so does
//! the math. Only measured requests count (not those of a point's warmup or
//! cooldown):
//! - `elapsed_s`: first measured request's latency origin to the last
//!   measured completion;
//! - `throughput_tps` (output tokens/s): Σ output tokens of successful
//!   requests / `elapsed_s`; `total_tps` adds their prompt tokens;
//! - `requests_per_s`: successful requests / `elapsed_s`;
//! - TTFT: latency origin to the first non-empty content chunk;
//! - TPOT: per request, (E2E − TTFT) / (output tokens − 1), requests with
//!   more than one output token;
//! - ITL: gaps between successive content chunks (per chunk); `itl_token`:
//!   each request's decode time (last content − first content) / (output
//!   tokens − 1), counted once per token after the first;
//! - E2E: latency origin to the end of the response;
//! - queue: scheduled send time to actual send (open loop);
//! - goodput: successful requests meeting every SLO / `elapsed_s`;
//! - audio (transcriptions): `audio_seconds` = Σ audio seconds of
//!   successful requests; per request the real-time factor RTF = audio
//!   seconds / processing seconds (E2E), as vLLM's ASR benchmark reports
//!   it: HIGHER is faster (> 1 = faster than real time; the inverse of the
//!   "processing / audio" RTF some papers use); `rtf_mean` and `rtf_p50`
//!   over successful requests; `audio_s_per_s` = `audio_seconds` /
//!   `elapsed_s`.
//!
//! The latency origin is the scheduled send time in open loop (so a slow
//! client or a full concurrency cap cannot hide latency: no coordinated
//! omission) and the send time in closed loop.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::distribution::{Distribution, Stat};
use crate::load::record::RequestRecord;
use crate::spec::scenario::SloSection;

/// How many requests met the SLOs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SloOutcome {
    /// Successful measured requests within every objective.
    pub met: u64,
    /// `met` / measured requests (failed ones count as missed).
    pub attainment: f64,
    /// `met` / `elapsed_s`.
    pub goodput_rps: f64,
}

/// Everything measured at one point.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PointMetrics {
    /// Measured requests that finished (successfully or not).
    pub requests: u64,
    pub ok_requests: u64,
    /// Measured requests that failed after their retries.
    pub errors: u64,
    /// Failures by kind (`timeout`, `http_5xx`, …).
    pub error_kinds: BTreeMap<String, u64>,
    /// Requests sent in the point's warmup and cooldown (not measured).
    pub excluded_requests: u64,
    /// Σ output tokens of successful requests (`usage.completion_tokens`,
    /// llama.cpp's `predicted_n`, else content chunks).
    pub completion_tokens: u64,
    /// Content SSE events (chunks with text) of successful requests.
    pub content_events: u64,
    /// Σ `max_tokens` of successful requests: what they asked for.
    pub requested_tokens: u64,
    /// Successful requests that received fewer tokens than they asked for.
    pub short_responses: u64,
    /// Σ prompt tokens of successful requests (as the server counted them).
    pub prompt_tokens: u64,
    /// Σ prompt tokens served from the server's cache, when it says
    /// (`usage.prompt_tokens_details.cached_tokens`, llama.cpp's `cache_n`).
    pub cached_tokens: Option<u64>,
    pub elapsed_s: f64,
    pub throughput_tps: f64,
    pub total_tps: f64,
    pub requests_per_s: f64,
    /// The percentiles every [`Stat`] holds, in order.
    pub percentiles: Vec<f64>,
    pub ttft_ms: Stat,
    pub tpot_ms: Stat,
    pub itl_ms: Stat,
    pub itl_token_ms: Stat,
    pub e2e_ms: Stat,
    /// Client queueing (open loop; empty in closed loop).
    pub queue_ms: Stat,
    /// The client's own lateness in sending (see [`RequestRecord::lag`]).
    pub client_lag_ms: Stat,
    /// Retries over all measured requests.
    pub retries: u64,
    /// Successful requests whose server reported no token counts.
    pub usage_missing: u64,
    /// mlxrun's own CPU time (user + system) per request sent in the point.
    pub client_cpu_ms_per_req: Option<f64>,
    /// SLO outcome, when `[slo]` sets an objective.
    pub slo: Option<SloOutcome>,
    /// First error message, for the status column.
    pub first_error: Option<String>,
    /// Σ audio seconds of successful transcription requests (0 otherwise).
    pub audio_seconds: f64,
    /// Mean real-time factor (audio s / processing s; higher = faster) of
    /// successful transcription requests; `None` without any.
    pub rtf_mean: Option<f64>,
    /// Median real-time factor.
    pub rtf_p50: Option<f64>,
    /// Audio seconds transcribed per wall-clock second of the point.
    pub audio_s_per_s: Option<f64>,
}

/// The real-time factor of one request: audio seconds per processing
/// second (higher = faster); `None` without audio or time.
pub fn rtf(r: &RequestRecord) -> Option<f64> {
    let audio = r.audio_seconds?;
    let secs = r.e2e.as_secs_f64();
    (secs > 0.0).then(|| audio / secs)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Whether successful request `r` meets every objective of `slo`.
pub fn meets(r: &RequestRecord, slo: &SloSection) -> bool {
    if !r.ok() {
        return false;
    }
    if let Some(limit) = slo.ttft_ms {
        // a streamed answer without content has no TTFT: it cannot meet one
        match r.ttft {
            Some(t) if ms(t) <= limit.get() => {}
            _ => return false,
        }
    }
    if let Some(limit) = slo.tpot_ms
        && let Some(tpot) = tpot_ms(r)
        && tpot > limit.get()
    {
        return false;
    }
    if let Some(limit) = slo.e2e_ms
        && ms(r.e2e) > limit.get()
    {
        return false;
    }
    true
}

/// TPOT of one request, vLLM's definition; `None` with one output token or no TTFT.
pub fn tpot_ms(r: &RequestRecord) -> Option<f64> {
    let ttft = r.ttft?;
    (r.completion_tokens > 1)
        .then(|| ms(r.e2e.saturating_sub(ttft)) / (r.completion_tokens - 1) as f64)
}

/// What a point needs to know to summarise its records.
#[derive(Debug, Clone, Default)]
pub struct SummaryOptions<'a> {
    pub percentiles: &'a [f64],
    pub slo: Option<&'a SloSection>,
    /// `max_tokens` each request asked for.
    pub max_tokens: u32,
    /// Open loop: report queueing time.
    pub open_loop: bool,
}

/// The point's measured window, from the load's start: the first
/// measured request's latency origin to the last measured completion (the
/// window `elapsed_s` and every rate are over); `None` without a measured
/// request.
pub fn measured_window(records: &[RequestRecord]) -> Option<(Duration, Duration)> {
    let measured = records.iter().filter(|r| !r.excluded);
    let origin = |r: &RequestRecord| r.sent_at.saturating_sub(r.queue);
    let first = measured.clone().map(origin).min()?;
    let last = measured.map(|r| origin(r) + r.e2e).max()?;
    Some((first, last.max(first)))
}

/// Summarise the `records` of a point.
pub fn summarize(records: &[RequestRecord], opts: &SummaryOptions<'_>) -> PointMetrics {
    let mut m = PointMetrics {
        percentiles: opts.percentiles.to_vec(),
        ..Default::default()
    };
    let mut ttft = Distribution::default();
    let mut tpot = Distribution::default();
    let mut itl = Distribution::default();
    let mut itl_token = Distribution::default();
    let mut e2e = Distribution::default();
    let mut queue = Distribution::default();
    let mut lag = Distribution::default();
    let mut first_origin: Option<Duration> = None;
    let mut last_end = Duration::ZERO;
    let mut met = 0u64;
    let mut rtfs: Vec<f64> = Vec::new();
    for r in records {
        lag.add(ms(r.lag));
        if r.excluded {
            m.excluded_requests += 1;
            continue;
        }
        m.requests += 1;
        m.retries += u64::from(r.retries);
        // the latency origin: scheduled time (open loop) = sent_at − queue
        let origin = r.sent_at.saturating_sub(r.queue);
        first_origin = Some(first_origin.map_or(origin, |f: Duration| f.min(origin)));
        last_end = last_end.max(origin + r.e2e);
        if opts.open_loop {
            queue.add(ms(r.queue));
        }
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
                m.requested_tokens += u64::from(opts.max_tokens);
                if r.completion_tokens < u64::from(opts.max_tokens) {
                    m.short_responses += 1;
                }
                m.prompt_tokens += r.prompt_tokens.unwrap_or(0);
                if let Some(c) = r.cached_tokens {
                    *m.cached_tokens.get_or_insert(0) += c;
                }
                if !r.usage_reported {
                    m.usage_missing += 1;
                }
                if let Some(t) = r.ttft {
                    ttft.add(ms(t));
                    m.content_events += r.itl_us.len() as u64 + 1;
                }
                if let Some(t) = tpot_ms(r) {
                    tpot.add(t);
                }
                for us in &r.itl_us {
                    itl.add(f64::from(*us) / 1e3);
                }
                if r.completion_tokens > 1 && !r.itl_us.is_empty() {
                    let decode_ms = r.itl_us.iter().map(|u| f64::from(*u)).sum::<f64>() / 1e3;
                    let n = r.completion_tokens - 1;
                    itl_token.add_n(decode_ms / n as f64, n);
                }
                e2e.add(ms(r.e2e));
                if let Some(a) = r.audio_seconds {
                    m.audio_seconds += a;
                }
                if let Some(x) = rtf(r) {
                    rtfs.push(x);
                }
                if opts.slo.is_some_and(|s| meets(r, s)) {
                    met += 1;
                }
            }
        }
    }
    m.elapsed_s = first_origin.map_or(0.0, |f| last_end.saturating_sub(f).as_secs_f64());
    if m.elapsed_s > 0.0 {
        m.throughput_tps = m.completion_tokens as f64 / m.elapsed_s;
        m.total_tps = (m.completion_tokens + m.prompt_tokens) as f64 / m.elapsed_s;
        m.requests_per_s = m.ok_requests as f64 / m.elapsed_s;
        if !rtfs.is_empty() {
            m.audio_s_per_s = Some(m.audio_seconds / m.elapsed_s);
        }
    }
    if !rtfs.is_empty() {
        m.rtf_mean = Some(rtfs.iter().sum::<f64>() / rtfs.len() as f64);
        rtfs.sort_by(f64::total_cmp);
        m.rtf_p50 = super::distribution::percentile(&rtfs, 50.0);
    }
    if let Some(slo) = opts.slo
        && slo.is_set()
    {
        m.slo = Some(SloOutcome {
            met,
            attainment: if m.requests > 0 {
                met as f64 / m.requests as f64
            } else {
                0.0
            },
            goodput_rps: if m.elapsed_s > 0.0 {
                met as f64 / m.elapsed_s
            } else {
                0.0
            },
        });
    }
    let qs = opts.percentiles;
    m.ttft_ms = ttft.stat(qs);
    m.tpot_ms = tpot.stat(qs);
    m.itl_ms = itl.stat(qs);
    m.itl_token_ms = itl_token.stat(qs);
    m.e2e_ms = e2e.stat(qs);
    m.queue_ms = queue.stat(qs);
    m.client_lag_ms = lag.stat(qs);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::record::ErrorKind;

    const QS: &[f64] = &[50.0, 90.0, 99.0];

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

    fn opts(max_tokens: u32) -> SummaryOptions<'static> {
        SummaryOptions {
            percentiles: QS,
            slo: None,
            max_tokens,
            open_loop: false,
        }
    }

    #[test]
    fn real_time_factor_by_hand() {
        let clip = |audio: f64, e2e_ms: u64| RequestRecord {
            e2e: Duration::from_millis(e2e_ms),
            audio_seconds: Some(audio),
            ..Default::default()
        };
        // 10 s of audio in 2 s = 5x real time; 30 s in 10 s = 3x; 60 s in 60 s = 1x
        let mut failed = clip(100.0, 1);
        failed.error = Some((ErrorKind::Timeout, "slow".into()));
        let mut b = clip(30.0, 10_000);
        b.sent_at = Duration::from_millis(2_000);
        let recs = vec![clip(10.0, 2_000), b, clip(60.0, 60_000), failed];
        let m = summarize(&recs, &opts(0));
        assert_eq!(
            m.audio_seconds, 100.0,
            "failed requests' audio does not count"
        );
        assert!((m.rtf_mean.unwrap() - 3.0).abs() < 1e-9);
        assert!((m.rtf_p50.unwrap() - 3.0).abs() < 1e-9);
        // all four start at 0 or 2 s; the last ends at 60 s
        assert!((m.audio_s_per_s.unwrap() - 100.0 / 60.0).abs() < 1e-9);
        assert_eq!(m.error_kinds.get("timeout"), Some(&1));
        // text requests have none
        let t = summarize(&[ok(3, 1, 5, &[])], &opts(3));
        assert_eq!((t.rtf_mean, t.rtf_p50, t.audio_seconds), (None, None, 0.0));
    }

    #[test]
    fn summary_by_hand() {
        let mut failed = ok(99, 1, 1, &[]);
        failed.error = Some((ErrorKind::Http5xx, "HTTP 503".into()));
        failed.retries = 2;
        let mut a = ok(100, 10, 2000, &[1000, 3000]);
        a.cached_tokens = Some(4);
        let mut b = ok(50, 30, 400, &[2000]);
        b.sent_at = Duration::from_millis(100);
        let recs = vec![a, b, failed];
        let m = summarize(&recs, &opts(100));
        assert_eq!((m.requests, m.ok_requests, m.errors), (3, 2, 1));
        assert_eq!(
            m.completion_tokens, 150,
            "failed requests' tokens do not count"
        );
        assert_eq!(m.requested_tokens, 200);
        assert_eq!(m.short_responses, 1);
        assert_eq!(m.prompt_tokens, 20);
        assert_eq!(m.cached_tokens, Some(4), "only a reported count counts");
        // first origin 0, last end 0 + 2000 ms
        assert_eq!(m.elapsed_s, 2.0);
        assert_eq!(m.throughput_tps, 75.0);
        assert_eq!(m.total_tps, 85.0);
        assert_eq!(m.requests_per_s, 1.0);
        assert_eq!(m.ttft_ms.at(QS, 50.0), Some(20.0));
        assert_eq!(m.e2e_ms.at(QS, 50.0), Some(1200.0));
        assert_eq!(m.itl_ms.at(QS, 50.0), Some(2.0));
        assert_eq!(m.itl_ms.mean, Some(2.0));
        // TPOT: (2000-10)/99 and (400-30)/49
        let t1 = 1990.0 / 99.0;
        let t2 = 370.0 / 49.0;
        assert!((m.tpot_ms.mean.unwrap() - (t1 + t2) / 2.0).abs() < 1e-9);
        // ITL per token: 4 ms / 99 tokens x 99, 2 ms / 49 x 49
        let per_token = (4.0 + 2.0) / (99.0 + 49.0);
        assert!((m.itl_token_ms.mean.unwrap() - per_token).abs() < 1e-9);
        assert_eq!(m.itl_token_ms.count, 148);
        assert_eq!(m.retries, 2);
        assert_eq!(m.error_kinds.get("http_5xx"), Some(&1));
        assert_eq!(m.first_error.as_deref(), Some("http_5xx: HTTP 503"));
        assert_eq!(m.slo, None);
        assert_eq!(m.queue_ms.count, 0, "closed loop reports no queueing");
    }

    #[test]
    fn tpot_matches_vllm() {
        // vLLM: tpot = (latency - ttft) / (output_len - 1) when output_len > 1
        assert_eq!(tpot_ms(&ok(5, 100, 500, &[])), Some(100.0));
        assert_eq!(tpot_ms(&ok(1, 100, 500, &[])), None);
        let mut no_ttft = ok(5, 0, 500, &[]);
        no_ttft.ttft = None;
        assert_eq!(tpot_ms(&no_ttft), None);
    }

    #[test]
    fn warmup_and_cooldown_requests_are_not_measured() {
        let mut warm = ok(10, 1, 5000, &[]);
        warm.excluded = true;
        let recs = vec![warm, ok(10, 5, 1000, &[])];
        let m = summarize(&recs, &opts(10));
        assert_eq!((m.requests, m.excluded_requests), (1, 1));
        assert_eq!(m.elapsed_s, 1.0);
        assert_eq!(m.e2e_ms.count, 1);
        assert_eq!(m.short_responses, 0);
        // the window the energy is over is the one elapsed_s is
        let (from, to) = measured_window(&recs).unwrap();
        assert_eq!((to - from).as_secs_f64(), m.elapsed_s);
        assert_eq!(measured_window(&recs[..1]), None, "warmup only");
    }

    #[test]
    fn open_loop_latency_counts_from_the_schedule() {
        // scheduled at 1.0 s, sent at 1.5 s (queued 500 ms behind the cap)
        let mut r = ok(3, 600, 900, &[100, 200]);
        r.sent_at = Duration::from_millis(1500);
        r.queue = Duration::from_millis(500);
        let o = SummaryOptions {
            open_loop: true,
            ..opts(3)
        };
        let m = summarize(&[r.clone()], &o);
        assert_eq!(m.queue_ms.mean, Some(500.0));
        // window: origin 1.0 s to 1.0 + 0.9 s
        assert!((m.elapsed_s - 0.9).abs() < 1e-9);
        assert_eq!(
            measured_window(&[r]),
            Some((Duration::from_millis(1000), Duration::from_millis(1900)))
        );
    }

    #[test]
    fn goodput_counts_requests_within_every_objective() {
        let slo = SloSection {
            ttft_ms: Some(crate::spec::units::PositiveMillis::lit(50.0)),
            tpot_ms: Some(crate::spec::units::PositiveMillis::lit(10.0)),
            e2e_ms: None,
        };
        let mut failed = ok(5, 1, 10, &[]);
        failed.error = Some((ErrorKind::Timeout, "slow".into()));
        let recs = vec![
            ok(11, 40, 140, &[]),  // ttft 40, tpot 10: met
            ok(11, 60, 100, &[]),  // ttft 60: missed
            ok(11, 10, 1000, &[]), // tpot 99: missed
            ok(1, 20, 2000, &[]),  // one token: no tpot, ttft met
            failed,
        ];
        let o = SummaryOptions {
            slo: Some(&slo),
            ..opts(11)
        };
        let m = summarize(&recs, &o);
        let s = m.slo.unwrap();
        assert_eq!(s.met, 2);
        assert!((s.attainment - 0.4).abs() < 1e-12);
        assert!((s.goodput_rps - 2.0 / m.elapsed_s).abs() < 1e-12);
    }

    #[test]
    fn client_lag_covers_every_request() {
        let mut a = ok(1, 1, 1, &[]);
        a.lag = Duration::from_micros(250);
        let mut b = a.clone();
        b.excluded = true;
        b.lag = Duration::from_micros(750);
        let m = summarize(&[a, b], &opts(1));
        assert_eq!(m.client_lag_ms.count, 2);
        assert_eq!(m.client_lag_ms.mean, Some(0.5));
    }
}
