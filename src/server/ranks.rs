//! The rank processes of a server run under `mlx.launch`: found as the
//! launcher's descendants in `/proc` (with their `MLX_RANK`), journaled by
//! PID, and checked after the stop; a rank that left the launcher's process
//! group is killed by its recorded PID (and start time, so a reused PID is
//! never hit), never by name.
//!
//! Each rank also runs behind a small exec shim that sets the Linux
//! parent-death signal, so ranks stop when the launcher dies, even when
//! mlxrun itself was killed with SIGKILL.

/// Python run in front of each rank's server command: ask Linux for SIGTERM
/// when the parent (mlx.launch) dies, then become the server.
pub const RANK_SHIM: &str = "import ctypes,os,sys;(getattr(ctypes.CDLL(None),'prctl',None) or (lambda *a:0))(1,15);os.execvp(sys.argv[1],sys.argv[1:])";

/// One rank process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankProcess {
    pub pid: i32,
    pub pgid: i32,
    /// `MLX_RANK` from its environment, when readable.
    pub rank: Option<u32>,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
}

/// `(ppid, pgid, start_ticks)` of `pid`.
fn stat(pid: i32) -> Option<(i32, i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = crate::health::stat_fields(&text)?;
    // fields start at field 3 (state): ppid is field 4, pgrp 5, starttime 22
    let ppid = fields.get(1)?.parse().ok()?;
    let pgid = fields.get(2)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, pgid, start))
}

fn mlx_rank(pid: i32) -> Option<u32> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("MLX_RANK="))
        .and_then(|v| v.parse().ok())
}

/// Every live descendant of `root` that carries `MLX_RANK` (the ranks).
pub fn find_ranks(root: i32) -> Vec<RankProcess> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let all: Vec<(i32, i32, i32, u64)> = dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| stat(pid).map(|(ppid, pgid, st)| (pid, ppid, pgid, st)))
        .collect();
    let mut family = vec![root];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        family.extend(all.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    let mut out: Vec<RankProcess> = all
        .iter()
        .filter(|p| p.0 != root && family.contains(&p.0))
        .filter_map(|&(pid, _, pgid, start_ticks)| {
            let rank = mlx_rank(pid)?;
            Some(RankProcess {
                pid,
                pgid,
                rank: Some(rank),
                start_ticks,
            })
        })
        .collect();
    out.sort_by_key(|r| (r.rank, r.pid));
    // a shim that exec'd keeps its PID: one entry per rank
    out.dedup_by_key(|r| r.rank);
    out
}

/// Whether the rank is still the same live process.
pub fn alive(r: &RankProcess) -> bool {
    stat(r.pid).is_some_and(|(_, _, st)| st == r.start_ticks)
}

/// Kill a rank that outlived its group stop (SIGKILL by recorded PID).
pub fn kill_leftover(r: &RankProcess) -> bool {
    if alive(r) {
        // SAFETY: kill has no memory-safety preconditions; the PID and its
        // start time were checked just above.
        unsafe { libc::kill(r.pid, libc::SIGKILL) };
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_stat_and_finds_a_ranked_child() {
        let me = std::process::id() as i32;
        assert!(stat(me).is_some());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("MLX_RANK", "1")
            .spawn()
            .unwrap();
        let ranks = find_ranks(me);
        let found = ranks.iter().find(|r| r.pid == child.id() as i32).cloned();
        let found = found.expect("the child carries MLX_RANK");
        assert_eq!(found.rank, Some(1));
        assert!(alive(&found));
        assert!(kill_leftover(&found));
        let _ = child.wait();
        assert!(!alive(&found));
    }
}
