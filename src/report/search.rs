//! A search's log read back for reports: `tune.jsonl` of a `mlxrun tune`
//! run as a model (what the search set out to do, its decisions in order,
//! its result when it finished), and the text both reports show from it:
//! the summary lines, the table of configurations with the evidence of
//! each drop, the Pareto front and the decisions. Every field of the file
//! is optional here, so an older, newer or cut-off log still reads; a
//! value the log does not give is shown as `–` with the reason.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::cells::{self, MISSING};
use super::data::{Figure, PointRecord, RunData};
use super::verdict;

/// The log's file name in the run folder.
pub const FILE: &str = "tune.jsonl";
/// What a report says of a search without a `result` line.
pub const UNFINISHED: &str = "the search did not finish: interrupted or stopped part-way";
/// The warning over an unfinished search's section.
pub const UNFINISHED_NOTE: &str =
    "The search did not finish (interrupted or stopped part-way): what follows is its path so far.";

/// A figure with its confidence interval, as the search logged it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Estimate {
    pub value: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Coverage of the interval (0.95).
    pub level: Option<f64>,
}

impl Estimate {
    /// As a report [`Figure`] of `key`, for the interval helpers.
    fn figure(&self, key: &str) -> Figure {
        Figure {
            key: key.to_string(),
            value: self.value,
            lo: self.lo,
            hi: self.hi,
            level: self
                .level
                .filter(|l| *l > 0.0 && *l < 1.0)
                .unwrap_or(super::data::DEFAULT_LEVEL),
            ..Default::default()
        }
    }

    /// `512.3 ± 12.1`, the value alone without an interval, `–` without a value.
    pub fn text(&self) -> String {
        verdict::with_interval(&self.figure(""))
    }
}

/// How a configuration scored (`kind`: `rate` or `load`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Score {
    /// Throughput or goodput at the configuration's best load.
    Rate {
        #[serde(default)]
        estimate: Estimate,
    },
    /// The highest load within the limits: at least `lo`, below `hi_excl`;
    /// `tie` is the throughput there.
    Load {
        #[serde(default)]
        value: Option<f64>,
        #[serde(default)]
        lo: Option<f64>,
        #[serde(default)]
        hi_excl: Option<f64>,
        #[serde(default)]
        tie: Option<f64>,
    },
    /// A kind this version does not know.
    #[serde(other)]
    Unknown,
}

/// Why a configuration was dropped: its score against the leader's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Evidence {
    pub score: Option<Score>,
    pub leader: Option<usize>,
    pub leader_score: Option<Score>,
    /// One-sided z of "below the leader" and its p-value.
    pub z: Option<f64>,
    pub p_one_sided: Option<f64>,
    /// The rule that decided, in words.
    pub rule: String,
}

/// Where a configuration stands (`kind`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Standing {
    /// Still in the race.
    Contender,
    /// Worse than the leader beyond noise.
    Dropped {
        #[serde(default)]
        round: u32,
        #[serde(default)]
        evidence: Evidence,
    },
    /// Failed to start, or no load of it counts.
    Excluded {
        #[serde(default)]
        why: String,
    },
    /// Not recorded, or a kind this version does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// Why a search ended (`kind`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stop {
    OneLeft,
    FullPrecision,
    NothingLeft,
    Budget {
        #[serde(default)]
        limit: String,
    },
    #[serde(other)]
    Unknown,
}

impl Stop {
    /// Why the search stopped, in words.
    pub fn text(&self) -> String {
        match self {
            Stop::OneLeft => {
                "one configuration was left: the others were worse beyond noise".into()
            }
            Stop::FullPrecision => "the contenders were measured with as many requests as the scenario's own points: what is left is tied within noise".into(),
            Stop::NothingLeft => {
                "every configuration was excluded or has no load that counts".into()
            }
            Stop::Budget { limit } if limit.is_empty() => "a budget limit was reached".into(),
            Stop::Budget { limit } => format!("the budget's {limit} limit was reached"),
            Stop::Unknown => format!("{MISSING} (a stop this version does not know)"),
        }
    }
}

/// What the search spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Spent {
    pub points: u64,
    pub requests: u64,
    pub seconds: Option<f64>,
}

/// What the full product would cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FullProduct {
    pub points: Option<u64>,
    pub requests: Option<u64>,
    /// Estimated at the search's end from the seconds per request it measured.
    pub estimated_s: Option<f64>,
}

/// What the search may spend; 0 is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Budget {
    pub max_points: u64,
    pub max_requests: u64,
    pub max_s: f64,
}

