//! `[tune]`: what a search over the scenario's matrix maximises, the
//! service-level limits it must respect, and what it may spend.
//!
//! The search itself lives in `crate::tune`; the checks that span several
//! fields in `crate::scenario::validate_tune`.

use serde::{Deserialize, Serialize};

use super::units::{PositiveMillis, Secs};

/// What the search maximises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Output tokens per second (`throughput_tps`).
    #[default]
    Throughput,
    /// Requests per second within `[slo]` (`goodput_rps`).
    Goodput,
    /// The highest load (concurrency or request rate) at which every limit
    /// of `[tune]` is met.
    MaxLoadUnderSlo,
}

impl Objective {
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Throughput => "throughput",
            Objective::Goodput => "goodput",
            Objective::MaxLoadUnderSlo => "max_load_under_slo",
        }
    }
}

/// Default growth of requests per probe from one halving round to the next.
pub const DEFAULT_HALVING_ETA: u32 = 3;
/// Default measurements of a configuration's chosen point before it may be
/// dropped.
pub const DEFAULT_MIN_PROBES: u32 = 1;

/// `[tune]`: the search's objective, limits and budget.
///
/// A budget of 0 (the default for each of `max_points`, `max_requests` and
/// `max_s`) is no limit: the search always ends by itself, after at most
/// about `2·log2(loads) + 1` probes per configuration for its knee and one
/// refinement probe or two per surviving configuration per halving round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TuneSection {
    pub objective: Objective,
    /// Limits on the point's figures (ms). With `max_load_under_slo` at
    /// least one is needed; with the other objectives they are constraints
    /// (a point missing one does not count).
    pub ttft_p50_ms: Option<PositiveMillis>,
    pub ttft_p99_ms: Option<PositiveMillis>,
    pub tpot_p50_ms: Option<PositiveMillis>,
    pub tpot_p99_ms: Option<PositiveMillis>,
    pub e2e_p50_ms: Option<PositiveMillis>,
    pub e2e_p99_ms: Option<PositiveMillis>,
    /// Refine every configuration to full precision and report each one's
    /// knee, instead of dropping the clearly worse ones.
    pub per_config: bool,
    /// Points measured at most; 0 = no limit.
    pub max_points: u64,
    /// Requests sent at most, over all points; 0 = no limit.
    pub max_requests: u64,
    /// Wall seconds of the search at most (server starts, warmups and
    /// measurement of its probes); 0 = no limit.
    pub max_s: Secs,
    /// Seed of the order configurations are probed in.
    pub seed: u64,
    /// Each halving round measures the contenders with this many times the
    /// requests of the round before (2–10).
    pub halving_eta: u32,
    /// Measurements of a configuration's chosen point before it may be
    /// dropped (1–10).
    pub min_probes: u32,
    /// Requests of a first-round probe; 0 = the point's requests divided by
    /// `halving_eta²`, at least 24 (a rate's interval needs 21) and, in a
    /// closed loop, 2 × the concurrency.
    pub probe_requests: u64,
}

impl Default for TuneSection {
    fn default() -> Self {
        TuneSection {
            objective: Objective::Throughput,
            ttft_p50_ms: None,
            ttft_p99_ms: None,
            tpot_p50_ms: None,
            tpot_p99_ms: None,
            e2e_p50_ms: None,
            e2e_p99_ms: None,
            per_config: false,
            max_points: 0,
            max_requests: 0,
            max_s: Secs::ZERO,
            seed: 0,
            halving_eta: DEFAULT_HALVING_ETA,
            min_probes: DEFAULT_MIN_PROBES,
            probe_requests: 0,
        }
    }
}

impl TuneSection {
    /// The limits that are set, as `(figure, ms)`, the figure named as in
    /// a point's intervals (`ttft_p99_ms`).
    pub fn limits(&self) -> Vec<(&'static str, f64)> {
        [
            ("ttft_p50_ms", self.ttft_p50_ms),
            ("ttft_p99_ms", self.ttft_p99_ms),
            ("tpot_p50_ms", self.tpot_p50_ms),
            ("tpot_p99_ms", self.tpot_p99_ms),
            ("e2e_p50_ms", self.e2e_p50_ms),
            ("e2e_p99_ms", self.e2e_p99_ms),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v.get())))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_table_and_refuses_bad_values() {
        let t: TuneSection = toml::from_str(
            "objective = \"max_load_under_slo\"\nttft_p99_ms = 500\ntpot_p50_ms = 50.5\nmax_s = 600\n",
        )
        .unwrap();
        assert_eq!(t.objective, Objective::MaxLoadUnderSlo);
        assert_eq!(
            t.limits(),
            vec![("ttft_p99_ms", 500.0), ("tpot_p50_ms", 50.5)]
        );
        assert_eq!(t.max_s.get(), 600.0);
        assert_eq!(t.halving_eta, 3);
        for bad in [
            "objective = \"fastest\"",
            "ttft_p99_ms = 0",
            "ttft_p99_ms = -5",
            "max_s = -1",
            "max_points = -1",
            "knee = 1",
        ] {
            assert!(toml::from_str::<TuneSection>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn objective_names_round_trip() {
        for o in [
            Objective::Throughput,
            Objective::Goodput,
            Objective::MaxLoadUnderSlo,
        ] {
            let v = toml::Value::try_from(o).unwrap();
            assert_eq!(v.as_str(), Some(o.as_str()));
        }
    }
}
