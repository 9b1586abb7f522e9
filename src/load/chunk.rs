//! One streamed chunk of an OpenAI-style response, read for what a
//! benchmark needs: whether it carries content, whether a choice finished,
//! and the token counts (`usage`, llama.cpp's `timings`).
//!
//! Most chunks are plain token deltas. [`read_chunk`] first tries a quick
//! scan that builds nothing: one pass that checks the text is JSON serde
//! would accept and reads the few fields that matter where serde would
//! find them; anything else (usage, timings, errors, odd values) is parsed
//! with serde. A differential test, and the `sse` fuzz target
//! (`fuzz/`), hold the two to the same answers.

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
                || d.reasoning_content
                    .as_deref()
                    .is_some_and(|c| !c.is_empty())
        });
        delta || self.text.as_deref().is_some_and(|t| !t.is_empty())
    }
}

#[derive(Deserialize)]
pub(crate) struct Delta<'a> {
    #[serde(default, borrow)]
    pub(crate) content: Option<Cow<'a, str>>,
    /// Reasoning tokens count as output. mlx_lm names the field
    /// `reasoning`, vLLM and others `reasoning_content`; mlx_vlm.server
    /// sends both (null) in every chunk, so they are two fields, not aliases.
    #[serde(default, borrow)]
    pub(crate) reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) reasoning_content: Option<Cow<'a, str>>,
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

/// Nesting the quick scan follows; serde_json refuses 128 levels.
const MAX_DEPTH: u32 = 100;

