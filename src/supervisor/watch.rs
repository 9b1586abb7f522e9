//! The supervisor's side (`mlxrun __supervise --lifeline-fd N --grace-ms M
//! -- CMD…`, or `--stdin-lifeline` on another host): start the command in
//! this process group, report its PID over the lifeline (to stderr in the
//! stdin form), then wait for whichever comes first:
//! - the command exits: exit with its status (a signal is raised again,
//!   so mlxrun sees "killed by signal 9" as it would without us);
//! - the lifeline reads end-of-file or fails (mlxrun is gone, however it
//!   ended, or the ssh connection that carried it dropped):
//!   SIGTERM to the group, up to the grace for the command to exit, then
//!   SIGKILL to the group, which ends the supervisor too.
//!
//! SIGTERM, SIGINT and SIGHUP only wake the supervisor: sent to the group,
//! the command gets them as well and decides; the supervisor stays to
//! report its status. The handlers are reset by `exec`, so the command
//! starts with the default dispositions. Single-threaded, no async runtime.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::wire::{Args, LifelineKind, Report};

/// How often the lifeline and the command are checked when no signal
/// wakes the supervisor earlier.
const TICK_MS: i32 = 100;

/// Run the supervisor; returns the exit code (or never returns when it
/// re-raises its command's signal or kills its own group).
pub fn main(argv: &[OsString]) -> i32 {
    let args = match Args::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            say(&e);
            return 2;
        }
    };
    let mut lifeline = match open_lifeline(args.lifeline) {
        Ok(l) => l,
        Err(e) => {
            say(&e);
            return 2;
        }
    };
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD] {
        wake_on(sig);
    }
    let Some((program, rest)) = args.command.split_first() else {
        return 2; // Args::parse refuses an empty command
    };
    let mut command = Command::new(program);
    command.args(rest);
    if args.lifeline == LifelineKind::Stdin {
        // the lifeline is the supervisor's alone: a command reading its
        // stdin would eat it
        command.stdin(Stdio::null());
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let report = Report::Failed {
                errno: e.raw_os_error(),
                message: e.to_string(),
            };
            let _ = send_report(&mut lifeline, args.lifeline, &report);
            return 127;
        }
    };
    let started = Report::Started(child.id() as i32);
    if send_report(&mut lifeline, args.lifeline, &started).is_err() {
        // mlxrun is already gone
        stop_group(&mut child, args.grace);
    }
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            exit_like(status);
        }
        if lifeline_lost(&mut lifeline) {
            say(&format!(
                "mlxrun is gone: stopping process group {} (SIGTERM, SIGKILL after {:?})",
                own_group(),
                args.grace
            ));
            stop_group(&mut child, args.grace);
        }
    }
}

/// One line to stderr, prefixed; a stderr that cannot be written (ssh
/// gone) is no reason to stop.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "mlxrun {}: {message}", super::SUBCOMMAND);
}

/// The supervisor's end of its lifeline. The stdin form first makes this
/// process lead its own group (ssh starts it as a session leader, which
/// leads its group already, or as a plain child in someone else's group),
/// so the group it stops is never sshd's or a shell's.
fn open_lifeline(kind: LifelineKind) -> Result<File, String> {
    match kind {
        LifelineKind::Socket(fd) => {
            set_cloexec(fd).map_err(|e| format!("lifeline descriptor {fd}: {e}"))?;
            // SAFETY: mlxrun left this descriptor open for us and nobody
            // else owns it in this process.
            Ok(unsafe { File::from_raw_fd(fd) })
        }
        LifelineKind::Stdin => {
            if let Err(e) = lead_own_group() {
                // own_group() is then 0: only the command is signalled
                say(&format!(
                    "cannot lead a process group ({e}): only the command will be stopped"
                ));
            }
            // SAFETY: standard input is ours; the command gets /dev/null.
            Ok(unsafe { File::from_raw_fd(libc::STDIN_FILENO) })
        }
    }
}

