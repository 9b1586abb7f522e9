//! The system monitor's readers: memory, swap and pressure, the CPU split,
//! GPUs, process trees, the machine's hardware profile, and the fixed-rate
//! schedule the sampler will run on.
//!
//! - [`procfs`]: `/proc/stat` CPU split and PSI parsing (Linux).
//! - [`memory`]: RAM, swap, pressure; [`memory::snapshot`] for one-shot use.
//! - [`hardware`]: the machine's profile.
//! - [`gpu`], [`ioreg`]: NVIDIA GPUs (NVML) and Apple GPUs (ioreg).
//! - [`tree`]: process trees; [`schedule`]: absolute tick deadlines.

// the sampler that uses the crate-internal readers comes next
#![allow(dead_code)]

pub(crate) mod child;
pub mod gpu;
pub mod hardware;
pub mod ioreg;
pub mod memory;
pub mod procfs;
pub mod schedule;
pub mod tree;

pub use hardware::{HardwareProfile, profile};
pub use memory::{MemorySnapshot, snapshot};
