//! What a run writes, file by file:
//!
//! - `paths`: where a run's files go; a new run's folder is created new.
//! - `csv_sink`: the results CSV, created new, one row appended whole and
//!   synced per point.
//! - `jsonl`: `report.jsonl`, one JSON record appended whole and synced
//!   per point (the schema version and the record layout).
//! - `requests_log`: `requests.jsonl`, one JSON line per measured request,
//!   appended in whole lines and synced per point.
//!
//! Every record goes through [`crate::durable`]: whole lines per write,
//! synced, so a crash never leaves half a record.
//! - `row`: the row of one point, shared by the CSV and `report.jsonl`, and
//!   the CSV columns.
//! - `model_info`: the `model` object of a record (id, path, size,
//!   framework, quantization, family).
//! - `system_info`: the `system` object of a record (platform, RAM,
//!   hardware profile, backend package versions).
//! - `quality`: a point's system health and the quality flags derived
//!   from it.
//! - `progress`: progress on stderr, bars on a terminal or plain lines.

pub mod csv_sink;
pub mod jsonl;
pub mod model_info;
pub mod paths;
pub mod progress;
pub mod quality;
pub mod requests_log;
pub mod row;
pub mod system_info;
