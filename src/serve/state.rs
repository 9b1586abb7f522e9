//! `<output.dir>/serve/<scenario name>/state.json`: what `mlxrun serve up`
//! started (role, name, pid, pgid, process start time, argv with API keys
//! redacted, host, port, log, start time) plus the scenario, its resolved
//! configuration and the `--set`s. Written atomically (temp file + rename)
//! after every process start, so a crash mid-`up` still lets `down` find
//! them; read by `down` and `status`, which trust a recorded pid only while
//! its process start time still matches (a reused PID is another process).

use std::path::{Path, PathBuf};

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::server::readiness::Probe;

/// The state file's name inside the state folder.
pub const STATE_FILE: &str = "state.json";

/// What a recorded process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Instance,
    Rank,
    Nginx,
}

/// One process `up` started (or found under mlx.launch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proc {
    pub role: Role,
    pub name: String,
    pub pid: i32,
    pub pgid: i32,
    /// Process start time: clock ticks since boot (`/proc/<pid>/stat`
    /// field 22) on Linux, seconds since the epoch elsewhere; `None` when it
    /// could not be read (such a process is never signalled).
    pub start_time: Option<u64>,
    /// The command line, API keys replaced by `<redacted>`.
    pub argv: Vec<String>,
    pub host: String,
    /// Where it listens (ranks: none).
    pub port: Option<u16>,
    pub log: PathBuf,
    pub started_at: String,
}

impl Proc {
    /// `http://host:port`, when it listens.
    pub fn url(&self) -> Option<String> {
        self.port.map(|p| {
            format!(
                "http://{}",
                crate::server::readiness::host_port(&self.host, p)
            )
        })
    }
}

/// How readiness is probed, as `up` did it (without the API key): `POST
/// path` with `body` of `content_type` (a 1-token completion, or a
/// transcription form), or `GET path` without a body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSpec {
    pub path: String,
    /// The request body, base64 (a transcription form holds binary audio).
    pub body_base64: Option<String>,
    #[serde(default)]
    pub content_type: String,
}

impl ProbeSpec {
    /// What `status` records of `p`.
    pub fn of(p: &Probe) -> ProbeSpec {
        use base64::Engine;
        match p {
            Probe::Completion {
                path,
                body,
                content_type,
                ..
            } => ProbeSpec {
                path: path.clone(),
                body_base64: Some(base64::engine::general_purpose::STANDARD.encode(body)),
                content_type: content_type.clone(),
            },
            Probe::Health { path, .. } => ProbeSpec {
                path: path.clone(),
                body_base64: None,
                content_type: String::new(),
            },
        }
    }

    /// The probe again, with `headers` (the API key, read now); `None` when
    /// the recorded body is not base64.
    pub fn probe(&self, headers: HeaderMap) -> Option<Probe> {
        use base64::Engine;
        Some(match &self.body_base64 {
            Some(b) => Probe::Completion {
                path: self.path.clone(),
                body: base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .ok()?
                    .into(),
                content_type: self.content_type.clone(),
                headers,
            },
            None => Probe::Health {
                path: self.path.clone(),
                headers,
            },
        })
    }
}

/// Whether `up` finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `up` is starting them (or died while doing so).
    Starting,
    /// Every process answered; `up` exited 0.
    Up,
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub phase: Phase,
    /// The mlxrun that wrote it (`mlxrun --version`).
    pub mlxrun_version: String,
    /// The mlxrun process that ran `up`.
    pub up_pid: i32,
    /// The scenario file (absolute).
    pub scenario: PathBuf,
    pub scenario_name: String,
    /// The `--set` arguments given to `up`.
    pub sets: Vec<String>,
    /// Which server configuration (1-based, as `mlxrun plan` lists them).
    pub config: usize,
    /// That configuration as the expansion made it.
    pub server_config: serde_json::Value,
    /// The effective scenario (all layers applied) as TOML.
    pub resolved: String,
    /// SIGTERM → SIGKILL grace for `down` (backend.stop_grace_s).
    pub stop_grace_s: f64,
    /// Where requests go: nginx, or the instances.
    pub targets: Vec<String>,
    /// The readiness probe `status` repeats.
    pub probe: Option<ProbeSpec>,
    /// The variable holding the backend's API key (read again by `status`;
    /// the key itself is never written).
    pub api_key_env: Option<String>,
    pub created_at: String,
    pub processes: Vec<Proc>,
}

