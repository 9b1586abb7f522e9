//! `mlxrun __host leftovers --tag T [--kill] [--grace-ms M]`, run on a host
//! over ssh: find every process there whose environment carries
//! `MLXRUN_TAG` with a value starting with T (never by name), and with
//! `--kill` stop them (SIGTERM, the grace, SIGKILL) and look again.
//!
//! Output, one JSON object a line: each process found
//! (`{"pid":…,"ppid":…,"pgid":…,"tag":"…","command":"…"}`), then
//! `{"found":N,"killed":K,"left":L}`. Exit 0 when nothing tagged is left,
//! 1 when something is, 2 on bad arguments.
//!
//! Which processes match and what is signalled ([`select`], [`targets`])
//! is decided from plain rows, so it is tested on synthetic ones; this
//! process and its parents (the ssh session that runs it) are never
//! matched, and a group is signalled as a whole only when its leader is
//! itself tagged and none of them is in it.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::TAG_VAR;
use crate::procs::ProcRow;

/// How long SIGKILL may take to end what it was sent to.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How often the processes signalled are checked while they go.
const POLL: Duration = Duration::from_millis(20);

/// One tagged process, as a line of the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    pub pid: i32,
    /// Parent pid; 0 when it has none.
    pub ppid: i32,
    /// Process group; `null` when it could not be read.
    pub pgid: Option<i32>,
    /// The whole value of its `MLXRUN_TAG`.
    pub tag: String,
    /// Its command line, arguments joined by spaces (empty when unreadable).
    pub command: String,
}

/// The last line of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftoversSummary {
    /// Tagged processes seen (in any look).
    pub found: u32,
    /// Of those, the ones gone at the end (0 without `--kill`).
    pub killed: u32,
    /// Tagged processes there at the end (without `--kill`: all found).
    pub left: u32,
}

/// What to send a signal to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// One process.
    Process(i32),
    /// A whole process group (its leader is tagged).
    Group(i32),
}

/// The value of `MLXRUN_TAG` among `KEY=VALUE` environment entries.
pub fn tag_in<'a>(entries: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    entries
        .into_iter()
        .find_map(|kv| kv.strip_prefix(TAG_VAR)?.strip_prefix('='))
}

/// This process and its ancestors in `rows` (`me`, its parent, its
/// parent's parent, …): never to be matched or signalled.
pub fn parent_chain(rows: &[ProcRow], me: i32) -> Vec<i32> {
    let mut chain = vec![me];
    let mut at = me;
    while let Some(row) = rows.iter().find(|r| r.pid == at) {
        if row.ppid <= 0 || chain.contains(&row.ppid) {
            break;
        }
        chain.push(row.ppid);
        at = row.ppid;
    }
    chain
}

/// The rows whose tag (`tag_of(pid)`, the value of `MLXRUN_TAG` when the
/// process carries it) starts with `prefix`, with that tag; zombies and
/// `spared` PIDs left out. An empty prefix matches nothing.
pub fn select(
    rows: &[ProcRow],
    prefix: &str,
    spared: &[i32],
    mut tag_of: impl FnMut(i32) -> Option<String>,
) -> Vec<(ProcRow, String)> {
    if prefix.is_empty() {
        return Vec::new();
    }
    rows.iter()
        .filter(|r| !r.zombie && !spared.contains(&r.pid))
        .filter_map(|r| {
            let tag = tag_of(r.pid)?;
            tag.starts_with(prefix).then_some((*r, tag))
        })
        .collect()
}

/// What to signal to stop `found`: each group whose leader is among them
/// (unless a `spared` process is in it), and each process not in such a
/// group. Sorted, each once.
pub fn targets(found: &[Leftover], spared_groups: &[i32]) -> Vec<Target> {
    let groups: Vec<i32> = found
        .iter()
        .filter_map(|l| l.pgid.filter(|&g| g == l.pid && g > 1))
        .filter(|g| !spared_groups.contains(g))
        .collect();
    let mut out: Vec<Target> = groups.iter().map(|&g| Target::Group(g)).collect();
    out.extend(
        found
            .iter()
            .filter(|l| l.pgid.is_none_or(|g| !groups.contains(&g)))
            .map(|l| Target::Process(l.pid)),
    );
    out.sort();
    out.dedup();
    out
}

