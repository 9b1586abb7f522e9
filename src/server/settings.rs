//! What starting, probing and stopping servers needs from a scenario,
//! resolved once into plain values (durations as `Duration`, the port of
//! each instance) when a run, `mlxrun serve up` or `mlxrun plan` sets up
//! its servers: the server code reads these, never the raw `[backend]`
//! and `[router]` sections. (The command lines themselves are rendered
//! from the scenario by [`super::command`].)

use std::time::Duration;

use crate::scenario::Scenario;
use crate::spec::scenario::RouterSection;

/// The longest wait any setting can ask for (30 days): a larger or
/// unreadable number of seconds is this, never a panic.
pub const LONGEST: Duration = Duration::from_secs(30 * 24 * 3600);

/// `secs` seconds as a duration within `0..=LONGEST`.
pub fn seconds(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).map_or(LONGEST, |d| d.min(LONGEST))
}

/// The server settings of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Where launched instances listen (`backend.host`).
    pub host: String,
    /// Instance `i` listens on `base_port + i` (`backend.base_port`).
    pub base_port: u16,
    /// How long an instance may take to answer (`backend.ready_timeout_s`).
    pub ready_timeout: Duration,
    /// SIGTERM to SIGKILL when servers stop (`backend.stop_grace_s`).
    pub stop_grace: Duration,
    /// The router in front of several instances (`[router]`; nginx's
    /// template is rendered from it whole).
    pub router: RouterSection,
    /// How long nginx may take to answer (`router.ready_timeout_s`).
    pub router_ready_timeout: Duration,
}

impl ServerSettings {
    /// Resolve the settings of `s`.
    pub fn of(s: &Scenario) -> ServerSettings {
        ServerSettings {
            host: s.backend.host.clone(),
            base_port: s.backend.base_port,
            ready_timeout: seconds(s.backend.ready_timeout_s),
            stop_grace: seconds(s.backend.stop_grace_s),
            router: s.router.clone(),
            router_ready_timeout: seconds(s.router.ready_timeout_s),
        }
    }

    /// Port of launched instance `i`.
    pub fn instance_port(&self, i: u32) -> u16 {
        (u32::from(self.base_port) + i) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_resolved_from_the_scenario() {
        let mut s = Scenario::default();
        s.backend.base_port = 9100;
        s.backend.stop_grace_s = 2.5;
        s.router.ready_timeout_s = 7.0;
        let v = ServerSettings::of(&s);
        assert_eq!(v.instance_port(3), 9103);
        assert_eq!(v.stop_grace, Duration::from_millis(2500));
        assert_eq!(v.router_ready_timeout, Duration::from_secs(7));
        assert_eq!(v.host, s.backend.host);
    }

    #[test]
    fn any_number_of_seconds_is_a_duration_without_panic() {
        assert_eq!(seconds(1.5), Duration::from_millis(1500));
        assert_eq!(seconds(f64::INFINITY), LONGEST);
        assert_eq!(seconds(1e20), LONGEST);
        assert_eq!(seconds(f64::NAN), Duration::ZERO);
        assert_eq!(seconds(-3.0), Duration::ZERO);
    }
}
