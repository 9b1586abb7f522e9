//! Was the machine fit to measure on during a point? The point's system
//! health (swap before and after, available memory, pressure, zombies,
//! leftovers of earlier servers, whether memory came back after the last
//! configuration) and the quality flags derived from it: `clean`, or each
//! reason it is not.

use serde::Serialize;

use crate::gate::Release;
use crate::monitor::WindowStats;
use crate::spec::memory::MemorySection;

/// A point's system health (`system_health` in report.jsonl). Names follow
/// mlx-knife's emitter where the meaning matches (`swap_used_mb`,
/// `zombie_processes`, `quality_flags`); `None` = could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SystemHealth {
    /// Monitor samples inside the point (0: not monitored).
    pub samples: u64,
    /// Swap used when the point started (MB).
    pub swap_used_start_mb: Option<f64>,
    /// Swap used when the point ended (MB).
    pub swap_used_mb: Option<f64>,
    /// End minus start (MB).
    pub swap_growth_mb: Option<f64>,
    pub swap_used_max_mb: Option<f64>,
    pub ram_available_start_gb: Option<f64>,
    pub ram_available_min_gb: Option<f64>,
    pub ram_available_end_gb: Option<f64>,
    /// Highest memory pressure level seen: 1 normal, 2 warn, 4 critical.
    pub memory_pressure_peak: Option<u8>,
    /// Highest Linux PSI `some avg10` seen (percent of time stalled).
    pub psi_some_avg10_max: Option<f64>,
    /// Zombies among mlxrun's children and the servers' processes.
    pub zombie_processes: Option<u32>,
    /// Process groups of servers stopped earlier that still have members.
    pub leftover_processes: u32,
    /// The wait for memory after the previous configuration stopped, when
    /// this point is the first of a configuration that followed one.
    pub release: Option<Release>,
    pub quality_flags: Vec<String>,
}

impl SystemHealth {
    /// The machine during a point, from the monitor's window over it, the
    /// zombies and leftover groups counted at its end, and the memory
    /// release wait before it (flags are added later, by [`quality_flags`]).
    pub fn from_window(
        w: &WindowStats,
        zombie_processes: Option<u32>,
        leftover_processes: u32,
        release: Option<Release>,
    ) -> SystemHealth {
        SystemHealth {
            samples: w.samples,
            swap_used_start_mb: w.swap_used_start_mb,
            swap_used_mb: w.swap_used_end_mb,
            swap_growth_mb: w
                .swap_used_start_mb
                .zip(w.swap_used_end_mb)
                .map(|(a, b)| b - a),
            swap_used_max_mb: w.swap_used_max_mb,
            ram_available_start_gb: w.ram_available_start_gb,
            ram_available_min_gb: w.ram_available_min_gb,
            ram_available_end_gb: w.ram_available_end_gb,
            memory_pressure_peak: w.memory_pressure_peak,
            psi_some_avg10_max: w.psi_some_avg10_max,
            zombie_processes,
            leftover_processes,
            release,
            quality_flags: Vec::new(),
        }
    }
}

/// Every flag a point can carry, in the order they are listed.
pub const QUALITY_FLAGS: &[&str] = &[
    "clean",
    "unmonitored",
    "degraded_swap",
    "degraded_memory",
    "degraded_pressure",
    "degraded_zombies",
    "degraded_release",
    "degraded_client",
    "errors",
];

/// What each flag of [`QUALITY_FLAGS`] means, in a few words (report legends).
pub fn flag_meaning(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "clean" => "no other flag applied: the machine was fit to measure on",
        "unmonitored" => "no monitor sample fell inside the point",
        "degraded_swap" => "swap grew by more than `memory.swap_growth_mb`",
        "degraded_memory" => "available memory fell below `memory.low_available_gb`",
        "degraded_pressure" => "memory pressure reached warn or critical",
        "degraded_zombies" => "zombies or leftover server processes were present",
        "degraded_release" => {
            "memory had not come back after the previous configuration when this one started"
        }
        "degraded_client" => "the client was near its calibrated ceiling or lagging",
        "errors" => "some requests failed",
        _ => return None,
    })
}

