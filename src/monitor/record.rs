//! The lines of `monitor.jsonl`: one JSON object per line, each with a
//! `kind` (`header`, `sample`, `event`, `summary`), written with one
//! `write(2)` per line so a killed monitor keeps every line it wrote, and
//! synced: a header, event or summary at once, samples at most once per
//! [`SAMPLE_SYNC_EVERY`] (a sync can take milliseconds, and the sampler
//! keeps its schedule).
//! Units: GB = 2^30 bytes, MB = 2^20 bytes, percentages 0–100 (per process
//! tree: of one core), times in seconds (`_s`) or milliseconds (`_ms`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::energy::PowerSample;
use super::gpu::GpuSample;
use super::hardware::HardwareProfile;
use super::procfs::CpuTimes;
use super::stats::Summary;
use super::tree::InstanceSample;
use crate::durable::{LineFile, push_json_line};

/// `schema` of the header line.
pub const SCHEMA: &str = "mlxrun-monitor/4";

/// The first line.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub schema: &'static str,
    pub mlxrun_version: &'static str,
    pub interval_ms: f64,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub ts: f64,
    /// The monitoring process.
    pub pid: u32,
    pub hardware: HardwareProfile,
    /// Each source: what it reads, or `unavailable: <why>`.
    pub sources: BTreeMap<String, String>,
}

/// Why a sample was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// On the fixed-rate schedule.
    Tick,
    /// The extra sample of `begin_window`.
    WindowStart,
    /// The extra sample of `end_window`.
    WindowEnd,
    /// The last sample, taken by `stop`.
    Final,
    /// The extra samples around the idle power measurement.
    IdleStart,
    IdleEnd,
}

/// One reading of the machine. `None` (JSON `null`) = could not be read;
/// the header's `sources` says why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Epoch seconds: the start's wall clock plus monotonic time since (so
    /// it never jumps with the wall clock), 3 decimals.
    pub ts: f64,
    /// Seconds since the monitor started.
    pub elapsed_s: f64,
    /// Tick index `k` (due at start + k × interval); `null` for extra samples.
    pub seq: Option<u64>,
    pub trigger: Trigger,
    /// How late this tick fired against its deadline; `null` for extras.
    pub late_ms: Option<f64>,
    pub ram_total_gb: Option<f64>,
    pub ram_available_gb: Option<f64>,
    pub ram_free_gb: Option<f64>,
    pub swap_used_mb: Option<f64>,
    pub swap_total_mb: Option<f64>,
    /// macOS `vm_stat`: wired memory (never paged out; MLX wires a model's
    /// weights) and the RAM the compressor occupies.
    pub ram_wired_gb: Option<f64>,
    pub ram_compressed_gb: Option<f64>,
    /// 1 normal, 2 warn, 4 critical.
    pub memory_pressure: Option<u8>,
    pub psi_some_avg10: Option<f64>,
    pub psi_full_avg10: Option<f64>,
    pub load_1: Option<f64>,
    pub load_5: Option<f64>,
    pub load_15: Option<f64>,
    /// Percent of all CPUs' time since the previous sample.
    pub cpu_user: Option<f64>,
    pub cpu_sys: Option<f64>,
    pub cpu_idle: Option<f64>,
    pub cpu_iowait: Option<f64>,
    /// mlxrun's own CPU since the previous sample (every thread, and the
    /// short commands the monitor runs), percent of one core.
    pub mlxrun_cpu_pct: Option<f64>,
    /// Cores busy with anything but mlxrun and the tracked trees since the
    /// previous sample (see `neighbours`); `null` when a part is unknown.
    pub other_cpu_cores: Option<f64>,
    /// NVIDIA GPUs (NVML); `null` when NVML is unavailable.
    pub gpus: Option<Vec<GpuSample>>,
    /// Apple GPU (ioreg `PerformanceStatistics`), percent.
    pub gpu_device_util: Option<f64>,
    pub gpu_renderer_util: Option<f64>,
    pub gpu_tiler_util: Option<f64>,
    /// Apple GPU (ioreg `PerformanceStatistics`): unified memory in use
    /// ("In use system memory") and allocated ("Alloc system memory").
    pub gpu_memory_in_use_gb: Option<f64>,
    pub gpu_memory_alloc_gb: Option<f64>,
    /// macOS thermal pressure (`notifyutil`): 0 nominal, 1 moderate,
    /// 2 heavy, 3 trapping, 4 sleeping.
    pub thermal_pressure: Option<u8>,
    /// macOS `pmset -g therm`: thermal and performance warning levels (0 =
    /// none recorded) and the CPU speed limit (percent; `null` when no CPU
    /// power status is recorded, as on Apple silicon).
    pub thermal_warning_level: Option<u32>,
    pub performance_warning_level: Option<u32>,
    pub cpu_speed_limit: Option<u32>,
    /// macOS Low Power Mode (`pmset -g`).
    pub low_power_mode: Option<bool>,
    /// Power and energy per device (NVML, RAPL, IOReport); `null` when
    /// no source exists (the header's `sources.power` says why).
    pub power: Option<PowerSample>,
    /// Apple silicon (IOReport's sampler, SMC): mean CPU and GPU
    /// temperature, °C; `null` elsewhere.
    pub cpu_temp_c: Option<f64>,
    pub gpu_temp_c: Option<f64>,
    /// Tracked process trees by name.
    pub instances: BTreeMap<String, InstanceSample>,
    /// The raw CPU counters this sample read (for window averages).
    #[serde(skip)]
    pub(crate) cpu_raw: Option<CpuTimes>,
    /// The CPUs the CPU counters cover (for shares of the machine).
    #[serde(skip)]
    pub(crate) cpu_count: Option<u32>,
    /// `other_cpu_cores` before clamping at 0 (for window means).
    #[serde(skip)]
    pub(crate) other_cpu_signed: Option<f64>,
}

