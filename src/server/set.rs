//! A server set: the instances of one server configuration (launched
//! concurrently, each on `base_port + i`, each possibly several ranks under
//! mlx.launch; or the URLs of an external endpoint) and the router in front
//! (nginx, or none when the client spreads requests itself). Instances and
//! front start and stop as a unit, but the front can be swapped alone when
//! the next configuration differs only in its router.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::journal::Journal;
use super::nginx::{self, NginxContext, Upstream};
use super::process::{Lifetime, ManagedProcess};
use super::ranks::{self, RankProcess};
use super::readiness::{Probe, host_port, wait_ready};
use super::remote_procs;
use super::settings::ServerSettings;
use super::{ServerError, ports};
use crate::backend::registry::Registry;
use crate::load::client::auth_headers;
use crate::load::request::{self, RequestShape};
use crate::media::PointMedia;
use crate::metrics::prometheus;
use crate::remote::host::Host;
use crate::scenario::Scenario;
use crate::scenario::expand::ServerConfig;
use crate::scenario::models::ResolvedModel;
use crate::server::command::Commands;
use crate::server::secrets::Secrets;
use crate::spec::backend::{Api, BackendDef, Ready, parse_request_line};
use crate::spec::scenario::{RouterKind, Sampling};
use crate::workload::Prompt;

/// What every start needs.
#[derive(Debug, Clone)]
pub struct StartContext {
    pub scenario: Scenario,
    pub registry: Registry,
    pub models: Vec<ResolvedModel>,
    pub python: String,
    pub run_dir: PathBuf,
    pub client: reqwest::Client,
    pub journal: Journal,
    pub cancel: CancellationToken,
    /// Number of server configurations in the run (for log markers).
    pub total_configs: usize,
    pub secrets: Secrets,
    /// What the server code reads of the scenario, resolved once.
    pub settings: ServerSettings,
    /// Whether the processes die with mlxrun (the runner) or outlive it
    /// once released (`mlxrun serve up`).
    pub lifetime: Lifetime,
}

impl StartContext {
    /// The context of `resolved`'s servers: its scenario, backends, models
    /// and resolved settings, with what the caller found (the Python that
    /// runs servers, the API keys) and where they go (the run folder, the
    /// journal), how they are stopped and how long they live.
    pub fn new(
        resolved: &crate::scenario::Resolved,
        python: String,
        secrets: Secrets,
        run_dir: PathBuf,
        journal: Journal,
        cancel: CancellationToken,
        lifetime: Lifetime,
    ) -> StartContext {
        StartContext {
            settings: ServerSettings::of(&resolved.scenario),
            scenario: resolved.scenario.clone(),
            registry: resolved.registry.clone(),
            models: resolved.models.clone(),
            python,
            run_dir,
            client: crate::load::client::build_client(),
            journal,
            cancel,
            total_configs: resolved.plan.servers.len(),
            secrets,
            lifetime,
        }
    }

    pub fn commands(&self) -> Commands<'_> {
        Commands {
            scenario: &self.scenario,
            registry: &self.registry,
            models: &self.models,
            python: self.python.clone(),
            run_dir: self.run_dir.clone(),
            run_tag: run_tag(&self.run_dir),
        }
    }

    pub fn def(&self, cfg: &ServerConfig) -> Result<&BackendDef, ServerError> {
        self.registry
            .get(&cfg.backend)
            .ok_or_else(|| ServerError::Setup(format!("unknown backend `{}`", cfg.backend)))
    }
}

/// The tag of the run in `run_dir` on other hosts (`MLXRUN_TAG`): its
/// folder's name and this process, so two runs never share one.
pub fn run_tag(run_dir: &Path) -> String {
    let name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    format!("{name}-{}", std::process::id())
}

/// Where one instance answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `instance-<i>`.
    pub name: String,
    /// `http://host:port` (no trailing slash, no `/v1`).
    pub base_url: String,
    /// `host:port`, as nginx and its access log name it.
    pub address: String,
    pub host: String,
    pub port: u16,
}

/// Name (and log file stem) of instance `i`.
pub fn instance_name(i: u32) -> String {
    format!("instance-{i}")
}

