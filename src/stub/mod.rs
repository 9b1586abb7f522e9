//! `mlxrun stub-server`: a zero-latency OpenAI-compatible server for tests,
//! demos, calibration and client benchmarks, cheap enough that whatever
//! drives it is what gets measured. hyper 1.x HTTP/1.1 with keep-alive, no
//! framework.
//!
//! - [`request`]: the fields read from a request body, and the
//!   prompt-token estimate.
//! - [`render`]: the response bytes, built from constant pieces.
//! - [`body`]: one-frame and token-by-token response bodies on the
//!   [`crate::timer`] clock.
//! - [`handler`]: routing and answering a request (delays, error
//!   injection, token counts).
//! - [`transcribe`]: `POST /v1/audio/transcriptions` (multipart form,
//!   WAV duration, latency = duration / `--audio-rtf`).
//! - [`metrics`]: counters and `GET /metrics`.
//! - [`cmd`]: the command itself (bind, print the address, serve until a
//!   signal).
//!
//! Faults for tests of what a run survives: `--exit-after N` (a crash
//! mid-point), `--hang` (accepts, never answers), `--never-ready` (503 to
//! everything, forever).

pub mod body;
pub mod cmd;
pub mod handler;
pub mod metrics;
pub mod render;
pub mod request;
pub mod transcribe;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::spec::units::Millis;
use handler::Stub;

/// What the stub answers, and how fast (also the `stub-server` flags).
#[derive(Debug, Clone, PartialEq, Args)]
pub struct StubConfig {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 = a free one; the first stdout line names it).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Delay before the first token, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = non_negative)]
    pub ttft_ms: f64,
    /// Spread of the delay before the first token, in milliseconds: with
    /// S > 0 each request's delay is drawn (seeded by --seed) from a
    /// log-normal distribution of mean --ttft-ms and standard deviation S,
    /// so its mean and median are known (0 = every request waits --ttft-ms).
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = non_negative)]
    pub ttft_sd_ms: f64,
    /// Delay between tokens, in milliseconds (ignored with --burst).
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = non_negative)]
    pub itl_ms: f64,
    /// Output tokens when a request sets neither max_tokens nor max_completion_tokens.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub tokens: u64,
    /// At most this many output tokens, whatever a request asks for.
    #[arg(long, value_name = "N")]
    pub max_tokens_cap: Option<u64>,
    /// Send each streamed response whole, as one write, after the TTFT.
    #[arg(long)]
    pub burst: bool,
    /// Share of completion requests answered with --error-status (0 to 1).
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = share)]
    pub error_rate: f64,
    /// HTTP status of the injected errors.
    #[arg(long, value_name = "CODE", default_value_t = 500,
          value_parser = clap::value_parser!(u16).range(400..600))]
    pub error_status: u16,
    /// Seed of the error draws (the same seed fails the same requests, by arrival order).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model name echoed in responses and listed by /v1/models.
    #[arg(long, default_value = "stub")]
    pub model: String,
    /// Fault: answer this many completion requests, then exit (status 3) as
    /// the next one arrives, as a crashing server would.
    #[arg(long, value_name = "N")]
    pub exit_after: Option<u64>,
    /// Fault: accept completion requests and never answer them (other
    /// routes still answer, so `GET /health` says ready).
    #[arg(long)]
    pub hang: bool,
    /// Fault: listen, but answer every request 503 "loading", as a server
    /// that never finishes loading its model.
    #[arg(long)]
    pub never_ready: bool,
    /// Transcriptions: seconds of audio per second of processing; a clip of
    /// D seconds is answered after D / F seconds (0 = at once).
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = non_negative_f)]
    pub audio_rtf: f64,
    /// Vision: extra delay before the first token per image in the request.
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = non_negative)]
    pub image_delay_ms: f64,
    /// Cold start per request shape: the first --cold-requests completion
    /// requests of each max_tokens value wait this much longer before their
    /// first token, as a server compiling kernels for a new shape.
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = non_negative)]
    pub cold_ms: f64,
    /// How many requests of a new shape are cold (with --cold-ms).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub cold_requests: u64,
    /// Completions generated at once at most, as a server's batch: a
    /// request beyond them waits in order for the first slot to free, so
    /// throughput rises with concurrency up to N streams and stays there
    /// (0 = no limit).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub slots: usize,
}

