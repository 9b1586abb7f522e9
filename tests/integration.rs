//! Integration tests against the real mlx_lm.server (tiny local model) and
//! real nginx (and mlx.launch ranks), driving the `mlxrun` binary as a user
//! would; and `mlxrun stub-server`.

mod backends;
mod client_checks;
mod common;
mod load_modes;
mod real_runs;
mod refusals;
mod stub;
