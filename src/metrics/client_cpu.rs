//! The CPU time mlxrun itself spends (user + system, all threads), read with
//! `getrusage(RUSAGE_SELF)`: what a point's load cost the client, so a run
//! can show that the client was not the bottleneck.

use std::time::Duration;

/// CPU time used by this process so far; `None` where the OS does not say.
pub fn cpu_time() -> Option<Duration> {
    // SAFETY: getrusage writes into the zeroed struct we own and reads nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return None;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    Some(tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// Milliseconds of CPU per request between two readings.
pub fn per_request_ms(
    before: Option<Duration>,
    after: Option<Duration>,
    requests: usize,
) -> Option<f64> {
    let (b, a) = (before?, after?);
    (requests > 0).then(|| a.saturating_sub(b).as_secs_f64() * 1e3 / requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_time().expect("getrusage works on Linux and macOS");
        // burn some CPU on this thread
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = cpu_time().unwrap();
        assert!(after > before, "{before:?} -> {after:?}");
        let per = per_request_ms(Some(before), Some(after), 10).unwrap();
        assert!(per > 0.0);
        assert_eq!(per_request_ms(Some(before), Some(after), 0), None);
        assert_eq!(per_request_ms(None, Some(after), 3), None);
    }
}
