//! `mlxrun serve up SCENARIO [--config N]`: the machine checks of a run
//! (backend, flags, nginx, ports, memory), then the servers of one
//! configuration started as detached processes with the runner's
//! [`ServerSet`], each recorded in the state file the moment it starts.
//! Returns once every instance answered a 1-token completion (and one went
//! through nginx). When anything fails or Ctrl-C comes first, everything
//! started is stopped and no state claims it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::state::{self, Phase, Proc, Role, State};
use super::{state_dir, status};
use crate::error::{EXIT_INTERRUPTED, EXIT_OK, SetupError, UsageError};
use crate::run::preflight;
use crate::scenario::{Overrides, load};
use crate::server::ServerError;
use crate::server::journal::{Journal, Observer};
use crate::server::process::Lifetime;
use crate::server::set::{ServerSet, StartContext, endpoints, ready_probe};

/// What `serve up` was asked.
#[derive(Debug, Clone)]
pub struct UpArgs {
    pub scenario: PathBuf,
    pub sets: Vec<String>,
    /// 1-based, as `mlxrun plan` lists configurations.
    pub config: usize,
}

/// Run `serve up`; the exit code.
pub async fn up(args: UpArgs) -> anyhow::Result<i32> {
    let resolved = load(&args.scenario, &Overrides::from_process(args.sets.clone()))?;
    let s = &resolved.scenario;
    let dir = state_dir(&resolved);
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    refuse_when_up(&dir)?;
    // a wrong --config is bad input, whatever the machine says
    // (a matrix that does not expand is reported by the preflight)
    let total = resolved.plan.servers.len();
    if args.config == 0 || args.config > total {
        return Err(UsageError(format!(
            "--config {}: {} has {total} server configuration(s)\n  next: mlxrun plan {} lists them; pick one of 1..{total}",
            args.config,
            args.scenario.display(),
            args.scenario.display()
        ))
        .into());
    }
    if !s.backend.hosts.is_empty() || !s.launcher.hosts.is_empty() || s.matrix.hosts.is_some() {
        return Err(UsageError(format!(
            "{} places servers on other hosts; `mlxrun serve up` starts servers on this machine only (they outlive it, and nothing would stop them there)\n  next: run the scenario with `mlxrun {}`, or serve from each host with its own scenario",
            args.scenario.display(),
            args.scenario.display()
        ))
        .into());
    }
    let pre = preflight(&resolved).await?;
    let plan = &pre.plan;
    let total = plan.servers.len();
    let cfg = plan.servers[args.config - 1].clone();
    if let Some(why) = pre.gated.get(&cfg.index) {
        return Err(SetupError(format!(
            "configuration {}/{total} does not fit in memory: {why}",
            args.config
        ))
        .into());
    }
    let def = resolved
        .registry
        .get(&cfg.backend)
        .ok_or_else(|| SetupError(format!("unknown backend `{}`", cfg.backend)))?;
    if !def.launches() {
        return Err(UsageError(format!(
            "backend `{}` is an external endpoint: there is nothing to start\n  next: pick a configuration whose backend launches servers (mlxrun plan {})",
            cfg.backend,
            args.scenario.display()
        ))
        .into());
    }
    let eps = endpoints(&crate::server::settings::ServerSettings::of(s), def, &cfg)
        .map_err(SetupError)?;
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| {
        SetupError(format!(
            "cannot create {}: {e}\n  next: fix the permissions or set output.dir",
            dir.display()
        ))
    })?;

    let scenario_abs = std::path::absolute(&args.scenario).unwrap_or(args.scenario.clone());
    let initial = State {
        phase: Phase::Starting,
        mlxrun_version: crate::VERSION.to_string(),
        up_pid: std::process::id() as i32,
        scenario: scenario_abs,
        scenario_name: s.name.clone(),
        sets: args.sets.clone(),
        config: args.config,
        server_config: serde_json::to_value(&cfg).unwrap_or_default(),
        resolved: resolved.to_toml(),
        stop_grace_s: s.backend.stop_grace_s.get(),
        targets: Vec::new(),
        probe: None,
        api_key_env: (!def.api_key_env.is_empty()).then(|| def.api_key_env.clone()),
        created_at: now(),
        processes: Vec::new(),
    };
    let shared = Arc::new(Mutex::new(initial));
    write(&shared, &dir)?;

    // where each process listens, by name, for the state's rows
    let mut places: Vec<(String, String, Option<u16>)> = eps
        .iter()
        .map(|e| (e.name.clone(), e.host.clone(), Some(e.port)))
        .collect();
    places.push(("nginx".into(), s.router.host.clone(), Some(s.router.port)));
    let secrets: Vec<String> = pre.secrets.all().map(String::from).collect();
    let observer = recorder(shared.clone(), dir.clone(), places, secrets);
    let journal = Journal::open(&dir.join("processes.jsonl"))
        .map_err(|e| SetupError(format!("cannot write in {}: {e}", dir.display())))?
        .with_observer(observer);

    let cancel = CancellationToken::new();
    let _listener = crate::shutdown::spawn_signal_listener(
        cancel.clone(),
        "stopping the servers this `serve up` started",
    )?;
    let ctx = StartContext::new(
        &resolved,
        pre.python.clone(),
        pre.secrets.clone(),
        dir.clone(),
        journal,
        cancel.clone(),
        Lifetime::Detached,
    );
    let probe = ready_probe(&ctx, &cfg).map_err(|e| SetupError(e.to_string()))?;
    if let Ok(mut st) = shared.lock() {
        st.probe = Some(state::ProbeSpec::of(&probe));
    }
    eprintln!(
        "starting configuration {}/{total} of {}: {} {} instance(s) of {}{} (logs in {})",
        args.config,
        s.name,
        cfg.instances,
        cfg.backend,
        cfg.model_name,
        if cfg.uses_nginx() {
            " behind nginx"
        } else {
            ""
        },
        dir.join("logs").display()
    );
    match ServerSet::start(&ctx, &cfg).await {
        Ok(set) => {
            let targets = set.targets.clone();
            let ready = set.ready_secs;
            set.release();
            let st = {
                let mut st = shared.lock().map_err(|_| anyhow::anyhow!("state lock"))?;
                st.phase = Phase::Up;
                st.targets = targets.clone();
                st.clone()
            };
            st.write(&dir).map_err(|e| write_error(&dir, e))?;
            eprintln!(
                "ready in {ready:.1}s; requests go to {}",
                targets.join(", ")
            );
            let rows = status::collect(&st).await;
            print!("{}", status::table(&rows));
            println!("state_dir={}", dir.display());
            println!(
                "next: mlxrun serve status {0}    mlxrun serve down {0}",
                dir.display()
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            // the set stopped what it started; make sure, then drop the state
            let st = shared.lock().map(|s| s.clone()).ok();
            if let Some(st) = st {
                super::down::stop_recorded(&st).await;
            }
            let _ = State::remove(&dir);
            match e {
                ServerError::Interrupted => {
                    eprintln!(
                        "interrupted: every server serve up started is stopped again; logs kept in {}",
                        dir.join("logs").display()
                    );
                    Ok(EXIT_INTERRUPTED)
                }
                ServerError::NotReady(n) => Err(SetupError(format!(
                    "{n}\n  everything serve up started is stopped again; logs kept in {}",
                    dir.join("logs").display()
                ))
                .into()),
                other => Err(SetupError(format!(
                    "{other}\n  everything serve up started is stopped again; logs kept in {}\n  next: fix the cause above, then mlxrun serve up {}",
                    dir.join("logs").display(),
                    args.scenario.display()
                ))
                .into()),
            }
        }
    }
}