/// The endpoint of an external URL.
pub fn external_endpoint(i: u32, url: &str) -> Result<Endpoint, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("'{url}': {e}"))?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut base = url.trim_end_matches('/').to_string();
    if let Some(stripped) = base.strip_suffix("/v1") {
        base = stripped.to_string();
    }
    Ok(Endpoint {
        name: instance_name(i),
        address: host_port(&host, port),
        base_url: base,
        host,
        port,
    })
}

/// The endpoints of `cfg`'s instances.
pub fn endpoints(
    settings: &ServerSettings,
    def: &BackendDef,
    cfg: &ServerConfig,
) -> Result<Vec<Endpoint>, String> {
    (0..cfg.instances)
        .map(|i| {
            if def.launches() {
                let port = settings.instance_port(i);
                let host = settings.instance_address(cfg, i).to_string();
                let address = host_port(&host, port);
                Ok(Endpoint {
                    name: instance_name(i),
                    base_url: format!("http://{address}"),
                    address,
                    host,
                    port,
                })
            } else {
                let url = def.urls.get(i as usize).ok_or_else(|| {
                    format!("backend `{}` has no URL for instance {i}", cfg.backend)
                })?;
                external_endpoint(i, url)
            }
        })
        .collect()
}

/// The commands a configuration runs, as `(name, argv)`; for `plan`.
pub fn commands(
    ctx: &StartContext,
    cfg: &ServerConfig,
) -> Result<Vec<(String, Vec<String>)>, String> {
    let settings = &ctx.settings;
    let def = ctx.def(cfg).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if def.launches() {
        for i in 0..cfg.instances {
            let argv = ctx
                .commands()
                .instance_argv(cfg, i, settings.instance_port(i))?;
            out.push((instance_name(i), argv));
        }
    }
    if cfg.uses_nginx() {
        out.push((
            "nginx".into(),
            nginx::command(&settings.router.nginx_bin, &nginx_prefix(&ctx.run_dir)),
        ));
    }
    Ok(out)
}

/// nginx's prefix folder in a run.
pub fn nginx_prefix(run_dir: &Path) -> PathBuf {
    run_dir.join("nginx")
}

/// The nginx config for `cfg` with nginx's prefix folder `prefix`, rendered.
pub fn nginx_config(
    settings: &ServerSettings,
    prefix: &Path,
    cfg: &ServerConfig,
    endpoints: &[Endpoint],
) -> Result<String, String> {
    let upstreams = endpoints
        .iter()
        .map(|e| Upstream {
            host: e.host.clone(),
            port: e.port,
        })
        .collect();
    let method = cfg.balancing();
    let ctx = NginxContext::new(&settings.router, prefix, upstreams, method);
    let (name, template) = nginx::template_source(&settings.router)?;
    nginx::render(&name, &template, &ctx)
}

/// How readiness of `cfg`'s instances is checked.
pub fn ready_probe(ctx: &StartContext, cfg: &ServerConfig) -> Result<Probe, ServerError> {
    let def = ctx.def(cfg)?;
    let headers = auth_headers(ctx.secrets.key(&cfg.backend));
    Ok(match def.ready {
        Ready::Health => Probe::Health {
            path: def.health_path.clone(),
            headers,
        },
        Ready::Completion => {
            let model = ctx
                .commands()
                .request_model(cfg)
                .map_err(ServerError::Setup)?;
            // a 1-token request, or a 1-second clip to a transcribing
            // backend, made as every other request is
            let media = if def.api == Api::Transcriptions {
                PointMedia::Audio(vec![crate::media::audio::synthetic_clip(1.0, 0)])
            } else {
                PointMedia::None
            };
            let requests = request::build(&RequestShape {
                backend: &cfg.backend,
                api: def.api,
                model: model.as_deref(),
                prompts: &[Prompt::user("ping".into(), None)],
                max_tokens: 1,
                sampling: Sampling::GREEDY,
                stream: false,
                media: &media,
                audio_language: "en",
                audio_response_format: "json",
            })
            .map_err(ServerError::Setup)?;
            let content_type = requests.content_type();
            let body = requests.bodies.into_iter().next().unwrap_or_default();
            Probe::Completion {
                path: def.api.path().to_string(),
                body,
                content_type,
                headers,
            }
        }
    })
}

