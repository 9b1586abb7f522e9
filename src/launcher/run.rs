//! Running from the launcher: the menus are gone (terminal restored), the
//! choices and the equivalent command line are printed, the run goes the
//! same way as `mlxrun run` (in-process, normal progress, Ctrl-C stops it
//! and keeps finished rows), then its outcome.

use std::sync::atomic::{AtomicBool, Ordering};

use super::app::App;
use crate::error::EXIT_BAD_INPUT;
use crate::run::RunOptions;

/// Whether a run or a `serve` child is going (the launcher's own signal
/// watcher leaves signals to it then).
pub static BUSY: AtomicBool = AtomicBool::new(false);

/// What an exit code means (as `mlxrun --help` lists them).
pub fn meaning(code: i32) -> &'static str {
    match code {
        0 => "every point ran",
        1 => "one or more points failed, or an error stopped the run",
        2 => "bad input; nothing started",
        3 => "machine not ready; nothing started",
        4 => "every point ran, but report.md/report.html could not be written",
        101 => "mlxrun itself failed",
        130 => "interrupted; finished rows are kept",
        _ => "unexpected",
    }
}

/// The choices as printed before a run.
pub fn header(app: &App) -> String {
    let c = &app.choices;
    let or = |v: String, field: &str| {
        if v.is_empty() {
            app.status
                .value(field)
                .map(|s| format!("{} (scenario)", super::app::unquote(s)))
                .unwrap_or_else(|| "(scenario's)".into())
        } else {
            v
        }
    };
    let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let text = |s: &str| {
        if s.trim().is_empty() {
            "(none)".to_string()
        } else {
            s.trim().to_string()
        }
    };
    format!(
        "=== mlxrun ===\nScenario: {}\nModel: {}\nMax tokens: {}\nConcurrency: {}\nRequests per point: {}\nEnv: {}\nAdvanced: {}\nCMD: {}\n",
        c.scenario
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        or(c.model.clone().unwrap_or_default(), "model.path"),
        or(join(&c.max_tokens), "matrix.max_tokens"),
        or(join(&c.concurrency), "matrix.concurrency"),
        or(
            c.requests.map(|r| r.to_string()).unwrap_or_default(),
            "workload.requests"
        ),
        text(&c.env),
        text(&c.server_args),
        c.command_line()
    )
}

/// Run the chosen scenario; prints the outcome and returns the exit code a
/// `mlxrun run` would have had.
pub async fn run(app: &App) -> i32 {
    print!("{}", header(app));
    let resolved = match app.choices.load(&app.cwd) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return finish(EXIT_BAD_INPUT);
        }
    };
    BUSY.store(true, Ordering::SeqCst);
    let code = crate::run::run_to_exit(&resolved, &RunOptions::default(), |o| {
        println!("=== outcome ===");
        println!("run_dir={}", o.run_dir.display());
        println!("results_file={}", o.csv.display());
        for f in ["report.md", "report.html"] {
            let p = o.run_dir.join(f);
            if p.is_file() {
                println!("{f}: {}", p.display());
            }
        }
        println!(
            "points: {} finished, {} failed",
            o.points_finished(),
            o.points_failed
        );
        if o.interrupted {
            println!("  next: mlxrun resume {}", o.run_dir.display());
        } else if o.points_failed > 0 {
            println!("  see status_detail in {}", o.csv.display());
        }
    })
    .await;
    BUSY.store(false, Ordering::SeqCst);
    finish(code)
}

fn finish(code: i32) -> i32 {
    println!("exit code {code}: {}", meaning(code));
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_exit_code_has_a_meaning() {
        for c in [0, 1, 2, 3, 4, 101, 130] {
            assert_ne!(meaning(c), "unexpected", "{c}");
        }
        assert_eq!(meaning(7), "unexpected");
    }
}