impl Budget {
    /// `40 points, 600 s` or `none`.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        if self.max_points > 0 {
            parts.push(format!("{} points", self.max_points));
        }
        if self.max_requests > 0 {
            parts.push(format!("{} requests", self.max_requests));
        }
        if self.max_s > 0.0 {
            parts.push(cells::duration(self.max_s));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One configuration as the search set out to probe it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct StartedConfig {
    pub config: usize,
    pub label: String,
    pub loads: Vec<Option<f64>>,
    /// Requests of each of its points.
    pub requests: Vec<u64>,
    /// The plan's point numbers of its loads.
    pub points: Vec<u64>,
}

/// The `search_started` line.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Started {
    /// A resumed run's second `search_started`.
    pub resumed: bool,
    /// `throughput`, `goodput`, `max_load_under_slo`.
    pub objective: String,
    /// The figure maximised (`throughput_tps`).
    pub figure: String,
    /// `{"ttft_p99_ms": 500.0}` (or `[["ttft_p99_ms", 500.0]]`).
    pub limits: Value,
    /// `concurrency` or `request_rate`.
    pub load_axis: String,
    pub seed: Option<u64>,
    pub budget: Budget,
    pub configs: Vec<StartedConfig>,
    pub full_product: FullProduct,
}

/// A configuration's outcome in the `result` line.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConfigOutcome {
    pub config: usize,
    pub label: String,
    pub standing: Standing,
    pub knee_load: Option<f64>,
    pub best_load: Option<f64>,
    pub score: Option<Score>,
    /// The rounds the score pools (rates measured at the best load in two
    /// rounds or more).
    pub pooled: Option<PooledRounds>,
    pub knee_throughput: Option<Estimate>,
    pub points: u64,
}

/// A result's `pooled`: how many rounds its score pools and their spread
/// beyond their own intervals.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PooledRounds {
    pub rounds: usize,
    pub between_sd: Option<f64>,
}

impl PooledRounds {
    /// `pooled over 3 rounds (between rounds ± 120.5)`.
    pub fn text(&self) -> String {
        format!(
            "pooled over {} rounds (between rounds ± {})",
            self.rounds,
            cells::num(self.between_sd)
        )
    }
}

/// A point on the Pareto front of throughput against e2e p50.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ParetoPoint {
    pub config: usize,
    pub label: String,
    pub load: Option<f64>,
    pub throughput_tps: Option<f64>,
    pub latency_ms: Option<f64>,
}

/// The objective and limits in the `result` line.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Goal {
    pub objective: String,
    pub limits: Value,
}

/// The `result` line: what the search found and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TuneOutcome {
    pub wall_s: Option<f64>,
    pub goal: Goal,
    pub best: Option<ConfigOutcome>,
    pub runner_up: Option<ConfigOutcome>,
    /// Best and runner-up cannot be told apart beyond noise.
    pub tied: Option<bool>,
    pub configs: Vec<ConfigOutcome>,
    pub pareto: Vec<ParetoPoint>,
    pub spent: Spent,
    pub full_product: FullProduct,
    pub stop: Option<Stop>,
}

/// One decision of the search (`decision`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    ProbeChosen {
        #[serde(default)]
        probe: u64,
        #[serde(default)]
        config: usize,
        #[serde(default)]
        label: String,
        #[serde(default)]
        load: Option<f64>,
        #[serde(default)]
        requests: u64,
        #[serde(default)]
        round: u32,
        #[serde(default)]
        why: String,
    },
    PointFailed {
        #[serde(default)]
        probe: u64,
        #[serde(default)]
        config: usize,
        #[serde(default)]
        label: String,
        #[serde(default)]
        load: Option<f64>,
        #[serde(default)]
        why: String,
    },
    ConfigExcluded {
        #[serde(default)]
        config: usize,
        #[serde(default)]
        label: String,
        #[serde(default)]
        why: String,
    },
    KneeFound {
        #[serde(default)]
        config: usize,
        #[serde(default)]
        label: String,
        #[serde(default)]
        round: u32,
        #[serde(default)]
        knee_load: Option<f64>,
        #[serde(default)]
        best_load: Option<f64>,
        #[serde(default)]
        score: Option<Score>,
    },
    ConfigDropped {
        #[serde(default)]
        config: usize,
        #[serde(default)]
        label: String,
        #[serde(default)]
        round: u32,
        #[serde(default)]
        evidence: Evidence,
    },
    RoundEnded {
        #[serde(default)]
        round: u32,
        #[serde(default)]
        requests_per_probe: u64,
        #[serde(default)]
        leader: Option<usize>,
        #[serde(default)]
        survivors: Vec<usize>,
    },
    BudgetExhausted {
        #[serde(default)]
        limit: String,
        #[serde(default)]
        spent: Spent,
    },
    Finished {
        #[serde(default)]
        stop: Option<Stop>,
        #[serde(default)]
        spent: Spent,
    },
    /// Not written by the search: a second `search_started` (a resumed
    /// run) read in its place among the decisions.
    #[serde(skip_deserializing)]
    SearchResumed,
    /// A decision this version does not know.
    #[serde(other)]
    Other,
}

/// A search's log: `tune.jsonl` read back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchLog {
    /// The first `search_started`.
    pub started: Option<Started>,
    /// Later `search_started` lines (each a resume of the same search).
    pub resumes: usize,
    /// The decisions in file order, a resume as [`Decision::SearchResumed`].
    pub decisions: Vec<Decision>,
    /// The last `result` line; `None`: the search did not finish.
    pub result: Option<TuneOutcome>,
    /// Lines that could not be read, as `tune.jsonl:N: why`.
    pub skipped_lines: Vec<String>,
}

