//! CPU taken by processes outside mlxrun and the process trees the monitor
//! follows (the servers): a noisy neighbour. Each sample, over the time
//! since the previous one:
//!
//! `other_cpu_cores` = machine busy cores − Σ tracked trees − mlxrun
//!
//! - machine busy cores: the share of all CPUs' ticks spent busy (user,
//!   nice, system, irq, softirq; idle, iowait and steal are not busy) ×
//!   the CPUs the counters cover;
//! - the trees: Σ `cpu_pct` / 100 of every tracked tree (the root and all
//!   its descendants: a server, its ranks, nginx and its workers). A tree
//!   whose root has exited counts 0; a tree not measured yet (its first
//!   sample) leaves the reading unknown;
//! - mlxrun: its own CPU time (`getrusage`, every thread: the client, the
//!   monitor) and that of the short commands the monitor runs (macOS
//!   `ioreg`, `vm_stat`, `notifyutil`, `pmset`, each with its supervisor),
//!   counted when each is reaped.
//!
//! The rest is other programs and what of mlxrun is in neither: the
//! supervisors of the servers (asleep in `poll`). The machine's counters
//! and the processes' are read at slightly different moments and tick at
//! 10 ms (on some virtual machines an idle CPU's ticks are even booked
//! late), so one interval's difference is noisy and can fall below 0. A
//! sample shows it clamped at 0; a window averages the signed values and
//! clamps only the mean, since clamping each interval first would turn
//! that noise into a bias upwards.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::procfs::CpuTimes;
use super::tree::InstanceSample;

/// Busy CPUs between two readings of the counters, in cores: the busy
/// share of all ticks × `cpus`. `None` when no tick passed, the counters
/// went backwards, or `cpus` is 0.
pub fn busy_cores(before: &CpuTimes, after: &CpuTimes, cpus: u32) -> Option<f64> {
    let busy = |t: &CpuTimes| t.user + t.nice + t.system + t.irq + t.softirq;
    let total = after.total().checked_sub(before.total())?;
    let used = busy(after).checked_sub(busy(before))?;
    (total > 0 && cpus > 0).then(|| used as f64 / total as f64 * f64::from(cpus))
}

/// Cores the tracked trees used, from one sample's `instances`: `Some(0)`
/// when none is tracked, `None` when a live tree's CPU is not known yet
/// (or `tracking` but no tree could be read at all).
pub fn trees_cores(instances: &BTreeMap<String, InstanceSample>, tracking: bool) -> Option<f64> {
    if tracking && instances.is_empty() {
        return None;
    }
    instances.values().try_fold(0.0, |sum, i| {
        if i.processes == 0 {
            Some(sum)
        } else {
            i.cpu_pct.map(|pct| sum + pct / 100.0)
        }
    })
}

/// What is left for other programs, in cores: signed (noise can take it
/// a little below 0; see the module's note).
pub fn other_cores(busy: f64, trees: f64, own: f64) -> f64 {
    busy - trees - own
}

/// mlxrun's own CPU time so far: this process (every thread) and the
/// helper commands the monitor ran.
pub(crate) fn own_cpu_time() -> Option<Duration> {
    crate::metrics::client_cpu::cpu_time().map(|t| t + super::child::helpers_cpu_time())
}

/// mlxrun's CPU in cores between consecutive readings.
#[derive(Debug, Default)]
pub(crate) struct OwnCpu {
    prev: Option<(Duration, Instant)>,
}

impl OwnCpu {
    /// Cores used since the previous call, given the CPU time `cpu` read
    /// at `now`; `None` on the first call, after an unreadable one, or
    /// when no time passed.
    pub fn cores(&mut self, cpu: Option<Duration>, now: Instant) -> Option<f64> {
        let prev = self.prev.take();
        let cpu = cpu?;
        self.prev = Some((cpu, now));
        let (before, then) = prev?;
        let wall = now.saturating_duration_since(then).as_secs_f64();
        (wall > 0.0).then(|| cpu.saturating_sub(before).as_secs_f64() / wall)
    }
}

