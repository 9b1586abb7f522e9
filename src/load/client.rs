//! One OpenAI-compatible chat completion request, streamed (SSE) or not,
//! timed to the microsecond, with the seed's retry policy: 5xx answers and
//! connection errors are retried with linear backoff, a bounded number of
//! times. Never panics on what a server sends.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::time::Instant;

use super::record::{ErrorKind, RequestRecord};
use super::sse::{SseEvent, SseParser};

/// Everything needed to send the requests of a point.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Full URL of `/v1/chat/completions`.
    pub url: String,
    /// The JSON body, built once.
    pub body: Bytes,
    pub stream: bool,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

/// The JSON body of a chat completion request.
pub fn chat_body(prompt: &str, max_tokens: u32, temperature: f64, stream: bool) -> Bytes {
    let mut v = serde_json::json!({
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": stream,
    });
    if stream {
        v["stream_options"] = serde_json::json!({"include_usage": true});
    }
    Bytes::from(v.to_string())
}

/// A client for benchmark traffic: no proxy, no Nagle, a big keep-alive pool.
pub fn build_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4096)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

struct Failure {
    kind: ErrorKind,
    detail: String,
    retryable: bool,
}

fn fail(kind: ErrorKind, detail: impl Into<String>, retryable: bool) -> Failure {
    Failure {
        kind,
        detail: detail.into(),
        retryable,
    }
}

/// Send one request (with retries). `point_start` anchors `sent_at`.
pub async fn send(
    client: &reqwest::Client,
    spec: &RequestSpec,
    point_start: Instant,
) -> RequestRecord {
    let first = Instant::now();
    let mut rec = RequestRecord {
        sent_at: first.saturating_duration_since(point_start),
        ..Default::default()
    };
    let mut attempt = 0;
    loop {
        let result =
            tokio::time::timeout(spec.timeout, attempt_once(client, spec, first, &mut rec)).await;
        let failure = match result {
            Ok(Ok(())) => {
                rec.error = None;
                rec.e2e = first.elapsed();
                return rec;
            }
            Ok(Err(f)) => f,
            Err(_) => fail(
                ErrorKind::Timeout,
                format!(
                    "no complete answer within {:.1} s",
                    spec.timeout.as_secs_f64()
                ),
                false,
            ),
        };
        if failure.retryable && attempt < spec.retries {
            attempt += 1;
            rec.retries = attempt;
            rec.ttft = None;
            rec.itl_us.clear();
            tokio::time::sleep(spec.backoff * attempt).await;
            continue;
        }
        rec.e2e = first.elapsed();
        rec.error = Some((failure.kind, failure.detail));
        return rec;
    }
}

async fn attempt_once(
    client: &reqwest::Client,
    spec: &RequestSpec,
    first: Instant,
    rec: &mut RequestRecord,
) -> Result<(), Failure> {
    let resp = client
        .post(&spec.url)
        .header("content-type", "application/json")
        .body(spec.body.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                fail(ErrorKind::Timeout, e.to_string(), false)
            } else {
                fail(ErrorKind::Connect, error_chain(&e), true)
            }
        })?;
    let status = resp.status();
    if !status.is_success() {
        let code = status.as_u16();
        let body = resp.text().await.unwrap_or_default();
        let detail = format!(
            "HTTP {code}: {}",
            body.chars().take(200).collect::<String>()
        );
        return Err(if status.is_server_error() {
            fail(
                ErrorKind::Http5xx,
                detail,
                matches!(code, 500 | 502 | 503 | 504),
            )
        } else {
            fail(ErrorKind::Http4xx, detail, false)
        });
    }
    if spec.stream {
        read_stream(resp, first, rec).await
    } else {
        let body = resp
            .bytes()
            .await
            .map_err(|e| fail(ErrorKind::Stream, error_chain(&e), false))?;
        parse_whole(&body, rec)
    }
}

