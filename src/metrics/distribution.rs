//! The distribution of one latency over a point: exact mean and standard
//! deviation, and percentiles from a histogram.
//!
//! Every sample goes into an HDR histogram (microsecond resolution, three
//! significant digits), so memory stays bounded however long a point runs.
//! While a point holds at most [`EXACT_LIMIT`] samples they are also kept as
//! they are, and percentiles are computed from them exactly with numpy's
//! default `linear` method, which is what vLLM's `bench serve` reports; past
//! that the histogram answers (within 0.1%), and [`Stat::exact`] says so.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Distinct additions kept as they are for exact percentiles (16 MB).
pub const EXACT_LIMIT: usize = 1 << 20;

/// Percentile `q` (0–100) of ascending `sorted`, numpy `linear` method.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// [`percentile`] of the samples `sorted` stands for (each value repeated
/// its weight times; `total` = Σ weights), without expanding them.
fn weighted_percentile(sorted: &[(f64, u64)], total: u64, q: f64) -> Option<f64> {
    if sorted.is_empty() || total == 0 {
        return None;
    }
    let rank = (q / 100.0).clamp(0.0, 1.0) * (total - 1) as f64;
    let (lo, hi) = (rank.floor() as u64, rank.ceil() as u64);
    let frac = rank - lo as f64;
    // the value at position k of the expanded, sorted samples
    let at = |k: u64| {
        let mut seen = 0;
        for (v, w) in sorted {
            seen += w;
            if k < seen {
                return *v;
            }
        }
        sorted[sorted.len() - 1].0
    };
    let (a, b) = (at(lo), at(hi));
    Some(a + (b - a) * frac)
}

