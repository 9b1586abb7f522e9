//! Whether two figures differ beyond their noise, and which point is best.
//!
//! The rule: two figures differ significantly when
//! `|a − b| / sqrt(se_a² + se_b²) > z`, with each standard error taken
//! from its confidence interval, `se = (hi − lo) / (2 · z_{(1+level)/2})`
//! (a z-test on the difference, treating each bootstrap distribution as
//! normal). The tests of one comparison form a family, corrected by Holm's
//! step-down method at [`FAMILY_ALPHA`]. A figure without an interval
//! cannot be judged, and says why.

use super::cells::{num, p_value};
use super::data::{Better, Figure, PointRecord};
use super::summary::is_clean;

/// The family-wise error rate of one comparison (Holm-corrected).
pub const FAMILY_ALPHA: f64 = 0.05;

/// The test, named once wherever verdicts are shown.
pub const TEST_NAME: &str =
    "z-test on the difference (standard errors from each interval), Holm-corrected at 0.05";

/// The figure the best point is chosen by.
pub const BEST_BY: &str = "throughput_tps";

/// What a test says about `new` against `old`.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// `new` is better beyond noise (more throughput, or less latency).
    Faster,
    /// `new` is worse beyond noise.
    Slower,
    /// The difference is within the noise.
    NoDifference,
    /// The test cannot be made: why (`no interval: too few samples …`).
    CannotTell(String),
}

impl Verdict {
    /// `faster`, `slower`, `no significant difference`, `cannot tell (why)`.
    pub fn word(&self) -> String {
        match self {
            Verdict::Faster => "faster".into(),
            Verdict::Slower => "slower".into(),
            Verdict::NoDifference => "no significant difference".into(),
            Verdict::CannotTell(why) => format!("cannot tell ({why})"),
        }
    }

    pub fn icon(&self) -> &'static str {
        match self {
            Verdict::Faster => "✅",
            Verdict::Slower => "⚠️",
            Verdict::NoDifference => "➡️",
            Verdict::CannotTell(_) => "❔",
        }
    }
}

/// One test's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Significance {
    pub verdict: Verdict,
    /// The two-sided p-value the verdict rests on (Holm-adjusted when the
    /// test was one of a family); `None` when the test could not be made.
    pub p_value: Option<f64>,
    /// `(new − old) / sqrt(se_old² + se_new²)`.
    pub z: Option<f64>,
}

impl Significance {
    fn cannot_tell(why: String) -> Significance {
        Significance {
            verdict: Verdict::CannotTell(why),
            p_value: None,
            z: None,
        }
    }
}

