//! Why prompts could not be built. Every message is one line that names the
//! file (and 1-based line or entry when there is one), what is wrong, and
//! the next step.

use std::path::PathBuf;

/// Why a workload could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A prompt file or tokenizer file could not be read.
    #[error("cannot read {}: {source}; check the path", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A JSONL line is not valid JSON or not a JSON object.
    #[error(
        "{} line {line}: {message}; each line must be a JSON object with `messages` (an OpenAI messages array) or `prompt` (a string)",
        path.display()
    )]
    JsonlLine {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A line of a text or JSONL file is not UTF-8.
    #[error("{} line {line}: not valid UTF-8; save the file as UTF-8", path.display())]
    NotUtf8 { path: PathBuf, line: usize },

    /// A ShareGPT file is not a JSON array of conversations.
    #[error(
        "{}: {message}; a ShareGPT file is a JSON array like [{{\"conversations\": [{{\"from\": \"human\", \"value\": \"...\"}}]}}] (for other layouts use the JSONL or text format)",
        path.display()
    )]
    ShareGpt { path: PathBuf, message: String },

    /// The file parsed but holds no usable prompt.
    #[error("no prompts in {}{}; add at least one prompt", path.display(), skipped_note(*skipped))]
    NoPrompts { path: PathBuf, skipped: usize },

    /// A synthetic workload was asked for without a tokenizer.
    #[error(
        "synthetic prompts need the model's tokenizer.json to count tokens exactly; set the tokenizer path or download the model so its Hugging Face snapshot is in the cache"
    )]
    TokenizerRequired,

    /// tokenizer.json could not be loaded.
    #[error(
        "cannot load tokenizer {}: {message}; point the tokenizer at the model's tokenizer.json",
        path.display()
    )]
    TokenizerLoad { path: PathBuf, message: String },

    /// Encoding a text failed.
    #[error("tokenizer {} failed to encode a prompt: {message}", path.display())]
    Encode { path: PathBuf, message: String },

    /// The tokenizer has no plain-word tokens to build synthetic text from.
    #[error(
        "tokenizer {} has no plain-word tokens (ASCII letters after a word-start marker) to build synthetic prompts from; use a prompt file instead",
        path.display()
    )]
    NoWordTokens { path: PathBuf },

    /// Adjusting a synthetic prompt to the exact length did not converge.
    #[error(
        "could not build a synthetic prompt of exactly {target} tokens with tokenizer {} (last try had {got} after {rounds} rounds); use a prompt file or another tokenizer",
        path.display()
    )]
    NoConvergence {
        path: PathBuf,
        target: u32,
        got: usize,
        rounds: usize,
    },

    /// Workload parameters that make no sense.
    #[error("invalid workload: {0}")]
    Invalid(String),
}

fn skipped_note(skipped: usize) -> String {
    match skipped {
        0 => String::new(),
        1 => " (1 entry skipped: no human turn)".to_string(),
        n => format!(" ({n} entries skipped: no human turn)"),
    }
}