/// One instance: its process (none for an external endpoint), where it
/// answers, and its ranks under mlx.launch.
#[derive(Debug)]
struct Instance {
    proc: Option<ManagedProcess>,
    endpoint: Endpoint,
    ranks: Vec<RankProcess>,
    /// Whether it listens on another host (no local port check).
    remote: bool,
}

/// Running servers of one configuration.
#[derive(Debug)]
pub struct ServerSet {
    cfg: ServerConfig,
    instances: Vec<Instance>,
    nginx: Option<(ManagedProcess, u16)>,
    /// Base URLs requests go to: nginx, the single instance, or every
    /// instance (client router).
    pub targets: Vec<String>,
    grace: Duration,
    journal: Journal,
    router_host: String,
    /// Other hosts the set started processes on, swept for leftovers
    /// (processes tagged `tag_prefix…`) after every stop.
    hosts: Vec<Host>,
    tag_prefix: String,
    ssh: crate::remote::ssh::Ssh,
    /// Seconds from the first spawn until everything answered.
    pub ready_secs: f64,
}

/// The other hosts `cfg`'s processes run on: its rank hosts (or the
/// user's hostfile's), else the hosts its instances are placed on.
pub fn hosts_used(ctx: &StartContext, cfg: &ServerConfig) -> Vec<Host> {
    let cmds = ctx.commands();
    let mut out: Vec<Host> = Vec::new();
    let candidates: Vec<Host> = if !cfg.hosts.is_empty() {
        cmds.rank_hosts(cfg)
    } else {
        (0..cfg.instances)
            .filter_map(|i| ctx.settings.instance_host(cfg, i).cloned())
            .collect()
    };
    for h in candidates {
        if !crate::remote::host::is_local_name(&h.address) && !out.iter().any(|o| o.name == h.name)
        {
            out.push(h);
        }
    }
    out
}

