//! A server set: the instances of one server configuration (started
//! concurrently, each on `base_port + i`) and, when there is more than one,
//! nginx in front of them. Started as a unit, stopped as a unit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::journal::Journal;
use super::nginx::{self, NginxContext, Upstream};
use super::process::ManagedProcess;
use super::readiness::{host_port, wait_ready};
use super::{ServerError, mlx_lm, ports};
use crate::scenario::Scenario;
use crate::scenario::expand::ServerConfig;
use crate::scenario::model::RouterKind;

/// What every start needs.
#[derive(Debug, Clone)]
pub struct StartContext {
    pub scenario: Scenario,
    pub python: String,
    /// The `--model` argument.
    pub model: String,
    pub run_dir: PathBuf,
    pub client: reqwest::Client,
    pub journal: Journal,
    pub cancel: CancellationToken,
    /// Number of server configurations in the run (for log markers).
    pub total_configs: usize,
}

/// Whether points of `cfg` go through nginx.
pub fn uses_nginx(s: &Scenario, cfg: &ServerConfig) -> bool {
    cfg.instances > 1 && s.router.kind == RouterKind::Nginx
}

/// The commands a configuration runs, as `(name, argv)`; for `plan`.
pub fn commands(ctx: &StartContext, cfg: &ServerConfig) -> Vec<(String, Vec<String>)> {
    let s = &ctx.scenario;
    let mut out: Vec<(String, Vec<String>)> = (0..cfg.instances)
        .map(|i| {
            let port = instance_port(s, i);
            (
                instance_name(i),
                mlx_lm::instance_argv(s, &ctx.python, &ctx.model, cfg, port),
            )
        })
        .collect();
    if uses_nginx(s, cfg) {
        out.push((
            "nginx".into(),
            nginx::command(&s.router.nginx_bin, &nginx_prefix(&ctx.run_dir)),
        ));
    }
    out
}

/// Port of instance `i`.
pub fn instance_port(s: &Scenario, i: u32) -> u16 {
    (u32::from(s.backend.base_port) + i) as u16
}

/// Name (and log file stem) of instance `i`.
pub fn instance_name(i: u32) -> String {
    format!("instance-{i}")
}

/// nginx's prefix folder in a run.
pub fn nginx_prefix(run_dir: &Path) -> PathBuf {
    run_dir.join("nginx")
}

/// The nginx config for `cfg` with nginx's prefix folder `prefix`, rendered.
pub fn nginx_config(s: &Scenario, prefix: &Path, cfg: &ServerConfig) -> Result<String, String> {
    let upstreams = (0..cfg.instances)
        .map(|i| Upstream {
            host: s.backend.host.clone(),
            port: instance_port(s, i),
        })
        .collect();
    let ctx = NginxContext::new(&s.router, prefix, upstreams);
    let (name, template) = nginx::template_source(&s.router)?;
    nginx::render(&name, &template, &ctx)
}

/// Running servers of one configuration.
#[derive(Debug)]
pub struct ServerSet {
    instances: Vec<(ManagedProcess, u16)>,
    nginx: Option<(ManagedProcess, u16)>,
    /// Where the client sends requests: nginx, or the single instance.
    pub base_url: String,
    host: String,
    grace: Duration,
    journal: Journal,
    /// Seconds from the first spawn until everything answered.
    pub ready_secs: f64,
}

impl ServerSet {
    /// Start every instance of `cfg` (and nginx when needed), wait for all
    /// to be ready. On failure everything started is stopped again.
    pub async fn start(ctx: &StartContext, cfg: &ServerConfig) -> Result<ServerSet, ServerError> {
        let s = &ctx.scenario;
        let started = tokio::time::Instant::now();
        let mut set = ServerSet {
            instances: Vec::new(),
            nginx: None,
            base_url: String::new(),
            host: s.backend.host.clone(),
            grace: Duration::from_secs_f64(s.backend.stop_grace_s),
            journal: ctx.journal.clone(),
            ready_secs: 0.0,
        };
        let logs = ctx.run_dir.join("logs");
        for i in 0..cfg.instances {
            let port = instance_port(s, i);
            let name = instance_name(i);
            let argv = mlx_lm::instance_argv(s, &ctx.python, &ctx.model, cfg, port);
            let log = logs.join(format!("{name}.log"));
            let env = [("PYTHONUNBUFFERED".to_string(), "1".to_string())];
            match spawn_logged(ctx, cfg, &name, &argv, &log, &env) {
                Ok(p) => set.instances.push((p, port)),
                Err(e) => {
                    set.stop().await;
                    return Err(e);
                }
            }
        }
        let timeout = Duration::from_secs_f64(s.backend.ready_timeout_s);
        let hint = "see the log above; raise backend.ready_timeout_s (MLX_READY_TIMEOUT) if the model is still loading";
        let host = s.backend.host.clone();
        let results =
            join_all(set.instances.iter_mut().map(|(p, port)| {
                wait_ready(&ctx.client, p, &host, *port, timeout, &ctx.cancel, hint)
            }))
            .await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            set.stop().await;
            return Err(err);
        }

