//! Two runs side by side: points paired by [`PointRecord::match_key`]
//! (same configuration and load), and for each pair the figures of
//! [`FIGURES`] judged by the significance test of [`super::verdict`]
//! (all the tests of one comparison form one Holm family), with the
//! percent change as information.

use std::collections::BTreeMap;

use super::data::{Figure, PointRecord, RunData};
use super::summary::median;
use super::verdict::{FAMILY_ALPHA, Significance, Verdict, significance_family};

/// The figures compared, `(key, label)`: throughput, and the median of
/// TTFT, ITL (the gaps between streamed chunks, what a reader of the
/// stream waits) and E2E. Audio points make no tokens: only E2E counts.
pub const FIGURES: [(&str, &str); 4] = [
    ("throughput_tps", "tok/s"),
    ("ttft_p50_ms", "TTFT p50"),
    ("itl_p50_ms", "ITL p50"),
    ("e2e_p50_ms", "E2E p50"),
];

/// Whether figure `key` is compared for a point of `modality`.
fn applies(key: &str, modality: &str) -> bool {
    modality != "audio" || key == "e2e_p50_ms"
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

/// One figure of a pair: both sides with their intervals, the change,
/// and the test (`None` when the figure does not apply to the point).
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub key: &'static str,
    pub label: &'static str,
    pub old: Figure,
    pub new: Figure,
    pub change: Option<f64>,
    pub test: Option<Significance>,
}

/// The same point in both runs, both measured.
#[derive(Debug, Clone)]
pub struct Pair<'a> {
    pub old: &'a PointRecord,
    pub new: &'a PointRecord,
    /// One per [`FIGURES`], in that order.
    pub deltas: Vec<Delta>,
}

