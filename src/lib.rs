//! mlxrun: a declarative benchmark runner for LLM inference servers,
//! `mlx_lm.server` first.
//!
//! # Layout
//! The pipeline, bottom to top (each layer names only those below it; the
//! rule and the order are checked by `tests/architecture.rs`):
//! - [`spec`]: what the TOML files say, plain data.
//! - [`backend`], [`workload`], [`media`]: the parts a scenario is built
//!   from: backend definitions and routing, prompts, images and audio.
//! - [`scenario`]: a file plus overrides, layered, checked and expanded
//!   once into its plan of server configurations and points.
//! - [`load`]: the client engine (requests, SSE, arrival schedules, the
//!   driver); [`metrics`]: the numbers computed from its records.
//! - [`monitor`], [`gate`]: the machine during a run, and the memory gate.
//! - [`server`]: server processes, readiness, nginx, a configuration's set.
//! - [`output`]: what a run writes as it goes (CSV, report.jsonl, console);
//!   [`report`]: report.md and report.html read back from a run folder;
//!   [`resume`]: continuing an interrupted run.
//! - [`tune`]: the search over a scenario's matrix (what to measure next).
//! - [`run`]: the sweep itself, from preflight to the run's outcome.
//!
//! The other front doors onto the same pipeline: [`cli`] (`mlxrun …`),
//! [`launcher`] (the interactive menus) and [`serve`] (servers left
//! running). One-shot commands beside it: [`cmd`] (`plan`, `analyze`,
//! `calibrate`, `init`, `validate-report`) and [`stub`] (a zero-latency
//! OpenAI-compatible server for tests, demos and calibration).
//!
//! Plumbing under everything: [`supervisor`] and [`shutdown`] (no child
//! outlives mlxrun), [`procs`] (the process table), [`limits`] (the
//! open-file limit), [`timer`] (sub-millisecond sleeps), [`durable`]
//! (records appended whole and synced), [`error`] (exit codes) and
//! [`remote`] (what runs on other hosts over ssh).

pub mod backend;
pub mod cli;
pub mod cmd;
pub mod durable;
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
pub mod remote;
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
pub mod tune;
pub mod workload;

/// mlxrun's version with the git commit it was built from:
/// `0.1.0 (abc1234 2026-11-22)` (see build.rs); what `--version` prints and
/// every output records.
pub const VERSION: &str = env!("BUILD_MLXRUN_VERSION");
