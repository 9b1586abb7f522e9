//! `mlxrun serve down SCENARIO|STATE_DIR`: stop exactly the processes the
//! state file records: a group is signalled only while one of its recorded
//! members is still the same process (pid and start time match; a reused
//! PID is someone else's). SIGTERM to each group, `stop_grace_s`, SIGKILL,
//! wait until the groups are gone and the ports free, remove state.json
//! (logs stay). Never by name.

use std::path::Path;
use std::time::{Duration, Instant};

use super::state::{self, Role, State};
use crate::error::{EXIT_OK, EXIT_POINTS_FAILED, SetupError};
use crate::server::ports;
use crate::spec::units::saturating_duration;

/// What a stop did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Groups signalled, as `name (pgid N)`.
    pub groups: Vec<String>,
    /// Recorded processes not signalled: gone, or the pid is another
    /// process now.
    pub skipped: Vec<String>,
    /// Groups still alive after SIGKILL.
    pub survivors: Vec<String>,
    /// Ports still taken after the stop.
    pub busy_ports: Vec<u16>,
}

/// Run `serve down`; the exit code.
pub async fn down(target: &Path, sets: &[String]) -> anyhow::Result<i32> {
    let dir = super::resolve_target(target, sets)?;
    let Some(st) = State::read(&dir).map_err(SetupError)? else {
        println!("nothing running (no state in {})", dir.display());
        return Ok(EXIT_OK);
    };
    let r = stop_recorded(&st).await;
    for s in &r.skipped {
        println!("not signalled: {s}");
    }
    for g in &r.groups {
        println!("stopped {g}");
    }
    if !r.survivors.is_empty() {
        eprintln!(
            "error: still alive after SIGKILL: {}; state kept in {}\n  next: check them with ps, then mlxrun serve down {} again",
            r.survivors.join(", "),
            dir.display(),
            dir.display()
        );
        return Ok(EXIT_POINTS_FAILED);
    }
    for p in &r.busy_ports {
        eprintln!(
            "warning: port {p} is still taken after the stop (by a process serve up did not start)"
        );
    }
    State::remove(&dir)
        .map_err(|e| SetupError(format!("cannot remove the state in {}: {e}", dir.display())))?;
    if r.groups.is_empty() {
        println!("nothing running (the recorded processes had already ended); state removed");
    } else {
        println!(
            "stopped {} process group(s); logs kept in {}",
            r.groups.len(),
            dir.join("logs").display()
        );
    }
    Ok(EXIT_OK)
}

/// Stop what `st` records (nginx first, then the instances with their
/// ranks), verified by start time.
pub async fn stop_recorded(st: &State) -> Stopped {
    let mut out = Stopped::default();
    // nginx first, so no request reaches an instance that is going away
    let mut order: Vec<&state::Proc> = st.processes.iter().collect();
    order.sort_by_key(|p| p.role != Role::Nginx);
    let mut groups: Vec<(i32, String)> = Vec::new();
    for p in &order {
        if groups.iter().any(|(g, _)| *g == p.pgid) {
            continue;
        }
        if state::same_process(p) {
            groups.push((p.pgid, p.name.clone()));
        } else if p.role != Role::Rank || !state::group_alive(p.pgid) {
            let why = if state::start_time(p.pid).is_some() {
                "pid now belongs to another process (start time differs)"
            } else {
                "already ended"
            };
            out.skipped
                .push(format!("{} (pid {}): {why}", p.name, p.pid));
        }
    }
    let stop_set = |list: &[(i32, String)], sig: i32| {
        for (g, _) in list {
            if state::group_alive(*g) {
                crate::shutdown::signal_group(*g, sig);
            }
        }
    };
    let all_gone = |list: &[(i32, String)]| list.iter().all(|(g, _)| !state::group_alive(*g));
    stop_set(&groups, libc::SIGTERM);
    // the state file is read back from disk: any number there is a grace of
    // at most 10 minutes, never a panic
    let grace = saturating_duration(st.stop_grace_s).min(Duration::from_secs(600));
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !all_gone(&groups) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !all_gone(&groups) {
        stop_set(&groups, libc::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !all_gone(&groups) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // a rank that left its launcher's group: by its recorded pid, verified
    for p in st.processes.iter().filter(|p| p.role == Role::Rank) {
        if state::same_process(p) {
            // SAFETY: kill has no memory-safety preconditions; the pid's
            // start time was checked just above.
            unsafe { libc::kill(p.pid, libc::SIGKILL) };
        }
    }
    for (g, name) in &groups {
        out.groups.push(format!("{name} (pgid {g})"));
        if state::group_alive(*g) {
            out.survivors.push(format!("{name} (pgid {g})"));
        }
    }
    // the ports of what was stopped (a skipped pid's port is not ours)
    for p in st
        .processes
        .iter()
        .filter(|p| groups.iter().any(|(g, _)| *g == p.pgid))
    {
        if let Some(port) = p.port
            && !ports::wait_free(&p.host, port, Duration::from_secs(10)).await
        {
            out.busy_ports.push(port);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::state::{Phase, Proc};
    use std::os::unix::process::CommandExt;

    fn state_with(p: Proc) -> State {
        State {
            phase: Phase::Up,
            mlxrun_version: String::new(),
            up_pid: 0,
            scenario: "s.toml".into(),
            scenario_name: "s".into(),
            sets: vec![],
            config: 1,
            server_config: serde_json::Value::Null,
            resolved: String::new(),
            stop_grace_s: 2.0,
            targets: vec![],
            probe: None,
            api_key_env: None,
            created_at: String::new(),
            processes: vec![p],
        }
    }

    #[tokio::test]
    async fn a_pid_with_another_start_time_is_not_signalled() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = state::start_time(pid).unwrap();
        let mut p = Proc {
            role: Role::Instance,
            name: "instance-0".into(),
            pid,
            pgid: pid,
            start_time: Some(start + 1),
            argv: vec!["sleep".into(), "30".into()],
            host: "127.0.0.1".into(),
            port: None,
            log: "l".into(),
            started_at: String::new(),
        };
        // the recorded process ended and its pid went to this one
        let r = stop_recorded(&state_with(p.clone())).await;
        assert!(r.groups.is_empty(), "{r:?}");
        assert!(r.skipped[0].contains("another process"), "{r:?}");
        assert!(state::group_alive(pid), "the other process was signalled");
        // the recorded one itself is stopped, group and all
        p.start_time = Some(start);
        let r = stop_recorded(&state_with(p)).await;
        assert_eq!(r.groups, [format!("instance-0 (pgid {pid})")]);
        assert!(r.survivors.is_empty(), "{r:?}");
        child.wait().unwrap();
        assert!(!state::group_alive(pid));
    }
}
