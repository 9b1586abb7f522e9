//! Torn last lines: mlxrun writes every CSV row and JSONL line whole and
//! ends it with a newline, so a file whose last bytes do not end a line was
//! cut by a crash (power, a full disk, a writer of another version) in the
//! middle of a write. Before a resume appends to such a file, the partial
//! line is cut off, so the next line starts on a line of its own and every
//! reader sees whole records. Finding a torn line ([`inspect`]) changes
//! nothing; cutting it ([`Torn::cut`]) is a separate step, taken only once
//! the resume has passed every check that could refuse it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// How a file's records end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One JSON value per line (a newline never occurs inside one).
    Jsonl,
    /// CSV records: a newline inside a quoted field does not end a record.
    Csv,
}

/// The length of `bytes` up to the end of its last whole record: after the
/// last newline (for CSV, the last one outside quotes).
pub fn complete_len(bytes: &[u8], lines: Lines) -> usize {
    match lines {
        Lines::Jsonl => bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1),
        Lines::Csv => {
            let mut quoted = false;
            let mut end = 0;
            for (i, b) in bytes.iter().enumerate() {
                match b {
                    // `""` inside a quoted field toggles twice
                    b'"' => quoted = !quoted,
                    b'\n' if !quoted => end = i + 1,
                    _ => {}
                }
            }
            end
        }
    }
}

/// What [`repair`] cut off a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub bytes: usize,
    /// The start of what was cut (at most 80 characters, escaped).
    pub preview: String,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} byte(s): `{}`", self.bytes, self.preview)
    }
}

/// A file whose last record is partial, as [`inspect`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    pub path: PathBuf,
    /// The file's length when inspected.
    pub len: u64,
    /// The length of its whole records, which [`Torn::cut`] keeps.
    pub keep: u64,
    pub dropped: Dropped,
}

impl Torn {
    /// Cut the partial record off (and sync), unless the file changed
    /// since it was inspected.
    pub fn cut(&self) -> std::io::Result<()> {
        let f = OpenOptions::new().write(true).open(&self.path)?;
        let now = f.metadata()?.len();
        if now != self.len {
            return Err(std::io::Error::other(format!(
                "it changed since it was checked ({} bytes then, {now} now)",
                self.len
            )));
        }
        f.set_len(self.keep)?;
        f.sync_all()
    }
}

/// How much of a file is read at a time when looking for its last newline.
const BACKWARD_CHUNK: u64 = 64 * 1024;

/// The length of `f` (`len` bytes) up to its last newline, read from the
/// end (a JSONL file may be large).
fn last_line_end(f: &mut File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut buf = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(BACKWARD_CHUNK);
        buf.resize((end - start) as usize, 0);
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        if let Some(i) = buf.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Whether `path` ends in a partial record, changing nothing: `None` when
/// it ends whole (or does not exist). A torn file is also opened for
/// writing (and closed again), so that a file [`Torn::cut`] could not
/// change is found now, before anything else is done.
pub fn inspect(path: &Path, lines: Lines) -> std::io::Result<Option<Torn>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let keep = match lines {
        Lines::Jsonl => last_line_end(&mut f, len)?,
        Lines::Csv => {
            // quotes decide where a record ends: read from the start
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            complete_len(&bytes, lines) as u64
        }
    };
    if keep >= len {
        return Ok(None);
    }
    // enough of the cut part for an 80-character preview
    let mut head = Vec::new();
    f.seek(SeekFrom::Start(keep))?;
    (&mut f).take(4 * 80 + 4).read_to_end(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    let mut preview: String = text
        .chars()
        .take(80)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > 80 || (head.len() as u64) < len - keep {
        preview.push('…');
    }
    OpenOptions::new().write(true).open(path)?;
    Ok(Some(Torn {
        path: path.to_path_buf(),
        len,
        keep,
        dropped: Dropped {
            bytes: usize::try_from(len - keep).unwrap_or(usize::MAX),
            preview,
        },
    }))
}

/// Cut a partial last record off `path` ([`inspect`], then [`Torn::cut`]);
/// `None` when it ends whole (or does not exist).
pub fn repair(path: &Path, lines: Lines) -> std::io::Result<Option<Dropped>> {
    let Some(torn) = inspect(path, lines)? else {
        return Ok(None);
    };
    torn.cut()?;
    Ok(Some(torn.dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jsonl_file_keeps_its_whole_lines() {
        assert_eq!(complete_len(b"", Lines::Jsonl), 0);
        assert_eq!(complete_len(b"{}\n{}\n", Lines::Jsonl), 6);
        assert_eq!(complete_len(b"{}\n{\"a\":", Lines::Jsonl), 3);
        assert_eq!(complete_len(b"{\"a\":1}", Lines::Jsonl), 0);
    }

    #[test]
    fn a_csv_record_ends_at_a_newline_outside_quotes() {
        let whole = b"a,b\n1,\"x\ny\"\n";
        assert_eq!(complete_len(whole, Lines::Csv), whole.len());
        // cut inside a quoted field, right after its embedded newline
        assert_eq!(complete_len(b"a,b\n1,\"x\n", Lines::Csv), 4);
        // escaped quotes do not end the field
        assert_eq!(
            complete_len(b"a,b\n1,\"say \"\"hi\"\"\"\n2,", Lines::Csv),
            19
        );
        assert_eq!(complete_len(b"a,b", Lines::Csv), 0);
    }

    #[test]
    fn repair_cuts_the_partial_line_and_says_what_it_was() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        std::fs::write(&p, "{\"point\":1}\n{\"point\":2,\"met").unwrap();
        let dropped = repair(&p, Lines::Jsonl).unwrap().unwrap();
        assert_eq!(dropped.bytes, "{\"point\":2,\"met".len());
        assert_eq!(dropped.preview, "{\\\"point\\\":2,\\\"met");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"point\":1}\n");
        // whole files and missing ones are left alone
        assert_eq!(repair(&p, Lines::Jsonl).unwrap(), None);
        assert_eq!(repair(&d.path().join("none"), Lines::Csv).unwrap(), None);
    }

    #[test]
    fn inspect_changes_nothing_and_a_cut_refuses_a_file_changed_since() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        let torn = "{\"point\":1}\n{\"point\":2,\"met";
        std::fs::write(&p, torn).unwrap();
        let t = inspect(&p, Lines::Jsonl).unwrap().unwrap();
        assert_eq!((t.len, t.keep), (torn.len() as u64, 12));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), torn);
        std::fs::write(&p, format!("{torn}ric\"}}\n")).unwrap();
        assert!(t.cut().unwrap_err().to_string().contains("changed since"));
        assert!(inspect(&p, Lines::Jsonl).unwrap().is_none());
    }

    #[test]
    fn a_long_jsonl_file_is_read_from_its_end() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("requests.jsonl");
        // a last whole line far from the end: several chunks back
        let long = "x".repeat(3 * BACKWARD_CHUNK as usize);
        std::fs::write(&p, format!("{{}}\n{{\"a\":\"{long}")).unwrap();
        let t = inspect(&p, Lines::Jsonl).unwrap().unwrap();
        assert_eq!(t.keep, 3);
        assert_eq!(t.dropped.bytes, long.len() + 6);
        assert!(t.dropped.preview.ends_with('…'));
        // 80 characters, three of them quotes escaped, and the ellipsis
        assert_eq!(t.dropped.preview.chars().count(), 80 + 3 + 1);
        // no newline at all: everything is a partial line
        std::fs::write(&p, "{\"a\"").unwrap();
        assert_eq!(inspect(&p, Lines::Jsonl).unwrap().unwrap().keep, 0);
    }
}
