//! Where each key of a scenario file stands: dotted key paths mapped to line
//! numbers, so that errors found after parsing still name the file and line.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One key of the file: its dotted path and the byte ranges of key and value.
#[derive(Debug, Clone)]
struct Entry {
    path: String,
    key: Range<usize>,
    value: Range<usize>,
}

/// Key paths of one TOML text with their positions.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    text: String,
    entries: Vec<Entry>,
}

impl SourceMap {
    /// Index `text`. Text that does not parse gives an empty map.
    pub fn new(text: &str) -> SourceMap {
        let mut entries = Vec::new();
        if let Ok(root) = DeTable::parse(text) {
            collect(root.get_ref(), "", &mut entries);
        }
        SourceMap {
            text: text.to_string(),
            entries,
        }
    }

    /// 1-based line of the key `path` (or of its nearest parent the file has).
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(e) = self.entries.iter().find(|e| e.path == p) {
                return Some(self.line_at(e.key.start));
            }
            match p.rfind('.') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    /// Whether the file sets `path` itself or a parent table of it.
    pub fn defines(&self, path: &str) -> bool {
        self.entries.iter().any(|e| {
            e.path == path
                || path.starts_with(&format!("{}.", e.path))
                || e.path.starts_with(&format!("{path}."))
        })
    }

    /// The innermost key path whose key or value contains byte `offset`.
    pub fn path_at(&self, offset: usize) -> Option<&str> {
        self.entries
            .iter()
            .filter(|e| e.key.contains(&offset) || e.value.contains(&offset))
            .max_by_key(|e| e.path.len())
            .map(|e| e.path.as_str())
    }

    /// 1-based line and column of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn line_at(&self, offset: usize) -> usize {
        self.line_col(offset).0
    }

    /// The text of 1-based line `line`.
    pub fn line_text(&self, line: usize) -> Option<&str> {
        self.text.lines().nth(line.checked_sub(1)?)
    }
}

fn collect(table: &DeTable<'_>, prefix: &str, out: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        out.push(Entry {
            path: path.clone(),
            key: key.span(),
            value: value.span(),
        });
        collect_value(value, &path, out);
    }
}

/// Arrays index their elements as `path.N` (so `[[models]]` entries are
/// `models.0`, `models.1`, …).
fn collect_value(value: &Spanned<DeValue<'_>>, path: &str, out: &mut Vec<Entry>) {
    match value.get_ref() {
        DeValue::Table(t) => collect(t, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}.{i}");
                out.push(Entry {
                    path: p.clone(),
                    key: item.span(),
                    value: item.span(),
                });
                collect_value(item, &p, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\n\n[matrix]\nconcurrency = [1, 2]\n\n[matrix.server_flags]\nprefill_step_size = 512\n";

    #[test]
    fn finds_lines_of_nested_keys() {
        let m = SourceMap::new(TEXT);
        assert_eq!(m.line_of("name"), Some(1));
        assert_eq!(m.line_of("matrix"), Some(3));
        assert_eq!(m.line_of("matrix.concurrency"), Some(4));
        assert_eq!(m.line_of("matrix.server_flags.prefill_step_size"), Some(7));
        // an unknown child falls back to its parent
        assert_eq!(m.line_of("matrix.instances"), Some(3));
        assert_eq!(m.line_of("workload.prompt"), None);
    }

    #[test]
    fn array_of_tables_entries_are_indexed() {
        let text = "[[models]]\npath = \"a\"\n\n[[models]]\npath = \"b\"\nbackend = \"auto\"\n";
        let m = SourceMap::new(text);
        assert_eq!(m.line_of("models.1.backend"), Some(6));
        assert_eq!(m.line_of("models.0.path"), Some(2));
    }

    #[test]
    fn path_at_offset_is_innermost() {
        let m = SourceMap::new(TEXT);
        let off = TEXT.find("prefill").unwrap();
        assert_eq!(
            m.path_at(off),
            Some("matrix.server_flags.prefill_step_size")
        );
        assert_eq!(m.line_col(off), (7, 1));
        assert!(m.defines("matrix.concurrency"));
        assert!(m.defines("matrix"));
        assert!(!m.defines("workload"));
    }
}
