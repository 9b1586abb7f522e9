//! `[memory]`: the monitor's sampling interval, the memory gate (what a
//! server configuration may need, and what happens when it needs more), the
//! wait for memory to come back after servers stop, and the thresholds that
//! flag a point as measured on a degraded machine.

use serde::{Deserialize, Serialize};

/// What to do with a server configuration whose estimated need is over the limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// Refuse the whole run before anything starts (exit 3).
    #[default]
    Refuse,
    /// Run the rest; that configuration's points are recorded `skipped`.
    Skip,
}

impl OverLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            OverLimit::Refuse => "refuse",
            OverLimit::Skip => "skip",
        }
    }
}

/// `[memory]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemorySection {
    /// Milliseconds between two samples of `monitor.jsonl`.
    pub monitor_interval_ms: u64,
    /// A configuration may need at most this share of RAM (percent).
    pub limit_percent: f64,
    /// Added to the weights on disk to estimate a configuration's need (percent).
    pub headroom_percent: f64,
    /// `refuse` (the run) or `skip` (the configuration) when over the limit.
    pub over_limit: OverLimit,
    /// After servers stop, wait until this much memory is available again
    /// (GB; capped at 90% of what was available before they started).
    pub release_floor_gb: f64,
    /// How long to wait for that at most (seconds; 0 = do not wait).
    pub release_timeout_s: super::units::Secs,
    /// Swap growth during a point above this flags it `degraded_swap` (MB).
    pub swap_growth_mb: f64,
    /// Available memory below this during a point flags it `degraded_memory` (GB).
    pub low_available_gb: f64,
    /// Cores that processes outside mlxrun and its servers may keep busy
    /// on average during a point (and 5% of the CPUs) before it is flagged
    /// `noisy_neighbour`.
    pub noisy_neighbour_cores: f64,
}

impl Default for MemorySection {
    fn default() -> Self {
        MemorySection {
            monitor_interval_ms: 200,
            limit_percent: 70.0,
            headroom_percent: 20.0,
            over_limit: OverLimit::Refuse,
            release_floor_gb: 8.0,
            release_timeout_s: super::units::Secs::lit(60.0),
            swap_growth_mb: 100.0,
            low_available_gb: 2.0,
            noisy_neighbour_cores: 0.5,
        }
    }
}
