//! The monitor, the report schema and the memory gate in real runs against
//! mlx_lm.server (and nginx): every run leaves a `monitor.jsonl` and a
//! `report.jsonl` that `mlxrun validate-report` accepts, with health and
//! quality flags per point; the gate refuses (or skips) a configuration
//! sized to exceed this machine before starting anything.

use std::path::Path;

use crate::common::*;

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// This machine's RAM in bytes (`MemTotal`).
fn ram_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// A model folder whose weights (a sparse file: no disk used) are `bytes` big.
fn huge_model(dir: &Path, bytes: u64) -> std::path::PathBuf {
    let m = dir.join("huge-model");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("config.json"), r#"{"model_type": "llama"}"#).unwrap();
    let f = std::fs::File::create(m.join("model.safetensors")).unwrap();
    f.set_len(bytes).unwrap();
    m
}

#[test]
fn a_real_run_leaves_a_monitor_and_a_report_that_validate() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    // two configurations (1 and 2 instances), two points each
    let path = write_scenario(
        t.path(),
        "observed",
        port,
        "[workload]\nrequests_per_concurrency = 4\nwarmup_requests = 1\n\n[matrix]\ninstances = [1, 2]\nconcurrency = [1, 2]\nmax_tokens = 16\n\n[memory]\nmonitor_interval_ms = 100\n",
    );
    run_ok(mlxrun().arg(&path).arg("--plain"));
    let files = csvs(t.path(), "observed");
    let run = run_dir(&files[0]);
    assert_clean_run(&run);

    let (stdout, _) = run_ok(
        mlxrun()
            .arg("validate-report")
            .arg(run.join("report.jsonl"))
            .arg(run.join("monitor.jsonl")),
    );
    assert!(stdout.contains("4/4 records valid"), "{stdout}");

    // report: timestamps, health, flags, model, system
    let report = jsonl(&run.join("report.jsonl"));
    assert_eq!(report.len(), 4);
    for (i, r) in report.iter().enumerate() {
        let (start, end) = (
            r["test_start_ts"].as_f64().unwrap(),
            r["test_end_ts"].as_f64().unwrap(),
        );
        assert!(end > start && start > 1.7e9, "{r}");
        assert!((r["duration"].as_f64().unwrap() - (end - start)).abs() < 1e-6);
        assert_eq!(r["outcome"], "ok");
        assert_eq!(r["metadata"]["inference_modality"], "text");
        assert_eq!(r["model"]["id"], "tiny-llama");
        assert_eq!(r["model"]["framework"], "MLX");
        assert!(r["model"]["size_gb"].as_f64().unwrap() > 0.0);
        let h = &r["system_health"];
        assert!(h["samples"].as_u64().unwrap() >= 2, "{h}");
        assert!(h["ram_available_min_gb"].as_f64().unwrap() > 0.0);
        assert_eq!(h["leftover_processes"], 0);
        let flags: Vec<&str> = h["quality_flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(!flags.contains(&"unmonitored"), "{flags:?}");
        assert!(!flags.contains(&"degraded_zombies"), "{flags:?}");
        // the servers' own processes were tracked: a Python server with a
        // model loaded holds well over 50 MB
        let rss = r["resources"]["server_rss_peak_mb"].as_f64().unwrap();
        assert!(rss > 50.0, "point {i}: server RSS {rss} MB");
        let instances = r["resources"]["instances"].as_object().unwrap();
        let servers = instances
            .keys()
            .filter(|k| k.starts_with("instance"))
            .count();
        assert_eq!(servers, r["point"]["instances"].as_u64().unwrap() as usize);
        assert!(r["system"]["mlx_lm_version"].is_string(), "{}", r["system"]);
        assert!(
            r["system"]["hardware_profile"]["logical_cores"]
                .as_u64()
                .unwrap()
                >= 1
        );
    }
    // the second configuration waited for memory to come back, first point only
    assert!(
        report[2]["system_health"]["release"]["released"]
            .as_bool()
            .unwrap()
    );
    assert!(report[3]["system_health"]["release"].is_null());
    assert!(report[1]["system_health"]["release"].is_null());

    // the CSV carries the same flags
    let rows = read_rows(&files[0]);
    for (row, r) in rows.iter().zip(&report) {
        let flags: Vec<String> = r["system_health"]["quality_flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        assert_eq!(row["quality_flags"], flags.join("+"));
        assert!(num(row, "server_rss_peak_mb") > 50.0);
        assert_eq!(row["inference_modality"], "text");
    }

    // monitor: header first, summary last, markers around every point,
    // samples inside each point's window
    let mon = jsonl(&run.join("monitor.jsonl"));
    assert_eq!(mon[0]["kind"], "header");
    assert_eq!(mon.last().unwrap()["kind"], "summary");
    let events = |name: &str| -> Vec<&serde_json::Value> {
        mon.iter()
            .filter(|v| v["kind"] == "event" && v["name"] == name)
            .collect()
    };
    assert_eq!(events("point_start").len(), 4);
    assert_eq!(events("point_end").len(), 4);
    assert_eq!(events("servers_started").len(), 2);
    assert_eq!(events("servers_stopped").len(), 2);
    assert_eq!(events("memory_release").len(), 1);
    let samples: Vec<&serde_json::Value> = mon.iter().filter(|v| v["kind"] == "sample").collect();
    assert!(samples.len() >= 8, "{} samples", samples.len());
    assert!(
        samples
            .iter()
            .any(|s| s["instances"]["instance-1"]["rss_mb"]
                .as_f64()
                .unwrap_or(0.0)
                > 50.0),
        "the second instance of configuration 2 was sampled"
    );
}

#[test]
fn the_memory_gate_refuses_an_oversized_configuration_before_starting_anything() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    // one copy of weights as big as this machine's RAM: 1.2 × RAM > 70% of RAM
    let huge = huge_model(t.path(), ram_bytes());
    let path = write_scenario(
        t.path(),
        "too_big",
        port,
        &format!(
            "[[models]]\nname = \"huge\"\npath = \"{}\"\nbackend = \"mlx_lm\"\n\n[matrix]\ninstances = [2]\nconcurrency = 1\nmax_tokens = 8\n",
            huge.display()
        ),
    );
    // nothing started, checked while mlxrun runs and from what it left:
    // not even a results folder, no processes.jsonl (so no run to check
    // clean)
    let refused = run_refused(
        mlxrun().arg(&path).arg("--plain"),
        t.path(),
        &t.path().join("results"),
        &[port, port + 1, port + 9],
    );
    let stderr = &refused.stderr;
    assert_eq!(refused.output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("the memory gate refuses 1 of 1 server configuration(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("configuration 1 (2 × mlx_lm `huge`)"),
        "{stderr}"
    );
    assert!(stderr.contains("2 copies ×"), "{stderr}");
    assert!(stderr.contains("(70% of"), "{stderr}");
    assert!(stderr.contains("memory.over_limit = \"skip\""), "{stderr}");
}

#[test]
fn with_over_limit_skip_the_oversized_configuration_is_recorded_and_the_rest_runs() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let huge = huge_model(t.path(), ram_bytes());
    let path = write_scenario(
        t.path(),
        "some_too_big",
        port,
        &format!(
            "[[models]]\nname = \"tiny\"\npath = \"{}\"\n\n[[models]]\nname = \"huge\"\npath = \"{}\"\nbackend = \"mlx_lm\"\n\n[workload]\nrequests_per_concurrency = 2\n\n[matrix]\nconcurrency = 1\nmax_tokens = 8\n\n[memory]\nover_limit = \"skip\"\n",
            tiny_model(),
            huge.display()
        ),
    );
    let (_, stderr) = run_ok(mlxrun().arg(&path).arg("--plain"));
    let files = csvs(t.path(), "some_too_big");
    let rows = read_rows(&files[0]);
    assert_eq!(rows.len(), 2, "{stderr}");
    let tiny = rows.iter().find(|r| r["model"] == "tiny").unwrap();
    let huge_row = rows.iter().find(|r| r["model"] == "huge").unwrap();
    assert_eq!(tiny["status"], "ok");
    assert_eq!(huge_row["status"], "skipped");
    assert!(
        huge_row["status_detail"].starts_with("memory gate: needs ~"),
        "{huge_row:?}"
    );
    let run = run_dir(&files[0]);
    // the huge model was never started
    let starts = journal_starts(&run);
    assert!(
        starts
            .iter()
            .all(|(_, argv)| !argv.iter().any(|a| a.contains("huge-model"))),
        "{starts:?}"
    );
    let (stdout, _) = run_ok(
        mlxrun()
            .arg("validate-report")
            .arg(run.join("report.jsonl")),
    );
    assert!(stdout.contains("2/2 records valid"), "{stdout}");
    let report = jsonl(&run.join("report.jsonl"));
    let skipped = report.iter().find(|r| r["outcome"] == "skipped").unwrap();
    assert!(skipped["model"]["size_gb"].as_f64().unwrap() > 1.0);
    assert_clean_run(&run);
}

#[test]
fn validate_report_names_line_and_field_and_exits_1() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("bad.jsonl");
    std::fs::write(
        &f,
        "{\"kind\": \"sample\", \"ts\": \"late\"}\n{\"schema_version\": \"0.4.0\"}\n",
    )
    .unwrap();
    // `validate-report` reads files: it starts nothing and writes no run
    // folder, so there is no run to check clean
    let out = mlxrun().arg("validate-report").arg(&f).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("bad.jsonl:1: /ts:"), "{stdout}");
    assert!(stdout.contains("bad.jsonl:2:"), "{stdout}");
    assert!(stdout.contains("INVALID"), "{stdout}");
    assert!(stdout.contains("0/2 records valid"), "{stdout}");
    let out = mlxrun()
        .arg("validate-report")
        .arg(t.path().join("missing.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
