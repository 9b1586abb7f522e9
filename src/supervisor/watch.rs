//! The supervisor's side (`mlxrun __supervise --lifeline-fd N --grace-ms M
//! -- CMD…`): start the command in this process group, report its PID over
//! the lifeline, then wait for whichever comes first:
//! - the command exits: exit with its status (a signal is raised again,
//!   so mlxrun sees "killed by signal 9" as it would without us);
//! - the lifeline reads end-of-file (mlxrun is gone, however it ended):
//!   SIGTERM to the group, up to the grace for the command to exit, then
//!   SIGKILL to the group, which ends the supervisor too.
//!
//! SIGTERM, SIGINT and SIGHUP only wake the supervisor: sent to the group,
//! the command gets them as well and decides; the supervisor stays to
//! report its status. The handlers are reset by `exec`, so the command
//! starts with the default dispositions. Single-threaded, no async runtime.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use super::wire::{Args, Report};

/// How often the lifeline and the command are checked when no signal
/// wakes the supervisor earlier.
const TICK_MS: i32 = 100;

/// Run the supervisor; returns the exit code (or never returns when it
/// re-raises its command's signal or kills its own group).
pub fn main(argv: &[OsString]) -> i32 {
    let args = match Args::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mlxrun {}: {e}", super::SUBCOMMAND);
            return 2;
        }
    };
    if let Err(e) = set_cloexec(args.lifeline_fd) {
        eprintln!(
            "mlxrun {}: lifeline descriptor {}: {e}",
            super::SUBCOMMAND,
            args.lifeline_fd
        );
        return 2;
    }
    // SAFETY: mlxrun left this descriptor open for us and nobody else owns
    // it in this process.
    let mut lifeline = unsafe { UnixStream::from_raw_fd(args.lifeline_fd) };
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD] {
        wake_on(sig);
    }
    let Some((program, rest)) = args.command.split_first() else {
        return 2; // Args::parse refuses an empty command
    };
    let mut child = match Command::new(program).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            let report = Report::Failed {
                errno: e.raw_os_error(),
                message: e.to_string(),
            };
            let _ = lifeline.write_all(report.encode().as_bytes());
            return 127;
        }
    };
    if lifeline
        .write_all(Report::Started(child.id() as i32).encode().as_bytes())
        .is_err()
    {
        // mlxrun is already gone
        stop_group(&mut child, args.grace);
    }
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            exit_like(status);
        }
        if lifeline_lost(&mut lifeline) {
            eprintln!(
                "mlxrun {}: mlxrun is gone: stopping process group {} (SIGTERM, SIGKILL after {:?})",
                super::SUBCOMMAND,
                own_group(),
                args.grace
            );
            stop_group(&mut child, args.grace);
        }
    }
}

/// Whether mlxrun's end is closed; waits up to one tick (less when a
/// signal arrives, e.g. SIGCHLD when the command exits).
fn lifeline_lost(lifeline: &mut UnixStream) -> bool {
    let mut pfd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(lifeline),
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
    let mut buf = [0u8; 64];
    match lifeline.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false, // mlxrun writes nothing today; ignore it
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