impl<'a> Pair<'a> {
    /// The pair with its figures, not yet tested (see [`compare`]).
    fn of(old: &'a PointRecord, new: &'a PointRecord) -> Pair<'a> {
        let deltas = FIGURES
            .iter()
            .map(|(key, label)| {
                let (o, n) = (old.figure(key), new.figure(key));
                Delta {
                    key,
                    label,
                    change: change_pct(o.value, n.value),
                    old: o,
                    new: n,
                    test: None,
                }
            })
            .collect();
        Pair { old, new, deltas }
    }

    /// The figure `key` of the pair.
    pub fn delta(&self, key: &str) -> Option<&Delta> {
        self.deltas.iter().find(|d| d.key == key)
    }

    /// The pair's verdict and the figures behind it: slower when any
    /// figure is slower, else faster when any is faster, else no
    /// significant difference when any figure could be tested, else
    /// cannot tell (with the first reason).
    pub fn verdict(&self) -> (Verdict, Vec<&'static str>) {
        let tested = || {
            self.deltas
                .iter()
                .filter_map(|d| Some((d.label, d.test.as_ref()?)))
        };
        for v in [Verdict::Slower, Verdict::Faster] {
            let names: Vec<&'static str> = tested()
                .filter(|(_, t)| t.verdict == v)
                .map(|(n, _)| n)
                .collect();
            if !names.is_empty() {
                return (v, names);
            }
        }
        if tested().any(|(_, t)| t.verdict == Verdict::NoDifference) {
            return (Verdict::NoDifference, Vec::new());
        }
        let why = tested()
            .find_map(|(_, t)| match &t.verdict {
                Verdict::CannotTell(why) => Some(why.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "no figure to compare".into());
        (Verdict::CannotTell(why), Vec::new())
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
    test_family(&mut c.pairs);
    c
}

/// Every applicable figure of every pair, tested as one Holm family.
fn test_family(pairs: &mut [Pair<'_>]) {
    let mut at: Vec<(usize, usize)> = Vec::new();
    let mut figures: Vec<(&Figure, &Figure)> = Vec::new();
    for (pi, pair) in pairs.iter().enumerate() {
        for (di, d) in pair.deltas.iter().enumerate() {
            if applies(d.key, &pair.new.modality) {
                at.push((pi, di));
                figures.push((&d.old, &d.new));
            }
        }
    }
    let tests = significance_family(&figures, FAMILY_ALPHA);
    for ((pi, di), t) in at.into_iter().zip(tests) {
        pairs[pi].deltas[di].test = Some(t);
    }
}

/// Pairs by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    pub slower: usize,
    pub no_difference: usize,
    pub faster: usize,
    pub cannot_tell: usize,
}

impl Comparison<'_> {
    /// The median throughput change over measured pairs (percent).
    pub fn median_throughput_change(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .pairs
            .iter()
            .filter_map(|p| p.delta("throughput_tps")?.change)
            .collect();
        median(&v)
    }

    /// Pairs by verdict.
    pub fn verdict_counts(&self) -> VerdictCounts {
        let mut c = VerdictCounts::default();
        for p in &self.pairs {
            match p.verdict().0 {
                Verdict::Slower => c.slower += 1,
                Verdict::NoDifference => c.no_difference += 1,
                Verdict::Faster => c.faster += 1,
                Verdict::CannotTell(_) => c.cannot_tell += 1,
            }
        }
        c
    }

    /// `2 points slower, 5 no significant difference, 0 faster; z-test on
    /// the difference, Holm-corrected` (and how many cannot tell, if any).
    pub fn summary_line(&self) -> String {
        let c = self.verdict_counts();
        let noun = if c.slower == 1 { "point" } else { "points" };
        let mut s = format!(
            "{} {noun} slower, {} no significant difference, {} faster",
            c.slower, c.no_difference, c.faster
        );
        if c.cannot_tell > 0 {
            s.push_str(&format!(", {} cannot tell (no interval)", c.cannot_tell));
        }
        s.push_str(&format!(
            "; z-test on the difference, Holm-corrected at {FAMILY_ALPHA}"
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::tests::record_v060;
    use crate::report::summary::tests::point;

    #[test]
    fn changes_are_percent_of_the_old_value() {
        let c = change_pct(Some(100.0), Some(94.0)).unwrap();
        assert!((c + 6.0).abs() < 1e-9, "{c}");
        assert_eq!(change_pct(Some(0.0), Some(3.0)), None);
        assert_eq!(change_pct(None, Some(3.0)), None);
    }

    /// A run folder's data from 0.6.0 lines: point n at throughput
    /// `tps[n-1]` ± `half` and TTFT p50 10 ms ± 0.5.
    fn run060(id: &str, tps: &[f64], half: f64) -> RunData {
        let d = tempfile::tempdir().unwrap();
        let lines: Vec<String> = tps
            .iter()
            .enumerate()
            .map(|(i, t)| {
                record_v060(
                    i as u64 + 1,
                    "point",
                    None,
                    1,
                    (*t, t - half, t + half),
                    (10.0, 9.5, 10.5),
                )
                .to_string()
            })
            .collect();
        std::fs::write(d.path().join("report.jsonl"), lines.join("\n") + "\n").unwrap();
        let mut r = RunData::load(d.path()).unwrap();
        r.run_id = id.into();
        r
    }

    #[test]
    fn a_run_twenty_percent_slower_is_slower_and_the_same_run_no_different() {
        let base = [100.0, 200.0, 300.0];
        let old = run060("old", &base, 2.0);
        let slow = run060("slow", &base.map(|t| t * 0.8), 2.0);
        let c = compare(&slow, &old);
        assert_eq!(c.pairs.len(), 3);
        for p in &c.pairs {
            let (v, why) = p.verdict();
            assert_eq!((v, why), (Verdict::Slower, vec!["tok/s"]));
            let tps = p.delta("throughput_tps").unwrap();
            assert!((tps.change.unwrap() + 20.0).abs() < 1e-9);
            assert!(tps.test.as_ref().unwrap().p_value.unwrap() < 0.001);
            // TTFT is the same in both: tested, no difference
            let ttft = p.delta("ttft_p50_ms").unwrap().test.as_ref().unwrap();
            assert_eq!(ttft.verdict, Verdict::NoDifference);
            // ITL has no interval in the fixture: cannot tell, and why
            let itl = p.delta("itl_p50_ms").unwrap().test.as_ref().unwrap();
            assert_eq!(
                itl.verdict,
                Verdict::CannotTell("no value: too few samples for p99 (16; needs 500)".into())
            );
        }
        assert_eq!(
            c.summary_line(),
            "3 points slower, 0 no significant difference, 0 faster; z-test on the difference, Holm-corrected at 0.05"
        );
        let again = run060("again", &base, 2.0);
        let same = compare(&again, &old);
        assert_eq!(
            same.verdict_counts(),
            VerdictCounts {
                no_difference: 3,
                ..Default::default()
            }
        );
        assert!(
            same.summary_line()
                .starts_with("0 points slower, 3 no significant difference, 0 faster")
        );
        // faster the other way round
        let fast = compare(&old, &slow);
        assert_eq!(fast.verdict_counts().faster, 3);
    }

    #[test]
    fn a_change_inside_the_noise_is_no_difference_whatever_its_size() {
        // −10 % with intervals of ±15: the old rule called it a regression
        let old = run060("old", &[100.0], 15.0);
        let new = run060("new", &[90.0], 15.0);
        let c = compare(&new, &old);
        assert_eq!(c.pairs[0].verdict().0, Verdict::NoDifference);
        // −3 % with intervals of ±0.5: the old rule called it noise
        let old = run060("old", &[100.0], 0.5);
        let new = run060("new", &[97.0], 0.5);
        assert_eq!(compare(&new, &old).pairs[0].verdict().0, Verdict::Slower);
    }

    #[test]
    fn old_records_cannot_tell() {
        let old = RunData {
            run_id: "old".into(),
            points: vec![point(1, "ok", 100.0, &["clean"])],
            ..Default::default()
        };
        let new = RunData {
            run_id: "new".into(),
            points: vec![point(1, "ok", 50.0, &["clean"])],
            ..Default::default()
        };
        let c = compare(&new, &old);
        let (v, _) = c.pairs[0].verdict();
        assert!(
            matches!(v, Verdict::CannotTell(ref why) if why.starts_with("no interval: record has no intervals")),
            "{v:?}"
        );
        assert_eq!(
            c.summary_line(),
            "0 points slower, 0 no significant difference, 0 faster, 1 cannot tell (no interval); z-test on the difference, Holm-corrected at 0.05"
        );
        // the change is still there, as information
        assert_eq!(c.median_throughput_change(), Some(-50.0));
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
    }

    #[test]
    fn every_test_of_a_comparison_is_one_holm_family() {
        // two points, each −2.2 se on throughput: alone p 0.028; with 4
        // tests in the family (tok/s and TTFT of each pair; ITL and E2E
        // have no value) Holm lifts them above 0.05
        let half = 1.959_963_984_540_054 * std::f64::consts::FRAC_1_SQRT_2; // se 1/√2: diff se 1
        let old = run060("old", &[100.0, 200.0], half);
        let new = run060("new", &[97.8, 197.8], half);
        let c = compare(&new, &old);
        for p in &c.pairs {
            let t = p.delta("throughput_tps").unwrap().test.as_ref().unwrap();
            assert_eq!(t.verdict, Verdict::NoDifference, "{t:?}");
            // the two smallest tie: 4 × 0.0278, then max(that, 3 × 0.0278)
            assert!(
                (t.p_value.unwrap() - 4.0 * 0.027_806_895_026_997_2).abs() < 1e-6,
                "{t:?}"
            );
        }
    }
}
