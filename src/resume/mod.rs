//! `mlxrun resume RUN_DIR` and `mlxrun run FILE --resume RUN_DIR`: continue
//! an interrupted or crashed run in its own folder, so a crash late in a
//! long sweep costs one point, not the night.
//!
//! Before anything starts: the effective scenario must equal the one the
//! run saved beside its CSV (field by field, [`changes`]), partial last
//! lines a crash left are cut off ([`tail`]), and the CSV's header must be
//! the one this run would write. Then the points that are finished
//! ([`finished`]) are skipped and the rest run, appending to the same
//! files: results are never rewritten, a re-measured point's new lines come
//! after its old ones, and readers take the last line per point.

pub mod changes;
pub mod finished;
pub mod tail;
