//! Token-exact synthetic prompts: random plain words whose text encodes to
//! exactly the drawn number of tokens under the model's tokenizer.
//!
//! How: from the vocabulary take "plain word" tokens (ASCII letters after an
//! optional word-start marker, `Ġ` for byte-level BPE as in Llama 3 / Qwen,
//! `▁` for SentencePiece-style Llama 2 / Mistral) and keep the words `w`
//! for which `"a w"` encodes as `"a"` plus exactly one token, i.e. a space
//! and the word add one token after another word. A prompt of `n` tokens is
//! then `n` such words joined by spaces (the first one, when there is no
//! shared prefix, preferably a word that is one token at the start of a
//! text). The joined text is encoded once to check the count; when a
//! tokenizer does not add up exactly, words are trimmed or appended and the
//! text re-encoded, for a bounded number of rounds.
//!
//! Each prompt `k` has its own RNG derived from (seed, k), so the result
//! does not depend on how prompts are spread over threads.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokenizers::Tokenizer;

use super::tokenizer::{cache_key, encode, load};
use super::{Prompt, WorkloadError};

/// The word every pool word is checked after.
const ANCHOR: &str = "a";
/// Pool words kept (in vocabulary order, i.e. the most common first for BPE).
const MAX_POOL: usize = 4096;
/// Encode-and-adjust rounds per prompt before giving up.
const MAX_ROUNDS: usize = 8;
/// Redraws of a prompt whose text equals an earlier one's.
const MAX_DUPLICATE_REDRAWS: u64 = 16;
/// RNG streams derived from the random seed (`workload.seed`).
const STREAM_PREFIX: u64 = 1;
const STREAM_PROMPT: u64 = 2;
pub(crate) const STREAM_LENGTHS: u64 = 3;

/// Words that add exactly one token each after another word.
#[derive(Debug)]
pub(crate) struct WordPool {
    /// `"a w"` encodes as `"a"` plus one token.
    inner: Vec<String>,
    /// Inner words that are also one token at the very start of a text.
    start: Vec<String>,
}

impl WordPool {
    /// The word pool of the tokenizer at `path`, built once per process.
    pub(crate) fn for_tokenizer(path: &Path) -> Result<Arc<WordPool>, WorkloadError> {
        static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<WordPool>>>> = OnceLock::new();
        let key = cache_key(path);
        let cache = CACHE.get_or_init(Default::default);
        if let Some(pool) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(Arc::clone(pool));
        }
        let tok = load(path)?;
        let pool = Arc::new(WordPool::build(&tok, path)?);
        let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Arc::clone(map.entry(key).or_insert(pool)))
    }

    fn build(tok: &Tokenizer, path: &Path) -> Result<WordPool, WorkloadError> {
        let added: HashSet<u32> = tok.get_added_tokens_decoder().into_keys().collect();
        let mut vocab: Vec<(u32, String)> = tok
            .get_vocab(false)
            .into_iter()
            .filter(|(_, id)| !added.contains(id))
            .map(|(token, id)| (id, token))
            .collect();
        vocab.sort_unstable();
        let anchor = encode(tok, path, ANCHOR)?;
        let mut seen = HashSet::new();
        let mut pool = WordPool {
            inner: Vec::new(),
            start: Vec::new(),
        };
        for (_, token) in &vocab {
            if pool.inner.len() >= MAX_POOL {
                break;
            }
            let Some(word) = plain_word(token) else {
                continue;
            };
            if !seen.insert(word) {
                continue;
            }
            let ids = encode(tok, path, &format!("{ANCHOR} {word}"))?;
            if ids.len() != anchor.len() + 1 || !ids.starts_with(&anchor) {
                continue;
            }
            if encode(tok, path, word)?.len() == 1 {
                pool.start.push(word.to_string());
            }
            pool.inner.push(word.to_string());
        }
        if pool.inner.is_empty() {
            return Err(WorkloadError::NoWordTokens {
                path: path.to_path_buf(),
            });
        }
        Ok(pool)
    }

    fn inner_word<R: Rng>(&self, rng: &mut R) -> &str {
        &self.inner[rng.random_range(0..self.inner.len())]
    }

    fn start_word<R: Rng>(&self, rng: &mut R) -> &str {
        match self.start.len() {
            0 => self.inner_word(rng),
            n => &self.start[rng.random_range(0..n)],
        }
    }
}

