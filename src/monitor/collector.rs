//! One reading of every source into a [`Sample`]: memory and swap, load
//! and the process table through one long-lived `sysinfo::System` (only
//! what is needed is refreshed: RAM and swap always, processes only while
//! trees are tracked, without threads), the CPU split from the kernel's
//! counters, pressure, GPUs. Each source is probed once at the start for
//! the header's `sources`; a source that fails later yields `null` and a
//! change the monitor logs as an event.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::gpu;
use super::ioreg::AppleGpu;
#[cfg(target_os = "macos")]
use super::ioreg::{self, IOREG_ARGV};
use super::memory::{self, PressureSource};
use super::neighbours::{self, OwnCpu};
#[cfg(target_os = "macos")]
use super::poller::CommandPoller;
use super::power::PowerReaders;
use super::procfs::{CpuTimes, ProcRoot, cpu_split};
use super::record::{Sample, Trigger, round};
#[cfg(target_os = "macos")]
use super::thermal;
use super::thermal::PmsetTherm;
use super::tree::{ProcView, TreeTracker};
use super::vm_stat::VmStat;
#[cfg(target_os = "macos")]
use super::vm_stat::{self, VM_STAT_ARGV};

/// How often the whole process list (and so every parent link) is re-read;
/// in between, only the tracked trees' known members are. A new child shows
/// up in its tree within this time.
pub const PROCESS_LIST_EVERY: Duration = Duration::from_secs(1);

const GB: f64 = (1u64 << 30) as f64;
const MB: f64 = (1u64 << 20) as f64;

/// Where the collector reads from; the default is this machine.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The `/proc` tree for the CPU split and PSI (Linux); tests point it
    /// at a fake one.
    pub proc_root: ProcRoot,
    /// Where RAPL's zones are listed; `None` = [`super::rapl::POWERCAP`].
    pub powercap_root: Option<PathBuf>,
    /// The monitor's interval, for sources that measure over one
    /// (IOReport); `None` = 200 ms.
    pub interval: Option<Duration>,
}

/// A source that started or stopped failing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SourceChange {
    pub source: &'static str,
    /// `Some(reason)` when it fails now, `None` when it works again.
    pub error: Option<String>,
}

pub(crate) struct Collector {
    sys: Result<System, String>,
    pressure: PressureSource,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    root: ProcRoot,
    prev_cpu: Option<CpuTimes>,
    /// The CPUs the counters cover, read once.
    cpu_count: Result<u32, String>,
    own_cpu: OwnCpu,
    tracker: TreeTracker,
    /// When the whole process list was last read, and for which roots.
    listed_at: Option<Instant>,
    listed_roots: Vec<i32>,
    /// The trees' members at the last sample.
    members: Vec<i32>,
    nvml: Result<gpu::Nvml, String>,
    power: PowerReaders,
    #[cfg(target_os = "macos")]
    ioreg: Result<CommandPoller<AppleGpu>, String>,
    #[cfg(target_os = "macos")]
    vm_stat: Result<CommandPoller<VmStat>, String>,
    #[cfg(target_os = "macos")]
    thermal_pressure: Result<CommandPoller<u8>, String>,
    #[cfg(target_os = "macos")]
    pmset_therm: Result<CommandPoller<PmsetTherm>, String>,
    #[cfg(target_os = "macos")]
    low_power_mode: Result<CommandPoller<bool>, String>,
    sources: BTreeMap<String, String>,
    /// Unavailable from the start.
    quiet: BTreeSet<&'static str>,
    /// Available at the start, failing now.
    lost: BTreeSet<&'static str>,
}

fn unavailable(why: &str) -> String {
    format!("unavailable: {why}")
}

/// How often the macOS thermal pressure is read (it changes over seconds).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
const THERMAL_PRESSURE_EVERY: Duration = Duration::from_secs(2);

/// How often `pmset -g therm` and `pmset -g` run.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
const PMSET_EVERY: Duration = Duration::from_secs(5);

/// The CPUs the machine's CPU counters cover: the `cpuN` lines of
/// `/proc/stat` on Linux, the online processors on macOS.
fn machine_cpu_count(root: &ProcRoot) -> Result<u32, String> {
    #[cfg(target_os = "linux")]
    {
        root.cpu_count()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .map_err(|e| format!("cannot count the CPUs: {e}"))
    }
}

