//! Numbers computed from what a point recorded: latency distributions
//! (`distribution`), the point's metrics and SLO goodput (`point`), what
//! each instance served (`per_instance`), mlxrun's own CPU per request
//! (`client_cpu`), the server's Prometheus metrics before and after a
//! point (`prometheus`), the client's measured ceilings
//! (`calibration`), and confidence intervals for correlated samples
//! (`interval`, the moving-block bootstrap), and the steady-state rule of
//! the shape warmup (`steady`).

pub mod calibration;
pub mod client_cpu;
pub mod distribution;
pub mod interval;
pub mod per_instance;
pub mod point;
pub mod prometheus;
pub mod steady;