/// The word a vocabulary token stands for, when it is ASCII letters after an
/// optional word-start marker.
fn plain_word(token: &str) -> Option<&str> {
    let word = ['Ġ', '▁', ' ']
        .iter()
        .find_map(|m| token.strip_prefix(*m))
        .unwrap_or(token);
    (!word.is_empty() && word.bytes().all(|b| b.is_ascii_alphabetic())).then_some(word)
}

/// A seed for stream `stream`, item `index`, try `attempt` (splitmix64).
fn derive_seed(seed: u64, stream: u64, index: u64, attempt: u64) -> u64 {
    let mut z = seed;
    for part in [stream, index, attempt] {
        z = z
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(part.wrapping_mul(0xD1B5_4A32_D192_ED03));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// The RNG for stream `stream`, item `index`, try `attempt`.
pub(crate) fn rng_for(seed: u64, stream: u64, index: u64, attempt: u64) -> StdRng {
    StdRng::seed_from_u64(derive_seed(seed, stream, index, attempt))
}

/// Builds texts of exact token counts with one tokenizer.
struct Builder<'a> {
    tok: &'a Tokenizer,
    path: &'a Path,
    pool: &'a WordPool,
    /// Shared prefix text and its tokens (empty when none).
    head: &'a str,
    head_ids: &'a [u32],
}

impl Builder<'_> {
    /// A text of exactly `target` tokens starting with `head` (whose tokens
    /// stay `head_ids`). `target` must exceed `head_ids.len()`.
    fn exact(&self, target: usize, rng: &mut StdRng) -> Result<String, WorkloadError> {
        let need = target - self.head_ids.len();
        let mut words: Vec<&str> = Vec::with_capacity(need + 8);
        if self.head.is_empty() {
            words.push(self.pool.start_word(rng));
        }
        while words.len() < need {
            words.push(self.pool.inner_word(rng));
        }
        let mut got = 0;
        for _ in 0..MAX_ROUNDS {
            let text = self.join(&words);
            let ids = encode(self.tok, self.path, &text)?;
            got = ids.len();
            if !ids.starts_with(self.head_ids) {
                // The first word merged into the shared prefix: draw another.
                words[0] = self.pool.inner_word(rng);
                continue;
            }
            if got == target {
                return Ok(text);
            }
            if got > target {
                let k = (got - target).min(words.len() - 1);
                if k == 0 {
                    words[0] = if self.head.is_empty() {
                        self.pool.start_word(rng)
                    } else {
                        self.pool.inner_word(rng)
                    };
                } else {
                    words.truncate(words.len() - k);
                }
            } else {
                for _ in got..target {
                    words.push(self.pool.inner_word(rng));
                }
            }
        }
        Err(WorkloadError::NoConvergence {
            path: self.path.to_path_buf(),
            target: target as u32,
            got,
            rounds: MAX_ROUNDS,
        })
    }

    fn join(&self, words: &[&str]) -> String {
        let len = self.head.len() + words.iter().map(|w| w.len() + 1).sum::<usize>();
        let mut text = String::with_capacity(len);
        text.push_str(self.head);
        for word in words {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(word);
        }
        text
    }
}

/// One prompt per entry of `lengths` (each at least `shared_prefix + 1`),
/// with exactly that many tokens under the tokenizer at `tokenizer`; the
/// first `shared_prefix` tokens are the same text in every prompt.
pub(crate) fn synthetic_prompts(
    tokenizer: &Path,
    lengths: &[u32],
    shared_prefix: u32,
    seed: u64,
) -> Result<Vec<Prompt>, WorkloadError> {
    if lengths.is_empty() {
        return Ok(Vec::new());
    }
    let tok = load(tokenizer)?;
    let pool = WordPool::for_tokenizer(tokenizer)?;
    let mut builder = Builder {
        tok: &tok,
        path: tokenizer,
        pool: &pool,
        head: "",
        head_ids: &[],
    };
    let (head, head_ids) = if shared_prefix > 0 {
        let mut rng = rng_for(seed, STREAM_PREFIX, 0, 0);
        let head = builder.exact(shared_prefix as usize, &mut rng)?;
        let ids = encode(&tok, tokenizer, &head)?;
        (head, ids)
    } else {
        (String::new(), Vec::new())
    };
    builder.head = &head;
    builder.head_ids = &head_ids;
    let min = head_ids.len() + 1;
    let target = |k: usize| (lengths[k] as usize).max(min);
    let make = |k: usize, attempt: u64| {
        builder.exact(
            target(k),
            &mut rng_for(seed, STREAM_PROMPT, k as u64, attempt),
        )
    };

    // Spread the prompts over the cores in contiguous chunks.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(lengths.len().div_ceil(16));
    let chunk = lengths.len().div_ceil(threads);
    let texts: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..lengths.len())
            .step_by(chunk)
            .map(|lo| {
                let make = &make;
                s.spawn(move || {
                    (lo..(lo + chunk).min(lengths.len()))
                        .map(|k| make(k, 0))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("synthetic prompt thread panicked"))
            .collect::<Result<Vec<Vec<String>>, _>>()
            .map(|parts| parts.concat())
    })?;

    // Every prompt different: redraw the (rare) repeats. With very short
    // prompts and a small vocabulary there may not be enough distinct
    // texts; a repeat is then kept after the last redraw.
    let mut seen = HashSet::with_capacity(texts.len());
    let mut prompts = Vec::with_capacity(texts.len());
    for (k, mut text) in texts.into_iter().enumerate() {
        let mut attempt = 0;
        while !seen.insert(text_hash(&text)) && attempt < MAX_DUPLICATE_REDRAWS {
            attempt += 1;
            text = make(k, attempt)?;
        }
        prompts.push(Prompt::user(text, Some(target(k) as u32)));
    }
    Ok(prompts)
}

