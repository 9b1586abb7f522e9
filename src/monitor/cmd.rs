//! `mlxrun monitor`: sample the machine into a JSONL file while a command
//! runs (`-- CMD ARGS…`, its process tree tracked as instance `command`),
//! for `--duration` seconds, or until standard input ends (`--until-eof`:
//! a monitor run over ssh for the length of a run, `--output -` sending
//! the lines back on stdout), then print a short summary to stderr.
//!
//! The command runs from argv (no shell) in its own process group, led by
//! a [`crate::supervisor`] (which stops the group if mlxrun is killed) and
//! registered in [`crate::shutdown`].
//! Ctrl-C and SIGTERM are passed on to that group (a second one kills it);
//! when the command ends, whatever it left in its group is stopped
//! (SIGTERM, grace, SIGKILL), the summary is appended, and mlxrun exits
//! with the command's code (128 + N when signal N killed it, 127 when it
//! could not start).

use std::io::{IsTerminal, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

use super::{CommandOutcome, Monitor, Summary, child};
use crate::error::{EXIT_INTERRUPTED, EXIT_OK, SetupError, UsageError};
use crate::shutdown;
use crate::spec::units::PositiveSecs;

/// Exit code when the command cannot be started (as a shell's).
pub const EXIT_CANNOT_RUN: i32 = 127;

/// Grace between SIGTERM and SIGKILL for what the command leaves behind.
const COMMAND_GRACE: Duration = Duration::from_secs(2);

/// The name the command's process tree has in the samples.
pub const INSTANCE: &str = "command";

/// Options of `mlxrun monitor`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct MonitorArgs {
    /// Milliseconds between samples (fixed rate: tick k at start + k × interval).
    #[arg(long, value_name = "MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub interval: u64,
    /// The JSONL file to write (created or truncated; one line per record);
    /// `-`: standard output, each line written as it is taken (not with a
    /// command, whose own output goes there).
    #[arg(long, value_name = "FILE", default_value = "monitor.jsonl")]
    pub output: PathBuf,
    /// Sample for this many seconds instead of running a command (above
    /// 0, at most 2592000: 30 days).
    #[arg(long, value_name = "S", conflicts_with = "command")]
    pub duration: Option<PositiveSecs>,
    /// Sample until standard input reaches end-of-file (or fails) instead
    /// of running a command: what is read is discarded.
    #[arg(long, conflicts_with_all = ["duration", "command"])]
    pub until_eof: bool,
    /// The command to run and watch, after `--` (argv, no shell).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Run `mlxrun monitor`; returns the exit code.
pub async fn run(args: MonitorArgs) -> anyhow::Result<i32> {
    let interval = Duration::from_millis(args.interval);
    if to_stdout(&args) && !args.command.is_empty() {
        return Err(UsageError(
            "--output - writes the samples to standard output, which the command's own output shares\n  next: give --output FILE, or sample with --duration S or --until-eof"
                .into(),
        )
        .into());
    }
    match (args.command.is_empty(), args.duration, args.until_eof) {
        (false, None, false) => run_command(&args, interval).await,
        (true, Some(d), false) => {
            run_until(&args, interval, async { tokio::time::sleep(d.duration()).await }).await
        }
        (true, None, true) => {
            let eof = stdin_ends()?;
            run_until(&args, interval, async {
                let _ = eof.await;
            })
            .await
        }
        (true, None, false) => Err(UsageError(
            "nothing to monitor: give a command after `--`, --duration S or --until-eof\n  next: mlxrun monitor -- python bench.py, or mlxrun monitor --duration 60"
                .into(),
        )
        .into()),
        _ => Err(UsageError(
            "a command, --duration and --until-eof exclude each other\n  next: keep one; with a command the monitor stops when it ends"
                .into(),
        )
        .into()),
    }
}

/// Whether `--output -` asks for standard output.
fn to_stdout(args: &MonitorArgs) -> bool {
    args.output == Path::new("-")
}

/// Where the lines go, for messages.
fn output_name(args: &MonitorArgs) -> String {
    if to_stdout(args) {
        "standard output".into()
    } else {
        args.output.display().to_string()
    }
}

fn start(args: &MonitorArgs, interval: Duration) -> anyhow::Result<Monitor> {
    let started = if to_stdout(args) {
        Monitor::start_stdout(interval)
    } else {
        Monitor::start(&args.output, interval)
    };
    let m = started.map_err(|e| {
        SetupError(format!(
            "cannot write {}: {e}\n  next: pass a writable --output FILE",
            output_name(args)
        ))
    })?;
    eprintln!(
        "monitor: sampling every {} ms into {}",
        args.interval,
        output_name(args)
    );
    Ok(m)
}

/// Resolves when standard input reaches end-of-file or cannot be read;
/// what it reads is discarded. A plain thread, not the runtime's blocking
/// pool: a read still blocked when mlxrun exits must not hold it up.
fn stdin_ends() -> anyhow::Result<tokio::sync::oneshot::Receiver<()>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("mlxrun-stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        })?;
    Ok(rx)
}

/// Sample until `end` resolves (the duration passed, stdin ended), or
/// until Ctrl-C / SIGTERM (exit 130, with the summary of what was
/// sampled).
async fn run_until(
    args: &MonitorArgs,
    interval: Duration,
    end: impl std::future::Future<Output = ()>,
) -> anyhow::Result<i32> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mon = start(args, interval)?;
    let interrupted = tokio::select! {
        _ = end => None,
        _ = int.recv() => Some("interrupt"),
        _ = term.recv() => Some("terminate"),
    };
    if let Some(name) = interrupted {
        eprintln!("monitor: {name} received: stopping early");
        mon.event("interrupted", json!({ "signal": name }));
    }
    let summary = tokio::task::spawn_blocking(move || mon.stop()).await?;
    print_summary(&summary, args);
    Ok(if interrupted.is_some() {
        EXIT_INTERRUPTED
    } else {
        EXIT_OK
    })
}

