//! Other hosts: what mlxrun knows of a machine it reaches over SSH
//! ([`host`]), and the commands it runs there ([`ssh`]).

pub mod host;
pub mod ssh;
