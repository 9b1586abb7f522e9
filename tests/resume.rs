//! `mlxrun resume RUN_DIR` and `mlxrun run FILE --resume RUN_DIR` against
//! the real mlx_lm.server with the tiny model: a sweep stopped by Ctrl-C
//! and one killed with SIGKILL (with torn last lines) are finished by a
//! resume that re-measures only what was not finished; a changed scenario
//! and a finished run start nothing; a resume refused (by its own checks or
//! the machine's) cuts no torn line, the next accepted one does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

type Row = BTreeMap<String, String>;

/// The last row of each point number, as the readers take them.
fn last_per_point(rows: &[Row]) -> BTreeMap<usize, Row> {
    rows.iter()
        .map(|r| (r["point"].parse().unwrap(), r.clone()))
        .collect()
}

/// Start `mlxrun SCENARIO` and wait until its CSV has `rows` rows.
fn start_until_rows(
    dir: &Path,
    name: &str,
    path: &Path,
    rows: usize,
) -> (std::process::Child, PathBuf) {
    let mut child = mlxrun()
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        assert!(
            Instant::now() < deadline,
            "{rows} row(s) not written in time"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "mlxrun ended before it was stopped"
        );
        if let Some(csv) = csvs(dir, name).first()
            && read_rows(csv).len() >= rows
        {
            return (child, csv.clone());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn resume(run: &Path) -> Output {
    mlxrun()
        .args(["resume", run.to_str().unwrap(), "--plain"])
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Assert `out` exited with `code`, showing both streams when not.
fn exited(out: &Output, code: i32) -> (String, String) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// The monitor file has one header, a `resumed` event per resume, and is
/// valid for `mlxrun validate-report` as a whole.
fn assert_resumed_files(run: &Path, resumes: usize) {
    assert_clean_run(run);
    let monitor = std::fs::read_to_string(run.join("monitor.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = monitor
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().filter(|v| v["kind"] == "header").count(), 1);
    assert_eq!(
        lines.iter().filter(|v| v["name"] == "resumed").count(),
        resumes
    );
    let out = mlxrun()
        .arg("validate-report")
        .arg(run.join("report.jsonl"))
        .arg(run.join("monitor.jsonl"))
        .output()
        .unwrap();
    exited(&out, 0);
}

/// Every point of `rows` exactly once when the last row per point is
/// taken, each `ok`, and the same in report.jsonl (as reports read it).
fn assert_every_point_ok(run: &Path, rows: &[Row], points: usize) {
    let last = last_per_point(rows);
    assert_eq!(
        last.keys().copied().collect::<Vec<_>>(),
        (1..=points).collect::<Vec<_>>()
    );
    for (n, r) in &last {
        assert_eq!(r["status"], "ok", "point {n}: {r:?}");
    }
    let data = mlxrun::report::data::RunData::load(run).unwrap();
    assert_eq!(data.points.len(), points);
    assert!(
        data.points.iter().all(|p| p.outcome == "ok"),
        "{:?}",
        data.points
    );
}

#[test]
fn ctrl_c_then_resume_measures_only_what_was_not_finished() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    // two server configurations of three points each
    let path = write_scenario(
        t.path(),
        "resumed",
        port,
        "[workload]\nrequests_per_concurrency = 6\nwarmup_requests = 0\n\n[matrix]\ndecode_concurrency = [2, 4]\nconcurrency = [1, 2, 3]\nmax_tokens = 32\n",
    );
    // stop during the second configuration
    let (child, csv) = start_until_rows(t.path(), "resumed", &path, 4);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = exited(&out, 130);
    let run = run_dir(&csv);
    assert!(
        stderr.contains(&format!("next: mlxrun resume {}", run.display())),
        "{stderr}"
    );
    let before = read_rows(&csv);
    assert!(before.len() >= 4 && before.len() <= 6, "{before:?}");
    let done: Vec<usize> = before
        .iter()
        .filter(|r| r["status"] == "ok")
        .map(|r| r["point"].parse().unwrap())
        .collect();
    assert!(done.len() >= 4 && done.len() < 6, "{before:?}");
    let starts_before = journal_starts(&run).len();

    let out = resume(&run);
    let (stdout, _) = exited(&out, 0);
    assert!(
        stdout.contains(&format!(
            "resuming {}: {} of 6 points finished, {} to run",
            run.display(),
            done.len(),
            6 - done.len()
        )),
        "{stdout}"
    );
    let after = read_rows(&csv);
    // append-only: every earlier row is still there, unchanged (timestamps too)
    assert_eq!(after[..before.len()], before[..]);
    // points finished before were not measured again
    for n in &done {
        let rows = after.iter().filter(|r| r["point"] == n.to_string()).count();
        assert_eq!(rows, 1, "point {n} measured again");
    }
    assert_every_point_ok(&run, &after, 6);
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        csv_text
            .lines()
            .filter(|l| l.starts_with("instances,"))
            .count(),
        1,
        "one header"
    );
    // the first configuration was finished: only the second one started again
    let starts = journal_starts(&run);
    let new: Vec<&Vec<String>> = starts[starts_before..].iter().map(|(_, a)| a).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let at = new[0]
        .iter()
        .position(|a| a == "--decode-concurrency")
        .unwrap();
    assert_eq!(new[0][at + 1], "4");
    assert_resumed_files(&run, 1);
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("- **Resumed:** 1 time(s)"), "{md}");
    assert!(!listening(port));
}

#[test]
fn a_sigkilled_run_with_torn_last_lines_is_repaired_and_finished() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = write_scenario(
        t.path(),
        "torn",
        port,
        "[workload]\nrequests_per_concurrency = 6\nwarmup_requests = 0\n\n[matrix]\nconcurrency = [1, 2, 3]\nmax_tokens = 64\n",
    );
    let (mut child, csv) = start_until_rows(t.path(), "torn", &path, 1);
    // a run that is still going is not resumed under its feet
    let out = resume(&run_dir(&csv));
    let (_, stderr) = exited(&out, 3);
    assert!(
        stderr.contains(&format!("mlxrun (pid {}) is still running it", child.id())),
        "{stderr}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let run = run_dir(&csv);
    // the servers' supervisors stop them when mlxrun is gone: the 30 s
    // contract of `a_killed_mlxrun_takes_its_servers_and_nginx_with_it`
    // (docs/testing.md, "Timing contracts")
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal_starts(&run)
        .iter()
        // SAFETY: existence checks only.
        .any(|(g, _)| unsafe { libc::kill(-g, 0) } == 0)
        || listening(port)
    {
        assert!(
            Instant::now() < deadline,
            "the killed run's servers live on"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // a row and a record cut in the middle of their writes
    let torn_csv = "1,default,default,1,123.4,5";
    let torn_report = r#"{"schema_version":"0.5.0","timestamp":"2026-"#;
    for (file, torn) in [
        (csv.clone(), torn_csv),
        (run.join("report.jsonl"), torn_report),
    ] {
        let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
        std::io::Write::write_all(&mut f, torn.as_bytes()).unwrap();
    }
    let out = resume(&run);
    let (_, stderr) = exited(&out, 0);
    assert!(
        stderr.contains(&format!(
            "{}: cut a partial last line a crash left",
            csv.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("report.jsonl: cut a partial last line"),
        "{stderr}"
    );
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert!(!csv_text.contains(torn_csv), "{csv_text}");
    let report = std::fs::read_to_string(run.join("report.jsonl")).unwrap();
    assert!(!report.contains(torn_report));
    assert_every_point_ok(&run, &read_rows(&csv), 3);
    assert_resumed_files(&run, 1);
    let resumed = std::fs::read_to_string(run.join("monitor.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["name"] == "resumed")
        .unwrap();
    assert!(resumed["fields"]["dropped"].as_array().unwrap().len() >= 2);
    assert!(!listening(port));
}

/// A finished one-point run: (temp dir, scenario file, run folder).
fn finished_run(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf, u16) {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = write_scenario(
        t.path(),
        name,
        port,
        "[workload]\nrequests = 2\nwarmup_requests = 0\n\n[matrix]\nconcurrency = 1\nmax_tokens = 8\n",
    );
    run_ok(mlxrun().arg(&path));
    let run = run_dir(&csvs(t.path(), name)[0]);
    assert_clean_run(&run);
    (t, path, run, port)
}

/// The files a resume that starts nothing must leave as they are.
fn snapshot(run: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = vec![run.with_extension("csv")];
    files.extend(["report.jsonl", "monitor.jsonl", "processes.jsonl"].map(|f| run.join(f)));
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            (f, bytes)
        })
        .collect()
}

#[test]
fn a_changed_scenario_is_refused_naming_each_field_and_starts_nothing() {
    let (_t, path, run, _) = finished_run("changed");
    let files = snapshot(&run);
    let out = mlxrun()
        .arg("run")
        .arg(&path)
        .args(["--set", "matrix.max_tokens=16", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    let (_, stderr) = exited(&out, 2);
    assert!(stderr.contains("matrix.max_tokens: [8] → [16]"), "{stderr}");
    assert!(
        stderr.contains("next: run it as a new run (mlxrun run FILE), or revert these fields"),
        "{stderr}"
    );
    assert_eq!(snapshot(&run), files, "nothing was written or started");
    // the unchanged file resumes (and finds nothing to do)
    let out = mlxrun()
        .arg("run")
        .arg(&path)
        .arg("--resume")
        .arg(&run)
        .output()
        .unwrap();
    exited(&out, 0);
    assert_eq!(snapshot(&run), files);
    assert_clean_run(&run);
}

#[test]
fn resuming_a_finished_run_starts_nothing() {
    let (_t, _path, run, port) = finished_run("finished");
    let files = snapshot(&run);
    let out = resume(&run);
    let (stdout, _) = exited(&out, 0);
    assert!(
        stdout.contains(&format!(
            "every point of {} is finished (1 of 1); nothing to run",
            run.display()
        )),
        "{stdout}"
    );
    assert_eq!(snapshot(&run), files, "no server started, no line written");
    // ports may differ on a resume (they change nothing a point measures)
    let out = mlxrun()
        .arg("resume")
        .arg(&run)
        .args(["--set", &format!("backend.base_port={}", port + 5)])
        .output()
        .unwrap();
    exited(&out, 0);
    assert_eq!(snapshot(&run), files);
    assert_clean_run(&run);
}

#[test]
fn a_refused_resume_cuts_no_torn_line_and_the_next_one_does() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let body = format!(
        "{}[workload]\nrequests = 2\nwarmup_requests = 0\n\n[matrix]\nconcurrency = [1, 2]\nmax_tokens = 4\n",
        stub_backend("stub", &[])
    );
    let path = stub_scenario(t.path(), "torn_refused", port, &body);
    run_ok(mlxrun().arg(&path).arg("--plain"));
    let csv = csvs(t.path(), "torn_refused")[0].clone();
    let run = run_dir(&csv);
    // point 2 lost its record, and a crash left a partial line in both files
    let report = run.join("report.jsonl");
    let first = std::fs::read_to_string(&report).unwrap();
    let first = first.lines().next().unwrap();
    std::fs::write(
        &report,
        format!("{first}\n{{\"schema_version\":\"0.6.0\",\"ti"),
    )
    .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&csv).unwrap();
    std::io::Write::write_all(&mut f, b"9,torn,row").unwrap();
    drop(f);
    let files = snapshot(&run);

    // refused by the resume's own checks: a changed scenario
    let out = mlxrun()
        .arg("run")
        .arg(&path)
        .args(["--set", "matrix.max_tokens=8", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    let (_, stderr) = exited(&out, 2);
    assert!(!stderr.contains("cut a partial last line"), "{stderr}");
    assert_eq!(snapshot(&run), files, "a refused resume changed a file");

    // refused by the machine's: the stub's port is taken
    let holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let out = resume(&run);
    let (_, stderr) = exited(&out, 3);
    assert!(stderr.contains("port(s) already in use"), "{stderr}");
    assert_eq!(snapshot(&run), files, "a refused resume changed a file");
    drop(holder);

    // accepted: the torn lines are cut, point 2 is measured again
    let out = resume(&run);
    let (stdout, stderr) = exited(&out, 0);
    assert!(
        stdout.contains("1 of 2 points finished, 1 to run"),
        "{stdout}"
    );
    for file in [csv.clone(), report.clone()] {
        assert!(
            stderr.contains(&format!(
                "{}: cut a partial last line a crash left",
                file.display()
            )),
            "{stderr}"
        );
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(!text.contains("9,torn"), "{text}");
    assert_every_point_ok(&run, &read_rows(&csv), 2);
    assert_resumed_files(&run, 1);
    assert!(!listening(port));
}
