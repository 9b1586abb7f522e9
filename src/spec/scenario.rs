//! The scenario file as serde types: every key a TOML scenario may hold, with
//! its default. Unknown keys are rejected (`deny_unknown_fields`); checks that
//! span several fields live in `crate::scenario::validate`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::units::{PositiveSecs, Secs};

pub use super::measure::{ArrivalKind, LoadSection, MetricsSection, Rate, SloSection};
pub use super::memory::{MemorySection, OverLimit};
pub use super::tune::TuneSection;

/// A whole scenario after layering (defaults < file < environment < `--set`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Scenario name; names the results folder. Defaults to the file stem.
    pub name: String,
    /// Free text shown by `plan`.
    pub description: String,
    /// Files (relative to the scenario) with further `[backends.NAME]` tables.
    pub include: Vec<String>,
    pub model: ModelSection,
    /// Several models, each with its own backend; the model is an axis.
    /// Empty: the one model of `[model]`, served by `backend.kind`.
    pub models: Vec<ModelEntry>,
    pub backend: BackendSection,
    /// Backend definitions of this scenario: new ones, or keys overriding a
    /// built-in definition of the same name (see `backends/*.toml`).
    pub backends: BTreeMap<String, toml::Table>,
    pub launcher: LauncherSection,
    pub router: RouterSection,
    pub workload: WorkloadSection,
    pub load: LoadSection,
    pub slo: SloSection,
    pub metrics: MetricsSection,
    pub matrix: MatrixSection,
    pub run: RunSection,
    pub memory: MemorySection,
    pub output: OutputSection,
    /// What `mlxrun tune` maximises, and its budget.
    pub tune: TuneSection,
    /// How mlxrun reaches other hosts over SSH.
    pub remote: RemoteSection,
    /// Other hosts by name (`[hosts.NAME]`), for `backend.hosts`,
    /// `launcher.hosts` and `matrix.hosts`.
    pub hosts: BTreeMap<String, HostEntry>,
}

/// `[remote]`: how mlxrun runs `ssh` for every host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteSection {
    /// The `ssh` program (MLX's `mlx.launch` runs plain `ssh` from `PATH`).
    pub ssh: String,
    /// Options for every host, e.g. `["-F", "ssh_config"]`.
    pub ssh_args: Vec<String>,
    /// Seconds `ssh` may take to connect (`ConnectTimeout`).
    pub connect_timeout_s: u32,
    /// Run `mlxrun monitor` on every host for the length of the run.
    pub monitor: bool,
}

impl Default for RemoteSection {
    fn default() -> Self {
        RemoteSection {
            ssh: "ssh".into(),
            ssh_args: Vec::new(),
            connect_timeout_s: 10,
            monitor: true,
        }
    }
}

/// `[hosts.NAME]`: one other machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostEntry {
    /// The ssh destination (`user@host`, an address, or an alias of your ssh
    /// config); empty = the table's name.
    pub ssh: String,
    /// Where its servers bind and are reached; empty = the host part of
    /// `ssh`. MLX's ring backend needs an IP address.
    pub address: String,
    /// Extra `ssh` options for this host.
    pub ssh_args: Vec<String>,
    /// The mlxrun executable there; empty = this executable's path (a
    /// shared or identical layout).
    pub mlxrun: String,
    /// The Python interpreter there; empty = the one used here.
    pub python: String,
    /// The working directory there; empty = this one.
    pub workdir: String,
}

/// `[model]`: what the servers load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// HF repo id (`org/name`), a local path (`~` expanded), or a bare folder
    /// name looked up in `./models`, `~/models` and the HF cache.
    pub path: String,
    /// What requests to it carry: `text`, `vision` or `audio`; empty =
    /// `auto`: audio when its backend transcribes (`api =
    /// "transcriptions"`), vision when its config.json has a
    /// `vision_config`, else text.
    pub modality: String,
}

