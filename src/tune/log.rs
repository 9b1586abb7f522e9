//! Every decision of a search as a record a runner can write, one JSON
//! object a line (`tune.jsonl`): which probe and why, what failed, which
//! configuration was dropped on what evidence, each knee, each round, and
//! why the search stopped.

use serde::Serialize;

use super::halving::Evidence;
use super::knee::{ProbeWhy, Score};

/// What the search has spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spent {
    pub points: u64,
    pub requests: u64,
    pub seconds: f64,
}

/// The budget limit that stopped a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Points,
    Requests,
    Seconds,
}

/// Why a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stop {
    /// One configuration is left; the others were worse beyond noise.
    OneLeft,
    /// The contenders were measured with as many requests as the
    /// scenario's own points: what is left is tied within noise.
    FullPrecision,
    /// Every configuration was excluded or has no load that counts.
    NothingLeft,
    /// A budget limit was reached.
    Budget { limit: Limit },
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    ProbeChosen {
        probe: u64,
        config: usize,
        label: String,
        load_index: usize,
        load: f64,
        requests: u64,
        round: u32,
        why: ProbeWhy,
    },
    PointFailed {
        probe: u64,
        config: usize,
        label: String,
        load: f64,
        why: String,
    },
    ConfigExcluded {
        config: usize,
        label: String,
        why: String,
    },
    KneeFound {
        config: usize,
        label: String,
        round: u32,
        knee_load: Option<f64>,
        best_load: Option<f64>,
        score: Option<Score>,
    },
    ConfigDropped {
        config: usize,
        label: String,
        round: u32,
        evidence: Evidence,
    },
    RoundEnded {
        round: u32,
        requests_per_probe: u64,
        leader: Option<usize>,
        survivors: Vec<usize>,
    },
    BudgetExhausted {
        limit: Limit,
        spent: Spent,
    },
    Finished {
        stop: Stop,
        spent: Spent,
    },
}

impl Decision {
    /// The record as one line of JSON (no newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"decision\":\"unwritable\",\"why\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_tagged_json_lines() {
        let d = Decision::BudgetExhausted {
            limit: Limit::Points,
            spent: Spent {
                points: 3,
                requests: 72,
                seconds: 1.5,
            },
        };
        let v: serde_json::Value = serde_json::from_str(&d.to_json_line()).unwrap();
        assert_eq!(v["decision"], "budget_exhausted");
        assert_eq!(v["limit"], "points");
        assert_eq!(v["spent"]["requests"], 72);
        let f = Decision::Finished {
            stop: Stop::Budget {
                limit: Limit::Seconds,
            },
            spent: Spent::default(),
        };
        let v: serde_json::Value = serde_json::from_str(&f.to_json_line()).unwrap();
        assert_eq!(v["stop"]["kind"], "budget");
        assert_eq!(v["stop"]["limit"], "seconds");
    }
}
