//! Readiness: a server is ready when its port answers and then a real
//! 1-token chat completion succeeds (`/health` of mlx_lm.server answers
//! before the model is loaded, so it proves nothing).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::ServerError;
use super::process::ManagedProcess;

/// The body of the readiness probe.
pub const PROBE_BODY: &str = r#"{"messages":[{"role":"user","content":"ping"}],"max_tokens":1,"temperature":0.0,"stream":false}"#;

/// Wait until `proc` serves a 1-token completion at `host:port`.
/// Returns how long it took.
pub async fn wait_ready(
    client: &reqwest::Client,
    proc: &mut ManagedProcess,
    host: &str,
    port: u16,
    timeout: Duration,
    cancel: &CancellationToken,
    hint: &str,
) -> Result<Duration, ServerError> {
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let url = format!("http://{}/v1/chat/completions", host_port(host, port));
    let mut last = String::from("port never answered");
    loop {
        if cancel.is_cancelled() {
            return Err(ServerError::Interrupted);
        }
        if let Some(status) = proc.exited() {
            return Err(not_ready(
                proc,
                port,
                format!("exited while starting ({status})"),
                hint,
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(not_ready(
                proc,
                port,
                format!(
                    "did not become ready within {:.0} s ({last})",
                    timeout.as_secs_f64()
                ),
                hint,
            ));
        }
        let connect = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((host, port)),
        )
        .await;
        if matches!(connect, Ok(Ok(_))) {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .body(PROBE_BODY)
                .timeout(remaining.max(Duration::from_millis(100)))
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    // drain the body so the connection ends cleanly
                    let _ = r.bytes().await;
                    return Ok(started.elapsed());
                }
                Ok(r) => last = format!("last probe answered HTTP {}", r.status().as_u16()),
                Err(e) => last = format!("last probe failed: {e}"),
            }
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

fn not_ready(proc: &ManagedProcess, port: u16, reason: String, hint: &str) -> ServerError {
    ServerError::NotReady {
        name: proc.name().to_string(),
        port,
        reason,
        tail: indent(&proc.log_tail(20)),
        log: proc.log_path().display().to_string(),
        hint: hint.to_string(),
    }
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
