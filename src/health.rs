//! Processes a point should not share the machine with: zombies among
//! mlxrun's own children and their descendants, and process groups of
//! servers already stopped that still have members (leftovers).

/// Zombie processes whose parent is mlxrun or one of `parents`; `None` where
/// the process table cannot be read (non-Linux).
pub fn zombies(parents: &[i32]) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        let me = std::process::id() as i32;
        let entries = std::fs::read_dir("/proc").ok()?;
        let mut n = 0;
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            if let Some((state, ppid)) = parse_stat_state(&stat)
                && state == 'Z'
                && (ppid == me || parents.contains(&ppid))
            {
                n += 1;
            }
        }
        Some(n)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = parents;
        None
    }
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

/// `/proc/<pid>/cmdline` as argv (empty elsewhere, or when the process is
/// gone).
pub fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_state_survives_odd_command_names() {
        assert_eq!(
            parse_stat_state("42 (a) b (c)) Z 7 42 42 0 -1"),
            Some(('Z', 7))
        );
        assert_eq!(parse_stat_state("1 (init) S 0 1 1"), Some(('S', 0)));
        assert_eq!(parse_stat_state("garbage"), None);
    }

    #[cfg(target_os = "linux")]
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
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            if parse_stat_state(&stat).map(|s| s.0) == Some('Z') {
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
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        assert_eq!(leftover_groups(&[g]), 0);
    }
}