/// One `[[models]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelEntry {
    /// Label in results; empty = the last part of the path.
    pub name: String,
    /// As `model.path`; empty = `model.path`. A `model.path` given in the
    /// environment (`MLX_MODEL_PATH`) or by `--set` replaces every entry's path.
    pub path: String,
    /// Backend name, or `auto` (routed by the model's `config.json`); empty =
    /// `backend.kind`.
    pub backend: String,
    /// Extra server arguments for this model only.
    pub args: Vec<String>,
    /// As `model.modality`, for this model.
    pub modality: String,
}

/// `[backend]`: the default backend and settings shared by every backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendSection {
    /// A backend name (`mlx_lm`, `mlx_vlm`, `llama_server`, `vllm`, `sglang`,
    /// `openai`, or one defined under `[backends]`), or `auto`.
    pub kind: String,
    /// Python interpreter for Python backends (`{{ python }}`). Empty:
    /// `.mlxrun/venv/bin/python` when that exists, else `python3`.
    pub python: String,
    /// Extra server arguments, one argv element each.
    pub args: Vec<String>,
    /// Extra server arguments as one string with the predecessor's `MLX_SERVER_ARGS`
    /// semantics: comma-separated when it holds a comma, else shell words.
    pub server_args: String,
    /// Address the servers bind to.
    pub host: String,
    /// Instance `i` (0-based) listens on `base_port + i`.
    pub base_port: u16,
    /// Hosts the instances run on: instance `i` on `hosts[i mod n]` (a
    /// name of `[hosts]`, or `local`). Empty = this machine.
    pub hosts: Vec<String>,
    /// Seconds to wait for readiness after start.
    pub ready_timeout_s: PositiveSecs,
    /// Seconds between SIGTERM and SIGKILL when stopping a server.
    pub stop_grace_s: Secs,
    /// Check the installed server's `--help` for every flag before starting.
    pub check_flags: bool,
}

impl Default for BackendSection {
    fn default() -> Self {
        BackendSection {
            kind: "mlx_lm".into(),
            python: String::new(),
            args: Vec::new(),
            server_args: String::new(),
            host: "127.0.0.1".into(),
            base_port: 9000,
            hosts: Vec::new(),
            ready_timeout_s: PositiveSecs::lit(180.0),
            stop_grace_s: Secs::lit(10.0),
            check_flags: true,
        }
    }
}

/// `[launcher]`: MLX's distributed launcher, used when a point has more
/// than one rank (`matrix.ranks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LauncherSection {
    /// `mlx.launch` executable; empty = the one beside `backend.python`, else `PATH`.
    pub bin: String,
    /// `--backend`: ring, mpi or jaccl.
    pub backend: String,
    /// Hosts every instance's ranks span (rank 0, which serves HTTP, on the
    /// first): names of `[hosts]` or addresses; empty = this machine only.
    /// Any host given runs the instance under mlx.launch, even with one rank.
    pub hosts: Vec<String>,
    /// `--hostfile` (JSON, as mlx.launch reads it); replaces `hosts`.
    pub hostfile: String,
    /// First ring port; instance `i` uses `starting_port + 64 × i` upward.
    pub starting_port: u16,
    /// `--env NAME=VALUE` for every rank.
    pub env: Vec<String>,
    /// Run under mlx.launch even with one rank.
    pub always: bool,
}

impl Default for LauncherSection {
    fn default() -> Self {
        LauncherSection {
            bin: String::new(),
            backend: "ring".into(),
            hosts: Vec::new(),
            hostfile: String::new(),
            starting_port: 32323,
            env: Vec::new(),
            always: false,
        }
    }
}

/// How requests reach several instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouterKind {
    /// nginx balances across the instances whenever a point has more than one.
    #[default]
    Nginx,
    /// mlxrun spreads requests over the instances itself.
    Client,
    /// No router: only one instance per point is allowed.
    None,
}

impl RouterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouterKind::Nginx => "nginx",
            RouterKind::Client => "client",
            RouterKind::None => "none",
        }
    }
}

/// Balancing method (nginx upstream method, or the client router's choice).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceMethod {
    #[default]
    RoundRobin,
    LeastConn,
}

