//! macOS thermal state and Low Power Mode, read without sudo:
//!
//! - thermal pressure: `notifyutil -g com.apple.system.thermalpressurelevel`
//!   prints the level `thermald` posts to the Darwin notification centre
//!   (`libkern/OSThermalNotification.h`: 0 nominal, 1 moderate, 2 heavy,
//!   3 trapping, 4 sleeping; on Apple silicon this is the signal that moves:
//!   `powermetrics` shows the same level, with sudo);
//! - `pmset -g therm`: the thermal and performance warning levels and the
//!   CPU power status (`CPU_Speed_Limit`, percent), which Intel Macs fill
//!   in and Apple silicon Macs usually leave "not recorded";
//! - `pmset -g`: the settings in use, where `lowpowermode 1` (macOS 12–13)
//!   or `powermode 1` (later releases; 0 automatic, 2 High Power) says Low
//!   Power Mode is on.
//!
//! Each command runs on a side thread through a `CommandPoller` (`poller`),
//! so the sampler only reads the last result. The parsers are pure and
//! tested everywhere (`testdata/macos/`); the pollers start on macOS only.

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::time::Duration;

use super::poller::PollSpec;

/// The Darwin notification that carries the thermal pressure level.
pub(crate) const THERMAL_PRESSURE_KEY: &str = "com.apple.system.thermalpressurelevel";

/// The thermal pressure command, as argv.
pub(crate) const THERMAL_PRESSURE_ARGV: [&str; 3] = ["notifyutil", "-g", THERMAL_PRESSURE_KEY];

/// The thermal warnings command, as argv.
pub(crate) const PMSET_THERM_ARGV: [&str; 3] = ["pmset", "-g", "therm"];

/// The power settings command, as argv.
pub(crate) const PMSET_SETTINGS_ARGV: [&str; 2] = ["pmset", "-g"];

/// The highest thermal pressure level macOS defines (sleeping).
pub const THERMAL_PRESSURE_MAX: u8 = 4;

/// The name of a thermal pressure level, as `powermetrics` prints it.
pub fn thermal_pressure_name(level: u8) -> &'static str {
    match level {
        0 => "nominal",
        1 => "moderate",
        2 => "heavy",
        3 => "trapping",
        4 => "sleeping",
        _ => "unknown",
    }
}

/// The level in `notifyutil -g com.apple.system.thermalpressurelevel`'s
/// output (`com.apple.system.thermalpressurelevel 0`). notifyutil prints
/// `<key>: Failed with code N` when it cannot read the key; a level above
/// [`THERMAL_PRESSURE_MAX`] is not one macOS defines. (notifyutil also
/// answers 0 for a key nobody ever posted, so a Mac whose `thermald` posts
/// nothing reads as nominal.)
pub fn parse_thermal_pressure(text: &str) -> Result<u8, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(THERMAL_PRESSURE_KEY))
        .ok_or_else(|| format!("no {THERMAL_PRESSURE_KEY} line in notifyutil's output"))?;
    let rest = line[THERMAL_PRESSURE_KEY.len()..].trim();
    if rest.starts_with(':') {
        return Err(format!(
            "notifyutil: {}",
            rest.trim_start_matches(':').trim()
        ));
    }
    let level: u64 = rest
        .parse()
        .map_err(|_| format!("not a thermal pressure level: {rest:?}"))?;
    match u8::try_from(level) {
        Ok(l) if l <= THERMAL_PRESSURE_MAX => Ok(l),
        _ => Err(format!(
            "thermal pressure level {level} is not one macOS defines (0-{THERMAL_PRESSURE_MAX})"
        )),
    }
}

/// What `pmset -g therm` says; `None` = not in the output (or an `Error:`
/// line in its place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PmsetTherm {
    /// "Thermal Warning Level = N"; 0 when "No thermal warning level has
    /// been recorded" (IOPMLib: 0 normal, 5 danger, 10 crisis).
    pub thermal_warning_level: Option<u32>,
    /// "Performance Warning Level = N"; 0 when none has been recorded.
    pub performance_warning_level: Option<u32>,
    /// `CPU_Speed_Limit` of the CPU power status, percent (100 = no limit);
    /// `None` when "No CPU power status has been recorded".
    pub cpu_speed_limit: Option<u32>,
}

/// Parse `pmset -g therm`. Each value is found by its words anywhere in a
/// line, since pmset puts a date before some of them and writes the "CPU
/// Power notify" heading to stderr, so stdout holds
/// `<date> \tCPU_Scheduler_Limit \t= 100` and the other limits on lines
/// of their own.
pub fn parse_pmset_therm(text: &str) -> Result<PmsetTherm, String> {
    let mut t = PmsetTherm::default();
    let mut recognised = false;
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.trim_start().starts_with("error") {
            recognised = true;
            continue;
        }
        if lower.contains("no thermal warning level has been recorded") {
            t.thermal_warning_level = Some(0);
        } else if lower.contains("no performance warning level has been recorded") {
            t.performance_warning_level = Some(0);
        } else if lower.contains("no cpu power status has been recorded") {
            t.cpu_speed_limit = None;
        } else if lower.contains("thermal warning level") {
            t.thermal_warning_level = value_after_equals(line);
        } else if lower.contains("performance warning level") {
            t.performance_warning_level = value_after_equals(line);
        } else if line.contains("CPU_Speed_Limit") {
            t.cpu_speed_limit = value_after_equals(line);
        } else if !line.contains("CPU_") {
            continue;
        }
        recognised = true;
    }
    if !recognised {
        return Err(
            "no thermal warning, performance warning or CPU power lines in pmset's output".into(),
        );
    }
    Ok(t)
}

