//! The closed-loop load driver: `concurrency` workers each keep one request
//! in flight until the point's requests are used up. With several target
//! URLs (the client router) each request goes to the next instance in turn
//! (`round_robin`) or to the one with the fewest requests in flight
//! (`least_conn`). Workers send records over a channel to one collector (no
//! shared lock on the hot path); a cancelled token stops the load and keeps
//! what finished.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{RequestSpec, send};
use super::record::RequestRecord;
use crate::scenario::model::BalanceMethod;

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

/// Picks the target of each request and tracks what is in flight.
#[derive(Debug)]
pub struct Balancer {
    method: BalanceMethod,
    in_flight: Vec<AtomicU32>,
}

impl Balancer {
    pub fn new(method: BalanceMethod, targets: usize) -> Balancer {
        Balancer {
            method,
            in_flight: (0..targets.max(1)).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// The target of request `seq`; the caller must [`Balancer::done`] it.
    pub fn pick(&self, seq: u64) -> usize {
        let n = self.in_flight.len();
        let chosen = match self.method {
            BalanceMethod::RoundRobin => (seq % n as u64) as usize,
            BalanceMethod::LeastConn => {
                // fewest in flight; ties go round-robin from `seq`
                let start = (seq % n as u64) as usize;
                (0..n)
                    .map(|k| (start + k) % n)
                    .min_by_key(|&i| self.in_flight[i].load(Ordering::Relaxed))
                    .unwrap_or(0)
            }
        };
        self.in_flight[chosen].fetch_add(1, Ordering::Relaxed);
        chosen
    }

    pub fn done(&self, target: usize) {
        self.in_flight[target].fetch_sub(1, Ordering::Relaxed);
    }
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
    let balancer = Arc::new(Balancer::new(spec.balance, spec.urls.len()));
    let (tx, mut rx) = mpsc::unbounded_channel::<RequestRecord>();
    let start = Instant::now();
    let stop = cancel.child_token();
    let mut handles = Vec::with_capacity(workers as usize);
    for _ in 0..workers {
        let client = client.clone();
        let spec = spec.clone();
        let issued = issued.clone();
        let balancer = balancer.clone();
        let tx = tx.clone();
        let stop = stop.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let seq = issued.fetch_add(1, Ordering::Relaxed);
                if seq >= total {
                    return;
                }
                let target = balancer.pick(seq);
                let rec = tokio::select! {
                    r = send(&client, &spec, start, seq, target) => r,
                    _ = stop.cancelled() => return,
                };
                balancer.done(target);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_cycles() {
        let b = Balancer::new(BalanceMethod::RoundRobin, 3);
        let picks: Vec<usize> = (0..6).map(|s| b.pick(s)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn least_conn_avoids_the_busy_instance() {
        let b = Balancer::new(BalanceMethod::LeastConn, 2);
        // instance 0 holds two requests that never finish
        assert_eq!(b.pick(0), 0);
        assert_eq!(b.pick(1), 1);
        b.done(1);
        assert_eq!(b.pick(2), 1, "1 is idle, 0 is busy");
        b.done(1);
        assert_eq!(b.pick(3), 1);
        b.done(1);
        assert_eq!(b.pick(4), 1);
        // round robin would have sent seq 2 and 4 to instance 0
    }
}
