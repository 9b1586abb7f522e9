//! mlxrun checks itself against its own stub server: TTFT and ITL measured
//! against known injected delays, `mlxrun calibrate`, and the client_check
//! flag of points that come near the measured ceiling.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use crate::common::*;

/// `mlxrun stub-server ARGS` on a free port; killed when dropped.
struct Stub {
    child: Child,
    url: String,
}

impl Stub {
    fn start(args: &[&str]) -> Stub {
        let mut child = mlxrun()
            .args(["stub-server", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {first:?}"))
            .to_string();
        Stub { child, url }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scenario that sends `requests` to the stub at `url` through the
/// `openai` backend.
fn stub_scenario(dir: &Path, name: &str, url: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"name = "{name}"

[model]
path = "stub"

[backend]
kind = "openai"

[backends.openai]
urls = ["{url}"]

[output]
dir = "{out}"

[workload]
warmup_requests = 0
retries = 0
{extra}
"#,
        out = dir.join("results").display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run_rows(
    dir: &Path,
    name: &str,
    path: &Path,
    sets: &[&str],
) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut c = mlxrun();
    c.arg(path).arg("--plain");
    for s in sets {
        c.args(["--set", s]);
    }
    run_ok(&mut c);
    let csv = csvs(dir, name).last().unwrap().clone();
    // the stub is the test's own: the run started nothing
    assert_clean_endpoint_run(&run_dir(&csv));
    read_rows(&csv)
}

#[test]
fn ttft_and_itl_match_the_stubs_injected_delays() {
    const TTFT_MS: f64 = 50.0;
    const ITL_MS: f64 = 5.0;
    const TOKENS: usize = 16;
    let stub = Stub::start(&["--ttft-ms", "50", "--itl-ms", "5"]);
    let t = tempfile::tempdir().unwrap();
    let path = stub_scenario(
        t.path(),
        "timing",
        &stub.url,
        "requests = 32\n\n[matrix]\nconcurrency = [4]\nmax_tokens = [16]\n",
    );
    let rows = run_rows(t.path(), "timing", &path, &[]);
    let r = &rows[0];
    assert_eq!(r["status"], "ok", "{r:?}");
    assert_eq!(r["total_tokens"], "512", "32 x 16 tokens");
    assert_eq!(r["excluded_requests"], "0");
    // Only what no load on the machine can change: the stub never answers
    // early (its first token at 50 ms, token k at 50 + 5k ms from when it
    // read the request, on an absolute schedule), and each request's
    // figures are in the order they happened. How close to the injected
    // delays mlxrun reads them is a benchmark's to say, not a test's
    // (`scripts/bench-client.sh`, section "accuracy"; `mlxrun calibrate`'s
    // `ttft_error_ms`).
    let run = run_dir(csvs(t.path(), "timing").last().unwrap());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(run.join("requests.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 32);
    let f = |l: &serde_json::Value, k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k}: {l}"));
    let last_token_ms = TTFT_MS + (TOKENS - 1) as f64 * ITL_MS;
    for l in &lines {
        let (ttft, e2e) = (f(l, "ttft_ms"), f(l, "e2e_ms"));
        let gaps: Vec<f64> = l["itl_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_f64().unwrap())
            .collect();
        assert_eq!(
            gaps.len(),
            TOKENS - 1,
            "a gap per token after the first: {l}"
        );
        assert!(gaps.iter().all(|g| *g >= 0.0), "{l}");
        // the first token, and the last (first + the gaps), never early
        let last = ttft + gaps.iter().sum::<f64>();
        assert!(
            ttft >= TTFT_MS,
            "TTFT {ttft} before the stub's {TTFT_MS} ms: {l}"
        );
        assert!(
            last >= last_token_ms - 0.01,
            "last token at {last} ms, before the stub's {last_token_ms}: {l}"
        );
        // first content, then the last content, then the end of the response
        assert!(ttft <= last && last <= e2e + 0.01, "{l}");
        let tpot = (e2e - ttft) / (TOKENS - 1) as f64;
        assert!((f(l, "tpot_ms") - tpot).abs() < 0.01, "{l}");
    }
    // and the row's figures are those of the requests
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let ttfts: Vec<f64> = lines.iter().map(|l| f(l, "ttft_ms")).collect();
    let gaps: Vec<f64> = lines
        .iter()
        .flat_map(|l| {
            l["itl_ms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_f64().unwrap())
        })
        .collect();
    let tpots: Vec<f64> = lines.iter().map(|l| f(l, "tpot_ms")).collect();
    for (col, want) in [
        ("ttft_mean_ms", mean(&ttfts)),
        ("itl_mean_ms", mean(&gaps)),
        ("tpot_mean_ms", mean(&tpots)),
    ] {
        assert!(
            (num(r, col) - want).abs() < 0.01,
            "{col}: {want} from the requests: {r:?}"
        );
    }
    assert!(num(r, "ttft_p50_ms") >= TTFT_MS, "{r:?}");
    eprintln!(
        "injected TTFT {TTFT_MS} ms, ITL {ITL_MS} ms; read: TTFT mean {} ms, ITL mean {} ms, TPOT mean {} ms",
        r["ttft_mean_ms"], r["itl_mean_ms"], r["tpot_mean_ms"]
    );
}

#[test]
fn calibrate_saves_ceilings_that_runs_compare_with() {
    let t = tempfile::tempdir().unwrap();
    let cal = t.path().join("calibration.json");
    let (stdout, _) = run_ok(
        mlxrun()
            .args([
                "calibrate",
                "--requests",
                "200",
                "--concurrency",
                "8",
                "--tokens",
                "16",
            ])
            .arg("--output")
            .arg(&cal),
    );
    assert!(
        stdout.contains("| request ceiling (1-token responses) |"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cal).unwrap()).unwrap();
    for key in [
        "requests_per_s_ceiling",
        "sse_events_per_s_ceiling",
        "client_cpu_ms_per_req",
    ] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
    // against a 200 ms TTFT the measured one is never early
    assert!(v["ttft_error_ms"].as_f64().unwrap() >= 0.0, "{v}");
    assert_eq!(v["build"], "debug");
    // the stub it started is gone: the address its log (beside the file)
    // gives answers no more
    let log = std::fs::read_to_string(t.path().join("calibration-stub.log")).unwrap();
    let ports: Vec<u16> = log
        .lines()
        .filter_map(|l| l.trim().strip_prefix("listening on http://127.0.0.1:"))
        .filter_map(|p| p.trim_end_matches('/').parse().ok())
        .collect();
    assert!(!ports.is_empty(), "{log}");
    for p in ports {
        assert!(!listening(p), "calibrate's stub on {p} still answers");
    }

    let stub = Stub::start(&["--burst"]);
    let path = stub_scenario(
        t.path(),
        "checked",
        &stub.url,
        "requests = 32\n\n[matrix]\nconcurrency = [4]\nmax_tokens = [8]\n",
    );
    let set = format!("run.calibration={}", cal.display());
    let rows = run_rows(t.path(), "checked", &path, &[&set]);
    assert!(
        !rows[0]["client_check"].contains("uncalibrated"),
        "{:?}",
        rows[0]
    );

    // a machine whose client could only do 1 request/s: every point is near it
    let mut low = v.clone();
    low["requests_per_s_ceiling"] = serde_json::json!(1.0);
    let low_path = t.path().join("low.json");
    std::fs::write(&low_path, low.to_string()).unwrap();
    let set = format!("run.calibration={}", low_path.display());
    let rows = run_rows(t.path(), "checked", &path, &[&set]);
    assert!(
        rows[0]["client_check"].contains("near_ceiling"),
        "{:?}",
        rows[0]
    );

    // without a calibration the point says so
    let rows = run_rows(
        t.path(),
        "checked",
        &path,
        &["run.calibration=/nonexistent.json"],
    );
    assert!(
        rows[0]["client_check"].starts_with("uncalibrated"),
        "{:?}",
        rows[0]
    );
}
