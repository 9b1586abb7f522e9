//! One OpenAI-compatible completion request (chat or plain completions),
//! streamed (SSE) or not, timed to the microsecond, with the retry policy
//! of mlx-knife's benchmark scripts (the predecessor mlxrun was created
//! from): 5xx answers and connection errors are retried with linear
//! backoff, a bounded number of times. Token counts come from `usage` or
//! llama.cpp's `timings`, as the backend definition says. Never panics on
//! what a server sends; an API key never appears in what it records.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::chunk::{Counts, Whole, read_chunk};
use super::record::{ErrorKind, RequestRecord};
use super::sse::{SseParser, SseSink};
use crate::spec::backend::{Api, TokenSource};
use crate::spec::scenario::{BalanceMethod, Sampling};

/// The header that tags each request with `<point>-<n>`, so nginx's access
/// log can say which instance served it.
pub const REQUEST_TAG_HEADER: &str = "x-mlxrun-request";

/// Everything needed to send the requests of a point.
#[derive(Clone)]
pub struct RequestSpec {
    /// Full endpoint URLs; requests are spread over them by `balance`
    /// (one URL: nginx or a single instance).
    pub urls: Vec<String>,
    pub balance: BalanceMethod,
    /// The JSON bodies, built before the point starts; request `seq` sends
    /// `bodies[seq % len]`.
    pub bodies: Vec<Bytes>,
    pub stream: bool,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    /// Extra headers (authorization, marked sensitive).
    pub headers: HeaderMap,
    /// Request tags are `<tag>-<n>`.
    pub tag: String,
    pub tokens: TokenSource,
    /// Text that must never be recorded (the API key), replaced by `***`.
    pub secret: Option<String>,
    /// Transcription requests: the bodies are multipart forms; `None` = JSON.
    pub form: Option<FormSpec>,
}

/// What a point of transcription requests needs besides its bodies.
#[derive(Debug, Clone)]
pub struct FormSpec {
    /// `multipart/form-data; boundary=...` of every body.
    pub content_type: HeaderValue,
    /// Audio seconds of `bodies[i]`.
    pub audio_seconds: Vec<f64>,
    /// `response_format` the bodies ask for: json, text or verbose_json.
    pub response_format: String,
}

impl std::fmt::Debug for RequestSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSpec")
            .field("urls", &self.urls)
            .field("stream", &self.stream)
            .field("tag", &self.tag)
            .field("authorized", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

/// What a request asks for.
#[derive(Debug, Clone)]
pub struct BodySpec<'a> {
    pub api: Api,
    pub prompt: &'a str,
    pub max_tokens: u32,
    /// `temperature`, and `top_p` and `seed` when set.
    pub sampling: Sampling,
    pub stream: bool,
    /// The `model` field; `None` = not sent.
    pub model: Option<&'a str>,
    /// Chat messages as given (a prompt file's `messages`); `None` = one
    /// user message with `prompt`. The completions API always sends `prompt`.
    pub messages: Option<&'a serde_json::Value>,
}

/// The JSON body of a completion request.
pub fn request_body(b: &BodySpec<'_>) -> Bytes {
    let mut v = serde_json::json!({
        "max_tokens": b.max_tokens,
        "temperature": b.sampling.temperature,
        "stream": b.stream,
    });
    if let Some(p) = b.sampling.top_p {
        v["top_p"] = serde_json::json!(p);
    }
    if let Some(seed) = b.sampling.seed {
        v["seed"] = serde_json::json!(seed);
    }
    match b.api {
        Api::Chat => {
            v["messages"] = match b.messages {
                Some(m) => m.clone(),
                None => serde_json::json!([{"role": "user", "content": b.prompt}]),
            }
        }
        // transcription bodies are forms (media::multipart); a JSON body
        // for that API never reaches a server
        Api::Completions | Api::Transcriptions => v["prompt"] = serde_json::json!(b.prompt),
    }
    if let Some(m) = b.model {
        v["model"] = serde_json::json!(m);
    }
    if b.stream {
        v["stream_options"] = serde_json::json!({"include_usage": true});
    }
    Bytes::from(v.to_string())
}

