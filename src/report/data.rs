//! A finished (or interrupted) run, read back from its folder for reports:
//! the points of `report.jsonl` as typed records (fields a report needs,
//! each optional so older or partial lines still load) with the interval
//! of each headline figure, the monitor's samples and events from
//! `monitor.jsonl` (and each other host's monitor from
//! `hosts/<host>/monitor.jsonl`), and the key that groups points by server
//! configuration. A resumed run appends a re-measured point's record after
//! its interrupted one: the last record per point counts. A point measured
//! several times (`run.repeats`) has one `repeat` row per measurement and
//! one `point` row combining them: everything that ranks or tables points
//! reads the `point` rows. A run of `mlxrun tune` writes `probe` rows
//! instead: the latest probe of a point stands for it, and every probe is
//! kept in order for the search's path (with `tune.jsonl`, read by
//! [`super::search`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// One latency's summary (ms); `None` = no sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

impl Latency {
    fn from(v: &Value) -> Latency {
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        Latency {
            mean: f("mean"),
            p50: f("p50"),
            p90: f("p90"),
            p99: f("p99"),
        }
    }
}

/// What a line of report.jsonl stands for (`row_kind`; a record older
/// than schema 0.6.0 has none and is a point).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RowKind {
    /// The point's figures (with repeats: all of them combined).
    #[default]
    Point,
    /// One measurement of a point measured several times.
    Repeat,
    /// One measurement of a point made by `mlxrun tune` (a point may be
    /// probed several times, with more requests each time).
    Probe,
}

/// What a probe row says about its place in the search (the record's
/// `search` object); every field is optional in the file, so a missing
/// one reads as empty or `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchTag {
    /// 1-based probe id.
    pub probe: u64,
    /// The halving round (0: finding each configuration's knee).
    pub round: u32,
    /// Why this load was probed: `start`, `doubling`, `bisect_above`,
    /// `bisect_knee`, `bisect_limit`, `refine`.
    pub why: String,
    /// 0-based tune configuration.
    pub config: usize,
    /// The configuration as the search names it.
    pub label: String,
    /// `concurrency` or `request_rate`.
    pub load_axis: String,
    pub load: Option<f64>,
    pub requests: u64,
}

impl SearchTag {
    /// Read a record's `search` object; `None` when it is null or absent.
    fn from(v: &Value) -> Option<SearchTag> {
        let obj = v.as_object()?;
        let u = |k: &str| obj.get(k).and_then(Value::as_u64);
        let s = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Some(SearchTag {
            probe: u("probe").unwrap_or(0),
            round: u("round").map_or(0, |r| r.min(u64::from(u32::MAX)) as u32),
            why: s("why"),
            config: u("config").map_or(0, |c| c as usize),
            label: s("label"),
            load_axis: s("load_axis"),
            load: obj.get("load").and_then(Value::as_f64),
            requests: u("requests").unwrap_or(0),
        })
    }
}

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Rates: throughput, requests/s, goodput.
    Higher,
    /// Latencies (`…_ms`).
    Lower,
}

/// Why a figure has no interval when its record carries none.
pub const NO_INTERVALS_WHY: &str = "record has no intervals (report.jsonl before 0.6.0)";

/// The interval level assumed when a record's `intervals.level` is missing.
pub const DEFAULT_LEVEL: f64 = 0.95;

/// The headline figures that carry an interval, as report.jsonl names
/// them under `intervals.figures` (the writer's own list).
pub use crate::metrics::uncertainty::FIGURES as FIGURE_KEYS;

/// One headline figure of a point with its confidence interval: `lo` and
/// `hi` are both there or the interval is unknown, and then `why` says why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figure {
    /// Its name under `intervals.figures` (`throughput_tps`, `ttft_p50_ms`).
    pub key: String,
    pub value: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Samples behind it.
    pub n: Option<u64>,
    pub why: Option<String>,
    /// The interval's confidence level (0.95).
    pub level: f64,
}

impl Figure {
    /// Which way the figure is better: latencies (`…_ms`) lower, rates higher.
    pub fn better(&self) -> Better {
        better_of(&self.key)
    }

    /// `(lo, hi)` when the interval is known, finite and ordered.
    pub fn interval(&self) -> Option<(f64, f64)> {
        match (self.lo, self.hi) {
            (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() && lo <= hi => Some((lo, hi)),
            _ => None,
        }
    }

    /// Half the interval's width, when it is known.
    pub fn half_width(&self) -> Option<f64> {
        self.interval().map(|(lo, hi)| (hi - lo) / 2.0)
    }

    /// Why there is no interval: the record's `why`, else a generic reason.
    pub fn missing_why(&self) -> String {
        match &self.why {
            Some(w) if !w.is_empty() => w.clone(),
            _ if self.value.is_none() => "no value".to_string(),
            _ => "no interval recorded".to_string(),
        }
    }
}

/// Which way the figure named `key` is better.
pub fn better_of(key: &str) -> Better {
    if key.ends_with("_ms") {
        Better::Lower
    } else {
        Better::Higher
    }
}

/// A point's `intervals` object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Intervals {
    /// Confidence level (0.95).
    pub level: f64,
    /// How the intervals were computed, in words.
    pub method: String,
    pub resamples: Option<u64>,
    /// Repeats of the point the intervals cover.
    pub repeats: Option<u64>,
    pub figures: BTreeMap<String, Figure>,
}

