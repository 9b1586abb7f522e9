//! Finding a model: a folder browser (`..`, subfolders, folders holding
//! `config.json` marked as models) and the Hugging Face cache
//! (`models--ORG--NAME` folders as `ORG/NAME` with their size).

use std::path::{Path, PathBuf};

/// One line of the folder browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// `..` or the folder's name.
    pub label: String,
    pub path: PathBuf,
    /// The folder holds `config.json` (a model; selectable).
    pub is_model: bool,
}

/// The folder browser: where it is and what is there.
#[derive(Debug, Clone)]
pub struct Browser {
    pub dir: PathBuf,
    pub entries: Vec<DirEntry>,
    pub sel: usize,
    /// Why the folder could not be read, if it could not.
    pub error: Option<String>,
}

/// What Enter on a line of the browser does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// A model folder was chosen.
    Model(PathBuf),
    /// The browser moved into another folder.
    Moved,
    Nothing,
}

impl Browser {
    /// Start in `./models` when it exists, else in `cwd`.
    pub fn start(cwd: &Path) -> Browser {
        let models = cwd.join("models");
        Browser::at(if models.is_dir() {
            models
        } else {
            cwd.to_path_buf()
        })
    }

    /// The browser in `dir`.
    pub fn at(dir: PathBuf) -> Browser {
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let mut b = Browser {
            dir,
            entries: Vec::new(),
            sel: 0,
            error: None,
        };
        b.read();
        b
    }

    fn read(&mut self) {
        self.entries.clear();
        self.error = None;
        if let Some(parent) = self.dir.parent() {
            self.entries.push(DirEntry {
                label: "..".into(),
                path: parent.to_path_buf(),
                is_model: false,
            });
        }
        match std::fs::read_dir(&self.dir) {
            Ok(rd) => {
                let mut dirs: Vec<DirEntry> = rd
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .map(|p| DirEntry {
                        label: p
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        is_model: p.join("config.json").is_file(),
                        path: p,
                    })
                    .filter(|e| !e.label.starts_with('.'))
                    .collect();
                dirs.sort_by(|a, b| a.label.cmp(&b.label));
                self.entries.extend(dirs);
            }
            Err(e) => self.error = Some(format!("cannot read {}: {e}", self.dir.display())),
        }
        self.sel = self.sel.min(self.entries.len().saturating_sub(1));
    }

    /// Enter on the selected line: choose a model folder, or go into a folder.
    pub fn enter(&mut self) -> Pick {
        let Some(e) = self.entries.get(self.sel).cloned() else {
            return Pick::Nothing;
        };
        if e.is_model {
            return Pick::Model(e.path);
        }
        let came_from = self.dir.clone();
        self.dir = e.path;
        self.sel = 0;
        self.read();
        if e.label == ".." {
            // land on the folder we came from
            if let Some(i) = self.entries.iter().position(|x| x.path == came_from) {
                self.sel = i;
            }
        }
        Pick::Moved
    }
}

/// A model in the Hugging Face cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    /// `ORG/NAME`.
    pub repo: String,
    /// Bytes on disk (blobs; links not followed).
    pub bytes: u64,
}

/// The Hugging Face cache folder: `$HF_HUB_CACHE`, else `$HF_HOME/hub`,
/// else `~/.cache/huggingface/hub` (as the loader searches it).
pub fn hf_cache_dir() -> Option<PathBuf> {
    crate::scenario::model_path::SearchDirs::from_env().hf_cache
}

/// The `models--ORG--NAME` folders of `cache`, sorted.
pub fn cached_models(cache: &Path) -> Vec<CachedModel> {
    let mut v: Vec<CachedModel> = std::fs::read_dir(cache)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix("models--")?;
            let repo = rest.replacen("--", "/", 1);
            Some(CachedModel {
                repo,
                bytes: size_of(&e.path()),
            })
        })
        .collect();
    v.sort_by(|a, b| a.repo.cmp(&b.repo));
    v
}

/// Bytes of the files under `dir`, symbolic links not followed.
fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}

/// `1.5 GB`, `12.0 MB`, `300 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_marks_models_and_walks_folders() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("models/org/llm")).unwrap();
        std::fs::write(root.join("models/org/llm/config.json"), "{}").unwrap();
        std::fs::create_dir_all(root.join("models/empty")).unwrap();
        std::fs::write(root.join("models/file.txt"), "x").unwrap();
        let mut b = Browser::start(root);
        assert_eq!(b.dir, std::path::absolute(root.join("models")).unwrap());
        let labels: Vec<&str> = b.entries.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["..", "empty", "org"]);
        b.sel = 2;
        assert_eq!(b.enter(), Pick::Moved);
        assert_eq!(b.entries[1].label, "llm");
        assert!(b.entries[1].is_model);
        b.sel = 1;
        assert_eq!(b.enter(), Pick::Model(b.dir.join("llm")));
        b.sel = 0;
        assert_eq!(b.enter(), Pick::Moved);
        assert_eq!(b.entries[b.sel].label, "org", "back on the folder we left");
        // no ./models: start in the current folder
        let other = tempfile::tempdir().unwrap();
        assert_eq!(
            Browser::start(other.path()).dir,
            std::path::absolute(other.path()).unwrap()
        );
    }

    #[test]
    fn the_cache_lists_repos_with_their_size() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("models--mlx-community--Llama-3.2-1B-4bit");
        std::fs::create_dir_all(m.join("blobs")).unwrap();
        std::fs::create_dir_all(m.join("snapshots/abc")).unwrap();
        std::fs::write(m.join("blobs/1"), vec![0u8; 1500]).unwrap();
        std::os::unix::fs::symlink(m.join("blobs/1"), m.join("snapshots/abc/model.safetensors"))
            .unwrap();
        std::fs::create_dir_all(t.path().join("datasets--x--y")).unwrap();
        let v = cached_models(t.path());
        assert_eq!(
            v,
            [CachedModel {
                repo: "mlx-community/Llama-3.2-1B-4bit".into(),
                bytes: 1500
            }]
        );
        assert_eq!(human_bytes(1500), "1.5 KB");
        assert_eq!(human_bytes(2_500_000_000), "2.5 GB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
