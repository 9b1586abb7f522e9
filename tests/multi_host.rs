//! mlxrun across hosts, against real hosts: network namespaces on a
//! private bridge, each with Debian's sshd ([`crate::common::hosts`]), the
//! filesystem shared, so the venv, the tiny model and this mlxrun are at the
//! same paths on every host. A point measured through `mlx.launch --backend
//! ring` with rank 0 on one host and rank 1 on the other; instances on two
//! hosts behind nginx; the refusals before anything starts (a host that
//! does not answer over SSH, no mlxrun there, no backend there, no model
//! there, a port taken there); and the exit paths (failure, Ctrl-C,
//! SIGTERM, a panic, SIGKILL of mlxrun), after each of which no process is
//! left on any host.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::hosts::{TestHost, TestHosts, require_hosts};
use crate::common::*;

/// `[hosts.a]`, `[hosts.b]`, … for the fixture's hosts, by their ssh alias
/// and address.
fn host_tables(h: &TestHosts, names: &[&str]) -> String {
    names
        .iter()
        .zip(&h.hosts)
        .map(|(n, host)| {
            format!(
                "[hosts.{n}]\nssh = \"{}\"\naddress = \"{}\"\n\n",
                host.name, host.address
            )
        })
        .collect()
}

/// A short run's tables: a few requests, no warmup.
fn short_load(concurrency: &str, requests: u32) -> String {
    format!(
        "[workload]\nrequests = {requests}\nwarmup_requests = 0\n\n[run.warmup]\nenabled = false\n\n[remote]\nconnect_timeout_s = 5\n\n[matrix]\nconcurrency = {concurrency}\nmax_tokens = 8\n"
    )
}

/// `mlxrun SCENARIO --plain` with the fixture's `ssh` first in `PATH`.
fn mlxrun_with(h: &TestHosts, scenario: &Path) -> Command {
    let mut c = mlxrun();
    c.arg(scenario)
        .arg("--plain")
        .env("PATH", h.path_with_wrapper());
    c
}

/// Wait up to `limit` until no process is left in any host's namespace;
/// panics naming what is left (with its command line).
fn assert_hosts_empty(h: &TestHosts, limit: Duration, when: &str) {
    assert_hosts_empty_but(h, limit, when, &[]);
}

