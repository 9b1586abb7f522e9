//! Where one run's outputs go: `<output.dir>/<name>/<stem>_<timestamp>.csv`,
//! the effective scenario beside it and the run folder, for a new run or
//! from an existing run's folder or CSV.

use std::path::{Path, PathBuf};

use crate::scenario::Resolved;
use crate::scenario::model_path::expand_tilde;

/// Paths of one run's outputs.
#[derive(Debug, Clone)]
pub struct RunPaths {
    pub csv: PathBuf,
    pub scenario_copy: PathBuf,
    pub run_dir: PathBuf,
}

impl RunPaths {
    /// `<dir>/<name>/<stem>_<YYYYmmdd_HHMMSS>.csv` and friends.
    pub fn new(resolved: &Resolved) -> RunPaths {
        let s = &resolved.scenario;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let base = expand_tilde(&s.output.dir, home.as_deref()).join(&s.name);
        let stem = if s.output.stem.trim().is_empty() {
            s.name.clone()
        } else {
            s.output.stem.clone()
        };
        let ts = chrono::Local::now().format("%Y%m%d_%H%M%S");
        let mut n = 0;
        loop {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("_{n}")
            };
            let name = format!("{stem}_{ts}{suffix}");
            let csv = base.join(format!("{name}.csv"));
            if !csv.exists() {
                return RunPaths {
                    scenario_copy: base.join(format!("{name}.scenario.toml")),
                    run_dir: base.join(&name),
                    csv,
                };
            }
            n += 1;
        }
    }

    /// The paths of an existing run, from its folder (`run_dir=`) or its
    /// CSV: `<dir>/<name>/` beside `<dir>/<name>.csv` and
    /// `<dir>/<name>.scenario.toml`.
    pub fn of_run(given: &Path) -> RunPaths {
        let run_dir = if given.extension().is_some_and(|e| e == "csv") {
            given.with_extension("")
        } else {
            given.components().collect::<PathBuf>()
        };
        let name = run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = run_dir.parent().unwrap_or(Path::new("")).to_path_buf();
        RunPaths {
            csv: base.join(format!("{name}.csv")),
            scenario_copy: base.join(format!("{name}.scenario.toml")),
            run_dir,
        }
    }
}
