//! How late sleeps fire: tokio's `sleep` against mlxrun's `PreciseTimer`.
//!
//!     cargo run --release --example timer_precision [-- SAMPLES]
//!
//! For each duration, SAMPLES sequential sleeps (default 200) on a
//! multi-thread runtime, then SAMPLES x 10 concurrent sleeps with deadlines
//! spread over 50 ms; prints the overshoot (actual wake - deadline) in
//! microseconds: mean, p50, p99, max. Neither timer can wake early.

use std::time::{Duration, Instant};

use mlxrun::timer;

#[derive(Clone, Copy)]
enum Which {
    Tokio,
    Precise,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Tokio => "tokio::time::sleep",
            Which::Precise => "PreciseTimer",
        }
    }

    async fn sleep_until(self, at: Instant) {
        match self {
            Which::Tokio => tokio::time::sleep_until(at.into()).await,
            Which::Precise => timer::global().sleep_until(at).await,
        }
    }
}

fn report(label: &str, which: Which, mut over_us: Vec<f64>) {
    over_us.sort_by(f64::total_cmp);
    let n = over_us.len();
    let mean = over_us.iter().sum::<f64>() / n as f64;
    let pct = |p: f64| over_us[((n as f64 * p).ceil() as usize).clamp(1, n) - 1];
    println!(
        "{label:<22} {:<20} mean {mean:>8.1}  p50 {:>8.1}  p99 {:>8.1}  max {:>8.1}",
        which.name(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
}

fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("overshoot in microseconds ({samples} samples each)");
        for d in [
            Duration::from_micros(200),
            Duration::from_millis(1),
            Duration::from_millis(5),
            Duration::from_millis(20),
        ] {
            for which in [Which::Tokio, Which::Precise] {
                let mut over = Vec::with_capacity(samples);
                for _ in 0..samples {
                    let at = Instant::now() + d;
                    which.sleep_until(at).await;
                    over.push(Instant::now().duration_since(at).as_secs_f64() * 1e6);
                }
                report(&format!("sequential {d:?}"), which, over);
            }
        }
        for which in [Which::Tokio, Which::Precise] {
            let base = Instant::now() + Duration::from_millis(5);
            let tasks: Vec<_> = (0..samples * 10)
                .map(|i| {
                    // deadlines spread evenly over 50 ms, not on ms boundaries
                    let at = base
                        + Duration::from_nanos(
                            (i as u64 * 50_000_000) / (samples as u64 * 10) + 137,
                        );
                    tokio::spawn(async move {
                        which.sleep_until(at).await;
                        Instant::now().duration_since(at).as_secs_f64() * 1e6
                    })
                })
                .collect();
            let mut over = Vec::with_capacity(tasks.len());
            for t in tasks {
                over.push(t.await.unwrap());
            }
            report(&format!("{} concurrent", samples * 10), which, over);
        }
    });
}
