//! The search behind `mlxrun tune`: the best configuration of a
//! scenario's matrix under an objective, without measuring the whole
//! product. Pure: it decides what to measure next from what was measured;
//! the run machinery measures.
//!
//! - [`goal`]: the objective and limits, in a probe's figures.
//! - [`observation`]: what one probe measured, with intervals.
//! - [`knee`]: one configuration's knee along its load axis (doubling,
//!   then bisection).
//! - [`halving`]: successive halving across configurations, dropping only
//!   the ones worse beyond noise.
//! - [`pooling`]: a figure measured in several rounds, pooled with the
//!   variation between rounds in its interval (the result's verdict).
//! - [`search`]: the state machine a runner drives, and its result.
//! - [`log`]: every decision as a record for `tune.jsonl`.

pub mod goal;
pub mod halving;
pub mod knee;
pub mod log;
pub mod observation;
pub mod pooling;
pub mod search;

#[cfg(test)]
mod surface;
#[cfg(test)]
mod tests;