/// Command mode: run the command to its end under the monitor.
async fn run_command(args: &MonitorArgs, interval: Duration) -> anyhow::Result<i32> {
    // listen before the child exists, so no signal takes the default action
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let argv = args.command.clone();
    let mon = start(args, interval)?;
    let started = crate::supervisor::Supervised::new(&argv, COMMAND_GRACE).and_then(|mut sup| {
        sup.command.stdin(if std::io::stdin().is_terminal() {
            // its own process group cannot read the terminal (SIGTTIN would stop it)
            Stdio::null()
        } else {
            Stdio::inherit()
        });
        sup.start(|cmd| tokio::process::Command::from(cmd).spawn())
    });
    let (mut child, lifeline) = match started {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: cannot run {}: {e}\n  next: check the command's name and PATH (it runs without a shell)",
                argv[0]
            );
            mon.event(
                "command_not_started",
                json!({ "argv": argv, "error": e.to_string() }),
            );
            let outcome = CommandOutcome {
                command: argv,
                exit_code: EXIT_CANNOT_RUN,
            };
            let summary = tokio::task::spawn_blocking(move || mon.stop_with(outcome)).await?;
            print_summary(&summary, args);
            return Ok(EXIT_CANNOT_RUN);
        }
    };
    // the group is led by the supervisor; the tree measured is the command's
    let pgid = child.id().map(|p| p as i32).unwrap_or(-1);
    let pid = lifeline.command_pid();
    shutdown::register(pgid, INSTANCE);
    mon.set_processes(vec![(INSTANCE.to_string(), pid)]);
    mon.event("command_started", json!({ "pid": pid, "argv": argv }));

    let mut signals = 0;
    let status = loop {
        let (name, sig) = tokio::select! {
            s = child.wait() => break s,
            _ = int.recv() => ("interrupt", libc::SIGINT),
            _ = term.recv() => ("terminate", libc::SIGTERM),
        };
        signals += 1;
        if signals == 1 {
            eprintln!("monitor: {name} received: passing it on to the command (again to kill it)");
            shutdown::signal_group(pgid, sig);
        } else {
            eprintln!("monitor: second {name}: killing the command's process group");
            shutdown::signal_group(pgid, libc::SIGKILL);
        }
        mon.event(
            "signal_forwarded",
            json!({ "signal": name, "count": signals }),
        );
    };
    // whatever the command left in its group goes too
    tokio::task::spawn_blocking(move || child::stop_group_blocking(pgid, COMMAND_GRACE)).await?;
    drop(lifeline);
    let status = status.map_err(|e| anyhow::anyhow!("waiting for {}: {e}", argv[0]))?;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    mon.event("command_exited", json!({ "exit_code": code }));
    let outcome = CommandOutcome {
        command: argv,
        exit_code: code,
    };
    let summary = tokio::task::spawn_blocking(move || mon.stop_with(outcome)).await?;
    print_summary(&summary, args);
    Ok(code)
}

