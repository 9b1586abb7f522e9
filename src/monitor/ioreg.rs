//! Apple GPU utilisation and memory: `ioreg -r -c AGXAccelerator -d 2`
//! prints the accelerator's `PerformanceStatistics` ("Device Utilization
//! %", "Renderer Utilization %", "Tiler Utilization %", and the unified
//! memory the GPU driver holds: "In use system memory", "Alloc system
//! memory"). Running it takes tens of milliseconds, so a
//! `CommandPoller` (`poller`) runs it at most once per second on a
//! side thread and the sampler only reads the last result. [`parse`] is
//! pure and tested everywhere (`testdata/macos/`); the poller is started
//! on macOS only.

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::time::Duration;

use super::poller::PollSpec;

/// The command, as argv.
pub(crate) const IOREG_ARGV: [&str; 6] = ["ioreg", "-r", "-c", "AGXAccelerator", "-d", "2"];

/// One reading of the accelerator's statistics; `None` = key missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AppleGpu {
    /// Percent.
    pub device_util: Option<f64>,
    pub renderer_util: Option<f64>,
    pub tiler_util: Option<f64>,
    /// "In use system memory": unified memory the GPU uses now, bytes
    /// (not "In use system memory (driver)", a different counter).
    pub in_use_bytes: Option<u64>,
    /// "Alloc system memory": unified memory the GPU driver has allocated,
    /// bytes (in use or not).
    pub alloc_bytes: Option<u64>,
}

/// Parse the first `"PerformanceStatistics" = {…}` block of ioreg's output.
pub fn parse(text: &str) -> Result<AppleGpu, String> {
    const KEY: &str = "\"PerformanceStatistics\" = {";
    let start = text
        .find(KEY)
        .ok_or("no PerformanceStatistics in ioreg's output (no AGXAccelerator?)")?
        + KEY.len();
    let block = &text[start..];
    let block = &block[..block.find('}').unwrap_or(block.len())];
    let g = AppleGpu {
        device_util: number(block, "Device Utilization %"),
        renderer_util: number(block, "Renderer Utilization %"),
        tiler_util: number(block, "Tiler Utilization %"),
        in_use_bytes: number(block, "In use system memory"),
        alloc_bytes: number(block, "Alloc system memory"),
    };
    if g == AppleGpu::default() {
        return Err("PerformanceStatistics has no utilisation or memory keys".into());
    }
    Ok(g)
}

/// The number after `"name"=` in a `{"k"=v,…}` block (the quote before
/// `=` keeps "In use system memory" from matching "… (driver)").
fn number<T: std::str::FromStr>(block: &str, name: &str) -> Option<T> {
    let key = format!("\"{name}\"=");
    let rest = &block[block.find(&key)? + key.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The poller of [`IOREG_ARGV`]: at most one run per `every`.
pub(crate) fn poll_spec(every: Duration) -> PollSpec<AppleGpu> {
    PollSpec {
        name: "ioreg",
        argv: IOREG_ARGV.iter().map(|s| s.to_string()).collect(),
        parse,
        every,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ioreg -r -c AGXAccelerator -d 2` on an M2 Pro, trimmed; see
    /// `testdata/macos/README.md`.
    const IOREG: &str = include_str!("testdata/macos/ioreg_agx_m2pro.txt");

    #[test]
    fn performance_statistics_are_parsed() {
        assert_eq!(
            parse(IOREG).unwrap(),
            AppleGpu {
                device_util: Some(15.0),
                renderer_util: Some(12.0),
                tiler_util: Some(7.0),
                in_use_bytes: Some(1012547584),
                alloc_bytes: Some(2147483648),
            }
        );
        assert!(
            parse("+-o Root\n")
                .unwrap_err()
                .contains("no PerformanceStatistics")
        );
        assert!(
            parse("\"PerformanceStatistics\" = {\"recoveryCount\"=0}")
                .unwrap_err()
                .contains("no utilisation or memory keys")
        );
        assert_eq!(IOREG_ARGV.join(" "), "ioreg -r -c AGXAccelerator -d 2");
    }

    #[test]
    fn the_driver_counter_is_not_the_in_use_memory() {
        // "(driver)" first and non-zero: only the exact key is read
        let block = "\"PerformanceStatistics\" = {\"In use system memory (driver)\"=7,\"Device Utilization %\"=0}";
        let g = parse(block).unwrap();
        assert_eq!((g.in_use_bytes, g.device_util), (None, Some(0.0)));
        // keys after the block's end belong to something else
        let after =
            "\"PerformanceStatistics\" = {\"Device Utilization %\"=3}\n\"In use system memory\"=5";
        assert_eq!(parse(after).unwrap().in_use_bytes, None);
        // a count past u64 is unknown, not wrapped
        let huge = "\"PerformanceStatistics\" = {\"In use system memory\"=99999999999999999999999,\"Device Utilization %\"=1}";
        assert_eq!(parse(huge).unwrap().in_use_bytes, None);
    }

    #[test]
    fn the_poll_spec_runs_ioreg_through_this_parser() {
        let spec = poll_spec(Duration::from_secs(1));
        assert_eq!(spec.argv, IOREG_ARGV.map(String::from));
        assert_eq!(spec.every, Duration::from_secs(1));
        assert_eq!((spec.parse)(IOREG), parse(IOREG));
    }
}