impl BalanceMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceMethod::RoundRobin => "round_robin",
            BalanceMethod::LeastConn => "least_conn",
        }
    }
}

/// `[router]`: what spreads requests over several instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterSection {
    /// nginx, client or none (`matrix.router` sweeps it).
    pub kind: RouterKind,
    /// Address nginx listens on.
    pub host: String,
    pub port: u16,
    /// minijinja template for nginx.conf; empty = the built-in
    /// `templates/nginx.conf.j2`.
    pub template: String,
    /// round_robin or least_conn (`matrix.balance` sweeps it).
    pub method: BalanceMethod,
    /// Idle keep-alive connections nginx keeps to each upstream worker.
    pub keepalive: u32,
    /// nginx `proxy_read_timeout`/`proxy_send_timeout` in seconds.
    pub proxy_timeout_s: u32,
    /// nginx executable.
    pub nginx_bin: String,
    /// Seconds to wait for a request through nginx to succeed.
    pub ready_timeout_s: PositiveSecs,
}

impl Default for RouterSection {
    fn default() -> Self {
        RouterSection {
            kind: RouterKind::Nginx,
            host: "127.0.0.1".into(),
            port: 8088,
            template: String::new(),
            method: BalanceMethod::RoundRobin,
            keepalive: 64,
            proxy_timeout_s: 3600,
            nginx_bin: "nginx".into(),
            ready_timeout_s: PositiveSecs::lit(20.0),
        }
    }
}

/// `[workload]`: what each request asks for and how a point is bounded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadSection {
    /// The user message of every request (unless `prompts_file` or
    /// `matrix.input_tokens` is set).
    pub prompt: String,
    /// Prompts from a file: plain text (one per line), JSONL (`messages` or
    /// `prompt` per line) or ShareGPT JSON; relative to the scenario file.
    pub prompts_file: String,
    /// `auto` (by extension: .jsonl, .json = ShareGPT, else text), `text`,
    /// `jsonl` or `sharegpt`.
    pub prompts_format: String,
    /// Use file prompts in a seeded random order instead of file order.
    pub shuffle: bool,
    /// Synthetic prompt lengths around `matrix.input_tokens`: `fixed`,
    /// `uniform` (± spread × N) or `normal` (std spread × N).
    pub input_tokens_distribution: String,
    pub input_tokens_spread: f64,
    /// Leading tokens every synthetic prompt of a point shares (prompt-cache studies).
    pub shared_prefix_tokens: u32,
    /// tokenizer.json for synthetic prompts; empty = the model's own.
    pub tokenizer: String,
    /// Seed of prompts, shuffles and arrival times: the same seed, the same run.
    pub seed: u64,
    /// Sampling temperature of every request (`matrix.temperature` sweeps it).
    pub temperature: f64,
    /// Nucleus sampling `top_p` of every request; unset = not sent (the
    /// server's default).
    pub top_p: Option<f64>,
    /// The request's `seed` (the server's sampler); unset = not sent.
    /// Distinct from `seed`, which draws prompts and arrivals.
    pub sampling_seed: Option<u64>,
    /// Stream responses (SSE); needed for TTFT and inter-token latency.
    pub stream: bool,
    /// Requests per point; when unset, `concurrency × requests_per_concurrency`.
    pub requests: Option<u64>,
    pub requests_per_concurrency: u64,
    /// Requests sent (and not measured) after each server configuration starts.
    pub warmup_requests: u32,
    pub warmup_max_tokens: u32,
    /// Seconds one request may take, streaming included.
    pub request_timeout_s: PositiveSecs,
    /// Retries after a 5xx answer or a connection error (linear backoff).
    pub retries: u32,
    /// Backoff base: attempt `k` waits `k × retry_backoff_s`.
    pub retry_backoff_s: Secs,
    /// Vision: local images instead of synthetic ones: a file, a folder (its
    /// PNG, JPEG, GIF and WebP files) or a glob in the last part
    /// (`photos/*.jpg`), relative to the scenario; used in name order and
    /// cycled. `matrix.image_size` does not apply to them.
    pub image_files: String,
    /// Vision: encoding of synthetic images, `png` or `jpeg`.
    pub image_format: String,
    /// Audio: a folder of `.wav` files (relative to the scenario) sent in
    /// name order and cycled, instead of synthetic audio;
    /// `matrix.audio_duration_s` does not apply to them.
    pub audio_dir: String,
    /// Audio: the `language` form field (ISO-639-1); empty = not sent.
    pub audio_language: String,
    /// Audio: `response_format`: `json`, `text` or `verbose_json`.
    pub audio_response_format: String,
}

