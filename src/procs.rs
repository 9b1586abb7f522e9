//! Processes a point should not share the machine with: zombies among
//! mlxrun's own children and their descendants, and process groups of
//! servers already stopped that still have members (leftovers).
//!
//! The process table is read per platform ([`process_rows`]: `/proc` on
//! Linux, sysinfo and `getpgid` on macOS) into [`ProcRow`]s; what is
//! decided from it ([`count_zombies`], [`group_has_live_member`]) and the
//! parsing of `/proc` text are pure and tested everywhere.

/// One process as these checks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcRow {
    pub pid: i32,
    /// Parent pid; 0 when it has none.
    pub ppid: i32,
    /// Process group; `None` when it could not be read.
    pub pgid: Option<i32>,
    pub zombie: bool,
}

/// Zombie processes whose parent is mlxrun or one of `parents`; `None` where
/// the process table cannot be read.
pub fn zombies(parents: &[i32]) -> Option<u32> {
    let me = std::process::id() as i32;
    process_rows().map(|rows| count_zombies(&rows, me, parents))
}

/// Zombies among `rows` whose parent is `me` or one of `parents`.
pub fn count_zombies(rows: &[ProcRow], me: i32, parents: &[i32]) -> u32 {
    rows.iter()
        .filter(|r| r.zombie && (r.ppid == me || parents.contains(&r.ppid)))
        .count() as u32
}

/// Whether group `pgid` has a member in `rows` that is not a zombie.
pub fn group_has_live_member(rows: &[ProcRow], pgid: i32) -> bool {
    rows.iter().any(|r| r.pgid == Some(pgid) && !r.zombie)
}

/// Every process now; `None` where the table cannot be read.
pub fn process_rows() -> Option<Vec<ProcRow>> {
    #[cfg(target_os = "linux")]
    {
        let entries = std::fs::read_dir("/proc").ok()?;
        Some(
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(|pid| {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    parse_stat_row(pid, &stat)
                })
                .collect(),
        )
    }
    #[cfg(target_os = "macos")]
    {
        macos_process_rows()
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        None
    }
}

/// The process table from sysinfo (pid, parent, status), with each live
/// process's group from `getpgid` (sysinfo has none).
#[cfg(target_os = "macos")]
fn macos_process_rows() -> Option<Vec<ProcRow>> {
    use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};
    let mut sys = System::new().ok()?;
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, ProcessRefreshKind::nothing());
    Some(
        sys.processes()
            .values()
            .map(|p| {
                let pid = p.pid().as_u32() as i32;
                // SAFETY: getpgid only reads; a pid gone meanwhile gives -1.
                let pgid = unsafe { libc::getpgid(pid) };
                ProcRow {
                    pid,
                    ppid: p.parent().map_or(0, |pp| pp.as_u32() as i32),
                    pgid: (pgid > 0).then_some(pgid),
                    zombie: p.status() == ProcessStatus::Zombie,
                }
            })
            .collect(),
    )
}

/// When `pid` started, in the platform's unit (Linux: clock ticks since
/// boot, `/proc/<pid>/stat` field 22; macOS: seconds since the epoch, from
/// sysinfo): with the PID, it names one process, so a reused PID is never
/// taken for it. `None` when it is gone or a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        parse_stat_start(&stat)
    }
    #[cfg(not(target_os = "linux"))]
    {
        one_process(pid, sysinfo::ProcessRefreshKind::nothing(), |proc| {
            (proc.status() != sysinfo::ProcessStatus::Zombie).then(|| proc.start_time())
        })
    }
}

/// Read what `kind` asks of process `pid` through sysinfo (where there is
/// no `/proc`) and answer `f` of it; `None` when it is gone.
#[cfg(not(target_os = "linux"))]
pub fn one_process<T>(
    pid: i32,
    kind: sysinfo::ProcessRefreshKind,
    f: impl FnOnce(&sysinfo::Process) -> Option<T>,
) -> Option<T> {
    use sysinfo::{Pid, ProcessesToUpdate, System};
    if pid <= 0 {
        return None;
    }
    let mut sys = System::new().ok()?;
    let p = Pid::from(pid as usize);
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[p]), true, kind);
    f(sys.process(p)?)
}

/// The start time (field 22) of a `/proc/<pid>/stat` line; `None` for a
/// zombie or an unreadable line.
pub fn parse_stat_start(stat: &str) -> Option<u64> {
    let f = stat_fields(stat)?;
    // fields from 3 (state) on: starttime is field 22
    if f.first()? == &"Z" {
        return None;
    }
    f.get(19)?.parse().ok()
}

