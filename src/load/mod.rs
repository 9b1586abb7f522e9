//! Load generation: requests (`client`), the SSE parser (`sse`) and chunk
//! reader (`chunk`), arrival schedules (`arrival`), the closed- and
//! open-loop driver (`driver`), the per-request records it collects
//! (`record`), and the one builder of every request's body (`request`). What is computed from the records is in `crate::metrics`.

pub mod arrival;
pub mod chunk;
pub mod client;
pub mod driver;
pub mod record;
pub mod request;
pub mod sse;
