//! Statistics over samples, kept as running sums (min, max, sum, first,
//! last per field) so memory stays constant however long the monitor runs:
//! [`WindowStats`] for a window (one point), [`Summary`] for the whole run.
//! Tick intervals go into an HDR histogram for their p95.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::energy::Energy;
use super::procfs::{CpuTimes, cpu_split};
use super::record::{Sample, round};

/// The shortest time between two samples whose `other_cpu_cores` can be a
/// window's maximum: the counters tick at 10 ms, so a shorter interval
/// (such as the extra samples at a window's ends) is too coarse to stand
/// alone; it still counts in the time-weighted mean.
pub const OTHER_CPU_MAX_MIN_SPAN_S: f64 = 0.1;

/// Running statistics of one optional value.
#[derive(Debug, Clone, Copy, Default)]
struct Series {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    first: Option<f64>,
    last: Option<f64>,
    seen: bool,
}

impl Series {
    fn push(&mut self, v: Option<f64>) {
        if !self.seen {
            self.first = v;
            self.seen = true;
        }
        self.last = v;
        if let Some(x) = v {
            if self.n == 0 {
                (self.min, self.max) = (x, x);
            } else {
                self.min = self.min.min(x);
                self.max = self.max.max(x);
            }
            self.n += 1;
            self.sum += x;
        }
    }
    fn min(&self) -> Option<f64> {
        (self.n > 0).then_some(self.min)
    }
    fn max(&self) -> Option<f64> {
        (self.n > 0).then_some(self.max)
    }
    fn avg(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

#[derive(Debug, Clone, Default)]
struct InstanceAcc {
    rss: Series,
    cpu: Series,
    processes_max: u64,
}

/// One tracked process tree over a window or a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceStats {
    pub rss_peak_mb: Option<f64>,
    /// RSS at the last sample.
    pub rss_end_mb: Option<f64>,
    /// Mean of the samples' CPU, percent of one core.
    pub cpu_avg_pct: Option<f64>,
    pub cpu_max_pct: Option<f64>,
    pub processes_max: u64,
}

/// Statistics of the samples of one window (`begin_window` → `end_window`).
/// `None` = not readable on this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowStats {
    pub samples: u64,
    /// From the window's first sample to its last.
    pub duration_s: f64,
    pub ram_available_start_gb: Option<f64>,
    pub ram_available_end_gb: Option<f64>,
    pub ram_available_min_gb: Option<f64>,
    pub swap_used_start_mb: Option<f64>,
    pub swap_used_end_mb: Option<f64>,
    pub swap_used_max_mb: Option<f64>,
    /// Highest pressure level seen: 1 normal, 2 warn, 4 critical.
    pub memory_pressure_peak: Option<u8>,
    pub psi_some_avg10_max: Option<f64>,
    /// CPU split over the window: from the CPU counters at its first and
    /// last sample (exact), else the mean of the samples' values.
    pub cpu_user_avg: Option<f64>,
    pub cpu_sys_avg: Option<f64>,
    pub cpu_idle_avg: Option<f64>,
    pub load_1_max: Option<f64>,
    pub gpu_util_avg: Option<f64>,
    pub gpu_util_max: Option<f64>,
    pub gpu_memory_used_max_mb: Option<f64>,
    /// Max over samples of the sum over all tracked trees.
    pub server_rss_peak_mb: Option<f64>,
    pub instances: BTreeMap<String, InstanceStats>,
    /// Cores other programs used (see `neighbours`): the time-weighted
    /// mean of the samples' signed values, clamped at 0 (the first
    /// sample's interval lies before the window and is left out), the most
    /// in one sample interval of at least
    /// [`OTHER_CPU_MAX_MIN_SPAN_S`], and the mean as a percentage of all
    /// CPUs.
    pub other_cpu_cores_avg: Option<f64>,
    pub other_cpu_cores_max: Option<f64>,
    pub other_cpu_pct_avg: Option<f64>,
    /// macOS: the highest thermal pressure level (0–4), the highest
    /// thermal and performance warning levels, the lowest CPU speed limit
    /// (percent), whether Low Power Mode was on in any sample.
    pub thermal_pressure_peak: Option<u8>,
    pub thermal_warning_level_max: Option<u32>,
    pub performance_warning_level_max: Option<u32>,
    pub cpu_speed_limit_min: Option<u32>,
    pub low_power_mode: Option<bool>,
    /// The accelerator's busiest device, percent, measured for about a
    /// second before this window's configuration started its servers
    /// (`Monitor::measure_accelerator_before`); `null` when not measured
    /// or no GPU could be read.
    pub accelerator_busy_before_pct: Option<f64>,
}

