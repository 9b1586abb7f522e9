//! The scenario picker's list: the `*.toml` files of `./scenarios/` with
//! their name and description (read from the file alone, no layers).

use std::path::{Path, PathBuf};

/// One scenario file on offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioEntry {
    /// `scenarios/x.toml`, relative to the current directory.
    pub path: PathBuf,
    /// The scenario's `name` (the file stem when unset).
    pub name: String,
    /// Its `description`, or why it could not be read.
    pub description: String,
}

/// The scenarios in `dir`, sorted by file name.
pub fn list(dir: &Path) -> Vec<ScenarioEntry> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    files.into_iter().map(|p| entry(&p)).collect()
}

/// The scenario that runs on a fresh machine (the tiny local model that
/// `scripts/setup.sh` builds; `scripts/quickstart.sh` runs it), by file name.
pub const QUICKSTART: &str = "quickstart.toml";

/// The scenario the launcher opens on: the last one used (`saved`, from
/// the launcher's store) while it still exists, else the quickstart
/// scenario among `offered`, else the first of `offered` (`None`: nothing
/// to offer). `exists` says whether a saved path is still there (one the
/// picker no longer lists, e.g. moved out of `scenarios/`, may still be).
pub fn opening_choice(
    saved: Option<&Path>,
    offered: &[PathBuf],
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(s) = saved
        && (offered.iter().any(|o| o == s) || exists(s))
    {
        return Some(s.to_path_buf());
    }
    offered
        .iter()
        .find(|o| o.file_name().is_some_and(|n| n == QUICKSTART))
        .or_else(|| offered.first())
        .cloned()
}

/// Name and description of the scenario at `path`.
pub fn entry(path: &Path) -> ScenarioEntry {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (name, description) = match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str::<toml::Table>(&t).map_err(|e| e.message().to_string()))
    {
        Ok(t) => {
            let text = |k: &str| {
                t.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            let name = text("name");
            (
                if name.is_empty() { stem } else { name },
                text("description"),
            )
        }
        Err(e) => (stem, format!("(not valid TOML: {e})")),
    };
    ScenarioEntry {
        path: path.to_path_buf(),
        name,
        description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names
            .iter()
            .map(|n| PathBuf::from(format!("scenarios/{n}")))
            .collect()
    }

    #[test]
    fn opens_on_the_last_scenario_used_else_the_quickstart_else_the_first() {
        let offered = paths(&["backends_tour.toml", "quickstart.toml", "single.toml"]);
        let nothing_else = |_: &Path| false;
        let p = |n: &str| PathBuf::from(format!("scenarios/{n}"));
        // a fresh start: the quickstart, not the first in alphabetical order
        assert_eq!(
            opening_choice(None, &offered, nothing_else),
            Some(p("quickstart.toml"))
        );
        // the last one used, while it is there
        let last = p("single.toml");
        assert_eq!(
            opening_choice(Some(&last), &offered, nothing_else),
            Some(last.clone())
        );
        // gone: the quickstart again
        let gone = p("deleted.toml");
        assert_eq!(
            opening_choice(Some(&gone), &offered, nothing_else),
            Some(p("quickstart.toml"))
        );
        // a saved file outside the list that still exists is kept
        let elsewhere = PathBuf::from("mine/sweep.toml");
        assert_eq!(
            opening_choice(Some(&elsewhere), &offered, |q| q == elsewhere),
            Some(elsewhere.clone())
        );
        // no quickstart: the first; nothing at all: none
        let others = paths(&["b.toml", "c.toml"]);
        assert_eq!(
            opening_choice(None, &others, nothing_else),
            Some(p("b.toml"))
        );
        assert_eq!(
            opening_choice(Some(&gone), &others, nothing_else),
            Some(p("b.toml"))
        );
        assert_eq!(opening_choice(None, &[], nothing_else), None);
        assert_eq!(opening_choice(Some(&gone), &[], nothing_else), None);
        // a file merely named like it elsewhere in the path is not the quickstart
        let lookalike = paths(&["a.toml", "quickstart.toml.bak", "my_quickstart.toml"]);
        assert_eq!(
            opening_choice(None, &lookalike, nothing_else),
            Some(p("a.toml"))
        );
    }

    #[test]
    fn lists_toml_files_with_name_and_description() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("b.toml"),
            "name = \"bee\"\ndescription = \"two\"\n",
        )
        .unwrap();
        std::fs::write(t.path().join("a.toml"), "description = \"one\"\n").unwrap();
        std::fs::write(t.path().join("c.toml"), "name = [\n").unwrap();
        std::fs::write(t.path().join("notes.txt"), "x").unwrap();
        let l = list(t.path());
        let got: Vec<(&str, &str)> = l
            .iter()
            .map(|e| (e.name.as_str(), e.description.as_str()))
            .collect();
        assert_eq!(got[..2], [("a", "one"), ("bee", "two")]);
        assert_eq!(got[2].0, "c");
        assert!(got[2].1.starts_with("(not valid TOML"), "{got:?}");
        assert_eq!(l.len(), 3);
        assert!(list(&t.path().join("missing")).is_empty());
    }
}
