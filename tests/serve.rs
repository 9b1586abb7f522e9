//! `mlxrun serve up|status|down` against the real mlx_lm.server (tiny model)
//! behind real nginx: the servers outlive mlxrun, answer through nginx from
//! both instances, match what state.json and /proc say, refuse a second
//! `up`, and `down` stops exactly the recorded groups (a decoy with the same
//! command name survives). A failing or interrupted `up` (the stub as a
//! never-ready backend) leaves nothing running and no state.
//!
//! `serve` writes no run folder, so `assert_clean_run` does not apply: the
//! first test's clean check is `down` (every recorded group empty, every
//! port free), the second's `assert_nothing_left` on serve's own journal.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_mlxrun");

fn state_of(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `(state, pgid, start time)` of `pid` from `/proc/<pid>/stat`.
fn proc_stat(pid: i64) -> Option<(char, i64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some((
        f[0].chars().next()?,
        f[2].parse().ok()?,
        f[19].parse().ok()?,
    ))
}

/// Whether any non-zombie process is in group `pgid`.
fn group_has_members(pgid: i64) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .any(|pid| proc_stat(pid).is_some_and(|(st, pg, _)| pg == pgid && st != 'Z'))
}

/// POST a 1-token chat completion to `port` tagged `tag`; the status line.
fn complete(port: u16, tag: &str) -> String {
    let body = r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}"#;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nX-Mlxrun-Request: {tag}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.lines().next().unwrap_or_default().to_string()
}

