//! The closed-loop load driver: `concurrency` workers each keep one request
//! in flight until the point's requests are used up. Workers send records
//! over a channel to one collector (no shared lock on the hot path); a
//! cancelled token stops the load and keeps what finished.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{RequestSpec, send};
use super::record::RequestRecord;

/// What a point's load produced.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Finished requests, in completion order.
    pub records: Vec<RequestRecord>,
    /// First send to last completion.
    pub wall: Duration,
    /// The load was stopped by cancellation before all requests finished.
    pub interrupted: bool,
}

/// Send `total` requests with `concurrency` in flight. `on_record` sees each
/// finished request (for progress).
pub async fn run_closed_loop(
    client: &reqwest::Client,
    spec: Arc<RequestSpec>,
    concurrency: u32,
    total: u64,
    cancel: &CancellationToken,
    mut on_record: impl FnMut(&RequestRecord),
) -> LoadResult {
    let workers = u64::from(concurrency.max(1)).min(total);
    let issued = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<RequestRecord>();
    let start = Instant::now();
    let stop = cancel.child_token();
    let mut handles = Vec::with_capacity(workers as usize);
    for _ in 0..workers {
        let client = client.clone();
        let spec = spec.clone();
        let issued = issued.clone();
        let tx = tx.clone();
        let stop = stop.clone();
        handles.push(tokio::spawn(async move {
            while issued.fetch_add(1, Ordering::Relaxed) < total {
                let rec = tokio::select! {
                    r = send(&client, &spec, start) => r,
                    _ = stop.cancelled() => return,
                };
                if tx.send(rec).is_err() {
                    return;
                }
            }
        }));
    }
    drop(tx);
    let mut result = LoadResult {
        records: Vec::with_capacity(total as usize),
        ..Default::default()
    };
    let mut last_end = start;
    while let Some(rec) = rx.recv().await {
        last_end = Instant::now();
        on_record(&rec);
        result.records.push(rec);
    }
    for h in handles {
        let _ = h.await;
    }
    result.wall = last_end.saturating_duration_since(start);
    result.interrupted = cancel.is_cancelled() && (result.records.len() as u64) < total;
    result
}
