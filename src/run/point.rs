//! One point measured: load against the running servers, metrics from
//! its records, per-instance attribution, the server's own metrics, the
//! machine's health over its window, and the client check against the
//! calibration.

use std::sync::Arc;

use super::media::point_media;
use super::requests::*;
use super::sweep::*;
use crate::backend::mode::{DEFAULT_CACHE_SHARE, cache_note};
use crate::load::driver::{StopRule, run_load_until};
use crate::load::record::RequestRecord;
use crate::metrics::calibration::Calibration;
use crate::metrics::per_instance::{self, account};
use crate::metrics::point::PointMetrics;
use crate::metrics::point::{SummaryOptions, measured_window, summarize};
use crate::metrics::precision::{PrecisionRecord, tightness};
use crate::metrics::stability::stability;
use crate::metrics::uncertainty::{IntervalOptions, intervals};
use crate::metrics::{client_cpu, prometheus};
use crate::monitor::WindowStats;
use crate::monitor::energy::{Energy, WindowTrace};
use crate::output::quality::SystemHealth;
use crate::output::requests_log::{PointContext, REQUESTS_FILE};
use crate::output::row::{PointRow, RowKind, Status};
use crate::scenario::Scenario;
use crate::scenario::expand::{Point, ServerConfig};
use crate::scenario::prompts::workload_spec;
use crate::server::access_log;
use crate::server::set::ServerSet;
use crate::spec::scenario::RouterKind;
use crate::workload::build_prompts;

/// Send lag (p99) above which the client itself is called lagging.
pub const LAGGING_MS: f64 = 5.0;

/// Whether the client may have limited point `m`: `ok`, or the reasons
/// (near the calibrated ceiling, lagging, or no calibration to compare with).
pub fn client_check(cal: Option<&Calibration>, m: &PointMetrics) -> String {
    let mut why = Vec::new();
    match cal {
        Some(c) => {
            let events_per_s = if m.elapsed_s > 0.0 {
                m.content_events as f64 / m.elapsed_s
            } else {
                0.0
            };
            if let Some(near) = c.near_ceiling(m.requests_per_s, events_per_s) {
                why.push(format!("near_ceiling ({near})"));
            }
        }
        None => why.push("uncalibrated (run mlxrun calibrate)".to_string()),
    }
    if let Some(lag) = m
        .client_lag_ms
        .at(&m.percentiles, 99.0)
        .or(m.client_lag_ms.max)
        && lag > LAGGING_MS
    {
        why.push(format!("lagging (send lag p99 {lag:.1} ms)"));
    }
    if why.is_empty() {
        "ok".into()
    } else {
        why.join("; ")
    }
}

/// The seed of a point's intervals: the workload's seed and the point, so
/// the same run gives the same intervals.
pub(super) fn interval_seed(s: &Scenario, point: &Point) -> u64 {
    s.workload.seed ^ (point.index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// How the intervals of `point` are computed: the scenario's level and
/// resamples, its SLO, and a seed of its own.
pub(super) fn interval_options<'a>(s: &'a Scenario, point: &Point) -> IntervalOptions<'a> {
    IntervalOptions {
        level: s.metrics.confidence,
        resamples: s.metrics.resamples,
        seed: interval_seed(s, point),
        slo: s.slo.is_set().then_some(&s.slo),
        max_tokens: point.max_tokens,
    }
}

