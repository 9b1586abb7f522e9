//! What the search maximises, in the terms of a probe's figures: the
//! objective, the figure it reads, and the limits a probe must meet.

use serde::Serialize;

use super::observation::{Estimate, Observation};
use crate::spec::tune::{Objective, TuneSection};

/// The figure throughput is read from.
pub const THROUGHPUT: &str = "throughput_tps";
/// The figure goodput is read from.
pub const GOODPUT: &str = "goodput_rps";

/// The objective with its limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Goal {
    pub objective: Objective,
    /// `(figure, ms)`: every limit a probe must meet to count.
    pub limits: Vec<(String, f64)>,
}

impl Goal {
    pub fn new(objective: Objective, limits: &[(&str, f64)]) -> Goal {
        Goal {
            objective,
            limits: limits.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    /// The objective and limits of a `[tune]` table.
    pub fn from_section(t: &TuneSection) -> Goal {
        Goal::new(t.objective, &t.limits())
    }

    /// The figure that is maximised (for `max_load_under_slo`, the one
    /// that breaks ties between equal loads).
    pub fn figure(&self) -> &'static str {
        match self.objective {
            Objective::Goodput => GOODPUT,
            Objective::Throughput | Objective::MaxLoadUnderSlo => THROUGHPUT,
        }
    }

    /// Whether `obs` counts: measured, with the figure, within every limit.
    pub fn feasible(&self, obs: &Observation) -> bool {
        obs.is_measured() && obs.figure(self.figure()).is_some() && obs.slo_check(&self.limits).met
    }

    /// The maximised figure of a feasible probe.
    pub fn value<'a>(&self, obs: &'a Observation) -> Option<&'a Estimate> {
        self.feasible(obs)
            .then(|| obs.figure(self.figure()))
            .flatten()
    }
}
