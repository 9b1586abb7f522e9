//! The round-robin submenu's Start/Stop/Status: `mlxrun serve up|down|status`
//! (this very executable) as a child process with the scenario and the
//! `--set`s of the choices, its output shown as it comes.

use std::sync::atomic::Ordering;

use super::app::App;
use super::run::BUSY;

/// What `serve VERB` exiting with `code` means.
pub fn meaning(verb: &str, code: i32) -> &'static str {
    match (verb, code) {
        ("up", 0) => "servers running and ready",
        ("down", 0) => "stopped (or nothing was running)",
        ("status", 0) => "everything recorded is alive and ready",
        ("status", 1) => "something is down or not ready, or nothing is running",
        (_, 2) => "bad input",
        (_, 3) => "machine not ready",
        (_, 130) => "interrupted",
        _ => "failed",
    }
}

/// Run `mlxrun serve VERB`; returns its exit code.
pub async fn serve(app: &App, verb: &str) -> i32 {
    let c = &app.choices;
    println!("=== mlxrun serve {verb} ===");
    println!("CMD: {}", c.serve_command_line(verb));
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this mlxrun executable: {e}");
            return 1;
        }
    };
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("serve").arg(verb);
    if let Some(s) = &c.scenario {
        cmd.arg(s);
    }
    for s in c.serve_sets() {
        cmd.arg("--set").arg(s);
    }
    cmd.envs(c.env_pairs().unwrap_or_default());
    BUSY.store(true, Ordering::SeqCst);
    let status = cmd.status().await;
    BUSY.store(false, Ordering::SeqCst);
    let code = match status {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("error: cannot start mlxrun serve: {e}");
            1
        }
    };
    println!("exit code {code}: {}", meaning(verb, code));
    code
}
