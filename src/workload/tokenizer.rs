//! Finding a model's tokenizer.json (a local model folder or the Hugging
//! Face cache), loading it once per process, and counting tokens.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tokenizers::Tokenizer;

use super::WorkloadError;

/// tokenizer.json for a model: `<local_dir>/tokenizer.json` when `local_dir`
/// is given; else, for a Hugging Face repo id `org/name`, the newest snapshot
/// in the Hugging Face cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`). None when there is no such file.
pub fn find_tokenizer(model_spec: &str, local_dir: Option<&Path>) -> Option<PathBuf> {
    find_tokenizer_in(hf_cache_root().as_deref(), model_spec, local_dir)
}

/// The Hugging Face hub cache folder from the environment.
fn hf_cache_root() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("HF_HUB_CACHE") {
        return Some(PathBuf::from(dir));
    }
    if let Some(home) = var("HF_HOME") {
        return Some(PathBuf::from(home).join("hub"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache/huggingface/hub"))
}

/// [`find_tokenizer`] with the cache root given (tests use a temp folder).
pub(crate) fn find_tokenizer_in(
    cache_root: Option<&Path>,
    model_spec: &str,
    local_dir: Option<&Path>,
) -> Option<PathBuf> {
    if let Some(dir) = local_dir {
        return existing_file(dir.join("tokenizer.json"));
    }
    let spec = model_spec.trim();
    if spec.is_empty() {
        return None;
    }
    // A model given as a folder path rather than a repo id.
    let as_dir = Path::new(spec);
    if as_dir.is_dir() {
        return existing_file(as_dir.join("tokenizer.json"));
    }
    let repo = cache_root?.join(format!("models--{}", spec.replace('/', "--")));
    // The snapshot `refs/main` points at is the one the Hugging Face
    // libraries use; otherwise take the most recently written snapshot.
    if let Ok(main) = std::fs::read_to_string(repo.join("refs/main")) {
        let main = main.trim();
        if !main.is_empty()
            && let Some(file) =
                existing_file(repo.join("snapshots").join(main).join("tokenizer.json"))
        {
            return Some(file);
        }
    }
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(repo.join("snapshots")).ok()?.flatten() {
        let Some(file) = existing_file(entry.path().join("tokenizer.json")) else {
            continue;
        };
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        // Ties (same mtime) go to the greater path so the choice is stable.
        if best
            .as_ref()
            .is_none_or(|(t, p)| (modified, &file) > (*t, p))
        {
            best = Some((modified, file));
        }
    }
    best.map(|(_, file)| file)
}

fn existing_file(path: PathBuf) -> Option<PathBuf> {
    path.is_file().then_some(path)
}

type Cache = Mutex<HashMap<PathBuf, Arc<Tokenizer>>>;

/// The tokenizer at `path`, loaded once per process. Truncation and padding
/// from the file are switched off so counts are of the whole text.
pub(crate) fn load(path: &Path) -> Result<Arc<Tokenizer>, WorkloadError> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = cache_key(path);
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(tok) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(Arc::clone(tok));
    }
    let bytes = std::fs::read(path).map_err(|source| WorkloadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut tok = Tokenizer::from_bytes(&bytes).map_err(|e| WorkloadError::TokenizerLoad {
        path: path.to_path_buf(),
        message: one_line(&e.to_string()),
    })?;
    tok.with_truncation(None)
        .map_err(|e| WorkloadError::TokenizerLoad {
            path: path.to_path_buf(),
            message: one_line(&e.to_string()),
        })?;
    tok.with_padding(None);
    let tok = Arc::new(tok);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Arc::clone(map.entry(key).or_insert(tok)))
}

/// The key tokenizers (and things derived from them) are cached under.
pub(crate) fn cache_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Token ids of `text`, no special tokens added.
pub(crate) fn encode(tok: &Tokenizer, path: &Path, text: &str) -> Result<Vec<u32>, WorkloadError> {
    tok.encode_fast(text, false)
        .map(|enc| enc.get_ids().to_vec())
        .map_err(|e| WorkloadError::Encode {
            path: path.to_path_buf(),
            message: one_line(&e.to_string()),
        })
}

/// Number of tokens of `text` under the tokenizer at `tokenizer` (no special
/// tokens added). The tokenizer is loaded once per process.
pub fn count_tokens(tokenizer: &Path, text: &str) -> Result<u32, WorkloadError> {
    let tok = load(tokenizer)?;
    let n = encode(&tok, tokenizer, text)?.len();
    u32::try_from(n)
        .map_err(|_| WorkloadError::Invalid(format!("a prompt of {n} tokens is too long")))
}