/// The standard normal distribution function Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// The x with Φ(x) = `p`, for `p` in (0, 1) (NaN outside), found by
/// bisection on [`normal_cdf`] to the precision of an f64.
pub fn normal_quantile(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    let (mut lo, mut hi) = (-40.0_f64, 40.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// A figure's standard error from its interval:
/// `(hi − lo) / (2 · z_{(1+level)/2})`; why not, when it has no interval.
pub fn standard_error(f: &Figure) -> Result<f64, String> {
    if f.value.is_none_or(|v| !v.is_finite()) {
        return Err(format!("no value: {}", f.missing_why()));
    }
    let Some((lo, hi)) = f.interval() else {
        return Err(format!("no interval: {}", f.missing_why()));
    };
    let z = normal_quantile((1.0 + f.level) / 2.0);
    if !(z.is_finite() && z > 0.0) {
        return Err(format!("no interval: level {} is not in (0, 1)", f.level));
    }
    Ok((hi - lo) / (2.0 * z))
}

/// The z-test of `new` against `old` at `alpha` (two-sided), with the
/// direction that figure's kind gives: more is faster for rates, less is
/// faster for latencies.
pub fn significance(old: &Figure, new: &Figure, alpha: f64) -> Significance {
    let (se_old, se_new) = match (standard_error(old), standard_error(new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(a), Err(b)) if a == b => return Significance::cannot_tell(a),
        (Err(a), Err(b)) => return Significance::cannot_tell(format!("{a}; {b}")),
        (Err(a), _) | (_, Err(a)) => return Significance::cannot_tell(a),
    };
    // both values are finite: standard_error checked them
    let (a, b) = (old.value.unwrap_or(0.0), new.value.unwrap_or(0.0));
    let se = (se_old * se_old + se_new * se_new).sqrt();
    let diff = b - a;
    let (z, p) = if se > 0.0 {
        let z = diff / se;
        (z, libm::erfc(z.abs() / std::f64::consts::SQRT_2))
    } else if diff == 0.0 {
        (0.0, 1.0)
    } else {
        // two intervals of zero width that differ: no noise to hide in
        (diff.signum() * f64::INFINITY, 0.0)
    };
    Significance {
        verdict: decide(diff, p, alpha, new.better()),
        p_value: Some(p),
        z: Some(z),
    }
}

fn decide(diff: f64, p: f64, alpha: f64, better: Better) -> Verdict {
    if p >= alpha || diff == 0.0 {
        return Verdict::NoDifference;
    }
    let up = diff > 0.0;
    match (better, up) {
        (Better::Higher, true) | (Better::Lower, false) => Verdict::Faster,
        _ => Verdict::Slower,
    }
}

/// Holm's step-down adjusted p-values of a family of tests (`None`, a test
/// that could not be made, is not part of the family): sorted ascending,
/// the i-th (from 1) of m becomes `max over j ≤ i of min(1, (m − j + 1) · p_j)`.
/// A test is significant at the family level α when its adjusted p < α.
pub fn holm(p_values: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut order: Vec<(usize, f64)> = p_values
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p)))
        .collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let m = order.len();
    let mut out = vec![None; p_values.len()];
    let mut running = 0.0_f64;
    for (rank, (i, p)) in order.into_iter().enumerate() {
        let adjusted = ((m - rank) as f64 * p).min(1.0);
        running = running.max(adjusted);
        out[i] = Some(running);
    }
    out
}

/// The tests of one comparison, `(old, new)` each, judged together: each
/// verdict rests on its Holm-adjusted p-value at family level `alpha`.
pub fn significance_family(pairs: &[(&Figure, &Figure)], alpha: f64) -> Vec<Significance> {
    let raw: Vec<Significance> = pairs
        .iter()
        .map(|(old, new)| significance(old, new, alpha))
        .collect();
    let adjusted = holm(&raw.iter().map(|s| s.p_value).collect::<Vec<_>>());
    raw.into_iter()
        .zip(pairs)
        .zip(adjusted)
        .map(|((s, (old, new)), adj)| match (adj, s.z) {
            (Some(p), Some(z)) => {
                let diff = new.value.unwrap_or(0.0) - old.value.unwrap_or(0.0);
                Significance {
                    verdict: decide(diff, p, alpha, new.better()),
                    p_value: Some(p),
                    z: Some(z),
                }
            }
            _ => s,
        })
        .collect()
}

/// A figure as `512.3 ± 12.1` (half the interval's width), or its value
/// alone when it has no interval; `–` without a value.
pub fn with_interval(f: &Figure) -> String {
    match (f.value, f.half_width()) {
        (Some(v), Some(h)) => format!("{} ± {}", num(Some(v)), num(Some(h))),
        (v, _) => num(v),
    }
}

/// The best point of a run and how it stands against the runner-up.
#[derive(Debug, Clone)]
pub struct BestVerdict<'a> {
    pub best: &'a PointRecord,
    /// The next point by throughput among the same candidates.
    pub runner_up: Option<&'a PointRecord>,
    /// Whether the candidates were the clean points (`false`: no measured
    /// point was clean, so every measured point competed).
    pub clean: bool,
    /// The runner-up (old) against the best (new): `Faster` means the best
    /// is ahead beyond noise. One test: no correction.
    pub versus_runner_up: Option<Significance>,
}

