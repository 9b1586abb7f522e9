//! What one measured probe tells the search: its figures with their
//! intervals, whether it ran at all, and what it cost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::uncertainty::PointIntervals;
use crate::report::verdict::{normal_cdf, normal_quantile};

/// A figure and its confidence interval (none when too few samples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Coverage of the interval, e.g. 0.95.
    pub level: f64,
}

impl Estimate {
    /// A figure with its interval at `level`.
    pub fn new(value: f64, lo: f64, hi: f64, level: f64) -> Estimate {
        Estimate {
            value,
            lo: Some(lo),
            hi: Some(hi),
            level,
        }
    }

    /// A figure without an interval.
    pub fn bare(value: f64) -> Estimate {
        Estimate {
            value,
            lo: None,
            hi: None,
            level: 0.0,
        }
    }

    /// The interval, when both ends are finite numbers.
    pub fn interval(&self) -> Option<(f64, f64)> {
        match (self.lo, self.hi) {
            (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() && lo <= hi => Some((lo, hi)),
            _ => None,
        }
    }

    /// Whether this figure is below `other` beyond noise: its interval
    /// ends before `other`'s begins. `None` when either has no interval.
    pub fn clearly_below(&self, other: &Estimate) -> Option<bool> {
        let ((_, hi), (lo, _)) = (self.interval()?, other.interval()?);
        Some(hi < lo)
    }

    /// [`Self::clearly_below`], or, without intervals, the values alone.
    pub fn below(&self, other: &Estimate) -> bool {
        self.clearly_below(other)
            .unwrap_or(self.value < other.value)
    }

    /// The standard error from the interval, `(hi − lo) / (2 · z_{(1+level)/2})`,
    /// as `crate::report::verdict` takes it.
    pub fn standard_error(&self) -> Option<f64> {
        let (lo, hi) = self.interval()?;
        let z = normal_quantile((1.0 + self.level) / 2.0);
        (z.is_finite() && z > 0.0).then(|| (hi - lo) / (2.0 * z))
    }

    /// The one-sided z-test that `self` is below `other`:
    /// `(other − self) / sqrt(se_self² + se_other²)` and its p-value,
    /// `1 − Φ(z)`. Evidence for the log; decisions rest on the intervals.
    pub fn z_below(&self, other: &Estimate) -> Option<(f64, f64)> {
        let (a, b) = (self.standard_error()?, other.standard_error()?);
        let se = (a * a + b * b).sqrt();
        let diff = other.value - self.value;
        let z = if se > 0.0 {
            diff / se
        } else if diff == 0.0 {
            0.0
        } else {
            diff.signum() * f64::INFINITY
        };
        Some((z, 1.0 - normal_cdf(z)))
    }
}

/// Whether a probe was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The point ran; its figures say how well.
    Measured,
    /// The point ran and failed (errors, timeouts): this load is beyond
    /// what the configuration can serve.
    Errored { why: String },
    /// The configuration's servers did not start: every load of it is
    /// excluded.
    NotStarted { why: String },
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub outcome: Outcome,
    /// Figures by their key in a point's intervals (`throughput_tps`,
    /// `goodput_rps`, `ttft_p99_ms`, …).
    pub figures: BTreeMap<String, Estimate>,
    /// Requests the probe sent.
    pub requests: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// How a probe stands against the limits of `[tune]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloCheck {
    /// Every limited figure's value is within its limit.
    pub met: bool,
    /// The verdict is beyond noise: every limited figure's interval lies
    /// within its limit (met), or one lies wholly beyond it (missed).
    pub clear: bool,
    /// The figures beyond their limit.
    pub missed: Vec<String>,
}

impl Observation {
    /// A measured probe from the point's bootstrap intervals; figures
    /// without a value are left out.
    pub fn from_intervals(p: &PointIntervals, requests: u64, seconds: f64) -> Observation {
        let figures = p
            .figures
            .iter()
            .filter_map(|(k, f)| {
                let value = f.value.filter(|v| v.is_finite())?;
                Some((
                    k.clone(),
                    Estimate {
                        value,
                        lo: f.lo,
                        hi: f.hi,
                        level: p.level,
                    },
                ))
            })
            .collect();
        Observation {
            outcome: Outcome::Measured,
            figures,
            requests,
            seconds,
        }
    }

