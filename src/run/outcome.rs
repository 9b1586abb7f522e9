//! How a run ended, the exit code it maps to, and the run wrapped for a
//! front door ([`run_to_exit`]: a signal listener of its own, the run, the
//! outcome reported, the exit code), shared by `mlxrun run` and the
//! launcher.

use super::RunOptions;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::scenario::Resolved;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub csv: PathBuf,
    pub run_dir: PathBuf,
    /// Points with a row written by this run (interrupted ones included).
    pub points_done: usize,
    pub points_failed: usize,
    /// Points written as `interrupted` (the one in progress at Ctrl-C).
    pub points_interrupted: usize,
    pub interrupted: bool,
    /// Why `report.md`/`report.html` could not be written at the end, when
    /// they could not (said on stderr as it happened).
    pub report_error: Option<String>,
}

impl RunOutcome {
    /// Points this run measured to their end (failed ones included).
    pub fn points_finished(&self) -> usize {
        self.points_done.saturating_sub(self.points_interrupted)
    }

    /// The exit code of a run that ended this way (`mlxrun --help`), the
    /// most severe first: interrupted 130, else 1 when a point failed, else
    /// 4 when the reports could not be written, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            crate::error::EXIT_INTERRUPTED
        } else if self.points_failed > 0 {
            crate::error::EXIT_POINTS_FAILED
        } else if self.report_error.is_some() {
            crate::error::EXIT_REPORT_NOT_WRITTEN
        } else {
            crate::error::EXIT_OK
        }
    }
}

/// The exit code for an error that ended mlxrun.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    if err
        .downcast_ref::<crate::scenario::ScenarioError>()
        .is_some()
        || err.downcast_ref::<crate::error::UsageError>().is_some()
    {
        crate::error::EXIT_BAD_INPUT
    } else if err.downcast_ref::<crate::error::SetupError>().is_some() {
        crate::error::EXIT_SETUP
    } else {
        crate::error::EXIT_POINTS_FAILED
    }
}

/// Run `resolved` as a front door does: under a signal listener of its own
/// (the first Ctrl-C or SIGTERM stops the load, keeps finished rows and
/// stops the servers; see [`crate::shutdown`]), then hand the outcome to
/// `report` and return the exit code. An error that stopped the run is
/// printed and mapped ([`exit_code_of`]).
pub async fn run_to_exit(
    resolved: &Resolved,
    opts: &RunOptions,
    report: impl FnOnce(&RunOutcome),
) -> i32 {
    let cancel = CancellationToken::new();
    let listener =
        match crate::shutdown::spawn_signal_listener(cancel.clone(), crate::shutdown::RUN_STOPS) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen for Ctrl-C: {e}");
                return crate::error::EXIT_POINTS_FAILED;
            }
        };
    let result = super::run(resolved, cancel, opts).await;
    drop(listener);
    match result {
        Ok(outcome) => {
            report(&outcome);
            outcome.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code_of(&e)
        }
    }
}

/// What `mlxrun run` says on stderr after a run that did not simply
/// finish: where the rows of an interrupted run are and how to resume it,
/// or where failed points are explained.
pub fn print_outcome_notes(outcome: &RunOutcome) {
    if outcome.interrupted {
        let cut = match outcome.points_interrupted {
            0 => String::new(),
            n => format!(", the {n} cut short written as interrupted"),
        };
        eprintln!(
            "interrupted: {} finished point(s) kept in {}{cut}\n  next: mlxrun resume {}",
            outcome.points_finished(),
            outcome.csv.display(),
            outcome.run_dir.display()
        );
    } else if outcome.points_failed > 0 {
        eprintln!(
            "{} point(s) failed; see status_detail in {}",
            outcome.points_failed,
            outcome.csv.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_INTERRUPTED, EXIT_OK, EXIT_POINTS_FAILED, EXIT_REPORT_NOT_WRITTEN};

    fn outcome(points_failed: usize, interrupted: bool, report: bool) -> RunOutcome {
        RunOutcome {
            csv: PathBuf::from("r.csv"),
            run_dir: PathBuf::from("r"),
            points_done: 3,
            points_failed,
            points_interrupted: usize::from(interrupted),
            interrupted,
            report_error: (!report).then(|| "cannot write r/report.md".to_string()),
        }
    }

    #[test]
    fn a_report_that_was_not_written_is_exit_4_unless_the_run_already_failed() {
        assert_eq!(outcome(0, false, true).exit_code(), EXIT_OK);
        assert_eq!(
            outcome(0, false, false).exit_code(),
            EXIT_REPORT_NOT_WRITTEN
        );
        assert_eq!(EXIT_REPORT_NOT_WRITTEN, 4);
        // the more severe code is kept
        assert_eq!(outcome(1, false, false).exit_code(), EXIT_POINTS_FAILED);
        assert_eq!(outcome(0, true, false).exit_code(), EXIT_INTERRUPTED);
        assert_eq!(outcome(1, true, false).exit_code(), EXIT_INTERRUPTED);
    }

    #[test]
    fn a_journal_that_failed_stops_the_run_with_exit_1() {
        let e = anyhow::Error::from(crate::server::ServerError::Journal(
            crate::server::journal::JournalError {
                path: PathBuf::from("r/processes.jsonl"),
                event: "start".into(),
                name: "instance-0".into(),
                reason: "No space left on device (os error 28)".into(),
            },
        ));
        assert_eq!(exit_code_of(&e), EXIT_POINTS_FAILED);
        assert!(
            e.to_string().contains("cannot write r/processes.jsonl"),
            "{e}"
        );
    }
}
