//! Stopping cleanly on every exit path. A process-wide registry holds the
//! process group of every child mlxrun started; the panic hook, a second
//! Ctrl-C and [`crate::server::process::ManagedProcess`]'s `Drop` all stop
//! what is in it. The first Ctrl-C or SIGTERM only cancels a token, so the
//! runner can keep finished rows and stop servers in order.
//!
//! A panic is a bug in mlxrun, wherever it happens (the runner, a load
//! task, the monitor's thread): the hook stops every child, says what was
//! kept and exits with [`EXIT_PANIC`] at once, rather than unwinding into
//! a run whose state can no longer be trusted. Rows are flushed as each
//! point ends, so every finished point survives; once a panic has begun,
//! no thread writes another row ([`hold_while_panicking`]) and a child
//! started meanwhile is killed as it is registered, so the point whose
//! servers the hook is stopping is never recorded as measured. Tests reach
//! this path through the fault variables: [`PANIC_AT_POINT_VAR`] (the
//! sweep), [`PANIC_IN_LOAD_TASK`] (a request task of the load driver) and
//! [`PANIC_IN_MONITOR`] (the monitor's sampling thread).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Process groups of live children: pgid → name.
static REGISTRY: Mutex<BTreeMap<i32, String>> = Mutex::new(BTreeMap::new());

/// The run folder of the run in progress, for the panic message.
static RUN_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Set by the panic hook before it does anything else.
static PANICKING: AtomicBool = AtomicBool::new(false);

/// Exit code after an interruption (128 + SIGINT), whatever the signal.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Exit code after a panic (a bug in mlxrun): Rust's own code for one.
pub const EXIT_PANIC: i32 = 101;

/// Set to a point number, this variable makes a run panic as that point
/// starts (its servers running), to test the panic path. Its name is
/// neither `MLX_…` nor `MLXRUN_…`, so no scenario override sets it.
pub const PANIC_AT_POINT_VAR: &str = "_MLXRUN_FAULT_PANIC_AT_POINT";

