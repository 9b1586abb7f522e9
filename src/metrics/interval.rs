//! Confidence intervals for figures computed from samples that are not
//! independent: the moving-block bootstrap (Künsch, 1989).
//!
//! Latencies measured under load come in stretches: while the server
//! batches a long prompt every request in flight slows down together, so
//! neighbouring samples are correlated. An ordinary (i.i.d.) bootstrap
//! resamples single values, breaks those stretches and gives intervals
//! that are too narrow — a number that looks more certain than it is. The
//! block bootstrap resamples *blocks* of consecutive samples, in the order
//! they were measured, so a resample keeps the short-range correlation of
//! the original, then takes the percentile interval of the statistic over
//! the resamples. Block length: ⌈n^⅓⌉ by default, the order that suits
//! variances and distribution functions (Hall, Horowitz and Jing, 1995);
//! [`auto_block_length`] lengthens it where the samples' autocorrelation
//! says they remember further back (Politis and White, 2004). The pieces
//! ([`resample_blocks`], [`percentile_interval`]) serve bootstraps that
//! resample several series at once (`super::uncertainty`).
//!
//! What this covers is the variation of requests within one measured
//! window; the spread between repeats of a point is a separate source and
//! is combined above this. Deterministic for a given seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    /// Half the width: the "±" of a figure.
    pub fn half_width(&self) -> f64 {
        (self.hi - self.lo) / 2.0
    }

    pub fn contains(&self, v: f64) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// How an interval is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Coverage asked for, e.g. 0.95.
    pub level: f64,
    /// Resamples drawn.
    pub resamples: usize,
    /// Seed of the resampling (the same seed, the same interval).
    pub seed: u64,
    /// Samples per block; `None` = [`block_length`] of the sample count.
    pub block_len: Option<usize>,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            level: 0.95,
            resamples: 1000,
            seed: 0,
            block_len: None,
        }
    }
}

/// The default block length for `n` samples: ⌈n^⅓⌉, at least 1.
pub fn block_length(n: usize) -> usize {
    ((n as f64).cbrt().ceil() as usize).max(1)
}

/// The block length for `samples` (in measured order): [`block_length`],
/// or longer where their autocorrelation calls for it — the estimate of
/// the best length for the moving-block bootstrap by Politis and White
/// (2004, with the correction of Patton, Politis and White, 2009), capped
/// at min(3√n, n/3).
///
/// ⌈n^⅓⌉ has the right order but no constant: for strongly correlated
/// samples (an AR(1) with φ = 0.8: 2.8 samples' memory) it is too short,
/// the resamples lose long stretches and the interval comes out narrow.
/// The estimate reads the sample autocorrelations up to the first lag
/// after which [`MIN_INSIGNIFICANT_LAGS`]-plus of them are insignificant
/// (|ρ| < 2·√(log₁₀ n / n)), smooths them with a flat-top window of twice
/// that lag, and sets b = (2 G² / D)^⅓ · n^⅓ with G = Σ λ(k) |k| γ(k),
/// D = ⁴⁄₃ (Σ λ(k) γ(k))². Independent samples keep ⌈n^⅓⌉.
pub fn auto_block_length(samples: &[f64]) -> usize {
    let n = samples.len();
    let floor = block_length(n);
    if n < 8 {
        return floor.min(n.max(1));
    }
    let nf = n as f64;
    let mean = mean(samples);
    let eps: Vec<f64> = samples.iter().map(|x| x - mean).collect();
    let autocov = |k: usize| {
        eps[k..]
            .iter()
            .zip(&eps[..n - k])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / nf
    };
    let var = autocov(0);
    if !(var.is_finite() && var > 0.0) {
        return floor;
    }
    let kn = MIN_INSIGNIFICANT_LAGS.max(nf.log10() as usize);
    let m_max = (nf.sqrt().ceil() as usize + kn).min(n - 1);
    let threshold = 2.0 * (nf.log10() / nf).sqrt();
    let mut acv = vec![var];
    // the first lag from which kn autocorrelations in a row are insignificant
    let mut m_hat = None;
    let mut run = 0;
    for k in 1..=m_max {
        acv.push(autocov(k));
        if (acv[k] / var).abs() < threshold {
            run += 1;
            if run == kn {
                m_hat = Some(k + 1 - kn);
                break;
            }
        } else {
            run = 0;
        }
    }
    let m = m_hat.map_or(m_max, |m| (2 * m).min(m_max));
    while acv.len() <= m {
        acv.push(autocov(acv.len()));
    }
    let (mut g, mut long_run) = (0.0, var);
    for (k, c) in acv.iter().enumerate().take(m + 1).skip(1) {
        let t = k as f64 / m as f64;
        let weight = if t <= 0.5 { 1.0 } else { 2.0 * (1.0 - t) };
        g += 2.0 * weight * k as f64 * c;
        long_run += 2.0 * weight * c;
    }
    let d = 4.0 / 3.0 * long_run * long_run;
    let b = (2.0 * g * g / d).cbrt() * nf.cbrt();
    let cap = (3.0 * nf.sqrt()).min(nf / 3.0);
    if !b.is_finite() {
        return floor;
    }
    (b.min(cap).ceil() as usize).max(floor).min(n)
}

