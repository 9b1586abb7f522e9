//! The search as a state machine a runner drives: [`Search::next`] says
//! which configuration to measure at which load with how many requests,
//! [`Search::observe`] takes what that measured, and [`Search::result`]
//! says what was found and what it cost. No clock, no servers: the same
//! seed and the same observations give the same probes.
//!
//! Round 0 finds every configuration's knee ([`super::knee`]) with cheap
//! probes, one configuration at a time (its servers start once). Each
//! later round drops the configurations worse beyond noise
//! ([`super::halving`]) and measures the rest again at their chosen loads
//! with `eta` times the requests. The order of configurations in every
//! round is shuffled by the seed, so a machine that drifts does not always
//! favour the same one; only the configuration measured last opens the
//! next round, as its servers still run.
//!
//! Each round's decisions read its newest measurements (the most
//! requests). The result ranks by every round at once: a configuration's
//! figure at its best load is pooled over the rounds that measured it
//! there, with the variation between them in its interval
//! ([`super::pooling`]), so best, runner-up and their tie rest on how the
//! configuration read across the search, not on its last reading alone.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::goal::{Goal, THROUGHPUT};
use super::halving::{Evidence, halve, leader, round_requests};
use super::knee::{Knee, ProbeWhy, Score, Step};
use super::log::{Decision, Limit, Spent, Stop};
use super::observation::{Estimate, Observation, Outcome};
use super::pooling::Pooled;
use crate::spec::tune::{Objective, TuneSection};

/// Requests of a first-round probe at least (a rate's interval needs 21).
pub const MIN_PROBE_REQUESTS: u64 = 24;
/// The latency the Pareto front weighs throughput against.
pub const PARETO_LATENCY: &str = "e2e_p50_ms";
/// The figure the full product's duration is estimated from.
pub const REQUEST_RATE: &str = "requests_per_s";
/// Rounds at most, whatever the settings (a guard; eta ≥ 2 reaches any
/// point's requests well before).
const MAX_ROUNDS: u32 = 64;

/// One server configuration and the loads it may be probed at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigAxis {
    pub label: String,
    /// Concurrency or request-rate values; sorted ascending by the search.
    pub loads: Vec<f64>,
    /// The scenario's own requests of the point at each load (its full
    /// precision); empty: [`Space::requests_per_point`] for every load.
    pub requests: Vec<u64>,
    /// The fewest requests a probe at each load may have (a closed loop at
    /// concurrency `c` needs a few rounds of `c` to reach a steady state);
    /// empty: no floor beyond [`MIN_PROBE_REQUESTS`].
    pub min_requests: Vec<u64>,
}

impl ConfigAxis {
    /// A configuration whose every load has the space's requests.
    pub fn new(label: impl Into<String>, loads: Vec<f64>) -> ConfigAxis {
        ConfigAxis {
            label: label.into(),
            loads,
            requests: Vec::new(),
            min_requests: Vec::new(),
        }
    }

    /// The loads with their requests and floors, sorted by load, without
    /// NaN or repeated loads.
    fn sorted(self, default_requests: u64) -> ConfigAxis {
        let mut rows: Vec<(f64, u64, u64)> = self
            .loads
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_nan())
            .map(|(i, &l)| {
                (
                    l,
                    self.requests.get(i).copied().unwrap_or(default_requests),
                    self.min_requests.get(i).copied().unwrap_or(0),
                )
            })
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        ConfigAxis {
            label: self.label,
            loads: rows.iter().map(|r| r.0).collect(),
            requests: rows.iter().map(|r| r.1).collect(),
            min_requests: rows.iter().map(|r| r.2).collect(),
        }
    }
}

/// What is searched: the configurations and the requests of one of the
/// scenario's own points (where a configuration does not give its own).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Space {
    pub configs: Vec<ConfigAxis>,
    pub requests_per_point: u64,
}

impl Space {
    /// Points of the full product.
    pub fn points(&self) -> u64 {
        self.configs.iter().map(|c| c.loads.len() as u64).sum()
    }

