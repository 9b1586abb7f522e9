//! Where each key of a scenario file stands: dotted key paths mapped to line
//! numbers, so that errors found after parsing still name the file and line.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One key of the file: its dotted path, the byte ranges of key and value,
/// and whether the value is a table (`[run]`, `run = { … }`).
#[derive(Debug, Clone)]
struct Entry {
    path: String,
    key: Range<usize>,
    value: Range<usize>,
    is_table: bool,
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

    /// Whether the file sets `path` itself or a parent table of it (a
    /// table the file opens counts: where a problem with a field the file
    /// left out is best looked for).
    pub fn defines(&self, path: &str) -> bool {
        self.sets(path) || self.entries.iter().any(|e| is_under(path, &e.path))
    }

    /// Whether the file gives `path` its value: the key itself, keys below
    /// it (the elements of an array, the keys of a table), or a nearest
    /// parent key whose value is not a table (one value the scenario reads
    /// as several fields). A table the file opens without setting `path` in
    /// it does not count: `[run]` alone leaves `run.repeats` at its default.
    pub fn sets(&self, path: &str) -> bool {
        if self
            .entries
            .iter()
            .any(|e| e.path == path || is_under(&e.path, path))
        {
            return true;
        }
        self.entries
            .iter()
            .filter(|e| is_under(path, &e.path))
            .max_by_key(|e| e.path.len())
            .is_some_and(|parent| !parent.is_table)
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

/// Whether dotted path `path` lies below `parent`.
fn is_under(path: &str, parent: &str) -> bool {
    path.len() > parent.len() && path.starts_with(parent) && path.as_bytes()[parent.len()] == b'.'
}

fn is_table(value: &Spanned<DeValue<'_>>) -> bool {
    matches!(value.get_ref(), DeValue::Table(_))
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
            is_table: is_table(value),
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
                    is_table: is_table(item),
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

    #[test]
    fn an_opened_table_sets_only_the_keys_written_in_it() {
        let m =
            SourceMap::new("[run]\nrepeats = 2\n\n[workload]\n\n[matrix]\nconcurrency = [1, 2]\n");
        assert!(m.sets("run.repeats"));
        assert!(m.sets("run"), "a key below it is set");
        // `[workload]` opened, nothing in it: its fields keep their defaults
        assert!(!m.sets("workload.requests"));
        assert!(!m.sets("run.warmup.enabled"));
        // ... though a problem with one is looked for at the table's line
        assert!(m.defines("workload.requests"));
        assert_eq!(m.line_of("workload.requests"), Some(4));
        // an array sets its elements, and a value below a non-table key is its
        assert!(m.sets("matrix.concurrency"));
        assert!(m.sets("matrix.concurrency.1"));
        let inline = SourceMap::new("run = { repeats = 3 }\nsize = \"224x224\"\n");
        assert!(inline.sets("run.repeats"));
        assert!(!inline.sets("run.order"), "an inline table is a table too");
        assert!(
            inline.sets("size.width"),
            "one value read as several fields"
        );
        // prefixes are whole keys: `run` does not set `runner.x`
        assert!(!inline.sets("runner.x") && !inline.defines("runner"));
        // an entry of an array of tables is a table: its missing keys are defaults
        let models = SourceMap::new("[[models]]\npath = \"a\"\n");
        assert!(models.sets("models.0.path"));
        assert!(!models.sets("models.0.backend"));
    }
}
