//! The load driver. A point is closed loop (`concurrency` workers each keep
//! one request in flight, the next sent as soon as one finishes) or open
//! loop (a dispatcher sends requests on a seeded arrival schedule, with an
//! optional cap on what is in flight; a request that must wait for a slot
//! still counts its latency from its scheduled time). A point is bounded by
//! a request count or by time, with unmeasured warmup and cooldown requests
//! around the measured ones; the cooldown keeps the load steady while the
//! last measured requests finish and is cut off when they have.
//!
//! With several target URLs (the client router) each request goes to the
//! next instance in turn (`round_robin`) or to the one with the fewest
//! requests in flight (`least_conn`). Records go over a channel to one
//! collector (no shared lock on the hot path); a cancelled token stops the
//! load and keeps what finished.
//!
//! A closed-loop point bounded by a count may carry a [`StopRule`]: its
//! planned requests are then the least it measures, and it goes on (up to a
//! cap of requests and of time) until the rule finds the records so far
//! tight enough; the rule is checked as records arrive, each time the
//! measured count has grown by a fifth (at least by the concurrency).
//!
//! A point may have a deadline: when it passes, nothing more is sent and
//! every request still in flight is recorded as a timeout (so a server that
//! accepts and never answers costs a point at most its deadline, and every
//! request sent is accounted for).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::arrival::Schedule;
use super::client::{RequestSpec, send};
use super::record::{ErrorKind, RequestRecord};
use crate::spec::scenario::{ArrivalKind, BalanceMethod};
use crate::spec::units::saturating_duration;
use serde::Serialize;

/// What a point's load produced.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Finished requests, in completion order.
    pub records: Vec<RequestRecord>,
    /// First send to last completion.
    pub wall: Duration,
    /// The origin of the records' times (`sent_at`): when the load began.
    pub started: Option<std::time::Instant>,
    /// The load was stopped by cancellation before all requests finished.
    pub interrupted: bool,
    /// The point's deadline passed before its load was done.
    pub deadline_hit: bool,
    /// Requests in flight at the deadline, recorded as timeouts.
    pub cut_off: u64,
    /// With a [`StopRule`]: why measuring stopped, and how often the rule
    /// was checked.
    pub stopped_by: Option<StopReason>,
    pub stop_checks: u32,
}

/// Whether the measured records so far answer tightly enough.
pub type Tightness = Arc<dyn Fn(&[RequestRecord]) -> bool + Send + Sync>;

/// Extends a closed-loop, count-bounded point until its answer is tight.
#[derive(Clone)]
pub struct StopRule {
    /// Measured requests at most (the bound's `measured` is the least).
    pub max_measured: u64,
    /// Load time (from the point's start) after which no more measured
    /// requests are sent.
    pub max_time: Duration,
    /// Checked on every record so far (measured and not).
    pub tight: Tightness,
}

impl std::fmt::Debug for StopRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopRule")
            .field("max_measured", &self.max_measured)
            .field("max_time", &self.max_time)
            .finish_non_exhaustive()
    }
}

/// Why a point under a [`StopRule`] stopped measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The rule found the records tight enough.
    Target,
    /// `max_measured` requests were measured.
    MaxRequests,
    /// `max_time` passed.
    MaxTime,
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

/// How a point's requests are bounded and which of them are measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// `warmup`, then `measured`, then at most `cooldown` requests.
    Count {
        warmup: u64,
        measured: u64,
        cooldown: u64,
    },
    /// Requests due in `[warmup, warmup + measured)` are measured; sending
    /// goes on at most `cooldown` longer.
    Time {
        warmup: Duration,
        measured: Duration,
        cooldown: Duration,
    },
}

impl Bound {
    /// A plain count: every request measured.
    pub fn requests(n: u64) -> Bound {
        Bound::Count {
            warmup: 0,
            measured: n,
            cooldown: 0,
        }
    }

    /// Every request a count bound sends, measured or not (saturating);
    /// 0 for a time bound.
    pub fn count(&self) -> u64 {
        match *self {
            Bound::Count {
                warmup,
                measured,
                cooldown,
            } => warmup.saturating_add(measured).saturating_add(cooldown),
            Bound::Time { .. } => 0,
        }
    }

