//! What one request produced: timings, token counts, and how it failed.
//! Failures are data, sorted into a few kinds.

use std::time::Duration;

use serde::Serialize;

/// How a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Could not connect, or the connection broke before a response.
    Connect,
    /// The request took longer than `workload.request_timeout_s`.
    Timeout,
    /// The server answered 4xx.
    Http4xx,
    /// The server answered 5xx.
    Http5xx,
    /// The response stream broke off before it ended.
    Stream,
    /// The response could not be read as an OpenAI response.
    BadResponse,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::Stream => "stream",
            ErrorKind::BadResponse => "bad_response",
        }
    }
}

/// One finished request (successful or not).
#[derive(Debug, Clone, Default)]
pub struct RequestRecord {
    /// Number of the request within its point (0-based, in send order).
    pub seq: u64,
    /// The instance that served it: the client router's choice, or what
    /// nginx's access log says; `None` when unknown.
    pub instance: Option<u32>,
    /// When it was first sent, from the point's start.
    pub sent_at: Duration,
    /// Scheduled send time to actual first send: the client's queueing time
    /// (open loop; zero in closed loop).
    pub queue: Duration,
    /// How late the client itself was in sending it: past its scheduled time
    /// while a slot was free (open loop), or since the previous request of
    /// the same worker finished (closed loop).
    pub lag: Duration,
    /// Sent during a point's warmup or cooldown: not measured.
    pub excluded: bool,
    /// First non-empty content, from the latency origin: the scheduled send
    /// time in open loop, the first send in closed loop (streaming only).
    pub ttft: Option<Duration>,
    /// Whole request from the latency origin (retries included).
    pub e2e: Duration,
    /// Gaps between successive content chunks, in microseconds.
    pub itl_us: Vec<u32>,
    /// `usage.prompt_tokens`, when the server sent usage.
    pub prompt_tokens: Option<u64>,
    /// `usage.completion_tokens`, else the number of content chunks.
    pub completion_tokens: u64,
    /// Whether the server reported `usage`.
    pub usage_reported: bool,
    /// `usage.prompt_tokens_details.cached_tokens`, when present.
    pub cached_tokens: Option<u64>,
    /// Retries before the final attempt.
    pub retries: u32,
    /// Seconds of audio the request sent (transcriptions); `None` otherwise.
    pub audio_seconds: Option<f64>,
    /// The failure, with a short detail; `None` when it succeeded.
    pub error: Option<(ErrorKind, String)>,
}

impl RequestRecord {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}
