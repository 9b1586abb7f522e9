//! Confidence intervals on every headline figure of a measured point:
//! throughput, requests/s, goodput, and the mean, p50 and p99 of TTFT,
//! TPOT, ITL and E2E.
//!
//! # What the interval covers
//!
//! The variation of the requests within the point's measured window: had
//! the same point been measured again for as long, on the same server in
//! the same state, the figure would have come out elsewhere in its
//! interval 95 times in 100 (the default level). When the point was
//! measured several times (`run.repeats`), the interval also covers the
//! spread *between* repeats, which is usually larger: a server warming
//! caches, a neighbour taking CPU, a different batch rhythm. It does not
//! cover what was never varied: another machine, another build, another
//! model file.
//!
//! # Method
//!
//! The moving-block bootstrap (Künsch, 1989; see [`super::interval`]).
//! Latencies measured under load come in stretches — while the server
//! batches a long prompt every request in flight slows down together — so
//! neighbouring samples are correlated and an ordinary bootstrap, which
//! resamples single values, gives intervals that are too narrow. Resampling
//! *blocks* of consecutive samples, in the order the requests were sent,
//! keeps that correlation inside each resample, and the spread of the
//! figure over the resamples is then a valid estimate of its sampling
//! spread for any stationary series whose correlation dies out within a
//! block. Blocks are ⌈n^⅓⌉ samples — the order of block length that suits
//! variances and distribution functions (Hall, Horowitz and Jing, 1995) —
//! or longer where the samples' own autocorrelation calls for it
//! ([`auto_block_length`]: Politis and White, 2004). Each interval is the
//! percentile interval of the figure over the resamples. The same seed
//! gives the same interval.
//!
//! - **Latencies** (TTFT, TPOT, E2E): one sample per successful request,
//!   in send order. Mean, p50 and p99 of each resample come from one
//!   buffer reused across resamples, by selection (`select_nth_unstable_by`,
//!   O(n)), not by sorting.
//! - **ITL** has one sample per streamed chunk: millions in a long point.
//!   The interval uses at most [`ITL_SAMPLE_LIMIT`] gaps, taken evenly
//!   through the point (every k-th gap over the requests in send order)
//!   and put in the order they arrived. Fewer samples can only make the
//!   interval wider, never falsely narrow, and evenly spaced ones are
//!   further apart in time, so less correlated. The figure itself
//!   (`value`) uses every gap.
//! - **Rates** (throughput, requests/s, goodput) are time averages, not
//!   means over requests, so they are bootstrapped over *time*: the
//!   measured window is cut into equal bins and each bin holds what was
//!   delivered in it — output tokens (a streamed response's tokens at the
//!   arrival of each chunk, `completion_tokens` shared equally over its
//!   chunks; a response that was not streamed delivers all its tokens at
//!   completion, when the client got them), completed requests, and
//!   completed requests within the SLO. The figure is Σ bins / window =
//!   mean of the bins × bins / window, and the bins are block-resampled
//!   in circular blocks (Politis and Romano 1992), so the window's edge
//!   bins are drawn as often as the others.
//!   Bins: ⌈n^¾⌉ for n measured requests ([`rate_bins`]). With blocks of
//!   ⌈bins^⅓⌉ bins that makes about √n blocks each holding about √n
//!   completions: the two ways a block bootstrap of a rate starves —
//!   too few blocks to resample, or blocks so short in time that they cut
//!   through the requests in flight and lose their correlation — are
//!   balanced, and both shrink as the point grows.
//! - **Repeats**: a two-stage (hierarchical) bootstrap. Each resample
//!   draws as many repeats as there are, with replacement, block-resamples
//!   within each drawn repeat, and computes the figure on the
//!   concatenation — for a rate, Σ tokens (requests) over the drawn
//!   repeats' bins / Σ their windows. Resampling the top level as whole
//!   units is what puts the between-repeat spread into the interval (Davison
//!   and Hinkley, 1997, §3.8; Field and Welsh, 2007). With one repeat it is
//!   the plain block bootstrap. The figure itself is that of
//!   [`pooled`] repeats: `summarize(&pooled(repeats), …)`.
//!
//! # When there is no interval
//!
//! A figure gets no interval, and says why in `why`, rather than a guess:
//! - a mean or median needs at least [`MIN_SAMPLES`] (10) samples;
//! - a percentile q needs at least [`TAIL_SAMPLES`] (5) samples beyond it
//!   on each side, n · min(q, 1 − q) ≥ 5: p50 needs 10, p90 50, p99 500,
//!   p99.9 5,000 — below that the resampled percentile is the same few
//!   extreme values shuffled, and its interval says nothing;
//! - a rate needs at least [`MIN_RATE_BINS`] (10) bins, so 21 measured
//!   requests;
//! - goodput needs an `[slo]`.
//!
//! # How good the intervals are
//!
//! Measured coverage of the nominal 95% (seeded simulations with a known
//! truth; the tests below keep the first three):
//! - log-normal TTFT, independent, 300 requests: mean 0.935, median
//!   0.91–0.92;
//! - log-normal TTFT whose logs are an AR(1) series, φ = 0.5, 600
//!   requests: mean 0.905–0.92, median 0.90–0.915; over φ = 0.3–0.6 and
//!   400–2,000 requests, 0.89–0.92;
//! - a closed loop of 4 workers, about 1,200 requests: throughput 0.91,
//!   requests/s 0.935 (1, 16 and 64 workers: 0.93–0.98);
//! - strongly correlated samples (φ = 0.8) fall further short: 0.85 at 400
//!   requests, 0.90 at 2,000.
//!
//! So a block bootstrap runs a few points under its level on correlated
//! samples, as the literature reports; treat "95%" as approximately 90–95%.
//!
//! # Cost
//!
//! Linear in the samples per resample. All 15 figures of a 20,000-request
//! point with 128-token streams (2.5 million ITL gaps), at 1,000
//! resamples, take about 0.4 s of one core in a release build, against
//! the point's own 18 minutes: well under 0.1% of the run. Run the ignored
//! test `cost_of_a_20000_request_point` to measure it
//! (`cargo test --release --lib cost_of_a -- --ignored --nocapture`).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::distribution::{Distribution, EXACT_LIMIT};
use super::interval::{auto_block_length, percentile_interval, resample_blocks, valid_level};
use super::point::{SummaryOptions, meets, tpot_ms};
use crate::load::record::RequestRecord;
use crate::spec::scenario::SloSection;

/// The coverage asked for unless said otherwise.
pub const DEFAULT_LEVEL: f64 = 0.95;
/// Resamples per interval unless said otherwise.
pub const DEFAULT_RESAMPLES: usize = 1000;
/// Resamples [`half_width_pct`] draws at most: a stop rule asks often.
pub const QUICK_RESAMPLES: usize = 200;
/// ITL gaps an interval uses at most (the figure uses all).
pub const ITL_SAMPLE_LIMIT: usize = 20_000;
/// Samples a mean or a median needs for an interval.
pub const MIN_SAMPLES: usize = 10;
/// Samples a percentile needs beyond it on each side for an interval.
pub const TAIL_SAMPLES: usize = 5;
/// Time bins a rate needs for an interval.
pub const MIN_RATE_BINS: usize = 10;

/// Every figure key, in the order reports list them.
pub const FIGURES: [&str; 15] = [
    "throughput_tps",
    "requests_per_s",
    "goodput_rps",
    "ttft_mean_ms",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "tpot_mean_ms",
    "tpot_p50_ms",
    "tpot_p99_ms",
    "itl_mean_ms",
    "itl_p50_ms",
    "itl_p99_ms",
    "e2e_mean_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
];

