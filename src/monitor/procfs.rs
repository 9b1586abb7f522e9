//! What sysinfo does not give on Linux, parsed by hand: the CPU time split of
//! `/proc/stat` (user, system, idle, iowait) and memory pressure stall
//! information from `/proc/pressure/memory`, with the mapping of PSI to the
//! 1 / 2 / 4 pressure levels macOS reports. Parsers take text, readers take
//! the `/proc` root, so tests feed literal text or a fake root.

use std::path::{Path, PathBuf};

/// The aggregate `cpu` line of `/proc/stat`, in clock ticks (USER_HZ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CpuTimes {
    /// Parse the first line starting with `cpu ` (all CPUs together).
    /// Kernels before 2.6.11 lack `steal`; such fields count as 0.
    pub fn parse(stat: &str) -> Result<CpuTimes, String> {
        let line = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .ok_or("no aggregate `cpu` line")?;
        let nums: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| {
                f.parse::<u64>()
                    .map_err(|e| format!("bad field {f:?}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        if nums.len() < 4 {
            return Err(format!("only {} fields on the cpu line", nums.len()));
        }
        let at = |i: usize| nums.get(i).copied().unwrap_or(0);
        Ok(CpuTimes {
            user: at(0),
            nice: at(1),
            system: at(2),
            idle: at(3),
            iowait: at(4),
            irq: at(5),
            softirq: at(6),
            steal: at(7),
        })
    }

    /// Every tick counted (guest time is already inside user and nice).
    pub fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }
}

/// The CPUs `/proc/stat` counts in its aggregate line: its `cpuN` lines
/// (online CPUs); `None` when it lists none.
pub fn count_cpus(stat: &str) -> Option<u32> {
    let n = stat
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// Percent of all CPUs' time between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSplit {
    /// user + nice.
    pub user: f64,
    /// system + irq + softirq.
    pub sys: f64,
    pub idle: f64,
    /// `None` where the OS does not report it (macOS).
    pub iowait: Option<f64>,
}

/// The split between `before` and `after`; `None` when no tick passed (or
/// the counters went backwards), since a percentage of nothing is unknown.
pub fn cpu_split(before: &CpuTimes, after: &CpuTimes) -> Option<CpuSplit> {
    let d = |a: u64, b: u64| a.checked_sub(b);
    let total = d(after.total(), before.total())?;
    if total == 0 {
        return None;
    }
    let pct = |ticks: u64| ticks as f64 * 100.0 / total as f64;
    Some(CpuSplit {
        user: pct(d(after.user + after.nice, before.user + before.nice)?),
        sys: pct(d(
            after.system + after.irq + after.softirq,
            before.system + before.irq + before.softirq,
        )?),
        idle: pct(d(after.idle, before.idle)?),
        iowait: Some(pct(d(after.iowait, before.iowait)?)),
    })
}

/// The `avg10` values of a PSI file (percent of the last 10 s in which some
/// or all non-idle tasks stalled on memory).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Psi {
    pub some_avg10: f64,
    /// `None` when the kernel has no `full` line (older kernels, or CPU PSI).
    pub full_avg10: Option<f64>,
}

impl Psi {
    /// Parse `some avg10=… avg60=… avg300=… total=…` (and the `full` line).
    pub fn parse(text: &str) -> Result<Psi, String> {
        let avg10 = |prefix: &str| -> Result<Option<f64>, String> {
            let Some(line) = text.lines().find(|l| l.starts_with(prefix)) else {
                return Ok(None);
            };
            let v = line
                .split_whitespace()
                .find_map(|f| f.strip_prefix("avg10="))
                .ok_or_else(|| format!("no avg10 on {line:?}"))?;
            v.parse::<f64>()
                .map(Some)
                .map_err(|e| format!("bad avg10 {v:?}: {e}"))
        };
        let some_avg10 = avg10("some ")?.ok_or("no `some` line")?;
        Ok(Psi {
            some_avg10,
            full_avg10: avg10("full ")?,
        })
    }
}

/// PSI `some` avg10 at or above this: level 2 (warn).
pub const PSI_WARN_SOME: f64 = 10.0;
/// PSI `some` avg10 at or above this: level 4 (critical).
pub const PSI_CRITICAL_SOME: f64 = 40.0;
/// PSI `full` avg10 at or above this: level 4 (critical).
pub const PSI_CRITICAL_FULL: f64 = 10.0;

/// The macOS-style level of a PSI reading: 1 normal, 2 warn, 4 critical.
pub fn pressure_level(psi: &Psi) -> u8 {
    let full = psi.full_avg10.unwrap_or(0.0);
    if psi.some_avg10 >= PSI_CRITICAL_SOME || full >= PSI_CRITICAL_FULL {
        4
    } else if psi.some_avg10 >= PSI_WARN_SOME {
        2
    } else {
        1
    }
}

/// Readers of one `/proc` tree (`/proc` itself outside tests).
#[derive(Debug, Clone)]
pub struct ProcRoot(pub PathBuf);

impl Default for ProcRoot {
    fn default() -> Self {
        ProcRoot(PathBuf::from("/proc"))
    }
}

impl ProcRoot {
    fn read(&self, rel: &str) -> Result<String, String> {
        let p: PathBuf = self.0.join(rel);
        std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", show(&p)))
    }

    /// The aggregate CPU times of `<root>/stat`.
    pub fn cpu_times(&self) -> Result<CpuTimes, String> {
        CpuTimes::parse(&self.read("stat")?).map_err(|e| format!("{}/stat: {e}", show(&self.0)))
    }