/// A cursor for the quick scan. Every step returns `None` where serde_json
/// would refuse the text, or where the scan leaves the answer to serde.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Scan<'a> {
    /// Skips JSON whitespace and returns the next byte.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
        self.b.get(self.i).copied()
    }

    /// Consumes `c` (after whitespace), or fails.
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Four hex digits at `at`.
    fn hex4(&self, at: usize) -> Option<u16> {
        let digits = std::str::from_utf8(self.b.get(at..at + 4)?).ok()?;
        if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u16::from_str_radix(digits, 16).ok()
    }

    /// A string (after whitespace); returns its raw text between the
    /// quotes and whether it holds an escape. Control characters, bad
    /// escapes and unpaired surrogates (which serde refuses in a string it
    /// reads) fail.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            match *self.b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some((&self.b[start..i], escaped));
                }
                b'\\' => {
                    escaped = true;
                    i = match *self.b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i + 2,
                        b'u' => match self.hex4(i + 2)? {
                            0xDC00..=0xDFFF => return None,
                            0xD800..=0xDBFF => {
                                if self.b.get(i + 6..i + 8)? != b"\\u"
                                    || !(0xDC00..=0xDFFF).contains(&self.hex4(i + 8)?)
                                {
                                    return None;
                                }
                                i + 12
                            }
                            _ => i + 6,
                        },
                        _ => return None,
                    };
                }
                0..=0x1F => return None,
                _ => i += 1,
            }
        }
    }

    /// `null` or a string; `Some(true)` for a non-empty string.
    fn opt_str(&mut self) -> Option<Option<bool>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        let (s, _) = self.string()?;
        Some(Some(!s.is_empty()))
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.peek()?;
        self.b[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    fn digits(&mut self) -> usize {
        let n = self.b[self.i..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        self.i += n;
        n
    }

    /// A number, by JSON's grammar.
    fn number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => _ = self.digits(),
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Any value, checked and skipped.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|s, _, _| s.skip()),
            b'[' => self.array(Scan::skip),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// An object; `member` reads the value of each key (raw key text,
    /// whether it holds an escape).
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a [u8], bool) -> Option<()>,
    ) -> Option<()> {
        self.expect(b'{')?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        if self.peek()? == b'}' {
            self.i += 1;
        } else {
            loop {
                let (key, escaped) = self.string()?;
                self.expect(b':')?;
                member(self, key, escaped)?;
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// An array; `element` reads each element.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect(b'[')?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        if self.peek()? == b']' {
            self.i += 1;
        } else {
            loop {
                element(self)?;
                match self.peek()? {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// One element of `choices`: (has content, has a finish_reason).
    fn choice(&mut self) -> Option<(bool, bool)> {
        let (mut content, mut finished) = (false, false);
        // delta, text, finish_reason: serde refuses a field given twice
        let mut seen = [false; 3];
        self.object(|s, key, escaped| {
            let k = match key {
                _ if escaped => return None,
                b"delta" => 0,
                b"text" => 1,
                b"finish_reason" => 2,
                _ => return s.skip(),
            };
            if std::mem::replace(&mut seen[k], true) {
                return None;
            }
            match k {
                0 if s.peek()? == b'n' => s.literal(b"null"),
                0 => s.delta().map(|c| content |= c),
                1 => s.opt_str().map(|t| content |= t == Some(true)),
                _ => s.opt_str().map(|f| finished = f.is_some()),
            }
        })?;
        Some((content, finished))
    }

    /// A `delta` object: whether its content or reasoning is non-empty.
    fn delta(&mut self) -> Option<bool> {
        let mut content = false;
        // content, reasoning, reasoning_content
        let mut seen = [false; 3];
        self.object(|s, key, escaped| {
            let k = match key {
                _ if escaped => return None,
                b"content" => 0,
                b"reasoning" => 1,
                b"reasoning_content" => 2,
                _ => return s.skip(),
            };
            if std::mem::replace(&mut seen[k], true) {
                return None;
            }
            s.opt_str().map(|t| content |= t == Some(true))
        })?;
        Some(content)
    }
}

/// The chunk without a parser, when its shape allows; `None`: use serde.
///
/// One pass that checks the text is JSON serde_json accepts (strings,
/// escapes, numbers, nesting, nothing after the object) and reads
/// `choices[].delta.content`, `.reasoning`, `.reasoning_content`,
/// `choices[].text` and `choices[].finish_reason` where serde finds them,
/// so its answer is serde's ([`parse_chunk`]). It leaves to serde a chunk
/// without `choices`, one with `usage`, `timings` or `error`, a known field
/// given twice or spelled with an escape, and a value of an unexpected
/// kind.
pub fn quick_scan(d: &str) -> Option<ChunkInfo> {
    let mut s = Scan {
        b: d.as_bytes(),
        i: 0,
        depth: 0,
    };
    let mut info = ChunkInfo::default();
    let mut choices = false;
    s.object(|s, key, escaped| match key {
        _ if escaped => None,
        b"usage" | b"timings" | b"error" => None,
        b"choices" if !std::mem::replace(&mut choices, true) => s.array(|s| {
            let (content, finished) = s.choice()?;
            info.content += u32::from(content);
            info.finished |= finished;
            Some(())
        }),
        b"choices" => None,
        _ => s.skip(),
    })?;
    if s.peek().is_some() {
        return None; // text after the object
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
        r#"{"choices":[{"delta":{"reasoning":"a","reasoning_content":null}}]}"#,
        // mlx_vlm.server 0.7.10: both reasoning spellings, null, in every chunk
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"s","reasoning_content":null,"reasoning":null,"tool_calls":null,"tool_call_id":null,"name":null},"finish_reason":null}],"usage":null,"timings":{"predicted_per_second":1.0}}"#,
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning_content":null,"reasoning":null},"finish_reason":null}]}"#,
    ];

    #[test]
    fn the_quick_scan_agrees_with_serde_on_every_chunk() {
        let mut quick = 0;
        for d in CORPUS {
            let slow = parse_chunk(d);
            if let Some(q) = quick_scan(d) {
                quick += 1;
                assert_eq!(Ok(q), slow, "{d}");
            }
        }
        assert!(
            quick >= 10,
            "the common shapes take the quick path ({quick})"
        );
        // what must go to serde
        for d in [CORPUS[2], CORPUS[6], CORPUS[11], CORPUS[17], CORPUS[21]] {
            assert_eq!(quick_scan(d), None, "{d}");
        }
        // two choices are counted as serde counts them
        assert_eq!(quick_scan(CORPUS[15]).map(|q| q.content), Some(2));
        assert_eq!(quick_scan(CORPUS[16]).map(|q| q.content), Some(2));
    }

    /// Text serde refuses: the quick scan must not answer for it. The old
    /// scan answered for the first three groups, so each was read as a good
    /// chunk instead of failing the request as a bad response; the `sse`
    /// fuzz target found the first group within ten executions (98 crashing
    /// inputs in a 90 s run, all but one of this kind).
    #[test]
    fn the_quick_scan_refuses_what_serde_refuses() {
        let refused = [
            // found by the fuzzer: bytes between tokens, a missing comma or
            // colon, a key that is not a string, an element that is not an
            // object, choices that are not a list, text after the object, a
            // trailing comma, a control character in a string
            "{\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"\"\0\0,\"content\":\"\"},\"finish_reason\":null}]}",
            r#"{"choices":[{"delta":{"content":"a"}}] "x":1}"#,
            r#"{"choices":[{"delta":{"content" "a"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}}], 5:1}"#,
            r#"{"choices":["finish_reason"]}"#,
            r#"{"choices":1}"#,
            r#"{"choices":[{"delta":{"content":"a"}}]}}"#,
            r#"{"choices":[{"delta":{"content":"a"}},]}"#,
            "{\"choices\":[{\"delta\":{\"content\":\"a\u{1}b\"}}]}",
            // the rest of JSON's grammar: escapes, surrogates, numbers, literals
            r#"{"choices":[{"delta":{"content":"a\qb"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\ud800"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\udc00x"}}]}"#,
            r#"{"choices":[{"logprobs":[01]}]}"#,
            r#"{"choices":[{"logprobs":[1.]}]}"#,
            r#"{"choices":[{"logprobs":[-]}]}"#,
            r#"{"choices":[{"logprobs":nul}]}"#,
            // valid JSON serde refuses: a field twice, choices that are null
            r#"{"choices":[],"choices":[]}"#,
            r#"{"choices":[{"delta":{"reasoning":"a","reasoning":"b"}}]}"#,
            r#"{"choices":null}"#,
            // refused before the fix too
            r#"{"choices":[{"finish_reason":"stop"}]} x"#,
            r#"{"choices":[{"delta":{"content":"a"}}]"#,
            r#"{"choices":[{"finish_reason":"stop","finish_reason":null}]}"#,
            r#"{"choices":[{"text":5}]}"#,
        ];
        for d in refused {
            assert!(parse_chunk(d).is_err(), "serde refuses {d}");
            assert_eq!(quick_scan(d), None, "{d}");
            assert!(read_chunk(d).is_err(), "{d}");
        }
    }

    /// Nesting past 100 levels is left to serde (the scan recurses; serde
    /// skips an ignored value without recursion, and refuses 128 levels
    /// of the fields it reads).
    #[test]
    fn deep_nesting_is_left_to_serde() {
        let deep = format!(
            "{{\"choices\":[],\"x\":{}{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(quick_scan(&deep), None);
        assert_eq!(read_chunk(&deep), parse_chunk(&deep));
        let shallow = format!(
            "{{\"choices\":[],\"x\":{}{}}}",
            "[".repeat(98),
            "]".repeat(98)
        );
        assert_eq!(quick_scan(&shallow), Some(ChunkInfo::default()));
    }

    /// Valid JSON where the old scan read a key wherever it stood, or
    /// missed one spelled with an escape: found by the fuzzer (content under
    /// another key than `delta`) and in review (the rest). The quick scan
    /// now reads each field where serde does, or leaves the chunk to serde.
    #[test]
    fn the_quick_scan_reads_fields_only_where_serde_does() {
        let agree = [
            // found by the fuzzer
            "{\"choices\":[{\"index\":0,\"d\u{fffd}lta\":{\"content\":\" the\"},\"finish_reason\":null}]}",
            r#"{"choices":[],"content":"x","finish_reason":"stop"}"#,
            r#"{"choices":[{"delta":{"text":"a","finish_reason":"stop"}}]}"#,
            r#"{"choices":[{"logprobs":{"content":[{"token":"a"}]},"delta":{}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"},"index":3}]}"#,
            r#"{"choices":[{"delta":{"content":"\ud83c\udf89"}}]}"#,
            r#"{"choices":[{"delta":null,"text":null,"finish_reason":""}]}"#,
            r#"  {"choices":[{"delta":{"content":"a\"}\"","x":{"y":[1,-2.5e+3,true,false,null,{}]}}}]}  "#,
            r#"{"x":"\ud800 is skipped, not read","choices":[]}"#,
            // serde reads a struct from a list too: left to serde
            r#"{"choices":[{"delta":["a"]}]}"#,
        ];
        for d in agree {
            let slow = parse_chunk(d).unwrap_or_else(|e| panic!("{d}: {e}"));
            if let Some(q) = quick_scan(d) {
                assert_eq!(q, slow, "{d}");
            }
            assert_eq!(read_chunk(d), Ok(slow), "{d}");
        }
        // a key spelled with an escape is what serde reads after decoding
        for d in [
            r#"{"choices":[{"delta":{"cont\u0065nt":"a"}}]}"#,
            r#"{"choices":[],"usag\u0065":{"completion_tokens":2}}"#,
        ] {
            assert_eq!(quick_scan(d), None, "{d}");
        }
        let escaped = read_chunk(r#"{"choices":[{"delta":{"cont\u0065nt":"a"}}]}"#).unwrap();
        assert_eq!(escaped.content, 1);
        let usage = read_chunk(r#"{"choices":[],"usag\u0065":{"completion_tokens":2}}"#).unwrap();
        assert_eq!(usage.usage.unwrap().completion, Some(2));
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

    /// mlx_vlm.server sends `reasoning` and `reasoning_content` side by
    /// side; both spellings count, and neither is a duplicate of the other.
    #[test]
    fn both_reasoning_spellings_in_one_delta_are_read() {
        let n = CORPUS.len();
        let mlx_vlm = read_chunk(CORPUS[n - 2]).unwrap();
        assert_eq!((mlx_vlm.content, mlx_vlm.finished), (1, false));
        let empty = read_chunk(CORPUS[n - 1]).unwrap();
        assert_eq!(empty.content, 0, "null reasoning and empty content");
        let reasoning = read_chunk(CORPUS[n - 3]).unwrap();
        assert_eq!(reasoning.content, 1, "reasoning text is output");
        let only_content_spelling =
            r#"{"choices":[{"delta":{"content":null,"reasoning":null,"reasoning_content":"r"}}]}"#;
        assert_eq!(read_chunk(only_content_spelling).unwrap().content, 1);
        assert_eq!(
            quick_scan(only_content_spelling).map(|q| q.content),
            Some(1)
        );
    }
}
