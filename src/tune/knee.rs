//! One configuration's knee along its load axis (the matrix's concurrency
//! or request-rate values, sorted ascending).
//!
//! The search reads only the order of the loads, never their scale, so it
//! works the same for a server doing 0.2 requests/s and one doing 2,000.
//!
//! - **Doubling:** probe indices 0, 1, 3, 7, … (`i → 2i + 1`, the last
//!   index at most) while the newest probe counts (measured, within the
//!   limits) and, for a rate, is not below the best so far beyond noise: a
//!   dip within noise does not end the climb (on a real server a short
//!   probe at a higher load can read lower than the one before while the
//!   plateau is still far above).
//! - **Bisection:** between the last good and the first bad index.
//!
//! *Throughput and goodput:* a probe is bad when it fails, misses a limit,
//! or is below the best probe beyond noise (their intervals do not
//! overlap). When doubling has stopped, the gap between the best and the
//! next probe above it is bisected while it has loads and that probe is
//! lower (the peak may lie there, whether it fell beyond noise or not);
//! then the gap below
//! the smallest probe tied with the best is bisected. The knee is that smallest tied load: the
//! least load (and latency) giving the plateau's throughput within noise.
//!
//! *Max load under the limits:* a probe is good when it was measured and
//! meets every limit (by its value). Doubling runs until a probe is bad,
//! bisection then narrows the last good and first bad to neighbours. The
//! knee is the last good load.
//!
//! Every probe index returned is one not yet probed, so a search over `n`
//! loads ends after at most `n` probes, and after about `2·log2(n) + 1`
//! when the response has one plateau.

use std::collections::BTreeMap;

use serde::Serialize;

use super::goal::Goal;
use super::observation::{Estimate, Observation};
use super::pooling::{Pooled, pool};
use crate::spec::tune::Objective;

/// Why a load was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeWhy {
    /// The lowest load, first.
    Start,
    /// Still rising: the next load by doubling the index.
    Doubling,
    /// Between the best load and the first bad one above it.
    BisectAbove,
    /// Between a load below the plateau and the plateau's lowest.
    BisectKnee,
    /// Between the last load within the limits and the first beyond.
    BisectLimit,
    /// A contender's chosen load, measured again with more requests.
    Refine,
}

/// What to do next along the axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Probe { index: usize, why: ProbeWhy },
    Done,
}

/// How a configuration scores for comparison with the others.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Score {
    /// Throughput or goodput at the configuration's best load.
    Rate { estimate: Estimate },
    /// The highest load within the limits: at least `lo` (the knee's load
    /// when the knee meets every limit beyond noise, else 0) and below
    /// `hi_excl` (the first bad load when it misses beyond noise or
    /// failed; `None`: not known to end). `tie` is the throughput at the
    /// knee, which orders equal loads.
    Load {
        value: f64,
        lo: f64,
        hi_excl: Option<f64>,
        tie: f64,
    },
}

impl Score {
    /// The number configurations are ranked by (higher is better).
    pub fn rank(&self) -> (f64, f64) {
        match self {
            Score::Rate { estimate } => (estimate.value, 0.0),
            Score::Load { value, tie, .. } => (*value, *tie),
        }
    }
}

/// Where a configuration's knee search stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KneeSummary {
    /// The knee's index (see the module docs); `None`: no load counts.
    pub knee: Option<usize>,
    /// The index with the highest value of the objective's figure.
    pub best: Option<usize>,
    /// The first bad index above the knee (or the best).
    pub first_bad: Option<usize>,
}

/// The knee search of one configuration: the observations so far, and
/// from them the next load to probe.
#[derive(Debug, Clone)]
pub struct Knee {
    loads: usize,
    goal: Goal,
    records: BTreeMap<usize, Observation>,
    /// Every observation at each index, in the order recorded (the rounds
    /// of the search), for [`Self::pooled`].
    history: BTreeMap<usize, Vec<Observation>>,
}

impl Knee {
    /// A search over `loads` load values (at least one is assumed; with
    /// none, [`Self::next`] is `Done` at once).
    pub fn new(loads: usize, goal: Goal) -> Knee {
        Knee {
            loads,
            goal,
            records: BTreeMap::new(),
            history: BTreeMap::new(),
        }
    }

