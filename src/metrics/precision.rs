//! The stop-when-tight rule of `[run.precision]`: whether a point's
//! records so far give intervals tight enough, and what the row says
//! about it afterwards.

use std::sync::Arc;

use serde::Serialize;

use super::uncertainty::{
    FigureInterval, IntervalOptions, PointIntervals, half_width_pct, half_width_pct_full,
};
use crate::load::driver::{StopReason, Tightness};
use crate::load::record::RequestRecord;
use crate::spec::measure::PrecisionRule;

/// The figures a precision target can name, with the rule's field.
pub const TARGETS: [(&str, &str); 2] = [
    ("throughput_tps", "throughput_pct"),
    ("ttft_p50_ms", "ttft_p50_pct"),
];

/// The targets of `rule` as `(figure, percent)`.
pub fn targets(rule: &PrecisionRule) -> Vec<(&'static str, f64)> {
    [
        (TARGETS[0].0, rule.throughput_pct),
        (TARGETS[1].0, rule.ttft_p50_pct),
    ]
    .into_iter()
    .filter_map(|(f, pct)| pct.map(|p| (f, p)))
    .collect()
}

/// The check the load driver runs as records arrive: every target's
/// half-width (from a quick bootstrap of the records so far) at most its
/// percentage, then confirmed with all `resamples` (the interval the
/// point's row will carry), so a point stopped on its target meets it.
/// `seed`, `level` and `resamples` as the point's final intervals.
pub fn tightness(rule: &PrecisionRule, level: f64, seed: u64, resamples: usize) -> Tightness {
    let targets = targets(rule);
    Arc::new(move |records: &[RequestRecord]| {
        let opts = IntervalOptions {
            level,
            seed,
            resamples,
            ..Default::default()
        };
        let within = |hw: fn(&[RequestRecord], &str, &IntervalOptions<'_>) -> Option<f64>| {
            targets
                .iter()
                .all(|(figure, pct)| hw(records, figure, &opts).is_some_and(|w| w <= *pct))
        };
        within(half_width_pct) && within(half_width_pct_full)
    })
}

/// What the row says about a precision target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrecisionRecord {
    pub throughput_pct: Option<f64>,
    pub ttft_p50_pct: Option<f64>,
    /// Why measuring stopped.
    pub stopped_by: StopReason,
    /// How often the rule was checked during the point.
    pub checks: u32,
    pub measured_requests: u64,
    /// Whether the point's final intervals meet every target.
    pub met: bool,
    /// The final intervals' half-widths, percent of the figure.
    pub throughput_half_width_pct: Option<f64>,
    pub ttft_p50_half_width_pct: Option<f64>,
}

/// Half the width of `f`'s interval as a percentage of its value.
fn half_width_of(f: Option<&FigureInterval>) -> Option<f64> {
    let f = f?;
    let (v, lo, hi) = (f.value?, f.lo?, f.hi?);
    (v != 0.0).then(|| (hi - lo) / 2.0 / v.abs() * 100.0)
}

impl PrecisionRecord {
    /// The record of a point measured under `rule`, judged on its final
    /// `intervals`.
    pub fn of(
        rule: &PrecisionRule,
        stopped_by: StopReason,
        checks: u32,
        measured_requests: u64,
        intervals: &PointIntervals,
    ) -> PrecisionRecord {
        let tp = half_width_of(intervals.figures.get("throughput_tps"));
        let ttft = half_width_of(intervals.figures.get("ttft_p50_ms"));
        let within = |target: Option<f64>, got: Option<f64>| match target {
            None => true,
            Some(t) => got.is_some_and(|g| g <= t),
        };
        PrecisionRecord {
            throughput_pct: rule.throughput_pct,
            ttft_p50_pct: rule.ttft_p50_pct,
            stopped_by,
            checks,
            measured_requests,
            met: within(rule.throughput_pct, tp) && within(rule.ttft_p50_pct, ttft),
            throughput_half_width_pct: tp,
            ttft_p50_half_width_pct: ttft,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    fn fig(value: f64, lo: f64, hi: f64) -> FigureInterval {
        FigureInterval {
            value: Some(value),
            lo: Some(lo),
            hi: Some(hi),
            n: 100,
            why: None,
        }
    }

    fn intervals(tp: FigureInterval, ttft: FigureInterval) -> PointIntervals {
        PointIntervals {
            level: 0.95,
            method: String::new(),
            resamples: 100,
            repeats: 1,
            figures: BTreeMap::from([
                ("throughput_tps".to_string(), tp),
                ("ttft_p50_ms".to_string(), ttft),
            ]),
        }
    }

    #[test]
    fn met_means_every_set_target_holds_on_the_final_intervals() {
        let rule = PrecisionRule {
            throughput_pct: Some(5.0),
            ..Default::default()
        };
        // ±4% on throughput: met; TTFT has no target
        let r = PrecisionRecord::of(
            &rule,
            StopReason::Target,
            3,
            400,
            &intervals(fig(100.0, 96.0, 104.0), fig(50.0, 0.0, 100.0)),
        );
        assert!(r.met);
        assert_eq!(r.throughput_half_width_pct, Some(4.0));
        assert_eq!(r.ttft_p50_half_width_pct, Some(100.0));
        let both = PrecisionRule {
            ttft_p50_pct: Some(10.0),
            ..rule.clone()
        };
        let r = PrecisionRecord::of(
            &both,
            StopReason::MaxRequests,
            9,
            5000,
            &intervals(fig(100.0, 96.0, 104.0), fig(50.0, 0.0, 100.0)),
        );
        assert!(!r.met);
        // a figure without an interval never meets a target
        let r = PrecisionRecord::of(
            &rule,
            StopReason::MaxTime,
            1,
            12,
            &intervals(FigureInterval::default(), FigureInterval::default()),
        );
        assert!(!r.met);
        assert_eq!(
            targets(&both),
            [("throughput_tps", 5.0), ("ttft_p50_ms", 10.0)]
        );
    }

    #[test]
    fn the_check_is_tight_only_with_enough_steady_records() {
        let rule = PrecisionRule {
            ttft_p50_pct: Some(10.0),
            ..Default::default()
        };
        let tight = tightness(&rule, 0.95, 1, 1000);
        let rec = |i: u64, ttft_ms: u64| RequestRecord {
            seq: i,
            sent_at: Duration::from_millis(i * 10),
            ttft: Some(Duration::from_millis(ttft_ms)),
            e2e: Duration::from_millis(ttft_ms + 5),
            completion_tokens: 4,
            ..Default::default()
        };
        // too few records for any interval
        let few: Vec<_> = (0..5).map(|i| rec(i, 100)).collect();
        assert!(!tight(&few));
        // 200 requests within ±2% of 100 ms: tight
        let steady: Vec<_> = (0..200).map(|i| rec(i, 98 + i % 5)).collect();
        assert!(tight(&steady));
        // 60 requests drawn from 10 to 400 ms: a median known to ±20% or so
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let wild: Vec<_> = (0..60)
            .map(|i| rec(i, rand::Rng::random_range(&mut rng, 10..400)))
            .collect();
        assert!(!tight(&wild));
    }
}