    /// The number of CPUs in `<root>/stat` ([`count_cpus`]).
    pub fn cpu_count(&self) -> Result<u32, String> {
        count_cpus(&self.read("stat")?)
            .ok_or_else(|| format!("{}/stat lists no cpuN line", show(&self.0)))
    }

    /// `<root>/pressure/memory`.
    pub fn memory_psi(&self) -> Result<Psi, String> {
        Psi::parse(&self.read("pressure/memory")?)
            .map_err(|e| format!("{}/pressure/memory: {e}", show(&self.0)))
    }
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "\
cpu  1392196 7833 184603 937673 9762 0 5895 827 0 0
cpu0 656246 2921 83423 521638 2174 0 2424 415 0 0
cpu1 735949 4911 101179 416035 7588 0 3471 411 0 0
intr 1 2 3
ctxt 12345
";

    #[test]
    fn proc_stat_aggregate_line_is_parsed() {
        let t = CpuTimes::parse(STAT).unwrap();
        assert_eq!(
            t,
            CpuTimes {
                user: 1392196,
                nice: 7833,
                system: 184603,
                idle: 937673,
                iowait: 9762,
                irq: 0,
                softirq: 5895,
                steal: 827,
            }
        );
        assert_eq!(
            t.total(),
            1392196 + 7833 + 184603 + 937673 + 9762 + 5895 + 827
        );
        // an old kernel without iowait..steal
        let old = CpuTimes::parse("cpu 10 0 5 85\n").unwrap();
        assert_eq!((old.idle, old.iowait, old.total()), (85, 0, 100));
        assert!(CpuTimes::parse("cpu0 1 2 3 4\n").is_err());
        assert!(CpuTimes::parse("cpu 1 x 3 4\n").is_err());
        assert!(CpuTimes::parse("cpu 1 2\n").is_err());
    }

    #[test]
    fn cpus_are_the_numbered_cpu_lines() {
        assert_eq!(count_cpus(STAT), Some(2));
        // the aggregate line alone, or a file that is not /proc/stat
        assert_eq!(count_cpus("cpu  1 2 3 4\n"), None);
        assert_eq!(count_cpus("cpufreq 1\nintr 5\n"), None);
        let t = tempfile::tempdir().unwrap();
        let root = ProcRoot(t.path().to_path_buf());
        assert!(root.cpu_count().unwrap_err().contains("cannot read"));
        std::fs::write(t.path().join("stat"), "cpu 1 2 3 4\n").unwrap();
        assert!(root.cpu_count().unwrap_err().contains("no cpuN line"));
        std::fs::write(t.path().join("stat"), STAT).unwrap();
        assert_eq!(root.cpu_count(), Ok(2));
    }

    #[test]
    fn cpu_split_is_the_share_of_ticks_between_readings() {
        let a = CpuTimes::parse("cpu 100 0 50 800 10 0 0 0\n").unwrap();
        // +30 user, +10 nice, +15 sys, +5 softirq, +130 idle, +10 iowait = 200
        let b = CpuTimes::parse("cpu 130 10 65 930 20 0 5 0\n").unwrap();
        let s = cpu_split(&a, &b).unwrap();
        assert_eq!(s.user, 20.0);
        assert_eq!(s.sys, 10.0);
        assert_eq!(s.idle, 65.0);
        assert_eq!(s.iowait, Some(5.0));
        // no tick passed: unknown, not 0 %
        assert_eq!(cpu_split(&a, &a), None);
        // counters went backwards (a different machine, a reset): unknown
        assert_eq!(cpu_split(&b, &a), None);
    }

    #[test]
    fn psi_lines_are_parsed_and_mapped_to_levels() {
        let text = "some avg10=12.50 avg60=3.00 avg300=0.50 total=123456\n\
                    full avg10=0.75 avg60=0.10 avg300=0.00 total=2345\n";
        let p = Psi::parse(text).unwrap();
        assert_eq!(
            p,
            Psi {
                some_avg10: 12.5,
                full_avg10: Some(0.75)
            }
        );
        assert_eq!(pressure_level(&p), 2);
        let calm = Psi::parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
        assert_eq!(calm.full_avg10, None);
        assert_eq!(pressure_level(&calm), 1);
        let p = |some, full| Psi {
            some_avg10: some,
            full_avg10: full,
        };
        assert_eq!(pressure_level(&p(9.99, Some(9.99))), 1);
        assert_eq!(pressure_level(&p(10.0, None)), 2);
        assert_eq!(pressure_level(&p(39.9, Some(9.9))), 2);
        assert_eq!(pressure_level(&p(40.0, None)), 4);
        assert_eq!(pressure_level(&p(5.0, Some(10.0))), 4);
        assert!(Psi::parse("full avg10=1.00 avg60=0 avg300=0 total=0\n").is_err());
        assert!(Psi::parse("some avg60=1.00\n").is_err());
        assert!(Psi::parse("some avg10=x avg60=1.00\n").is_err());
    }

    #[test]
    fn readers_name_the_file_they_could_not_read() {
        let t = tempfile::tempdir().unwrap();
        let root = ProcRoot(t.path().to_path_buf());
        let e = root.memory_psi().unwrap_err();
        assert!(e.contains("pressure/memory"), "{e}");
        std::fs::write(t.path().join("stat"), "garbage\n").unwrap();
        let e = root.cpu_times().unwrap_err();
        assert!(e.contains("/stat: no aggregate"), "{e}");
        std::fs::write(t.path().join("stat"), STAT).unwrap();
        assert_eq!(root.cpu_times().unwrap().user, 1392196);
    }
}