/// The summary of a search: `seen` every process found in any look,
/// `left` those found in the last one.
pub fn summarize(seen: &[Leftover], left: &[Leftover], killed_asked: bool) -> LeftoversSummary {
    let gone = seen
        .iter()
        .filter(|s| !left.iter().any(|l| l.pid == s.pid))
        .count();
    LeftoversSummary {
        found: seen.len() as u32,
        killed: if killed_asked { gone as u32 } else { 0 },
        left: left.len() as u32,
    }
}

/// The tagged processes now (this process and its parents excluded).
pub fn scan(prefix: &str) -> Vec<Leftover> {
    let Some(rows) = crate::procs::process_rows() else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    let spared = parent_chain(&rows, me);
    select(&rows, prefix, &spared, |pid| {
        let env = crate::procs::environ(pid)?;
        tag_in(env.iter().map(String::as_str)).map(str::to_string)
    })
    .into_iter()
    .map(|(row, tag)| Leftover {
        pid: row.pid,
        ppid: row.ppid,
        pgid: row.pgid,
        tag,
        command: crate::procs::cmdline(row.pid).join(" "),
    })
    .collect()
}

/// The groups of this process and its parents: never signalled whole.
fn own_groups() -> Vec<i32> {
    let rows = crate::procs::process_rows().unwrap_or_default();
    let me = std::process::id() as i32;
    let chain = parent_chain(&rows, me);
    let mut groups: Vec<i32> = rows
        .iter()
        .filter(|r| chain.contains(&r.pid))
        .filter_map(|r| r.pgid)
        .collect();
    // SAFETY: getpgrp has no preconditions.
    groups.push(unsafe { libc::getpgrp() });
    groups
}

