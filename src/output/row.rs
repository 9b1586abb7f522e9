//! One result row per point: the wire form of a point's parameters, metrics
//! and outcome, shared by the CSV and the JSONL report. The first eight CSV
//! columns are exactly the full-sweep columns of mlx-knife's benchmark
//! scripts, the predecessor mlxrun was created from.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::backend::mode::ModeNote;
use crate::metrics::distribution::Stat;
use crate::metrics::per_instance::Accounting;
use crate::metrics::point::PointMetrics;
use crate::metrics::precision::PrecisionRecord;
use crate::metrics::prometheus::ServerMetrics;
use crate::metrics::stability::Stability;
use crate::metrics::steady::WarmupRecord;
use crate::metrics::uncertainty::{FIGURES, PointIntervals};
use crate::monitor::energy::{ENERGY_COLUMNS, Energy, energy_cells};
use crate::output::quality::SystemHealth;
use crate::scenario::expand::{CONCURRENCY_AXES, Point, ServerConfig};
use crate::spec::measure::percentile_label;

/// How a point ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every request succeeded.
    Ok,
    /// Some requests failed (counted in `errors`).
    Errors,
    /// The point could not be measured: servers did not start, or no request succeeded.
    Failed,
    /// Stopped by Ctrl-C or SIGTERM; the row holds what finished.
    Interrupted,
    /// Not run: the memory gate found its configuration too big (`memory.over_limit = "skip"`).
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Errors => "errors",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
            Status::Skipped => "skipped",
        }
    }
}

/// What a row stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// The point's result: its one measurement, or its repeats combined.
    /// Reports, `best`, comparisons and resume read these rows only.
    #[default]
    Point,
    /// One repeat of a point measured `run.repeats` times.
    Repeat,
    /// One measurement of a point by `mlxrun tune` (see [`SearchTag`]); a
    /// point may be probed several times, with more requests each round,
    /// and its latest probe stands for it in reports.
    Probe,
}

impl RowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RowKind::Point => "point",
            RowKind::Repeat => "repeat",
            RowKind::Probe => "probe",
        }
    }

    /// A row that stands for its point (a point's row, or a search's probe
    /// of it), not a part of one.
    pub fn is_result(self) -> bool {
        matches!(self, RowKind::Point | RowKind::Probe)
    }
}

/// Where a probe row stands in `mlxrun tune`'s search (report.jsonl:
/// `search`; `tune.jsonl` holds the decisions around it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchTag {
    /// 1-based probe number of the search.
    pub probe: u64,
    /// Halving round (0 = the first, the knee search).
    pub round: u32,
    /// Why the search chose this load (`start`, `doubling`, `refine`, …).
    pub why: String,
    /// 0-based configuration of the search (a server configuration with
    /// the matrix's other non-load values).
    pub config: usize,
    pub label: String,
    /// `concurrency` or `request_rate`.
    pub load_axis: String,
    pub load: f64,
    /// Measured requests the search asked for.
    pub requests: u64,
}