    /// Records `obs` at `index`. A load measured again keeps the
    /// observation with more requests (the later one on a tie): the more
    /// precise one stands for it.
    pub fn record(&mut self, index: usize, obs: Observation) {
        if index >= self.loads {
            return;
        }
        self.history.entry(index).or_default().push(obs.clone());
        match self.records.get(&index) {
            Some(old) if old.requests > obs.requests => {}
            _ => {
                self.records.insert(index, obs);
            }
        }
    }

    /// The observation standing for `index`.
    pub fn record_at(&self, index: usize) -> Option<&Observation> {
        self.records.get(&index)
    }

    /// The objective's figure at `index` pooled over every round that
    /// measured it there and counts (see [`super::pooling`]); `None` with
    /// fewer than two such rounds with an interval.
    pub fn pooled(&self, index: usize) -> Option<Pooled> {
        let parts: Vec<Estimate> = self
            .history
            .get(&index)?
            .iter()
            .filter_map(|o| self.goal.value(o).copied())
            .collect();
        pool(&parts)
    }

    /// Every load probed, with its observation, in index order.
    pub fn records(&self) -> impl Iterator<Item = (usize, &Observation)> {
        self.records.iter().map(|(i, o)| (*i, o))
    }

    /// The next load to probe, or `Done`.
    pub fn next(&self) -> Step {
        if self.loads == 0 {
            return Step::Done;
        }
        if self.records.is_empty() {
            return Step::Probe {
                index: 0,
                why: ProbeWhy::Start,
            };
        }
        let step = match self.goal.objective {
            Objective::MaxLoadUnderSlo => self.next_under_limits(),
            Objective::Throughput | Objective::Goodput => self.next_for_rate(),
        };
        match step {
            // never the same load twice within a search: ends in n probes
            Step::Probe { index, .. }
                if self.records.contains_key(&index) || index >= self.loads =>
            {
                Step::Done
            }
            s => s,
        }
    }

    /// The knee, the best load and the first bad one.
    pub fn summary(&self) -> KneeSummary {
        match self.goal.objective {
            Objective::MaxLoadUnderSlo => {
                let (good, bad) = self.limit_bracket();
                KneeSummary {
                    knee: good,
                    best: good,
                    first_bad: bad,
                }
            }
            Objective::Throughput | Objective::Goodput => {
                let best = self.best();
                KneeSummary {
                    knee: best.and_then(|b| self.smallest_tied(b)),
                    best,
                    first_bad: best.and_then(|b| self.first_bad_above(b)),
                }
            }
        }
    }

    /// The loads a contender is measured again at, with more requests:
    /// the best one (rates), or the knee and the first bad load above it
    /// (max load) unless that one failed outright.
    pub fn refine_points(&self) -> Vec<usize> {
        let s = self.summary();
        match self.goal.objective {
            Objective::MaxLoadUnderSlo => {
                let bad = s
                    .first_bad
                    .filter(|b| self.records.get(b).is_some_and(Observation::is_measured));
                s.knee.into_iter().chain(bad).collect()
            }
            Objective::Throughput | Objective::Goodput => s.best.into_iter().collect(),
        }
    }

    /// How this configuration scores; `None` when no load counts.
    pub fn score(&self, loads: &[f64]) -> Option<Score> {
        let s = self.summary();
        let load = |i: usize| loads.get(i).copied().unwrap_or(f64::NAN);
        match self.goal.objective {
            Objective::Throughput | Objective::Goodput => {
                let estimate = *self.value(s.best?)?;
                Some(Score::Rate { estimate })
            }
            Objective::MaxLoadUnderSlo => {
                let knee_obs = s.knee.and_then(|k| self.records.get(&k));
                let bad_obs = s.first_bad.and_then(|b| self.records.get(&b));
                if knee_obs.is_none() && bad_obs.is_none() {
                    return None;
                }
                let knee_clear = knee_obs.is_some_and(|o| o.slo_check(&self.goal.limits).clear);
                let bad_clear = bad_obs.is_some_and(|o| o.slo_check(&self.goal.limits).clear);
                let value = s.knee.map(load).unwrap_or(0.0);
                Some(Score::Load {
                    value,
                    lo: if knee_clear { value } else { 0.0 },
                    hi_excl: s.first_bad.filter(|_| bad_clear).map(load),
                    tie: knee_obs
                        .and_then(|o| o.figure(self.goal.figure()))
                        .map_or(0.0, |e| e.value),
                })
            }
        }
    }

