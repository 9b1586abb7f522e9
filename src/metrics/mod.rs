//! Numbers computed from what a point recorded: latency distributions
//! (`distribution`), the point's metrics and SLO goodput (`point`), what
//! each instance served (`per_instance`), mlxrun's own CPU per request
//! (`client_cpu`), the server's Prometheus metrics before and after a
//! point (`prometheus`), the client's measured ceilings
//! (`calibration`), confidence intervals for correlated samples
//! (`interval`, the moving-block bootstrap) and on every headline figure
//! of a point (`uncertainty`), whether a point's requests look steady
//! (`stability`), the steady-state rule of the shape warmup (`steady`),
//! and the stop-when-tight rule of `[run.precision]` (`precision`).

pub mod calibration;
pub mod client_cpu;
pub mod distribution;
pub mod interval;
pub mod per_instance;
pub mod point;
pub mod precision;
pub mod prometheus;
pub mod stability;
pub mod steady;
pub mod uncertainty;