/// A time-weighted mean (value × seconds) and the largest value seen
/// over intervals long enough to count alone.
#[derive(Debug, Clone, Copy, Default)]
struct Weighted {
    sum: f64,
    span_s: f64,
    max: Option<f64>,
}

impl Weighted {
    fn push(&mut self, v: f64, span_s: f64) {
        if !(span_s > 0.0 && v.is_finite()) {
            return;
        }
        self.sum += v * span_s;
        self.span_s += span_s;
        if span_s >= OTHER_CPU_MAX_MIN_SPAN_S {
            self.max = Some(self.max.map_or(v, |m| m.max(v)));
        }
    }
    fn avg(&self) -> Option<f64> {
        (self.span_s > 0.0).then(|| self.sum / self.span_s)
    }
}

fn max_opt<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Running statistics of a set of samples.
#[derive(Debug, Clone, Default)]
pub(crate) struct Acc {
    samples: u64,
    first_elapsed: Option<f64>,
    last_elapsed: f64,
    ram_available: Series,
    ram_free: Series,
    swap_used: Series,
    ram_wired: Series,
    ram_compressed: Series,
    psi_some: Series,
    cpu_user: Series,
    cpu_sys: Series,
    cpu_idle: Series,
    load_1: Series,
    gpu_util: Series,
    gpu_mem: Series,
    server_rss: Series,
    pressure_peak: Option<u8>,
    cpu_raw_first: Option<CpuTimes>,
    cpu_raw_last: Option<CpuTimes>,
    instances: BTreeMap<String, InstanceAcc>,
    other_cpu: Weighted,
    cpu_count: Option<u32>,
    thermal_pressure_peak: Option<u8>,
    thermal_warning_max: Option<u32>,
    performance_warning_max: Option<u32>,
    cpu_speed_limit_min: Option<u32>,
    low_power_mode: Option<bool>,
}

