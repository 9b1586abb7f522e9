//! Open-loop send schedules: the offsets from a point's start at which its
//! requests are due, drawn from a seeded arrival process, so the same seed
//! gives the same schedule.
//!
//! - constant: exactly `1 / rate` apart;
//! - Poisson: exponential gaps with mean `1 / rate`;
//! - gamma: gaps with shape `k` (burstiness) and scale `1 / (rate × k)`,
//!   so the mean gap is still `1 / rate` and the squared coefficient of
//!   variation is `1 / k` (vLLM's `--burstiness`; `k = 1` is Poisson).
//!
//! An infinite rate sends everything at once.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Exp, Gamma};

use crate::spec::measure::{MAX_BURSTINESS, MAX_RATE, MIN_BURSTINESS, MIN_RATE};
use crate::spec::scenario::ArrivalKind;
use crate::spec::units::saturating_duration;

/// An endless schedule of send offsets.
pub struct Schedule {
    gaps: Gaps,
    rng: StdRng,
    at: f64,
}

enum Gaps {
    Zero,
    Constant(f64),
    Exp(Exp<f64>),
    Gamma(Gamma<f64>),
}

impl Schedule {
    /// The schedule of `rate` requests/s; infinity means all at once.
    /// The scenario's bounds (`spec::measure::Rate`, `load.burstiness`)
    /// hold already; any other number is clamped into them here, so every
    /// input draws a schedule and none panics.
    pub fn new(kind: ArrivalKind, rate: f64, burstiness: f64, seed: u64) -> Schedule {
        let gaps = if rate == f64::INFINITY {
            Gaps::Zero
        } else {
            let rate = if rate.is_nan() {
                MIN_RATE
            } else {
                rate.clamp(MIN_RATE, MAX_RATE)
            };
            let k = if burstiness.is_nan() {
                1.0
            } else {
                burstiness.clamp(MIN_BURSTINESS, MAX_BURSTINESS)
            };
            let even = Gaps::Constant(1.0 / rate);
            match kind {
                ArrivalKind::Constant => even,
                ArrivalKind::Poisson => Exp::new(rate).map_or(even, Gaps::Exp),
                ArrivalKind::Gamma => Gamma::new(k, 1.0 / (rate * k)).map_or(even, Gaps::Gamma),
            }
        };
        Schedule {
            gaps,
            rng: StdRng::seed_from_u64(seed),
            at: 0.0,
        }
    }

    fn gap(&mut self) -> f64 {
        match &self.gaps {
            Gaps::Zero => 0.0,
            Gaps::Constant(g) => *g,
            Gaps::Exp(d) => d.sample(&mut self.rng),
            Gaps::Gamma(d) => d.sample(&mut self.rng),
        }
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    /// The next send offset. The first request is due at once; each later
    /// one a drawn gap after the previous.
    fn next(&mut self) -> Option<Duration> {
        let due = self.at;
        self.at += self.gap();
        Some(saturating_duration(due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(kind: ArrivalKind, rate: f64, k: f64, n: usize, seed: u64) -> Vec<f64> {
        let offs: Vec<f64> = Schedule::new(kind, rate, k, seed)
            .take(n + 1)
            .map(|d| d.as_secs_f64())
            .collect();
        offs.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn mean_cv2(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean, var / (mean * mean))
    }

    #[test]
    fn constant_is_evenly_spaced() {
        let g = gaps(ArrivalKind::Constant, 4.0, 1.0, 100, 1);
        assert!(g.iter().all(|x| (x - 0.25).abs() < 1e-6));
        let first = Schedule::new(ArrivalKind::Constant, 4.0, 1.0, 1).next();
        assert_eq!(
            first,
            Some(Duration::ZERO),
            "the first request goes at once"
        );
    }

    #[test]
    fn poisson_has_the_rate_and_unit_dispersion() {
        let g = gaps(ArrivalKind::Poisson, 10.0, 1.0, 100_000, 7);
        let (mean, cv2) = mean_cv2(&g);
        // 100k exponential draws: the mean within 1%, CV² = 1 within 3%
        assert!((mean - 0.1).abs() < 0.001, "mean gap {mean}");
        assert!((cv2 - 1.0).abs() < 0.03, "cv² {cv2}");
    }

    #[test]
    fn gamma_burstiness_sets_the_dispersion_not_the_rate() {
        for k in [0.25, 0.5, 2.0, 4.0] {
            let g = gaps(ArrivalKind::Gamma, 5.0, k, 100_000, 11);
            let (mean, cv2) = mean_cv2(&g);
            assert!((mean - 0.2).abs() < 0.2 * 0.02, "k={k}: mean gap {mean}");
            assert!(
                (cv2 - 1.0 / k).abs() < (1.0 / k) * 0.05,
                "k={k}: cv² {cv2}, want {}",
                1.0 / k
            );
        }
    }

    #[test]
    fn seeds_reproduce_and_differ() {
        let a = gaps(ArrivalKind::Poisson, 3.0, 1.0, 50, 42);
        let b = gaps(ArrivalKind::Poisson, 3.0, 1.0, 50, 42);
        let c = gaps(ArrivalKind::Poisson, 3.0, 1.0, 50, 43);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn infinite_rate_sends_everything_at_once() {
        let offs: Vec<Duration> = Schedule::new(ArrivalKind::Poisson, f64::INFINITY, 1.0, 0)
            .take(5)
            .collect();
        assert!(offs.iter().all(|d| d.is_zero()));
    }

    #[test]
    fn any_number_draws_a_schedule_without_panic() {
        for kind in [
            ArrivalKind::Constant,
            ArrivalKind::Poisson,
            ArrivalKind::Gamma,
        ] {
            for (rate, k) in [
                (f64::NAN, f64::NAN),
                (0.0, 0.0),
                (-1.0, -1.0),
                (1e-300, 1e-300),
                (f64::NEG_INFINITY, 1e300),
            ] {
                let offs: Vec<Duration> = Schedule::new(kind, rate, k, 3).take(50).collect();
                // clamped to the slowest rate: offsets grow, and stay durations
                assert!(offs.windows(2).all(|w| w[0] <= w[1]), "{kind:?} {rate} {k}");
                assert!(offs[49] > Duration::ZERO, "{kind:?} {rate} {k}");
            }
        }
    }
}
