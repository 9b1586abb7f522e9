//! The bounds of every count and size a run turns into work: how many
//! requests a point sends, how many it keeps in flight, how long its
//! prompts are, how many retries and warmup requests it may make. Each
//! bound is far above any real benchmark and far below what would exhaust
//! memory or overflow the arithmetic the run does on it; a value beyond
//! one is refused with its field before anything starts. (Durations and
//! rates are bounded by their types as they are read: `spec::units`,
//! `spec::measure::Rate`.)

use super::error::{Finding, finding};
use crate::spec::scenario::{Axis, Scenario};
use crate::spec::units::MAX_SECONDS;

/// Requests one count-bounded point may send, measured or not and over
/// all its repeats: a million, each holding its record (and a synthetic
/// prompt) in memory until the point's row is written.
pub const MAX_REQUESTS_PER_POINT: u64 = 1_000_000;

/// Requests in flight at once (`matrix.concurrency`): each is a task and a
/// connection.
pub const MAX_CONCURRENCY: u32 = 65_536;

/// Prompt or answer length in tokens (`matrix.input_tokens`,
/// `matrix.max_tokens`): 1 Mi, the longest context of current models.
pub const MAX_TOKENS: u32 = 1 << 20;

/// Synthetic prompt tokens one point holds in memory (its requests ×
/// their prompt length): about 2 GB of text.
pub const MAX_PROMPT_TOKENS_PER_POINT: u64 = 500_000_000;

/// Retries of one request (`workload.retries`).
pub const MAX_RETRIES: u32 = 100;

/// Warmup requests after a server start (`workload.warmup_requests`).
pub const MAX_WARMUP_REQUESTS: u32 = 10_000;

fn largest(axis: Option<&Axis<u32>>) -> Option<u32> {
    axis.and_then(|a| a.values().iter().copied().max())
}

fn too_big(out: &mut Vec<Finding>, field: &str, v: u64, max: u64, what: &str) {
    if v > max {
        out.push(finding(
            field,
            format!("{v} is more {what} than mlxrun sends (at most {max})"),
            format!("use at most {max}"),
        ));
    }
}

/// Findings about counts and sizes beyond their bounds.
pub(super) fn bound_findings(out: &mut Vec<Finding>, s: &Scenario) {
    let m = &s.matrix;
    let w = &s.workload;
    let l = &s.load;
    let concurrency = largest(m.concurrency.as_ref()).unwrap_or(1);
    too_big(
        out,
        "matrix.concurrency",
        concurrency.into(),
        MAX_CONCURRENCY.into(),
        "requests in flight",
    );
    if let Some(t) = largest(m.input_tokens.as_ref()) {
        too_big(
            out,
            "matrix.input_tokens",
            t.into(),
            MAX_TOKENS.into(),
            "prompt tokens",
        );
    }
    if let Some(t) = largest(Some(&m.max_tokens)) {
        too_big(
            out,
            "matrix.max_tokens",
            t.into(),
            MAX_TOKENS.into(),
            "output tokens",
        );
    }
    too_big(
        out,
        "workload.shared_prefix_tokens",
        w.shared_prefix_tokens.into(),
        MAX_TOKENS.into(),
        "prompt tokens",
    );
    too_big(
        out,
        "workload.retries",
        w.retries.into(),
        MAX_RETRIES.into(),
        "retries",
    );
    too_big(
        out,
        "workload.warmup_requests",
        w.warmup_requests.into(),
        MAX_WARMUP_REQUESTS.into(),
        "warmup requests",
    );
    too_big(
        out,
        "workload.warmup_max_tokens",
        w.warmup_max_tokens.into(),
        MAX_TOKENS.into(),
        "output tokens",
    );
    too_big(
        out,
        "router.proxy_timeout_s",
        s.router.proxy_timeout_s.into(),
        MAX_SECONDS as u64,
        "seconds",
    );

    // requests of the largest count-bounded point, measured or not
    let measured = match w.requests {
        Some(n) => n,
        None => u64::from(concurrency.max(1)).saturating_mul(w.requests_per_concurrency),
    };
    let (field, measured) = if s.run.precision.is_set() {
        (
            "run.precision.max_requests",
            measured.max(s.run.precision.max_requests),
        )
    } else if w.requests.is_some() {
        ("workload.requests", measured)
    } else {
        ("workload.requests_per_concurrency", measured)
    };
    let total = measured
        .saturating_add(l.warmup_requests)
        .saturating_add(l.cooldown_requests);
    let all_repeats = total.saturating_mul(s.run.repeats.max(1).into());
    if all_repeats > MAX_REQUESTS_PER_POINT {
        out.push(finding(
            field,
            format!(
                "a point would send {all_repeats} requests (measured, load.warmup_requests and load.cooldown_requests, times run.repeats), more than mlxrun sends in one point ({MAX_REQUESTS_PER_POINT})"
            ),
            "send fewer requests per point, or bound points by time with load.duration_s",
        ));
    } else if let Some(t) = largest(m.input_tokens.as_ref()) {
        let tokens = total.saturating_mul(u64::from(t));
        if tokens > MAX_PROMPT_TOKENS_PER_POINT {
            out.push(finding(
                "matrix.input_tokens",
                format!(
                    "{total} prompts of {t} tokens are {tokens} tokens held in memory, more than one point holds ({MAX_PROMPT_TOKENS_PER_POINT})"
                ),
                "send fewer or shorter prompts per point",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::scenario::Axis;

    fn fields(s: &Scenario) -> Vec<String> {
        let mut out = Vec::new();
        bound_findings(&mut out, s);
        out.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn the_defaults_are_within_every_bound() {
        assert!(fields(&Scenario::default()).is_empty());
    }

    #[test]
    fn counts_beyond_their_bound_name_their_field() {
        let mut s = Scenario::default();
        s.matrix.concurrency = Some(Axis(vec![1, 100_000]));
        s.workload.retries = 101;
        s.matrix.max_tokens = Axis(vec![u32::MAX]);
        assert_eq!(
            fields(&s),
            [
                "matrix.concurrency",
                "matrix.max_tokens",
                "workload.retries"
            ]
        );
    }

    #[test]
    fn a_point_s_requests_are_bounded_without_overflow() {
        let mut s = Scenario::default();
        s.workload.requests_per_concurrency = u64::MAX;
        assert_eq!(fields(&s), ["workload.requests_per_concurrency"]);
        s.workload.requests = Some(MAX_REQUESTS_PER_POINT);
        assert!(fields(&s).is_empty());
        s.load.warmup_requests = u64::MAX;
        assert_eq!(fields(&s), ["workload.requests"]);
        s.load.warmup_requests = 0;
        s.run.precision.throughput_pct = Some(5.0);
        s.run.precision.max_requests = MAX_REQUESTS_PER_POINT + 1;
        assert_eq!(fields(&s), ["run.precision.max_requests"]);
        s.run.precision = Default::default();
        s.run.repeats = 2;
        assert_eq!(fields(&s), ["workload.requests"]);
    }

    #[test]
    fn prompt_tokens_held_by_a_point_are_bounded() {
        let mut s = Scenario::default();
        s.workload.requests = Some(1000);
        s.matrix.input_tokens = Some(Axis(vec![MAX_TOKENS]));
        assert_eq!(fields(&s), ["matrix.input_tokens"]);
        s.workload.requests = Some(100);
        assert!(fields(&s).is_empty());
    }
}
