//! Scenario sections about how a point is measured: `[load]` (closed or
//! open loop, arrivals, duration, warmup and cooldown), `[slo]` (the
//! service-level objectives goodput counts against), `[metrics]` (which
//! percentiles are reported, and the confidence of their intervals), the
//! `request_rate` axis element, and the parts of `[run]` that say how long
//! a point is measured: repeats, the shape warmup and the precision target.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::scenario::AxisElement;
use super::units::{PositiveMillis, Secs};

/// Inter-arrival process of an open-loop point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalKind {
    /// Evenly spaced sends, exactly `1 / rate` apart.
    Constant,
    /// Exponential gaps (a Poisson process), vLLM's default.
    #[default]
    Poisson,
    /// Gamma gaps with shape `load.burstiness` and mean `1 / rate`
    /// (vLLM's `--burstiness`): 1 is Poisson, below 1 burstier.
    Gamma,
}

impl ArrivalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArrivalKind::Constant => "constant",
            ArrivalKind::Poisson => "poisson",
            ArrivalKind::Gamma => "gamma",
        }
    }
}

/// `[load]`: how the requests of a point are sent and which of them count.
///
/// A point is closed loop (`matrix.concurrency` requests in flight, the next
/// sent as one finishes) unless `matrix.request_rate` is set: then it is open
/// loop, requests are sent on a schedule drawn from `arrival`, and
/// `matrix.concurrency`, when set, caps what is in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadSection {
    pub arrival: ArrivalKind,
    /// Gamma shape for `arrival = "gamma"`.
    pub burstiness: f64,
    /// Seconds of measured load per point; 0 = the point is bounded by its
    /// request count (`workload.requests`) instead.
    pub duration_s: Secs,
    /// Requests at the start of every point that are sent but not measured.
    pub warmup_requests: u64,
    /// Requests sent in the first seconds of every point are not measured.
    pub warmup_s: Secs,
    /// Requests at the end of every point that are sent (keeping the load
    /// steady while the measured ones finish) but not measured.
    pub cooldown_requests: u64,
    /// Seconds of unmeasured load after the measured window.
    pub cooldown_s: Secs,
}

impl Default for LoadSection {
    fn default() -> Self {
        LoadSection {
            arrival: ArrivalKind::Poisson,
            burstiness: 1.0,
            duration_s: Secs::ZERO,
            warmup_requests: 0,
            warmup_s: Secs::ZERO,
            cooldown_requests: 0,
            cooldown_s: Secs::ZERO,
        }
    }
}

impl LoadSection {
    /// Points are bounded by time rather than by request count.
    pub fn timed(&self) -> bool {
        !self.duration_s.is_zero()
    }
}

/// `[slo]`: per-request objectives. A request meets the SLO when it
/// succeeded and is within every objective that is set; goodput counts those.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloSection {
    /// Time to first token, ms.
    pub ttft_ms: Option<PositiveMillis>,
    /// Time per output token after the first, ms.
    pub tpot_ms: Option<PositiveMillis>,
    /// Whole request, ms.
    pub e2e_ms: Option<PositiveMillis>,
}

impl SloSection {
    pub fn is_set(&self) -> bool {
        self.ttft_ms.is_some() || self.tpot_ms.is_some() || self.e2e_ms.is_some()
    }
}

/// `[metrics]`: what each latency reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Percentiles (0–100) of every latency, in the CSV as `<metric>_p<q>_ms`
    /// (`99.9` becomes `p99_9`).
    pub percentiles: Vec<f64>,
    /// Coverage of every figure's confidence interval (0.5–0.999).
    pub confidence: f64,
    /// Bootstrap resamples behind each interval (100–100,000).
    pub resamples: usize,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            percentiles: vec![50.0, 90.0, 95.0, 99.0, 99.9],
            confidence: 0.95,
            resamples: 1000,
        }
    }
}

/// `run.repeat_order`: how the repeats of a configuration's points are laid
/// out in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatOrder {
    /// Each point's repeats back to back: p1 p1 p1, p2 p2 p2.
    #[default]
    Consecutive,
    /// Round by round across the configuration's points: p1 p2, p1 p2, so a
    /// slow drift of the machine spreads over every point instead of
    /// landing on the last ones.
    Interleaved,
}

impl RepeatOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            RepeatOrder::Consecutive => "consecutive",
            RepeatOrder::Interleaved => "interleaved",
        }
    }
}

/// `[run.warmup]`: the warmup before each point whose request shape is new
/// to its server. It replays the point's own kind of request (same prompt
/// length, `max_tokens`, media and sampling, at the point's concurrency) in
/// rounds until two rounds in a row agree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WarmupRule {
    /// Off: only the small readiness warmup after a server start.
    pub enabled: bool,
    /// Steady when a round's median time per output token is within this
    /// many percent of the round before.
    pub tolerance_pct: f64,
    /// Rounds sent at least (2 or more: steadiness compares two).
    pub min_rounds: u32,
    /// Rounds sent at most; not steady by then flags the point `not_warmed`.
    pub max_rounds: u32,
    /// Seconds of warmup at most per point (the same flag when reached).
    pub max_s: Secs,
}

impl Default for WarmupRule {
    fn default() -> Self {
        WarmupRule {
            enabled: true,
            tolerance_pct: 10.0,
            min_rounds: 3,
            max_rounds: 8,
            max_s: Secs::lit(120.0),
        }
    }
}

