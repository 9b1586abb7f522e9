//! Two runs side by side: points paired by [`PointRecord::match_key`]
//! (same configuration and load), the change of throughput and latency of
//! each pair, and a verdict against the thresholds below.

use std::collections::BTreeMap;

use super::data::{PointRecord, RunData};
use super::summary::median;

/// Throughput (tok/s) changed by less than this (percent, negative) is a
/// regression.
pub const THROUGHPUT_REGRESSION_PCT: f64 = -5.0;
/// Throughput (tok/s) changed by more than this (percent) is an improvement.
pub const THROUGHPUT_IMPROVEMENT_PCT: f64 = 5.0;
/// A latency (TTFT or ITL p50) changed by more than this (percent) is a
/// regression.
pub const LATENCY_REGRESSION_PCT: f64 = 10.0;
/// A latency (TTFT or ITL p50) changed by less than this (percent,
/// negative) is an improvement.
pub const LATENCY_IMPROVEMENT_PCT: f64 = -10.0;

/// What a change amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Regression,
    Improvement,
    Noise,
}

impl Verdict {
    pub fn icon(self) -> &'static str {
        match self {
            Verdict::Regression => "⚠️",
            Verdict::Improvement => "✅",
            Verdict::Noise => "➡️",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Noise => "within noise",
        }
    }
}

/// `(new − old) / old` in percent; `None` unless both exist and old > 0.
pub fn change_pct(old: Option<f64>, new: Option<f64>) -> Option<f64> {
    match (old, new) {
        (Some(o), Some(n)) if o > 0.0 && o.is_finite() && n.is_finite() => {
            Some((n - o) / o * 100.0)
        }
        _ => None,
    }
}

/// A throughput change (percent): higher is better.
pub fn throughput_verdict(change: f64) -> Verdict {
    if change < THROUGHPUT_REGRESSION_PCT {
        Verdict::Regression
    } else if change > THROUGHPUT_IMPROVEMENT_PCT {
        Verdict::Improvement
    } else {
        Verdict::Noise
    }
}

/// A latency change (percent): lower is better.
pub fn latency_verdict(change: f64) -> Verdict {
    if change > LATENCY_REGRESSION_PCT {
        Verdict::Regression
    } else if change < LATENCY_IMPROVEMENT_PCT {
        Verdict::Improvement
    } else {
        Verdict::Noise
    }
}

/// One metric of a pair: old and new value and the change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delta {
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub change: Option<f64>,
}

impl Delta {
    fn of(old: Option<f64>, new: Option<f64>) -> Delta {
        Delta {
            old,
            new,
            change: change_pct(old, new),
        }
    }
}

/// The same point in both runs, both measured.
#[derive(Debug, Clone)]
pub struct Pair<'a> {
    pub old: &'a PointRecord,
    pub new: &'a PointRecord,
    pub tps: Delta,
    pub ttft_p50: Delta,
    pub itl_p50: Delta,
}

impl<'a> Pair<'a> {
    pub fn of(old: &'a PointRecord, new: &'a PointRecord) -> Pair<'a> {
        Pair {
            old,
            new,
            tps: Delta::of(Some(old.throughput_tps), Some(new.throughput_tps)),
            ttft_p50: Delta::of(old.ttft_ms.p50, new.ttft_ms.p50),
            itl_p50: Delta::of(old.itl_ms.p50, new.itl_ms.p50),
        }
    }

    /// The pair's verdict and the metrics behind it: a regression when any
    /// metric regressed, else an improvement when any improved, else noise.
    pub fn verdict(&self) -> (Verdict, Vec<&'static str>) {
        let each = [
            ("tok/s", self.tps.change.map(throughput_verdict)),
            ("TTFT", self.ttft_p50.change.map(latency_verdict)),
            ("ITL", self.itl_p50.change.map(latency_verdict)),
        ];
        for v in [Verdict::Regression, Verdict::Improvement] {
            let names: Vec<&'static str> = each
                .iter()
                .filter(|(_, x)| *x == Some(v))
                .map(|(n, _)| *n)
                .collect();
            if !names.is_empty() {
                return (v, names);
            }
        }
        (Verdict::Noise, Vec::new())
    }
}

/// This run against another.
#[derive(Debug, Clone)]
pub struct Comparison<'a> {
    pub other_run_id: String,
    /// Points measured in both runs.
    pub pairs: Vec<Pair<'a>>,
    /// Points in both runs but not measured in at least one: `(old, new)`.
    pub unmeasured: Vec<(&'a PointRecord, &'a PointRecord)>,
    /// Points of this run the other has not.
    pub only_new: Vec<&'a PointRecord>,
    /// Points of the other run this one has not.
    pub only_old: Vec<&'a PointRecord>,
}