impl ServerSet {
    /// Start every instance of `cfg` (and its front), wait for all to be
    /// ready. On failure everything started is stopped again.
    pub async fn start(ctx: &StartContext, cfg: &ServerConfig) -> Result<ServerSet, ServerError> {
        let settings = &ctx.settings;
        let def = ctx.def(cfg)?.clone();
        let started = tokio::time::Instant::now();
        let eps = endpoints(settings, &def, cfg).map_err(ServerError::Setup)?;
        let mut set = ServerSet {
            cfg: cfg.clone(),
            instances: Vec::new(),
            nginx: None,
            targets: Vec::new(),
            grace: settings.stop_grace,
            journal: ctx.journal.clone(),
            router_host: settings.router.host.clone(),
            hosts: hosts_used(ctx, cfg),
            tag_prefix: format!("{}/c{}/", ctx.commands().run_tag, cfg.index + 1),
            ssh: settings.ssh.clone(),
            ready_secs: 0.0,
        };
        let launcher = ctx.commands().uses_launcher(cfg);
        if launcher
            && !cfg.hosts.is_empty()
            && ctx.scenario.launcher.hostfile.trim().is_empty()
            && let Err(e) = write_hostfile(ctx, cfg)
        {
            return Err(e);
        }
        let logs = ctx.run_dir.join("logs");
        for (i, ep) in eps.into_iter().enumerate() {
            let i = i as u32;
            let proc = if def.launches() {
                let argv = ctx
                    .commands()
                    .instance_argv(cfg, i, ep.port)
                    .map_err(ServerError::Setup);
                let argv = match argv {
                    Ok(a) => a,
                    Err(e) => {
                        set.stop().await;
                        return Err(e);
                    }
                };
                let log = logs.join(format!("{}.log", ep.name));
                let env: Vec<(String, String)> = def
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let remote = !launcher && settings.instance_host(cfg, i).is_some();
                match spawn_logged(ctx, cfg, &ep.name, &argv, &log, &env, remote).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        set.stop().await;
                        return Err(e);
                    }
                }
            } else {
                None
            };
            set.instances.push(Instance {
                proc,
                remote: settings.instance_host(cfg, i).is_some(),
                endpoint: ep,
                ranks: Vec::new(),
            });
        }
        let probe = match ready_probe(ctx, cfg) {
            Ok(p) => p,
            Err(e) => {
                set.stop().await;
                return Err(e);
            }
        };
        let timeout = settings.ready_timeout;
        let hint = if def.launches() {
            "see the log above; raise backend.ready_timeout_s (MLX_READY_TIMEOUT) if the model is still loading"
        } else {
            "check the URL and that the endpoint is running; an API key comes from the variable named by api_key_env"
        };
        let client = ctx.client.clone();
        let results = join_all(set.instances.iter_mut().map(|inst| {
            wait_ready(
                &client,
                inst.proc.as_mut(),
                &inst.endpoint.name,
                &inst.endpoint.base_url,
                &probe,
                timeout,
                &ctx.cancel,
                hint,
            )
        }))
        .await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            set.stop().await;
            return Err(err);
        }
        if ctx.commands().uses_launcher(cfg) {
            let mut unrecorded = None;
            for inst in &mut set.instances {
                if let Some(p) = &inst.proc {
                    inst.ranks = ranks::find_ranks(p.command_pid());
                    for r in &inst.ranks {
                        if let Err(e) = ctx.journal.rank(&inst.endpoint.name, r.pid, r.pgid, r.rank)
                        {
                            unrecorded.get_or_insert(e);
                        }
                    }
                }
            }
            if let Some(e) = unrecorded {
                set.stop().await;
                return Err(e.into());
            }
        }
        if let Err(e) = set.start_front(ctx, cfg).await {
            set.stop().await;
            return Err(e);
        }
        set.ready_secs = started.elapsed().as_secs_f64();
        Ok(set)
    }

    /// The configuration the set runs now.
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// Replace the front (router) for `cfg`, which runs the same instances.
    pub async fn switch_front(
        &mut self,
        ctx: &StartContext,
        cfg: &ServerConfig,
    ) -> Result<(), ServerError> {
        self.stop_nginx().await;
        self.cfg = cfg.clone();
        self.start_front(ctx, cfg).await
    }

    async fn start_front(
        &mut self,
        ctx: &StartContext,
        cfg: &ServerConfig,
    ) -> Result<(), ServerError> {
        self.targets = match cfg.router {
            RouterKind::Client => self
                .instances
                .iter()
                .map(|i| i.endpoint.base_url.clone())
                .collect(),
            RouterKind::None => self
                .instances
                .first()
                .map(|i| vec![i.endpoint.base_url.clone()])
                .unwrap_or_default(),
            RouterKind::Nginx => Vec::new(),
        };
        if cfg.uses_nginx() {
            self.start_nginx(ctx, cfg).await?;
        }
        Ok(())
    }

    async fn start_nginx(
        &mut self,
        ctx: &StartContext,
        cfg: &ServerConfig,
    ) -> Result<(), ServerError> {
        let settings = &ctx.settings;
        let bin = nginx::find_binary(&settings.router.nginx_bin).map_err(ServerError::Setup)?;
        let prefix = std::path::absolute(nginx_prefix(&ctx.run_dir))
            .unwrap_or_else(|_| nginx_prefix(&ctx.run_dir));
        let eps: Vec<Endpoint> = self.instances.iter().map(|i| i.endpoint.clone()).collect();
        let conf = nginx_config(settings, &prefix, cfg, &eps).map_err(ServerError::Setup)?;
        nginx::prepare_prefix(&prefix, &conf).map_err(|e| {
            ServerError::Setup(format!(
                "cannot write nginx config in {}: {e}",
                prefix.display()
            ))
        })?;
        let argv = nginx::command(&bin.display().to_string(), &prefix);
        let log = ctx.run_dir.join("logs/nginx.log");
        let mut p = spawn_logged(ctx, cfg, "nginx", &argv, &log, &[], false).await?;
        let port = settings.router.port;
        let base = format!("http://{}", host_port(&settings.router.host, port));
        let probe = ready_probe(ctx, cfg)?;
        let result = wait_ready(
            &ctx.client,
            Some(&mut p),
            "nginx",
            &base,
            &probe,
            settings.router_ready_timeout,
            &ctx.cancel,
            "check nginx's error.log in the run's nginx/ folder; raise router.ready_timeout_s",
        )
        .await;
        self.nginx = Some((p, port));
        result?;
        self.targets = vec![base];
        Ok(())
    }

    /// nginx's access log, when nginx is in front.
    pub fn access_log(&self, run_dir: &Path) -> Option<PathBuf> {
        self.nginx.as_ref().map(|_| {
            std::path::absolute(nginx_prefix(run_dir))
                .unwrap_or_else(|_| nginx_prefix(run_dir))
                .join("access.log")
        })
    }

    /// `host:port` (or URL) of every instance, in order.
    pub fn addresses(&self) -> Vec<String> {
        self.instances
            .iter()
            .map(|i| i.endpoint.address.clone())
            .collect()
    }

    /// Send the backend's cache-reset requests to every instance; the
    /// failures, as text.
    pub async fn reset_caches(&self, ctx: &StartContext) -> Vec<String> {
        let Ok(def) = ctx.def(&self.cfg) else {
            return Vec::new();
        };
        let headers = auth_headers(ctx.secrets.key(&self.cfg.backend));
        let mut failures = Vec::new();
        for line in &def.cache_reset {
            let Ok((method, path)) = parse_request_line(line) else {
                continue;
            };
            for inst in &self.instances {
                let url = format!("{}{path}", inst.endpoint.base_url);
                let r = ctx
                    .client
                    .request(method.clone(), &url)
                    .headers(headers.clone())
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status().is_success() => {}
                    Ok(resp) => failures.push(format!(
                        "{line} on {}: HTTP {}",
                        inst.endpoint.name,
                        resp.status().as_u16()
                    )),
                    Err(e) => failures.push(format!("{line} on {}: {e}", inst.endpoint.name)),
                }
            }
        }
        failures
    }

    /// Every instance's Prometheus metrics (`metrics_path` of the backend),
    /// by instance name; an instance that did not answer maps to its error.
    /// Empty when the backend has no metrics endpoint.
    pub async fn scrape_metrics(
        &self,
        ctx: &StartContext,
    ) -> BTreeMap<String, Result<prometheus::Snapshot, String>> {
        let mut out = BTreeMap::new();
        let Ok(def) = ctx.def(&self.cfg) else {
            return out;
        };
        if def.metrics_path.is_empty() {
            return out;
        }
        for inst in &self.instances {
            let url = format!("{}{}", inst.endpoint.base_url, def.metrics_path);
            // a pooled keep-alive connection the server just closed fails
            // once ("connection closed before message completed"): retry
            let mut snap = Err(String::new());
            for attempt in 0..3 {
                snap = prometheus::scrape(&ctx.client, &url, Duration::from_secs(5)).await;
                if snap.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
            }
            out.insert(inst.endpoint.name.clone(), snap);
        }
        out
    }

    /// `(name, pid)` of every process of the set (ranks included).
    pub fn pids(&self) -> Vec<(String, i32)> {
        let mut v = Vec::new();
        for i in &self.instances {
            if let Some(p) = &i.proc {
                v.push((p.name().to_string(), p.command_pid()));
            }
            for r in &i.ranks {
                v.push((
                    format!("{}.rank-{}", i.endpoint.name, r.rank.unwrap_or(0)),
                    r.pid,
                ));
            }
        }
        if let Some((p, _)) = &self.nginx {
            v.push((p.name().to_string(), p.command_pid()));
        }
        v
    }

    /// `(name, pid)` of the root of each process tree of the set: every
    /// instance (its ranks are its descendants) and nginx.
    pub fn roots(&self) -> Vec<(String, i32)> {
        let mut v: Vec<(String, i32)> = self
            .instances
            .iter()
            .filter_map(|i| {
                i.proc
                    .as_ref()
                    .map(|p| (p.name().to_string(), p.command_pid()))
            })
            .collect();
        if let Some((p, _)) = &self.nginx {
            v.push((p.name().to_string(), p.command_pid()));
        }
        v
    }

    /// The process group of every instance and nginx.
    pub fn groups(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .instances
            .iter()
            .filter_map(|i| i.proc.as_ref().map(|p| p.pgid()))
            .collect();
        if let Some((p, _)) = &self.nginx {
            v.push(p.pgid());
        }
        v
    }

    /// Names of processes that have exited (a crashed server or rank).
    pub fn exited(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for i in &mut self.instances {
            if let Some(p) = i.proc.as_mut()
                && let Some(st) = p.exited()
            {
                out.push(format!("{} ({st})", p.name()));
            }
            for r in &i.ranks {
                if !ranks::alive(r) {
                    out.push(format!(
                        "{} rank {} (pid {})",
                        i.endpoint.name,
                        r.rank.unwrap_or(0),
                        r.pid
                    ));
                }
            }
        }
        if let Some((p, _)) = self.nginx.as_mut()
            && let Some(st) = p.exited()
        {
            out.push(format!("nginx ({st})"));
        }
        out
    }

    async fn stop_nginx(&mut self) {
        if let Some((mut p, port)) = self.nginx.take() {
            p.stop(Duration::from_secs(5)).await;
            // a stop that cannot be recorded is kept by the journal and
            // reported when the run ends; stopping goes on
            let _ = self.journal.stopped(p.name(), p.command_pid(), p.pgid());
            ports::wait_free(&self.router_host, port, Duration::from_secs(10)).await;
        }
    }

    /// Let the processes run on without this handle (detached ones outlive
    /// mlxrun); returns the endpoints of the instances and nginx's port.
    pub fn release(mut self) -> (Vec<Endpoint>, Option<u16>) {
        let nginx = self.nginx.take().map(|(p, port)| {
            p.release();
            port
        });
        let eps = std::mem::take(&mut self.instances)
            .into_iter()
            .map(|i| {
                if let Some(p) = i.proc {
                    p.release();
                }
                i.endpoint
            })
            .collect();
        (eps, nginx)
    }

    /// Stop nginx first, then every instance (in parallel) with its ranks,
    /// and wait until their ports are free again.
    pub async fn stop(&mut self) {
        self.stop_nginx().await;
        let grace = self.grace;
        let mut instances = std::mem::take(&mut self.instances);
        join_all(
            instances
                .iter_mut()
                .filter_map(|i| i.proc.as_mut())
                .map(|p| p.stop(grace)),
        )
        .await;
        for inst in &instances {
            let Some(p) = &inst.proc else { continue };
            // kept by the journal when it fails (Journal::unrecorded)
            let _ = self.journal.stopped(p.name(), p.command_pid(), p.pgid());
            for r in &inst.ranks {
                if ranks::kill_leftover(r) {
                    eprintln!(
                        "warning: {} rank {} (pid {}) left its process group; killed it by PID",
                        inst.endpoint.name,
                        r.rank.unwrap_or(0),
                        r.pid
                    );
                }
            }
            if !inst.remote {
                ports::wait_free(
                    &inst.endpoint.host,
                    inst.endpoint.port,
                    Duration::from_secs(10),
                )
                .await;
            }
        }
        for host in std::mem::take(&mut self.hosts) {
            match remote_procs::sweep(&self.ssh, &host, &self.tag_prefix, grace).await {
                Ok(s) if s.left > 0 => eprintln!(
                    "warning: {} process(es) of this configuration are still running on host {} after a kill; stop them by hand (MLXRUN_TAG={}…)",
                    s.left, host.name, self.tag_prefix
                ),
                Ok(s) if s.found > 0 => eprintln!(
                    "warning: {} process(es) of this configuration outlived their stop on host {}; stopped them",
                    s.found, host.name
                ),
                Ok(_) => {}
                Err(e) => eprintln!(
                    "warning: cannot check host {} for leftovers: {e}",
                    host.name
                ),
            }
        }
    }
}