impl Sample {
    /// GPU utilisation of this sample: the mean over NVIDIA devices, else the
    /// Apple GPU's device utilisation.
    pub fn gpu_util(&self) -> Option<f64> {
        let nv: Vec<f64> = self
            .gpus
            .iter()
            .flatten()
            .filter_map(|g| g.util_pct)
            .collect();
        if nv.is_empty() {
            self.gpu_device_util
        } else {
            Some(nv.iter().sum::<f64>() / nv.len() as f64)
        }
    }

    /// GPU memory in use, MB: the sum over NVIDIA devices, else the Apple
    /// GPU's unified memory in use.
    pub fn gpu_memory_used_mb(&self) -> Option<f64> {
        let used: Vec<f64> = self
            .gpus
            .iter()
            .flatten()
            .filter_map(|g| g.memory_used_mb)
            .collect();
        if used.is_empty() {
            self.gpu_memory_in_use_gb.map(|gb| round(gb * 1024.0, 1))
        } else {
            Some(used.iter().sum())
        }
    }

    /// Σ RSS over the tracked trees, MB; `None` when nothing is tracked or
    /// no tree's RSS is known.
    pub fn server_rss_mb(&self) -> Option<f64> {
        let known: Vec<f64> = self.instances.values().filter_map(|i| i.rss_mb).collect();
        (!known.is_empty()).then(|| known.iter().sum())
    }
}

/// A free-form event: a name, when, and fields.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub name: String,
    pub ts: f64,
    pub elapsed_s: f64,
    /// Always an object (a non-object value is wrapped as `{"value": …}`).
    pub fields: Value,
}

/// One line of the file.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record<'a> {
    Header(&'a Header),
    Sample(&'a Sample),
    Event(&'a Event),
    Summary(&'a Summary),
}

/// Samples written since the last sync are synced once this much time has
/// passed (the next header, event or summary syncs them at once).
pub const SAMPLE_SYNC_EVERY: Duration = Duration::from_secs(1);

/// `monitor.jsonl`, one line per record, each written by one `write(2)`.
#[derive(Debug)]
pub struct JsonlFile {
    file: LineFile,
    /// When the file was last synced.
    synced_at: Option<Instant>,
    /// Lines that could not be written (or synced).
    pub errors: u64,
}

impl JsonlFile {
    /// Create or truncate `path` (and its folder).
    pub fn create(path: &Path) -> std::io::Result<JsonlFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        JsonlFile::open(LineFile::truncate(path)?)
    }

    /// Standard output (named `-` in messages).
    pub fn stdout() -> std::io::Result<JsonlFile> {
        JsonlFile::open(LineFile::stdout()?)
    }

    /// Open `path` to append (create it when missing).
    pub fn append(path: &Path) -> std::io::Result<JsonlFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        JsonlFile::open(LineFile::append(path)?)
    }

    fn open(file: LineFile) -> std::io::Result<JsonlFile> {
        Ok(JsonlFile {
            file,
            synced_at: None,
            errors: 0,
        })
    }

    /// Append one record and sync it (a sample: when [`SAMPLE_SYNC_EVERY`]
    /// has passed); a failure is counted (and the first one printed),
    /// sampling goes on.
    pub fn write(&mut self, rec: &Record<'_>) {
        let mut line = Vec::new();
        let sync = match rec {
            Record::Sample(_) => self
                .synced_at
                .is_none_or(|t| t.elapsed() >= SAMPLE_SYNC_EVERY),
            _ => true,
        };
        let written = push_json_line(&mut line, rec)
            .and_then(|()| self.file.append_lines(&line))
            .and_then(|()| {
                if sync {
                    self.synced_at = Some(Instant::now());
                    self.file.sync()
                } else {
                    Ok(())
                }
            });
        if let Err(e) = written {
            if self.errors == 0 {
                eprintln!(
                    "monitor: cannot write a line to {}: {e} (sampling goes on)",
                    self.file.path().display()
                );
            }
            self.errors += 1;
        }
    }
}

/// `ts` of the header line of the monitor file `text` (its start, epoch
/// seconds); `None` without one.
pub fn header_ts(text: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["kind"] == "header")
        .and_then(|v| v["ts"].as_f64())
}

/// Round to `dp` decimals (JSON stays short and stable).
pub(crate) fn round(v: f64, dp: i32) -> f64 {
    let f = 10f64.powi(dp);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> Event {
        Event {
            name: name.into(),
            ts: 1.0,
            elapsed_s: 0.5,
            fields: serde_json::json!({}),
        }
    }

    #[test]
    fn records_are_whole_lines_and_create_empties_an_earlier_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/monitor.jsonl");
        let mut f = JsonlFile::create(&p).unwrap();
        f.write(&Record::Event(&event("a")));
        drop(f);
        let mut f = JsonlFile::append(&p).unwrap();
        f.write(&Record::Event(&event("b")));
        let names: Vec<String> = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["name"].to_string())
            .collect();
        assert_eq!(names, ["\"a\"", "\"b\""]);
        assert_eq!(f.errors, 0);
        JsonlFile::create(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_line_that_cannot_be_written_is_counted_and_sampling_goes_on() {
        let mut f = JsonlFile::append(Path::new("/dev/full")).unwrap();
        f.write(&Record::Event(&event("a")));
        f.write(&Record::Event(&event("b")));
        assert_eq!(f.errors, 2);
    }
}
