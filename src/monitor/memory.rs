//! RAM, swap and memory pressure, read once ([`snapshot`], for the memory
//! gate) or per sample (through a long-lived `sysinfo::System`).
//!
//! - RAM and swap come from sysinfo: Linux `/proc/meminfo` (`MemAvailable`,
//!   `MemFree`, `SwapTotal`, `SwapFree`); macOS `host_statistics64` and
//!   `vm.swapusage`.
//! - "Available" is what can be given to programs without swapping (Linux
//!   `MemAvailable`: free pages plus reclaimable cache; macOS, as sysinfo
//!   computes it: active + inactive + free pages, Apple's
//!   `AVAILABLE_NON_COMPRESSED_MEMORY`). "Free" is only the pages nobody
//!   uses at all, which a busy machine keeps near zero on purpose (the page
//!   cache); judge headroom by available, not free.
//! - Pressure is 1 normal, 2 warn, 4 critical: macOS
//!   `kern.memorystatus_vm_pressure_level`; Linux mapped from PSI
//!   (`/proc/pressure/memory`, see [`super::procfs::pressure_level`]).

use serde::Serialize;
use sysinfo::{MemoryRefreshKind, System};

#[cfg(target_os = "linux")]
use super::procfs::ProcRoot;
use super::procfs::Psi;

/// The machine's memory at one moment. Read by [`snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MemorySnapshot {
    /// Physical RAM; 0 only when the OS counters could not be read at all
    /// (then every other byte count is 0 too and `available_bytes` is `None`).
    pub total_bytes: u64,
    /// RAM programs can still get without swapping (see the module doc).
    pub available_bytes: Option<u64>,
    /// Pages nobody uses (not the headroom: see the module doc).
    pub free_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    /// 1 normal, 2 warn, 4 critical; `None` when unreadable here.
    pub pressure: Option<u8>,
    /// Linux PSI `some avg10` (percent of the last 10 s with a memory stall).
    pub psi_some_avg10: Option<f64>,
    /// Linux PSI `full avg10`.
    pub psi_full_avg10: Option<f64>,
}

/// Read RAM, swap and pressure now, without a running monitor.
pub fn snapshot() -> MemorySnapshot {
    let ram = System::new()
        .map_err(|e| e.to_string())
        .and_then(|mut sys| ram_and_swap(&mut sys));
    let pressure = read_pressure(&PressureSource::default()).ok();
    let psi = pressure.and_then(|p| p.psi);
    let (total, available, free, swap_total, swap_used) = match ram {
        Ok(r) => (
            r.total,
            Some(r.available),
            r.free,
            r.swap_total,
            r.swap_used,
        ),
        Err(_) => (0, None, 0, 0, 0),
    };
    MemorySnapshot {
        total_bytes: total,
        available_bytes: available,
        free_bytes: free,
        swap_total_bytes: swap_total,
        swap_used_bytes: swap_used,
        pressure: pressure.map(|p| p.level),
        psi_some_avg10: psi.map(|p| p.some_avg10),
        psi_full_avg10: psi.and_then(|p| p.full_avg10),
    }
}

/// RAM and swap in bytes, all read together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RamSwap {
    pub total: u64,
    pub available: u64,
    pub free: u64,
    pub swap_total: u64,
    pub swap_used: u64,
}

/// Refresh and read RAM and swap; an error when the OS gave nothing.
pub(crate) fn ram_and_swap(sys: &mut System) -> Result<RamSwap, String> {
    sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram().with_swap());
    let total = sys.total_memory();
    if total == 0 {
        return Err("the OS memory counters could not be read (sysinfo reports 0 bytes)".into());
    }
    Ok(RamSwap {
        total,
        available: sys.available_memory(),
        free: sys.free_memory(),
        swap_total: sys.total_swap(),
        swap_used: sys.used_swap(),
    })
}

/// A pressure reading: the level, and on Linux the PSI it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pressure {
    pub level: u8,
    pub psi: Option<Psi>,
}

/// Where pressure is read from: the `/proc` root on Linux (a fake one in
/// tests), the kernel's sysctl on macOS.
#[derive(Debug, Clone, Default)]
pub(crate) struct PressureSource {
    #[cfg(target_os = "linux")]
    pub root: ProcRoot,
}

