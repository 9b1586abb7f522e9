//! Was the machine fit to measure on during a point? The point's system
//! health (swap before and after, available memory, pressure, zombies,
//! leftovers of earlier servers, whether memory came back after the last
//! configuration, CPU taken by other programs, an accelerator already busy
//! before the servers started, macOS thermal pressure and Low Power Mode)
//! and the quality flags derived from it and from the point's own requests:
//! `clean`, or each reason it is not.

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
    /// Cores busy with programs other than mlxrun and its servers: mean
    /// over the point, the most in one monitor interval, and the mean as a
    /// percentage of all CPUs.
    pub other_cpu_cores_avg: Option<f64>,
    pub other_cpu_cores_max: Option<f64>,
    pub other_cpu_pct_avg: Option<f64>,
    /// The busiest GPU's utilisation (percent) over about a second before
    /// the point's configuration started its servers.
    pub accelerator_busy_before_pct: Option<f64>,
    /// macOS thermal pressure peak: 0 nominal, 1 moderate, 2 heavy,
    /// 3 trapping, 4 sleeping.
    pub thermal_pressure_peak: Option<u8>,
    /// macOS `pmset -g therm`: highest thermal and performance warning
    /// levels (0 = none recorded), lowest CPU speed limit (percent).
    pub thermal_warning_level_max: Option<u32>,
    pub performance_warning_level_max: Option<u32>,
    pub cpu_speed_limit_min: Option<u32>,
    /// macOS Low Power Mode was on during the point.
    pub low_power_mode: Option<bool>,
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
            other_cpu_cores_avg: w.other_cpu_cores_avg,
            other_cpu_cores_max: w.other_cpu_cores_max,
            other_cpu_pct_avg: w.other_cpu_pct_avg,
            accelerator_busy_before_pct: w.accelerator_busy_before_pct,
            thermal_pressure_peak: w.thermal_pressure_peak,
            thermal_warning_level_max: w.thermal_warning_level_max,
            performance_warning_level_max: w.performance_warning_level_max,
            cpu_speed_limit_min: w.cpu_speed_limit_min,
            low_power_mode: w.low_power_mode,
            quality_flags: Vec::new(),
        }
    }
}

/// A point is `noisy_neighbour` when programs other than mlxrun and its
/// servers kept more than `memory.noisy_neighbour_cores` (0.5) cores busy
/// on average over it, and that was more than this share of all CPUs (percent), so a big
/// machine's background (a few daemons on 128 cores) does not flag every
/// point, while on a laptop half a core of a browser does.
pub const NOISY_NEIGHBOUR_SHARE_PCT: f64 = 5.0;

/// A point is `accelerator_busy` when its configuration's accelerator was
/// busier than this (percent) before its servers started, with nothing of
/// mlxrun's on it (mlx-knife refuses to run above 10%).
pub const ACCELERATOR_BUSY_PCT: f64 = 10.0;

/// A point is `thermal_pressure` from this macOS thermal pressure level
/// on: 2, heavy, where Apple silicon starts to throttle (1, moderate, is
/// warm but not yet slowed). Any thermal or performance warning level
/// above 0, or a CPU speed limit below 100%, flags it too.
pub const THERMAL_PRESSURE_LEVEL: u8 = 2;

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
    "noisy_neighbour",
    "accelerator_busy",
    "thermal_pressure",
    "low_power_mode",
    "not_warmed",
    "unsteady",
    "outliers",
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
        "noisy_neighbour" => {
            "other programs kept more than 0.5 cores (and 5% of the CPUs) busy during the point"
        }
        "accelerator_busy" => {
            "the GPU was more than 10% busy before the configuration's servers started"
        }
        "thermal_pressure" => {
            "macOS thermal pressure reached heavy, or a thermal warning or CPU speed limit applied"
        }
        "low_power_mode" => "macOS Low Power Mode was on",
        "unsteady" => {
            "the point's own trend: first and last third of its requests differ beyond noise"
        }
        "not_warmed" => {
            "the shape warmup before the point stopped without two rounds agreeing ([run.warmup])"
        }
        "outliers" => "heavy outliers: ≥1% of E2E beyond the far fence on log latency (stalls)",
        "errors" => "some requests failed",
        _ => return None,
    })
}

/// The point's flags from the machine, the client check and errors:
/// [`quality_flags_with`] without flags from the point's requests.
pub fn quality_flags(
    h: &SystemHealth,
    m: &MemorySection,
    client_check: &str,
    errors: u64,
) -> Vec<String> {
    quality_flags_with(h, m, client_check, errors, &[])
}

