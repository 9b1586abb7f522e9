//! The command line: `mlxrun SCENARIO` (or `mlxrun run SCENARIO`), `resume`,
//! `plan`, `validate`, `analyze`, `stub-server`, `calibrate`, `monitor`,
//! `serve`, `init` and `completions`, `mlxrun` alone or `launch` (the
//! interactive launcher), and the dispatch to the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueHint};
use tokio_util::sync::CancellationToken;

use crate::analyze::{AnalyzeOptions, SortOrder};
use crate::error::{EXIT_BAD_INPUT, EXIT_OK, UsageError};
use crate::runner::{RunOptions, run};
use crate::scenario::{Overrides, load};

/// `mlxrun --help` after the options. "MLX_* seed names" in it are the
/// environment variables of mlx-knife's benchmark scripts, the predecessor
/// mlxrun was created from, which the scenario layers still read.
const AFTER_HELP: &str = "\
Examples:
  mlxrun scenarios/quickstart.toml            run a scenario
  mlxrun launch                               the interactive launcher (also `mlxrun` alone on a terminal)
  MLX_MAX_TOKENS=256 mlxrun scenarios/single.toml
  mlxrun run scenarios/full_sweep.toml --set matrix.concurrency=1,8,64
  mlxrun plan scenarios/full_sweep.toml       show points and commands, start nothing
  mlxrun resume results/full_sweep/full_sweep_20260101_120000
                                              continue an interrupted or crashed run
  MLX_MODEL_PATH=models/tiny-llama mlxrun scenarios/backends_tour.toml
                                              two models, 1-2 ranks, nginx and client routers
  mlxrun validate scenarios/*.toml
  mlxrun analyze results/full_sweep/full_sweep_20260101_120000.csv --count 10
  mlxrun scenarios/open_loop.toml              Poisson rate sweep, synthetic prompts, goodput
  mlxrun stub-server --port 0 --ttft-ms 50 --itl-ms 10
                                              a zero-latency OpenAI-compatible stub
  mlxrun calibrate                            the client's own ceiling on this machine
  mlxrun report results/quickstart/quickstart_20261122_010203
                                              report.md and report.html of a run
  mlxrun validate-report results/*/*/report.jsonl
                                              check reports against schemas/
  mlxrun monitor -- python bench.py           sample memory, CPU, GPU while a command runs
  mlxrun init --model models/tiny-llama       write scenarios/my_sweep.toml to start from
  mlxrun serve up scenarios/quickstart.toml   keep its servers running; serve status / serve down
  mlxrun completions bash > ~/.local/share/bash-completion/completions/mlxrun

Layering: built-in defaults < scenario file < environment (MLX_* seed names,
MLXRUN_SECTION__FIELD) < --set KEY=VALUE.

Exit codes:
  0    every point ran (request errors, if any, are in the results)
  1    the run finished but one or more points failed
  2    bad input (scenario, variable, argument; a resume whose scenario changed); nothing started
  3    machine not ready (backend, API key, mlx.launch, nginx, flags, ports, results folder, run still going); nothing started
  101  mlxrun itself failed (a panic, a bug): children stopped, finished rows kept
  130  interrupted by Ctrl-C or SIGTERM; finished rows are kept (mlxrun resume RUN_DIR continues)";

