//! Build script: `BUILD_MLXRUN_VERSION`, the version string `mlxrun --version`
//! prints and every output records: `0.1.0 (abc1234 2026-11-22)` with the
//! commit and its date, `-dirty` after the hash when tracked files differ
//! from it; just `0.1.0` outside a git checkout (a crate tarball) or without
//! git. It reruns only when HEAD, the branch ref, packed refs or the index
//! change (a worktree's `.git` is a file naming the real git folder).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let full = match git_dir(&root) {
        Some(dir) => {
            watch(&dir);
            match commit(&root) {
                Some(c) => format!("{version} ({c})"),
                None => version,
            }
        }
        None => version,
    };
    // Not MLXRUN_*: cargo also sets this in the environment of `cargo run`
    // and `cargo test`, where every MLXRUN_* variable is a scenario override.
    println!("cargo:rustc-env=BUILD_MLXRUN_VERSION={full}");
}

/// The git folder of the checkout at `root`: `.git` itself, or the folder a
/// `.git` file points to (`gitdir: …`, worktrees and submodules).
fn git_dir(root: &Path) -> Option<PathBuf> {
    let dot = root.join(".git");
    if dot.is_dir() {
        return Some(dot);
    }
    let text = std::fs::read_to_string(&dot).ok()?;
    let target = text.trim().strip_prefix("gitdir:")?.trim();
    let dir = root.join(target);
    dir.is_dir().then_some(dir)
}

/// Ask cargo to rerun when HEAD, the ref it names, packed refs or the
/// index change (only files that exist: a missing one would rerun always).
fn watch(dir: &Path) {
    let common = std::fs::read_to_string(dir.join("commondir"))
        .map(|c| dir.join(c.trim()))
        .unwrap_or_else(|_| dir.to_path_buf());
    let mut files = vec![
        dir.join("HEAD"),
        dir.join("index"),
        common.join("packed-refs"),
    ];
    if let Ok(head) = std::fs::read_to_string(dir.join("HEAD"))
        && let Some(r) = head.trim().strip_prefix("ref:")
    {
        let r = r.trim();
        files.push(dir.join(r));
        files.push(common.join(r));
    }
    for f in files.iter().filter(|f| f.is_file()) {
        println!("cargo:rerun-if-changed={}", f.display());
    }
}

/// `abc1234 2026-11-22` (`abc1234-dirty …` with changes to tracked files).
fn commit(root: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let hash = git(&["rev-parse", "--short", "HEAD"]).filter(|h| !h.is_empty())?;
    let date = git(&["log", "-1", "--format=%cs", "HEAD"]).unwrap_or_default();
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let dirty = if dirty { "-dirty" } else { "" };
    Some(format!("{hash}{dirty} {date}").trim().to_string())
}