impl Acc {
    pub fn push(&mut self, s: &Sample) {
        if self.samples == 0 {
            self.first_elapsed = Some(s.elapsed_s);
            self.cpu_raw_first = s.cpu_raw;
        } else if let Some(v) = s.other_cpu_signed.or(s.other_cpu_cores) {
            // the sample's value covers the time since the previous one;
            // signed, so the counters' noise averages out
            self.other_cpu.push(v, s.elapsed_s - self.last_elapsed);
        }
        if s.cpu_count.is_some() {
            self.cpu_count = s.cpu_count;
        }
        self.thermal_pressure_peak = max_opt(self.thermal_pressure_peak, s.thermal_pressure);
        self.thermal_warning_max = max_opt(self.thermal_warning_max, s.thermal_warning_level);
        self.performance_warning_max =
            max_opt(self.performance_warning_max, s.performance_warning_level);
        self.cpu_speed_limit_min = match (self.cpu_speed_limit_min, s.cpu_speed_limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(on) = s.low_power_mode {
            self.low_power_mode = Some(self.low_power_mode.unwrap_or(false) || on);
        }
        self.samples += 1;
        self.last_elapsed = s.elapsed_s;
        self.cpu_raw_last = s.cpu_raw;
        self.ram_available.push(s.ram_available_gb);
        self.ram_free.push(s.ram_free_gb);
        self.swap_used.push(s.swap_used_mb);
        self.ram_wired.push(s.ram_wired_gb);
        self.ram_compressed.push(s.ram_compressed_gb);
        self.psi_some.push(s.psi_some_avg10);
        self.cpu_user.push(s.cpu_user);
        self.cpu_sys.push(s.cpu_sys);
        self.cpu_idle.push(s.cpu_idle);
        self.load_1.push(s.load_1);
        self.gpu_util.push(s.gpu_util());
        self.gpu_mem.push(s.gpu_memory_used_mb());
        self.server_rss.push(s.server_rss_mb());
        if let Some(p) = s.memory_pressure {
            self.pressure_peak = Some(self.pressure_peak.map_or(p, |q| q.max(p)));
        }
        for (name, i) in &s.instances {
            let a = self.instances.entry(name.clone()).or_default();
            a.rss.push(i.rss_mb);
            a.cpu.push(i.cpu_pct);
            a.processes_max = a.processes_max.max(i.processes);
        }
    }

    fn duration_s(&self) -> f64 {
        self.first_elapsed
            .map_or(0.0, |f| round(self.last_elapsed - f, 3))
    }

    /// user, sys, idle percent over the whole span, from the raw counters.
    fn cpu_over_span(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        let exact = match (self.cpu_raw_first, self.cpu_raw_last) {
            (Some(a), Some(b)) => cpu_split(&a, &b),
            _ => None,
        };
        match exact {
            Some(s) => (Some(s.user), Some(s.sys), Some(s.idle)),
            None => (self.cpu_user.avg(), self.cpu_sys.avg(), self.cpu_idle.avg()),
        }
    }

    fn instance_stats(&self) -> BTreeMap<String, InstanceStats> {
        let r1 = |v: Option<f64>| v.map(|x| round(x, 1));
        self.instances
            .iter()
            .map(|(k, a)| {
                (
                    k.clone(),
                    InstanceStats {
                        rss_peak_mb: r1(a.rss.max()),
                        rss_end_mb: r1(a.rss.last),
                        cpu_avg_pct: r1(a.cpu.avg()),
                        cpu_max_pct: r1(a.cpu.max()),
                        processes_max: a.processes_max,
                    },
                )
            })
            .collect()
    }

    pub fn window_stats(&self) -> WindowStats {
        let (user, sys, idle) = self.cpu_over_span();
        let r = |v: Option<f64>, dp| v.map(|x| round(x, dp));
        WindowStats {
            samples: self.samples,
            duration_s: self.duration_s(),
            ram_available_start_gb: self.ram_available.first,
            ram_available_end_gb: self.ram_available.last,
            ram_available_min_gb: self.ram_available.min(),
            swap_used_start_mb: self.swap_used.first,
            swap_used_end_mb: self.swap_used.last,
            swap_used_max_mb: self.swap_used.max(),
            memory_pressure_peak: self.pressure_peak,
            psi_some_avg10_max: self.psi_some.max(),
            cpu_user_avg: r(user, 2),
            cpu_sys_avg: r(sys, 2),
            cpu_idle_avg: r(idle, 2),
            load_1_max: self.load_1.max(),
            gpu_util_avg: r(self.gpu_util.avg(), 2),
            gpu_util_max: self.gpu_util.max(),
            gpu_memory_used_max_mb: self.gpu_mem.max(),
            server_rss_peak_mb: r(self.server_rss.max(), 1),
            instances: self.instance_stats(),
            other_cpu_cores_avg: r(self.other_cpu.avg().map(|v| v.max(0.0)), 2),
            other_cpu_cores_max: r(self.other_cpu.max.map(|v| v.max(0.0)), 2),
            other_cpu_pct_avg: match (self.other_cpu.avg().map(|v| v.max(0.0)), self.cpu_count) {
                (Some(cores), Some(n)) if n > 0 => Some(round(cores * 100.0 / f64::from(n), 2)),
                _ => None,
            },
            thermal_pressure_peak: self.thermal_pressure_peak,
            thermal_warning_level_max: self.thermal_warning_max,
            performance_warning_level_max: self.performance_warning_max,
            cpu_speed_limit_min: self.cpu_speed_limit_min,
            low_power_mode: self.low_power_mode,
            accelerator_busy_before_pct: None,
        }
    }
}

/// Timing of the fixed-rate ticks.
#[derive(Debug)]
pub(crate) struct TickStats {
    pub ticks: u64,
    pub missed: u64,
    last_fire: Option<Instant>,
    /// Intervals between consecutive ticks, µs.
    intervals: Histogram<u64>,
    interval_sum_us: f64,
    late_max_ms: Option<f64>,
}

impl Default for TickStats {
    fn default() -> Self {
        TickStats {
            ticks: 0,
            missed: 0,
            last_fire: None,
            intervals: Histogram::new(3).expect("3 significant digits is a valid precision"),
            interval_sum_us: 0.0,
            late_max_ms: None,
        }
    }
}

impl TickStats {
    /// A tick fired at `at`, `late` after its deadline.
    pub fn tick(&mut self, at: Instant, late: Duration) {
        self.ticks += 1;
        if let Some(prev) = self.last_fire {
            let us = at.saturating_duration_since(prev).as_micros() as u64;
            // auto-resize makes recording infallible for any u64
            let _ = self.intervals.record(us);
            self.interval_sum_us += us as f64;
        }
        self.last_fire = Some(at);
        let ms = late.as_secs_f64() * 1e3;
        self.late_max_ms = Some(self.late_max_ms.map_or(ms, |m| m.max(ms)));
    }