/// `setpgid(0, 0)` unless this process leads its group already (a session
/// leader, which may not change group, always does).
fn lead_own_group() -> std::io::Result<()> {
    // SAFETY: getpgrp, getpid and setpgid on ourselves only.
    unsafe {
        if libc::getpgrp() != libc::getpid() && libc::setpgid(0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Say that the command started (or could not): over the socket
/// lifeline, or as one line on stderr in the stdin form (nobody reads a
/// report there but a person looking at the log). An error only where
/// the socket is broken: in the stdin form the lifeline itself decides.
fn send_report(lifeline: &mut File, kind: LifelineKind, report: &Report) -> std::io::Result<()> {
    match kind {
        LifelineKind::Socket(_) => lifeline.write_all(report.encode().as_bytes()),
        LifelineKind::Stdin => {
            let _ = std::io::stderr().write_all(report.encode().as_bytes());
            Ok(())
        }
    }
}

/// Whether mlxrun's end is closed (end-of-file, or a read error: a pty
/// hang-up gives EIO); waits up to one tick (less when a signal arrives,
/// e.g. SIGCHLD when the command exits). Data read is discarded.
fn lifeline_lost(lifeline: &mut File) -> bool {
    let mut pfd = libc::pollfd {
        fd: lifeline.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd that we own.
    let n = unsafe { libc::poll(&mut pfd, 1, TICK_MS) };
    if n <= 0 {
        return false; // timeout or EINTR
    }
    if pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) == 0 {
        return false;
    }
    let mut buf = [0u8; 4096];
    match lifeline.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false, // mlxrun writes nothing meant for us; ignore it
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
        ),
    }
}

/// SIGTERM to the group (when this process leads it; else to the command
/// only), up to `grace` for the command to exit, then SIGKILL likewise.
/// Does not return.
fn stop_group(child: &mut Child, grace: Duration) -> ! {
    let group = own_group();
    let target = if group > 1 { -group } else { child.id() as i32 };
    // SAFETY: plain kill calls on our own group or child.
    unsafe { libc::kill(target, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // the command may be gone, but not its own children: end the group
    unsafe { libc::kill(target, libc::SIGKILL) };
    let _ = child.kill();
    let _ = child.wait();
    std::process::exit(128 + libc::SIGKILL);
}

/// This process's group when it leads it, else 0 (never signal a group
/// we were merely started in: it may be mlxrun's own).
fn own_group() -> i32 {
    // SAFETY: getpgrp and getpid cannot fail.
    let (group, me) = unsafe { (libc::getpgrp(), libc::getpid()) };
    if group == me { group } else { 0 }
}

/// Exit as the command did: its code, or its signal raised again (without
/// a core file of our own). Does not return.
fn exit_like(status: ExitStatus) -> ! {
    if let Some(code) = status.code() {
        std::process::exit(code);
    }
    if let Some(sig) = status.signal() {
        // SAFETY: resetting our own limits and disposition, then raising.
        unsafe {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(sig);
        }
        std::process::exit(128 + sig);
    }
    std::process::exit(1);
}

extern "C" fn wake(_: libc::c_int) {}

/// A handler that does nothing but interrupt `poll` (no `SA_RESTART`).
fn wake_on(sig: libc::c_int) {
    // SAFETY: installing a handler that touches nothing.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = wake as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = if sig == libc::SIGCHLD {
            libc::SA_NOCLDSTOP
        } else {
            0
        };
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

fn set_cloexec(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor number; fails cleanly when it is not open.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, ChildStderr, Command, Stdio};
    use std::time::{Duration, Instant};

    use crate::supervisor::wire::Report;

    /// The built `mlxrun __supervise --stdin-lifeline --grace-ms 500 --
    /// ARGV…`, started as a plain child in this test's process group with
    /// pipes as its stdin and stderr; returns it, its stderr (after the
    /// first line) and the command's PID from that first line.
    fn start(argv: &[&str]) -> (Child, BufReader<ChildStderr>, i32) {
        let bin = crate::supervisor::spawn::program().expect("the mlxrun binary");
        let mut sup = Command::new(bin)
            .args(["__supervise", "--stdin-lifeline", "--grace-ms", "500", "--"])
            .args(argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(sup.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let Ok(Report::Started(pid)) = Report::decode(&line) else {
            let _ = sup.kill();
            panic!("not a start report: {line:?}");
        };
        (sup, err, pid)
    }

    /// Whether a member of group `pgid` still runs (zombies do not).
    fn group_runs(pgid: i32) -> bool {
        let rows = crate::procs::process_rows().expect("the process table");
        crate::procs::group_has_live_member(&rows, pgid)
    }

    /// Wait (up to 10 s) until nothing of group `pgid` runs.
    fn assert_group_ends(pgid: i32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_runs(pgid) {
            assert!(Instant::now() < deadline, "group {pgid} still runs");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[cfg(any(target_os = "linux", target_os = "macos"))]
    #[test]
    fn end_of_file_on_stdin_stops_the_command_and_data_does_not() {
        let (mut sup, mut err, pid) = start(&["sleep", "30"]);
        let group = sup.id() as i32;
        // started inside this test's group, it made itself a group leader,
        // and its command runs in that group
        // SAFETY: plain queries.
        assert_eq!(unsafe { libc::getpgid(group) }, group);
        assert_eq!(unsafe { libc::getpgid(pid) }, group);
        assert_ne!(group, unsafe { libc::getpgrp() });
        if cfg!(target_os = "linux") {
            let stdin = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
            assert_eq!(stdin, std::path::Path::new("/dev/null"));
        }
        // what arrives on stdin is read and dropped
        let mut lifeline = sup.stdin.take().unwrap();
        lifeline.write_all(b"anything\n").unwrap();
        lifeline.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            sup.try_wait().unwrap().is_none(),
            "data ended the supervisor"
        );
        assert!(group_runs(group));
        drop(lifeline);
        assert_group_ends(group);
        let status = sup.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
        let mut rest = String::new();
        err.read_to_string(&mut rest).unwrap();
        assert!(
            rest.contains("mlxrun is gone: stopping process group"),
            "{rest}"
        );
    }

    /// A command that ignores SIGTERM, and a grandchild: SIGKILL to the
    /// group after the grace ends both.
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    #[test]
    fn a_command_ignoring_sigterm_is_killed_when_stdin_closes() {
        let (mut sup, _err, _pid) = start(&["sh", "-c", "trap '' TERM; sleep 30 & wait"]);
        let group = sup.id() as i32;
        drop(sup.stdin.take());
        assert_group_ends(group);
        let status = sup.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    }

    #[test]
    fn a_command_that_cannot_start_is_reported_on_stderr() {
        let bin = crate::supervisor::spawn::program().expect("the mlxrun binary");
        let out = Command::new(bin)
            .args([
                "__supervise",
                "--stdin-lifeline",
                "--grace-ms",
                "500",
                "--",
                "/nonexistent/mlxrun-test-command",
            ])
            .stdin(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let report = Report::decode(stderr.lines().next().unwrap_or("")).unwrap();
        assert!(
            matches!(
                report,
                Report::Failed {
                    errno: Some(libc::ENOENT),
                    ..
                }
            ),
            "{stderr}"
        );
    }
}
