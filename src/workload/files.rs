//! Prompt files: plain text (one prompt per line), JSONL (`messages` or
//! `prompt` per line) and ShareGPT JSON (vLLM's benchmark format).

use std::cell::Cell;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use serde_json::Value;

use super::{FileFormat, Prompt, WorkloadError};

/// The prompts of one file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFile {
    pub prompts: Vec<Prompt>,
    /// ShareGPT entries left out because they have no (non-empty) human turn.
    pub skipped: usize,
    /// The format the file was read as (never `Auto`).
    pub format: FileFormat,
}

impl FileFormat {
    /// `Auto` by extension: `.jsonl` is JSONL, `.json` is ShareGPT, anything
    /// else is text. Other formats are returned as they are.
    pub fn resolve(self, path: &Path) -> FileFormat {
        if self != FileFormat::Auto {
            return self;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("jsonl") => FileFormat::Jsonl,
            Some(e) if e.eq_ignore_ascii_case("json") => FileFormat::ShareGpt,
            _ => FileFormat::Text,
        }
    }
}

/// Read and check a prompt file; the number of prompts it holds. Use it to
/// validate a workload before a run.
pub fn check_file(path: &Path, format: FileFormat) -> Result<usize, WorkloadError> {
    load_file(path, format).map(|f| f.prompts.len())
}

/// Read a prompt file. Errors name the file and the 1-based line (the
/// 0-based entry for ShareGPT); a file with no prompt is an error.
pub fn load_file(path: &Path, format: FileFormat) -> Result<PromptFile, WorkloadError> {
    let bytes = std::fs::read(path).map_err(|source| WorkloadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let format = format.resolve(path);
    let (prompts, skipped) = match format {
        FileFormat::Jsonl => (parse_jsonl(path, &bytes)?, 0),
        FileFormat::ShareGpt => parse_sharegpt(path, &bytes)?,
        FileFormat::Text | FileFormat::Auto => (parse_text(path, &bytes)?, 0),
    };
    if prompts.is_empty() {
        return Err(WorkloadError::NoPrompts {
            path: path.to_path_buf(),
            skipped,
        });
    }
    Ok(PromptFile {
        prompts,
        skipped,
        format,
    })
}

/// Non-empty lines as `(1-based line number, text)`, trailing `\r` removed.
fn lines<'a>(
    path: &'a Path,
    bytes: &'a [u8],
) -> impl Iterator<Item = Result<(usize, &'a str), WorkloadError>> + 'a {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(move |(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            Some(
                std::str::from_utf8(raw)
                    .map(|s| (i + 1, s))
                    .map_err(|_| WorkloadError::NotUtf8 {
                        path: path.to_path_buf(),
                        line: i + 1,
                    }),
            )
        })
}

fn parse_text(path: &Path, bytes: &[u8]) -> Result<Vec<Prompt>, WorkloadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    lines(path, bytes)
        .map(|line| line.map(|(_, text)| Prompt::user(text.to_string(), None)))
        .collect()
}

fn parse_jsonl(path: &Path, bytes: &[u8]) -> Result<Vec<Prompt>, WorkloadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    lines(path, bytes)
        .map(|line| {
            let (n, text) = line?;
            jsonl_prompt(text).map_err(|message| WorkloadError::JsonlLine {
                path: path.to_path_buf(),
                line: n,
                message,
            })
        })
        .collect()
}

/// One JSONL line as a prompt, or what is wrong with it.
fn jsonl_prompt(line: &str) -> Result<Prompt, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        // The position within the line only; the line is named by the caller.
        let full = e.to_string();
        let at = format!(" at line {} column {}", e.line(), e.column());
        let what = full.strip_suffix(&at).unwrap_or(&full);
        format!("invalid JSON at column {}: {what}", e.column())
    })?;
    let Value::Object(mut obj) = value else {
        return Err(format!("expected a JSON object, found {}", kind(&value)));
    };
    if let Some(messages) = obj.remove("messages") {
        let list = messages
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or("`messages` must be a non-empty array of message objects")?;
        if let Some(i) = list.iter().position(|m| !m.is_object()) {
            return Err(format!(
                "`messages[{i}]` is {}, not a message object",
                kind(&list[i])
            ));
        }
        let text = messages_text(list);
        return Ok(Prompt {
            messages,
            text,
            input_tokens: None,
        });
    }
    match obj.remove("prompt") {
        Some(Value::String(s)) if !s.is_empty() => Ok(Prompt::user(s, None)),
        Some(Value::String(_)) => Err("`prompt` is empty".to_string()),
        Some(other) => Err(format!("`prompt` must be a string, found {}", kind(&other))),
        None => Err("no `messages` or `prompt` key".to_string()),
    }
}

