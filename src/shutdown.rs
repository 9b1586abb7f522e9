//! Stopping cleanly on every exit path. A process-wide registry holds the
//! process group of every child mlxrun started; the panic hook, a second
//! Ctrl-C and [`crate::server::process::ManagedProcess`]'s `Drop` all stop
//! what is in it. The first Ctrl-C or SIGTERM only cancels a token, so the
//! runner can keep finished rows and stop servers in order.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Process groups of live children: pgid → name.
static REGISTRY: Mutex<BTreeMap<i32, String>> = Mutex::new(BTreeMap::new());

/// Exit code after an interruption (128 + SIGINT), whatever the signal.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Record a child's process group.
pub fn register(pgid: i32, name: &str) {
    if let Ok(mut r) = REGISTRY.lock() {
        r.insert(pgid, name.to_string());
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
/// SIGKILL. Blocking; meant for panic hooks and hard exits.
pub fn terminate_all_blocking(grace: Duration) {
    let groups = registered();
    if groups.is_empty() {
        return;
    }
    for (pgid, _) in &groups {
        signal_group(*pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && groups.iter().any(|(g, _)| group_alive(*g)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (pgid, _) in &groups {
        if group_alive(*pgid) {
            signal_group(*pgid, libc::SIGKILL);
        }
        unregister(*pgid);
    }
}

/// Make a panic stop every child before the default report.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let n = registered().len();
        if n > 0 {
            eprintln!("mlxrun: panic: stopping {n} child process group(s)");
        }
        terminate_all_blocking(Duration::from_secs(3));
    }));
}

/// Listen for SIGINT and SIGTERM: the first cancels `token`, a second one
/// kills every child at once and exits with [`EXIT_INTERRUPTED`].
pub fn spawn_signal_listener(token: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let name = tokio::select! {
                _ = int.recv() => "interrupt",
                _ = term.recv() => "terminate",
            };
            seen += 1;
            if seen == 1 {
                eprintln!(
                    "mlxrun: {name} received: stopping the load, keeping finished rows, stopping servers (again to kill at once)"
                );
                token.cancel();
            } else {
                eprintln!("mlxrun: second {name}: killing child processes now");
                terminate_all_blocking(Duration::ZERO);
                std::process::exit(EXIT_INTERRUPTED);
            }
        }
    });
    Ok(())
}
