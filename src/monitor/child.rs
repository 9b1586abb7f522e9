//! Short helper commands the monitor runs itself (macOS `ioreg`): argv
//! only, in their own process group led by a [`crate::supervisor`] and
//! registered in [`crate::shutdown`],
//! output captured, bounded by a timeout, and the group stopped SIGTERM →
//! grace → SIGKILL when it overruns or leaves anything behind.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::shutdown;

/// How long a group gets between SIGTERM and SIGKILL.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) const GRACE: Duration = Duration::from_millis(500);

/// Run `argv` to its end and return its stdout. Fails when it cannot start,
/// exits non-zero, or runs past `timeout` or `cancelled()` (then its group
/// is stopped). Used on macOS (ioreg); tested everywhere.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn capture(
    argv: &[String],
    timeout: Duration,
    cancelled: &dyn Fn() -> bool,
) -> Result<String, String> {
    let prog = argv.first().ok_or("empty command")?;
    let mut sup = crate::supervisor::Supervised::new(argv, GRACE)
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    sup.command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let (mut child, lifeline) = sup
        .start(|mut cmd| cmd.spawn())
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    let pgid = child.id() as i32;
    shutdown::register(pgid, prog);
    let mut out = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) => {}
            Err(e) => break Err(format!("{prog}: {e}")),
        }
        if Instant::now() >= deadline {
            break Err(format!("{prog} did not finish within {timeout:?}"));
        }
        if cancelled() {
            break Err(format!("{prog} cancelled"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    stop_group_blocking(pgid, GRACE);
    let _ = child.wait();
    drop(lifeline);
    let stdout = reader.join().unwrap_or_default();
    let status = status?;
    if !status.success() {
        return Err(format!("{prog} failed: {status}"));
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// Stop whatever is left of group `pgid`: SIGTERM, up to `grace`, SIGKILL;
/// then forget it in the registry. Returns at once for a group that is gone.
pub(crate) fn stop_group_blocking(pgid: i32, grace: Duration) {
    if pgid <= 0 {
        return;
    }
    if shutdown::group_alive(pgid) {
        shutdown::signal_group(pgid, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while shutdown::group_alive(pgid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if shutdown::group_alive(pgid) {
            shutdown::signal_group(pgid, libc::SIGKILL);
        }
    }
    shutdown::unregister(pgid);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn captures_stdout_and_reports_failures() {
        let never = || false;
        let out = capture(
            &argv(&["sh", "-c", "echo hello"]),
            Duration::from_secs(5),
            &never,
        );
        assert_eq!(out.unwrap(), "hello\n");
        let e = capture(
            &argv(&["sh", "-c", "exit 4"]),
            Duration::from_secs(5),
            &never,
        );
        assert!(e.unwrap_err().contains("exit status: 4"));
        let e = capture(
            &argv(&["/nonexistent/ioreg"]),
            Duration::from_secs(5),
            &never,
        );
        assert!(e.unwrap_err().starts_with("cannot run /nonexistent/ioreg"));
    }

    #[test]
    fn an_overrunning_command_is_stopped_with_its_group() {
        let t = tempfile::tempdir().unwrap();
        let pidfile = t.path().join("pid");
        // the shell (the group leader) and its grandchild write their pids,
        // then both sleep past the timeout
        // the shell writes its process group (field 5 of /proc/self/stat)
        let script = format!(
            "cut -d' ' -f5 /proc/$$/stat > {0}.leader; sleep 30 & echo $! > {0}; sleep 30",
            pidfile.display()
        );
        let started = Instant::now();
        let e = capture(
            &argv(&["sh", "-c", &script]),
            Duration::from_millis(300),
            &|| false,
        );
        assert!(e.unwrap_err().contains("did not finish"));
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: existence check only.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z"))
                .unwrap_or(true);
        assert!(!alive, "grandchild {pid} survived");
        let pgid: i32 = std::fs::read_to_string(t.path().join("pid.leader"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!shutdown::registered().iter().any(|(g, _)| *g == pgid));
    }
}
