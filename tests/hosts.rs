//! The test hosts themselves (network namespaces with sshd,
//! `common::hosts`), and MLX's own ring launcher serving the tiny model
//! with one rank on each of two of them, without mlxrun: what the
//! multi-host tests of mlxrun build on.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::hosts::{TestHost, TestHosts, require_hosts};
use crate::common::*;

/// Run the shell command `remote` on `host` over ssh (the wrapper, found through `PATH` as
/// programs that call plain `ssh` find it); panics unless it exits 0.
fn on_host(hosts: &TestHosts, host: &TestHost, remote: &str) -> String {
    let out = Command::new("ssh")
        .env("PATH", hosts.path_with_wrapper())
        .arg(&host.name)
        .arg(remote)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ssh {} {remote:?} exited {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        host.name,
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Wait up to `limit` until nothing but its sshd runs in `host`'s
/// namespace; returns what is still there (PID and command line).
fn wait_until_empty(hosts: &TestHosts, host: &TestHost, limit: Duration) -> Vec<(i32, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let left: Vec<(i32, String)> = hosts
            .pids_in(host)
            .into_iter()
            .map(|pid| (pid, cmdline(pid).join(" ")))
            .collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_hosts_answer_over_ssh_and_see_each_other() {
    let started = Instant::now();
    let Some(hosts) = require_hosts(2) else {
        return;
    };
    let up = started.elapsed();
    let (host0, host1) = (&hosts.hosts[0], &hosts.hosts[1]);
    assert_eq!(
        (host0.name.as_str(), host1.name.as_str()),
        ("host0", "host1")
    );
    assert_ne!(host0.address, host1.address);
    assert_ne!(host0.netns, host1.netns);

    for (host, other) in [(host0, host1), (host1, host0)] {
        // each host has its own address and sees only its own
        let addrs = on_host(&hosts, host, "ip -4 -o addr show");
        assert!(
            addrs.contains(&format!("inet {}/24", host.address)),
            "{}: {addrs}",
            host.name
        );
        assert!(
            !addrs.contains(&format!("inet {}/", other.address)),
            "{}: {addrs}",
            host.name
        );
        // and no route beyond the test network
        let routes = on_host(&hosts, host, "ip -4 route show");
        assert!(!routes.contains("default"), "{}: {routes}", host.name);
    }
    // host0 reaches host1's sshd
    let banner = on_host(
        &hosts,
        host0,
        &format!(
            "bash -c 'exec 3<>/dev/tcp/{}/22 && head -c 4 <&3'",
            host1.address
        ),
    );
    assert_eq!(banner, "SSH-");
    // a session on a host runs in that host's namespace
    for host in [host0, host1] {
        assert_eq!(
            on_host(&hosts, host, "ip netns identify").trim(),
            host.netns
        );
    }

    // pids_in sees a process started in a namespace, and only there
    let mut sleeper = Command::new("ip")
        .args(["netns", "exec", &host1.netns, "sleep", "60"])
        .spawn()
        .unwrap();
    let pid = sleeper.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !hosts.pids_in(host1).contains(&pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        hosts.pids_in(host1).contains(&pid),
        "{:?}",
        hosts.pids_in(host1)
    );
    assert!(!hosts.pids_in(host0).contains(&pid));
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();

    // the ssh sessions above ended with their clients: nothing is left
    for host in [host0, host1] {
        let left = wait_until_empty(&hosts, host, Duration::from_secs(10));
        assert!(left.is_empty(), "{} still runs {left:?}", host.name);
    }
    eprintln!(
        "two hosts up in {up:?}; the whole test {:?}",
        started.elapsed()
    );
}

/// One HTTP/1.0 exchange with `address:port`: `(status line, body)`, or
/// `None` while nothing answers.
fn http(
    address: &str,
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(String, String)> {
    let mut s = std::net::TcpStream::connect((address, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {address}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// The value of `name` in process `pid`'s environment.
fn environ_var(pid: i32, name: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|&b| b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(String::from))
}

/// SIGKILL to a process group when dropped (a test that fails midway
/// leaves nothing behind).
struct KillGroup(i32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        // SAFETY: signalling the process group this test started.
        unsafe { libc::kill(-self.0, libc::SIGKILL) };
    }
}

#[test]
fn mlx_launch_ring_serves_the_tiny_model_across_two_hosts() {
    let started = Instant::now();
    let Some(hosts) = require_hosts(2) else {
        return;
    };
    let (host0, host1) = (&hosts.hosts[0], &hosts.hosts[1]);
    let python = python();
    let model = tiny_model();
    let launch = repo().join(".mlxrun/venv/bin/mlx.launch");
    assert!(
        launch.is_file(),
        "missing {}: run scripts/setup.sh",
        launch.display()
    );
    let ports = port_block();
    let (ring_port, http_port) = (ports, ports + 5);
    let log_path = hosts.dir.join("mlx.launch.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut launcher = Command::new(&launch)
        .args(["--backend", "ring", "--hosts"])
        .arg(format!("{},{}", host0.address, host1.address))
        .args(["--starting-port", &ring_port.to_string(), "--"])
        .args([python.as_str(), "-m", "mlx_lm", "server", "--model", &model])
        .args(["--host", &host0.address, "--port", &http_port.to_string()])
        .env("PATH", hosts.path_with_wrapper())
        .current_dir(repo())
        // a pipe held open: mlx.launch forwards its stdin to every rank, and
        // spins on one that is at end of file
        .stdin(Stdio::piped())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap();
    let group = KillGroup(launcher.id() as i32);
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // rank 0 serves HTTP on host0, reached from this machine
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some((status, body)) = http(&host0.address, http_port, "GET", "/v1/models", "") {
            assert!(status.contains(" 200"), "{status}\n{body}");
            break;
        }
        if let Some(status) = launcher.try_wait().unwrap() {
            panic!("mlx.launch exited {status} before serving:\n{}", log_text());
        }
        assert!(
            Instant::now() < deadline,
            "http://{}:{http_port}/v1/models never answered:\n{}",
            host0.address,
            log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let ready = started.elapsed();

    // one rank on each host, rank 0 on host0
    let mut ranks_seen = Vec::new();
    for (k, host) in [host0, host1].into_iter().enumerate() {
        let ranks: Vec<i32> = hosts
            .pids_in(host)
            .into_iter()
            .filter(|&pid| cmdline(pid).iter().any(|a| a == "mlx_lm"))
            .collect();
        ranks_seen.extend(ranks.iter().copied());
        assert_eq!(ranks.len(), 1, "{}: mlx_lm processes {ranks:?}", host.name);
        assert_eq!(
            environ_var(ranks[0], "MLX_RANK").as_deref(),
            Some(k.to_string().as_str()),
            "{}: {:?}",
            host.name,
            cmdline(ranks[0])
        );
    }

    let request = r#"{"messages":[{"role":"user","content":"hello"}],"max_tokens":4}"#;
    let (status, body) = http(
        &host0.address,
        http_port,
        "POST",
        "/v1/chat/completions",
        request,
    )
    .unwrap_or_else(|| panic!("no answer to the chat completion:\n{}", log_text()));
    assert!(status.contains(" 200"), "{status}\n{body}\n{}", log_text());
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["choices"][0]["message"]["content"].is_string(),
        "{answer}"
    );
    let tokens = answer["usage"]["completion_tokens"].as_u64().unwrap_or(0);
    assert!((1..=4).contains(&tokens), "{answer}");
    let served = started.elapsed();

    // SIGKILL to mlx.launch's group (its ssh clients included): the
    // connections drop, sshd hangs up the ranks' terminals, and the ranks end
    let running: Vec<(i32, String)> = [host0, host1]
        .iter()
        .flat_map(|host| hosts.pids_in(host))
        .map(|pid| (pid, cmdline(pid).join(" ")))
        .collect();
    for rank in &ranks_seen {
        assert!(
            running.iter().any(|(pid, _)| pid == rank),
            "rank {rank} ended before the kill: {running:?}"
        );
    }
    let killed = Instant::now();
    drop(group);
    launcher.wait().unwrap();
    for host in [host0, host1] {
        let left = wait_until_empty(&hosts, host, Duration::from_secs(15));
        assert!(
            left.is_empty(),
            "{} still runs {left:?} 15 s after mlx.launch's group was killed",
            host.name
        );
    }
    eprintln!(
        "ring over two hosts: serving after {ready:?}, answered after {served:?}; \
         on the hosts before the kill: {running:?}; both hosts empty {:?} after \
         SIGKILL to mlx.launch's group; whole test {:?}",
        killed.elapsed(),
        started.elapsed()
    );
}
