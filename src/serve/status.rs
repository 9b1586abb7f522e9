//! `mlxrun serve status SCENARIO|STATE_DIR [--json]`: one row per recorded
//! process: name, URL, pid, pgid, alive (the same process: pid and start
//! time), ready (the readiness probe `up` used answers 2xx now: a 1-token
//! completion on each instance, and through nginx), uptime, log. Exit 0
//! when everything is alive and ready, 1 otherwise or when nothing runs.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::state::{self, Role, State};
use crate::error::{EXIT_OK, EXIT_POINTS_FAILED, SetupError};

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub role: Role,
    pub url: Option<String>,
    pub pid: i32,
    pub pgid: i32,
    pub alive: bool,
    /// `None` for processes that do not answer requests (ranks).
    pub ready: Option<bool>,
    pub uptime_s: Option<u64>,
    pub log: String,
}

/// Run `serve status`; the exit code.
pub async fn status(target: &Path, sets: &[String], json: bool) -> anyhow::Result<i32> {
    let dir = super::resolve_target(target, sets)?;
    let st = State::read(&dir).map_err(SetupError)?;
    let rows = match &st {
        Some(st) => collect(st).await,
        None => Vec::new(),
    };
    let healthy = !rows.is_empty() && rows.iter().all(|r| r.alive && r.ready != Some(false));
    if json {
        let v = serde_json::json!({
            "state_dir": dir,
            "phase": st.as_ref().map(|s| s.phase),
            "scenario": st.as_ref().map(|s| &s.scenario),
            "config": st.as_ref().map(|s| s.config),
            "targets": st.as_ref().map(|s| &s.targets),
            "healthy": healthy,
            "processes": rows,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if let Some(st) = &st {
        println!(
            "{} configuration {} ({}), requests go to {}",
            st.scenario_name,
            st.config,
            match st.phase {
                state::Phase::Up => "up",
                state::Phase::Starting => "serve up did not finish",
            },
            if st.targets.is_empty() {
                "-".to_string()
            } else {
                st.targets.join(", ")
            }
        );
        print!("{}", table(&rows));
        println!("state_dir={}", dir.display());
    } else {
        println!("nothing running (no state in {})", dir.display());
    }
    Ok(if healthy { EXIT_OK } else { EXIT_POINTS_FAILED })
}

/// The rows of `st`, each process checked and probed now.
pub async fn collect(st: &State) -> Vec<Row> {
    let client = crate::load::client::build_client();
    let key = st
        .api_key_env
        .as_deref()
        .and_then(|v| std::env::var(v).ok());
    let probe = st
        .probe
        .as_ref()
        .and_then(|p| p.probe(crate::load::client::auth_headers(key.as_deref())));
    let mut rows = Vec::new();
    for p in &st.processes {
        let alive = state::same_process(p);
        let url = p.url();
        let ready = match (&url, p.role) {
            (_, Role::Rank) | (None, _) => None,
            (Some(u), _) => Some(
                alive
                    && match &probe {
                        Some(p) => p.once(&client, u, Duration::from_secs(30)).await.is_ok(),
                        None => false,
                    },
            ),
        };
        rows.push(Row {
            name: p.name.clone(),
            role: p.role,
            url,
            pid: p.pid,
            pgid: p.pgid,
            alive,
            ready,
            uptime_s: alive.then(|| uptime(&p.started_at)).flatten(),
            log: p.log.display().to_string(),
        });
    }
    rows
}

fn uptime(started_at: &str) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(started_at).ok()?;
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
    u64::try_from(secs).ok()
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.url.clone().unwrap_or_else(|| "-".into()),
                r.pid.to_string(),
                r.pgid.to_string(),
                yes_no(r.alive).into(),
                r.ready.map_or("-", yes_no).into(),
                r.uptime_s.map_or_else(|| "-".into(), super::human_duration),
                r.log.clone(),
            ]
        })
        .collect();
    let head = [
        "NAME", "URL", "PID", "PGID", "ALIVE", "READY", "UPTIME", "LOG",
    ];
    let mut width: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for c in &cells {
        for (w, v) in width.iter_mut().zip(c) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |vals: Vec<&str>| {
        let mut s = String::new();
        for (i, (v, w)) in vals.iter().zip(&width).enumerate() {
            if i + 1 == vals.len() {
                s.push_str(v);
            } else {
                s.push_str(&format!("{v:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    for c in &cells {
        out.push_str(&line(c.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_columns_and_marks_missing_values() {
        let row = |name: &str, ready: Option<bool>| Row {
            name: name.into(),
            role: Role::Instance,
            url: ready.map(|_| "http://127.0.0.1:8080".to_string()),
            pid: 42,
            pgid: 42,
            alive: true,
            ready,
            uptime_s: Some(61),
            log: "logs/x.log".into(),
        };
        let t = table(&[
            row("instance-0", Some(true)),
            row("instance-0.rank-1", None),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("NAME               URL                    PID"),
            "{t}"
        );
        assert!(
            lines[1].contains("http://127.0.0.1:8080  42   42    yes    yes    1m01s   logs/x.log"),
            "{t}"
        );
        assert!(
            lines[2].contains(
                "instance-0.rank-1  -                      42   42    yes    -      1m01s"
            ),
            "{t}"
        );
    }
}