    fn value(&self, i: usize) -> Option<&Estimate> {
        self.records.get(&i).and_then(|o| self.goal.value(o))
    }

    /// The probed index with the highest value (the lower on a tie).
    fn best(&self) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for &i in self.records.keys() {
            if let Some(v) = self.value(i)
                && best.is_none_or(|(_, b)| v.value > b)
            {
                best = Some((i, v.value));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Bad against the best: failed, beyond a limit, or below it beyond
    /// noise.
    fn bad(&self, i: usize, best: &Estimate) -> bool {
        self.value(i).is_none_or(|v| v.below(best))
    }

    fn first_bad_above(&self, best: usize) -> Option<usize> {
        let b = *self.value(best)?;
        self.records
            .range(best + 1..)
            .map(|(i, _)| *i)
            .find(|&i| self.bad(i, &b))
    }

    fn smallest_tied(&self, best: usize) -> Option<usize> {
        let b = *self.value(best)?;
        self.records
            .keys()
            .copied()
            .find(|&i| i <= best && !self.bad(i, &b))
    }

    fn next_for_rate(&self) -> Step {
        let Some(best) = self.best() else {
            // nothing counts yet: look below the lowest bad probe
            let lowest = self.records.keys().next().copied().unwrap_or(0);
            return bisect(None, lowest, ProbeWhy::BisectKnee);
        };
        let Some(b) = self.value(best).copied() else {
            return Step::Done;
        };
        let highest = self.records.keys().next_back().copied().unwrap_or(best);
        // doubling: while the newest (highest) probe is the best so far,
        // or tied with it within noise. The first below the best beyond
        // noise (or failed) ends the climb, and the gap below it is
        // bisected next: a peak that doubling stepped over is found there.
        // A plateau is climbed to the last load in log2(n) probes; a
        // single reading within noise of the best is no evidence of one.
        let rising = highest == best || !self.bad(highest, &b);
        if rising && highest + 1 < self.loads {
            return Step::Probe {
                index: (2 * highest + 1).min(self.loads - 1),
                why: ProbeWhy::Doubling,
            };
        }
        // above the best: the peak may lie in the gap before the next
        // probe up when that one is lower, beyond noise or not (doubling
        // skips loads); a flat plateau is not bisected
        if let Some(above) = self.records.range(best + 1..).next().map(|(i, _)| *i)
            && above - best > 1
            && self.value(above).is_none_or(|v| v.value < b.value)
        {
            return Step::Probe {
                index: best + (above - best) / 2,
                why: ProbeWhy::BisectAbove,
            };
        }
        // below: the smallest load on the plateau
        let Some(knee) = self.smallest_tied(best) else {
            return Step::Done;
        };
        let below = self.records.range(..knee).next_back().map(|(i, _)| *i);
        bisect(below, knee, ProbeWhy::BisectKnee)
    }

    fn good_under_limits(&self, i: usize) -> bool {
        self.records
            .get(&i)
            .is_some_and(|o| o.is_measured() && o.slo_check(&self.goal.limits).met)
    }

    /// The last good index below the first bad one, and that bad one.
    fn limit_bracket(&self) -> (Option<usize>, Option<usize>) {
        let bad = self
            .records
            .keys()
            .copied()
            .find(|&i| !self.good_under_limits(i));
        let below = match bad {
            Some(b) => self.records.range(..b).next_back().map(|(i, _)| *i),
            None => self.records.keys().next_back().copied(),
        };
        (below, bad)
    }

    fn next_under_limits(&self) -> Step {
        match self.limit_bracket() {
            (Some(good), None) if good + 1 < self.loads => Step::Probe {
                index: (2 * good + 1).min(self.loads - 1),
                why: ProbeWhy::Doubling,
            },
            (_, None) => Step::Done,
            (good, Some(bad)) => bisect(good, bad, ProbeWhy::BisectLimit),
        }
    }
}

/// The middle of the open gap between `lo` (none: before index 0) and
/// `hi`, or `Done` when they are neighbours.
fn bisect(lo: Option<usize>, hi: usize, why: ProbeWhy) -> Step {
    let start = lo.map_or(0, |l| l + 1);
    if start >= hi {
        return Step::Done;
    }
    Step::Probe {
        index: start + (hi - start) / 2,
        why,
    }
}
