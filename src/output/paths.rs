//! Where one run's outputs go: `<output.dir>/<name>/<stem>_<timestamp>.csv`,
//! the effective scenario beside it and the run folder, for a new run or
//! from an existing run's folder or CSV. A new run claims its name by
//! creating its folder (`mkdir`, which fails when the folder exists), so
//! two runs started in the same second never share a folder: the second
//! one takes `<stem>_<timestamp>-2`, and so on.

use std::io;
use std::path::{Path, PathBuf};

use crate::scenario::Resolved;
use crate::scenario::model_path::expand_tilde;

/// How many runs may share one name (and second) before a new one gives up.
pub const MAX_SAME_NAME: u32 = 1000;

/// Paths of one run's outputs.
#[derive(Debug, Clone)]
pub struct RunPaths {
    pub csv: PathBuf,
    pub scenario_copy: PathBuf,
    pub run_dir: PathBuf,
}

impl RunPaths {
    /// The folder a new run of `resolved` goes into, `<output.dir>/<name>`.
    pub fn base(resolved: &Resolved) -> PathBuf {
        let s = &resolved.scenario;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        expand_tilde(&s.output.dir, home.as_deref()).join(&s.name)
    }

    /// Create the run folder of a new run of `resolved`,
    /// `<base>/<stem>_<YYYYmmdd_HHMMSS>/` (see [`RunPaths::create_in`]),
    /// and return its paths.
    pub fn create(resolved: &Resolved) -> io::Result<RunPaths> {
        let s = &resolved.scenario;
        let stem = if s.output.stem.trim().is_empty() {
            s.name.as_str()
        } else {
            s.output.stem.as_str()
        };
        let ts = chrono::Local::now().format("%Y%m%d_%H%M%S");
        RunPaths::create_in(&RunPaths::base(resolved), &format!("{stem}_{ts}"))
    }

    /// Create a new run folder `<base>/<name>` (and `base` when missing) and
    /// return its paths; when that name is taken (its folder, CSV or saved
    /// scenario exists, or another run creates the folder first), the next
    /// free one of `<name>-2`, `<name>-3`, … The folder is the claim: it is
    /// made with `create_dir`, which only one caller can win.
    pub fn create_in(base: &Path, name: &str) -> io::Result<RunPaths> {
        std::fs::create_dir_all(base)?;
        for n in 1..=MAX_SAME_NAME {
            let name = if n == 1 {
                name.to_string()
            } else {
                format!("{name}-{n}")
            };
            let p = RunPaths::named(base, &name);
            // a CSV or saved scenario left without its folder still names a run
            let taken = |f: &Path| std::fs::symlink_metadata(f).is_ok();
            if taken(&p.csv) || taken(&p.scenario_copy) {
                continue;
            }
            match std::fs::create_dir(&p.run_dir) {
                Ok(()) => return Ok(p),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{MAX_SAME_NAME} runs named {name}… exist in {} already",
                base.display()
            ),
        ))
    }

    /// `<base>/<name>/`, `<base>/<name>.csv` and `<base>/<name>.scenario.toml`.
    fn named(base: &Path, name: &str) -> RunPaths {
        RunPaths {
            csv: base.join(format!("{name}.csv")),
            scenario_copy: base.join(format!("{name}.scenario.toml")),
            run_dir: base.join(name),
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
            run_dir,
            ..RunPaths::named(&base, &name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_in_the_same_second_get_folders_of_their_own() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("results/s");
        let first = RunPaths::create_in(&base, "s_20260101_120000").unwrap();
        let second = RunPaths::create_in(&base, "s_20260101_120000").unwrap();
        assert_eq!(first.run_dir, base.join("s_20260101_120000"));
        assert_eq!(second.run_dir, base.join("s_20260101_120000-2"));
        assert_eq!(second.csv, base.join("s_20260101_120000-2.csv"));
        assert_eq!(
            second.scenario_copy,
            base.join("s_20260101_120000-2.scenario.toml")
        );
        assert!(first.run_dir.is_dir() && second.run_dir.is_dir());
        // a CSV whose folder is gone still holds its name
        std::fs::write(base.join("s_20260101_120000-3.csv"), "x").unwrap();
        let fourth = RunPaths::create_in(&base, "s_20260101_120000").unwrap();
        assert_eq!(fourth.run_dir, base.join("s_20260101_120000-4"));
        // and a folder's paths read back the same way
        let back = RunPaths::of_run(&fourth.run_dir);
        assert_eq!(
            (back.csv, back.scenario_copy),
            (fourth.csv, fourth.scenario_copy)
        );
    }

    #[test]
    fn runs_started_at_once_never_share_a_folder() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("s");
        let made: Vec<PathBuf> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| RunPaths::create_in(&base, "s_1").unwrap().run_dir))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut unique = made.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8, "{made:?}");
    }

    #[test]
    fn a_base_that_cannot_be_made_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(RunPaths::create_in(&file.join("s"), "s_1").is_err());
    }
}