/// A chat completion body (no model field, nothing but `temperature` of
/// the sampling).
pub fn chat_body(prompt: &str, max_tokens: u32, temperature: f64, stream: bool) -> Bytes {
    request_body(&BodySpec {
        api: Api::Chat,
        prompt,
        max_tokens,
        sampling: Sampling {
            temperature,
            ..Sampling::GREEDY
        },
        stream,
        model: None,
        messages: None,
    })
}

/// `Authorization: Bearer <key>`, marked sensitive (never logged by reqwest).
pub fn auth_headers(key: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(k) = key
        && let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {k}"))
    {
        v.set_sensitive(true);
        h.insert(reqwest::header::AUTHORIZATION, v);
    }
    h
}

/// `text` with every occurrence of `secret` replaced by `***`.
pub fn redact(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "***"),
        _ => text.to_string(),
    }
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

/// Send request number `seq` of a point to `spec.urls[target]` (with
/// retries). `point_start` anchors `sent_at`; `origin` is where its
/// latencies count from (its scheduled time in open loop, else now).
pub async fn send(
    client: &reqwest::Client,
    spec: &RequestSpec,
    point_start: Instant,
    origin: Instant,
    seq: u64,
    target: usize,
) -> RequestRecord {
    let now = Instant::now();
    let first = origin.min(now);
    let mut rec = RequestRecord {
        sent_at: now.saturating_duration_since(point_start),
        queue: now.saturating_duration_since(first),
        seq,
        instance: Some(target as u32),
        audio_seconds: spec
            .form
            .as_ref()
            .and_then(|f| match f.audio_seconds.len() {
                0 => None,
                n => Some(f.audio_seconds[(seq % n as u64) as usize]),
            }),
        ..Default::default()
    };
    // borrowed: no allocation per request on the load's hot path
    let url = spec
        .urls
        .get(target)
        .or(spec.urls.first())
        .map_or("", String::as_str);
    let tag = HeaderValue::from_str(&format!("{}-{seq}", spec.tag)).ok();
    let mut attempt = 0;
    loop {
        let mut parsed = Parsed::default();
        let result = tokio::time::timeout(
            spec.timeout,
            attempt_once(
                client,
                spec,
                url,
                tag.as_ref(),
                first,
                &mut rec,
                &mut parsed,
            ),
        )
        .await;
        let failure = match result {
            Ok(Ok(())) => {
                parsed.apply(spec.tokens, &mut rec);
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
            tokio::time::sleep(spec.backoff.saturating_mul(attempt)).await;
            continue;
        }
        rec.e2e = first.elapsed();
        rec.error = Some((
            failure.kind,
            redact(&failure.detail, spec.secret.as_deref()),
        ));
        return rec;
    }
}

/// Token counts a response reported, before the definition's choice.
#[derive(Debug, Default)]
struct Parsed {
    usage: Option<Counts>,
    timings: Option<Counts>,
    chunks: u64,
    /// Words of a non-streamed answer (a stand-in when nothing else is known).
    words: Option<u64>,
}

impl Parsed {
    /// Fill `rec` by `source`, falling back to what else the server sent.
    fn apply(&self, source: TokenSource, rec: &mut RequestRecord) {
        if source == TokenSource::None {
            // nothing is expected, so nothing is missing
            rec.usage_reported = true;
            rec.completion_tokens = 0;
            return;
        }
        let order = match source {
            TokenSource::Usage => [self.usage, self.timings],
            TokenSource::Timings => [self.timings, self.usage],
            TokenSource::Chunks | TokenSource::None => [None, None],
        };
        match order.into_iter().flatten().find(|c| c.completion.is_some()) {
            Some(c) => {
                rec.usage_reported = true;
                rec.completion_tokens = c.completion.unwrap_or(0);
                rec.prompt_tokens = c.prompt;
                rec.cached_tokens = c.cached;
            }
            None => {
                rec.usage_reported = false;
                rec.completion_tokens = self.words.unwrap_or(self.chunks);
                if let Some(c) = self.usage.or(self.timings) {
                    rec.prompt_tokens = c.prompt;
                    rec.cached_tokens = c.cached;
                }
            }
        }
    }
}

async fn attempt_once(
    client: &reqwest::Client,
    spec: &RequestSpec,
    url: &str,
    tag: Option<&HeaderValue>,
    first: Instant,
    rec: &mut RequestRecord,
    parsed: &mut Parsed,
) -> Result<(), Failure> {
    let mut req = client.post(url);
    req = match &spec.form {
        Some(f) => req.header("content-type", f.content_type.clone()),
        None => req.header("content-type", "application/json"),
    };
    req = req.headers(spec.headers.clone());
    if let Some(t) = tag {
        req = req.header(HeaderName::from_static(REQUEST_TAG_HEADER), t.clone());
    }
    let body = match spec.bodies.len() {
        0 => Bytes::new(),
        n => spec.bodies[(rec.seq % n as u64) as usize].clone(),
    };
    let resp = req.body(body).send().await.map_err(|e| {
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
    if let Some(form) = &spec.form {
        let body = resp
            .bytes()
            .await
            .map_err(|e| fail(ErrorKind::Stream, error_chain(&e), false))?;
        parse_transcription(&body, &form.response_format, parsed)
    } else if spec.stream {
        read_stream(resp, first, rec, parsed).await
    } else {
        let body = resp
            .bytes()
            .await
            .map_err(|e| fail(ErrorKind::Stream, error_chain(&e), false))?;
        parse_whole(&body, parsed)
    }
}

/// Handles the events of one streamed response as the parser completes
/// them: timestamps content, reads token counts, notes the end.
struct StreamSink<'a> {
    first: Instant,
    /// When the bytes being parsed arrived.
    now: Instant,
    rec: &'a mut RequestRecord,
    parsed: &'a mut Parsed,
    last_content: Option<Instant>,
    chunks: u64,
    done: bool,
    finished: bool,
    error: Option<String>,
}

impl SseSink for StreamSink<'_> {
    fn data(&mut self, data: &str) {
        if self.error.is_some() {
            return;
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            return;
        }
        let info = match read_chunk(data) {
            Ok(info) => info,
            Err(e) => {
                self.error = Some(e);
                return;
            }
        };
        if let Some(u) = info.usage {
            self.parsed.usage = Some(u);
        }
        if let Some(t) = info.timings {
            self.parsed.timings = Some(t);
        }
        self.finished |= info.finished;
        for _ in 0..info.content {
            self.chunks += 1;
            let now = self.now;
            match self.last_content {
                None => self.rec.ttft = Some(now.saturating_duration_since(self.first)),
                Some(prev) => {
                    let gap = now.saturating_duration_since(prev).as_micros();
                    self.rec.itl_us.push(u32::try_from(gap).unwrap_or(u32::MAX));
                }
            }
            self.last_content = Some(now);
        }
    }
}

async fn read_stream(
    resp: reqwest::Response,
    first: Instant,
    rec: &mut RequestRecord,
    parsed: &mut Parsed,
) -> Result<(), Failure> {
    let mut parser = SseParser::new();
    let mut body = resp.bytes_stream();
    let mut sink = StreamSink {
        first,
        now: first,
        rec,
        parsed,
        last_content: None,
        chunks: 0,
        done: false,
        finished: false,
        error: None,
    };
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| fail(ErrorKind::Stream, error_chain(&e), false))?;
        sink.now = Instant::now();
        parser.push(&piece, &mut sink);
        if let Some(e) = sink.error.take() {
            return Err(fail(ErrorKind::BadResponse, e, false));
        }
    }
    sink.now = Instant::now();
    parser.finish(&mut sink);
    if let Some(e) = sink.error.take() {
        return Err(fail(ErrorKind::BadResponse, e, false));
    }
    if !sink.done && !sink.finished {
        return Err(fail(
            ErrorKind::Stream,
            "stream ended without [DONE] or finish_reason",
            false,
        ));
    }
    sink.parsed.chunks = sink.chunks;
    Ok(())
}