impl SearchLog {
    /// `dir/tune.jsonl` read; `None` when the run has none (not a search).
    pub fn read(dir: &Path) -> Option<SearchLog> {
        let path = dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(SearchLog::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(SearchLog {
                skipped_lines: vec![format!("{FILE}: cannot read: {e}")],
                ..Default::default()
            }),
        }
    }

    /// The log from the text of `tune.jsonl`; a line that is not JSON or
    /// not a record this version can read is listed in `skipped_lines`.
    pub fn parse(text: &str) -> SearchLog {
        let mut log = SearchLog::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if let Err(e) = log.read_line(line) {
                log.skipped_lines.push(format!("{FILE}:{}: {e}", i + 1));
            }
        }
        log
    }

    fn read_line(&mut self, line: &str) -> Result<(), String> {
        let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let tag = v
            .get("decision")
            .and_then(Value::as_str)
            .ok_or("no `decision` tag")?;
        match tag {
            "search_started" => {
                let s: Started = serde_json::from_value(v).map_err(|e| e.to_string())?;
                if self.started.is_none() {
                    self.started = Some(s);
                } else {
                    self.resumes += 1;
                    self.decisions.push(Decision::SearchResumed);
                }
            }
            "result" => {
                self.result = Some(serde_json::from_value(v).map_err(|e| e.to_string())?);
            }
            _ => self
                .decisions
                .push(serde_json::from_value(v).map_err(|e| e.to_string())?),
        }
        Ok(())
    }

    /// Whether the search finished (it wrote its `result`).
    pub fn finished(&self) -> bool {
        self.result.is_some()
    }

    /// The figure the search maximised (`throughput_tps` when not logged).
    pub fn figure(&self) -> &str {
        self.started
            .as_ref()
            .map(|s| s.figure.as_str())
            .filter(|f| !f.is_empty())
            .unwrap_or("throughput_tps")
    }

    /// The load axis (`concurrency` or `request_rate`; empty when not logged).
    pub fn load_axis<'a>(&'a self, probes: &'a [PointRecord]) -> &'a str {
        self.started
            .as_ref()
            .map(|s| s.load_axis.as_str())
            .filter(|a| !a.is_empty())
            .or_else(|| {
                probes
                    .iter()
                    .filter_map(|p| p.search.as_ref())
                    .map(|s| s.load_axis.as_str())
                    .find(|a| !a.is_empty())
            })
            .unwrap_or_default()
    }

    /// The label of configuration `config` as the log names it.
    pub fn label_of(&self, config: usize) -> Option<&str> {
        let from_start = self
            .started
            .as_ref()
            .and_then(|s| s.configs.iter().find(|c| c.config == config))
            .map(|c| c.label.as_str());
        let from_result = self
            .result
            .as_ref()
            .and_then(|r| r.configs.iter().find(|c| c.config == config))
            .map(|c| c.label.as_str());
        from_start.or(from_result).filter(|l| !l.is_empty())
    }

    /// What the search spent: the result's count, else the last
    /// `finished` or `budget_exhausted`, else the probe rows so far.
    pub fn spent(&self, probes: &[PointRecord]) -> Spent {
        if let Some(r) = &self.result {
            return r.spent;
        }
        let logged = self.decisions.iter().rev().find_map(|d| match d {
            Decision::Finished { spent, .. } | Decision::BudgetExhausted { spent, .. } => {
                Some(*spent)
            }
            _ => None,
        });
        logged.unwrap_or_else(|| spent_of(probes))
    }

    /// The full product's points and requests (from `search_started` or
    /// the result), and its estimated seconds: the result's, else
    /// estimated the search's way from the probe rows so far.
    pub fn full_product(&self, probes: &[PointRecord]) -> FullProduct {
        let started = self.started.as_ref().map(|s| s.full_product);
        let result = self.result.as_ref().map(|r| r.full_product);
        let pick = |f: fn(&FullProduct) -> Option<u64>| {
            result
                .as_ref()
                .and_then(f)
                .or_else(|| started.as_ref().and_then(f))
        };
        FullProduct {
            points: pick(|f| f.points),
            requests: pick(|f| f.requests),
            estimated_s: result
                .and_then(|r| r.estimated_s)
                .or_else(|| self.estimated_s(probes)),
        }
    }

    /// The full product's seconds of load as the search estimates them:
    /// each point's requests at the request rate its configuration's
    /// probe rows measured nearest to its load (the mean of every probe's
    /// rate for a configuration never measured); `None` without a measured
    /// rate or without the configurations' loads and requests.
    fn estimated_s(&self, probes: &[PointRecord]) -> Option<f64> {
        let started = self.started.as_ref()?;
        if started.configs.iter().all(|c| c.requests.is_empty()) {
            return None;
        }
        let rate_of = |p: &PointRecord| {
            Some(p.requests_per_s).filter(|r| r.is_finite() && *r > 0.0 && p.requests > 0)
        };
        let all: Vec<f64> = probes.iter().filter_map(rate_of).collect();
        if all.is_empty() {
            return None;
        }
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        Some(
            started
                .configs
                .iter()
                .map(|c| {
                    let rates: Vec<(usize, f64)> = probes
                        .iter()
                        .filter_map(|p| {
                            let tag = p.search.as_ref().filter(|s| s.config == c.config)?;
                            let at = c.loads.iter().position(|l| *l == tag.load)?;
                            rate_of(p).map(|r| (at, r))
                        })
                        .collect();
                    c.requests
                        .iter()
                        .enumerate()
                        .map(|(i, &req)| {
                            // the latest probe of the nearest load
                            let r = rates
                                .iter()
                                .rev()
                                .min_by_key(|(j, _)| j.abs_diff(i))
                                .map_or(mean, |(_, r)| *r);
                            req as f64 / r
                        })
                        .sum::<f64>()
                })
                .sum(),
        )
    }

    /// Every configuration's row: the result's when the search finished,
    /// else what its decisions and probe rows say so far.
    pub fn configs(&self, probes: &[PointRecord]) -> Vec<ConfigOutcome> {
        if let Some(r) = &self.result
            && !r.configs.is_empty()
        {
            return r.configs.clone();
        }
        let mut out: Vec<ConfigOutcome> = self
            .started
            .iter()
            .flat_map(|s| &s.configs)
            .map(|c| ConfigOutcome {
                config: c.config,
                label: c.label.clone(),
                standing: Standing::Contender,
                ..Default::default()
            })
            .collect();
        let slot = |out: &mut Vec<ConfigOutcome>, config: usize, label: &str| -> usize {
            match out.iter().position(|c| c.config == config) {
                Some(i) => i,
                None => {
                    out.push(ConfigOutcome {
                        config,
                        label: label.to_string(),
                        standing: Standing::Contender,
                        ..Default::default()
                    });
                    out.len() - 1
                }
            }
        };
        for p in probes {
            if let Some(s) = &p.search {
                let i = slot(&mut out, s.config, &s.label);
                out[i].points += 1;
            }
        }
        for d in &self.decisions {
            match d {
                Decision::KneeFound {
                    config,
                    label,
                    knee_load,
                    best_load,
                    score,
                    ..
                } => {
                    let i = slot(&mut out, *config, label);
                    out[i].knee_load = *knee_load;
                    out[i].best_load = *best_load;
                    out[i].score = *score;
                }
                Decision::ConfigDropped {
                    config,
                    label,
                    round,
                    evidence,
                } => {
                    let i = slot(&mut out, *config, label);
                    out[i].standing = Standing::Dropped {
                        round: *round,
                        evidence: evidence.clone(),
                    };
                }
                Decision::ConfigExcluded { config, label, why } => {
                    let i = slot(&mut out, *config, label);
                    out[i].standing = Standing::Excluded { why: why.clone() };
                }
                _ => {}
            }
        }
        out.sort_by_key(|c| c.config);
        out
    }

    /// The leader at the end of the last round logged (an unfinished
    /// search's best so far), with that round.
    pub fn leader_so_far(&self) -> Option<(usize, u32)> {
        self.decisions.iter().rev().find_map(|d| match d {
            Decision::RoundEnded {
                leader: Some(l),
                round,
                ..
            } => Some((*l, *round)),
            _ => None,
        })
    }
}

