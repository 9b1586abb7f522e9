//! `mlxrun tune` end to end against stub servers whose batch (`--slots`)
//! makes throughput plateau: the search finds the configuration with the
//! larger batch, a configuration that does not start is recorded and
//! excluded while the search goes on, every probe is a schema-valid row,
//! tune.jsonl holds the decisions and the result, the reports show the
//! search, and an interrupted search resumes by replaying what it measured.
//! And `scenarios/full_sweep.toml` as shipped, searched against the real
//! mlx_lm.server with the tiny model within a budget.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A stub scenario: 20 ms to the first token, 2 ms a token, 16 tokens;
/// `--slots` 2, 8 and one that cannot start; concurrency 1 to 32.
fn scenario(dir: &Path, name: &str, port: u16) -> PathBuf {
    let body = format!(
        r#"{backend}[workload]
prompt = "hi"
requests_per_concurrency = 8
warmup_requests = 0

[matrix]
concurrency = [1, 2, 4, 8, 16, 32]
max_tokens = 16

[matrix.server_flags]
slots = [2, 8, "none"]

[run.warmup]
enabled = false

[tune]
seed = 3
"#,
        backend = stub_backend("stub", &["--ttft-ms", "20", "--itl-ms", "2"]),
    );
    stub_scenario(dir, name, port, &body)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run_dir_of(out: &Output) -> PathBuf {
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run_dir="))
        .unwrap_or_else(|| panic!("no run_dir= in {stdout}"));
    PathBuf::from(line)
}

#[test]
fn the_search_finds_the_larger_batch_and_goes_on_past_a_server_that_does_not_start() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = scenario(t.path(), "tune_stub", port);
    let out = mlxrun()
        .args(["tune", path.to_str().unwrap(), "--plain"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let run = run_dir_of(&out);
    assert!(stdout.contains("tune best: slots=8"), "{stdout}");
    assert!(
        stdout.contains("tune excluded: slots=none: did not start"),
        "{stdout}"
    );
    assert!(stdout.contains("tune cost:"), "{stdout}");
    assert!(stdout.contains("tune_file="), "{stdout}");

    // every probe is a row of the CSV and a schema-valid record
    assert_clean_run(&run);
    let records = lines(&run.join("report.jsonl"));
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(r["row_kind"], "probe", "{r}");
        assert!(r["search"]["probe"].as_u64().unwrap() >= 1, "{r}");
    }
    let csv = csvs(t.path(), "tune_stub").pop().unwrap();
    let rows = read_rows(&csv);
    assert_eq!(rows.len(), records.len());
    assert!(
        rows.iter()
            .all(|r| r["row_kind"] == "probe" && !r["search_probe"].is_empty())
    );

    // the decisions: what was searched, the exclusion, knees, the result
    let log = lines(&run.join("tune.jsonl"));
    let kinds: Vec<&str> = log.iter().filter_map(|l| l["decision"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"search_started"));
    assert_eq!(kinds.last(), Some(&"result"));
    assert!(kinds.contains(&"config_excluded"), "{kinds:?}");
    assert!(kinds.contains(&"knee_found"), "{kinds:?}");
    let started = &log[0];
    assert_eq!(started["load_axis"], "concurrency");
    assert_eq!(started["full_product"]["points"], 18);
    let result = log.last().unwrap();
    assert!(
        result["best"]["label"]
            .as_str()
            .unwrap()
            .contains("slots=8"),
        "{result}"
    );
    // the larger batch's knee is at its slots, not beyond: 8, or 16 when
    // the 8's interval does not reach the plateau's on a busy machine
    let knee = result["best"]["knee_load"].as_f64().unwrap();
    assert!((8.0..=16.0).contains(&knee), "knee {knee}: {result}");
    // each probe measured is in tune.jsonl with its observation
    let measured = kinds.iter().filter(|k| **k == "probe_measured").count();
    assert_eq!(measured, records.len());
    // the servers were started once per configuration probed in a round
    // at most: never once per probe
    let starts = journal_starts(&run).len();
    assert!(
        starts < records.len(),
        "{starts} starts for {} probes",
        records.len()
    );

    // the reports show the search
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("## Search"), "{md}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("sec-search"));
}

#[test]
fn a_search_stopped_by_its_budget_resumes_by_replaying_what_it_measured() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = scenario(t.path(), "tune_resume", port);
    let chosen = |log: &[Value]| -> Vec<(u64, u64, u64, u64)> {
        log.iter()
            .filter(|l| l["decision"] == "probe_chosen")
            .map(|l| {
                (
                    l["probe"].as_u64().unwrap(),
                    l["config"].as_u64().unwrap(),
                    l["load_index"].as_u64().unwrap(),
                    l["requests"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // a search stopped after 3 probes by its budget
    let first = mlxrun()
        .args(["tune", path.to_str().unwrap(), "--plain"])
        .args(["--set", "tune.max_points=3"])
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let run = run_dir_of(&first);
    assert_eq!(lines(&run.join("report.jsonl")).len(), 3);
    let before = chosen(&lines(&run.join("tune.jsonl")));
    assert_eq!(before.len(), 3, "{before:?}");
    // resumed with the budget lifted (the saved scenario has the old one)
    let resumed = mlxrun()
        .args(["resume", run.to_str().unwrap(), "--plain"])
        .args(["--set", "tune.max_points=0"])
        .output()
        .unwrap();
    let stdout = text(&resumed.stdout);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&resumed.stderr)
    );
    assert!(
        stdout.contains("3 probe(s) measured before are replayed"),
        "{stdout}"
    );
    assert!(stdout.contains("tune best: slots=8"), "{stdout}");
    let log = lines(&run.join("tune.jsonl"));
    // the replayed probes are not chosen (or measured) again: the search
    // goes on from probe 4
    let after = chosen(&log);
    assert_eq!(after[..3], before[..], "{after:?}");
    assert_eq!(after[3].0, 4, "{after:?}");
    let records = lines(&run.join("report.jsonl"));
    let mut ids: Vec<u64> = records
        .iter()
        .map(|r| r["search"]["probe"].as_u64().unwrap())
        .collect();
    assert_eq!(ids[..3], [1, 2, 3]);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), records.len(), "a probe measured twice: {ids:?}");
    assert_eq!(
        log.iter()
            .filter(|l| l["decision"] == "search_started")
            .count(),
        2
    );
    assert_eq!(log.last().unwrap()["decision"], "result");
    assert_clean_run(&run);
}

#[test]
fn a_run_folder_resumes_only_as_what_it_was() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = scenario(t.path(), "tune_kind", port);
    let out = mlxrun()
        .args(["tune", path.to_str().unwrap(), "--plain"])
        .args(["--set", "tune.max_points=4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run = run_dir_of(&out);
    let refused = mlxrun()
        .args(["run", path.to_str().unwrap(), "--plain"])
        .args(["--set", "tune.max_points=4"])
        .args(["--resume", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let e = text(&refused.stderr);
    assert!(
        e.contains("is a search") && e.contains("next: mlxrun tune --resume"),
        "{e}"
    );
}

/// `mlxrun tune scenarios/full_sweep.toml`, the scenario as shipped,
/// against the real mlx_lm.server and the tiny model: its whole search is
/// hours on 2 cores, so a budget of three probes stops it, as
/// `tune.max_s` would on a Mac. The probes are real rows, the result
/// names the budget, and nothing is left running.
#[test]
fn the_shipped_full_sweep_is_searched_on_the_real_server_within_a_budget() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let out = mlxrun()
        .args(["tune", "scenarios/full_sweep.toml", "--plain"])
        .args(["--set", &format!("output.dir={}", t.path().display())])
        .args(["--set", &format!("backend.base_port={port}")])
        .args(["--set", &format!("router.port={}", port + 9)])
        .args(["--set", &format!("backend.python={}", python())])
        .args(["--set", &format!("model.path={}", tiny_model())])
        .args(["--set", "tune.max_points=3"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("stopped: budget: tune.max_points reached"),
        "{stdout}"
    );
    assert!(stdout.contains("tune best: instances="), "{stdout}");
    let run = run_dir_of(&out);
    let log = lines(&run.join("tune.jsonl"));
    let started = &log[0];
    assert_eq!(started["full_product"]["points"], 432, "{started}");
    assert_eq!(started["configs"].as_array().unwrap().len(), 48);
    let measured: Vec<&Value> = log
        .iter()
        .filter(|l| l["decision"] == "probe_measured")
        .collect();
    assert_eq!(measured.len(), 3, "{log:?}");
    for m in &measured {
        let tps = m["observation"]["figures"]["throughput_tps"]["value"]
            .as_f64()
            .unwrap_or(0.0);
        assert!(tps > 0.0, "{m}");
    }
    let records = lines(&run.join("report.jsonl"));
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r["row_kind"] == "probe"
        && r["backend"]["name"] == "mlx_lm"
        && r["outcome"] == "ok"));
    assert_nothing_left(&run);
}
