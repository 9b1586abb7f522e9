//! Whether a point's own requests look steady: a trend over the
//! measurement, and heavy outliers. Each check that fires adds a quality
//! flag (a flagged point is never called clean).
//!
//! - **`unsteady`** — the point drifted while it was measured. The
//!   successful measured requests, in send order, are cut in thirds; the
//!   mean E2E of the last third is compared with that of the first. The
//!   flag fires when both hold: the 99% interval of the change excludes
//!   0 (a flag takes a point out of the best and out of "clean", so the
//!   test is strict: a steady point is flagged about once in a hundred,
//!   not once in twenty; a moving-block bootstrap of each third on its own, blocks of
//!   ⌈n^⅓⌉, so that correlated neighbours do not pass for evidence), and
//!   the change is larger than [`TREND_LIMIT_PCT`] (10%) of the first
//!   third's mean (so that a long, precise point does not flag a drift
//!   nobody would care about). Needs [`MIN_TREND_SAMPLES`] requests per
//!   third; the middle third is a buffer between the two.
//! - **`outliers`** — heavy outliers: at least [`OUTLIER_SHARE`] (1%) of
//!   the E2E samples lie beyond the far fence, Tukey's Q3 + 3·IQR,
//!   computed on the logarithm of the latency (latencies are skewed; on a
//!   log scale a log-normal latency, however wide, crosses this fence
//!   about once in a million samples) and at least three times the upper
//!   quartile (so a tight distribution does not call a sample twice the
//!   rest an outlier). TTFT is not judged: a batching server's TTFT is
//!   bimodal by design (a request arriving while others decode waits for
//!   the next prefill), which is how it works, not a stall; a real
//!   stall shows in the whole request. Such samples are stalls: retries,
//!   a pause of the server, a neighbour's burst; they drive the mean and
//!   p99. Needs [`MIN_OUTLIER_SAMPLES`] samples.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::distribution::percentile;
use super::interval::{auto_block_length, percentile_interval, resample_blocks};
use crate::load::record::RequestRecord;

/// A change of mean E2E below this (percent of the first third's) is not
/// a trend worth flagging.
pub const TREND_LIMIT_PCT: f64 = 10.0;
/// Requests each third needs for a trend.
pub const MIN_TREND_SAMPLES: usize = 20;
/// The share of samples beyond the far fence that flags outliers.
pub const OUTLIER_SHARE: f64 = 0.01;
/// Samples a latency needs for its quartiles to place a fence.
pub const MIN_OUTLIER_SAMPLES: usize = 20;
/// The far fence: this many interquartile ranges above the upper quartile.
const FENCE_IQRS: f64 = 3.0;
/// The fence is at least this factor above the upper quartile.
const MIN_FENCE_FACTOR: f64 = 3.0;
/// Bootstrap of the trend: resamples, level, seed (fixed: the same
/// records, the same verdict).
const TREND_RESAMPLES: usize = 1000;
const TREND_LEVEL: f64 = 0.99;
const TREND_SEED: u64 = 0x5eed_0018;

/// The flag names.
pub const UNSTEADY: &str = "unsteady";
pub const OUTLIERS: &str = "outliers";

/// The first third of a point against the last.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// Mean E2E of the first third of the requests (send order).
    pub first_mean_ms: f64,
    /// Mean E2E of the last third.
    pub last_mean_ms: f64,
    /// (last − first) / first, percent.
    pub change_pct: f64,
    /// The 99% interval of `change_pct`.
    pub lo_pct: f64,
    pub hi_pct: f64,
}

/// Samples beyond the far fence; `metric` names the latency judged (`e2e`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outliers {
    /// The latency judged: `e2e`.
    pub metric: String,
    pub count: u64,
    /// `count` / samples.
    pub share: f64,
    /// The fence, ms.
    pub fence_ms: f64,
}

/// The stability checks of one point (one repeat's records).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stability {
    /// `None` with too few requests.
    pub trend: Option<Trend>,
    /// `None` with too few samples.
    pub outliers: Option<Outliers>,
    /// The flags that fired: [`UNSTEADY`], [`OUTLIERS`].
    pub flags: Vec<String>,
}

/// What a stability flag means, for reports; `None` for another name.
pub fn flag_meaning(flag: &str) -> Option<&'static str> {
    match flag {
        UNSTEADY => Some(
            "the point drifted while measured: mean E2E of its last third of requests \
             differs from its first third by more than 10%, beyond the noise \
             (the 99% block-bootstrap interval of the change excludes 0)",
        ),
        OUTLIERS => Some(
            "heavy outliers: at least 1% of E2E samples beyond the far fence \
             (upper quartile + 3 interquartile ranges of log latency, and at least three times \
             the upper quartile); stalls that drive the mean and p99",
        ),
        _ => None,
    }
}

