//! What the TOML files say, as plain serde data: the bottom of mlxrun.
//! Nothing here imports any other part of mlxrun, so every layer above
//! (backends, workload, media, scenario loading, the load engine, the run)
//! can name these types without reaching up.
//!
//! - [`scenario`]: a scenario file's sections (`[model]`, `[backend]`,
//!   `[matrix]`, `[workload]`, …) and the matrix axis type.
//! - [`measure`]: `[load]`, `[slo]` and `[metrics]` (rates, percentiles).
//! - [`memory`]: the `[memory]` section.
//! - [`backend`]: a backend definition (`backends/*.toml` and
//!   `[backends.NAME]`).
//! - [`media`]: a point's modality, image sizes and durations.
//! - [`tune`]: the `[tune]` section (objective, limits, budget).
//! - [`units`]: bounded durations (seconds, milliseconds) that convert
//!   without panicking.

pub mod backend;
pub mod measure;
pub mod media;
pub mod memory;
pub mod scenario;
pub mod tune;
pub mod units;
