//! Turning the scenario's `model.path` into what the server is given: a local
//! folder (`~` expanded; bare names looked up in `./models`, `~/models` and
//! the Hugging Face cache, as mlx-knife does) or a Hugging Face repo id.

use std::path::{Path, PathBuf};

/// What `model.path` resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A local folder holding `config.json`.
    Local(PathBuf),
    /// A Hugging Face repo id the server downloads or finds in its cache.
    Repo(String),
}

impl ModelRef {
    /// The string passed to the server's `--model`.
    pub fn server_arg(&self) -> String {
        match self {
            ModelRef::Local(p) => p.display().to_string(),
            ModelRef::Repo(r) => r.clone(),
        }
    }
}

/// Where models are searched for, in order.
#[derive(Debug, Clone)]
pub struct SearchDirs {
    pub home: Option<PathBuf>,
    pub cwd: PathBuf,
    pub hf_cache: Option<PathBuf>,
}

impl SearchDirs {
    /// From the process environment (`HOME`, `HF_HUB_CACHE`, `HF_HOME`).
    pub fn from_env() -> SearchDirs {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let hf_cache = std::env::var_os("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .or_else(|| home.as_ref().map(|h| h.join(".cache/huggingface/hub")));
        SearchDirs {
            home,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            hf_cache,
        }
    }
}

/// Resolve `spec`. The error says where it looked and what to do.
pub fn resolve(spec: &str, dirs: &SearchDirs) -> Result<ModelRef, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("no model given".into());
    }
    let expanded = expand_tilde(spec, dirs.home.as_deref());
    let as_path = if expanded.is_absolute() {
        expanded.clone()
    } else {
        dirs.cwd.join(&expanded)
    };
    if as_path.is_dir() {
        return if as_path.join("config.json").is_file() {
            Ok(ModelRef::Local(as_path))
        } else {
            Err(format!(
                "folder {} has no config.json, so it is not an MLX model",
                as_path.display()
            ))
        };
    }
    let looks_like_path = spec.starts_with('/')
        || spec.starts_with('~')
        || spec.starts_with("./")
        || spec.starts_with("../")
        || spec.matches('/').count() > 1;
    if looks_like_path {
        return Err(format!("model folder {} does not exist", as_path.display()));
    }
    let mut looked = Vec::new();
    if !spec.contains('/') {
        let mut candidates = vec![dirs.cwd.join("models").join(spec)];
        if let Some(h) = &dirs.home {
            candidates.push(h.join("models").join(spec));
        }
        for c in candidates {
            if c.join("config.json").is_file() {
                return Ok(ModelRef::Local(c));
            }
            looked.push(c.display().to_string());
        }
        if let Some(cache) = &dirs.hf_cache {
            if let Some(found) = newest_snapshot_matching(cache, &format!("--{spec}")) {
                return Ok(ModelRef::Local(found));
            }
            looked.push(format!("{}/models--*--{spec}", cache.display()));
        }
        return Err(format!(
            "no model folder named '{spec}' in {}",
            looked.join(", ")
        ));
    }
    // `org/name`: a cached snapshot when there is one, else the repo id.
    if let Some(cache) = &dirs.hf_cache {
        let dir = format!("models--{}", spec.replace('/', "--"));
        if let Some(found) = newest_snapshot(&cache.join(dir)) {
            return Ok(ModelRef::Local(found));
        }
    }
    Ok(ModelRef::Repo(spec.to_string()))
}

/// `spec` with a leading `~` or `~/` replaced by `home`.
pub fn expand_tilde(spec: &str, home: Option<&Path>) -> PathBuf {
    match (spec.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
            h.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(spec),
    }
}

/// The newest `snapshots/*` folder with a `config.json` under a cached repo.
fn newest_snapshot(repo_dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(repo_dir.join("snapshots")).ok()?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("config.json").is_file())
        .max_by_key(|p| {
            std::fs::metadata(p.join("config.json"))
                .and_then(|m| m.modified())
                .ok()
        })
}

fn newest_snapshot_matching(cache: &Path, suffix: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(cache).ok()?;
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("models--") && n.ends_with(suffix)
        })
        .filter_map(|e| newest_snapshot(&e.path()))
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_dir(root: &Path, rel: &str) -> PathBuf {
        let d = root.join(rel);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.json"), "{}").unwrap();
        d
    }

    fn dirs(root: &Path) -> SearchDirs {
        SearchDirs {
            home: Some(root.join("home")),
            cwd: root.join("cwd"),
            hf_cache: Some(root.join("home/.cache/huggingface/hub")),
        }
    }

    #[test]
    fn bare_names_search_models_dirs_then_hf_cache() {
        let t = tempfile::tempdir().unwrap();
        let d = dirs(t.path());
        std::fs::create_dir_all(&d.cwd).unwrap();
        let in_home = model_dir(t.path(), "home/models/tiny");
        assert_eq!(resolve("tiny", &d), Ok(ModelRef::Local(in_home)));
        let in_cwd = model_dir(t.path(), "cwd/models/tiny");
        assert_eq!(resolve("tiny", &d), Ok(ModelRef::Local(in_cwd)));
        let snap = model_dir(
            t.path(),
            "home/.cache/huggingface/hub/models--mlx-community--Qwen-4bit/snapshots/abc",
        );
        assert_eq!(resolve("Qwen-4bit", &d), Ok(ModelRef::Local(snap.clone())));
        assert_eq!(
            resolve("mlx-community/Qwen-4bit", &d),
            Ok(ModelRef::Local(snap))
        );
        let err = resolve("nothere", &d).unwrap_err();
        assert!(err.contains("models/nothere"), "{err}");
    }

    #[test]
    fn repo_ids_and_paths() {
        let t = tempfile::tempdir().unwrap();
        let d = dirs(t.path());
        assert_eq!(
            resolve("mlx-community/Other", &d),
            Ok(ModelRef::Repo("mlx-community/Other".into()))
        );
        let home_model = model_dir(t.path(), "home/m/x");
        assert_eq!(resolve("~/m/x", &d), Ok(ModelRef::Local(home_model)));
        assert!(
            resolve("~/m/missing", &d)
                .unwrap_err()
                .contains("does not exist")
        );
        std::fs::create_dir_all(t.path().join("empty")).unwrap();
        let abs = t.path().join("empty").display().to_string();
        assert!(resolve(&abs, &d).unwrap_err().contains("no config.json"));
        assert_eq!(resolve("  ", &d).unwrap_err(), "no model given");
    }
}