/// The stability checks of the measured requests in `records`.
pub fn stability(records: &[RequestRecord]) -> Stability {
    let mut ok: Vec<&RequestRecord> = records.iter().filter(|r| !r.excluded && r.ok()).collect();
    ok.sort_by_key(|r| (r.sent_at, r.seq));
    let e2e: Vec<f64> = ok.iter().map(|r| ms(r.e2e)).collect();
    let trend = trend(&e2e);
    // E2E only: a batching server's TTFT is bimodal by design (a request
    // that arrives while others decode waits for the next prefill), which
    // is its behaviour, not a stall; a stall shows in the whole request
    let outliers = outliers("e2e", &e2e);
    let mut flags = Vec::new();
    if trend.as_ref().is_some_and(is_unsteady) {
        flags.push(UNSTEADY.to_string());
    }
    if outliers
        .as_ref()
        .is_some_and(|o| o.count > 0 && o.share >= OUTLIER_SHARE)
    {
        flags.push(OUTLIERS.to_string());
    }
    Stability {
        trend,
        outliers,
        flags,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn is_unsteady(t: &Trend) -> bool {
    let excludes_zero = t.lo_pct > 0.0 || t.hi_pct < 0.0;
    excludes_zero && t.change_pct.abs() > TREND_LIMIT_PCT
}

/// First third against last third of `e2e` (send order).
fn trend(e2e: &[f64]) -> Option<Trend> {
    let third = e2e.len() / 3;
    if third < MIN_TREND_SAMPLES {
        return None;
    }
    let first = &e2e[..third];
    let last = &e2e[e2e.len() - third..];
    let (first_mean, last_mean) = (mean(first), mean(last));
    if first_mean <= 0.0 || !first_mean.is_finite() || !last_mean.is_finite() {
        return None;
    }
    let pct = |last: f64, first: f64| (last - first) / first_mean * 100.0;
    let block = auto_block_length(first).max(auto_block_length(last));
    let mut rng = StdRng::seed_from_u64(TREND_SEED);
    let (mut a, mut b) = (Vec::with_capacity(third), Vec::with_capacity(third));
    let mut changes = Vec::with_capacity(TREND_RESAMPLES);
    for _ in 0..TREND_RESAMPLES {
        a.clear();
        b.clear();
        resample_blocks(first, block, &mut rng, &mut a);
        resample_blocks(last, block, &mut rng, &mut b);
        changes.push(pct(mean(&b), mean(&a)));
    }
    let i = percentile_interval(&mut changes, TREND_LEVEL)?;
    Some(Trend {
        first_mean_ms: first_mean,
        last_mean_ms: last_mean,
        change_pct: pct(last_mean, first_mean),
        lo_pct: i.lo,
        hi_pct: i.hi,
    })
}

/// Samples of `v` beyond the far fence on log latency.
fn outliers(metric: &str, v: &[f64]) -> Option<Outliers> {
    if v.len() < MIN_OUTLIER_SAMPLES {
        return None;
    }
    // a microsecond floor keeps zero latencies finite on the log scale
    let mut logs: Vec<f64> = v.iter().map(|x| x.max(1e-3).ln()).collect();
    logs.sort_by(f64::total_cmp);
    let q1 = percentile(&logs, 25.0)?;
    let q3 = percentile(&logs, 75.0)?;
    let fence = (q3 + FENCE_IQRS * (q3 - q1)).max(q3 + MIN_FENCE_FACTOR.ln());
    let count = logs.iter().filter(|x| **x > fence).count() as u64;
    Some(Outliers {
        metric: metric.to_string(),
        count,
        share: count as f64 / v.len() as f64,
        fence_ms: fence.exp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use rand_distr::{Distribution, LogNormal};

    /// Successful requests sent 50 ms apart with these E2E (and TTFT a
    /// fifth of it), in milliseconds.
    fn point(e2e_ms: &[f64]) -> Vec<RequestRecord> {
        e2e_ms
            .iter()
            .enumerate()
            .map(|(i, e)| RequestRecord {
                seq: i as u64,
                sent_at: Duration::from_millis(50 * i as u64),
                ttft: Some(Duration::from_secs_f64(e / 5e3)),
                e2e: Duration::from_secs_f64(e / 1e3),
                completion_tokens: 16,
                ..Default::default()
            })
            .collect()
    }

    fn lognormal(n: usize, median: f64, sigma: f64, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = LogNormal::new(median.ln(), sigma).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    #[test]
    fn a_steady_point_raises_no_flag() {
        for seed in 0..10 {
            let s = stability(&point(&lognormal(600, 100.0, 0.5, seed)));
            assert!(s.flags.is_empty(), "seed {seed}: {s:?}");
            let t = s.trend.clone().unwrap();
            assert!(t.lo_pct < t.change_pct && t.change_pct < t.hi_pct, "{t:?}");
            assert!(s.outliers.unwrap().share < OUTLIER_SHARE);
        }
    }

    #[test]
    fn a_drifting_point_is_unsteady() {
        // E2E rises by half over the point
        let noise = lognormal(300, 1.0, 0.2, 1);
        let e2e: Vec<f64> = noise
            .iter()
            .enumerate()
            .map(|(i, x)| 100.0 * (1.0 + 0.5 * i as f64 / 300.0) * x)
            .collect();
        let s = stability(&point(&e2e));
        assert_eq!(s.flags, [UNSTEADY]);
        let t = s.trend.clone().unwrap();
        assert!(t.change_pct > 15.0 && t.lo_pct > 10.0, "{t:?}");
        assert!(t.last_mean_ms > t.first_mean_ms);
        // and falling as well as rising
        let falling: Vec<f64> = e2e.iter().rev().copied().collect();
        assert_eq!(stability(&point(&falling)).flags, [UNSTEADY]);
    }

    #[test]
    fn a_small_or_uncertain_change_is_not_a_trend() {
        // 5% slower at the end, measured very precisely: real, but small
        let e2e: Vec<f64> = (0..3000)
            .map(|i| if i < 1500 { 100.0 } else { 105.0 } + f64::from(i % 7) * 0.1)
            .collect();
        let s = stability(&point(&e2e));
        let t = s.trend.clone().unwrap();
        assert!(t.lo_pct > 0.0, "the change is beyond the noise: {t:?}");
        assert!(s.flags.is_empty(), "{s:?}");
        // 20% apart by chance in a short, very noisy point
        let mut rng = StdRng::seed_from_u64(3);
        let noisy: Vec<f64> = (0..60).map(|_| rng.random_range(10.0..400.0)).collect();
        let s = stability(&point(&noisy));
        let t = s.trend.clone().unwrap();
        assert!(t.change_pct.abs() > 10.0, "{t:?}");
        assert!(t.lo_pct < 0.0 && t.hi_pct > 0.0, "{t:?}");
        assert!(!s.flags.contains(&UNSTEADY.to_string()));
    }

    #[test]
    fn stalls_are_heavy_outliers() {
        let mut e2e = lognormal(500, 100.0, 0.4, 2);
        // 2% of requests stall for 20x as long
        for x in e2e.iter_mut().step_by(50) {
            *x *= 20.0;
        }
        let s = stability(&point(&e2e));
        assert!(s.flags.contains(&OUTLIERS.to_string()), "{s:?}");
        let o = s.outliers.unwrap();
        assert_eq!(o.count, 10);
        assert!((o.share - 0.02).abs() < 1e-12);
        assert_eq!(o.metric, "e2e");
        // median 100 ms: the fence lies well above it, well below the stalls
        assert!(o.fence_ms > 300.0 && o.fence_ms < 2000.0, "{o:?}");
        // 0.4% stalls: counted, not flagged
        let mut e2e = lognormal(500, 100.0, 0.4, 2);
        e2e[10] *= 20.0;
        e2e[400] *= 20.0;
        let s = stability(&point(&e2e));
        assert_eq!(s.outliers.as_ref().unwrap().count, 2);
        assert!(s.flags.is_empty(), "{s:?}");
    }

    #[test]
    fn a_tight_distribution_does_not_call_small_bumps_outliers() {
        // 100 ms ± 0.05, with 5% of requests 3% slower
        let e2e: Vec<f64> = (0..400)
            .map(|i| {
                if i % 20 == 0 {
                    103.0
                } else {
                    100.0 + f64::from(i % 3) * 0.05
                }
            })
            .collect();
        let s = stability(&point(&e2e));
        assert_eq!(s.outliers.as_ref().unwrap().count, 0);
        assert!(s.flags.is_empty(), "{s:?}");
    }

    #[test]
    fn too_few_requests_are_not_judged_and_only_measured_ones_count() {
        let s = stability(&point(&lognormal(19, 100.0, 0.5, 1)));
        assert_eq!((s.trend, s.outliers, s.flags.len()), (None, None, 0));
        assert_eq!(stability(&[]), Stability::default());
        // a drift that lies only in the warmup is not the point's
        let mut recs = point(
            &(0..200)
                .map(|i| if i < 60 { 500.0 } else { 100.0 })
                .collect::<Vec<_>>(),
        );
        recs[..60].iter_mut().for_each(|r| r.excluded = true);
        // and failed requests do not count
        recs[100].error = Some((crate::load::record::ErrorKind::Timeout, "slow".into()));
        recs[100].e2e = Duration::from_secs(60);
        let s = stability(&recs);
        assert!(s.flags.is_empty(), "{s:?}");
        assert_eq!(s.trend.unwrap().change_pct, 0.0);
    }

    #[test]
    fn every_flag_has_a_meaning() {
        for flag in [UNSTEADY, OUTLIERS] {
            assert!(flag_meaning(flag).is_some_and(|m| m.len() > 40), "{flag}");
        }
        assert_eq!(flag_meaning("clean"), None);
    }
}
