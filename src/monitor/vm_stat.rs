//! macOS page counts from `vm_stat`: wired memory (pages the kernel may
//! not page out; MLX wires a model's weights) and the memory the
//! compressor occupies, which sysinfo does not report. `vm_stat` is run
//! with `LC_ALL=C` (through `env`, so the numbers carry no locale
//! grouping) by a `CommandPoller` (`poller`), at most once per
//! second; [`parse`] is pure and tested everywhere against captured
//! output (`testdata/macos/`).
//!
//! The first line gives the page size ("Mach Virtual Memory Statistics:
//! (page size of 16384 bytes)": 16 KiB on Apple silicon, 4 KiB on Intel);
//! every other line is `<name>: <count>.`, in pages.

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::time::Duration;

use super::poller::PollSpec;

/// The command, as argv: `vm_stat` in the C locale.
pub(crate) const VM_STAT_ARGV: [&str; 3] = ["env", "LC_ALL=C", "vm_stat"];

/// One `vm_stat` reading. Counts are in pages of `page_size` bytes;
/// `None` = the line was missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VmStat {
    pub page_size: u64,
    pub free: Option<u64>,
    pub active: Option<u64>,
    pub inactive: Option<u64>,
    pub speculative: Option<u64>,
    pub throttled: Option<u64>,
    /// "Pages wired down".
    pub wired: Option<u64>,
    pub purgeable: Option<u64>,
    pub file_backed: Option<u64>,
    pub anonymous: Option<u64>,
    /// "Pages stored in compressor": uncompressed pages held compressed.
    pub stored_in_compressor: Option<u64>,
    /// "Pages occupied by compressor": the RAM the compressor uses.
    pub occupied_by_compressor: Option<u64>,
    pub swapins: Option<u64>,
    pub swapouts: Option<u64>,
}

impl VmStat {
    /// `pages` in bytes; `None` when unknown or past `u64`.
    pub fn bytes(&self, pages: Option<u64>) -> Option<u64> {
        pages?.checked_mul(self.page_size)
    }

    /// Wired memory, bytes.
    pub fn wired_bytes(&self) -> Option<u64> {
        self.bytes(self.wired)
    }

    /// RAM the compressor occupies, bytes.
    pub fn compressed_bytes(&self) -> Option<u64> {
        self.bytes(self.occupied_by_compressor)
    }
}

/// Parse `vm_stat`'s output (one snapshot, not the interval mode's table).
pub fn parse(text: &str) -> Result<VmStat, String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let page_size = page_size(header).ok_or_else(|| {
        format!(
            "vm_stat's first line gives no page size: {:?}",
            short(header)
        )
    })?;
    let mut v = VmStat {
        page_size,
        ..VmStat::default()
    };
    for line in lines {
        let Some((name, count)) = line.rsplit_once(':') else {
            continue;
        };
        let count = count.trim().trim_end_matches('.');
        let slot = match name.trim().trim_matches('"') {
            "Pages free" => &mut v.free,
            "Pages active" => &mut v.active,
            "Pages inactive" => &mut v.inactive,
            "Pages speculative" => &mut v.speculative,
            "Pages throttled" => &mut v.throttled,
            "Pages wired down" => &mut v.wired,
            "Pages purgeable" => &mut v.purgeable,
            "File-backed pages" => &mut v.file_backed,
            "Anonymous pages" => &mut v.anonymous,
            "Pages stored in compressor" => &mut v.stored_in_compressor,
            "Pages occupied by compressor" => &mut v.occupied_by_compressor,
            "Swapins" => &mut v.swapins,
            "Swapouts" => &mut v.swapouts,
            _ => continue,
        };
        *slot = Some(
            count
                .parse()
                .map_err(|_| format!("vm_stat: {:?} is not a page count", short(line)))?,
        );
    }
    if v.wired.is_none() && v.occupied_by_compressor.is_none() {
        return Err("vm_stat printed neither wired nor compressor pages".into());
    }
    Ok(v)
}

/// `N` of "... (page size of N bytes)"; a page size of 0 is none.
fn page_size(header: &str) -> Option<u64> {
    let rest = &header[header.find("page size of ")? + "page size of ".len()..];
    let n: u64 = rest.split_whitespace().next()?.parse().ok()?;
    (n > 0).then_some(n)
}