    /// The whole time a time bound sends, warmup and cooldown included
    /// (saturating); zero for a count bound.
    pub fn span(&self) -> Duration {
        match *self {
            Bound::Time {
                warmup,
                measured,
                cooldown,
            } => warmup.saturating_add(measured).saturating_add(cooldown),
            Bound::Count { .. } => Duration::ZERO,
        }
    }

    /// Whether request `seq`, due at `due` from the point's start, is sent
    /// at all (`None`: sending is over) and whether it is measured; a count
    /// bound's measured requests end before `end` (`warmup + measured`
    /// unless a stop rule moved it).
    fn classify(&self, seq: u64, due: Duration, end: u64) -> Option<bool> {
        match *self {
            Bound::Count {
                warmup, cooldown, ..
            } => (seq < end.saturating_add(cooldown)).then_some(seq >= warmup && seq < end),
            Bound::Time {
                warmup,
                measured,
                cooldown,
            } => {
                let end = warmup.saturating_add(measured);
                (due < end.saturating_add(cooldown)).then_some(due >= warmup && due < end)
            }
        }
    }

    /// Whether no request issued at `seq`/`due` or later can be measured.
    fn measured_closed(&self, seq: u64, due: Duration, end: u64) -> bool {
        match *self {
            Bound::Count { .. } => seq >= end,
            Bound::Time {
                warmup, measured, ..
            } => due >= warmup.saturating_add(measured),
        }
    }
}

/// Open-loop sending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenLoop {
    pub arrival: ArrivalKind,
    /// Requests/s; infinite = all at once.
    pub rate: f64,
    pub burstiness: f64,
    pub seed: u64,
}

/// How to load one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadPlan {
    /// Closed loop: requests in flight. Open loop: the cap, 0 = none.
    pub concurrency: u32,
    pub open: Option<OpenLoop>,
    pub bound: Bound,
    /// Longest the load may run; `None` = until its bound.
    pub deadline: Option<Duration>,
}

impl LoadPlan {
    /// A deadline no healthy point reaches: the load as if every request
    /// took the whole `request_timeout` (rounds of `concurrency` requests;
    /// twice an open loop's expected schedule; a time-bounded point's
    /// time), plus one request timeout more.
    pub fn auto_deadline(&self, request_timeout: Duration) -> Duration {
        let t = request_timeout.as_secs_f64();
        let secs = match self.bound {
            Bound::Time { .. } => self.bound.span().as_secs_f64() + 2.0 * t,
            Bound::Count { .. } => {
                let total = self.bound.count();
                let cap = u64::from(self.concurrency);
                let (rounds, span) = match self.open {
                    None => (total.div_ceil(cap.max(1)), 0.0),
                    Some(o) => (
                        if cap == 0 { 1 } else { total.div_ceil(cap) },
                        if o.rate.is_finite() && o.rate > 0.0 {
                            2.0 * total as f64 / o.rate
                        } else {
                            0.0
                        },
                    ),
                };
                span + rounds.saturating_add(1) as f64 * t
            }
        };
        saturating_duration(secs)
    }
}

/// Tracks when the last measured request has finished.
#[derive(Debug, Default)]
struct Tally {
    measured_issued: AtomicU64,
    measured_done: AtomicU64,
    closed: AtomicBool,
}

impl Tally {
    /// No more measured requests will be issued; true when all have finished.
    fn close(&self) -> bool {
        self.closed.store(true, Ordering::SeqCst);
        self.all_done()
    }

    fn all_done(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
            && self.measured_done.load(Ordering::SeqCst)
                >= self.measured_issued.load(Ordering::SeqCst)
    }
}

/// Everything the senders of one point share.
struct Shared {
    client: reqwest::Client,
    spec: Arc<RequestSpec>,
    balancer: Balancer,
    tally: Tally,
    start: Instant,
    bound: Bound,
    /// Cancelled when the point is over: stops sending and abandons the
    /// unmeasured requests still in flight.
    finish: CancellationToken,
    /// Cancelled when the point's deadline passes: stops sending and
    /// records every request in flight as a timeout.
    deadline: CancellationToken,
    /// The deadline, from `start` (for the records' detail).
    deadline_after: Duration,
    /// Requests recorded as cut off by the deadline.
    cut: AtomicU64,
    /// Sending stopped at the deadline with requests left to send.
    stopped_early: AtomicBool,
    /// Closed loop: requests issued so far (the next one's `seq`).
    issued: AtomicU64,
    /// A count bound's measured requests end before this `seq`.
    measured_end: AtomicU64,
    /// The fault [`crate::shutdown::PANIC_IN_LOAD_TASK`] names this load's
    /// point: the task of request 0 panics when its answer arrives.
    panic_in_task: bool,
}