impl Intervals {
    /// Read `intervals` from a record; `None` when it is absent or not an object.
    fn from(v: &Value) -> Option<Intervals> {
        let obj = v.as_object()?;
        let level = obj
            .get("level")
            .and_then(Value::as_f64)
            .filter(|l| *l > 0.0 && *l < 1.0)
            .unwrap_or(DEFAULT_LEVEL);
        let figures = obj
            .get("figures")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, f)| {
                        let num = |name: &str| f.get(name).and_then(Value::as_f64);
                        let fig = Figure {
                            key: k.clone(),
                            value: num("value"),
                            lo: num("lo"),
                            hi: num("hi"),
                            n: f.get("n").and_then(Value::as_u64),
                            why: f.get("why").and_then(Value::as_str).map(String::from),
                            level,
                        };
                        (k.clone(), fig)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Intervals {
            level,
            method: obj
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            resamples: obj.get("resamples").and_then(Value::as_u64),
            repeats: obj.get("repeats").and_then(Value::as_u64),
            figures,
        })
    }
}

/// One point of a run (a line of report.jsonl).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointRecord {
    /// 1-based point number.
    pub point: usize,
    /// A point's (combined) row, or one of its repeats.
    pub row_kind: RowKind,
    /// 1..N on a repeat row; `None` on a point row.
    pub repeat: Option<u32>,
    /// A probe row's place in the search; `None` on point and repeat rows.
    pub search: Option<SearchTag>,
    /// How many times the point was measured (`None` before 0.6.0).
    pub repeats: Option<u32>,
    /// The point's parameters as `mlxrun run` prints them
    /// (`model=… backend=… concurrency=8 …`), from the record's `test`.
    pub params: String,
    /// Each headline figure's interval (`None` before 0.6.0).
    pub intervals: Option<Intervals>,
    /// `ok`, `errors`, `failed`, `interrupted`, `skipped`.
    pub outcome: String,
    pub outcome_detail: String,
    pub start_ts: f64,
    pub end_ts: f64,
    pub model: String,
    pub backend: String,
    pub modality: String,
    pub instances: u32,
    pub ranks: u32,
    pub router: String,
    pub balance: String,
    pub decode_concurrency: Option<u32>,
    pub prompt_concurrency: Option<u32>,
    /// Swept backend axes and raw flags, `name=value`, in name order.
    pub extra_axes: Vec<(String, String)>,
    /// Requests in flight (closed loop) or the cap (`none`).
    pub concurrency: String,
    /// Open-loop rate (`inf`), empty for closed loop.
    pub request_rate: String,
    pub max_tokens: u32,
    pub input_tokens: Option<u32>,
    /// Vision: images per request; `None` for other modalities.
    pub image_count: Option<u32>,
    /// Vision with synthetic images: `WxH`.
    pub image_size: Option<String>,
    /// Audio with synthetic clips: seconds per request.
    pub audio_duration_s: Option<f64>,
    /// Audio: seconds transcribed (successful requests).
    pub audio_seconds: Option<f64>,
    /// Audio: real-time factor (audio s / processing s; higher is faster).
    pub rtf_mean: Option<f64>,
    pub rtf_p50: Option<f64>,
    /// Audio seconds transcribed per second of the point.
    pub audio_s_per_s: Option<f64>,
    pub requests: u64,
    pub ok_requests: u64,
    pub errors: u64,
    pub throughput_tps: f64,
    pub requests_per_s: f64,
    pub ttft_ms: Latency,
    pub tpot_ms: Latency,
    pub itl_ms: Latency,
    pub e2e_ms: Latency,
    pub slo_attainment: Option<f64>,
    pub goodput_rps: Option<f64>,
    pub quality_flags: Vec<String>,
    pub swap_growth_mb: Option<f64>,
    pub ram_available_min_gb: Option<f64>,
    pub memory_pressure_peak: Option<u8>,
    pub server_rss_peak_mb: Option<f64>,
    pub cpu_user_avg: Option<f64>,
    pub cpu_sys_avg: Option<f64>,
    pub gpu_util_avg: Option<f64>,
    pub gpu_util_max: Option<f64>,
    /// Requests served per instance, in instance order.
    pub instance_requests: Vec<u64>,
    pub client_check: String,
    /// The whole line, for anything else.
    pub raw: Value,
}

