//! `mlxrun serve up|down|status`: the instances (and ranks) of one server
//! configuration of a scenario, plus nginx in front when the scenario routes
//! through it, left running in the background after mlxrun exits, for
//! interactive use or other tools. Started with the runner's own machinery
//! ([`crate::server::set::ServerSet`]) as detached processes, tracked in
//! `<output.dir>/serve/<scenario name>/state.json` ([`state`]), stopped by
//! recorded pid/pgid verified by process start time, never by name.
//!
//! - [`up`]: check, start, wait until every instance answers a 1-token
//!   completion (and one goes through nginx), record, print a table.
//! - [`down`]: stop exactly what the state file records.
//! - [`status`]: name, URL, pid, pgid, alive, ready, uptime, log.

pub mod down;
pub mod state;
pub mod status;
pub mod up;

use std::path::{Path, PathBuf};

use crate::error::UsageError;
use crate::scenario::model_path::expand_tilde;
use crate::scenario::{Overrides, Resolved, load};

/// The state folder of `resolved`: `<output.dir>/serve/<scenario name>/`.
pub fn state_dir(resolved: &Resolved) -> PathBuf {
    let s = &resolved.scenario;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    expand_tilde(&s.output.dir, home.as_deref())
        .join("serve")
        .join(&s.name)
}

/// The state folder `target` names: a folder holding (or meant to hold) a
/// state file, or a scenario file (loaded with `sets`).
pub fn resolve_target(target: &Path, sets: &[String]) -> anyhow::Result<PathBuf> {
    if target.is_dir() {
        return Ok(target.to_path_buf());
    }
    if !target.exists() {
        return Err(UsageError(format!(
            "{}: no such scenario file or state folder\n  next: give the scenario `serve up` was run with, or the state_dir= it printed",
            target.display()
        ))
        .into());
    }
    let resolved = load(target, &Overrides::from_process(sets.to_vec()))?;
    Ok(state_dir(&resolved))
}

/// Seconds as `1h02m`, `3m05s` or `12s`.
pub fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_uptime() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(65), "1m05s");
        assert_eq!(human_duration(3720), "1h02m");
    }

    #[test]
    fn a_missing_target_is_bad_input() {
        let e = resolve_target(Path::new("/nonexistent/x.toml"), &[]).unwrap_err();
        assert_eq!(crate::run::exit_code_of(&e), crate::error::EXIT_BAD_INPUT);
        assert!(e.to_string().contains("state_dir="), "{e}");
    }
}