/// At most 80 characters of `s`, for error messages.
fn short(s: &str) -> &str {
    s.char_indices().nth(80).map_or(s, |(i, _)| &s[..i])
}

/// The poller of [`VM_STAT_ARGV`]: at most one run per `every`.
pub(crate) fn poll_spec(every: Duration) -> PollSpec<VmStat> {
    PollSpec {
        name: "vm_stat",
        argv: VM_STAT_ARGV.iter().map(|s| s.to_string()).collect(),
        parse,
        every,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `vm_stat` of an Apple M3 Pro (36 GB, 16 KiB pages); see
    /// `testdata/macos/README.md`.
    const M3_PRO: &str = include_str!("testdata/macos/vm_stat_m3pro_16k.txt");
    /// `vm_stat` of an Intel Mac (4 KiB pages), verbatim.
    const INTEL: &str = include_str!("testdata/macos/vm_stat_intel_4k.txt");

    #[test]
    fn an_apple_silicon_snapshot_is_read_in_16k_pages() {
        let v = parse(M3_PRO).unwrap();
        assert_eq!(v.page_size, 16384);
        assert_eq!(
            (v.free, v.active, v.inactive, v.speculative, v.throttled),
            (
                Some(9349),
                Some(959263),
                Some(1027840),
                Some(59645),
                Some(0)
            )
        );
        assert_eq!((v.wired, v.purgeable), (Some(194286), Some(56649)));
        assert_eq!((v.file_backed, v.anonymous), (Some(563607), Some(1483141)));
        assert_eq!(
            (v.stored_in_compressor, v.occupied_by_compressor),
            (Some(515886), Some(65902))
        );
        assert_eq!((v.swapins, v.swapouts), (Some(306274), Some(427613)));
        assert_eq!(v.wired_bytes(), Some(194286 * 16384));
        assert_eq!(v.compressed_bytes(), Some(65902 * 16384));
        // the page queues add up to the machine's RAM (36 GiB), give or
        // take what the kernel keeps off the queues: a wrong page size or
        // a misread line would be off by a factor
        let queues = [v.free, v.active, v.inactive, v.speculative, v.wired]
            .iter()
            .chain([&v.occupied_by_compressor, &v.throttled])
            .map(|p| v.bytes(*p).unwrap())
            .sum::<u64>();
        let ram = 36u64 << 30;
        assert!(
            queues > ram * 95 / 100 && queues < ram * 106 / 100,
            "{queues}"
        );
    }

    #[test]
    fn an_intel_snapshot_is_read_in_4k_pages() {
        let v = parse(INTEL).unwrap();
        assert_eq!(v.page_size, 4096);
        assert_eq!(v.wired_bytes(), Some(715958 * 4096));
        // a measured zero stays a zero, not a missing value
        assert_eq!(v.compressed_bytes(), Some(0));
        assert_eq!(v.free, Some(6127229));
    }

    #[test]
    fn broken_output_is_refused_with_the_reason() {
        let e = parse("").unwrap_err();
        assert!(e.contains("no page size"), "{e}");
        let e = parse("Mach Virtual Memory Statistics: (page size of 0 bytes)\n").unwrap_err();
        assert!(e.contains("no page size"), "{e}");
        let e = parse("Mach Virtual Memory Statistics: (page size of 4096 bytes)\nPageins: 3.\n")
            .unwrap_err();
        assert!(e.contains("neither wired nor compressor"), "{e}");
        // a count in another locale's grouping (why it runs with LC_ALL=C)
        let grouped = M3_PRO.replace("194286.", "194,286.");
        let e = parse(&grouped).unwrap_err();
        assert!(e.contains("Pages wired down"), "{e}");
        // overflowing byte counts are unknown, not wrapped
        let huge = VmStat {
            page_size: 16384,
            wired: Some(u64::MAX / 2),
            ..VmStat::default()
        };
        assert_eq!(huge.wired_bytes(), None);
    }

    #[test]
    fn the_poll_spec_runs_vm_stat_in_the_c_locale() {
        let spec = poll_spec(Duration::from_secs(1));
        assert_eq!(spec.argv.join(" "), "env LC_ALL=C vm_stat");
        assert_eq!((spec.parse)(M3_PRO), parse(M3_PRO));
    }
}