fn parse_whole(body: &[u8], parsed: &mut Parsed) -> Result<(), Failure> {
    let whole: Whole = serde_json::from_slice(body).map_err(|e| {
        fail(
            ErrorKind::BadResponse,
            format!("bad JSON response: {e}"),
            false,
        )
    })?;
    if let Some(u) = &whole.usage {
        parsed.usage = Some(u.counts());
    }
    if let Some(t) = &whole.timings {
        parsed.timings = Some(t.counts());
    }
    {
        // nothing better: whitespace-separated words as a rough stand-in
        parsed.words = Some(
            whole
                .choices
                .iter()
                .filter_map(|c| {
                    c.message
                        .as_ref()
                        .and_then(|m| m.content.as_deref())
                        .or(c.text.as_deref())
                })
                .map(|t| t.split_whitespace().count() as u64)
                .sum(),
        );
    }
    Ok(())
}

/// A transcription answer: JSON with `text` (json, verbose_json; the
/// latter also with `segments`), or the text itself (text, srt, vtt). Its
/// words stand in for output tokens.
fn parse_transcription(body: &[u8], format: &str, parsed: &mut Parsed) -> Result<(), Failure> {
    let words = if matches!(format, "json" | "verbose_json") {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            fail(
                ErrorKind::BadResponse,
                format!("bad JSON transcription: {e}"),
                false,
            )
        })?;
        let Some(t) = v.get("text").and_then(|t| t.as_str()) else {
            return Err(fail(
                ErrorKind::BadResponse,
                "transcription has no \"text\"",
                false,
            ));
        };
        if format == "verbose_json" && !v.get("segments").is_some_and(|s| s.is_array()) {
            return Err(fail(
                ErrorKind::BadResponse,
                "verbose_json transcription has no \"segments\" list",
                false,
            ));
        }
        t.split_whitespace().count()
    } else {
        String::from_utf8_lossy(body).split_whitespace().count()
    };
    parsed.words = Some(words as u64);
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcriptions_are_read_in_every_format() {
        let words = |body: &[u8], format: &str| -> Result<Option<u64>, ErrorKind> {
            let mut p = Parsed::default();
            parse_transcription(body, format, &mut p)
                .map(|_| p.words)
                .map_err(|f| f.kind)
        };
        assert_eq!(words(br#"{"text":"one two three"}"#, "json"), Ok(Some(3)));
        assert_eq!(words(b"one two", "text"), Ok(Some(2)));
        // mlx_vlm.server's verbose_json: text, segments, language
        let verbose = br#"{"text":"a b","segments":[{"id":0,"seek":0,"start":0.54,"end":11.92,"text":"a b"}],"language":"en"}"#;
        assert_eq!(words(verbose, "verbose_json"), Ok(Some(2)));
        assert_eq!(
            words(br#"{"text":"a"}"#, "verbose_json"),
            Err(ErrorKind::BadResponse),
            "verbose_json without segments"
        );
        assert_eq!(
            words(br#"{"detail":"x"}"#, "json"),
            Err(ErrorKind::BadResponse)
        );
        assert_eq!(words(b"not json", "json"), Err(ErrorKind::BadResponse));
        // tokens = "none": nothing to count, and nothing missing
        let mut rec = RequestRecord::default();
        let p = Parsed {
            words: Some(5),
            ..Default::default()
        };
        p.apply(TokenSource::None, &mut rec);
        assert_eq!((rec.completion_tokens, rec.usage_reported), (0, true));
    }

    #[test]
    fn whole_response_without_usage_counts_words() {
        let mut rec = RequestRecord::default();
        let mut parsed = Parsed::default();
        parse_whole(
            br#"{"choices":[{"message":{"role":"assistant","content":"a b c"}}]}"#,
            &mut parsed,
        )
        .ok()
        .unwrap();
        parsed.apply(TokenSource::Usage, &mut rec);
        assert_eq!(rec.completion_tokens, 3);
        assert!(!rec.usage_reported);
        assert!(parse_whole(b"not json", &mut parsed).is_err());
    }

    #[test]
    fn llama_timings_are_read_and_preferred_when_asked() {
        let body = br#"{"choices":[{"message":{"content":"x y"}}],"usage":{"completion_tokens":7,"prompt_tokens":3},"timings":{"prompt_n":2,"cache_n":1,"predicted_n":16,"predicted_ms":10.5}}"#;
        let mut parsed = Parsed::default();
        parse_whole(body, &mut parsed).ok().unwrap();
        let mut rec = RequestRecord::default();
        parsed.apply(TokenSource::Timings, &mut rec);
        assert_eq!(
            (rec.completion_tokens, rec.prompt_tokens, rec.cached_tokens),
            (16, Some(2), Some(1))
        );
        parsed.apply(TokenSource::Usage, &mut rec);
        assert_eq!((rec.completion_tokens, rec.prompt_tokens), (7, Some(3)));
        parsed.apply(TokenSource::Chunks, &mut rec);
        assert_eq!(rec.completion_tokens, 2, "words of the answer");
        assert!(!rec.usage_reported);
    }

    #[test]
    fn completions_body_and_model_field() {
        let b: serde_json::Value = serde_json::from_slice(&request_body(&BodySpec {
            api: Api::Completions,
            prompt: "hi",
            max_tokens: 4,
            sampling: Sampling::GREEDY,
            stream: false,
            model: Some("served"),
            messages: None,
        }))
        .unwrap();
        assert_eq!(b["prompt"], "hi");
        assert_eq!(b["model"], "served");
        assert!(b.get("messages").is_none());
        assert_eq!(b["temperature"], 0.0);
        assert!(
            b.get("top_p").is_none() && b.get("seed").is_none(),
            "unset sampling fields are not sent: {b}"
        );
    }

    #[test]
    fn secrets_are_redacted_and_auth_is_sensitive() {
        assert_eq!(
            redact("bad key sk-123 given", Some("sk-123")),
            "bad key *** given"
        );
        assert_eq!(redact("x", None), "x");
        let h = auth_headers(Some("sk-123"));
        assert!(h[reqwest::header::AUTHORIZATION].is_sensitive());
        assert!(auth_headers(None).is_empty());
    }

    #[test]
    fn body_asks_for_usage_when_streaming() {
        let b: serde_json::Value = serde_json::from_slice(&chat_body("hi", 8, 0.3, true)).unwrap();
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["max_tokens"], 8);
        let b: serde_json::Value = serde_json::from_slice(&chat_body("hi", 8, 0.3, false)).unwrap();
        assert!(b.get("stream_options").is_none());
    }

    /// A one-shot HTTP server that records the request it got.
    async fn one_shot(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/chat/completions", l.local_addr().unwrap());
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() >= i + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let resp = format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            s.write_all(resp.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (url, h)
    }

    #[tokio::test]
    async fn sends_key_and_tag_but_records_neither_the_key() {
        // the server echoes the key in its error: the record must not keep it
        let (url, server) = one_shot(r#"{"error":"bad key sk-test-123"}"#).await;
        let spec = RequestSpec {
            urls: vec![url],
            balance: BalanceMethod::RoundRobin,
            bodies: vec![chat_body("hi", 4, 0.0, false)],
            stream: false,
            timeout: Duration::from_secs(10),
            retries: 0,
            backoff: Duration::ZERO,
            headers: auth_headers(Some("sk-test-123")),
            tag: "p7".into(),
            tokens: TokenSource::Usage,
            secret: Some("sk-test-123".into()),
            form: None,
        };
        let t0 = Instant::now();
        let rec = send(&build_client(), &spec, t0, t0, 3, 0).await;
        let request = server.await.unwrap().to_ascii_lowercase();
        assert!(
            request.contains("authorization: bearer sk-test-123"),
            "{request}"
        );
        assert!(request.contains("x-mlxrun-request: p7-3"), "{request}");
        let (kind, detail) = rec.error.unwrap();
        assert_eq!(kind, ErrorKind::Http5xx);
        assert!(
            detail.contains("bad key ***") && !detail.contains("sk-test"),
            "{detail}"
        );
        assert!(!format!("{spec:?}").contains("sk-test"));
    }
}
