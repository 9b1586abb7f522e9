//! Load generation: requests (`client`) and their CPU cost (`client_cpu`),
//! the SSE parser (`sse`) and chunk reader (`chunk`), arrival
//! schedules (`arrival`), the closed- and open-loop driver (`driver`),
//! per-request records (`record`), latency distributions (`distribution`),
//! per-point metrics (`metrics`), what each instance served
//! (`per_instance`) and the server's own Prometheus metrics, scraped before
//! and after a point (`prometheus`).

pub mod arrival;
pub mod chunk;
pub mod client;
pub mod client_cpu;
pub mod distribution;
pub mod driver;
pub mod metrics;
pub mod per_instance;
pub mod prometheus;
pub mod record;
pub mod sse;
