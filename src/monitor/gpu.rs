//! NVIDIA GPUs through NVML: `nvml-wrapper` loads `libnvidia-ml.so.1` at
//! run time, so a machine without the driver (the normal case here, and
//! every Mac) just has no `gpus`, with the loader's reason in the header.
//! Apple GPUs are read from `ioreg` instead ([`super::ioreg`]).

use serde::Serialize;

/// One GPU as the hardware profile lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuInfo {
    pub index: u32,
    pub name: Option<String>,
    pub memory_total_mb: Option<f64>,
    pub driver: Option<String>,
}

/// One GPU in one sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuSample {
    pub index: u32,
    pub name: Option<String>,
    /// Percent of the last sample period with a kernel running (NVML).
    pub util_pct: Option<f64>,
    pub memory_used_mb: Option<f64>,
    pub memory_total_mb: Option<f64>,
    pub power_w: Option<f64>,
    /// NVML's total-energy counter, mJ since the driver loaded (Volta and
    /// newer); written as the sample's `power` instead.
    #[serde(skip)]
    pub(crate) energy_mj: Option<u64>,
}

const MB: f64 = (1u64 << 20) as f64;

/// An initialised NVML, or nothing on macOS.
pub(crate) struct Nvml {
    #[cfg(not(target_os = "macos"))]
    inner: nvml_wrapper::Nvml,
    count: u32,
}

impl std::fmt::Debug for Nvml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nvml({} devices)", self.count)
    }
}

/// Load NVML; the error says why not (library missing, driver not loaded).
pub(crate) fn open() -> Result<Nvml, String> {
    #[cfg(not(target_os = "macos"))]
    {
        let inner = nvml_wrapper::Nvml::init().map_err(|e| format!("NVML: {e}"))?;
        let count = inner
            .device_count()
            .map_err(|e| format!("NVML device count: {e}"))?;
        Ok(Nvml { inner, count })
    }
    #[cfg(target_os = "macos")]
    {
        Err("NVML does not exist on macOS (Apple GPUs: see gpu_ioreg)".into())
    }
}

impl Nvml {
    /// `nvml, N device(s), driver V` for the header's `sources`.
    pub fn describe(&self) -> String {
        let driver = self.driver().unwrap_or_else(|| "unknown".into());
        format!("nvml, {} device(s), driver {driver}", self.count)
    }

    fn driver(&self) -> Option<String> {
        #[cfg(not(target_os = "macos"))]
        {
            self.inner.sys_driver_version().ok()
        }
        #[cfg(target_os = "macos")]
        {
            None
        }
    }

    /// Every device, for the hardware profile.
    pub fn inventory(&self) -> Vec<GpuInfo> {
        let driver = self.driver();
        self.read()
            .into_iter()
            .map(|g| GpuInfo {
                index: g.index,
                name: g.name,
                memory_total_mb: g.memory_total_mb,
                driver: driver.clone(),
            })
            .collect()
    }

    /// Read every device now; a value NVML refuses is `None`.
    pub fn read(&self) -> Vec<GpuSample> {
        #[cfg(not(target_os = "macos"))]
        {
            (0..self.count)
                .map(|index| match self.inner.device_by_index(index) {
                    Ok(d) => {
                        let mem = d.memory_info().ok();
                        GpuSample {
                            index,
                            name: d.name().ok(),
                            util_pct: d.utilization_rates().ok().map(|u| f64::from(u.gpu)),
                            memory_used_mb: mem.as_ref().map(|m| m.used as f64 / MB),
                            memory_total_mb: mem.as_ref().map(|m| m.total as f64 / MB),
                            power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
                            energy_mj: d.total_energy_consumption().ok(),
                        }
                    }
                    Err(_) => GpuSample {
                        index,
                        name: None,
                        util_pct: None,
                        memory_used_mb: None,
                        memory_total_mb: None,
                        power_w: None,
                        energy_mj: None,
                    },
                })
                .collect()
        }
        #[cfg(target_os = "macos")]
        {
            let _ = MB;
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvml_is_absent_with_a_reason_or_present_with_devices() {
        match open() {
            Ok(nvml) => {
                let inv = nvml.inventory();
                assert_eq!(inv.len() as u32, nvml.count);
                assert!(nvml.describe().starts_with("nvml, "));
            }
            Err(why) => {
                // the loader's reason, e.g. "NVML: ... libnvidia-ml.so.1: cannot open ..."
                assert!(why.contains("NVML"), "{why}");
                assert!(why.len() > "NVML: ".len(), "{why}");
            }
        }
    }
}
