//! Load generation: requests (`client`), the SSE parser (`sse`), the
//! closed-loop driver (`driver`), per-request records (`record`) and
//! per-point metrics (`metrics`), what each instance served
//! (`per_instance`) and the server's own Prometheus metrics, scraped before
//! and after a point (`prometheus`).

pub mod client;
pub mod driver;
pub mod metrics;
pub mod per_instance;
pub mod prometheus;
pub mod record;
pub mod sse;
