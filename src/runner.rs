//! A run from start to end: check the machine (backend, flags, nginx,
//! ports, results folder) before anything starts, then for each server
//! configuration start the servers, warm up, measure each of its points,
//! write each row as it ends, and stop the servers, on every path.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::error::SetupError;
use crate::load::client::{RequestSpec, build_client, chat_body};
use crate::load::driver::run_closed_loop;
use crate::load::metrics::summarize;
use crate::output::csv_sink::CsvSink;
use crate::output::progress::Progress;
use crate::output::report::ReportSink;
use crate::output::row::{PointRow, Status};
use crate::scenario::Resolved;
use crate::scenario::expand::{Plan, ServerConfig, expand};
use crate::scenario::model_path::expand_tilde;
use crate::server::journal::Journal;
use crate::server::set::{ServerSet, StartContext, instance_port, uses_nginx};
use crate::server::{ServerError, mlx_lm, nginx, ports};

/// Options that are not part of the scenario.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Plain progress lines even on a terminal.
    pub plain_progress: bool,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub csv: PathBuf,
    pub run_dir: PathBuf,
    pub points_done: usize,
    pub points_failed: usize,
    pub interrupted: bool,
}

/// Paths of one run's outputs.
#[derive(Debug, Clone)]
pub struct RunPaths {
    pub csv: PathBuf,
    pub scenario_copy: PathBuf,
    pub run_dir: PathBuf,
}

impl RunPaths {
    /// `<dir>/<name>/<stem>_<YYYYmmdd_HHMMSS>.csv` and friends.
    pub fn new(resolved: &Resolved) -> RunPaths {
        let s = &resolved.scenario;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let base = expand_tilde(&s.output.dir, home.as_deref()).join(&s.name);
        let stem = if s.output.stem.trim().is_empty() {
            s.name.clone()
        } else {
            s.output.stem.clone()
        };
        let ts = chrono::Local::now().format("%Y%m%d_%H%M%S");
        let mut n = 0;
        loop {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("_{n}")
            };
            let name = format!("{stem}_{ts}{suffix}");
            let csv = base.join(format!("{name}.csv"));
            if !csv.exists() {
                return RunPaths {
                    scenario_copy: base.join(format!("{name}.scenario.toml")),
                    run_dir: base.join(&name),
                    csv,
                };
            }
            n += 1;
        }
    }
}

/// Everything checked before a run: the plan, the backend and its flags.
pub struct Preflight {
    pub plan: Plan,
    pub backend: mlx_lm::BackendInfo,
}

/// Check the machine for `resolved`; nothing is started.
pub async fn preflight(resolved: &Resolved) -> anyhow::Result<Preflight> {
    let s = &resolved.scenario;
    let model = resolved.model.server_arg();
    let plan = expand(s, &model).map_err(|e| SetupError(format!("matrix.filter: {e}")))?;
    let python = mlx_lm::python_for(s);
    let backend = mlx_lm::probe(&python).await.map_err(SetupError)?;
    if s.backend.check_flags {
        let mut bad = Vec::new();
        for cfg in &plan.servers {
            let argv = mlx_lm::instance_argv(s, &python, &model, cfg, s.backend.base_port);
            for f in mlx_lm::unsupported_flags(&backend, &argv) {
                if !bad.contains(&f) {
                    bad.push(f);
                }
            }
        }
        if !bad.is_empty() {
            return Err(SetupError(format!(
                "the installed mlx_lm.server (mlx-lm {}) does not accept {}; a sweep would record values that never reach the server\n  next: upgrade mlx-lm (--decode-concurrency and --prompt-concurrency need 0.30.6 or later), or remove those axes/args (backend.check_flags = false skips this check)",
                backend.mlx_lm_version,
                bad.join(", ")
            ))
            .into());
        }
    }
    let needs_nginx = plan.servers.iter().any(|c| uses_nginx(s, c));
    if needs_nginx {
        nginx::find_binary(&s.router.nginx_bin).map_err(SetupError)?;
    }
    let max_instances = plan.servers.iter().map(|c| c.instances).max().unwrap_or(1);
    let mut wanted: Vec<(String, u16, String)> = (0..max_instances)
        .map(|i| {
            (
                s.backend.host.clone(),
                instance_port(s, i),
                format!("instance {i}"),
            )
        })
        .collect();
    if needs_nginx {
        wanted.push((s.router.host.clone(), s.router.port, "nginx".into()));
    }
    let taken = ports::taken(&wanted);
    if !taken.is_empty() {
        let list: Vec<String> = taken
            .iter()
            .map(|(p, who)| format!("{p} ({who})"))
            .collect();
        return Err(SetupError(format!(
            "port(s) already in use: {}\n  next: stop what listens there, or move backend.base_port (MLX_SERVER_BASE_PORT) / router.port (MLX_NGINX_PORT)",
            list.join(", ")
        ))
        .into());
    }
    Ok(Preflight { plan, backend })
}

