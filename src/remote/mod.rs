//! Servers on other hosts, reached over ssh. What runs on the host itself:
//! [`host_cmd`] (`mlxrun __host …`: [`leftovers`], the processes a run left
//! there; [`ports`], which ports can be bound there).

pub mod host_cmd;
pub mod leftovers;
pub mod ports;

pub use host_cmd::{HOST_SUBCOMMAND, host_main};

/// The environment variable every process mlxrun starts on a host
/// carries; its value names the run (and the instance).
pub const TAG_VAR: &str = "MLXRUN_TAG";