fn opt(v: Option<f64>, dp: usize) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.dp$}"))
}

/// The summary's energy in one line: total, span, mean power, method and
/// each device, or why there is none.
fn energy_line(e: &super::energy::Energy) -> String {
    let (Some(j), Some(span)) = (e.total_j, e.window_s) else {
        return format!(
            "energy n/a: {}",
            e.why.as_deref().unwrap_or("no power reading")
        );
    };
    let method = match e.method {
        Some(super::energy::EnergyMethod::Counter) => "energy counters",
        _ => "power samples integrated",
    };
    let devices: Vec<String> = e
        .devices
        .iter()
        .map(|d| format!("{} {} J", d.name, opt(d.joules, 1)))
        .collect();
    format!(
        "energy {j:.1} J over {span:.1} s (mean {} W; {method}): {}",
        opt(e.mean_power_w, 1),
        devices.join(", ")
    )
}

/// The console summary (stderr).
fn print_summary(s: &Summary, args: &MonitorArgs) {
    eprintln!(
        "monitor: {:.1} s, {} samples ({} missed; interval mean {} ms, p95 {} ms)",
        s.duration_s,
        s.samples,
        s.missed,
        opt(s.interval_mean_ms, 1),
        opt(s.interval_p95_ms, 1)
    );
    eprintln!(
        "monitor: RAM available {}–{} GB, swap peak {} MB, load max {}, CPU user max {} %",
        opt(s.ram_available_min_gb, 2),
        opt(s.ram_available_max_gb, 2),
        opt(s.swap_max_mb, 1),
        opt(s.load_max, 2),
        opt(s.cpu_user_max, 1)
    );
    if let Some(i) = s.instances.get(INSTANCE) {
        eprintln!(
            "monitor: command RSS peak {} MB, CPU max {} % of a core, up to {} process(es)",
            opt(i.rss_peak_mb, 1),
            opt(i.cpu_max_pct, 1),
            i.processes_max
        );
    }
    eprintln!("monitor: {}", energy_line(&s.energy));
    if let Some(code) = s.exit_code {
        eprintln!("monitor: exit code {code}");
    }
    eprintln!("monitor: wrote {}", output_name(args));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::energy::{DeviceEnergy, DeviceKind, Energy, EnergyMethod, PowerSource};

    #[test]
    fn the_energy_line_gives_figures_or_the_reason() {
        assert_eq!(
            energy_line(&Energy::unknown("no power source: rapl: no powercap")),
            "energy n/a: no power source: rapl: no powercap"
        );
        let mut e = Energy::unknown("x");
        e.why = None;
        e.total_j = Some(2400.0);
        e.window_s = Some(20.0);
        e.mean_power_w = Some(120.0);
        e.method = Some(EnergyMethod::Counter);
        e.devices = vec![DeviceEnergy {
            name: "gpu0".into(),
            kind: DeviceKind::Gpu,
            source: PowerSource::NvmlEnergyCounter,
            joules: Some(2400.0),
            mean_power_w: Some(120.0),
            method: Some(EnergyMethod::Counter),
            why: None,
        }];
        assert_eq!(
            energy_line(&e),
            "energy 2400.0 J over 20.0 s (mean 120.0 W; energy counters): gpu0 2400.0 J"
        );
    }
}
