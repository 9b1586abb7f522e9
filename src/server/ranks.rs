//! The rank processes of a server run under `mlx.launch`: found as the
//! launcher's descendants in the process table ([`crate::procs`]:
//! `/proc` on Linux, sysinfo on macOS) that carry `MLX_RANK` in their
//! environment, journaled by PID, and checked after the stop; a rank that
//! left the launcher's process group is killed by its recorded PID (and
//! start time, so a reused PID is never hit), never by name.
//!
//! On Linux each rank also runs behind a small exec shim that sets the
//! parent-death signal, for a rank that leaves the launcher's group (the
//! launcher's own group is stopped by its supervisor).

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
    /// When it started ([`crate::procs::start_time`]).
    pub start_ticks: u64,
}

/// `MLX_RANK` among `KEY=VALUE` environment entries.
pub fn mlx_rank_in<'a>(entries: impl IntoIterator<Item = &'a str>) -> Option<u32> {
    entries
        .into_iter()
        .find_map(|kv| kv.strip_prefix("MLX_RANK="))
        .and_then(|v| v.trim().parse().ok())
}

/// `MLX_RANK` of process `pid`, when its environment can be read.
fn mlx_rank(pid: i32) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        mlx_rank_in(
            env.split(|b| *b == 0)
                .filter_map(|kv| std::str::from_utf8(kv).ok()),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        use sysinfo::{ProcessRefreshKind, UpdateKind};
        let env: Vec<String> = crate::procs::one_process(
            pid,
            ProcessRefreshKind::nothing().with_environ(UpdateKind::Always),
            |proc| {
                Some(
                    proc.environ()
                        .iter()
                        .map(|e| e.to_string_lossy().into_owned())
                        .collect(),
                )
            },
        )?;
        mlx_rank_in(env.iter().map(String::as_str))
    }
}

/// Every live descendant of `root` that carries `MLX_RANK` (the ranks).
pub fn find_ranks(root: i32) -> Vec<RankProcess> {
    let Some(rows) = crate::procs::process_rows() else {
        return Vec::new();
    };
    let mut out: Vec<RankProcess> = crate::procs::descendants(&rows, root)
        .into_iter()
        .filter(|r| !r.zombie)
        .filter_map(|r| {
            let rank = mlx_rank(r.pid)?;
            Some(RankProcess {
                pid: r.pid,
                pgid: r.pgid.unwrap_or(-1),
                rank: Some(rank),
                start_ticks: crate::procs::start_time(r.pid)?,
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
    crate::procs::start_time(r.pid) == Some(r.start_ticks)
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
        assert_eq!(mlx_rank_in(["A=1", "MLX_RANK=3", "B=2"]), Some(3));
        assert_eq!(mlx_rank_in(["MLX_RANK=x"]), None);
        assert_eq!(mlx_rank_in(["MLX_RANKS=1"]), None);
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