/// The descendants of `root` in `rows` (children, their children, …), not
/// `root` itself.
pub fn descendants(rows: &[ProcRow], root: i32) -> Vec<ProcRow> {
    let mut family = vec![root];
    let mut out = Vec::new();
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        for r in rows.iter().filter(|r| r.ppid == parent && r.pid != root) {
            if !family.contains(&r.pid) {
                family.push(r.pid);
                out.push(*r);
            }
        }
        i += 1;
    }
    out
}

/// The fields of a `/proc/<pid>/stat` line from field 3 (state) on: the
/// command name may hold spaces and parentheses, so they start after the
/// last `)`.
pub fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().collect())
}

/// State and parent pid from `/proc/<pid>/stat`.
pub fn parse_stat_state(stat: &str) -> Option<(char, i32)> {
    let f = stat_fields(stat)?;
    let state = f.first()?.chars().next()?;
    let ppid = f.get(1)?.parse().ok()?;
    Some((state, ppid))
}

/// The [`ProcRow`] of process `pid` from its `/proc/<pid>/stat` line.
pub fn parse_stat_row(pid: i32, stat: &str) -> Option<ProcRow> {
    let (state, ppid) = parse_stat_state(stat)?;
    let f = stat_fields(stat)?;
    Some(ProcRow {
        pid,
        ppid,
        pgid: f.get(2).and_then(|g| g.parse().ok()),
        zombie: state == 'Z',
    })
}

/// How many of `pgids` (groups of servers already stopped) still have a
/// live member.
pub fn leftover_groups(pgids: &[i32]) -> u32 {
    pgids
        .iter()
        .filter(|&&g| {
            // SAFETY: signal 0 only checks that the group exists.
            g > 1 && unsafe { libc::kill(-g, 0) } == 0
        })
        .count() as u32
}

/// The command line of `pid` as argv (empty when the process is gone or
/// the platform has no way to read it): `/proc/<pid>/cmdline` on Linux,
/// sysinfo (`KERN_PROCARGS2`) on macOS.
pub fn cmdline(pid: i32) -> Vec<String> {
    #[cfg(target_os = "macos")]
    {
        use sysinfo::{ProcessRefreshKind, UpdateKind};
        one_process(
            pid,
            ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always),
            |proc| Some(argv_from_os(proc.cmd())),
        )
        .unwrap_or_default()
    }
    #[cfg(not(target_os = "macos"))]
    {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| argv_from_nul_separated(&b))
            .unwrap_or_default()
    }
}

/// The environment process `pid` started with, as `KEY=VALUE` entries
/// (`/proc/<pid>/environ` on Linux, sysinfo on macOS); `None` when it is
/// gone or not ours to read.
pub fn environ(pid: i32) -> Option<Vec<String>> {
    if pid <= 0 {
        return None;
    }
    #[cfg(target_os = "macos")]
    {
        use sysinfo::{ProcessRefreshKind, UpdateKind};
        one_process(
            pid,
            ProcessRefreshKind::nothing().with_environ(UpdateKind::Always),
            |proc| Some(argv_from_os(proc.environ())),
        )
    }
    #[cfg(not(target_os = "macos"))]
    {
        std::fs::read(format!("/proc/{pid}/environ"))
            .ok()
            .map(|b| argv_from_nul_separated(&b))
    }
}