/// Declarative benchmark runner for LLM inference servers (mlx_lm.server first).
#[derive(Debug, Parser)]
#[command(name = "mlxrun", version = crate::VERSION, about, after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Arguments of a run.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario file (TOML).
    #[arg(value_hint = ValueHint::FilePath)]
    pub scenario: Option<PathBuf>,
    /// Override a field: --set workload.prompt="Hi" --set matrix.concurrency=1,2,4
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Plain progress lines instead of bars, even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Continue this interrupted run (its folder, `run_dir=`) with the scenario; refused if it changed.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: start servers, drive the load, write results.
    #[command(
        after_help = "Examples:\n  mlxrun run scenarios/quickstart.toml --set matrix.max_tokens=64\n  mlxrun run scenarios/full_sweep.toml --plain"
    )]
    Run(RunArgs),
    /// The interactive launcher (also `mlxrun` alone on a terminal); exit 2 without a terminal.
    #[command(after_help = LAUNCH_AFTER_HELP)]
    Launch,
    /// Continue an interrupted or crashed run in its folder: finished points are kept, the rest run.
    #[command(after_help = RESUME_AFTER_HELP)]
    Resume {
        /// The run folder (`run_dir=` in a run's output), or its CSV.
        run_dir: PathBuf,
        /// Change a field that may differ (ports, timeouts, output paths): --set backend.base_port=9200
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Plain progress lines instead of bars, even on a terminal.
        #[arg(long)]
        plain: bool,
    },
    /// Show what a run would do (points, commands, nginx.conf, value origins); start nothing.
    #[command(
        after_help = "Examples:\n  mlxrun plan scenarios/full_sweep.toml\n  mlxrun plan scenarios/full_sweep.toml --set matrix.instances=1,2"
    )]
    Plan {
        #[arg(value_hint = ValueHint::FilePath)]
        scenario: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Check scenario files; exit 2 when one is invalid.
    #[command(after_help = "Examples:\n  mlxrun validate scenarios/*.toml")]
    Validate {
        #[arg(required = true, value_hint = ValueHint::FilePath)]
        files: Vec<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Print a results CSV sorted by a field.
    #[command(
        after_help = "Examples:\n  mlxrun analyze results/full_sweep/full_sweep_20260101_120000.csv --field throughput_tps --order desc --count 10"
    )]
    Analyze {
        /// The CSV a run wrote.
        #[arg(value_hint = ValueHint::FilePath)]
        file: PathBuf,
        /// Column to sort by.
        #[arg(long, default_value = "throughput_tps")]
        field: String,
        #[arg(long, value_enum, default_value_t = SortOrder::Desc)]
        order: SortOrder,
        /// Rows to print (0 = all).
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// Only these columns (comma-separated).
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
    },
    /// Serve a zero-latency OpenAI-compatible stub (streamed chat and completions) until Ctrl-C or SIGTERM.
    #[command(after_help = STUB_AFTER_HELP)]
    StubServer(crate::stub::StubConfig),
    /// Write report.md and report.html into a run folder (tables, charts, timelines; --compare for deltas).
    #[command(after_help = REPORT_AFTER_HELP)]
    Report {
        /// The run folder (`run_dir=` in a run's output).
        run_dir: PathBuf,
        /// Other run folders to compare with (deltas in report.md, overlays in report.html).
        #[arg(long, num_args = 1.., value_name = "OTHER_RUN_DIR")]
        compare: Vec<PathBuf>,
    },
    /// Check report.jsonl and monitor.jsonl files against the published JSON Schemas (schemas/).
    #[command(after_help = VALIDATE_REPORT_AFTER_HELP)]
    ValidateReport {
        /// report.jsonl or monitor.jsonl files (each line is checked by its own kind).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Measure mlxrun's own ceiling on this machine (requests/s, SSE events/s, timing error) against its stub.
    #[command(after_help = CALIBRATE_AFTER_HELP)]
    Calibrate(crate::calibrate::CalibrateArgs),
    /// Sample memory, swap, pressure, CPU, load, GPUs and a command's process tree into a JSONL file.
    #[command(after_help = MONITOR_AFTER_HELP)]
    Monitor(crate::monitor::cmd::MonitorArgs),
    /// Keep the servers of one configuration running in the background (up, down, status).
    #[command(subcommand, after_help = SERVE_AFTER_HELP)]
    Serve(ServeCommand),
    /// Write a commented starter scenario to edit (default scenarios/my_sweep.toml).
    #[command(after_help = INIT_AFTER_HELP)]
    Init {
        /// Where to write it.
        #[arg(default_value = "scenarios/my_sweep.toml", value_hint = ValueHint::FilePath)]
        path: PathBuf,
        /// Prefill model.path (a local MLX model folder or a Hugging Face repo).
        #[arg(long, value_hint = ValueHint::DirPath)]
        model: Option<String>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script to standard output.
    #[command(after_help = COMPLETIONS_AFTER_HELP)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `mlxrun serve ...`.
#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// Start one server configuration (instances, ranks, nginx), wait until it answers, leave it running.
    #[command(after_help = SERVE_UP_AFTER_HELP)]
    Up {
        /// Scenario file (TOML).
        #[arg(value_hint = ValueHint::FilePath)]
        scenario: PathBuf,
        /// Override a field: --set matrix.instances=2 --set backend.base_port=9000
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Which server configuration, as `mlxrun plan` numbers them.
        #[arg(long, value_name = "N", default_value_t = 1)]
        config: usize,
    },
    /// Stop exactly the processes `serve up` recorded (by pid and start time, never by name).
    #[command(after_help = SERVE_DOWN_AFTER_HELP)]
    Down {
        /// The scenario given to `serve up`, or the state_dir= it printed.
        #[arg(value_hint = ValueHint::AnyPath, value_name = "SCENARIO|STATE_DIR")]
        target: PathBuf,
        /// The --set arguments given to `serve up` (they may move output.dir).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Show every recorded process: URL, pid, pgid, alive, ready, uptime, log.
    #[command(after_help = SERVE_STATUS_AFTER_HELP)]
    Status {
        /// The scenario given to `serve up`, or the state_dir= it printed.
        #[arg(value_hint = ValueHint::AnyPath, value_name = "SCENARIO|STATE_DIR")]
        target: PathBuf,
        /// The --set arguments given to `serve up` (they may move output.dir).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// One JSON object for scripts.
        #[arg(long)]
        json: bool,
    },
}

const SERVE_AFTER_HELP: &str = "\
Examples:
  mlxrun serve up scenarios/quickstart.toml --set matrix.instances=2
  mlxrun serve status scenarios/quickstart.toml
  mlxrun serve down scenarios/quickstart.toml

The processes outlive mlxrun (own session and process group, logs under
<output.dir>/serve/<scenario name>/logs). state.json there records each
one's pid, process group and start time; `down` stops exactly those.";

const SERVE_UP_AFTER_HELP: &str = "\
Examples:
  mlxrun serve up scenarios/quickstart.toml
  mlxrun serve up scenarios/full_sweep.toml --config 3
  mlxrun serve up scenarios/quickstart.toml --set matrix.instances=2 --set router.port=9100

Runs the checks of a run (backend, flags, nginx, ports, memory), starts the
instances (and ranks) of one configuration and nginx when router.kind is
nginx, and returns once each instance answered a 1-token completion and one
went through nginx: prints a status table and state_dir=. When anything
fails or Ctrl-C comes first, everything it started is stopped again.
Exit codes: 0 up; 2 bad input; 3 machine not ready, a server never ready, or
already up (next: mlxrun serve down); 130 interrupted.";

const SERVE_DOWN_AFTER_HELP: &str = "\
Examples:
  mlxrun serve down scenarios/quickstart.toml
  mlxrun serve down results/serve/quickstart

SIGTERM to each recorded process group, backend.stop_grace_s, SIGKILL; a
recorded pid whose start time no longer matches is not signalled. Waits for
the ports to be free, removes state.json, keeps the logs. Exit 0, also when
nothing is running.";

const SERVE_STATUS_AFTER_HELP: &str = "\
Examples:
  mlxrun serve status scenarios/quickstart.toml
  mlxrun serve status results/serve/quickstart --json

Ready means a 1-token completion answers now (through nginx for nginx).
Exit 0 when everything recorded is alive and ready; 1 when something is
down or not ready, or nothing is running.";

const INIT_AFTER_HELP: &str = "\
Examples:
  mlxrun init
  mlxrun init scenarios/gemma.toml --model mlx-community/gemma-3-1b-it-4bit
  mlxrun init scenarios/my_sweep.toml --force

Every line of the file says what it does and what to try next. Then:
mlxrun plan FILE (what it would do) and mlxrun FILE (run it).";

const COMPLETIONS_AFTER_HELP: &str = "\
Examples:
  mlxrun completions bash > ~/.local/share/bash-completion/completions/mlxrun
  mlxrun completions zsh > ~/.zfunc/_mlxrun     (with fpath+=~/.zfunc before compinit)
  mlxrun completions fish > ~/.config/fish/completions/mlxrun.fish

Scenario arguments complete file paths.";

const LAUNCH_AFTER_HELP: &str = "\
Examples:
  mlxrun                 on a terminal: the launcher
  mlxrun launch          the same, explicitly (exit 2 without a terminal)

Menus pick a scenario from ./scenarios/, a model (Hugging Face repo id, a
local folder, the Hugging Face cache), max tokens, concurrency, requests,
environment overrides and server arguments, show the plan and run it; a
submenu starts, stops and checks round-robin servers (mlxrun serve). A run
prints its equivalent command line first. Choices are kept in
.mlxrun/launcher.json. Keys: arrows or 1-9, Enter, Esc back (quits at the
main menu), Ctrl-C quits (exit 130).";

const RESUME_AFTER_HELP: &str = "\
Examples:
  mlxrun resume results/full_sweep/full_sweep_20261122_010203
  mlxrun resume results/full_sweep/full_sweep_20261122_010203 --set backend.base_port=9200
  mlxrun run scenarios/full_sweep.toml --resume results/full_sweep/full_sweep_20261122_010203

`resume RUN_DIR` runs the effective scenario the run saved beside its CSV
(<RUN_DIR>.scenario.toml; no environment layer); `run FILE --resume RUN_DIR`
loads FILE with its layers and refuses (exit 2) when it differs from the
saved one, listing each field as `field: saved → now`. Only ports, timeouts,
output paths, description, continue_on_error and check_flags may differ.

A point is finished when its last CSV row and its last report.jsonl record
say ok, errors, failed or skipped; interrupted points and points missing
either line run again. The CSV, report.jsonl, processes.jsonl and logs are
appended (a new line for a re-run point comes after the old one; readers
take the last line per point); a partial last line left by a crash is cut
off first; monitor.jsonl gets a `resumed` event. report.md and report.html
are rewritten from the whole files. A run with every point finished exits 0
and starts nothing. Exit codes as for a run; 3 also while the mlxrun that
writes the run is still going (its pid is named).";

const REPORT_AFTER_HELP: &str = "\
Examples:
  mlxrun report results/quickstart/quickstart_20261122_010203
  mlxrun report results/full_sweep/full_sweep_20261122_010203 --compare results/full_sweep/full_sweep_20261121_090000

Reads the folder's report.jsonl and monitor.jsonl and writes report.md and
report.html (one self-contained file: charts work offline) into it. A run
writes both when it ends; this command rewrites them, e.g. with --compare.";

const VALIDATE_REPORT_AFTER_HELP: &str = "\
Examples:
  mlxrun validate-report results/quickstart/quickstart_20261122_010203/report.jsonl
  mlxrun validate-report results/*/*/report.jsonl results/*/*/monitor.jsonl

Prints `FILE:LINE: /json/pointer: message` for every violation and a total per
file. Exit codes: 0 every record is valid, 1 a record is not (or a file has
none), 2 a file cannot be read.";
const MONITOR_AFTER_HELP: &str = "\
Examples:
  mlxrun monitor -- python bench.py --model m   watch a command; exit with its exit code
  mlxrun monitor --interval 100 --output runs/mem.jsonl -- sh -c 'make -j8'
  mlxrun monitor --duration 60                  sample the machine for a minute

Writes one JSON line per record, each flushed as it is written: a header
(hardware, which sources are readable and why not), a sample every
--interval ms on a fixed-rate schedule, events, and a summary last. A value
that cannot be read here is null, never 0. The command runs without a shell
in its own process group; Ctrl-C is passed on to it (twice kills it). Exit
code: the command's (128 + N if signal N killed it, 127 if it could not
start); 2 when there is neither a command nor --duration.";

const CALIBRATE_AFTER_HELP: &str = "\
Examples:
  mlxrun calibrate                             save .mlxrun/calibration.json
  mlxrun calibrate --concurrency 256 --tokens 512

Starts `mlxrun stub-server` as a child process and measures, with mlxrun's
own client: requests/s with one-token responses, SSE events/s with
--tokens-token responses written in one burst, the client's CPU per request,
and the error of the TTFT and ITL it reports against a stub with a known
200 ms TTFT and 10 ms ITL. Runs read the saved file and flag every point whose
load comes above 70% of either ceiling (CSV column client_check). Use a
release build.";

const STUB_AFTER_HELP: &str = "\
Examples:
  mlxrun stub-server --port 0                  print `listening on http://127.0.0.1:PORT`, serve
  mlxrun stub-server --ttft-ms 120 --itl-ms 15 --tokens 256
  mlxrun stub-server --burst --error-rate 0.05 --seed 7

Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
GET /health, GET /metrics (Prometheus). A request's max_tokens is honoured
(exactly that many tokens, finish_reason \"length\"); each token is `tok `.";

/// Run the parsed command line; returns the exit code.
pub async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Some(Command::Run(args)) => run_scenario(args).await,
        Some(Command::Resume {
            run_dir,
            sets,
            plain,
        }) => resume(run_dir, sets, plain).await,
        None if cli.run.scenario.is_some() || cli.run.resume.is_some() => {
            run_scenario(cli.run).await
        }
        None => crate::launcher::start(false).await,
        Some(Command::Launch) => crate::launcher::start(true).await,
        Some(Command::Plan { scenario, sets }) => {
            let resolved = load(&scenario, &Overrides::from_process(sets))?;
            let text = crate::plan::render(&resolved).map_err(UsageError)?;
            print!("{text}");
            Ok(EXIT_OK)
        }
        Some(Command::Validate { files, sets }) => {
            let mut bad = 0;
            for f in &files {
                match load(f, &Overrides::from_process(sets.clone())) {
                    Ok(r) => {
                        let n =
                            crate::scenario::expand::expand(&r.scenario, &r.models, &r.registry)
                                .map(|p| p.points.len())
                                .unwrap_or(0);
                        println!("ok {} ({n} points)", f.display());
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            Ok(if bad == 0 { EXIT_OK } else { EXIT_BAD_INPUT })
        }
        Some(Command::Analyze {
            file,
            field,
            order,
            count,
            columns,
        }) => {
            let opts = AnalyzeOptions {
                file,
                field,
                order,
                count,
                columns,
            };
            let table = crate::analyze::analyze(&opts).map_err(|e| UsageError(e.to_string()))?;
            print!("{table}");
            Ok(EXIT_OK)
        }
        Some(Command::StubServer(cfg)) => crate::stub::cmd::run(cfg).await,
        Some(Command::Calibrate(args)) => crate::calibrate::run(args).await,
        Some(Command::Report { run_dir, compare }) => {
            let w = crate::report::write(&run_dir, &compare).map_err(UsageError)?;
            println!("report_md={}", w.markdown.display());
            println!("report_html={}", w.html.display());
            Ok(EXIT_OK)
        }
        Some(Command::ValidateReport { files }) => Ok(crate::validate_report::run(&files)),
        Some(Command::Monitor(args)) => crate::monitor::cmd::run(args).await,
        Some(Command::Serve(cmd)) => serve(cmd).await,
        Some(Command::Init { path, model, force }) => {
            crate::init::write(&path, model.as_deref(), force)?;
            Ok(EXIT_OK)
        }
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            use std::io::Write;
            // into a buffer: the generator panics on a write error (a
            // closed pipe, `| head`), which is no error here
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mlxrun", &mut script);
            match std::io::stdout().write_all(&script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(EXIT_OK),
            }
        }
    }
}

async fn serve(cmd: ServeCommand) -> anyhow::Result<i32> {
    match cmd {
        ServeCommand::Up {
            scenario,
            sets,
            config,
        } => {
            crate::serve::up::up(crate::serve::up::UpArgs {
                scenario,
                sets,
                config,
            })
            .await
        }
        ServeCommand::Down { target, sets } => crate::serve::down::down(&target, &sets).await,
        ServeCommand::Status { target, sets, json } => {
            crate::serve::status::status(&target, &sets, json).await
        }
    }
}

async fn run_scenario(args: RunArgs) -> anyhow::Result<i32> {
    let Some(path) = args.scenario else {
        if let Some(dir) = args.resume {
            return resume(dir, args.sets, args.plain).await;
        }
        return Err(UsageError(
            "no scenario given\n  next: mlxrun run scenarios/quickstart.toml".into(),
        )
        .into());
    };
    let resume = args
        .resume
        .as_deref()
        .map(crate::resume::paths)
        .transpose()?;
    let resolved = load(&path, &Overrides::from_process(args.sets))?;
    run_to_exit(
        &resolved,
        RunOptions {
            plain_progress: args.plain,
            resume,
        },
    )
    .await
}

/// `mlxrun resume RUN_DIR`: the run's saved scenario (with `sets`), resumed.
async fn resume(run_dir: PathBuf, sets: Vec<String>, plain: bool) -> anyhow::Result<i32> {
    let paths = crate::resume::paths(&run_dir)?;
    let resolved = crate::resume::saved_scenario(&paths, sets)?;
    run_to_exit(
        &resolved,
        RunOptions {
            plain_progress: plain,
            resume: Some(paths),
        },
    )
    .await
}

/// Run, then map the outcome to an exit code.
async fn run_to_exit(
    resolved: &crate::scenario::Resolved,
    opts: RunOptions,
) -> anyhow::Result<i32> {
    let cancel = CancellationToken::new();
    let _listener =
        crate::shutdown::spawn_signal_listener(cancel.clone(), crate::shutdown::RUN_STOPS)?;
    let outcome = run(resolved, cancel, &opts).await?;
    if outcome.interrupted {
        eprintln!(
            "interrupted: {} finished point(s) kept in {}\n  next: mlxrun resume {}",
            outcome.points_done,
            outcome.csv.display(),
            outcome.run_dir.display()
        );
    } else if outcome.points_failed > 0 {
        eprintln!(
            "{} point(s) failed; see status_detail in {}",
            outcome.points_failed,
            outcome.csv.display()
        );
    }
    Ok(outcome.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every subcommand, nested ones too, shows an `Examples:` block whose
    /// lines run mlxrun.
    #[test]
    fn every_subcommand_has_examples() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                let help = sub
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                let ok = help.split_once("Examples:\n").is_some_and(|(_, rest)| {
                    rest.lines().next().is_some_and(|l| {
                        l.trim_start().starts_with("mlxrun ") || l.contains(" mlxrun ")
                    })
                });
                if !ok {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "mlxrun", &mut missing);
        assert!(
            missing.is_empty(),
            "no Examples: block in --help of {missing:?}"
        );
    }

    /// The top-level Examples list names only subcommands that exist, and
    /// every subcommand appears in it.
    #[test]
    fn the_top_level_examples_are_true() {
        let cmd = Cli::command();
        let names: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
        let examples = AFTER_HELP.split("\n\n").next().unwrap();
        for line in examples.lines().skip(1) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(i) = words.iter().position(|w| *w == "mlxrun") else {
                continue;
            };
            let next = words.get(i + 1).copied().unwrap_or_default();
            assert!(
                names.contains(&next) || next.ends_with(".toml"),
                "`{line}`: `{next}` is neither a subcommand nor a scenario"
            );
        }
        for n in names.iter().filter(|n| !["run", "help"].contains(n)) {
            assert!(
                examples.contains(&format!("mlxrun {n} ")),
                "the top-level examples do not show `mlxrun {n}`"
            );
        }
    }

    #[test]
    fn serve_init_and_completions_parse() {
        let c = Cli::parse_from([
            "mlxrun", "serve", "up", "s.toml", "--config", "2", "--set", "a.b=1",
        ]);
        let Some(Command::Serve(ServeCommand::Up {
            scenario,
            sets,
            config,
        })) = c.command
        else {
            panic!("not serve up")
        };
        assert_eq!(
            (scenario, sets, config),
            ("s.toml".into(), vec!["a.b=1".to_string()], 2)
        );
        let c = Cli::parse_from(["mlxrun", "serve", "status", "d", "--json"]);
        assert!(matches!(
            c.command,
            Some(Command::Serve(ServeCommand::Status { json: true, .. }))
        ));
        let c = Cli::parse_from(["mlxrun", "init"]);
        let Some(Command::Init { path, model, force }) = c.command else {
            panic!("not init")
        };
        assert_eq!(
            (path, model, force),
            ("scenarios/my_sweep.toml".into(), None, false)
        );
        assert!(Cli::try_parse_from(["mlxrun", "completions", "tcsh"]).is_err());
        assert!(Cli::try_parse_from(["mlxrun", "completions", "fish"]).is_ok());
    }

    #[test]
    fn analyze_order_is_asc_or_desc_and_desc_by_default() {
        let order = |extra: &[&str]| {
            let mut args = vec!["mlxrun", "analyze", "f.csv"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).map(|c| match c.command {
                Some(Command::Analyze { order, .. }) => order,
                other => panic!("not analyze: {other:?}"),
            })
        };
        assert_eq!(order(&[]).unwrap(), SortOrder::Desc);
        assert_eq!(order(&["--order", "asc"]).unwrap(), SortOrder::Asc);
        assert_eq!(order(&["--order", "desc"]).unwrap(), SortOrder::Desc);
        assert!(order(&["--order", "Asc"]).is_err());
    }

    #[test]
    fn bare_scenario_and_subcommands_parse() {
        let c = Cli::parse_from(["mlxrun", "s.toml", "--set", "a.b=1"]);
        assert!(c.command.is_none());
        assert_eq!(c.run.scenario, Some(PathBuf::from("s.toml")));
        assert_eq!(c.run.sets, vec!["a.b=1".to_string()]);
        let c = Cli::parse_from(["mlxrun", "plan", "s.toml"]);
        assert!(matches!(c.command, Some(Command::Plan { .. })));
    }

    #[test]
    fn no_arguments_and_launch_parse_for_the_launcher() {
        let c = Cli::parse_from(["mlxrun"]);
        assert!(c.command.is_none() && c.run.scenario.is_none() && c.run.resume.is_none());
        let c = Cli::parse_from(["mlxrun", "launch"]);
        assert!(matches!(c.command, Some(Command::Launch)));
        assert!(Cli::try_parse_from(["mlxrun", "launch", "x.toml"]).is_err());
    }

    #[test]
    fn resume_parses_as_a_command_and_as_a_run_option() {
        let c = Cli::parse_from(["mlxrun", "resume", "results/s/s_1", "--set", "a.b=1"]);
        let Some(Command::Resume {
            run_dir,
            sets,
            plain,
        }) = c.command
        else {
            panic!("not resume")
        };
        assert_eq!(run_dir, PathBuf::from("results/s/s_1"));
        assert_eq!((sets, plain), (vec!["a.b=1".to_string()], false));
        let c = Cli::parse_from(["mlxrun", "run", "s.toml", "--resume", "results/s/s_1"]);
        let Some(Command::Run(args)) = c.command else {
            panic!("not run")
        };
        assert_eq!(args.resume, Some(PathBuf::from("results/s/s_1")));
        let c = Cli::parse_from(["mlxrun", "s.toml", "--resume", "d"]);
        assert_eq!(c.run.resume, Some(PathBuf::from("d")));
    }

    #[test]
    fn stub_server_flags_parse_with_defaults() {
        let c = Cli::parse_from(["mlxrun", "stub-server"]);
        let Some(Command::StubServer(cfg)) = c.command else {
            panic!("not stub-server")
        };
        assert_eq!(cfg, crate::stub::StubConfig::default());
        let c = Cli::parse_from([
            "mlxrun",
            "stub-server",
            "--port",
            "0",
            "--ttft-ms",
            "1.5",
            "--itl-ms",
            "0.25",
            "--tokens",
            "9",
            "--max-tokens-cap",
            "4",
            "--burst",
            "--error-rate",
            "0.5",
            "--error-status",
            "503",
            "--seed",
            "3",
            "--model",
            "m",
        ]);
        let Some(Command::StubServer(cfg)) = c.command else {
            panic!("not stub-server")
        };
        assert_eq!(
            (
                cfg.port,
                cfg.ttft_ms,
                cfg.itl_ms,
                cfg.tokens,
                cfg.max_tokens_cap
            ),
            (0, 1.5, 0.25, 9, Some(4))
        );
        assert!(cfg.burst);
        assert_eq!(
            (
                cfg.error_rate,
                cfg.error_status,
                cfg.seed,
                cfg.model.as_str()
            ),
            (0.5, 503, 3, "m")
        );
        for bad in [
            &["--error-rate", "1.5"][..],
            &["--ttft-ms", "-1"],
            &["--itl-ms", "nan"],
            &["--error-status", "200"],
        ] {
            let mut args = vec!["mlxrun", "stub-server"];
            args.extend_from_slice(bad);
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn monitor_takes_a_command_after_dashes_or_a_duration() {
        let parse = |args: &[&str]| {
            let mut v = vec!["mlxrun", "monitor"];
            v.extend_from_slice(args);
            Cli::try_parse_from(v).map(|c| match c.command {
                Some(Command::Monitor(m)) => m,
                other => panic!("not monitor: {other:?}"),
            })
        };
        let m = parse(&["--", "sh", "-c", "exit 3"]).unwrap();
        assert_eq!(m.interval, 200);
        assert_eq!(m.output, PathBuf::from("monitor.jsonl"));
        assert_eq!(m.duration, None);
        assert_eq!(m.command, ["sh", "-c", "exit 3"]);
        let m = parse(&[
            "--interval",
            "50",
            "--output",
            "x.jsonl",
            "--duration",
            "1.5",
        ])
        .unwrap();
        assert_eq!((m.interval, m.duration), (50, Some(1.5)));
        assert!(m.command.is_empty());
        // neither is a usage error at run time (exit 2), not a parse error
        assert!(parse(&[]).unwrap().command.is_empty());
        for bad in [
            &["--duration", "5", "--", "sleep", "1"][..],
            &["--duration", "0"],
            &["--duration", "inf"],
            &["--interval", "0"],
            &["sleep", "1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
