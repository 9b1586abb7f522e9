//! A timer finer than tokio's: tokio rounds every sleep up to its 1 ms
//! wheel, so a 200 ms sleep fires up to ~1 ms late. [`PreciseTimer`] keeps
//! one dedicated OS thread holding a min-heap of deadlines; the thread waits
//! on a condition variable until the earliest one (a futex with an absolute
//! monotonic timeout; the thread asks Linux for 1 ns timer slack instead of
//! the default 50 µs) and wakes every sleeper that is due.
//!
//! - Never early: an entry fires only once `Instant::now() >= deadline`, and
//!   a sleeper whose entry is lost (timer gone) falls back to tokio's sleep,
//!   which never fires early either.
//! - Cheap: a sleep is one heap entry and one oneshot channel; thousands of
//!   pending sleeps cost `O(log n)` each, and no thread per sleep.
//! - A deadline already past returns at once without touching the thread.
//! - A dropped sleep leaves a closed entry behind: it is skipped when due,
//!   and the heap drops all closed entries whenever it has doubled in size
//!   since the last sweep, so far-future cancelled sleeps cannot pile up.
//!
//! `cargo run --release --example timer_precision` measures the overshoot
//! against tokio's sleep.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The heap is swept of cancelled entries when it reaches this size at the
/// least (then whenever it has doubled since the last sweep).
const MIN_SWEEP_AT: usize = 1024;

/// A high-resolution sleep service backed by one OS thread.
pub struct PreciseTimer {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

struct Entry {
    deadline: Instant,
    /// Insertion number: equal deadlines fire in the order they were asked.
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

/// The pending sleeps, earliest first.
struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    sweep_at: usize,
    stop: bool,
}

impl State {
    fn new() -> State {
        State {
            heap: BinaryHeap::new(),
            next_seq: 0,
            sweep_at: MIN_SWEEP_AT,
            stop: false,
        }
    }

