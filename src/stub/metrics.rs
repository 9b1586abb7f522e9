//! The stub's counters and their Prometheus text rendering (`GET /metrics`).
//!
//! - `stub_requests_total`: completion requests received (both endpoints,
//!   failed ones included).
//! - `stub_errors_total`: those answered with an error (injected by
//!   `--error-rate`, or 400 for a malformed body).
//! - `stub_generated_tokens_total`, `stub_prompt_tokens_total`: completion
//!   and estimated prompt tokens of the successful answers, counted when the
//!   answer starts.
//! - `stub_images_total`: images in the successful chat requests.
//! - `stub_audio_seconds_total`: audio seconds of the successful
//!   transcription requests (whole milliseconds counted).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by every connection.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub generated_tokens: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub images: AtomicU64,
    /// Audio milliseconds transcribed.
    pub audio_ms: AtomicU64,
}

/// One reading of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub requests: u64,
    pub errors: u64,
    pub generated_tokens: u64,
    pub prompt_tokens: u64,
    pub images: u64,
    pub audio_ms: u64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            generated_tokens: self.generated_tokens.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            images: self.images.load(Ordering::Relaxed),
            audio_ms: self.audio_ms.load(Ordering::Relaxed),
        }
    }

    /// The Prometheus text exposition of every counter.
    pub fn prometheus(&self) -> String {
        let s = self.snapshot();
        let mut out = String::with_capacity(640);
        for (name, help, value) in [
            (
                "stub_requests_total",
                "Completion requests received.",
                s.requests,
            ),
            (
                "stub_errors_total",
                "Completion requests answered with an error.",
                s.errors,
            ),
            (
                "stub_generated_tokens_total",
                "Completion tokens of successful answers.",
                s.generated_tokens,
            ),
            (
                "stub_prompt_tokens_total",
                "Estimated prompt tokens of successful answers.",
                s.prompt_tokens,
            ),
        ] {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            );
        }
        let _ = write!(
            out,
            "# HELP stub_images_total Images in successful chat requests.\n# TYPE stub_images_total counter\nstub_images_total {}\n",
            s.images
        );
        let _ = write!(
            out,
            "# HELP stub_audio_seconds_total Audio seconds of successful transcriptions.\n# TYPE stub_audio_seconds_total counter\nstub_audio_seconds_total {}\n",
            s.audio_ms as f64 / 1000.0
        );
        out
    }
}

/// The value of `name` in a Prometheus text exposition (for tests and
/// callers that scrape the stub).
pub fn read_counter(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_help_type_and_values() {
        let c = Counters::default();
        Counters::add(&c.requests, 3);
        Counters::add(&c.generated_tokens, 12);
        let text = c.prometheus();
        assert!(text.contains("# HELP stub_requests_total "));
        assert!(text.contains("# TYPE stub_errors_total counter\n"));
        assert_eq!(read_counter(&text, "stub_requests_total"), Some(3));
        assert_eq!(read_counter(&text, "stub_errors_total"), Some(0));
        assert_eq!(read_counter(&text, "stub_generated_tokens_total"), Some(12));
        assert_eq!(read_counter(&text, "stub_prompt_tokens"), None);
        assert!(text.ends_with('\n'));
    }
}