/// Write `cfg`'s mlx.launch hostfile into the run folder (its rank hosts,
/// each `ranks` times).
fn write_hostfile(ctx: &StartContext, cfg: &ServerConfig) -> Result<(), ServerError> {
    let cmds = ctx.commands();
    let backend = if cfg.launcher_backend.is_empty() {
        ctx.scenario.launcher.backend.clone()
    } else {
        cfg.launcher_backend.clone()
    };
    let json = crate::server::command::hostfile_json(&cmds.rank_hosts(cfg), cfg.ranks, &backend);
    let path = crate::server::command::hostfile_path(&ctx.run_dir, cfg.index);
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&path, text + "\n").map_err(|e| {
        ServerError::Setup(format!("cannot write the hostfile {}: {e}", path.display()))
    })
}

/// Mark the log with the configuration and command, spawn, and journal
/// it; a start the journal cannot record is stopped again and is an error.
async fn spawn_logged(
    ctx: &StartContext,
    cfg: &ServerConfig,
    name: &str,
    argv: &[String],
    log: &Path,
    env: &[(String, String)],
    remote: bool,
) -> Result<ManagedProcess, ServerError> {
    let line = format!(
        "server configuration {}/{}: {}",
        cfg.index + 1,
        ctx.total_configs,
        argv.join(" ")
    );
    mark_log(log, &line);
    let grace = ctx.settings.stop_grace;
    let spawned = if remote {
        ManagedProcess::spawn_holding_stdin(name, argv, log, None, env, grace)
    } else {
        ManagedProcess::spawn_with(name, argv, log, env, ctx.lifetime, grace)
    };
    let p = spawned.map_err(|source| ServerError::Spawn {
        name: name.to_string(),
        source,
    })?;
    let Err(e) = ctx
        .journal
        .started(name, p.command_pid(), p.pgid(), argv, log)
    else {
        return Ok(p);
    };
    let mut p = p;
    p.stop(grace).await;
    Err(e.into())
}