impl Default for WorkloadSection {
    fn default() -> Self {
        WorkloadSection {
            prompt: "Share three optimization tips for model serving.".into(),
            prompts_file: String::new(),
            prompts_format: "auto".into(),
            shuffle: false,
            input_tokens_distribution: "fixed".into(),
            input_tokens_spread: 0.0,
            shared_prefix_tokens: 0,
            tokenizer: String::new(),
            seed: 0,
            temperature: 0.3,
            top_p: None,
            sampling_seed: None,
            stream: true,
            requests: None,
            requests_per_concurrency: 4,
            warmup_requests: 2,
            warmup_max_tokens: 8,
            request_timeout_s: PositiveSecs::lit(120.0),
            retries: 8,
            retry_backoff_s: Secs::lit(0.5),
            image_files: String::new(),
            image_format: "png".into(),
            audio_dir: String::new(),
            audio_language: "en".into(),
            audio_response_format: "json".into(),
        }
    }
}

impl WorkloadSection {
    /// What every request asks of the sampler at `temperature` (the
    /// point's: `matrix.temperature`, else `workload.temperature`).
    pub fn sampling(&self, temperature: f64) -> Sampling {
        Sampling {
            temperature,
            top_p: self.top_p,
            seed: self.sampling_seed,
        }
    }
}

/// What a request asks of the server's sampler: recorded in every row and
/// sent in every body. `top_p` and `seed` are left out of the request when
/// `None`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sampling {
    pub temperature: f64,
    pub top_p: Option<f64>,
    /// The request's `seed` (`workload.sampling_seed`).
    pub seed: Option<u64>,
}

impl Sampling {
    /// Greedy decoding with nothing else sent: readiness probes and
    /// calibration, which measure no point.
    pub const GREEDY: Sampling = Sampling {
        temperature: 0.0,
        top_p: None,
        seed: None,
    };
}

