//! The stub served in-process, driven by mlxrun's own client.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::metrics::read_counter;
use super::*;
use crate::load::client::{BodySpec, RequestSpec, build_client, request_body, send};
use crate::load::driver::run_closed_loop;
use crate::load::record::{ErrorKind, RequestRecord};
use crate::spec::backend::{Api, TokenSource};
use crate::spec::scenario::{BalanceMethod, Sampling};

/// A stub served in the test's runtime; stopped when dropped.
struct Running {
    base: String,
    cancel: CancellationToken,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    async fn start(cfg: StubConfig) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let cancel = CancellationToken::new();
        let done = tokio::spawn(serve(listener, cfg, cancel.clone()));
        Running {
            base,
            cancel,
            done: Some(done),
        }
    }

    fn url(&self, api: Api) -> String {
        format!("{}{}", self.base, api.path())
    }

    fn spec(&self, api: Api, body: Bytes, stream: bool) -> RequestSpec {
        RequestSpec {
            urls: vec![self.url(api)],
            balance: BalanceMethod::RoundRobin,
            bodies: vec![body],
            stream,
            timeout: Duration::from_secs(30),
            retries: 0,
            backoff: Duration::ZERO,
            headers: Default::default(),
            tag: "t".into(),
            tokens: TokenSource::Usage,
            secret: None,
            form: None,
        }
    }

    async fn send(&self, api: Api, body: Bytes, stream: bool) -> RequestRecord {
        let spec = self.spec(api, body, stream);
        {
            let t0 = Instant::now();
            send(&build_client(), &spec, t0, t0, 0, 0).await
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = build_client()
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        build_client()
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn counter(&self, name: &str) -> u64 {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200);
        read_counter(&text, name).unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    async fn stop(mut self) {
        self.cancel.cancel();
        let done = self.done.take().unwrap();
        done.await.unwrap().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn body(api: Api, prompt: &str, max_tokens: u32, stream: bool) -> Bytes {
    request_body(&BodySpec {
        api,
        prompt,
        max_tokens,
        sampling: Sampling::GREEDY,
        stream,
        model: Some("whatever"),
        messages: None,
    })
}

fn assert_ok(rec: &RequestRecord) {
    assert!(rec.ok(), "request failed: {:?}", rec.error);
}

/// The data events of an SSE body, with `id` and `created` removed.
fn normalized_events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let data = e.strip_prefix("data: ").expect("a data line");
            if data == "[DONE]" {
                return json!("[DONE]");
            }
            let mut v: Value = serde_json::from_str(data).unwrap();
            let obj = v.as_object_mut().unwrap();
            assert!(
                obj.remove("id")
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .contains("-stub-")
            );
            assert!(obj.remove("created").unwrap().is_u64());
            v
        })
        .collect()
}

#[tokio::test]
async fn streamed_answers_have_the_exact_token_count_and_usage() {
    let stub = Running::start(StubConfig::default()).await;
    for api in [Api::Chat, Api::Completions] {
        for n in [1u32, 7, 256] {
            let rec = stub
                .send(api, body(api, "one two\nthree", n, true), true)
                .await;
            assert_ok(&rec);
            assert!(rec.usage_reported, "{api:?} {n}");
            assert_eq!(rec.completion_tokens, u64::from(n), "{api:?}");
            assert_eq!(rec.prompt_tokens, Some(3));
            assert!(rec.ttft.is_some());
        }
    }
    stub.stop().await;
}

#[tokio::test]
async fn token_frames_follow_ttft_and_itl_never_early() {
    let stub = Running::start(StubConfig {
        ttft_ms: 3.0,
        itl_ms: 0.5,
        ..Default::default()
    })
    .await;
    let rec = stub
        .send(Api::Chat, body(Api::Chat, "hi", 9, true), true)
        .await;
    assert_ok(&rec);
    assert_eq!(rec.completion_tokens, 9);
    // lower bounds only: the stub never sends early
    assert!(rec.ttft.unwrap() >= Duration::from_millis(3));
    assert!(rec.e2e >= Duration::from_millis(3) + Duration::from_micros(500 * 8));
    let rec = stub
        .send(Api::Chat, body(Api::Chat, "hi", 5, false), false)
        .await;
    assert_ok(&rec);
    assert!(rec.e2e >= Duration::from_millis(3) + Duration::from_micros(500 * 4));
    stub.stop().await;
}

