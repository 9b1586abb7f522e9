//! Everything checked before a run starts anything: backends and their
//! flags, mlx.launch, nginx, ports, API keys, the results folder, the
//! memory gate, and warnings about addresses beyond loopback.

use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::probe::{BackendInfo, probe, unsupported_flags};
use crate::error::SetupError;
use crate::gate::{self, MemoryNow};
use crate::scenario::Resolved;
use crate::scenario::expand::{Plan, ServerConfig};
use crate::server::command::{Commands, python_for, ring_port};
use crate::server::secrets::Secrets;
use crate::server::set::external_endpoint;
use crate::server::settings::ServerSettings;
use crate::server::{nginx, ports};

/// Everything checked before a run: the plan, the backends and their flags,
/// the API keys.
pub struct Preflight {
    pub plan: Plan,
    /// Backend name → what is installed (external endpoints: nothing probed).
    pub backends: BTreeMap<String, BackendInfo>,
    pub python: String,
    pub secrets: Secrets,
    /// Configurations the memory gate skips (index → why), with
    /// `memory.over_limit = "skip"`.
    pub gated: BTreeMap<usize, String>,
}

/// Whether `program` can be run: a path that exists, or a name in `PATH`.
pub(super) fn runnable(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Check the machine for `resolved`; nothing is started.
pub async fn preflight(resolved: &Resolved) -> anyhow::Result<Preflight> {
    let s = &resolved.scenario;
    let reg = &resolved.registry;
    let plan = resolved.plan.clone();
    let python = python_for(s);
    let secrets =
        Secrets::read(&resolved.models, reg, |v| std::env::var(v).ok()).map_err(SetupError)?;
    let cmds = Commands {
        scenario: s,
        registry: reg,
        models: &resolved.models,
        python: python.clone(),
        run_dir: std::path::PathBuf::from("results"),
        run_tag: "plan".into(),
    };
    let mut backends = BTreeMap::new();
    let mut bad_flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let settings = ServerSettings::of(s);
    for cfg in &plan.servers {
        let def = reg
            .get(&cfg.backend)
            .ok_or_else(|| SetupError(format!("unknown backend `{}`", cfg.backend)))?;
        if !def.launches() {
            backends
                .entry(cfg.backend.clone())
                .or_insert_with(BackendInfo::default);
            continue;
        }
        // a configuration whose servers all run on other hosts is checked
        // there (preflight_hosts), not here
        let Some(local) = (0..cfg.instances).find(|i| settings.instance_host(cfg, *i).is_none())
        else {
            continue;
        };
        if !backends.contains_key(&cfg.backend) {
            let vars = cmds
                .vars(cfg, local, s.backend.base_port)
                .map_err(SetupError)?;
            let info = probe(&cfg.backend, def, &vars, s.backend.check_flags)
                .await
                .map_err(SetupError)?;
            backends.insert(cfg.backend.clone(), info);
        }
        let info = &backends[&cfg.backend];
        let argv = cmds
            .server_argv(cfg, local, s.backend.base_port)
            .map_err(|e| SetupError(format!("backend `{}`: {e}", cfg.backend)))?;
        let bad = bad_flags.entry(cfg.backend.clone()).or_default();
        for f in unsupported_flags(info, &argv) {
            if !bad.contains(&f) {
                bad.push(f);
            }
        }
    }
    for (backend, bad) in &bad_flags {
        if !bad.is_empty() {
            return Err(SetupError(format!(
                "the installed `{backend}` server ({}) does not accept {}; a sweep would record values that never reach the server\n  next: upgrade it (mlx_lm: --decode-concurrency and --prompt-concurrency need mlx-lm 0.30.6 or later), or remove those axes/args (backend.check_flags = false skips this check)",
                backends.get(backend).map(|b| b.version.as_str()).unwrap_or(""),
                bad.join(", ")
            ))
            .into());
        }
    }
    if let Some(cfg) = plan.servers.iter().find(|c| cmds.uses_launcher(c)) {
        let prefix = cmds.launcher_prefix(cfg, 0);
        if !runnable(&prefix[0]) {
            return Err(SetupError(format!(
                "mlx.launch not found (looked for '{}')\n  next: install mlx in backend.python's environment, or set launcher.bin",
                prefix[0]
            ))
            .into());
        }
    }
    // every instance's command line and nginx config, rendered now: one
    // that fails fails before anything starts
    super::prepare::prepare(resolved, &python, Path::new("results")).map_err(|e| {
        SetupError(format!(
            "{e}\n  next: fix the backend's launch template or the router template"
        ))
    })?;
    let needs_nginx = plan.servers.iter().any(ServerConfig::uses_nginx);
    if needs_nginx {
        nginx::find_binary(&s.router.nginx_bin).map_err(SetupError)?;
    }
    let launched: Vec<&ServerConfig> = plan
        .servers
        .iter()
        .filter(|c| reg.get(&c.backend).is_some_and(|d| d.launches()))
        .collect();
    let max_instances = launched.iter().map(|c| c.instances).max().unwrap_or(0);
    let mut wanted: Vec<(String, u16, String)> = (0..max_instances)
        .map(|i| {
            (
                s.backend.host.clone(),
                ServerSettings::of(s).instance_port(i),
                format!("instance {i}"),
            )
        })
        .collect();
    for c in launched
        .iter()
        .filter(|c| cmds.uses_launcher(c) && c.hosts.is_empty())
    {
        for i in 0..c.instances {
            for k in 0..c.ranks {
                let port = ring_port(s, i) + k;
                if let Ok(p) = u16::try_from(port)
                    && !wanted.iter().any(|(_, q, _)| *q == p)
                {
                    wanted.push((
                        "127.0.0.1".into(),
                        p,
                        format!("mlx.launch ring port of instance {i}"),
                    ));
                }
            }
        }
    }
    if needs_nginx {
        wanted.push((s.router.host.clone(), s.router.port, "nginx".into()));
    }
    // instances on other hosts are checked there
    let local_instances = launched
        .iter()
        .flat_map(|c| (0..c.instances).filter(|i| settings.instance_host(c, *i).is_none()))
        .max()
        .map_or(0, |i| i + 1);
    wanted.retain(|(_, p, who)| {
        !who.starts_with("instance ")
            || u32::from(*p).saturating_sub(u32::from(s.backend.base_port)) < local_instances
    });
    // the backends found on other hosts (their versions go into rows)
    for (name, info) in super::preflight_hosts::check_hosts(resolved, &plan, &python).await? {
        backends.entry(name).or_insert(info);
    }
    let taken = ports::taken(&wanted);
    if !taken.is_empty() {
        let list: Vec<String> = taken
            .iter()
            .map(|(p, who)| format!("{p} ({who})"))
            .collect();
        return Err(SetupError(format!(
            "port(s) already in use: {}\n  next: stop what listens there, or move backend.base_port (MLX_SERVER_BASE_PORT) / router.port (MLX_NGINX_PORT) / launcher.starting_port",
            list.join(", ")
        ))
        .into());
    }
    let gated = memory_gate(resolved, &plan, &memory_now())?;
    Ok(Preflight {
        plan,
        backends,
        python,
        secrets,
        gated,
    })
}

/// The machine's memory now.
pub fn memory_now() -> MemoryNow {
    let m = crate::monitor::memory::snapshot();
    MemoryNow {
        total_bytes: m.total_bytes,
        available_bytes: m.available_bytes,
        pressure: m.pressure,
    }
}

/// Why each configuration of `plan` that does not fit `mem` is over the
/// limit (configuration index → reason); an error instead when the
/// scenario says to refuse.
pub fn memory_gate(
    resolved: &Resolved,
    plan: &Plan,
    mem: &MemoryNow,
) -> anyhow::Result<BTreeMap<usize, String>> {
    let s = &resolved.scenario;
    let mut over = BTreeMap::new();
    for cfg in &plan.servers {
        if let gate::Estimate::Need(need) = gate::estimate(resolved, cfg)
            && let Some(why) = gate::over_limit(&need, mem, &s.memory)
        {
            over.insert(cfg.index, why);
        }
    }
    if !over.is_empty() && s.memory.over_limit == crate::spec::scenario::OverLimit::Refuse {
        let list: Vec<String> = over
            .iter()
            .map(|(i, why)| {
                let c = &plan.servers[*i];
                format!(
                    "  configuration {} ({} × {} `{}`{}): {why}",
                    i + 1,
                    c.instances,
                    c.backend,
                    c.model_name,
                    if c.ranks > 1 {
                        format!(", {} ranks", c.ranks)
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        return Err(SetupError(format!(
            "the memory gate refuses {} of {} server configuration(s):\n{}\n  next: fewer instances or a smaller model; or raise memory.limit_percent (now {}%); or set memory.over_limit = \"skip\" to run the rest and record these points as skipped",
            over.len(),
            plan.servers.len(),
            list.join("\n"),
            s.memory.limit_percent
        ))
        .into());
    }
    Ok(over)
}

/// Warnings about addresses beyond loopback (bound, or sent to).
pub fn exposure_warnings(resolved: &Resolved, plan: &Plan) -> Vec<String> {
    let s = &resolved.scenario;
    let loopback =
        |h: &str| matches!(h, "127.0.0.1" | "localhost" | "::1" | "[::1]") || h.starts_with("127.");
    let mut out = Vec::new();
    let reg = &resolved.registry;
    let launches = plan
        .servers
        .iter()
        .any(|c| reg.get(&c.backend).is_some_and(|d| d.launches()));
    if launches && !loopback(&s.backend.host) {
        out.push(format!(
            "servers bind to {} (beyond loopback): anyone who can reach this machine can use them",
            s.backend.host
        ));
    }
    if plan.servers.iter().any(ServerConfig::uses_nginx) && !loopback(&s.router.host) {
        out.push(format!(
            "nginx binds to {} (beyond loopback): anyone who can reach this machine can use it",
            s.router.host
        ));
    }
    let settings = ServerSettings::of(s);
    let mut spans: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    for c in &plan.servers {
        if c.hosts.len() > 1 {
            let set = c.hosts.join("+");
            if !spans.contains(&set) {
                spans.push(set);
            }
        }
        for i in 0..c.instances {
            if let Some(h) = settings.instance_host(c, i) {
                let b = format!("{} on host {}", h.address, h.name);
                if !loopback(&h.address) && !binds.contains(&b) {
                    binds.push(b);
                }
            }
        }
    }
    if !spans.is_empty() {
        out.push(format!(
            "mlx.launch spans hosts {}: ranks connect over the network, and every number includes it",
            spans.join(", ")
        ));
    }
    if !binds.is_empty() {
        out.push(format!(
            "servers on other hosts bind to {} (beyond loopback, so this machine can reach them): anyone on that network can use them",
            binds.join(", ")
        ));
    }
    let mut remote: Vec<String> = Vec::new();
    for c in &plan.servers {
        if let Some(d) = reg.get(&c.backend)
            && !d.launches()
        {
            for u in d.urls.iter().take(c.instances as usize) {
                if let Ok(e) = external_endpoint(0, u)
                    && !loopback(&e.host)
                    && !remote.contains(&e.address)
                {
                    remote.push(e.address);
                }
            }
        }
    }
    if !remote.is_empty() {
        out.push(format!(
            "requests go to remote upstreams {} (started by someone else; their load and network are part of every number)",
            remote.join(", ")
        ));
    }
    out
}