/// A point's result.
#[derive(Debug, Clone, Serialize)]
pub struct PointRow {
    /// 1-based point number.
    pub point: usize,
    /// A point's result, or one of its repeats (report.jsonl: top level).
    #[serde(skip)]
    pub row_kind: RowKind,
    /// A probe row's place in the search (report.jsonl: top level).
    #[serde(skip)]
    pub search: Option<SearchTag>,
    /// 1-based repeat of a `repeat` row; `None` for a `point` row.
    #[serde(skip)]
    pub repeat: Option<u32>,
    /// Repeats planned (a `repeat` row) or combined (a `point` row).
    #[serde(skip)]
    pub repeats: u32,
    /// The model's label.
    pub model: String,
    /// What the server was given (folder, file, repo id or served name).
    pub model_path: String,
    pub backend: String,
    pub instances: u32,
    /// Ranks per instance in all (ranks per host × hosts); 1 without mlx.launch.
    pub ranks: u32,
    /// The hosts the point's servers ran on, in order (`local` = this
    /// machine): the rank hosts under mlx.launch, else the instances'.
    pub hosts: Vec<String>,
    /// How many hosts that is.
    pub host_count: u32,
    /// MLX's distributed backend (`ring`, `jaccl`, …) under mlx.launch;
    /// `None` without it.
    pub launcher_backend: Option<String>,
    /// nginx, client or none.
    pub router: String,
    /// round_robin, least_conn, or none without a router.
    pub balance: String,
    pub decode_concurrency: Option<u32>,
    pub prompt_concurrency: Option<u32>,
    /// Swept backend axes other than `decode_concurrency` and
    /// `prompt_concurrency`, which have their own columns (axis → value).
    pub axes: BTreeMap<String, String>,
    /// Swept server flags (`--flag` → value).
    pub server_flags: BTreeMap<String, String>,
    /// Requests in flight (closed loop) or the cap (open loop): a number,
    /// or `none` for an uncapped open-loop point.
    pub concurrency: String,
    /// Open-loop rate in requests/s (`inf` = all at once); empty = closed loop.
    pub request_rate: String,
    pub max_tokens: u32,
    /// Synthetic prompt length, when the point has one.
    pub input_tokens: Option<u32>,
    /// Measured requests the point was to send (0 when bounded by time).
    pub planned_requests: u64,
    /// Seconds of measured load, when the point is bounded by time.
    pub duration_s: Option<f64>,
    /// `text`, `vision` or `audio`.
    pub inference_modality: String,
    /// Vision: images per request (0 = text-only request to a vision model).
    pub image_count: Option<u32>,
    /// Vision with synthetic images: `WxH`.
    pub image_size: Option<String>,
    /// Audio with synthetic clips: seconds per request.
    pub audio_duration_s: Option<f64>,
    /// Sampling of its requests (report.jsonl's `sampling` object):
    /// temperature, `top_p` and the request `seed` (`None` = not sent).
    #[serde(skip)]
    pub temperature: f64,
    #[serde(skip)]
    pub top_p: Option<f64>,
    #[serde(skip)]
    pub sampling_seed: Option<u64>,
    /// How the server worked differently for the point: the notes of its
    /// backend's mode rules, and any note only measurement tells (the
    /// prompt cache), appended once the point ran.
    #[serde(skip)]
    pub server_mode: Vec<ModeNote>,
    #[serde(skip)]
    pub status: Status,
    /// Why the point failed or was interrupted (empty when ok).
    #[serde(skip)]
    pub status_detail: String,
    #[serde(skip)]
    pub started_at: String,
    #[serde(skip)]
    pub ended_at: String,
    /// Start and end of the point (Unix epoch seconds).
    #[serde(skip)]
    pub started_ts: f64,
    #[serde(skip)]
    pub ended_ts: f64,
    /// The machine during the point, and the quality flags.
    #[serde(skip)]
    pub health: SystemHealth,
    /// What the monitor saw during the point (memory, CPU, GPU, each
    /// instance's RSS and CPU); `None` when not monitored.
    #[serde(skip)]
    pub resources: Option<serde_json::Value>,
    /// Highest RSS of all server processes together during the point (MB).
    #[serde(skip)]
    pub server_rss_peak_mb: Option<f64>,
    /// What each instance served (its own object in the JSONL report).
    #[serde(skip)]
    pub per_instance: Accounting,
    #[serde(skip)]
    pub metrics: PointMetrics,
    /// `ok`, or why the client itself may have limited the point.
    #[serde(skip)]
    pub client_check: String,
    /// The servers' own Prometheus metrics over the point (after − before),
    /// by instance, or why they could not be read.
    #[serde(skip)]
    pub server_metrics: BTreeMap<String, Result<ServerMetrics, String>>,
    /// The shape warmup before the point (for a combined row: before its
    /// first repeat).
    #[serde(skip)]
    pub warmup: Option<WarmupRecord>,
    /// Flags the point's own requests and warmup raise (`not_warmed`, …),
    /// joined to the machine's quality flags when the row is written.
    #[serde(skip)]
    pub request_flags: Vec<String>,
    /// A confidence interval on every headline figure.
    #[serde(skip)]
    pub intervals: Option<PointIntervals>,
    /// The point's own steadiness (trend, outliers).
    #[serde(skip)]
    pub stability: Option<Stability>,
    /// `[run.precision]`: the target and whether it was met.
    #[serde(skip)]
    pub precision: Option<PrecisionRecord>,
    /// Milliseconds the point's statistics took (metrics, intervals,
    /// stability): what the numbers cost the run.
    #[serde(skip)]
    pub analysis_ms: Option<f64>,
    /// Energy over the point's measured window (report.jsonl: top level);
    /// `None` when the point was not measured.
    #[serde(skip)]
    pub energy: Option<Energy>,
}