/// How `other_cpu_cores` is read, for the monitor header's `sources`.
pub(crate) fn source_description() -> &'static str {
    if cfg!(target_os = "linux") {
        "machine busy CPU (/proc/stat; CPUs: its cpuN lines) - tracked trees - mlxrun (getrusage and its helper commands)"
    } else {
        "machine busy CPU (host_statistics; CPUs: the online processors) - tracked trees - mlxrun (getrusage and its helper commands)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(user: u64, system: u64, idle: u64, iowait: u64) -> CpuTimes {
        CpuTimes {
            user,
            system,
            idle,
            iowait,
            ..CpuTimes::default()
        }
    }

    fn tree(cpu_pct: Option<f64>, processes: u64) -> InstanceSample {
        InstanceSample {
            rss_mb: Some(100.0),
            cpu_pct,
            processes,
        }
    }

    #[test]
    fn busy_cores_are_the_busy_share_of_all_cpus() {
        // 8 CPUs, 800 ticks: 300 user, 100 system, 350 idle, 50 iowait
        let a = ticks(1000, 500, 5000, 100);
        let b = ticks(1300, 600, 5350, 150);
        assert_eq!(busy_cores(&a, &b, 8), Some(4.0));
        // nice, irq and softirq are busy; steal is not
        let c = CpuTimes {
            nice: 40,
            irq: 20,
            softirq: 40,
            steal: 100,
            ..b
        };
        // 1000 ticks, 500 busy
        assert_eq!(busy_cores(&a, &c, 8), Some(4.0));
        assert_eq!(busy_cores(&a, &a, 8), None, "no tick passed");
        assert_eq!(busy_cores(&b, &a, 8), None, "counters went back");
        assert_eq!(busy_cores(&a, &b, 0), None);
    }

    #[test]
    fn trees_count_what_they_used_and_unknown_stays_unknown() {
        let mut i = BTreeMap::new();
        assert_eq!(trees_cores(&i, false), Some(0.0), "nothing tracked");
        assert_eq!(trees_cores(&i, true), None, "tracked but unreadable");
        i.insert("server".to_string(), tree(Some(150.0), 3));
        i.insert("nginx".to_string(), tree(Some(10.0), 2));
        assert_eq!(trees_cores(&i, true), Some(1.6));
        // a tree whose root exited counts 0
        i.insert("gone".to_string(), tree(None, 0));
        assert_eq!(trees_cores(&i, true), Some(1.6));
        // a live tree's first sample: the sum is not known
        i.insert("new".to_string(), tree(None, 1));
        assert_eq!(trees_cores(&i, true), None);
    }

    #[test]
    fn other_programs_get_what_is_left() {
        assert_eq!(other_cores(4.0, 2.5, 0.5), 1.0);
        // noise: the processes' counters ran ahead of the machine's
        assert!((other_cores(1.0, 0.9, 0.2) + 0.1).abs() < 1e-9);
    }

    #[test]
    fn own_cpu_is_cpu_time_per_wall_second() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let mut own = OwnCpu::default();
        assert_eq!(own.cores(Some(s(10)), t0), None, "first reading");
        assert_eq!(own.cores(Some(s(10) + ms(500)), t0 + s(2)), Some(0.25));
        assert_eq!(own.cores(None, t0 + s(3)), None);
        assert_eq!(own.cores(Some(s(12)), t0 + s(4)), None, "after a gap");
        assert_eq!(own.cores(Some(s(12)), t0 + s(4)), None, "no time passed");
        assert_eq!(own.cores(Some(s(13)), t0 + s(6)), Some(0.5));
        // this process's own counter reads and grows
        let a = own_cpu_time().expect("getrusage works on Linux and macOS");
        let mut x = 0u64;
        let began = Instant::now();
        while began.elapsed() < ms(30) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(own_cpu_time().unwrap() > a);
    }
}
