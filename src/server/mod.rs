//! Server processes: the backend's instances (with all their ranks) and the
//! nginx balancer, from start to readiness to a clean stop, and nginx's
//! access log read back for per-instance accounting.

pub mod access_log;
pub mod command;
pub mod journal;
pub mod nginx;
pub mod ports;
pub mod process;
pub mod ranks;
pub mod readiness;
pub mod remote_procs;
pub mod secrets;
pub mod set;
pub mod settings;

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
    /// A server did not become ready (or exited while starting); `summary`
    /// gives it as one line.
    #[error("{0}")]
    NotReady(Box<NotReady>),
    /// Stopped by Ctrl-C or SIGTERM while starting.
    #[error("interrupted while starting servers")]
    Interrupted,
    /// A process was started but `processes.jsonl` could not record it;
    /// everything the set started is stopped again, and the run must stop:
    /// it can no longer say what it ran.
    #[error("{0}; every process of the configuration is stopped again")]
    Journal(#[from] journal::JournalError),
}

impl ServerError {
    /// One line for a point's `status_detail`: what happened, the last line
    /// of the log and where the log is (the whole tail goes to stderr).
    pub fn summary(&self) -> String {
        match self {
            ServerError::NotReady(n) => {
                let last = n
                    .tail
                    .lines()
                    .map(str::trim)
                    .rfind(|l| !l.is_empty())
                    .unwrap_or_default();
                format!(
                    "{} ({}) {}; last log line: {last}; log: {}",
                    n.name, n.at, n.reason, n.log
                )
            }
            other => other.to_string().lines().next().unwrap_or_default().into(),
        }
    }
}

/// Why a server was not ready, with its log tail and the next step.
#[derive(Debug)]
pub struct NotReady {
    pub name: String,
    /// Where it was probed (`http://host:port`).
    pub at: String,
    pub reason: String,
    pub tail: String,
    pub log: String,
    pub hint: String,
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) {}; last log lines:\n{}\n  log: {}\n  next: {}",
            self.name, self.at, self.reason, self.tail, self.log, self.hint
        )
    }
}
