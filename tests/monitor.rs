//! `mlxrun monitor` as a user runs it: it exits with the wrapped command's
//! code and ends its file with a summary, keeps its fixed rate for 30 s on
//! a busy machine, follows the command's whole process tree, passes Ctrl-C
//! on, loses nothing when killed, and leaves no process behind.
//!
//! `mlxrun monitor` is not a run (no run folder, no `processes.jsonl`), so
//! these tests end with its own clean check instead of `assert_clean_run`:
//! the file is schema-valid (`assert_valid`) and every command it wrapped is
//! gone (`assert_gone`); `--duration` wraps none.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use mlxrun::cmd::validate_report::LineValidator;
use mlxrun::monitor::schema::MONITOR_SCHEMA;
use serde_json::Value;

use crate::common::*;

/// Kills the child if the test fails before it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every line of `path` as JSON; every line must parse.
fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The lines of a file still being written: each line is one write(2), but
/// a reader may catch the last one half-way, so only `\n`-ended lines count.
fn records_so_far(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    whole
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn samples(recs: &[Value]) -> Vec<&Value> {
    recs.iter().filter(|r| r["kind"] == "sample").collect()
}

/// The pid the monitor started the command as.
fn command_pid(recs: &[Value]) -> i32 {
    let ev = recs
        .iter()
        .find(|r| r["name"] == "command_started")
        .expect("a command_started event");
    ev["fields"]["pid"].as_i64().unwrap() as i32
}

fn assert_valid(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let problems = LineValidator::new(MONITOR_SCHEMA)
        .unwrap()
        .check_jsonl(&text);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Wait (up to 30 s) until `pid` is gone.
fn assert_gone(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pid_alive(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn monitor_exits_with_the_commands_code_and_ends_with_a_summary() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("m.jsonl");
    let out = mlxrun()
        .args(["monitor", "--output"])
        .arg(&f)
        .args(["--", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("monitor: exit code 3"), "{stderr}");
    assert!(stderr.contains(&f.display().to_string()), "{stderr}");
    let recs = records(&f);
    assert_eq!(recs[0]["kind"], "header");
    let last = recs.last().unwrap();
    assert_eq!(last["kind"], "summary");
    assert_eq!(last["exit_code"], 3);
    assert_eq!(last["command"], serde_json::json!(["sh", "-c", "exit 3"]));
    assert!(
        !samples(&recs[..recs.len() - 1]).is_empty(),
        "no sample before the summary"
    );
    assert_eq!(
        last["samples"].as_u64().unwrap(),
        samples(&recs).len() as u64
    );
    assert_valid(&f);
    assert_gone(command_pid(&recs), "sh -c 'exit 3'");

    // a command that cannot start: 127, still a summary
    let out = mlxrun()
        .args(["monitor", "--output"])
        .arg(&f)
        .args(["--", "/nonexistent/mlxrun-test-command"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{stderr}");
    assert!(
        stderr.contains("cannot run /nonexistent/mlxrun-test-command"),
        "{stderr}"
    );
    assert_eq!(records(&f).last().unwrap()["exit_code"], 127);

    // a command killed by a signal: 128 + N
    let out = mlxrun()
        .args(["monitor", "--output"])
        .arg(&f)
        .args(["--", "sh", "-c", "kill -9 $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 9));
    assert_eq!(records(&f).last().unwrap()["exit_code"], 137);
    assert_valid(&f);

    // neither a command nor --duration: usage error
    let out = mlxrun().args(["monitor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("next: mlxrun monitor -- "));
}

#[test]
fn monitor_duration_mode_samples_for_that_long() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("d.jsonl");
    let started = Instant::now();
    let (_, stderr) = run_ok(
        mlxrun()
            .args([
                "monitor",
                "--interval",
                "100",
                "--duration",
                "1",
                "--output",
            ])
            .arg(&f),
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let recs = records(&f);
    let s = recs.last().unwrap();
    assert_eq!(s["kind"], "summary");
    assert!(s.get("exit_code").is_none(), "{s}");
    let ticks = s["ticks"].as_u64().unwrap();
    assert!((9..=12).contains(&ticks), "{ticks} ticks in 1 s at 100 ms");
    assert!(stderr.contains("RAM available"), "{stderr}");
    assert_valid(&f);
}

#[test]
fn monitor_keeps_a_fixed_rate_for_30_seconds() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("rate.jsonl");
    run_ok(
        mlxrun()
            .args(["monitor", "--interval", "200", "--output"])
            .arg(&f)
            .args(["--", "sleep", "30"]),
    );
    let recs = records(&f);
    let ticks: Vec<&Value> = samples(&recs)
        .into_iter()
        .filter(|s| s["trigger"] == "tick")
        .collect();
    let n = ticks.len() as f64;
    assert!((n - 150.0).abs() <= 15.0, "{n} samples, expected ~150");
    let intervals: Vec<f64> = ticks
        .windows(2)
        .map(|w| (w[1]["ts"].as_f64().unwrap() - w[0]["ts"].as_f64().unwrap()) * 1e3)
        .collect();
    let mean = intervals.iter().sum::<f64>() / intervals.len() as f64;
    let within = intervals
        .iter()
        .filter(|i| (**i - 200.0).abs() <= 20.0)
        .count() as f64
        / intervals.len() as f64;
    let summary = recs.last().unwrap();
    eprintln!(
        "30 s at 200 ms: {n} ticks, mean interval {mean:.3} ms, {:.1}% within ±10%, min {:.1} ms, max {:.1} ms; summary: mean {} p95 {} late max {} missed {} sampler CPU {} ms/sample",
        within * 100.0,
        intervals.iter().cloned().fold(f64::INFINITY, f64::min),
        intervals.iter().cloned().fold(0.0, f64::max),
        summary["interval_mean_ms"],
        summary["interval_p95_ms"],
        summary["late_max_ms"],
        summary["missed"],
        summary["sampler_cpu_ms_per_sample"],
    );
    assert!((mean - 200.0).abs() <= 4.0, "mean interval {mean} ms");
    assert!(
        within >= 0.95,
        "only {:.1}% of intervals within ±10%",
        within * 100.0
    );
    // the schedule is absolute: tick k fired close to k × 200 ms
    for s in &ticks {
        let k = s["seq"].as_u64().unwrap() as f64;
        let late = s["elapsed_s"].as_f64().unwrap() * 1e3 - k * 200.0;
        assert!(late > -2.0, "tick {k} fired {late} ms early");
    }
    let cpu = summary["sampler_cpu_ms_per_sample"].as_f64().unwrap();
    assert!(cpu > 0.0 && cpu < 20.0, "sampler CPU {cpu} ms per sample");
    assert_valid(&f);
    assert_gone(command_pid(&recs), "sleep 30");
}

#[test]
fn monitor_follows_the_whole_process_tree_and_its_memory() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("tree.jsonl");
    let pidfile = t.path().join("sleeper.pid");
    // a sleeper the shell leaves behind, and a Python that allocates (and
    // touches) 200 MB after 1 s, holds it 1.5 s and exits
    let script = format!(
        "sleep 60 & echo $! > {}; python3 -c 'import time; time.sleep(1); b = b\"x\" * (200 << 20); time.sleep(1.5)'",
        pidfile.display()
    );
    run_ok(
        mlxrun()
            .args(["monitor", "--interval", "100", "--output"])
            .arg(&f)
            .args(["--", "sh", "-c", &script]),
    );
    let recs = records(&f);
    let tree: Vec<&Value> = samples(&recs)
        .into_iter()
        .map(|s| &s["instances"]["command"])
        .filter(|c| c["processes"].as_u64().unwrap_or(0) > 0)
        .collect();
    assert!(tree.len() >= 15, "{} samples with the tree", tree.len());
    let max_procs = tree.iter().map(|c| c["processes"].as_u64().unwrap()).max();
    assert!(max_procs >= Some(3), "sh, sleep and python: {max_procs:?}");
    let rss: Vec<f64> = tree.iter().filter_map(|c| c["rss_mb"].as_f64()).collect();
    assert!(rss.iter().all(|r| *r > 0.0), "{rss:?}");
    let first = rss[0];
    let peak = rss.iter().cloned().fold(0.0, f64::max);
    assert!(
        peak - first >= 150.0,
        "RSS {first} MB -> peak {peak} MB after allocating 200 MB"
    );
    let summary = recs.last().unwrap();
    assert!(
        summary["instances"]["command"]["rss_peak_mb"]
            .as_f64()
            .unwrap()
            >= peak
    );
    assert_eq!(
        summary["server_rss_peak_mb"],
        summary["instances"]["command"]["rss_peak_mb"]
    );
    assert_valid(&f);
    // the sleeper the command left in its group was stopped with it
    let sleeper: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_gone(sleeper, "the leftover sleep 60");
    assert_gone(command_pid(&recs), "sh");
}

/// Start `mlxrun monitor ARGS` in the background and wait until `f` shows
/// a sample where the command's tree has `procs` processes.
fn start_monitor(f: &Path, interval: &str, cmd: &[&str], procs: u64) -> Guard {
    let child = mlxrun()
        .args(["monitor", "--interval", interval, "--output"])
        .arg(f)
        .arg("--")
        .args(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let recs = records_so_far(f);
        let ready = samples(&recs)
            .iter()
            .any(|s| s["instances"]["command"]["processes"].as_u64() >= Some(procs));
        if ready {
            return guard;
        }
        assert!(
            Instant::now() < deadline,
            "the command never showed up: {recs:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn monitor_passes_ctrl_c_on_to_the_command() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("int.jsonl");
    let mut g = start_monitor(
        &f,
        "50",
        &["sh", "-c", "trap 'exit 42' INT; sleep 30 & wait"],
        2,
    );
    // SAFETY: signalling our own child (mlxrun), as a terminal's Ctrl-C would.
    unsafe { libc::kill(g.0.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "mlxrun still running after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(42));
    let recs = records(&f);
    assert!(recs.iter().any(|r| r["name"] == "signal_forwarded"));
    assert_eq!(recs.last().unwrap()["exit_code"], 42);
    assert_valid(&f);
    assert_gone(command_pid(&recs), "the trapping shell");
}

#[test]
fn a_killed_monitor_keeps_every_line_it_wrote_and_its_command_dies() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("killed.jsonl");
    let mut g = start_monitor(&f, "50", &["sleep", "60"], 1);
    // more samples while it runs: read the file from outside meanwhile
    let deadline = Instant::now() + Duration::from_secs(20);
    while samples(&records_so_far(&f)).len() < 6 {
        assert!(Instant::now() < deadline, "no samples on disk");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = std::fs::read_to_string(&f).unwrap();
    g.0.kill().unwrap(); // SIGKILL: no summary, no clean-up of its own
    g.0.wait().unwrap();
    let after = std::fs::read_to_string(&f).unwrap();
    assert!(after.starts_with(&before), "lines written were lost");
    assert!(after.ends_with('\n'));
    let recs = records(&f);
    assert!(samples(&recs).len() >= 6);
    assert!(recs.iter().all(|r| r["kind"] != "summary"));
    assert_valid(&f);
    // the command's supervisor takes it down when mlxrun is gone
    assert_gone(command_pid(&recs), "sleep 60 after mlxrun was killed");
}
