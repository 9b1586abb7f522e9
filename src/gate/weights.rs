//! How big a model is on disk: the weight files of its folder (safetensors,
//! GGUF, npz, PyTorch bins; Hugging Face cache symlinks followed), or the
//! size of a single weights file. Config and tokenizer files do not count.

use std::path::Path;

/// File name endings that hold weights.
const WEIGHT_SUFFIXES: &[&str] = &[".safetensors", ".gguf", ".npz", ".bin", ".pt", ".pth"];

fn is_weights(name: &str) -> bool {
    WEIGHT_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Bytes of weights at `path` (a folder or a file), `None` when nothing
/// there looks like weights or it cannot be read.
pub fn weights_bytes(path: &Path) -> Option<u64> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return Some(meta.len());
    }
    let mut total = 0u64;
    let mut found = false;
    let mut stack = vec![(path.to_path_buf(), 0u32)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            // metadata() follows the cache's symlinks to its blobs
            let Ok(m) = std::fs::metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                // sharded layouts nest one or two levels at most
                if depth < 2 {
                    stack.push((p, depth + 1));
                }
            } else if is_weights(&e.file_name().to_string_lossy()) {
                total += m.len();
                found = true;
            }
        }
    }
    found.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_weight_files_only_and_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("model-00001.safetensors"), vec![0u8; 1000]).unwrap();
        std::fs::write(root.join("config.json"), vec![0u8; 77]).unwrap();
        std::fs::write(root.join("tokenizer.json"), vec![0u8; 500]).unwrap();
        std::fs::create_dir(root.join("blobs")).unwrap();
        std::fs::write(root.join("blobs/abc"), vec![0u8; 300]).unwrap();
        std::os::unix::fs::symlink(root.join("blobs/abc"), root.join("model-00002.safetensors"))
            .unwrap();
        assert_eq!(weights_bytes(root), Some(1300));
        assert_eq!(
            weights_bytes(&root.join("model-00001.safetensors")),
            Some(1000)
        );
        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("config.json"), "{}").unwrap();
        assert_eq!(weights_bytes(empty.path()), None);
        assert_eq!(weights_bytes(&root.join("missing")), None);
    }
}