    /// Requests of the full product.
    pub fn requests(&self) -> u64 {
        self.configs
            .iter()
            .flat_map(|c| {
                (0..c.loads.len()).map(|i| {
                    c.requests
                        .get(i)
                        .copied()
                        .unwrap_or(self.requests_per_point)
                })
            })
            .fold(0u64, u64::saturating_add)
    }
}

/// What the search may spend; 0 is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Budget {
    pub max_points: u64,
    pub max_requests: u64,
    pub max_s: f64,
}

impl Budget {
    pub fn from_section(t: &TuneSection) -> Budget {
        Budget {
            max_points: t.max_points,
            max_requests: t.max_requests,
            max_s: t.max_s.get(),
        }
    }
}

/// How rounds grow and who may be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchOptions {
    pub halving_eta: u32,
    pub min_probes: u32,
    /// 0: derived from the point's requests (see [`first_requests`]).
    pub probe_requests: u64,
    pub per_config: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions::from_section(&TuneSection::default())
    }
}

impl SearchOptions {
    pub fn from_section(t: &TuneSection) -> SearchOptions {
        SearchOptions {
            halving_eta: t.halving_eta,
            min_probes: t.min_probes,
            probe_requests: t.probe_requests,
            per_config: t.per_config,
        }
    }
}

/// Requests of a first-round probe: `probe_requests` when set, else the
/// point's requests / eta², at least [`MIN_PROBE_REQUESTS`] and at least
/// `floor`; never more than the point's own requests (or
/// [`MIN_PROBE_REQUESTS`] when they are fewer: a figure needs that many
/// for an interval) when those are more than 0.
pub fn first_requests(opts: &SearchOptions, requests_per_point: u64, floor: u64) -> u64 {
    let eta = u64::from(opts.halving_eta.clamp(2, 10));
    let r = if opts.probe_requests > 0 {
        opts.probe_requests
    } else {
        (requests_per_point / (eta * eta))
            .max(MIN_PROBE_REQUESTS)
            .max(floor)
    };
    if requests_per_point > 0 {
        r.min(requests_per_point.max(MIN_PROBE_REQUESTS))
    } else {
        r
    }
}

/// One measurement the runner is asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    pub id: u64,
    pub config: usize,
    pub label: String,
    /// Index into the configuration's sorted loads, and the load itself.
    pub load_index: usize,
    pub load: f64,
    pub requests: u64,
    pub round: u32,
    pub why: ProbeWhy,
}

/// Where a configuration stands at the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Standing {
    /// Still in the race.
    Contender,
    /// Worse than the leader beyond noise.
    Dropped { round: u32, evidence: Evidence },
    /// Failed to start, or no load of it counts.
    Excluded { why: String },
}

/// A configuration's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigOutcome {
    pub config: usize,
    pub label: String,
    pub standing: Standing,
    /// The knee's load (see [`super::knee`]), and the load with the best
    /// value of the objective's figure.
    pub knee_load: Option<f64>,
    pub best_load: Option<f64>,
    /// The score the result ranks by: for a rate, the figure at the best
    /// load pooled over every round that measured it there (`pooled`),
    /// else that load's standing observation.
    pub score: Option<Score>,
    /// The rounds at the best load pooled, with the variation between
    /// them (rates measured there in two rounds or more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pooled: Option<Pooled>,
    /// Throughput at the knee.
    pub knee_throughput: Option<Estimate>,
    pub points: u64,
}

/// A point on the Pareto front of throughput against latency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParetoPoint {
    pub config: usize,
    pub label: String,
    pub load: f64,
    pub throughput_tps: f64,
    pub latency_ms: f64,
}

