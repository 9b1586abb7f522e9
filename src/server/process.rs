//! One supervised child process: started in its own process group with its
//! output in a log file, told to die with mlxrun (`PR_SET_PDEATHSIG` on
//! Linux), registered in [`crate::shutdown`], and stopped as a group:
//! SIGTERM, a grace period, SIGKILL.
//!
//! Spawn from the thread that drives the runner (the main thread): Linux
//! delivers the parent-death signal when the *thread* that forked exits.
//!
//! [`Lifetime::Detached`] children (for `mlxrun serve up`) get none of the
//! ties to mlxrun's death: their own session (and so their own process
//! group, no controlling terminal), no parent-death signal, no kill on
//! drop. They are still registered while mlxrun waits for them, so a panic
//! or a second Ctrl-C stops them, until [`ManagedProcess::release`] hands
//! them over.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::shutdown;

/// Whether a child dies with mlxrun.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lifetime {
    /// Stopped when mlxrun ends, on every path (the runner).
    #[default]
    WithMlxrun,
    /// Outlives mlxrun once released (`mlxrun serve up`).
    Detached,
}

/// A running child.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    pid: i32,
    argv: Vec<String>,
    log_path: PathBuf,
    child: tokio::process::Child,
    stopped: bool,
}

impl ManagedProcess {
    /// Start `argv` with stdout and stderr appended to `log_path`.
    pub fn spawn(
        name: &str,
        argv: &[String],
        log_path: &Path,
        env: &[(String, String)],
    ) -> std::io::Result<ManagedProcess> {
        Self::spawn_with(name, argv, log_path, env, Lifetime::WithMlxrun)
    }

    /// [`ManagedProcess::spawn`] with the given [`Lifetime`].
    pub fn spawn_with(
        name: &str,
        argv: &[String],
        log_path: &Path,
        env: &[(String, String)],
        lifetime: Lifetime,
    ) -> std::io::Result<ManagedProcess> {
        let Some((program, args)) = argv.split_first() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty command",
            ));
        };
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        let log_err = log.try_clone()?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        match lifetime {
            Lifetime::WithMlxrun => {
                cmd.process_group(0).kill_on_drop(true);
                die_with_parent(&mut cmd);
            }
            Lifetime::Detached => new_session(&mut cmd),
        }
        let child = cmd.spawn()?;
        let pid = child.id().map(|p| p as i32).unwrap_or(-1);
        shutdown::register(pid, name);
        Ok(ManagedProcess {
            name: name.to_string(),
            pid,
            argv: argv.to_vec(),
            log_path: log_path.to_path_buf(),
            child,
            stopped: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// PID of the child, which is also its process group id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Hand a [`Lifetime::Detached`] child over: unregistered from the
    /// shutdown registry and never signalled by this handle again (not on
    /// drop either). Returns its pid (= its process group).
    pub fn release(mut self) -> i32 {
        shutdown::unregister(self.pid);
        self.stopped = true;
        self.pid
    }

    /// The exit status when the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log_path, n)
    }

    /// Stop the whole group: SIGTERM, up to `grace`, SIGKILL; then reap.
    pub async fn stop(&mut self, grace: Duration) {
        if self.stopped {
            return;
        }
        let pgid = self.pid;
        if pgid > 0 {
            shutdown::signal_group(pgid, libc::SIGTERM);
            let deadline = tokio::time::Instant::now() + grace;
            loop {
                let exited = self.child.try_wait().ok().flatten().is_some();
                if exited && !shutdown::group_alive(pgid) {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    shutdown::signal_group(pgid, libc::SIGKILL);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
            // the group may outlive the leader for a moment after SIGKILL
            for _ in 0..100 {
                if !shutdown::group_alive(pgid) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            shutdown::unregister(pgid);
        }
        self.stopped = true;
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        if !self.stopped && self.pid > 0 {
            shutdown::signal_group(self.pid, libc::SIGKILL);
            shutdown::unregister(self.pid);
        }
    }
}

/// Make the child get SIGTERM when mlxrun dies (Linux `PR_SET_PDEATHSIG`;
/// nothing elsewhere). Linux sends it when the spawning *thread* exits.
pub(crate) fn die_with_parent(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: only async-signal-safe calls between fork and exec.
        let parent = unsafe { libc::getpid() };
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != parent {
                    // mlxrun died between fork and prctl
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Run the child in a session of its own (`setsid`): its own process group
/// (pgid = pid) with no controlling terminal, so neither Ctrl-C in
/// mlxrun's terminal nor the terminal closing reaches it.
fn new_session(cmd: &mut tokio::process::Command) {
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The last `n` lines of the file at `path` (empty when unreadable).
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_the_whole_group_and_logs_output() {
        let t = tempfile::tempdir().unwrap();
        let log = t.path().join("logs/x.log");
        // a parent that ignores SIGTERM with a grandchild that sleeps
        let argv: Vec<String> = [
            "sh",
            "-c",
            "trap '' TERM; echo started; sleep 30 & sleep 30",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut p = ManagedProcess::spawn("x", &argv, &log, &[]).unwrap();
        let pgid = p.pid();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(shutdown::group_alive(pgid));
        assert!(shutdown::registered().iter().any(|(g, _)| *g == pgid));
        p.stop(Duration::from_millis(300)).await;
        assert!(!shutdown::group_alive(pgid), "group {pgid} survived stop");
        assert!(!shutdown::registered().iter().any(|(g, _)| *g == pgid));
        assert_eq!(p.log_tail(5), "started");
    }

    #[tokio::test]
    async fn a_released_detached_child_outlives_its_handle() {
        let t = tempfile::tempdir().unwrap();
        let argv: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
        let p = ManagedProcess::spawn_with(
            "d",
            &argv,
            &t.path().join("d.log"),
            &[],
            Lifetime::Detached,
        )
        .unwrap();
        let pid = p.pid();
        // its own session and group
        // SAFETY: plain queries.
        assert_eq!(unsafe { libc::getsid(pid) }, pid);
        assert_eq!(unsafe { libc::getpgid(pid) }, pid);
        assert!(shutdown::registered().iter().any(|(g, _)| *g == pid));
        assert_eq!(p.release(), pid);
        assert!(!shutdown::registered().iter().any(|(g, _)| *g == pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(shutdown::group_alive(pid), "dropped handle killed it");
        shutdown::signal_group(pid, libc::SIGKILL);
        let mut st = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(!shutdown::group_alive(pid));
    }
}