    fn interval_mean_ms(&self) -> Option<f64> {
        let n = self.intervals.len();
        (n > 0).then(|| self.interval_sum_us / n as f64 / 1e3)
    }

    fn interval_p95_ms(&self) -> Option<f64> {
        (!self.intervals.is_empty()).then(|| self.intervals.value_at_quantile(0.95) as f64 / 1e3)
    }
}

/// The wrapped command, in command mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandOutcome {
    /// argv as given (never the environment).
    pub command: Vec<String>,
    /// The command's exit code, or 128 + N when signal N killed it.
    pub exit_code: i32,
}

/// The last line of the file: the whole run. Names follow mlx-knife's
/// memmon where the meaning matches (`ram_free_*` there was available
/// memory; both are given here).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// RFC 3339 UTC, when the monitor stopped.
    pub timestamp: String,
    pub ts: f64,
    /// From the first sample to the last.
    pub duration_s: f64,
    /// Sample lines written (ticks and extra samples).
    pub samples: u64,
    /// Samples taken on the schedule.
    pub ticks: u64,
    /// Ticks skipped because a sample overran a whole interval.
    pub missed: u64,
    pub interval_ms: f64,
    /// Mean and p95 of the intervals between consecutive ticks.
    pub interval_mean_ms: Option<f64>,
    pub interval_p95_ms: Option<f64>,
    /// The latest any tick fired after its deadline.
    pub late_max_ms: Option<f64>,
    pub ram_total_gb: Option<f64>,
    pub ram_available_min_gb: Option<f64>,
    pub ram_available_max_gb: Option<f64>,
    pub ram_available_avg_gb: Option<f64>,
    pub ram_free_min_gb: Option<f64>,
    pub ram_free_max_gb: Option<f64>,
    pub ram_free_avg_gb: Option<f64>,
    pub swap_max_mb: Option<f64>,
    pub swap_avg_mb: Option<f64>,
    /// macOS: the most memory wired, and the most the compressor
    /// occupied, in any sample (`vm_stat`).
    pub ram_wired_max_gb: Option<f64>,
    pub ram_compressed_max_gb: Option<f64>,
    pub memory_pressure_peak: Option<u8>,
    pub psi_some_avg10_max: Option<f64>,
    /// Max and mean of the 1-minute load average.
    pub load_max: Option<f64>,
    pub load_avg: Option<f64>,
    pub cpu_user_max: Option<f64>,
    pub cpu_sys_max: Option<f64>,
    /// Over the whole run, from the CPU counters.
    pub cpu_user_avg: Option<f64>,
    pub cpu_sys_avg: Option<f64>,
    pub cpu_idle_avg: Option<f64>,
    /// GPU utilisation (see `Sample::gpu_util`).
    pub gpu_device_max: Option<f64>,
    pub gpu_device_avg: Option<f64>,
    pub gpu_memory_used_max_mb: Option<f64>,
    pub server_rss_peak_mb: Option<f64>,
    pub instances: BTreeMap<String, InstanceStats>,
    /// Cores other programs used: time-weighted mean and maximum (as in a
    /// window).
    pub other_cpu_cores_avg: Option<f64>,
    pub other_cpu_cores_max: Option<f64>,
    /// macOS: the highest thermal pressure level, whether Low Power Mode
    /// was on in any sample.
    pub thermal_pressure_peak: Option<u8>,
    pub low_power_mode: Option<bool>,
    /// CPU the sampler thread used per tick (its thread CPU clock).
    pub sampler_cpu_ms_per_sample: Option<f64>,
    /// Lines that could not be written.
    pub write_errors: u64,
    /// Energy per device and in all from the first sample to the last
    /// (in command mode: the command's run, within a sample interval at
    /// each end), or every number `null` and why.
    pub energy: Energy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// What the summary needs besides the samples.