async fn read_stream(
    resp: reqwest::Response,
    first: Instant,
    rec: &mut RequestRecord,
) -> Result<(), Failure> {
    let mut parser = SseParser::new();
    let mut events = Vec::with_capacity(8);
    let mut body = resp.bytes_stream();
    let mut last_content: Option<Instant> = None;
    let mut chunks: u64 = 0;
    let mut done = false;
    let mut finished = false;
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| fail(ErrorKind::Stream, error_chain(&e), false))?;
        let now = Instant::now();
        parser.push(&piece, &mut events);
        for ev in events.drain(..) {
            let SseEvent::Data(data) = ev else { continue };
            if data.trim() == "[DONE]" {
                done = true;
                continue;
            }
            let chunk: Chunk = serde_json::from_str(&data)
                .map_err(|e| fail(ErrorKind::BadResponse, format!("bad SSE chunk: {e}"), false))?;
            if let Some(u) = chunk.usage {
                apply_usage(rec, &u);
            }
            for choice in &chunk.choices {
                if choice.finish_reason.is_some() {
                    finished = true;
                }
                if choice.has_content() {
                    chunks += 1;
                    match last_content {
                        None => rec.ttft = Some(now.saturating_duration_since(first)),
                        Some(prev) => {
                            let gap = now.saturating_duration_since(prev).as_micros();
                            rec.itl_us.push(u32::try_from(gap).unwrap_or(u32::MAX));
                        }
                    }
                    last_content = Some(now);
                }
            }
        }
    }
    parser.finish(&mut events);
    if events
        .iter()
        .any(|e| matches!(e, SseEvent::Data(d) if d.trim() == "[DONE]"))
    {
        done = true;
    }
    if !done && !finished {
        return Err(fail(
            ErrorKind::Stream,
            "stream ended without [DONE] or finish_reason",
            false,
        ));
    }
    if !rec.usage_reported {
        rec.completion_tokens = chunks;
    }
    Ok(())
}

fn parse_whole(body: &[u8], rec: &mut RequestRecord) -> Result<(), Failure> {
    let whole: Whole = serde_json::from_slice(body).map_err(|e| {
        fail(
            ErrorKind::BadResponse,
            format!("bad JSON response: {e}"),
            false,
        )
    })?;
    if let Some(u) = whole.usage {
        apply_usage(rec, &u);
    }
    if !rec.usage_reported {
        // no usage: count whitespace-separated words as a rough stand-in
        rec.completion_tokens = whole
            .choices
            .iter()
            .filter_map(|c| {
                c.message
                    .as_ref()
                    .and_then(|m| m.content.as_deref())
                    .or(c.text.as_deref())
            })
            .map(|t| t.split_whitespace().count() as u64)
            .sum();
    }
    Ok(())
}

fn apply_usage(rec: &mut RequestRecord, u: &Usage) {
    rec.usage_reported = true;
    rec.completion_tokens = u.completion_tokens.unwrap_or(0);
    rec.prompt_tokens = u.prompt_tokens;
    rec.cached_tokens = u
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens);
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    /// `/v1/completions` streams `text` instead of `delta`.
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

impl ChunkChoice<'_> {
    fn has_content(&self) -> bool {
        let delta = self.delta.as_ref().is_some_and(|d| {
            d.content.as_deref().is_some_and(|c| !c.is_empty())
                || d.reasoning.as_deref().is_some_and(|c| !c.is_empty())
        });
        delta || self.text.as_deref().is_some_and(|t| !t.is_empty())
    }
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    /// Reasoning tokens count as output (mlx_lm names the field `reasoning`).
    #[serde(default, borrow, alias = "reasoning_content")]
    reasoning: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Whole {
    #[serde(default)]
    choices: Vec<WholeChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct WholeChoice {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_only_and_usage_chunks_are_not_content() {
        let role: Chunk = serde_json::from_str(
            r#"{"choices":[{"delta":{"role":"assistant"},"finish_reason":null}]}"#,
        )
        .unwrap();
        assert!(!role.choices[0].has_content());
        let empty: Chunk =
            serde_json::from_str(r#"{"choices":[{"delta":{"content":""}}]}"#).unwrap();
        assert!(!empty.choices[0].has_content());
        let text: Chunk =
            serde_json::from_str(r#"{"choices":[{"delta":{"role":"assistant","content":"our"}}]}"#)
                .unwrap();
        assert!(text.choices[0].has_content());
        let usage: Chunk = serde_json::from_str(
            r#"{"object":"chat.completion","choices":[],"usage":{"prompt_tokens":6,"completion_tokens":5,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":5}}}"#,
        )
        .unwrap();
        let mut rec = RequestRecord::default();
        apply_usage(&mut rec, usage.usage.as_ref().unwrap());
        assert_eq!(
            (rec.prompt_tokens, rec.completion_tokens, rec.cached_tokens),
            (Some(6), 5, Some(5))
        );
    }

    #[test]
    fn whole_response_without_usage_counts_words() {
        let mut rec = RequestRecord::default();
        parse_whole(
            br#"{"choices":[{"message":{"role":"assistant","content":"a b c"}}]}"#,
            &mut rec,
        )
        .ok()
        .unwrap();
        assert_eq!(rec.completion_tokens, 3);
        assert!(!rec.usage_reported);
        assert!(parse_whole(b"not json", &mut rec).is_err());
    }

    #[test]
    fn body_asks_for_usage_when_streaming() {
        let b: serde_json::Value = serde_json::from_slice(&chat_body("hi", 8, 0.3, true)).unwrap();
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["max_tokens"], 8);
        let b: serde_json::Value = serde_json::from_slice(&chat_body("hi", 8, 0.3, false)).unwrap();
        assert!(b.get("stream_options").is_none());
    }
}