/// The best measured point by throughput: among the clean ones, or among
/// all measured ones when none is clean (audio points make no tokens and
/// do not compete); `None` when no point was measured.
pub fn best(points: &[PointRecord]) -> Option<BestVerdict<'_>> {
    let measured: Vec<&PointRecord> = points
        .iter()
        .filter(|p| p.measured() && p.modality != "audio")
        .collect();
    let clean: Vec<&PointRecord> = measured.iter().copied().filter(|p| is_clean(p)).collect();
    let (mut candidates, is_clean_set) = if clean.is_empty() {
        (measured, false)
    } else {
        (clean, true)
    };
    let tps = |p: &PointRecord| p.figure(BEST_BY).value.unwrap_or(f64::NEG_INFINITY);
    // highest first; equal throughput: the earlier point first
    candidates.sort_by(|a, b| tps(b).total_cmp(&tps(a)).then(a.point.cmp(&b.point)));
    let best = *candidates.first()?;
    let runner_up = candidates.get(1).copied();
    let versus_runner_up =
        runner_up.map(|r| significance(&r.figure(BEST_BY), &best.figure(BEST_BY), FAMILY_ALPHA));
    Some(BestVerdict {
        best,
        runner_up,
        clean: is_clean_set,
        versus_runner_up,
    })
}

impl BestVerdict<'_> {
    /// Whether the best point is ahead of the runner-up beyond noise.
    pub fn distinguishable(&self) -> bool {
        self.versus_runner_up
            .as_ref()
            .is_some_and(|s| s.verdict == Verdict::Faster)
    }

    /// How the best stands against the runner-up: `tied within noise with
    /// p7 (511.0 ± 14.0, p = 0.41)`, `ahead of p7 (480.0 ± 10.0, p =
    /// 0.003)`, `cannot tell from p7 (no interval: …)`, `no runner-up`.
    pub fn versus_text(&self) -> String {
        let (Some(r), Some(s)) = (self.runner_up, &self.versus_runner_up) else {
            return "no runner-up".into();
        };
        let fig = with_interval(&r.figure(BEST_BY));
        let p = s.p_value.map(p_value).unwrap_or_default();
        match &s.verdict {
            Verdict::Faster => format!("ahead of p{} ({fig}, {p})", r.point),
            Verdict::CannotTell(why) => format!("cannot tell from p{} ({why})", r.point),
            // Slower cannot happen (the best has the most throughput)
            _ => format!("tied within noise with p{} ({fig}, {p})", r.point),
        }
    }

    /// What the candidates were, when it was not the clean points.
    pub fn among_text(&self) -> Option<&'static str> {
        (!self.clean).then_some("no measured point was clean: ranked among all measured points")
    }

    /// The line `mlxrun run` prints last: `best p3 model=… concurrency=8
    /// throughput_tps=512.3 ± 12.1 (95% CI 500.2–524.4); tied within noise
    /// with p7 (511.0 ± 14.0, p = 0.41)`.
    pub fn line(&self) -> String {
        let b = self.best;
        let params = if b.params.is_empty() {
            format!("{} {}", b.config_label(), b.load_label())
        } else {
            b.params.clone()
        };
        let f = b.figure(BEST_BY);
        let value = f.value.unwrap_or(b.throughput_tps);
        let mut s = format!("best p{} {params} throughput_tps={value:.1}", b.point);
        if let Some((lo, hi)) = f.interval() {
            s.push_str(&format!(
                " ± {:.1} ({}% CI {lo:.1}–{hi:.1})",
                (hi - lo) / 2.0,
                level_pct(f.level)
            ));
        }
        s.push_str(&format!("; {}", self.versus_text()));
        if let Some(among) = self.among_text() {
            s.push_str(&format!("; {among}"));
        }
        s
    }
}

