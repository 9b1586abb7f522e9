//! Integration tests against the real mlx_lm.server (tiny local model) and
//! real nginx, driving the `mlxrun` binary as a user would.

mod common;
mod real_runs;
mod refusals;
