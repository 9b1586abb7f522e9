//! `<run dir>/processes.jsonl`: one line per process started or stopped
//! (name, pid, process group, argv, log file), so tests and people can see
//! exactly what ran and find it by PID, never by name. Every event is one
//! whole line in one `write(2)`, synced before the call returns, and a
//! write that fails is an error: a start that cannot be recorded is
//! stopped again by the caller, and a failed stop or rank event is kept
//! ([`Journal::unrecorded`]) for the run to report when it ends. An
//! optional observer sees every event as it is written (`mlxrun serve up`
//! keeps its state file current with it).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::json;

use crate::durable::{LineFile, push_json_line};

/// Called with every event written; a record of its own it cannot write
/// (the file and why) fails the event as the journal's own file would.
pub type Observer =
    Arc<dyn Fn(&serde_json::Value) -> Result<(), (PathBuf, std::io::Error)> + Send + Sync>;

/// An event that could not be written to the journal.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot write {}: {reason} (the {event} event of {name} is not recorded)", path.display())]
pub struct JournalError {
    pub path: PathBuf,
    /// `start`, `rank` or `stop`.
    pub event: String,
    /// The process the event was about.
    pub name: String,
    /// The I/O error, as text.
    pub reason: String,
}

/// What every clone of a journal shares.
#[derive(Debug, Default)]
struct Inner {
    file: Option<LineFile>,
    /// The first event that could not be written.
    first_failure: Option<JournalError>,
}

/// Appends process events; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    path: PathBuf,
    inner: Arc<Mutex<Inner>>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({})", self.path.display())
    }
}

impl Journal {
    /// Open (create) the journal at `path`.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        Ok(Journal {
            path: path.to_path_buf(),
            inner: Arc::new(Mutex::new(Inner {
                file: Some(LineFile::append(path)?),
                first_failure: None,
            })),
            observer: None,
        })
    }

    /// This journal, also calling `observer` with every event.
    pub fn with_observer(mut self, observer: Observer) -> Journal {
        self.observer = Some(observer);
        self
    }

    /// A journal that writes nothing.
    pub fn disabled() -> Journal {
        Journal {
            path: PathBuf::new(),
            inner: Arc::default(),
            observer: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record a start: `pid` is the command's own, `pgid` its process
    /// group (led by its supervisor, whose PID it is, or by the command).
    pub fn started(
        &self,
        name: &str,
        pid: i32,
        pgid: i32,
        argv: &[String],
        log: &Path,
    ) -> Result<(), JournalError> {
        self.write(json!({
            "event": "start", "ts": now(), "name": name, "pid": pid, "pgid": pgid,
            "supervised": pid != pgid, "argv": argv, "log": log.display().to_string(),
        }))
    }

    /// Record a rank process found under a launcher (same process group).
    pub fn rank(
        &self,
        name: &str,
        pid: i32,
        pgid: i32,
        rank: Option<u32>,
    ) -> Result<(), JournalError> {
        self.write(json!({
            "event": "rank", "ts": now(), "name": name, "pid": pid, "pgid": pgid, "rank": rank,
        }))
    }

    /// Record a stop.
    pub fn stopped(&self, name: &str, pid: i32, pgid: i32) -> Result<(), JournalError> {
        self.write(json!({"event": "stop", "ts": now(), "name": name, "pid": pid, "pgid": pgid}))
    }

    /// The first event any clone of this journal could not write, if one
    /// failed: a run that ends with one must say so.
    pub fn unrecorded(&self) -> Option<JournalError> {
        self.lock().first_failure.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // a panic while holding it ends mlxrun (see crate::shutdown); the
        // file itself is never left half-written
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, v: serde_json::Value) -> Result<(), JournalError> {
        let observed = self.observer.as_ref().map_or(Ok(()), |o| o(&v));
        let mut inner = self.lock();
        let written = match inner.file.as_mut() {
            None => Ok(()),
            Some(file) => {
                let mut line = Vec::new();
                push_json_line(&mut line, &v)
                    .and_then(|()| file.append_synced(&line))
                    .map_err(|e| (self.path.clone(), e))
            }
        };
        let Err((path, e)) = written.and(observed) else {
            return Ok(());
        };
        let failure = JournalError {
            path,
            event: v["event"].as_str().unwrap_or_default().to_string(),
            name: v["name"].as_str().unwrap_or_default().to_string(),
            reason: e.to_string(),
        };
        inner.first_failure.get_or_insert_with(|| failure.clone());
        Err(failure)
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn every_event_is_one_whole_line_on_disk_when_the_call_returns() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("processes.jsonl");
        let j = Journal::open(&p).unwrap();
        let argv = vec!["server".to_string(), "--port".into(), "9000".into()];
        j.started("instance-0", 10, 9, &argv, Path::new("logs/i.log"))
            .unwrap();
        j.clone().rank("instance-0", 11, 9, Some(1)).unwrap();
        j.stopped("instance-0", 10, 9).unwrap();
        let e = events(&p);
        let kinds: Vec<&str> = e.iter().map(|v| v["event"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["start", "rank", "stop"]);
        assert_eq!(e[0]["supervised"], true);
        assert_eq!(e[0]["argv"][2], "9000");
        assert!(j.unrecorded().is_none());
        // a disabled journal writes nothing and fails nothing
        let off = Journal::disabled();
        off.stopped("x", 1, 1).unwrap();
        assert!(off.unrecorded().is_none());
    }

    #[test]
    fn an_observer_that_cannot_keep_its_record_fails_the_event() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("processes.jsonl");
        let state = d.path().join("state.json");
        let refuse = state.clone();
        let j = Journal::open(&p).unwrap().with_observer(Arc::new(move |v| {
            if v["event"] == "start" {
                Err((refuse.clone(), std::io::Error::other("disk full")))
            } else {
                Ok(())
            }
        }));
        let e = j
            .started("instance-0", 3, 3, &[], Path::new("l"))
            .unwrap_err();
        assert_eq!(e.path, state);
        assert!(e.to_string().contains("state.json: disk full"), "{e}");
        // the journal itself still recorded it
        assert_eq!(events(&p).len(), 1);
        j.stopped("instance-0", 3, 3).unwrap();
        assert_eq!(j.unrecorded().unwrap().event, "start");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_is_an_error_naming_the_file_and_is_kept() {
        let j = Journal::open(Path::new("/dev/full")).unwrap();
        let clone = j.clone();
        let e = clone
            .started("nginx", 5, 5, &[], Path::new("logs/nginx.log"))
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("cannot write /dev/full: "), "{msg}");
        assert!(msg.contains("start event of nginx"), "{msg}");
        assert!(j.stopped("nginx", 5, 5).is_err());
        // the first failure is the one every clone reports
        assert_eq!(j.unrecorded().unwrap().event, "start");
    }
}
