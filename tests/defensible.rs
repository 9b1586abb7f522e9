//! Numbers you can defend, end to end: the shape warmup keeps a server's
//! cold start out of the first point; repeats and their combined row.

use std::path::Path;

use crate::common::*;

/// The CSV rows of the one run of `name` under `dir`.
fn only_run(dir: &Path, name: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let csv = csvs(dir, name);
    assert_eq!(csv.len(), 1, "{csv:?}");
    read_rows(&csv[0])
}

#[test]
fn the_shape_warmup_keeps_a_cold_start_out_of_the_first_point() {
    // the first 4 requests of each max_tokens value wait 400 ms more, as a
    // server compiling kernels for a new shape
    let backend = stub_backend(
        "stub",
        &[
            "--ttft-ms",
            "5",
            "--itl-ms",
            "1",
            "--cold-ms",
            "400",
            "--cold-requests",
            "4",
        ],
    );
    let body = format!(
        "{backend}[workload]\nrequests = 12\nwarmup_requests = 0\n\n[matrix]\nconcurrency = 1\nmax_tokens = 8\n\n[run]\nrepeats = 2\n"
    );
    for warm in [false, true] {
        let t = tempfile::tempdir().unwrap();
        let name = if warm { "warm" } else { "cold" };
        let scenario = stub_scenario(t.path(), name, port_block(), &body);
        let out = mlxrun()
            .arg(&scenario)
            .args(["--plain", "--set", &format!("run.warmup.enabled={warm}")])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = only_run(t.path(), name);
        let kinds: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r["row_kind"].as_str(), r["repeat"].as_str()))
            .collect();
        assert_eq!(kinds, [("repeat", "1"), ("repeat", "2"), ("point", "")]);
        assert!(stdout.contains("point 1/1 repeat 1/2 "), "{stdout}");
        assert!(
            stdout.contains("point 1/1 (2 repeats combined) "),
            "{stdout}"
        );
        let (first, second) = (num(&rows[0], "ttft_mean_ms"), num(&rows[1], "ttft_mean_ms"));
        if warm {
            // round 1 is cold, rounds 2 and 3 agree: 12 warmup requests
            assert_eq!(rows[0]["warmup_steady"], "true");
            assert!(num(&rows[0], "warmup_requests") >= 12.0, "{:?}", rows[0]);
            assert_eq!(rows[1]["warmup_requests"], "0", "the shape is warm by now");
            assert!(
                first < 2.0 * second + 5.0,
                "first {first} ms, second {second} ms"
            );
            assert!(!rows[0]["quality_flags"].contains("not_warmed"));
        } else {
            assert_eq!(rows[0]["warmup_requests"], "0");
            // 4 of 12 requests paid the cold start
            assert!(
                first > 100.0 && second < 50.0,
                "first {first} ms, second {second} ms"
            );
        }
        assert_nothing_left(&run_dir(&csvs(t.path(), name)[0]));
    }
}