/// Stops what a test's `serve up` left, even when an assertion failed.
struct Cleanup {
    dir: Option<PathBuf>,
    decoy: Option<std::process::Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(d) = &self.dir
            && d.join("state.json").exists()
        {
            let _ = Command::new(BIN).args(["serve", "down"]).arg(d).output();
        }
        if let Some(c) = &mut self.decoy {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn serve_up_outlives_mlxrun_and_down_stops_exactly_what_it_recorded() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let nginx_port = port + 9;
    let path = write_scenario(t.path(), "served", port, "[matrix]\ninstances = 2\n");
    // a decoy with the instances' command name (the same python), which a
    // stop by name would hit
    let decoy = Command::new(python())
        .args(["-c", "import time; time.sleep(300)"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let decoy_pid = decoy.id() as i32;
    let mut guard = Cleanup {
        dir: None,
        decoy: Some(decoy),
    };

    let (out, _) = run_ok(mlxrun().args(["serve", "up"]).arg(&path));
    let dir = PathBuf::from(
        out.lines()
            .find_map(|l| l.strip_prefix("state_dir="))
            .unwrap_or_else(|| panic!("no state_dir= in {out}")),
    );
    guard.dir = Some(dir.clone());
    assert_eq!(dir, t.path().join("results/serve/served"));

    // mlxrun has exited; every recorded process is still the one recorded
    let st = state_of(&dir);
    assert_eq!(st["phase"], "up");
    let procs = st["processes"].as_array().unwrap().clone();
    let names: Vec<&str> = procs.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["instance-0", "instance-1", "nginx"], "{st}");
    for p in &procs {
        let pid = p["pid"].as_i64().unwrap();
        let (state, pgid, start) = proc_stat(pid).unwrap_or_else(|| panic!("{p} is gone"));
        assert_ne!(state, 'Z', "{p}");
        assert_eq!(pgid, pid, "own process group: {p}");
        assert_eq!(p["pgid"].as_i64(), Some(pgid));
        assert_eq!(p["start_time"].as_u64(), Some(start), "{p}");
        let argv: Vec<String> = p["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let now = cmdline(pid as i32);
        if p["role"] == "nginx" {
            // nginx rewrites its title to `nginx: master process <argv>`
            assert!(now.join(" ").contains("nginx: master process"), "{now:?}");
        } else {
            assert_eq!(now, argv, "{p}");
        }
        assert!(Path::new(p["log"].as_str().unwrap()).is_file(), "{p}");
    }
    let port_of = |i: usize| procs[i]["port"].as_u64().unwrap() as u16;
    assert_eq!(
        (port_of(0), port_of(1), port_of(2)),
        (port, port + 1, nginx_port)
    );
    assert_eq!(procs[2]["role"], "nginx");

    // requests through nginx are answered, by both instances
    for i in 0..4 {
        assert!(
            complete(nginx_port, &format!("serve-test-{i}")).contains(" 200"),
            "request {i} through nginx"
        );
    }
    let access = std::fs::read_to_string(dir.join("nginx/access.log")).unwrap();
    let upstreams: std::collections::BTreeSet<&str> = access
        .lines()
        .filter(|l| l.contains("req=serve-test-"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("upstream="))
        })
        .collect();
    assert_eq!(
        upstreams,
        [
            format!("127.0.0.1:{port}"),
            format!("127.0.0.1:{}", port + 1)
        ]
        .iter()
        .map(String::as_str)
        .collect(),
        "{access}"
    );

    // status: every process alive and ready, at its recorded pid and port
    let (table, _) = run_ok(mlxrun().args(["serve", "status"]).arg(&path));
    for p in &procs {
        let pid = p["pid"].as_i64().unwrap();
        let url = format!("http://127.0.0.1:{}", p["port"]);
        let row = table
            .lines()
            .find(|l| l.starts_with(p["name"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("{table}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cols[1..6],
            [
                url.as_str(),
                &pid.to_string(),
                &pid.to_string(),
                "yes",
                "yes"
            ],
            "{table}"
        );
    }
    let (json, _) = run_ok(mlxrun().args(["serve", "status", "--json"]).arg(&dir));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["healthy"], true, "{json}");
    let pids: Vec<i64> = v["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    let recorded: Vec<i64> = procs.iter().map(|p| p["pid"].as_i64().unwrap()).collect();
    assert_eq!(pids, recorded);

    // a second up refuses and changes nothing
    let again = mlxrun().args(["serve", "up"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(3), "{err}");
    assert!(
        err.contains("already up") && err.contains("next: mlxrun serve down"),
        "{err}"
    );
    assert_eq!(
        state_of(&dir)["processes"],
        serde_json::Value::Array(procs.clone())
    );

    // down stops exactly those groups and frees the ports
    let (out, _) = run_ok(mlxrun().args(["serve", "down"]).arg(&path));
    assert!(out.contains("stopped 3 process group(s)"), "{out}");
    for p in &procs {
        let pgid = p["pgid"].as_i64().unwrap();
        assert!(!group_has_members(pgid), "group {pgid} survived down: {p}");
    }
    for port in [port, port + 1, nginx_port] {
        assert!(!listening(port), "port {port} still taken");
    }
    assert!(!dir.join("state.json").exists());
    assert!(dir.join("logs/instance-0.log").is_file(), "logs are kept");
    assert!(
        pid_alive(decoy_pid),
        "the decoy with the same command name was hit"
    );
    let (out, _) = run_ok(mlxrun().args(["serve", "down"]).arg(&dir));
    assert!(out.contains("nothing running"), "{out}");
    let st = mlxrun()
        .args(["serve", "status"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1), "status of nothing");
}

/// A scenario whose backend is the stub that never becomes ready: two
/// instances from `port` behind nginx.
fn never_ready(dir: &Path, port: u16) -> PathBuf {
    let text = format!(
        r#"name = "never"
[model]
path = "stub"
[backend]
kind = "stub"
base_port = {port}
ready_timeout_s = 3
stop_grace_s = 2
[router]
port = {nginx}
[output]
dir = "{out}"
[matrix]
instances = 2
[backends.stub]
launch = ["{BIN}", "stub-server", "--host", "{{{{ host }}}}", "--port", "{{{{ port }}}}", "--never-ready"]
model_kind = "name"
ready = "health"
"#,
        nginx = port + 9,
        out = dir.join("results").display(),
    );
    let path = dir.join("never.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_failed_or_interrupted_serve_up_leaves_nothing_running() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = never_ready(t.path(), port);
    let dir = t.path().join("results/serve/never");
    let _guard = Cleanup {
        dir: Some(dir.clone()),
        decoy: None,
    };

    let out = mlxrun()
        .args(["serve", "up", "--config", "2"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("has 1 server configuration(s)") && err.contains("next: mlxrun plan"),
        "{err}"
    );
    assert!(!dir.exists(), "nothing started or written");

    let out = mlxrun().args(["serve", "up"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("did not become ready within 3 s")
            && err.contains("listening on http://127.0.0.1:")
            && err.contains("next: "),
        "the reason, the log tail and a next step: {err}"
    );
    assert!(!dir.join("state.json").exists(), "no state claims them");
    assert_eq!(journal_starts(&dir).len(), 2, "both instances were started");
    assert_nothing_left(&dir);
    assert!(!listening(port) && !listening(port + 1));

    // Ctrl-C while waiting: 130, everything stopped again
    std::fs::remove_file(dir.join("processes.jsonl")).unwrap();
    let mut child = mlxrun()
        .args(["serve", "up", "--set", "backend.ready_timeout_s=60"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal_starts(&dir).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "serve up never started both instances"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // the state names both while they start (a crash now would leave `down` a record)
    let st = state_of(&dir);
    assert_eq!(st["phase"], "starting");
    assert_eq!(st["processes"].as_array().unwrap().len(), 2, "{st}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!dir.join("state.json").exists());
    assert_nothing_left(&dir);
}