/// Pair the points of `new` with those of `old` by match key (the k-th
/// point with a key with the k-th point with the same key in the other).
pub fn compare<'a>(new: &'a RunData, old: &'a RunData) -> Comparison<'a> {
    let mut old_by_key: BTreeMap<String, Vec<&PointRecord>> = BTreeMap::new();
    for p in &old.points {
        old_by_key.entry(p.match_key()).or_default().push(p);
    }
    let mut c = Comparison {
        other_run_id: old.run_id.clone(),
        pairs: Vec::new(),
        unmeasured: Vec::new(),
        only_new: Vec::new(),
        only_old: Vec::new(),
    };
    for p in &new.points {
        let twin = old_by_key.get_mut(&p.match_key()).and_then(|v| {
            if v.is_empty() {
                None
            } else {
                Some(v.remove(0))
            }
        });
        match twin {
            Some(o) if o.measured() && p.measured() => c.pairs.push(Pair::of(o, p)),
            Some(o) => c.unmeasured.push((o, p)),
            None => c.only_new.push(p),
        }
    }
    c.only_old = old_by_key.into_values().flatten().collect();
    c.only_old.sort_by_key(|p| p.point);
    c
}

impl Comparison<'_> {
    /// The median throughput change over measured pairs (percent).
    pub fn median_throughput_change(&self) -> Option<f64> {
        let v: Vec<f64> = self.pairs.iter().filter_map(|p| p.tps.change).collect();
        median(&v)
    }

    /// Pairs by verdict: `(regressions, improvements, within noise)`.
    pub fn verdict_counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for p in &self.pairs {
            match p.verdict().0 {
                Verdict::Regression => c.0 += 1,
                Verdict::Improvement => c.1 += 1,
                Verdict::Noise => c.2 += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::tests::point;

    #[test]
    fn throughput_thresholds_are_five_percent_each_way() {
        // −6 % is a regression, −4 % is not; the thresholds themselves are noise
        assert_eq!(throughput_verdict(-6.0), Verdict::Regression);
        assert_eq!(throughput_verdict(-4.0), Verdict::Noise);
        assert_eq!(throughput_verdict(-5.0), Verdict::Noise);
        assert_eq!(throughput_verdict(5.0), Verdict::Noise);
        assert_eq!(throughput_verdict(5.1), Verdict::Improvement);
        let c = change_pct(Some(100.0), Some(94.0)).unwrap();
        assert!((c + 6.0).abs() < 1e-9, "{c}");
        assert_eq!(throughput_verdict(c), Verdict::Regression);
        assert_eq!(change_pct(Some(0.0), Some(3.0)), None);
        assert_eq!(change_pct(None, Some(3.0)), None);
    }

    #[test]
    fn latency_thresholds_are_ten_percent_each_way_and_lower_is_better() {
        assert_eq!(latency_verdict(11.0), Verdict::Regression);
        assert_eq!(latency_verdict(9.0), Verdict::Noise);
        assert_eq!(latency_verdict(-9.0), Verdict::Noise);
        assert_eq!(latency_verdict(-11.0), Verdict::Improvement);
    }

    #[test]
    fn a_pair_is_a_regression_when_any_metric_regressed() {
        let mut old = point(1, "ok", 100.0, &["clean"]);
        old.ttft_ms.p50 = Some(10.0);
        old.itl_ms.p50 = Some(2.0);
        let mut new = old.clone();
        new.throughput_tps = 104.0; // +4 %: noise
        new.ttft_ms.p50 = Some(8.0); // −20 %: better
        new.itl_ms.p50 = Some(2.1); // +5 %: noise
        assert_eq!(
            Pair::of(&old, &new).verdict(),
            (Verdict::Improvement, vec!["TTFT"])
        );
        new.itl_ms.p50 = Some(2.4); // +20 %: worse, outweighs the TTFT gain
        assert_eq!(
            Pair::of(&old, &new).verdict(),
            (Verdict::Regression, vec!["ITL"])
        );
        new.throughput_tps = 94.0;
        assert_eq!(
            Pair::of(&old, &new).verdict(),
            (Verdict::Regression, vec!["tok/s", "ITL"])
        );
        let same = Pair::of(&old, &old);
        assert_eq!(same.verdict(), (Verdict::Noise, vec![]));
    }

    #[test]
    fn points_pair_by_configuration_and_load() {
        let run = |id: &str, tps: &[(usize, f64, &str)]| RunData {
            run_id: id.into(),
            points: tps
                .iter()
                .map(|(n, t, outcome)| point(*n, outcome, *t, &["clean"]))
                .collect(),
            ..Default::default()
        };
        // point n runs at concurrency n: p1–p3 in both, p4 only new, p5 only old
        let old = run(
            "old",
            &[
                (1, 100.0, "ok"),
                (2, 100.0, "ok"),
                (3, 100.0, "failed"),
                (5, 1.0, "ok"),
            ],
        );
        let new = run(
            "new",
            &[
                (1, 90.0, "ok"),
                (2, 120.0, "ok"),
                (3, 100.0, "ok"),
                (4, 1.0, "ok"),
            ],
        );
        let c = compare(&new, &old);
        assert_eq!(c.other_run_id, "old");
        assert_eq!(c.pairs.len(), 2);
        assert_eq!(c.unmeasured.len(), 1);
        assert_eq!(c.unmeasured[0].1.point, 3);
        assert_eq!(c.only_new.iter().map(|p| p.point).collect::<Vec<_>>(), [4]);
        assert_eq!(c.only_old.iter().map(|p| p.point).collect::<Vec<_>>(), [5]);
        // −10 % and +20 %: median +5 %
        let m = c.median_throughput_change().unwrap();
        assert!((m - 5.0).abs() < 1e-9, "{m}");
        assert_eq!(c.verdict_counts(), (1, 1, 0));
    }
}