/// `[matrix]`: the axes whose Cartesian product is the list of points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatrixSection {
    /// Server instances per point.
    pub instances: Axis<u32>,
    /// Ranks per host under `mlx.launch` (`-n`); 1 = no launcher.
    pub ranks: Axis<u32>,
    /// The hosts ranks span, per point (replaces `launcher.hosts`): each
    /// value a host or several joined by `+`, e.g. `["a", "a+b"]`.
    pub hosts: Option<Axis<HostSet>>,
    /// MLX's distributed backend per point (replaces `launcher.backend`).
    pub launcher_backend: Option<Axis<LauncherBackend>>,
    /// Router per point (nginx, client); unset = `router.kind`. Only
    /// multiplies points with more than one instance.
    pub router: Option<Axis<RouterKind>>,
    /// Balancing method per point; unset = `router.method`.
    pub balance: Option<Axis<BalanceMethod>>,
    /// `--decode-concurrency` per instance; unset = not passed (server default).
    pub decode_concurrency: Option<Axis<u32>>,
    /// `--prompt-concurrency` per instance; unset = not passed.
    pub prompt_concurrency: Option<Axis<u32>>,
    /// Requests in flight from the client (closed loop; unset = 1), or the
    /// cap on requests in flight of an open-loop point (unset = no cap).
    pub concurrency: Option<Axis<u32>>,
    /// Open loop: requests per second sent on the `load.arrival` schedule
    /// (`inf` = all at once). Unset: every point is closed loop.
    pub request_rate: Option<Axis<Rate>>,
    /// `max_tokens` of every request.
    pub max_tokens: Axis<u32>,
    /// Sampling temperature per point; unset = `workload.temperature`.
    pub temperature: Option<Axis<f64>>,
    /// Synthetic prompts of this many tokens (the model's own tokenizer).
    pub input_tokens: Option<Axis<u32>>,
    /// Vision models only: images per request (0 = a text-only request to
    /// the vision model); unset = 1.
    pub image_count: Option<Axis<u32>>,
    /// Vision models only: size of synthetic images, `"WxH"`; unset =
    /// `"512x512"`. Points with no images are not multiplied by it.
    pub image_size: Option<Axis<crate::spec::media::ImageSize>>,
    /// Audio models only: seconds of synthetic audio per request; unset = 30.
    pub audio_duration_s: Option<Axis<crate::spec::media::Seconds>>,
    /// Axes the backend definition names (`[backends.X.axes]`), e.g.
    /// `parallel = [1, 4]` for llama_server. A model whose backend does not
    /// know an axis is not multiplied by it.
    pub axes: BTreeMap<String, Axis<FlagValue>>,
    /// Raw server flags as axes, for any backend: `prefill_step_size =
    /// [512, 2048]` passes `--prefill-step-size 512`, then 2048.
    pub server_flags: BTreeMap<String, Axis<FlagValue>>,
    /// minijinja expression over the axis names; points where it is false are
    /// dropped, e.g. `"prompt_concurrency <= decode_concurrency"`.
    pub filter: String,
    /// Points matching every key of one entry are dropped.
    pub exclude: Vec<BTreeMap<String, FlagValue>>,
}

impl Default for MatrixSection {
    fn default() -> Self {
        MatrixSection {
            instances: Axis(vec![1]),
            ranks: Axis(vec![1]),
            hosts: None,
            launcher_backend: None,
            router: None,
            balance: None,
            decode_concurrency: None,
            prompt_concurrency: None,
            concurrency: None,
            request_rate: None,
            max_tokens: Axis(vec![128]),
            temperature: None,
            input_tokens: None,
            image_count: None,
            image_size: None,
            audio_duration_s: None,
            axes: BTreeMap::new(),
            server_flags: BTreeMap::new(),
            filter: String::new(),
            exclude: Vec::new(),
        }
    }
}

/// Where `mlxrun calibrate` saves its result and runs look for it
/// (relative to the working directory): `run.calibration`'s default.
pub const CALIBRATION_PATH: &str = ".mlxrun/calibration.json";

/// `[run]`: sweep policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    /// Keep going after a failed server configuration or point.
    pub continue_on_error: bool,
    /// Pause between points, in seconds.
    pub pause_between_points_s: Secs,
    /// What `mlxrun calibrate` saved; points near its ceilings are flagged.
    pub calibration: String,
    /// Longest a point's load may run, in seconds; requests still in flight
    /// then are recorded as timeouts. 0 = derived from the point: every
    /// request taking the whole `workload.request_timeout_s`, plus one more.
    pub point_timeout_s: Secs,
    /// Times each point is measured; the point's row combines them.
    pub repeats: u32,
    /// Repeats back to back, or round by round across a configuration's points.
    pub repeat_order: super::measure::RepeatOrder,
    /// The warmup before each point whose request shape is new to its server.
    pub warmup: super::measure::WarmupRule,
    /// Keep a point running until its intervals are tight (optional).
    pub precision: super::measure::PrecisionRule,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            continue_on_error: true,
            pause_between_points_s: Secs::ZERO,
            calibration: CALIBRATION_PATH.into(),
            point_timeout_s: Secs::ZERO,
            repeats: 1,
            repeat_order: Default::default(),
            warmup: Default::default(),
            precision: Default::default(),
        }
    }
}

/// `[output]`: where results go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSection {
    /// Base folder; results land in `<dir>/<name>/`.
    pub dir: String,
    /// File stem; empty = the scenario name.
    pub stem: String,
    /// Inter-token latencies of each request in `requests.jsonl`: `list`
    /// (every gap) or `summary` (count, mean, p50, p99).
    pub request_itl: RequestItl,
}