/// Autocorrelations in a row that must be insignificant before
/// [`auto_block_length`] stops reading further lags (at least; more for
/// n ≥ 10⁶).
pub const MIN_INSIGNIFICANT_LAGS: usize = 5;

/// The mean of `v` (NaN for none).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The `q` quantile (0..=1) of sorted `v`, interpolated linearly.
fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match v.get(i + 1) {
        Some(next) => v[i] + (next - v[i]) * frac,
        None => v[i],
    }
}

/// Whether `level` is a coverage an interval can have (strictly between
/// 0 and 1).
pub fn valid_level(level: f64) -> bool {
    level > 0.0 && level < 1.0
}

/// Append to `out` one moving-block resample of `samples`: blocks of
/// `block` consecutive samples starting at uniformly drawn positions,
/// until as many samples as the original were added. Nothing is added
/// for no samples; `block` is clamped to 1..=n.
pub fn resample_blocks(samples: &[f64], block: usize, rng: &mut StdRng, out: &mut Vec<f64>) {
    let n = samples.len();
    if n == 0 {
        return;
    }
    let b = block.clamp(1, n);
    let starts = n - b + 1;
    let end = out.len() + n;
    while out.len() < end {
        let s = rng.random_range(0..starts);
        out.extend_from_slice(&samples[s..s + b]);
    }
    out.truncate(end);
}

