//! `report.html`: one self-contained interactive page.

use super::data::RunData;

/// The HTML report of `run`, with `compare` overlaid.
pub fn render(run: &RunData, compare: &[RunData]) -> String {
    let _ = compare;
    format!(
        "<!doctype html><title>{}</title><p>{} points</p>",
        run.run_id,
        run.points.len()
    )
}
