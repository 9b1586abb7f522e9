//! Requests per second of the stub, driven by mlxrun's own client (the
//! closed-loop driver: CONCURRENCY requests in flight).
//!
//!     cargo run --release --example stub_throughput
//!     cargo run --release --example stub_throughput -- --concurrency 64 --requests 2000 --tokens 256
//!     cargo run --release --example stub_throughput -- --no-burst
//!     cargo run --release --example stub_throughput -- --url http://127.0.0.1:8000
//!
//! Without --url the stub runs in this process on its own tokio runtime
//! (its own worker threads, as a separate `mlxrun stub-server` would), in
//! burst mode unless --no-burst. The client is warmed up (connections
//! opened) before the measured run.

use clap::Parser;
use mlxrun::cmd::calibrate::stub_spec;
use mlxrun::load::client::build_client;
use mlxrun::load::driver::run_closed_loop;
use mlxrun::stub::{StubConfig, serve};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 64)]
    concurrency: u32,
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// Output tokens per request.
    #[arg(long, default_value_t = 256)]
    tokens: u32,
    /// One frame per token instead of the whole body at once.
    #[arg(long)]
    no_burst: bool,
    /// Worker threads of the in-process stub's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Drive a stub that is already running (base URL) instead.
    #[arg(long)]
    url: Option<String>,
}

/// Start the stub on its own runtime; its base URL.
fn start_stub(cfg: StubConfig, threads: usize, cancel: CancellationToken) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", l.local_addr().unwrap()))
                .unwrap();
            serve(l, cfg, cancel).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn main() {
    let args = Args::parse();
    let cancel = CancellationToken::new();
    let base = args.url.clone().unwrap_or_else(|| {
        let cfg = StubConfig {
            burst: !args.no_burst,
            ..Default::default()
        };
        start_stub(cfg, args.server_threads, cancel.clone())
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let spec = stub_spec(&base, args.tokens);
        let client = build_client();
        let never = CancellationToken::new();
        let warm = u64::from(args.concurrency) * 2;
        run_closed_loop(&client, spec.clone(), args.concurrency, warm, &never, |_| {}).await;
        let load = run_closed_loop(
            &client,
            spec,
            args.concurrency,
            args.requests,
            &never,
            |_| {},
        )
        .await;
        let ok = load.records.iter().filter(|r| r.ok()).count();
        let tokens: u64 = load.records.iter().map(|r| r.completion_tokens).sum();
        let wall = load.wall.as_secs_f64();
        let mut e2e: Vec<f64> = load
            .records
            .iter()
            .map(|r| r.e2e.as_secs_f64() * 1e3)
            .collect();
        e2e.sort_by(f64::total_cmp);
        let pct = |p: f64| e2e[((e2e.len() as f64 * p).ceil() as usize).clamp(1, e2e.len()) - 1];
        println!(
            "{} mode, concurrency {}, {} requests x {} tokens: {:.0} requests/s, {:.0} tokens/s, {} failed, e2e p50 {:.2} ms p99 {:.2} ms, wall {:.3} s",
            if args.no_burst { "token-by-token" } else { "burst" },
            args.concurrency,
            args.requests,
            args.tokens,
            ok as f64 / wall,
            tokens as f64 / wall,
            load.records.len() - ok,
            pct(0.5),
            pct(0.99),
            wall,
        );
    });
    cancel.cancel();
}