/// `/proc/<pid>/cmdline`'s NUL-separated arguments (empty ones dropped,
/// invalid UTF-8 replaced).
pub fn argv_from_nul_separated(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|c| *c == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// sysinfo's argv as strings (invalid UTF-8 replaced).
pub fn argv_from_os(args: &[std::ffi::OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_comes_from_field_22_and_a_zombie_has_none() {
        // a real line of /proc/<pid>/stat (a python server), start 1234567
        let line = "4242 (python3 -m x) S 4200 4242 4242 0 -1 4194560 1 0 0 0 5 1 0 0 20 0 3 0 1234567 100 10 18446744073709551615";
        assert_eq!(parse_stat_start(line), Some(1_234_567));
        let z = line.replace(") S ", ") Z ");
        assert_eq!(parse_stat_start(&z), None);
        assert_eq!(parse_stat_start("garbage"), None);
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        assert_eq!(start_time(0), None);
    }

    #[test]
    fn descendants_follow_parent_links_but_not_cycles() {
        let row = |pid, ppid| ProcRow {
            pid,
            ppid,
            pgid: Some(10),
            zombie: false,
        };
        // 10 -> 11 -> 12, 10 -> 13, 20 -> 21 (another tree), and a bogus
        // self-parented row
        let rows = [
            row(10, 1),
            row(11, 10),
            row(12, 11),
            row(13, 10),
            row(21, 20),
            row(14, 14),
        ];
        let mut d: Vec<i32> = descendants(&rows, 10).iter().map(|r| r.pid).collect();
        d.sort();
        assert_eq!(d, [11, 12, 13]);
        assert!(descendants(&rows, 12).is_empty());
        assert!(descendants(&rows, 14).is_empty());
    }

    #[test]
    fn stat_state_survives_odd_command_names() {
        assert_eq!(
            parse_stat_state("42 (a) b (c)) Z 7 42 42 0 -1"),
            Some(('Z', 7))
        );
        assert_eq!(parse_stat_state("1 (init) S 0 1 1"), Some(('S', 0)));
        assert_eq!(parse_stat_state("garbage"), None);
    }

    fn row(pid: i32, ppid: i32, pgid: i32, zombie: bool) -> ProcRow {
        ProcRow {
            pid,
            ppid,
            pgid: Some(pgid),
            zombie,
        }
    }

    #[test]
    fn zombies_count_only_under_mlxrun_and_its_servers() {
        let rows = [
            row(10, 1, 10, true),   // someone else's zombie
            row(11, 500, 11, true), // mlxrun's
            row(12, 700, 12, true), // a server's
            row(13, 500, 13, false),
            row(14, 700, 700, true),
        ];
        assert_eq!(count_zombies(&rows, 500, &[700]), 3);
        assert_eq!(count_zombies(&rows, 500, &[]), 1);
        assert_eq!(count_zombies(&[], 500, &[700]), 0);
    }

    #[test]
    fn a_group_of_zombies_only_is_not_alive() {
        let rows = [
            row(20, 1, 20, true),
            row(21, 20, 20, true),
            row(30, 1, 30, true),
            row(31, 30, 30, false),
            ProcRow {
                pid: 40,
                ppid: 1,
                pgid: None,
                zombie: false,
            },
        ];
        assert!(!group_has_live_member(&rows, 20));
        assert!(group_has_live_member(&rows, 30));
        assert!(
            !group_has_live_member(&rows, 40),
            "pid 40's group is unknown"
        );
        assert!(!group_has_live_member(&rows, 99));
    }

    #[test]
    fn stat_rows_carry_parent_group_and_state() {
        assert_eq!(
            parse_stat_row(42, "42 (a) b (c)) Z 7 9 42 0 -1"),
            Some(row(42, 7, 9, true))
        );
        assert_eq!(
            parse_stat_row(1, "1 (init) S 0 1 1"),
            Some(row(1, 0, 1, false))
        );
        assert_eq!(parse_stat_row(3, "3 (x) R"), None, "no parent");
    }

    #[test]
    fn argv_is_read_from_nul_separated_bytes_and_os_strings() {
        assert_eq!(
            argv_from_nul_separated(b"python3\0-m\0mlx_lm.server\0\0--port\08080\0"),
            ["python3", "-m", "mlx_lm.server", "--port", "8080"]
        );
        assert_eq!(argv_from_nul_separated(b"a\xff\0b"), ["a\u{fffd}", "b"]);
        assert!(argv_from_nul_separated(b"").is_empty());
        let os: Vec<std::ffi::OsString> = vec!["mlx.launch".into(), "--hosts".into()];
        assert_eq!(argv_from_os(&os), ["mlx.launch", "--hosts"]);
    }

    #[test]
    fn this_process_is_in_the_table_with_its_group_and_command_line() {
        let readable = cfg!(any(target_os = "linux", target_os = "macos"));
        let Some(rows) = process_rows() else {
            assert!(!readable, "the process table is readable here");
            return;
        };
        let me = std::process::id() as i32;
        let mine = rows.iter().find(|r| r.pid == me).expect("this process");
        // SAFETY: getpgrp has no preconditions.
        let pgrp = unsafe { libc::getpgrp() };
        assert_eq!(mine.pgid, Some(pgrp));
        assert!(!mine.zombie);
        assert!(group_has_live_member(&rows, pgrp));
        let argv = cmdline(me);
        let exe = std::env::args().next().unwrap();
        assert_eq!(argv.first(), Some(&exe), "{argv:?}");
    }

    #[cfg(any(target_os = "linux", target_os = "macos"))]
    #[test]
    fn an_unreaped_child_is_a_zombie_and_a_live_group_a_leftover() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("true")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // not waited for: it stays a zombie until reaped
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut seen = false;
        while std::time::Instant::now() < deadline {
            let rows = process_rows().unwrap();
            if rows.iter().any(|r| r.pid == pid && r.zombie) {
                seen = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(seen, "child never became a zombie");
        assert!(zombies(&[]).unwrap() >= 1);
        child.wait().unwrap();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let g = sleeper.id() as i32;
        assert_eq!(leftover_groups(&[g]), 1);
        assert!(group_has_live_member(&process_rows().unwrap(), g));
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        assert_eq!(leftover_groups(&[g]), 0);
        assert!(!group_has_live_member(&process_rows().unwrap(), g));
    }
}
