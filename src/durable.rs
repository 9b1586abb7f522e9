//! Records that survive a crash: a file of JSON lines appended whole (every
//! `write(2)` carries complete lines only, and a failed one is cut back),
//! synced to disk when asked, and whole files replaced atomically (a temp
//! file beside them, synced, renamed over them).
//!
//! A process killed mid-run (SIGKILL, a panic) loses nothing that reached a
//! `write(2)`: the kernel holds it. What is synced also survives the
//! machine losing power. What never reaches the file is half a line: a
//! buffered writer flushing part of a record before a crash, or a write
//! the disk cut short (`ENOSPC`), which is truncated away again.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A file that whole lines are appended to.
#[derive(Debug)]
pub struct LineFile {
    file: File,
    path: PathBuf,
}

impl LineFile {
    /// Open `path` to append, creating it when missing.
    pub fn append(path: &Path) -> io::Result<LineFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LineFile {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Open `path` to append, created when missing and emptied when not.
    pub fn truncate(path: &Path) -> io::Result<LineFile> {
        let f = LineFile::append(path)?;
        f.file.set_len(0)?;
        Ok(f)
    }

    /// This process's standard output, as the target of whole lines (a
    /// copy of descriptor 1, named `-`): each line is one `write(2)`, and
    /// a pipe or terminal has nothing to sync (a regular file still is).
    pub fn stdout() -> io::Result<LineFile> {
        use std::os::fd::AsFd;
        let file = File::from(io::stdout().as_fd().try_clone_to_owned()?);
        Ok(LineFile {
            file,
            path: PathBuf::from("-"),
        })
    }

    /// Create `path`, which must not exist yet (`AlreadyExists` otherwise).
    pub fn create_new(path: &Path) -> io::Result<LineFile> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)?;
        Ok(LineFile {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `lines`, one or more complete lines (ending in `\n`), with a
    /// single `write_all`. When the write fails part-way (a full disk), what
    /// it left is cut off again, so the file still ends on a whole line.
    /// Not synced: see [`LineFile::sync`].
    pub fn append_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        if lines.last() != Some(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a record must end with a newline",
            ));
        }
        let before = self
            .file
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len());
        let result = self.file.write_all(lines);
        if result.is_err()
            && let Some(len) = before
        {
            // best effort: the write's own error is the one to report
            let _ = self.file.set_len(len);
        }
        result
    }

    /// Make what was appended durable (`fdatasync`); nothing to do where
    /// it is not a regular file (a pipe, a terminal).
    pub fn sync(&self) -> io::Result<()> {
        if self.file.metadata().is_ok_and(|m| !m.is_file()) {
            return Ok(());
        }
        self.file.sync_data()
    }

    /// [`LineFile::append_lines`], then [`LineFile::sync`].
    pub fn append_synced(&mut self, lines: &[u8]) -> io::Result<()> {
        self.append_lines(lines)?;
        self.sync()
    }
}

/// `value` as one JSON line (newline included) appended to `out`.
pub fn push_json_line<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
    out.push(b'\n');
    Ok(())
}

/// Create `path`, which must not exist yet (`AlreadyExists`), with
/// `bytes`, synced.
pub fn create_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// Replace `path` with `bytes` atomically: written to a temp file in the
/// same folder, synced, renamed over `path`, and the folder synced, so a
/// crash leaves either the old file or the new one, never a part.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    sync_dir(dir);
    Ok(())
}

/// Sync a folder's entries (a new or renamed file in it), where the
/// platform allows opening a folder; best effort.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_whole_and_a_partial_record_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        let mut f = LineFile::append(&p).unwrap();
        let mut buf = Vec::new();
        push_json_line(&mut buf, &serde_json::json!({"a": 1})).unwrap();
        push_json_line(&mut buf, &serde_json::json!({"b": "x\ny"})).unwrap();
        f.append_synced(&buf).unwrap();
        f.append_lines(b"").unwrap();
        let e = f.append_lines(b"{\"torn\":").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"b\":\"x\\ny\"}\n"
        );
        drop(f);
        // reopened: appended after what is there
        LineFile::append(&p).unwrap().append_lines(b"3\n").unwrap();
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("}\n3\n"));
        // or emptied first
        LineFile::truncate(&p)
            .unwrap()
            .append_lines(b"4\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "4\n");
    }

    #[test]
    fn create_new_refuses_an_existing_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        LineFile::create_new(&p).unwrap();
        let e = LineFile::create_new(&p).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        let toml = d.path().join("s.toml");
        create_new(&toml, b"a = 1\n").unwrap();
        let e = create_new(&toml, b"b = 2\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&toml).unwrap(), "a = 1\n");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_an_error() {
        let mut f = LineFile::append(Path::new("/dev/full")).unwrap();
        let e = f.append_lines(b"{}\n").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    }

    #[test]
    fn replace_leaves_the_new_file_and_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        std::fs::write(&p, "old").unwrap();
        replace(&p, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        // a folder in the way: an error, the temp file removed again
        let dir = d.path().join("report.md");
        std::fs::create_dir(&dir).unwrap();
        assert!(replace(&dir, b"x").is_err());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
    }
}