/// The whole number after the `=` of `name = N` (spaces and tabs around).
fn value_after_equals(line: &str) -> Option<u32> {
    let (_, v) = line.split_once('=')?;
    v.trim().parse().ok()
}

/// Whether Low Power Mode is on, from `pmset -g`: the `powermode` line of
/// the settings in use (macOS 14 and later: 1 = Low Power, 0 automatic,
/// 2 High Power), else its `lowpowermode` line (1 = on). Only the
/// "Currently in use:" block is read when there is one (other blocks hold
/// other power sources' settings). A Mac without either line has no Low
/// Power Mode to report: an error.
pub fn parse_low_power_mode(text: &str) -> Result<bool, String> {
    let in_use = match text.find("Currently in use:") {
        Some(at) => {
            let after = &text[at + "Currently in use:".len()..];
            let block: Vec<&str> = after
                .lines()
                .skip(1)
                .take_while(|l| l.starts_with([' ', '\t']))
                .collect();
            block
        }
        None => text.lines().collect(),
    };
    let value = |key: &str| -> Option<Result<u32, String>> {
        in_use.iter().find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(key)).then(|| {
                let v = words.next().unwrap_or("");
                v.parse::<u32>()
                    .map_err(|_| format!("pmset -g: {key} is {v:?}, not a number"))
            })
        })
    };
    if let Some(mode) = value("powermode") {
        return Ok(mode? == 1);
    }
    if let Some(on) = value("lowpowermode") {
        return Ok(on? == 1);
    }
    Err("no powermode or lowpowermode line in pmset -g's settings in use".into())
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The poller of [`THERMAL_PRESSURE_ARGV`]: at most one run per `every`.
pub(crate) fn thermal_pressure_poll_spec(every: Duration) -> PollSpec<u8> {
    PollSpec {
        name: "notifyutil",
        argv: argv(&THERMAL_PRESSURE_ARGV),
        parse: parse_thermal_pressure,
        every,
    }
}

/// The poller of [`PMSET_THERM_ARGV`].
pub(crate) fn pmset_therm_poll_spec(every: Duration) -> PollSpec<PmsetTherm> {
    PollSpec {
        name: "pmset-therm",
        argv: argv(&PMSET_THERM_ARGV),
        parse: parse_pmset_therm,
        every,
    }
}