/// Token counts of many texts (encoded in parallel), no special tokens added.
pub(crate) fn count_many(tokenizer: &Path, texts: &[&str]) -> Result<Vec<u32>, WorkloadError> {
    let tok = load(tokenizer)?;
    let encodings =
        tok.encode_batch_fast(texts.to_vec(), false)
            .map_err(|e| WorkloadError::Encode {
                path: tokenizer.to_path_buf(),
                message: one_line(&e.to_string()),
            })?;
    Ok(encodings
        .iter()
        .map(|e| u32::try_from(e.get_ids().len()).unwrap_or(u32::MAX))
        .collect())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-llama/tokenizer.json")
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "{}").unwrap();
    }

    fn set_mtime(dir: &Path, secs: u64) {
        let f = std::fs::File::open(dir).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn local_dir_wins_and_needs_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(find_tokenizer_in(None, "org/name", Some(tmp.path())), None);
        touch(&tmp.path().join("tokenizer.json"));
        assert_eq!(
            find_tokenizer_in(None, "org/name", Some(tmp.path())),
            Some(tmp.path().join("tokenizer.json"))
        );
    }

    #[test]
    fn hf_cache_newest_snapshot() {
        let cache = tempfile::tempdir().unwrap();
        let snaps = cache.path().join("models--org--name/snapshots");
        touch(&snaps.join("aaa/tokenizer.json"));
        touch(&snaps.join("bbb/tokenizer.json"));
        std::fs::create_dir_all(snaps.join("ccc")).unwrap(); // newest, but no tokenizer
        set_mtime(&snaps.join("aaa"), 2_000_000_000);
        set_mtime(&snaps.join("bbb"), 1_000_000_000);
        set_mtime(&snaps.join("ccc"), 2_100_000_000);
        let found = find_tokenizer_in(Some(cache.path()), "org/name", None);
        assert_eq!(found, Some(snaps.join("aaa/tokenizer.json")));
        // Other repos are not confused with this one.
        assert_eq!(
            find_tokenizer_in(Some(cache.path()), "org/other", None),
            None
        );
        assert_eq!(find_tokenizer_in(None, "org/name", None), None);
    }

    #[test]
    fn hf_cache_refs_main_preferred() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--org--name");
        touch(&repo.join("snapshots/old/tokenizer.json"));
        touch(&repo.join("snapshots/new/tokenizer.json"));
        set_mtime(&repo.join("snapshots/old"), 1_000_000_000);
        set_mtime(&repo.join("snapshots/new"), 2_000_000_000);
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "old\n").unwrap();
        assert_eq!(
            find_tokenizer_in(Some(cache.path()), "org/name", None),
            Some(repo.join("snapshots/old/tokenizer.json"))
        );
        // A dangling ref falls back to the newest snapshot.
        std::fs::write(repo.join("refs/main"), "gone").unwrap();
        assert_eq!(
            find_tokenizer_in(Some(cache.path()), "org/name", None),
            Some(repo.join("snapshots/new/tokenizer.json"))
        );
    }

    #[test]
    fn model_spec_as_folder() {
        let dir = tiny().parent().unwrap().to_path_buf();
        let spec = dir.to_str().unwrap();
        assert_eq!(find_tokenizer_in(None, spec, None), Some(tiny()));
    }

    #[test]
    fn counts_tokens_and_caches() {
        let path = tiny();
        let tok = Tokenizer::from_file(&path).unwrap();
        let text = "the server was fast and the latency would share";
        let want = tok.encode(text, false).unwrap().get_ids().len() as u32;
        assert!(want > 5);
        assert_eq!(count_tokens(&path, text).unwrap(), want);
        assert_eq!(count_tokens(&path, "").unwrap(), 0);
        assert!(Arc::ptr_eq(&load(&path).unwrap(), &load(&path).unwrap()));
    }

    #[test]
    fn missing_or_bad_tokenizer_errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope.json");
        let err = count_tokens(&missing, "x").unwrap_err().to_string();
        assert!(
            err.contains("nope.json") && err.contains("cannot read"),
            "{err}"
        );
        let bad = tmp.path().join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        let err = count_tokens(&bad, "x").unwrap_err().to_string();
        assert!(
            err.contains("bad.json") && err.contains("cannot load tokenizer"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}