    /// Add a sleeper; true when it is now the earliest (the thread must
    /// shorten its wait).
    fn push(&mut self, deadline: Instant, tx: oneshot::Sender<()>) -> bool {
        if self.heap.len() >= self.sweep_at {
            self.heap.retain(|Reverse(e)| !e.tx.is_closed());
            self.sweep_at = (self.heap.len() * 2).max(MIN_SWEEP_AT);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let earliest = self
            .heap
            .peek()
            .is_none_or(|Reverse(e)| deadline < e.deadline);
        self.heap.push(Reverse(Entry { deadline, seq, tx }));
        earliest
    }

    /// Move every entry due at `now` to `due`, in deadline order.
    fn pop_due(&mut self, now: Instant, due: &mut Vec<Entry>) {
        while self.heap.peek().is_some_and(|Reverse(e)| e.deadline <= now) {
            if let Some(Reverse(e)) = self.heap.pop() {
                due.push(e);
            }
        }
    }

    fn earliest(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // nothing panics while holding the lock; a poisoned state is still consistent
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The timer thread: wait for the earliest deadline, fire what is due.
    fn run(&self) {
        set_fine_timer_slack();
        let mut due = Vec::with_capacity(64);
        let mut state = self.lock();
        loop {
            if state.stop {
                return;
            }
            let now = Instant::now();
            state.pop_due(now, &mut due);
            if !due.is_empty() {
                drop(state);
                // cancelled sleepers (receiver dropped) are simply skipped
                for e in due.drain(..) {
                    let _ = e.tx.send(());
                }
                state = self.lock();
                continue;
            }
            state = match state.earliest() {
                None => self.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(at) => {
                    self.wake
                        .wait_timeout(state, at.saturating_duration_since(now))
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

/// Ask Linux for 1 ns timer slack on this thread (default 50 µs), so the
/// futex timeout fires as close to the deadline as the kernel can.
fn set_fine_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's slack value.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// The process-wide timer, started on first use.
pub fn global() -> &'static PreciseTimer {
    static GLOBAL: OnceLock<PreciseTimer> = OnceLock::new();
    GLOBAL.get_or_init(PreciseTimer::new)
}

impl PreciseTimer {
    /// A timer with its own thread (stopped when the timer is dropped).
    /// Most code wants the shared [`global`] one.
    pub fn new() -> PreciseTimer {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new()),
            wake: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("mlxrun-timer".into())
            .spawn(move || worker.run())
            .expect("cannot start the timer thread");
        PreciseTimer { shared }
    }

    /// Sleep until `deadline` (at once when it has passed). Never returns
    /// before `deadline`.
    pub async fn sleep_until(&self, deadline: Instant) {
        if Instant::now() >= deadline {
            return;
        }
        let (tx, rx) = oneshot::channel();
        let earliest = self.shared.lock().push(deadline, tx);
        if earliest {
            self.shared.wake.notify_one();
        }
        if rx.await.is_err() {
            // the timer went away with our entry: still never early
            tokio::time::sleep_until(deadline.into()).await;
        }
    }

    /// Sleep for `d`.
    pub async fn sleep(&self, d: Duration) {
        self.sleep_until(Instant::now() + d).await;
    }

    /// Entries in the heap (live and not yet swept cancelled ones).
    pub fn pending(&self) -> usize {
        self.shared.lock().heap.len()
    }
}

impl Default for PreciseTimer {
    fn default() -> Self {
        PreciseTimer::new()
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
    }
}

impl std::fmt::Debug for PreciseTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreciseTimer")
            .field("pending", &self.pending())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use rand::{Rng, SeedableRng};

    #[test]
    fn heap_pops_in_deadline_order_and_nothing_early() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Instant::now();
        let mut state = State::new();
        let mut receivers = Vec::new();
        for _ in 0..5000 {
            let (tx, rx) = oneshot::channel();
            receivers.push(rx);
            state.push(
                base + Duration::from_micros(rng.random_range(0..10_000)),
                tx,
            );
        }
        let mut due = Vec::new();
        // a cut in the middle: exactly the entries at or before it come out
        let cut = base + Duration::from_micros(5_000);
        state.pop_due(cut, &mut due);
        assert!(due.iter().all(|e| e.deadline <= cut));
        assert!(state.earliest().is_none_or(|d| d > cut));
        let first = due.len();
        state.pop_due(base + Duration::from_secs(1), &mut due);
        assert_eq!(due.len(), 5000);
        assert!(first > 0 && first < 5000);
        assert!(due.windows(2).all(|w| w[0] <= w[1]), "not in order");
        assert_eq!(state.earliest(), None);
    }

    #[test]
    fn equal_deadlines_fire_in_the_order_asked() {
        let at = Instant::now();
        let mut state = State::new();
        let mut keep = Vec::new();
        for _ in 0..100 {
            let (tx, rx) = oneshot::channel();
            keep.push(rx);
            state.push(at, tx);
        }
        let mut due = Vec::new();
        state.pop_due(at, &mut due);
        let seqs: Vec<u64> = due.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (0..100).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_early_with_many_pending_sleeps() {
        let timer: &'static PreciseTimer = Box::leak(Box::new(PreciseTimer::new()));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let base = Instant::now() + Duration::from_millis(5);
        let tasks: Vec<_> = (0..3000)
            .map(|_| {
                let deadline = base + Duration::from_micros(rng.random_range(0..40_000));
                tokio::spawn(async move {
                    timer.sleep_until(deadline).await;
                    Instant::now() >= deadline
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap(), "a sleep returned before its deadline");
        }
        for ms in [0u64, 1, 3] {
            let start = Instant::now();
            timer.sleep(Duration::from_millis(ms)).await;
            assert!(start.elapsed() >= Duration::from_millis(ms));
        }
        assert_eq!(timer.pending(), 0);
    }

    #[tokio::test]
    async fn past_deadlines_return_at_once_without_an_entry() {
        let timer = PreciseTimer::new();
        let past = Instant::now();
        assert!(timer.sleep_until(past).now_or_never().is_some());
        assert!(timer.sleep(Duration::ZERO).now_or_never().is_some());
        assert_eq!(timer.pending(), 0);
    }

    #[tokio::test]
    async fn dropped_sleeps_are_skipped_and_swept() {
        let timer = PreciseTimer::new();
        // far-future sleeps, polled once (registered) and dropped
        for _ in 0..20_000 {
            let far = Instant::now() + Duration::from_secs(3600);
            assert!(timer.sleep_until(far).now_or_never().is_none());
        }
        assert!(
            timer.pending() <= 2 * MIN_SWEEP_AT,
            "cancelled entries pile up: {}",
            timer.pending()
        );
        // near ones dropped before they are due are skipped when popped
        for _ in 0..100 {
            let soon = Instant::now() + Duration::from_micros(200);
            assert!(timer.sleep_until(soon).now_or_never().is_none());
        }
        let deadline = Instant::now() + Duration::from_millis(2);
        timer.sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
    }

    #[tokio::test]
    async fn a_lost_entry_still_never_fires_early() {
        let timer = PreciseTimer::new();
        let deadline = Instant::now() + Duration::from_millis(20);
        let mut sleep = Box::pin(timer.sleep_until(deadline));
        assert!((&mut sleep).now_or_never().is_none());
        // the entry (and its sender) vanish, as when the timer thread is gone
        timer.shared.lock().heap.clear();
        sleep.await;
        assert!(Instant::now() >= deadline);
    }
}
