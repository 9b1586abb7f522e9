//! Integration tests against the real mlx_lm.server (tiny local model) and
//! real nginx (and mlx.launch ranks), driving the `mlxrun` binary as a user
//! would; faults a run survives, a panic and a soak (`faults`);
//! `mlxrun stub-server`; `mlxrun monitor`; report.html in headless
//! Chromium; and vision and audio points (`multimodal`: the stub, then the
//! real mlx_vlm.server with tiny vision and speech models).

mod backends;
mod bad_input;
mod client_checks;
mod common;
mod faults;
mod load_modes;
mod monitor;
mod multimodal;
mod observability;
mod real_runs;
mod refusals;
mod reports_html;
mod reports_md;
mod resume;
mod stub;
