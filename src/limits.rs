//! The open-file limit, raised at start. A terminal on macOS starts
//! programs with a soft limit of 256 descriptors, which a sweep at a few
//! hundred concurrent requests (each a socket, plus nginx's two per
//! request, which inherits the limit) runs out of; Linux's usual 1024 is
//! not much more. mlxrun raises the soft limit to the hard one, within
//! what the OS lets one process have, before it starts anything.

/// The highest soft limit asked for: macOS refuses more than `OPEN_MAX`
/// (10240) for `RLIMIT_NOFILE`; on Linux a bound keeps select-era code in
/// servers out of trouble.
pub const CAP: u64 = if cfg!(target_os = "macos") {
    10_240
} else {
    65_536
};

/// The soft limit to set, when it should change: the hard limit within
/// `cap`, never lower than what is set now.
pub fn wanted_soft(soft: u64, hard: u64, cap: u64) -> Option<u64> {
    let target = hard.min(cap);
    (target > soft).then_some(target)
}

/// Raise the soft open-file limit (see the module doc); returns the limit
/// now in force, or why it could not be read.
pub fn raise_open_files() -> Result<u64, String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    // rlim_t is u64 on 64-bit Linux and on macOS
    let (soft, hard): (u64, u64) = (lim.rlim_cur, lim.rlim_max);
    let Some(want) = wanted_soft(soft, hard, CAP) else {
        return Ok(soft);
    };
    let new = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        return Ok(soft); // keep what we have; not worth failing a run for
    }
    Ok(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_rises_to_the_hard_one_within_the_cap() {
        // a macOS terminal: 256 soft, unlimited hard
        assert_eq!(wanted_soft(256, u64::MAX, 10_240), Some(10_240));
        // a Linux login: 1024 soft, 524288 hard
        assert_eq!(wanted_soft(1024, 524_288, 65_536), Some(65_536));
        // a hard limit below the cap is taken as it is
        assert_eq!(wanted_soft(256, 4096, 10_240), Some(4096));
        // never lowered
        assert_eq!(wanted_soft(100_000, u64::MAX, 65_536), None);
        assert_eq!(wanted_soft(4096, 4096, 10_240), None);
    }

    #[test]
    fn raising_leaves_at_least_what_was_there() {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        let now = raise_open_files().unwrap();
        assert!(now >= lim.rlim_cur);
        assert!(now <= lim.rlim_max);
    }
}