impl PointRecord {
    /// Read one report.jsonl record (any version: missing fields stay empty).
    pub fn from_value(v: Value) -> PointRecord {
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let f = |p: &str| v.pointer(p).and_then(Value::as_f64);
        let u = |p: &str| v.pointer(p).and_then(Value::as_u64);
        let mut extra_axes: Vec<(String, String)> = Vec::new();
        for key in ["/point/axes", "/point/server_flags"] {
            if let Some(map) = v.pointer(key).and_then(Value::as_object) {
                for (k, val) in map {
                    let val = val.as_str().map_or_else(|| val.to_string(), String::from);
                    extra_axes.push((k.trim_start_matches('-').replace('-', "_"), val));
                }
            }
        }
        extra_axes.sort();
        PointRecord {
            point: u("/point/point").unwrap_or(0) as usize,
            row_kind: match v.get("row_kind").and_then(Value::as_str) {
                Some("repeat") => RowKind::Repeat,
                Some("probe") => RowKind::Probe,
                _ => RowKind::Point,
            },
            repeat: u("/repeat").map(|x| x as u32),
            search: v.get("search").and_then(SearchTag::from),
            repeats: u("/repeats").map(|x| x as u32),
            params: params_of(v.get("test").and_then(Value::as_str).unwrap_or_default()),
            intervals: v.get("intervals").and_then(Intervals::from),
            outcome: s("/outcome"),
            outcome_detail: s("/outcome_detail"),
            start_ts: f("/test_start_ts").unwrap_or(0.0),
            end_ts: f("/test_end_ts").unwrap_or(0.0),
            model: s("/point/model"),
            backend: v
                .pointer("/backend/name")
                .or_else(|| v.pointer("/point/backend"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            modality: v
                .pointer("/metadata/inference_modality")
                .and_then(Value::as_str)
                .unwrap_or("text")
                .to_string(),
            instances: u("/point/instances").unwrap_or(1) as u32,
            ranks: u("/point/ranks").unwrap_or(1) as u32,
            router: s("/point/router"),
            balance: s("/point/balance"),
            decode_concurrency: u("/point/decode_concurrency").map(|x| x as u32),
            prompt_concurrency: u("/point/prompt_concurrency").map(|x| x as u32),
            extra_axes,
            concurrency: s("/point/concurrency"),
            request_rate: s("/point/request_rate"),
            max_tokens: u("/point/max_tokens").unwrap_or(0) as u32,
            input_tokens: u("/point/input_tokens").map(|x| x as u32),
            image_count: u("/point/image_count").map(|x| x as u32),
            image_size: v
                .pointer("/point/image_size")
                .and_then(Value::as_str)
                .map(String::from),
            audio_duration_s: f("/point/audio_duration_s"),
            audio_seconds: f("/metrics/audio_seconds"),
            rtf_mean: f("/metrics/rtf_mean"),
            rtf_p50: f("/metrics/rtf_p50"),
            audio_s_per_s: f("/metrics/audio_s_per_s"),
            requests: u("/metrics/requests").unwrap_or(0),
            ok_requests: u("/metrics/ok_requests").unwrap_or(0),
            errors: u("/metrics/errors").unwrap_or(0),
            throughput_tps: f("/metrics/throughput_tps").unwrap_or(0.0),
            requests_per_s: f("/metrics/requests_per_s").unwrap_or(0.0),
            ttft_ms: Latency::from(&v["metrics"]["ttft_ms"]),
            tpot_ms: Latency::from(&v["metrics"]["tpot_ms"]),
            itl_ms: Latency::from(&v["metrics"]["itl_ms"]),
            e2e_ms: Latency::from(&v["metrics"]["e2e_ms"]),
            slo_attainment: f("/metrics/slo/attainment"),
            goodput_rps: f("/metrics/slo/goodput_rps"),
            quality_flags: v
                .pointer("/system_health/quality_flags")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            swap_growth_mb: f("/system_health/swap_growth_mb"),
            ram_available_min_gb: f("/system_health/ram_available_min_gb"),
            memory_pressure_peak: u("/system_health/memory_pressure_peak").map(|x| x as u8),
            server_rss_peak_mb: f("/resources/server_rss_peak_mb"),
            cpu_user_avg: f("/resources/cpu_user_avg"),
            cpu_sys_avg: f("/resources/cpu_sys_avg"),
            gpu_util_avg: f("/resources/gpu_util_avg"),
            gpu_util_max: f("/resources/gpu_util_max"),
            instance_requests: v
                .pointer("/per_instance/instances")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|i| i["requests"].as_u64().unwrap_or(0))
                        .collect()
                })
                .unwrap_or_default(),
            client_check: s("/client_check"),
            raw: v,
        }
    }

    /// The headline figure `key` (one of [`FIGURE_KEYS`]) with its
    /// interval from `intervals.figures`; a record without intervals gives
    /// its plain value and says why there is no interval.
    pub fn figure(&self, key: &str) -> Figure {
        if let Some(f) = self.intervals.as_ref().and_then(|i| i.figures.get(key)) {
            return f.clone();
        }
        let (level, why) = match &self.intervals {
            Some(i) => (i.level, format!("no interval for {key} in the record")),
            None => (DEFAULT_LEVEL, NO_INTERVALS_WHY.to_string()),
        };
        Figure {
            key: key.to_string(),
            value: self.plain_value(key),
            lo: None,
            hi: None,
            n: None,
            why: Some(why),
            level,
        }
    }

    /// The value of figure `key` from `metrics` (no interval).
    fn plain_value(&self, key: &str) -> Option<f64> {
        let measured = self.measured();
        let latency = |l: &Latency, stat: &str| match stat {
            "mean" => l.mean,
            "p50" => l.p50,
            "p99" => l.p99,
            _ => None,
        };
        match key {
            "throughput_tps" => measured.then_some(self.throughput_tps),
            "requests_per_s" => measured.then_some(self.requests_per_s),
            "goodput_rps" => self.goodput_rps,
            _ => {
                let rest = key.strip_suffix("_ms")?;
                let (metric, stat) = rest.split_once('_')?;
                let l = match metric {
                    "ttft" => &self.ttft_ms,
                    "tpot" => &self.tpot_ms,
                    "itl" => &self.itl_ms,
                    "e2e" => &self.e2e_ms,
                    _ => return None,
                };
                latency(l, stat)
            }
        }
    }

    /// Whether the point was measured (its numbers mean something).
    pub fn measured(&self) -> bool {
        matches!(self.outcome.as_str(), "ok" | "errors") && self.ok_requests > 0
    }

    /// The server configuration the point ran on, as a label:
    /// `tiny-llama mlx_lm ×2 nginx decode=8 prompt=2` (parts that vary by
    /// point, like concurrency, are left out).
    pub fn config_label(&self) -> String {
        let mut s = format!("{} {} ×{}", self.model, self.backend, self.instances);
        if self.ranks > 1 {
            s.push_str(&format!(" ranks={}", self.ranks));
        }
        if self.instances > 1 && !self.router.is_empty() && self.router != "none" {
            s.push_str(&format!(" {}", self.router));
            if self.balance != "round_robin" && !self.balance.is_empty() {
                s.push_str(&format!("/{}", self.balance));
            }
        }
        if let Some(d) = self.decode_concurrency {
            s.push_str(&format!(" decode={d}"));
        }
        if let Some(p) = self.prompt_concurrency {
            s.push_str(&format!(" prompt={p}"));
        }
        for (k, v) in &self.extra_axes {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }

    /// The load of the point: `c=8`, `rate=4 c=16`, `rate=inf`; with
    /// max/input tokens when they are swept (`mt=64`, `in=128`), images
    /// (`img=2@512x512`, `img=0`) and audio (`audio=60s`, `audio=files`,
    /// and no `mt`).
    pub fn load_label(&self) -> String {
        let mut s = if self.request_rate.is_empty() {
            format!("c={}", self.concurrency)
        } else if self.concurrency == "none" || self.concurrency.is_empty() {
            format!("rate={}", self.request_rate)
        } else {
            format!("rate={} c={}", self.request_rate, self.concurrency)
        };
        if self.modality == "audio" {
            match self.audio_duration_s {
                Some(d) => s.push_str(&format!(" audio={d}s")),
                None => s.push_str(" audio=files"),
            }
            return s;
        }
        s.push_str(&format!(" mt={}", self.max_tokens));
        if let Some(n) = self.input_tokens {
            s.push_str(&format!(" in={n}"));
        }
        match (self.image_count, &self.image_size) {
            (Some(n), Some(sz)) if n > 0 => s.push_str(&format!(" img={n}@{sz}")),
            (Some(n), _) => s.push_str(&format!(" img={n}")),
            _ => {}
        }
        s
    }

    /// What identifies "the same point" across two runs: configuration and load.
    pub fn match_key(&self) -> String {
        format!("{} | {}", self.config_label(), self.load_label())
    }
}