impl Sweep<'_> {
    pub(super) fn failed_row(&self, cfg: &ServerConfig, point: &Point, why: &str) -> PointRow {
        let mut row = PointRow::failed(cfg, point, why);
        row.ranks = cfg.ranks_total;
        row
    }

    /// Measure one repeat of `point`: its row and its records.
    pub(super) async fn measure(
        &mut self,
        cfg: &ServerConfig,
        point: &Point,
        repeat: Repeat,
    ) -> (PointRow, Vec<RequestRecord>) {
        let mut records = Vec::new();
        let mut row = self.measure_into(cfg, point, repeat, &mut records).await;
        if repeat.of > 1 {
            row.row_kind = RowKind::Repeat;
            row.repeat = Some(repeat.index);
        }
        row.repeats = repeat.of;
        (row, records)
    }

    async fn measure_into(
        &mut self,
        cfg: &ServerConfig,
        point: &Point,
        repeat: Repeat,
        records: &mut Vec<RequestRecord>,
    ) -> PointRow {
        let s = &self.ctx.scenario;
        let ranks = cfg.ranks_total;
        let Some(set) = self.set.as_ref() else {
            return self.failed_row(cfg, point, "servers not running");
        };
        let cache_failures = set.reset_caches(self.ctx).await;
        for f in &cache_failures {
            self.progress.eprintln(&format!(
                "warning: cache reset before point {}: {f}",
                point.index + 1
            ));
        }
        let tag = if repeat.of > 1 {
            format!("p{}r{}", point.index + 1, repeat.index)
        } else {
            format!("p{}", point.index + 1)
        };
        let load_plan = load_plan_with(s, point, self.steady_edges);
        let Some(model) = self.ctx.models.get(cfg.model) else {
            return self.failed_row(cfg, point, "unknown model");
        };
        let cap = precision_cap(s, point);
        let prompts = match build_prompts(
            &workload_spec(s, model, point),
            prompt_count(&with_cap(load_plan, cap)),
        ) {
            Ok(p) => p,
            Err(e) => return self.failed_row(cfg, point, &format!("prompts: {e}")),
        };
        let media = match point_media(point, &s.workload, prompts.len()) {
            Ok(m) => m,
            Err(e) => return self.failed_row(cfg, point, &format!("media: {e}")),
        };
        let spec = match self.request_spec(
            cfg,
            set,
            tag.clone(),
            BodyParts::for_point(point, &s.workload, prompts, media),
        ) {
            Ok(spec) => spec,
            Err(e) => return self.failed_row(cfg, point, &e),
        };
        let metrics_before = set.scrape_metrics(self.ctx).await;
        let access_log = set.access_log(&self.ctx.run_dir);
        let log_from = access_log.as_deref().map(access_log::offset).unwrap_or(0);
        let addresses = set.addresses();
        let preview = PointRow::with_ranks(cfg, point, Default::default(), ranks);
        let bar = load_plan.bound.count();
        self.progress.start_point(&preview.params(), bar);
        self.progress.phase("");
        let (started_at, started_ts) = now_utc_and_epoch();
        self.monitor.begin_window(serde_json::json!({
            "point": point.index + 1,
            "config": cfg.index + 1,
            "model": cfg.model_name,
            "params": preview.params(),
        }));
        let progress = self.progress;
        let cpu_before = client_cpu::cpu_time();
        let stop = cap.map(|max_measured| StopRule {
            max_measured,
            max_time: s.run.precision.max_s.duration(),
            tight: tightness(
                &s.run.precision,
                s.metrics.confidence,
                interval_seed(s, point),
                s.metrics.resamples,
            ),
        });
        let mut load = run_load_until(
            &self.ctx.client,
            Arc::new(spec),
            load_plan,
            stop,
            &self.ctx.cancel,
            |_| progress.request_done(),
        )
        .await;
        // a panic elsewhere (a load task, the monitor) is stopping the
        // servers: nothing of this point is written
        crate::shutdown::hold_while_panicking();
        let cpu_after = client_cpu::cpu_time();
        let (window, power) = self.monitor.end_window_traced();
        let source = match (&access_log, cfg.router) {
            (Some(log), _) => {
                let map = access_log::wait_for(log, log_from, &tag, load.records.len()).await;
                per_instance::attribute(&mut load.records, &map, &addresses);
                "nginx_access_log"
            }
            (None, RouterKind::Client) => "client",
            (None, _) => "single",
        };
        let summary = SummaryOptions {
            percentiles: &s.metrics.percentiles,
            slo: s.slo.is_set().then_some(&s.slo),
            max_tokens: point.max_tokens,
            open_loop: point.open_loop(),
        };
        if let Err(e) = self.requests.write_point(
            &PointContext {
                point: point.index + 1,
                repeat: (repeat.of > 1).then_some(repeat.index),
                start_epoch_s: started_ts,
            },
            &load.records,
        ) {
            self.progress.eprintln(&format!(
                "warning: point {}: cannot write {REQUESTS_FILE}: {e}",
                point.index + 1
            ));
        }
        let analysis = std::time::Instant::now();
        let mut metrics = summarize(&load.records, &summary);
        let intervals = intervals(&[&load.records], &interval_options(s, point));
        let stability = stability(&load.records);
        let analysis_ms = analysis.elapsed().as_secs_f64() * 1e3;
        metrics.client_cpu_ms_per_req =
            client_cpu::per_request_ms(cpu_before, cpu_after, load.records.len());
        let client_check = client_check(self.calibration.as_ref(), &metrics);
        let cache = metrics
            .cached_tokens
            .and_then(|c| cache_note(c, metrics.prompt_tokens, DEFAULT_CACHE_SHARE));
        let mut row = PointRow::with_ranks(cfg, point, metrics, ranks);
        row.server_mode.extend(cache);
        row.request_flags.extend(stability.flags.iter().cloned());
        row.precision = load.stopped_by.map(|stopped_by| {
            PrecisionRecord::of(
                &s.run.precision,
                stopped_by,
                load.stop_checks,
                row.metrics.requests,
                &intervals,
            )
        });
        row.intervals = Some(intervals);
        row.stability = Some(stability);
        row.analysis_ms = Some(analysis_ms);
        row.client_check = client_check;
        row.per_instance = account(&load.records, &addresses, source);
        if let Some(set) = self.set.as_ref() {
            let after = set.scrape_metrics(self.ctx).await;
            row.server_metrics = prometheus::deltas(metrics_before, after);
        }
        row.started_at = started_at;
        row.started_ts = started_ts;
        (row.ended_at, row.ended_ts) = now_utc_and_epoch();
        row.health = self.health(&window);
        row.server_rss_peak_mb = window.server_rss_peak_mb;
        row.resources = serde_json::to_value(&window).ok();
        row.energy = Some(self.point_energy(
            &power,
            load.started,
            &load.records,
            row.metrics.completion_tokens,
        ));
        if !cache_failures.is_empty() && row.status_detail.is_empty() {
            row.status_detail = format!("cache reset failed: {}", cache_failures.join("; "));
        }
        let dead = self.set.as_mut().map(ServerSet::exited).unwrap_or_default();
        if !dead.is_empty() {
            let why = format!("server exited during the point: {}", dead.join(", "));
            self.progress.eprintln(&format!(
                "error: point {}: {why}; restarting the configuration",
                point.index + 1
            ));
            row.status_detail = why;
            if row.metrics.ok_requests == 0 {
                row.status = Status::Failed;
            }
            self.stop_set().await;
        }
        if load.deadline_hit {
            let why = format!(
                "point deadline of {:.1} s reached (run.point_timeout_s): {} request(s) in flight recorded as timeouts, {} finished",
                load_plan.deadline.unwrap_or_default().as_secs_f64(),
                load.cut_off,
                load.records.len() as u64 - load.cut_off,
            );
            self.progress
                .eprintln(&format!("warning: point {}: {why}", point.index + 1));
            // it explains the timeouts better than the first of them does
            row.status_detail = if dead.is_empty() {
                why
            } else {
                format!("{}; {why}", row.status_detail)
            };
        }
        if load.interrupted {
            row.status = Status::Interrupted;
            row.status_detail = format!(
                "interrupted after {} request(s) of {}",
                load.records.len(),
                point.bound_label()
            );
        }
        *records = std::mem::take(&mut load.records);
        row
    }

    /// The energy over exactly the point's measured window (that of its
    /// throughput), for the output tokens of its measured requests.
    fn point_energy(
        &self,
        power: &WindowTrace,
        load_started: Option<std::time::Instant>,
        records: &[RequestRecord],
        tokens: u64,
    ) -> Energy {
        let (Some(start), Some((from, to))) = (load_started, measured_window(records)) else {
            return Energy::unknown("no measured request: no window");
        };
        power.energy(
            self.monitor.clock_s(start + from),
            self.monitor.clock_s(start + to),
            tokens,
        )
    }

    /// The machine during a point: the monitor's window, zombies, leftovers,
    /// and the memory release wait before the point's configuration.
    pub(super) fn health(&mut self, w: &WindowStats) -> SystemHealth {
        let parents: Vec<i32> = self
            .set
            .as_ref()
            .map(|s| s.pids().into_iter().map(|(_, p)| p).collect())
            .unwrap_or_default();
        SystemHealth::from_window(
            w,
            crate::procs::zombies(&parents),
            crate::procs::leftover_groups(&self.stopped_groups),
            self.release.take(),
        )
    }
}
