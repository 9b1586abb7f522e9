//! `mlxrun calibrate`: how much load mlxrun's own client can drive on this
//! machine, measured against `mlxrun stub-server` started as a child
//! process (so the stub's CPU is not counted as the client's):
//!
//! 1. the SSE ceiling: streamed responses of `--tokens` tokens written in one
//!    burst, `--concurrency` in flight: requests/s, SSE events/s and the
//!    client's CPU per request;
//! 2. the request ceiling: the same with one-token responses;
//! 3. timing accuracy: a stub with a known 200 ms TTFT and 10 ms ITL, 16 in
//!    flight: the mean error of the TTFT and ITL mlxrun measures.
//!
//! The result is saved as JSON (default `.mlxrun/calibration.json`); every
//! run reads it and flags points whose load comes near the ceiling.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::{EXIT_OK, SetupError};
use crate::load::client::{RequestSpec, build_client};
use crate::load::driver::run_closed_loop;
use crate::load::request::{self, RequestShape};
use crate::media::PointMedia;
use crate::metrics::calibration::Calibration;
use crate::metrics::client_cpu;
use crate::metrics::point::{PointMetrics, SummaryOptions, summarize};
use crate::server::process::ManagedProcess;
use crate::spec::backend::{Api, TokenSource};
use crate::spec::scenario::{BalanceMethod, Sampling};
use crate::workload::Prompt;

/// Where runs look for the calibration (relative to the working directory).
pub const DEFAULT_PATH: &str = crate::spec::scenario::CALIBRATION_PATH;

/// Options of `mlxrun calibrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct CalibrateArgs {
    /// Requests per measurement (1 to 1000000).
    #[arg(long, default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub requests: u64,
    /// Requests in flight (1 to 65536).
    #[arg(long, default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub concurrency: u32,
    /// Tokens per streamed response in the SSE measurement (1 to 1048576).
    #[arg(long, default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub tokens: u32,
    /// Where to save the result.
    #[arg(long, default_value = DEFAULT_PATH)]
    pub output: PathBuf,
}

/// A stub server child process, stopped on drop of the process (group).
struct Stub {
    proc: ManagedProcess,
    base: String,
}

