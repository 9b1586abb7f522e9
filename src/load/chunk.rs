//! One streamed chunk of an OpenAI-style response, read for what a
//! benchmark needs: whether it carries content, whether a choice finished,
//! and the token counts (`usage`, llama.cpp's `timings`).
//!
//! Most chunks are plain token deltas. [`read_chunk`] first tries a quick
//! scan that needs no JSON parser (the keys that matter each appear once,
//! with a string or `null` value, and nothing else of interest is there);
//! anything else (usage, timings, several choices, odd values) is parsed
//! with serde. A differential test holds the two to the same answers.

use std::borrow::Cow;

use serde::Deserialize;

/// Token counts a response reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub prompt: Option<u64>,
    pub completion: Option<u64>,
    pub cached: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct Chunk<'a> {
    #[serde(default, borrow)]
    pub(crate) choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    pub(crate) usage: Option<Usage>,
    #[serde(default)]
    pub(crate) timings: Option<Timings>,
}

#[derive(Deserialize)]
pub(crate) struct ChunkChoice<'a> {
    #[serde(default, borrow)]
    pub(crate) delta: Option<Delta<'a>>,
    /// `/v1/completions` streams `text` instead of `delta`.
    #[serde(default, borrow)]
    pub(crate) text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) finish_reason: Option<Cow<'a, str>>,
}

impl ChunkChoice<'_> {
    pub(crate) fn has_content(&self) -> bool {
        let delta = self.delta.as_ref().is_some_and(|d| {
            d.content.as_deref().is_some_and(|c| !c.is_empty())
                || d.reasoning.as_deref().is_some_and(|c| !c.is_empty())
        });
        delta || self.text.as_deref().is_some_and(|t| !t.is_empty())
    }
}

#[derive(Deserialize)]
pub(crate) struct Delta<'a> {
    #[serde(default, borrow)]
    pub(crate) content: Option<Cow<'a, str>>,
    /// Reasoning tokens count as output (mlx_lm names the field `reasoning`).
    #[serde(default, borrow, alias = "reasoning_content")]
    pub(crate) reasoning: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct Usage {
    #[serde(default)]
    pub(crate) prompt_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) completion_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) prompt_tokens_details: Option<PromptDetails>,
}

impl Usage {
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            prompt: self.prompt_tokens,
            completion: self.completion_tokens,
            cached: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens),
        }
    }
}

/// llama.cpp's per-response `timings`.
#[derive(Deserialize)]
pub(crate) struct Timings {
    #[serde(default)]
    pub(crate) prompt_n: Option<u64>,
    #[serde(default)]
    pub(crate) predicted_n: Option<u64>,
    #[serde(default)]
    pub(crate) cache_n: Option<u64>,
}

impl Timings {
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            prompt: self.prompt_n,
            completion: self.predicted_n,
            cached: self.cache_n,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct PromptDetails {
    #[serde(default)]
    pub(crate) cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct Whole {
    #[serde(default)]
    pub(crate) choices: Vec<WholeChoice>,
    #[serde(default)]
    pub(crate) usage: Option<Usage>,
    #[serde(default)]
    pub(crate) timings: Option<Timings>,
}

#[derive(Deserialize)]
pub(crate) struct WholeChoice {
    #[serde(default)]
    pub(crate) message: Option<Message>,
    #[serde(default)]
    pub(crate) text: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub(crate) content: Option<String>,
}

/// What one chunk says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Choices carrying non-empty content, reasoning or text.
    pub content: u32,
    /// A choice has a `finish_reason`.
    pub finished: bool,
    pub usage: Option<Counts>,
    pub timings: Option<Counts>,
}

/// Read one SSE data payload (not `[DONE]`).
pub fn read_chunk(data: &str) -> Result<ChunkInfo, String> {
    if let Some(quick) = quick_scan(data) {
        return Ok(quick);
    }
    parse_chunk(data)
}

/// The chunk read by serde.
pub fn parse_chunk(data: &str) -> Result<ChunkInfo, String> {
    let chunk: Chunk = serde_json::from_str(data).map_err(|e| format!("bad SSE chunk: {e}"))?;
    Ok(ChunkInfo {
        content: chunk.choices.iter().filter(|c| c.has_content()).count() as u32,
        finished: chunk.choices.iter().any(|c| c.finish_reason.is_some()),
        usage: chunk.usage.as_ref().map(Usage::counts),
        timings: chunk.timings.as_ref().map(Timings::counts),
    })
}

/// A JSON value the quick scan understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    Null,
    /// A string; `true` when it is not empty.
    Str(bool),
    Zero,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index of the quote closing the string whose content starts at `from`.
fn string_end(b: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let q = from + memchr::memchr(b'"', &b[from..])?;
        // escaped when preceded by an odd number of backslashes
        let backslashes = b[..q].iter().rev().take_while(|&&c| c == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(q);
        }
        from = q + 1;
    }
}

/// The value starting at `at` (after the colon), when the scan understands it.
fn value_at(b: &[u8], at: usize) -> Option<Value> {
    match b.get(at)? {
        b'"' => Some(Value::Str(*b.get(at + 1)? != b'"')),
        b'n' if b[at..].starts_with(b"null") => Some(Value::Null),
        b'0' if !b.get(at + 1).is_some_and(u8::is_ascii_digit) => Some(Value::Zero),
        _ => None,
    }
}

