//! Load generation: requests (`client`), the SSE parser (`sse`), the
//! closed-loop driver (`driver`), per-request records (`record`) and
//! per-point metrics (`metrics`) and what each instance served
//! (`per_instance`).

pub mod client;
pub mod driver;
pub mod metrics;
pub mod per_instance;
pub mod record;
pub mod sse;