/// How the intervals of a point are computed.
#[derive(Debug, Clone)]
pub struct IntervalOptions<'a> {
    /// Coverage, e.g. 0.95.
    pub level: f64,
    /// Bootstrap resamples per figure.
    pub resamples: usize,
    /// Seed of the resampling: the same seed, the same intervals.
    pub seed: u64,
    /// The point's objectives (goodput); `None` or unset: no goodput.
    pub slo: Option<&'a SloSection>,
    /// `max_tokens` each request asked for, as [`SummaryOptions`] takes
    /// it (no figure here depends on it; see [`Self::summary_options`]).
    pub max_tokens: u32,
}

impl Default for IntervalOptions<'_> {
    fn default() -> Self {
        IntervalOptions {
            level: DEFAULT_LEVEL,
            resamples: DEFAULT_RESAMPLES,
            seed: 0,
            slo: None,
            max_tokens: 0,
        }
    }
}

impl<'a> IntervalOptions<'a> {
    /// The [`SummaryOptions`] whose `summarize` gives the same figures
    /// (`open_loop` only decides whether queueing is reported, which no
    /// interval covers).
    pub fn summary_options(&self, percentiles: &'a [f64]) -> SummaryOptions<'a> {
        SummaryOptions {
            percentiles,
            slo: self.slo,
            max_tokens: self.max_tokens,
            open_loop: false,
        }
    }
}

/// One figure and its interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FigureInterval {
    /// The figure, as `summarize` computes it; `None` without samples.
    pub value: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Samples behind it: successful requests with that latency, gaps for
    /// ITL, measured requests (failed ones included) for a rate.
    pub n: u64,
    /// Why there is no interval (or no value); `None` when there is one.
    pub why: Option<String>,
}

impl FigureInterval {
    fn missing(n: u64, why: impl Into<String>) -> Self {
        FigureInterval {
            n,
            why: Some(why.into()),
            ..Default::default()
        }
    }

    fn without_interval(value: f64, n: u64, why: impl Into<String>) -> Self {
        FigureInterval {
            value: Some(value),
            n,
            why: Some(why.into()),
            ..Default::default()
        }
    }
}

/// The intervals of one point: report.jsonl's `intervals` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointIntervals {
    pub level: f64,
    /// The method, in words.
    pub method: String,
    pub resamples: usize,
    /// Repeats combined.
    pub repeats: usize,
    /// Every key of [`FIGURES`].
    pub figures: BTreeMap<String, FigureInterval>,
}

/// The intervals of every figure of a point measured `repeats.len()`
/// times (each slice: one repeat's records, excluded ones included).
pub fn intervals(repeats: &[&[RequestRecord]], opts: &IntervalOptions<'_>) -> PointIntervals {
    let mut figures = BTreeMap::new();
    for family in Family::ALL {
        figures.append(&mut family_figures(repeats, opts, family, opts.resamples));
    }
    PointIntervals {
        level: opts.level,
        method: method(repeats.len()),
        resamples: opts.resamples,
        repeats: repeats.len(),
        figures,
    }
}

/// The method in words, for `repeats` repeats.
pub fn method(repeats: usize) -> String {
    let mut m = "moving-block bootstrap over the point's requests in send order \
                 (blocks of ⌈n^⅓⌉, longer where the samples' autocorrelation calls for it); \
                 rates over ⌈n^¾⌉ time bins of the measured window, in circular blocks"
        .to_string();
    if repeats > 1 {
        m.push_str("; repeats resampled as whole units (two-stage bootstrap)");
    }
    m
}

/// The half-width of `figure`'s interval as a percentage of its value,
/// from at most [`QUICK_RESAMPLES`] resamples of one repeat's `records`:
/// the check of a stop-when-tight rule. `None` for an unknown figure, no
/// interval or a zero value.
pub fn half_width_pct(
    records: &[RequestRecord],
    figure: &str,
    opts: &IntervalOptions<'_>,
) -> Option<f64> {
    half_width_pct_from(records, figure, opts, opts.resamples.min(QUICK_RESAMPLES))
}

/// [`half_width_pct`] from all of `opts.resamples`: the same interval the
/// point's final figures get, to confirm a quick check before a stop.
pub fn half_width_pct_full(
    records: &[RequestRecord],
    figure: &str,
    opts: &IntervalOptions<'_>,
) -> Option<f64> {
    half_width_pct_from(records, figure, opts, opts.resamples)
}

fn half_width_pct_from(
    records: &[RequestRecord],
    figure: &str,
    opts: &IntervalOptions<'_>,
    resamples: usize,
) -> Option<f64> {
    let family = Family::of(figure)?;
    let figures = family_figures(&[records], opts, family, resamples);
    let f = figures.get(figure)?;
    let (value, lo, hi) = (f.value?, f.lo?, f.hi?);
    (value != 0.0).then(|| (hi - lo) / 2.0 / value.abs() * 100.0)
}

/// The repeats' records laid end to end in time: each repeat shifted so
/// that its measured window starts where the previous one's ended (the
/// first stays where it is). `summarize` of it gives the combined figure:
/// the windows add up, and so do tokens and requests.
pub fn pooled(repeats: &[&[RequestRecord]]) -> Vec<RequestRecord> {
    let mut out = Vec::with_capacity(repeats.iter().map(|r| r.len()).sum());
    let mut next_start: Option<Duration> = None;
    for records in repeats {
        let shift = match window(records) {
            Some((start, end)) => {
                let to = next_start.unwrap_or(start);
                next_start = Some(to + (end - start));
                nanos(to) - nanos(start)
            }
            None => 0,
        };
        out.extend(records.iter().map(|r| {
            let mut r = r.clone();
            r.sent_at = shifted(r.sent_at, shift);
            r
        }));
    }
    out
}

fn nanos(d: Duration) -> i128 {
    d.as_nanos() as i128
}

fn shifted(d: Duration, by: i128) -> Duration {
    let ns = (nanos(d) + by).clamp(0, u64::MAX as i128 * 1_000_000_000);
    Duration::new((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u32)
}

/// The latency origin of a request, as `summarize` takes it.
fn origin(r: &RequestRecord) -> Duration {
    r.sent_at.saturating_sub(r.queue)
}

/// The measured window: first measured origin to last measured end.
fn window(records: &[RequestRecord]) -> Option<(Duration, Duration)> {
    let mut measured = records.iter().filter(|r| !r.excluded).peekable();
    measured.peek()?;
    Some(measured.fold((Duration::MAX, Duration::ZERO), |(s, e), r| {
        let o = origin(r);
        (s.min(o), e.max(o.saturating_add(r.e2e)))
    }))
}

/// The bins of a rate for `n` measured requests: ⌈n^¾⌉ (see the module
/// docs), at least one.
pub fn rate_bins(n: usize) -> usize {
    ((n as f64).powf(0.75).ceil() as usize).max(1)
}

/// Samples percentile `q` (0–100) needs for an interval: [`TAIL_SAMPLES`]
/// beyond it on each side.
pub fn min_samples_for_percentile(q: f64) -> usize {
    let side = q.min(100.0 - q);
    if side.is_nan() || side <= 0.0 {
        return usize::MAX;
    }
    // the epsilon keeps 500 / 1.0000000000000009 from rounding up to 501
    ((TAIL_SAMPLES as f64 * 100.0 / side) - 1e-9).ceil() as usize
}

/// The groups of figures that are computed together.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Rates,
    Latency(Metric),
}

