//! Apple GPU utilisation: `ioreg -r -c AGXAccelerator -d 2` prints the
//! accelerator's `PerformanceStatistics` ("Device Utilization %",
//! "Renderer Utilization %", "Tiler Utilization %"). Running it takes tens
//! of milliseconds, so a [`super::poller::CommandPoller`] runs it at most
//! once per second on a side thread and the sampler only reads the last
//! result. [`parse`] is pure and tested everywhere; the poller is started
//! on macOS only.

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::time::Duration;

use super::poller::PollSpec;

/// The command, as argv.
pub(crate) const IOREG_ARGV: [&str; 6] = ["ioreg", "-r", "-c", "AGXAccelerator", "-d", "2"];

/// One reading of the accelerator's statistics, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AppleGpu {
    pub device_util: Option<f64>,
    pub renderer_util: Option<f64>,
    pub tiler_util: Option<f64>,
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
    let value = |name: &str| -> Option<f64> {
        let key = format!("\"{name}\"=");
        let rest = &block[block.find(&key)? + key.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    let g = AppleGpu {
        device_util: value("Device Utilization %"),
        renderer_util: value("Renderer Utilization %"),
        tiler_util: value("Tiler Utilization %"),
    };
    if g == AppleGpu::default() {
        return Err("PerformanceStatistics has no utilisation keys".into());
    }
    Ok(g)
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

    /// Trimmed from `ioreg -r -c AGXAccelerator -d 2` on an M2 Pro.
    const IOREG: &str = r#"+-o AGXAcceleratorG14X  <class AGXAcceleratorG14X, id 0x1000003d1, registered, matched, active, busy 0 (0 ms), retain 102>
    {
      "IOClass" = "AGXAcceleratorG14X"
      "PerformanceStatistics" = {"In use system memory (driver)"=0,"Alloc system memory"=2147483648,"Tiler Utilization %"=7,"recoveryCount"=0,"lastRecoveryTime"=0,"Renderer Utilization %"=12,"TiledSceneBytes"=1835008,"Device Utilization %"=15,"SplitSceneCount"=0,"Allocated PB Size"=209190912,"In use system memory"=1012547584}
      "gpu-core-count" = 19
    }
"#;

    #[test]
    fn performance_statistics_are_parsed() {
        assert_eq!(
            parse(IOREG).unwrap(),
            AppleGpu {
                device_util: Some(15.0),
                renderer_util: Some(12.0),
                tiler_util: Some(7.0),
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
                .contains("no utilisation keys")
        );
        assert_eq!(IOREG_ARGV.join(" "), "ioreg -r -c AGXAccelerator -d 2");
    }

    #[test]
    fn the_poll_spec_runs_ioreg_through_this_parser() {
        let spec = poll_spec(Duration::from_secs(1));
        assert_eq!(spec.argv, IOREG_ARGV.map(String::from));
        assert_eq!(spec.every, Duration::from_secs(1));
        assert_eq!((spec.parse)(IOREG), parse(IOREG));
    }
}