fn send(targets: &[Target], sig: i32) {
    for t in targets {
        let pid = match *t {
            Target::Process(p) if p > 1 => p,
            Target::Group(g) if g > 1 => -g,
            _ => continue,
        };
        // SAFETY: a plain kill on a process or group found tagged.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Wait up to `limit` until none of `procs` (by PID and start time, so a
/// reused PID is not waited for) runs.
fn wait_gone(procs: &[(i32, Option<u64>)], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let running = procs
            .iter()
            .any(|(pid, start)| start.is_some() && crate::procs::start_time(*pid) == *start);
        if !running || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Stop `found`: SIGTERM, up to `grace` for them to go, SIGKILL to what is
/// still tagged then (children started meanwhile included).
fn stop(found: &[Leftover], prefix: &str, grace: Duration) -> Vec<Leftover> {
    let spared_groups = own_groups();
    let mut seen = found.to_vec();
    let identity = |ls: &[Leftover]| -> Vec<(i32, Option<u64>)> {
        ls.iter()
            .map(|l| (l.pid, crate::procs::start_time(l.pid)))
            .collect()
    };
    let ids = identity(found);
    send(&targets(found, &spared_groups), libc::SIGTERM);
    wait_gone(&ids, grace);
    let remaining = scan(prefix);
    remember(&mut seen, &remaining);
    if !remaining.is_empty() {
        let ids = identity(&remaining);
        send(&targets(&remaining, &spared_groups), libc::SIGKILL);
        wait_gone(&ids, KILL_WAIT);
    }
    seen
}

/// Add to `seen` the processes of `more` it lacks.
fn remember(seen: &mut Vec<Leftover>, more: &[Leftover]) {
    for m in more {
        if !seen.iter().any(|s| s.pid == m.pid) {
            seen.push(m.clone());
        }
    }
}

/// Find (and with `kill`, stop) what carries a tag starting with `prefix`;
/// returns every process seen and the summary.
pub fn leftovers(prefix: &str, kill: bool, grace: Duration) -> (Vec<Leftover>, LeftoversSummary) {
    let found = scan(prefix);
    if !kill || found.is_empty() {
        let summary = summarize(&found, &found, kill);
        return (found, summary);
    }
    let mut seen = stop(&found, prefix, grace);
    let left = scan(prefix);
    remember(&mut seen, &left);
    let summary = summarize(&seen, &left, true);
    (seen, summary)
}

/// The output lines: one per process, then the summary.
pub fn render(seen: &[Leftover], summary: &LeftoversSummary) -> String {
    let mut out = String::new();
    for l in seen {
        out.push_str(&serde_json::to_string(l).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&serde_json::to_string(summary).unwrap_or_default());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Tags of a synthetic process table: pid → tag.
    fn tags(pairs: &[(i32, &str)]) -> BTreeMap<i32, String> {
        pairs.iter().map(|&(p, t)| (p, t.to_string())).collect()
    }

    fn row(pid: i32, ppid: i32, pgid: i32) -> ProcRow {
        ProcRow {
            pid,
            ppid,
            pgid: Some(pgid),
            zombie: false,
        }
    }

    fn leftover(pid: i32, pgid: Option<i32>) -> Leftover {
        Leftover {
            pid,
            ppid: 1,
            pgid,
            tag: "run-1".into(),
            command: "x".into(),
        }
    }

    #[test]
    fn the_tag_is_read_from_its_own_variable_only() {
        assert_eq!(
            tag_in(["A=1", "MLXRUN_TAG=run-7/i0", "B=2"]),
            Some("run-7/i0")
        );
        assert_eq!(tag_in(["MLXRUN_TAG="]), Some(""));
        assert_eq!(tag_in(["MLXRUN_TAGS=run-7", "XMLXRUN_TAG=run-7"]), None);
        assert_eq!(tag_in(["MLXRUN_TAG"]), None);
        assert_eq!(tag_in([]), None);
    }

    #[test]
    fn the_parent_chain_stops_at_the_root_and_at_cycles() {
        let rows = [
            row(1, 0, 1),
            row(50, 1, 50),
            row(60, 50, 60),
            row(70, 60, 60),
        ];
        assert_eq!(parent_chain(&rows, 70), [70, 60, 50, 1]);
        let cycle = [row(5, 6, 5), row(6, 5, 5)];
        assert_eq!(parent_chain(&cycle, 5), [5, 6]);
        assert_eq!(parent_chain(&rows, 99), [99], "not in the table");
    }

    #[test]
    fn rows_match_by_tag_prefix_never_self_zombies_or_untagged() {
        let mut zombie = row(14, 1, 14);
        zombie.zombie = true;
        let rows = [
            row(10, 1, 10),
            row(11, 10, 10),
            row(12, 1, 12),
            row(13, 1, 13),
            zombie,
            row(15, 1, 15),
            row(16, 1, 16),
        ];
        let t = tags(&[
            (10, "run-1/i0"),
            (11, "run-1/i0"),
            (12, "run-10/i0"),
            (13, "run-2/i0"),
            (14, "run-1/i1"),
            (15, "run-1/i1"),
        ]);
        let pids = |prefix: &str, spared: &[i32]| -> Vec<i32> {
            select(&rows, prefix, spared, |p| t.get(&p).cloned())
                .iter()
                .map(|(r, _)| r.pid)
                .collect()
        };
        // a prefix: run-1 is also the start of run-10's tag
        assert_eq!(pids("run-1", &[]), [10, 11, 12, 15]);
        assert_eq!(pids("run-1/", &[]), [10, 11, 15]);
        assert_eq!(pids("run-1/i1", &[]), [15]);
        assert_eq!(pids("run-1/", &[11, 15]), [10]);
        assert!(pids("", &[]).is_empty(), "an empty tag matches nothing");
        assert!(pids("other", &[]).is_empty());
        let found = select(&rows, "run-2", &[], |p| t.get(&p).cloned());
        assert_eq!(found, [(row(13, 1, 13), "run-2/i0".to_string())]);
    }

    #[test]
    fn a_group_is_signalled_whole_only_when_its_leader_is_tagged() {
        // 10 leads group 10 (with 11); 20 is in group 5, whose leader is
        // not tagged; 30 leads group 30 but the caller is in it; 40's group
        // is unknown
        let found = [
            leftover(10, Some(10)),
            leftover(11, Some(10)),
            leftover(20, Some(5)),
            leftover(30, Some(30)),
            leftover(40, None),
        ];
        assert_eq!(
            targets(&found, &[30]),
            [
                Target::Process(20),
                Target::Process(30),
                Target::Process(40),
                Target::Group(10),
            ]
        );
        assert_eq!(
            targets(&found, &[]),
            [
                Target::Process(20),
                Target::Process(40),
                Target::Group(10),
                Target::Group(30),
            ]
        );
        assert!(targets(&[], &[]).is_empty());
        // never a group 1 or 0
        assert_eq!(targets(&[leftover(1, Some(1))], &[]), [Target::Process(1)]);
    }

    #[test]
    fn the_summary_counts_what_went_and_what_stayed() {
        let seen = [leftover(10, None), leftover(11, None), leftover(12, None)];
        let left = [leftover(12, None)];
        assert_eq!(
            summarize(&seen, &left, true),
            LeftoversSummary {
                found: 3,
                killed: 2,
                left: 1
            }
        );
        assert_eq!(
            summarize(&seen, &seen, false),
            LeftoversSummary {
                found: 3,
                killed: 0,
                left: 3
            }
        );
        let text = render(&left, &summarize(&seen, &left, true));
        assert_eq!(
            text,
            "{\"pid\":12,\"ppid\":1,\"pgid\":null,\"tag\":\"run-1\",\"command\":\"x\"}\n{\"found\":3,\"killed\":2,\"left\":1}\n"
        );
    }

    /// A `sleep 30` and a tagged group (a shell leading it, with a
    /// background sleep) carry the tag; both are found and stopped, and
    /// nothing else is touched.
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    #[test]
    fn tagged_processes_are_found_killed_and_gone() {
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        let prefix = format!("test-{}-", std::process::id());
        let tag = format!("{prefix}x");
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .env(TAG_VAR, &tag)
            .spawn()
            .unwrap();
        let mut group = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & echo started; wait"])
            .env(TAG_VAR, format!("{prefix}y"))
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(group.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let mut untagged = std::process::Command::new("sleep")
            .arg("30")
            .env(TAG_VAR, format!("other-{prefix}"))
            .spawn()
            .unwrap();
        let (sleeper_pid, group_pid) = (sleeper.id() as i32, group.id() as i32);

        let (seen, summary) = leftovers(&prefix, false, Duration::from_millis(500));
        let mut pids: Vec<i32> = seen.iter().map(|l| l.pid).collect();
        pids.sort();
        assert_eq!(summary.found, 3, "{seen:?}");
        assert_eq!((summary.killed, summary.left), (0, 3));
        assert!(pids.contains(&sleeper_pid) && pids.contains(&group_pid));
        let s = seen.iter().find(|l| l.pid == sleeper_pid).unwrap();
        assert_eq!(s.tag, tag);
        assert_eq!(s.command, "sleep 30");
        assert_eq!(s.ppid, std::process::id() as i32);

        let (seen, summary) = leftovers(&prefix, true, Duration::from_millis(500));
        assert_eq!(
            summary,
            LeftoversSummary {
                found: 3,
                killed: 3,
                left: 0
            },
            "{seen:?}"
        );
        assert_eq!(sleeper.wait().unwrap().signal(), Some(libc::SIGTERM));
        assert_eq!(group.wait().unwrap().signal(), Some(libc::SIGTERM));
        let rows = crate::procs::process_rows().unwrap();
        assert!(!crate::procs::group_has_live_member(&rows, group_pid));
        assert!(scan(&prefix).is_empty());
        // the process tagged otherwise runs on
        assert!(untagged.try_wait().unwrap().is_none());
        untagged.kill().unwrap();
        untagged.wait().unwrap();
    }
}
