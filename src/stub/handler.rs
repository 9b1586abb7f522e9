//! Routing and answering one request. `POST /v1/chat/completions` and
//! `POST /v1/completions` (streamed or not), `POST
//! /v1/audio/transcriptions` (see [`super::transcribe`]), `GET /v1/models`,
//! `GET /health`, `GET /metrics`; anything else is 404.
//!
//! Faults come first: `--never-ready` answers every route 503;
//! `--exit-after N` exits the process when completion request N + 1
//! arrives; `--hang` never answers a completion request.
//!
//! A completion request is answered in this order: a malformed body gets
//! 400; then one draw of the seeded error RNG decides whether it gets the
//! injected error (`--error-rate`, answered at once); else it gets
//! `max_completion_tokens` / `max_tokens` tokens (or `--tokens`), capped by
//! `--max-tokens-cap`. Streamed answers send their headers at once and the
//! first token after the TTFT (plus `--image-delay-ms` per image of a chat
//! request); a non-streamed answer comes whole when its
//! last token would have (TTFT + (n-1) x ITL; TTFT only in burst mode).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::StubConfig;
use super::body::StubBody;
use super::metrics::Counters;
use super::render::{self, Counts, StreamChunks};
use super::request::CompletionRequest;
use crate::spec::backend::Api;
use crate::spec::units::saturating_duration;

/// Largest request body read (bigger ones get 413).
const MAX_BODY: usize = 64 << 20;

/// `--slots` beyond this are no limit in practice.
const MAX_SLOTS: usize = 1 << 16;

const JSON: &str = "application/json";
const SSE: &str = "text/event-stream";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The stub's state, shared by every connection.
pub struct Stub {
    ttft: Duration,
    /// Per-request TTFT in ms when it is drawn (`--ttft-sd-ms`), and the
    /// generator it is drawn with (apart from the error draws).
    ttft_dist: Option<rand_distr::LogNormal<f64>>,
    ttft_rng: Mutex<StdRng>,
    itl: Duration,
    burst: bool,
    tokens: u64,
    cap: Option<u64>,
    error_rate: f64,
    error_status: StatusCode,
    model: String,
    /// The model name as a JSON string.
    model_json: String,
    started: u64,
    seq: AtomicU64,
    /// Completion requests received (for `--exit-after`).
    received: AtomicU64,
    exit_after: Option<u64>,
    hang: bool,
    never_ready: bool,
    audio_rtf: f64,
    image_delay: Duration,
    /// `--cold-ms`, `--cold-requests`, and the requests seen per shape
    /// (max_tokens).
    cold: Duration,
    cold_requests: u64,
    seen_shapes: Mutex<std::collections::HashMap<u64, u64>>,
    /// `--slots`: when each slot is free again (empty: no limit).
    slots: Mutex<Vec<Instant>>,
    rng: Mutex<StdRng>,
    pub counters: Counters,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `v` milliseconds; any number is a duration (capped), never a panic.
fn ms(v: f64) -> Duration {
    saturating_duration(v / 1000.0)
}

impl Stub {
    /// The delay before the first token of the next request: fixed, or
    /// drawn from the log-normal distribution of `--ttft-sd-ms`.
    pub(crate) fn next_ttft(&self) -> Duration {
        match &self.ttft_dist {
            None => self.ttft,
            Some(d) => {
                let mut rng = self.ttft_rng.lock().unwrap_or_else(|p| p.into_inner());
                // at most an hour: a draw far in the tail stays a delay
                ms(rand_distr::Distribution::sample(d, &mut *rng).min(3_600_000.0))
            }
        }
    }

