//! A machine other than this one, as mlxrun reaches it: its SSH
//! destination, the address its servers bind to and are reached at, and
//! where mlxrun, Python and the working directory are there. Plain data,
//! resolved from the scenario's `[hosts.NAME]` tables.

use serde::Serialize;

/// The name that means this machine wherever a host is named.
pub const LOCAL: &str = "local";

/// One host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    /// Its name in the scenario (`[hosts.NAME]`), or the address as given.
    pub name: String,
    /// The `ssh` destination: `user@host`, an address, or an alias of the
    /// user's ssh config.
    pub ssh: String,
    /// Where its servers bind and are reached (an IP for MLX's ring backend).
    pub address: String,
    /// Extra `ssh` options for this host only.
    pub ssh_args: Vec<String>,
    /// The mlxrun executable there; empty = this executable's own path.
    pub mlxrun: String,
    /// The Python interpreter there; empty = the one used here.
    pub python: String,
    /// The working directory there; empty = this one.
    pub workdir: String,
}

impl Host {
    /// A host known only by an address or ssh destination (`user@addr`):
    /// reached as given, serving on the part after `@`.
    pub fn bare(given: &str) -> Host {
        Host {
            name: given.to_string(),
            ssh: given.to_string(),
            address: address_of(given).to_string(),
            ssh_args: Vec::new(),
            mlxrun: String::new(),
            python: String::new(),
            workdir: String::new(),
        }
    }
}

/// The host part of an ssh destination: `user@host:port`-free forms only
/// (`user@host`, `host`); an `ssh://` URL gives its host.
pub fn address_of(destination: &str) -> &str {
    let d = destination.strip_prefix("ssh://").unwrap_or(destination);
    let d = d.rsplit_once('@').map_or(d, |(_, h)| h);
    // ssh://host:port: drop the port (an IPv6 literal keeps its colons)
    match d.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None if d.matches(':').count() == 1 => d.split(':').next().unwrap_or(d),
        None => d,
    }
}

/// Whether `address` is a literal IP address (MLX's ring backend needs one).
pub fn is_ip(address: &str) -> bool {
    address.parse::<std::net::IpAddr>().is_ok()
}

/// Whether `name` means this machine (`local`, `localhost`, a loopback IP).
pub fn is_local_name(name: &str) -> bool {
    name == LOCAL
        || name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_destinations() {
        assert_eq!(address_of("me@studio.local"), "studio.local");
        assert_eq!(address_of("10.0.0.2"), "10.0.0.2");
        assert_eq!(address_of("ssh://me@10.0.0.2:2222"), "10.0.0.2");
        assert_eq!(address_of("ssh://[fe80::1]:22"), "fe80::1");
        assert_eq!(address_of("fe80::1"), "fe80::1");
        let h = Host::bare("root@10.9.0.3");
        assert_eq!(
            (h.ssh.as_str(), h.address.as_str()),
            ("root@10.9.0.3", "10.9.0.3")
        );
        assert!(is_ip("10.9.0.3") && !is_ip("studio.local"));
        assert!(is_local_name("local") && is_local_name("127.0.0.1") && !is_local_name("10.0.0.1"));
    }
}
