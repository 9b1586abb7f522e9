//! The checks of other hosts before anything starts, one host at a time,
//! each failure a setup error (exit 3) naming the host and the fix: it
//! answers over SSH without a password prompt (and has the working
//! folder); the same mlxrun is there (it supervises the servers, sweeps
//! leftovers and monitors the host); the backend is installed there and
//! accepts every swept flag (the same `--help` check as here); the model
//! path exists there; the ports the servers and ranks need are free there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use crate::backend::probe::{BackendInfo, probe_with, unsupported_flags};
use crate::error::SetupError;
use crate::remote::host::{Host, is_local_name};
use crate::remote::ports::PortsAnswer;
use crate::remote::ssh::{SSH_FAILED, mlxrun_of, path_on};
use crate::scenario::Resolved;
use crate::scenario::expand::{Plan, ServerConfig};
use crate::server::command::{Commands, ring_port};
use crate::server::settings::ServerSettings;

/// What one host must have.
#[derive(Debug, Default)]
struct Needs {
    host: Option<Host>,
    /// Configurations whose backend runs there (probed once per backend).
    configs: Vec<usize>,
    /// Model paths (as named here) that must exist there.
    models: BTreeSet<String>,
    /// Ports that must be free there, with who needs them.
    ports: BTreeMap<u16, String>,
}

/// Exit code of the working-folder check in [`crate::remote::ssh::remote_script`].
const NO_WORKDIR: i32 = 97;