impl Shared {
    fn end(&self) -> u64 {
        self.measured_end.load(Ordering::SeqCst)
    }

    /// No more measured requests: those issued so far are the last.
    fn stop_measuring(&self) {
        let issued = self.issued.load(Ordering::SeqCst);
        self.measured_end.fetch_min(issued, Ordering::SeqCst);
    }

    /// The record of request `seq` (sent to `target`, its latency counted
    /// from `origin`) that was in flight when the deadline passed.
    fn cut_off(&self, seq: u64, target: usize, origin: Instant) -> RequestRecord {
        self.cut.fetch_add(1, Ordering::SeqCst);
        RequestRecord {
            seq,
            instance: Some(target as u32),
            sent_at: origin.saturating_duration_since(self.start),
            e2e: origin.elapsed(),
            error: Some((
                ErrorKind::Timeout,
                format!(
                    "cut off by the point deadline ({:.1} s, run.point_timeout_s)",
                    self.deadline_after.as_secs_f64()
                ),
            )),
            ..Default::default()
        }
    }

    /// Panic in the task of request `seq` when the fault asks for it
    /// (request 0 of the named point, as its answer arrives).
    fn injected_panic(&self, seq: u64) {
        if self.panic_in_task && seq == 0 {
            let fault = &crate::shutdown::PANIC_IN_LOAD_TASK;
            panic!(
                "{}={}: a panic asked for in the load task of request {}-0",
                fault.name,
                fault.point().unwrap_or_default(),
                self.spec.tag
            );
        }
    }

    /// Whether the deadline has passed; notes that sending stopped early.
    fn past_deadline(&self) -> bool {
        let past = self.deadline.is_cancelled();
        if past {
            self.stopped_early.store(true, Ordering::SeqCst);
        }
        past
    }
}

/// Whether the fault [`crate::shutdown::PANIC_IN_LOAD_TASK`] names the
/// point of requests tagged `tag` (a point's tag is `p<N>`, a repeat's
/// `p<N>r<R>`; warmups are tagged otherwise and never match).
fn panic_asked(tag: &str) -> bool {
    crate::shutdown::PANIC_IN_LOAD_TASK
        .point()
        .is_some_and(|n| tag_of_point(tag, n))
}

/// Whether `tag` is the request tag of point `n` (`p<n>`, or `p<n>r<R>`
/// for one of its repeats).
fn tag_of_point(tag: &str, n: usize) -> bool {
    let point = format!("p{n}");
    tag == point
        || tag
            .strip_prefix(&point)
            .and_then(|rest| rest.strip_prefix('r'))
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
}

/// Wait until `deadline` with sub-millisecond precision (tokio's own timer
/// fires up to a millisecond late, which would count as latency).
async fn wait_until(deadline: Instant) {
    crate::timer::global()
        .sleep_until(deadline.into_std())
        .await;
}

/// Run the load of one point. `on_record` sees each finished request (for
/// progress), measured or not.
pub async fn run_load(
    client: &reqwest::Client,
    spec: Arc<RequestSpec>,
    plan: LoadPlan,
    cancel: &CancellationToken,
    on_record: impl FnMut(&RequestRecord),
) -> LoadResult {
    run_load_until(client, spec, plan, None, cancel, on_record).await
}