/// Seconds a record's point ran (0 when its times are missing).
fn duration(p: &PointRecord) -> f64 {
    if p.start_ts > 0.0 && p.end_ts > p.start_ts {
        p.end_ts - p.start_ts
    } else {
        0.0
    }
}

/// What the probe rows say was spent: one point each, their requests and seconds.
pub fn spent_of(probes: &[PointRecord]) -> Spent {
    Spent {
        points: probes.len() as u64,
        requests: probes.iter().map(|p| p.requests).sum(),
        seconds: Some(probes.iter().map(duration).sum()),
    }
}

// ---- text both reports show -----------------------------------------------

/// A load on the search's axis: `c=8`, `rate=2.5`, `–` when unknown.
pub fn load_text(axis: &str, load: Option<f64>) -> String {
    let Some(v) = load.filter(|v| v.is_finite()) else {
        return MISSING.to_string();
    };
    let n = if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        cells::num(Some(v))
    };
    match axis {
        "concurrency" => format!("c={n}"),
        "request_rate" => format!("rate={n}"),
        _ => n,
    }
}

/// The unit of a figure: `tok/s`, `req/s`, `ms`.
pub fn unit(figure: &str) -> &'static str {
    if figure.ends_with("_ms") {
        "ms"
    } else if figure.ends_with("_rps") || figure == "requests_per_s" {
        "req/s"
    } else {
        "tok/s"
    }
}

/// A percentage of `part` in `whole`: `2.8%`; `None` when `whole` is not positive.
fn percent(part: f64, whole: f64) -> Option<String> {
    (whole > 0.0 && part.is_finite() && whole.is_finite())
        .then(|| format!("{:.1}%", 100.0 * part / whole))
}

