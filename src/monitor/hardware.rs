//! What machine a measurement ran on: CPU model and cores, RAM, OS and
//! kernel, architecture, machine model, GPUs. Read once (sysinfo, NVML);
//! anything unreadable is `None`, never a made-up default.

use serde::Serialize;
use sysinfo::{CpuRefreshKind, Product, RefreshKind, System};

use super::gpu::{self, GpuInfo};

const GB: f64 = (1u64 << 30) as f64;

/// The machine, for the monitor's header and reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HardwareProfile {
    /// e.g. "AMD EPYC 7B13" or "Apple M2 Pro" (which is also the chip).
    pub cpu_model: Option<String>,
    pub physical_cores: Option<u64>,
    /// Logical CPUs (hardware threads) the OS reports.
    pub logical_cores: Option<u64>,
    /// GB = 2^30 bytes.
    pub ram_total_gb: Option<f64>,
    /// e.g. "Debian GNU/Linux", "Darwin".
    pub os_name: Option<String>,
    /// e.g. "12", "15.1".
    pub os_version: Option<String>,
    /// Kernel release, e.g. "6.1.0-18-amd64", "24.1.0".
    pub kernel: Option<String>,
    /// e.g. "x86_64", "arm64".
    pub architecture: Option<String>,
    /// macOS `hw.model` ("Mac14,12"); Linux DMI product name where readable.
    pub machine_model: Option<String>,
    /// NVIDIA GPUs via NVML; `None` when NVML is unavailable (see the
    /// monitor header's `sources.gpu`), empty when it sees no device.
    pub gpus: Option<Vec<GpuInfo>>,
}

/// Read the profile of this machine.
pub fn profile() -> HardwareProfile {
    let sys =
        System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()));
    let (cpu_model, logical) = match &sys {
        Ok(s) => (
            s.cpus()
                .first()
                .map(|c| c.brand().trim().to_string())
                .filter(|b| !b.is_empty()),
            Some(s.cpus().len() as u64).filter(|n| *n > 0),
        ),
        Err(_) => (None, None),
    };
    let ram = System::new()
        .ok()
        .and_then(|mut s| super::memory::ram_and_swap(&mut s).ok())
        .map(|r| (r.total as f64 / GB * 1e3).round() / 1e3);
    let text = |r: Result<String, sysinfo::Error>| r.ok().filter(|s| !s.trim().is_empty());
    HardwareProfile {
        cpu_model,
        physical_cores: System::physical_core_count().ok().map(|n| n as u64),
        logical_cores: logical,
        ram_total_gb: ram,
        os_name: text(System::name()),
        os_version: text(System::os_version()),
        kernel: text(System::kernel_version()),
        architecture: Some(System::cpu_arch()).filter(|a| !a.is_empty()),
        machine_model: text(Product::name()),
        gpus: gpu::open().ok().map(|n| n.inventory()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_a_profile() {
        let p = profile();
        let logical = p.logical_cores.expect("logical cores are readable");
        // the CPUs this process may use are some of the machine's
        assert!(logical as usize >= std::thread::available_parallelism().unwrap().get());
        assert!(p.ram_total_gb.is_some_and(|g| g > 0.05), "{p:?}");
        assert!(p.kernel.is_some() && p.os_name.is_some(), "{p:?}");
        assert_eq!(
            p.architecture.as_deref(),
            Some(System::cpu_arch().as_str()),
            "{p:?}"
        );
        if let Some(phys) = p.physical_cores {
            assert!(phys >= 1 && phys <= logical, "{p:?}");
        }
        let json = serde_json::to_value(&p).unwrap();
        assert!(json.get("gpus").is_some());
    }
}
