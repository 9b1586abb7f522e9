//! A run from start to end: check the machine (backends, flags, API keys,
//! mlx.launch, nginx, ports, results folder) before anything starts, then
//! for each server configuration start the servers (or only swap the router
//! when the instances stay the same), warm up, measure each of its points
//! with per-instance accounting, write each row as it ends, and stop the
//! servers, on every path.

pub mod host_monitors;
pub mod media;
mod outcome;
mod point;
mod preflight;
mod preflight_hosts;
pub mod prepare;
mod repeats;
mod requests;
mod sweep;
mod tune;
pub mod tune_log;
pub mod tune_space;
mod tune_summary;
mod warmup;

pub use outcome::{RunOutcome, exit_code_of, print_outcome_notes, run_to_exit};
pub use point::{LAGGING_MS, client_check};
pub use preflight::{Preflight, exposure_warnings, memory_gate, memory_now, preflight};
pub use requests::{load_plan, prompt_count};
use sweep::Sweep;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::error::SetupError;
use crate::metrics::calibration::Calibration;
use crate::monitor::Monitor;
use crate::output::csv_sink::CsvSink;
use crate::output::jsonl::{JsonlSink, RunInfo};
use crate::output::model_info::model_info;
pub use crate::output::paths::RunPaths;
use crate::output::progress::Progress;
use crate::output::requests_log::{REQUESTS_FILE, RequestsLog};
use crate::output::row::{Columns, Status};
use crate::output::system_info::system_info;
use crate::resume::Resume;
use crate::scenario::expand::Plan;
use crate::scenario::{Resolved, Scenario};
use crate::server::command::Commands;
use crate::server::journal::Journal;
use crate::server::set::StartContext;

/// Options that are not part of the scenario.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Plain progress lines even on a terminal.
    pub plain_progress: bool,
    /// Continue this run (see [`crate::resume`]) instead of starting a new one.
    pub resume: Option<RunPaths>,
    /// Search the matrix (`mlxrun tune`, see [`crate::tune`]) instead of
    /// measuring every point.
    pub tune: bool,
}

/// The CSV columns of `plan`.
fn columns_of(s: &Scenario, plan: &Plan) -> Columns {
    Columns {
        axes: plan.axis_names(),
        flags: plan.flag_names(),
        percentiles: s.metrics.percentiles.clone(),
    }
}

/// Write report.md and report.html into `run_dir` and print where; when
/// they cannot be written, say why on stderr and return it (the run's exit
/// code says so too: [`RunOutcome::exit_code`]).
fn write_reports(run_dir: &Path) -> Option<String> {
    match crate::report::write(run_dir, &[]) {
        Ok(w) => {
            println!("report_md={}", w.markdown.display());
            println!("report_html={}", w.html.display());
            None
        }
        Err(e) => {
            eprintln!(
                "error: the reports were not written: {e}\n  the rows and records are kept; once the cause is fixed, `mlxrun report {}` writes them",
                run_dir.display()
            );
            Some(e)
        }
    }
}

/// Print the `best …` line: the best point of the whole run folder's
/// report.jsonl (points finished before a resume included) and whether the
/// runner-up is within its noise (see [`crate::report::verdict`]).
fn print_best(run_dir: &Path) {
    match crate::report::data::RunData::load(run_dir) {
        Ok(run) => {
            if let Some(b) = crate::report::verdict::best(&run.points) {
                println!("{}", b.line());
            }
        }
        Err(e) => eprintln!("warning: no best line: {e}"),
    }
}