/// The point's flags: `["clean"]`, or the reasons it is not, in the order
/// of [`QUALITY_FLAGS`] (a flag it does not list comes last). `requests`
/// are flags computed from the point's own requests elsewhere (`unsteady`,
/// `outliers`); any of them, like any reason below, means not `clean`.
///
/// - `unmonitored`: no monitor sample fell inside the point;
/// - `degraded_swap`: swap grew by more than `memory.swap_growth_mb`;
/// - `degraded_memory`: available memory fell below `memory.low_available_gb`;
/// - `degraded_pressure`: memory pressure reached warn (2) or critical (4);
/// - `degraded_zombies`: zombies or leftover server processes;
/// - `degraded_release`: memory had not come back after the previous
///   configuration when this one started;
/// - `degraded_client`: the client was near its calibrated ceiling or lagging;
/// - `noisy_neighbour`: other programs took more than
///   `memory.noisy_neighbour_cores` cores and [`NOISY_NEIGHBOUR_SHARE_PCT`]% of
///   the CPUs on average (the share is not required when unknown);
/// - `accelerator_busy`: the GPU was busier than [`ACCELERATOR_BUSY_PCT`]
///   before the configuration's servers started;
/// - `thermal_pressure`: macOS thermal pressure reached
///   [`THERMAL_PRESSURE_LEVEL`], a thermal or performance warning level
///   was above 0, or the CPU speed limit below 100%;
/// - `low_power_mode`: macOS Low Power Mode was on;
/// - `errors`: some requests failed.
pub fn quality_flags_with(
    h: &SystemHealth,
    m: &MemorySection,
    client_check: &str,
    errors: u64,
    requests: &[&str],
) -> Vec<String> {
    let mut f: Vec<&str> = Vec::new();
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
    if h.other_cpu_cores_avg
        .is_some_and(|c| c > m.noisy_neighbour_cores)
        && h.other_cpu_pct_avg
            .is_none_or(|p| p > NOISY_NEIGHBOUR_SHARE_PCT)
    {
        f.push("noisy_neighbour");
    }
    if h.accelerator_busy_before_pct
        .is_some_and(|b| b > ACCELERATOR_BUSY_PCT)
    {
        f.push("accelerator_busy");
    }
    if h.thermal_pressure_peak
        .is_some_and(|p| p >= THERMAL_PRESSURE_LEVEL)
        || h.thermal_warning_level_max.is_some_and(|l| l > 0)
        || h.performance_warning_level_max.is_some_and(|l| l > 0)
        || h.cpu_speed_limit_min.is_some_and(|l| l < 100)
    {
        f.push("thermal_pressure");
    }
    if h.low_power_mode == Some(true) {
        f.push("low_power_mode");
    }
    if errors > 0 {
        f.push("errors");
    }
    for r in requests {
        if !r.is_empty() && *r != "clean" && !f.contains(r) {
            f.push(r);
        }
    }
    let rank = |flag: &str| {
        QUALITY_FLAGS
            .iter()
            .position(|k| *k == flag)
            .unwrap_or(QUALITY_FLAGS.len())
    };
    f.sort_by_key(|flag| rank(flag));
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

    fn flags(h: &SystemHealth) -> Vec<String> {
        quality_flags(h, &MemorySection::default(), "ok", 0)
    }

    #[test]
    fn a_noisy_neighbour_needs_half_a_core_and_a_share_of_the_machine() {
        let mut h = healthy();
        h.other_cpu_cores_avg = Some(0.5);
        h.other_cpu_pct_avg = Some(25.0);
        assert_eq!(flags(&h), ["clean"], "0.5 cores is not above 0.5");
        h.other_cpu_cores_avg = Some(0.51);
        assert_eq!(flags(&h), ["noisy_neighbour"]);
        // 0.8 cores of a 64-core machine (1.25%): background, not a neighbour
        h.other_cpu_cores_avg = Some(0.8);
        h.other_cpu_pct_avg = Some(1.25);
        assert_eq!(flags(&h), ["clean"]);
        // share unknown: the cores alone decide
        h.other_cpu_pct_avg = None;
        assert_eq!(flags(&h), ["noisy_neighbour"]);
        // a brief spike (the maximum) alone does not flag
        let mut spike = healthy();
        spike.other_cpu_cores_avg = Some(0.1);
        spike.other_cpu_pct_avg = Some(5.0);
        spike.other_cpu_cores_max = Some(2.0);
        assert_eq!(flags(&spike), ["clean"]);
    }

    #[test]
    fn a_busy_accelerator_before_the_servers_flags_the_point() {
        let mut h = healthy();
        h.accelerator_busy_before_pct = Some(10.0);
        assert_eq!(
            flags(&h),
            ["clean"],
            "10% is mlx-knife's limit, not above it"
        );
        h.accelerator_busy_before_pct = Some(10.1);
        assert_eq!(flags(&h), ["accelerator_busy"]);
        h.accelerator_busy_before_pct = None;
        assert_eq!(flags(&h), ["clean"], "unknown is not busy");
    }

    #[test]
    fn thermal_pressure_from_any_macos_source() {
        let mut h = healthy();
        h.thermal_pressure_peak = Some(1);
        h.thermal_warning_level_max = Some(0);
        h.performance_warning_level_max = Some(0);
        h.cpu_speed_limit_min = Some(100);
        assert_eq!(flags(&h), ["clean"], "moderate pressure is not throttling");
        let mut heavy = h.clone();
        heavy.thermal_pressure_peak = Some(2);
        assert_eq!(flags(&heavy), ["thermal_pressure"]);
        let mut warned = h.clone();
        warned.thermal_warning_level_max = Some(5);
        assert_eq!(flags(&warned), ["thermal_pressure"]);
        let mut perf = h.clone();
        perf.performance_warning_level_max = Some(1);
        assert_eq!(flags(&perf), ["thermal_pressure"]);
        let mut limited = h.clone();
        limited.cpu_speed_limit_min = Some(99);
        assert_eq!(flags(&limited), ["thermal_pressure"]);
        // Linux: nothing read, nothing flagged
        assert_eq!(flags(&healthy()), ["clean"]);
    }

    #[test]
    fn low_power_mode_flags_the_point_only_when_on() {
        let mut h = healthy();
        h.low_power_mode = Some(false);
        assert_eq!(flags(&h), ["clean"]);
        h.low_power_mode = Some(true);
        assert_eq!(flags(&h), ["low_power_mode"]);
    }

    #[test]
    fn flags_from_the_requests_take_their_place_in_the_order() {
        let m = MemorySection::default();
        let h = healthy();
        assert_eq!(
            quality_flags_with(&h, &m, "ok", 2, &["outliers", "unsteady"]),
            ["unsteady", "outliers", "errors"]
        );
        let mut hot = healthy();
        hot.low_power_mode = Some(true);
        assert_eq!(
            quality_flags_with(&hot, &m, "ok", 0, &["outliers", "outliers"]),
            ["low_power_mode", "outliers"]
        );
        // a flag this list does not know comes last; "clean" and "" are not flags
        assert_eq!(
            quality_flags_with(&h, &m, "ok", 1, &["made_up", "clean", ""]),
            ["errors", "made_up"]
        );
        assert_eq!(quality_flags_with(&h, &m, "ok", 0, &["clean"]), ["clean"]);
        assert_eq!(quality_flags_with(&h, &m, "ok", 0, &[]), ["clean"]);
    }

    #[test]
    fn clean_never_stands_beside_another_flag() {
        let m = MemorySection::default();
        // every reason on its own, and all of them together
        let reasons: Vec<fn(&mut SystemHealth)> = vec![
            |h| h.samples = 0,
            |h| h.swap_growth_mb = Some(500.0),
            |h| h.ram_available_min_gb = Some(0.1),
            |h| h.memory_pressure_peak = Some(2),
            |h| h.zombie_processes = Some(1),
            |h| h.leftover_processes = 2,
            |h| {
                h.release = Some(Release {
                    waited_s: 1.0,
                    target_bytes: 1,
                    available_bytes: None,
                    pressure: None,
                    released: false,
                })
            },
            |h| h.other_cpu_cores_avg = Some(3.0),
            |h| h.accelerator_busy_before_pct = Some(50.0),
            |h| h.thermal_pressure_peak = Some(3),
            |h| h.cpu_speed_limit_min = Some(50),
            |h| h.low_power_mode = Some(true),
        ];
        let mut all = healthy();
        for (k, set) in reasons.iter().enumerate() {
            let mut h = healthy();
            set(&mut h);
            set(&mut all);
            let f = flags(&h);
            assert_eq!(f.len(), 1, "reason {k}: {f:?}");
            assert_ne!(f[0], "clean", "reason {k}");
        }
        let f = quality_flags_with(
            &all,
            &m,
            "lagging",
            1,
            &["not_warmed", "unsteady", "outliers"],
        );
        assert!(!f.iter().any(|x| x == "clean"), "{f:?}");
        let mut listed: Vec<&str> = QUALITY_FLAGS[1..].to_vec();
        // (zombies and leftovers share degraded_zombies, the two thermal
        // readings thermal_pressure; the client check and the errors add theirs)
        listed.sort();
        let mut got: Vec<&str> = f.iter().map(String::as_str).collect();
        got.sort();
        assert_eq!(got, listed, "every flag but clean, once");
        for request_flag in ["not_warmed", "unsteady", "outliers"] {
            let f = quality_flags_with(&healthy(), &m, "ok", 0, &[request_flag]);
            assert_eq!(f, [request_flag]);
        }
        for flag in QUALITY_FLAGS {
            assert!(flag_meaning(flag).is_some(), "{flag} has no meaning");
        }
    }
}