impl Collector {
    /// Open every source and probe it once.
    pub fn new(src: Sources) -> Collector {
        let sys = System::new().map_err(|e| format!("sysinfo: {e}"));
        #[cfg(target_os = "linux")]
        let pressure = PressureSource {
            root: src.proc_root.clone(),
        };
        #[cfg(not(target_os = "linux"))]
        let pressure = PressureSource::default();
        let nvml = gpu::open();
        let power = PowerReaders::open(
            nvml.as_ref().map(gpu::Nvml::read).map_err(Clone::clone),
            src.powercap_root
                .as_deref()
                .unwrap_or(std::path::Path::new(super::rapl::POWERCAP)),
            src.interval.unwrap_or(Duration::from_millis(200)),
        );
        let mut c = Collector {
            sys,
            pressure,
            cpu_count: machine_cpu_count(&src.proc_root),
            own_cpu: OwnCpu::default(),
            root: src.proc_root,
            prev_cpu: None,
            tracker: TreeTracker::default(),
            listed_at: None,
            listed_roots: Vec::new(),
            members: Vec::new(),
            nvml,
            power,
            #[cfg(target_os = "macos")]
            ioreg: CommandPoller::start(ioreg::poll_spec(Duration::from_secs(1)))
                .map_err(|e| format!("cannot start the ioreg thread: {e}")),
            #[cfg(target_os = "macos")]
            vm_stat: CommandPoller::start(vm_stat::poll_spec(Duration::from_secs(1)))
                .map_err(|e| format!("cannot start the vm_stat thread: {e}")),
            #[cfg(target_os = "macos")]
            thermal_pressure: CommandPoller::start(thermal::thermal_pressure_poll_spec(
                THERMAL_PRESSURE_EVERY,
            ))
            .map_err(|e| format!("cannot start the notifyutil thread: {e}")),
            #[cfg(target_os = "macos")]
            pmset_therm: CommandPoller::start(thermal::pmset_therm_poll_spec(PMSET_EVERY))
                .map_err(|e| format!("cannot start the pmset thread: {e}")),
            #[cfg(target_os = "macos")]
            low_power_mode: CommandPoller::start(thermal::low_power_mode_poll_spec(PMSET_EVERY))
                .map_err(|e| format!("cannot start the pmset thread: {e}")),
            sources: BTreeMap::new(),
            quiet: BTreeSet::new(),
            lost: BTreeSet::new(),
        };
        c.probe();
        c
    }

    /// Each source: what it reads, or why it is unavailable.
    pub fn sources(&self) -> &BTreeMap<String, String> {
        &self.sources
    }