/// The chunk without a parser, when its shape allows; `None`: use serde.
///
/// One pass over the JSON's strings: string values (content included) are
/// skipped whole, so a key-like text inside a value is never taken for a
/// key. The scan gives up on `usage`, `timings`, `error`, a second choice,
/// a key seen twice, or a value of a kind it does not expect.
pub fn quick_scan(d: &str) -> Option<ChunkInfo> {
    let b = d.as_bytes();
    let start = skip_ws(b, 0);
    if b.get(start) != Some(&b'{') || d.trim_end().as_bytes().last() != Some(&b'}') {
        return None;
    }
    let mut info = ChunkInfo::default();
    let (mut choices, mut seen_finish) = (false, false);
    // content, reasoning, reasoning_content, text: each at most once
    let mut seen = [false; 4];
    let mut i = start;
    while let Some(off) = memchr::memchr(b'"', &b[i..]) {
        let open = i + off;
        let close = string_end(b, open + 1)?;
        let token = &b[open + 1..close];
        let after = skip_ws(b, close + 1);
        i = close + 1;
        if b.get(after) != Some(&b':') {
            continue; // a string value, not a key
        }
        let value = skip_ws(b, after + 1);
        match token {
            b"usage" | b"timings" | b"error" => return None,
            b"choices" => choices = true,
            b"index" if value_at(b, value) != Some(Value::Zero) => return None,
            b"content" | b"reasoning" | b"reasoning_content" | b"text" => {
                let k = match token {
                    b"content" => 0,
                    b"reasoning" => 1,
                    b"reasoning_content" => 2,
                    _ => 3,
                };
                if std::mem::replace(&mut seen[k], true) {
                    return None;
                }
                match value_at(b, value)? {
                    Value::Str(true) => info.content = 1,
                    Value::Str(false) | Value::Null => {}
                    Value::Zero => return None,
                }
            }
            b"finish_reason" => {
                if seen_finish {
                    return None;
                }
                seen_finish = true;
                match value_at(b, value)? {
                    Value::Str(_) => info.finished = true,
                    Value::Null => {}
                    Value::Zero => return None,
                }
            }
            _ => {}
        }
    }
    choices.then_some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks as servers send them, and odd ones.
    const CORPUS: &[&str] = &[
        // mlx_lm (json.dumps: spaces after separators)
        r#"{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "finish_reason": null, "delta": {"role": "assistant", "content": "our"}}]}"#,
        r#"{"object": "chat.completion.chunk", "choices": [{"index": 0, "finish_reason": "length", "delta": {"role": "assistant"}}]}"#,
        r#"{"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 6, "completion_tokens": 5, "total_tokens": 11}}"#,
        // OpenAI / vLLM compact
        r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
        r#"{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}"#,
        // reasoning fields
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hmm","content":null},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning":"","content":""},"finish_reason":null}]}"#,
        // completions API
        r#"{"id":"c","object":"text_completion","choices":[{"index":0,"text":"tok ","finish_reason":null}]}"#,
        r#"{"id":"c","object":"text_completion","choices":[{"index":0,"text":"","finish_reason":"length"}]}"#,
        // llama.cpp final chunk with timings
        r#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1,"id":"c","model":"m","object":"chat.completion.chunk","timings":{"cache_n":4,"prompt_n":1,"predicted_n":8}}"#,
        // escapes and keys inside content
        r#"{"choices":[{"index":0,"delta":{"content":"say \"content\": \"\""},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"content"},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"\n"},"finish_reason":null}]}"#,
        // two choices
        r#"{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null},{"index":1,"delta":{"content":"b"},"finish_reason":null}]}"#,
        r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}"#,
        // odd values
        r#"{"choices":[{"index":0,"delta":{"content":5},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content" :  "x"},"finish_reason" : "stop"}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":""}]}"#,
        r#"{"choices": []}"#,
        r#"{"error":{"message":"boom"}}"#,
    ];

    #[test]
    fn the_quick_scan_agrees_with_serde_on_every_chunk() {
        let mut quick = 0;
        for d in CORPUS {
            let slow = parse_chunk(d);
            if let Some(q) = quick_scan(d) {
                quick += 1;
                let slow = slow.as_ref().unwrap_or_else(|e| panic!("{d}: {e}"));
                // the quick scan counts "any content", serde counts choices
                assert_eq!(q.content > 0, slow.content > 0, "{d}");
                assert_eq!(q.finished, slow.finished, "{d}");
                assert_eq!(q.usage, None);
                assert_eq!(q.timings, None);
            }
        }
        assert!(
            quick >= 10,
            "the common shapes take the quick path ({quick})"
        );
        // what must go to serde
        for d in [
            CORPUS[2], CORPUS[6], CORPUS[11], CORPUS[15], CORPUS[16], CORPUS[17], CORPUS[21],
        ] {
            assert_eq!(quick_scan(d), None, "{d}");
        }
    }

    #[test]
    fn read_chunk_reads_counts_and_content() {
        let role = read_chunk(CORPUS[3]).unwrap();
        assert_eq!((role.content, role.finished), (0, false));
        let text = read_chunk(CORPUS[4]).unwrap();
        assert_eq!((text.content, text.finished), (1, false));
        let stop = read_chunk(CORPUS[5]).unwrap();
        assert_eq!((stop.content, stop.finished), (0, true));
        let usage = read_chunk(CORPUS[6]).unwrap().usage.unwrap();
        assert_eq!(
            (usage.prompt, usage.completion, usage.cached),
            (Some(3), Some(2), Some(1))
        );
        let timings = read_chunk(CORPUS[11]).unwrap();
        assert!(timings.finished);
        assert_eq!(timings.timings.unwrap().completion, Some(8));
        assert_eq!(read_chunk(CORPUS[15]).unwrap().content, 2, "two choices");
        assert!(read_chunk("{not json").is_err());
        assert_eq!(read_chunk(CORPUS[16]).unwrap().content, 2, "two choices");
        assert!(read_chunk(CORPUS[17]).is_err(), "content must be a string");
    }
}