/// The point's flags: `["clean"]`, or the reasons it is not.
///
/// - `unmonitored`: no monitor sample fell inside the point;
/// - `degraded_swap`: swap grew by more than `memory.swap_growth_mb`;
/// - `degraded_memory`: available memory fell below `memory.low_available_gb`;
/// - `degraded_pressure`: memory pressure reached warn (2) or critical (4);
/// - `degraded_zombies`: zombies or leftover server processes;
/// - `degraded_release`: memory had not come back after the previous
///   configuration when this one started;
/// - `degraded_client`: the client was near its calibrated ceiling or lagging;
/// - `errors`: some requests failed.
pub fn quality_flags(
    h: &SystemHealth,
    m: &MemorySection,
    client_check: &str,
    errors: u64,
) -> Vec<String> {
    let mut f = Vec::new();
    if h.samples == 0 {
        f.push("unmonitored");
    }
    if h.swap_growth_mb.is_some_and(|g| g > m.swap_growth_mb) {
        f.push("degraded_swap");
    }
    if h.ram_available_min_gb
        .is_some_and(|a| a < m.low_available_gb)
    {
        f.push("degraded_memory");
    }
    if h.memory_pressure_peak.is_some_and(|p| p >= 2) {
        f.push("degraded_pressure");
    }
    if h.zombie_processes.is_some_and(|z| z > 0) || h.leftover_processes > 0 {
        f.push("degraded_zombies");
    }
    if h.release.is_some_and(|r| !r.released) {
        f.push("degraded_release");
    }
    if client_check.contains("near_ceiling") || client_check.contains("lagging") {
        f.push("degraded_client");
    }
    if errors > 0 {
        f.push("errors");
    }
    if f.is_empty() {
        f.push("clean");
    }
    f.into_iter().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> SystemHealth {
        SystemHealth {
            samples: 10,
            swap_used_start_mb: Some(0.0),
            swap_used_mb: Some(50.0),
            swap_growth_mb: Some(50.0),
            ram_available_min_gb: Some(10.0),
            memory_pressure_peak: Some(1),
            zombie_processes: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn a_healthy_point_is_clean() {
        let m = MemorySection::default();
        assert_eq!(quality_flags(&healthy(), &m, "ok", 0), ["clean"]);
        // uncalibrated is not a fault of the machine
        assert_eq!(
            quality_flags(&healthy(), &m, "uncalibrated (run mlxrun calibrate)", 0),
            ["clean"]
        );
    }

    #[test]
    fn each_reason_raises_its_flag() {
        let m = MemorySection::default();
        let mut h = healthy();
        h.swap_growth_mb = Some(150.0);
        h.ram_available_min_gb = Some(1.5);
        h.memory_pressure_peak = Some(4);
        h.leftover_processes = 1;
        h.release = Some(Release {
            waited_s: 60.0,
            target_bytes: 8 << 30,
            available_bytes: Some(1),
            pressure: Some(1),
            released: false,
        });
        let f = quality_flags(&h, &m, "near_ceiling (80% of 10000 req/s)", 3);
        assert_eq!(
            f,
            [
                "degraded_swap",
                "degraded_memory",
                "degraded_pressure",
                "degraded_zombies",
                "degraded_release",
                "degraded_client",
                "errors"
            ]
        );
        for flag in &f {
            assert!(QUALITY_FLAGS.contains(&flag.as_str()));
        }
        for flag in QUALITY_FLAGS {
            assert!(flag_meaning(flag).is_some(), "{flag} has no meaning");
        }
        assert_eq!(flag_meaning("made_up"), None);
        let unmonitored = SystemHealth::default();
        assert_eq!(quality_flags(&unmonitored, &m, "ok", 0), ["unmonitored"]);
        let mut z = healthy();
        z.zombie_processes = Some(2);
        assert_eq!(
            quality_flags(&z, &m, "lagging (send lag p99 9.0 ms)", 0),
            ["degraded_zombies", "degraded_client"]
        );
    }
}
