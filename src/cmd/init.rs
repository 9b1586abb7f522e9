//! `mlxrun init [PATH] [--model PATH] [--force]`: write the commented
//! starter scenario (`templates/starter.toml`) to edit, with the model
//! prefilled, and print the next commands.

use std::path::Path;

use crate::error::{SetupError, UsageError};

/// The starter scenario, with `{{MODEL_PATH}}` where model.path goes.
pub const STARTER: &str = include_str!("../../templates/starter.toml");

/// The model a starter names when `--model` is not given.
pub const DEFAULT_MODEL: &str = "mlx-community/Llama-3.2-1B-Instruct-4bit";

/// The starter's text with `model` (or [`DEFAULT_MODEL`]) as model.path and
/// the file stem as its name.
pub fn render(path: &Path, model: Option<&str>) -> String {
    let model = toml::Value::String(model.unwrap_or(DEFAULT_MODEL).to_string()).to_string();
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "my_sweep".into());
    let name = toml::Value::String(name).to_string();
    STARTER
        .replace("{{MODEL_PATH}}", &model)
        .replace("name = \"my_sweep\"", &format!("name = {name}"))
        .replace("THIS_FILE", &path.display().to_string())
}

/// Write the starter to `path` (refused when it exists, unless `force`).
pub fn write(path: &Path, model: Option<&str>, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        return Err(UsageError(format!(
            "{} already exists; not overwritten\n  next: mlxrun init {} --force to replace it, or give another path",
            path.display(),
            path.display()
        ))
        .into());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| SetupError(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(path, render(path, model))
        .map_err(|e| SetupError(format!("cannot write {}: {e}", path.display())))?;
    println!("wrote {}", path.display());
    println!("next: mlxrun plan {}    what it would run", path.display());
    println!("      mlxrun {}         run it", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model_path::SearchDirs;
    use crate::scenario::{Overrides, load_str};

    #[test]
    fn the_starter_is_a_valid_scenario_with_the_model_filled_in() {
        let text = render(Path::new("scenarios/gemma.toml"), Some("models/x \"y\""));
        assert!(!text.contains("{{"), "{text}");
        assert!(text.contains("name = \"gemma\""), "{text}");
        assert!(text.contains("mlxrun plan scenarios/gemma.toml"), "{text}");
        let v: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(v["model"]["path"].as_str(), Some("models/x \"y\""));
        let text = render(Path::new("a.toml"), None);
        assert!(text.contains(DEFAULT_MODEL));
        let r = load_str(
            Path::new("a.toml"),
            &text,
            &Overrides::default(),
            &SearchDirs::from_env(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let plan = &r.plan;
        assert_eq!(
            plan.points.len(),
            8,
            "2 instances x 2 decode x 2 concurrency"
        );
    }

    #[test]
    fn an_existing_file_is_kept_without_force() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("sub/s.toml");
        write(&p, None, false).unwrap();
        std::fs::write(&p, "mine").unwrap();
        let e = write(&p, None, false).unwrap_err();
        assert_eq!(crate::run::exit_code_of(&e), crate::error::EXIT_BAD_INPUT);
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "mine");
        write(&p, Some("m"), true).unwrap();
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("path = \"m\"")
        );
    }
}
