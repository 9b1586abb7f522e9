//! Every power source of this machine, read into a sample's `power`:
//! NVIDIA GPUs through NVML (the total-energy counter where the device
//! has one, else its power reading), Linux RAPL ([`super::rapl`]) and
//! Apple silicon's IOReport ([`super::apple_power`]). [`PowerReaders::describe`]
//! names the source of each device for the header, or why there is none.

use std::path::Path;
use std::time::{Duration, Instant};

use super::apple_power::{self, ApplePower, ApplePowerPoller};
use super::energy::{Counter, DeviceKind, PowerDevice, PowerSample, PowerSource};
use super::gpu::GpuSample;
use super::rapl::{self, Rapl};
use super::record::round;

/// One NVIDIA GPU's energy counter (mJ), when it has one.
#[derive(Debug)]
struct NvmlDevice {
    index: u32,
    counter: Option<Counter>,
}

/// The power sources opened at the monitor's start.
pub(crate) struct PowerReaders {
    /// `Err` = why NVML gives no power.
    nvml: Result<Vec<NvmlDevice>, String>,
    rapl: Result<Rapl, String>,
    apple: Result<ApplePowerPoller, String>,
}

/// Temperatures a power source gives beside power (°C).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Temperatures {
    pub cpu_c: Option<f64>,
    pub gpu_c: Option<f64>,
}

impl PowerReaders {
    /// Open every source: `gpus` is NVML's first reading (`Err` = why
    /// there is none), `powercap` where RAPL's zones are listed,
    /// `interval` the monitor's.
    pub fn open(
        gpus: Result<Vec<GpuSample>, String>,
        powercap: &Path,
        interval: Duration,
    ) -> PowerReaders {
        let nvml = gpus.and_then(|gpus| {
            if gpus.is_empty() {
                return Err("no NVIDIA GPU".into());
            }
            Ok(gpus
                .iter()
                .map(|g| NvmlDevice {
                    index: g.index,
                    counter: g.energy_mj.map(|_| Counter::new(None)),
                })
                .collect())
        });
        #[cfg(target_os = "macos")]
        let apple = apple_power::start(apple_power::interval_for(interval));
        #[cfg(not(target_os = "macos"))]
        let apple = {
            let _ = apple_power::interval_for(interval);
            Err("IOReport is macOS only".to_string())
        };
        PowerReaders {
            nvml,
            rapl: rapl::open(powercap),
            apple,
        }
    }

    /// Whether any source gives power.
    pub fn any(&self) -> bool {
        self.nvml.is_ok() || self.rapl.is_ok() || self.apple.is_ok()
    }

    /// The header's `sources.power`: the source of each device, or why
    /// there is none (`Err`: every source's reason).
    pub fn describe(&self) -> Result<String, String> {
        let mut used = Vec::new();
        let mut why = Vec::new();
        match &self.nvml {
            Ok(devices) => used.extend(devices.iter().map(|d| {
                let src = match d.counter {
                    Some(_) => PowerSource::NvmlEnergyCounter,
                    None => PowerSource::NvmlPower,
                };
                format!("gpu{}: {}", d.index, src.as_str())
            })),
            Err(e) => why.push(format!("nvml: {e}")),
        }
        match &self.rapl {
            Ok(r) => used.push(r.describe()),
            Err(e) => why.push(format!("rapl: {e}")),
        }
        match &self.apple {
            Ok(_) => used.push("cpu, gpu, ane, dram: ioreport (macmon, without sudo)".into()),
            Err(e) => why.push(format!("ioreport: {e}")),
        }
        if used.is_empty() {
            Err(format!("no power source: {}", why.join("; ")))
        } else {
            Ok(used.join("; "))
        }
    }

    /// Read every source now: the sample's `power` (`None` without any
    /// source), the temperatures, and the errors of this reading.
    pub fn read(
        &mut self,
        gpus: Option<&[GpuSample]>,
        now: Instant,
    ) -> (Option<PowerSample>, Temperatures, Vec<String>) {
        let mut devices = Vec::new();
        let mut temps = Temperatures::default();
        let mut errors = Vec::new();
        if let Ok(nvml) = &mut self.nvml {
            devices.extend(nvml_devices(nvml, gpus.unwrap_or_default()));
        }
        if let Ok(r) = &mut self.rapl {
            devices.extend(r.read(now));
        }
        if let Ok(p) = &self.apple {
            let (reading, error) = p.latest(now);
            if let Some(r) = &reading {
                temps = Temperatures {
                    cpu_c: r.cpu_temp_c,
                    gpu_c: r.gpu_temp_c,
                };
            }
            devices.extend(ApplePower::devices(reading.as_ref()));
            errors.extend(error);
        }
        let power = self.any().then_some(PowerSample { devices });
        (power, temps, errors)
    }
}

