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
    // the stub never answers early: these lower bounds always hold; the
    // upper bounds leave room for a loaded machine (the benchmark in
    // README.md states the real accuracy)
    let ttft = num(r, "ttft_mean_ms");
    assert!(
        (50.0..80.0).contains(&ttft),
        "TTFT {ttft} for 50 ms injected"
    );
    assert!(num(r, "ttft_p50_ms") >= 50.0, "{r:?}");
    let itl = num(r, "itl_mean_ms");
    assert!((4.5..8.0).contains(&itl), "ITL {itl} for 5 ms injected");
    // a late first chunk shortens E2E − TTFT a little: no strict lower bound
    let tpot = num(r, "tpot_mean_ms");
    assert!(
        (4.5..8.0).contains(&tpot),
        "TPOT {tpot}: 15 gaps of 5 ms each"
    );
    assert_eq!(r["excluded_requests"], "0");
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
