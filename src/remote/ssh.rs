//! Commands on another host over SSH: the `ssh` command line that runs an
//! argv there in a given folder with given environment variables (quoted
//! for the remote POSIX shell with `shlex`, never pasted together), and a
//! short command run there with its output captured. Every command is
//! non-interactive (`BatchMode=yes`): a host that would ask for a password
//! fails at once instead of hanging the run.

use std::path::Path;
use std::time::Duration;

use super::host::Host;

/// The environment variable every process mlxrun starts on a host carries:
/// the run's tag, by which `mlxrun __host leftovers` finds what is left.
pub const TAG_VAR: &str = "MLXRUN_TAG";

/// `ssh`'s own exit code when it could not connect or authenticate (the
/// remote command's codes are passed through).
pub const SSH_FAILED: i32 = 255;

/// How mlxrun runs `ssh` (`[remote]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssh {
    /// The `ssh` program.
    pub bin: String,
    /// Options for every host.
    pub args: Vec<String>,
    /// `ConnectTimeout` in seconds.
    pub connect_timeout_s: u32,
}

impl Default for Ssh {
    fn default() -> Self {
        Ssh {
            bin: "ssh".into(),
            args: Vec::new(),
            connect_timeout_s: 10,
        }
    }
}

/// A finished remote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The exit code ([`SSH_FAILED`]: ssh itself failed); -1 when killed.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Captured {
    /// The last non-empty line of stderr (ssh's reason, or the command's).
    pub fn last_error_line(&self) -> String {
        self.stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or_default()
            .to_string()
    }
}

/// Why a remote command could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot run `{bin}`: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("no answer from {host} within {secs} s")]
    Timeout { host: String, secs: u64 },
}

/// The remote shell's text: enter `workdir` (a missing folder is a clear
/// error, exit 97), then replace the shell with `argv` under `env`.
pub fn remote_script(workdir: &str, env: &[(String, String)], argv: &[String]) -> String {
    let q = |s: &str| shlex::try_quote(s).map_or_else(|_| "''".to_string(), |c| c.into_owned());
    let mut s = String::new();
    if !workdir.is_empty() {
        let wd = q(workdir);
        s.push_str(&format!(
            "cd {wd} || {{ echo \"mlxrun: no folder {} on $(hostname)\" >&2; exit 97; }}; ",
            wd.replace('"', "")
        ));
    }
    s.push_str("exec");
    if !env.is_empty() {
        s.push_str(" env");
        for (k, v) in env {
            s.push(' ');
            s.push_str(&q(&format!("{k}={v}")));
        }
    }
    for a in argv {
        s.push(' ');
        s.push_str(&q(a));
    }
    s
}

/// The working directory commands run in on `host`: its own, else this
/// process's (shared folders, the same layout on every host).
pub fn workdir_of(host: &Host) -> String {
    if !host.workdir.is_empty() {
        return host.workdir.clone();
    }
    std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

/// The mlxrun executable on `host`: its own setting, else this one's path.
pub fn mlxrun_of(host: &Host) -> String {
    if !host.mlxrun.is_empty() {
        return host.mlxrun.clone();
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| std::path::absolute(p).ok())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "mlxrun".into())
}

/// A path as it is named on `host`: relative paths resolve in its working
/// directory (the same relative layout there).
pub fn path_on(host: &Host, path: &str) -> String {
    if Path::new(path).is_absolute() {
        return path.to_string();
    }
    Path::new(&workdir_of(host))
        .join(path)
        .display()
        .to_string()
}

impl Ssh {
    /// The options every command gets, then the host's own.
    fn options(&self, host: &Host, tty: bool) -> Vec<String> {
        let mut v = vec![
            if tty { "-tt" } else { "-T" }.to_string(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            format!("ConnectTimeout={}", self.connect_timeout_s.max(1)),
        ];
        v.extend(self.args.iter().cloned());
        v.extend(host.ssh_args.iter().cloned());
        v
    }

    /// The local argv that runs `remote` on `host` in its working
    /// directory with `env` set (no pseudo-terminal; stdin passes through).
    pub fn argv(&self, host: &Host, env: &[(String, String)], remote: &[String]) -> Vec<String> {
        let mut v = vec![self.bin.clone()];
        v.extend(self.options(host, false));
        v.push(host.ssh.clone());
        v.push(remote_script(&workdir_of(host), env, remote));
        v
    }

    /// Run `remote` on `host` and capture its output, waiting at most
    /// `timeout`; started through a supervisor like every child.
    pub async fn capture(
        &self,
        host: &Host,
        remote: &[String],
        timeout: Duration,
    ) -> Result<Captured, SshError> {
        let argv = self.argv(host, &[], remote);
        let out = crate::supervisor::spawn::capture_output(&argv, timeout)
            .await
            .map_err(|source| SshError::Spawn {
                bin: self.bin.clone(),
                source,
            })?
            .ok_or_else(|| SshError::Timeout {
                host: host.name.clone(),
                secs: timeout.as_secs(),
            })?;
        Ok(Captured {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host {
            workdir: "/srv/bench dir".into(),
            ssh_args: vec!["-p".into(), "2222".into()],
            ..Host::bare("me@10.0.0.2")
        }
    }

    #[test]
    fn the_remote_script_quotes_every_word() {
        let s = remote_script(
            "/srv/bench dir",
            &[("MLXRUN_TAG".into(), "run 1".into())],
            &["python".into(), "-c".into(), "print('hi'); x=$HOME".into()],
        );
        assert!(s.starts_with("cd '/srv/bench dir' || {"), "{s}");
        // a POSIX shell splits it back into the same words
        let words = shlex::split(s.split_once("; exec ").unwrap().1).unwrap();
        assert_eq!(
            words,
            [
                "env",
                "MLXRUN_TAG=run 1",
                "python",
                "-c",
                "print('hi'); x=$HOME"
            ]
        );
    }

    #[test]
    fn the_ssh_command_is_non_interactive_with_host_options_last() {
        let ssh = Ssh {
            args: vec!["-F".into(), "cfg".into()],
            ..Ssh::default()
        };
        let argv = ssh.argv(&host(), &[], &["true".into()]);
        assert_eq!(
            argv[..10].join(" "),
            "ssh -T -o BatchMode=yes -o ConnectTimeout=10 -F cfg -p 2222"
        );
        assert_eq!(argv[10], "me@10.0.0.2");
        assert!(argv[11].ends_with("exec true"), "{}", argv[11]);
        assert_eq!(path_on(&host(), "models/m"), "/srv/bench dir/models/m");
        assert_eq!(path_on(&host(), "/abs"), "/abs");
    }

    #[tokio::test]
    async fn a_missing_ssh_program_is_an_error_not_a_panic() {
        let ssh = Ssh {
            bin: "/definitely/not/ssh".into(),
            ..Ssh::default()
        };
        let r = ssh
            .capture(&host(), &["true".into()], Duration::from_secs(5))
            .await;
        // the supervisor starts but its command cannot: exit 127
        match r {
            Ok(c) => assert_eq!(c.code, 127, "{c:?}"),
            Err(e) => assert!(e.to_string().contains("cannot run"), "{e}"),
        }
    }
}