impl Default for OutputSection {
    fn default() -> Self {
        OutputSection {
            dir: "results".into(),
            stem: String::new(),
            request_itl: RequestItl::List,
        }
    }
}

/// How `requests.jsonl` records a request's inter-token latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestItl {
    /// Every gap, in ms (`itl_ms`).
    #[default]
    List,
    /// `{count, mean, p50, p99}` in ms (`itl_ms_summary`): smaller files
    /// for long answers.
    Summary,
}

/// The values of one axis. In TOML (and in environment variables) it may be
/// a single value, an array, or a string of values separated by commas or
/// spaces (`"1,2,4"`, `"1 2 4"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Axis<T>(pub Vec<T>);

impl<T> Axis<T> {
    pub fn values(&self) -> &[T] {
        &self.0
    }
}

impl MatrixSection {
    /// The concurrency values of closed-loop points (unset = `[1]`).
    pub fn closed_concurrency(&self) -> Vec<u32> {
        self.concurrency
            .as_ref()
            .map_or(vec![1], |a| a.values().to_vec())
    }
}

/// A value an axis or an exclude rule can hold: integers and strings are
/// both allowed for server flags.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FlagValue {
    Int(i64),
    Bool(bool),
    Text(String),
}

impl fmt::Display for FlagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagValue::Int(i) => write!(f, "{i}"),
            FlagValue::Bool(b) => write!(f, "{b}"),
            FlagValue::Text(s) => f.write_str(s),
        }
    }
}

/// Parse one list element given as text into an axis value.
pub trait AxisElement: Sized {
    fn from_text(s: &str) -> Result<Self, String>;
    fn from_i64(v: i64) -> Result<Self, String>;
    fn from_float(v: f64) -> Result<Self, String> {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Self::from_i64(v as i64)
        } else {
            Err(format!("expected a whole number, found {v}"))
        }
    }
    fn from_bool(v: bool) -> Result<Self, String> {
        Err(format!("expected a number, found {v}"))
    }
    fn expecting() -> &'static str;
}

impl AxisElement for u32 {
    fn from_text(s: &str) -> Result<Self, String> {
        s.parse::<u32>()
            .map_err(|_| format!("'{s}' is not a whole number from 0 to {}", u32::MAX))
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        u32::try_from(v).map_err(|_| format!("{v} is out of range (0 to {})", u32::MAX))
    }
    fn expecting() -> &'static str {
        "a whole number, a list of them, or a string like \"1,2,4\""
    }
}

impl AxisElement for f64 {
    fn from_text(s: &str) -> Result<Self, String> {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("'{s}' is not a number"))
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        Ok(v as f64)
    }
    fn from_float(v: f64) -> Result<Self, String> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(format!("{v} is not a finite number"))
        }
    }
    fn expecting() -> &'static str {
        "a number, a list of numbers, or a string like \"0,0.3\""
    }
}

impl AxisElement for FlagValue {
    fn from_text(s: &str) -> Result<Self, String> {
        Ok(match s.parse::<i64>() {
            Ok(i) => FlagValue::Int(i),
            Err(_) => FlagValue::Text(s.to_string()),
        })
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        Ok(FlagValue::Int(v))
    }
    fn from_float(v: f64) -> Result<Self, String> {
        Ok(FlagValue::Text(v.to_string()))
    }
    fn from_bool(v: bool) -> Result<Self, String> {
        Ok(FlagValue::Bool(v))
    }
    fn expecting() -> &'static str {
        "a value, a list of values, or a string like \"a,b\""
    }
}

/// One value of `matrix.hosts`: the hosts an instance's ranks span, in
/// rank order (`a+b` in text).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct HostSet(pub Vec<String>);

impl fmt::Display for HostSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("+"))
    }
}

