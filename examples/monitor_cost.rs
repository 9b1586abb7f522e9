//! What the monitor costs: runs it for `--seconds` (default 10) at
//! `--interval-ms` (default 200) with and without a tracked process tree
//! (this process), and prints the sampler thread's CPU per sample and the
//! interval statistics from the summary. Use a release build:
//! `cargo run --release --example monitor_cost`.

use std::time::Duration;

use mlxrun::monitor::Monitor;

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let seconds = arg("--seconds", 10.0);
    let interval = Duration::from_secs_f64(arg("--interval-ms", 200.0) / 1e3);
    let dir = std::env::temp_dir().join(format!("mlxrun-monitor-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp folder");
    println!(
        "| process tree | samples | missed | interval mean ms | p95 ms | late max ms | sampler CPU ms/sample |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for tracked in [false, true] {
        let path = dir.join(format!("cost-{tracked}.jsonl"));
        let m = Monitor::start(&path, interval).expect("the monitor starts");
        if tracked {
            m.set_processes(vec![("self".into(), std::process::id() as i32)]);
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        let s = m.stop();
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            if tracked { "tracked" } else { "none" },
            s.ticks,
            s.missed,
            f(s.interval_mean_ms),
            f(s.interval_p95_ms),
            f(s.late_max_ms),
            f(s.sampler_cpu_ms_per_sample),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
