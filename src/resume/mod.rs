//! `mlxrun resume RUN_DIR` and `mlxrun run FILE --resume RUN_DIR`: continue
//! an interrupted or crashed run in its own folder, so a crash late in a
//! long sweep costs one point, not the night.
//!
//! Before anything starts: the effective scenario must equal the one the
//! run saved beside its CSV (field by field, [`changes`]), no mlxrun may
//! still be running it, and the CSV's header (its whole records) must be
//! the one this run would write. Partial last lines a crash left are found
//! then ([`tail`]) but cut off only once every check of the resume,
//! [`prepare`]'s and the machine's (preflight), has passed
//! ([`repair_tails`]): a refused resume changes no file. Then the points
//! that are finished ([`finished`]) are skipped and the rest run, appending
//! to the same files: results are never rewritten, a re-measured point's
//! new lines come after its old ones, and readers take the last line per
//! point.

pub mod changes;
pub mod finished;
pub mod tail;

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{SetupError, UsageError};
use crate::output::csv_sink::{header_differences, header_of};
use crate::output::paths::RunPaths;
use crate::output::row::{Columns, csv_header};
use crate::scenario::{Overrides, Resolved, load};
use finished::States;
use tail::{Lines, Torn};

/// A run folder to continue, checked.
#[derive(Debug, Clone)]
pub struct Resume {
    pub paths: RunPaths,
    /// Points of the run's plan.
    pub total: usize,
    /// Every point's last lines (point number → state).
    pub states: States,
    /// Point numbers (1-based) that are finished and are skipped.
    pub finished: BTreeSet<usize>,
    /// What is cut off torn files, as `file: what`.
    pub dropped: Vec<String>,
    /// The torn files, cut by [`repair_tails`] once every check passed.
    pub torn: Vec<Torn>,
}

impl Resume {
    /// How many points are left to run.
    pub fn left(&self) -> usize {
        self.total - self.finished.iter().filter(|n| **n <= self.total).count()
    }

    /// `N of M points finished, K to run (I interrupted, J with its CSV row
    /// or report record missing)`.
    pub fn describe(&self) -> String {
        let (total, left) = (self.total, self.left());
        let (mut interrupted, mut half) = (0, 0);
        for n in (1..=total).filter(|n| !self.finished.contains(n)) {
            let Some(s) = self.states.get(&n) else {
                continue;
            };
            let said = |x: &Option<String>| x.as_deref() == Some("interrupted");
            if said(&s.csv_status) || said(&s.report_outcome) {
                interrupted += 1;
            } else {
                half += 1;
            }
        }
        let mut why = Vec::new();
        if interrupted > 0 {
            why.push(format!("{interrupted} interrupted"));
        }
        if half > 0 {
            why.push(format!("{half} with its CSV row or report record missing"));
        }
        format!(
            "{} of {total} points finished, {left} to run{}",
            total - left,
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join(", "))
            }
        )
    }
}

/// The files of the run at `given` (its folder or its CSV); bad input
/// unless the folder, the CSV and the saved scenario are there.
pub fn paths(given: &Path) -> Result<RunPaths, UsageError> {
    let p = RunPaths::of_run(given);
    let next =
        "next: give the folder a run printed as run_dir= (results/<name>/<name>_<timestamp>)";
    if !p.run_dir.is_dir() {
        return Err(UsageError(format!(
            "cannot resume {}: no such run folder\n  {next}",
            given.display()
        )));
    }
    for (file, what) in [
        (&p.csv, "results CSV"),
        (&p.scenario_copy, "saved scenario"),
    ] {
        if !file.is_file() {
            return Err(UsageError(format!(
                "cannot resume {}: its {what} {} is missing\n  {next}; a run without it cannot be resumed, start it as a new run",
                p.run_dir.display(),
                file.display()
            )));
        }
    }
    Ok(p)
}

/// The effective scenario `paths`'s run saved, with `sets` on top (no
/// environment layer: the saved file already holds what the environment
/// gave the run).
pub fn saved_scenario(paths: &RunPaths, sets: Vec<String>) -> anyhow::Result<Resolved> {
    Ok(load(
        &paths.scenario_copy,
        &Overrides {
            env: Vec::new(),
            sets,
        },
    )?)
}