/// What each other host of `plan` must have, by host name, in the order
/// first used.
fn needs(cmds: &Commands, settings: &ServerSettings, plan: &Plan) -> Vec<Needs> {
    let mut out: Vec<Needs> = Vec::new();
    let mut add = |h: &Host, cfg: &ServerConfig, ports: Vec<(u16, String)>| {
        if is_local_name(&h.address) {
            return;
        }
        let at = match out
            .iter()
            .position(|n| n.host.as_ref().is_some_and(|x| x.name == h.name))
        {
            Some(i) => i,
            None => {
                out.push(Needs {
                    host: Some(h.clone()),
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let n = &mut out[at];
        if !n.configs.contains(&cfg.index) {
            n.configs.push(cfg.index);
        }
        if Path::new(&cfg.model_arg).exists() {
            n.models.insert(cfg.model_arg.clone());
        }
        for (p, who) in ports {
            n.ports.entry(p).or_insert(who);
        }
    };
    for cfg in &plan.servers {
        let launched = cmds.uses_launcher(cfg);
        let rank_hosts = if launched && !cfg.hosts.is_empty() {
            cmds.rank_hosts(cfg)
        } else {
            Vec::new()
        };
        for i in 0..cfg.instances {
            let port = settings.instance_port(i);
            if let Some(h) = settings.instance_host(cfg, i) {
                add(h, cfg, vec![(port, format!("instance {i}"))]);
            }
            let first = ring_port(cmds.scenario, i);
            for h in &rank_hosts {
                let ring: Vec<(u16, String)> = (0..cfg.ranks_total)
                    .filter_map(|k| u16::try_from(first + k).ok())
                    .map(|p| (p, format!("mlx.launch ring port of instance {i}")))
                    .collect();
                add(h, cfg, ring);
            }
        }
    }
    out
}

/// Check every other host `resolved` runs servers on; returns what each
/// backend is where it was first found on a host.
pub async fn check_hosts(
    resolved: &Resolved,
    plan: &Plan,
    python: &str,
) -> Result<BTreeMap<String, BackendInfo>, SetupError> {
    let s = &resolved.scenario;
    let cmds = Commands {
        scenario: s,
        registry: &resolved.registry,
        models: &resolved.models,
        python: python.to_string(),
        run_dir: std::path::PathBuf::from("results"),
        run_tag: "preflight".into(),
    };
    let settings = ServerSettings::of(s);
    let mut found = BTreeMap::new();
    for n in needs(&cmds, &settings, plan) {
        let Some(host) = &n.host else { continue };
        for (name, info) in check_host(&cmds, &settings, host, &n, plan).await? {
            found.entry(name).or_insert(info);
        }
    }
    Ok(found)
}

async fn check_host(
    cmds: &Commands<'_>,
    settings: &ServerSettings,
    host: &Host,
    n: &Needs,
    plan: &Plan,
) -> Result<BTreeMap<String, BackendInfo>, SetupError> {
    let ssh = &settings.ssh;
    let wait = Duration::from_secs(u64::from(ssh.connect_timeout_s) + 20);
    let name = &host.name;
    let dest = &host.ssh;
    let run = |argv: Vec<String>| async move { ssh.capture(host, &argv, wait).await };
    let err = |msg: String| SetupError(msg);

    let hello = run(vec!["true".into()]).await.map_err(|e| {
        err(format!(
            "host {name} ({dest}): {e}\n  next: check that it is up and reachable"
        ))
    })?;
    if hello.code == SSH_FAILED {
        return Err(err(format!(
            "host {name} does not answer over SSH without a password prompt ({dest}): {}\n  next: install your key there (ssh-copy-id {dest}) or add it to your agent, and check with `ssh -o BatchMode=yes {dest} true`",
            hello.last_error_line()
        )));
    }
    if hello.code == NO_WORKDIR {
        return Err(err(format!(
            "host {name}: {}\n  next: create the same folder layout there, or set hosts.{name}.workdir",
            hello.last_error_line()
        )));
    }

    let mlxrun = mlxrun_of(host);
    let v = run(vec![mlxrun.clone(), "--version".into()])
        .await
        .map_err(|e| err(format!("host {name}: {e}")))?;
    let want = format!("mlxrun {}", crate::VERSION);
    if v.code != 0 {
        return Err(err(format!(
            "host {name}: mlxrun is not at {mlxrun} there ({})\n  next: install mlxrun there (the same version, {want}) or set hosts.{name}.mlxrun to its path",
            v.last_error_line()
        )));
    }
    if v.stdout.trim() != want {
        return Err(err(format!(
            "host {name}: {mlxrun} is `{}`, this is `{want}`\n  next: install the same mlxrun there (it supervises the servers, sweeps leftovers and monitors the host)",
            v.stdout.trim()
        )));
    }

    let mut probed: BTreeMap<String, BackendInfo> = BTreeMap::new();
    for &ci in &n.configs {
        let Some(cfg) = plan.servers.get(ci) else {
            continue;
        };
        let def = cmds
            .def(cfg)
            .map_err(|e| err(format!("host {name}: {e}")))?;
        if !def.launches() || probed.contains_key(&cfg.backend) {
            continue;
        }
        // an instance on this host, for its Python and address
        let here = (0..cfg.instances)
            .find(|i| {
                settings
                    .instance_host(cfg, *i)
                    .is_some_and(|h| h.name == host.name)
            })
            .unwrap_or(0);
        let vars = cmds
            .vars(cfg, here, cmds.scenario.backend.base_port)
            .map_err(|e| err(format!("host {name}: {e}")))?;
        let wrap = |argv: &[String]| ssh.argv(host, &[], argv);
        let info = probe_with(
            &cfg.backend,
            def,
            &vars,
            cmds.scenario.backend.check_flags,
            &wrap,
        )
        .await
        .map_err(|e| {
            err(format!(
                "host {name}: {e}\n  (hosts.{name}.python names the Python that runs it there)"
            ))
        })?;
        let argv = cmds
            .server_argv(cfg, here, cmds.scenario.backend.base_port)
            .map_err(|e| err(format!("host {name}: {e}")))?;
        let bad = unsupported_flags(&info, &argv);
        if !bad.is_empty() {
            return Err(err(format!(
                "host {name}: the `{}` server installed there ({}) does not accept {}\n  next: install the same version there as here, or remove those axes/args",
                cfg.backend,
                info.version,
                bad.join(", ")
            )));
        }
        probed.insert(cfg.backend.clone(), info);
    }

    for model in &n.models {
        let there = path_on(host, model);
        // a model folder is there when its config.json is (an empty folder
        // of the same name is not the model)
        let probe = if Path::new(model).join("config.json").is_file() {
            format!("{there}/config.json")
        } else {
            there.clone()
        };
        let t = run(vec!["test".into(), "-e".into(), probe])
            .await
            .map_err(|e| err(format!("host {name}: {e}")))?;
        if t.code != 0 {
            return Err(err(format!(
                "host {name}: the model {there} is not there\n  next: copy it (rsync -a {model}/ {dest}:{there}/), or serve it to the other hosts with mlx_lm.share"
            )));
        }
    }

    if !n.ports.is_empty() {
        let mut argv = vec![
            mlxrun,
            "__host".into(),
            "ports".into(),
            host.address.clone(),
        ];
        argv.extend(n.ports.keys().map(u16::to_string));
        let p = run(argv)
            .await
            .map_err(|e| err(format!("host {name}: {e}")))?;
        let answer = ports_answer(&p.stdout).ok_or_else(|| {
            err(format!(
                "host {name}: the port check did not answer: {}",
                p.last_error_line()
            ))
        })?;
        if let Some((port, why)) = answer.errors.iter().next() {
            return Err(err(format!(
                "host {name}: cannot bind {}:{port} there: {why}\n  next: set hosts.{name}.address to an address of that host",
                host.address
            )));
        }
        let taken = answer.taken;
        if !taken.is_empty() {
            let list: Vec<String> = taken
                .iter()
                .map(|port| format!("{port} ({})", n.ports.get(port).map_or("", String::as_str)))
                .collect();
            return Err(err(format!(
                "host {name}: port(s) already in use on {}: {}\n  next: stop what listens there, or move backend.base_port / launcher.starting_port",
                host.address,
                list.join(", ")
            )));
        }
    }
    Ok(probed)
}

/// The JSON answer of `__host ports` (its last line that parses).
fn ports_answer(stdout: &str) -> Option<PortsAnswer> {
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_answer_is_read_from_its_json() {
        let a =
            ports_answer("{\"address\":\"10.0.0.2\",\"taken\":[9000],\"free\":[9001]}\n").unwrap();
        assert_eq!((a.taken, a.free), (vec![9000], vec![9001]));
        assert!(a.errors.is_empty());
        let a = ports_answer(
            "{\"address\":\"10.9.9.9\",\"taken\":[9000],\"free\":[],\"errors\":{\"9000\":\"Cannot assign requested address\"}}",
        )
        .unwrap();
        assert_eq!(
            a.errors.get(&9000).map(String::as_str),
            Some("Cannot assign requested address")
        );
        assert!(ports_answer("garbage").is_none());
    }
}