/// The text contents of chat messages (string contents and `text` parts of
/// content arrays), joined by newlines.
fn messages_text(messages: &[Value]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for message in messages {
        match message.get("content") {
            Some(Value::String(s)) => parts.push(s),
            Some(Value::Array(items)) => {
                for item in items {
                    match item {
                        Value::String(s) => parts.push(s),
                        Value::Object(o) => {
                            let is_text = o.get("type").is_none_or(|t| t == "text");
                            if let (true, Some(Value::String(s))) = (is_text, o.get("text")) {
                                parts.push(s);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    parts.join("\n")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    conversations: Option<Vec<Turn>>,
}

#[derive(Deserialize)]
struct Turn {
    from: String,
    value: String,
}

/// Visits the top-level array entry by entry, so a bad entry can be named
/// by its index: `at` is None until the array starts, then the index of the
/// entry being read.
struct Entries<'a> {
    at: &'a Cell<Option<usize>>,
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = (Vec<Prompt>, usize);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of ShareGPT entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut prompts = Vec::new();
        let mut skipped = 0;
        self.at.set(Some(0));
        while let Some(entry) = seq.next_element::<Entry>()? {
            let human = entry
                .conversations
                .unwrap_or_default()
                .into_iter()
                .find(|t| {
                    t.from.eq_ignore_ascii_case("human") || t.from.eq_ignore_ascii_case("user")
                });
            match human {
                Some(turn) if !turn.value.is_empty() => {
                    prompts.push(Prompt::user(turn.value, None));
                }
                _ => skipped += 1,
            }
            self.at.set(self.at.get().map(|i| i + 1));
        }
        Ok((prompts, skipped))
    }
}

fn parse_sharegpt(path: &Path, bytes: &[u8]) -> Result<(Vec<Prompt>, usize), WorkloadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let at = Cell::new(None);
    let err = |message: String| WorkloadError::ShareGpt {
        path: PathBuf::from(path),
        message,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match de::Deserializer::deserialize_seq(&mut de, Entries { at: &at }) {
        Ok(result) => {
            de.end()
                .map_err(|e| err(format!("text after the array ({e})")))?;
            Ok(result)
        }
        // Valid JSON that does not fit: name the entry when inside the array.
        Err(e) if e.is_data() => match at.get() {
            Some(i) => Err(err(format!("entry {i} (0-based): {e}"))),
            None => Err(err(e.to_string())),
        },
        Err(e) => Err(err(format!("invalid JSON ({e})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn auto_by_extension() {
        let r = |p: &str| FileFormat::Auto.resolve(Path::new(p));
        assert_eq!(r("a.jsonl"), FileFormat::Jsonl);
        assert_eq!(r("a.JSONL"), FileFormat::Jsonl);
        assert_eq!(r("a.json"), FileFormat::ShareGpt);
        assert_eq!(r("a.txt"), FileFormat::Text);
        assert_eq!(r("prompts"), FileFormat::Text);
        assert_eq!(
            FileFormat::Text.resolve(Path::new("a.json")),
            FileFormat::Text
        );
    }

    #[test]
    fn text_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "p.txt", "first prompt\r\n\n  \r\nsecond  one\nthird");
        let file = load_file(&path, FileFormat::Auto).unwrap();
        assert_eq!(file.format, FileFormat::Text);
        let texts: Vec<_> = file.prompts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["first prompt", "second  one", "third"]);
        assert_eq!(
            file.prompts[0].messages,
            json!([{"role": "user", "content": "first prompt"}])
        );
        assert_eq!(file.prompts[0].input_tokens, None);
        assert_eq!(check_file(&path, FileFormat::Text).unwrap(), 3);
    }

    #[test]
    fn text_not_utf8_names_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.txt");
        std::fs::write(&path, b"ok\nstill ok\nbad \xff byte\n").unwrap();
        let err = load_file(&path, FileFormat::Text).unwrap_err().to_string();
        assert!(
            err.contains("p.txt line 3") && err.contains("UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn jsonl_messages_and_prompts() {
        let dir = tempfile::tempdir().unwrap();
        let content = r#"{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]}

{"prompt": "plain prompt", "extra": 1}
{"messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "at this"}]}]}
"#;
        let path = write(&dir, "p.jsonl", content);
        let file = load_file(&path, FileFormat::Auto).unwrap();
        assert_eq!(file.format, FileFormat::Jsonl);
        let p = &file.prompts;
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0].messages,
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}])
        );
        assert_eq!(p[0].text, "be brief\nhi there");
        assert_eq!(p[1].text, "plain prompt");
        assert_eq!(
            p[1].messages,
            json!([{"role": "user", "content": "plain prompt"}])
        );
        // Content parts are kept as they are; the text is their text parts.
        assert_eq!(p[2].messages[0]["content"][1]["type"], "image_url");
        assert_eq!(p[2].text, "look\nat this");
    }

    #[test]
    fn jsonl_errors_name_path_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "{\"prompt\": \"a\"}\n\n{\"prompt\": oops}\n",
                "invalid JSON at column 12: expected value;",
            ),
            (
                "{\"prompt\": \"a\"}\n\n{\"text\": \"b\"}\n",
                "no `messages` or `prompt`",
            ),
            ("{\"prompt\": \"a\"}\n\n[1, 2]\n", "expected a JSON object"),
            (
                "{\"prompt\": \"a\"}\n\n{\"messages\": []}\n",
                "non-empty array",
            ),
            (
                "{\"prompt\": \"a\"}\n\n{\"messages\": [\"hi\"]}\n",
                "`messages[0]` is a string",
            ),
            (
                "{\"prompt\": \"a\"}\n\n{\"prompt\": 5}\n",
                "must be a string",
            ),
        ];
        for (content, what) in cases {
            let path = write(&dir, "bad.jsonl", content);
            let err = load_file(&path, FileFormat::Jsonl).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("line 3"), "{err}");
            assert!(err.contains(what), "{what}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn sharegpt_skips_entries_without_human_turn() {
        let dir = tempfile::tempdir().unwrap();
        let content = r#"[
  {"id": "a", "conversations": [{"from": "human", "value": "first question"}, {"from": "gpt", "value": "answer"}, {"from": "human", "value": "follow-up"}]},
  {"id": "b", "conversations": []},
  {"id": "c", "conversations": [{"from": "system", "value": "sys"}, {"from": "gpt", "value": "only gpt"}]},
  {"id": "d"},
  {"id": "e", "conversations": [{"from": "gpt", "value": "hello"}, {"from": "human", "value": "second question"}]}
]"#;
        let path = write(&dir, "share.json", content);
        let file = load_file(&path, FileFormat::Auto).unwrap();
        assert_eq!(file.format, FileFormat::ShareGpt);
        assert_eq!(file.skipped, 3);
        let texts: Vec<_> = file.prompts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["first question", "second question"]);
        assert_eq!(
            file.prompts[1].messages,
            json!([{"role": "user", "content": "second question"}])
        );
        assert_eq!(check_file(&path, FileFormat::Auto).unwrap(), 2);
    }

    #[test]
    fn sharegpt_errors() {
        let dir = tempfile::tempdir().unwrap();
        let none_usable =
            r#"[{"conversations": [{"from": "gpt", "value": "x"}]}, {"conversations": []}]"#;
        let path = write(&dir, "none.json", none_usable);
        let err = load_file(&path, FileFormat::ShareGpt)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no prompts in") && err.contains("none.json"),
            "{err}"
        );
        assert!(err.contains("2 entries skipped"), "{err}");

        let bad_entry = r#"[{"conversations": [{"from": "human", "value": "ok"}]}, {"conversations": [{"from": "human"}]}]"#;
        let path = write(&dir, "entry.json", bad_entry);
        let err = load_file(&path, FileFormat::ShareGpt)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("entry.json") && err.contains("entry 1 (0-based)"),
            "{err}"
        );
        assert!(err.contains("value"), "{err}");

        let path = write(&dir, "first.json", r#"["just a string"]"#);
        let err = load_file(&path, FileFormat::ShareGpt)
            .unwrap_err()
            .to_string();
        assert!(err.contains("entry 0 (0-based)"), "{err}");

        let path = write(&dir, "obj.json", r#"{"conversations": []}"#);
        let err = load_file(&path, FileFormat::ShareGpt)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("obj.json") && err.contains("JSON array"),
            "{err}"
        );
        assert!(!err.contains("entry 0"), "{err}");

        let path = write(&dir, "syntax.json", "[{\"conversations\": [}]");
        let err = load_file(&path, FileFormat::ShareGpt)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("syntax.json") && err.contains("invalid JSON"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn empty_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in [("e.txt", "\n\n  \n"), ("e.jsonl", ""), ("e.json", "[]")] {
            let path = write(&dir, name, content);
            let err = load_file(&path, FileFormat::Auto).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("no prompts in {}", path.display())),
                "{err}"
            );
        }
        let missing = dir.path().join("missing.txt");
        let err = check_file(&missing, FileFormat::Auto)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read") && err.contains("missing.txt"),
            "{err}"
        );
    }
}