/// The pid of the mlxrun still writing the monitor file `text`: the one
/// its header or last `resumed` event names, when no summary followed and
/// that process is alive (and, where `/proc` says, is mlxrun).
pub fn still_running(text: &str) -> Option<u32> {
    let mut owner = None;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match (v["kind"].as_str(), v["name"].as_str()) {
            (Some("header"), _) => owner = v["pid"].as_u64(),
            (Some("event"), Some("resumed")) => owner = v["fields"]["pid"].as_u64(),
            (Some("summary"), _) => owner = None,
            _ => {}
        }
    }
    let pid = u32::try_from(owner?).ok()?;
    if pid == std::process::id() {
        return None;
    }
    let pid_t = i32::try_from(pid).ok()?;
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return None;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        // a reused pid belongs to some other program
        Ok(cmd) => String::from_utf8_lossy(&cmd)
            .contains("mlxrun")
            .then_some(pid),
        Err(_) => Some(pid),
    }
}

/// The files a resume appends to, and how their records end.
fn appended_files(paths: &RunPaths) -> [(std::path::PathBuf, Lines); 5] {
    [
        (paths.csv.clone(), Lines::Csv),
        (paths.run_dir.join("report.jsonl"), Lines::Jsonl),
        (paths.run_dir.join("monitor.jsonl"), Lines::Jsonl),
        (paths.run_dir.join("processes.jsonl"), Lines::Jsonl),
        (
            paths
                .run_dir
                .join(crate::output::requests_log::REQUESTS_FILE),
            Lines::Jsonl,
        ),
    ]
}