#[tokio::test]
async fn no_usage_chunk_unless_asked_for() {
    let stub = Running::start(StubConfig::default()).await;
    let raw =
        json!({"messages": [{"role": "user", "content": "a b"}], "max_tokens": 5, "stream": true});
    let rec = stub
        .send(Api::Chat, Bytes::from(raw.to_string()), true)
        .await;
    assert_ok(&rec);
    assert!(!rec.usage_reported);
    assert_eq!(rec.completion_tokens, 5, "content chunks counted");
    assert_eq!(rec.itl_us.len(), 4);
    let text = stub
        .post("/v1/chat/completions", raw.to_string())
        .await
        .text()
        .await
        .unwrap();
    let events = normalized_events(&text);
    assert_eq!(events.len(), 7, "5 tokens, finish, [DONE]");
    assert!(!text.contains("usage"));
    assert_eq!(events[5]["choices"][0]["finish_reason"], "length");
    stub.stop().await;
}

#[tokio::test]
async fn non_streamed_answers() {
    let stub = Running::start(StubConfig {
        model: "tiny \"m\"".into(),
        ..Default::default()
    })
    .await;
    for api in [Api::Chat, Api::Completions] {
        let rec = stub.send(api, body(api, "x y", 12, false), false).await;
        assert_ok(&rec);
        assert!(rec.usage_reported);
        assert_eq!((rec.completion_tokens, rec.prompt_tokens), (12, Some(2)));
        assert!(rec.ttft.is_none());
    }
    let v: Value = stub
        .post("/v1/chat/completions", body(Api::Chat, "x", 3, false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "tok tok tok ");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["model"], "tiny \"m\"");
    assert_eq!(v["object"], "chat.completion");
    let v: Value = stub
        .post("/v1/completions", body(Api::Completions, "x", 2, false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["text"], "tok tok ");
    assert_eq!(v["usage"]["total_tokens"], 3);
    stub.stop().await;
}

#[tokio::test]
async fn default_tokens_and_cap() {
    let stub = Running::start(StubConfig {
        tokens: 11,
        max_tokens_cap: Some(20),
        ..Default::default()
    })
    .await;
    let raw = json!({"prompt": "p", "stream": true, "stream_options": {"include_usage": true}});
    let rec = stub
        .send(Api::Completions, Bytes::from(raw.to_string()), true)
        .await;
    assert_ok(&rec);
    assert_eq!(rec.completion_tokens, 11, "--tokens without max_tokens");
    let rec = stub
        .send(Api::Chat, body(Api::Chat, "p", 100, true), true)
        .await;
    assert_eq!(rec.completion_tokens, 20, "capped");
    let raw = json!({"messages": [], "max_completion_tokens": 4, "max_tokens": 9});
    let rec = stub
        .send(Api::Chat, Bytes::from(raw.to_string()), false)
        .await;
    assert_eq!((rec.completion_tokens, rec.prompt_tokens), (4, Some(0)));
    stub.stop().await;
}

#[tokio::test]
async fn error_rate_one_fails_every_request_with_5xx() {
    for status in [500u16, 503] {
        let stub = Running::start(StubConfig {
            error_rate: 1.0,
            error_status: status,
            ..Default::default()
        })
        .await;
        for _ in 0..20 {
            let rec = stub
                .send(Api::Chat, body(Api::Chat, "a", 4, true), true)
                .await;
            let (kind, detail) = rec.error.expect("an error");
            assert_eq!(kind, ErrorKind::Http5xx);
            assert!(detail.starts_with(&format!("HTTP {status}")), "{detail}");
            assert!(detail.contains("injected error"), "{detail}");
        }
        let r = stub
            .post("/v1/completions", body(Api::Completions, "a", 4, false))
            .await;
        assert_eq!(r.status().as_u16(), status);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "server_error");
        assert_eq!(stub.counter("stub_errors_total").await, 21);
        assert_eq!(stub.counter("stub_generated_tokens_total").await, 0);
        stub.stop().await;
    }
}

