//! Readiness: a server is ready when a real request succeeds: a 1-token
//! completion, or a 1-second transcription for speech backends (mlx_lm.server's `/health` answers before the model is
//! loaded, so it proves nothing there), or `GET /health` for backends whose
//! health endpoint waits for the model (llama.cpp, vLLM, SGLang), as the
//! backend definition says.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;

use super::ServerError;
use super::process::ManagedProcess;

/// How readiness is checked.
#[derive(Clone)]
pub enum Probe {
    /// `POST path` with `body` (a 1-token completion) answers 2xx.
    Completion {
        path: String,
        body: Bytes,
        /// `application/json`, or the multipart type of a transcription form.
        content_type: String,
        headers: HeaderMap,
    },
    /// `GET path` answers 2xx.
    Health { path: String, headers: HeaderMap },
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Completion { path, .. } => write!(f, "Completion({path})"),
            Probe::Health { path, .. } => write!(f, "Health({path})"),
        }
    }
}

impl Probe {
    /// Send the probe once to `base_url` (`http://host:port`): `Ok` when it
    /// answers 2xx, else why not.
    pub async fn once(
        &self,
        client: &reqwest::Client,
        base_url: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let request = match self {
            Probe::Completion {
                path,
                body,
                content_type,
                headers,
            } => client
                .post(format!("{base_url}{path}"))
                .header("content-type", content_type.as_str())
                .headers(headers.clone())
                .body(body.clone()),
            Probe::Health { path, headers } => client
                .get(format!("{base_url}{path}"))
                .headers(headers.clone()),
        };
        match request.timeout(timeout).send().await {
            Ok(r) if r.status().is_success() => {
                // drain the body so the connection ends cleanly
                let _ = r.bytes().await;
                Ok(())
            }
            Ok(r) => Err(format!("last probe answered HTTP {}", r.status().as_u16())),
            Err(e) if e.is_connect() => Err("port never answered".into()),
            Err(e) => Err(format!("last probe failed: {e}")),
        }
    }
}

/// Wait until the server at `base_url` (`http://host:port`) passes `probe`.
/// `proc` is the process behind it, when mlxrun started it (its exit ends
/// the wait early, and its log tail goes into the error). Returns how long
/// it took.
#[allow(clippy::too_many_arguments)]
pub async fn wait_ready(
    client: &reqwest::Client,
    mut proc: Option<&mut ManagedProcess>,
    name: &str,
    base_url: &str,
    probe: &Probe,
    timeout: Duration,
    cancel: &CancellationToken,
    hint: &str,
) -> Result<Duration, ServerError> {
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let mut last = String::from("never answered");
    loop {
        if cancel.is_cancelled() {
            return Err(ServerError::Interrupted);
        }
        if let Some(p) = proc.as_deref_mut()
            && let Some(status) = p.exited()
        {
            return Err(not_ready(
                Some(p),
                name,
                base_url,
                format!("exited while starting ({status})"),
                hint,
            ));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(not_ready(
                proc.as_deref(),
                name,
                base_url,
                format!(
                    "did not become ready within {:.0} s ({last})",
                    timeout.as_secs_f64()
                ),
                hint,
            ));
        }
        let remaining = deadline.saturating_duration_since(now);
        match probe
            .once(client, base_url, remaining.max(Duration::from_millis(100)))
            .await
        {
            Ok(()) => return Ok(started.elapsed()),
            Err(why) => last = why,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = cancel.cancelled() => return Err(ServerError::Interrupted),
        }
    }
}

/// `host:port`, with brackets for IPv6 literals.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn not_ready(
    proc: Option<&ManagedProcess>,
    name: &str,
    at: &str,
    reason: String,
    hint: &str,
) -> ServerError {
    let (tail, log) = match proc {
        Some(p) => (indent(&p.log_tail(20)), p.log_path().display().to_string()),
        None => (
            "    (an external endpoint: mlxrun did not start it and has no log)".into(),
            "-".into(),
        ),
    };
    ServerError::NotReady(Box::new(super::NotReady {
        name: name.to_string(),
        at: at.to_string(),
        reason,
        tail,
        log,
        hint: hint.to_string(),
    }))
}

fn indent(s: &str) -> String {
    if s.trim().is_empty() {
        return "    (log is empty)".into();
    }
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