impl AxisElement for HostSet {
    fn from_text(s: &str) -> Result<Self, String> {
        let hosts: Vec<String> = s.split('+').map(|h| h.trim().to_string()).collect();
        if hosts.iter().any(String::is_empty) {
            return Err(format!("'{s}' names an empty host"));
        }
        Ok(HostSet(hosts))
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        Err(format!("expected host names, found {v}"))
    }
    fn expecting() -> &'static str {
        "a host name, hosts joined by `+`, or a list of those: [\"a\", \"a+b\"]"
    }
}

/// MLX's distributed backends, as `mlx.launch --backend` names them.
pub const LAUNCHER_BACKENDS: &[&str] = &["ring", "mpi", "jaccl", "jaccl-ring", "nccl"];

/// One value of `matrix.launcher_backend`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LauncherBackend(pub String);

impl AxisElement for LauncherBackend {
    fn from_text(s: &str) -> Result<Self, String> {
        if LAUNCHER_BACKENDS.contains(&s) {
            Ok(LauncherBackend(s.to_string()))
        } else {
            Err(format!(
                "'{s}' is not one of: {}",
                LAUNCHER_BACKENDS.join(", ")
            ))
        }
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        Err(format!("expected a backend name, found {v}"))
    }
    fn expecting() -> &'static str {
        "ring, mpi, jaccl, jaccl-ring or nccl, or a list of those"
    }
}

/// Enum axis elements are read from their names.
macro_rules! named_axis_element {
    ($t:ty, $($name:literal => $v:expr),+) => {
        impl AxisElement for $t {
            fn from_text(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok($v),)+
                    other => Err(format!(
                        "'{other}' is not one of: {}",
                        [$($name),+].join(", ")
                    )),
                }
            }
            fn from_i64(v: i64) -> Result<Self, String> {
                Err(format!("expected a name, found {v}"))
            }
            fn expecting() -> &'static str {
                concat!("a name or a list of names: ", $($name, " "),+)
            }
        }
    };
}

named_axis_element!(RouterKind, "nginx" => RouterKind::Nginx, "client" => RouterKind::Client, "none" => RouterKind::None);
named_axis_element!(BalanceMethod, "round_robin" => BalanceMethod::RoundRobin, "least_conn" => BalanceMethod::LeastConn);

/// Split a list given as text on commas and white space.
pub fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

struct AxisVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: AxisElement> Visitor<'de> for AxisVisitor<T> {
    type Value = Axis<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::expecting())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        T::from_i64(v).map(|x| Axis(vec![x])).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let v = i64::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))?;
        self.visit_i64(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        T::from_float(v).map(|x| Axis(vec![x])).map_err(E::custom)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        T::from_bool(v).map(|x| Axis(vec![x])).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        split_list(s)
            .map(T::from_text)
            .collect::<Result<Vec<_>, _>>()
            .map(Axis)
            .map_err(E::custom)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(one) = seq.next_element::<Axis<T>>()? {
            out.extend(one.0);
        }
        Ok(Axis(out))
    }
}

impl<'de, T: AxisElement> Deserialize<'de> for Axis<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AxisVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        a: Axis<u32>,
    }

    fn axis(src: &str) -> Result<Vec<u32>, String> {
        toml::from_str::<Holder>(src)
            .map(|h| h.a.0)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn axis_accepts_scalar_list_and_text() {
        assert_eq!(axis("a = 4").unwrap(), vec![4]);
        assert_eq!(axis("a = [1, 2, 4]").unwrap(), vec![1, 2, 4]);
        assert_eq!(axis("a = \"1,2 4\"").unwrap(), vec![1, 2, 4]);
        assert_eq!(axis("a = \"  8 , 16 \"").unwrap(), vec![8, 16]);
    }

    #[test]
    fn axis_rejects_bad_elements() {
        assert!(axis("a = -1").unwrap_err().contains("out of range"));
        assert!(axis("a = \"1,x\"").unwrap_err().contains("'x'"));
        assert!(axis("a = 1.5").unwrap_err().contains("whole number"));
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let s = Scenario::default();
        let text = toml::to_string(&s).unwrap();
        let back: Scenario = toml::from_str(&text).unwrap();
        assert_eq!(s, back);
    }
}