/// The parameters in a record's `test` (`scenario::p3[model=… …]`), empty
/// when it has none.
fn params_of(test: &str) -> String {
    let Some(at) = test.find("::p") else {
        return String::new();
    };
    let rest = &test[at..];
    match (rest.find('['), rest.rfind(']')) {
        (Some(open), Some(close)) if open < close => rest[open + 1..close].to_string(),
        _ => String::new(),
    }
}

/// `records` (in file order) with only the last one of each point number,
/// sorted by point; `superseded` counts the others, except earlier probes
/// of a point (a search probes a point again with more requests: that is
/// not a resume measuring it again).
pub fn last_per_point(records: Vec<PointRecord>, superseded: &mut usize) -> Vec<PointRecord> {
    let mut by_point: std::collections::BTreeMap<usize, PointRecord> = Default::default();
    for r in records {
        if let Some(earlier) = by_point.insert(r.point, r)
            && earlier.row_kind != RowKind::Probe
        {
            *superseded += 1;
        }
    }
    by_point.into_values().collect()
}

/// One monitor sample (the fields reports plot).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MonitorSample {
    pub ts: f64,
    pub elapsed_s: f64,
    pub ram_total_gb: Option<f64>,
    pub ram_available_gb: Option<f64>,
    pub swap_used_mb: Option<f64>,
    pub memory_pressure: Option<u8>,
    pub load_1: Option<f64>,
    pub cpu_user: Option<f64>,
    pub cpu_sys: Option<f64>,
    pub cpu_idle: Option<f64>,
    pub gpu_device_util: Option<f64>,
    /// Mean utilisation over NVIDIA GPUs, when there are any.
    #[serde(skip)]
    pub gpu_util: Option<f64>,
    /// RSS of every tracked process tree together (MB).
    #[serde(skip)]
    pub server_rss_mb: Option<f64>,
}

