//! The bytes the stub sends, built from constant pieces: every streamed
//! chunk of a response shares one head (`data: {"id":…,"object":…,
//! "created":…,"model":…,"choices":[`) rendered once per response, and a
//! token chunk is that head plus a constant tail, so a whole burst body is
//! a few `memcpy`s per token.
//!
//! Each token's text is `tok ` (one whitespace-separated word).

use std::io::Write;

use bytes::Bytes;

use crate::spec::backend::Api;

/// The text of one token.
pub const TOKEN: &str = "tok ";

const CHAT_TOKEN_TAIL: &[u8] =
    b"{\"index\":0,\"delta\":{\"content\":\"tok \"},\"finish_reason\":null}]}\n\n";
const CHAT_FINISH_TAIL: &[u8] = b"{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n";
const TEXT_TOKEN_TAIL: &[u8] = b"{\"index\":0,\"text\":\"tok \",\"finish_reason\":null}]}\n\n";
const TEXT_FINISH_TAIL: &[u8] = b"{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n";
const DONE: &[u8] = b"data: [DONE]\n\n";

/// Token counts of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub prompt: u64,
    pub completion: u64,
}

/// The streamed chunks of one response.
#[derive(Debug, Clone)]
pub struct StreamChunks {
    head: Vec<u8>,
    api: Api,
}

impl StreamChunks {
    /// `model_json` is the model name as a JSON string (quoted, escaped).
    pub fn new(api: Api, seq: u64, created: u64, model_json: &str) -> StreamChunks {
        let (id, object) = match api {
            Api::Chat => ("chatcmpl", "chat.completion.chunk"),
            Api::Completions | Api::Transcriptions => ("cmpl", "text_completion"),
        };
        let mut head = Vec::with_capacity(96 + model_json.len());
        let _ = write!(
            head,
            "data: {{\"id\":\"{id}-stub-{seq}\",\"object\":\"{object}\",\"created\":{created},\"model\":{model_json},\"choices\":["
        );
        StreamChunks { head, api }
    }

    fn token_tail(&self) -> &'static [u8] {
        match self.api {
            Api::Chat => CHAT_TOKEN_TAIL,
            Api::Completions | Api::Transcriptions => TEXT_TOKEN_TAIL,
        }
    }

    /// One token's chunk.
    pub fn token(&self) -> Bytes {
        let tail = self.token_tail();
        let mut b = Vec::with_capacity(self.head.len() + tail.len());
        b.extend_from_slice(&self.head);
        b.extend_from_slice(tail);
        b.into()
    }

    /// What follows the last token: the finish chunk, the usage chunk when
    /// asked for, and `[DONE]`.
    pub fn end(&self, usage: Option<Counts>) -> Bytes {
        let mut b = Vec::with_capacity(2 * self.head.len() + 160);
        self.push_end(&mut b, usage);
        b.into()
    }

    fn push_end(&self, b: &mut Vec<u8>, usage: Option<Counts>) {
        b.extend_from_slice(&self.head);
        b.extend_from_slice(match self.api {
            Api::Chat => CHAT_FINISH_TAIL,
            Api::Completions | Api::Transcriptions => TEXT_FINISH_TAIL,
        });
        if let Some(c) = usage {
            b.extend_from_slice(&self.head);
            let _ = write!(
                b,
                "],\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":{},\"total_tokens\":{}}}}}\n\n",
                c.prompt,
                c.completion,
                c.prompt + c.completion
            );
        }
        b.extend_from_slice(DONE);
    }

    /// The whole stream of `tokens` tokens as one buffer.
    pub fn whole(&self, tokens: u64, usage: Option<Counts>) -> Bytes {
        let tail = self.token_tail();
        let per = self.head.len() + tail.len();
        let mut b = Vec::with_capacity(per * tokens as usize + 2 * self.head.len() + 160);
        for _ in 0..tokens {
            b.extend_from_slice(&self.head);
            b.extend_from_slice(tail);
        }
        self.push_end(&mut b, usage);
        b.into()
    }
}

