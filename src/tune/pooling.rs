//! One figure of a configuration measured in several rounds of the
//! search, pooled with the variation *between* rounds in its interval.
//!
//! A probe's interval covers the variation of the requests inside its own
//! measured window. The rounds of a search run minutes apart, on servers
//! started again, on a machine whose speed drifts (thermal limits on a
//! laptop, neighbours on a shared host: on the 2-core CPU the project is
//! tested on, a fixed loop of work varied 12% between 25-second blocks),
//! so the same configuration at the same load reads differently from round
//! to round by more than each round's interval says. The pooled estimate
//! treats each round as one draw of the machine's state: the
//! random-effects model of meta-analysis, with the between-round variance
//! τ² estimated from Cochran's Q by the method of moments (DerSimonian and
//! Laird 1986):
//!
//! - `wᵢ = 1 / seᵢ²` (each round's standard error from its interval),
//!   `Q = Σ wᵢ (xᵢ − x̄_w)²`, `τ² = max(0, (Q − (k − 1)) / (Σwᵢ − Σwᵢ² / Σwᵢ))`;
//! - `wᵢ* = 1 / (seᵢ² + τ²)`, the estimate `Σ wᵢ* xᵢ / Σ wᵢ*`, its
//!   standard error `1 / √Σwᵢ*`, its interval ± the normal quantile at the
//!   rounds' level.
//!
//! When the rounds agree within their intervals τ² is 0 and this is the
//! inverse-variance mean (the long final round weighs most); when they
//! disagree, the rounds weigh more alike and the interval widens by the
//! spread between them. With two or three rounds τ² is itself uncertain
//! and the method of moments tends to underestimate it: read the interval
//! as at least this wide. Written here rather than taken from a crate:
//! statrs has no meta-analysis; solow-stats has this estimator but fixes
//! the interval at 95% (a run's `metrics.confidence` may differ) and brings
//! a linear-algebra stack for what is the few lines above.

use serde::{Deserialize, Serialize};

use super::observation::Estimate;
use crate::report::verdict::normal_quantile;

/// A figure pooled over rounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pooled {
    /// The pooled figure and its interval, between-round variation
    /// included.
    pub estimate: Estimate,
    /// Rounds pooled (each with an interval).
    pub rounds: usize,
    /// τ: the standard deviation between rounds beyond their own
    /// intervals (0 when they agree within them).
    pub between_sd: f64,
}

/// The rounds' estimates pooled, or `None` with fewer than two that have
/// an interval (one round says nothing of the variation between rounds).
pub fn pool(parts: &[Estimate]) -> Option<Pooled> {
    let usable: Vec<(f64, f64, f64)> = parts
        .iter()
        .filter(|e| e.value.is_finite())
        .filter_map(|e| {
            let se = e.standard_error()?;
            (se.is_finite() && se > 0.0).then_some((e.value, se * se, e.level))
        })
        .collect();
    let k = usable.len();
    if k < 2 {
        return None;
    }
    let level = usable[0].2;
    let x: Vec<f64> = usable.iter().map(|(x, _, _)| *x).collect();
    let var: Vec<f64> = usable.iter().map(|(_, v, _)| *v).collect();
    let w: Vec<f64> = var.iter().map(|v| 1.0 / v).collect();
    let sum_w: f64 = w.iter().sum();
    let fixed = weighted_mean(&x, &w);
    let q: f64 = x.iter().zip(&w).map(|(x, w)| w * (x - fixed).powi(2)).sum();
    let c = sum_w - w.iter().map(|w| w * w).sum::<f64>() / sum_w;
    let tau2 = if c > 0.0 {
        ((q - (k as f64 - 1.0)) / c).max(0.0)
    } else {
        0.0
    };
    let w_star: Vec<f64> = var.iter().map(|v| 1.0 / (v + tau2)).collect();
    let sum_star: f64 = w_star.iter().sum();
    let value = weighted_mean(&x, &w_star);
    let se = 1.0 / sum_star.sqrt();
    let z = normal_quantile((1.0 + level) / 2.0);
    if !(value.is_finite() && se.is_finite() && z.is_finite()) {
        return None;
    }
    Some(Pooled {
        estimate: Estimate::new(value, value - z * se, value + z * se, level),
        rounds: k,
        between_sd: tau2.sqrt(),
    })
}

/// `Σ wᵢ xᵢ / Σ wᵢ`.
fn weighted_mean(x: &[f64], w: &[f64]) -> f64 {
    x.iter().zip(w).map(|(x, w)| w * x).sum::<f64>() / w.iter().sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(v: f64, half: f64) -> Estimate {
        Estimate::new(v, v - half, v + half, 0.95)
    }

    #[test]
    fn rounds_that_agree_pool_to_their_inverse_variance_mean_and_narrow() {
        let p = pool(&[est(1000.0, 100.0), est(1010.0, 50.0), est(990.0, 25.0)]).unwrap();
        assert_eq!(p.rounds, 3);
        assert_eq!(p.between_sd, 0.0);
        // weights 1 : 4 : 16 (by 1 / half²)
        let expect = (1000.0 + 4.0 * 1010.0 + 16.0 * 990.0) / 21.0;
        assert!((p.estimate.value - expect).abs() < 1e-9);
        let (lo, hi) = p.estimate.interval().unwrap();
        assert!(hi - lo < 50.0, "narrower than the best round: {lo}–{hi}");
    }

    #[test]
    fn rounds_that_disagree_beyond_their_intervals_widen_the_interval() {
        // the search's choice on the CPU here: 1441, 1822, 2180 tok/s at
        // the same load in three rounds, each ±8–20%
        let parts = [est(1441.0, 300.0), est(1822.0, 150.0), est(2180.0, 183.0)];
        let p = pool(&parts).unwrap();
        assert!(p.between_sd > 200.0, "τ = {}", p.between_sd);
        let (lo, hi) = p.estimate.interval().unwrap();
        // wider than the last round's alone, and centred nearer the mean
        // of the rounds than the last round's value
        assert!(hi - lo > 2.0 * 183.0, "{lo}–{hi}");
        assert!(p.estimate.value < 1900.0 && p.estimate.value > 1650.0);
        // a configuration whose rounds agree, with the same last round,
        // keeps a narrow interval
        let steady = pool(&[est(2100.0, 300.0), est(2150.0, 150.0), est(2180.0, 183.0)]).unwrap();
        assert_eq!(steady.between_sd, 0.0);
        assert!(steady.estimate.value > p.estimate.value);
    }

    #[test]
    fn one_round_or_none_with_an_interval_is_not_pooled() {
        assert!(pool(&[]).is_none());
        assert!(pool(&[est(1.0, 0.1)]).is_none());
        assert!(pool(&[est(1.0, 0.1), Estimate::bare(2.0)]).is_none());
        // a bare estimate among intervals is left out
        let p = pool(&[est(1.0, 0.1), Estimate::bare(9.0), est(1.0, 0.1)]).unwrap();
        assert_eq!(p.rounds, 2);
        assert!((p.estimate.value - 1.0).abs() < 1e-12);
    }
}