/// A run read back from its folder.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    pub dir: PathBuf,
    /// The folder's name (`<scenario>_<timestamp>`).
    pub run_id: String,
    pub scenario: String,
    /// One record per point: the last `point` row report.jsonl holds for
    /// it (for a search: its latest `probe` row).
    pub points: Vec<PointRecord>,
    /// The `repeat` rows of points measured several times, by point and
    /// repeat (the last one of each pair when a resume measured it again).
    pub repeats: Vec<PointRecord>,
    /// Every probe row of a `mlxrun tune` run (each probe of a point, not
    /// only the latest), in order of their start.
    pub probes: Vec<PointRecord>,
    /// The search's log (`tune.jsonl`), when the run is a search.
    pub search: Option<super::search::SearchLog>,
    /// Earlier records of points measured again by a resume (kept in the
    /// file, left out of `points`).
    pub superseded: usize,
    /// The monitor's header (hardware, sources), if any.
    pub monitor_header: Option<Value>,
    pub samples: Vec<MonitorSample>,
    /// `(ts, name, fields)` of every monitor event.
    pub events: Vec<(f64, String, Value)>,
    pub monitor_summary: Option<Value>,
    /// The monitors of the other hosts the run used (`hosts/*/`), by
    /// folder name; empty for a run on this machine alone.
    pub hosts: Vec<HostMonitor>,
    /// Lines of the run's files that could not be read, as `file:line: why`.
    pub skipped_lines: Vec<String>,
}

/// The monitor of one other host, read back from
/// `hosts/<name>/monitor.jsonl` (the same records as the run's own
/// `monitor.jsonl`; its events are left out).
#[derive(Debug, Clone, Default)]
pub struct HostMonitor {
    /// The host's folder name (its name with characters other than
    /// `[A-Za-z0-9-_.]` written as `_`).
    pub name: String,
    /// The first header (hardware, sources), if any.
    pub header: Option<Value>,
    pub samples: Vec<MonitorSample>,
    pub summary: Option<Value>,
}

/// One monitor.jsonl file's records: the first header, the samples, the
/// events and the last summary, with the lines that could not be read
/// (`label:line: why`).
#[derive(Debug, Clone, Default)]
pub struct MonitorFile {
    pub header: Option<Value>,
    pub samples: Vec<MonitorSample>,
    /// `(ts, name, fields)` of every event.
    pub events: Vec<(f64, String, Value)>,
    pub summary: Option<Value>,
    pub skipped_lines: Vec<String>,
}

impl MonitorFile {
    /// Parse `text` (a monitor.jsonl); `label` names the file in the
    /// skipped lines (`hosts/a/monitor.jsonl:3: expected value`). A line
    /// that is no JSON, or a record of an unknown kind, is left out.
    pub fn parse(text: &str, label: &str) -> MonitorFile {
        let mut m = MonitorFile::default();
        for (i, line) in text.lines().enumerate() {
            let v: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    if !line.trim().is_empty() {
                        m.skipped_lines.push(format!("{label}:{}: {e}", i + 1));
                    }
                    continue;
                }
            };
            match v["kind"].as_str() {
                Some("header") if m.header.is_none() => m.header = Some(v),
                Some("summary") => m.summary = Some(v),
                Some("event") => m.events.push((
                    v["ts"].as_f64().unwrap_or(0.0),
                    v["name"].as_str().unwrap_or_default().to_string(),
                    v["fields"].clone(),
                )),
                Some("sample") => m.samples.push(sample_of(&v)),
                _ => {}
            }
        }
        m
    }
}

/// A `sample` record as the reports read it: its own fields, the mean
/// utilisation over NVIDIA GPUs and the RSS of all tracked trees.
fn sample_of(v: &Value) -> MonitorSample {
    let mut s: MonitorSample = serde_json::from_value(v.clone()).unwrap_or_default();
    if let Some(gpus) = v["gpus"].as_array()
        && !gpus.is_empty()
    {
        let utils: Vec<f64> = gpus.iter().filter_map(|g| g["util_pct"].as_f64()).collect();
        if !utils.is_empty() {
            s.gpu_util = Some(utils.iter().sum::<f64>() / utils.len() as f64);
        }
    }
    if let Some(inst) = v["instances"].as_object()
        && !inst.is_empty()
    {
        s.server_rss_mb = Some(inst.values().filter_map(|i| i["rss_mb"].as_f64()).sum());
    }
    s
}

/// The monitors under `dir/hosts/`, sorted by folder name: every folder
/// holding a `monitor.jsonl`, or only a `monitor.log` (the monitor there
/// wrote nothing: no samples). Unreadable lines go to `skipped`.
fn read_hosts(dir: &Path, skipped: &mut Vec<String>) -> Vec<HostMonitor> {
    let Ok(entries) = std::fs::read_dir(dir.join("hosts")) else {
        return Vec::new();
    };
    let mut folders: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("monitor.jsonl").is_file() || p.join("monitor.log").is_file())
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((name, p))
        })
        .collect();
    folders.sort();
    folders
        .into_iter()
        .map(|(name, path)| {
            let text = std::fs::read_to_string(path.join("monitor.jsonl")).unwrap_or_default();
            let m = MonitorFile::parse(&text, &format!("hosts/{name}/monitor.jsonl"));
            skipped.extend(m.skipped_lines);
            HostMonitor {
                name,
                header: m.header,
                samples: m.samples,
                summary: m.summary,
            }
        })
        .collect()
}

