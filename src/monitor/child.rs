//! Short helper commands the monitor runs itself (macOS `ioreg`): argv
//! only, in their own process group led by a [`crate::supervisor`] and
//! registered in [`crate::shutdown`],
//! output captured, bounded by a timeout, and the group stopped SIGTERM →
//! grace → SIGKILL when it overruns or leaves anything behind.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::shutdown;

/// CPU time (user + system, ns) of every command [`capture`] has run and
/// reaped, with the supervisor that ran it.
static HELPERS_CPU_NS: AtomicU64 = AtomicU64::new(0);

/// The CPU time the helper commands run by [`capture`] have used so far
/// (each counted when it is reaped, its supervisor included): mlxrun's own
/// work, done in other processes.
pub(crate) fn helpers_cpu_time() -> Duration {
    Duration::from_nanos(HELPERS_CPU_NS.load(Ordering::Relaxed))
}

/// User + system time of a `rusage`, ns (negative fields count as 0).
fn rusage_ns(ru: &libc::rusage) -> u64 {
    let ns = |t: libc::timeval| {
        (t.tv_sec.max(0) as u64) * 1_000_000_000 + (t.tv_usec.max(0) as u64) * 1_000
    };
    ns(ru.ru_utime) + ns(ru.ru_stime)
}

/// Reap child `pid` if it has exited (`block`: wait until it has) and add
/// its CPU time to [`helpers_cpu_time`]. `Ok(None)`: still running.
fn reap(pid: i32, block: bool) -> Result<Option<ExitStatus>, String> {
    loop {
        let mut status = 0;
        // SAFETY: zeroed is a valid rusage (plain integers).
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: wait4 writes into the status and rusage we own.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut ru) };
        if r == pid {
            HELPERS_CPU_NS.fetch_add(rusage_ns(&ru), Ordering::Relaxed);
            return Ok(Some(ExitStatus::from_raw(status)));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e.to_string());
        }
    }
}

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
    // reaped here with wait4 (not `Child::wait`) to read its CPU time
    let mut out = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match reap(pgid, false) {
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
    if status.is_err() {
        let _ = reap(pgid, true);
    }
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
    fn the_cpu_time_of_a_helper_and_its_supervisor_is_counted() {
        let before = helpers_cpu_time();
        // a fraction of a second of shell arithmetic, well above the
        // kernel's 10 ms accounting tick
        let out = capture(
            &argv(&[
                "sh",
                "-c",
                "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo $i",
            ]),
            Duration::from_secs(60),
            &|| false,
        );
        assert_eq!(out.unwrap(), "200000\n");
        let used = helpers_cpu_time().saturating_sub(before);
        assert!(used >= Duration::from_millis(20), "{used:?}");
        // a timeval's parts, and nonsense negative ones
        // SAFETY: zeroed is a valid rusage.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        ru.ru_utime.tv_sec = 1;
        ru.ru_utime.tv_usec = 250_000;
        ru.ru_stime.tv_usec = 5;
        assert_eq!(rusage_ns(&ru), 1_250_005_000);
        ru.ru_stime.tv_sec = -3;
        assert_eq!(rusage_ns(&ru), 1_250_005_000);
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
        // it returned at its 300 ms timeout, not when the grandchild that
        // holds the output pipe open ends (30 s): a bound on the scale of
        // that failure (about 0.3 s taken, 50× below it), not a timing claim
        assert!(started.elapsed() < Duration::from_secs(15));
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