/// [`run_load`], extended by `stop` when given (closed loop, count bound;
/// otherwise `stop` is ignored).
pub async fn run_load_until(
    client: &reqwest::Client,
    spec: Arc<RequestSpec>,
    plan: LoadPlan,
    stop: Option<StopRule>,
    cancel: &CancellationToken,
    mut on_record: impl FnMut(&RequestRecord),
) -> LoadResult {
    let stop = stop.filter(|_| plan.open.is_none());
    let (warmup, planned) = match plan.bound {
        Bound::Count {
            warmup, measured, ..
        } => (warmup, measured),
        Bound::Time { .. } => (0, 0),
    };
    let measured_end = warmup.saturating_add(match &stop {
        Some(r) => r.max_measured.max(planned),
        None => planned,
    });
    let shared = Arc::new(Shared {
        client: client.clone(),
        balancer: Balancer::new(spec.balance, spec.urls.len()),
        panic_in_task: panic_asked(&spec.tag),
        spec,
        tally: Tally::default(),
        start: Instant::now(),
        bound: plan.bound,
        finish: cancel.child_token(),
        deadline: CancellationToken::new(),
        deadline_after: plan.deadline.unwrap_or(Duration::MAX),
        cut: AtomicU64::new(0),
        stopped_early: AtomicBool::new(false),
        issued: AtomicU64::new(0),
        measured_end: AtomicU64::new(measured_end),
    });
    let timer = plan.deadline.and_then(|after| {
        let deadline = shared.deadline.clone();
        let at = shared.start.checked_add(after)?;
        Some(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            deadline.cancel();
        }))
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<RequestRecord>();
    let issuers: Vec<tokio::task::JoinHandle<()>> = match plan.open {
        None => {
            let workers = match plan.bound {
                Bound::Count { cooldown, .. } => {
                    u64::from(plan.concurrency.max(1)).min(measured_end.saturating_add(cooldown))
                }
                Bound::Time { .. } => u64::from(plan.concurrency.max(1)),
            };
            (0..workers)
                .map(|_| tokio::spawn(closed_worker(shared.clone(), tx.clone())))
                .collect()
        }
        Some(open) => vec![tokio::spawn(dispatch(
            shared.clone(),
            open,
            plan.concurrency,
            tx.clone(),
        ))],
    };
    drop(tx);
    let mut result = LoadResult {
        started: Some(shared.start.into_std()),
        ..LoadResult::default()
    };
    let mut last_end = shared.start;
    // with a stop rule: the measured count at which it is next checked
    let mut next_check = planned.max(1);
    while let Some(rec) = rx.recv().await {
        last_end = Instant::now();
        let measured = !rec.excluded;
        if measured {
            shared.tally.measured_done.fetch_add(1, Ordering::SeqCst);
            if shared.tally.all_done() {
                shared.finish.cancel();
            }
        }
        on_record(&rec);
        result.records.push(rec);
        if let Some(rule) = &stop
            && measured
            && result.stopped_by.is_none()
        {
            let done = shared.tally.measured_done.load(Ordering::SeqCst);
            if shared.start.elapsed() >= rule.max_time {
                result.stopped_by = Some(StopReason::MaxTime);
                shared.stop_measuring();
            } else if done >= next_check {
                result.stop_checks += 1;
                next_check = done + (done / 5).max(u64::from(plan.concurrency.max(1)));
                if (rule.tight)(&result.records) {
                    result.stopped_by = Some(StopReason::Target);
                    shared.stop_measuring();
                }
            }
        }
    }
    if stop.is_some() && result.stopped_by.is_none() {
        result.stopped_by = Some(StopReason::MaxRequests);
    }
    for h in issuers {
        let _ = h.await;
    }
    if let Some(t) = timer {
        t.abort();
    }
    result.cut_off = shared.cut.load(Ordering::SeqCst);
    result.deadline_hit = result.cut_off > 0 || shared.stopped_early.load(Ordering::SeqCst);
    result.wall = last_end.saturating_duration_since(shared.start);
    let measured_done = shared.tally.measured_done.load(Ordering::SeqCst);
    result.interrupted = cancel.is_cancelled()
        && (measured_done < shared.tally.measured_issued.load(Ordering::SeqCst)
            || !shared.tally.closed.load(Ordering::SeqCst));
    result
}

/// `total` requests, closed loop with `concurrency` in flight, all measured.
pub async fn run_closed_loop(
    client: &reqwest::Client,
    spec: Arc<RequestSpec>,
    concurrency: u32,
    total: u64,
    cancel: &CancellationToken,
    on_record: impl FnMut(&RequestRecord),
) -> LoadResult {
    let plan = LoadPlan {
        concurrency,
        open: None,
        bound: Bound::requests(total),
        deadline: None,
    };
    run_load(client, spec, plan, cancel, on_record).await
}

