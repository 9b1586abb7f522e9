//! Remembering the launcher's choices in `.mlxrun/launcher.json` (relative
//! to the current directory), so the next start shows them.

use std::path::{Path, PathBuf};

use super::choices::Choices;

/// The file the choices are kept in, under `cwd`.
pub fn path(cwd: &Path) -> PathBuf {
    cwd.join(".mlxrun").join("launcher.json")
}

/// The saved choices; a missing file gives the defaults, a broken one the
/// defaults and a note saying it was ignored.
pub fn load(file: &Path) -> (Choices, Option<String>) {
    match std::fs::read_to_string(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Choices::default(), None),
        Err(e) => (
            Choices::default(),
            Some(format!("ignored {}: {e}", file.display())),
        ),
        Ok(text) => match serde_json::from_str::<Choices>(&text) {
            Ok(c) => (c, None),
            Err(e) => (
                Choices::default(),
                Some(format!(
                    "ignored {} (line {}: {e}); it is rewritten with your next choice",
                    file.display(),
                    e.line()
                )),
            ),
        },
    }
}

/// Save `choices`; the error names the file.
pub fn save(file: &Path, choices: &Choices) -> Result<(), String> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = file.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_string_pretty(choices).unwrap_or_default(),
        )?;
        std::fs::rename(&tmp, file)
    };
    write().map_err(|e| format!("cannot save {}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_survive_a_restart_and_a_broken_file_is_ignored_with_a_note() {
        let t = tempfile::tempdir().unwrap();
        let f = path(t.path());
        assert_eq!(load(&f), (Choices::default(), None));
        let c = Choices {
            scenario: Some("scenarios/a.toml".into()),
            max_tokens: vec![8, 16],
            env: "MLX_CONCURRENCY=2".into(),
            ..Choices::default()
        };
        save(&f, &c).unwrap();
        assert_eq!(load(&f), (c, None));
        std::fs::write(&f, "{\"scenario\": 3").unwrap();
        let (got, note) = load(&f);
        assert_eq!(got, Choices::default());
        let note = note.unwrap();
        assert!(
            note.starts_with(&format!("ignored {}", f.display())),
            "{note}"
        );
    }
}