/// What the full product would have cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FullProduct {
    pub points: u64,
    pub requests: u64,
    /// Seconds of load alone: each point's requests at the request rate
    /// its configuration was measured at nearest to its load (the mean of
    /// every probe's rate for a configuration never measured). Server
    /// starts and warmups are not counted, so the search's share of it
    /// is an upper bound. `None` before any rate was measured.
    pub estimated_s: Option<f64>,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuneResult {
    pub goal: Goal,
    pub best: Option<ConfigOutcome>,
    pub runner_up: Option<ConfigOutcome>,
    /// Best and runner-up cannot be told apart beyond noise; `None` when
    /// there is no runner-up or a rate of the two has no interval.
    pub tied: Option<bool>,
    pub configs: Vec<ConfigOutcome>,
    pub pareto: Vec<ParetoPoint>,
    pub spent: Spent,
    pub full_product: FullProduct,
    /// `None` while the search is still running.
    pub stop: Option<Stop>,
}

#[derive(Debug, Clone)]
struct ConfigState {
    axis: ConfigAxis,
    knee: Knee,
    standing: Standing,
    rounds_measured: u32,
    points: u64,
    requests: u64,
    seconds: f64,
}

/// The search.
#[derive(Debug, Clone)]
pub struct Search {
    goal: Goal,
    budget: Budget,
    options: SearchOptions,
    requests_per_point: u64,
    configs: Vec<ConfigState>,
    rng: StdRng,
    round: u32,
    order: Vec<usize>,
    cursor: usize,
    pending: Option<Probe>,
    /// The configuration of the last probe (its servers still run).
    last_config: Option<usize>,
    next_id: u64,
    spent: Spent,
    log: Vec<Decision>,
    stop: Option<Stop>,
}

impl Search {
    /// A search of `space` for `goal`, within `budget`, its order drawn
    /// from `seed`; options at their defaults ([`Self::with_options`]).
    pub fn new(space: Space, goal: Goal, budget: Budget, seed: u64) -> Search {
        let default_requests = space.requests_per_point;
        let configs = space
            .configs
            .into_iter()
            .map(|axis| {
                let axis = axis.sorted(default_requests);
                ConfigState {
                    knee: Knee::new(axis.loads.len(), goal.clone()),
                    axis,
                    standing: Standing::Contender,
                    rounds_measured: 0,
                    points: 0,
                    requests: 0,
                    seconds: 0.0,
                }
            })
            .collect();
        let options = SearchOptions::default();
        let mut s = Search {
            goal,
            budget,
            options,
            requests_per_point: space.requests_per_point,
            configs,
            rng: StdRng::seed_from_u64(seed),
            round: 0,
            order: Vec::new(),
            cursor: 0,
            pending: None,
            last_config: None,
            next_id: 1,
            spent: Spent::default(),
            log: Vec::new(),
            stop: None,
        };
        s.order = s.shuffled_contenders();
        s
    }

    /// The same search with `options`.
    pub fn with_options(mut self, options: SearchOptions) -> Search {
        self.options = options;
        self
    }

    /// A search as a `[tune]` table asks for.
    pub fn from_section(space: Space, t: &TuneSection) -> Search {
        Search::new(
            space,
            Goal::from_section(t),
            Budget::from_section(t),
            t.seed,
        )
        .with_options(SearchOptions::from_section(t))
    }

    /// Every decision so far, in order.
    pub fn decisions(&self) -> &[Decision] {
        &self.log
    }

    /// What has been spent.
    pub fn spent(&self) -> Spent {
        self.spent
    }

