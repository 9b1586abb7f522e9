//! Checks of the measurement settings: `[load]`, `[slo]`, `[metrics]`,
//! `matrix.request_rate`, the prompt settings of `[workload]`, and how long
//! a point is measured (`run.repeats`, `[run.warmup]`, `[run.precision]`).

use super::error::{Finding, finding, no_values};
use crate::spec::measure::{MAX_BURSTINESS, MIN_BURSTINESS};
use crate::spec::scenario::Scenario;

/// A finite number within `lo..=hi`.
fn within(v: f64, lo: f64, hi: f64) -> bool {
    v.is_finite() && v >= lo && v <= hi
}

/// `metrics.confidence` and `metrics.resamples`, `run.repeats`,
/// `[run.warmup]` and `[run.precision]`.
fn measure_findings(out: &mut Vec<Finding>, s: &Scenario) {
    let m = &s.metrics;
    if !within(m.confidence, 0.5, 0.999) {
        out.push(finding(
            "metrics.confidence",
            format!("{} is not a confidence level", m.confidence),
            "use a coverage between 0.5 and 0.999, e.g. 0.95",
        ));
    }
    if !(100..=100_000).contains(&m.resamples) {
        out.push(finding(
            "metrics.resamples",
            format!("{} resamples", m.resamples),
            "use 100 to 100000 (1000 is the default)",
        ));
    }
    let r = &s.run;
    if !(1..=1000).contains(&r.repeats) {
        out.push(finding(
            "run.repeats",
            format!("{} repeats", r.repeats),
            "use 1 (each point measured once) up to 1000",
        ));
    }
    let w = &r.warmup;
    if !within(w.tolerance_pct, 0.1, 100.0) {
        out.push(finding(
            "run.warmup.tolerance_pct",
            format!("{} is not a tolerance", w.tolerance_pct),
            "use a percentage above 0 and up to 100, e.g. 10",
        ));
    }
    if w.min_rounds < 2 || w.max_rounds < w.min_rounds || w.max_rounds > 1000 {
        out.push(finding(
            "run.warmup.max_rounds",
            format!(
                "min_rounds = {}, max_rounds = {}",
                w.min_rounds, w.max_rounds
            ),
            "use min_rounds 2 or more (steadiness compares two rounds) and max_rounds from min_rounds up to 1000",
        ));
    }
    if w.max_s.get() > 86_400.0 {
        out.push(finding(
            "run.warmup.max_s",
            format!("{} seconds is longer than a day", w.max_s),
            "use seconds, 0 to 86400",
        ));
    }
    let p = &r.precision;
    for (field, v) in [
        ("run.precision.throughput_pct", p.throughput_pct),
        ("run.precision.ttft_p50_pct", p.ttft_p50_pct),
    ] {
        if let Some(v) = v
            && !within(v, 0.1, 100.0)
        {
            out.push(finding(
                field,
                format!("{v} is not a precision target"),
                "use a half-width in percent above 0 and up to 100, e.g. 5",
            ));
        }
    }
    if p.is_set() {
        if s.load.timed() || s.matrix.request_rate.is_some() {
            out.push(finding(
                "run.precision",
                "a precision target extends closed-loop points bounded by a request count",
                "remove load.duration_s and matrix.request_rate, or the precision target",
            ));
        }
        if p.max_requests == 0 {
            out.push(finding(
                "run.precision.max_requests",
                "a precision target needs a cap on the requests of a point",
                "set run.precision.max_requests, e.g. 2000",
            ));
        }
        if !within(p.max_s.get(), 1.0, 86_400.0) {
            out.push(finding(
                "run.precision.max_s",
                format!("{} seconds", p.max_s),
                "set a cap on a point's measured seconds, 1 to 86400, e.g. 600",
            ));
        }
    }
}

