//! Other hosts, reached over ssh: what mlxrun knows of a machine ([`host`])
//! and the commands it runs there ([`ssh`]); and what runs on the host
//! itself, [`host_cmd`] (`mlxrun __host …`: [`leftovers`], the processes a
//! run left there; [`ports`], which ports can be bound there).

pub mod host;
pub mod host_cmd;
pub mod leftovers;
pub mod ports;
pub mod ssh;

pub use host_cmd::{HOST_SUBCOMMAND, host_main};
pub use ssh::TAG_VAR;
