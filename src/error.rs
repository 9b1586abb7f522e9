//! Exit codes and the error kinds that pick them (which error maps to
//! which code: [`crate::run::exit_code_of`], above the scenario loader
//! whose errors it names).
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every point ran (request errors, if any, are in the results) |
//! | 1 | the run finished but one or more points failed, or an error stopped it (a row or record that could not be written, `processes.jsonl` included) |
//! | 2 | bad input: scenario, environment variable or argument (a resume whose scenario or CSV header changed); nothing started |
//! | 3 | the machine is not ready: backend or nginx missing, flag unsupported, port taken, results folder not writable, a resumed run still going; nothing started |
//! | 4 | every point ran and its rows and records are written, but `report.md` or `report.html` could not be written (a failed or interrupted run keeps its own code) |
//! | 101 | mlxrun itself failed (a panic, a bug): children stopped, finished rows kept |
//! | 130 | interrupted by Ctrl-C or SIGTERM (finished rows are kept) |

pub const EXIT_OK: i32 = 0;
pub const EXIT_POINTS_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_SETUP: i32 = 3;
pub const EXIT_REPORT_NOT_WRITTEN: i32 = 4;
pub use crate::shutdown::{EXIT_INTERRUPTED, EXIT_PANIC};

/// The environment cannot run the scenario; nothing was started.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// Bad command-line input (other than the scenario itself).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
