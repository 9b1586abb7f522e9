//! Workloads: the prompt each request of a benchmark point sends.
//!
//! A [`WorkloadSpec`] names where prompts come from (a fixed text, a prompt
//! file, or token-exact synthetic text) and a seed; [`build_prompts`] turns
//! it into one [`Prompt`] per request, the same ones for the same spec, seed
//! and count.
//!
//! - `files`: prompt files (text, JSONL, ShareGPT) and their checks.
//! - `synthetic`: random word prompts of an exact token count.
//! - `lengths`: how synthetic prompt lengths vary.
//! - `tokenizer`: finding and loading tokenizer.json, counting tokens.
//! - `error`: [`WorkloadError`].

mod error;
mod files;
mod lengths;
mod synthetic;
#[cfg(test)]
mod tests;
mod tokenizer;

use std::path::PathBuf;

use rand::seq::SliceRandom;
use serde_json::{Value, json};

pub use error::WorkloadError;
pub use files::{PromptFile, check_file, load_file};
pub use lengths::LengthDist;
pub use tokenizer::{count_tokens, find_tokenizer};

/// One request's prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Chat messages in OpenAI shape (a JSON array), as given by a file, or
    /// `[{"role":"user","content": text}]` for fixed/synthetic prompts.
    pub messages: Value,
    /// Text for the plain completions API: the fixed/synthetic prompt, or for
    /// files the concatenated text contents of the messages (joined by "\n").
    pub text: String,
    /// Exact token count of `text` under the tokenizer (synthetic prompts; and
    /// fixed and file prompts when a tokenizer was given), else None.
    pub input_tokens: Option<u32>,
}

impl Prompt {
    /// A single user message with `text`.
    pub fn user(text: String, input_tokens: Option<u32>) -> Prompt {
        Prompt {
            messages: json!([{"role": "user", "content": text}]),
            text,
            input_tokens,
        }
    }
}

/// How a prompt file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileFormat {
    /// By extension: `.jsonl` is JSONL, `.json` is ShareGPT, else text.
    #[default]
    Auto,
    /// One prompt per non-empty line.
    Text,
    /// One JSON object per non-empty line, with `messages` or `prompt`.
    Jsonl,
    /// A JSON array of `{"conversations": [{"from", "value"}]}` (vLLM's
    /// benchmark format); the first human turn is the prompt.
    ShareGpt,
}

/// Where prompts come from.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptSource {
    /// The same text for every request.
    Fixed(String),
    /// Prompts from a file, in file order (or shuffled), cycled as needed.
    File { path: PathBuf, format: FileFormat },
    /// Random text of an exact token count around `input_tokens`; the first
    /// `shared_prefix_tokens` tokens are the same in every prompt.
    Synthetic {
        input_tokens: u32,
        dist: LengthDist,
        shared_prefix_tokens: u32,
    },
}

/// What to build prompts from.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    pub source: PromptSource,
    /// Reproducibility: the same spec + seed + count gives byte-identical prompts.
    pub seed: u64,
    /// Shuffle file prompts (seeded) instead of using them in file order.
    pub shuffle: bool,
    /// tokenizer.json; required for Synthetic, optional for files (fills input_tokens).
    pub tokenizer: Option<PathBuf>,
}

/// RNG stream for shuffling file prompts (the others are in `synthetic`).
const STREAM_SHUFFLE: u64 = 4;

/// `count` prompts; request k of a point uses `prompts[k]`. Files with fewer
/// entries than `count` are cycled. Errors name the file and 1-based line.
pub fn build_prompts(spec: &WorkloadSpec, count: usize) -> Result<Vec<Prompt>, WorkloadError> {
    match &spec.source {
        PromptSource::Fixed(text) => {
            let input_tokens = match &spec.tokenizer {
                Some(tok) => Some(count_tokens(tok, text)?),
                None => None,
            };
            Ok(vec![Prompt::user(text.clone(), input_tokens); count])
        }
        PromptSource::File { path, format } => {
            let mut prompts = load_file(path, *format)?.prompts;
            if spec.shuffle {
                prompts.shuffle(&mut synthetic::rng_for(spec.seed, STREAM_SHUFFLE, 0, 0));
            }
            prompts.truncate(count);
            if let Some(tok) = &spec.tokenizer {
                let texts: Vec<&str> = prompts.iter().map(|p| p.text.as_str()).collect();
                let counts = tokenizer::count_many(tok, &texts)?;
                for (p, n) in prompts.iter_mut().zip(counts) {
                    p.input_tokens = Some(n);
                }
            }
            Ok((0..count)
                .map(|k| prompts[k % prompts.len()].clone())
                .collect())
        }
        PromptSource::Synthetic {
            input_tokens,
            dist,
            shared_prefix_tokens,
        } => {
            let tok = spec
                .tokenizer
                .as_deref()
                .ok_or(WorkloadError::TokenizerRequired)?;
            if *input_tokens == 0 {
                return Err(WorkloadError::Invalid(
                    "synthetic input_tokens must be at least 1".to_string(),
                ));
            }
            dist.validate()?;
            let min = shared_prefix_tokens.saturating_add(1);
            let mut rng = synthetic::rng_for(spec.seed, synthetic::STREAM_LENGTHS, 0, 0);
            let lengths: Vec<u32> = (0..count)
                .map(|_| dist.sample(*input_tokens, min, &mut rng))
                .collect();
            synthetic::synthetic_prompts(tok, &lengths, *shared_prefix_tokens, spec.seed)
        }
    }
}
