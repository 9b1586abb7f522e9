//! What the stub reads from a completion request body: `stream`,
//! `stream_options.include_usage`, `max_tokens` / `max_completion_tokens`,
//! and a prompt-token estimate. Parsed in one pass with serde_json without
//! keeping any string; unknown fields are ignored.
//!
//! The prompt-token estimate is the number of whitespace-separated words of
//! every text in `messages[].content` (a string, or content parts'
//! `text`) and of `prompt` (a string or an array of strings); a number
//! (a token id of a pre-tokenized prompt) counts as one token.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The fields of a chat or plain completion request the stub cares about.
#[derive(Debug, Default, Deserialize)]
pub struct CompletionRequest {
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    messages: Words,
    #[serde(default)]
    prompt: Words,
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

impl CompletionRequest {
    /// Parse a request body; the error text is meant for the client.
    pub fn parse(body: &[u8]) -> Result<CompletionRequest, String> {
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
    }

    pub fn stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The requested output length (`max_completion_tokens` first), if any.
    pub fn max_tokens(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Estimated prompt tokens (see the module doc).
    pub fn prompt_tokens(&self) -> u64 {
        self.messages.0 + self.prompt.0
    }

    /// Images in the messages' content parts (`image_url` members).
    pub fn images(&self) -> u64 {
        self.messages.1
    }
}

/// Words counted in any JSON value: strings by whitespace, numbers as one,
/// arrays summed, objects through their `content` and `text` members; and
/// the `image_url` members met on the way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Words(pub u64, pub u64);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WordsVisitor)
    }
}

struct WordsVisitor;

impl<'de> Visitor<'de> for WordsVisitor {
    type Value = Words;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("text, a list, or an object with content/text")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Words, E> {
        Ok(Words(v.split_whitespace().count() as u64, 0))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Words, E> {
        Ok(Words(1, 0))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Words, E> {
        Ok(Words(1, 0))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Words, E> {
        Ok(Words(0, 0))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Words, E> {
        Ok(Words(0, 0))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Words, E> {
        Ok(Words(0, 0))
    }
    fn visit_none<E: de::Error>(self) -> Result<Words, E> {
        Ok(Words(0, 0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Words, A::Error> {
        let (mut n, mut images) = (0, 0);
        while let Some(Words(w, i)) = seq.next_element()? {
            n += w;
            images += i;
        }
        Ok(Words(n, images))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Words, A::Error> {
        let (mut n, mut images) = (0, 0);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Text => {
                    let w = map.next_value::<Words>()?;
                    n += w.0;
                    images += w.1;
                }
                Key::Image => {
                    map.next_value::<IgnoredAny>()?;
                    images += 1;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Words(n, images))
    }
}

/// An object member that holds text (`content`, `text`), an image
/// (`image_url`), or neither.
enum Key {
    Text,
    Image,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "content" | "text" => Key::Text,
                    "image_url" => Key::Image,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_request_fields() {
        let r = CompletionRequest::parse(
            br#"{"model":"m","messages":[{"role":"system","content":"be  brief"},
                {"role":"user","content":[{"type":"text","text":"hello there\nworld"},
                {"type":"image_url","image_url":{"url":"http://x/y z"}}]}],
                "max_tokens":7,"stream":true,"stream_options":{"include_usage":true},
                "temperature":0.5,"unknown":{"deep":[1,2]}}"#,
        )
        .unwrap();
        assert!(r.stream() && r.include_usage());
        assert_eq!(r.max_tokens(), Some(7));
        assert_eq!(r.prompt_tokens(), 5);
        assert_eq!(r.images(), 1);
    }

    #[test]
    fn image_parts_are_counted() {
        let r = CompletionRequest::parse(
            br#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,BB"}}]},
                {"role":"user","content":"b c"}]}"#,
        )
        .unwrap();
        assert_eq!((r.images(), r.prompt_tokens()), (2, 3));
        let r =
            CompletionRequest::parse(br#"{"messages":[{"role":"user","content":"x"}]}"#).unwrap();
        assert_eq!(r.images(), 0);
    }

    #[test]
    fn completions_request_fields() {
        let r = CompletionRequest::parse(
            br#"{"prompt":"one \"two\" three","max_completion_tokens":3,"max_tokens":9}"#,
        )
        .unwrap();
        assert!(!r.stream() && !r.include_usage());
        assert_eq!(r.max_tokens(), Some(3), "max_completion_tokens wins");
        assert_eq!(r.prompt_tokens(), 3);
        let r = CompletionRequest::parse(br#"{"prompt":[[1,2,3],"a b"]}"#).unwrap();
        assert_eq!(r.prompt_tokens(), 5);
        let r = CompletionRequest::parse(br#"{"stream":null,"max_tokens":null}"#).unwrap();
        assert_eq!(
            (r.stream(), r.max_tokens(), r.prompt_tokens()),
            (false, None, 0)
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            &b"not json"[..],
            b"{\"stream\":\"yes\"}",
            b"{\"max_tokens\":-1}",
            b"[1]",
            b"",
        ] {
            assert!(CompletionRequest::parse(body).is_err(), "{body:?}");
        }
    }
}
