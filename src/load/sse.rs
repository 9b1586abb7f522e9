//! Incremental Server-Sent Events (SSE) parser for OpenAI-style streaming
//! responses.
//!
//! Bytes are fed as they arrive from the network via [`SseParser::push`];
//! chunks may be split anywhere (inside a line, inside a UTF-8 code point, or
//! between `\r` and `\n`). Completed events are appended to a caller-supplied
//! vector. The parser follows a simplified version of the WHATWG SSE spec:
//! `data:` lines are accumulated and dispatched on a blank line, comment lines
//! are reported immediately, and `event:`, `id:`, `retry:` and unknown fields
//! are ignored.
//!
//! Each new chunk is scanned exactly once; bytes of an incomplete line are kept
//! in a single reusable buffer until its terminator arrives.

use std::borrow::Cow;

/// One complete event from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseEvent {
    /// The joined `data:` lines of one event (multi-line data joined with '\n', per the SSE spec).
    Data(String),
    /// A comment line (starts with ':'), text after the colon with one leading space removed, e.g. "keepalive 3/21".
    Comment(String),
}

/// Receives events as the parser completes them. The text is borrowed from
/// the parser's buffer, so a sink that only inspects it allocates nothing.
pub trait SseSink {
    /// The joined `data:` lines of one event.
    fn data(&mut self, data: &str);
    /// A comment line, without the colon and one leading space.
    fn comment(&mut self, _comment: &str) {}
}

/// Collecting events into a vector (owned copies).
impl SseSink for Vec<SseEvent> {
    fn data(&mut self, data: &str) {
        self.push(SseEvent::Data(data.to_owned()));
    }
    fn comment(&mut self, comment: &str) {
        self.push(SseEvent::Comment(comment.to_owned()));
    }
}

/// UTF-8 byte order mark, skipped if it appears at the very start of the stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Incremental SSE parser. Create one per stream, feed it with
/// [`push`](SseParser::push) and call [`finish`](SseParser::finish) at end of stream.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated line (reused across lines).
    line: Vec<u8>,
    /// The previous chunk ended with '\r'; a leading '\n' in the next chunk belongs to it.
    pending_cr: bool,
    /// The first line has been processed (BOM check done).
    started: bool,
    /// Accumulated data of the pending event.
    data: String,
    /// The pending event has at least one data line.
    has_data: bool,
    /// Number of lines that were not valid UTF-8.
    invalid: u64,
}

impl SseParser {
    /// Creates a parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next bytes from the network (chunks may split anywhere: inside a line, inside a UTF-8 code point, between '\r' and '\n'). Appends every event completed by these bytes to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut impl SseSink) {
        let mut rest = bytes;
        if self.pending_cr && !rest.is_empty() {
            self.pending_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            if self.line.is_empty() {
                self.process_line(&rest[..i], out);
            } else {
                self.line.extend_from_slice(&rest[..i]);
                let mut line = std::mem::take(&mut self.line);
                self.process_line(&line, out);
                line.clear();
                self.line = line;
            }
            let was_cr = rest[i] == b'\r';
            rest = &rest[i + 1..];
            if was_cr {
                match rest.first() {
                    None => self.pending_cr = true,
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                }
            }
        }
        self.line.extend_from_slice(rest);
    }

    /// End of stream: flush a pending event that was not terminated by a blank line (servers that close without the final blank line). Appends to `out`.
    pub fn finish(&mut self, out: &mut impl SseSink) {
        if !self.line.is_empty() {
            let mut line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            line.clear();
            self.line = line;
        }
        self.pending_cr = false;
        self.dispatch(out);
    }

    /// Bytes received so far that could not be decoded as UTF-8 lines (count of invalid lines), for diagnostics.
    pub fn invalid_lines(&self) -> u64 {
        self.invalid
    }

    /// Emits the pending event, if it has any data lines.
    fn dispatch(&mut self, out: &mut impl SseSink) {
        if self.has_data {
            self.has_data = false;
            out.data(&self.data);
        }
        // the buffer is kept (and reused) for the next event
        self.data.clear();
    }

    /// Handles one complete line (without its terminator).
    fn process_line(&mut self, mut line: &[u8], out: &mut impl SseSink) {
        if !self.started {
            self.started = true;
            if let Some(stripped) = line.strip_prefix(BOM) {
                line = stripped;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        let text: Cow<'_, str> = match std::str::from_utf8(line) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => {
                self.invalid += 1;
                String::from_utf8_lossy(line)
            }
        };
        if let Some(comment) = text.strip_prefix(':') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            out.comment(comment);
            return;
        }
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*text, ""),
        };
        if field == "data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
        // `event`, `id`, `retry` and unknown fields are ignored.
    }
}

#[cfg(test)]
mod tests;