/// Failures among `total` requests sent with 8 in flight.
async fn failures(cfg: StubConfig, total: u64) -> (usize, u64) {
    let stub = Running::start(cfg).await;
    let spec = Arc::new(stub.spec(Api::Chat, body(Api::Chat, "a", 4, true), true));
    let load = run_closed_loop(
        &build_client(),
        spec,
        8,
        total,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(load.records.len() as u64, total);
    let failed: Vec<_> = load.records.iter().filter(|r| !r.ok()).collect();
    assert!(
        failed
            .iter()
            .all(|r| r.error.as_ref().unwrap().0 == ErrorKind::Http5xx)
    );
    let served_errors = stub.counter("stub_errors_total").await;
    stub.stop().await;
    (failed.len(), served_errors)
}

#[tokio::test]
async fn error_rate_is_seeded_and_reproducible() {
    let cfg = StubConfig {
        error_rate: 0.25,
        seed: 42,
        ..Default::default()
    };
    let (first, served) = failures(cfg.clone(), 400).await;
    assert!((60..=140).contains(&first), "{first} failures of 400");
    assert_eq!(served, first as u64);
    let (again, _) = failures(cfg.clone(), 400).await;
    assert_eq!(again, first, "same seed, same count");
    let (other, _) = failures(StubConfig { seed: 43, ..cfg }, 400).await;
    assert!((60..=140).contains(&other), "{other} failures of 400");
}

#[tokio::test]
async fn metrics_count_what_was_served() {
    let stub = Running::start(StubConfig::default()).await;
    for _ in 0..3 {
        assert_ok(
            &stub
                .send(Api::Chat, body(Api::Chat, "a b", 5, true), true)
                .await,
        );
    }
    for _ in 0..2 {
        let rec = stub
            .send(
                Api::Completions,
                body(Api::Completions, "x", 3, false),
                false,
            )
            .await;
        assert_ok(&rec);
    }
    let bad = stub
        .send(Api::Chat, Bytes::from_static(b"{oops"), true)
        .await;
    assert_eq!(bad.error.unwrap().0, ErrorKind::Http4xx);
    // routes that are not completions are not counted
    assert_eq!(stub.get("/health").await.0, 200);
    assert_eq!(stub.get("/nope").await.0, 404);
    let (_, text) = stub.get("/metrics").await;
    for name in [
        "stub_requests_total",
        "stub_errors_total",
        "stub_generated_tokens_total",
        "stub_prompt_tokens_total",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{text}");
        assert!(text.contains(&format!("# TYPE {name} counter\n")), "{text}");
    }
    assert_eq!(read_counter(&text, "stub_requests_total"), Some(6));
    assert_eq!(read_counter(&text, "stub_errors_total"), Some(1));
    assert_eq!(read_counter(&text, "stub_generated_tokens_total"), Some(21));
    assert_eq!(read_counter(&text, "stub_prompt_tokens_total"), Some(8));
    stub.stop().await;
}

#[tokio::test]
async fn health_models_and_404() {
    let stub = Running::start(StubConfig {
        model: "m1".into(),
        ..Default::default()
    })
    .await;
    let (status, text) = stub.get("/health").await;
    assert_eq!((status, text.as_str()), (200, "{\"status\":\"ok\"}"));
    let (status, text) = stub.get("/v1/models").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"][0]["id"], "m1");
    assert_eq!(v["object"], "list");
    for path in ["/", "/v1/chat", "/v1/chat/completions", "/health/x"] {
        let (status, text) = stub.get(path).await;
        assert_eq!(status, 404, "{path}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains(path));
    }
    assert_eq!(stub.post("/health", "{}").await.status().as_u16(), 404);
    stub.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_with_an_openai_error() {
    let stub = Running::start(StubConfig::default()).await;
    for bad in [
        "not json",
        "{\"stream\": \"yes\"}",
        "{\"max_tokens\": -3}",
        "",
    ] {
        let r = stub.post("/v1/chat/completions", bad).await;
        assert_eq!(r.status().as_u16(), 400, "{bad}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid JSON body")
        );
    }
    stub.stop().await;
}

#[tokio::test]
async fn burst_body_is_the_token_by_token_body_in_one_write() {
    let token_by_token = Running::start(StubConfig::default()).await;
    let burst = Running::start(StubConfig {
        burst: true,
        itl_ms: 5.0,
        ..Default::default()
    })
    .await;
    for api in [Api::Chat, Api::Completions] {
        let path = api.path();
        let req = body(api, "a b c", 64, true);
        let a = token_by_token.post(path, req.clone()).await;
        assert!(a.headers().get("content-length").is_none(), "chunked");
        assert_eq!(a.headers()["content-type"], "text/event-stream");
        let b = burst.post(path, req.clone()).await;
        assert!(
            b.headers().get("content-length").is_some(),
            "one known-length body"
        );
        let (a, b) = (a.text().await.unwrap(), b.text().await.unwrap());
        assert_eq!(a.len(), b.len());
        let (ea, eb) = (normalized_events(&a), normalized_events(&b));
        assert_eq!(ea.len(), 64 + 3);
        assert_eq!(ea, eb);
        let rec = burst.send(api, req, true).await;
        assert_ok(&rec);
        assert_eq!(rec.completion_tokens, 64);
    }
    token_by_token.stop().await;
    burst.stop().await;
}

#[tokio::test]
async fn many_concurrent_keep_alive_requests() {
    for burst in [false, true] {
        let stub = Running::start(StubConfig {
            burst,
            ..Default::default()
        })
        .await;
        let spec = Arc::new(stub.spec(Api::Chat, body(Api::Chat, "a", 32, true), true));
        let load = run_closed_loop(
            &build_client(),
            spec,
            32,
            500,
            &CancellationToken::new(),
            |_| {},
        )
        .await;
        assert_eq!(load.records.len(), 500);
        assert!(
            load.records
                .iter()
                .all(|r| r.ok() && r.completion_tokens == 32)
        );
        assert_eq!(stub.counter("stub_requests_total").await, 500);
        stub.stop().await;
    }
}

#[tokio::test]
async fn a_bad_config_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = serve(
        listener,
        StubConfig {
            error_rate: 2.0,
            ..Default::default()
        },
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn hang_accepts_and_never_answers_but_health_does() {
    let stub = Running::start(StubConfig {
        hang: true,
        ..Default::default()
    })
    .await;
    assert_eq!(stub.get("/health").await.0, 200, "ready by its health");
    let mut spec = stub.spec(Api::Chat, body(Api::Chat, "hi", 4, true), true);
    spec.timeout = Duration::from_millis(300);
    let t0 = Instant::now();
    let rec = send(&build_client(), &spec, t0, t0, 0, 0).await;
    assert_eq!(rec.error.as_ref().unwrap().0, ErrorKind::Timeout, "{rec:?}");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(stub.counter("stub_requests_total").await, 1);
    // a hung connection does not keep the stub from stopping
    tokio::time::timeout(Duration::from_secs(5), stub.stop())
        .await
        .expect("stopped");
}

#[tokio::test]
async fn never_ready_answers_everything_503() {
    let stub = Running::start(StubConfig {
        never_ready: true,
        ..Default::default()
    })
    .await;
    let (status, text) = stub.get("/health").await;
    assert_eq!(status, 503);
    assert!(text.contains("never-ready"), "{text}");
    let resp = stub
        .post("/v1/chat/completions", body(Api::Chat, "hi", 4, false))
        .await;
    assert_eq!(resp.status().as_u16(), 503);
    stub.stop().await;
}

#[tokio::test]
async fn transcriptions_take_duration_over_rtf_and_images_are_counted() {
    use crate::load::client::FormSpec;
    use crate::media::{audio, image, multipart};
    let stub = Running::start(StubConfig {
        port: 0,
        audio_rtf: 10.0,
        image_delay_ms: 30.0,
        ..Default::default()
    })
    .await;
    let fields = multipart::TranscriptionFields {
        model: None,
        language: "en".into(),
        response_format: "verbose_json".into(),
        temperature: 0.0,
    };
    let (ct, form) = multipart::transcription_body(&audio::synthetic_clip(2.0, 1), &fields);
    let mut spec = stub.spec(Api::Transcriptions, form, false);
    spec.tokens = TokenSource::None;
    spec.form = Some(FormSpec {
        content_type: reqwest::header::HeaderValue::from_str(&ct).unwrap(),
        audio_seconds: vec![2.0],
        response_format: "verbose_json".into(),
    });
    let t0 = Instant::now();
    let rec = send(&build_client(), &spec, t0, t0, 0, 0).await;
    assert!(rec.ok(), "{:?}", rec.error);
    assert_eq!(rec.audio_seconds, Some(2.0));
    // 2 s of audio at 10x real time: at least 200 ms
    assert!(rec.e2e >= Duration::from_millis(200), "{:?}", rec.e2e);
    assert_eq!(stub.counter("stub_requests_total").await, 1);
    let (_, metrics) = stub.get("/metrics").await;
    assert!(
        metrics.contains("stub_audio_seconds_total 2\n"),
        "{metrics}"
    );

    // a form without a WAV file is a 400 the client records as http_4xx
    let (ct, bad) = multipart::transcription_body(
        &audio::Clip {
            name: "x.wav".into(),
            bytes: b"not audio".to_vec(),
            seconds: 1.0,
        },
        &fields,
    );
    let mut spec = stub.spec(Api::Transcriptions, bad, false);
    spec.form = Some(FormSpec {
        content_type: reqwest::header::HeaderValue::from_str(&ct).unwrap(),
        audio_seconds: vec![1.0],
        response_format: "json".into(),
    });
    let rec = send(&build_client(), &spec, t0, t0, 1, 0).await;
    assert_eq!(rec.error.map(|e| e.0), Some(ErrorKind::Http4xx));

    // two images delay the first token by 2 x 30 ms and are counted
    let url = image::data_url("image/png", b"png");
    let messages = image::attach_images(
        &json!([{"role": "user", "content": "hi"}]),
        &[url.clone(), url],
    );
    let b = request_body(&BodySpec {
        api: Api::Chat,
        prompt: "hi",
        max_tokens: 2,
        sampling: Sampling::GREEDY,
        stream: true,
        model: None,
        messages: Some(&messages),
    });
    let rec = stub.send(Api::Chat, b, true).await;
    assert!(rec.ok(), "{:?}", rec.error);
    assert!(
        rec.ttft.unwrap() >= Duration::from_millis(60),
        "{:?}",
        rec.ttft
    );
    assert_eq!(stub.counter("stub_images_total").await, 2);
    stub.stop().await;
}

#[test]
fn drawn_ttfts_have_the_mean_and_median_asked_for() {
    let cfg = StubConfig {
        ttft_ms: 100.0,
        ttft_sd_ms: 50.0,
        seed: 3,
        ..StubConfig::default()
    };
    let stub = super::handler::Stub::new(&cfg).unwrap();
    let mut v: Vec<f64> = (0..20_000)
        .map(|_| stub.next_ttft().as_secs_f64() * 1000.0)
        .collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    let (mu, _) = super::lognormal_params(100.0, 50.0);
    assert!((mean - 100.0).abs() < 2.0, "mean {mean}");
    assert!(
        (median - mu.exp()).abs() < 2.0,
        "median {median} vs {}",
        mu.exp()
    );
    assert!(median < mean, "a log-normal's median is below its mean");
    // the same seed draws the same delays; a fixed TTFT is not drawn
    let again = super::handler::Stub::new(&cfg).unwrap();
    let first = again.next_ttft().as_secs_f64() * 1000.0;
    let replay = super::handler::Stub::new(&cfg).unwrap();
    assert_eq!(first, replay.next_ttft().as_secs_f64() * 1000.0);
    let fixed = super::handler::Stub::new(&StubConfig {
        ttft_ms: 100.0,
        ..StubConfig::default()
    })
    .unwrap();
    assert_eq!(fixed.next_ttft(), Duration::from_millis(100));
}

#[test]
fn a_spread_needs_a_ttft() {
    let e = StubConfig {
        ttft_sd_ms: 10.0,
        ..StubConfig::default()
    }
    .check()
    .unwrap_err();
    assert!(e.contains("--ttft-ms above 0"), "{e}");
    let (mu, sigma) = super::lognormal_params(100.0, 50.0);
    // mean e^(mu + sigma²/2) = 100, sd² = (e^(sigma²) − 1) · mean²
    assert!(((mu + sigma * sigma / 2.0).exp() - 100.0).abs() < 1e-9);
    assert!((((sigma * sigma).exp() - 1.0) * 10_000.0 - 2_500.0).abs() < 1e-6);
}

#[test]
fn the_first_requests_of_each_shape_are_cold() {
    let stub = super::handler::Stub::new(&StubConfig {
        cold_ms: 500.0,
        cold_requests: 2,
        ..StubConfig::default()
    })
    .unwrap();
    let cold = Duration::from_millis(500);
    let delays: Vec<Duration> = [64, 64, 64, 128, 64, 128, 128]
        .iter()
        .map(|shape| stub.cold_delay(*shape))
        .collect();
    let z = Duration::ZERO;
    assert_eq!(delays, [cold, cold, z, cold, z, cold, z]);
    let warm = super::handler::Stub::new(&StubConfig::default()).unwrap();
    assert_eq!(warm.cold_delay(64), z);
}

#[test]
fn requests_beyond_the_slots_wait_in_order_for_the_first_free_one() {
    let stub = super::handler::Stub::new(&StubConfig {
        slots: 2,
        ..StubConfig::default()
    })
    .unwrap();
    let t0 = std::time::Instant::now() + Duration::from_secs(1);
    let busy = Duration::from_millis(100);
    let starts: Vec<Duration> = (0..5).map(|_| stub.take_slot(t0, busy) - t0).collect();
    let ms = Duration::from_millis;
    // two at once, then each waits for the slot that frees first
    assert_eq!(starts, [ms(0), ms(0), ms(100), ms(100), ms(200)]);
    // a request after the queue has drained starts at once
    let later = t0 + ms(1000);
    assert_eq!(stub.take_slot(later, busy), later);
    // without --slots nothing waits
    let free = super::handler::Stub::new(&StubConfig::default()).unwrap();
    assert!((0..5).all(|_| free.take_slot(t0, busy) == t0));
}