impl PointRow {
    /// The row of a point; `status` is derived from the metrics unless given.
    pub fn new(cfg: &ServerConfig, point: &Point, metrics: PointMetrics) -> PointRow {
        PointRow::with_ranks(cfg, point, metrics, cfg.ranks)
    }

    /// [`PointRow::new`] with the total rank count (ranks per host × hosts).
    pub fn with_ranks(
        cfg: &ServerConfig,
        point: &Point,
        metrics: PointMetrics,
        ranks: u32,
    ) -> PointRow {
        let status = if metrics.requests > 0 && metrics.ok_requests == 0 {
            Status::Failed
        } else if metrics.errors > 0 {
            Status::Errors
        } else {
            Status::Ok
        };
        let hosts = cfg.host_names();
        PointRow {
            point: point.index + 1,
            row_kind: RowKind::Point,
            search: None,
            repeat: None,
            repeats: 1,
            model: cfg.model_name.clone(),
            model_path: cfg.model_arg.clone(),
            backend: cfg.backend.clone(),
            instances: cfg.instances,
            ranks,
            host_count: u32::try_from(hosts.len()).unwrap_or(u32::MAX),
            hosts,
            launcher_backend: (!cfg.launcher_backend.is_empty())
                .then(|| cfg.launcher_backend.clone()),
            router: cfg.router.as_str().to_string(),
            balance: cfg.balance_str().to_string(),
            decode_concurrency: cfg.decode_concurrency,
            prompt_concurrency: cfg.prompt_concurrency,
            axes: cfg
                .axes
                .iter()
                // CONCURRENCY_AXES: decode_concurrency and prompt_concurrency, the
                // axes with their own columns (as in mlx-knife's sweep CSV)
                .filter(|(a, _)| !CONCURRENCY_AXES.contains(&a.as_str()))
                .cloned()
                .collect(),
            server_flags: cfg.flags.iter().cloned().collect(),
            concurrency: point.concurrency_label(),
            request_rate: point.rate_label(),
            max_tokens: point.max_tokens,
            input_tokens: point.input_tokens,
            planned_requests: point.requests,
            duration_s: point.duration_s.map(|d| d.get()),
            status_detail: metrics.first_error.clone().unwrap_or_default(),
            status,
            started_at: String::new(),
            ended_at: String::new(),
            started_ts: 0.0,
            ended_ts: 0.0,
            inference_modality: point.modality.as_str().into(),
            image_count: point.image_count,
            image_size: point.image_size.map(|s| s.to_string()),
            audio_duration_s: point.audio_duration_s,
            temperature: point.sampling.temperature,
            top_p: point.sampling.top_p,
            sampling_seed: point.sampling.seed,
            server_mode: point.server_mode.clone(),
            health: SystemHealth::default(),
            resources: None,
            server_rss_peak_mb: None,
            per_instance: Accounting {
                source: "none".into(),
                ..Default::default()
            },
            metrics,
            server_metrics: BTreeMap::new(),
            client_check: String::new(),
            warmup: None,
            request_flags: Vec::new(),
            intervals: None,
            stability: None,
            precision: None,
            analysis_ms: None,
            energy: None,
        }
    }