    fn probe(&mut self) {
        let mut s = BTreeMap::new();
        let mut quiet = BTreeSet::new();
        let mut put = |name: &'static str, r: Result<String, String>| {
            let v = match r {
                Ok(what) => what,
                Err(why) => {
                    quiet.insert(name);
                    unavailable(&why)
                }
            };
            s.insert(name.to_string(), v);
        };
        let mem = match &mut self.sys {
            Ok(sys) => memory::ram_and_swap(sys).map(|_| "sysinfo".to_string()),
            Err(e) => Err(e.clone()),
        };
        put("memory", mem);
        put(
            "memory_pressure",
            memory::read_pressure(&self.pressure)
                .map(|_| memory::pressure_source_name().to_string()),
        );
        put(
            "psi",
            if cfg!(target_os = "linux") {
                memory::read_pressure(&self.pressure).map(|_| "/proc/pressure/memory".into())
            } else {
                Err("PSI is Linux only".into())
            },
        );
        put(
            "load",
            System::load_average()
                .map(|_| "sysinfo".to_string())
                .map_err(|e| format!("sysinfo: {e}")),
        );
        put(
            "cpu",
            self.read_cpu_times().map(|_| cpu_source_name().into()),
        );
        put(
            "cpu_iowait",
            if cfg!(target_os = "linux") {
                self.read_cpu_times().map(|_| "/proc/stat".into())
            } else {
                Err("the OS does not report iowait".into())
            },
        );
        put(
            "processes",
            match &self.sys {
                Ok(_) => Ok(format!(
                    "sysinfo (root pid and descendants by parent links; list re-read every {} s)",
                    PROCESS_LIST_EVERY.as_secs_f64()
                )),
                Err(e) => Err(e.clone()),
            },
        );
        put("power", self.power.describe());
        put(
            "gpu",
            match &self.nvml {
                Ok(n) => Ok(n.describe()),
                Err(e) => Err(e.clone()),
            },
        );
        #[cfg(target_os = "macos")]
        put(
            "gpu_ioreg",
            match &self.ioreg {
                Ok(_) => Ok(format!("{}, at most once per second", IOREG_ARGV.join(" "))),
                Err(e) => Err(e.clone()),
            },
        );
        #[cfg(not(target_os = "macos"))]
        put("gpu_ioreg", Err("macOS only".into()));
        #[cfg(target_os = "macos")]
        put(
            "vm_stat",
            match &self.vm_stat {
                Ok(_) => Ok(format!(
                    "{} (wired and compressor pages), at most once per second",
                    VM_STAT_ARGV.join(" ")
                )),
                Err(e) => Err(e.clone()),
            },
        );
        #[cfg(not(target_os = "macos"))]
        put("vm_stat", Err("macOS only".into()));
        #[cfg(target_os = "macos")]
        {
            let polled = |p: bool, argv: &[&str], every: Duration| -> Result<String, String> {
                if p {
                    Ok(format!(
                        "{}, at most once every {} s",
                        argv.join(" "),
                        every.as_secs()
                    ))
                } else {
                    Err("its thread could not start".into())
                }
            };
            put(
                "thermal_pressure",
                polled(
                    self.thermal_pressure.is_ok(),
                    &thermal::THERMAL_PRESSURE_ARGV,
                    THERMAL_PRESSURE_EVERY,
                ),
            );
            put(
                "pmset_therm",
                polled(
                    self.pmset_therm.is_ok(),
                    &thermal::PMSET_THERM_ARGV,
                    PMSET_EVERY,
                ),
            );
            put(
                "low_power_mode",
                polled(
                    self.low_power_mode.is_ok(),
                    &thermal::PMSET_SETTINGS_ARGV,
                    PMSET_EVERY,
                ),
            );
        }
        #[cfg(not(target_os = "macos"))]
        for src in ["thermal_pressure", "pmset_therm", "low_power_mode"] {
            put(src, Err("macOS only".into()));
        }
        put(
            "other_cpu",
            match (
                &self.cpu_count,
                self.read_cpu_times(),
                neighbours::own_cpu_time(),
            ) {
                (Ok(n), Ok(_), Some(_)) => {
                    Ok(format!("{} CPUs: {}", n, neighbours::source_description()))
                }
                (Err(e), _, _) => Err(e.clone()),
                (_, Err(e), _) => Err(e),
                (_, _, None) => Err("getrusage failed".into()),
            },
        );
        put("sampler_cpu", sampler_cpu_source());
        self.sources = s;
        self.quiet = quiet;
    }

    fn read_cpu_times(&self) -> Result<CpuTimes, String> {
        #[cfg(target_os = "linux")]
        {
            self.root.cpu_times()
        }
        #[cfg(target_os = "macos")]
        {
            macos_cpu_times()
        }
        #[cfg(not(any(target_os = "linux", target_os = "macos")))]
        {
            Err("the CPU split is read on Linux and macOS only".into())
        }
    }

    /// Read every source now; `procs` are the trees to follow.
    pub fn read(&mut self, procs: &[(String, i32)], now: Instant) -> (Sample, Vec<SourceChange>) {
        let mut errors: BTreeMap<&'static str, String> = BTreeMap::new();
        let mut s = Sample {
            ts: 0.0,
            elapsed_s: 0.0,
            seq: None,
            trigger: Trigger::Tick,
            late_ms: None,
            ram_total_gb: None,
            ram_available_gb: None,
            ram_free_gb: None,
            swap_used_mb: None,
            swap_total_mb: None,
            ram_wired_gb: None,
            ram_compressed_gb: None,
            memory_pressure: None,
            psi_some_avg10: None,
            psi_full_avg10: None,
            load_1: None,
            load_5: None,
            load_15: None,
            cpu_user: None,
            cpu_sys: None,
            cpu_idle: None,
            cpu_iowait: None,
            mlxrun_cpu_pct: None,
            other_cpu_cores: None,
            gpus: None,
            gpu_device_util: None,
            gpu_renderer_util: None,
            gpu_tiler_util: None,
            gpu_memory_in_use_gb: None,
            gpu_memory_alloc_gb: None,
            thermal_pressure: None,
            thermal_warning_level: None,
            performance_warning_level: None,
            cpu_speed_limit: None,
            low_power_mode: None,
            power: None,
            cpu_temp_c: None,
            gpu_temp_c: None,
            instances: BTreeMap::new(),
            cpu_raw: None,
            cpu_count: self.cpu_count.as_ref().ok().copied(),
            other_cpu_signed: None,
        };

        match self
            .sys
            .as_mut()
            .map_err(|e| e.clone())
            .and_then(memory::ram_and_swap)
        {
            Ok(m) => {
                s.ram_total_gb = Some(round(m.total as f64 / GB, 3));
                s.ram_available_gb = Some(round(m.available as f64 / GB, 3));
                s.ram_free_gb = Some(round(m.free as f64 / GB, 3));
                s.swap_used_mb = Some(round(m.swap_used as f64 / MB, 1));
                s.swap_total_mb = Some(round(m.swap_total as f64 / MB, 1));
            }
            Err(e) => {
                errors.insert("memory", e);
            }
        }

        match memory::read_pressure(&self.pressure) {
            Ok(p) => {
                s.memory_pressure = Some(p.level);
                s.psi_some_avg10 = p.psi.map(|x| x.some_avg10);
                s.psi_full_avg10 = p.psi.and_then(|x| x.full_avg10);
            }
            Err(e) => {
                errors.insert("memory_pressure", e.clone());
                if cfg!(target_os = "linux") {
                    errors.insert("psi", e);
                }
            }
        }

        match System::load_average() {
            Ok(l) => {
                s.load_1 = Some(l.one);
                s.load_5 = Some(l.five);
                s.load_15 = Some(l.fifteen);
            }
            Err(e) => {
                errors.insert("load", format!("sysinfo: {e}"));
            }
        }

        let own_cores = self.own_cpu.cores(neighbours::own_cpu_time(), now);
        s.mlxrun_cpu_pct = own_cores.map(|c| round(c * 100.0, 1));
        let mut busy_cores = None;
        match self.read_cpu_times() {
            Ok(now_cpu) => {
                if let (Some(p), Ok(n)) = (self.prev_cpu, &self.cpu_count) {
                    busy_cores = neighbours::busy_cores(&p, &now_cpu, *n);
                }
                if let Some(split) = self.prev_cpu.and_then(|p| cpu_split(&p, &now_cpu)) {
                    s.cpu_user = Some(round(split.user, 2));
                    s.cpu_sys = Some(round(split.sys, 2));
                    s.cpu_idle = Some(round(split.idle, 2));
                    if cfg!(target_os = "linux") {
                        s.cpu_iowait = split.iowait.map(|v| round(v, 2));
                    }
                }
                s.cpu_raw = Some(now_cpu);
                self.prev_cpu = Some(now_cpu);
            }
            Err(e) => {
                errors.insert("cpu", e);
                self.prev_cpu = None;
            }
        }

        if !procs.is_empty()
            && let Ok(sys) = &mut self.sys
        {
            let roots: Vec<i32> = procs.iter().map(|(_, pid)| *pid).collect();
            let full = roots != self.listed_roots
                || self
                    .listed_at
                    .is_none_or(|t| now.saturating_duration_since(t) >= PROCESS_LIST_EVERY);
            let table = if full {
                self.listed_at = Some(now);
                self.listed_roots = roots;
                process_table(sys, None)
            } else {
                process_table(sys, Some(&self.members))
            };
            let (instances, members) = self.tracker.update(&table, procs, now);
            self.members = members;
            s.instances = instances;
            for i in s.instances.values_mut() {
                i.rss_mb = i.rss_mb.map(|v| round(v, 1));
                i.cpu_pct = i.cpu_pct.map(|v| round(v, 1));
            }
        }

        s.other_cpu_signed = other_cpu_cores(
            busy_cores,
            neighbours::trees_cores(&s.instances, !procs.is_empty()),
            own_cores,
        );
        s.other_cpu_cores = s.other_cpu_signed.map(|v| round(v.max(0.0), 2));

        if let Ok(n) = &self.nvml {
            s.gpus = Some(n.read());
        }
        let (power, temps, power_errors) = self.power.read(s.gpus.as_deref(), now);
        s.power = power;
        (s.cpu_temp_c, s.gpu_temp_c) = (temps.cpu_c, temps.gpu_c);
        if !power_errors.is_empty() {
            errors.insert("power", power_errors.join("; "));
        }

        #[cfg(target_os = "macos")]
        if let Ok(p) = &self.ioreg {
            let (reading, error) = p.latest();
            if let Some(g) = reading {
                put_apple_gpu(&mut s, &g);
            }
            if let Some(e) = error {
                errors.insert("gpu_ioreg", e);
            }
        }

        #[cfg(target_os = "macos")]
        if let Ok(p) = &self.vm_stat {
            let (reading, error) = p.latest();
            if let Some(v) = reading {
                put_vm_stat(&mut s, &v);
            }
            if let Some(e) = error {
                errors.insert("vm_stat", e);
            }
        }

        #[cfg(target_os = "macos")]
        {
            if let Ok(p) = &self.thermal_pressure {
                let (reading, error) = p.latest();
                s.thermal_pressure = reading;
                if let Some(e) = error {
                    errors.insert("thermal_pressure", e);
                }
            }
            if let Ok(p) = &self.pmset_therm {
                let (reading, error) = p.latest();
                if let Some(t) = reading {
                    put_pmset_therm(&mut s, &t);
                }
                if let Some(e) = error {
                    errors.insert("pmset_therm", e);
                }
            }
            if let Ok(p) = &self.low_power_mode {
                let (reading, error) = p.latest();
                s.low_power_mode = reading;
                if let Some(e) = error {
                    errors.insert("low_power_mode", e);
                }
            }
        }

        (s, self.changes(errors))
    }

    /// Sources available at the start that failed or came back since the
    /// last reading (sources unavailable from the start stay quiet: the
    /// header says why).
    fn changes(&mut self, now_failing: BTreeMap<&'static str, String>) -> Vec<SourceChange> {
        let mut out = Vec::new();
        for (src, why) in &now_failing {
            if !self.quiet.contains(src) && self.lost.insert(src) {
                out.push(SourceChange {
                    source: src,
                    error: Some(why.clone()),
                });
            }
        }
        self.lost.retain(|src| {
            let still = now_failing.contains_key(src);
            if !still {
                out.push(SourceChange {
                    source: src,
                    error: None,
                });
            }
            still
        });
        out
    }
}