/// What [`read_pressure`] reads, for the header's `sources`.
pub(crate) fn pressure_source_name() -> &'static str {
    if cfg!(target_os = "linux") {
        "psi /proc/pressure/memory (some avg10 >= 10 -> 2, some avg10 >= 40 or full avg10 >= 10 -> 4)"
    } else if cfg!(target_os = "macos") {
        "sysctl kern.memorystatus_vm_pressure_level"
    } else {
        "none"
    }
}

/// Read the pressure level now.
pub(crate) fn read_pressure(src: &PressureSource) -> Result<Pressure, String> {
    #[cfg(target_os = "linux")]
    {
        let psi = src.root.memory_psi()?;
        Ok(Pressure {
            level: super::procfs::pressure_level(&psi),
            psi: Some(psi),
        })
    }
    #[cfg(target_os = "macos")]
    {
        let _ = src;
        macos_pressure_level().map(|level| Pressure { level, psi: None })
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = src;
        Err("memory pressure is read on Linux and macOS only".into())
    }
}

/// `kern.memorystatus_vm_pressure_level`: 1 normal, 2 warn, 4 critical.
#[cfg(target_os = "macos")]
fn macos_pressure_level() -> Result<u8, String> {
    let mut level: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: the name is NUL-terminated; `level` and `len` are ours and
    // `len` says how many bytes `level` holds.
    let rc = unsafe {
        libc::sysctlbyname(
            c"kern.memorystatus_vm_pressure_level".as_ptr(),
            (&mut level as *mut libc::c_int).cast::<libc::c_void>(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(format!(
            "sysctl kern.memorystatus_vm_pressure_level: {}",
            std::io::Error::last_os_error()
        ));
    }
    pressure_level(level)
}

/// The level `kern.memorystatus_vm_pressure_level` gave, as libdispatch's
/// memory-pressure levels: 1 normal, 2 warn, 4 critical. Anything else is
/// refused with the value, not rounded to a neighbour.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn pressure_level(raw: i32) -> Result<u8, String> {
    match raw {
        1 | 2 | 4 => Ok(raw as u8),
        other => Err(format!(
            "sysctl kern.memorystatus_vm_pressure_level gave {other}, not 1, 2 or 4"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_this_machine() {
        let s = snapshot();
        assert!(s.total_bytes > 64 << 20, "{s:?}");
        let avail = s.available_bytes.expect("available RAM is readable here");
        assert!(avail > 0 && avail <= s.total_bytes, "{s:?}");
        assert!(s.free_bytes <= s.total_bytes, "{s:?}");
        assert!(s.swap_used_bytes <= s.swap_total_bytes, "{s:?}");
        if cfg!(target_os = "linux") && std::path::Path::new("/proc/pressure/memory").exists() {
            assert!(matches!(s.pressure, Some(1 | 2 | 4)), "{s:?}");
            assert!(s.psi_some_avg10.is_some_and(|v| (0.0..=100.0).contains(&v)));
        }
    }

    #[test]
    fn the_macos_pressure_level_is_decoded_or_refused() {
        assert_eq!(pressure_level(1), Ok(1));
        assert_eq!(pressure_level(2), Ok(2));
        assert_eq!(pressure_level(4), Ok(4));
        for bad in [0, 3, 5, -1, 256 + 1] {
            let e = pressure_level(bad).unwrap_err();
            assert!(e.contains(&format!("gave {bad}")), "{e}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pressure_from_a_fake_proc_root() {
        let t = tempfile::tempdir().unwrap();
        let src = PressureSource {
            root: ProcRoot(t.path().to_path_buf()),
        };
        let e = read_pressure(&src).unwrap_err();
        assert!(e.contains("pressure/memory"), "{e}");
        std::fs::create_dir(t.path().join("pressure")).unwrap();
        std::fs::write(
            t.path().join("pressure/memory"),
            "some avg10=45.00 avg60=1 avg300=0 total=9\nfull avg10=2.00 avg60=0 avg300=0 total=1\n",
        )
        .unwrap();
        let p = read_pressure(&src).unwrap();
        assert_eq!(p.level, 4);
        assert_eq!(p.psi.unwrap().full_avg10, Some(2.0));
    }
}
