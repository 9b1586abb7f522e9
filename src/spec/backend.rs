//! A backend definition: everything mlxrun needs to know to launch, probe
//! and talk to one kind of inference server, as data (TOML). The built-in
//! definitions live in `backends/*.toml`; a scenario adds its own or
//! overrides single keys of a built-in under `[backends.NAME]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which OpenAI endpoint requests go to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /v1/chat/completions` with `messages`.
    #[default]
    Chat,
    /// `POST /v1/completions` with `prompt`.
    Completions,
    /// `POST /v1/audio/transcriptions`, a multipart form with an audio file
    /// (speech-to-text servers); readiness sends a 1-second clip.
    Transcriptions,
}

impl Api {
    pub fn path(self) -> &'static str {
        match self {
            Api::Chat => "/v1/chat/completions",
            Api::Completions => "/v1/completions",
            Api::Transcriptions => "/v1/audio/transcriptions",
        }
    }
}

/// Where a response's output token count comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// OpenAI `usage` (streamed with `stream_options.include_usage`).
    #[default]
    Usage,
    /// llama.cpp's `timings` object (`predicted_n`, `prompt_n`, `cache_n`).
    Timings,
    /// Count content chunks (when the server reports nothing better).
    Chunks,
    /// Nothing to count (speech-to-text: no token usage exists); requests,
    /// latency and the real-time factor are reported instead.
    None,
}

/// How readiness is proven.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ready {
    /// A 1-token completion succeeds.
    #[default]
    Completion,
    /// `GET health_path` answers 2xx.
    Health,
}

/// What the model argument names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A folder with `config.json`, or a Hugging Face repo id.
    #[default]
    Mlx,
    /// A `.gguf` file (or a folder holding exactly one).
    Gguf,
    /// Passed as written (a served model name, an HF id the server fetches).
    Name,
}

/// How a matrix axis reaches the server's command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AxisArg {
    /// `--flag value`; `true` passes the bare flag, `false` and `"default"` omit it.
    Flag(String),
    /// argv templates, rendered with the axis values (`value` is this axis').
    Args(Vec<String>),
}

/// One backend definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendDef {
    pub description: String,
    /// The program `{{ bin }}` names.
    pub bin: String,
    /// Folders searched for `bin` before `PATH`.
    pub bin_search: Vec<String>,
    /// argv templates; empty = an external endpoint, nothing launched.
    pub launch: Vec<String>,
    /// Environment of launched servers.
    pub env: BTreeMap<String, String>,
    pub model_kind: ModelKind,
    pub api: Api,
    pub tokens: TokenSource,
    pub ready: Ready,
    pub health_path: String,
    /// Path of the server's Prometheus metrics (`GET`, text format), scraped
    /// before and after each point; empty = the backend has none.
    pub metrics_path: String,
    /// Template of the request's `model` field; empty = not sent.
    pub request_model: String,
    /// Requests (`"METHOD /path"`) sent to every instance before each point.
    pub cache_reset: Vec<String>,
    /// May run under `mlx.launch` with several ranks.
    pub multi_rank: bool,
    /// argv templates printing the installed version (first line kept).
    pub version: Vec<String>,
    /// argv templates printing `--help`, for the flag check; empty = no check.
    pub help: Vec<String>,
    /// What to do when the backend is missing (a template).
    pub install_hint: String,
    /// External endpoints: base URLs, one per instance.
    pub urls: Vec<String>,
    /// External endpoints: the environment variable holding the API key.
    pub api_key_env: String,
    /// Matrix axes this backend understands.
    pub axes: BTreeMap<String, AxisArg>,
    /// Request and server settings that change how the server works
    /// (`plan` and `run` warn; rows record them as `server_mode`).
    pub mode: ModeRules,
}

/// `[backends.NAME.mode]`: when a point's requests or server flags change
/// how the server works, as data. Every rule is off unless set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModeRules {
    /// Requests whose temperature is above this get a sampler of their own,
    /// and a batch holding one samples row by row (`per_request_sampling`).
    pub per_request_sampling_above: Option<f64>,
    /// A request carrying `seed` is served alone, outside the batch
    /// (`unbatched_seed`).
    pub unbatched_seed: bool,
    /// Server flags with which the server batches no request
    /// (`unbatched_<flag>`, e.g. `--draft-model`: `unbatched_draft_model`);
    /// a flag counts when it is passed with any value but `false`.
    pub unbatched_flags: Vec<String>,
    /// The flag bounding how many requests one instance decodes at once;
    /// requests beyond it wait inside the server (`server_queue`). Empty =
    /// no such rule.
    pub batch_limit_flag: String,
    /// That bound when the flag is not passed (the server's default);
    /// unset = only a passed value is checked.
    pub batch_limit_default: Option<u32>,
}

impl Default for BackendDef {
    fn default() -> Self {
        BackendDef {
            description: String::new(),
            bin: String::new(),
            bin_search: Vec::new(),
            launch: Vec::new(),
            env: BTreeMap::new(),
            model_kind: ModelKind::Mlx,
            api: Api::Chat,
            tokens: TokenSource::Usage,
            ready: Ready::Completion,
            health_path: "/health".into(),
            metrics_path: String::new(),
            request_model: String::new(),
            cache_reset: Vec::new(),
            multi_rank: false,
            version: Vec::new(),
            help: Vec::new(),
            install_hint: String::new(),
            urls: Vec::new(),
            api_key_env: String::new(),
            axes: BTreeMap::new(),
            mode: ModeRules::default(),
        }
    }
}

impl BackendDef {
    /// Whether mlxrun starts the server (false: an external endpoint).
    pub fn launches(&self) -> bool {
        !self.launch.is_empty()
    }
}

/// Parse `"POST /path"` (method defaults to POST).
pub fn parse_request_line(line: &str) -> Result<(reqwest::Method, String), String> {
    let mut words = line.split_whitespace();
    let (method, path) = match (words.next(), words.next(), words.next()) {
        (Some(p), None, None) if p.starts_with('/') => ("POST", p),
        (Some(m), Some(p), None) => (m, p),
        _ => return Err(format!("'{line}' is not \"METHOD /path\"")),
    };
    if !path.starts_with('/') {
        return Err(format!("'{line}': the path must start with /"));
    }
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("'{line}': unknown method {method}"))?;
    Ok((method, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_args_take_a_flag_or_templates() {
        #[derive(Deserialize)]
        struct H {
            axes: BTreeMap<String, AxisArg>,
        }
        let h: H = toml::from_str(
            "[axes]\nparallel = \"--parallel\"\nctx = [\"--ctx-size\", \"{{ value }}\"]",
        )
        .unwrap();
        assert_eq!(h.axes["parallel"], AxisArg::Flag("--parallel".into()));
        assert_eq!(
            h.axes["ctx"],
            AxisArg::Args(vec!["--ctx-size".into(), "{{ value }}".into()])
        );
    }

    #[test]
    fn request_lines_parse() {
        assert_eq!(
            parse_request_line("POST /flush_cache").unwrap(),
            (reqwest::Method::POST, "/flush_cache".to_string())
        );
        assert_eq!(parse_request_line("/x").unwrap().0, reqwest::Method::POST);
        assert!(parse_request_line("GET nopath").is_err());
        assert!(parse_request_line("").is_err());
    }
}
