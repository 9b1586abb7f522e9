//! Shared helpers for the integration tests: the real Python environment and
//! tiny model (built by scripts/setup.sh), scenario files in temp folders,
//! unique ports, and the no-process-left-behind check; other hosts on this
//! machine (`hosts`).

#![allow(dead_code)]

pub mod hosts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};

/// The `mlxrun` binary, run from the repo root, with the developer's own
/// `MLX_*`/`MLXRUN_*` settings removed so only the test's scenario counts.
pub fn mlxrun() -> std::process::Command {
    use assert_cmd::cargo::CommandCargoExt;
    let mut c = std::process::Command::cargo_bin("mlxrun").unwrap();
    c.current_dir(repo());
    for (k, _) in std::env::vars() {
        if k.starts_with("MLX_") || k.starts_with("MLXRUN_") {
            c.env_remove(k);
        }
    }
    c
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv Python with mlx-lm; panics with the fix when missing.
pub fn python() -> String {
    let p = repo().join(".mlxrun/venv/bin/python");
    assert!(
        p.is_file(),
        "missing {}: run scripts/setup.sh (scripts/test.sh does)",
        p.display()
    );
    p.display().to_string()
}

/// The tiny model folder; panics with the fix when missing.
pub fn tiny_model() -> String {
    let p = repo().join("models/tiny-llama");
    assert!(
        p.join("config.json").is_file(),
        "missing {}: run scripts/setup.sh",
        p.display()
    );
    p.display().to_string()
}

/// The tiny model as GGUF; panics with the fix when missing.
pub fn tiny_gguf() -> String {
    let p = repo().join("models/tiny-llama.gguf");
    assert!(
        p.is_file(),
        "missing {}: run scripts/test.sh (it builds llama-server and the GGUF model)",
        p.display()
    );
    p.display().to_string()
}

/// The tiny random-weight vision model (Qwen2-VL layout, built by
/// scripts/setup.sh with scripts/make_tiny_vlm.py); panics with the fix
/// when missing.
pub fn tiny_vlm() -> String {
    let p = repo().join("models/tiny-vlm");
    assert!(
        p.join("config.json").is_file(),
        "missing {}: run scripts/setup.sh",
        p.display()
    );
    p.display().to_string()
}

/// The tiny random-weight Whisper model (scripts/setup.sh with
/// scripts/make_tiny_stt.py); panics with the fix when missing.
pub fn tiny_stt() -> String {
    let p = repo().join("models/tiny-stt");
    assert!(
        p.join("config.json").is_file(),
        "missing {}: run scripts/setup.sh",
        p.display()
    );
    p.display().to_string()
}

/// Run `cmd` to its end; panics with both streams unless it exits 0.
/// Returns `(stdout, stderr)`.
pub fn run_ok(cmd: &mut std::process::Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// `mlxrun SCENARIO --plain` for a shipped scenario, moved to the test's
/// ports (`port` for instances, `port + 9` for nginx) with its results
/// under `dir/results`.
pub fn shipped(scenario: &str, port: u16, dir: &Path) -> std::process::Command {
    let mut c = mlxrun();
    c.args([scenario, "--plain"])
        .args(["--set", &format!("backend.base_port={port}")])
        .args(["--set", &format!("router.port={}", port + 9)])
        .args([
            "--set",
            &format!("output.dir={}", dir.join("results").display()),
        ]);
    c
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A block of 10 ports no other test in this process uses.
pub fn port_block() -> u16 {
    let n = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
    let pid_spread = (std::process::id() % 40) as u16 * 250;
    20000 + pid_spread + n * 10
}

/// A scenario file in `dir` for the tiny model: `body` is appended to a
/// header that sets model, python, ports and output dir.
pub fn write_scenario(dir: &Path, name: &str, base_port: u16, body: &str) -> PathBuf {
    write_scenario_with(dir, name, base_port, "", body)
}

/// [`write_scenario`] with extra lines in the `[backend]` table.
pub fn write_scenario_with(
    dir: &Path,
    name: &str,
    base_port: u16,
    backend_extra: &str,
    body: &str,
) -> PathBuf {
    let text = format!(
        r#"name = "{name}"

[model]
path = "{model}"

[backend]
python = "{python}"
base_port = {base_port}
ready_timeout_s = 120
stop_grace_s = 5
{backend_extra}

[router]
port = {nginx_port}

[output]
dir = "{out}"

{body}
"#,
        model = tiny_model(),
        python = python(),
        nginx_port = base_port + 9,
        out = dir.join("results").display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The CSV files under `dir/results/<name>/`.
pub fn csvs(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("results").join(name))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|p| run_order(p));
    v
}

/// Where a run's CSV sorts among its scenario's runs: by its stem's time
/// stamp, then by the `-N` mlxrun adds to a second run of the same second
/// (`x_20261207_120000.csv` before `x_20261207_120000-2.csv`, which a
/// plain sort puts first).
fn run_order(csv: &Path) -> (String, u32) {
    let stem = csv
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (base.to_string(), n.parse().unwrap_or(u32::MAX))
        }
        _ => (stem, 1),
    }
}

/// Rows of a CSV as header-keyed maps.
pub fn read_rows(csv: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(csv).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

/// A numeric cell of a CSV row; panics with the row when it is not a number.
pub fn num(row: &BTreeMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?} is not a number: {row:?}", row.get(col)))
}

/// The header of a CSV.
pub fn header(csv: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(csv).unwrap();
    r.headers().unwrap().iter().map(String::from).collect()
}

/// The run folder that belongs to `csv`.
pub fn run_dir(csv: &Path) -> PathBuf {
    csv.with_extension("")
}

/// `(pgid, argv)` of every process start recorded in the run's journal.
pub fn journal_starts(run_dir: &Path) -> Vec<(i32, Vec<String>)> {
    let text = std::fs::read_to_string(run_dir.join("processes.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "start")
        .map(|v| {
            let argv = v["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            (v["pgid"].as_i64().unwrap() as i32, argv)
        })
        .collect()
}

/// The own PID of every command a run journaled as started (the server
/// itself; its process group is led by its supervisor).
pub fn journal_pids(run_dir: &Path) -> Vec<i32> {
    let text = std::fs::read_to_string(run_dir.join("processes.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "start")
        .map(|v| v["pid"].as_i64().unwrap() as i32)
        .collect()
}

/// Assert that no process of any group the run started is alive.
pub fn assert_nothing_left(run_dir: &Path) {
    let starts = journal_starts(run_dir);
    assert!(
        !starts.is_empty(),
        "the run recorded no process in {}",
        run_dir.display()
    );
    for (pgid, argv) in starts {
        // SAFETY: existence check only.
        let alive = unsafe { libc::kill(-pgid, 0) } == 0;
        assert!(
            !alive,
            "process group {pgid} ({}) is still running",
            argv.join(" ")
        );
    }
}

/// Whether something listens on 127.0.0.1:`port`.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// `/proc/<pid>/cmdline` as argv (empty when the process is gone).
pub fn cmdline(pid: i32) -> Vec<String> {
    mlxrun::procs::cmdline(pid)
}

/// `(pid, rank)` of every rank process a run journaled under mlx.launch.
pub fn journal_ranks(run_dir: &Path) -> Vec<(i32, i64)> {
    let text = std::fs::read_to_string(run_dir.join("processes.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "rank")
        .map(|v| {
            (
                v["pid"].as_i64().unwrap() as i32,
                v["rank"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// Whether process `pid` exists (and is not a zombie).
pub fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A server this test started itself (its own process group), killed on drop.
pub struct OwnServer {
    pub child: std::process::Child,
    pub port: u16,
}

impl OwnServer {
    /// `python -m mlx_lm server` with the tiny model on `port`, ready.
    pub fn mlx_lm(port: u16, log: &Path) -> OwnServer {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(log).unwrap();
        let child = std::process::Command::new(python())
            .args([
                "-m",
                "mlx_lm",
                "server",
                "--model",
                &tiny_model(),
                "--host",
                "127.0.0.1",
            ])
            .args(["--port", &port.to_string()])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap();
        let server = OwnServer { child, port };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let body = r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}"#;
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "test server never became ready"
            );
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let req = format!(
                    "POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(req.as_bytes());
                let mut resp = String::new();
                let _ = s.read_to_string(&mut resp);
                if resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200") {
                    return server;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: signalling our own child's process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A run that has ended: nothing it started is still running, and its
/// `report.jsonl` and `monitor.jsonl` hold only schema-valid records (the
/// monitor's last one a summary).
pub fn assert_clean_run(run_dir: &Path) {
    assert_nothing_left(run_dir);
    assert_records_complete(run_dir);
}

/// [`assert_clean_run`] for a run against servers it did not start (an
/// `openai` backend's `urls`): it journaled no process at all, and its
/// records are schema-valid and complete.
pub fn assert_clean_endpoint_run(run_dir: &Path) {
    let starts = journal_starts(run_dir);
    assert!(
        starts.is_empty(),
        "a run against given endpoints started {starts:?}"
    );
    assert_records_complete(run_dir);
}

/// Schema-valid records, the monitor's last one a summary.
fn assert_records_complete(run_dir: &Path) {
    assert_records_valid(run_dir);
    let monitor = std::fs::read_to_string(run_dir.join("monitor.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(monitor.lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "summary", "the monitor was stopped");
}

/// Every line of the run's `report.jsonl` and `monitor.jsonl` is a
/// schema-valid record, however the run ended (a run that panicked or was
/// killed has no monitor summary, and may have no point record).
pub fn assert_records_valid(run_dir: &Path) {
    for name in ["report.jsonl", "monitor.jsonl"] {
        let path = run_dir.join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("every run writes {}: {e}", path.display()));
        let check = mlxrun::cmd::validate_report::check_text(&text);
        assert!(
            check.violations.is_empty(),
            "{}: {:?}",
            path.display(),
            check.violations
        );
    }
}

/// What a refused run shows, watched while it ran.
pub struct Refused {
    pub output: std::process::Output,
    pub stderr: String,
    /// How many times the checks ran while mlxrun was still alive.
    pub checks_while_running: usize,
}

/// Run `cmd` (an mlxrun that is expected to refuse) to its end, checking
/// every 5 ms while it runs that it starts nothing: nothing at `results`
/// (the results folder a run would create), no descendant process that is
/// a server or nginx (an argv with `--port`, `stub-server` or `nginx`; the
/// version and `--help` probes of the preflight are neither), and none of
/// `ports` listening. After it has exited: still no `results`, and no
/// `processes.jsonl` anywhere under `dir`. The exit code and the message
/// are the caller's to check.
pub fn run_refused(
    cmd: &mut std::process::Command,
    dir: &Path,
    results: &Path,
    ports: &[u16],
) -> Refused {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // read stderr beside the checks, so a long message cannot block mlxrun
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    let root = child.id() as i32;
    let mut checks_while_running = 0;
    let status = loop {
        let exited = child.try_wait().unwrap();
        assert!(
            !results.exists(),
            "{} was created by a run that is refused",
            results.display()
        );
        for p in ports {
            assert!(
                !listening(*p),
                "port {p} was opened by a run that is refused"
            );
        }
        let rows = mlxrun::procs::process_rows().unwrap_or_default();
        for row in mlxrun::procs::descendants(&rows, root) {
            let argv = cmdline(row.pid);
            assert!(
                !argv
                    .iter()
                    .any(|a| a == "--port" || a == "stub-server" || a.ends_with("nginx")),
                "a refused run started {argv:?}"
            );
        }
        if let Some(status) = exited {
            break status;
        }
        checks_while_running += 1;
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let stderr = reader.join().unwrap();
    assert!(!results.exists(), "{} was created", results.display());
    let journals: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "processes.jsonl"))
        .collect();
    assert!(
        journals.is_empty(),
        "a refused run journaled processes: {journals:?}"
    );
    Refused {
        output: std::process::Output {
            status,
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        },
        stderr,
        checks_while_running,
    }
}

/// The mlxrun binary under test, which the scenarios also launch as their
/// stub server.
pub const BIN: &str = env!("CARGO_BIN_EXE_mlxrun");

/// `[backends.<name>]`: `mlxrun stub-server` with `flags`, ready when its
/// `/health` answers.
pub fn stub_backend(name: &str, flags: &[&str]) -> String {
    let argv: Vec<String> = [BIN, "stub-server", "--host", "{{ host }}"]
        .iter()
        .chain(&["--port", "{{ port }}"])
        .chain(flags)
        .map(|a| format!("{a:?}"))
        .collect();
    format!(
        "[backends.{name}]\nlaunch = [{}]\nmodel_kind = \"name\"\nready = \"health\"\n\n",
        argv.join(", ")
    )
}

/// A scenario whose backend is `stub` (defined in `body` with
/// [`stub_backend`]), instances from `port`, nginx on `port + 9`.
pub fn stub_scenario(dir: &Path, name: &str, port: u16, body: &str) -> PathBuf {
    let text = format!(
        r#"name = "{name}"

[model]
path = "stub"

[backend]
kind = "stub"
base_port = {port}
ready_timeout_s = 20
stop_grace_s = 2

[router]
port = {nginx}

[output]
dir = "{out}"

{body}
"#,
        nginx = port + 9,
        out = dir.join("results").display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}