/// NVML's devices in this sample: each GPU's counter (J since the
/// monitor's first reading) and power, by the source fixed at the start.
fn nvml_devices(nvml: &mut [NvmlDevice], gpus: &[GpuSample]) -> Vec<PowerDevice> {
    nvml.iter_mut()
        .map(|d| {
            let g = gpus.iter().find(|g| g.index == d.index);
            let power_w = g.and_then(|g| g.power_w);
            let (source, energy_j) = match &mut d.counter {
                Some(c) => (
                    PowerSource::NvmlEnergyCounter,
                    g.and_then(|g| g.energy_mj)
                        .and_then(|mj| c.push(mj))
                        .map(|mj| round(mj as f64 / 1e3, 3)),
                ),
                None => (PowerSource::NvmlPower, None),
            };
            PowerDevice {
                name: format!("gpu{}", d.index),
                kind: DeviceKind::Gpu,
                source,
                power_w,
                energy_j,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(index: u32, power_w: Option<f64>, energy_mj: Option<u64>) -> GpuSample {
        GpuSample {
            index,
            name: Some("H200".into()),
            util_pct: None,
            memory_used_mb: None,
            memory_total_mb: None,
            power_w,
            energy_mj,
        }
    }

    #[cfg(not(target_os = "macos"))]
    fn absent(t: &tempfile::TempDir) -> PowerReaders {
        PowerReaders::open(
            Err("NVML: libnvidia-ml.so.1: cannot open".into()),
            &t.path().join("absent"),
            Duration::from_millis(200),
        )
    }

    #[test]
    fn nvml_uses_the_counter_where_the_device_has_one() {
        let t = tempfile::tempdir().unwrap();
        let mut r = PowerReaders::open(
            Ok(vec![
                gpu(0, Some(120.0), Some(9_000_000)),
                gpu(1, Some(80.0), None),
            ]),
            &t.path().join("absent"),
            Duration::from_millis(200),
        );
        let described = r.describe().unwrap();
        assert!(
            described.starts_with("gpu0: nvml_energy_counter; gpu1: nvml_power"),
            "{described}"
        );
        let now = Instant::now();
        let (p, _, _) = r.read(
            Some(&[
                gpu(0, Some(120.0), Some(9_000_000)),
                gpu(1, Some(80.0), None),
            ]),
            now,
        );
        let d = p.unwrap().devices;
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].energy_j, d[0].power_w), (Some(0.0), Some(120.0)));
        assert_eq!(d[0].source, PowerSource::NvmlEnergyCounter);
        assert_eq!((d[1].energy_j, d[1].power_w), (None, Some(80.0)));
        assert_eq!(d[1].source, PowerSource::NvmlPower);
        // 24.5 J later on GPU 0; GPU 1 unreadable
        let (p, _, _) = r.read(
            Some(&[gpu(0, Some(125.0), Some(9_024_500)), gpu(1, None, None)]),
            now,
        );
        let d = p.unwrap().devices;
        assert_eq!(d[0].energy_j, Some(24.5));
        assert_eq!((d[1].name.as_str(), d[1].power_w), ("gpu1", None));
        // NVML read nothing this time: the devices stay, their values null
        let (p, _, _) = r.read(None, now);
        let d = p.unwrap().devices;
        assert_eq!((d[0].energy_j, d[0].power_w), (None, None));
    }

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn without_any_source_power_is_null_and_the_header_says_why() {
        let t = tempfile::tempdir().unwrap();
        let mut r = absent(&t);
        assert!(!r.any());
        let why = r.describe().unwrap_err();
        assert!(why.starts_with("no power source: nvml: NVML: "), "{why}");
        assert!(why.contains("; rapl: no powercap ("), "{why}");
        assert!(why.ends_with("; ioreport: IOReport is macOS only"), "{why}");
        let (p, temps, errors) = r.read(None, Instant::now());
        assert_eq!(p, None);
        assert_eq!(temps, Temperatures::default());
        assert!(errors.is_empty());
        // NVML with no device is no source either
        let none = PowerReaders::open(Ok(vec![]), &t.path().join("absent"), Duration::from_secs(1));
        assert!(none.describe().unwrap_err().contains("nvml: no NVIDIA GPU"));
    }
}
