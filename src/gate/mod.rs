//! The memory gate: before a server configuration starts, its need (the
//! weights on disk × instances × ranks per host, plus headroom) is compared
//! with the limit (`memory.limit_percent` of RAM) and with what is available
//! now; after servers stop, a bounded wait until memory is back (available
//! above a floor, pressure normal) so the next configuration never measures
//! the previous one's leftovers.
//!
//! Like mlx-knife's gate it is advisory: it reads a machine-wide signal and
//! reserves nothing.

pub mod weights;

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::scenario::expand::ServerConfig;
use crate::scenario::{Resolved, ResolvedModel};
use crate::spec::memory::MemorySection;

/// Sizes are in GB of 2^30 bytes throughout mlxrun (as the monitor reports them).
pub const GB: f64 = (1u64 << 30) as f64;

/// Memory of the machine now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryNow {
    pub total_bytes: u64,
    /// `None` when the OS does not say.
    pub available_bytes: Option<u64>,
    /// 1 normal, 2 warn, 4 critical; `None` when unreadable.
    pub pressure: Option<u8>,
}

/// What a configuration is estimated to need.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Need {
    /// Weights of one copy of the model on disk.
    pub weights_bytes: u64,
    /// Copies loaded on this machine: instances × ranks per host.
    pub copies: u32,
    pub headroom_percent: f64,
    /// weights × copies × (1 + headroom).
    pub bytes: u64,
}

impl Need {
    pub fn new(weights_bytes: u64, copies: u32, headroom_percent: f64) -> Need {
        let bytes = weights_bytes as f64 * f64::from(copies) * (1.0 + headroom_percent / 100.0);
        Need {
            weights_bytes,
            copies,
            headroom_percent,
            bytes: bytes.round() as u64,
        }
    }

    /// `4 copies × 1.20 GB + 20% = 5.76 GB`.
    pub fn describe(&self) -> String {
        format!(
            "{} cop{} × {} + {}% headroom = {}",
            self.copies,
            if self.copies == 1 { "y" } else { "ies" },
            gb(self.weights_bytes),
            self.headroom_percent,
            gb(self.bytes)
        )
    }
}

/// `12.34 GB` (GB = 2^30 bytes, MB = 2^20).
pub fn gb(bytes: u64) -> String {
    let v = bytes as f64 / GB;
    if v < 0.1 {
        format!("{:.1} MB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{v:.2} GB")
    }
}

/// What the gate can say about a configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Estimate {
    /// Nothing is launched here (an external endpoint).
    NotLaunched,
    /// The model's size on disk is unknown (not on this machine): not gated.
    Unknown,
    Need(Need),
}

/// The estimate of configuration `cfg` of `resolved`.
pub fn estimate(resolved: &Resolved, cfg: &ServerConfig) -> Estimate {
    let launched = resolved
        .registry
        .get(&cfg.backend)
        .is_some_and(|d| d.launches());
    match resolved.models.get(cfg.model) {
        _ if !launched => Estimate::NotLaunched,
        Some(model) => config_need(cfg, model, &resolved.scenario.memory)
            .map_or(Estimate::Unknown, Estimate::Need),
        None => Estimate::Unknown,
    }
}

/// The need of `cfg` (launched), when its model's size on disk is known.
pub fn config_need(cfg: &ServerConfig, model: &ResolvedModel, m: &MemorySection) -> Option<Need> {
    let path = model
        .local_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(&model.arg));
    let weights = weights::weights_bytes(&path)?;
    Some(Need::new(
        weights,
        cfg.instances * cfg.ranks.max(1),
        m.headroom_percent,
    ))
}

/// Why `need` does not fit `mem` under `m`, or `None` when it fits.
pub fn over_limit(need: &Need, mem: &MemoryNow, m: &MemorySection) -> Option<String> {
    let limit = (mem.total_bytes as f64 * m.limit_percent / 100.0) as u64;
    if need.bytes > limit {
        return Some(format!(
            "needs ~{} ({}), over the limit of {} ({}% of {} RAM)",
            gb(need.bytes),
            need.describe(),
            gb(limit),
            m.limit_percent,
            gb(mem.total_bytes)
        ));
    }
    if let Some(avail) = mem.available_bytes
        && need.bytes > avail
    {
        return Some(format!(
            "needs ~{} ({}), but only {} is available now",
            gb(need.bytes),
            need.describe(),
            gb(avail)
        ));
    }
    None
}

