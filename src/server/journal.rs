//! `<run dir>/processes.jsonl`: one line per process started or stopped
//! (name, pid, process group, argv, log file), so tests and people can see
//! exactly what ran and find it by PID, never by name. An optional
//! observer sees every event as it is written (`mlxrun serve up` keeps its
//! state file current with it).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::json;

/// Called with every event written.
pub type Observer = Arc<dyn Fn(&serde_json::Value) + Send + Sync>;

/// Appends process events; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    path: PathBuf,
    file: Arc<Mutex<Option<File>>>,
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
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(Some(file))),
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
            file: Arc::new(Mutex::new(None)),
            observer: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record a start.
    /// Record a start: `pid` is the command's own, `pgid` its process
    /// group (led by its supervisor, whose PID it is, or by the command).
    pub fn started(&self, name: &str, pid: i32, pgid: i32, argv: &[String], log: &Path) {
        self.write(json!({
            "event": "start", "ts": now(), "name": name, "pid": pid, "pgid": pgid,
            "supervised": pid != pgid, "argv": argv, "log": log.display().to_string(),
        }));
    }

    /// Record a rank process found under a launcher (same process group).
    pub fn rank(&self, name: &str, pid: i32, pgid: i32, rank: Option<u32>) {
        self.write(json!({
            "event": "rank", "ts": now(), "name": name, "pid": pid, "pgid": pgid, "rank": rank,
        }));
    }

    /// Record a stop.
    pub fn stopped(&self, name: &str, pid: i32, pgid: i32) {
        self.write(json!({"event": "stop", "ts": now(), "name": name, "pid": pid, "pgid": pgid}));
    }

    fn write(&self, v: serde_json::Value) {
        if let Some(o) = &self.observer {
            o(&v);
        }
        if let Ok(mut guard) = self.file.lock()
            && let Some(f) = guard.as_mut()
        {
            let _ = writeln!(f, "{v}");
            let _ = f.flush();
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