/// Run `resolved` until done or `cancel` fires.
pub async fn run(
    resolved: &Resolved,
    cancel: CancellationToken,
    opts: &RunOptions,
) -> anyhow::Result<RunOutcome> {
    let s = &resolved.scenario;
    let pre = preflight(resolved).await?;
    let plan = &pre.plan;
    println!(
        "{}: {} points over {} server configurations ({} combinations, {} dropped), {} measured requests",
        s.name,
        plan.points.len(),
        plan.servers.len(),
        plan.product,
        plan.product - plan.points.len(),
        plan.total_requests()
    );
    for f in mlx_lm::replaced_user_flags(s) {
        eprintln!("warning: {f} in the server args is replaced by the matrix value");
    }
    if s.backend.host != "127.0.0.1" && s.backend.host != "localhost" && s.backend.host != "::1" {
        eprintln!(
            "warning: servers bind to {} (beyond loopback): anyone who can reach this machine can use them",
            s.backend.host
        );
    }

    let paths = RunPaths::new(resolved);
    let writable = |p: &Path| -> anyhow::Result<()> {
        std::fs::create_dir_all(p)
            .with_context(|| format!("results folder {} is not writable", p.display()))
            .map_err(|e| {
                SetupError(format!(
                    "{e:#}\n  next: fix the permissions or set output.dir (MLX_RESULTS_DIR)"
                ))
                .into()
            })
    };
    writable(&paths.run_dir)?;
    let mut csv = CsvSink::create(&paths.csv, &plan.flag_names())
        .map_err(|e| SetupError(format!("cannot create {}: {e}", paths.csv.display())))?;
    std::fs::write(&paths.scenario_copy, resolved.to_toml())?;
    let mut report = ReportSink::create(&paths.run_dir.join("report.jsonl"))?;
    let journal = Journal::open(&paths.run_dir.join("processes.jsonl"))?;
    println!("results_file={}", paths.csv.display());
    println!("run_dir={}", paths.run_dir.display());

    let ctx = StartContext {
        scenario: s.clone(),
        python: pre.backend.python.clone(),
        model: resolved.model.server_arg(),
        run_dir: paths.run_dir.clone(),
        client: build_client(),
        journal,
        cancel: cancel.clone(),
        total_configs: plan.servers.len(),
    };
    let progress = Progress::new(plan.points.len(), opts.plain_progress);
    let mut state = Sweep {
        ctx: &ctx,
        plan,
        progress: &progress,
        csv: &mut csv,
        report: &mut report,
        backend_label: format!("mlx_lm {}", pre.backend.mlx_lm_version),
        rows: Vec::new(),
        set: None,
    };
    let result = state.run_all().await;
    // Stop servers on every path, error included.
    if let Some(mut set) = state.set.take() {
        progress.phase("stopping servers");
        set.stop().await;
    }
    progress.finish();
    let rows = std::mem::take(&mut state.rows);
    result?;

    let failed = rows.iter().filter(|r| r.status == Status::Failed).count();
    if let Some(best) = rows
        .iter()
        .filter(|r| matches!(r.status, Status::Ok | Status::Errors))
        .max_by(|a, b| {
            a.metrics
                .throughput_tps
                .total_cmp(&b.metrics.throughput_tps)
        })
    {
        println!(
            "best {} throughput_tps={:.1}",
            best.params(),
            best.metrics.throughput_tps
        );
    }
    println!("results_file={}", paths.csv.display());
    Ok(RunOutcome {
        csv: paths.csv,
        run_dir: paths.run_dir,
        points_done: rows.len(),
        points_failed: failed,
        interrupted: cancel.is_cancelled(),
    })
}