impl State {
    /// Read `<dir>/state.json`; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<State>, String> {
        let path = dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "{}: not a state file mlxrun wrote ({e})\n  next: check the processes it names by hand, then remove it",
                path.display()
            )
        })
    }

    /// Write `<dir>/state.json` atomically and durably (a synced temp file
    /// renamed over it): `serve down` finds the old state or the new one.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::durable::replace(&dir.join(STATE_FILE), (text + "\n").as_bytes())
    }

    /// Remove `<dir>/state.json` (gone already is fine).
    pub fn remove(dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(dir.join(STATE_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The recorded processes that are still the same live processes.
    pub fn live(&self) -> Vec<&Proc> {
        self.processes.iter().filter(|p| same_process(p)).collect()
    }
}

/// The start time of `pid` (see [`Proc::start_time`]); `None` when it is
/// gone or a zombie.
pub use crate::procs::start_time;

/// Whether the recorded process is alive and still the one recorded (same
/// start time): a PID reused by another process is not it.
pub fn same_process(p: &Proc) -> bool {
    match (p.start_time, start_time(p.pid)) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => false,
    }
}

/// Whether process group `pgid` has a member that is not a zombie (from
/// the process table; where it cannot be read, whether the group exists).
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    match crate::procs::process_rows() {
        Some(rows) => crate::procs::group_has_live_member(&rows, pgid),
        None => crate::shutdown::group_alive(pgid),
    }
}

/// `argv` with every secret replaced by `<redacted>`.
pub fn redact_argv<'a>(
    argv: &[String],
    secrets: impl Iterator<Item = &'a str> + Clone,
) -> Vec<String> {
    argv.iter()
        .map(|a| {
            secrets
                .clone()
                .filter(|k| !k.is_empty())
                .fold(a.clone(), |acc, k| acc.replace(k, "<redacted>"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transcription probe's form holds binary audio: what state.json
    /// keeps must give back the same bytes and content type (a lossy text
    /// copy would make `status` send a broken form).
    #[test]
    fn a_recorded_probe_gives_back_its_bytes_and_content_type() {
        let body = bytes::Bytes::from_static(b"--b\r\n\xff\x00\xfe RIFF\r\n--b--\r\n");
        let form = Probe::Completion {
            path: "/v1/audio/transcriptions".into(),
            body: body.clone(),
            content_type: "multipart/form-data; boundary=b".into(),
            headers: HeaderMap::new(),
        };
        let spec: ProbeSpec =
            serde_json::from_str(&serde_json::to_string(&ProbeSpec::of(&form)).unwrap()).unwrap();
        let Some(Probe::Completion {
            path,
            body: again,
            content_type,
            ..
        }) = spec.probe(HeaderMap::new())
        else {
            panic!("not a completion probe: {spec:?}")
        };
        assert_eq!(path, "/v1/audio/transcriptions");
        assert_eq!(again, body);
        assert_eq!(content_type, "multipart/form-data; boundary=b");
        let health = ProbeSpec::of(&Probe::Health {
            path: "/health".into(),
            headers: HeaderMap::new(),
        });
        assert!(matches!(
            health.probe(HeaderMap::new()),
            Some(Probe::Health { path, .. }) if path == "/health"
        ));
    }

    fn proc_of(pid: i32, start_time: Option<u64>) -> Proc {
        Proc {
            role: Role::Instance,
            name: "instance-0".into(),
            pid,
            pgid: pid,
            start_time,
            argv: vec!["x".into()],
            host: "127.0.0.1".into(),
            port: Some(1),
            log: "l".into(),
            started_at: "t".into(),
        }
    }

    #[test]
    fn a_reused_pid_is_not_the_recorded_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let st = start_time(pid).expect("a live child has a start time");
        assert!(same_process(&proc_of(pid, Some(st))));
        // the same pid with another start time: a different process
        assert!(!same_process(&proc_of(pid, Some(st + 1))));
        // an unknown start time is never trusted
        assert!(!same_process(&proc_of(pid, None)));
        child.kill().unwrap();
        // a zombie (not reaped yet) is not alive either
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(start_time(pid), None);
        assert!(!same_process(&proc_of(pid, Some(st))));
        child.wait().unwrap();
        assert!(!same_process(&proc_of(pid, Some(st))));
    }

    #[test]
    fn the_state_file_is_written_atomically_and_read_back() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(State::read(t.path()).unwrap(), None);
        let s = State {
            phase: Phase::Starting,
            mlxrun_version: "v".into(),
            up_pid: 1,
            scenario: "/s.toml".into(),
            scenario_name: "s".into(),
            sets: vec!["a.b=1".into()],
            config: 1,
            server_config: serde_json::json!({"instances": 2}),
            resolved: "name = \"s\"\n".into(),
            stop_grace_s: 5.0,
            targets: vec![],
            probe: None,
            api_key_env: None,
            created_at: "t".into(),
            processes: vec![proc_of(7, Some(3))],
        };
        s.write(t.path()).unwrap();
        assert_eq!(State::read(t.path()).unwrap(), Some(s));
        let names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [STATE_FILE], "no temp file left");
        std::fs::write(t.path().join(STATE_FILE), "{").unwrap();
        assert!(
            State::read(t.path())
                .unwrap_err()
                .contains("not a state file")
        );
        State::remove(t.path()).unwrap();
        State::remove(t.path()).unwrap();
    }

    #[test]
    fn keys_are_redacted_from_argv() {
        let argv = vec!["--api-key".to_string(), "sk-123".into(), "x=sk-123".into()];
        assert_eq!(
            redact_argv(&argv, ["sk-123"].into_iter()),
            ["--api-key", "<redacted>", "x=<redacted>"]
        );
    }
}