impl RunData {
    /// Read `dir/report.jsonl` (required), `dir/monitor.jsonl`,
    /// `dir/hosts/*/monitor.jsonl` and `dir/tune.jsonl` (all optional).
    pub fn load(dir: &Path) -> Result<RunData, String> {
        let report = dir.join("report.jsonl");
        let text = std::fs::read_to_string(&report).map_err(|e| {
            format!(
                "cannot read {}: {e}\n  next: give the run folder that `mlxrun run` printed as run_dir=",
                report.display()
            )
        })?;
        let mut run = RunData {
            dir: dir.to_path_buf(),
            run_id: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ..Default::default()
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(v) => {
                    if run.scenario.is_empty() {
                        run.scenario = v["scenario"].as_str().unwrap_or_default().to_string();
                    }
                    run.points.push(PointRecord::from_value(v));
                }
                Err(e) => run
                    .skipped_lines
                    .push(format!("report.jsonl:{}: {e}", i + 1)),
            }
        }
        let (points, repeats): (Vec<PointRecord>, Vec<PointRecord>) =
            std::mem::take(&mut run.points)
                .into_iter()
                .partition(|p| p.row_kind != RowKind::Repeat);
        run.probes = points
            .iter()
            .filter(|p| p.row_kind == RowKind::Probe)
            .cloned()
            .collect();
        // a stable sort: probes that share a start keep their file order
        run.probes.sort_by(|a, b| a.start_ts.total_cmp(&b.start_ts));
        run.points = last_per_point(points, &mut run.superseded);
        let mut by_repeat: BTreeMap<(usize, u32), PointRecord> = BTreeMap::new();
        for r in repeats {
            by_repeat.insert((r.point, r.repeat.unwrap_or(0)), r);
        }
        run.repeats = by_repeat.into_values().collect();
        if let Ok(text) = std::fs::read_to_string(dir.join("monitor.jsonl")) {
            let m = MonitorFile::parse(&text, "monitor.jsonl");
            run.monitor_header = m.header;
            run.samples = m.samples;
            run.events = m.events;
            run.monitor_summary = m.summary;
            run.skipped_lines.extend(m.skipped_lines);
        }
        run.hosts = read_hosts(dir, &mut run.skipped_lines);
        run.search = super::search::SearchLog::read(dir);
        if let Some(log) = &run.search {
            run.skipped_lines.extend(log.skipped_lines.iter().cloned());
        }
        Ok(run)
    }

    /// Points whose numbers mean something (ok or errors, some success).
    pub fn measured(&self) -> impl Iterator<Item = &PointRecord> {
        self.points.iter().filter(|p| p.measured())
    }

    /// Measured points that make tokens (not audio transcriptions): what
    /// the token charts draw.
    pub fn measured_tokens(&self) -> impl Iterator<Item = &PointRecord> {
        self.measured().filter(|p| p.modality != "audio")
    }

    /// The hardware profile: from the first record's `system`, else the monitor header.
    pub fn hardware(&self) -> Option<&Value> {
        self.points
            .iter()
            .find_map(|p| p.raw.pointer("/system/hardware_profile"))
            .or_else(|| self.monitor_header.as_ref().map(|h| &h["hardware"]))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A report.jsonl 0.6.0 line as /work/spec18 describes it: `row_kind`,
    /// `repeat`, `repeats` and `intervals` with every figure key; the
    /// throughput's interval is `tps_ci`, the TTFT p50's `ttft_ci`, the
    /// other figures have none (with a why).
    pub(crate) fn record_v060(
        point: u64,
        row_kind: &str,
        repeat: Option<u64>,
        repeats: u64,
        tps: (f64, f64, f64),
        ttft_p50: (f64, f64, f64),
    ) -> Value {
        let mut figures = serde_json::Map::new();
        for key in FIGURE_KEYS {
            figures.insert(
                key.to_string(),
                serde_json::json!({"value": null, "lo": null, "hi": null, "n": 0,
                                   "why": "too few samples for p99 (16; needs 500)"}),
            );
        }
        figures.insert(
            "throughput_tps".into(),
            serde_json::json!({"value": tps.0, "lo": tps.1, "hi": tps.2, "n": 400, "why": null}),
        );
        figures.insert(
            "ttft_p50_ms".into(),
            serde_json::json!({"value": ttft_p50.0, "lo": ttft_p50.1, "hi": ttft_p50.2, "n": 400, "why": null}),
        );
        figures.insert(
            "goodput_rps".into(),
            serde_json::json!({"value": null, "lo": null, "hi": null, "n": 0, "why": "no [slo]"}),
        );
        serde_json::json!({
            "schema_version": "0.6.0", "scenario": "s", "outcome": "ok",
            "test": format!("s::p{point}[model=tiny backend=mlx_lm instances=1 concurrency={point} max_tokens=16]"),
            "row_kind": row_kind, "repeat": repeat, "repeats": repeats,
            "test_start_ts": 100.0 + point as f64, "test_end_ts": 100.5 + point as f64,
            "point": {"point": point, "model": "tiny", "backend": "mlx_lm", "instances": 1,
                      "ranks": 1, "router": "none", "concurrency": point.to_string(),
                      "request_rate": "", "max_tokens": 16},
            "backend": {"name": "mlx_lm", "version": "x"},
            "metrics": {"requests": 400, "ok_requests": 400, "errors": 0, "throughput_tps": tps.0,
                        "ttft_ms": {"mean": ttft_p50.0, "p50": ttft_p50.0, "p99": 2.0 * ttft_p50.0}},
            "system_health": {"quality_flags": ["clean"]},
            "intervals": {
                "level": 0.95,
                "method": "moving-block bootstrap over the point's requests in send order (blocks of ⌈n^⅓⌉); repeats resampled as whole units (two-stage bootstrap)",
                "resamples": 1000, "repeats": repeats,
                "figures": figures
            }
        })
    }

    #[test]
    fn a_060_run_keeps_point_rows_for_points_and_repeat_rows_apart() {
        let d = tempfile::tempdir().unwrap();
        let lines = [
            record_v060(
                1,
                "repeat",
                Some(1),
                2,
                (100.0, 95.0, 105.0),
                (10.0, 9.0, 11.0),
            ),
            record_v060(
                1,
                "repeat",
                Some(2),
                2,
                (110.0, 104.0, 116.0),
                (11.0, 10.0, 12.0),
            ),
            record_v060(1, "point", None, 2, (105.0, 96.0, 114.0), (10.5, 9.0, 12.0)),
            // an older line without row_kind is a point
            record(2, "2", 20.0),
        ]
        .map(|v| v.to_string())
        .join("\n");
        std::fs::write(d.path().join("report.jsonl"), lines + "\n").unwrap();
        let run = RunData::load(d.path()).unwrap();
        assert_eq!(
            run.points.iter().map(|p| p.point).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(run.superseded, 0, "repeat rows do not supersede the point");
        let p1 = &run.points[0];
        assert_eq!(p1.row_kind, RowKind::Point);
        assert_eq!((p1.repeat, p1.repeats), (None, Some(2)));
        assert_eq!(p1.throughput_tps, 105.0);
        assert_eq!(
            p1.params,
            "model=tiny backend=mlx_lm instances=1 concurrency=1 max_tokens=16"
        );
        let i = p1.intervals.as_ref().unwrap();
        assert_eq!(i.level, 0.95);
        assert!(
            i.method.starts_with("moving-block bootstrap"),
            "{}",
            i.method
        );
        assert_eq!((i.resamples, i.repeats), (Some(1000), Some(2)));
        assert_eq!(i.figures.len(), FIGURE_KEYS.len());
        let tps = p1.figure("throughput_tps");
        assert_eq!(
            (tps.value, tps.interval(), tps.half_width(), tps.n),
            (Some(105.0), Some((96.0, 114.0)), Some(9.0), Some(400))
        );
        assert_eq!(tps.better(), Better::Higher);
        let ttft = p1.figure("ttft_p50_ms");
        assert_eq!(ttft.better(), Better::Lower);
        assert_eq!(ttft.interval(), Some((9.0, 12.0)));
        let p99 = p1.figure("ttft_p99_ms");
        assert_eq!(p99.interval(), None);
        assert_eq!(p99.missing_why(), "too few samples for p99 (16; needs 500)");
        assert_eq!(p1.figure("goodput_rps").missing_why(), "no [slo]");
        // repeat rows stay available, in point and repeat order
        assert_eq!(
            run.repeats
                .iter()
                .map(|r| (r.point, r.repeat, r.row_kind))
                .collect::<Vec<_>>(),
            [(1, Some(1), RowKind::Repeat), (1, Some(2), RowKind::Repeat)]
        );
        // an old record: plain values, no interval, and why
        let p2 = &run.points[1];
        assert_eq!(
            (p2.row_kind, p2.repeats, p2.intervals.is_none()),
            (RowKind::Point, None, true)
        );
        let old = p2.figure("throughput_tps");
        assert_eq!((old.value, old.interval()), (Some(20.0), None));
        assert_eq!(old.missing_why(), NO_INTERVALS_WHY);
        assert_eq!(p2.figure("ttft_p99_ms").value, Some(20.0));
        assert_eq!(p2.figure("itl_p50_ms").value, None);
        assert_eq!(p2.figure("nonsense").value, None);
        assert_eq!(p2.params, "", "no `test` in the old fixture");
    }

    #[test]
    fn params_come_from_the_test_name_and_bad_intervals_are_no_intervals() {
        assert_eq!(
            params_of("s::p3[model=m concurrency=8]"),
            "model=m concurrency=8"
        );
        assert_eq!(params_of("a::b::p12[x=[1]]"), "x=[1]");
        assert_eq!(params_of("no brackets"), "");
        assert_eq!(params_of("s::p3]["), "");
        let f = |lo: Option<f64>, hi: Option<f64>| Figure {
            key: "throughput_tps".into(),
            value: Some(1.0),
            lo,
            hi,
            ..Default::default()
        };
        assert_eq!(f(Some(2.0), Some(1.0)).interval(), None, "lo above hi");
        assert_eq!(f(Some(f64::NAN), Some(1.0)).interval(), None);
        assert_eq!(f(Some(1.0), None).interval(), None);
        assert_eq!(f(None, None).missing_why(), "no interval recorded");
        // a level out of (0, 1) falls back to 95 %
        let i =
            Intervals::from(&serde_json::json!({"level": 95, "figures": {"x_ms": {"value": 1}}}))
                .unwrap();
        assert_eq!(i.level, DEFAULT_LEVEL);
        assert_eq!(i.figures["x_ms"].better(), Better::Lower);
        assert!(Intervals::from(&serde_json::json!("garbage")).is_none());
    }

    fn record(point: u64, conc: &str, tps: f64) -> Value {
        serde_json::json!({
            "schema_version": "0.5.0", "scenario": "s", "outcome": "ok",
            "test_start_ts": 100.0 + point as f64, "test_end_ts": 100.5 + point as f64,
            "point": {"point": point, "model": "tiny", "backend": "mlx_lm", "instances": 2,
                      "ranks": 1, "router": "nginx", "balance": "round_robin",
                      "decode_concurrency": 8, "prompt_concurrency": null,
                      "axes": {}, "server_flags": {"--prefill-step-size": "512"},
                      "concurrency": conc, "request_rate": "", "max_tokens": 64},
            "backend": {"name": "mlx_lm", "version": "x"},
            "metrics": {"requests": 8, "ok_requests": 8, "errors": 0, "throughput_tps": tps,
                        "ttft_ms": {"mean": 10.0, "p50": 9.0, "p99": 20.0}},
            "system_health": {"quality_flags": ["clean"]},
            "per_instance": {"instances": [{"requests": 5}, {"requests": 3}]}
        })
    }

    #[test]
    fn a_run_folder_loads_points_samples_and_events() {
        let d = tempfile::tempdir().unwrap();
        let lines = [record(2, "4", 20.0), record(1, "1", 10.0)]
            .map(|v| v.to_string())
            .join("\n");
        std::fs::write(
            d.path().join("report.jsonl"),
            format!("{lines}\nnot json\n"),
        )
        .unwrap();
        std::fs::write(
            d.path().join("monitor.jsonl"),
            concat!(
                r#"{"kind":"header","hardware":{"cpu_model":"X"}}"#, "\n",
                r#"{"kind":"sample","ts":100.2,"elapsed_s":0.2,"ram_available_gb":20.5,"cpu_user":null,"gpus":[{"util_pct":30.0},{"util_pct":50.0}],"instances":{"instance-0":{"rss_mb":100.0},"nginx":{"rss_mb":5.0}}}"#, "\n",
                r#"{"kind":"event","ts":100.0,"name":"point_start","fields":{"point":1}}"#, "\n",
                r#"{"kind":"summary","samples":1}"#, "\n"
            ),
        )
        .unwrap();
        let run = RunData::load(d.path()).unwrap();
        assert_eq!(run.scenario, "s");
        assert_eq!(
            run.points.iter().map(|p| p.point).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(run.skipped_lines.len(), 1);
        let p = &run.points[1];
        assert_eq!(
            p.config_label(),
            "tiny mlx_lm ×2 nginx decode=8 prefill_step_size=512"
        );
        assert_eq!(p.load_label(), "c=4 mt=64");
        assert_eq!(p.ttft_ms.p99, Some(20.0));
        assert_eq!(p.instance_requests, [5, 3]);
        assert!(p.measured());
        assert_eq!(run.samples.len(), 1);
        assert_eq!(run.samples[0].gpu_util, Some(40.0));
        assert_eq!(run.samples[0].server_rss_mb, Some(105.0));
        assert_eq!(run.samples[0].cpu_user, None);
        assert_eq!(run.events[0].1, "point_start");
        assert_eq!(run.hardware().unwrap()["cpu_model"], "X");
        assert_eq!(run.superseded, 0);
        let err = RunData::load(&d.path().join("nope")).unwrap_err();
        assert!(err.contains("run_dir="), "{err}");
    }

    #[test]
    fn a_resumed_run_counts_the_last_record_of_each_point() {
        let d = tempfile::tempdir().unwrap();
        let mut interrupted = record(2, "4", 3.0);
        interrupted["outcome"] = "interrupted".into();
        let lines = [
            record(1, "1", 10.0),
            interrupted,
            record(2, "4", 20.0),
            record(3, "8", 30.0),
        ]
        .map(|v| v.to_string())
        .join("\n");
        std::fs::write(d.path().join("report.jsonl"), lines + "\n").unwrap();
        std::fs::write(
            d.path().join("monitor.jsonl"),
            concat!(
                r#"{"kind":"header","ts":1.0,"hardware":{"cpu_model":"first"}}"#,
                "\n",
                r#"{"kind":"event","ts":5.0,"name":"resumed","fields":{}}"#,
                "\n",
                r#"{"kind":"header","ts":5.0,"hardware":{"cpu_model":"second"}}"#,
                "\n",
            ),
        )
        .unwrap();
        let run = RunData::load(d.path()).unwrap();
        let got: Vec<(usize, &str, f64)> = run
            .points
            .iter()
            .map(|p| (p.point, p.outcome.as_str(), p.throughput_tps))
            .collect();
        assert_eq!(got, [(1, "ok", 10.0), (2, "ok", 20.0), (3, "ok", 30.0)]);
        assert_eq!(run.superseded, 1);
        assert_eq!(
            run.monitor_header.unwrap()["hardware"]["cpu_model"],
            "first"
        );
    }
}
