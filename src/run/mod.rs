//! A run from start to end: check the machine (backends, flags, API keys,
//! mlx.launch, nginx, ports, results folder) before anything starts, then
//! for each server configuration start the servers (or only swap the router
//! when the instances stay the same), warm up, measure each of its points
//! with per-instance accounting, write each row as it ends, and stop the
//! servers, on every path.

pub mod media;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::backend::probe::{BackendInfo, probe, unsupported_flags};
use crate::error::SetupError;
use crate::gate::{self, MemoryNow, Release};
use crate::load::client::{RequestSpec, auth_headers, build_client};
use crate::load::driver::{Bound, LoadPlan, OpenLoop, run_load};
use crate::load::request::{self, RequestShape, Requests};
use crate::media::PointMedia;
use crate::media::audio::synthetic_clip;
use crate::media::image::{ImageFormat, data_url, synthetic_image};
use crate::metrics::calibration::Calibration;
use crate::metrics::per_instance::{self, account};
use crate::metrics::point::PointMetrics;
use crate::metrics::point::{SummaryOptions, summarize};
use crate::metrics::{client_cpu, prometheus};
use crate::monitor::{Monitor, WindowStats};
use crate::output::csv_sink::CsvSink;
use crate::output::jsonl::{JsonlSink, RecordContext, RunInfo};
use crate::output::model_info::{ModelInfo, model_info};
pub use crate::output::paths::RunPaths;
use crate::output::progress::Progress;
use crate::output::quality::{SystemHealth, quality_flags};
use crate::output::row::{Columns, PointRow, Status};
use crate::output::system_info::system_info;
use crate::resume::Resume;
use crate::scenario::expand::{Plan, Point, ServerConfig};
use crate::scenario::prompts::workload_spec;
use crate::scenario::{Resolved, Scenario};
use crate::server::command::{Commands, python_for, ring_port};
use crate::server::journal::Journal;
use crate::server::secrets::Secrets;
use crate::server::set::{ServerSet, StartContext, external_endpoint, instance_port};
use crate::server::{ServerError, access_log, nginx, ports};
use crate::spec::media::{ImageSize, Modality};
use crate::spec::scenario::RouterKind;
use crate::workload::{Prompt, build_prompts};
use media::point_media;

/// Options that are not part of the scenario.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Plain progress lines even on a terminal.
    pub plain_progress: bool,
    /// Continue this run (see [`crate::resume`]) instead of starting a new one.
    pub resume: Option<RunPaths>,
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

