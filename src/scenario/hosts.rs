//! The hosts a scenario names, resolved: `[hosts.NAME]` tables and bare
//! addresses become [`Host`]s (ssh destination, address, paths there),
//! `local` stays this machine, and `[remote]` becomes the [`Ssh`] settings.

use crate::remote::host::{Host, address_of, is_local_name};
use crate::remote::ssh::Ssh;
use crate::spec::scenario::Scenario;

/// The host a name stands for; `None` for this machine.
pub fn resolve(s: &Scenario, name: &str) -> Option<Host> {
    if is_local_name(name) {
        return None;
    }
    let Some(e) = s.hosts.get(name) else {
        return Some(Host::bare(name));
    };
    let ssh = if e.ssh.trim().is_empty() {
        name.to_string()
    } else {
        e.ssh.clone()
    };
    let address = if e.address.trim().is_empty() {
        address_of(&ssh).to_string()
    } else {
        e.address.clone()
    };
    Some(Host {
        name: name.to_string(),
        ssh,
        address,
        ssh_args: e.ssh_args.clone(),
        mlxrun: e.mlxrun.clone(),
        python: e.python.clone(),
        workdir: e.workdir.clone(),
    })
}

/// How mlxrun runs `ssh`.
pub fn ssh_of(s: &Scenario) -> Ssh {
    Ssh {
        bin: s.remote.ssh.clone(),
        args: s.remote.ssh_args.clone(),
        connect_timeout_s: s.remote.connect_timeout_s,
    }
}

/// Every other host any configuration of `s` may use (rank hosts and
/// placement), each once, in the order first named.
pub fn all_hosts(s: &Scenario) -> Vec<Host> {
    let mut names: Vec<&str> = s.backend.hosts.iter().map(String::as_str).collect();
    names.extend(s.launcher.hosts.iter().map(String::as_str));
    if let Some(a) = &s.matrix.hosts {
        for set in a.values() {
            names.extend(set.0.iter().map(String::as_str));
        }
    }
    let mut out: Vec<Host> = Vec::new();
    for n in names {
        if let Some(h) = resolve(s, n)
            && !out.iter().any(|o| o.name == h.name)
        {
            out.push(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::scenario::HostEntry;

    #[test]
    fn names_resolve_to_tables_bare_addresses_or_this_machine() {
        let mut s = Scenario::default();
        s.hosts.insert(
            "studio".into(),
            HostEntry {
                ssh: "me@studio.local".into(),
                address: "10.0.0.2".into(),
                ..Default::default()
            },
        );
        s.hosts.insert("mini".into(), HostEntry::default());
        let h = resolve(&s, "studio").unwrap();
        assert_eq!(
            (h.ssh.as_str(), h.address.as_str()),
            ("me@studio.local", "10.0.0.2")
        );
        let h = resolve(&s, "mini").unwrap();
        assert_eq!((h.ssh.as_str(), h.address.as_str()), ("mini", "mini"));
        assert_eq!(resolve(&s, "10.0.0.9").unwrap().address, "10.0.0.9");
        assert!(resolve(&s, "local").is_none());
        s.backend.hosts = vec!["local".into(), "studio".into()];
        s.launcher.hosts = vec!["studio".into(), "mini".into()];
        let all: Vec<String> = all_hosts(&s).into_iter().map(|h| h.name).collect();
        assert_eq!(all, ["studio", "mini"]);
    }
}