/// [`assert_hosts_empty`], leaving out the test's own processes `ours`.
fn assert_hosts_empty_but(h: &TestHosts, limit: Duration, when: &str, ours: &[i32]) {
    let deadline = Instant::now() + limit;
    loop {
        let left: Vec<(String, i32, Vec<String>)> = h
            .hosts
            .iter()
            .flat_map(|host| {
                h.pids_in(host)
                    .into_iter()
                    .map(move |p| (host.name.clone(), p, cmdline(p)))
            })
            // sshd's own session processes end with their connection
            .filter(|(_, _, argv)| !argv.first().is_some_and(|a| a.starts_with("sshd")))
            .filter(|(_, p, _)| !ours.contains(p))
            .collect();
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("{when}: processes left on the hosts: {left:#?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The servers in `host`'s namespace: Python running `-m mlx_lm server`
/// (not the supervisor in front of them).
fn servers_on(h: &TestHosts, host: &TestHost) -> Vec<i32> {
    h.pids_in(host)
        .into_iter()
        .filter(|p| {
            let argv = cmdline(*p);
            argv.first().is_some_and(|a| a.contains("python")) && argv.iter().any(|a| a == "mlx_lm")
        })
        .collect()
}

/// The one run folder under `dir/results/<name>/`.
fn only_run(dir: &Path, name: &str) -> PathBuf {
    let csvs = csvs(dir, name);
    assert_eq!(csvs.len(), 1, "{csvs:?}");
    run_dir(&csvs[0])
}

/// A scenario with one instance whose ranks run on hosts `a` and `b`
/// (mlx.launch, ring ports above the instance's), and the `load` tables.
fn ranks_on_a_and_b(h: &TestHosts, dir: &Path, name: &str, port: u16, load: String) -> PathBuf {
    let body = format!(
        "[launcher]\nhosts = [\"a\", \"b\"]\nstarting_port = {}\n\n{load}\n{}",
        port + 5,
        host_tables(h, &["a", "b"])
    );
    write_scenario(dir, name, port, &body)
}

#[test]
fn ranks_on_two_hosts_serve_through_rank_0_and_every_host_is_monitored() {
    let Some(h) = require_hosts(2) else { return };
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = ranks_on_a_and_b(&h, t.path(), "ranks_hosts", port, short_load("[2]", 8));
    let out = mlxrun_with(&h, &path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let run = only_run(t.path(), "ranks_hosts");
    let rows = read_rows(&csvs(t.path(), "ranks_hosts")[0]);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["status"], "ok", "{r:?}");
    assert_eq!(
        (r["hosts"].as_str(), r["host_count"].as_str()),
        ("a+b", "2")
    );
    assert_eq!(
        (r["launcher_backend"].as_str(), r["ranks"].as_str()),
        ("ring", "2")
    );
    assert!(num(r, "throughput_tps") > 0.0, "{r:?}");
    // mlx.launch got a hostfile: each host once, its alias and its address
    let hostfile: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("hostfiles/config-1.json")).unwrap(),
    )
    .unwrap();
    let hosts = hostfile["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2, "{hostfile}");
    for (entry, host) in hosts.iter().zip(&h.hosts) {
        assert_eq!(entry["ssh"], host.name.as_str());
        assert_eq!(entry["ips"][0], host.address.as_str());
    }
    // requests went to rank 0 on host a: its address is in the row's log
    let log = std::fs::read_to_string(run.join("logs/instance-0.log")).unwrap();
    assert!(
        log.contains(&format!("--host {}", h.hosts[0].address)),
        "rank 0 binds to host a's address: {log}"
    );
    // both hosts were monitored for the run, their samples brought back
    for name in ["a", "b"] {
        let m = std::fs::read_to_string(run.join(format!("hosts/{name}/monitor.jsonl"))).unwrap();
        let samples = m
            .lines()
            .filter(|l| l.contains("\"kind\":\"sample\""))
            .count();
        assert!(samples >= 2, "host {name}: {samples} samples\n{m}");
        assert!(m.lines().any(|l| l.contains("\"kind\":\"summary\"")), "{m}");
    }
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("## Hosts"), "report.md shows the hosts");
    assert_records_valid(&run);
    assert_hosts_empty(&h, Duration::from_secs(5), "after a successful run");
}

#[test]
fn instances_on_two_hosts_behind_nginx_both_serve_and_their_logs_come_back() {
    let Some(h) = require_hosts(2) else { return };
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    // nginx is the router by default with several instances
    let body = format!(
        "{}\n{}",
        short_load("[4]", 16).replace("[matrix]\n", "[matrix]\ninstances = 2\n"),
        host_tables(&h, &["a", "b"])
    );
    let path = write_scenario_with(
        t.path(),
        "inst_hosts",
        port,
        "hosts = [\"a\", \"b\"]",
        &body,
    );
    let out = mlxrun_with(&h, &path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("servers on other hosts bind to"),
        "the bind beyond loopback is said: {stderr}"
    );
    let run = only_run(t.path(), "inst_hosts");
    let rows = read_rows(&csvs(t.path(), "inst_hosts")[0]);
    let r = &rows[0];
    assert_eq!(r["status"], "ok", "{r:?}");
    assert_eq!(
        (r["hosts"].as_str(), r["router"].as_str()),
        ("a+b", "nginx")
    );
    assert_eq!(r["launcher_backend"], "");
    let per: Vec<u64> = r["instance_requests"]
        .split(';')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(per.len(), 2, "{r:?}");
    assert!(per.iter().all(|n| *n > 0), "both hosts served: {per:?}");
    for (i, host) in h.hosts.iter().enumerate() {
        let log = std::fs::read_to_string(run.join(format!("logs/instance-{i}.log"))).unwrap();
        assert!(
            log.contains(&host.address),
            "instance {i}'s log came back from its host: {log}"
        );
    }
    assert_clean_run(&run);
    assert_hosts_empty(&h, Duration::from_secs(5), "after a successful run");
}

/// Run `scenario` expecting exit 3 with every one of `needles` in stderr,
/// nothing started on any host.
fn refused(h: &TestHosts, dir: &Path, scenario: &Path, needles: &[&str]) {
    refused_but(h, dir, scenario, needles, &[]);
}

/// [`refused`] while the test's own processes `ours` run on a host.
fn refused_but(h: &TestHosts, dir: &Path, scenario: &Path, needles: &[&str], ours: &[i32]) {
    let mut cmd = mlxrun_with(h, scenario);
    let r = run_refused(&mut cmd, dir, &dir.join("results"), &[]);
    assert_eq!(r.output.status.code(), Some(3), "{}", r.stderr);
    for n in needles {
        assert!(r.stderr.contains(n), "missing {n:?} in: {}", r.stderr);
    }
    assert_hosts_empty_but(h, Duration::from_secs(3), "after a refusal", ours);
}

#[test]
fn a_host_without_ssh_mlxrun_backend_model_or_free_port_is_refused_before_anything_starts() {
    let Some(h) = require_hosts(1) else { return };
    let a = &h.hosts[0];
    let port = port_block();
    let table = |extra: &str| {
        format!(
            "{}\n[hosts.a]\nssh = \"{}\"\naddress = \"{}\"\n{extra}\n",
            short_load("[1]", 4),
            a.name,
            a.address
        )
    };
    let case = |name: &str, extra: &str, needles: &[&str]| {
        let t = tempfile::tempdir().unwrap();
        let path = write_scenario_with(t.path(), name, port, "hosts = [\"a\"]", &table(extra));
        refused(&h, t.path(), &path, needles);
    };
    // an address on the fixture's subnet where nothing answers
    let silent = {
        let (net, _) = a.address.rsplit_once('.').unwrap();
        format!("{net}.250")
    };
    let t = tempfile::tempdir().unwrap();
    let path = write_scenario_with(
        t.path(),
        "no_ssh",
        port,
        "hosts = [\"x\"]",
        &format!(
            "{}\n[hosts.x]\nssh = \"{silent}\"\n",
            short_load("[1]", 4).replace("connect_timeout_s = 5", "connect_timeout_s = 2")
        ),
    );
    refused(
        &h,
        t.path(),
        &path,
        &[
            "host x does not answer over SSH without a password prompt",
            "next: install your key",
        ],
    );
    case(
        "no_mlxrun",
        "mlxrun = \"/nowhere/mlxrun\"",
        &[
            "host a: mlxrun is not at /nowhere/mlxrun",
            "next: install mlxrun there",
        ],
    );
    case(
        "no_backend",
        "python = \"/nowhere/python3\"",
        &["host a: backend `mlx_lm` is not usable", "next:"],
    );

    // the model exists here but not there: an empty folder mounted over
    // its copy in host a's own mount namespace (sshd's, which its sessions
    // inherit)
    let t = tempfile::tempdir().unwrap();
    let copy = t.path().join("model-copy");
    copy_dir(Path::new(&tiny_model()), &copy);
    let sshd_pid = std::fs::read_to_string(h.dir.join("sshd-0.pid")).unwrap();
    let st = Command::new("nsenter")
        .args(["-t", sshd_pid.trim(), "-m", "mount", "-t", "tmpfs", "tmpfs"])
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success(), "cannot hide the model on host a");
    let path = write_scenario_with(t.path(), "no_model", port, "hosts = [\"a\"]", &table(""))
        .to_path_buf();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(&tiny_model(), &copy.display().to_string());
    std::fs::write(&path, text).unwrap();
    refused(
        &h,
        t.path(),
        &path,
        &[
            &format!("host a: the model {} is not there", copy.display()),
            "mlx_lm.share",
        ],
    );

    // a port taken there: a listener on host a's address and the
    // instance's port
    let mut listener = Command::new("ip")
        .args(["netns", "exec", &a.netns, "python3", "-c"])
        .arg(format!(
            "import socket,time;s=socket.socket();s.bind(('{}',{port}));s.listen();print('up',flush=True);time.sleep(60)",
            a.address
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(listener.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "up");
    let t = tempfile::tempdir().unwrap();
    let path = write_scenario_with(t.path(), "port_taken", port, "hosts = [\"a\"]", &table(""));
    refused_but(
        &h,
        t.path(),
        &path,
        &[&format!(
            "host a: port(s) already in use on {}: {port} (instance 0)",
            a.address
        )],
        &[listener.id() as i32],
    );
    let _ = listener.kill();
    let _ = listener.wait();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// How a run under test ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The servers on the hosts are killed mid-run: the points left fail
    /// (exit 1).
    Failure,
    CtrlC,
    Sigterm,
    /// mlxrun panics during point 2 (exit 101).
    Panic,
    /// mlxrun is killed with SIGKILL and can clean up nothing.
    Sigkill,
}

/// Start a run of `scenario`, wait until its first point is under way
/// (servers up on the hosts), end it the way `how` says, and return its
/// exit code (None when killed).
fn run_and_end(h: &TestHosts, scenario: &Path, how: Ending) -> Option<i32> {
    // mlxrun's stderr goes beside the scenario, shown when a check fails
    let err_log = scenario.with_extension("stderr");
    let mut cmd = mlxrun_with(h, scenario);
    if matches!(how, Ending::Panic) {
        cmd.env(mlxrun::shutdown::PANIC_AT_POINT_VAR, "2");
    }
    let mut child: Child = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // the first point is being measured once its servers answered
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains("point 1") || line.starts_with("progress") => break,
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
        assert!(
            Instant::now() < deadline,
            "the run did not reach point 1: {}",
            std::fs::read_to_string(&err_log).unwrap_or_default()
        );
    }
    let pid = child.id() as i32;
    match how {
        Ending::Failure => {
            let servers: Vec<i32> = h
                .hosts
                .iter()
                .flat_map(|host| servers_on(h, host))
                .collect();
            assert!(!servers.is_empty(), "no server on the hosts");
            for p in servers {
                // SAFETY: a test's signal to a server it found by PID in
                // host b's namespace.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        // SAFETY (all three): signals to the mlxrun this test started.
        Ending::CtrlC => unsafe {
            libc::kill(pid, libc::SIGINT);
        },
        Ending::Sigterm => unsafe {
            libc::kill(pid, libc::SIGTERM);
        },
        Ending::Sigkill => unsafe {
            libc::kill(pid, libc::SIGKILL);
        },
        Ending::Panic => {}
    }
    let status = child.wait().unwrap();
    // drain what is left of stdout
    while rx.recv_timeout(Duration::from_millis(50)).is_ok() {}
    status.code()
}

#[test]
fn nothing_is_left_on_any_host_after_failure_ctrl_c_sigterm_panic_or_sigkill() {
    let Some(h) = require_hosts(2) else { return };
    let tables = host_tables(&h, &["a", "b"]);
    for (how, expect) in [
        (Ending::Failure, Some(1)),
        (Ending::CtrlC, Some(130)),
        (Ending::Sigterm, Some(130)),
        (Ending::Panic, Some(mlxrun::shutdown::EXIT_PANIC)),
        (Ending::Sigkill, None),
    ] {
        let t = tempfile::tempdir().unwrap();
        let port = port_block();
        // instances on both hosts, three points of 32 requests each, so a
        // point is under way for a while; a failed request is not retried
        let body = format!(
            "{}\n{tables}",
            short_load("[1, 2, 4]", 32)
                .replace("[matrix]\n", "[matrix]\ninstances = 2\n")
                .replace(
                    "[workload]\n",
                    "[workload]\nrequest_timeout_s = 20\nretries = 0\n"
                )
        );
        let name = format!("end_{how:?}").to_lowercase();
        let path = write_scenario_with(
            t.path(),
            &name,
            port,
            "hosts = [\"a\", \"b\"]\nstop_grace_s = 2",
            &body,
        )
        .to_path_buf();
        // write_scenario_with sets stop_grace_s = 5 in its header too: keep ours
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replacen("stop_grace_s = 5\n", "", 1);
        std::fs::write(&path, text).unwrap();
        let code = run_and_end(&h, &path, how);
        assert_eq!(
            code,
            expect,
            "{how:?}: {}",
            std::fs::read_to_string(path.with_extension("stderr")).unwrap_or_default()
        );
        // the supervisors on the hosts get their grace (2 s) and the ssh
        // round trip
        assert_hosts_empty(&h, Duration::from_secs(15), &format!("after {how:?}"));
    }
}

#[test]
fn ranks_on_two_hosts_stop_when_mlxrun_is_killed() {
    let Some(h) = require_hosts(2) else { return };
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = ranks_on_a_and_b(&h, t.path(), "ranks_kill", port, short_load("[1, 2]", 64));
    let code = run_and_end(&h, &path, Ending::Sigkill);
    assert_eq!(code, None);
    assert_hosts_empty(
        &h,
        Duration::from_secs(15),
        "after SIGKILL of mlxrun with ranks on two hosts",
    );
}
