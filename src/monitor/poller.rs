//! A side thread that runs one short command every `every` and keeps its
//! last parsed reading, so the sampler only reads a value and never waits
//! on a process (macOS `ioreg` and `vm_stat` take tens of milliseconds).
//! The command runs through [`super::child::capture`] (own process group,
//! timeout, stopped with the monitor); its stdout goes through a pure
//! parser. Compiled everywhere so its tests run on Linux; the monitor
//! starts pollers on macOS only.

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::child;

/// How long one run of the command may take before it is stopped.
const RUN_TIMEOUT: Duration = Duration::from_secs(5);

/// What to run, how to read it, how often.
pub(crate) struct PollSpec<T> {
    /// Short name, for the thread (`mlxrun-<name>`).
    pub name: &'static str,
    pub argv: Vec<String>,
    /// Turns the command's stdout into a reading, or says why not.
    pub parse: fn(&str) -> Result<T, String>,
    /// At most one run per `every` (the first at once).
    pub every: Duration,
}

struct Shared<T> {
    last: Mutex<Last<T>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

struct Last<T> {
    reading: Option<T>,
    error: Option<String>,
}

/// The running side thread; stopped and joined on drop.
pub(crate) struct CommandPoller<T> {
    shared: Arc<Shared<T>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Clone + Send + 'static> CommandPoller<T> {
    /// Start polling; fails only when the thread cannot be spawned.
    pub fn start(spec: PollSpec<T>) -> std::io::Result<CommandPoller<T>> {
        let shared = Arc::new(Shared {
            last: Mutex::new(Last {
                reading: None,
                error: None,
            }),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("mlxrun-{}", spec.name))
            .spawn(move || poll(&s, &spec))?;
        Ok(CommandPoller {
            shared,
            thread: Some(thread),
        })
    }

    /// The last successful reading (if any) and the last error (if the
    /// last run failed).
    pub fn latest(&self) -> (Option<T>, Option<String>) {
        let l = self.shared.last.lock().unwrap_or_else(|e| e.into_inner());
        (l.reading.clone(), l.error.clone())
    }
}

fn poll<T>(s: &Shared<T>, spec: &PollSpec<T>) {
    let stopped = || *s.stop.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let began = Instant::now();
        let result =
            child::capture(&spec.argv, RUN_TIMEOUT, &stopped).and_then(|t| (spec.parse)(&t));
        {
            let mut l = s.last.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Ok(r) => {
                    l.reading = Some(r);
                    l.error = None;
                }
                Err(e) => l.error = Some(e),
            }
        }
        let next = began + spec.every;
        let mut stop = s.stop.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *stop {
                return;
            }
            let now = Instant::now();
            if now >= next {
                break;
            }
            stop = s
                .wake
                .wait_timeout(stop, next - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl<T> Drop for CommandPoller<T> {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first line's length, or an error for an empty file.
    fn first_line_len(text: &str) -> Result<usize, String> {
        text.lines()
            .next()
            .map(str::len)
            .ok_or_else(|| "empty output".to_string())
    }

    fn wait_for(what: &str, deadline: Instant, mut done: impl FnMut() -> bool) {
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn reports_the_last_reading_then_the_error_beside_it_and_stops_on_drop() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("out.txt");
        std::fs::write(&f, "abcd\nxyz\n").unwrap();
        let p = CommandPoller::start(PollSpec {
            name: "test",
            argv: vec!["cat".into(), f.display().to_string()],
            parse: first_line_len,
            every: Duration::from_millis(30),
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        wait_for("a reading", deadline, || p.latest().0.is_some());
        assert_eq!(p.latest(), (Some(4), None));
        // the parser refuses what the command prints now: its reason is
        // reported and the last good reading stays
        std::fs::write(&f, "").unwrap();
        wait_for("a parse error", deadline, || p.latest().1.is_some());
        assert_eq!(p.latest(), (Some(4), Some("empty output".into())));
        // the command itself fails
        std::fs::remove_file(&f).unwrap();
        wait_for("a command error", deadline, || {
            p.latest().1.is_some_and(|e| e.contains("cat failed"))
        });
        // it recovers: the error is cleared
        std::fs::write(&f, "ab\n").unwrap();
        wait_for("the recovery", deadline, || p.latest() == (Some(2), None));
        drop(p);
    }

    const PERIOD: Duration = Duration::from_secs(60);

    #[test]
    fn runs_at_most_once_per_period() {
        let t = tempfile::tempdir().unwrap();
        let log = t.path().join("runs");
        let script = format!("echo x >> {}; echo ok", log.display());
        let p = CommandPoller::start(PollSpec {
            name: "test",
            argv: vec!["sh".into(), "-c".into(), script],
            parse: first_line_len,
            every: PERIOD,
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        wait_for("the first run", deadline, || p.latest().0.is_some());
        std::thread::sleep(Duration::from_millis(200));
        // drop wakes the poller: it does not sit out the rest of its period
        // (a bound on the scale of that failure, 60 s; dropping takes
        // milliseconds)
        let started = Instant::now();
        drop(p);
        assert!(started.elapsed() < PERIOD / 2, "{:?}", started.elapsed());
        let runs = std::fs::read_to_string(&log).unwrap().lines().count();
        assert_eq!(runs, 1, "a 60 s period ran the command {runs} times");
    }
}