/// One closed-loop worker: send, wait for the answer, send the next.
async fn closed_worker(shared: Arc<Shared>, tx: mpsc::UnboundedSender<RequestRecord>) {
    let mut ready_since = Instant::now();
    loop {
        if shared.finish.is_cancelled() {
            return;
        }
        let now = Instant::now();
        let due = now.saturating_duration_since(shared.start);
        let seq = shared.issued.fetch_add(1, Ordering::SeqCst);
        let end = shared.end();
        if shared.bound.measured_closed(seq, due, end) && shared.tally.close() {
            shared.finish.cancel();
            return;
        }
        let Some(measured) = shared.bound.classify(seq, due, end) else {
            return;
        };
        if shared.past_deadline() {
            return;
        }
        if measured {
            shared.tally.measured_issued.fetch_add(1, Ordering::SeqCst);
        }
        let target = shared.balancer.pick(seq);
        let sent = tokio::select! {
            biased;
            r = send(&shared.client, &shared.spec, shared.start, now, seq, target) => Some(r),
            _ = shared.deadline.cancelled() => Some(shared.cut_off(seq, target, now)),
            // `finish` fires once every measured request is done (so only
            // unmeasured ones are abandoned), or when the user stops the run
            _ = shared.finish.cancelled() => None,
        };
        shared.balancer.done(target);
        let Some(mut rec) = sent else { return };
        shared.injected_panic(seq);
        rec.excluded = !measured;
        rec.lag = now.saturating_duration_since(ready_since);
        ready_since = Instant::now();
        if tx.send(rec).is_err() {
            return;
        }
    }
}

