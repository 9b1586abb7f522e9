//! Server processes: the backend's instances and the nginx balancer, from
//! start to readiness to a clean stop.

pub mod journal;
pub mod mlx_lm;
pub mod nginx;
pub mod ports;
pub mod process;
pub mod readiness;
pub mod set;

/// Why servers could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The environment is missing something; nothing was started.
    #[error("{0}")]
    Setup(String),
    /// A process could not be started.
    #[error("cannot start {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    /// A server did not become ready (or exited while starting).
    #[error("{name} (port {port}) {reason}; last log lines:\n{tail}\n  log: {log}\n  next: {hint}")]
    NotReady {
        name: String,
        port: u16,
        reason: String,
        tail: String,
        log: String,
        hint: String,
    },
    /// Stopped by Ctrl-C or SIGTERM while starting.
    #[error("interrupted while starting servers")]
    Interrupted,
}