    /// Build from a checked config (see [`StubConfig::check`]).
    pub fn new(cfg: &StubConfig) -> Result<Stub, String> {
        cfg.check()?;
        Ok(Stub {
            ttft: ms(cfg.ttft_ms),
            ttft_dist: if cfg.ttft_sd_ms > 0.0 {
                let (mu, sigma) = super::lognormal_params(cfg.ttft_ms, cfg.ttft_sd_ms);
                Some(rand_distr::LogNormal::new(mu, sigma).map_err(|e| e.to_string())?)
            } else {
                None
            },
            ttft_rng: Mutex::new(StdRng::seed_from_u64(cfg.seed ^ 0x7f7f_5eed_d15c_0001)),
            itl: ms(cfg.itl_ms),
            burst: cfg.burst,
            tokens: cfg.tokens,
            cap: cfg.max_tokens_cap,
            error_rate: cfg.error_rate,
            error_status: StatusCode::from_u16(cfg.error_status).map_err(|e| e.to_string())?,
            model: cfg.model.clone(),
            model_json: serde_json::to_string(&cfg.model).map_err(|e| e.to_string())?,
            started: unix_now(),
            seq: AtomicU64::new(0),
            received: AtomicU64::new(0),
            exit_after: cfg.exit_after,
            hang: cfg.hang,
            never_ready: cfg.never_ready,
            audio_rtf: cfg.audio_rtf,
            image_delay: ms(cfg.image_delay_ms),
            cold: ms(cfg.cold_ms),
            cold_requests: cfg.cold_requests,
            seen_shapes: Mutex::new(Default::default()),
            slots: Mutex::new(vec![Instant::now(); cfg.slots.min(MAX_SLOTS)]),
            rng: Mutex::new(StdRng::seed_from_u64(cfg.seed)),
            counters: Counters::default(),
        })
    }