    /// A measured probe with the figures given.
    pub fn measured(
        figures: impl IntoIterator<Item = (&'static str, Estimate)>,
        requests: u64,
        seconds: f64,
    ) -> Observation {
        Observation {
            outcome: Outcome::Measured,
            figures: figures
                .into_iter()
                .map(|(k, e)| (k.to_string(), e))
                .collect(),
            requests,
            seconds,
        }
    }

    /// A point that ran and failed.
    pub fn errored(why: impl Into<String>, requests: u64, seconds: f64) -> Observation {
        Observation {
            outcome: Outcome::Errored { why: why.into() },
            figures: BTreeMap::new(),
            requests,
            seconds,
        }
    }

    /// A configuration whose servers did not start.
    pub fn not_started(why: impl Into<String>, seconds: f64) -> Observation {
        Observation {
            outcome: Outcome::NotStarted { why: why.into() },
            figures: BTreeMap::new(),
            requests: 0,
            seconds,
        }
    }

    pub fn is_measured(&self) -> bool {
        self.outcome == Outcome::Measured
    }

    pub fn figure(&self, key: &str) -> Option<&Estimate> {
        self.figures.get(key).filter(|e| e.value.is_finite())
    }

    /// The probe against `limits` (`(figure, ms)`): a figure without a
    /// value counts as missed, and so does a probe that was not measured.
    pub fn slo_check(&self, limits: &[(String, f64)]) -> SloCheck {
        if !self.is_measured() {
            return SloCheck {
                met: false,
                clear: true,
                missed: vec!["errored".into()],
            };
        }
        let mut missed = Vec::new();
        let mut all_clearly_within = true;
        let mut one_clearly_beyond = false;
        for (key, limit) in limits {
            match self.figure(key) {
                None => {
                    missed.push(key.clone());
                    all_clearly_within = false;
                }
                Some(e) => {
                    if e.value > *limit {
                        missed.push(key.clone());
                    }
                    match e.interval() {
                        Some((lo, hi)) => {
                            all_clearly_within &= hi <= *limit;
                            one_clearly_beyond |= lo > *limit;
                        }
                        None => all_clearly_within = false,
                    }
                }
            }
        }
        let met = missed.is_empty();
        SloCheck {
            met,
            clear: if met {
                all_clearly_within
            } else {
                one_clearly_beyond
            },
            missed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_beyond_noise_needs_disjoint_intervals() {
        let a = Estimate::new(10.0, 9.0, 11.0, 0.95);
        let b = Estimate::new(12.0, 10.5, 13.5, 0.95);
        let c = Estimate::new(14.0, 11.5, 16.5, 0.95);
        assert_eq!(a.clearly_below(&b), Some(false));
        assert_eq!(a.clearly_below(&c), Some(true));
        assert_eq!(c.clearly_below(&a), Some(false));
        assert_eq!(Estimate::bare(1.0).clearly_below(&c), None);
        assert!(Estimate::bare(1.0).below(&Estimate::bare(2.0)));
    }

    #[test]
    fn the_z_test_follows_the_verdict_standard_errors() {
        let a = Estimate::new(10.0, 9.0, 11.0, 0.95);
        let c = Estimate::new(14.0, 13.0, 15.0, 0.95);
        let se = 1.0 / normal_quantile(0.975);
        let (z, p) = a.z_below(&c).unwrap();
        assert!((z - 4.0 / (2.0f64).sqrt() / se).abs() < 1e-9, "{z}");
        assert!(p < 1e-3, "{p}");
        let (z, p) = c.z_below(&a).unwrap();
        assert!(z < 0.0 && p > 0.99);
        assert_eq!(Estimate::bare(1.0).z_below(&c), None);
    }

    #[test]
    fn the_slo_check_says_whether_its_verdict_is_clear() {
        let limits = vec![("ttft_p99_ms".to_string(), 500.0)];
        let obs = |v, lo, hi| {
            Observation::measured([("ttft_p99_ms", Estimate::new(v, lo, hi, 0.95))], 100, 1.0)
        };
        let within = obs(400.0, 350.0, 450.0).slo_check(&limits);
        assert!(within.met && within.clear);
        let marginal = obs(450.0, 400.0, 550.0).slo_check(&limits);
        assert!(marginal.met && !marginal.clear);
        let beyond = obs(700.0, 600.0, 800.0).slo_check(&limits);
        assert!(!beyond.met && beyond.clear);
        assert_eq!(beyond.missed, ["ttft_p99_ms"]);
        let missing = Observation::measured([], 10, 1.0).slo_check(&limits);
        assert!(!missing.met && !missing.clear);
        let errored = Observation::errored("timeouts", 10, 1.0).slo_check(&limits);
        assert!(!errored.met && errored.clear);
        // no limits: any measured probe meets them
        assert!(obs(1e9, 1e9, 1e9).slo_check(&[]).met);
    }

    #[test]
    fn intervals_become_estimates() {
        let mut p = PointIntervals {
            level: 0.9,
            method: String::new(),
            resamples: 100,
            repeats: 1,
            figures: Default::default(),
        };
        p.figures.insert(
            "throughput_tps".into(),
            crate::metrics::uncertainty::FigureInterval {
                value: Some(50.0),
                lo: Some(45.0),
                hi: Some(55.0),
                n: 30,
                why: None,
            },
        );
        p.figures.insert("goodput_rps".into(), Default::default());
        let o = Observation::from_intervals(&p, 30, 12.0);
        assert_eq!(
            o.figure("throughput_tps"),
            Some(&Estimate::new(50.0, 45.0, 55.0, 0.9))
        );
        assert_eq!(o.figure("goodput_rps"), None);
        assert!(o.is_measured());
    }
}