/// A score in words: `512.3 ± 12.1 tok/s`, or for the highest load
/// within the limits `c=8 (within the limits beyond noise up to c=8; first bad c=16; 120.0 tok/s there)`.
pub fn score_text(score: Option<&Score>, figure: &str, axis: &str) -> String {
    match score {
        None => format!("{MISSING} (no score: no load counted)"),
        Some(Score::Rate { estimate }) => match estimate.value {
            Some(_) => format!("{} {}", estimate.text(), unit(figure)),
            None => format!("{MISSING} (no value logged)"),
        },
        Some(Score::Load {
            value,
            lo,
            hi_excl,
            tie,
        }) => {
            let mut s = load_text(axis, *value);
            let mut notes = Vec::new();
            match lo {
                Some(l) if *l > 0.0 => notes.push(format!(
                    "within the limits beyond noise up to {}",
                    load_text(axis, Some(*l))
                )),
                _ => notes.push("not within the limits beyond noise at any load".into()),
            }
            match hi_excl {
                Some(h) => notes.push(format!("first bad {}", load_text(axis, Some(*h)))),
                None => notes.push("no bad load found".into()),
            }
            if let Some(t) = tie {
                notes.push(format!("{} tok/s there", cells::num(Some(*t))));
            }
            s.push_str(&format!(" ({})", notes.join("; ")));
            s
        }
        Some(Score::Unknown) => format!("{MISSING} (a score this version does not know)"),
    }
}

