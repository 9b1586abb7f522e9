//! `mlxrun stub-server` as a user runs it: it prints its address first,
//! answers, and stops with exit 0 on SIGTERM, leaving nothing behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Kills the child if the test fails before it is stopped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection; the whole raw answer.
fn http(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn stub_server_prints_its_address_answers_and_stops_on_sigterm() {
    let child = mlxrun()
        .args(["stub-server", "--port", "0", "--tokens", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    let mut first = String::new();
    BufReader::new(guard.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);

    let health = http(
        &addr,
        "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert!(health.ends_with("{\"status\":\"ok\"}"), "{health}");
    let body = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    let stream = http(
        &addr,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(
        stream.matches("\"content\":\"tok \"").count(),
        3,
        "{stream}"
    );
    assert!(stream.contains("data: [DONE]"), "{stream}");

    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(guard.0.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = guard.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    guard
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("terminate received"), "{err}");
    // no run folder to check clean: the stub is one process, started by
    // the test; it is gone and its port is free
    assert!(!listening(port), "port {port} still open");
    // SAFETY: existence check only; the child was reaped above.
    assert_ne!(unsafe { libc::kill(guard.0.id() as i32, 0) }, 0);
}