/// How the wait for memory after servers stopped went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Release {
    /// Seconds waited.
    pub waited_s: f64,
    /// Available bytes wanted.
    pub target_bytes: u64,
    /// Available bytes when the wait ended.
    pub available_bytes: Option<u64>,
    pub pressure: Option<u8>,
    /// Whether memory came back before the timeout.
    pub released: bool,
}

/// Available bytes to wait for: the floor, capped at 90% of what was
/// available before the servers started.
pub fn release_target(m: &MemorySection, available_before: Option<u64>) -> u64 {
    let floor = (m.release_floor_gb * GB) as u64;
    match available_before {
        Some(b) => floor.min((b as f64 * 0.9) as u64),
        None => floor,
    }
}

fn released(mem: &MemoryNow, target: u64) -> bool {
    let enough = mem.available_bytes.is_none_or(|a| a >= target);
    let calm = mem.pressure.is_none_or(|p| p <= 1);
    enough && calm
}

/// Poll `read` every `poll` until memory is back or `timeout` passes (or
/// `cancel` fires).
pub async fn wait_for_release(
    target: u64,
    timeout: Duration,
    poll: Duration,
    cancel: &CancellationToken,
    mut read: impl FnMut() -> MemoryNow,
) -> Release {
    let start = Instant::now();
    loop {
        let mem = read();
        let ok = released(&mem, target);
        if ok || start.elapsed() >= timeout || cancel.is_cancelled() {
            return Release {
                waited_s: start.elapsed().as_secs_f64(),
                target_bytes: target,
                available_bytes: mem.available_bytes,
                pressure: mem.pressure,
                released: ok,
            };
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = cancel.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(total_gb: f64, avail_gb: f64) -> MemoryNow {
        MemoryNow {
            total_bytes: (total_gb * GB) as u64,
            available_bytes: Some((avail_gb * GB) as u64),
            pressure: Some(1),
        }
    }

    #[test]
    fn need_is_weights_times_copies_plus_headroom() {
        let n = Need::new(2 << 30, 6, 20.0);
        assert_eq!(n.bytes, (14.4 * GB).round() as u64);
        assert_eq!(n.describe(), "6 copies × 2.00 GB + 20% headroom = 14.40 GB");
    }

    #[test]
    fn over_the_share_of_ram_or_what_is_available_is_refused() {
        let m = MemorySection::default();
        // 4 × 4 GB × 1.2 = 19.2 GB > 70% of 24 GB = 16.8 GB
        let n = Need::new(4 << 30, 4, 20.0);
        let why = over_limit(&n, &mem(24.0, 23.0), &m).unwrap();
        assert!(
            why.contains("over the limit of 16.80 GB (70% of 24.00 GB RAM)"),
            "{why}"
        );
        // 2 × 4 GB × 1.2 = 9.6 GB fits the limit but not 8 GB available
        let n = Need::new(4 << 30, 2, 20.0);
        assert!(over_limit(&n, &mem(24.0, 23.0), &m).is_none());
        let why = over_limit(&n, &mem(24.0, 8.0), &m).unwrap();
        assert!(why.contains("only 8.00 GB is available"), "{why}");
        // a higher limit lets it through
        let m = MemorySection {
            limit_percent: 90.0,
            ..m
        };
        assert!(over_limit(&Need::new(4 << 30, 4, 20.0), &mem(24.0, 23.0), &m).is_none());
    }

    #[test]
    fn release_target_is_the_floor_capped_by_what_was_there() {
        let m = MemorySection::default();
        assert_eq!(release_target(&m, Some(20 << 30)), 8 << 30);
        assert_eq!(release_target(&m, Some(5 << 30)), (4.5 * GB) as u64);
        assert_eq!(release_target(&m, None), 8 << 30);
    }

    #[tokio::test]
    async fn wait_ends_when_memory_and_pressure_are_back_or_times_out() {
        let cancel = CancellationToken::new();
        let mut reads = 0;
        let r = wait_for_release(
            8 << 30,
            Duration::from_secs(5),
            Duration::from_millis(1),
            &cancel,
            || {
                reads += 1;
                let mut m = mem(24.0, if reads < 3 { 4.0 } else { 9.0 });
                if reads == 3 {
                    m.pressure = Some(2);
                }
                m
            },
        )
        .await;
        assert!(r.released);
        assert_eq!(reads, 4, "low memory twice, then pressure once");
        let r = wait_for_release(
            8 << 30,
            Duration::from_millis(20),
            Duration::from_millis(1),
            &cancel,
            || mem(24.0, 1.0),
        )
        .await;
        assert!(!r.released);
        assert!(r.waited_s >= 0.02);
        assert_eq!(r.available_bytes, Some(1 << 30));
    }
}
