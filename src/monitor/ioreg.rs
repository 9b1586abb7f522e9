//! Apple GPU utilisation: `ioreg -r -c AGXAccelerator -d 2` prints the
//! accelerator's `PerformanceStatistics` ("Device Utilization %",
//! "Renderer Utilization %", "Tiler Utilization %"). Running it takes tens
//! of milliseconds, so a side thread runs it at most once per `every` and
//! the sampler only reads the last result: the sampler never waits on it.
//! (Compiled everywhere so its tests run on Linux; started on macOS only.)

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::child;

/// The command, as argv.
pub(crate) const IOREG_ARGV: [&str; 6] = ["ioreg", "-r", "-c", "AGXAccelerator", "-d", "2"];

/// One reading of the accelerator's statistics, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AppleGpu {
    pub device_util: Option<f64>,
    pub renderer_util: Option<f64>,
    pub tiler_util: Option<f64>,
}

/// Parse the first `"PerformanceStatistics" = {…}` block of ioreg's output.
pub fn parse(text: &str) -> Result<AppleGpu, String> {
    const KEY: &str = "\"PerformanceStatistics\" = {";
    let start = text
        .find(KEY)
        .ok_or("no PerformanceStatistics in ioreg's output (no AGXAccelerator?)")?
        + KEY.len();
    let block = &text[start..];
    let block = &block[..block.find('}').unwrap_or(block.len())];
    let value = |name: &str| -> Option<f64> {
        let key = format!("\"{name}\"=");
        let rest = &block[block.find(&key)? + key.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    let g = AppleGpu {
        device_util: value("Device Utilization %"),
        renderer_util: value("Renderer Utilization %"),
        tiler_util: value("Tiler Utilization %"),
    };
    if g == AppleGpu::default() {
        return Err("PerformanceStatistics has no utilisation keys".into());
    }
    Ok(g)
}

struct Shared {
    last: Mutex<Last>,
    stop: Mutex<bool>,
    wake: Condvar,
}

#[derive(Default)]
struct Last {
    reading: Option<AppleGpu>,
    error: Option<String>,
}

/// The side thread that runs ioreg; stopped and joined on drop.
pub(crate) struct IoregPoller {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl IoregPoller {
    /// Start running `argv` every `every` (the first run at once).
    pub fn start(argv: Vec<String>, every: Duration) -> std::io::Result<IoregPoller> {
        let shared = Arc::new(Shared {
            last: Mutex::new(Last::default()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mlxrun-ioreg".into())
            .spawn(move || poll(&s, &argv, every))?;
        Ok(IoregPoller {
            shared,
            thread: Some(thread),
        })
    }

    /// The last successful reading (if any) and the last error (if the
    /// last run failed).
    pub fn latest(&self) -> (Option<AppleGpu>, Option<String>) {
        let l = self.shared.last.lock().unwrap_or_else(|e| e.into_inner());
        (l.reading, l.error.clone())
    }
}

fn poll(s: &Shared, argv: &[String], every: Duration) {
    let stopped = || *s.stop.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let began = Instant::now();
        let result = child::capture(argv, Duration::from_secs(5), &stopped).and_then(|t| parse(&t));
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
        let next = began + every;
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

impl Drop for IoregPoller {
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

    /// Trimmed from `ioreg -r -c AGXAccelerator -d 2` on an M2 Pro.
    const IOREG: &str = r#"+-o AGXAcceleratorG14X  <class AGXAcceleratorG14X, id 0x1000003d1, registered, matched, active, busy 0 (0 ms), retain 102>
    {
      "IOClass" = "AGXAcceleratorG14X"
      "PerformanceStatistics" = {"In use system memory (driver)"=0,"Alloc system memory"=2147483648,"Tiler Utilization %"=7,"recoveryCount"=0,"lastRecoveryTime"=0,"Renderer Utilization %"=12,"TiledSceneBytes"=1835008,"Device Utilization %"=15,"SplitSceneCount"=0,"Allocated PB Size"=209190912,"In use system memory"=1012547584}
      "gpu-core-count" = 19
    }
"#;

    #[test]
    fn performance_statistics_are_parsed() {
        assert_eq!(
            parse(IOREG).unwrap(),
            AppleGpu {
                device_util: Some(15.0),
                renderer_util: Some(12.0),
                tiler_util: Some(7.0),
            }
        );
        assert!(
            parse("+-o Root\n")
                .unwrap_err()
                .contains("no PerformanceStatistics")
        );
        assert!(
            parse("\"PerformanceStatistics\" = {\"recoveryCount\"=0}")
                .unwrap_err()
                .contains("no utilisation keys")
        );
        assert_eq!(IOREG_ARGV.join(" "), "ioreg -r -c AGXAccelerator -d 2");
    }

    #[test]
    fn the_poller_reports_the_last_reading_and_stops_on_drop() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("ioreg.txt");
        std::fs::write(&f, IOREG).unwrap();
        let argv = vec!["cat".to_string(), f.display().to_string()];
        let p = IoregPoller::start(argv, Duration::from_millis(50)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.latest().0.is_none() {
            assert!(Instant::now() < deadline, "no reading: {:?}", p.latest().1);
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(p.latest().0.unwrap().device_util, Some(15.0));
        // the source breaks: the error is reported next to the last reading
        std::fs::remove_file(&f).unwrap();
        while p.latest().1.is_none() {
            assert!(Instant::now() < deadline, "no error reported");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(p.latest().1.unwrap().contains("cat failed"));
        let started = Instant::now();
        drop(p);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
