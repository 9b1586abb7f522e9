//! What starting, probing and stopping servers needs from a scenario,
//! resolved once into plain values (durations as `Duration`, the port of
//! each instance) when a run, `mlxrun serve up` or `mlxrun plan` sets up
//! its servers: the server code reads these, never the raw `[backend]`
//! and `[router]` sections. (The command lines themselves are rendered
//! from the scenario by [`super::command`].)

use std::collections::BTreeMap;
use std::time::Duration;

use crate::remote::host::Host;
use crate::remote::ssh::Ssh;
use crate::scenario::Scenario;
use crate::scenario::expand::ServerConfig;
use crate::spec::scenario::RouterSection;

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
    /// Every other host the scenario names, by name.
    pub hosts: BTreeMap<String, Host>,
    /// Rank 0's host of the user's mlx.launch hostfile, when it is another
    /// machine.
    pub hostfile_rank0: Option<Host>,
    /// How `ssh` is run (`[remote]`).
    pub ssh: Ssh,
}

impl ServerSettings {
    /// Resolve the settings of `s`.
    pub fn of(s: &Scenario) -> ServerSettings {
        ServerSettings {
            host: s.backend.host.clone(),
            base_port: s.backend.base_port,
            ready_timeout: s.backend.ready_timeout_s.duration(),
            stop_grace: s.backend.stop_grace_s.duration(),
            router: s.router.clone(),
            router_ready_timeout: s.router.ready_timeout_s.duration(),
            // every host named anywhere, and every [hosts] table
            hosts: crate::scenario::hosts::all_hosts(s)
                .into_iter()
                .chain(
                    s.hosts
                        .keys()
                        .filter_map(|n| crate::scenario::hosts::resolve(s, n)),
                )
                .map(|h| (h.name.clone(), h))
                .collect(),
            hostfile_rank0: (!s.launcher.hostfile.trim().is_empty())
                .then(|| crate::scenario::hostfile::rank0(&s.launcher.hostfile).ok())
                .flatten()
                .flatten(),
            ssh: crate::scenario::hosts::ssh_of(s),
        }
    }

    /// The host instance `i` of `cfg` is reached on (rank 0's when its
    /// ranks span hosts); `None` = this machine.
    pub fn instance_host(&self, cfg: &ServerConfig, i: u32) -> Option<&Host> {
        if !cfg.hosts.is_empty()
            && let Some(h) = &self.hostfile_rank0
        {
            return Some(h);
        }
        cfg.host_of(i).and_then(|name| self.hosts.get(name))
    }

    /// The address instance `i` of `cfg` binds to and is reached on.
    pub fn instance_address(&self, cfg: &ServerConfig, i: u32) -> &str {
        self.instance_host(cfg, i)
            .map_or(self.host.as_str(), |h| h.address.as_str())
    }

    /// Port of launched instance `i`.
    /// (Validation keeps every instance's port within 65535; past it, the
    /// port saturates rather than wraps or panics.)
    pub fn instance_port(&self, i: u32) -> u16 {
        u16::try_from(u32::from(self.base_port).saturating_add(i)).unwrap_or(u16::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_resolved_from_the_scenario() {
        let mut s = Scenario::default();
        s.backend.base_port = 9100;
        s.backend.stop_grace_s = crate::spec::units::Secs::lit(2.5);
        s.router.ready_timeout_s = crate::spec::units::PositiveSecs::lit(7.0);
        let v = ServerSettings::of(&s);
        assert_eq!(v.instance_port(3), 9103);
        assert_eq!(v.stop_grace, Duration::from_millis(2500));
        assert_eq!(v.router_ready_timeout, Duration::from_secs(7));
        assert_eq!(v.host, s.backend.host);
    }
}