/// `z = 5.10, p < 0.001`, or the parts known.
fn z_text(z: Option<f64>, p: Option<f64>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(z) = z.filter(|z| z.is_finite()) {
        parts.push(format!("z = {z:.2}"));
    }
    if let Some(p) = p.filter(|p| p.is_finite()) {
        parts.push(format!("one-sided {}", cells::p_value(p)));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Who the leader is, in words: `config 2 (label)`.
fn config_name(log: &SearchLog, config: usize) -> String {
    match log.label_of(config) {
        Some(l) => format!("config {config} ({l})"),
        None => format!("config {config}"),
    }
}

/// A drop's evidence: `80.0 ± 2.0 tok/s vs the leader config 0 (…)'s
/// 100.0 ± 3.0 tok/s; z = 5.10, one-sided p < 0.001; rule: …`.
pub fn evidence_text(log: &SearchLog, e: &Evidence, axis: &str) -> String {
    let figure = log.figure();
    let mut s = format!(
        "{} vs the leader {}'s {}",
        score_text(e.score.as_ref(), figure, axis),
        e.leader
            .map_or_else(|| "(not logged)".to_string(), |l| config_name(log, l)),
        score_text(e.leader_score.as_ref(), figure, axis)
    );
    if let Some(z) = z_text(e.z, e.p_one_sided) {
        s.push_str(&format!("; {z}"));
    }
    if !e.rule.is_empty() {
        s.push_str(&format!("; rule: {}", e.rule));
    }
    s
}

/// A configuration's standing in a word or two: `contender`, `dropped in round 1`, `excluded`.
pub fn standing_text(standing: &Standing) -> String {
    match standing {
        Standing::Contender => "contender".into(),
        Standing::Dropped { round, .. } => format!("dropped in round {round}"),
        Standing::Excluded { .. } => "excluded".into(),
        Standing::Unknown => format!("{MISSING} (not logged)"),
    }
}

/// One line of the search's summary: a short key and its text.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Line {
    pub key: String,
    pub text: String,
}

fn line(key: &str, text: String) -> Line {
    Line {
        key: key.to_string(),
        text,
    }
}

/// The objective in words: `throughput: maximise throughput_tps over concurrency`.
fn objective_text(log: &SearchLog, axis: &str) -> String {
    let objective = log
        .started
        .as_ref()
        .map(|s| s.objective.clone())
        .filter(|o| !o.is_empty())
        .or_else(|| log.result.as_ref().map(|r| r.goal.objective.clone()))
        .filter(|o| !o.is_empty());
    let figure = log.figure();
    let over = if axis.is_empty() {
        String::new()
    } else {
        format!(" over {axis}")
    };
    match objective.as_deref() {
        None => format!("{MISSING} (tune.jsonl has no search_started line)"),
        Some("max_load_under_slo") => format!(
            "max_load_under_slo: the highest {} that meets every limit (equal loads ordered by {figure})",
            if axis.is_empty() { "load" } else { axis }
        ),
        Some(o) => format!("{o}: maximise {figure}{over}"),
    }
}

/// `(figure, value)` pairs of the limits, from an object or a list of pairs.
pub fn limits_of(v: &Value) -> Vec<(String, f64)> {
    match v {
        Value::Object(m) => m
            .iter()
            .filter_map(|(k, x)| x.as_f64().map(|x| (k.clone(), x)))
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|pair| {
                let p = pair.as_array()?;
                Some((p.first()?.as_str()?.to_string(), p.get(1)?.as_f64()?))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn limits_text(log: &SearchLog) -> String {
    let raw = log
        .started
        .as_ref()
        .map(|s| &s.limits)
        .filter(|l| !l.is_null())
        .or_else(|| log.result.as_ref().map(|r| &r.goal.limits));
    let Some(raw) = raw else {
        return format!("{MISSING} (not logged)");
    };
    let limits = limits_of(raw);
    if limits.is_empty() {
        return "none".into();
    }
    limits
        .iter()
        .map(|(k, v)| format!("{k} ≤ {} {}", cells::num(Some(*v)), unit(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A configuration's result in words: `label (config 2): 512.3 ± 12.1
/// tok/s at knee c=8, best load c=16`. `quote` marks up the label.
fn outcome_text(
    log: &SearchLog,
    c: &ConfigOutcome,
    axis: &str,
    quote: &dyn Fn(&str) -> String,
) -> String {
    format!(
        "{} (config {}): {}{}; knee {}, best load {}",
        quote(&c.label),
        c.config,
        score_text(c.score.as_ref(), log.figure(), axis),
        c.pooled
            .as_ref()
            .map_or(String::new(), |p| format!(", {}", p.text())),
        load_text(axis, c.knee_load),
        load_text(axis, c.best_load),
    )
}

/// Whether the runner-up is tied with the best, and on what evidence.
fn tie_text(log: &SearchLog, r: &TuneOutcome) -> String {
    let (Some(best), Some(ru)) = (&r.best, &r.runner_up) else {
        return format!("{MISSING} (no runner-up: fewer than two configurations scored)");
    };
    // the evidence the search logged, else a z-test on the two intervals
    let logged = match &ru.standing {
        Standing::Dropped { evidence, .. } => z_text(evidence.z, evidence.p_one_sided),
        _ => None,
    };
    let z = logged.or_else(|| match (best.score, ru.score) {
        (Some(Score::Rate { estimate: b }), Some(Score::Rate { estimate: o })) => {
            let key = log.figure();
            let (b, o) = (b.figure(key), o.figure(key));
            let se = verdict::standard_error(&b)
                .ok()?
                .hypot(verdict::standard_error(&o).ok()?);
            let z = (b.value? - o.value?) / se;
            (se > 0.0 && z.is_finite())
                .then(|| z_text(Some(z), Some(1.0 - verdict::normal_cdf(z))))
                .flatten()
        }
        _ => None,
    });
    let with = |s: &str| match &z {
        Some(z) => format!("{s} ({z})"),
        None => s.to_string(),
    };
    match r.tied {
        Some(true) => {
            with("tied within noise: the intervals cannot tell the best from the runner-up")
        }
        Some(false) if matches!(best.score, Some(Score::Load { .. })) => with(
            "the runner-up is worse beyond noise: its first bad load is at most the best's knee",
        ),
        Some(false) => {
            with("the runner-up is worse beyond noise: its interval lies wholly below the best's")
        }
        None => format!("{MISSING} (the result does not say)"),
    }
}

/// The search's summary lines, the same in report.md and report.html:
/// objective, limits, space and budget, best, runner-up and tie, why it
/// stopped, and what it cost against the full product. `quote` marks up
/// a configuration label (backticks in Markdown).
pub fn summary(run: &RunData, log: &SearchLog, quote: &dyn Fn(&str) -> String) -> Vec<Line> {
    let probes = &run.probes;
    let axis = log.load_axis(probes);
    let mut out = vec![
        line("Objective", objective_text(log, axis)),
        line("Limits", limits_text(log)),
    ];
    let full = log.full_product(probes);
    if let Some(s) = &log.started {
        let mut space = format!("{} configuration(s)", s.configs.len());
        if let Some(p) = full.points {
            space.push_str(&format!(", {p} point(s)"));
            if let Some(r) = full.requests {
                space.push_str(&format!(" ({r} requests)"));
            }
            space.push_str(" in the full product");
        }
        space.push_str(&format!("; budget: {}", s.budget.text()));
        if let Some(seed) = s.seed {
            space.push_str(&format!("; seed {seed}"));
        }
        out.push(line("Search space", space));
    }
    if log.resumes > 0 {
        out.push(line(
            "Resumed",
            format!(
                "{} time(s); the decisions continue the same search",
                log.resumes
            ),
        ));
    }
    match &log.result {
        Some(r) => {
            out.push(line(
                "Best",
                r.best.as_ref().map_or_else(
                    || format!("{MISSING} (no configuration counted: every one was excluded or missed the limits)"),
                    |b| outcome_text(log, b, axis, quote),
                ),
            ));
            out.push(line(
                "Runner-up",
                r.runner_up.as_ref().map_or_else(
                    || format!("{MISSING} (no second configuration counted)"),
                    |b| outcome_text(log, b, axis, quote),
                ),
            ));
            out.push(line("Tie", tie_text(log, r)));
            out.push(line(
                "Stopped",
                r.stop.as_ref().map_or_else(
                    || format!("{MISSING} (the result records no stop)"),
                    Stop::text,
                ),
            ));
        }
        None => {
            out.push(line("Best", format!("{MISSING} ({UNFINISHED})")));
            if let Some((leader, round)) = log.leader_so_far() {
                out.push(line(
                    "Leader so far",
                    format!(
                        "{} after round {round}",
                        match log.label_of(leader) {
                            Some(l) => format!("{} (config {leader})", quote(l)),
                            None => format!("config {leader}"),
                        }
                    ),
                ));
            }
            out.push(line("Stopped", UNFINISHED.to_string()));
        }
    }
    out.push(line("Cost", cost_text(log, run)));
    out
}

/// `12 of 432 points (2.8%), 288 of 8176 requests (3.5%), 42.1 s measured
/// of an estimated 25.0 min for the full product (2.8%); 50.2 s wall clock`.
pub fn cost_text(log: &SearchLog, run: &RunData) -> String {
    let spent = log.spent(&run.probes);
    let full = log.full_product(&run.probes);
    let of = |part: u64, whole: Option<u64>, what: &str| match whole {
        Some(w) => format!(
            "{part} of {w} {what}{}",
            percent(part as f64, w as f64).map_or_else(String::new, |p| format!(" ({p})"))
        ),
        None => format!("{part} {what} (full product: {MISSING}, not logged)"),
    };
    let mut s = format!(
        "{}, {}, ",
        of(spent.points, full.points, "points"),
        of(spent.requests, full.requests, "requests")
    );
    let seconds = spent.seconds.filter(|s| s.is_finite());
    match (seconds, full.estimated_s.filter(|s| s.is_finite())) {
        (Some(m), Some(e)) => s.push_str(&format!(
            "{} of probes (server starts and warmups included) against an estimated {} of load alone for the full product{} (an upper bound: the full product's starts and warmups are not in the estimate)",
            cells::duration(m),
            cells::duration(e),
            percent(m, e).map_or_else(String::new, |p| format!(" ({p})"))
        )),
        (Some(m), None) => s.push_str(&format!(
            "{} of probes (full product's time: {MISSING}, no probe measured a request rate to estimate it from)",
            cells::duration(m)
        )),
        (None, _) => s.push_str(&format!("seconds measured: {MISSING} (not logged)")),
    }
    if let Some(w) = log
        .result
        .as_ref()
        .and_then(|r| r.wall_s)
        .filter(|w| w.is_finite())
    {
        s.push_str(&format!("; {} wall clock", cells::duration(w)));
    }
    if !log.finished() {
        s.push_str(" so far");
    }
    s
}

/// The columns of the configurations table.
pub const CONFIG_COLUMNS: [&str; 8] = [
    "config",
    "configuration",
    "standing",
    "score",
    "dropped on / excluded because",
    "knee load",
    "best load",
    "points measured",
];

/// One row per configuration, in configuration order (see [`CONFIG_COLUMNS`]).
pub fn config_rows(run: &RunData, log: &SearchLog) -> Vec<Vec<String>> {
    let axis = log.load_axis(&run.probes);
    let best = log
        .result
        .as_ref()
        .and_then(|r| r.best.as_ref())
        .map(|b| b.config);
    let runner_up = log
        .result
        .as_ref()
        .and_then(|r| r.runner_up.as_ref())
        .map(|b| b.config);
    let knee_missing = if log.finished() {
        format!("{MISSING} (none: no load counted)")
    } else {
        format!("{MISSING} (not found yet)")
    };
    log.configs(&run.probes)
        .iter()
        .map(|c| {
            let mut standing = standing_text(&c.standing);
            if Some(c.config) == best {
                standing.push_str(", best");
            } else if Some(c.config) == runner_up {
                standing.push_str(", runner-up");
            }
            let why = match &c.standing {
                Standing::Dropped { evidence, .. } => evidence_text(log, evidence, axis),
                Standing::Excluded { why } if !why.is_empty() => why.clone(),
                Standing::Excluded { .. } => format!("{MISSING} (no reason logged)"),
                _ => MISSING.to_string(),
            };
            let load = |l: Option<f64>| match l {
                Some(_) => load_text(axis, l),
                None => knee_missing.clone(),
            };
            vec![
                c.config.to_string(),
                c.label.clone(),
                standing,
                score_text(c.score.as_ref(), log.figure(), axis),
                why,
                load(c.knee_load),
                load(c.best_load),
                c.points.to_string(),
            ]
        })
        .collect()
}

/// The columns of the Pareto table.
pub const PARETO_COLUMNS: [&str; 5] = [
    "config",
    "configuration",
    "load",
    "throughput (tok/s)",
    "e2e p50 (ms)",
];

/// The Pareto front of throughput against e2e p50 as the result gives it,
/// or why there is none.
pub fn pareto_rows(run: &RunData, log: &SearchLog) -> Result<Vec<Vec<String>>, String> {
    let axis = log.load_axis(&run.probes);
    let Some(r) = &log.result else {
        return Err(format!(
            "{MISSING} ({UNFINISHED}: the front is drawn up at its end)"
        ));
    };
    if r.pareto.is_empty() {
        return Err(format!(
            "{MISSING} (no probe counted with both a throughput and an e2e p50)"
        ));
    }
    Ok(r.pareto
        .iter()
        .map(|p| {
            vec![
                p.config.to_string(),
                p.label.clone(),
                load_text(axis, p.load),
                cells::num(p.throughput_tps),
                cells::num(p.latency_ms),
            ]
        })
        .collect())
}

/// Why a load was probed, in words.
pub fn why_text(why: &str) -> String {
    match why {
        "start" => "the lowest load, first".into(),
        "doubling" => "still rising: the next load by doubling".into(),
        "bisect_above" => "between the best load and the first bad one above it".into(),
        "bisect_knee" => "between a load below the plateau and the plateau's lowest".into(),
        "bisect_limit" => "between the last load within the limits and the first beyond".into(),
        "refine" => "a contender's chosen load, measured again with more requests".into(),
        "" => format!("{MISSING} (not logged)"),
        other => other.to_string(),
    }
}

fn spent_text(s: &Spent) -> String {
    format!(
        "{} points, {} requests, {}",
        s.points,
        s.requests,
        s.seconds
            .filter(|x| x.is_finite())
            .map_or_else(|| format!("{MISSING} s"), cells::duration)
    )
}

/// The columns of the decisions table.
pub const DECISION_COLUMNS: [&str; 5] = ["probe", "round", "decision", "configuration", "details"];

/// One row per decision, in order (see [`DECISION_COLUMNS`]).
pub fn decision_rows(run: &RunData, log: &SearchLog) -> Vec<Vec<String>> {
    let axis = log.load_axis(&run.probes);
    let name = |c: usize, label: &str| {
        if label.is_empty() {
            log.label_of(c).unwrap_or_default().to_string()
        } else {
            label.to_string()
        }
    };
    let row =
        |probe: Option<u64>, round: Option<u32>, what: &str, config: String, details: String| {
            vec![
                probe.map_or_else(String::new, |p| p.to_string()),
                round.map_or_else(String::new, |r| r.to_string()),
                what.to_string(),
                config,
                details,
            ]
        };
    log.decisions
        .iter()
        .map(|d| match d {
            Decision::ProbeChosen {
                probe,
                config,
                label,
                load,
                requests,
                round,
                why,
            } => row(
                Some(*probe),
                Some(*round),
                "probe chosen",
                name(*config, label),
                format!(
                    "{}, {requests} requests: {}",
                    load_text(axis, *load),
                    why_text(why)
                ),
            ),
            Decision::PointFailed {
                probe,
                config,
                label,
                load,
                why,
            } => row(
                Some(*probe),
                None,
                "point failed",
                name(*config, label),
                format!("{}: {why}", load_text(axis, *load)),
            ),
            Decision::ConfigExcluded { config, label, why } => row(
                None,
                None,
                "configuration excluded",
                name(*config, label),
                why.clone(),
            ),
            Decision::KneeFound {
                config,
                label,
                round,
                knee_load,
                best_load,
                score,
            } => row(
                None,
                Some(*round),
                "knee found",
                name(*config, label),
                format!(
                    "knee {}, best load {}; score {}",
                    load_text(axis, *knee_load),
                    load_text(axis, *best_load),
                    score_text(score.as_ref(), log.figure(), axis)
                ),
            ),
            Decision::ConfigDropped {
                config,
                label,
                round,
                evidence,
            } => row(
                None,
                Some(*round),
                "configuration dropped",
                name(*config, label),
                evidence_text(log, evidence, axis),
            ),
            Decision::RoundEnded {
                round,
                requests_per_probe,
                leader,
                survivors,
            } => row(
                None,
                Some(*round),
                "round ended",
                leader.map_or_else(String::new, |l| name(l, "")),
                format!(
                    "{requests_per_probe} requests a probe; leader: {}; still in: {}",
                    leader.map_or_else(|| "none".to_string(), |l| format!("config {l}")),
                    if survivors.is_empty() {
                        "none".to_string()
                    } else {
                        survivors
                            .iter()
                            .map(|c| format!("config {c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ),
            Decision::BudgetExhausted { limit, spent } => row(
                None,
                None,
                "budget exhausted",
                String::new(),
                format!("the {limit} limit; spent {}", spent_text(spent)),
            ),
            Decision::Finished { stop, spent } => row(
                None,
                None,
                "finished",
                String::new(),
                format!(
                    "{}; spent {}",
                    stop.as_ref()
                        .map_or_else(|| format!("{MISSING} (no stop logged)"), Stop::text),
                    spent_text(spent)
                ),
            ),
            Decision::SearchResumed => row(
                None,
                None,
                "search resumed",
                String::new(),
                "the run was resumed; the decisions below continue the same search".into(),
            ),
            Decision::Other => row(
                None,
                None,
                "other",
                String::new(),
                "a decision this version of mlxrun does not know".into(),
            ),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
