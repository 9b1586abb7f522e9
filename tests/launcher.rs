//! The interactive launcher through a pseudo-terminal (portable-pty) read
//! by a terminal emulator (vt100), keys typed as a user would: menus,
//! scenario picker, model browser, tokens, env overrides, plan view, a real
//! run against mlx_lm.server, Ctrl-C in menus and during runs, a panic,
//! and the usage without a terminal.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_mlxrun");
const ROWS: u16 = 40;
const COLS: u16 = 140;

/// `mlxrun` on a pseudo-terminal, its output parsed by a terminal emulator.
struct Tui {
    parser: Arc<Mutex<vt100::Parser>>,
    /// Everything the program wrote, escape sequences included.
    transcript: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    /// The terminal's master side, open as long as the test looks at it.
    _master: Box<dyn portable_pty::MasterPty + Send>,
    _reader: std::thread::JoinHandle<()>,
}

impl Tui {
    /// `mlxrun ARGS` in `cwd` with `env` (the developer's MLX_*/MLXRUN_* removed).
    fn start(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Tui {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(args);
        cmd.cwd(cwd);
        for (k, _) in std::env::vars() {
            if k.starts_with("MLX_") || k.starts_with("MLXRUN_") || k.starts_with("HF_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("HF_HUB_CACHE", cwd.join("hf-cache"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZero::new(ROWS).unwrap(),
            std::num::NonZero::new(COLS).unwrap(),
            0,
        )));
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let mut reader = pty.master.try_clone_reader().unwrap();
        let (p, t) = (parser.clone(), transcript.clone());
        let _reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
                t.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let writer = pty.master.take_writer().unwrap();
        Tui {
            parser,
            transcript,
            writer,
            child,
            _master: pty.master,
            _reader,
        }
    }

    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.transcript.lock().unwrap()).into_owned()
    }

    /// Wait until the screen shows `text`; the screen when it does.
    fn wait_screen(&self, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {text:?}; it shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the output so far holds `text`; the output when it does.
    fn wait_output(&self, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.transcript();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the output never held {text:?}; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Type `s` (text or key sequences), then let the launcher draw.
    fn send(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    fn enter(&mut self) {
        self.send("\r");
    }

    fn esc(&mut self) {
        self.send("\x1b");
        std::thread::sleep(Duration::from_millis(100));
    }

    fn down(&mut self) {
        self.send("\x1b[B");
    }

    /// Choose main-menu (or submenu) line `n` (1-based) with its digit and Enter.
    fn choose(&mut self, n: u8) {
        self.send(&n.to_string());
        self.enter();
    }

    /// Wait for the program to exit; its exit code.
    fn wait_exit(&mut self, secs: u64) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                // let the reader take the last bytes
                std::thread::sleep(Duration::from_millis(200));
                return st.exit_code();
            }
            assert!(
                Instant::now() < deadline,
                "mlxrun did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The terminal after the program left: main screen, cursor visible.
    fn assert_restored(&self) {
        let p = self.parser.lock().unwrap();
        assert!(
            !p.screen().alternate_screen(),
            "still in the alternate screen"
        );
        assert!(!p.screen().hide_cursor(), "the cursor is still hidden");
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A folder with `scenarios/` (the tiny model scenario `tiny` and a second
/// one) and `models/tiny` (a link to the tiny model).
fn workspace(port: u16, body: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let scen = t.path().join("scenarios");
    std::fs::create_dir_all(&scen).unwrap();
    write_scenario(&scen, "tiny", port, body);
    let text = std::fs::read_to_string(scen.join("tiny.toml")).unwrap();
    std::fs::write(
        scen.join("tiny.toml"),
        text.replacen(
            "name = \"tiny\"",
            "name = \"tiny\"\ndescription = \"launcher test\"",
            1,
        ),
    )
    .unwrap();
    std::fs::write(
        scen.join("another.toml"),
        "name = \"another\"\ndescription = \"a second choice\"\n[model]\npath = \"nowhere-model\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(t.path().join("models")).unwrap();
    std::os::unix::fs::symlink(tiny_model(), t.path().join("models/tiny")).unwrap();
    t
}

fn run_dir_of(output: &str) -> PathBuf {
    let line = output
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("run_dir="))
        .unwrap_or_else(|| panic!("no run_dir= in\n{output}"));
    PathBuf::from(line.trim())
}

#[test]
fn launcher_picks_scenario_model_tokens_env_shows_the_plan_and_runs_it() {
    let port = port_block();
    let t = workspace(
        port,
        "[workload]\nrequests_per_concurrency = 2\nwarmup_requests = 0\n\n[matrix]\nconcurrency = [1]\nmax_tokens = 8\n",
    );
    // a model in the Hugging Face cache, listed with its size
    let cached = t
        .path()
        .join("hf-cache/models--mlx-community--Cached-4bit/blobs");
    std::fs::create_dir_all(&cached).unwrap();
    std::fs::write(cached.join("b"), vec![0u8; 2000]).unwrap();

    let mut tui = Tui::start(t.path(), &[], &[]);
    let s = tui.wait_screen("Round-robin servers", 20);
    for line in [
        "Scenario: another — a second choice",
        "Model:",
        "Tokens:",
        "Env: (none)",
        "Advanced: (none)",
        "Show plan",
        "Run",
        "Exit",
    ] {
        assert!(s.contains(line), "{line:?} missing:\n{s}");
    }
    // the first scenario's model does not exist: the loader's error shows
    assert!(s.contains("error:") && s.contains("nowhere-model"), "{s}");

    // scenario picker: both files with their description
    tui.choose(1);
    let s = tui.wait_screen("launcher test", 5);
    assert!(s.contains("another — a second choice"), "{s}");
    tui.down();
    tui.enter();
    let s = tui.wait_screen("Scenario: tiny — launcher test", 5);
    assert!(s.contains("1 point(s)"), "{s}");

    // model: the Hugging Face cache lists ORG/NAME with its size
    tui.choose(2);
    tui.wait_screen("Browse local folders", 5);
    tui.choose(3);
    let s = tui.wait_screen("mlx-community/Cached-4bit", 5);
    assert!(s.contains("(2.0 KB)"), "{s}");
    tui.esc();
    // browse local folders: starts in ./models, the tiny model is marked
    tui.choose(2);
    let s = tui.wait_screen("<MLX Model>", 5);
    assert!(s.contains("/models"), "the current path is shown:\n{s}");
    assert!(s.contains("tiny  <MLX Model>"), "{s}");
    tui.down();
    tui.enter();
    tui.wait_screen("Model: models/tiny", 5);

    // tokens: a bad value is refused inline, then 4 and concurrency 1,2
    tui.choose(3);
    tui.wait_screen("Requests per point", 5);
    tui.choose(1);
    tui.send("\x15"); // Ctrl-U
    tui.send("0");
    tui.enter();
    tui.wait_screen("\"0\" is not a number > 0", 5);
    tui.send("\x15");
    tui.send("4");
    tui.enter();
    tui.wait_screen("Max tokens: 4", 5);
    tui.choose(2);
    tui.send("1,2");
    tui.enter();
    tui.wait_screen("Concurrency: 1,2", 5);
    tui.esc();
    let s = tui.wait_screen("Tokens: 4 / Concurrency: 1,2", 5);
    assert!(s.contains("2 point(s)"), "{s}");

    // env override
    tui.choose(4);
    tui.wait_screen("Env overrides", 5);
    tui.send("MLX_NUM_REQUESTS=2");
    tui.enter();
    tui.wait_screen("Env: MLX_NUM_REQUESTS=2", 5);

    // the plan, scrollable, then back
    tui.choose(6);
    let s = tui.wait_screen("Plan (", 5);
    assert!(s.contains("scenario: tiny"), "{s}");
    assert!(s.contains("models/tiny"), "{s}");
    tui.send("\x1b[6~"); // PgDn
    tui.esc();
    tui.wait_screen("Round-robin servers", 5);

    // run it for real
    tui.choose(7);
    let out = tui.wait_output("Press Enter to return to the menu", 300);
    assert!(out.contains("=== mlxrun ==="), "{out}");
    assert!(
        out.contains(
            "CMD: MLX_NUM_REQUESTS=2 mlxrun run scenarios/tiny.toml --set model.path=models/tiny --set matrix.max_tokens=4 --set matrix.concurrency=1,2"
        ),
        "{out}"
    );
    assert!(out.contains("exit code 0: every point ran"), "{out}");
    assert!(out.contains("report.md: "), "{out}");
    let run_dir = t.path().join(run_dir_of(&out));
    let csv = run_dir.with_extension("csv");
    let rows = read_rows(&csv);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, conc) in rows.iter().zip(["1", "2"]) {
        assert_eq!(row["status"], "ok", "{row:?}");
        assert_eq!(row["concurrency"], conc);
        assert_eq!(row["max_tokens"], "4");
        assert_eq!(row["requests"], "2", "MLX_NUM_REQUESTS reached the run");
        assert_eq!(num(row, "total_tokens"), 8.0);
    }
    assert!(run_dir.join("report.md").is_file());
    assert_clean_run(&run_dir);

    // back to the menu, then leave with Esc
    tui.enter();
    tui.wait_screen("Round-robin servers", 10);
    assert!(tui.parser.lock().unwrap().screen().alternate_screen());
    tui.esc();
    assert_eq!(tui.wait_exit(10), 0);
    tui.assert_restored();

    // the choices are remembered for the next start
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(t.path().join(".mlxrun/launcher.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["scenario"], "scenarios/tiny.toml");
    assert_eq!(saved["model"], "models/tiny");
    assert_eq!(saved["max_tokens"], serde_json::json!([4]));
    assert_eq!(saved["env"], "MLX_NUM_REQUESTS=2");
    let tui = Tui::start(t.path(), &["launch"], &[]);
    tui.wait_screen("Tokens: 4 / Concurrency: 1,2", 20);
}

#[test]
fn launcher_shows_the_loaders_error_for_a_bad_env_override_and_ctrl_c_leaves_cleanly() {
    let t = workspace(port_block(), "");
    std::fs::create_dir_all(t.path().join(".mlxrun")).unwrap();
    std::fs::write(t.path().join(".mlxrun/launcher.json"), "{ broken").unwrap();
    let mut tui = Tui::start(t.path(), &[], &[]);
    let s = tui.wait_screen("Round-robin servers", 20);
    assert!(s.contains("ignored"), "a broken saved file is noted:\n{s}");
    tui.choose(4);
    tui.wait_screen("Env overrides", 5);
    tui.send("MLXRUN_WORKLOAD__PROMTP=hi");
    tui.enter();
    let s = tui.wait_screen("no such scenario field", 5);
    assert!(
        s.contains("env MLXRUN_WORKLOAD__PROMTP: workload.promtp"),
        "{s}"
    );
    assert!(s.contains("did you mean MLXRUN_WORKLOAD__PROMPT?"), "{s}");
    // a name mlxrun does not read at all
    tui.send("\x15");
    tui.send("MLX_CONCURENCY=4");
    tui.enter();
    let s = tui.wait_screen("not a variable mlxrun reads", 5);
    assert!(s.contains("did you mean MLX_CONCURRENCY?"), "{s}");
    // Ctrl-C in a menu: leave at once, terminal restored (no run was
    // started, so there is no run folder to check clean)
    tui.send("\x03");
    assert_eq!(tui.wait_exit(10), 130);
    tui.assert_restored();
}

#[test]
fn launcher_panic_restores_the_terminal_then_mlxruns_hook_exits_101() {
    let t = workspace(port_block(), "");
    let mut tui = Tui::start(t.path(), &[], &[("_MLXRUN_FAULT_PANIC_IN_LAUNCHER", "1")]);
    // it panics in the menus, before any run: no run folder to check clean
    assert_eq!(tui.wait_exit(20), 101);
    tui.assert_restored();
    let out = tui.transcript();
    assert!(out.contains("a panic asked for in the launcher"), "{out}");
    assert!(out.contains("mlxrun: internal error (panic)"), "{out}");
}

#[test]
fn without_a_terminal_mlxrun_prints_the_usage_and_exits_2() {
    use std::process::Stdio;
    // the usage, and nothing started: no run folder to check clean
    for args in [&[][..], &["launch"]] {
        // stdin a pipe held open and never written: a read of it would block
        let mut child = mlxrun()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _held_open = child.stdin.take();
        // it exits without waiting for input: 10 s is the deadline of this
        // wait, not a timing claim (it exits in 10 to 36 ms, busy machine
        // included; the failure it catches is waiting forever)
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("mlxrun {args:?} without a terminal waited (for input?)");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!(
            "mlxrun {args:?} without a terminal exited in {:?}",
            started.elapsed()
        );
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("usage: mlxrun SCENARIO"), "{err}");
        assert!(err.contains("mlxrun scenarios/quickstart.toml"), "{err}");
        assert!(err.contains("next: "), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// `[backends.stub]`: this mlxrun as a slow stub server (each token 50 ms
/// apart), so a run lasts until it is interrupted.
fn slow_stub_workspace(port: u16) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let scen = t.path().join("scenarios");
    std::fs::create_dir_all(&scen).unwrap();
    let text = format!(
        r#"name = "slow"
description = "a stub that takes its time"

[model]
path = "stub"

[backend]
kind = "stub"
base_port = {port}
ready_timeout_s = 20
stop_grace_s = 2

[backends.stub]
launch = [{bin:?}, "stub-server", "--host", "{{{{ host }}}}", "--port", "{{{{ port }}}}", "--itl-ms", "50"]
model_kind = "name"
ready = "health"

[router]
port = {nginx}

[output]
dir = "{out}"

[workload]
requests = 1000

[matrix]
concurrency = [1]
max_tokens = 2000
"#,
        bin = BIN,
        nginx = port + 9,
        out = t.path().join("results").display(),
    );
    std::fs::write(scen.join("slow.toml"), text).unwrap();
    t
}

/// Ctrl-C during a run interrupts that run only (finished rows kept, back
/// to the menu); a second run's Ctrl-C is again its first, not a second
/// one that kills mlxrun.
#[test]
fn launcher_ctrl_c_interrupts_each_run_and_returns_to_the_menu() {
    let t = slow_stub_workspace(port_block());
    let mut tui = Tui::start(t.path(), &[], &[]);
    tui.wait_screen("1 point(s)", 20);
    for n in 1..=2 {
        let before = tui.transcript().matches("run_dir=").count();
        tui.choose(7);
        let deadline = Instant::now() + Duration::from_secs(60);
        while tui.transcript().matches("run_dir=").count() == before {
            assert!(Instant::now() < deadline, "run {n} did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_secs(2));
        tui.send("\x03");
        let deadline = Instant::now() + Duration::from_secs(60);
        while tui
            .transcript()
            .matches("exit code 130: interrupted")
            .count()
            < n
        {
            assert!(
                Instant::now() < deadline,
                "run {n} was not interrupted:\n{}",
                tui.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = tui.wait_output("Press Enter to return to the menu", 10);
        assert!(out.contains("next: mlxrun resume"), "{out}");
        assert!(
            tui.child.try_wait().unwrap().is_none(),
            "mlxrun is still running after run {n}'s Ctrl-C"
        );
        tui.enter();
        tui.wait_screen("Round-robin servers", 10);
    }
    tui.esc();
    assert_eq!(tui.wait_exit(10), 0);
    tui.assert_restored();
    let out = tui.transcript();
    for dir in out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("run_dir="))
        .collect::<std::collections::BTreeSet<_>>()
    {
        assert_clean_run(&t.path().join(dir.trim()));
    }
}

/// The round-robin submenu drives `mlxrun serve up|status|down` with its
/// settings: two instances on the chosen ports behind nginx, a status, a stop.
#[test]
fn launcher_round_robin_starts_checks_and_stops_servers() {
    let port = port_block();
    let t = workspace(port, "");
    let _cleanup = ServeDown(t.path().join("scenarios/results/serve/tiny"));
    let mut tui = Tui::start(t.path(), &[], &[]);
    tui.wait_screen("Round-robin servers", 20);
    tui.choose(1);
    tui.wait_screen("launcher test", 5);
    tui.down();
    tui.enter();
    tui.wait_screen("Scenario: tiny", 5);
    tui.choose(8);
    tui.wait_screen("Start round-robin servers", 5);
    for (line, value) in [
        (1, "2".to_string()),
        (2, (port + 2).to_string()),
        (3, (port + 8).to_string()),
        (4, "127.0.0.1".to_string()),
    ] {
        tui.choose(line);
        tui.send("\x15");
        tui.send(&value);
        tui.enter();
    }
    let s = tui.wait_screen(&format!("Nginx port: {}", port + 8), 5);
    assert!(s.contains("Instances: 2"), "{s}");
    assert!(s.contains(&format!("Base port: {}", port + 2)), "{s}");

    tui.choose(6); // Start
    let out = tui.wait_output("Press Enter to return to the menu", 300);
    assert!(
        out.contains(&format!(
            "mlxrun serve up scenarios/tiny.toml --set matrix.instances=2 --set backend.base_port={} --set router.port={}",
            port + 2,
            port + 8
        )),
        "{out}"
    );
    assert!(
        out.contains("exit code 0: servers running and ready"),
        "{out}"
    );
    assert!(out.contains("state_dir="), "{out}");
    assert!(listening(port + 2) && listening(port + 3) && listening(port + 8));
    tui.enter();
    tui.wait_screen("Start round-robin servers", 10);

    tui.choose(8); // Status
    let out = tui.wait_output("exit code 0: everything recorded is alive and ready", 60);
    assert!(
        out.contains("mlxrun serve status scenarios/tiny.toml --set matrix.instances=2"),
        "{out}"
    );
    tui.enter();
    tui.wait_screen("Start round-robin servers", 10);

    tui.choose(7); // Stop
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tui
        .transcript()
        .contains("exit code 0: stopped (or nothing was running)")
    {
        assert!(
            Instant::now() < deadline,
            "stop did not end; screen:\n{}",
            tui.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    tui.wait_output("Press Enter to return to the menu", 10);
    // not a run (no run folder): `serve down` stopped what `serve up`
    // recorded (tests/serve.rs checks each recorded process); here every
    // port is free again
    assert!(!listening(port + 2) && !listening(port + 3) && !listening(port + 8));
    tui.enter();
    tui.esc();
    tui.esc();
    assert_eq!(tui.wait_exit(10), 0);
    tui.assert_restored();
}

/// Stops what the submenu's Start left running when an assertion fails
/// first (the servers of `serve up` outlive the launcher by design).
struct ServeDown(PathBuf);

impl Drop for ServeDown {
    fn drop(&mut self) {
        if self.0.join("state.json").exists() {
            let _ = std::process::Command::new(BIN)
                .args(["serve", "down"])
                .arg(&self.0)
                .output();
        }
    }
}

/// SIGTERM while the menus are up (say, the terminal's window manager)
/// leaves the launcher with 130 and the terminal restored.
#[test]
fn launcher_sigterm_at_a_menu_restores_the_terminal() {
    let t = workspace(port_block(), "");
    let mut tui = Tui::start(t.path(), &[], &[]);
    tui.wait_screen("Round-robin servers", 20);
    tui.choose(3);
    tui.wait_screen("Requests per point", 5);
    let pid = tui.child.process_id().unwrap() as i32;
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    // at a menu, before any run: no run folder to check clean
    assert_eq!(tui.wait_exit(10), 130);
    tui.assert_restored();
}