/// With `opts.resume`: check the run folder against `resolved` and read
/// what is finished, before anything starts.
fn check_resume(resolved: &Resolved, opts: &RunOptions) -> anyhow::Result<Option<Resume>> {
    let Some(paths) = &opts.resume else {
        return Ok(None);
    };
    let searched = paths.run_dir.join(tune_log::TUNE_FILE).exists();
    if searched != opts.tune {
        let d = paths.run_dir.display();
        return Err(crate::error::UsageError(if searched {
            format!("{d} is a search (it has tune.jsonl)\n  next: mlxrun tune --resume {d} FILE, or mlxrun resume {d}")
        } else {
            format!("{d} is not a search (it has no tune.jsonl)\n  next: mlxrun run --resume {d} FILE, or mlxrun resume {d}")
        })
        .into());
    }
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
    if opts.tune {
        tune_space::check_tunable(resolved)?;
    }
    let resume = check_resume(resolved, opts)?;
    if let Some(r) = &resume
        && r.left() == 0
        && !opts.tune
    {
        println!(
            "{}: every point of {} is finished ({n} of {n}); nothing to run",
            s.name,
            r.paths.run_dir.display(),
            n = r.total
        );
        crate::resume::repair_tails(&r.torn)?;
        let report_error = write_reports(&r.paths.run_dir);
        println!("results_file={}", r.paths.csv.display());
        return Ok(RunOutcome {
            csv: r.paths.csv.clone(),
            run_dir: r.paths.run_dir.clone(),
            points_done: 0,
            points_failed: 0,
            points_interrupted: 0,
            interrupted: false,
            report_error,
        });
    }
    let pre = preflight(resolved).await?;
    // every check passed: only now are a resumed run's torn last lines cut
    if let Some(r) = &resume {
        crate::resume::repair_tails(&r.torn)?;
    }
    let plan = &pre.plan;
    let searched = opts.tune.then(|| tune_space::tune_space(plan));
    match &searched {
        None => println!(
            "{}: {} points over {} server configurations ({} combinations, {} dropped), {} measured requests",
            s.name,
            plan.points.len(),
            plan.servers.len(),
            plan.product,
            plan.product - plan.points.len(),
            // every repeat measures the point's requests again
            plan.total_requests() * u64::from(s.run.repeats.max(1))
        ),
        Some(t) => println!(
            "{}: tune ({}) over {} configurations on {} server configurations, along {}; the full product is {} points, {} measured requests",
            s.name,
            s.tune.objective.as_str(),
            t.configs.len(),
            plan.servers.len(),
            t.load_axis.as_str(),
            t.space.points(),
            t.space.requests()
        ),
    }
    if let Some(r) = &resume {
        println!("resuming {}: {}", r.paths.run_dir.display(), r.describe());
    }
    let cmds = Commands {
        scenario: s,
        registry: &resolved.registry,
        models: &resolved.models,
        python: pre.python.clone(),
        run_dir: std::path::PathBuf::from("results"),
        run_tag: "plan".into(),
    };
    for f in cmds.replaced_user_flags() {
        eprintln!("warning: {f} in the server args is replaced by the matrix value");
    }
    for w in exposure_warnings(resolved, plan) {
        eprintln!("warning: {w}");
    }
    for w in plan.mode_warnings() {
        eprintln!("{w}");
    }

    let not_writable = |p: &Path, e: std::io::Error| -> anyhow::Error {
        SetupError(format!(
            "results folder {} is not writable: {e}\n  next: fix the permissions or set output.dir (MLX_RESULTS_DIR)",
            p.display()
        ))
        .into()
    };
    // a new run claims a folder of its own (never another run's, even one
    // started in the same second)
    let paths = match &resume {
        Some(r) => {
            std::fs::create_dir_all(&r.paths.run_dir)
                .map_err(|e| not_writable(&r.paths.run_dir, e))?;
            r.paths.clone()
        }
        None => {
            RunPaths::create(resolved).map_err(|e| not_writable(&RunPaths::base(resolved), e))?
        }
    };
    let columns = columns_of(s, plan);
    let monitor_path = paths.run_dir.join("monitor.jsonl");
    let interval = Duration::from_millis(s.memory.monitor_interval_ms);
    let finished = resume
        .as_ref()
        .map(|r| r.finished.clone())
        .unwrap_or_default();
    let to_run = match &searched {
        // probes are counted against the full product's points
        Some(t) => usize::try_from(t.space.points()).unwrap_or(usize::MAX),
        None => resume.as_ref().map_or(plan.points.len(), Resume::left),
    };
    let (mut csv, monitor) = match &resume {
        None => {
            let csv = CsvSink::create(&paths.csv, &columns)
                .map_err(|e| SetupError(format!("cannot create {}: {e}", paths.csv.display())))?;
            crate::durable::create_new(&paths.scenario_copy, resolved.to_toml().as_bytes())
                .with_context(|| format!("cannot create {}", paths.scenario_copy.display()))?;
            if let Some(base) = paths.csv.parent() {
                crate::durable::sync_dir(base);
            }
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
    let requests_path = paths.run_dir.join(REQUESTS_FILE);
    let mut requests = RequestsLog::create(&requests_path)
        .with_context(|| format!("cannot open {}", requests_path.display()))?
        .with_itl(s.output.request_itl);
    let journal_path = paths.run_dir.join("processes.jsonl");
    let journal = Journal::open(&journal_path)
        .with_context(|| format!("cannot open {}", journal_path.display()))?;
    crate::durable::sync_dir(&paths.run_dir);
    println!("results_file={}", paths.csv.display());
    println!("run_dir={}", paths.run_dir.display());
    crate::shutdown::set_run_dir(&paths.run_dir);

    let ctx = StartContext::new(
        resolved,
        pre.python.clone(),
        pre.secrets.clone(),
        paths.run_dir.clone(),
        journal,
        cancel.clone(),
        Default::default(),
    );
    // every other host the plan uses: monitored for the whole run, and
    // swept for anything of the run left there when it ends
    let remote_hosts = hosts_of_plan(&ctx, plan);
    let host_monitors = if s.remote.monitor && !remote_hosts.is_empty() {
        host_monitors::HostMonitors::start(
            &ctx.settings.ssh,
            &remote_hosts,
            &paths.run_dir,
            &ctx.commands().run_tag,
            interval,
        )
    } else {
        host_monitors::HostMonitors::default()
    };
    let progress = Progress::new(to_run, opts.plain_progress);
    let mut tune_end: Option<tune::TuneEnd> = None;
    let mut state = Sweep {
        ctx: &ctx,
        plan,
        progress: &progress,
        csv: &mut csv,
        report: &mut report,
        requests: &mut requests,
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
        warm_shapes: Default::default(),
        steady_edges: opts.tune,
    };
    let result = match &searched {
        None => state.run_all().await,
        Some(t) => run_search(&mut state, t, &paths, resume.is_some())
            .await
            .map(|end| tune_end = Some(end)),
    };
    // Stop servers on every path, error included.
    state.stop_set().await;
    host_monitors.stop().await;
    sweep_hosts(&ctx, &remote_hosts).await;
    progress.finish();
    let mut rows = std::mem::take(&mut state.rows);
    // the outcome counts points: a repeat row is part of its point's row
    rows.retain(|r| r.row_kind.is_result());
    drop(state);
    monitor.stop();
    // the reports, on every path that leaves a run folder (errors and
    // interruptions included): what was measured is shown, from the whole
    // files (a resumed run's earlier points included)
    let report_error = write_reports(&paths.run_dir);
    // a process event processes.jsonl could not record (a stop, a rank; a
    // start already stopped the run) fails the run too
    match (result, ctx.journal.unrecorded()) {
        (Err(e), Some(j)) if !is_journal_error(&e) => {
            eprintln!("error: {j}");
            return Err(e);
        }
        (Err(e), _) => return Err(e),
        // an interrupted run keeps its exit code (130) and says so
        (Ok(()), Some(j)) if cancel.is_cancelled() => eprintln!("error: {j}"),
        (Ok(()), Some(j)) => {
            return Err(anyhow::Error::from(j).context(format!(
                "the run ended but {} is incomplete",
                journal_path.display()
            )));
        }
        (Ok(()), None) => {}
    }

    let mut failed = rows.iter().filter(|r| r.status == Status::Failed).count();
    let cut_short = rows
        .iter()
        .filter(|r| r.status == Status::Interrupted)
        .count();
    match &tune_end {
        // a probe that failed is part of a search; a search that found
        // nothing failed
        Some(end) => {
            failed = usize::from(end.result.best.is_none() && !cancel.is_cancelled());
            println!(
                "tune_file={}",
                paths.run_dir.join(tune_log::TUNE_FILE).display()
            );
        }
        None => print_best(&paths.run_dir),
    }
    println!("results_file={}", paths.csv.display());
    Ok(RunOutcome {
        csv: paths.csv,
        run_dir: paths.run_dir,
        points_done: rows.len(),
        points_failed: failed,
        points_interrupted: cut_short,
        interrupted: cancel.is_cancelled(),
        report_error,
    })
}

/// The search of `t` over `state`'s sweep, its decisions in the run
/// folder's tune.jsonl (appended to, and replayed, when `resumed`).
async fn run_search(
    state: &mut Sweep<'_>,
    t: &tune_space::TuneSpace,
    paths: &RunPaths,
    resumed: bool,
) -> anyhow::Result<tune::TuneEnd> {
    let section = &state.ctx.scenario.tune;
    let mut search = crate::tune::search::Search::from_section(t.space.clone(), section);
    let (log, replay) = if resumed {
        let replay = tune_log::read_measured(&paths.run_dir).with_context(|| {
            format!(
                "cannot read {}",
                paths.run_dir.join(tune_log::TUNE_FILE).display()
            )
        })?;
        (tune_log::TuneLog::append(&paths.run_dir), replay)
    } else {
        (tune_log::TuneLog::create(&paths.run_dir), Vec::new())
    };
    let mut log = log.with_context(|| {
        format!(
            "cannot open {}",
            paths.run_dir.join(tune_log::TUNE_FILE).display()
        )
    })?;
    log.started(tune::started_fields(t, section, resumed))?;
    if !replay.is_empty() {
        println!(
            "resuming the search: {} probe(s) measured before are replayed",
            replay.len()
        );
    }
    state.tune(t, &mut search, &mut log, replay).await
}

/// The other hosts any configuration of `plan` runs processes on.
fn hosts_of_plan(
    ctx: &StartContext,
    plan: &crate::scenario::expand::Plan,
) -> Vec<crate::remote::host::Host> {
    let mut out: Vec<crate::remote::host::Host> = Vec::new();
    for cfg in &plan.servers {
        for h in crate::server::set::hosts_used(ctx, cfg) {
            if !out.iter().any(|o| o.name == h.name) {
                out.push(h);
            }
        }
    }
    out
}

/// Stop whatever of this run is still running on `hosts` (a set's own
/// sweep covers its configuration; this catches the rest: a monitor, a
/// configuration whose stop was cut short).
async fn sweep_hosts(ctx: &StartContext, hosts: &[crate::remote::host::Host]) {
    let prefix = format!("{}/", ctx.commands().run_tag);
    for h in hosts {
        match crate::server::remote_procs::sweep(
            &ctx.settings.ssh,
            h,
            &prefix,
            ctx.settings.stop_grace,
        )
        .await
        {
            Ok(s) if s.left > 0 => eprintln!(
                "warning: {} process(es) of this run are still running on host {}; stop them by hand (MLXRUN_TAG={prefix}…)",
                s.left, h.name
            ),
            Ok(s) if s.found > 0 => eprintln!(
                "warning: {} process(es) of this run were left on host {}; stopped them",
                s.found, h.name
            ),
            Ok(_) => {}
            Err(e) => eprintln!("warning: cannot check host {} for leftovers: {e}", h.name),
        }
    }
}

/// Whether `e` is a process event `processes.jsonl` could not record.
fn is_journal_error(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<crate::server::ServerError>(),
        Some(crate::server::ServerError::Journal(_))
    )
}
