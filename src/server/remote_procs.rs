//! What a server set left on other hosts: after its processes stop,
//! `mlxrun __host leftovers --tag PREFIX --kill` runs on each host it used
//! (over ssh) and stops any process still carrying the set's tag in
//! `MLXRUN_TAG`, so nothing of the run stays on any host.

use std::time::Duration;

use crate::remote::host::Host;
use crate::remote::ssh::{Ssh, mlxrun_of};

/// What the sweep of one host found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Tagged processes found.
    pub found: u64,
    /// Of them, stopped by the sweep.
    pub killed: u64,
    /// Still running after it (should be 0).
    pub left: u64,
}

/// The summary line `{"found":N,"killed":K,"left":L}` of `__host
/// leftovers` (its last JSON line carrying `found`).
pub fn parse_summary(stdout: &str) -> Option<Swept> {
    stdout.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l.trim()).ok()?;
        Some(Swept {
            found: v.get("found")?.as_u64()?,
            killed: v
                .get("killed")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            left: v
                .get("left")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
        })
    })
}

/// Stop whatever still carries a tag starting with `prefix` on `host`
/// (SIGTERM, `grace`, SIGKILL there).
pub async fn sweep(ssh: &Ssh, host: &Host, prefix: &str, grace: Duration) -> Result<Swept, String> {
    let argv = vec![
        mlxrun_of(host),
        "__host".into(),
        "leftovers".into(),
        "--tag".into(),
        prefix.to_string(),
        "--kill".into(),
        "--grace-ms".into(),
        grace.as_millis().to_string(),
    ];
    let timeout = grace + Duration::from_secs(u64::from(ssh.connect_timeout_s) + 20);
    let out = ssh
        .capture(host, &argv, timeout)
        .await
        .map_err(|e| format!("host {}: {e}", host.name))?;
    parse_summary(&out.stdout).ok_or_else(|| {
        format!(
            "host {}: the leftover check did not answer (exit {}): {}",
            host.name,
            out.code,
            out.last_error_line()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_last_json_line_with_counts() {
        let out = "{\"pid\":12,\"tag\":\"r/c1/i0\"}\n{\"found\":1,\"killed\":1,\"left\":0}\n";
        assert_eq!(
            parse_summary(out),
            Some(Swept {
                found: 1,
                killed: 1,
                left: 0
            })
        );
        assert_eq!(parse_summary("no json\n"), None);
        assert_eq!(parse_summary("{\"pid\":3}\n"), None);
    }
}
