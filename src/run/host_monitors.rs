//! One `mlxrun monitor` on every other host for the length of the run:
//! started over ssh (`monitor --until-eof --output -`), its samples
//! written into `<run>/hosts/<host>/monitor.jsonl` as they arrive and its
//! messages into `monitor.log` beside them; stopped by closing its
//! standard input, after which it writes its summary and exits. A host
//! whose monitor cannot start is said once and the run goes on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::remote::host::Host;
use crate::remote::ssh::{Ssh, TAG_VAR, mlxrun_of};
use crate::server::process::ManagedProcess;

/// How long a host's monitor may take to write its summary and exit.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The folder of `host`'s files in the run folder.
pub fn host_dir(run_dir: &Path, host: &str) -> PathBuf {
    let safe: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    run_dir.join("hosts").join(safe)
}

/// The running monitors.
#[derive(Debug, Default)]
pub struct HostMonitors {
    running: Vec<(String, ManagedProcess)>,
}

impl HostMonitors {
    /// Start a monitor on each of `hosts`, sampling every `interval`.
    pub fn start(
        ssh: &Ssh,
        hosts: &[Host],
        run_dir: &Path,
        run_tag: &str,
        interval: Duration,
    ) -> HostMonitors {
        let mut running = Vec::new();
        for h in hosts {
            let dir = host_dir(run_dir, &h.name);
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!(
                    "warning: host {}: no monitor: cannot create {}: {e}",
                    h.name,
                    dir.display()
                );
                continue;
            }
            let remote = vec![
                mlxrun_of(h),
                "monitor".into(),
                "--until-eof".into(),
                "--output".into(),
                "-".into(),
                "--interval".into(),
                interval.as_millis().max(10).to_string(),
            ];
            let env = [(TAG_VAR.to_string(), format!("{run_tag}/monitor"))];
            let argv = ssh.argv(h, &env, &remote);
            match ManagedProcess::spawn_holding_stdin(
                &format!("monitor@{}", h.name),
                &argv,
                &dir.join("monitor.log"),
                Some(&dir.join("monitor.jsonl")),
                &[],
                STOP_GRACE,
            ) {
                Ok(p) => running.push((h.name.clone(), p)),
                Err(e) => eprintln!("warning: host {}: the monitor did not start: {e}", h.name),
            }
        }
        HostMonitors { running }
    }

    /// Hosts being monitored.
    pub fn hosts(&self) -> Vec<String> {
        self.running.iter().map(|(h, _)| h.clone()).collect()
    }

    /// Stop every monitor: standard input closes, it writes its summary
    /// and exits; one that does not is stopped (its group, then the host's
    /// leftover sweep at the end of the run).
    pub async fn stop(self) {
        for (host, mut p) in self.running {
            p.stop(STOP_GRACE).await;
            if let Some(st) = p.exited()
                && !st.success()
            {
                eprintln!(
                    "warning: the monitor on host {host} ended with {st}; see {}",
                    p.log_path().display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_folders_are_safe_names_in_the_run_folder() {
        assert_eq!(
            host_dir(Path::new("r"), "me@10.0.0.2"),
            PathBuf::from("r/hosts/me_10.0.0.2")
        );
        assert_eq!(
            host_dir(Path::new("r"), "studio"),
            PathBuf::from("r/hosts/studio")
        );
    }
}