/// The open-loop dispatcher: sends each request at its scheduled time,
/// waiting for a slot when `cap` requests are in flight.
async fn dispatch(
    shared: Arc<Shared>,
    open: OpenLoop,
    cap: u32,
    tx: mpsc::UnboundedSender<RequestRecord>,
) {
    let slots = (cap > 0).then(|| Arc::new(Semaphore::new(cap as usize)));
    let schedule = Schedule::new(open.arrival, open.rate, open.burstiness, open.seed);
    // when the dispatcher last stopped waiting for a free slot
    let mut unblocked = shared.start;
    for (seq, due) in (0u64..).zip(schedule) {
        let end = shared.end();
        if shared.bound.measured_closed(seq, due, end) && shared.tally.close() {
            shared.finish.cancel();
        }
        let Some(measured) = shared.bound.classify(seq, due, end) else {
            break;
        };
        let scheduled = shared.start + due;
        tokio::select! {
            _ = wait_until(scheduled) => {}
            _ = shared.finish.cancelled() => break,
            _ = shared.deadline.cancelled() => {
                shared.past_deadline();
                break;
            }
        }
        let permit = match &slots {
            None => None,
            Some(s) => match s.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    // the cap is full: waiting here is queueing, not lag
                    let p = tokio::select! {
                        p = s.clone().acquire_owned() => p.ok(),
                        _ = shared.finish.cancelled() => break,
                        _ = shared.deadline.cancelled() => {
                            shared.past_deadline();
                            break;
                        }
                    };
                    unblocked = Instant::now();
                    p
                }
            },
        };
        // from here on, any delay before the send is the client's own
        let ready = scheduled.max(unblocked);
        if measured {
            shared.tally.measured_issued.fetch_add(1, Ordering::SeqCst);
        }
        let shared2 = shared.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let s = &shared2;
            let target = s.balancer.pick(seq);
            let lag = Instant::now().saturating_duration_since(ready);
            let sent = tokio::select! {
                biased;
                r = send(&s.client, &s.spec, s.start, scheduled, seq, target) => Some(r),
                _ = s.deadline.cancelled() => Some(s.cut_off(seq, target, scheduled)),
                _ = s.finish.cancelled() => None,
            };
            s.balancer.done(target);
            if let Some(mut rec) = sent {
                s.injected_panic(seq);
                rec.excluded = !measured;
                rec.lag = lag;
                let _ = tx.send(rec);
            }
        });
    }
    if shared.tally.close() {
        shared.finish.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::client::{build_client, chat_body};
    use crate::spec::backend::TokenSource;
    use crate::spec::units::SATURATED;
    use crate::stub::{StubConfig, serve};

    #[test]
    fn the_load_task_fault_names_a_point_by_its_tag() {
        assert!(tag_of_point("p3", 3));
        assert!(tag_of_point("p3r2", 3));
        for other in ["p31", "p3r", "p3rx", "warmup", "warmup-p3", "p2", "3"] {
            assert!(!tag_of_point(other, 3), "{other}");
        }
        // unset in unit tests: no load panics
        assert!(!panic_asked("p1"));
    }

    #[test]
    fn auto_deadline_covers_every_request_timing_out() {
        let t = Duration::from_secs(10);
        let closed = LoadPlan {
            concurrency: 4,
            open: None,
            bound: Bound::Count {
                warmup: 2,
                measured: 16,
                cooldown: 2,
            },
            deadline: None,
        };
        // 20 requests in rounds of 4: 5 rounds, plus one
        assert_eq!(closed.auto_deadline(t), Duration::from_secs(60));
        let open = LoadPlan {
            concurrency: 0,
            open: Some(OpenLoop {
                arrival: ArrivalKind::Poisson,
                rate: 4.0,
                burstiness: 1.0,
                seed: 0,
            }),
            bound: Bound::requests(20),
            deadline: None,
        };
        // twice the 5 s schedule, plus two timeouts
        assert_eq!(open.auto_deadline(t), Duration::from_secs(30));
        let capped = LoadPlan {
            concurrency: 5,
            ..open
        };
        assert_eq!(capped.auto_deadline(t), Duration::from_secs(60));
        let timed = LoadPlan {
            bound: Bound::Time {
                warmup: Duration::from_secs(1),
                measured: Duration::from_secs(30),
                cooldown: Duration::from_secs(2),
            },
            ..closed
        };
        assert_eq!(timed.auto_deadline(t), Duration::from_secs(53));
        let huge = LoadPlan {
            concurrency: 1,
            ..closed
        };
        // any timeout saturates at a duration an instant can still add
        assert_eq!(huge.auto_deadline(Duration::MAX), SATURATED);
        let many = LoadPlan {
            bound: Bound::Count {
                warmup: u64::MAX,
                measured: u64::MAX,
                cooldown: 1,
            },
            ..huge
        };
        assert_eq!(many.auto_deadline(t), SATURATED);
    }

    /// A stub served here with `cfg`: its stop token and completions URL.
    async fn stub(cfg: StubConfig) -> (CancellationToken, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/v1/chat/completions",
            listener.local_addr().unwrap()
        );
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, cfg, stop.clone()));
        (stop, url)
    }

    /// Streamed requests to `url` that may take 60 s each.
    fn spec(url: String) -> Arc<RequestSpec> {
        Arc::new(RequestSpec {
            urls: vec![url],
            balance: BalanceMethod::RoundRobin,
            bodies: vec![chat_body("hi", 4, 0.0, true)],
            stream: true,
            timeout: Duration::from_secs(60),
            retries: 0,
            backoff: Duration::ZERO,
            headers: Default::default(),
            tag: "p1".into(),
            tokens: TokenSource::Usage,
            secret: None,
            form: None,
        })
    }

    #[tokio::test]
    async fn the_deadline_records_what_is_in_flight_as_timeouts() {
        let (stop, url) = stub(StubConfig {
            hang: true,
            ..Default::default()
        })
        .await;
        let spec = spec(url);
        let client = build_client();
        let never = CancellationToken::new();
        let deadline = Duration::from_millis(400);
        for open in [
            None,
            Some(OpenLoop {
                arrival: ArrivalKind::Poisson,
                rate: f64::INFINITY,
                burstiness: 1.0,
                seed: 1,
            }),
        ] {
            let plan = LoadPlan {
                concurrency: 3,
                open,
                bound: Bound::Count {
                    warmup: 1,
                    measured: 10,
                    cooldown: 0,
                },
                deadline: Some(deadline),
            };
            let t0 = Instant::now();
            let r = run_load(&client, spec.clone(), plan, &never, |_| {}).await;
            let took = t0.elapsed();
            // not before the deadline; and ended by it, not by the requests'
            // own 60 s timeout (a bound on the scale of that failure: the
            // deadline's end takes milliseconds after its 0.4 s)
            assert!(
                took >= deadline && took < spec.timeout / 2,
                "{open:?}: {took:?}"
            );
            assert!(r.deadline_hit && !r.interrupted, "{open:?}");
            // three slots were taken when the deadline passed: all recorded
            assert_eq!(r.records.len(), 3, "{open:?}: {:?}", r.records);
            assert_eq!(r.cut_off, 3);
            assert_eq!(r.records.iter().filter(|x| x.excluded).count(), 1);
            for rec in &r.records {
                let (kind, detail) = rec.error.as_ref().unwrap();
                assert_eq!(*kind, ErrorKind::Timeout);
                assert!(detail.contains("point deadline (0.4 s"), "{detail}");
                assert!(rec.e2e > Duration::ZERO);
            }
        }
        stop.cancel();
    }

    #[tokio::test]
    async fn a_deadline_not_reached_changes_nothing() {
        let (stop, url) = stub(StubConfig::default()).await;
        let plan = LoadPlan {
            concurrency: 2,
            open: None,
            bound: Bound::requests(20),
            deadline: Some(Duration::from_secs(30)),
        };
        let r = run_load(
            &build_client(),
            spec(url),
            plan,
            &stop.child_token(),
            |_| {},
        )
        .await;
        assert_eq!(r.records.len(), 20);
        assert!(r.records.iter().all(RequestRecord::ok));
        assert!(!r.deadline_hit);
        assert_eq!(r.cut_off, 0);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_stop_rule_extends_a_point_until_it_is_tight_or_capped() {
        let (stop, url) = stub(StubConfig::default()).await;
        let plan = LoadPlan {
            concurrency: 2,
            open: None,
            bound: Bound::Count {
                warmup: 1,
                measured: 10,
                cooldown: 1,
            },
            deadline: Some(Duration::from_secs(60)),
        };
        let measured = |r: &LoadResult| r.records.iter().filter(|x| !x.excluded).count();
        // tight once 30 measured requests have finished
        let after_30: Tightness =
            Arc::new(|recs: &[RequestRecord]| recs.iter().filter(|r| !r.excluded).count() >= 30);
        let rule = StopRule {
            max_measured: 100,
            max_time: Duration::from_secs(60),
            tight: after_30,
        };
        let client = build_client();
        let never = CancellationToken::new();
        let r = run_load_until(
            &client,
            spec(url.clone()),
            plan,
            Some(rule.clone()),
            &never,
            |_| {},
        )
        .await;
        assert_eq!(r.stopped_by, Some(StopReason::Target));
        // the requests in flight when it stopped are measured too
        let n = measured(&r);
        assert!((30..=33).contains(&n), "{n} measured");
        assert!(r.stop_checks >= 2, "{} checks", r.stop_checks);
        assert!(!r.interrupted && !r.deadline_hit);
        // never tight: the cap
        let never_tight: Tightness = Arc::new(|_: &[RequestRecord]| false);
        let capped = StopRule {
            tight: never_tight.clone(),
            ..rule.clone()
        };
        let r = run_load_until(
            &client,
            spec(url.clone()),
            plan,
            Some(capped),
            &never,
            |_| {},
        )
        .await;
        assert_eq!(r.stopped_by, Some(StopReason::MaxRequests));
        assert_eq!(measured(&r), 100);
        // out of time: stops at once, before its planned ten are all measured
        let no_time = StopRule {
            max_time: Duration::ZERO,
            tight: never_tight,
            ..rule
        };
        let r = run_load_until(
            &client,
            spec(url.clone()),
            plan,
            Some(no_time),
            &never,
            |_| {},
        )
        .await;
        assert_eq!(r.stopped_by, Some(StopReason::MaxTime));
        assert!(measured(&r) < 10, "{} measured", measured(&r));
        // no rule: exactly the plan
        let r = run_load_until(&client, spec(url), plan, None, &never, |_| {}).await;
        assert_eq!((measured(&r), r.stopped_by), (10, None));
        stop.cancel();
    }

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