impl Family {
    const ALL: [Family; 5] = [
        Family::Rates,
        Family::Latency(Metric::Ttft),
        Family::Latency(Metric::Tpot),
        Family::Latency(Metric::Itl),
        Family::Latency(Metric::E2e),
    ];

    fn of(figure: &str) -> Option<Family> {
        if !FIGURES.contains(&figure) {
            return None;
        }
        Family::ALL.into_iter().find(|f| match f {
            Family::Rates => !figure.ends_with("_ms"),
            Family::Latency(m) => figure.starts_with(m.key()),
        })
    }

    /// A seed of its own, so that one family's draws do not depend on
    /// which others were computed.
    fn seed(self, seed: u64) -> u64 {
        let k = Family::ALL.iter().position(|f| *f == self).unwrap_or(0) as u64 + 1;
        seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// A per-request latency.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    Ttft,
    Tpot,
    Itl,
    E2e,
}

impl Metric {
    fn key(self) -> &'static str {
        match self {
            Metric::Ttft => "ttft",
            Metric::Tpot => "tpot",
            Metric::Itl => "itl",
            Metric::E2e => "e2e",
        }
    }

    /// The samples (ms) of one successful request, in order, as
    /// `summarize` adds them.
    fn each(self, r: &RequestRecord, mut f: impl FnMut(f64)) {
        match self {
            Metric::Ttft => {
                if let Some(t) = r.ttft {
                    f(ms(t));
                }
            }
            Metric::Tpot => {
                if let Some(t) = tpot_ms(r) {
                    f(t);
                }
            }
            Metric::Itl => r.itl_us.iter().for_each(|us| f(f64::from(*us) / 1e3)),
            Metric::E2e => f(ms(r.e2e)),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The successful measured requests of one repeat, in send order.
fn in_send_order(records: &[RequestRecord]) -> Vec<&RequestRecord> {
    let mut ok: Vec<&RequestRecord> = records.iter().filter(|r| !r.excluded && r.ok()).collect();
    ok.sort_by_key(|r| (r.sent_at, r.seq));
    ok
}

fn family_figures(
    repeats: &[&[RequestRecord]],
    opts: &IntervalOptions<'_>,
    family: Family,
    resamples: usize,
) -> BTreeMap<String, FigureInterval> {
    let mut rng = StdRng::seed_from_u64(family.seed(opts.seed));
    let problem = if !valid_level(opts.level) {
        Some(format!(
            "the level must be between 0 and 1 (it is {})",
            opts.level
        ))
    } else if resamples == 0 {
        Some("no resamples asked for".to_string())
    } else {
        None
    };
    let ask = Ask {
        level: opts.level,
        resamples,
        problem,
    };
    match family {
        Family::Rates => rate_figures(repeats, opts.slo, &ask, &mut rng),
        Family::Latency(m) => latency_figures(repeats, m, &ask, &mut rng),
    }
}

/// What every bootstrap of one call shares.
struct Ask {
    level: f64,
    resamples: usize,
    /// Why no interval can be computed at all (bad options).
    problem: Option<String>,
}

impl Ask {
    /// The figure `value` with the percentile interval of `replicates`.
    fn figure(&self, value: f64, n: u64, replicates: &mut Vec<f64>) -> FigureInterval {
        if let Some(p) = &self.problem {
            return FigureInterval::without_interval(value, n, p.clone());
        }
        match percentile_interval(replicates, self.level) {
            Some(i) => FigureInterval {
                value: Some(value),
                lo: Some(i.lo),
                hi: Some(i.hi),
                n,
                why: None,
            },
            None => FigureInterval::without_interval(value, n, "no resample gave a number"),
        }
    }
}

// ---------------------------------------------------------------- latencies

/// Mean, p50 and p99 of one latency with their intervals.
fn latency_figures(
    repeats: &[&[RequestRecord]],
    metric: Metric,
    ask: &Ask,
    rng: &mut StdRng,
) -> BTreeMap<String, FigureInterval> {
    let key = metric.key();
    let names = [
        format!("{key}_mean_ms"),
        format!("{key}_p50_ms"),
        format!("{key}_p99_ms"),
    ];
    let Some(values) = latency_values(repeats, metric) else {
        let why = if repeats.iter().any(|r| r.iter().any(|r| !r.excluded)) {
            format!("no {} samples", key.to_uppercase())
        } else {
            "no measured requests".to_string()
        };
        return names
            .into_iter()
            .map(|k| (k, FigureInterval::missing(0, why.clone())))
            .collect();
    };
    let n = values.count;
    let stride = Stride {
        total: n,
        picked: n.min(ITL_SAMPLE_LIMIT as u64),
    };
    let groups: Vec<Vec<f64>> = repeats
        .iter()
        .map(|r| match metric {
            Metric::Itl => itl_series(r, stride),
            _ => {
                let mut v = Vec::new();
                for r in in_send_order(r) {
                    metric.each(r, |x| v.push(x));
                }
                v
            }
        })
        .filter(|g| !g.is_empty())
        .collect();
    let used = groups.iter().map(Vec::len).sum::<usize>();
    let wanted = [
        enough_for_mean(used),
        enough_for_percentile(used, 50.0),
        enough_for_percentile(used, 99.0),
    ];
    let [mut means, mut p50s, mut p99s] =
        if ask.problem.is_none() && wanted.iter().any(Result::is_ok) {
            latency_replicates(
                &groups,
                [wanted[0].is_ok(), wanted[1].is_ok(), wanted[2].is_ok()],
                ask.resamples,
                rng,
            )
        } else {
            Default::default()
        };
    let stats = [
        (values.mean, &mut means),
        (values.p50, &mut p50s),
        (values.p99, &mut p99s),
    ];
    names
        .into_iter()
        .zip(stats)
        .zip(wanted)
        .map(|((name, (value, reps)), ok)| {
            let f = match ok {
                Ok(()) => ask.figure(value, n, reps),
                Err(why) => FigureInterval::without_interval(value, n, why),
            };
            (name, f)
        })
        .collect()
}

fn enough_for_mean(n: usize) -> Result<(), String> {
    if n >= MIN_SAMPLES {
        Ok(())
    } else {
        Err(format!(
            "too few samples for the mean ({n}; needs {MIN_SAMPLES})"
        ))
    }
}

fn enough_for_percentile(n: usize, q: f64) -> Result<(), String> {
    let needs = min_samples_for_percentile(q);
    if n >= needs {
        Ok(())
    } else {
        Err(format!("too few samples for p{q} ({n}; needs {needs})"))
    }
}

/// A latency's figures over every sample of the pooled repeats.
struct LatencyValues {
    count: u64,
    mean: f64,
    p50: f64,
    p99: f64,
}

/// `summarize`'s mean, p50 and p99 of `metric` over the pooled repeats:
/// the same samples, summed in the same order, the same percentiles
/// (numpy `linear` up to [`EXACT_LIMIT`] samples, the histogram past it).
fn latency_values(repeats: &[&[RequestRecord]], metric: Metric) -> Option<LatencyValues> {
    let ok = || {
        repeats
            .iter()
            .flat_map(|r| r.iter())
            .filter(|r| !r.excluded && r.ok())
    };
    let count = match metric {
        Metric::Itl => ok().map(|r| r.itl_us.len()).sum::<usize>(),
        _ => {
            let mut c = 0;
            ok().for_each(|r| metric.each(r, |_| c += 1));
            c
        }
    };
    if count == 0 {
        return None;
    }
    if count > EXACT_LIMIT {
        let mut d = Distribution::default();
        ok().for_each(|r| metric.each(r, |x| d.add(x)));
        let s = d.stat(&[50.0, 99.0]);
        return Some(LatencyValues {
            count: s.count,
            mean: s.mean?,
            p50: s.percentiles.first().copied().flatten()?,
            p99: s.percentiles.get(1).copied().flatten()?,
        });
    }
    let mut all = Vec::with_capacity(count);
    ok().for_each(|r| metric.each(r, |x| all.push(x)));
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let [p50, p99] = quantiles(&mut all, [0.5, 0.99]);
    Some(LatencyValues {
        count: count as u64,
        mean,
        p50,
        p99,
    })
}

fn by_value(a: &f64, b: &f64) -> Ordering {
    a.total_cmp(b)
}

/// The quantiles `qs` (0..=1, ascending) of `v`, numpy's `linear` method,
/// by selection: O(n), `v` reordered. Each selection after the first
/// works only on the part above the previous one (for p50 then p99: half
/// the samples).
fn quantiles<const K: usize>(v: &mut [f64], qs: [f64; K]) -> [f64; K] {
    let mut out = [f64::NAN; K];
    if v.is_empty() {
        return out;
    }
    let last = (v.len() - 1) as f64;
    // everything from `from` on is ≥ everything before it
    let mut from = 0;
    for (q, slot) in qs.iter().zip(out.iter_mut()) {
        let rank = q.clamp(0.0, 1.0) * last;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        let frac = rank - lo as f64;
        let from_here = if lo >= from { from } else { 0 };
        let (_, a, right) = v[from_here..].select_nth_unstable_by(lo - from_here, by_value);
        let a = *a;
        let b = if hi > lo {
            right.iter().copied().min_by(by_value).unwrap_or(a)
        } else {
            a
        };
        *slot = a + (b - a) * frac;
        from = lo;
    }
    out
}

/// Which share of the ITL gaps an interval uses.
#[derive(Debug, Clone, Copy)]
struct Stride {
    total: u64,
    picked: u64,
}

/// One repeat's ITL gaps for the interval: about `picked / total` of them,
/// taken evenly over the requests in send order, then put in the order
/// they arrived.
fn itl_series(records: &[RequestRecord], stride: Stride) -> Vec<f64> {
    let mut timed: Vec<(Duration, f64)> = Vec::new();
    // gap k (counted over this repeat) is kept when ⌊k·picked/total⌋ steps up
    let mut k: u64 = 0;
    let keep = |k: u64| {
        let step = |k: u64| u128::from(k) * u128::from(stride.picked) / u128::from(stride.total);
        step(k + 1) > step(k)
    };
    for r in in_send_order(records) {
        let Some(ttft) = r.ttft else {
            k += r.itl_us.len() as u64;
            continue;
        };
        let mut at = origin(r).saturating_add(ttft);
        for us in &r.itl_us {
            at = at.saturating_add(Duration::from_micros(u64::from(*us)));
            if stride.picked >= stride.total || keep(k) {
                timed.push((at, f64::from(*us) / 1e3));
            }
            k += 1;
        }
    }
    timed.sort_by_key(|(at, _)| *at);
    timed.into_iter().map(|(_, v)| v).collect()
}

/// Bootstrap replicates of (mean, p50, p99) of the concatenated `groups`
/// (two-stage when there are several), each only where `wanted`.
fn latency_replicates(
    groups: &[Vec<f64>],
    wanted: [bool; 3],
    resamples: usize,
    rng: &mut StdRng,
) -> [Vec<f64>; 3] {
    let mut out: [Vec<f64>; 3] = Default::default();
    for (o, w) in out.iter_mut().zip(wanted) {
        if w {
            o.reserve(resamples);
        }
    }
    let capacity = groups.iter().map(Vec::len).max().unwrap_or(0) * groups.len();
    let mut buf: Vec<f64> = Vec::with_capacity(capacity + 64);
    let blocks: Vec<usize> = groups.iter().map(|g| auto_block_length(g)).collect();
    for _ in 0..resamples {
        buf.clear();
        draw_groups(groups.len(), rng, |g, rng| {
            resample_blocks(&groups[g], blocks[g], rng, &mut buf);
        });
        if buf.is_empty() {
            continue;
        }
        if wanted[0] {
            out[0].push(sum(&buf) / buf.len() as f64);
        }
        match (wanted[1], wanted[2]) {
            (true, true) => {
                let [p50, p99] = quantiles(&mut buf, [0.5, 0.99]);
                out[1].push(p50);
                out[2].push(p99);
            }
            (true, false) => out[1].push(quantiles(&mut buf, [0.5])[0]),
            (false, true) => out[2].push(quantiles(&mut buf, [0.99])[0]),
            (false, false) => {}
        }
    }
    out
}

/// Σ `v` over four running sums: four additions in flight instead of one
/// (the order differs from a plain sum, so this is for replicates, not
/// for the figures `summarize` must match).
fn sum(v: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = v.chunks_exact(4);
    let rest: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f64>() + rest
}

/// Stage one of the bootstrap: `f` for each of `count` groups drawn with
/// replacement (every group once, in order, when there is only one).
fn draw_groups(count: usize, rng: &mut StdRng, mut f: impl FnMut(usize, &mut StdRng)) {
    if count == 1 {
        f(0, rng);
        return;
    }
    for _ in 0..count {
        let g = rng.random_range(0..count);
        f(g, rng);
    }
}

// -------------------------------------------------------------------- rates

/// One repeat's measured window cut into bins.
struct RateSeries {
    /// Output tokens delivered per bin.
    tokens: Vec<f64>,
    /// Successful requests completed per bin.
    done: Vec<f64>,
    /// Successful requests within the SLO completed per bin.
    good: Vec<f64>,
    window: Duration,
}

/// What the rates of one repeat are made of. `None` without a measured
/// request.
fn rate_series(records: &[RequestRecord], slo: Option<&SloSection>) -> Option<RateSeries> {
    let (start, end) = window(records)?;
    let window = end - start;
    let n = records.iter().filter(|r| !r.excluded).count();
    let bins = rate_bins(n);
    let mut s = RateSeries {
        tokens: vec![0.0; bins],
        done: vec![0.0; bins],
        good: vec![0.0; bins],
        window,
    };
    let span = window.as_secs_f64();
    let bin_of = |at: Duration| -> usize {
        if span <= 0.0 {
            return 0;
        }
        let x = at.saturating_sub(start).as_secs_f64() / span * bins as f64;
        (x as usize).min(bins - 1)
    };
    for r in records.iter().filter(|r| !r.excluded && r.ok()) {
        let o = origin(r);
        let finished = bin_of(o.saturating_add(r.e2e));
        s.done[finished] += 1.0;
        if slo.is_some_and(|slo| meets(r, slo)) {
            s.good[finished] += 1.0;
        }
        match r.ttft {
            // streamed: each chunk's share at its arrival
            Some(ttft) => {
                let per_chunk = r.completion_tokens as f64 / (r.itl_us.len() + 1) as f64;
                let mut at = o.saturating_add(ttft);
                s.tokens[bin_of(at)] += per_chunk;
                for us in &r.itl_us {
                    at = at.saturating_add(Duration::from_micros(u64::from(*us)));
                    s.tokens[bin_of(at)] += per_chunk;
                }
            }
            // not streamed: every token when the response arrived
            None => s.tokens[finished] += r.completion_tokens as f64,
        }
    }
    Some(s)
}

/// Throughput, requests/s and goodput, with their intervals.
fn rate_figures(
    repeats: &[&[RequestRecord]],
    slo: Option<&SloSection>,
    ask: &Ask,
    rng: &mut StdRng,
) -> BTreeMap<String, FigureInterval> {
    let slo = slo.filter(|s| s.is_set());
    let measured = repeats
        .iter()
        .flat_map(|r| r.iter())
        .filter(|r| !r.excluded);
    let n = measured.clone().count() as u64;
    let (mut tokens, mut done, mut good) = (0u64, 0u64, 0u64);
    for r in measured.filter(|r| r.ok()) {
        tokens += r.completion_tokens;
        done += 1;
        if slo.is_some_and(|s| meets(r, s)) {
            good += 1;
        }
    }
    let series: Vec<RateSeries> = repeats.iter().filter_map(|r| rate_series(r, slo)).collect();
    let window: Duration = series.iter().map(|s| s.window).sum();
    let elapsed = window.as_secs_f64();
    let mut out = BTreeMap::new();
    let names = ["throughput_tps", "requests_per_s", "goodput_rps"];
    let why = if n == 0 {
        Some("no measured requests".to_string())
    } else if elapsed <= 0.0 {
        Some("the measured window has no length".to_string())
    } else {
        None
    };
    if let Some(why) = why {
        for name in names {
            out.insert(name.to_string(), FigureInterval::missing(n, why.clone()));
        }
        return out;
    }
    let bins: usize = series.iter().map(|s| s.tokens.len()).sum();
    let enough = if bins >= MIN_RATE_BINS {
        Ok(())
    } else {
        Err(format!(
            "too few time bins for a rate ({bins} from {n} requests; needs {MIN_RATE_BINS})"
        ))
    };
    let mut reps = match (&enough, &ask.problem) {
        (Ok(()), None) => rate_replicates(&series, ask.resamples, rng),
        _ => Default::default(),
    };
    let values = [tokens, done, good].map(|x| x as f64 / elapsed);
    for (i, name) in names.into_iter().enumerate() {
        let f = if i == 2 && slo.is_none() {
            FigureInterval::missing(n, "no [slo]")
        } else {
            match &enough {
                Ok(()) => ask.figure(values[i], n, &mut reps[i]),
                Err(why) => FigureInterval::without_interval(values[i], n, why.clone()),
            }
        };
        out.insert(name.to_string(), f);
    }
    out
}

/// Bootstrap replicates of (tokens, requests, requests within the SLO)
/// per second: the bins of the drawn repeats block-resampled (the same
/// blocks for all three), over the drawn repeats' windows.
fn rate_replicates(series: &[RateSeries], resamples: usize, rng: &mut StdRng) -> [Vec<f64>; 3] {
    let mut out: [Vec<f64>; 3] = Default::default();
    let blocks: Vec<usize> = series
        .iter()
        .map(|s| auto_block_length(&s.tokens).max(auto_block_length(&s.done)))
        .collect();
    for _ in 0..resamples {
        let mut sums = [0.0f64; 3];
        let mut window = Duration::ZERO;
        draw_groups(series.len(), rng, |g, rng| {
            let s = &series[g];
            let n = s.tokens.len();
            let b = blocks[g].clamp(1, n);
            // circular blocks (Politis & Romano, 1992): a block may wrap
            // from the window's end to its start, so every bin is drawn
            // as often as any other. Blocks that may not wrap draw the
            // window's first and last bins less often, and those hold the
            // least (a probe's requests share its edges with unmeasured
            // ones): the replicates then sat above the figure, and an
            // interval could miss its own estimate.
            let mut taken = 0;
            while taken < n {
                let from = rng.random_range(0..n);
                let len = b.min(n - taken);
                for k in 0..len {
                    let i = (from + k) % n;
                    sums[0] += s.tokens[i];
                    sums[1] += s.done[i];
                    sums[2] += s.good[i];
                }
                taken += len;
            }
            window += s.window;
        });
        let secs = window.as_secs_f64();
        for (o, sum) in out.iter_mut().zip(sums) {
            o.push(if secs > 0.0 { sum / secs } else { f64::NAN });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::record::ErrorKind;
    use crate::metrics::distribution::percentile;
    use crate::metrics::point::{PointMetrics, summarize};
    use rand_distr::{Distribution as _, Exp, LogNormal, Normal};

    const QS: &[f64] = &[50.0, 99.0];

    #[test]
    fn rate_replicates_centre_on_the_figure_even_with_depleted_edges() {
        // a window whose first and last bins hold little and whose bins
        // are strongly correlated (long blocks): every bin must be drawn
        // alike, or the replicates sit above the figure
        let n = 40usize;
        let tokens: Vec<f64> = (0..n)
            .map(|i| {
                if i < 4 || i >= n - 4 {
                    1.0
                } else {
                    100.0 + (i as f64).sin()
                }
            })
            .collect();
        let s = RateSeries {
            done: tokens.iter().map(|t| t / 10.0).collect(),
            good: vec![0.0; n],
            tokens: tokens.clone(),
            window: Duration::from_secs(10),
        };
        let figure = tokens.iter().sum::<f64>() / 10.0;
        let mut rng = StdRng::seed_from_u64(7);
        let [tps, ..] = rate_replicates(&[s], 4000, &mut rng);
        let mean = tps.iter().sum::<f64>() / tps.len() as f64;
        assert!(
            (mean - figure).abs() < 0.01 * figure,
            "replicates centre on {mean}, the figure is {figure}"
        );
    }

    fn opts(resamples: usize, seed: u64) -> IntervalOptions<'static> {
        IntervalOptions {
            resamples,
            seed,
            ..IntervalOptions::default()
        }
    }

    /// A streamed request sent at `sent_ms`: first token after `ttft_ms`,
    /// then `gaps_us`, done 1 ms after the last chunk.
    fn streamed(sent_ms: f64, ttft_ms: f64, gaps_us: Vec<u32>, tokens: u64) -> RequestRecord {
        let ttft = Duration::from_secs_f64(ttft_ms / 1e3);
        let decode: u64 = gaps_us.iter().map(|g| u64::from(*g)).sum();
        RequestRecord {
            sent_at: Duration::from_secs_f64(sent_ms / 1e3),
            ttft: Some(ttft),
            e2e: ttft + Duration::from_micros(decode + 1000),
            itl_us: gaps_us,
            completion_tokens: tokens,
            prompt_tokens: Some(10),
            usage_reported: true,
            ..Default::default()
        }
    }

    /// A point of every kind of record: streamed, not streamed, one-token,
    /// failed, excluded, queued (open loop), in shuffled order.
    fn mixed_point(n: usize, seed: u64) -> Vec<RequestRecord> {
        let mut rng = StdRng::seed_from_u64(seed);
        let ttft = LogNormal::new(4.0, 0.6).unwrap();
        let mut recs: Vec<RequestRecord> = (0..n)
            .map(|i| {
                let gaps: Vec<u32> = (0..rng.random_range(0..40))
                    .map(|_| rng.random_range(500..30_000))
                    .collect();
                let tokens = gaps.len() as u64 + 1;
                let mut r = streamed(i as f64 * 37.0, ttft.sample(&mut rng), gaps, tokens);
                r.seq = i as u64;
                match rng.random_range(0..20) {
                    0 => r.error = Some((ErrorKind::Timeout, "slow".into())),
                    1 => r.excluded = true,
                    2 => {
                        r.ttft = None;
                        r.itl_us.clear();
                    }
                    3 => r.queue = Duration::from_millis(rng.random_range(0..30)),
                    _ => {}
                }
                r
            })
            .collect();
        // completion order, not send order
        recs.sort_by_key(|r| r.sent_at + r.e2e);
        recs
    }

    fn figures(m: &PointMetrics) -> Vec<(&'static str, Option<f64>)> {
        let stats = [
            ("ttft", &m.ttft_ms),
            ("tpot", &m.tpot_ms),
            ("itl", &m.itl_ms),
            ("e2e", &m.e2e_ms),
        ];
        let mut v = vec![
            ("throughput_tps", Some(m.throughput_tps)),
            ("requests_per_s", Some(m.requests_per_s)),
            ("goodput_rps", m.slo.as_ref().map(|s| s.goodput_rps)),
        ];
        for (i, (_, s)) in stats.iter().enumerate() {
            let keys = &FIGURES[3 + 3 * i..6 + 3 * i];
            v.push((keys[0], s.mean));
            v.push((keys[1], s.at(QS, 50.0)));
            v.push((keys[2], s.at(QS, 99.0)));
        }
        v
    }

    fn assert_values_match(p: &PointIntervals, m: &PointMetrics) {
        for (key, expected) in figures(m) {
            let f = &p.figures[key];
            assert_eq!(f.value, expected, "{key}");
        }
    }

    #[test]
    fn values_are_what_summarize_gives_for_every_figure() {
        let slo = SloSection {
            ttft_ms: Some(crate::spec::units::PositiveMillis::lit(80.0)),
            tpot_ms: Some(crate::spec::units::PositiveMillis::lit(12.0)),
            e2e_ms: None,
        };
        let recs = mixed_point(900, 1);
        let o = IntervalOptions {
            slo: Some(&slo),
            ..opts(50, 1)
        };
        let p = intervals(&[&recs], &o);
        let m = summarize(&recs, &o.summary_options(QS));
        assert_values_match(&p, &m);
        assert_eq!(p.figures.len(), FIGURES.len());
        // enough of everything for every interval
        for key in FIGURES {
            let f = &p.figures[key];
            let (v, lo, hi) = (f.value.unwrap(), f.lo.unwrap(), f.hi.unwrap());
            assert!(lo <= v && v <= hi, "{key}: {v} not in [{lo}, {hi}]");
            assert_eq!(f.why, None, "{key}");
        }
        assert_eq!(p.figures["ttft_mean_ms"].n, m.ttft_ms.count);
        assert_eq!(p.figures["itl_p99_ms"].n, m.itl_ms.count);
        assert_eq!(p.figures["throughput_tps"].n, m.requests);
    }

    #[test]
    fn repeats_combine_into_the_figures_of_their_pooled_records() {
        let slo = SloSection {
            e2e_ms: Some(crate::spec::units::PositiveMillis::lit(300.0)),
            ..Default::default()
        };
        let (a, b, mut c) = (
            mixed_point(300, 2),
            mixed_point(200, 3),
            mixed_point(250, 4),
        );
        // the third repeat's clock starts late
        for r in &mut c {
            r.sent_at += Duration::from_secs(500);
        }
        let repeats: [&[RequestRecord]; 3] = [&a, &b, &c];
        let o = IntervalOptions {
            slo: Some(&slo),
            ..opts(50, 2)
        };
        let p = intervals(&repeats, &o);
        let pooled = pooled(&repeats);
        let m = summarize(&pooled, &o.summary_options(QS));
        assert_values_match(&p, &m);
        assert_eq!(p.repeats, 3);
        assert!(p.method.contains("two-stage"), "{}", p.method);
        // the windows are laid end to end: they add up
        let each: f64 = repeats
            .iter()
            .map(|r| summarize(r, &o.summary_options(QS)).elapsed_s)
            .sum();
        assert!(
            (m.elapsed_s - each).abs() < 1e-9,
            "{} vs {each}",
            m.elapsed_s
        );
        assert_eq!(pooled.len(), 750);
    }

    #[test]
    fn selection_gives_numpy_linear_percentiles() {
        let mut rng = StdRng::seed_from_u64(5);
        for n in [1usize, 2, 3, 10, 99, 100, 101, 1000] {
            let v: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..100.0)).collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            let mut w = v.clone();
            let [p1, p50, p90, p99] = quantiles(&mut w, [0.01, 0.5, 0.9, 0.99]);
            assert_eq!(Some(p99), percentile(&sorted, 99.0), "n={n}");
            assert_eq!(Some(p90), percentile(&sorted, 90.0), "n={n}");
            assert_eq!(Some(p50), percentile(&sorted, 50.0), "n={n}");
            assert_eq!(Some(p1), percentile(&sorted, 1.0), "n={n}");
        }
        assert!(quantiles(&mut [], [0.5])[0].is_nan());
        // out of order still right, just slower
        let mut w = vec![3.0, 1.0, 2.0];
        assert_eq!(quantiles(&mut w, [1.0, 0.0]), [3.0, 1.0]);
    }

    /// A point of `n` requests whose TTFT is log-normal (median `median`,
    /// log-sd `sigma`); with `phi` > 0 the log TTFTs form an AR(1) series
    /// (correlated neighbours) with the same marginal distribution.
    fn lognormal_point(
        n: usize,
        median: f64,
        sigma: f64,
        phi: f64,
        seed: u64,
    ) -> Vec<RequestRecord> {
        let mut rng = StdRng::seed_from_u64(seed);
        let shock = Normal::new(0.0, sigma * (1.0 - phi * phi).sqrt()).unwrap();
        let mut x = Normal::new(0.0, sigma).unwrap().sample(&mut rng);
        (0..n)
            .map(|i| {
                let ttft = median * x.exp();
                x = phi * x + shock.sample(&mut rng);
                let mut r = streamed(i as f64 * 50.0, ttft, Vec::new(), 1);
                r.seq = i as u64;
                r
            })
            .collect()
    }

    /// How often, over `points` simulated points, the 95% intervals of the
    /// TTFT mean and median cover the true ones.
    fn ttft_coverage(points: u64, n: usize, phi: f64, resamples: usize) -> (f64, f64) {
        let (median, sigma) = (100.0, 0.5);
        let true_mean = median * (sigma * sigma / 2.0f64).exp();
        let (mut mean_hits, mut median_hits) = (0, 0);
        for t in 0..points {
            let recs = lognormal_point(n, median, sigma, phi, 100 + t);
            let ttft: Vec<f64> = recs.iter().filter_map(|r| r.ttft.map(ms)).collect();
            // what latency_figures does, without the p99 nobody checks here
            let mut rng = StdRng::seed_from_u64(t);
            let [mut means, mut p50s, _] =
                latency_replicates(&[ttft], [true, true, false], resamples, &mut rng);
            let mut covers = |key: &str, truth: f64| {
                let reps = if key == "ttft_mean_ms" {
                    &mut means
                } else {
                    &mut p50s
                };
                percentile_interval(reps, 0.95).is_some_and(|i| i.contains(truth))
            };
            mean_hits += u32::from(covers("ttft_mean_ms", true_mean));
            median_hits += u32::from(covers("ttft_p50_ms", median));
        }
        (
            f64::from(mean_hits) / points as f64,
            f64::from(median_hits) / points as f64,
        )
    }

    /// Accepted band for a nominal 95% over 200 simulated points: 0.88 to
    /// 0.99 (the percentile bootstrap runs a little under its level at
    /// these sizes; the binomial spread of 200 trials is ±0.03).
    const BAND: std::ops::RangeInclusive<f64> = 0.88..=0.99;

    /// 0.935 (mean) and 0.91 (median) with these seeds.
    #[test]
    fn ttft_intervals_cover_the_true_mean_and_median_of_independent_samples() {
        let (mean, median) = ttft_coverage(200, 300, 0.0, 250);
        assert!(BAND.contains(&mean), "mean coverage {mean}");
        assert!(BAND.contains(&median), "median coverage {median}");
    }

    /// Log TTFT an AR(1) series with φ = 0.5 (three times the variance of
    /// the mean that independent samples would have): 0.905 (mean) and
    /// 0.90 (median) with these seeds.
    #[test]
    fn ttft_intervals_cover_the_true_mean_and_median_of_correlated_samples() {
        let (mean, median) = ttft_coverage(200, 600, 0.5, 250);
        assert!(BAND.contains(&mean), "mean coverage {mean}");
        assert!(BAND.contains(&median), "median coverage {median}");
    }

    /// A closed loop of `workers`, each sending its next request when the
    /// last one ends: TTFT log-normal (mean 200 ms), then 15 more tokens
    /// at exponential gaps (mean 20 ms): 500 ms per request on average, so
    /// the true rates are workers / 0.5 s requests/s and 16 times that in
    /// tokens/s. Requests sent in [2 s, 2 s + `measure_s`) are measured.
    fn closed_loop(workers: usize, measure_s: f64, seed: u64) -> Vec<RequestRecord> {
        let mut rng = StdRng::seed_from_u64(seed);
        let ttft = LogNormal::new(200f64.ln() - 0.125, 0.5).unwrap();
        let gap = Exp::new(1.0f64 / 20.0).unwrap();
        let mut recs = Vec::new();
        for _ in 0..workers {
            let mut t = rng.random_range(0.0..500.0);
            while t < (2.0 + measure_s + 5.0) * 1e3 {
                let gaps: Vec<u32> = (0..15)
                    .map(|_| (gap.sample(&mut rng) * 1e3).round() as u32)
                    .collect();
                let first = ttft.sample(&mut rng);
                let mut r = streamed(t, first, gaps, 16);
                // done at the last chunk
                r.e2e -= Duration::from_millis(1);
                r.excluded = !(2e3..(2.0 + measure_s) * 1e3).contains(&t);
                t += r.e2e.as_secs_f64() * 1e3;
                recs.push(r);
            }
        }
        recs.sort_by_key(|r| r.sent_at);
        for (i, r) in recs.iter_mut().enumerate() {
            r.seq = i as u64;
        }
        recs
    }

    /// Four workers for 150 s (about 1,200 measured requests): 0.91
    /// (throughput) and 0.935 (requests/s) with these seeds. The measured
    /// window's edges bias the figure a little low (the workers' first and
    /// last requests do not fill it), which the band absorbs.
    #[test]
    fn rate_intervals_cover_the_true_rate_of_a_closed_loop() {
        let (workers, points) = (4, 200);
        let true_rps = workers as f64 / 0.5;
        let (mut tps_hits, mut rps_hits) = (0, 0);
        for t in 0..points {
            let recs = closed_loop(workers, 150.0, 1000 + t);
            let f = family_figures(&[&recs], &opts(200, t), Family::Rates, 200);
            let covers = |key: &str, truth: f64| {
                let f = &f[key];
                f.lo.unwrap() <= truth && truth <= f.hi.unwrap()
            };
            tps_hits += u32::from(covers("throughput_tps", 16.0 * true_rps));
            rps_hits += u32::from(covers("requests_per_s", true_rps));
        }
        let tps = f64::from(tps_hits) / points as f64;
        let rps = f64::from(rps_hits) / points as f64;
        assert!(BAND.contains(&tps), "throughput coverage {tps}");
        assert!(BAND.contains(&rps), "requests/s coverage {rps}");
    }

    /// Every figure of `points`, pooled, with its half-width (% of value).
    fn widths(p: &PointIntervals) -> BTreeMap<&str, f64> {
        FIGURES
            .iter()
            .filter_map(|k| {
                let f = &p.figures[*k];
                Some((*k, (f.hi? - f.lo?) / 2.0 / f.value? * 100.0))
            })
            .collect()
    }

    #[test]
    fn repeats_at_different_levels_widen_the_interval() {
        // two repeats of one point, the second 30% slower throughout
        let a = lognormal_point(400, 100.0, 0.3, 0.0, 7);
        let mut b = lognormal_point(400, 130.0, 0.3, 0.0, 8);
        for r in &mut b {
            r.sent_at += Duration::from_secs(60);
        }
        let o = opts(300, 3);
        let two = intervals(&[&a, &b], &o);
        // the same records as if they were one measurement
        let one = intervals(&[&pooled(&[&a, &b])], &o);
        assert_eq!(
            two.figures["ttft_mean_ms"].value,
            one.figures["ttft_mean_ms"].value
        );
        let (w2, w1) = (widths(&two), widths(&one));
        for key in ["ttft_mean_ms", "ttft_p50_ms", "e2e_mean_ms"] {
            assert!(w2[key] > 1.5 * w1[key], "{key}: {} vs {}", w2[key], w1[key]);
        }
        // and repeats that agree do not
        let c = lognormal_point(400, 100.0, 0.3, 0.0, 9);
        let same = intervals(&[&a, &c], &o);
        assert!(
            widths(&same)["ttft_mean_ms"] < w2["ttft_mean_ms"] / 2.0,
            "{:?}",
            widths(&same)
        );
    }

    #[test]
    fn too_few_samples_give_a_reason_and_no_interval() {
        assert_eq!(min_samples_for_percentile(50.0), 10);
        assert_eq!(min_samples_for_percentile(90.0), 50);
        assert_eq!(min_samples_for_percentile(99.0), 500);
        assert_eq!(min_samples_for_percentile(99.9), 5000);
        assert_eq!(min_samples_for_percentile(100.0), usize::MAX);

        let f = intervals(&[&lognormal_point(5, 100.0, 0.3, 0.0, 1)], &opts(50, 1)).figures;
        let mean = &f["ttft_mean_ms"];
        assert!(mean.value.is_some() && mean.lo.is_none() && mean.hi.is_none());
        assert_eq!(
            mean.why.as_deref(),
            Some("too few samples for the mean (5; needs 10)")
        );
        assert_eq!(
            f["ttft_p50_ms"].why.as_deref(),
            Some("too few samples for p50 (5; needs 10)")
        );
        assert_eq!(
            f["throughput_tps"].why.as_deref(),
            Some("too few time bins for a rate (4 from 5 requests; needs 10)")
        );
        // one-token responses have no TPOT, and no ITL
        assert_eq!(f["tpot_mean_ms"].value, None);
        assert_eq!(f["tpot_mean_ms"].why.as_deref(), Some("no TPOT samples"));
        assert_eq!(f["itl_p99_ms"].why.as_deref(), Some("no ITL samples"));
        assert_eq!(f["goodput_rps"].why.as_deref(), Some("no [slo]"));
        assert_eq!(f["goodput_rps"].value, None);

        let f = intervals(&[&lognormal_point(100, 100.0, 0.3, 0.0, 2)], &opts(50, 1)).figures;
        for key in [
            "ttft_mean_ms",
            "ttft_p50_ms",
            "throughput_tps",
            "requests_per_s",
        ] {
            assert_eq!(f[key].why, None, "{key}");
            assert!(f[key].lo.is_some(), "{key}");
        }
        assert_eq!(
            f["ttft_p99_ms"].why.as_deref(),
            Some("too few samples for p99 (100; needs 500)")
        );
        assert!(f["ttft_p99_ms"].value.is_some());
        // 22 requests make 11 bins: enough for a rate
        assert_eq!(rate_bins(21), 10);
        assert_eq!(rate_bins(22), 11);
        assert_eq!(rate_bins(16), 8);

        // nothing measured: every figure says so
        let mut warm = lognormal_point(30, 100.0, 0.3, 0.0, 3);
        warm.iter_mut().for_each(|r| r.excluded = true);
        for recs in [Vec::new(), warm] {
            let p = intervals(&[&recs], &opts(50, 1));
            for key in FIGURES {
                let f = &p.figures[key];
                assert_eq!(f.value, None, "{key}");
                assert_eq!(f.why.as_deref(), Some("no measured requests"), "{key}");
            }
        }
        assert_eq!(intervals(&[], &opts(50, 1)).figures.len(), FIGURES.len());
    }

    #[test]
    fn bad_options_keep_the_figures_and_say_why_there_is_no_interval() {
        let recs = lognormal_point(200, 100.0, 0.3, 0.0, 1);
        for (o, why) in [
            (
                IntervalOptions {
                    level: 1.0,
                    ..opts(50, 1)
                },
                "the level must be between 0 and 1 (it is 1)",
            ),
            (opts(0, 1), "no resamples asked for"),
        ] {
            let p = intervals(&[&recs], &o);
            for key in ["throughput_tps", "ttft_mean_ms"] {
                let f = &p.figures[key];
                assert!(f.value.is_some() && f.lo.is_none(), "{key}");
                assert_eq!(f.why.as_deref(), Some(why), "{key}");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_intervals() {
        let recs = mixed_point(300, 9);
        let a = intervals(&[&recs], &opts(50, 4));
        assert_eq!(a, intervals(&[&recs], &opts(50, 4)));
        assert_ne!(a, intervals(&[&recs], &opts(50, 5)));
    }

    #[test]
    fn itl_intervals_use_at_most_twenty_thousand_gaps_taken_evenly() {
        // 300 requests of 100 gaps: 30,000
        let recs: Vec<RequestRecord> = (0..300)
            .map(|i| streamed(f64::from(i) * 40.0, 50.0, vec![10_000 + i as u32; 100], 101))
            .collect();
        let stride = Stride {
            total: 30_000,
            picked: ITL_SAMPLE_LIMIT as u64,
        };
        let used = itl_series(&recs, stride);
        assert_eq!(used.len(), ITL_SAMPLE_LIMIT);
        // every request is represented (two gaps in three)
        let mut distinct = used.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert_eq!(distinct.len(), 300);
        let p = intervals(&[&recs], &opts(20, 1));
        let m = summarize(&recs, &IntervalOptions::default().summary_options(QS));
        assert_eq!(p.figures["itl_mean_ms"].n, 30_000);
        assert_eq!(p.figures["itl_p99_ms"].value, m.itl_ms.at(QS, 99.0));
        assert!(p.figures["itl_p99_ms"].lo.is_some());
    }

    #[test]
    fn half_width_is_a_percentage_of_the_figure() {
        let recs = closed_loop(4, 60.0, 3);
        let o = opts(1000, 1);
        let tps = half_width_pct(&recs, "throughput_tps", &o).unwrap();
        assert!(tps > 0.0 && tps < 20.0, "{tps}");
        let ttft = half_width_pct(&recs, "ttft_p50_ms", &o).unwrap();
        assert!(ttft > 0.0 && ttft < 20.0, "{ttft}");
        // more requests, a tighter figure
        let longer = half_width_pct(&closed_loop(4, 240.0, 3), "throughput_tps", &o).unwrap();
        assert!(longer < tps, "{longer} vs {tps}");
        assert_eq!(half_width_pct(&recs, "throughput", &o), None);
        assert_eq!(half_width_pct(&recs[..20], "ttft_p99_ms", &o), None);
    }

    #[test]
    fn the_json_has_the_shape_of_report_jsonl() {
        let recs = lognormal_point(50, 100.0, 0.3, 0.0, 1);
        let v = serde_json::to_value(intervals(&[&recs], &opts(20, 1))).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["figures", "level", "method", "repeats", "resamples"]);
        assert_eq!(v["level"], 0.95);
        assert_eq!(v["repeats"], 1);
        let figures = v["figures"].as_object().unwrap();
        let mut expected = FIGURES.to_vec();
        expected.sort_unstable();
        assert_eq!(
            figures.keys().map(String::as_str).collect::<Vec<_>>(),
            expected
        );
        let f = &v["figures"]["ttft_p99_ms"];
        assert_eq!(f["lo"], serde_json::Value::Null);
        assert_eq!(f["n"], 50);
        assert_eq!(f["why"], "too few samples for p99 (50; needs 500)");
        assert!(v["figures"]["ttft_mean_ms"]["lo"].is_f64());
        assert_eq!(v["figures"]["ttft_mean_ms"]["why"], serde_json::Value::Null);
    }

    /// The cost benchmark, by hand (release build):
    /// `cargo test --release --lib cost_of_a -- --ignored --nocapture`.
    /// A closed loop of 64 workers, 20,000 measured requests of 128
    /// streamed tokens (2.5 million ITL gaps), every figure at 1,000
    /// resamples.
    #[test]
    #[ignore]
    fn cost_of_a_20000_request_point() {
        let mut rng = StdRng::seed_from_u64(1);
        let ttft = LogNormal::new(5.0, 0.5).unwrap();
        let gap = Exp::new(1.0f64 / 25.0).unwrap();
        let mut free_at = [0.0f64; 64];
        let recs: Vec<RequestRecord> = (0..20_000)
            .map(|i| {
                let w = i % 64;
                let gaps: Vec<u32> = (0..127)
                    .map(|_| (gap.sample(&mut rng) * 1e3) as u32)
                    .collect();
                let mut r = streamed(free_at[w], ttft.sample(&mut rng), gaps, 128);
                r.seq = i as u64;
                free_at[w] += r.e2e.as_secs_f64() * 1e3;
                r
            })
            .collect();
        let slo = SloSection {
            ttft_ms: Some(crate::spec::units::PositiveMillis::lit(200.0)),
            ..Default::default()
        };
        let o = IntervalOptions {
            slo: Some(&slo),
            ..IntervalOptions::default()
        };
        let cpu = crate::monitor::collector::thread_cpu_time;
        // (wall, this thread's CPU) of `f`, in ms
        let timed = |f: &mut dyn FnMut()| {
            let (wall, used) = (std::time::Instant::now(), cpu());
            f();
            let used = cpu().zip(used).map(|(b, a)| (b - a).as_secs_f64() * 1e3);
            (wall.elapsed().as_secs_f64() * 1e3, used.unwrap_or(f64::NAN))
        };
        let mut p = None;
        let (wall, used) = timed(&mut || p = Some(intervals(&[&recs], &o)));
        let p = p.unwrap();
        let mut m = None;
        let (s_wall, s_used) = timed(&mut || m = Some(summarize(&recs, &o.summary_options(QS))));
        let m = m.unwrap();
        println!(
            "every figure of 20,000 requests x 128 tokens, {} resamples: {wall:.0} ms wall, \
             {used:.0} ms CPU (summarize: {s_wall:.0} ms wall, {s_used:.0} ms CPU; the \
             point's own wall time: {:.0} s)",
            p.resamples, m.elapsed_s
        );
        for family in Family::ALL {
            let (wall, used) = timed(&mut || {
                family_figures(&[&recs], &o, family, o.resamples);
            });
            println!("  {family:?}: {wall:.0} ms wall, {used:.0} ms CPU");
        }
        assert_values_match(&p, &m);
        assert!(
            !m.itl_ms.exact,
            "past the exact limit: the histogram answers"
        );
        for key in FIGURES {
            assert_eq!(p.figures[key].why, None, "{key}");
        }
    }
}
