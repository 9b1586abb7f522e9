//! The layers of `src/` and the rule that no import runs up one
//! (`architecture`). Integration tests against the real mlx_lm.server (tiny local model) and
//! real nginx (and mlx.launch ranks), driving the `mlxrun` binary as a user
//! would; faults a run survives, a panic and a soak (`faults`);
//! `mlxrun stub-server`; `mlxrun monitor`; `mlxrun serve` (servers left
//! running, stopped by recorded pid); `mlxrun init`, completions and
//! `--version`; report.html in headless Chromium; the interactive
//! launcher through a pseudo-terminal; and vision and audio points
//! (`multimodal`: the stub, then the real mlx_vlm.server with tiny vision
//! and speech models); `mlxrun tune` against stubs with a batch (`tune`);
//! the test hosts (network namespaces with sshd) and mlx.launch's ring
//! across two of them (`hosts`); mlxrun itself across those hosts: ranks
//! on two hosts, instances on two hosts behind nginx, the refusals before
//! anything starts and every exit path leaving no process on any host
//! (`multi_host`).

mod architecture;
mod backends;
mod bad_input;
mod client_checks;
mod common;
mod defensible;
mod faults;
mod hosts;
mod init;
mod launcher;
mod load_modes;
mod monitor;
mod multi_host;
mod multimodal;
mod observability;
mod real_runs;
mod refusals;
mod reports_html;
mod reports_md;
mod resume;
mod serve;
mod stub;
mod tune;