/// The percentile interval at `level` of the bootstrap replicates `stats`
/// (reordered in place); non-finite replicates are dropped first. `None`
/// without a finite replicate or for an invalid level.
pub fn percentile_interval(stats: &mut Vec<f64>, level: f64) -> Option<Interval> {
    stats.retain(|v| v.is_finite());
    if stats.is_empty() || !valid_level(level) {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some(Interval {
        lo: quantile_sorted(stats, tail),
        hi: quantile_sorted(stats, 1.0 - tail),
    })
}

/// The block-bootstrap interval of `stat` over `samples` (in the order
/// they were measured). `None` with fewer than two samples, an invalid
/// level or no resample, or when the statistic is never a number.
pub fn interval(
    samples: &[f64],
    stat: impl Fn(&[f64]) -> f64,
    opts: &Bootstrap,
) -> Option<Interval> {
    let n = samples.len();
    if n < 2 || opts.resamples == 0 || !valid_level(opts.level) {
        return None;
    }
    let b = opts.block_len.unwrap_or_else(|| block_length(n));
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut resample = Vec::with_capacity(n + b);
    let mut stats: Vec<f64> = Vec::with_capacity(opts.resamples);
    for _ in 0..opts.resamples {
        resample.clear();
        resample_blocks(samples, b, &mut rng, &mut resample);
        stats.push(stat(&resample));
    }
    percentile_interval(&mut stats, opts.level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    fn opts(seed: u64, block_len: Option<usize>) -> Bootstrap {
        Bootstrap {
            resamples: 400,
            seed,
            block_len,
            ..Bootstrap::default()
        }
    }

    /// An AR(1) series around 0: x[t] = phi x[t-1] + e[t].
    fn ar1(n: usize, phi: f64, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let e = Normal::new(0.0, 1.0).unwrap();
        let mut x = 0.0;
        (0..n)
            .map(|_| {
                x = phi * x + e.sample(&mut rng);
                x
            })
            .collect()
    }

    /// How often, over `trials` seeded series, the interval of the mean
    /// covers the true mean 0.
    fn coverage(trials: u64, n: usize, phi: f64, block_len: Option<usize>) -> f64 {
        let hits = (0..trials)
            .filter(|&t| {
                let x = ar1(n, phi, 1000 + t);
                interval(&x, mean, &opts(t, block_len)).is_some_and(|i| i.contains(0.0))
            })
            .count();
        hits as f64 / trials as f64
    }

    #[test]
    fn independent_samples_are_covered_at_about_the_nominal_rate() {
        // 0.91 with these seeds (the percentile bootstrap runs a little
        // under its level at this size)
        let c = coverage(100, 200, 0.0, None);
        assert!((0.88..=0.99).contains(&c), "coverage {c}");
    }

    /// The reason for blocks: with correlated samples (phi 0.5: three times
    /// the variance of the mean), resampling single values covers far less
    /// than 95 %, and blocks bring it back near the nominal rate.
    #[test]
    fn blocks_keep_correlated_samples_honest_where_single_values_do_not() {
        // 0.90 and 0.74 with these seeds
        let blocks = coverage(100, 300, 0.5, None);
        let single = coverage(100, 300, 0.5, Some(1));
        assert!(blocks >= 0.85, "block bootstrap coverage {blocks}");
        assert!(single <= 0.82, "i.i.d. bootstrap coverage {single}");
        assert!(blocks - single >= 0.1, "blocks {blocks} vs single {single}");
    }

    #[test]
    fn edge_cases_give_none_or_a_zero_width_interval() {
        assert_eq!(interval(&[], mean, &Bootstrap::default()), None);
        assert_eq!(interval(&[1.0], mean, &Bootstrap::default()), None);
        let bad_level = Bootstrap {
            level: 1.0,
            ..Bootstrap::default()
        };
        assert_eq!(interval(&[1.0, 2.0], mean, &bad_level), None);
        let i = interval(&[5.0; 50], mean, &Bootstrap::default()).unwrap();
        assert_eq!((i.lo, i.hi, i.half_width()), (5.0, 5.0, 0.0));
        // a statistic that is never a number has no interval
        assert_eq!(
            interval(&[1.0, 2.0], |_| f64::NAN, &Bootstrap::default()),
            None
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_interval_and_blocks_follow_the_rule() {
        let x = ar1(300, 0.3, 7);
        let a = interval(&x, mean, &opts(3, None)).unwrap();
        assert_eq!(a, interval(&x, mean, &opts(3, None)).unwrap());
        assert_ne!(a, interval(&x, mean, &opts(4, None)).unwrap());
        assert!(a.lo < mean(&x) && mean(&x) < a.hi, "{a:?}");
        assert_eq!(block_length(1), 1);
        assert_eq!(block_length(8), 2);
        assert_eq!(block_length(1000), 10);
        assert_eq!(block_length(1001), 11);
    }

    #[test]
    fn blocks_grow_with_the_memory_of_the_samples() {
        // independent samples keep the ⌈n^⅓⌉ rule
        let white = ar1(1000, 0.0, 1);
        assert_eq!(auto_block_length(&white), block_length(1000));
        // φ = 0.8 remembers ~5 samples back: blocks of ~30 (Politis and
        // White's formula gives 2.8·n^⅓ for this series)
        let strong = ar1(1000, 0.8, 1);
        let b = auto_block_length(&strong);
        assert!((20..=45).contains(&b), "{b}");
        // and never past min(3√n, n/3)
        let walk: Vec<f64> = ar1(300, 0.0, 3)
            .iter()
            .scan(0.0, |sum, x| {
                *sum += x;
                Some(*sum)
            })
            .collect();
        let b = auto_block_length(&walk);
        assert!(b > 3 * block_length(300) && b <= 52, "{b}");
        // constant, short, empty and non-finite series get the plain rule
        assert_eq!(auto_block_length(&[5.0; 300]), block_length(300));
        assert_eq!(auto_block_length(&[1.0, 2.0, 3.0]), 2);
        assert_eq!(auto_block_length(&[]), 1);
        let mut bad = ar1(100, 0.5, 2);
        bad[7] = f64::NAN;
        assert_eq!(auto_block_length(&bad), block_length(100));
    }

    #[test]
    fn longer_blocks_bring_strongly_correlated_samples_closer_to_the_level() {
        let trials = 100;
        let covered = |auto: bool| {
            (0..trials)
                .filter(|&t| {
                    let x = ar1(400, 0.8, 5000 + t);
                    let block_len = Some(if auto {
                        auto_block_length(&x)
                    } else {
                        block_length(x.len())
                    });
                    interval(&x, mean, &opts(t, block_len)).is_some_and(|i| i.contains(0.0))
                })
                .count()
        };
        let (auto, plain) = (covered(true), covered(false));
        assert!(auto > plain, "auto {auto} vs plain {plain} of {trials}");
    }
}