impl Default for StubConfig {
    fn default() -> Self {
        StubConfig {
            host: "127.0.0.1".into(),
            port: 8000,
            ttft_ms: 0.0,
            ttft_sd_ms: 0.0,
            itl_ms: 0.0,
            tokens: 128,
            max_tokens_cap: None,
            burst: false,
            error_rate: 0.0,
            error_status: 500,
            seed: 0,
            model: "stub".into(),
            exit_after: None,
            hang: false,
            never_ready: false,
            audio_rtf: 0.0,
            image_delay_ms: 0.0,
            cold_ms: 0.0,
            cold_requests: 4,
            slots: 0,
        }
    }
}

/// A delay flag: milliseconds from 0 to 30 days (`spec::units::Millis`).
fn non_negative(s: &str) -> Result<f64, String> {
    s.parse::<Millis>().map(Millis::get)
}

fn non_negative_f(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number >= 0")),
    }
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a share between 0 and 1")),
    }
}

impl StubConfig {
    /// Refuse values the flags' parsers would refuse.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("ttft_ms", self.ttft_ms),
            ("ttft_sd_ms", self.ttft_sd_ms),
            ("itl_ms", self.itl_ms),
            ("audio_rtf", self.audio_rtf),
            ("image_delay_ms", self.image_delay_ms),
            ("cold_ms", self.cold_ms),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a number >= 0, not {v}"));
            }
            if name.ends_with("_ms") {
                Millis::new(v).map_err(|e| format!("{name}: {e}"))?;
            }
        }
        if self.ttft_sd_ms > 0.0 && self.ttft_ms <= 0.0 {
            return Err("ttft_sd_ms spreads ttft_ms: give --ttft-ms above 0 too".into());
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must be between 0 and 1, not {}",
                self.error_rate
            ));
        }
        if !(400..600).contains(&self.error_status) {
            return Err(format!(
                "error_status must be an HTTP error status (400-599), not {}",
                self.error_status
            ));
        }
        Ok(())
    }
}

/// Serve on `listener` until `cancel` fires; then stop accepting and close
/// every connection (in-flight responses are cut). Errors only on a bad
/// config; accept errors (too many open files, ...) are reported on stderr
/// and retried.
pub async fn serve(
    listener: TcpListener,
    cfg: StubConfig,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let stub = Arc::new(
        Stub::new(&cfg).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
    );
    let mut http = http1::Builder::new();
    http.keep_alive(true);
    let mut conns = JoinSet::new();
    loop {
        let stream = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("stub-server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let stub = Arc::clone(&stub);
        let service = service_fn(move |req| {
            let stub = Arc::clone(&stub);
            async move { Ok::<_, Infallible>(stub.handle(req).await) }
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        conns.spawn(async move {
            // a client that goes away mid-response is not the stub's problem
            let _ = conn.await;
        });
    }
    conns.shutdown().await;
    Ok(())
}

/// The log-normal distribution with mean `mean` and standard deviation
/// `sd` (both > 0): `(mu, sigma)` of the underlying normal, where
/// `sigma² = ln(1 + sd²/mean²)` and `mu = ln(mean) − sigma²/2`. Its median
/// is `e^mu`.
pub fn lognormal_params(mean: f64, sd: f64) -> (f64, f64) {
    let var = (1.0 + (sd / mean).powi(2)).ln();
    (mean.ln() - var / 2.0, var.sqrt())
}

#[cfg(test)]
mod tests;