    /// A point that could not run at all: every planned request counts as an error.
    pub fn failed(cfg: &ServerConfig, point: &Point, detail: &str) -> PointRow {
        let mut row = PointRow::new(cfg, point, PointMetrics::default());
        row.status = Status::Failed;
        row.status_detail = detail.to_string();
        row.metrics.errors = point.requests;
        row
    }

    /// A point the memory gate kept from running.
    pub fn skipped(cfg: &ServerConfig, point: &Point, detail: &str) -> PointRow {
        let mut row = PointRow::new(cfg, point, PointMetrics::default());
        row.status = Status::Skipped;
        row.status_detail = detail.to_string();
        row
    }
}

/// Column name of a swept server flag: `--prefill-step-size` → `prefill_step_size`.
pub fn flag_column(flag: &str) -> String {
    flag.trim_start_matches('-').replace('-', "_")
}

/// The run-dependent CSV columns: swept backend axes, raw flags, and the
/// percentiles every latency reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns {
    pub axes: Vec<String>,
    pub flags: Vec<String>,
    pub percentiles: Vec<f64>,
}

/// The latencies with CSV columns, in order: `<name>_mean_ms`,
/// `<name>_std_ms`, then `<name>_<pXX>_ms` per percentile.
pub const LATENCIES: &[&str] = &["ttft", "tpot", "itl", "itl_token", "e2e", "queue"];

fn latency_stat<'a>(m: &'a PointMetrics, name: &str) -> &'a Stat {
    match name {
        "ttft" => &m.ttft_ms,
        "tpot" => &m.tpot_ms,
        "itl" => &m.itl_ms,
        "itl_token" => &m.itl_token_ms,
        "e2e" => &m.e2e_ms,
        _ => &m.queue_ms,
    }
}

fn latency_header(percentiles: &[f64]) -> Vec<String> {
    LATENCIES
        .iter()
        .flat_map(|n| {
            [format!("{n}_mean_ms"), format!("{n}_std_ms")]
                .into_iter()
                .chain(
                    percentiles
                        .iter()
                        .map(move |q| format!("{n}_{}_ms", percentile_label(*q))),
                )
        })
        .collect()
}

fn latency_cells(m: &PointMetrics, percentiles: &[f64]) -> Vec<String> {
    LATENCIES
        .iter()
        .flat_map(|n| {
            let st = latency_stat(m, n);
            [ms(st.mean), ms(st.std)].into_iter().chain(
                percentiles
                    .iter()
                    .map(move |q| ms(st.at(&m.percentiles, *q))),
            )
        })
        .collect()
}