fn text_hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tiny() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-llama/tokenizer.json")
    }

    fn count(tok: &Tokenizer, text: &str) -> usize {
        tok.encode(text, false).unwrap().get_ids().len()
    }

    #[test]
    fn plain_words() {
        assert_eq!(plain_word("Ġthe"), Some("the"));
        assert_eq!(plain_word("▁The"), Some("The"));
        assert_eq!(plain_word("ing"), Some("ing"));
        assert_eq!(plain_word("Ġ"), None);
        assert_eq!(plain_word("Ġ123"), None);
        assert_eq!(plain_word("<s>"), None);
        assert_eq!(plain_word("Ġcafé"), None);
        assert_eq!(plain_word("ĠĠa"), None);
    }

    #[test]
    fn pool_words_add_one_token_each() {
        let path = tiny();
        let tok = Tokenizer::from_file(&path).unwrap();
        let pool = WordPool::for_tokenizer(&path).unwrap();
        assert!(pool.inner.len() >= 50, "{}", pool.inner.len());
        assert!(!pool.start.is_empty());
        for w in &pool.inner {
            assert_eq!(count(&tok, &format!("a {w}")), count(&tok, "a") + 1, "{w}");
        }
        for w in &pool.start {
            assert_eq!(count(&tok, w), 1, "{w}");
        }
        // Built once per process.
        assert!(Arc::ptr_eq(&pool, &WordPool::for_tokenizer(&path).unwrap()));
    }

    #[test]
    fn seeds_are_independent_streams() {
        let a = derive_seed(1, STREAM_PROMPT, 0, 0);
        assert_eq!(a, derive_seed(1, STREAM_PROMPT, 0, 0));
        assert_ne!(a, derive_seed(2, STREAM_PROMPT, 0, 0));
        assert_ne!(a, derive_seed(1, STREAM_PREFIX, 0, 0));
        assert_ne!(a, derive_seed(1, STREAM_PROMPT, 1, 0));
        assert_ne!(a, derive_seed(1, STREAM_PROMPT, 0, 1));
    }

    const WORDS: [&str; 12] = [
        "the", "cat", "sat", "on", "mat", "dog", "ran", "far", "big", "red", "sun", "hat",
    ];

    /// A small SentencePiece-style (Llama 2 / Mistral) BPE tokenizer:
    /// `▁` word-start marker, byte fallback, no byte-level alphabet.
    fn sentencepiece_style(metaspace: bool) -> serde_json::Value {
        fn add(t: &str, vocab: &mut serde_json::Map<String, serde_json::Value>) {
            if !vocab.contains_key(t) {
                let id = vocab.len();
                vocab.insert(t.to_string(), json!(id));
            }
        }
        let mut vocab = serde_json::Map::new();
        for t in ["<unk>", "<s>", "</s>"] {
            add(t, &mut vocab);
        }
        for b in 0..=255u8 {
            add(&format!("<0x{b:02X}>"), &mut vocab);
        }
        add("▁", &mut vocab);
        for c in 'a'..='z' {
            add(&c.to_string(), &mut vocab);
        }
        let mut merges = Vec::new();
        for w in WORDS {
            let mut cur = "▁".to_string();
            for c in w.chars() {
                let merge = format!("{cur} {c}");
                if !merges.contains(&merge) {
                    merges.push(merge);
                }
                cur.push(c);
                add(&cur, &mut vocab);
            }
        }
        let (normalizer, pre_tokenizer, decoder) = if metaspace {
            (
                json!(null),
                json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}),
                json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}),
            )
        } else {
            (
                json!({"type": "Sequence", "normalizers": [
                    {"type": "Prepend", "prepend": "▁"},
                    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
                ]}),
                json!(null),
                json!({"type": "Sequence", "decoders": [
                    {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                    {"type": "ByteFallback"},
                    {"type": "Fuse"},
                    {"type": "Strip", "content": " ", "start": 1, "stop": 0}
                ]}),
            )
        };
        json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [
                {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
            ],
            "normalizer": normalizer,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
            },
            "decoder": decoder,
            "model": {
                "type": "BPE", "dropout": null, "unk_token": "<unk>",
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                "vocab": vocab, "merges": merges
            }
        })
    }

    #[test]
    fn exact_with_sentencepiece_style_tokenizers() {
        for metaspace in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tokenizer.json");
            std::fs::write(&path, sentencepiece_style(metaspace).to_string()).unwrap();
            let tok = Tokenizer::from_file(&path).unwrap();
            // The fixture is what it claims: one token per word, a BOS when asked.
            assert_eq!(count(&tok, "the cat sat"), 3);
            assert_eq!(
                tok.encode("the", true).unwrap().get_ids(),
                [1, tok.token_to_id("▁the").unwrap()]
            );

            // The pool is every `▁word` token: the words and their prefixes.
            let pool = WordPool::for_tokenizer(&path).unwrap();
            let mut words = pool.inner.clone();
            words.sort();
            let mut want: Vec<String> = WORDS
                .iter()
                .flat_map(|w| (1..=w.len()).map(|i| w[..i].to_string()))
                .collect();
            want.sort();
            want.dedup();
            assert_eq!(words, want);
            let lengths: Vec<u32> = (1..=60).collect();
            for prefix in [0u32, 5] {
                let prompts = synthetic_prompts(&path, &lengths, prefix, 9).unwrap();
                let head = prompts[10]
                    .text
                    .split(' ')
                    .take(prefix as usize)
                    .collect::<Vec<_>>();
                for (p, &len) in prompts.iter().zip(&lengths) {
                    let want = len.max(prefix + 1) as usize;
                    assert_eq!(
                        count(&tok, &p.text),
                        want,
                        "{metaspace} {prefix} {:?}",
                        p.text
                    );
                    assert_eq!(p.input_tokens, Some(want as u32));
                    let ids = tok.encode(p.text.as_str(), false).unwrap();
                    let words: Vec<_> = p.text.split(' ').collect();
                    assert_eq!(words[..prefix as usize], head[..]);
                    assert_eq!(ids.get_ids().len(), want);
                }
            }
        }
    }

    #[test]
    fn tokenizer_without_plain_words_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        let t = json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
            "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "1": 1, "2": 2}, "unk_token": "<unk>"}
        });
        std::fs::write(&path, t.to_string()).unwrap();
        let err = synthetic_prompts(&path, &[4], 0, 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no plain-word tokens") && err.contains("tokenizer.json"),
            "{err}"
        );
    }

    /// Speed: `cargo test --release --lib workload::synthetic::tests::speed -- --ignored --nocapture`
    #[test]
    #[ignore = "timing; run by hand in release mode"]
    fn speed() {
        let path = tiny();
        WordPool::for_tokenizer(&path).unwrap();
        let lengths = vec![1024u32; 2000];
        let t = std::time::Instant::now();
        let prompts = synthetic_prompts(&path, &lengths, 0, 1).unwrap();
        let plain = t.elapsed();
        let t = std::time::Instant::now();
        let shared = synthetic_prompts(&path, &lengths, 256, 2).unwrap();
        let with_prefix = t.elapsed();
        assert_eq!(prompts.len(), 2000);
        assert_eq!(shared.len(), 2000);
        // For scale: encoding the finished texts once each, on one thread.
        let tok = load(&path).unwrap();
        let t = std::time::Instant::now();
        for p in &prompts {
            assert_eq!(encode(&tok, &path, &p.text).unwrap().len(), 1024);
        }
        let once = t.elapsed();
        eprintln!(
            "2000 prompts x 1024 tokens on {} threads: {plain:.2?} (no prefix), {with_prefix:.2?} (256-token shared prefix); encoding them once on one thread: {once:.2?}",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
}
