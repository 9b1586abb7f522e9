//! `mlxrun monitor` as a user runs it: it exits with the wrapped command's
//! code and ends its file with a summary, ticks on its absolute schedule
//! (how late on a busy machine is `scripts/bench-monitor.sh`'s to say),
//! follows the command's whole process tree, passes Ctrl-C
//! on, loses nothing when killed, and leaves no process behind.
//!
//! `mlxrun monitor` is not a run (no run folder, no `processes.jsonl`), so
//! these tests end with its own clean check instead of `assert_clean_run`:
//! the file is schema-valid (`assert_valid`) and every command it wrapped is
//! gone (`assert_gone`); `--duration` and `--until-eof` wrap none.

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
    // energy over the command's run: figures, or why there are none
    match recs[0]["sources"]["power"]
        .as_str()
        .unwrap()
        .strip_prefix("unavailable: ")
    {
        Some(why) => {
            assert!(last["energy"]["total_j"].is_null(), "{last}");
            assert_eq!(last["energy"]["why"], why);
            assert!(
                stderr.contains(&format!("monitor: energy n/a: {why}")),
                "{stderr}"
            );
        }
        None => assert!(stderr.contains("monitor: energy "), "{stderr}"),
    }

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

/// `--until-eof --output -`, as a monitor runs on another host over ssh:
/// lines arrive on stdout as they are taken, what is written to stdin is
/// ignored, and closing stdin ends it with a summary and exit 0. The
/// stream is the monitor schema; the summary text stays on stderr.
#[test]
fn until_eof_streams_lines_to_stdout_until_stdin_closes() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut g = Guard(
        mlxrun()
            .args([
                "monitor",
                "--interval",
                "50",
                "--until-eof",
                "--output",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = g.0.stdin.take().unwrap();
    let mut out = BufReader::new(g.0.stdout.take().unwrap());
    let mut text = String::new();
    let mut recs: Vec<Value> = Vec::new();
    while samples(&recs).len() < 2 {
        let mut line = String::new();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "stdout ended early: {text}");
        recs.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
        text.push_str(&line);
        // data on stdin is no end
        stdin.write_all(b"x\n").unwrap();
    }
    assert_eq!(recs[0]["kind"], "header");
    drop(stdin);
    out.read_to_string(&mut text).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "still running after stdin closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    g.0.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("into standard output"), "{stderr}");
    assert!(
        stderr.contains("monitor: wrote standard output"),
        "{stderr}"
    );
    let all: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let last = all.last().unwrap();
    assert_eq!(last["kind"], "summary");
    assert_eq!(last["samples"].as_u64(), Some(samples(&all).len() as u64));
    let problems = LineValidator::new(MONITOR_SCHEMA)
        .unwrap()
        .check_jsonl(&text);
    assert!(problems.is_empty(), "{problems:#?}");

    // stdout is the command's own: `--output -` with one is refused
    let out = mlxrun()
        .args(["monitor", "--output", "-", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("next: give --output FILE"));
}

/// The tick samples of a finished monitor file against its own clock,
/// checks no load on the machine can fail: tick `k` is due at `k ×
/// interval_ms` and was taken at its due time plus its recorded lateness
/// (never early), every due tick was taken or counted as missed, and the
/// summary's tick figures are those of the samples. How late ticks are on
/// a busy machine, and what the sampler costs, is measured by
/// `scripts/bench-monitor.sh`, not asserted here. Returns the ticks.
fn assert_ticks_on_schedule(recs: &[Value], interval_ms: f64) -> Vec<&Value> {
    let summary = recs.last().unwrap();
    assert_eq!(summary["kind"], "summary");
    let ticks: Vec<&Value> = samples(recs)
        .into_iter()
        .filter(|s| s["trigger"] == "tick")
        .collect();
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k}: {v}"));
    let seqs: Vec<u64> = ticks.iter().map(|s| s["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs.first(), Some(&0), "tick 0 is taken at the start");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for s in &ticks {
        let (k, late) = (s["seq"].as_u64().unwrap() as f64, f(s, "late_ms"));
        assert!(late >= 0.0, "tick {k} early: {s}");
        // elapsed = due + lateness, both from one instant (each rounded:
        // elapsed_s to 1 ms, late_ms to 1 µs)
        let elapsed_ms = f(s, "elapsed_s") * 1e3;
        assert!(
            (elapsed_ms - (k * interval_ms + late)).abs() <= 0.6,
            "tick {k} off its absolute schedule: {s}"
        );
    }
    // every due tick until the last one was taken or counted as missed
    let last = *seqs.last().unwrap();
    assert_eq!(
        summary["ticks"].as_u64(),
        Some(ticks.len() as u64),
        "{summary}"
    );
    assert_eq!(
        summary["missed"].as_u64(),
        Some(last + 1 - ticks.len() as u64),
        "{summary}"
    );
    // the summary's figures are the samples': the latest tick, and the
    // mean interval (intervals are whole µs, the figures rounded: a few µs
    // off at most)
    let late_max = ticks.iter().map(|s| f(s, "late_ms")).fold(0.0, f64::max);
    assert_eq!(f(summary, "late_max_ms"), late_max, "{summary}");
    let (first, end) = (ticks[0], ticks[ticks.len() - 1]);
    let span_ms = last as f64 * interval_ms + f(end, "late_ms") - f(first, "late_ms");
    let mean = span_ms / (ticks.len() - 1) as f64;
    assert!(
        (f(summary, "interval_mean_ms") - mean).abs() <= 0.003,
        "interval_mean_ms against {mean}: {summary}"
    );
    // the last sample (the final one) closes the run: no tick after it
    let final_sample = samples(recs).into_iter().last().unwrap();
    assert_eq!(final_sample["trigger"], "final");
    assert!(f(final_sample, "elapsed_s") >= f(end, "elapsed_s"));
    // the sampler thread's CPU: measured, and no more than one core over
    // its life (a unit mistake would be 1,000 times off)
    let cpu_ms = f(summary, "sampler_cpu_ms_per_sample") * ticks.len() as f64;
    let life_ms = f(final_sample, "elapsed_s") * 1e3 + 1.0;
    assert!(
        cpu_ms > 0.0 && cpu_ms <= life_ms,
        "{cpu_ms} ms CPU in {life_ms} ms: {summary}"
    );
    ticks
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
    let ticks = assert_ticks_on_schedule(&recs, 100.0);
    // it sampled for the whole second: the final sample is 1 s or more in
    // (to the rounding of elapsed_s), and the sampler ticked on its own
    // schedule, not once (tick 1 is due at 100 ms)
    let end = samples(&recs).into_iter().last().unwrap();
    assert!(end["elapsed_s"].as_f64().unwrap() >= 0.9995, "{end}");
    assert!(ticks.len() >= 2, "{} ticks", ticks.len());
    assert!(stderr.contains("RAM available"), "{stderr}");
    assert_valid(&f);
}

#[test]
fn monitor_ticks_on_an_absolute_schedule_and_its_summary_adds_up() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("rate.jsonl");
    run_ok(
        mlxrun()
            .args(["monitor", "--interval", "200", "--output"])
            .arg(&f)
            .args(["--", "sleep", "3"]),
    );
    let recs = records(&f);
    let ticks = assert_ticks_on_schedule(&recs, 200.0);
    // the schedule is absolute: a late tick does not move the ones after
    // it (tick k is due at k × 200 ms, whatever happened before)
    assert!(ticks.len() >= 2, "{} ticks in 3 s", ticks.len());
    let summary = recs.last().unwrap();
    eprintln!(
        "3 s at 200 ms: {} ticks, summary: mean {} p95 {} late max {} missed {} sampler CPU {} ms/sample",
        ticks.len(),
        summary["interval_mean_ms"],
        summary["interval_p95_ms"],
        summary["late_max_ms"],
        summary["missed"],
        summary["sampler_cpu_ms_per_sample"],
    );
    assert_valid(&f);
    assert_gone(command_pid(&recs), "sleep 3");
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
