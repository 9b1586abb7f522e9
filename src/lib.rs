//! mlxrun: a declarative benchmark runner for LLM inference servers,
//! `mlx_lm.server` first.
//!
//! # Layout
//! - [`scenario`]: TOML scenario files, layering (defaults < file < env <
//!   `--set`), validation and matrix expansion into points.
//! - [`backend`]: backend definitions as data (built-in `backends/*.toml`
//!   and the scenario's own), `auto` routing, instance command lines with
//!   `mlx.launch` for several ranks, and the probe of what is installed.
//! - [`server`]: starting, probing and stopping server processes and nginx,
//!   each in its own process group.
//! - [`workload`]: the prompts each request sends: fixed text, prompt
//!   files (text, JSONL, ShareGPT) or token-exact synthetic prompts.
//! - [`media`]: images, audio and multipart forms of vision and audio
//!   requests, built before a point starts.
//! - [`load`]: the HTTP load driver, SSE parsing, per-request records and
//!   per-point metrics.
//! - [`output`]: CSV and JSONL results, console lines and progress.
//! - [`runner`]: the sweep itself, from plan to results.
//! - [`gate`]: the memory gate: a configuration's need against RAM and
//!   what is available, and the wait for memory after servers stop.
//! - [`init`]: `mlxrun init`, a commented starter scenario.
//! - [`health`]: zombies and leftover process groups around a point.
//! - [`report`]: `mlxrun report`, report.md and report.html of a run.
//! - [`validate_report`]: `mlxrun validate-report`, report and monitor
//!   files against the JSON Schemas in `schemas/`.
//! - [`resume`]: `mlxrun resume`, continuing an interrupted or crashed run.
//! - [`plan`]: `mlxrun plan`, what a run would do.
//! - [`launcher`]: `mlxrun` alone on a terminal (or `mlxrun launch`), the
//!   interactive launcher: menus, plan view, runs, round-robin servers.
//! - [`calibrate`]: `mlxrun calibrate`, the client's own ceiling on this
//!   machine, which runs compare every point with.
//! - [`analyze`]: `mlxrun analyze`, sorted tables of a results CSV.
//! - [`monitor`]: the system monitor (memory, swap, pressure, CPU, load,
//!   GPUs, process trees, sampled on a fixed-rate thread into JSONL) and
//!   `mlxrun monitor`.
//! - [`shutdown`]: signal handling and the process registry that guarantees
//!   no child outlives mlxrun.
//! - [`limits`]: the open-file limit, raised at start (a macOS terminal
//!   gives 256).
//! - [`supervisor`]: `mlxrun __supervise`, the small supervisor every child
//!   is started through, which stops the child's process group when
//!   mlxrun is gone (even after SIGKILL), on Linux and macOS alike.
//! - [`stub`]: `mlxrun stub-server`, a zero-latency OpenAI-compatible server
//!   for tests, demos, calibration and client benchmarks.
//! - [`serve`]: `mlxrun serve up|down|status`, servers of one
//!   configuration left running in the background, tracked by a state file.
//! - [`timer`]: a sub-millisecond sleep (one timer thread, a heap of
//!   deadlines) for the stub's delays and open-loop send times.

pub mod backend;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod gate;
pub mod launcher;
pub mod limits;
pub mod load;
pub mod media;
pub mod metrics;
pub mod monitor;
pub mod output;
pub mod procs;
pub mod report;
pub mod resume;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod server;
pub mod shutdown;
pub mod spec;
pub mod stub;
pub mod supervisor;
pub mod timer;
pub mod workload;

/// mlxrun's version with the git commit it was built from:
/// `0.1.0 (abc1234 2026-11-22)` (see build.rs); what `--version` prints and
/// every output records.
pub const VERSION: &str = env!("BUILD_MLXRUN_VERSION");