impl RunOutcome {
    /// The exit code of a run that ended this way (`mlxrun --help`):
    /// interrupted 130, else 1 when a point failed, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            crate::error::EXIT_INTERRUPTED
        } else if self.points_failed > 0 {
            crate::error::EXIT_POINTS_FAILED
        } else {
            crate::error::EXIT_OK
        }
    }
}

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
fn runnable(program: &str) -> bool {
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
    };
    let mut backends = BTreeMap::new();
    let mut bad_flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
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
        if !backends.contains_key(&cfg.backend) {
            let vars = cmds.vars(cfg, 0, s.backend.base_port).map_err(SetupError)?;
            let info = probe(&cfg.backend, def, &vars, s.backend.check_flags)
                .await
                .map_err(SetupError)?;
            backends.insert(cfg.backend.clone(), info);
        }
        let info = &backends[&cfg.backend];
        let argv = cmds
            .server_argv(cfg, 0, s.backend.base_port)
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
    if plan.servers.iter().any(|c| cmds.uses_launcher(c)) {
        let prefix = cmds.launcher_prefix(2, 0);
        if !runnable(&prefix[0]) {
            return Err(SetupError(format!(
                "mlx.launch not found (looked for '{}')\n  next: install mlx in backend.python's environment, or set launcher.bin",
                prefix[0]
            ))
            .into());
        }
    }
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
                instance_port(s, i),
                format!("instance {i}"),
            )
        })
        .collect();
    for c in launched.iter().filter(|c| cmds.uses_launcher(c)) {
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
    if plan.servers.iter().any(|c| c.ranks > 1) && !s.launcher.hosts.iter().all(|h| loopback(h)) {
        out.push(format!(
            "mlx.launch spans hosts {}: ranks connect over the network",
            s.launcher.hosts.join(", ")
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

/// The CSV columns of `plan`.
fn columns_of(s: &Scenario, plan: &Plan) -> Columns {
    Columns {
        axes: plan.axis_names(),
        flags: plan.flag_names(),
        percentiles: s.metrics.percentiles.clone(),
    }
}

/// Write report.md and report.html into `run_dir` and print where.
fn write_reports(run_dir: &Path) {
    match crate::report::write(run_dir, &[]) {
        Ok(w) => {
            println!("report_md={}", w.markdown.display());
            println!("report_html={}", w.html.display());
        }
        Err(e) => eprintln!("warning: no report: {e}"),
    }
}

/// With `opts.resume`: check the run folder against `resolved` and read
/// what is finished, before anything starts.
fn check_resume(resolved: &Resolved, opts: &RunOptions) -> anyhow::Result<Option<Resume>> {
    let Some(paths) = &opts.resume else {
        return Ok(None);
    };
    let s = &resolved.scenario;
    let plan = &resolved.plan;
    Ok(Some(crate::resume::prepare(
        resolved,
        paths,
        &columns_of(s, plan),
        plan.points.len(),
    )?))
}

/// Run `resolved` until done or `cancel` fires; with `opts.resume`, only
/// the points of that run that are not finished, appending to its files.
pub async fn run(
    resolved: &Resolved,
    cancel: CancellationToken,
    opts: &RunOptions,
) -> anyhow::Result<RunOutcome> {
    let s = &resolved.scenario;
    let resume = check_resume(resolved, opts)?;
    if let Some(r) = &resume
        && r.left() == 0
    {
        println!(
            "{}: every point of {} is finished ({n} of {n}); nothing to run",
            s.name,
            r.paths.run_dir.display(),
            n = r.total
        );
        write_reports(&r.paths.run_dir);
        println!("results_file={}", r.paths.csv.display());
        return Ok(RunOutcome {
            csv: r.paths.csv.clone(),
            run_dir: r.paths.run_dir.clone(),
            points_done: 0,
            points_failed: 0,
            interrupted: false,
        });
    }
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
    if let Some(r) = &resume {
        println!("resuming {}: {}", r.paths.run_dir.display(), r.describe());
    }
    let cmds = Commands {
        scenario: s,
        registry: &resolved.registry,
        models: &resolved.models,
        python: pre.python.clone(),
    };
    for f in cmds.replaced_user_flags() {
        eprintln!("warning: {f} in the server args is replaced by the matrix value");
    }
    for w in exposure_warnings(resolved, plan) {
        eprintln!("warning: {w}");
    }

    let paths = match &resume {
        Some(r) => r.paths.clone(),
        None => RunPaths::new(resolved),
    };
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
    let columns = columns_of(s, plan);
    let monitor_path = paths.run_dir.join("monitor.jsonl");
    let interval = Duration::from_millis(s.memory.monitor_interval_ms);
    let finished = resume
        .as_ref()
        .map(|r| r.finished.clone())
        .unwrap_or_default();
    let to_run = resume.as_ref().map_or(plan.points.len(), Resume::left);
    let (mut csv, monitor) = match &resume {
        None => {
            let csv = CsvSink::create(&paths.csv, &columns)
                .map_err(|e| SetupError(format!("cannot create {}: {e}", paths.csv.display())))?;
            std::fs::write(&paths.scenario_copy, resolved.to_toml())?;
            (csv, Monitor::start(&monitor_path, interval))
        }
        Some(r) => {
            let csv = CsvSink::append(&paths.csv, &columns).map_err(|e| {
                SetupError(format!(
                    "cannot append to {}: {e}\n  next: check the file's permissions",
                    paths.csv.display()
                ))
            })?;
            let fields = serde_json::json!({
                "points_finished": r.total - r.left(),
                "points_left": r.left(),
                "dropped": r.dropped,
            });
            (csv, Monitor::start_append(&monitor_path, interval, fields))
        }
    };
    let monitor = monitor.map_err(|e| {
        SetupError(format!(
            "cannot start the monitor in {}: {e}",
            paths.run_dir.display()
        ))
    })?;
    let backend_versions: BTreeMap<String, String> = pre
        .backends
        .iter()
        .map(|(k, v)| (k.clone(), v.version.clone()))
        .collect();
    let run_info = RunInfo {
        scenario: s.name.clone(),
        run_id: paths
            .run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        system: system_info(
            serde_json::to_value(crate::monitor::hardware::profile()).unwrap_or_default(),
            &backend_versions,
        ),
    };
    let mut report = JsonlSink::create(&paths.run_dir.join("report.jsonl"), run_info)?;
    let journal = Journal::open(&paths.run_dir.join("processes.jsonl"))?;
    println!("results_file={}", paths.csv.display());
    println!("run_dir={}", paths.run_dir.display());
    crate::shutdown::set_run_dir(&paths.run_dir);

    let ctx = StartContext {
        scenario: s.clone(),
        registry: resolved.registry.clone(),
        models: resolved.models.clone(),
        python: pre.python.clone(),
        run_dir: paths.run_dir.clone(),
        client: build_client(),
        journal,
        cancel: cancel.clone(),
        total_configs: plan.servers.len(),
        secrets: pre.secrets.clone(),
        lifetime: Default::default(),
    };
    let progress = Progress::new(to_run, opts.plain_progress);
    let mut state = Sweep {
        ctx: &ctx,
        plan,
        progress: &progress,
        csv: &mut csv,
        report: &mut report,
        models: resolved
            .models
            .iter()
            .map(|m| model_info(m, &m.backend))
            .collect(),
        backend_versions,
        rows: Vec::new(),
        set: None,
        calibration: Calibration::load(Path::new(&s.run.calibration)),
        monitor: &monitor,
        gated: pre.gated.clone(),
        stopped_groups: Vec::new(),
        available_before: None,
        release: None,
        finished,
    };
    let result = state.run_all().await;
    // Stop servers on every path, error included.
    state.stop_set().await;
    progress.finish();
    let rows = std::mem::take(&mut state.rows);
    drop(state);
    monitor.stop();
    // the reports, on every path that leaves a run folder (errors and
    // interruptions included): what was measured is shown, from the whole
    // files (a resumed run's earlier points included)
    write_reports(&paths.run_dir);
    result?;

    let failed = rows.iter().filter(|r| r.status == Status::Failed).count();
    let measured = |st: Status| matches!(st, Status::Ok | Status::Errors);
    let mut best: Vec<(String, f64)> = rows
        .iter()
        .filter(|r| measured(r.status))
        .map(|r| (r.params(), r.metrics.throughput_tps))
        .collect();
    if let Some(r) = &resume {
        // points finished before the resume compete too
        best.extend(r.finished.iter().filter_map(|n| {
            let st = r.states.get(n)?;
            let status = st.csv_status.as_deref()?;
            let point = plan.points.get(n.checked_sub(1)?)?;
            let cfg = plan.servers.get(point.server)?;
            matches!(status, "ok" | "errors").then(|| {
                let row = PointRow::with_ranks(cfg, point, Default::default(), cfg.ranks_total);
                (row.params(), st.throughput_tps.unwrap_or(0.0))
            })
        }));
    }
    if let Some((params, tps)) = best.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        println!("best {params} throughput_tps={tps:.1}");
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
    report: &'a mut JsonlSink,
    /// Backend name → installed version line.
    backend_versions: BTreeMap<String, String>,
    /// What reports say about each model (by model index).
    models: Vec<ModelInfo>,
    rows: Vec<PointRow>,
    set: Option<ServerSet>,
    /// What `mlxrun calibrate` measured on this machine, when it has run.
    calibration: Option<Calibration>,
    /// Samples the machine into `monitor.jsonl`.
    monitor: &'a Monitor,
    /// Configurations the memory gate skips (index → why).
    gated: BTreeMap<usize, String>,
    /// Process groups of servers already stopped (leftovers are counted).
    stopped_groups: Vec<i32>,
    /// Memory available before the running configuration started.
    available_before: Option<u64>,
    /// The wait for memory after the last configuration stopped, for the
    /// first point of the next one.
    release: Option<Release>,
    /// Points (1-based) a resumed run finished before; they are not run.
    finished: BTreeSet<usize>,
}

impl Sweep<'_> {
    async fn run_all(&mut self) -> anyhow::Result<()> {
        let s = &self.ctx.scenario;
        for cfg in &self.plan.servers {
            if self.ctx.cancel.is_cancelled() {
                break;
            }
            let points: Vec<_> = self
                .plan
                .points_of(cfg.index)
                .filter(|p| !self.finished.contains(&(p.index + 1)))
                .cloned()
                .collect();
            if points.is_empty() {
                // every point finished before a resume: nothing to start
                continue;
            }
            // Keep the running instances when only the router changes.
            if let Some(set) = self.set.as_mut() {
                if set.config().same_instances(cfg) {
                    self.progress.phase("switching the router");
                    if let Err(e) = set.switch_front(self.ctx, cfg).await {
                        self.progress.eprintln(&format!(
                            "error: router of configuration {}: {e}; restarting its servers",
                            cfg.index + 1
                        ));
                        self.stop_set().await;
                    }
                } else {
                    self.stop_set().await;
                }
            }
            let mut start_failure: Option<String> = None;
            let skip = self.gate(cfg).await;
            for point in &points {
                if self.ctx.cancel.is_cancelled() {
                    break;
                }
                if let Some(why) = &skip {
                    let mut row = PointRow::skipped(cfg, point, why);
                    row.ranks = cfg.ranks_total;
                    self.record(row)?;
                    continue;
                }
                if let Some(why) = &start_failure {
                    self.record(self.failed_row(cfg, point, why))?;
                    continue;
                }
                // a server that died since the last point (idle, or killed)
                // is restarted before this one rather than failing it
                if let Some(dead) = self.set.as_mut().map(ServerSet::exited)
                    && !dead.is_empty()
                {
                    self.progress.eprintln(&format!(
                        "warning: before point {}: server exited: {}; restarting the configuration",
                        point.index + 1,
                        dead.join(", ")
                    ));
                    self.stop_set().await;
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
                            let summary = e.summary();
                            start_failure = Some(summary.clone());
                            self.record(self.failed_row(cfg, point, &summary))?;
                            if !s.run.continue_on_error {
                                anyhow::bail!("stopping: run.continue_on_error is false");
                            }
                            continue;
                        }
                    }
                }
                crate::shutdown::injected_panic(point.index + 1);
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
        }
        self.stop_set().await;
        Ok(())
    }

    async fn stop_set(&mut self) {
        if let Some(mut set) = self.set.take() {
            self.progress.phase("stopping servers");
            let groups = set.groups();
            set.stop().await;
            self.monitor.set_processes(Vec::new());
            self.monitor.event(
                "servers_stopped",
                serde_json::json!({"config": set.config().index + 1}),
            );
            self.stopped_groups.extend(groups);
        }
    }

    /// Before configuration `cfg` starts: wait (bounded) for memory to come
    /// back after the previous one, then check it against the gate. Returns
    /// why its points are skipped, if they are.
    async fn gate(&mut self, cfg: &ServerConfig) -> Option<String> {
        let m = &self.ctx.scenario.memory;
        // a wait belongs to the configuration that follows it only
        self.release = None;
        let launches = self
            .ctx
            .registry
            .get(&cfg.backend)
            .is_some_and(|d| d.launches());
        if self.set.is_none() && launches {
            if let Some(before) = self.available_before.take() {
                let target = gate::release_target(m, Some(before));
                let r = gate::wait_for_release(
                    target,
                    Duration::from_secs_f64(m.release_timeout_s),
                    Duration::from_millis(500),
                    &self.ctx.cancel,
                    memory_now,
                )
                .await;
                self.monitor.event("memory_release", serde_json::json!(r));
                if r.released && r.waited_s >= 1.0 {
                    self.progress.eprintln(&format!(
                        "memory came back after {:.1}s ({} available)",
                        r.waited_s,
                        r.available_bytes.map_or("unknown".into(), gate::gb)
                    ));
                }
                if !r.released && !self.ctx.cancel.is_cancelled() {
                    self.progress.eprintln(&format!(
                        "warning: memory did not come back within {}s ({} available, wanted {}; pressure {}); configuration {} starts anyway, its first point is flagged degraded_release",
                        m.release_timeout_s,
                        r.available_bytes.map_or("unknown".into(), gate::gb),
                        gate::gb(r.target_bytes),
                        r.pressure.map_or("unknown".into(), |p| p.to_string()),
                        cfg.index + 1
                    ));
                }
                self.release = Some(r);
            }
            let mem = memory_now();
            self.available_before = mem.available_bytes;
            if let Some(why) = self.gated.get(&cfg.index) {
                return Some(format!("memory gate: {why}"));
            }
            // memory may have gone since the preflight
            if let Some(model) = self.ctx.models.get(cfg.model)
                && let Some(need) = gate::config_need(cfg, model, m)
                && let Some(why) = gate::over_limit(&need, &mem, m)
            {
                self.progress.eprintln(&format!(
                    "warning: configuration {} skipped: memory gate: {why}",
                    cfg.index + 1
                ));
                return Some(format!("memory gate: {why}"));
            }
        }
        self.gated
            .get(&cfg.index)
            .map(|why| format!("memory gate: {why}"))
    }

    fn failed_row(&self, cfg: &ServerConfig, point: &Point, why: &str) -> PointRow {
        let mut row = PointRow::failed(cfg, point, why);
        row.ranks = cfg.ranks_total;
        row
    }

    /// The request spec of `cfg` with one body per prompt, to the set's targets.
    fn spec(
        &self,
        cfg: &ServerConfig,
        set: &ServerSet,
        tag: String,
        body: BodyParts,
    ) -> Result<RequestSpec, String> {
        let s = &self.ctx.scenario;
        let def = self
            .ctx
            .registry
            .get(&cfg.backend)
            .ok_or_else(|| format!("unknown backend `{}`", cfg.backend))?;
        let model = self.ctx.commands().request_model(cfg)?;
        let key = self.ctx.secrets.key(&cfg.backend);
        let Requests { bodies, form } = request::build(&RequestShape {
            backend: &cfg.backend,
            api: def.api,
            model: model.as_deref(),
            prompts: &body.prompts,
            max_tokens: body.max_tokens,
            temperature: body.temperature,
            stream: body.stream,
            media: &body.media,
            audio_language: &s.workload.audio_language,
            audio_response_format: &s.workload.audio_response_format,
        })?;
        Ok(RequestSpec {
            urls: set
                .targets
                .iter()
                .map(|t| format!("{t}{}", def.api.path()))
                .collect(),
            balance: cfg.balancing(),
            bodies,
            stream: body.stream && form.is_none(),
            timeout: Duration::from_secs_f64(s.workload.request_timeout_s),
            retries: s.workload.retries,
            backoff: Duration::from_secs_f64(s.workload.retry_backoff_s),
            headers: auth_headers(key),
            tag,
            tokens: def.tokens,
            secret: key.map(String::from),
            form,
        })
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
        self.monitor.set_processes(set.roots());
        self.monitor.event(
            "servers_started",
            serde_json::json!({
                "config": cfg.index + 1,
                "ready_s": set.ready_secs,
                "processes": set.roots().into_iter().collect::<BTreeMap<_, _>>(),
            }),
        );
        let ranks = cfg.ranks_total;
        self.progress.eprintln(&format!(
            "servers ready in {:.1}s: configuration {}/{} ({} {} instance(s){}{}) at {}",
            set.ready_secs,
            cfg.index + 1,
            self.plan.servers.len(),
            cfg.instances,
            cfg.backend,
            if ranks > 1 {
                format!(" of {ranks} ranks")
            } else {
                String::new()
            },
            match cfg.router {
                RouterKind::Nginx => " behind nginx",
                RouterKind::Client => " spread by the client",
                RouterKind::None => "",
            },
            set.targets.join(", ")
        ));
        let warmups = u64::from(s.workload.warmup_requests) * u64::from(cfg.instances);
        if warmups > 0 {
            self.progress
                .phase(&format!("warmup: {warmups} request(s)"));
            let spec = self
                .spec(
                    cfg,
                    &set,
                    "warmup".into(),
                    BodyParts {
                        prompts: vec![Prompt::user("warmup".into(), None)],
                        max_tokens: s.workload.warmup_max_tokens,
                        temperature: 0.0,
                        stream: false,
                        media: warmup_media(self.ctx.models.get(cfg.model).map(|m| m.modality)),
                    },
                )
                .map_err(ServerError::Setup)?;
            let w = run_load(
                &self.ctx.client,
                Arc::new(spec),
                LoadPlan {
                    concurrency: cfg.instances,
                    open: None,
                    bound: Bound::requests(warmups),
                    deadline: None,
                },
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

    async fn measure(&mut self, cfg: &ServerConfig, point: &Point) -> PointRow {
        let s = &self.ctx.scenario;
        let ranks = cfg.ranks_total;
        let Some(set) = self.set.as_ref() else {
            return self.failed_row(cfg, point, "servers not running");
        };
        let cache_failures = set.reset_caches(self.ctx).await;
        for f in &cache_failures {
            self.progress.eprintln(&format!(
                "warning: cache reset before point {}: {f}",
                point.index + 1
            ));
        }
        let tag = format!("p{}", point.index + 1);
        let load_plan = load_plan(s, point);
        let Some(model) = self.ctx.models.get(cfg.model) else {
            return self.failed_row(cfg, point, "unknown model");
        };
        let prompts = match build_prompts(&workload_spec(s, model, point), prompt_count(&load_plan))
        {
            Ok(p) => p,
            Err(e) => return self.failed_row(cfg, point, &format!("prompts: {e}")),
        };
        let media = match point_media(point, &s.workload, prompts.len()) {
            Ok(m) => m,
            Err(e) => return self.failed_row(cfg, point, &format!("media: {e}")),
        };
        let spec = match self.spec(
            cfg,
            set,
            tag.clone(),
            BodyParts {
                prompts,
                max_tokens: point.max_tokens,
                temperature: s.workload.temperature,
                stream: s.workload.stream,
                media,
            },
        ) {
            Ok(spec) => spec,
            Err(e) => return self.failed_row(cfg, point, &e),
        };
        let metrics_before = set.scrape_metrics(self.ctx).await;
        let access_log = set.access_log(&self.ctx.run_dir);
        let log_from = access_log.as_deref().map(access_log::offset).unwrap_or(0);
        let addresses = set.addresses();
        let preview = PointRow::with_ranks(cfg, point, Default::default(), ranks);
        let bar = match load_plan.bound {
            Bound::Count {
                warmup,
                measured,
                cooldown,
            } => warmup + measured + cooldown,
            Bound::Time { .. } => 0,
        };
        self.progress.start_point(&preview.params(), bar);
        self.progress.phase("");
        let (started_at, started_ts) = now_both();
        self.monitor.begin_window(serde_json::json!({
            "point": point.index + 1,
            "config": cfg.index + 1,
            "model": cfg.model_name,
            "params": preview.params(),
        }));
        let progress = self.progress;
        let cpu_before = client_cpu::cpu_time();
        let mut load = run_load(
            &self.ctx.client,
            Arc::new(spec),
            load_plan,
            &self.ctx.cancel,
            |_| progress.request_done(),
        )
        .await;
        let cpu_after = client_cpu::cpu_time();
        let window = self.monitor.end_window();
        let source = match (&access_log, cfg.router) {
            (Some(log), _) => {
                let map = access_log::wait_for(log, log_from, &tag, load.records.len()).await;
                per_instance::attribute(&mut load.records, &map, &addresses);
                "nginx_access_log"
            }
            (None, RouterKind::Client) => "client",
            (None, _) => "single",
        };
        let summary = SummaryOptions {
            percentiles: &s.metrics.percentiles,
            slo: s.slo.is_set().then_some(&s.slo),
            max_tokens: point.max_tokens,
            open_loop: point.open_loop(),
        };
        let mut metrics = summarize(&load.records, &summary);
        metrics.client_cpu_ms_per_req =
            client_cpu::per_request_ms(cpu_before, cpu_after, load.records.len());
        let client_check = client_check(self.calibration.as_ref(), &metrics);
        let mut row = PointRow::with_ranks(cfg, point, metrics, ranks);
        row.client_check = client_check;
        row.per_instance = account(&load.records, &addresses, source);
        if let Some(set) = self.set.as_ref() {
            let after = set.scrape_metrics(self.ctx).await;
            row.server_metrics = prometheus::deltas(metrics_before, after);
        }
        row.started_at = started_at;
        row.started_ts = started_ts;
        (row.ended_at, row.ended_ts) = now_both();
        row.health = self.health(&window);
        row.server_rss_peak_mb = window.server_rss_peak_mb;
        row.resources = serde_json::to_value(&window).ok();
        if !cache_failures.is_empty() && row.status_detail.is_empty() {
            row.status_detail = format!("cache reset failed: {}", cache_failures.join("; "));
        }
        let dead = self.set.as_mut().map(ServerSet::exited).unwrap_or_default();
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
            self.stop_set().await;
        }
        if load.deadline_hit {
            let why = format!(
                "point deadline of {:.1} s reached (run.point_timeout_s): {} request(s) in flight recorded as timeouts, {} finished",
                load_plan.deadline.unwrap_or_default().as_secs_f64(),
                load.cut_off,
                load.records.len() as u64 - load.cut_off,
            );
            self.progress
                .eprintln(&format!("warning: point {}: {why}", point.index + 1));
            // it explains the timeouts better than the first of them does
            row.status_detail = if dead.is_empty() {
                why
            } else {
                format!("{}; {why}", row.status_detail)
            };
        }
        if load.interrupted {
            row.status = Status::Interrupted;
            row.status_detail = format!(
                "interrupted after {} request(s) of {}",
                load.records.len(),
                point.bound_label()
            );
        }
        row
    }

    /// The machine during a point: the monitor's window, zombies, leftovers,
    /// and the memory release wait before the point's configuration.
    fn health(&mut self, w: &WindowStats) -> SystemHealth {
        let parents: Vec<i32> = self
            .set
            .as_ref()
            .map(|s| s.pids().into_iter().map(|(_, p)| p).collect())
            .unwrap_or_default();
        SystemHealth::from_window(
            w,
            crate::procs::zombies(&parents),
            crate::procs::leftover_groups(&self.stopped_groups),
            self.release.take(),
        )
    }

    fn record(&mut self, mut row: PointRow) -> anyhow::Result<()> {
        if row.ended_at.is_empty() {
            (row.ended_at, row.ended_ts) = now_both();
            (row.started_at, row.started_ts) = (row.ended_at.clone(), row.ended_ts);
        }
        row.health.quality_flags = quality_flags(
            &row.health,
            &self.ctx.scenario.memory,
            &row.client_check,
            row.metrics.errors,
        );
        self.csv
            .write(&row)
            .with_context(|| format!("cannot write {}", self.csv.path().display()))?;
        let version = self
            .backend_versions
            .get(&row.backend)
            .cloned()
            .unwrap_or_default();
        let model = self
            .models
            .iter()
            .find(|m| m.id == row.model)
            .cloned()
            .unwrap_or_default();
        self.report.write(
            &row,
            RecordContext {
                backend_version: &version,
                model: &model,
            },
        )?;
        let m = &row.metrics;
        let fmt_ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
        let e2e = fmt_ms(m.e2e_ms.at(&m.percentiles, 50.0).or(m.e2e_ms.mean));
        // audio points have no tokens: latency and the real-time factor
        let figures = match m.rtf_mean {
            Some(rtf) => format!(
                "requests_per_s={:.2} e2e_p50_ms={e2e} rtf_mean={rtf:.3} audio_seconds={:.1}",
                m.requests_per_s, m.audio_seconds
            ),
            None => format!(
                "throughput_tps={:.1} requests_per_s={:.2} ttft_p50_ms={} e2e_p50_ms={e2e}",
                m.throughput_tps,
                m.requests_per_s,
                fmt_ms(m.ttft_ms.at(&m.percentiles, 50.0).or(m.ttft_ms.mean)),
            ),
        };
        let slo = m.slo.as_ref().map_or(String::new(), |s| {
            format!(
                " slo_attainment={:.3} goodput_rps={:.2}",
                s.attainment, s.goodput_rps
            )
        });
        self.progress.println(&format!(
            "point {}/{} {} {figures}{slo} errors={} status={}",
            row.point,
            self.plan.points.len(),
            row.params(),
            m.errors,
            row.status.as_str()
        ));
        self.rows.push(row);
        let last = self.rows.last().map(PointRow::params).unwrap_or_default();
        self.progress.point_done(self.rows.len(), &last);
        Ok(())
    }
}

/// How point `point` of `s` sends its requests, and its deadline
/// (`run.point_timeout_s`, or derived from the point when 0).
pub fn load_plan(s: &Scenario, point: &Point) -> LoadPlan {
    let mut plan = load_plan_unbounded(s, point);
    let request_timeout =
        Duration::try_from_secs_f64(s.workload.request_timeout_s).unwrap_or(Duration::MAX);
    plan.deadline = Some(match s.run.point_timeout_s {
        t if t > 0.0 => Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX),
        _ => plan.auto_deadline(request_timeout),
    });
    plan
}

fn load_plan_unbounded(s: &Scenario, point: &Point) -> LoadPlan {
    let l = &s.load;
    let secs = Duration::from_secs_f64;
    LoadPlan {
        concurrency: point.concurrency,
        open: point.request_rate.map(|r| OpenLoop {
            arrival: l.arrival,
            rate: r.0,
            burstiness: l.burstiness,
            // each point its own arrivals, reproducible from `workload.seed`
            seed: s.workload.seed.wrapping_add(point.index as u64),
        }),
        bound: match point.duration_s {
            Some(d) => Bound::Time {
                warmup: secs(l.warmup_s),
                measured: secs(d),
                cooldown: secs(l.cooldown_s),
            },
            None => Bound::Count {
                warmup: l.warmup_requests,
                measured: point.requests,
                cooldown: l.cooldown_requests,
            },
        },
        deadline: None,
    }
}

/// Send lag (p99) above which the client itself is called lagging.
pub const LAGGING_MS: f64 = 5.0;

/// Whether the client may have limited point `m`: `ok`, or the reasons
/// (near the calibrated ceiling, lagging, or no calibration to compare with).
pub fn client_check(cal: Option<&Calibration>, m: &PointMetrics) -> String {
    let mut why = Vec::new();
    match cal {
        Some(c) => {
            let events_per_s = if m.elapsed_s > 0.0 {
                m.content_events as f64 / m.elapsed_s
            } else {
                0.0
            };
            if let Some(near) = c.near_ceiling(m.requests_per_s, events_per_s) {
                why.push(format!("near_ceiling ({near})"));
            }
        }
        None => why.push("uncalibrated (run mlxrun calibrate)".to_string()),
    }
    if let Some(lag) = m
        .client_lag_ms
        .at(&m.percentiles, 99.0)
        .or(m.client_lag_ms.max)
        && lag > LAGGING_MS
    {
        why.push(format!("lagging (send lag p99 {lag:.1} ms)"));
    }
    if why.is_empty() {
        "ok".into()
    } else {
        why.join("; ")
    }
}

/// How many prompts a point needs: one per request of a count-bounded
/// point; for a time-bounded one, a pool that is cycled (an open-loop
/// point's expected requests, at most 4,096; 1,024 in closed loop).
pub fn prompt_count(plan: &LoadPlan) -> usize {
    match plan.bound {
        Bound::Count {
            warmup,
            measured,
            cooldown,
        } => (warmup + measured + cooldown) as usize,
        Bound::Time {
            warmup,
            measured,
            cooldown,
        } => match plan.open {
            Some(o) if o.rate.is_finite() => {
                let secs = (warmup + measured + cooldown).as_secs_f64();
                ((o.rate * secs * 1.2).ceil() as usize + 16).min(4096)
            }
            _ => 1024,
        },
    }
}

/// What warmup requests carry: one small image for a vision model (so the
/// vision path is compiled before the first point), a 1-second clip for an
/// audio model.
fn warmup_media(modality: Option<Modality>) -> PointMedia {
    match modality {
        Some(Modality::Vision) => PointMedia::Images(vec![vec![data_url(
            "image/png",
            &synthetic_image(
                ImageSize {
                    width: 64,
                    height: 64,
                },
                0,
                ImageFormat::Png,
            ),
        )]]),
        Some(Modality::Audio) => PointMedia::Audio(vec![synthetic_clip(1.0, 0)]),
        _ => PointMedia::None,
    }
}

/// The parts of a request body that vary.
struct BodyParts {
    prompts: Vec<Prompt>,
    max_tokens: u32,
    temperature: f64,
    stream: bool,
    /// Images or audio clips of the requests.
    media: PointMedia,
}

/// Now as ISO 8601 UTC and as Unix epoch seconds (one instant).
fn now_both() -> (String, f64) {
    let t = chrono::Utc::now();
    (
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        t.timestamp_millis() as f64 / 1000.0,
    )
}
/// The exit code for an error that ended mlxrun.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    if err
        .downcast_ref::<crate::scenario::ScenarioError>()
        .is_some()
        || err.downcast_ref::<crate::error::UsageError>().is_some()
    {
        crate::error::EXIT_BAD_INPUT
    } else if err.downcast_ref::<crate::error::SetupError>().is_some() {
        crate::error::EXIT_SETUP
    } else {
        crate::error::EXIT_POINTS_FAILED
    }
}
