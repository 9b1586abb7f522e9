//! Backends as data: the definitions (built-in `backends/*.toml` and the
//! scenario's own), `auto` routing from a model's files, the command line of
//! each instance (with `mlx.launch` for several ranks), the rules of when
//! a point changes how the server works, and the probe of
//! what is installed. Adding a backend needs no Rust change.

pub mod flags;
pub mod mode;
pub mod probe;
pub mod registry;
pub mod routing;
pub mod template;