/// A non-streamed answer: `choices[0].message.content` (chat) or
/// `choices[0].text` (completions), with `usage`.
pub fn whole_response(api: Api, seq: u64, created: u64, model_json: &str, c: Counts) -> Bytes {
    let text = TOKEN.repeat(c.completion as usize);
    let mut b = Vec::with_capacity(text.len() + 320 + model_json.len());
    let (id, object) = match api {
        Api::Chat => ("chatcmpl", "chat.completion"),
        Api::Completions | Api::Transcriptions => ("cmpl", "text_completion"),
    };
    let _ = write!(
        b,
        "{{\"id\":\"{id}-stub-{seq}\",\"object\":\"{object}\",\"created\":{created},\"model\":{model_json},\"choices\":[{{\"index\":0,"
    );
    let _ = match api {
        Api::Chat => write!(
            b,
            "\"message\":{{\"role\":\"assistant\",\"content\":\"{text}\"}}"
        ),
        Api::Completions | Api::Transcriptions => write!(b, "\"text\":\"{text}\""),
    };
    let _ = write!(
        b,
        ",\"finish_reason\":\"length\"}}],\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":{},\"total_tokens\":{}}}}}",
        c.prompt,
        c.completion,
        c.prompt + c.completion
    );
    b.into()
}

/// An OpenAI-style error body.
pub fn error_body(message: &str, kind: &str) -> Bytes {
    serde_json::json!({
        "error": {"message": message, "type": kind, "param": null, "code": null}
    })
    .to_string()
    .into()
}

/// `GET /v1/models`: the one model.
pub fn models(model: &str, created: u64) -> Bytes {
    serde_json::json!({
        "object": "list",
        "data": [{"id": model, "object": "model", "created": created, "owned_by": "mlxrun-stub"}]
    })
    .to_string()
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn events(body: &[u8]) -> Vec<String> {
        std::str::from_utf8(body)
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").unwrap().to_string())
            .collect()
    }

    #[test]
    fn streamed_chat_chunks_are_openai_shaped() {
        let s = StreamChunks::new(Api::Chat, 3, 1700, "\"m\\\"x\"");
        let usage = Counts {
            prompt: 4,
            completion: 2,
        };
        let body = s.whole(2, Some(usage));
        let ev = events(&body);
        assert_eq!(ev.len(), 5);
        let tok: Value = serde_json::from_str(&ev[0]).unwrap();
        assert_eq!(tok["id"], "chatcmpl-stub-3");
        assert_eq!(tok["object"], "chat.completion.chunk");
        assert_eq!(tok["created"], 1700);
        assert_eq!(tok["model"], "m\"x");
        assert_eq!(tok["choices"][0]["delta"]["content"], TOKEN);
        assert_eq!(tok["choices"][0]["finish_reason"], Value::Null);
        let fin: Value = serde_json::from_str(&ev[2]).unwrap();
        assert_eq!(fin["choices"][0]["finish_reason"], "length");
        assert_eq!(fin["choices"][0]["delta"], serde_json::json!({}));
        let u: Value = serde_json::from_str(&ev[3]).unwrap();
        assert_eq!(u["choices"], serde_json::json!([]));
        assert_eq!(u["usage"]["total_tokens"], 6);
        assert_eq!(ev[4], "[DONE]");
        // frame by frame gives the same bytes
        let mut frames = s.token().to_vec();
        frames.extend_from_slice(&s.token());
        frames.extend_from_slice(&s.end(Some(usage)));
        assert_eq!(frames, body.to_vec());
    }

    #[test]
    fn streamed_text_chunks_and_no_usage() {
        let s = StreamChunks::new(Api::Completions, 0, 1, "\"m\"");
        let ev = events(&s.whole(1, None));
        assert_eq!(ev.len(), 3);
        let tok: Value = serde_json::from_str(&ev[0]).unwrap();
        assert_eq!(tok["object"], "text_completion");
        assert_eq!(tok["choices"][0]["text"], TOKEN);
        let fin: Value = serde_json::from_str(&ev[1]).unwrap();
        assert_eq!(fin["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn whole_responses_parse() {
        let c = Counts {
            prompt: 2,
            completion: 3,
        };
        let v: Value =
            serde_json::from_slice(&whole_response(Api::Chat, 1, 5, "\"m\"", c)).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "tok tok tok ");
        assert_eq!(v["usage"]["completion_tokens"], 3);
        let v: Value =
            serde_json::from_slice(&whole_response(Api::Completions, 1, 5, "\"m\"", c)).unwrap();
        assert_eq!(v["choices"][0]["text"], "tok tok tok ");
        assert_eq!(v["object"], "text_completion");
        let e: Value = serde_json::from_slice(&error_body("x \"y\"", "server_error")).unwrap();
        assert_eq!(e["error"]["message"], "x \"y\"");
    }
}