impl Stub {
    async fn start(args: &[&str], log: &Path) -> anyhow::Result<Stub> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let exe = std::env::current_exe()?;
        let mut argv = vec![
            exe.display().to_string(),
            "stub-server".to_string(),
            "--port".to_string(),
            port.to_string(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let proc = ManagedProcess::spawn("stub-server", &argv, log, &[])?;
        let base = format!("http://127.0.0.1:{port}");
        let client = build_client();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{base}/health")).send().await
                && r.status().is_success()
            {
                return Ok(Stub { proc, base });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut stub = Stub { proc, base };
        stub.stop().await;
        Err(SetupError(format!(
            "the stub server did not answer on {}; see {}",
            stub.base,
            log.display()
        ))
        .into())
    }

    async fn stop(&mut self) {
        self.proc.stop(Duration::from_secs(2)).await;
    }
}

/// A streamed chat request of `tokens` tokens to the stub at `base`, no
/// retries (also what `examples/stub_throughput.rs` sends).
pub fn stub_spec(base: &str, tokens: u32) -> Arc<RequestSpec> {
    let requests = request::build(&RequestShape {
        backend: "stub",
        api: Api::Chat,
        model: None,
        prompts: &[Prompt::user("calibrate the client".into(), None)],
        max_tokens: tokens,
        sampling: Sampling::GREEDY,
        stream: true,
        media: &PointMedia::None,
        audio_language: "",
        audio_response_format: "json",
    })
    .expect("a text request to a chat API always builds");
    Arc::new(RequestSpec {
        urls: vec![format!("{base}/v1/chat/completions")],
        balance: BalanceMethod::RoundRobin,
        bodies: requests.bodies,
        stream: true,
        timeout: Duration::from_secs(60),
        retries: 0,
        backoff: Duration::ZERO,
        headers: Default::default(),
        tag: "calibrate".into(),
        tokens: TokenSource::Usage,
        secret: None,
        form: None,
    })
}

/// One measurement: metrics, content events and client CPU per request.
async fn measure(
    base: &str,
    tokens: u32,
    concurrency: u32,
    requests: u64,
) -> anyhow::Result<(PointMetrics, u64, f64)> {
    let client = build_client();
    let never = CancellationToken::new();
    // warm the connection pool
    let _ = run_closed_loop(
        &client,
        stub_spec(base, tokens),
        concurrency,
        u64::from(concurrency),
        &never,
        |_| {},
    )
    .await;
    let cpu0 = client_cpu::cpu_time();
    let load = run_closed_loop(
        &client,
        stub_spec(base, tokens),
        concurrency,
        requests,
        &never,
        |_| {},
    )
    .await;
    let cpu =
        client_cpu::per_request_ms(cpu0, client_cpu::cpu_time(), load.records.len()).unwrap_or(0.0);
    let m = summarize(
        &load.records,
        &SummaryOptions {
            percentiles: &[50.0, 99.0],
            slo: None,
            max_tokens: tokens,
            open_loop: false,
        },
    );
    if m.errors > 0 {
        anyhow::bail!(
            "{} of {} calibration requests failed: {}",
            m.errors,
            m.requests,
            m.first_error.clone().unwrap_or_default()
        );
    }
    let events: u64 = load
        .records
        .iter()
        .filter(|r| r.ttft.is_some())
        .map(|r| r.itl_us.len() as u64 + 1)
        .sum();
    Ok((m, events, cpu))
}

/// Run `mlxrun calibrate`.
pub async fn run(args: CalibrateArgs) -> anyhow::Result<i32> {
    let dir = args
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&dir)
        .map_err(|e| SetupError(format!("cannot create {}: {e}", dir.display())))?;
    let log = dir.join("calibration-stub.log");
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; its ceiling is far below a release build's (cargo build --release)"
        );
    }
    let (c, n) = (args.concurrency, args.requests);
    eprintln!(
        "calibrate: SSE ceiling ({n} requests x {} tokens, {c} in flight)",
        args.tokens
    );
    let mut stub = Stub::start(&["--burst"], &log).await?;
    let sse = measure(&stub.base, args.tokens, c, n).await;
    eprintln!("calibrate: request ceiling ({n} requests x 1 token, {c} in flight)");
    let req = measure(&stub.base, 1, c, n).await;
    stub.stop().await;
    let ((sse_m, sse_events, cpu), (req_m, _, _)) = (sse?, req?);

    eprintln!("calibrate: timing accuracy (TTFT 200 ms, ITL 10 ms, 16 in flight)");
    let mut slow = Stub::start(&["--ttft-ms", "200", "--itl-ms", "10"], &log).await?;
    let acc = measure(&slow.base, 32, 16, 160).await;
    slow.stop().await;
    let (acc_m, _, _) = acc?;

    let cal = Calibration {
        mlxrun_version: crate::VERSION.into(),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
        measured_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        concurrency: c,
        tokens: args.tokens,
        requests_per_s_ceiling: req_m.requests_per_s,
        sse_events_per_s_ceiling: sse_events as f64 / sse_m.elapsed_s.max(1e-9),
        sse_requests_per_s: sse_m.requests_per_s,
        client_cpu_ms_per_req: cpu,
        zero_delay_ttft_ms: sse_m.ttft_ms.mean.unwrap_or(0.0),
        ttft_error_ms: acc_m.ttft_ms.mean.unwrap_or(f64::NAN) - 200.0,
        itl_error_ms: acc_m.itl_ms.mean.unwrap_or(f64::NAN) - 10.0,
    };
    // replaced whole: a crash leaves the earlier calibration or this one
    let json = serde_json::to_string_pretty(&cal)? + "\n";
    crate::durable::replace(&args.output, json.as_bytes())
        .map_err(|e| SetupError(format!("cannot write {}: {e}", args.output.display())))?;
    println!("| measure | value |\n|---|---|");
    println!(
        "| request ceiling (1-token responses) | {:.0} requests/s |",
        cal.requests_per_s_ceiling
    );
    println!(
        "| SSE ceiling ({}-token responses) | {:.0} requests/s, {:.0} events/s |",
        cal.tokens, cal.sse_requests_per_s, cal.sse_events_per_s_ceiling
    );
    println!(
        "| client CPU per request | {:.3} ms |",
        cal.client_cpu_ms_per_req
    );
    println!(
        "| TTFT against a zero-delay stub | {:.3} ms |",
        cal.zero_delay_ttft_ms
    );
    println!(
        "| TTFT error (200 ms injected) | {:+.3} ms |",
        cal.ttft_error_ms
    );
    println!(
        "| ITL error (10 ms injected) | {:+.3} ms |",
        cal.itl_error_ms
    );
    println!("saved {} ({} build)", args.output.display(), cal.build);
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> Calibration {
        Calibration {
            mlxrun_version: "0".into(),
            build: "release".into(),
            measured_at: String::new(),
            cpus: 2,
            concurrency: 64,
            tokens: 256,
            requests_per_s_ceiling: 10_000.0,
            sse_events_per_s_ceiling: 1_000_000.0,
            sse_requests_per_s: 4_000.0,
            client_cpu_ms_per_req: 0.2,
            zero_delay_ttft_ms: 1.0,
            ttft_error_ms: 0.1,
            itl_error_ms: 0.05,
        }
    }

    #[test]
    fn points_near_either_ceiling_are_flagged() {
        let c = cal();
        assert_eq!(c.near_ceiling(100.0, 10_000.0), None);
        assert!(
            c.near_ceiling(7_500.0, 0.0)
                .unwrap()
                .contains("75% of the client's request")
        );
        assert!(
            c.near_ceiling(10.0, 900_000.0)
                .unwrap()
                .contains("90% of the client's SSE")
        );
    }

    #[test]
    fn calibration_round_trips_through_its_file() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c.json");
        std::fs::write(&p, serde_json::to_string(&cal()).unwrap()).unwrap();
        assert_eq!(Calibration::load(&p), Some(cal()));
        assert_eq!(Calibration::load(&t.path().join("none.json")), None);
        std::fs::write(&p, "{not json").unwrap();
        assert_eq!(Calibration::load(&p), None);
    }
}