/// `[run.precision]`: keep a closed-loop point running until its interval
/// is tight. Unset targets: a point sends exactly its planned requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrecisionRule {
    /// Stop when the throughput interval's half-width is at most this
    /// percent of the throughput.
    pub throughput_pct: Option<f64>,
    /// Stop when the p50 TTFT interval's half-width is at most this percent
    /// of p50 TTFT (with `throughput_pct`: both must hold).
    pub ttft_p50_pct: Option<f64>,
    /// Measured requests at most (the planned requests are the least).
    pub max_requests: u64,
    /// Seconds of measured load at most.
    pub max_s: Secs,
}

impl Default for PrecisionRule {
    fn default() -> Self {
        PrecisionRule {
            throughput_pct: None,
            ttft_p50_pct: None,
            max_requests: 5000,
            max_s: Secs::lit(600.0),
        }
    }
}

impl PrecisionRule {
    /// Whether a target is set.
    pub fn is_set(&self) -> bool {
        self.throughput_pct.is_some() || self.ttft_p50_pct.is_some()
    }
}

/// A request rate (requests/s) of the `request_rate` axis; `inf` sends every
/// request at once (vLLM's `--request-rate inf`). Always `inf` or finite
/// within [`MIN_RATE`]..=[`MAX_RATE`], so `1 / rate` is a gap a schedule
/// can hold.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

/// The slowest rate: one request every 1,000 seconds.
pub const MIN_RATE: f64 = 0.001;
/// The fastest finite rate: a million requests per second.
pub const MAX_RATE: f64 = 1_000_000.0;

/// The burstiest gamma shape (`load.burstiness`) a schedule draws.
pub const MIN_BURSTINESS: f64 = 0.01;
/// The most even gamma shape a schedule draws.
pub const MAX_BURSTINESS: f64 = 100.0;

impl Rate {
    /// Every request at once.
    pub const INF: Rate = Rate(f64::INFINITY);

    /// `v` requests/s, when it is `inf` or within the bounds.
    pub fn new(v: f64) -> Result<Rate, String> {
        if v == f64::INFINITY || (MIN_RATE..=MAX_RATE).contains(&v) {
            Ok(Rate(v))
        } else {
            Err(format!(
                "{} is not a rate mlxrun sends: use {MIN_RATE} to {MAX_RATE} requests/s, or \"inf\"",
                super::units::shown(v)
            ))
        }
    }

    /// Requests per second (`inf` for every request at once).
    pub fn get(self) -> f64 {
        self.0
    }

    pub fn is_infinite(self) -> bool {
        self.0.is_infinite()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_infinite() {
            f.write_str("inf")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl AxisElement for Rate {
    fn from_text(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("inf") {
            return Ok(Rate::INF);
        }
        s.parse::<f64>()
            .map_err(|_| format!("'{s}' is not a rate (requests/s, or \"inf\")"))
            .and_then(Rate::new)
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        Rate::new(v as f64)
    }
    fn from_float(v: f64) -> Result<Self, String> {
        Rate::new(v)
    }
    fn expecting() -> &'static str {
        "a rate in requests/s (or \"inf\"), a list of them, or a string like \"1,2,inf\""
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_infinite() {
            s.serialize_str("inf")
        } else {
            s.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(v) => Rate::new(v).map_err(serde::de::Error::custom),
            Raw::Text(s) => Rate::from_text(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// The CSV spelling of percentile `q`: `50` → `p50`, `99.9` → `p99_9`.
pub fn percentile_label(q: f64) -> String {
    let text = if q.fract() == 0.0 {
        format!("{}", q as i64)
    } else {
        format!("{q}")
    };
    format!("p{}", text.replace('.', "_"))
}

#[cfg(test)]
mod tests {
    use super::super::scenario::Axis;
    use super::*;

    #[derive(Deserialize, Debug)]
    struct Holder {
        r: Axis<Rate>,
    }

    #[test]
    fn rates_read_numbers_lists_and_inf() {
        let h: Holder = toml::from_str("r = [1, 2.5, \"inf\"]").unwrap();
        assert_eq!(h.r.values()[0], Rate(1.0));
        assert_eq!(h.r.values()[1], Rate(2.5));
        assert!(h.r.values()[2].is_infinite());
        let h: Holder = toml::from_str("r = \"4, inf\"").unwrap();
        assert_eq!(h.r.values().len(), 2);
        assert!(toml::from_str::<Holder>("r = \"fast\"").is_err());
        assert_eq!(Rate(f64::INFINITY).to_string(), "inf");
        assert_eq!(Rate(2.5).to_string(), "2.5");
    }

    #[test]
    fn rates_outside_the_bounds_are_refused_as_they_are_read() {
        for bad in [
            "r = 1e-300",
            "r = 0",
            "r = -1",
            "r = nan",
            "r = 2e6",
            "r = \"1, 0.0000001\"",
        ] {
            let e = toml::from_str::<Holder>(bad).unwrap_err().to_string();
            assert!(e.contains("0.001 to 1000000 requests/s"), "{bad}: {e}");
        }
        assert!(toml::from_str::<Holder>("r = -inf").is_err());
        let h: Holder = toml::from_str("r = [0.001, 1000000]").unwrap();
        assert_eq!(h.r.values()[0].get(), MIN_RATE);
    }

    #[test]
    fn percentile_labels() {
        assert_eq!(percentile_label(50.0), "p50");
        assert_eq!(percentile_label(99.9), "p99_9");
        assert_eq!(percentile_label(99.99), "p99_99");
    }
}
