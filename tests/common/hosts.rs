//! Other hosts on this machine for the multi-host tests: network namespaces
//! on a private bridge, each running Debian's sshd with a key made for the
//! test (`scripts/test-hosts.sh`), removed again when the fixture drops.
//!
//! The filesystem is shared, so the venv, the tiny model and the mlxrun
//! binary are at the same paths on every host. Programs that call plain
//! `ssh` (mlx.launch, mlxrun's `[remote] ssh = "ssh"`) reach the hosts by
//! name (`host0`, `host1`, ...) or address when [`TestHosts::path_with_wrapper`]
//! is their `PATH`; or pass `-F` [`TestHosts::ssh_config`] to ssh.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{pid_alive, repo};

/// One host: a network namespace with its own address and sshd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestHost {
    /// Its `Host` alias in [`TestHosts::ssh_config`]: `host0`, `host1`, ...
    pub name: String,
    /// Its IPv4 address, where its sshd listens (port 22) and where servers
    /// on it bind; reachable from this machine and from the other hosts.
    pub address: String,
    /// Its network namespace (`ip netns exec NETNS ...`).
    pub netns: String,
}

/// Hosts made by `scripts/test-hosts.sh up`, taken down on drop.
pub struct TestHosts {
    /// The fixture's folder: keys, ssh and sshd configs, sshd pid files and
    /// logs, `bin/ssh`; a temporary folder removed after `down`.
    pub dir: PathBuf,
    /// In order: `hosts[k].name == format!("host{k}")`.
    pub hosts: Vec<TestHost>,
    _temp: tempfile::TempDir,
}

/// Why the hosts did not come up.
enum UpError {
    /// This machine cannot have them (not root, no `ip netns`, no sshd).
    Unavailable(String),
    /// It should have worked and did not.
    Failed(String),
}

impl UpError {
    fn message(self) -> String {
        match self {
            UpError::Unavailable(why) | UpError::Failed(why) => why,
        }
    }
}

/// `scripts/test-hosts.sh` of this repository.
fn script() -> PathBuf {
    repo().join("scripts/test-hosts.sh")
}

impl TestHosts {
    /// `n` hosts, every sshd answering; `Err` says why not.
    pub fn up(n: usize) -> Result<TestHosts, String> {
        TestHosts::start(n).map_err(UpError::message)
    }

    fn start(n: usize) -> Result<TestHosts, UpError> {
        let temp = tempfile::Builder::new()
            .prefix("mlxrun-hosts-")
            .tempdir()
            .map_err(|e| UpError::Failed(format!("no temporary folder: {e}")))?;
        let dir = temp.path().to_path_buf();
        let out = Command::new(script())
            .arg("up")
            .arg(&dir)
            .arg(n.to_string())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| UpError::Failed(format!("cannot run {}: {e}", script().display())))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if out.status.code() == Some(77) {
            return Err(UpError::Unavailable(stderr));
        }
        let hosts: Vec<TestHost> = stdout
            .lines()
            .filter_map(
                |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                    [name, address, netns] => Some(TestHost {
                        name: name.to_string(),
                        address: address.to_string(),
                        netns: netns.to_string(),
                    }),
                    _ => None,
                },
            )
            .collect();
        let fixture = TestHosts {
            dir,
            hosts,
            _temp: temp,
        };
        if !out.status.success() || fixture.hosts.len() != n {
            // dropping `fixture` runs `down` for whatever was made
            return Err(UpError::Failed(format!(
                "scripts/test-hosts.sh up {} {n} exited {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
                fixture.dir.display(),
                out.status.code(),
            )));
        }
        Ok(fixture)
    }

    /// The ssh client config: the test key, no host key checks, `BatchMode`,
    /// and a `Host hostK` alias per host (for `ssh -F`).
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// The folder holding `ssh`, a wrapper that runs `/usr/bin/ssh -F`
    /// [`TestHosts::ssh_config`].
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// A `PATH` with [`TestHosts::bin_dir`] first, then this process's
    /// `PATH`: plain `ssh` reaches the hosts.
    pub fn path_with_wrapper(&self) -> OsString {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.bin_dir()];
        dirs.extend(std::env::split_paths(&rest));
        std::env::join_paths(dirs).unwrap_or_else(|_| self.bin_dir().into_os_string())
    }

    /// `ssh HOST` through the wrapper; append the remote command.
    pub fn ssh(&self, host: &TestHost) -> Command {
        let mut c = Command::new(self.bin_dir().join("ssh"));
        c.arg(&host.name);
        c
    }

    /// The live (non-zombie) processes in `host`'s namespace, its own sshd
    /// (the listener) left out, sorted. Connections still open over ssh
    /// show as their `sshd: user@...` session processes.
    pub fn pids_in(&self, host: &TestHost) -> Vec<i32> {
        let Ok(netns) = std::fs::metadata(Path::new("/run/netns").join(&host.netns)) else {
            return Vec::new();
        };
        let sshd = self.sshd_pid(host);
        let mut pids: Vec<i32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| Some(pid) != sshd)
            .filter(|&pid| {
                std::fs::metadata(format!("/proc/{pid}/ns/net"))
                    .is_ok_and(|ns| ns.dev() == netns.dev() && ns.ino() == netns.ino())
            })
            .filter(|&pid| pid_alive(pid))
            .collect();
        pids.sort_unstable();
        pids
    }

    /// The PID of `host`'s sshd listener, from its pid file.
    fn sshd_pid(&self, host: &TestHost) -> Option<i32> {
        let k = self.hosts.iter().position(|h| h == host)?;
        std::fs::read_to_string(self.dir.join(format!("sshd-{k}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        match Command::new(script())
            .arg("down")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "scripts/test-hosts.sh down {} exited {:?}: {}",
                self.dir.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot run {}: {e}", script().display()),
        }
    }
}

/// `n` test hosts, or `None` (saying why on stderr) where this machine
/// cannot have them (not root, no `ip netns`, no sshd: run the test as root
/// on Linux with openssh-server installed). With `CI` set that is a panic
/// instead, so CI never skips the multi-host tests. Hosts that should have
/// come up and did not are a panic everywhere.
pub fn require_hosts(n: usize) -> Option<TestHosts> {
    match TestHosts::start(n) {
        Ok(hosts) => Some(hosts),
        Err(UpError::Unavailable(why)) => {
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!("CI runs the multi-host tests, but there are no test hosts here: {why}");
            }
            eprintln!("skipped: no test hosts on this machine ({why})");
            None
        }
        Err(UpError::Failed(why)) => panic!("the test hosts did not come up: {why}"),
    }
}
