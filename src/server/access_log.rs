//! nginx's access log, read back for per-instance accounting: every request
//! carries an `x-mlxrun-request: <point>-<n>` header that the log format
//! records as `req=…` next to `upstream=…`, so each request of a point can
//! be matched to the instance that served it.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Size of the log now (where the next point's lines will start).
pub fn offset(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// The value of `key=` in a log line (up to the next space).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=");
    let i = line.find(&pat)? + pat.len();
    let rest = &line[i..];
    Some(rest.split(' ').next().unwrap_or(rest))
}

/// `seq → upstream address` for the requests tagged `<tag>-<seq>` in the
/// lines written since `from` bytes. A request retried on another upstream
/// keeps its last line.
pub fn upstreams(log: &Path, from: u64, tag: &str) -> std::io::Result<HashMap<u64, String>> {
    let mut f = std::fs::File::open(log)?;
    f.seek(SeekFrom::Start(from))?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(parse(&text, tag))
}

/// [`upstreams`], re-read until `expected` requests have their line:
/// nginx writes a line only after the response has ended, so the last
/// lines can trail the client by a moment. Gives up after two seconds and
/// returns what it found (the rest counts as unattributed).
pub async fn wait_for(log: &Path, from: u64, tag: &str, expected: usize) -> HashMap<u64, String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let map = upstreams(log, from, tag).unwrap_or_default();
        if map.len() >= expected || tokio::time::Instant::now() >= deadline {
            return map;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// [`upstreams`] on text.
pub fn parse(text: &str, tag: &str) -> HashMap<u64, String> {
    let prefix = format!("{tag}-");
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some(req) = field(line, "req") else {
            continue;
        };
        let Some(seq) = req
            .strip_prefix(&prefix)
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if let Some(up) = field(line, "upstream") {
            // "a:1, b:2" when nginx tried several; the last one answered
            let last = up.rsplit(',').next().unwrap_or(up).trim();
            if !last.is_empty() && last != "-" {
                out.insert(seq, last.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_tags_of_one_point_only() {
        let text = "\
127.0.0.1 [2026-11-21T10:00:00+00:00] \"POST /v1/chat/completions HTTP/1.1\" 200 512 req=p3-0 upstream=127.0.0.1:9100 upstream_status=200 request_time=0.1
127.0.0.1 [2026-11-21T10:00:00+00:00] \"POST /v1/chat/completions HTTP/1.1\" 200 512 req=p3-1 upstream=127.0.0.1:9101 upstream_status=200 request_time=0.1
127.0.0.1 [2026-11-21T10:00:00+00:00] \"POST /v1/chat/completions HTTP/1.1\" 200 512 req=p13-1 upstream=127.0.0.1:9100 upstream_status=200 request_time=0.1
127.0.0.1 [2026-11-21T10:00:00+00:00] \"POST /v1/chat/completions HTTP/1.1\" 200 512 req=- upstream=127.0.0.1:9100 upstream_status=200 request_time=0.1
";
        let m = parse(text, "p3");
        assert_eq!(m.len(), 2);
        assert_eq!(m[&0], "127.0.0.1:9100");
        assert_eq!(m[&1], "127.0.0.1:9101");
    }
}
