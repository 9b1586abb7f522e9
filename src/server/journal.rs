//! `<run dir>/processes.jsonl`: one line per process started or stopped
//! (name, pid, process group, argv, log file), so tests and people can see
//! exactly what ran and find it by PID, never by name.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::json;

/// Appends process events; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    file: Arc<Mutex<Option<File>>>,
}

impl Journal {
    /// Open (create) the journal at `path`.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(Some(file))),
        })
    }

    /// A journal that writes nothing.
    pub fn disabled() -> Journal {
        Journal {
            path: PathBuf::new(),
            file: Arc::new(Mutex::new(None)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record a start.
    pub fn started(&self, name: &str, pid: i32, argv: &[String], log: &Path) {
        self.write(json!({
            "event": "start", "ts": now(), "name": name, "pid": pid, "pgid": pid,
            "argv": argv, "log": log.display().to_string(),
        }));
    }

    /// Record a rank process found under a launcher (same process group).
    pub fn rank(&self, name: &str, pid: i32, pgid: i32, rank: Option<u32>) {
        self.write(json!({
            "event": "rank", "ts": now(), "name": name, "pid": pid, "pgid": pgid, "rank": rank,
        }));
    }

    /// Record a stop.
    pub fn stopped(&self, name: &str, pid: i32) {
        self.write(json!({"event": "stop", "ts": now(), "name": name, "pid": pid, "pgid": pid}));
    }

    fn write(&self, v: serde_json::Value) {
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
