//! Is the accelerator already busy before a configuration's servers start,
//! with nothing of mlxrun's on it? Another program's GPU work would share
//! the device with every point of the configuration (mlx-knife refuses to
//! start above 10%). [`busy_now`] reads the GPUs' utilisation for about a
//! second: NVIDIA GPUs through NVML (`gpu`), the Apple GPU's "Device
//! Utilization %" through `ioreg` (`ioreg`), and gives the busiest
//! device's mean over the reads; `None` where no GPU can be read.

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::time::Duration;

/// How long [`busy_now`] reads.
pub const SPAN: Duration = Duration::from_secs(1);

/// Reads over the span: at its start, its end and evenly between.
const READS: u32 = 5;

/// The busiest device's mean utilisation (percent, 1 decimal) over a set
/// of reads: `reads[k][d]` is device `d`'s utilisation at read `k`
/// (`None`: that read failed). `None` when no read of any device worked.
pub fn busiest_mean(reads: &[Vec<Option<f64>>]) -> Option<f64> {
    let devices = reads.iter().map(Vec::len).max().unwrap_or(0);
    (0..devices)
        .filter_map(|d| {
            let known: Vec<f64> = reads
                .iter()
                .filter_map(|r| r.get(d).copied().flatten())
                .filter(|v| v.is_finite())
                .collect();
            (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
        })
        .max_by(f64::total_cmp)
        .map(|v| (v * 10.0).round() / 10.0)
}

/// Read the GPUs [`READS`] times over `span` (blocking) and return
/// [`busiest_mean`] of the reads.
pub fn busy_now_blocking(span: Duration) -> Option<f64> {
    let mut read = reader()?;
    let gap = span / (READS - 1);
    let mut reads = Vec::new();
    for k in 0..READS {
        if k > 0 {
            std::thread::sleep(gap);
        }
        reads.push(read());
    }
    busiest_mean(&reads)
}

/// How busy the accelerator is now, over [`SPAN`]: [`busy_now_blocking`]
/// on a blocking thread, so the caller's runtime keeps going. Call it with
/// none of mlxrun's servers running.
pub async fn busy_now() -> Option<f64> {
    tokio::task::spawn_blocking(|| busy_now_blocking(SPAN))
        .await
        .ok()
        .flatten()
}

/// One read of every device's utilisation, or `None` when there is no GPU
/// to read here.
#[cfg(not(target_os = "macos"))]
fn reader() -> Option<impl FnMut() -> Vec<Option<f64>>> {
    let nvml = super::gpu::open().ok()?;
    Some(move || nvml.read().into_iter().map(|g| g.util_pct).collect())
}

#[cfg(target_os = "macos")]
fn reader() -> Option<impl FnMut() -> Vec<Option<f64>>> {
    use super::ioreg::{IOREG_ARGV, parse};
    let argv: Vec<String> = IOREG_ARGV.iter().map(|s| s.to_string()).collect();
    let mut once = move || {
        super::child::capture(&argv, Duration::from_secs(5), &|| false)
            .and_then(|t| parse(&t))
            .ok()
            .and_then(|g| g.device_util)
    };
    // no accelerator to read at all: say so at once rather than after a second
    let first = once()?;
    let mut pending = Some(first);
    Some(move || vec![pending.take().or_else(&mut once)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_device_decides() {
        // two GPUs: one idle, one busy with something else
        let reads = vec![
            vec![Some(0.0), Some(40.0)],
            vec![Some(1.0), Some(60.0)],
            vec![Some(2.0), None],
        ];
        assert_eq!(busiest_mean(&reads), Some(50.0));
        // one device, reads that failed are skipped, not zeros
        assert_eq!(
            busiest_mean(&[vec![Some(12.0)], vec![None], vec![Some(13.0)]]),
            Some(12.5)
        );
        // a device that vanished from later reads still counts its reads
        assert_eq!(
            busiest_mean(&[vec![Some(5.0), Some(30.0)], vec![Some(7.0)]]),
            Some(30.0)
        );
        assert_eq!(busiest_mean(&[]), None);
        assert_eq!(busiest_mean(&[vec![], vec![None]]), None);
        assert_eq!(busiest_mean(&[vec![Some(f64::NAN)]]), None);
        assert_eq!(busiest_mean(&[vec![Some(3.333)]]), Some(3.3));
    }

    #[cfg(not(target_os = "macos"))]
    #[tokio::test]
    async fn without_nvml_there_is_nothing_to_read() {
        match super::super::gpu::open() {
            // this machine has no NVIDIA driver: unknown, at once, without
            // waiting out the span (40 s here: reading would sleep 10 s
            // before its second read; the answer takes milliseconds)
            Err(_) => {
                assert_eq!(busy_now().await, None);
                let span = Duration::from_secs(40);
                let began = std::time::Instant::now();
                assert_eq!(busy_now_blocking(span), None);
                assert!(began.elapsed() < span / (READS - 1));
            }
            Ok(_) => {
                let v = busy_now().await.expect("NVML reads utilisation");
                assert!((0.0..=100.0).contains(&v), "{v}");
            }
        }
    }
}