/// The CSV header for a run with these swept `columns`.
pub fn csv_header(columns: &Columns) -> Vec<String> {
    let mut h: Vec<String> = [
        "instances",
        "decode_concurrency",
        "prompt_concurrency",
        "concurrency",
        "throughput_tps",
        "total_tokens",
        "elapsed_s",
        "errors",
        "model",
        "max_tokens",
        "requests",
        "ok_requests",
        "requests_per_s",
        "prompt_tokens",
        "request_rate",
        "input_tokens",
        "duration_s",
        "requested_tokens",
        "short_responses",
        "cached_tokens",
        "total_tps",
        "slo_attainment",
        "goodput_rps",
        "excluded_requests",
        "client_lag_p99_ms",
        "client_cpu_ms_per_req",
        "client_check",
        "quality_flags",
        "swap_growth_mb",
        "ram_available_min_gb",
        "server_rss_peak_mb",
        "inference_modality",
        "image_count",
        "image_size",
        "audio_duration_s",
        "audio_seconds",
        "rtf_mean",
        "rtf_p50",
        "audio_s_per_s",
        "temperature",
        "top_p",
        "sampling_seed",
        "server_mode",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(latency_header(&columns.percentiles));
    h.extend(
        [
            "retries",
            "error_kinds",
            "status",
            "point",
            "backend",
            "ranks",
            "hosts",
            "host_count",
            "launcher_backend",
            "router",
            "balance",
            "model_path",
        ]
        .map(String::from),
    );
    h.extend(columns.axes.iter().cloned());
    h.extend(columns.flags.iter().map(|f| flag_column(f)));
    h.extend(
        [
            "instance_requests",
            "instance_tokens",
            "imbalance",
            "started_at",
            "ended_at",
            "status_detail",
            "row_kind",
            "repeat",
            "repeats",
            "search_probe",
            "search_round",
            "search_why",
            "warmup_requests",
            "warmup_steady",
            "precision_met",
            "analysis_ms",
        ]
        .map(String::from),
    );
    h.extend(
        FIGURES
            .iter()
            .flat_map(|f| [format!("{f}_lo"), format!("{f}_hi")]),
    );
    h.push("ci_notes".into());
    h.extend(ENERGY_COLUMNS.map(String::from));
    h
}

fn opt_u32(v: Option<u32>) -> String {
    v.map_or_else(|| "default".to_string(), |x| x.to_string())
}

fn opt_f(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(String::new, |x| format!("{x:.decimals$}"))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(String::new, |x| format!("{x:.2}"))
}

impl PointRow {
    /// The CSV cells, in [`csv_header`] order.
    pub fn csv_record(&self, columns: &Columns) -> Vec<String> {
        let m = &self.metrics;
        let kinds = m
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect::<Vec<_>>()
            .join(";");
        let mut r = vec![
            self.instances.to_string(),
            opt_u32(self.decode_concurrency),
            opt_u32(self.prompt_concurrency),
            self.concurrency.clone(),
            format!("{:.1}", m.throughput_tps),
            m.completion_tokens.to_string(),
            format!("{:.2}", m.elapsed_s),
            m.errors.to_string(),
            self.model.clone(),
            self.max_tokens.to_string(),
            m.requests.to_string(),
            m.ok_requests.to_string(),
            format!("{:.3}", m.requests_per_s),
            m.prompt_tokens.to_string(),
            self.request_rate.clone(),
            self.input_tokens
                .map_or_else(String::new, |n| n.to_string()),
            self.duration_s.map_or_else(String::new, |d| d.to_string()),
            m.requested_tokens.to_string(),
            m.short_responses.to_string(),
            m.cached_tokens.map_or_else(String::new, |n| n.to_string()),
            format!("{:.1}", m.total_tps),
            m.slo
                .as_ref()
                .map_or_else(String::new, |s| format!("{:.4}", s.attainment)),
            m.slo
                .as_ref()
                .map_or_else(String::new, |s| format!("{:.3}", s.goodput_rps)),
            m.excluded_requests.to_string(),
            ms(m.client_lag_ms
                .at(&m.percentiles, 99.0)
                .or(m.client_lag_ms.max)),
            m.client_cpu_ms_per_req
                .map_or_else(String::new, |x| format!("{x:.3}")),
            self.client_check.clone(),
            self.health.quality_flags.join("+"),
            opt_f(self.health.swap_growth_mb, 1),
            opt_f(self.health.ram_available_min_gb, 2),
            opt_f(self.server_rss_peak_mb, 1),
            self.inference_modality.clone(),
            self.image_count.map_or_else(String::new, |n| n.to_string()),
            self.image_size.clone().unwrap_or_default(),
            self.audio_duration_s
                .map_or_else(String::new, |d| d.to_string()),
            if m.rtf_mean.is_some() || self.inference_modality == "audio" {
                format!("{:.2}", m.audio_seconds)
            } else {
                String::new()
            },
            opt_f(m.rtf_mean, 3),
            opt_f(m.rtf_p50, 3),
            opt_f(m.audio_s_per_s, 3),
            self.temperature.to_string(),
            self.top_p.map_or_else(String::new, |p| p.to_string()),
            self.sampling_seed
                .map_or_else(String::new, |n| n.to_string()),
            self.server_mode_codes(),
        ];
        r.extend(latency_cells(m, &columns.percentiles));
        r.extend([
            m.retries.to_string(),
            kinds,
            self.status.as_str().to_string(),
            self.point.to_string(),
            self.backend.clone(),
            self.ranks.to_string(),
            self.hosts.join("+"),
            self.host_count.to_string(),
            self.launcher_backend.clone().unwrap_or_default(),
            self.router.clone(),
            self.balance.clone(),
            self.model_path.clone(),
        ]);
        r.extend(
            columns
                .axes
                .iter()
                .map(|a| self.axes.get(a).cloned().unwrap_or_default()),
        );
        r.extend(
            columns
                .flags
                .iter()
                .map(|f| self.server_flags.get(f).cloned().unwrap_or_default()),
        );
        let pi = &self.per_instance;
        let join = |f: &dyn Fn(&crate::metrics::per_instance::InstanceStats) -> u64| {
            pi.instances
                .iter()
                .map(|s| f(s).to_string())
                .collect::<Vec<_>>()
                .join(";")
        };
        r.extend([
            join(&|s| s.requests),
            join(&|s| s.completion_tokens),
            pi.imbalance.map_or_else(String::new, |x| format!("{x:.2}")),
            self.started_at.clone(),
            self.ended_at.clone(),
            self.status_detail.clone(),
            self.row_kind.as_str().to_string(),
            self.repeat.map_or_else(String::new, |n| n.to_string()),
            self.repeats.to_string(),
            self.search
                .as_ref()
                .map_or_else(String::new, |t| t.probe.to_string()),
            self.search
                .as_ref()
                .map_or_else(String::new, |t| t.round.to_string()),
            self.search
                .as_ref()
                .map_or_else(String::new, |t| t.why.clone()),
            self.warmup
                .as_ref()
                .map_or_else(String::new, |w| w.requests.to_string()),
            self.warmup
                .as_ref()
                .filter(|w| w.rounds > 0)
                .map_or_else(String::new, |w| w.steady.to_string()),
            self.precision
                .as_ref()
                .map_or_else(String::new, |p| p.met.to_string()),
            opt_f(self.analysis_ms, 1),
        ]);
        let figure = |f: &str| self.intervals.as_ref().and_then(|i| i.figures.get(f));
        // bounds with the figure's own precision, a little finer
        r.extend(FIGURES.iter().flat_map(|f| {
            let fig = figure(f);
            [fig.and_then(|x| x.lo), fig.and_then(|x| x.hi)]
                .map(|b| b.map_or_else(String::new, |v| format!("{v:.3}")))
        }));
        r.push(match &self.intervals {
            None => String::new(),
            Some(i) => i
                .figures
                .iter()
                .filter_map(|(k, f)| f.why.as_ref().map(|w| format!("{k}: {w}")))
                .collect::<Vec<_>>()
                .join("; "),
        });
        r.extend(energy_cells(self.energy.as_ref()));
        r
    }

    /// The codes of `server_mode`, joined by `+` (the CSV cell).
    pub fn server_mode_codes(&self) -> String {
        self.server_mode
            .iter()
            .map(|n| n.code.as_str())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// The point's parameters as `key=value` words (console and progress).
    pub fn params(&self) -> String {
        let mut s = format!("model={} backend={} ", self.model, self.backend);
        s.push_str(&format!("instances={} ", self.instances));
        if self.ranks > 1 {
            s.push_str(&format!("ranks={} ", self.ranks));
        }
        if self.hosts.iter().any(|h| h != crate::remote::host::LOCAL) {
            s.push_str(&format!("hosts={} ", self.hosts.join("+")));
        }
        if self.router != "none" {
            s.push_str(&format!("router={} balance={} ", self.router, self.balance));
        }
        s.push_str(&format!(
            "decode_concurrency={} prompt_concurrency={} concurrency={}",
            opt_u32(self.decode_concurrency),
            opt_u32(self.prompt_concurrency),
            self.concurrency,
        ));
        // a transcription generates no tokens on request: no max_tokens
        if self.inference_modality != "audio" {
            s.push_str(&format!(" max_tokens={}", self.max_tokens));
        }
        if !self.request_rate.is_empty() {
            s.push_str(&format!(" request_rate={}", self.request_rate));
        }
        s.push_str(&format!(" temperature={}", self.temperature));
        if let Some(n) = self.input_tokens {
            s.push_str(&format!(" input_tokens={n}"));
        }
        if self.inference_modality != "text" {
            s.push_str(&format!(" modality={}", self.inference_modality));
        }
        if let Some(n) = self.image_count {
            s.push_str(&format!(" image_count={n}"));
        }
        if let Some(sz) = &self.image_size {
            s.push_str(&format!(" image_size={sz}"));
        }
        if let Some(d) = self.audio_duration_s {
            s.push_str(&format!(" audio_duration_s={d}"));
        }
        for (a, v) in &self.axes {
            s.push_str(&format!(" {a}={v}"));
        }
        for (f, v) in &self.server_flags {
            s.push_str(&format!(" {}={v}", flag_column(f)));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::expand::{Point, ServerConfig};
    use crate::spec::scenario::RouterKind;

    #[test]
    fn every_record_has_a_cell_per_header_column() {
        let cfg = ServerConfig {
            index: 0,
            model: 0,
            model_name: "m".into(),
            model_arg: "/m".into(),
            backend: "mlx_lm".into(),
            instances: 1,
            ranks: 1,
            ranks_total: 1,
            hosts: Vec::new(),
            placement: Vec::new(),
            launcher_backend: String::new(),
            axes: vec![("parallel".into(), "2".into())],
            decode_concurrency: None,
            prompt_concurrency: None,
            flags: vec![("--prefill-step-size".into(), "512".into())],
            router: RouterKind::None,
            balance: None,
        };
        let point = Point {
            index: 0,
            server: 0,
            concurrency: 2,
            request_rate: None,
            max_tokens: 8,
            input_tokens: Some(16),
            requests: 4,
            duration_s: None,
            modality: crate::spec::media::Modality::Text,
            image_count: None,
            image_size: None,
            audio_duration_s: None,
            sampling: crate::spec::scenario::Sampling {
                temperature: 0.3,
                top_p: None,
                seed: Some(7),
            },
            server_mode: vec![
                ModeNote {
                    code: "per_request_sampling".into(),
                    detail: "temperature 0.3 > 0".into(),
                },
                ModeNote {
                    code: "unbatched_seed".into(),
                    detail: "seed 7".into(),
                },
            ],
        };
        for qs in [vec![50.0], vec![50.0, 90.0, 95.0, 99.0, 99.9]] {
            let columns = Columns {
                axes: vec!["parallel".into()],
                flags: vec!["--prefill-step-size".into()],
                percentiles: qs.clone(),
            };
            let metrics = PointMetrics {
                percentiles: qs,
                ..Default::default()
            };
            let row = PointRow::new(&cfg, &point, metrics);
            let header = csv_header(&columns);
            let record = row.csv_record(&columns);
            assert_eq!(header.len(), record.len());
            let at = |col: &str| &record[header.iter().position(|h| h == col).unwrap()];
            assert_eq!(at("input_tokens"), "16");
            assert_eq!(at("parallel"), "2");
            assert_eq!(at("prefill_step_size"), "512");
            assert_eq!(at("status"), "ok");
            assert_eq!(at("temperature"), "0.3");
            assert_eq!(at("top_p"), "");
            assert_eq!(at("sampling_seed"), "7");
            assert_eq!(at("server_mode"), "per_request_sampling+unbatched_seed");
            let after = header.iter().position(|h| h == "audio_s_per_s").unwrap();
            assert_eq!(
                &header[after + 1..after + 5],
                ["temperature", "top_p", "sampling_seed", "server_mode"]
            );
            assert!(
                row.params().contains(" temperature=0.3"),
                "{}",
                row.params()
            );
        }
    }
}