/// A confidence level as a percentage without needless decimals: `95`, `99.5`.
pub fn level_pct(level: f64) -> String {
    let pct = level * 100.0;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("{pct:.0}")
    } else {
        format!("{pct}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::NO_INTERVALS_WHY;
    use crate::report::summary::tests::point;

    /// z_{0.975}, to the digits the tests need.
    const Z95: f64 = 1.959_963_984_540_054;

    fn fig(key: &str, value: f64, half: f64) -> Figure {
        Figure {
            key: key.into(),
            value: Some(value),
            lo: Some(value - half),
            hi: Some(value + half),
            n: Some(100),
            why: None,
            level: 0.95,
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn the_normal_functions_match_their_tables() {
        assert!(close(normal_cdf(0.0), 0.5, 1e-15));
        assert!(close(normal_cdf(1.959_963_984_540_054), 0.975, 1e-12));
        assert!(close(normal_cdf(-1.0), 0.158_655_253_931_457, 1e-12));
        assert!(close(normal_quantile(0.975), Z95, 1e-9));
        assert!(close(normal_quantile(0.995), 2.575_829_303_548_901, 1e-9));
        assert!(close(normal_quantile(0.5), 0.0, 1e-12));
        assert!(normal_quantile(1.0).is_nan() && normal_quantile(0.0).is_nan());
        assert!(normal_quantile(f64::NAN).is_nan());
    }

    #[test]
    fn standard_errors_come_from_the_interval_width_and_level() {
        // a 95 % interval of half-width 1.96 is one standard error
        let se = standard_error(&fig("throughput_tps", 100.0, Z95)).unwrap();
        assert!(close(se, 1.0, 1e-9), "{se}");
        // at 99 %, the same width is a smaller error: 1.96 / 2.576
        let mut f = fig("throughput_tps", 100.0, Z95);
        f.level = 0.99;
        let se = standard_error(&f).unwrap();
        assert!(close(se, Z95 / 2.575_829_303_548_901, 1e-9), "{se}");
        let mut none = fig("ttft_p99_ms", 88.1, 1.0);
        none.lo = None;
        none.hi = None;
        none.why = Some("too few samples for p99 (16; needs 500)".into());
        assert_eq!(
            standard_error(&none).unwrap_err(),
            "no interval: too few samples for p99 (16; needs 500)"
        );
    }

    #[test]
    fn a_known_difference_gives_a_known_z_and_p() {
        // se 3 and 4 (half-widths 3·1.96, 4·1.96): se of the difference 5;
        // 100 → 110 is z = 2, p = 2·(1 − Φ(2)) = 0.0455
        let old = fig("throughput_tps", 100.0, 3.0 * Z95);
        let new = fig("throughput_tps", 110.0, 4.0 * Z95);
        let s = significance(&old, &new, 0.05);
        assert!(close(s.z.unwrap(), 2.0, 1e-9), "{s:?}");
        assert!(
            close(s.p_value.unwrap(), 0.045_500_263_896_358, 1e-9),
            "{s:?}"
        );
        assert_eq!(s.verdict, Verdict::Faster, "more throughput is faster");
        // the same difference is not significant at 0.01
        assert_eq!(
            significance(&old, &new, 0.01).verdict,
            Verdict::NoDifference
        );
        // and 100 → 105 (z = 1) is within noise
        let s = significance(&old, &fig("throughput_tps", 105.0, 4.0 * Z95), 0.05);
        assert!(
            close(s.p_value.unwrap(), 0.317_310_507_862_914, 1e-9),
            "{s:?}"
        );
        assert_eq!(s.verdict, Verdict::NoDifference);
        // 110 → 100 is slower
        assert_eq!(significance(&new, &old, 0.05).verdict, Verdict::Slower);
    }

    #[test]
    fn for_latencies_less_is_faster() {
        let old = fig("ttft_p50_ms", 100.0, 3.0 * Z95);
        let new = fig("ttft_p50_ms", 110.0, 4.0 * Z95);
        assert_eq!(significance(&old, &new, 0.05).verdict, Verdict::Slower);
        assert_eq!(significance(&new, &old, 0.05).verdict, Verdict::Faster);
    }

    #[test]
    fn without_an_interval_the_test_cannot_tell_and_says_why() {
        let with = fig("throughput_tps", 100.0, 1.0);
        let old = point(1, "ok", 90.0, &["clean"]); // no intervals: a 0.5.0 record
        let s = significance(&old.figure("throughput_tps"), &with, 0.05);
        assert_eq!(
            s.verdict,
            Verdict::CannotTell(format!("no interval: {NO_INTERVALS_WHY}"))
        );
        assert_eq!(s.p_value, None);
        assert_eq!(
            s.verdict.word(),
            "cannot tell (no interval: record has no intervals (report.jsonl before 0.6.0))"
        );
        let mut no_value = fig("goodput_rps", 0.0, 0.0);
        no_value.value = None;
        no_value.why = Some("no [slo]".into());
        assert_eq!(
            significance(&no_value, &no_value, 0.05).verdict,
            Verdict::CannotTell("no value: no [slo]".into())
        );
    }

    #[test]
    fn zero_width_intervals_are_equal_or_different_for_certain() {
        let a = fig("throughput_tps", 100.0, 0.0);
        let b = fig("throughput_tps", 101.0, 0.0);
        assert_eq!(significance(&a, &a, 0.05).verdict, Verdict::NoDifference);
        assert_eq!(significance(&a, &a, 0.05).p_value, Some(1.0));
        let s = significance(&a, &b, 0.05);
        assert_eq!((s.verdict, s.p_value), (Verdict::Faster, Some(0.0)));
    }

    #[test]
    fn holm_multiplies_the_smallest_p_by_m_and_steps_down() {
        // m = 4 tests (one untestable): sorted 0.01, 0.02, 0.04 →
        // 3·0.01 = 0.03, 2·0.02 = 0.04, max(0.04, 1·0.04) = 0.04
        let adj = holm(&[Some(0.04), None, Some(0.01), Some(0.02)]);
        let adj: Vec<Option<f64>> = adj
            .into_iter()
            .map(|p| p.map(|p| (p * 1e9).round() / 1e9))
            .collect();
        assert_eq!(adj, [Some(0.04), None, Some(0.03), Some(0.04)]);
        // monotone: a later p never drops below an earlier adjusted one
        let adj = holm(&[Some(0.03), Some(0.011)]);
        assert!(close(adj[1].unwrap(), 0.022, 1e-12), "{adj:?}");
        assert!(close(adj[0].unwrap(), 0.03, 1e-12), "{adj:?}");
        // capped at 1
        assert_eq!(holm(&[Some(0.6), Some(0.7)]), [Some(1.0), Some(1.0)]);
        assert_eq!(holm(&[]), Vec::<Option<f64>>::new());
    }

    #[test]
    fn a_family_judges_each_test_on_its_holm_p() {
        // three throughput tests at z = 2.2 (p 0.02781), z = 3.5 (p 0.000465),
        // z = 0: alone the first two are significant; with Holm (m = 3) the
        // first becomes 2 · 0.0278 = 0.0556 and is not
        let old = fig("throughput_tps", 100.0, Z95); // se 1
        let new = |v: f64| fig("throughput_tps", v, 0.0);
        let (a, b, c) = (new(102.2), new(103.5), new(100.0));
        assert_eq!(significance(&old, &a, 0.05).verdict, Verdict::Faster);
        let fam = significance_family(&[(&old, &a), (&old, &b), (&old, &c)], 0.05);
        assert_eq!(fam[0].verdict, Verdict::NoDifference, "{fam:?}");
        assert!(
            close(fam[0].p_value.unwrap(), 2.0 * 0.027_806_895_026_997_2, 1e-9),
            "{fam:?}"
        );
        assert_eq!(fam[1].verdict, Verdict::Faster);
        assert!(
            close(
                fam[1].p_value.unwrap(),
                3.0 * 0.000_465_258_158_071_05,
                1e-9
            ),
            "{fam:?}"
        );
        assert_eq!(fam[2].verdict, Verdict::NoDifference);
        assert_eq!(fam[2].p_value, Some(1.0));
    }

    /// A clean measured point with a throughput interval of half-width `half`.
    fn with_ci(n: usize, tps: f64, half: f64, flags: &[&str]) -> PointRecord {
        let mut p = point(n, "ok", tps, flags);
        p.params = format!("model=tiny concurrency={n}");
        let mut i = crate::report::data::Intervals {
            level: 0.95,
            method: "m".into(),
            ..Default::default()
        };
        i.figures.insert(BEST_BY.into(), fig(BEST_BY, tps, half));
        p.intervals = Some(i);
        p
    }

    #[test]
    fn the_best_is_tied_with_a_runner_up_inside_its_noise() {
        let pts = vec![
            with_ci(3, 512.3, 12.1, &["clean"]),
            with_ci(7, 511.0, 14.0, &["clean"]),
            with_ci(1, 100.0, 1.0, &["clean"]),
        ];
        let b = best(&pts).unwrap();
        assert_eq!((b.best.point, b.runner_up.map(|r| r.point)), (3, Some(7)));
        assert!(!b.distinguishable());
        assert!(b.clean);
        let line = b.line();
        assert!(
            line.starts_with(
                "best p3 model=tiny concurrency=3 throughput_tps=512.3 ± 12.1 (95% CI 500.2–524.4); tied within noise with p7 (511.0 ± 14.0, p = 0.8"
            ),
            "{line}"
        );
    }

    #[test]
    fn the_best_is_ahead_of_a_runner_up_beyond_its_noise() {
        let pts = vec![
            with_ci(1, 480.0, 10.0, &["clean"]),
            with_ci(2, 530.0, 10.0, &["clean"]),
            // more throughput, but not clean: does not compete while a clean one does
            with_ci(3, 900.0, 10.0, &["degraded_swap"]),
        ];
        let b = best(&pts).unwrap();
        assert_eq!(b.best.point, 2);
        assert!(b.distinguishable());
        // se = 10/1.96 each: z = 50 / (sqrt 2 · 5.102) = 6.93, p < 0.001
        assert_eq!(b.versus_text(), "ahead of p1 (480.0 ± 10.0, p < 0.001)");
        assert!(b.among_text().is_none());
        assert!(
            b.line()
                .contains("throughput_tps=530.0 ± 10.0 (95% CI 520.0–540.0); ahead of p1")
        );
    }

    #[test]
    fn with_no_clean_point_the_best_is_among_measured_ones_and_says_so() {
        let pts = vec![
            with_ci(1, 100.0, 5.0, &["degraded_swap"]),
            with_ci(2, 90.0, 5.0, &["errors"]),
            point(3, "failed", 999.0, &["clean"]),
        ];
        let b = best(&pts).unwrap();
        assert_eq!(b.best.point, 1);
        assert!(!b.clean);
        assert!(
            b.line()
                .ends_with("; no measured point was clean: ranked among all measured points"),
            "{}",
            b.line()
        );
        assert!(best(&[point(1, "failed", 1.0, &["clean"])]).is_none());
    }

    #[test]
    fn old_records_give_a_best_line_that_cannot_tell() {
        let mut pts = vec![
            point(1, "ok", 50.0, &["clean"]),
            point(2, "ok", 60.0, &["clean"]),
        ];
        pts[1].params = "model=tiny concurrency=2".into();
        let b = best(&pts).unwrap();
        assert_eq!(
            b.line(),
            format!(
                "best p2 model=tiny concurrency=2 throughput_tps=60.0; cannot tell from p1 (no interval: {NO_INTERVALS_WHY})"
            )
        );
        // a lone point has no runner-up; without params the labels stand in
        let one = [point(4, "ok", 7.0, &["clean"])];
        assert_eq!(
            best(&one).unwrap().line(),
            "best p4 tiny mlx_lm ×1 c=4 mt=16 throughput_tps=7.0; no runner-up"
        );
        assert_eq!(level_pct(0.95), "95");
        assert_eq!(level_pct(0.995), "99.5");
    }
}
