//! `mlxrun report RUN_DIR [--compare OTHER_RUN_DIR…]`: `report.md` and
//! `report.html` in the run folder, from its `report.jsonl` and
//! `monitor.jsonl` (with each other host's `hosts/<host>/monitor.jsonl`,
//! and those of the runs it is compared with); `mlxrun run` writes them
//! when it ends, interrupted or not.

pub mod cells;
pub mod compare;
pub mod data;
pub mod energy;
pub mod hosts;
pub mod html;
pub mod markdown;
pub mod md_tables;
pub mod search;
pub mod summary;
pub mod table;
pub mod verdict;

use std::path::{Path, PathBuf};

use data::RunData;

/// Where the two reports were written, and what each comparison found.
#[derive(Debug, Clone)]
pub struct Written {
    pub markdown: PathBuf,
    pub html: PathBuf,
    /// Per run compared with: `vs OTHER: 2 points slower, 5 no
    /// significant difference, 0 faster; z-test on the difference, …`.
    pub comparisons: Vec<String>,
}

/// Write `report.md` and `report.html` into `run_dir`, comparing with
/// `compare` (other run folders) when given.
pub fn write(run_dir: &Path, compare: &[PathBuf]) -> Result<Written, String> {
    let run = RunData::load(run_dir)?;
    let others = compare
        .iter()
        .map(|d| RunData::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    let out = Written {
        markdown: run_dir.join("report.md"),
        html: run_dir.join("report.html"),
        comparisons: others
            .iter()
            .map(|o| {
                format!(
                    "vs {}: {}",
                    o.run_id,
                    compare::compare(&run, o).summary_line()
                )
            })
            .collect(),
    };
    // replaced whole: a crash leaves the old report or the new one
    let write = |path: &Path, text: String| {
        crate::durable::replace(path, text.as_bytes()).map_err(|e| {
            format!(
                "cannot write {}: {e}\n  next: check the folder's permissions",
                path.display()
            )
        })
    };
    write(&out.markdown, markdown::render(&run, &others))?;
    write(&out.html, html::render(&run, &others))?;
    Ok(out)
}