/// Refuse (exit 3) when `dir` records live processes; replace a stale
/// state (none alive) with a note.
fn refuse_when_up(dir: &Path) -> anyhow::Result<()> {
    let Some(old) = State::read(dir).map_err(SetupError)? else {
        return Ok(());
    };
    let live = old.live();
    if !live.is_empty() {
        let names: Vec<String> = live
            .iter()
            .map(|p| format!("{} (pid {})", p.name, p.pid))
            .collect();
        return Err(SetupError(format!(
            "{} is already up ({} in {}): {}\n  next: mlxrun serve down {} (or mlxrun serve status {})",
            old.scenario_name,
            match old.phase {
                Phase::Up => "running",
                Phase::Starting => "an earlier serve up did not finish",
            },
            dir.display(),
            names.join(", "),
            dir.display(),
            dir.display()
        ))
        .into());
    }
    eprintln!(
        "note: replacing the stale state in {} (none of its {} process(es) is running)",
        dir.display(),
        old.processes.len()
    );
    State::remove(dir).map_err(|e| write_error(dir, e))?;
    Ok(())
}

/// The observer that records each start (and drops each stop) in the state
/// file as it happens; a state it cannot write fails the event.
fn recorder(
    shared: Arc<Mutex<State>>,
    dir: PathBuf,
    places: Vec<(String, String, Option<u16>)>,
    secrets: Vec<String>,
) -> Observer {
    Arc::new(move |event: &serde_json::Value| {
        let path = dir.join(state::STATE_FILE);
        let Ok(mut st) = shared.lock() else {
            return Err((path, std::io::Error::other("the state lock is poisoned")));
        };
        let name = event["name"].as_str().unwrap_or_default().to_string();
        let pid = event["pid"].as_i64().unwrap_or(-1) as i32;
        let pgid = event["pgid"].as_i64().unwrap_or(pid as i64) as i32;
        let place = places.iter().find(|(n, _, _)| *n == name);
        let host = place.map(|p| p.1.clone()).unwrap_or_default();
        match event["event"].as_str() {
            Some("start") => {
                let argv: Vec<String> = event["argv"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|v| v.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                st.processes.push(Proc {
                    role: if name == "nginx" {
                        Role::Nginx
                    } else {
                        Role::Instance
                    },
                    start_time: state::start_time(pid),
                    argv: state::redact_argv(&argv, secrets.iter().map(String::as_str)),
                    host,
                    port: place.and_then(|p| p.2),
                    log: event["log"].as_str().unwrap_or_default().into(),
                    started_at: now(),
                    name,
                    pid,
                    pgid,
                });
            }
            Some("rank") => {
                let rank = event["rank"].as_i64().unwrap_or(0);
                let log = st
                    .processes
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.log.clone())
                    .unwrap_or_default();
                let argv = crate::procs::cmdline(pid);
                st.processes.push(Proc {
                    role: Role::Rank,
                    name: format!("{name}.rank-{rank}"),
                    pid,
                    pgid,
                    start_time: state::start_time(pid),
                    argv: state::redact_argv(&argv, secrets.iter().map(String::as_str)),
                    host,
                    port: None,
                    log,
                    started_at: now(),
                });
            }
            Some("stop") => st.processes.retain(|p| p.pgid != pgid),
            _ => return Ok(()),
        }
        // `serve down` stops what this file names: a process it cannot
        // name fails its start (and is stopped again)
        st.write(&dir).map_err(|e| (path, e))
    })
}

fn write(shared: &Arc<Mutex<State>>, dir: &Path) -> anyhow::Result<()> {
    let st = shared
        .lock()
        .map_err(|_| anyhow::anyhow!("state lock"))?
        .clone();
    st.write(dir).map_err(|e| write_error(dir, e).into())
}

fn write_error(dir: &Path, e: std::io::Error) -> SetupError {
    SetupError(format!(
        "cannot write {}: {e}\n  next: fix the permissions or set output.dir",
        dir.join(state::STATE_FILE).display()
    ))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