        if uses_nginx(s, cfg) {
            if let Err(e) = set.start_nginx(ctx, cfg).await {
                set.stop().await;
                return Err(e);
            }
        } else {
            let port = set
                .instances
                .first()
                .map(|(_, p)| *p)
                .unwrap_or(s.backend.base_port);
            set.base_url = format!("http://{}", host_port(&s.backend.host, port));
        }
        set.ready_secs = started.elapsed().as_secs_f64();
        Ok(set)
    }

    async fn start_nginx(
        &mut self,
        ctx: &StartContext,
        cfg: &ServerConfig,
    ) -> Result<(), ServerError> {
        let s = &ctx.scenario;
        let bin = nginx::find_binary(&s.router.nginx_bin).map_err(ServerError::Setup)?;
        let prefix = std::path::absolute(nginx_prefix(&ctx.run_dir))
            .unwrap_or_else(|_| nginx_prefix(&ctx.run_dir));
        let conf = nginx_config(s, &prefix, cfg).map_err(ServerError::Setup)?;
        nginx::prepare_prefix(&prefix, &conf).map_err(|e| {
            ServerError::Setup(format!(
                "cannot write nginx config in {}: {e}",
                prefix.display()
            ))
        })?;
        let argv = nginx::command(&bin.display().to_string(), &prefix);
        let log = ctx.run_dir.join("logs/nginx.log");
        let mut p = spawn_logged(ctx, cfg, "nginx", &argv, &log, &[])?;
        let port = s.router.port;
        let result = wait_ready(
            &ctx.client,
            &mut p,
            &s.router.host,
            port,
            Duration::from_secs_f64(s.router.ready_timeout_s),
            &ctx.cancel,
            "check nginx's error.log in the run's nginx/ folder; raise router.ready_timeout_s",
        )
        .await;
        self.nginx = Some((p, port));
        result?;
        self.base_url = format!("http://{}", host_port(&s.router.host, port));
        Ok(())
    }

    /// `(name, pid)` of every process of the set.
    pub fn pids(&self) -> Vec<(String, i32)> {
        self.instances
            .iter()
            .chain(self.nginx.iter())
            .map(|(p, _)| (p.name().to_string(), p.pid()))
            .collect()
    }

    /// Names of processes that have exited (a crashed server).
    pub fn exited(&mut self) -> Vec<String> {
        self.instances
            .iter_mut()
            .chain(self.nginx.iter_mut())
            .filter_map(|(p, _)| p.exited().map(|st| format!("{} ({st})", p.name())))
            .collect()
    }

    /// Stop nginx first, then every instance (in parallel), and wait until
    /// their ports are free again.
    pub async fn stop(&mut self) {
        if let Some((mut p, port)) = self.nginx.take() {
            p.stop(Duration::from_secs(5)).await;
            self.journal.stopped(p.name(), p.pid());
            ports::wait_free(&self.host, port, Duration::from_secs(10)).await;
        }
        let grace = self.grace;
        let mut instances = std::mem::take(&mut self.instances);
        join_all(instances.iter_mut().map(|(p, _)| p.stop(grace))).await;
        for (p, port) in &instances {
            self.journal.stopped(p.name(), p.pid());
            ports::wait_free(&self.host, *port, Duration::from_secs(10)).await;
        }
    }
}

/// Mark the log with the configuration and command, spawn, and journal it.
fn spawn_logged(
    ctx: &StartContext,
    cfg: &ServerConfig,
    name: &str,
    argv: &[String],
    log: &Path,
    env: &[(String, String)],
) -> Result<ManagedProcess, ServerError> {
    let line = format!(
        "server configuration {}/{}: {}",
        cfg.index + 1,
        ctx.total_configs,
        argv.join(" ")
    );
    mark_log(log, &line);
    let p = ManagedProcess::spawn(name, argv, log, env).map_err(|source| ServerError::Spawn {
        name: name.to_string(),
        source,
    })?;
    ctx.journal.started(name, p.pid(), argv, log);
    Ok(p)
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