/// Panic if [`PANIC_AT_POINT_VAR`] names `point` (1-based).
pub fn injected_panic(point: usize) {
    let asked = std::env::var(PANIC_AT_POINT_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if asked == Some(point) {
        panic!("{PANIC_AT_POINT_VAR}={point}: a panic asked for as point {point} starts");
    }
}

/// A fault variable that names a point (1-based), read once: tests set
/// it to make mlxrun panic somewhere other than the sweep. Unset, or not a
/// number, it names no point. Its name starts with `_MLXRUN_FAULT_`, so no
/// `MLX_…`/`MLXRUN_…` scenario override sets it.
pub struct FaultVar {
    /// The environment variable.
    pub name: &'static str,
    point: OnceLock<Option<usize>>,
}

impl FaultVar {
    const fn new(name: &'static str) -> FaultVar {
        FaultVar {
            name,
            point: OnceLock::new(),
        }
    }

    /// The point the variable names, if any (the environment is read on
    /// the first call only).
    pub fn point(&self) -> Option<usize> {
        *self.point.get_or_init(|| {
            std::env::var(self.name)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
        })
    }
}

/// Point N: the request task of point N's first request panics when its
/// answer arrives (other requests of the point still in flight).
pub static PANIC_IN_LOAD_TASK: FaultVar = FaultVar::new("_MLXRUN_FAULT_PANIC_IN_LOAD_TASK");

/// Point N: the monitor's sampling thread panics at its first tick during
/// point N.
pub static PANIC_IN_MONITOR: FaultVar = FaultVar::new("_MLXRUN_FAULT_PANIC_IN_MONITOR");

/// Whether a panic is stopping mlxrun.
pub fn panicking() -> bool {
    PANICKING.load(Ordering::SeqCst)
}

/// When a panic is stopping mlxrun (on another thread), block this thread
/// until the panic hook ends the process: what this thread would write
/// next (a row, a record) may come from servers the hook is stopping, or
/// from a run whose state a bug has spoiled. Returns at once otherwise.
pub fn hold_while_panicking() {
    while panicking() {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Remember the run folder of the run in progress (named after a panic).
pub fn set_run_dir(dir: &Path) {
    if let Ok(mut d) = RUN_DIR.lock() {
        *d = Some(dir.to_path_buf());
    }
}

/// What the user reads after a panic: what was stopped, what was kept,
/// what to do next.
pub fn panic_message(stopped: usize, run_dir: Option<&Path>) -> String {
    let kept = match run_dir {
        Some(d) => format!(
            "; points that finished are kept in {} (report.jsonl) and the CSV beside it\n  next: `mlxrun report {}` writes report.md and report.html for them; please report the panic above (RUST_BACKTRACE=1 shows where it happened)",
            d.display(),
            d.display()
        ),
        None => {
            "\n  next: please report the panic above (RUST_BACKTRACE=1 shows where it happened)"
                .to_string()
        }
    };
    format!(
        "mlxrun: internal error (panic): stopped {stopped} child process group(s), exiting with {EXIT_PANIC}{kept}"
    )
}

/// Record a child's process group. A child started while a panic is
/// stopping mlxrun is killed at once (the hook may already have taken its
/// list of groups).
pub fn register(pgid: i32, name: &str) {
    if let Ok(mut r) = REGISTRY.lock() {
        r.insert(pgid, name.to_string());
    }
    if panicking() {
        signal_group(pgid, libc::SIGKILL);
    }
}

/// Forget a process group that has been stopped.
pub fn unregister(pgid: i32) {
    if let Ok(mut r) = REGISTRY.lock() {
        r.remove(&pgid);
    }
}

/// Process groups still registered.
pub fn registered() -> Vec<(i32, String)> {
    REGISTRY
        .lock()
        .map(|r| r.iter().map(|(k, v)| (*k, v.clone())).collect())
        .unwrap_or_default()
}

/// Whether any process of group `pgid` is still alive.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// Send `sig` to every process in group `pgid`.
pub fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: plain syscall; a group that is gone gives ESRCH, which is fine.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// Stop every registered group: SIGTERM, up to `grace` for them to go, then
/// SIGKILL, and reap the leaders, so that no group is left when this
/// returns. Blocking; meant for panic hooks and hard exits.
pub fn terminate_all_blocking(grace: Duration) {
    let groups = registered();
    if groups.is_empty() {
        return;
    }
    for (pgid, _) in &groups {
        signal_group(*pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    let gone = |g: i32| {
        reap(g);
        !group_alive(g)
    };
    while Instant::now() < deadline && !groups.iter().all(|(g, _)| gone(*g)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (pgid, _) in &groups {
        if group_alive(*pgid) {
            signal_group(*pgid, libc::SIGKILL);
        }
    }
    // a killed leader stays a zombie (and its group "alive") until reaped
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !groups.iter().all(|(g, _)| gone(*g)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (pgid, _) in &groups {
        unregister(*pgid);
    }
}

/// Reap the group leader `pid` if it is a child of mlxrun that has exited
/// (a zombie still counts as a member of its group). Only for the paths
/// that end mlxrun: the runtime that would reap it is not running then.
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: non-blocking wait for one PID; ECHILD when it is not ours.
    unsafe {
        libc::waitpid(pid, &mut status, libc::WNOHANG);
    }
}

/// Make a panic, on any thread, print its report, stop every child, say
/// what was kept and exit with [`EXIT_PANIC`]. From its first step no
/// other thread writes a row ([`hold_while_panicking`]) or keeps a new
/// child ([`register`]).
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKING.store(true, Ordering::SeqCst);
        default(info);
        let n = registered().len();
        terminate_all_blocking(Duration::from_secs(3));
        // a child registered while the first pass ran was killed as it
        // registered: reap it and forget it
        terminate_all_blocking(Duration::ZERO);
        let dir = RUN_DIR.lock().ok().and_then(|d| d.clone());
        eprintln!("{}", panic_message(n, dir.as_deref()));
        std::process::exit(EXIT_PANIC);
    }));
}

/// The signal listener of one run; dropping it ends the listener, so the
/// next run (the launcher runs several in one process) counts its signals
/// from zero.
#[must_use = "the listener ends when this is dropped"]
pub struct SignalListener {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SignalListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the first signal does in a run: [`spawn_signal_listener`]'s message.
pub const RUN_STOPS: &str = "stopping the load, keeping finished rows, stopping servers";

/// Listen for SIGINT and SIGTERM: the first cancels `token` and says what
/// that does (`first`, e.g. [`RUN_STOPS`]), a second one kills every child
/// at once and exits with [`EXIT_INTERRUPTED`]. The listener lives as long
/// as the returned guard.
pub fn spawn_signal_listener(
    token: CancellationToken,
    first: &'static str,
) -> std::io::Result<SignalListener> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let task = tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let name = tokio::select! {
                _ = int.recv() => "interrupt",
                _ = term.recv() => "terminate",
            };
            seen += 1;
            if seen == 1 {
                eprintln!("mlxrun: {name} received: {first} (again to kill at once)");
                token.cancel();
            } else {
                eprintln!("mlxrun: second {name}: killing child processes now");
                terminate_all_blocking(Duration::ZERO);
                std::process::exit(EXIT_INTERRUPTED);
            }
        }
    });
    Ok(SignalListener { task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panic_message_says_what_was_kept_and_what_next() {
        let m = panic_message(3, Some(Path::new("results/x/x_1")));
        assert!(m.contains("stopped 3 child process group(s), exiting with 101"));
        assert!(m.contains("kept in results/x/x_1"));
        assert!(m.contains("next: `mlxrun report results/x/x_1`"));
        assert!(panic_message(0, None).contains("next: please report"));
    }

    /// A run's listener ends with its guard: after run 1 saw one SIGINT,
    /// a SIGINT in run 2 is run 2's first (if run 1's listener still
    /// counted, it would take it as the second and exit this process).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_listener_leaves_the_next_run_its_own_count() {
        let wait = |t: CancellationToken| async move {
            tokio::time::timeout(Duration::from_secs(10), t.cancelled())
                .await
                .expect("the listener saw the signal");
        };
        let first = CancellationToken::new();
        let listener = spawn_signal_listener(first.clone(), RUN_STOPS).unwrap();
        // SAFETY: raising a signal mlxrun's listener handles.
        unsafe { libc::raise(libc::SIGINT) };
        wait(first).await;
        drop(listener);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = CancellationToken::new();
        let _listener = spawn_signal_listener(second.clone(), RUN_STOPS).unwrap();
        unsafe { libc::raise(libc::SIGINT) };
        wait(second).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    #[test]
    fn the_injected_panic_needs_its_own_variable_and_point() {
        // the variables are not set in unit tests: nothing happens
        injected_panic(1);
        assert_eq!(PANIC_IN_LOAD_TASK.point(), None);
        assert_eq!(PANIC_IN_MONITOR.point(), None);
        for name in [
            PANIC_AT_POINT_VAR,
            PANIC_IN_LOAD_TASK.name,
            PANIC_IN_MONITOR.name,
        ] {
            assert!(name.starts_with("_MLXRUN_FAULT_"), "{name}");
            assert!(!name.starts_with(crate::scenario::layers::ENV_PREFIX));
        }
    }

    #[test]
    fn without_a_panic_nothing_is_held() {
        assert!(!panicking());
        // returns at once (a hold would never return here)
        hold_while_panicking();
    }
}