fn mark_log(path: &Path, line: &str) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let ts = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        let _ = writeln!(f, "# mlxrun {ts}: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs `/dev/full`, a file every write to fails (Linux).
    #[cfg(target_os = "linux")]
    mod journal_failure {
        use super::*;
        use std::sync::Arc;

        /// A scenario whose backend launches `sleep 30` (nothing ever answers).
        fn sleeper(root: &Path) -> crate::scenario::Resolved {
            let text = r#"
name = "t"
[model]
path = "stub"
[backend]
kind = "sleeper"
base_port = 29700
ready_timeout_s = 5
stop_grace_s = 1
[backends.sleeper]
launch = ["sleep", "30"]
model_kind = "name"
ready = "health"
"#;
            let dirs = crate::scenario::model_path::SearchDirs {
                home: None,
                cwd: root.to_path_buf(),
                hf_cache: None,
            };
            crate::scenario::load_str(
                Path::new("scenarios/t.toml"),
                text,
                &Default::default(),
                &dirs,
            )
            .unwrap()
        }

        #[tokio::test]
        async fn a_start_the_journal_cannot_record_is_stopped_again_and_is_an_error() {
            let t = tempfile::tempdir().unwrap();
            let resolved = sleeper(t.path());
            // the observer sees each event before it is written: the pid of
            // what was started
            let seen: Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Arc::default();
            let sink = seen.clone();
            let journal = Journal::open(Path::new("/dev/full"))
                .unwrap()
                .with_observer(Arc::new(move |v| {
                    sink.lock().unwrap().push(v.clone());
                    Ok(())
                }));
            let ctx = StartContext::new(
                &resolved,
                "python3".into(),
                Secrets::default(),
                t.path().to_path_buf(),
                journal.clone(),
                CancellationToken::new(),
                Lifetime::Detached,
            );
            let cfg = &resolved.plan.servers[0];
            let e = ServerSet::start(&ctx, cfg).await.unwrap_err();
            assert!(matches!(e, ServerError::Journal(_)), "{e}");
            let msg = e.to_string();
            assert!(
                msg.contains("cannot write /dev/full") && msg.contains("start event of instance-0"),
                "{msg}"
            );
            let events = seen.lock().unwrap().clone();
            assert_eq!(events[0]["event"], "start");
            let pgid = events[0]["pgid"].as_i64().unwrap() as i32;
            // SAFETY: an existence check of the group the test's set started.
            assert_ne!(unsafe { libc::kill(-pgid, 0) }, 0, "sleep was left running");
            assert_eq!(journal.unrecorded().unwrap().event, "start");
        }
    }

    #[test]
    fn external_urls_become_endpoints() {
        let e = external_endpoint(1, "http://10.0.0.5:8080/v1/").unwrap();
        assert_eq!(e.base_url, "http://10.0.0.5:8080");
        assert_eq!(e.address, "10.0.0.5:8080");
        assert_eq!(e.name, "instance-1");
        let e = external_endpoint(0, "https://api.example.com").unwrap();
        assert_eq!(
            (e.port, e.base_url.as_str()),
            (443, "https://api.example.com")
        );
    }
}
