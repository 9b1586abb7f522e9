//! Checks of the hosts a scenario names, before anything starts: every
//! name is a `[hosts]` table, an IP address or `local`; instances are
//! placed by `backend.hosts` or their ranks span `launcher.hosts` /
//! `matrix.hosts`, not both; a rank host set names each host once and
//! gives MLX's ring backend IP addresses; ssh destinations cannot be read
//! as options.

use super::error::{Finding, finding};
use super::hosts::resolve;
use crate::remote::host::{LOCAL, is_ip, is_local_name};
use crate::spec::scenario::Scenario;

/// Every problem with the hosts of `s`.
pub fn check(s: &Scenario) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, e) in &s.hosts {
        let field = format!("hosts.{name}");
        if is_local_name(name) {
            out.push(finding(
                &field,
                format!("`{name}` names this machine"),
                "give the host another name; `local` always means this machine",
            ));
        }
        if e.ssh.trim_start().starts_with('-') || (e.ssh.is_empty() && name.starts_with('-')) {
            out.push(finding(
                &format!("{field}.ssh"),
                "an ssh destination cannot start with `-`",
                "write user@host or an alias of your ssh config",
            ));
        }
    }
    let known = |name: &str| is_local_name(name) || s.hosts.contains_key(name) || is_ip(name);
    let unknown_hint = |name: &str| {
        format!(
            "add a [hosts.{name}] table (ssh = \"user@{name}\", address = \"…\"), or use an IP address or `local`"
        )
    };
    for name in &s.backend.hosts {
        if !known(name) {
            out.push(finding(
                "backend.hosts",
                format!("`{name}` is not a host of [hosts]"),
                unknown_hint(name),
            ));
        }
    }
    let mut rank_sets: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(a) = &s.matrix.hosts {
        rank_sets.extend(
            a.values()
                .iter()
                .map(|h| ("matrix.hosts".to_string(), h.0.clone())),
        );
    } else if !s.launcher.hosts.is_empty() {
        rank_sets.push(("launcher.hosts".into(), s.launcher.hosts.clone()));
    }
    let spans_hosts = rank_sets.iter().any(|(_, set)| !set.is_empty());
    if spans_hosts && !s.backend.hosts.is_empty() {
        out.push(finding(
            "backend.hosts",
            "instances are placed on hosts and their ranks span hosts as well",
            "use backend.hosts (instances on other hosts) or launcher.hosts / matrix.hosts (one instance's ranks across hosts), not both",
        ));
    }
    if spans_hosts && !s.launcher.hostfile.trim().is_empty() {
        out.push(finding(
            "launcher.hostfile",
            "a hostfile and launcher.hosts / matrix.hosts both name the rank hosts",
            "keep one: the hostfile (MLX's JSON format) or the host names",
        ));
    }
    if !s.launcher.hostfile.trim().is_empty()
        && let Err(e) = super::hostfile::read(&s.launcher.hostfile)
    {
        out.push(finding(
            "launcher.hostfile",
            e,
            "write it in mlx.launch's JSON format: {\"hosts\": [{\"ssh\": \"m1\", \"ips\": [\"10.0.0.1\"]}, …]}",
        ));
    }
    if spans_hosts {
        let rank_hosts: Vec<&String> = rank_sets.iter().flat_map(|(_, set)| set.iter()).collect();
        let with_args = rank_hosts.iter().find(|n| {
            s.hosts
                .get(n.as_str())
                .is_some_and(|e| !e.ssh_args.is_empty())
        });
        if s.remote.ssh != "ssh" || !s.remote.ssh_args.is_empty() || with_args.is_some() {
            out.push(finding(
                &with_args.map_or("remote.ssh_args".to_string(), |n| format!("hosts.{n}.ssh_args")),
                "mlx.launch connects to rank hosts with plain `ssh` from PATH: these ssh settings would not reach its connections",
                "put the options in your ssh config (a Host block per host in ~/.ssh/config) and leave remote.ssh and the ssh_args unset",
            ));
        }
        let differs = rank_hosts.iter().find(|n| {
            s.hosts
                .get(n.as_str())
                .is_some_and(|e| !e.python.is_empty() || !e.workdir.is_empty())
        });
        if let Some(n) = differs {
            out.push(finding(
                &format!("hosts.{n}"),
                "python or workdir set for a host that ranks span",
                "mlx.launch runs one command line in one folder on every rank host: install the same Python at the same path there (backend.python) and keep the same folder layout",
            ));
        }
    }
    let backends: Vec<String> = match &s.matrix.launcher_backend {
        Some(a) => a.values().iter().map(|b| b.0.clone()).collect(),
        None => vec![s.launcher.backend.clone()],
    };
    for (field, set) in &rank_sets {
        for (i, name) in set.iter().enumerate() {
            if !known(name) {
                out.push(finding(
                    field,
                    format!("`{name}` is not a host of [hosts]"),
                    unknown_hint(name),
                ));
                continue;
            }
            if set[..i].contains(name) {
                out.push(finding(
                    field,
                    format!("`{name}` is named twice in one host set"),
                    "name each host once; matrix.ranks sets the ranks per host",
                ));
            }
            if set.len() > 1 && is_local_name(name) {
                out.push(finding(
                    field,
                    format!("`{name}` in a set of several hosts"),
                    format!(
                        "the other hosts cannot reach this machine as `{LOCAL}`: add it as a [hosts] table with its network address"
                    ),
                ));
            }
            if let Some(h) = resolve(s, name)
                && backends.iter().any(|b| b == "ring")
                && !is_ip(&h.address)
            {
                out.push(finding(
                    field,
                    format!(
                        "host `{name}` has address `{}`; MLX's ring backend needs IP addresses",
                        h.address
                    ),
                    format!(
                        "set hosts.{name}.address to its IP address on the link the ranks share"
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::scenario::{Axis, HostEntry, HostSet};

    fn fields(s: &Scenario) -> Vec<String> {
        check(s)
            .into_iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect()
    }

    #[test]
    fn hosts_are_named_once_placed_one_way_and_ring_gets_ips() {
        let mut s = Scenario::default();
        s.hosts.insert(
            "a".into(),
            HostEntry {
                address: "10.0.0.2".into(),
                ..Default::default()
            },
        );
        s.hosts.insert("studio".into(), HostEntry::default());
        s.launcher.hosts = vec!["a".into(), "studio".into()];
        let f = fields(&s);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("`studio` has address `studio`"), "{f:?}");

        s.launcher.hosts = vec!["a".into(), "a".into(), "nowhere".into()];
        let f = fields(&s).join("\n");
        assert!(f.contains("`a` is named twice"), "{f}");
        assert!(f.contains("`nowhere` is not a host of [hosts]"), "{f}");

        s.launcher.hosts.clear();
        s.matrix.hosts = Some(Axis(vec![
            HostSet(vec!["a".into()]),
            HostSet(vec!["local".into(), "a".into()]),
        ]));
        s.backend.hosts = vec!["a".into()];
        let f = fields(&s).join("\n");
        assert!(
            f.contains("backend.hosts: instances are placed on hosts and their ranks span"),
            "{f}"
        );
        assert!(
            f.contains("matrix.hosts: `local` in a set of several hosts"),
            "{f}"
        );

        let mut ok = Scenario::default();
        ok.hosts.insert(
            "a".into(),
            HostEntry {
                address: "10.0.0.2".into(),
                ..Default::default()
            },
        );
        ok.backend.hosts = vec!["local".into(), "a".into(), "10.0.0.3".into()];
        assert!(fields(&ok).is_empty(), "{:?}", fields(&ok));
        ok.hosts.insert("local".into(), HostEntry::default());
        assert!(
            fields(&ok).join("").contains("hosts.local"),
            "a table named local"
        );
    }
}
