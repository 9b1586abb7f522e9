//! mlxrun's side of a supervised child: the `Command` that starts
//! `mlxrun __supervise … -- CMD…` as the leader of a new process group,
//! with the supervisor's end of the lifeline left open across `exec`, and
//! the [`Lifeline`] mlxrun keeps. Dropping the lifeline (or mlxrun's death,
//! which drops it for us) makes the supervisor stop the group.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::wire::{Args, LifelineKind, Report};

/// How long a supervisor may take to start its command and say so.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Name the executable that runs `__supervise` (the `mlxrun` binary calls
/// this with itself at start; tests that drive the library from another
/// executable call it with the built `mlxrun`). The first call wins.
pub fn set_program(path: PathBuf) {
    let _ = PROGRAM.set(path);
}

/// The supervisor executable: the one set, else this executable.
pub(super) fn program() -> std::io::Result<PathBuf> {
    if let Some(p) = PROGRAM.get() {
        return Ok(p.clone());
    }
    let me = std::env::current_exe()?;
    if cfg!(test) {
        // unit tests run from target/<profile>/deps/<crate>-<hash>: the
        // binary that understands `__supervise` is target/<profile>/mlxrun
        let bin = me
            .parent()
            .and_then(|deps| deps.parent())
            .map(|profile| profile.join("mlxrun"))
            .filter(|b| b.is_file())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the mlxrun binary (the supervisor) is not built: run `cargo build` first",
                )
            })?;
        return Ok(bin);
    }
    Ok(me)
}

/// A child to be started through a supervisor. Configure stdio,
/// environment and directory on [`Supervised::command`] (they pass through
/// the supervisor to the command), then [`Supervised::start`].
#[derive(Debug)]
pub struct Supervised {
    /// The supervisor's command line; its program is the supervisor.
    pub command: Command,
    ours: UnixStream,
    theirs: UnixStream,
}

/// What the supervisor's handle must offer, for the handle types a caller
/// spawns (std's and tokio's).
pub trait ChildId {
    fn child_id(&self) -> Option<u32>;
    /// Whether it has exited (and is reaped through this handle).
    fn has_exited(&mut self) -> bool;
    /// Wait (at most `limit`) for the supervisor, which is exiting, and
    /// reap it through the handle, so the handle never signals its PID
    /// again (a reaped PID may already be another process's).
    fn reap_within(&mut self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while !self.has_exited() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl ChildId for std::process::Child {
    fn child_id(&self) -> Option<u32> {
        Some(self.id())
    }
    fn has_exited(&mut self) -> bool {
        !matches!(self.try_wait(), Ok(None))
    }
}

impl ChildId for tokio::process::Child {
    fn child_id(&self) -> Option<u32> {
        self.id()
    }
    fn has_exited(&mut self) -> bool {
        !matches!(self.try_wait(), Ok(None))
    }
}

impl Supervised {
    /// Prepare `argv` (no shell) to run under a supervisor that gives it
    /// `grace` between SIGTERM and SIGKILL when mlxrun is gone.
    pub fn new(argv: &[String], grace: Duration) -> std::io::Result<Supervised> {
        if argv.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty command",
            ));
        }
        let (ours, theirs) = UnixStream::pair()?;
        let fd = theirs.as_raw_fd();
        let args = Args {
            lifeline: LifelineKind::Socket(fd),
            grace,
            command: argv.iter().map(OsString::from).collect(),
        };
        let mut command = Command::new(program()?);
        command.args(args.to_argv()).process_group(0);
        // SAFETY: fcntl is async-signal-safe; `fd` stays open in mlxrun
        // until after the spawn, so it names the same socket in the child.
        unsafe {
            command.pre_exec(move || keep_open_across_exec(fd));
        }
        Ok(Supervised {
            command,
            ours,
            theirs,
        })
    }

    /// Spawn the supervisor with `spawn` (given the configured command; it
    /// may convert it, e.g. into a tokio command) and wait for its report.
    /// Returns the handle `spawn` made (the supervisor, leader of the
    /// group) and the lifeline with the command's own PID. When the
    /// command cannot start, the supervisor is reaped and the error is the
    /// command's own (e.g. "No such file or directory").
    pub fn start<C: ChildId>(
        self,
        spawn: impl FnOnce(Command) -> std::io::Result<C>,
    ) -> std::io::Result<(C, Lifeline)> {
        let Supervised {
            command,
            ours,
            theirs,
        } = self;
        let mut child = spawn(command)?;
        // only the supervisor may hold its end now
        drop(theirs);
        let supervisor = child.child_id().map(|p| p as i32).unwrap_or(-1);
        match read_report(&ours) {
            Ok(Report::Started(pid)) => Ok((
                child,
                Lifeline {
                    stream: ours,
                    command_pid: pid,
                },
            )),
            Ok(Report::Failed { errno, message }) => {
                // it exits right after saying so
                child.reap_within(REPORT_TIMEOUT);
                Err(match errno {
                    Some(n) => std::io::Error::from_raw_os_error(n),
                    None => std::io::Error::other(message),
                })
            }
            Err(e) => {
                if supervisor > 0 {
                    crate::shutdown::signal_group(supervisor, libc::SIGKILL);
                }
                child.reap_within(REPORT_TIMEOUT);
                Err(std::io::Error::other(format!(
                    "the process supervisor did not start the command: {e}"
                )))
            }
        }
    }
}

/// Clear close-on-exec on `fd` (between fork and exec).
fn keep_open_across_exec(fd: i32) -> std::io::Result<()> {
    // SAFETY: plain fcntl calls on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn read_report(stream: &UnixStream) -> Result<Report, String> {
    stream
        .set_read_timeout(Some(REPORT_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    let n = BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| format!("no report within {REPORT_TIMEOUT:?}: {e}"))?;
    if n == 0 {
        return Err("it ended without a report".into());
    }
    Report::decode(&line)
}

/// mlxrun's end of a supervisor's lifeline, and the PID of the command it
/// runs. Dropping it tells the supervisor to stop the group.
#[derive(Debug)]
pub struct Lifeline {
    stream: UnixStream,
    command_pid: i32,
}

impl Lifeline {
    /// The supervised command's own PID (the supervisor's child).
    pub fn command_pid(&self) -> i32 {
        self.command_pid
    }

    /// The descriptor mlxrun holds (tests check it is not inherited).
    pub fn raw_fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }
}

/// Run `argv` (no shell) to its end under a supervisor, stdin empty and its
/// output captured; afterwards its group is killed (whatever it left
/// running goes too). `Ok(None)` when it ran past `timeout`.
pub async fn capture_output(
    argv: &[String],
    timeout: Duration,
) -> std::io::Result<Option<std::process::Output>> {
    let mut sup = Supervised::new(argv, Duration::from_secs(2))?;
    sup.command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let (child, lifeline) = sup.start(|cmd| {
        tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
    })?;
    let pgid = child.id().map(|p| p as i32).unwrap_or(-1);
    let out = tokio::time::timeout(timeout, child.wait_with_output()).await;
    if pgid > 0 {
        crate::shutdown::signal_group(pgid, libc::SIGKILL);
    }
    drop(lifeline);
    match out {
        Ok(result) => result.map(Some),
        Err(_) => Ok(None),
    }
}