/// Check that `resolved` may continue the run at `paths` (whose plan has
/// `total` points and CSV columns `columns`), find torn last lines, and
/// read what is finished. Nothing is started and no file is changed: the
/// torn lines are cut by [`repair_tails`] once the caller's own checks
/// passed too.
pub fn prepare(
    resolved: &Resolved,
    paths: &RunPaths,
    columns: &Columns,
    total: usize,
) -> anyhow::Result<Resume> {
    let saved = std::fs::read_to_string(&paths.scenario_copy).map_err(|e| {
        UsageError(format!(
            "cannot read {}: {e}\n  next: resume a run folder whose saved scenario is there, or start a new run",
            paths.scenario_copy.display()
        ))
    })?;
    let changed = changes::changes(&saved, &resolved.to_toml()).map_err(|e| {
        UsageError(format!(
            "{}: {e}\n  next: restore the file, or start a new run",
            paths.scenario_copy.display()
        ))
    })?;
    if !changed.is_empty() {
        let list: Vec<String> = changed.iter().map(|c| format!("  {c}")).collect();
        return Err(UsageError(format!(
            "cannot resume {}: the scenario differs from the one it ran (saved in {}) in {} field(s):\n{}\n  next: run it as a new run (mlxrun run FILE), or revert these fields to resume; only {} may differ",
            paths.run_dir.display(),
            paths.scenario_copy.display(),
            changed.len(),
            list.join("\n"),
            changes::MAY_DIFFER
                .iter()
                .map(|(f, _)| if f.ends_with('.') {
                    format!("{f}*")
                } else {
                    f.to_string()
                })
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    let monitor = paths.run_dir.join("monitor.jsonl");
    if let Some(pid) = std::fs::read_to_string(&monitor)
        .ok()
        .and_then(|t| still_running(&t))
    {
        return Err(SetupError(format!(
            "cannot resume {}: mlxrun (pid {pid}) is still running it ({} has no summary after its start)\n  next: wait for it to end, or stop it (Ctrl-C in its terminal, or kill {pid}) and resume again",
            paths.run_dir.display(),
            monitor.display()
        ))
        .into());
    }
    // torn last lines are found here and cut later: the checks below read
    // the whole records only
    let mut torn = Vec::new();
    for (file, lines) in appended_files(paths) {
        match tail::inspect(&file, lines) {
            Ok(Some(t)) => torn.push(t),
            Ok(None) => {}
            Err(e) => {
                return Err(SetupError(format!(
                    "cannot repair {}: {e}\n  next: check the file's permissions",
                    file.display()
                ))
                .into());
            }
        }
    }
    let whole = |path: &std::path::Path, bytes: Vec<u8>| -> Vec<u8> {
        let mut bytes = bytes;
        if let Some(t) = torn.iter().find(|t| t.path == path) {
            bytes.truncate(usize::try_from(t.keep).unwrap_or(usize::MAX));
        }
        bytes
    };
    let csv = std::fs::read(&paths.csv).map_err(|e| {
        UsageError(format!(
            "cannot read {}: {e}\n  next: check the file, or start a new run",
            paths.csv.display()
        ))
    })?;
    let csv = whole(&paths.csv, csv);
    let wanted = csv_header(columns);
    let found = header_of(&csv).map_err(|e| {
        UsageError(format!(
            "cannot read {}: {e}\n  next: check the file, or start a new run",
            paths.csv.display()
        ))
    })?;
    if let Some(found) = found {
        let diff = header_differences(&found, &wanted);
        if !diff.is_empty() {
            return Err(UsageError(format!(
                "cannot resume {}: its CSV header is not the one this run writes ({})\n  next: resume with the mlxrun version that started the run, or start a new run",
                paths.csv.display(),
                diff.join("; ")
            ))
            .into());
        }
    }
    let mut states = States::new();
    if !csv.is_empty() {
        finished::read_csv_data(&csv, &paths.csv, &mut states)
            .map_err(|e| UsageError(format!("{e}\n  next: check the file, or start a new run")))?;
    }
    let report = paths.run_dir.join("report.jsonl");
    if let Ok(bytes) = std::fs::read(&report) {
        let bytes = whole(&report, bytes);
        finished::read_report(&String::from_utf8_lossy(&bytes), &mut states);
    }
    let finished = states
        .iter()
        .filter(|(_, s)| s.finished())
        .map(|(n, _)| *n)
        .collect();
    Ok(Resume {
        paths: paths.clone(),
        total,
        states,
        finished,
        dropped: torn
            .iter()
            .map(|t| format!("{}: {}", t.path.display(), t.dropped))
            .collect(),
        torn,
    })
}

/// Cut the partial last lines [`prepare`] found, saying so on stderr; call
/// it once nothing can refuse the resume any more.
pub fn repair_tails(torn: &[Torn]) -> anyhow::Result<()> {
    for t in torn {
        t.cut().map_err(|e| {
            SetupError(format!(
                "cannot repair {}: {e}\n  next: check the file's permissions",
                t.path.display()
            ))
        })?;
        eprintln!(
            "warning: {}: cut a partial last line a crash left ({})",
            t.path.display(),
            t.dropped
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::scenario::load_str;
    use crate::scenario::model_path::SearchDirs;

    /// A scenario of two points with a local model folder under `root`.
    fn resolved(root: &Path, sets: &[&str]) -> Resolved {
        let m = root.join("models/tiny");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("config.json"), "{}").unwrap();
        let dirs = SearchDirs {
            home: None,
            cwd: root.to_path_buf(),
            hf_cache: None,
        };
        let text = "name = \"t\"\n[model]\npath = \"tiny\"\n[matrix]\nconcurrency = [1, 2]\n";
        let o = Overrides {
            env: Vec::new(),
            sets: sets.iter().map(|s| s.to_string()).collect(),
        };
        load_str(&PathBuf::from("scenarios/t.toml"), text, &o, &dirs).unwrap()
    }

    fn columns(r: &Resolved) -> Columns {
        Columns {
            axes: r.plan.axis_names(),
            flags: r.plan.flag_names(),
            percentiles: r.scenario.metrics.percentiles.clone(),
        }
    }

    /// A run folder of `r` whose CSV has `header`, with a torn last line in
    /// the CSV and in report.jsonl; the torn files' contents.
    fn torn_run(root: &Path, r: &Resolved, header: &str) -> (RunPaths, Vec<(PathBuf, Vec<u8>)>) {
        let paths = RunPaths::create_in(&root.join("results/t"), "t_1").unwrap();
        std::fs::write(&paths.scenario_copy, r.to_toml()).unwrap();
        std::fs::write(&paths.csv, format!("{header}\n1,2,3")).unwrap();
        std::fs::write(
            paths.run_dir.join("report.jsonl"),
            "{\"outcome\":\"ok\",\"point\":{\"point\":1}}\n{\"outc",
        )
        .unwrap();
        let files = [paths.csv.clone(), paths.run_dir.join("report.jsonl")]
            .map(|f| {
                let bytes = std::fs::read(&f).unwrap();
                (f, bytes)
            })
            .to_vec();
        (paths, files)
    }

    fn unchanged(files: &[(PathBuf, Vec<u8>)]) {
        for (f, bytes) in files {
            assert_eq!(&std::fs::read(f).unwrap(), bytes, "{} changed", f.display());
        }
    }

    #[test]
    fn a_refused_resume_leaves_the_torn_lines_where_they_are() {
        let t = tempfile::tempdir().unwrap();
        let r = resolved(t.path(), &[]);
        let cols = columns(&r);
        let total = r.plan.points.len();
        // a CSV header this run would not write
        let (paths, files) = torn_run(t.path(), &r, "instances,not_a_column");
        let e = prepare(&r, &paths, &cols, total).unwrap_err();
        assert!(
            e.to_string().contains("its CSV header is not the one"),
            "{e}"
        );
        assert!(e.downcast_ref::<UsageError>().is_some());
        unchanged(&files);

        // a changed scenario, same torn files
        let t2 = tempfile::tempdir().unwrap();
        let r2 = resolved(t2.path(), &[]);
        let header = csv_header(&columns(&r2)).join(",");
        let (paths, files) = torn_run(t2.path(), &r2, &header);
        let changed = resolved(t2.path(), &["matrix.concurrency=1,4"]);
        let e = prepare(&changed, &paths, &columns(&changed), 2).unwrap_err();
        assert!(e.to_string().contains("the scenario differs"), "{e}");
        unchanged(&files);

        // accepted: still nothing is cut until repair_tails
        let resume = prepare(&r2, &paths, &columns(&r2), 2).unwrap();
        unchanged(&files);
        assert_eq!(resume.torn.len(), 2, "{:?}", resume.torn);
        assert_eq!(resume.dropped.len(), 2);
        // the torn record of point 1 is not read as its state
        assert_eq!(resume.states[&1].report_outcome.as_deref(), Some("ok"));
        repair_tails(&resume.torn).unwrap();
        assert_eq!(
            std::fs::read_to_string(&paths.csv).unwrap(),
            format!("{header}\n")
        );
        assert!(
            std::fs::read_to_string(paths.run_dir.join("report.jsonl"))
                .unwrap()
                .ends_with("}}\n")
        );
    }

    #[test]
    fn a_run_is_found_by_its_folder_or_its_csv_and_missing_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("s_20260101_120000");
        for given in [
            run.clone(),
            run.with_extension("csv"),
            PathBuf::from(format!("{}/", run.display())),
        ] {
            let p = RunPaths::of_run(&given);
            assert_eq!(p.run_dir, run);
            assert_eq!(p.csv, d.path().join("s_20260101_120000.csv"));
            assert_eq!(
                p.scenario_copy,
                d.path().join("s_20260101_120000.scenario.toml")
            );
        }
        let e = paths(&run).unwrap_err().to_string();
        assert!(
            e.contains("no such run folder") && e.contains("run_dir="),
            "{e}"
        );
        std::fs::create_dir(&run).unwrap();
        let e = paths(&run).unwrap_err().to_string();
        assert!(
            e.contains("results CSV") && e.contains(".csv is missing"),
            "{e}"
        );
        std::fs::write(run.with_extension("csv"), "").unwrap();
        let e = paths(&run).unwrap_err().to_string();
        assert!(e.contains("saved scenario"), "{e}");
        std::fs::write(d.path().join("s_20260101_120000.scenario.toml"), "").unwrap();
        assert!(paths(&run).is_ok());
    }

    #[test]
    fn a_run_is_still_running_while_its_live_monitor_has_no_summary() {
        // a process whose command line names mlxrun stands in for a live run
        let mut child = std::process::Command::new("bash")
            .args(["-c", "exec -a mlxrun-standin sleep 30"])
            .spawn()
            .unwrap();
        let live = child.id();
        let header = |pid: u32| format!(r#"{{"kind":"header","pid":{pid}}}"#);
        let resumed =
            |pid: u32| format!(r#"{{"kind":"event","name":"resumed","fields":{{"pid":{pid}}}}}"#);
        let summary = r#"{"kind":"summary"}"#;
        // /proc may show no command line while the child execs
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while still_running(&header(live)).is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(still_running(&header(live)), Some(live));
        assert_eq!(
            still_running(&[header(live), summary.into()].join("\n")),
            None
        );
        let resumed_live = [header(1), summary.into(), resumed(live)].join("\n");
        assert_eq!(still_running(&resumed_live), Some(live));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(still_running(&header(live)), None, "dead");
        assert_eq!(
            still_running(&header(std::process::id())),
            None,
            "this process"
        );
        if cfg!(target_os = "linux") {
            // pid 1 is alive but is not mlxrun
            assert_eq!(still_running(&header(1)), None);
        }
    }

    #[test]
    fn the_summary_line_says_what_is_left_and_why() {
        let mut states = States::new();
        let st = |csv: Option<&str>, rep: Option<&str>| finished::PointState {
            csv_status: csv.map(String::from),
            throughput_tps: None,
            report_outcome: rep.map(String::from),
        };
        states.insert(1, st(Some("ok"), Some("ok")));
        states.insert(2, st(Some("interrupted"), Some("interrupted")));
        states.insert(3, st(Some("ok"), None));
        let r = Resume {
            paths: RunPaths::of_run(Path::new("r/x")),
            total: 4,
            finished: [1].into(),
            states,
            dropped: Vec::new(),
            torn: Vec::new(),
        };
        assert_eq!(r.left(), 3);
        assert_eq!(
            r.describe(),
            "1 of 4 points finished, 3 to run (1 interrupted, 1 with its CSV row or report record missing)"
        );
    }
}