/// The sweep's mutable state.
struct Sweep<'a> {
    ctx: &'a StartContext,
    plan: &'a Plan,
    progress: &'a Progress,
    csv: &'a mut CsvSink,
    report: &'a mut ReportSink,
    backend_label: String,
    rows: Vec<PointRow>,
    set: Option<ServerSet>,
}

impl Sweep<'_> {
    async fn run_all(&mut self) -> anyhow::Result<()> {
        let s = &self.ctx.scenario;
        for cfg in &self.plan.servers {
            if self.ctx.cancel.is_cancelled() {
                break;
            }
            let mut start_failure: Option<String> = None;
            let points: Vec<_> = self.plan.points_of(cfg.index).cloned().collect();
            for point in &points {
                if self.ctx.cancel.is_cancelled() {
                    break;
                }
                if let Some(why) = &start_failure {
                    self.record(PointRow::failed(cfg, point, why))?;
                    continue;
                }
                if self.set.is_none() {
                    match self.start(cfg).await {
                        Ok(()) => {}
                        Err(ServerError::Interrupted) => break,
                        Err(e) => {
                            let msg = e.to_string();
                            self.progress.eprintln(&format!(
                                "error: server configuration {}: {msg}",
                                cfg.index + 1
                            ));
                            let first_line = msg.lines().next().unwrap_or_default().to_string();
                            start_failure = Some(first_line.clone());
                            self.record(PointRow::failed(cfg, point, &first_line))?;
                            if !s.run.continue_on_error {
                                anyhow::bail!("stopping: run.continue_on_error is false");
                            }
                            continue;
                        }
                    }
                }
                let row = self.measure(cfg, point).await;
                let failed = row.status == Status::Failed;
                self.record(row)?;
                if failed && !s.run.continue_on_error {
                    anyhow::bail!("stopping after a failed point: run.continue_on_error is false");
                }
                if s.run.pause_between_points_s > 0.0 {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs_f64(s.run.pause_between_points_s)) => {}
                        _ = self.ctx.cancel.cancelled() => {}
                    }
                }
            }
            if let Some(mut set) = self.set.take() {
                self.progress.phase("stopping servers");
                set.stop().await;
            }
        }
        Ok(())
    }

    async fn start(&mut self, cfg: &ServerConfig) -> Result<(), ServerError> {
        let s = &self.ctx.scenario;
        self.progress.phase(&format!(
            "starting {} server(s) for configuration {}/{}",
            cfg.instances,
            cfg.index + 1,
            self.plan.servers.len()
        ));
        let set = ServerSet::start(self.ctx, cfg).await?;
        self.progress.eprintln(&format!(
            "servers ready in {:.1}s: configuration {}/{} ({} instance(s){}) at {}",
            set.ready_secs,
            cfg.index + 1,
            self.plan.servers.len(),
            cfg.instances,
            if uses_nginx(s, cfg) {
                " behind nginx"
            } else {
                ""
            },
            set.base_url
        ));
        let warmups = u64::from(s.workload.warmup_requests) * u64::from(cfg.instances);
        if warmups > 0 {
            self.progress
                .phase(&format!("warmup: {warmups} request(s)"));
            let spec = Arc::new(RequestSpec {
                url: format!("{}/v1/chat/completions", set.base_url),
                body: chat_body("warmup", s.workload.warmup_max_tokens, 0.0, false),
                stream: false,
                timeout: Duration::from_secs_f64(s.workload.request_timeout_s),
                retries: s.workload.retries,
                backoff: Duration::from_secs_f64(s.workload.retry_backoff_s),
            });
            let w = run_closed_loop(
                &self.ctx.client,
                spec,
                cfg.instances,
                warmups,
                &self.ctx.cancel,
                |_| {},
            )
            .await;
            let failed = w.records.iter().filter(|r| !r.ok()).count();
            if failed > 0 {
                self.progress.eprintln(&format!(
                    "warning: {failed} of {warmups} warmup request(s) failed"
                ));
            }
        }
        self.set = Some(set);
        Ok(())
    }

    async fn measure(
        &mut self,
        cfg: &ServerConfig,
        point: &crate::scenario::expand::Point,
    ) -> PointRow {
        let s = &self.ctx.scenario;
        let Some(set) = self.set.as_mut() else {
            return PointRow::failed(cfg, point, "servers not running");
        };
        let spec = Arc::new(RequestSpec {
            url: format!("{}/v1/chat/completions", set.base_url),
            body: chat_body(
                &s.workload.prompt,
                point.max_tokens,
                s.workload.temperature,
                s.workload.stream,
            ),
            stream: s.workload.stream,
            timeout: Duration::from_secs_f64(s.workload.request_timeout_s),
            retries: s.workload.retries,
            backoff: Duration::from_secs_f64(s.workload.retry_backoff_s),
        });
        let preview = PointRow::new(cfg, point, Default::default());
        self.progress.start_point(&preview.params(), point.requests);
        self.progress.phase("");
        let started_at = now();
        let progress = self.progress;
        let load = run_closed_loop(
            &self.ctx.client,
            spec,
            point.concurrency,
            point.requests,
            &self.ctx.cancel,
            |_| progress.request_done(),
        )
        .await;
        let mut row = PointRow::new(cfg, point, summarize(&load.records, load.wall));
        row.started_at = started_at;
        row.ended_at = now();
        let dead = set.exited();
        if !dead.is_empty() {
            let why = format!("server exited during the point: {}", dead.join(", "));
            self.progress.eprintln(&format!(
                "error: point {}: {why}; restarting the configuration",
                point.index + 1
            ));
            row.status_detail = why;
            if row.metrics.ok_requests == 0 {
                row.status = Status::Failed;
            }
            if let Some(mut set) = self.set.take() {
                set.stop().await;
            }
        }
        if load.interrupted {
            row.status = Status::Interrupted;
            row.status_detail = format!(
                "interrupted after {} of {} requests",
                load.records.len(),
                point.requests
            );
        }
        row
    }

    fn record(&mut self, row: PointRow) -> anyhow::Result<()> {
        self.csv
            .write(&row)
            .with_context(|| format!("cannot write {}", self.csv.path().display()))?;
        self.report
            .write(&self.ctx.scenario.name, &self.backend_label, &row)?;
        let m = &row.metrics;
        let fmt_ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
        self.progress.println(&format!(
            "point {}/{} {} throughput_tps={:.1} requests_per_s={:.2} ttft_p50_ms={} e2e_p50_ms={} errors={} status={}",
            row.point,
            self.plan.points.len(),
            row.params(),
            m.throughput_tps,
            m.requests_per_s,
            fmt_ms(m.ttft_ms.p50),
            fmt_ms(m.e2e_ms.p50),
            m.errors,
            row.status.as_str()
        ));
        self.rows.push(row);
        let last = self.rows.last().map(PointRow::params).unwrap_or_default();
        self.progress.point_done(self.rows.len(), &last);
        Ok(())
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