/// The Apple GPU's reading into the sample's `gpu_*` fields (GB, 3 decimals).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn put_apple_gpu(s: &mut Sample, g: &AppleGpu) {
    s.gpu_device_util = g.device_util;
    s.gpu_renderer_util = g.renderer_util;
    s.gpu_tiler_util = g.tiler_util;
    s.gpu_memory_in_use_gb = g.in_use_bytes.map(|b| round(b as f64 / GB, 3));
    s.gpu_memory_alloc_gb = g.alloc_bytes.map(|b| round(b as f64 / GB, 3));
}

/// The cores other programs used (signed), from the machine's busy
/// cores, the trees' and mlxrun's; unknown when any part is.
fn other_cpu_cores(busy: Option<f64>, trees: Option<f64>, own: Option<f64>) -> Option<f64> {
    Some(neighbours::other_cores(busy?, trees?, own?))
}

/// `pmset -g therm`'s reading into the sample.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn put_pmset_therm(s: &mut Sample, t: &PmsetTherm) {
    s.thermal_warning_level = t.thermal_warning_level;
    s.performance_warning_level = t.performance_warning_level;
    s.cpu_speed_limit = t.cpu_speed_limit;
}

/// `vm_stat`'s wired and compressor pages into the sample (GB, 3 decimals).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn put_vm_stat(s: &mut Sample, v: &VmStat) {
    s.ram_wired_gb = v.wired_bytes().map(|b| round(b as f64 / GB, 3));
    s.ram_compressed_gb = v.compressed_bytes().map(|b| round(b as f64 / GB, 3));
}