/// Collects the samples (milliseconds) of one latency.
#[derive(Debug, Clone)]
pub struct Distribution {
    hist: Histogram<u64>,
    /// `(value, how many times)`, in the order added.
    exact: Vec<(f64, u64)>,
    overflowed: bool,
    count: u64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl Default for Distribution {
    fn default() -> Self {
        Distribution {
            // auto-resizing, 3 significant digits, values in microseconds
            hist: Histogram::new(3).expect("3 significant digits is a valid precision"),
            exact: Vec::new(),
            overflowed: false,
            count: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Distribution {
    /// Add one sample in milliseconds (negative or non-finite ones are ignored).
    pub fn add(&mut self, ms: f64) {
        self.add_n(ms, 1);
    }

    /// Add `n` equal samples.
    pub fn add_n(&mut self, ms: f64, n: u64) {
        if !ms.is_finite() || ms < 0.0 || n == 0 {
            return;
        }
        let us = (ms * 1e3).round() as u64;
        // auto-resize makes recording infallible for any u64
        let _ = self.hist.record_n(us, n);
        self.count += n;
        self.sum += ms * n as f64;
        self.sum_sq += ms * ms * n as f64;
        self.min = self.min.min(ms);
        self.max = self.max.max(ms);
        if !self.overflowed {
            if self.exact.len() >= EXACT_LIMIT {
                self.overflowed = true;
                self.exact = Vec::new();
            } else {
                self.exact.push((ms, n));
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean, standard deviation (population, as numpy's `std`), extremes
    /// and the percentiles `qs`.
    pub fn stat(&self, qs: &[f64]) -> Stat {
        if self.count == 0 {
            return Stat {
                percentiles: vec![None; qs.len()],
                exact: true,
                ..Default::default()
            };
        }
        let n = self.count as f64;
        let mean = self.sum / n;
        let percentiles = if self.overflowed {
            qs.iter()
                .map(|q| Some(self.hist.value_at_quantile(q / 100.0) as f64 / 1e3))
                .collect()
        } else {
            let mut sorted = self.exact.clone();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            qs.iter()
                .map(|q| weighted_percentile(&sorted, self.count, *q))
                .collect()
        };
        let std = if self.overflowed {
            (self.sum_sq / n - mean * mean).max(0.0).sqrt()
        } else {
            // two-pass over the kept samples: no cancellation error
            let ss: f64 = self
                .exact
                .iter()
                .map(|(x, w)| (x - mean).powi(2) * *w as f64)
                .sum();
            (ss / n).sqrt()
        };
        Stat {
            count: self.count,
            mean: Some(mean),
            std: Some(std),
            min: Some(self.min),
            max: Some(self.max),
            percentiles,
            exact: !self.overflowed,
        }
    }
}

/// What a point reports of one latency (milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stat {
    pub count: u64,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Aligned with the configured percentiles.
    pub percentiles: Vec<Option<f64>>,
    /// Percentiles computed from every sample (false: from the histogram).
    pub exact: bool,
}

impl Stat {
    /// The value of percentile `q` when it was computed.
    pub fn at(&self, qs: &[f64], q: f64) -> Option<f64> {
        qs.iter()
            .position(|x| (*x - q).abs() < 1e-9)
            .and_then(|i| self.percentiles.get(i).copied().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        // numpy.percentile([1,2,3,4], [50, 90, 99]) == [2.5, 3.7, 3.97]
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert!((percentile(&v, 90.0).unwrap() - 3.7).abs() < 1e-12);
        assert!((percentile(&v, 99.0).unwrap() - 3.97).abs() < 1e-12);
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn stat_by_hand() {
        let mut d = Distribution::default();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            d.add(x);
        }
        let qs = [50.0, 99.9];
        let s = d.stat(&qs);
        assert_eq!(s.count, 8);
        assert_eq!(s.mean, Some(5.0));
        // numpy.std([2,4,4,4,5,5,7,9]) == 2.0
        assert_eq!(s.std, Some(2.0));
        assert_eq!((s.min, s.max), (Some(2.0), Some(9.0)));
        assert_eq!(s.at(&qs, 50.0), Some(4.5));
        // numpy.percentile(..., 99.9) == 8.986
        assert!((s.at(&qs, 99.9).unwrap() - 8.986).abs() < 1e-9);
        assert!(s.exact);
        assert_eq!(s.at(&qs, 90.0), None, "not configured");
    }

    #[test]
    fn weighted_percentiles_match_the_expanded_samples() {
        let pairs: [(f64, u64); 4] = [(1.0, 3), (2.0, 1), (5.0, 4), (9.0, 2)];
        let mut expanded = Vec::new();
        for (v, w) in pairs {
            expanded.extend(std::iter::repeat_n(v, w as usize));
        }
        for q in [0.0, 10.0, 33.3, 50.0, 90.0, 99.0, 99.9, 100.0] {
            assert_eq!(
                weighted_percentile(&pairs, 10, q),
                percentile(&expanded, q),
                "q={q}"
            );
        }
    }

    #[test]
    fn weighted_samples_equal_repeated_ones() {
        let mut a = Distribution::default();
        let mut b = Distribution::default();
        a.add_n(3.0, 4);
        a.add(10.0);
        for x in [3.0, 3.0, 3.0, 3.0, 10.0] {
            b.add(x);
        }
        assert_eq!(a.stat(&[50.0, 90.0]), b.stat(&[50.0, 90.0]));
    }

    #[test]
    fn empty_and_bad_samples() {
        let mut d = Distribution::default();
        d.add(f64::NAN);
        d.add(-1.0);
        let s = d.stat(&[50.0]);
        assert_eq!(s.count, 0);
        assert_eq!(s.mean, None);
        assert_eq!(s.percentiles, vec![None]);
    }

    #[test]
    fn past_the_exact_limit_the_histogram_answers_within_a_tenth_of_a_percent() {
        let mut d = Distribution::default();
        // 0.001 .. 2000 ms, uniform: the true p50 is 1000 ms, p99 1980 ms
        let n = EXACT_LIMIT as u64 + 1000;
        for i in 0..n {
            d.add((i + 1) as f64 * 2000.0 / n as f64);
        }
        let s = d.stat(&[50.0, 99.0]);
        assert!(!s.exact);
        let p50 = s.percentiles[0].unwrap();
        let p99 = s.percentiles[1].unwrap();
        assert!((p50 - 1000.0).abs() / 1000.0 < 1e-3, "{p50}");
        assert!((p99 - 1980.0).abs() / 1980.0 < 1e-3, "{p99}");
        assert!((s.mean.unwrap() - 1000.0).abs() < 0.01);
        // uniform on [0, 2000]: std = 2000 / sqrt(12)
        assert!((s.std.unwrap() - 577.35).abs() < 0.1, "{:?}", s.std);
    }
}
