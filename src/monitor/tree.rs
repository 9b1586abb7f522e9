//! The process trees the monitor follows: for each named root pid, the root
//! and every descendant (by parent links), their summed resident memory and
//! CPU. CPU is each member's accumulated CPU time since the previous sample
//! ÷ wall time, in percent of one core (200 = two cores busy); a process
//! counts from the first sample that sees it in the tree (its CPU before
//! that is not known to belong to this sample's interval).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;

/// One tracked tree in one sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InstanceSample {
    /// Σ resident set size of the tree, MB (2^20 bytes); 0 when it is gone.
    pub rss_mb: Option<f64>,
    /// Σ CPU of the tree since the previous sample, percent of one core;
    /// `None` on the first sample and once the tree is gone (what it used
    /// just before exiting is unknown).
    pub cpu_pct: Option<f64>,
    /// Processes in the tree (root included); 0 when the root is gone.
    pub processes: u64,
}

/// One process as read from the OS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcView {
    pub pid: i32,
    pub parent: Option<i32>,
    pub rss_bytes: u64,
    /// Accumulated user + system CPU time, ms.
    pub cpu_ms: u64,
}

/// `root` and its descendants among `procs` (empty when root is absent).
pub(crate) fn members(root: i32, procs: &[ProcView]) -> Vec<usize> {
    let index: HashMap<i32, usize> = procs.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
    let Some(&r) = index.get(&root) else {
        return Vec::new();
    };
    let mut children: HashMap<i32, Vec<usize>> = HashMap::new();
    for (i, p) in procs.iter().enumerate() {
        if let Some(parent) = p.parent
            && parent != p.pid
        {
            children.entry(parent).or_default().push(i);
        }
    }
    let mut seen = HashSet::from([r]);
    let mut out = vec![r];
    let mut next = 0;
    while next < out.len() {
        let pid = procs[out[next]].pid;
        for &k in children.get(&pid).into_iter().flatten() {
            if seen.insert(k) {
                out.push(k);
            }
        }
        next += 1;
    }
    out
}

const MB: f64 = (1u64 << 20) as f64;

/// CPU time of the tracked trees' members at the previous reading.
#[derive(Debug, Default)]
pub(crate) struct TreeTracker {
    prev_cpu_ms: HashMap<i32, u64>,
    prev_at: Option<Instant>,
}

impl TreeTracker {
    /// Per-root figures from a process table read at `now` (members must be
    /// fresh; other entries only give the tree's shape). Also returns the
    /// pids of every member, to refresh at the next sample.
    pub fn update(
        &mut self,
        procs: &[ProcView],
        roots: &[(String, i32)],
        now: Instant,
    ) -> (BTreeMap<String, InstanceSample>, Vec<i32>) {
        let wall_ms = self
            .prev_at
            .map(|t| now.saturating_duration_since(t).as_secs_f64() * 1e3)
            .filter(|ms| *ms > 0.0);
        let mut out = BTreeMap::new();
        let mut cpu_now = HashMap::new();
        for (name, root) in roots {
            let m = members(*root, procs);
            let rss: u64 = m.iter().map(|&i| procs[i].rss_bytes).sum();
            let mut used_ms = 0;
            for &i in &m {
                let p = &procs[i];
                cpu_now.insert(p.pid, p.cpu_ms);
                // a member seen before; one seen for the first time (or a
                // reused pid whose counter went back) starts from here
                if let Some(&before) = self.prev_cpu_ms.get(&p.pid) {
                    used_ms += p.cpu_ms.saturating_sub(before);
                }
            }
            let cpu = wall_ms
                .filter(|_| !m.is_empty())
                .map(|wall| used_ms as f64 * 100.0 / wall);
            out.insert(
                name.clone(),
                InstanceSample {
                    rss_mb: Some(rss as f64 / MB),
                    cpu_pct: cpu,
                    processes: m.len() as u64,
                },
            );
        }
        let pids = cpu_now.keys().copied().collect();
        self.prev_cpu_ms = cpu_now;
        self.prev_at = Some(now);
        (out, pids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn p(pid: i32, parent: i32, rss_mb: u64, cpu_ms: u64) -> ProcView {
        ProcView {
            pid,
            parent: (parent != 0).then_some(parent),
            rss_bytes: rss_mb << 20,
            cpu_ms,
        }
    }

    #[test]
    fn a_tree_is_its_root_and_all_descendants() {
        let procs = [
            p(1, 0, 1, 0),
            p(10, 1, 100, 0), // root
            p(11, 10, 50, 0), // child
            p(12, 11, 25, 0), // grandchild
            p(13, 1, 999, 0), // sibling of the root: not in the tree
            p(14, 12, 5, 0),  // great-grandchild
        ];
        let mut pids: Vec<i32> = members(10, &procs).iter().map(|&i| procs[i].pid).collect();
        pids.sort();
        assert_eq!(pids, vec![10, 11, 12, 14]);
        assert!(members(99, &procs).is_empty());
        // a process that names itself as parent does not loop
        assert_eq!(members(7, &[p(7, 7, 1, 0)]).len(), 1);
    }

    #[test]
    fn rss_and_cpu_are_summed_per_tree() {
        let t0 = Instant::now();
        let mut tr = TreeTracker::default();
        let roots = vec![("a".to_string(), 10), ("b".to_string(), 20)];
        let (first, pids) = tr.update(
            &[
                p(10, 1, 100, 1000),
                p(11, 10, 50, 500),
                p(20, 1, 10, 0),
                p(30, 1, 7, 9000),
            ],
            &roots,
            t0,
        );
        assert_eq!(first["a"].rss_mb, Some(150.0));
        assert_eq!(first["a"].processes, 2);
        assert_eq!(first["a"].cpu_pct, None, "no previous reading");
        let mut pids = pids;
        pids.sort();
        assert_eq!(pids, vec![10, 11, 20], "members to refresh next time");
        // 200 ms later: 10 used 100 ms, 11 used 50 ms; 12 appears with 30 ms
        // (counted from the next sample on); 20 exited; 30 (never in a tree)
        // is stale and irrelevant
        let (second, _) = tr.update(
            &[
                p(10, 1, 100, 1100),
                p(11, 10, 60, 550),
                p(12, 11, 5, 30),
                p(21, 1, 1, 0),
                p(30, 1, 7, 9000),
            ],
            &roots,
            t0 + Duration::from_millis(200),
        );
        assert_eq!(second["a"].rss_mb, Some(165.0));
        assert_eq!(second["a"].processes, 3);
        let cpu = second["a"].cpu_pct.unwrap();
        assert!((cpu - 75.0).abs() < 1e-9, "{cpu}");
        // 100 ms later: 12 used 20 ms more, now counted
        let (third, _) = tr.update(
            &[p(10, 1, 100, 1100), p(11, 10, 60, 550), p(12, 11, 5, 50)],
            &roots,
            t0 + Duration::from_millis(300),
        );
        let cpu = third["a"].cpu_pct.unwrap();
        assert!((cpu - 20.0).abs() < 1e-9, "{cpu}");
        assert_eq!(
            second["b"],
            InstanceSample {
                rss_mb: Some(0.0),
                cpu_pct: None,
                processes: 0
            }
        );
    }
}