/// The poller of [`PMSET_SETTINGS_ARGV`] for Low Power Mode.
pub(crate) fn low_power_mode_poll_spec(every: Duration) -> PollSpec<bool> {
    PollSpec {
        name: "pmset",
        argv: argv(&PMSET_SETTINGS_ARGV),
        parse: parse_low_power_mode,
        every,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// See `testdata/macos/README.md` for where each capture comes from.
    const NOTIFYUTIL: &str = include_str!("testdata/macos/notifyutil_thermalpressurelevel_m2.txt");
    const THERM_M1PRO: &str = include_str!("testdata/macos/pmset_therm_m1pro.txt");
    const THERM_INTEL: &str = include_str!("testdata/macos/pmset_therm_intel_throttled.txt");
    const PMSET_G_M1: &str = include_str!("testdata/macos/pmset_g_m1_lowpowermode.txt");

    #[test]
    fn the_thermal_pressure_level_is_read_from_notifyutil() {
        assert_eq!(parse_thermal_pressure(NOTIFYUTIL), Ok(0));
        assert_eq!(
            parse_thermal_pressure("com.apple.system.thermalpressurelevel 2\n"),
            Ok(2)
        );
        assert_eq!(thermal_pressure_name(2), "heavy");
        assert_eq!(thermal_pressure_name(4), "sleeping");
        assert_eq!(thermal_pressure_name(9), "unknown");
        // notifyutil's failure line, a level macOS does not define, noise
        let e = parse_thermal_pressure(
            "com.apple.system.thermalpressurelevel: Failed with code 1000000\n",
        )
        .unwrap_err();
        assert!(e.contains("Failed with code"), "{e}");
        let e = parse_thermal_pressure("com.apple.system.thermalpressurelevel 20\n").unwrap_err();
        assert!(e.contains("not one macOS defines"), "{e}");
        assert!(parse_thermal_pressure("com.apple.system.thermalpressurelevel x\n").is_err());
        assert!(
            parse_thermal_pressure("com.apple.system.thermalpressurelevel 99999999999\n").is_err()
        );
        assert!(parse_thermal_pressure("").is_err());
    }

    #[test]
    fn pmset_therm_on_apple_silicon_records_nothing() {
        assert_eq!(
            parse_pmset_therm(THERM_M1PRO),
            Ok(PmsetTherm {
                thermal_warning_level: Some(0),
                performance_warning_level: Some(0),
                cpu_speed_limit: None,
            })
        );
    }

    #[test]
    fn pmset_therm_reads_the_cpu_speed_limit_of_a_throttled_intel_mac() {
        let t = parse_pmset_therm(THERM_INTEL).unwrap();
        assert_eq!(t.cpu_speed_limit, Some(28));
        // the same lines as stdout alone holds them: the "CPU Power notify"
        // heading went to stderr, the date stayed on the first limit's line
        let stdout_only = "Note: No thermal warning level has been recorded\n\
                           Note: No performance warning level has been recorded\n\
                           2020-06-26 12:30:37 +0200 \tCPU_Scheduler_Limit \t= 100\n\
                           \tCPU_Available_CPUs \t= 8\n\
                           \tCPU_Speed_Limit \t= 100\n";
        assert_eq!(
            parse_pmset_therm(stdout_only),
            Ok(PmsetTherm {
                thermal_warning_level: Some(0),
                performance_warning_level: Some(0),
                cpu_speed_limit: Some(100),
            })
        );
    }

    #[test]
    fn pmset_therm_warning_levels_and_errors() {
        // pmset's own formats: a date, then `Thermal Warning Level = %d`
        let warned = "2024-03-01 10:00:00 +0100 Thermal Warning Level = 5\n\
                      Performance Warning Level = 3\n\
                      Note: No CPU power status has been recorded\n";
        assert_eq!(
            parse_pmset_therm(warned),
            Ok(PmsetTherm {
                thermal_warning_level: Some(5),
                performance_warning_level: Some(3),
                cpu_speed_limit: None,
            })
        );
        // an error in place of a level leaves it unknown
        let errors = "Error: No thermal warning level with error code 0xe00002c0\n\
                      Note: No performance warning level has been recorded\n";
        assert_eq!(
            parse_pmset_therm(errors),
            Ok(PmsetTherm {
                thermal_warning_level: None,
                performance_warning_level: Some(0),
                cpu_speed_limit: None,
            })
        );
        // a level that is not a number is unknown, not 0
        let t = parse_pmset_therm("Thermal Warning Level = -1\n").unwrap();
        assert_eq!(t.thermal_warning_level, None);
        assert!(parse_pmset_therm("").is_err());
        assert!(parse_pmset_therm("usage: pmset <options>\n").is_err());
    }

    #[test]
    fn low_power_mode_comes_from_the_settings_in_use() {
        assert_eq!(parse_low_power_mode(PMSET_G_M1), Ok(false));
        // the same Mac with Low Power Mode on
        let on = PMSET_G_M1.replace(" lowpowermode         0", " lowpowermode         1");
        assert_ne!(on, PMSET_G_M1);
        assert_eq!(parse_low_power_mode(&on), Ok(true));
        // later macOS prints powermode: 1 is Low Power, 2 High Power
        let later = PMSET_G_M1.replace(" lowpowermode         0", " powermode            1");
        assert_eq!(parse_low_power_mode(&later), Ok(true));
        let high = PMSET_G_M1.replace(" lowpowermode         0", " powermode            2");
        assert_eq!(parse_low_power_mode(&high), Ok(false));
        // when both appear, powermode (the newer name) decides
        let both = "Currently in use:\n lowpowermode         1\n powermode            0\n";
        assert_eq!(parse_low_power_mode(both), Ok(false));
        // another power source's block does not count
        let other_source =
            "Currently in use:\n powermode            0\nBattery Power:\n powermode            1\n";
        assert_eq!(parse_low_power_mode(other_source), Ok(false));
        // no such line (a Mac without Low Power Mode), or a value that is not a number
        let e =
            parse_low_power_mode("System-wide power settings:\n SleepDisabled\t\t1\n").unwrap_err();
        assert!(e.contains("no powermode or lowpowermode"), "{e}");
        assert!(parse_low_power_mode("Currently in use:\n lowpowermode on\n").is_err());
        assert!(parse_low_power_mode("Currently in use:\n lowpowermode\n").is_err());
        // `lowpowermodeX` is another setting
        assert!(parse_low_power_mode("Currently in use:\n lowpowermodeX 1\n").is_err());
    }

    #[test]
    fn the_poll_specs_run_these_commands_through_these_parsers() {
        let s = thermal_pressure_poll_spec(Duration::from_secs(2));
        assert_eq!(
            s.argv.join(" "),
            "notifyutil -g com.apple.system.thermalpressurelevel"
        );
        assert_eq!(s.every, Duration::from_secs(2));
        assert_eq!((s.parse)(NOTIFYUTIL), Ok(0));
        let s = pmset_therm_poll_spec(Duration::from_secs(5));
        assert_eq!(s.argv.join(" "), "pmset -g therm");
        assert_eq!((s.parse)(THERM_INTEL), parse_pmset_therm(THERM_INTEL));
        let s = low_power_mode_poll_spec(Duration::from_secs(5));
        assert_eq!(s.argv.join(" "), "pmset -g");
        assert_eq!((s.parse)(PMSET_G_M1), Ok(false));
    }
}
