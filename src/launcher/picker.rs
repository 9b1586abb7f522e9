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