    /// The next probe, or `None` when the search is over. Asked again
    /// before [`Self::observe`], it gives the same probe. (Not an
    /// `Iterator`: each probe waits for its observation.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Probe> {
        if self.stop.is_some() {
            return None;
        }
        if let Some(p) = &self.pending {
            return Some(p.clone());
        }
        loop {
            if let Some(&c) = self.order.get(self.cursor) {
                if self.configs[c].standing != Standing::Contender || self.dropped_early(c) {
                    self.cursor += 1;
                    continue;
                }
                match self.step(c) {
                    Some((index, why)) => return self.issue(c, index, why),
                    None => {
                        if self.round == 0 {
                            self.knee_found(c);
                        }
                        self.cursor += 1;
                    }
                }
            } else if let Some(stop) = self.end_round() {
                self.finish(stop);
                return None;
            }
        }
    }

    /// What `probe` measured. A probe not asked for is ignored, and so is
    /// a second answer to the same one.
    pub fn observe(&mut self, probe: &Probe, obs: Observation) {
        if self.pending.as_ref() != Some(probe) {
            return;
        }
        self.pending = None;
        self.last_config = Some(probe.config);
        self.spent.points += 1;
        self.spent.requests = self.spent.requests.saturating_add(obs.requests);
        let seconds = if obs.seconds.is_finite() && obs.seconds > 0.0 {
            obs.seconds
        } else {
            0.0
        };
        self.spent.seconds += seconds;
        let state = &mut self.configs[probe.config];
        state.points += 1;
        state.requests = state.requests.saturating_add(obs.requests);
        state.seconds += seconds;
        match &obs.outcome {
            Outcome::NotStarted { why } => {
                let why = format!("did not start: {why}");
                state.standing = Standing::Excluded { why: why.clone() };
                self.log.push(Decision::ConfigExcluded {
                    config: probe.config,
                    label: probe.label.clone(),
                    why,
                });
                return;
            }
            Outcome::Errored { why } => self.log.push(Decision::PointFailed {
                probe: probe.id,
                config: probe.config,
                label: probe.label.clone(),
                load: probe.load,
                why: why.clone(),
            }),
            Outcome::Measured => {}
        }
        self.configs[probe.config]
            .knee
            .record(probe.load_index, obs);
    }

    /// What was found so far (final once [`Self::next`] gave `None`).
    pub fn result(&self) -> TuneResult {
        let configs: Vec<ConfigOutcome> =
            (0..self.configs.len()).map(|c| self.outcome(c)).collect();
        let scored: Vec<(usize, Score)> = configs
            .iter()
            .filter(|o| !matches!(o.standing, Standing::Excluded { .. }))
            .filter_map(|o| o.score.map(|s| (o.config, s)))
            .collect();
        let best = leader(&scored);
        let runner_up = best.and_then(|(b, _)| {
            let rest: Vec<(usize, Score)> =
                scored.iter().copied().filter(|(c, _)| *c != b).collect();
            leader(&rest)
        });
        // rates without an interval cannot be told apart: no verdict
        let has_interval = |s: &Score| match s {
            Score::Rate { estimate } => estimate.interval().is_some(),
            Score::Load { .. } => true,
        };
        let tied = best
            .zip(runner_up)
            .filter(|((_, bs), (_, rs))| has_interval(bs) && has_interval(rs))
            .map(|((b, bs), (_, rs))| super::halving::clearly_worse(&rs, b, &bs).is_none());
        TuneResult {
            goal: self.goal.clone(),
            best: best.map(|(c, _)| configs[c].clone()),
            runner_up: runner_up.map(|(c, _)| configs[c].clone()),
            tied,
            pareto: self.pareto(),
            spent: self.spent,
            full_product: self.full_product(),
            stop: self.stop,
            configs,
        }
    }

    fn shuffled_contenders(&mut self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.configs.len())
            .filter(|&c| self.configs[c].standing == Standing::Contender)
            .collect();
        order.shuffle(&mut self.rng);
        order
    }

    /// The requests of load `i` of configuration `c` at full precision
    /// (the scenario's own point; its first-round requests when it has
    /// none), and in its first round.
    fn full_and_first(&self, c: usize, i: usize) -> (u64, u64) {
        let axis = &self.configs[c].axis;
        let own = axis
            .requests
            .get(i)
            .copied()
            .unwrap_or(self.requests_per_point);
        let floor = axis.min_requests.get(i).copied().unwrap_or(0);
        let first = first_requests(&self.options, own, floor);
        // a point of fewer requests than an interval needs is measured
        // with enough for one
        let full = if own > 0 { own.max(first) } else { first };
        (full, first)
    }

    /// Requests of a probe of load `i` of configuration `c` in `round`.
    fn requests_at(&self, c: usize, i: usize, round: u32) -> u64 {
        let (full, first) = self.full_and_first(c, i);
        round_requests(first, self.options.halving_eta.clamp(2, 10), round, full)
    }

    /// Whether every load configuration `c` would refine already had its
    /// full precision in the round just ended.
    fn at_full_precision(&self, c: usize) -> bool {
        self.configs[c]
            .knee
            .refine_points()
            .into_iter()
            .all(|i| self.requests_at(c, i, self.round) >= self.full_and_first(c, i).0)
    }

    /// The next load of configuration `c` in this round, if any.
    fn step(&self, c: usize) -> Option<(usize, ProbeWhy)> {
        let knee = &self.configs[c].knee;
        if let Step::Probe { index, why } = knee.next() {
            return Some((index, why));
        }
        knee.refine_points()
            .into_iter()
            .find(|&i| {
                let wanted = self.requests_at(c, i, self.round);
                knee.record_at(i).is_some_and(|o| o.requests < wanted)
            })
            .map(|i| (i, ProbeWhy::Refine))
    }

    fn issue(&mut self, c: usize, index: usize, why: ProbeWhy) -> Option<Probe> {
        let requests = self.requests_at(c, index, self.round);
        if let Some(limit) = self.over_budget(c, requests) {
            self.log.push(Decision::BudgetExhausted {
                limit,
                spent: self.spent,
            });
            self.finish(Stop::Budget { limit });
            return None;
        }
        let state = &self.configs[c];
        let probe = Probe {
            id: self.next_id,
            config: c,
            label: state.axis.label.clone(),
            load_index: index,
            load: state.axis.loads[index],
            requests,
            round: self.round,
            why,
        };
        self.next_id += 1;
        self.log.push(Decision::ProbeChosen {
            probe: probe.id,
            config: c,
            label: probe.label.clone(),
            load_index: index,
            load: probe.load,
            requests,
            round: self.round,
            why,
        });
        self.pending = Some(probe.clone());
        Some(probe)
    }

    /// The limit the next probe (of `requests` on configuration `c`) would
    /// pass. Its seconds are estimated from what `c` (or, before it was
    /// measured, every configuration) took per request.
    fn over_budget(&self, c: usize, requests: u64) -> Option<Limit> {
        let b = &self.budget;
        if b.max_points > 0 && self.spent.points >= b.max_points {
            return Some(Limit::Points);
        }
        if b.max_requests > 0 && self.spent.requests.saturating_add(requests) > b.max_requests {
            return Some(Limit::Requests);
        }
        if b.max_s > 0.0 {
            let estimate = self.seconds_per_request(c).unwrap_or(0.0) * requests as f64;
            if self.spent.seconds + estimate > b.max_s {
                return Some(Limit::Seconds);
            }
        }
        None
    }

    fn seconds_per_request(&self, c: usize) -> Option<f64> {
        let per = |requests: u64, seconds: f64| (requests > 0).then(|| seconds / requests as f64);
        let own = &self.configs[c];
        per(own.requests, own.seconds).or_else(|| per(self.spent.requests, self.spent.seconds))
    }

    /// In the first round, drops configuration `c` before the rest of its
    /// knee search when that search can no longer raise its score (only
    /// the plateau's lower edge is left to find, or, for a load, its first
    /// bad load is already known) and it is worse than the best other
    /// configuration beyond noise, by the rule of [`super::halving`].
    fn dropped_early(&mut self, c: usize) -> bool {
        if self.round > 0 || self.options.per_config || self.options.min_probes > 1 {
            return false;
        }
        let state = &self.configs[c];
        let can_still_rise = match state.knee.next() {
            Step::Done => false,
            Step::Probe { why, .. } => !matches!(why, ProbeWhy::BisectKnee | ProbeWhy::BisectLimit),
        };
        if can_still_rise
            && matches!(
                self.goal.objective,
                Objective::Throughput | Objective::Goodput
            )
        {
            return false;
        }
        let Some(score) = state.knee.score(&state.axis.loads) else {
            return false;
        };
        let others: Vec<(usize, Score)> = (0..self.configs.len())
            .filter(|&o| o != c && self.configs[o].standing == Standing::Contender)
            .filter_map(|o| {
                let s = &self.configs[o];
                s.knee.score(&s.axis.loads).map(|sc| (o, sc))
            })
            .collect();
        let Some((lead, lead_score)) = leader(&others) else {
            return false;
        };
        let Some(evidence) = super::halving::clearly_worse(&score, lead, &lead_score) else {
            return false;
        };
        self.knee_found(c);
        self.configs[c].standing = Standing::Dropped {
            round: 0,
            evidence: evidence.clone(),
        };
        self.log.push(Decision::ConfigDropped {
            config: c,
            label: self.configs[c].axis.label.clone(),
            round: 0,
            evidence,
        });
        true
    }

    fn knee_found(&mut self, c: usize) {
        let state = &self.configs[c];
        let s = state.knee.summary();
        let load = |i: Option<usize>| i.and_then(|i| state.axis.loads.get(i).copied());
        self.log.push(Decision::KneeFound {
            config: c,
            label: state.axis.label.clone(),
            round: self.round,
            knee_load: load(s.knee),
            best_load: load(s.best),
            score: state.knee.score(&state.axis.loads),
        });
    }

    /// Ends the round: halving, then the next round's order; the reason to
    /// stop when the search is over.
    fn end_round(&mut self) -> Option<Stop> {
        let mut scores = Vec::new();
        for c in 0..self.configs.len() {
            let state = &mut self.configs[c];
            if state.standing != Standing::Contender {
                continue;
            }
            match state.knee.score(&state.axis.loads) {
                Some(s) if state.points > 0 => {
                    state.rounds_measured += 1;
                    scores.push((c, s));
                }
                _ => {
                    let why = "no load counts: every probe failed or missed a limit".to_string();
                    state.standing = Standing::Excluded { why: why.clone() };
                    self.log.push(Decision::ConfigExcluded {
                        config: c,
                        label: state.axis.label.clone(),
                        why,
                    });
                }
            }
        }
        let min_probes = self.options.min_probes.max(1);
        let per_config = self.options.per_config;
        let rounds: Vec<u32> = self.configs.iter().map(|s| s.rounds_measured).collect();
        let h = halve(&scores, |c| !per_config && rounds[c] >= min_probes);
        for (c, evidence) in h.dropped {
            self.configs[c].standing = Standing::Dropped {
                round: self.round,
                evidence: evidence.clone(),
            };
            self.log.push(Decision::ConfigDropped {
                config: c,
                label: self.configs[c].axis.label.clone(),
                round: self.round,
                evidence,
            });
        }
        let requests = h
            .survivors
            .iter()
            .flat_map(|&c| {
                self.configs[c]
                    .knee
                    .refine_points()
                    .into_iter()
                    .map(move |i| (c, i))
            })
            .map(|(c, i)| self.requests_at(c, i, self.round))
            .max()
            .unwrap_or(0);
        self.log.push(Decision::RoundEnded {
            round: self.round,
            requests_per_probe: requests,
            leader: h.leader,
            survivors: h.survivors.clone(),
        });
        if h.survivors.is_empty() {
            return Some(Stop::NothingLeft);
        }
        if h.survivors.len() == 1 && !per_config && rounds_done(&rounds, &h.survivors, min_probes) {
            return Some(Stop::OneLeft);
        }
        let all_full = h.survivors.iter().all(|&c| self.at_full_precision(c));
        if all_full || self.round + 1 >= MAX_ROUNDS {
            return Some(Stop::FullPrecision);
        }
        self.round += 1;
        self.order = self.shuffled_contenders();
        // the configuration measured last keeps its servers: it opens the
        // next round (a restart saved), the rest in the drawn order
        if let Some(last) = self.last_config
            && let Some(at) = self.order.iter().position(|&c| c == last)
        {
            let c = self.order.remove(at);
            self.order.insert(0, c);
        }
        self.cursor = 0;
        None
    }

    fn finish(&mut self, stop: Stop) {
        self.stop = Some(stop);
        self.pending = None;
        self.log.push(Decision::Finished {
            stop,
            spent: self.spent,
        });
    }

    fn outcome(&self, c: usize) -> ConfigOutcome {
        let state = &self.configs[c];
        let s = state.knee.summary();
        let load = |i: Option<usize>| i.and_then(|i| state.axis.loads.get(i).copied());
        let pooled = match self.goal.objective {
            Objective::Throughput | Objective::Goodput => s.best.and_then(|b| state.knee.pooled(b)),
            Objective::MaxLoadUnderSlo => None,
        };
        ConfigOutcome {
            config: c,
            label: state.axis.label.clone(),
            standing: state.standing.clone(),
            knee_load: load(s.knee),
            best_load: load(s.best),
            score: pooled
                .map(|p| Score::Rate {
                    estimate: p.estimate,
                })
                .or_else(|| state.knee.score(&state.axis.loads)),
            pooled,
            knee_throughput: s
                .knee
                .and_then(|k| state.knee.record_at(k))
                .and_then(|o| o.figure(THROUGHPUT).copied()),
            points: state.points,
        }
    }

    fn pareto(&self) -> Vec<ParetoPoint> {
        let mut all: Vec<ParetoPoint> = Vec::new();
        for (c, state) in self.configs.iter().enumerate() {
            for (i, obs) in state.knee.records() {
                let (Some(t), Some(l)) = (obs.figure(THROUGHPUT), obs.figure(PARETO_LATENCY))
                else {
                    continue;
                };
                if !obs.is_measured() {
                    continue;
                }
                all.push(ParetoPoint {
                    config: c,
                    label: state.axis.label.clone(),
                    load: state.axis.loads[i],
                    throughput_tps: t.value,
                    latency_ms: l.value,
                });
            }
        }
        // lowest latency first; a point stays when nothing before it has
        // as much throughput
        all.sort_by(|a, b| {
            a.latency_ms
                .total_cmp(&b.latency_ms)
                .then(b.throughput_tps.total_cmp(&a.throughput_tps))
        });
        let mut front: Vec<ParetoPoint> = Vec::new();
        for p in all {
            if front
                .last()
                .is_none_or(|f| p.throughput_tps > f.throughput_tps)
            {
                front.push(p);
            }
        }
        front
    }

    fn full_product(&self) -> FullProduct {
        let points: u64 = self.configs.iter().map(|s| s.axis.loads.len() as u64).sum();
        let requests_of = |s: &ConfigState| {
            s.axis
                .requests
                .iter()
                .fold(0u64, |a, &r| a.saturating_add(r))
        };
        let rate = |o: &Observation| {
            o.figure(REQUEST_RATE)
                .map(|e| e.value)
                .filter(|r| r.is_finite() && *r > 0.0)
        };
        // every measured probe's rate, for a configuration without one
        let all: Vec<f64> = self
            .configs
            .iter()
            .flat_map(|s| s.knee.records().filter_map(|(_, o)| rate(o)))
            .collect();
        let mean = (!all.is_empty()).then(|| all.iter().sum::<f64>() / all.len() as f64);
        let estimated_s = mean.map(|mean| {
            self.configs
                .iter()
                .map(|s| {
                    let rates: Vec<(usize, f64)> = s
                        .knee
                        .records()
                        .filter_map(|(i, o)| rate(o).map(|r| (i, r)))
                        .collect();
                    (0..s.axis.loads.len())
                        .map(|i| {
                            let r = rates
                                .iter()
                                .min_by_key(|(j, _)| j.abs_diff(i))
                                .map_or(mean, |(_, r)| *r);
                            s.axis.requests.get(i).copied().unwrap_or(0) as f64 / r
                        })
                        .sum::<f64>()
                })
                .sum()
        });
        FullProduct {
            points,
            requests: self
                .configs
                .iter()
                .map(requests_of)
                .fold(0u64, u64::saturating_add),
            estimated_s,
        }
    }
}

/// Whether every one of `configs` has been measured `min_probes` rounds.
fn rounds_done(rounds: &[u32], configs: &[usize], min_probes: u32) -> bool {
    configs.iter().all(|&c| rounds[c] >= min_probes)
}
