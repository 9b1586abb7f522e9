//! [`MONITOR_SCHEMA`] (compiled in from `schemas/monitor.schema.json`)
//! describes every line of `monitor.jsonl`; it is checked with
//! [`crate::cmd::validate_report::LineValidator`].

/// `schemas/monitor.schema.json`.
pub const MONITOR_SCHEMA: &str = include_str!("../../schemas/monitor.schema.json");

#[cfg(test)]
mod tests;