/// `[load]`, `[slo]`, `[metrics]`, `matrix.request_rate` and the prompt
/// settings of `[workload]`.
pub(super) fn load_findings(out: &mut Vec<Finding>, s: &Scenario) {
    let l = &s.load;
    if let Some(rates) = &s.matrix.request_rate {
        no_values(
            out,
            "matrix.request_rate",
            rates.values().is_empty(),
            "give at least one rate in requests/s (or \"inf\")",
        );
        if l.timed() && rates.values().iter().any(|r| r.is_infinite()) {
            out.push(finding(
                "matrix.request_rate",
                "\"inf\" sends every request at once: it needs a request count, not load.duration_s",
                "set workload.requests and load.duration_s = 0, or use finite rates",
            ));
        }
        if s.workload.requests.is_none() && !l.timed() {
            out.push(finding(
                "matrix.request_rate",
                "an open-loop point needs a bound",
                "set workload.requests (a count) or load.duration_s (seconds)",
            ));
        }
    }
    if !within(l.burstiness, MIN_BURSTINESS, MAX_BURSTINESS) {
        out.push(finding(
            "load.burstiness",
            format!("{} is not a gamma shape mlxrun draws", l.burstiness),
            "use a number from 0.01 to 100 (1 = Poisson, below 1 burstier)",
        ));
    }
    if l.timed() && (l.warmup_requests > 0 || l.cooldown_requests > 0) {
        out.push(finding(
            "load.warmup_requests",
            "a point bounded by load.duration_s excludes its warmup and cooldown by time",
            "use load.warmup_s and load.cooldown_s",
        ));
    }
    let excludes_by_time = !(l.warmup_s.is_zero() && l.cooldown_s.is_zero());
    if !l.timed() && excludes_by_time {
        out.push(finding(
            "load.warmup_s",
            "a point bounded by its request count excludes its warmup and cooldown by count",
            "use load.warmup_requests and load.cooldown_requests, or set load.duration_s",
        ));
    }
    measure_findings(out, s);
    if s.metrics.percentiles.is_empty() {
        out.push(finding(
            "metrics.percentiles",
            "no percentiles",
            "list at least one, e.g. [50, 90, 99]",
        ));
    }
    if let Some(q) = s
        .metrics
        .percentiles
        .iter()
        .find(|q| !(**q > 0.0 && **q <= 100.0))
    {
        out.push(finding(
            "metrics.percentiles",
            format!("{q} is not a percentile"),
            "use values above 0 and up to 100",
        ));
    }
    let w = &s.workload;
    if !["auto", "text", "jsonl", "sharegpt"].contains(&w.prompts_format.as_str()) {
        out.push(finding(
            "workload.prompts_format",
            format!("'{}' is not a prompt file format", w.prompts_format),
            "use auto, text, jsonl or sharegpt",
        ));
    }
    if !["fixed", "uniform", "normal"].contains(&w.input_tokens_distribution.as_str()) {
        out.push(finding(
            "workload.input_tokens_distribution",
            format!(
                "'{}' is not a length distribution",
                w.input_tokens_distribution
            ),
            "use fixed, uniform or normal",
        ));
    }
    if !(w.input_tokens_spread >= 0.0 && w.input_tokens_spread < 1.0) {
        out.push(finding(
            "workload.input_tokens_spread",
            format!("{} is out of range", w.input_tokens_spread),
            "use a share from 0 to below 1 (0.25 = ±25% for uniform, std 25% for normal)",
        ));
    }
    if !w.prompts_file.is_empty() && s.matrix.input_tokens.is_some() {
        out.push(finding(
            "workload.prompts_file",
            "prompts come from a file or are synthetic (matrix.input_tokens), not both",
            "remove one of the two",
        ));
    }
    if w.shared_prefix_tokens > 0 {
        match &s.matrix.input_tokens {
            None => out.push(finding(
                "workload.shared_prefix_tokens",
                "a shared prefix needs synthetic prompts",
                "set matrix.input_tokens",
            )),
            Some(a) => {
                if let Some(n) = a.values().iter().find(|n| **n <= w.shared_prefix_tokens) {
                    out.push(finding(
                        "workload.shared_prefix_tokens",
                        format!(
                            "a prefix of {} tokens leaves nothing of a {n}-token prompt",
                            w.shared_prefix_tokens
                        ),
                        "make matrix.input_tokens larger than the prefix",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::scenario::{Axis, Rate};
    use crate::spec::units::Secs;

    fn fields(s: &Scenario) -> Vec<String> {
        let mut out = Vec::new();
        load_findings(&mut out, s);
        out.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn open_loop_needs_a_bound_and_finite_rates_for_time() {
        let mut s = Scenario::default();
        s.matrix.request_rate = Some(Axis(vec![Rate::new(2.0).unwrap()]));
        assert_eq!(fields(&s), vec!["matrix.request_rate"]);
        s.workload.requests = Some(10);
        assert!(fields(&s).is_empty());
        s.workload.requests = None;
        s.load.duration_s = Secs::lit(5.0);
        assert!(fields(&s).is_empty());
        s.matrix.request_rate = Some(Axis(vec![Rate::INF]));
        assert_eq!(fields(&s), vec!["matrix.request_rate"]);
    }

    #[test]
    fn warmup_kind_follows_the_bound() {
        let mut s = Scenario::default();
        s.load.warmup_s = Secs::lit(1.0);
        assert_eq!(fields(&s), vec!["load.warmup_s"]);
        s.load.duration_s = Secs::lit(3.0);
        assert!(fields(&s).is_empty());
        s.load.cooldown_requests = 2;
        assert_eq!(fields(&s), vec!["load.warmup_requests"]);
    }

    #[test]
    fn bad_percentiles_and_prompt_settings() {
        let mut s = Scenario::default();
        s.metrics.percentiles = vec![50.0, 101.0];
        s.workload.prompts_format = "csv".into();
        s.workload.input_tokens_distribution = "zipf".into();
        s.workload.shared_prefix_tokens = 8;
        assert_eq!(
            fields(&s),
            vec![
                "metrics.percentiles",
                "workload.prompts_format",
                "workload.input_tokens_distribution",
                "workload.shared_prefix_tokens"
            ]
        );
        s = Scenario::default();
        s.matrix.input_tokens = Some(Axis(vec![16, 64]));
        s.workload.shared_prefix_tokens = 16;
        assert_eq!(fields(&s), vec!["workload.shared_prefix_tokens"]);
        s.workload.prompts_file = "p.txt".into();
        assert_eq!(
            fields(&s),
            vec!["workload.prompts_file", "workload.shared_prefix_tokens"]
        );
    }

    #[test]
    fn repeats_warmup_and_precision_are_checked() {
        let mut s = Scenario::default();
        assert!(fields(&s).is_empty());
        s.run.repeats = 0;
        s.metrics.confidence = 1.0;
        s.metrics.resamples = 10;
        s.run.warmup.min_rounds = 1;
        s.run.warmup.tolerance_pct = f64::NAN;
        assert_eq!(
            fields(&s),
            vec![
                "metrics.confidence",
                "metrics.resamples",
                "run.repeats",
                "run.warmup.tolerance_pct",
                "run.warmup.max_rounds"
            ]
        );
        let mut s = Scenario::default();
        s.run.precision.throughput_pct = Some(5.0);
        assert!(fields(&s).is_empty());
        s.run.precision.max_requests = 0;
        s.run.precision.max_s = Secs::lit(0.5);
        s.load.duration_s = Secs::lit(10.0);
        assert_eq!(
            fields(&s),
            vec![
                "run.precision",
                "run.precision.max_requests",
                "run.precision.max_s"
            ]
        );
        s.run.precision.ttft_p50_pct = Some(-1.0);
        assert!(fields(&s).contains(&"run.precision.ttft_p50_pct".to_string()));
    }
}