/// Every process (pid, parent, RSS, CPU time; threads skipped), after
/// refreshing all of them (`only` = `None`) or only the pids in `only`
/// (the rest keep the values and parent links of the last full refresh).
fn process_table(sys: &mut System, only: Option<&[i32]>) -> Vec<ProcView> {
    let kind = ProcessRefreshKind::nothing()
        .without_tasks()
        .with_memory()
        .with_cpu();
    match only {
        None => sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind),
        Some(pids) => {
            let pids: Vec<Pid> = pids.iter().map(|p| Pid::from_u32(*p as u32)).collect();
            sys.refresh_processes_specifics(ProcessesToUpdate::Some(&pids), true, kind)
        }
    };
    sys.processes()
        .values()
        .map(|p| ProcView {
            pid: p.pid().as_u32() as i32,
            parent: p.parent().map(|pp| pp.as_u32() as i32),
            rss_bytes: p.memory(),
            cpu_ms: p.accumulated_cpu_time(),
        })
        .collect()
}

fn cpu_source_name() -> &'static str {
    if cfg!(target_os = "linux") {
        "/proc/stat"
    } else {
        "host_statistics HOST_CPU_LOAD_INFO"
    }
}

fn sampler_cpu_source() -> Result<String, String> {
    thread_cpu_time()
        .map(|_| "clock_gettime(CLOCK_THREAD_CPUTIME_ID) of the sampler thread".into())
        .ok_or_else(|| format!("no thread CPU clock: {}", std::io::Error::last_os_error()))
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`:
/// exact to the call, unlike `getrusage(RUSAGE_THREAD)`, which lags until
/// the next scheduler tick).
pub(crate) fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// All CPUs' ticks from the Mach host (user, nice, system, idle).
#[cfg(target_os = "macos")]
#[allow(deprecated)] // libc points to the mach2 crate for mach_host_self
fn macos_cpu_times() -> Result<CpuTimes, String> {
    use std::sync::OnceLock;
    // one send right for the whole process (each call would add one)
    static HOST: OnceLock<libc::mach_port_t> = OnceLock::new();
    // SAFETY: mach_host_self has no preconditions.
    let host = *HOST.get_or_init(|| unsafe { libc::mach_host_self() });
    // SAFETY: zeroed is a valid host_cpu_load_info (plain integers).
    let mut info: libc::host_cpu_load_info = unsafe { std::mem::zeroed() };
    let mut count = libc::HOST_CPU_LOAD_INFO_COUNT;
    // SAFETY: `info` holds HOST_CPU_LOAD_INFO_COUNT integers, as `count` says.
    let rc = unsafe {
        libc::host_statistics(
            host,
            libc::HOST_CPU_LOAD_INFO,
            (&mut info as *mut libc::host_cpu_load_info).cast(),
            &mut count,
        )
    };
    if rc != libc::KERN_SUCCESS {
        return Err(format!("host_statistics(HOST_CPU_LOAD_INFO) returned {rc}"));
    }
    Ok(cpu_times_from_ticks(info.cpu_ticks))
}

/// Mach's `CPU_STATE_*` indices into `host_cpu_load_info.cpu_ticks`
/// (`<mach/machine.h>`; checked against libc's on macOS below).
const CPU_STATE_USER: usize = 0;
const CPU_STATE_SYSTEM: usize = 1;
const CPU_STATE_IDLE: usize = 2;
const CPU_STATE_NICE: usize = 3;

#[cfg(target_os = "macos")]
const _: () = {
    assert!(libc::CPU_STATE_USER as usize == CPU_STATE_USER);
    assert!(libc::CPU_STATE_SYSTEM as usize == CPU_STATE_SYSTEM);
    assert!(libc::CPU_STATE_IDLE as usize == CPU_STATE_IDLE);
    assert!(libc::CPU_STATE_NICE as usize == CPU_STATE_NICE);
    assert!(libc::CPU_STATE_MAX as usize == 4);
};

/// `host_cpu_load_info.cpu_ticks` (all CPUs' ticks since boot, by
/// `CPU_STATE_*`) as [`CpuTimes`]; macOS has no iowait, irq or steal.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn cpu_times_from_ticks(ticks: [u32; 4]) -> CpuTimes {
    CpuTimes {
        user: u64::from(ticks[CPU_STATE_USER]),
        nice: u64::from(ticks[CPU_STATE_NICE]),
        system: u64::from(ticks[CPU_STATE_SYSTEM]),
        idle: u64::from(ticks[CPU_STATE_IDLE]),
        ..CpuTimes::default()
    }
}

/// Sample fields read from `/proc` by hand (CPU split and PSI): null
/// when that root cannot be read (Linux: the tests that use it fake `/proc`).
#[cfg(all(test, target_os = "linux"))]
pub(crate) const PROC_FIELDS: &[&str] = &[
    "cpu_user",
    "cpu_sys",
    "cpu_idle",
    "cpu_iowait",
    "memory_pressure",
    "psi_some_avg10",
    "psi_full_avg10",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_of_this_machine_has_memory_load_and_cpu() {
        let mut c = Collector::new(Sources::default());
        assert!(c.sources()["memory"] == "sysinfo", "{:?}", c.sources());
        let (first, changes) = c.read(&[], Instant::now());
        assert!(changes.is_empty(), "{changes:?}");
        assert!(first.ram_total_gb.is_some_and(|g| g > 0.0));
        assert!(first.load_1.is_some());
        assert_eq!(first.cpu_user, None, "no previous CPU reading");
        assert!(first.instances.is_empty());
        std::thread::sleep(Duration::from_millis(60));
        let (second, _) = c.read(&[], Instant::now());
        if cfg!(target_os = "linux") {
            let total = second.cpu_user.unwrap()
                + second.cpu_sys.unwrap()
                + second.cpu_idle.unwrap()
                + second.cpu_iowait.unwrap();
            assert!(total <= 100.01 && total > 50.0, "{second:?}");
        }
    }

    #[test]
    fn mach_cpu_ticks_split_like_the_kernel_counts_them() {
        // user, system, idle, nice: the CPU_STATE_* order
        let a = cpu_times_from_ticks([1000, 500, 8000, 100]);
        assert_eq!(
            (a.user, a.system, a.idle, a.nice, a.iowait),
            (1000, 500, 8000, 100, 0)
        );
        let b = cpu_times_from_ticks([1300, 600, 8550, 150]);
        let split = cpu_split(&a, &b).unwrap();
        // 1000 ticks passed: user + nice 350, system 100, idle 550
        assert_eq!(
            (split.user, split.sys, split.idle),
            (35.0, 10.0, 55.0),
            "{split:?}"
        );
        // u32 tick counters widen without loss
        assert_eq!(cpu_times_from_ticks([u32::MAX, 0, 0, 0]).user, 4294967295);
    }

    #[test]
    fn macos_readings_fill_their_sample_fields_in_gb() {
        let mut c = Collector::new(Sources::default());
        let (mut s, _) = c.read(&[], Instant::now());
        put_apple_gpu(
            &mut s,
            &crate::monitor::ioreg::parse(include_str!("testdata/macos/ioreg_agx_m2pro.txt"))
                .unwrap(),
        );
        assert_eq!(
            (s.gpu_device_util, s.gpu_renderer_util, s.gpu_tiler_util),
            (Some(15.0), Some(12.0), Some(7.0))
        );
        // 1012547584 B = 0.943 GB; 2147483648 B = 2 GB
        assert_eq!(s.gpu_memory_in_use_gb, Some(0.943));
        assert_eq!(s.gpu_memory_alloc_gb, Some(2.0));
        // with no NVIDIA GPU, the Apple GPU's memory is the GPU memory used
        assert_eq!(s.gpu_memory_used_mb(), Some(965.6));
        put_vm_stat(
            &mut s,
            &crate::monitor::vm_stat::parse(include_str!("testdata/macos/vm_stat_m3pro_16k.txt"))
                .unwrap(),
        );
        // 194286 × 16384 B = 2.965 GB wired; 65902 × 16384 B = 1.006 GB
        assert_eq!(s.ram_wired_gb, Some(2.965));
        assert_eq!(s.ram_compressed_gb, Some(1.006));
        // a reading without a line leaves its field null, not 0
        put_vm_stat(
            &mut s,
            &VmStat {
                page_size: 4096,
                wired: Some(1),
                ..VmStat::default()
            },
        );
        assert_eq!(s.ram_compressed_gb, None);
        let v = serde_json::to_value(&s).unwrap();
        assert!(v["ram_compressed_gb"].is_null());
    }

    #[test]
    fn pmset_therm_readings_fill_their_sample_fields() {
        let mut c = Collector::new(Sources::default());
        let (mut s, _) = c.read(&[], Instant::now());
        put_pmset_therm(
            &mut s,
            &crate::monitor::thermal::parse_pmset_therm(include_str!(
                "testdata/macos/pmset_therm_intel_throttled.txt"
            ))
            .unwrap(),
        );
        assert_eq!(s.cpu_speed_limit, Some(28));
        // Apple silicon: no warnings recorded (0), no CPU power status (null)
        put_pmset_therm(
            &mut s,
            &crate::monitor::thermal::parse_pmset_therm(include_str!(
                "testdata/macos/pmset_therm_m1pro.txt"
            ))
            .unwrap(),
        );
        assert_eq!(
            (
                s.thermal_warning_level,
                s.performance_warning_level,
                s.cpu_speed_limit
            ),
            (Some(0), Some(0), None)
        );
        let v = serde_json::to_value(&s).unwrap();
        assert!(v["cpu_speed_limit"].is_null());
    }

    #[test]
    fn other_cpu_is_unknown_when_any_part_is() {
        assert_eq!(
            other_cpu_cores(Some(4.0), Some(1.5), Some(0.25)),
            Some(2.25)
        );
        assert_eq!(
            other_cpu_cores(Some(1.0), Some(1.5), Some(0.25)),
            Some(-0.75)
        );
        assert_eq!(other_cpu_cores(None, Some(0.0), Some(0.1)), None);
        assert_eq!(other_cpu_cores(Some(1.0), None, Some(0.1)), None);
        assert_eq!(other_cpu_cores(Some(1.0), Some(0.0), None), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn other_cpu_is_the_machine_busy_less_mlxrun() {
        let t = tempfile::tempdir().unwrap();
        let stat = t.path().join("stat");
        let cpus: String = (0..8)
            .map(|i| format!("cpu{i} 1 0 1 8 0 0 0 0\n"))
            .collect();
        std::fs::write(&stat, format!("cpu  100 0 0 700 0 0 0 0\n{cpus}")).unwrap();
        let mut c = Collector::new(Sources {
            proc_root: ProcRoot(t.path().to_path_buf()),
            ..Sources::default()
        });
        assert!(
            c.sources()["other_cpu"].starts_with("8 CPUs: machine busy CPU"),
            "{:?}",
            c.sources()
        );
        let (first, _) = c.read(&[], Instant::now());
        assert_eq!(first.cpu_count, Some(8));
        assert_eq!(first.other_cpu_cores, None, "no previous reading");
        // every tick since was busy: 8 cores, of which this test process
        // (at most the machine's real cores) is mlxrun
        std::fs::write(&stat, format!("cpu  900 0 0 700 0 0 0 0\n{cpus}")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let (busy, _) = c.read(&[], Instant::now());
        // (how busy this test process was depends on the tests beside
        // it: the check is the arithmetic, not a bound on that)
        let other = busy.other_cpu_cores.unwrap();
        let own = busy.mlxrun_cpu_pct.unwrap() / 100.0;
        assert!(own >= 0.0, "{busy:?}");
        let signed = busy.other_cpu_signed.unwrap();
        // (the written figures are rounded: 0.1% and 0.01 cores)
        assert!((signed - (8.0 - own)).abs() < 0.002, "{busy:?}");
        assert!((other - signed.max(0.0)).abs() <= 0.005, "{busy:?}");
        // an idle machine (and this process busy): below 0 before
        // clamping, 0 as written
        std::fs::write(&stat, format!("cpu  900 0 0 1500 0 0 0 0\n{cpus}")).unwrap();
        let began = Instant::now();
        let mut x = 0u64;
        while began.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let (idle, _) = c.read(&[], Instant::now());
        assert_eq!(idle.other_cpu_cores, Some(0.0));
        assert!(idle.other_cpu_signed.is_some_and(|v| v < 0.0), "{idle:?}");
        // a tracked tree seen for the first time: its CPU, and so the rest, unknown
        let (tracked, _) = c.read(
            &[("self".to_string(), std::process::id() as i32)],
            Instant::now(),
        );
        assert_eq!(tracked.instances["self"].cpu_pct, None);
        assert_eq!(tracked.other_cpu_cores, None);
    }

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn macos_sources_say_why_they_are_unavailable_here() {
        let mut c = Collector::new(Sources::default());
        for src in [
            "gpu_ioreg",
            "vm_stat",
            "thermal_pressure",
            "pmset_therm",
            "low_power_mode",
        ] {
            assert_eq!(c.sources()[src], "unavailable: macOS only");
        }
        let (s, _) = c.read(&[], Instant::now());
        let v = serde_json::to_value(&s).unwrap();
        for k in [
            "ram_wired_gb",
            "ram_compressed_gb",
            "gpu_memory_in_use_gb",
            "gpu_memory_alloc_gb",
            "thermal_pressure",
            "thermal_warning_level",
            "performance_warning_level",
            "cpu_speed_limit",
            "low_power_mode",
        ] {
            assert!(v[k].is_null(), "{k} = {}", v[k]);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failing_source_is_null_with_a_reason() {
        let t = tempfile::tempdir().unwrap();
        let mut c = Collector::new(Sources {
            proc_root: ProcRoot(t.path().to_path_buf()),
            ..Sources::default()
        });
        let why = &c.sources()["cpu"];
        assert!(why.starts_with("unavailable: cannot read "), "{why}");
        assert!(
            why.contains(&t.path().join("stat").display().to_string()),
            "{why}"
        );
        assert!(c.sources()["memory_pressure"].contains("pressure/memory"));
        assert!(c.sources()["psi"].starts_with("unavailable: "));
        for _ in 0..2 {
            let (s, changes) = c.read(&[], Instant::now());
            assert!(changes.is_empty(), "known from the start: {changes:?}");
            let v = serde_json::to_value(&s).unwrap();
            for k in PROC_FIELDS {
                assert!(v[k].is_null(), "{k} = {}", v[k]);
            }
            // the other sources still work
            assert!(v["ram_available_gb"].as_f64().is_some_and(|g| g > 0.0));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_source_lost_midway_is_reported_once_and_again_when_back() {
        let t = tempfile::tempdir().unwrap();
        let stat = t.path().join("stat");
        std::fs::write(&stat, "cpu 1 0 1 8 0 0 0 0\n").unwrap();
        let mut c = Collector::new(Sources {
            proc_root: ProcRoot(t.path().to_path_buf()),
            ..Sources::default()
        });
        assert_eq!(c.sources()["cpu"], "/proc/stat");
        let (_, changes) = c.read(&[], Instant::now());
        assert!(changes.is_empty());
        std::fs::write(&stat, "cpu 3 0 2 15 0 0 0 0\n").unwrap();
        let (s, _) = c.read(&[], Instant::now());
        assert_eq!(
            (s.cpu_user, s.cpu_sys, s.cpu_idle, s.cpu_iowait),
            (Some(20.0), Some(10.0), Some(70.0), Some(0.0))
        );
        std::fs::remove_file(&stat).unwrap();
        let (s, changes) = c.read(&[], Instant::now());
        assert_eq!(s.cpu_user, None);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].source, "cpu");
        assert!(changes[0].error.as_deref().unwrap().contains("cannot read"));
        let (_, changes) = c.read(&[], Instant::now());
        assert!(changes.is_empty(), "reported once: {changes:?}");
        std::fs::write(&stat, "cpu 4 0 2 16 0 0 0 0\n").unwrap();
        let (s, changes) = c.read(&[], Instant::now());
        assert_eq!(
            changes,
            vec![SourceChange {
                source: "cpu",
                error: None
            }]
        );
        assert_eq!(s.cpu_user, None, "no previous reading after the gap");
    }
}
