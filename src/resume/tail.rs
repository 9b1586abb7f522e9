//! Torn last lines: mlxrun writes every CSV row and JSONL line whole and
//! ends it with a newline, so a file whose last bytes do not end a line was
//! cut by a crash (SIGKILL, power) in the middle of a write. Before a
//! resume appends to such a file, the partial line is cut off, so the next
//! line starts on a line of its own and every reader sees whole records.

use std::fs::OpenOptions;
use std::path::Path;

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

/// Cut a partial last record off `path`; `None` when it ends whole (or
/// does not exist).
pub fn repair(path: &Path, lines: Lines) -> std::io::Result<Option<Dropped>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let keep = complete_len(&bytes, lines);
    if keep == bytes.len() {
        return Ok(None);
    }
    let cut = &bytes[keep..];
    let text = String::from_utf8_lossy(cut);
    let mut preview: String = text
        .chars()
        .take(80)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > 80 {
        preview.push('…');
    }
    OpenOptions::new()
        .write(true)
        .open(path)?
        .set_len(keep as u64)?;
    Ok(Some(Dropped {
        bytes: cut.len(),
        preview,
    }))
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
}