pub(crate) struct SummaryInput<'a> {
    pub energy: Energy,
    pub run: &'a Acc,
    pub ticks: &'a TickStats,
    pub interval: Duration,
    pub ts: f64,
    pub ram_total_gb: Option<f64>,
    pub sampler_cpu: Option<Duration>,
    pub thread_ticks: u64,
    pub write_errors: u64,
    pub outcome: Option<CommandOutcome>,
}

pub(crate) fn summarize(i: SummaryInput<'_>) -> Summary {
    let a = i.run;
    let w = a.window_stats();
    let r = |v: Option<f64>, dp| v.map(|x| round(x, dp));
    Summary {
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ts: i.ts,
        duration_s: w.duration_s,
        samples: a.samples,
        ticks: i.ticks.ticks,
        missed: i.ticks.missed,
        interval_ms: i.interval.as_secs_f64() * 1e3,
        interval_mean_ms: r(i.ticks.interval_mean_ms(), 3),
        interval_p95_ms: r(i.ticks.interval_p95_ms(), 3),
        late_max_ms: r(i.ticks.late_max_ms, 3),
        ram_total_gb: i.ram_total_gb,
        ram_available_min_gb: a.ram_available.min(),
        ram_available_max_gb: a.ram_available.max(),
        ram_available_avg_gb: r(a.ram_available.avg(), 3),
        ram_free_min_gb: a.ram_free.min(),
        ram_free_max_gb: a.ram_free.max(),
        ram_free_avg_gb: r(a.ram_free.avg(), 3),
        swap_max_mb: a.swap_used.max(),
        swap_avg_mb: r(a.swap_used.avg(), 1),
        ram_wired_max_gb: a.ram_wired.max(),
        ram_compressed_max_gb: a.ram_compressed.max(),
        memory_pressure_peak: a.pressure_peak,
        psi_some_avg10_max: a.psi_some.max(),
        load_max: a.load_1.max(),
        load_avg: r(a.load_1.avg(), 2),
        cpu_user_max: a.cpu_user.max(),
        cpu_sys_max: a.cpu_sys.max(),
        cpu_user_avg: w.cpu_user_avg,
        cpu_sys_avg: w.cpu_sys_avg,
        cpu_idle_avg: w.cpu_idle_avg,
        gpu_device_max: w.gpu_util_max,
        gpu_device_avg: w.gpu_util_avg,
        gpu_memory_used_max_mb: w.gpu_memory_used_max_mb,
        server_rss_peak_mb: w.server_rss_peak_mb,
        instances: w.instances,
        other_cpu_cores_avg: w.other_cpu_cores_avg,
        other_cpu_cores_max: w.other_cpu_cores_max,
        thermal_pressure_peak: w.thermal_pressure_peak,
        low_power_mode: w.low_power_mode,
        sampler_cpu_ms_per_sample: match (i.sampler_cpu, i.thread_ticks) {
            (Some(cpu), n) if n > 0 => Some(round(cpu.as_secs_f64() * 1e3 / n as f64, 4)),
            _ => None,
        },
        write_errors: i.write_errors,
        energy: i.energy,
        exit_code: i.outcome.as_ref().map(|o| o.exit_code),
        command: i.outcome.map(|o| o.command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::record::Trigger;
    use crate::monitor::tree::InstanceSample;

    fn sample(elapsed: f64, avail: Option<f64>, pressure: Option<u8>, rss: &[f64]) -> Sample {
        Sample {
            ts: 1.0e9 + elapsed,
            elapsed_s: elapsed,
            seq: None,
            trigger: Trigger::Tick,
            late_ms: None,
            ram_total_gb: Some(16.0),
            ram_available_gb: avail,
            ram_free_gb: avail.map(|a| a / 2.0),
            swap_used_mb: Some(elapsed * 10.0),
            swap_total_mb: Some(1024.0),
            ram_wired_gb: None,
            ram_compressed_gb: None,
            memory_pressure: pressure,
            psi_some_avg10: None,
            psi_full_avg10: None,
            load_1: Some(elapsed),
            load_5: None,
            load_15: None,
            cpu_user: Some(10.0 * elapsed),
            cpu_sys: Some(5.0),
            cpu_idle: Some(100.0 - 10.0 * elapsed - 5.0),
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
            instances: rss
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    (
                        format!("i{i}"),
                        InstanceSample {
                            rss_mb: Some(*r),
                            cpu_pct: Some(*r / 10.0),
                            processes: 1 + i as u64,
                        },
                    )
                })
                .collect(),
            cpu_raw: None,
            cpu_count: None,
            other_cpu_signed: None,
        }
    }

    #[test]
    fn window_stats_follow_the_samples() {
        let mut a = Acc::default();
        a.push(&sample(1.0, Some(10.0), Some(1), &[100.0, 50.0]));
        a.push(&sample(2.0, None, None, &[300.0, 10.0]));
        a.push(&sample(3.5, Some(8.0), Some(2), &[120.0, 60.0]));
        let w = a.window_stats();
        assert_eq!(w.samples, 3);
        assert_eq!(w.duration_s, 2.5);
        assert_eq!(w.ram_available_start_gb, Some(10.0));
        assert_eq!(w.ram_available_end_gb, Some(8.0));
        assert_eq!(w.ram_available_min_gb, Some(8.0), "null is skipped, not 0");
        assert_eq!(
            (w.swap_used_start_mb, w.swap_used_end_mb),
            (Some(10.0), Some(35.0))
        );
        assert_eq!(w.memory_pressure_peak, Some(2));
        assert_eq!(w.psi_some_avg10_max, None);
        // no raw counters: the mean of the samples
        assert_eq!(w.cpu_user_avg, Some(21.67));
        assert_eq!(w.load_1_max, Some(3.5));
        assert_eq!(w.server_rss_peak_mb, Some(310.0));
        assert_eq!(w.gpu_util_avg, None);
        let i0 = &w.instances["i0"];
        assert_eq!(
            (i0.rss_peak_mb, i0.rss_end_mb, i0.processes_max),
            (Some(300.0), Some(120.0), 1)
        );
        assert_eq!(i0.cpu_max_pct, Some(30.0));
        assert_eq!(w.instances["i1"].processes_max, 2);
        // an empty window: nothing known
        let e = Acc::default().window_stats();
        assert_eq!(
            (e.samples, e.duration_s, e.ram_available_min_gb),
            (0, 0.0, None)
        );
    }

    #[test]
    fn apple_gpu_memory_peaks_per_window_and_wired_memory_per_run() {
        let mut a = Acc::default();
        for (t, in_use, wired) in [
            (1.0, Some(1.5), Some(2.0)),
            (2.0, None, None),
            (3.0, Some(6.25), Some(9.5)),
            (4.0, Some(3.0), Some(4.0)),
        ] {
            let mut s = sample(t, Some(8.0), Some(1), &[]);
            s.gpu_memory_in_use_gb = in_use;
            s.ram_wired_gb = wired;
            s.ram_compressed_gb = wired.map(|w| w / 2.0);
            a.push(&s);
        }
        // the peak in-use GPU memory of the point, in MB like NVIDIA's
        assert_eq!(a.window_stats().gpu_memory_used_max_mb, Some(6400.0));
        let summary = summarize(SummaryInput {
            energy: Energy::unknown("none"),
            run: &a,
            ticks: &TickStats::default(),
            interval: Duration::from_millis(200),
            ts: 1.0,
            ram_total_gb: Some(16.0),
            sampler_cpu: None,
            thread_ticks: 0,
            write_errors: 0,
            outcome: None,
        });
        assert_eq!(summary.gpu_memory_used_max_mb, Some(6400.0));
        assert_eq!(summary.ram_wired_max_gb, Some(9.5));
        assert_eq!(summary.ram_compressed_max_gb, Some(4.75));
        // no macOS reading at all: null, not 0
        let mut none = Acc::default();
        none.push(&sample(1.0, Some(8.0), Some(1), &[]));
        assert_eq!(none.window_stats().gpu_memory_used_max_mb, None);
    }

    #[test]
    fn window_cpu_comes_from_the_counters_at_its_ends() {
        let mut a = Acc::default();
        let mut s1 = sample(1.0, Some(1.0), None, &[]);
        s1.cpu_raw = Some(CpuTimes {
            user: 100,
            idle: 100,
            ..Default::default()
        });
        let mut s2 = sample(2.0, Some(1.0), None, &[]);
        s2.cpu_raw = Some(CpuTimes {
            user: 130,
            system: 10,
            idle: 160,
            ..Default::default()
        });
        a.push(&s1);
        a.push(&s2);
        let w = a.window_stats();
        assert_eq!(
            (w.cpu_user_avg, w.cpu_sys_avg, w.cpu_idle_avg),
            (Some(30.0), Some(10.0), Some(60.0))
        );
        assert_eq!(w.server_rss_peak_mb, None, "nothing tracked");
    }

    #[test]
    fn other_cpu_is_time_weighted_and_its_first_interval_left_out() {
        let mut a = Acc::default();
        // (elapsed s, other cores): the first value covers time before the window
        for (t, v) in [
            (10.0, Some(9.0)),
            (10.2, Some(1.0)),
            (10.4, None),
            (11.0, Some(0.5)),
            (11.02, Some(3.0)),
        ] {
            let mut s = sample(t, Some(8.0), Some(1), &[]);
            s.other_cpu_cores = v;
            s.cpu_count = Some(4);
            a.push(&s);
        }
        let w = a.window_stats();
        // (1.0 × 0.2 + 0.5 × 0.6 + 3.0 × 0.02) / 0.82
        assert_eq!(w.other_cpu_cores_avg, Some(0.68));
        // 3.0 came from a 20 ms interval: too short to be the maximum alone
        assert_eq!(w.other_cpu_cores_max, Some(1.0));
        assert_eq!(w.other_cpu_pct_avg, Some(17.07));
        // one sample, or no known value: unknown, not 0
        let mut one = Acc::default();
        let mut s = sample(1.0, Some(8.0), Some(1), &[]);
        s.other_cpu_cores = Some(2.0);
        one.push(&s);
        let w = one.window_stats();
        assert_eq!((w.other_cpu_cores_avg, w.other_cpu_cores_max), (None, None));
        assert_eq!(w.other_cpu_pct_avg, None);
        // without a CPU count the share is unknown, the cores are not
        let mut no_count = Acc::default();
        for t in [1.0, 2.0] {
            let mut s = sample(t, Some(8.0), Some(1), &[]);
            s.other_cpu_cores = Some(0.25);
            no_count.push(&s);
        }
        let w = no_count.window_stats();
        assert_eq!(
            (w.other_cpu_cores_avg, w.other_cpu_pct_avg),
            (Some(0.25), None)
        );
        // noise on both sides of 0 averages out: the signed values count,
        // and only the mean is clamped
        let mut noisy = Acc::default();
        for (t, signed) in [(0.0, 0.0), (0.2, 0.6), (0.4, -0.4), (0.6, -0.2)] {
            let mut s = sample(t, Some(8.0), Some(1), &[]);
            s.other_cpu_signed = Some(signed);
            s.other_cpu_cores = Some(f64::max(signed, 0.0));
            noisy.push(&s);
        }
        let w = noisy.window_stats();
        assert_eq!(w.other_cpu_cores_avg, Some(0.0));
        assert_eq!(w.other_cpu_cores_max, Some(0.6));
        let mut below = Acc::default();
        for (t, signed) in [(0.0, 0.0), (0.2, -0.3), (0.4, -0.1)] {
            let mut s = sample(t, Some(8.0), Some(1), &[]);
            s.other_cpu_signed = Some(signed);
            below.push(&s);
        }
        let w = below.window_stats();
        assert_eq!(
            (w.other_cpu_cores_avg, w.other_cpu_cores_max),
            (Some(0.0), Some(0.0))
        );
    }

    #[test]
    fn thermal_readings_keep_their_worst_and_low_power_any() {
        let mut a = Acc::default();
        let readings = [
            (None, None, None, None),
            (Some(0), Some(0), Some(100), Some(false)),
            (Some(2), Some(5), Some(62), Some(true)),
            (Some(1), Some(0), Some(100), Some(false)),
            (None, None, None, None),
        ];
        for (k, (p, warn, limit, low)) in readings.into_iter().enumerate() {
            let mut s = sample(k as f64, Some(8.0), Some(1), &[]);
            s.thermal_pressure = p;
            s.thermal_warning_level = warn;
            s.performance_warning_level = warn.map(|w| w / 5);
            s.cpu_speed_limit = limit;
            s.low_power_mode = low;
            a.push(&s);
        }
        let w = a.window_stats();
        assert_eq!(w.thermal_pressure_peak, Some(2));
        assert_eq!(w.thermal_warning_level_max, Some(5));
        assert_eq!(w.performance_warning_level_max, Some(1));
        assert_eq!(w.cpu_speed_limit_min, Some(62));
        assert_eq!(w.low_power_mode, Some(true), "on in one sample");
        let mut off = Acc::default();
        let mut s = sample(1.0, Some(8.0), Some(1), &[]);
        s.low_power_mode = Some(false);
        off.push(&s);
        assert_eq!(off.window_stats().low_power_mode, Some(false));
        // nothing read (Linux): all unknown
        let w = Acc::default().window_stats();
        assert_eq!(
            (
                w.thermal_pressure_peak,
                w.cpu_speed_limit_min,
                w.low_power_mode
            ),
            (None, None, None)
        );
        assert_eq!(w.accelerator_busy_before_pct, None);
    }

    #[test]
    fn tick_intervals_and_lateness() {
        let t0 = Instant::now();
        let mut t = TickStats::default();
        let ms = Duration::from_millis;
        for (k, late) in [0u64, 3, 0, 1].iter().enumerate() {
            t.tick(t0 + ms(200 * k as u64 + late), ms(*late));
        }
        assert_eq!(t.ticks, 4);
        assert_eq!(t.interval_mean_ms(), Some(601.0 / 3.0));
        let p95 = t.interval_p95_ms().unwrap();
        assert!((p95 - 203.0).abs() < 0.5, "{p95}");
        assert_eq!(t.late_max_ms, Some(3.0));
    }
}