    /// Answer one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<StubBody> {
        let t0 = Instant::now();
        if self.never_ready {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "loading (mlxrun stub-server --never-ready)",
                "server_error",
            );
        }
        let api = match (req.method(), req.uri().path()) {
            (&Method::POST, "/v1/chat/completions") => Api::Chat,
            (&Method::POST, "/v1/completions") => Api::Completions,
            (&Method::POST, "/v1/audio/transcriptions") => Api::Transcriptions,
            (&Method::GET, "/v1/models") => {
                return respond(
                    StatusCode::OK,
                    JSON,
                    StubBody::full(render::models(&self.model, self.started)),
                );
            }
            (&Method::GET, "/health") => {
                return respond(
                    StatusCode::OK,
                    JSON,
                    StubBody::full(Bytes::from_static(b"{\"status\":\"ok\"}")),
                );
            }
            (&Method::GET, "/metrics") => {
                return respond(
                    StatusCode::OK,
                    PROMETHEUS,
                    StubBody::full(self.counters.prometheus()),
                );
            }
            (m, p) => {
                let msg = format!("no route for {m} {p}");
                return error(StatusCode::NOT_FOUND, &msg, "invalid_request_error");
            }
        };
        Counters::add(&self.counters.requests, 1);
        let n = self.received.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(limit) = self.exit_after
            && n > limit
        {
            eprintln!("stub-server: --exit-after {limit}: exiting on completion request {n}");
            std::process::exit(3);
        }
        if self.hang {
            // hold the connection open without a byte of answer
            std::future::pending::<()>().await;
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                Counters::add(&self.counters.errors, 1);
                let status = if e.is::<http_body_util::LengthLimitError>() {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                let msg = format!("cannot read the request body: {e}");
                return error(status, &msg, "invalid_request_error");
            }
        };
        if api == Api::Transcriptions {
            return self.transcribe(&content_type, &body, t0).await;
        }
        let parsed = match CompletionRequest::parse(&body) {
            Ok(r) => r,
            Err(msg) => return self.bad_request(&msg),
        };
        if let Some(injected) = self.injected_error() {
            return injected;
        }
        self.complete(api, &parsed, t0).await
    }

    /// The injected error, when this request draws one (`--error-rate`).
    fn injected_error(&self) -> Option<Response<StubBody>> {
        self.draw_error().then(|| {
            Counters::add(&self.counters.errors, 1);
            error(
                self.error_status,
                "injected error (mlxrun stub-server --error-rate)",
                "server_error",
            )
        })
    }

    /// A 400 for a request the stub cannot read, counted as an error.
    fn bad_request(&self, msg: &str) -> Response<StubBody> {
        Counters::add(&self.counters.errors, 1);
        error(StatusCode::BAD_REQUEST, msg, "invalid_request_error")
    }

    /// When a request that arrived at `t0` and generates for `busy` starts:
    /// at once without `--slots`, else when the slot that frees first is
    /// free (which it then holds until `busy` has passed).
    pub(crate) fn take_slot(&self, t0: Instant, busy: Duration) -> Instant {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let Some(slot) = slots.iter_mut().min() else {
            return t0;
        };
        let start = (*slot).max(t0);
        *slot = start + busy;
        start
    }

    /// The cold-start delay of a request of `shape` (`--cold-ms` for the
    /// first `--cold-requests` of each shape, then none).
    pub(crate) fn cold_delay(&self, shape: u64) -> Duration {
        if self.cold.is_zero() {
            return Duration::ZERO;
        }
        let mut seen = self.seen_shapes.lock().unwrap_or_else(|p| p.into_inner());
        let n = seen.entry(shape).or_insert(0);
        *n += 1;
        if *n <= self.cold_requests {
            self.cold
        } else {
            Duration::ZERO
        }
    }

    /// Whether this request gets the injected error.
    fn draw_error(&self) -> bool {
        if self.error_rate <= 0.0 {
            return false;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.random::<f64>() < self.error_rate
    }

    async fn complete(&self, api: Api, req: &CompletionRequest, t0: Instant) -> Response<StubBody> {
        let mut n = req.max_tokens().unwrap_or(self.tokens);
        if let Some(cap) = self.cap {
            n = n.min(cap);
        }
        let counts = Counts {
            prompt: req.prompt_tokens(),
            completion: n,
        };
        Counters::add(&self.counters.generated_tokens, counts.completion);
        Counters::add(&self.counters.prompt_tokens, counts.prompt);
        let images = req.images();
        Counters::add(&self.counters.images, images);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let created = unix_now();
        let to_first = self.next_ttft()
            + self.cold_delay(n)
            + self
                .image_delay
                .saturating_mul(u32::try_from(images).unwrap_or(u32::MAX));
        let generating = if self.burst || n <= 1 {
            to_first
        } else {
            to_first
                + self
                    .itl
                    .saturating_mul(u32::try_from(n - 1).unwrap_or(u32::MAX))
        };
        let first = self.take_slot(t0, generating) + to_first;
        if req.stream() {
            let chunks = StreamChunks::new(api, seq, created, &self.model_json);
            let usage = req.include_usage().then_some(counts);
            let body = if self.burst {
                StubBody::full_at(chunks.whole(n, usage), first)
            } else {
                StubBody::tokens(chunks, n, usage, first, self.itl)
            };
            let mut resp = respond(StatusCode::OK, SSE, body);
            resp.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return resp;
        }
        let last = if self.burst || n <= 1 {
            first
        } else {
            first
                + self
                    .itl
                    .saturating_mul(u32::try_from(n - 1).unwrap_or(u32::MAX))
        };
        crate::timer::global().sleep_until(last).await;
        let body = render::whole_response(api, seq, created, &self.model_json, counts);
        respond(StatusCode::OK, JSON, StubBody::full(body))
    }
}

impl Stub {
    /// Answer a transcription form (the error draw comes first, as for
    /// completions; a malformed form gets 400).
    async fn transcribe(
        &self,
        content_type: &str,
        body: &Bytes,
        t0: Instant,
    ) -> Response<StubBody> {
        let t = match super::transcribe::parse(content_type, body) {
            Ok(t) => t,
            Err(msg) => return self.bad_request(&msg),
        };
        if let Some(injected) = self.injected_error() {
            return injected;
        }
        Counters::add(&self.counters.audio_ms, (t.seconds * 1000.0).round() as u64);
        if self.audio_rtf > 0.0 {
            let done = t0 + saturating_duration(t.seconds / self.audio_rtf);
            crate::timer::global().sleep_until(done).await;
        }
        let (kind, out) = super::transcribe::answer(&t);
        respond(StatusCode::OK, kind, StubBody::full(out))
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: StubBody) -> Response<StubBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn error(status: StatusCode, message: &str, kind: &str) -> Response<StubBody> {
    respond(
        status,
        JSON,
        StubBody::full(render::error_body(message, kind)),
    )
}
