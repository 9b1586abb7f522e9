//! The command line: `mlxrun SCENARIO` (or `mlxrun run SCENARIO`), `tune`, `resume`,
//! `plan`, `validate`, `analyze`, `stub-server`, `calibrate`, `monitor`,
//! `serve`, `init` and `completions`, `mlxrun` alone or `launch` (the
//! interactive launcher), and the dispatch to the library.
//!
//! - `mod.rs` (here): the clap types, [`Cli`] and its subcommands.
//! - `help`: the texts `--help` prints after the options.
//! - `dispatch`: [`dispatch()`], which runs a parsed command line.

mod dispatch;
mod help;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueHint};

use crate::cmd::analyze::SortOrder;

pub use dispatch::dispatch;
use help::*;

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
    /// Measure each point N times (run.repeats); the point's row combines them.
    #[arg(long, value_name = "N")]
    pub repeats: Option<u32>,
}

/// Arguments of a search.
#[derive(Debug, Clone, Args)]
pub struct TuneArgs {
    /// Scenario file (TOML): its matrix is the search space, its [tune] the objective and budget.
    #[arg(value_hint = ValueHint::FilePath)]
    pub scenario: PathBuf,
    /// Override a field: --set tune.objective=max_load_under_slo --set tune.ttft_p99_ms=500
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Plain progress lines instead of bars, even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Continue this interrupted search (its folder, `run_dir=`) with the scenario; refused if it changed.
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
    /// Search the matrix for the best configuration under [tune]'s objective, without measuring every point.
    #[command(after_help = TUNE_AFTER_HELP)]
    Tune(TuneArgs),
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
    Calibrate(crate::cmd::calibrate::CalibrateArgs),
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
