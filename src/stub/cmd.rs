//! The `mlxrun stub-server` command: bind, print `listening on
//! http://HOST:PORT` as the first stdout line (flushed, so a parent can
//! read the port chosen for `--port 0`), serve until SIGINT or SIGTERM,
//! exit 0.

use std::io::Write;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::{StubConfig, serve};
use crate::error::{EXIT_OK, SetupError, UsageError};

/// Run the stub until a signal; returns the exit code.
pub async fn run(cfg: StubConfig) -> anyhow::Result<i32> {
    cfg.check().map_err(UsageError)?;
    let listener = TcpListener::bind((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| SetupError(format!("cannot listen on {}:{}: {e}", cfg.host, cfg.port)))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    let cancel = CancellationToken::new();
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let stop = cancel.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "interrupt",
            _ = term.recv() => "terminate",
        };
        eprintln!("stub-server: {name} received, stopping");
        stop.cancel();
    });
    serve(listener, cfg, cancel).await?;
    Ok(EXIT_OK)
}
