//! When a server is warm: the steady-state rule of the shape warmup, and
//! what a warmup did.
//!
//! A server's first requests of a new shape (prompt length, `max_tokens`,
//! images, audio, sampling) pay for kernel compilation, cache allocation
//! and the like; measured, they make a point look several times slower than
//! the same point a minute later. So before such a point the run sends
//! rounds of the point's own kind of request at its concurrency and watches
//! one figure per round: the median over the round's successful requests of
//! end-to-end time per output token (E2E when a request has no tokens, as a
//! transcription). Tokens normalise away answers of different lengths.
//!
//! **The rule:** the server is steady after round `k` (`k ≥ min_rounds`)
//! when that round's median is within `tolerance_pct` percent of round
//! `k − 1`'s. Warmup stops there, or after `max_rounds`, or after `max_s`
//! seconds; a warmup that stops without being steady flags the point
//! `not_warmed`.

use serde::Serialize;

use crate::load::record::RequestRecord;

/// What the warmup before a point did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WarmupRecord {
    /// Why it ran (`new shape`), or why not (`shape already warm`, `off`).
    pub reason: String,
    /// The request shape, as words (`input_tokens=128 max_tokens=64 …`).
    pub shape: String,
    pub rounds: u32,
    pub requests: u64,
    /// Requests that failed (a round without a success has no median).
    pub failed: u64,
    pub seconds: f64,
    /// Per round: median ms per output token.
    pub round_medians_ms: Vec<f64>,
    /// Two rounds in a row agreed within the tolerance.
    pub steady: bool,
    /// Why it stopped: `steady`, `max_rounds`, `max_s`, `interrupted`,
    /// `failed` (no request succeeded), or empty when it did not run.
    pub stopped_by: String,
    /// The rule, in words.
    pub rule: String,
}

impl WarmupRecord {
    /// A warmup that did not run, and why.
    pub fn skipped(reason: &str, shape: &str) -> WarmupRecord {
        WarmupRecord {
            reason: reason.into(),
            shape: shape.into(),
            steady: true,
            ..Default::default()
        }
    }

    /// Whether the point it preceded should be flagged `not_warmed`.
    pub fn not_warmed(&self) -> bool {
        self.rounds > 0 && !self.steady
    }
}

/// The rule in words, for the record and the README.
pub fn rule_words(tolerance_pct: f64, min_rounds: u32, max_rounds: u32, max_s: f64) -> String {
    format!(
        "rounds at the point's concurrency until a round's median ms per output token is within {tolerance_pct}% of the round before (at least {min_rounds} rounds, at most {max_rounds}, at most {max_s} s)"
    )
}

/// One round's figure: the median of E2E per output token (ms) over its
/// successful requests; `None` when none succeeded.
pub fn round_median(records: &[RequestRecord]) -> Option<f64> {
    let mut v: Vec<f64> = records
        .iter()
        .filter(|r| r.ok())
        .map(|r| r.e2e.as_secs_f64() * 1e3 / r.completion_tokens.max(1) as f64)
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    super::distribution::percentile(&v, 50.0)
}

/// Whether the rounds so far are steady: at least `min_rounds`, and the
/// last within `tolerance_pct` percent of the one before.
pub fn is_steady(medians: &[f64], tolerance_pct: f64, min_rounds: u32) -> bool {
    let n = medians.len();
    if n < (min_rounds.max(2) as usize) {
        return false;
    }
    let (prev, last) = (medians[n - 2], medians[n - 1]);
    prev > 0.0 && ((last - prev).abs() / prev * 100.0) <= tolerance_pct
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::load::record::ErrorKind;

    fn rec(e2e_ms: u64, tokens: u64) -> RequestRecord {
        RequestRecord {
            e2e: Duration::from_millis(e2e_ms),
            completion_tokens: tokens,
            ..Default::default()
        }
    }

    #[test]
    fn the_round_figure_is_the_median_time_per_token_of_successes() {
        let mut failed = rec(1, 1);
        failed.error = Some((ErrorKind::Http5xx, "boom".into()));
        // 100 ms / 10 tokens, 300 ms / 10, 50 ms / 1 → 10, 30, 50 ms per token
        let round = [rec(100, 10), rec(300, 10), rec(50, 1), failed.clone()];
        assert_eq!(round_median(&round), Some(30.0));
        // no tokens (a transcription): E2E itself
        assert_eq!(round_median(&[rec(40, 0)]), Some(40.0));
        assert_eq!(round_median(&[failed]), None);
        assert_eq!(round_median(&[]), None);
    }

    #[test]
    fn steady_when_the_last_two_rounds_agree_after_the_minimum() {
        // a cold first round, then agreement within 10%
        assert!(!is_steady(&[200.0], 10.0, 2));
        assert!(!is_steady(&[200.0, 50.0], 10.0, 2));
        assert!(is_steady(&[200.0, 50.0, 53.0], 10.0, 2));
        assert!(!is_steady(&[200.0, 50.0, 56.0], 10.0, 2));
        // the minimum holds even when the first two agree
        assert!(!is_steady(&[50.0, 50.0], 10.0, 3));
        assert!(is_steady(&[50.0, 50.0, 50.0], 10.0, 3));
        // faster and slower count alike
        assert!(is_steady(&[100.0, 91.0], 10.0, 2));
        assert!(!is_steady(&[0.0, 0.0], 10.0, 2));
    }

    #[test]
    fn a_warmup_that_ran_unsteady_flags_the_point() {
        let ran = WarmupRecord {
            rounds: 8,
            steady: false,
            ..Default::default()
        };
        assert!(ran.not_warmed());
        assert!(!WarmupRecord::skipped("shape already warm", "max_tokens=8").not_warmed());
        assert!(rule_words(10.0, 2, 8, 120.0).contains("within 10% of the round before"));
    }
}
