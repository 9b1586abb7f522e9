//! The sweep, configuration by configuration: the memory gate, start the
//! servers (or only swap the router) and warm up, warm each new request
//! shape, measure each point (`run.repeats` times, back to back or round
//! by round), write each row as it ends, stop the servers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::requests::*;
use super::*;
use crate::gate::{self, Release};
use crate::load::driver::{Bound, LoadPlan, run_load};
use crate::load::record::RequestRecord;
use crate::metrics::calibration::Calibration;
use crate::monitor::Monitor;
use crate::output::csv_sink::CsvSink;
use crate::output::jsonl::{JsonlSink, RecordContext};
use crate::output::model_info::ModelInfo;
use crate::output::progress::Progress;
use crate::output::quality::quality_flags_with;
use crate::output::requests_log::RequestsLog;
use crate::output::row::{PointRow, RowKind, Status};
use crate::scenario::expand::{Plan, ServerConfig};
use crate::server::ServerError;
use crate::server::set::{ServerSet, StartContext};
use crate::spec::measure::RepeatOrder;
use crate::spec::scenario::{RouterKind, Sampling};
use crate::workload::Prompt;

/// The sweep's mutable state.
pub(super) struct Sweep<'a> {
    pub(super) ctx: &'a StartContext,
    pub(super) plan: &'a Plan,
    pub(super) progress: &'a Progress,
    pub(super) csv: &'a mut CsvSink,
    pub(super) report: &'a mut JsonlSink,
    /// `requests.jsonl`: every measured request, point by point.
    pub(super) requests: &'a mut RequestsLog,
    /// Backend name → installed version line.
    pub(super) backend_versions: BTreeMap<String, String>,
    /// What reports say about each model (by model index).
    pub(super) models: Vec<ModelInfo>,
    pub(super) rows: Vec<PointRow>,
    pub(super) set: Option<ServerSet>,
    /// What `mlxrun calibrate` measured on this machine, when it has run.
    pub(super) calibration: Option<Calibration>,
    /// Samples the machine into `monitor.jsonl`.
    pub(super) monitor: &'a Monitor,
    /// Configurations the memory gate skips (index → why).
    pub(super) gated: BTreeMap<usize, String>,
    /// Process groups of servers already stopped (leftovers are counted).
    pub(super) stopped_groups: Vec<i32>,
    /// Memory available before the running configuration started.
    pub(super) available_before: Option<u64>,
    /// The wait for memory after the last configuration stopped, for the
    /// first point of the next one.
    pub(super) release: Option<Release>,
    /// Points (1-based) a resumed run finished before; they are not run.
    pub(super) finished: BTreeSet<usize>,
    /// Request shapes the running servers are warm for (emptied when they stop).
    pub(super) warm_shapes: BTreeSet<String>,
    /// Closed-loop points send a round of their concurrency, unmeasured,
    /// before and after their measured requests (`mlxrun tune`'s probes;
    /// see [`super::requests::load_plan_with`]).
    pub(super) steady_edges: bool,
}

/// Which measurement of a point: repeat `index` (1-based) of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Repeat {
    pub(super) index: u32,
    pub(super) of: u32,
}

/// The order a configuration's points are measured in: each point's
/// repeats back to back, or round by round.
pub(super) fn schedule<T: Clone>(
    points: &[T],
    repeats: u32,
    order: RepeatOrder,
) -> Vec<(T, Repeat)> {
    let of = repeats.max(1);
    let at = |p: &T, index| (p.clone(), Repeat { index, of });
    match order {
        RepeatOrder::Consecutive => points
            .iter()
            .flat_map(|p| (1..=of).map(move |r| at(p, r)))
            .collect(),
        RepeatOrder::Interleaved => (1..=of)
            .flat_map(|r| points.iter().map(move |p| at(p, r)))
            .collect(),
    }
}

/// Now as ISO 8601 UTC and as Unix epoch seconds (one instant).
pub(super) fn now_utc_and_epoch() -> (String, f64) {
    let t = chrono::Utc::now();
    (
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        t.timestamp_millis() as f64 / 1000.0,
    )
}

impl Sweep<'_> {
    pub(super) async fn run_all(&mut self) -> anyhow::Result<()> {
        let s = &self.ctx.scenario;
        for cfg in &self.plan.servers {
            if self.ctx.cancel.is_cancelled() {
                break;
            }
            let points: Vec<_> = self
                .plan
                .points_of(cfg.index)
                .filter(|p| !self.finished.contains(&(p.index + 1)))
                .cloned()
                .collect();
            if points.is_empty() {
                // every point finished before a resume: nothing to start
                continue;
            }
            self.leave_for(cfg).await;
            let mut start_failure: Option<String> = None;
            let skip = self.gate(cfg).await;
            // points done before all their repeats ran (skipped, failed to start)
            let mut closed: BTreeSet<usize> = BTreeSet::new();
            // the repeats measured so far of each point, until its last
            let mut measured: BTreeMap<usize, Vec<(PointRow, Vec<RequestRecord>)>> =
                BTreeMap::new();
            for (point, repeat) in schedule(&points, s.run.repeats, s.run.repeat_order) {
                let point = &point;
                if self.ctx.cancel.is_cancelled() {
                    break;
                }
                if closed.contains(&point.index) {
                    continue;
                }
                if let Some(why) = &skip {
                    let mut row = PointRow::skipped(cfg, point, why);
                    row.ranks = cfg.ranks_total;
                    row.repeats = repeat.of;
                    closed.insert(point.index);
                    self.record(row)?;
                    continue;
                }
                if let Some(why) = &start_failure {
                    closed.insert(point.index);
                    self.record(self.failed_row(cfg, point, why))?;
                    continue;
                }
                // a server that died since the last point (idle, or killed)
                // is restarted before this one rather than failing it
                if let Some(dead) = self.set.as_mut().map(ServerSet::exited)
                    && !dead.is_empty()
                {
                    self.progress.eprintln(&format!(
                        "warning: before point {}: server exited: {}; restarting the configuration",
                        point.index + 1,
                        dead.join(", ")
                    ));
                    self.stop_set().await;
                }
                if self.set.is_none() {
                    match self.start(cfg).await {
                        Ok(()) => {}
                        Err(ServerError::Interrupted) => {
                            self.interrupted_before_load(
                                cfg,
                                point,
                                &measured,
                                "while its servers started",
                            )?;
                            break;
                        }
                        // a start processes.jsonl cannot record stops the run
                        Err(e @ ServerError::Journal(_)) => return Err(e.into()),
                        Err(e) => {
                            let msg = e.to_string();
                            self.progress.eprintln(&format!(
                                "error: server configuration {}: {msg}",
                                cfg.index + 1
                            ));
                            let summary = e.summary();
                            start_failure = Some(summary.clone());
                            closed.insert(point.index);
                            self.record(self.failed_row(cfg, point, &summary))?;
                            if !s.run.continue_on_error {
                                anyhow::bail!("stopping: run.continue_on_error is false");
                            }
                            continue;
                        }
                    }
                }
                crate::shutdown::injected_panic(point.index + 1);
                let warmup = self.warm_shape(cfg, point).await;
                if self.ctx.cancel.is_cancelled() {
                    self.interrupted_before_load(cfg, point, &measured, "during its shape warmup")?;
                    break;
                }
                let (mut row, records) = self.measure(cfg, point, repeat).await;
                if warmup.not_warmed() {
                    row.request_flags.push("not_warmed".into());
                }
                row.warmup = Some(warmup);
                let failed = row.status == Status::Failed;
                if repeat.of == 1 {
                    self.record(row)?;
                } else {
                    let interrupted = row.status == Status::Interrupted;
                    self.record(row.clone())?;
                    let parts = measured.entry(point.index).or_default();
                    parts.push((row, records));
                    if repeat.index == repeat.of || interrupted {
                        let parts = measured.remove(&point.index).unwrap_or_default();
                        closed.insert(point.index);
                        let combined = self.combine(cfg, point, parts);
                        self.record(combined)?;
                    }
                }
                if failed && !s.run.continue_on_error {
                    anyhow::bail!("stopping after a failed point: run.continue_on_error is false");
                }
                if !s.run.pause_between_points_s.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(s.run.pause_between_points_s.duration()) => {}
                        _ = self.ctx.cancel.cancelled() => {}
                    }
                }
            }
            // stopped part-way (Ctrl-C): the repeats measured so far still
            // make their point's row, marked interrupted
            for (index, parts) in std::mem::take(&mut measured) {
                if let Some(point) = points.iter().find(|p| p.index == index) {
                    let mut combined = self.combine(cfg, point, parts);
                    if combined.repeats < s.run.repeats {
                        combined.status = Status::Interrupted;
                        combined.status_detail = format!(
                            "interrupted after {} of {} repeats",
                            combined.repeats, s.run.repeats
                        );
                    }
                    self.record(combined)?;
                }
            }
        }
        self.stop_set().await;
        Ok(())
    }

    /// Ctrl-C while `point`'s servers started or while it warmed up: the
    /// point is written as `interrupted` (nothing of it was measured), so
    /// the run says where it stopped and `resume` measures it. A point
    /// with repeats already measured gets its combined row after the loop
    /// instead.
    fn interrupted_before_load(
        &mut self,
        cfg: &ServerConfig,
        point: &crate::scenario::expand::Point,
        measured: &BTreeMap<usize, Vec<(PointRow, Vec<RequestRecord>)>>,
        during: &str,
    ) -> anyhow::Result<()> {
        if measured.contains_key(&point.index) {
            return Ok(());
        }
        let mut row = self.failed_row(cfg, point, &format!("interrupted {during}"));
        row.status = Status::Interrupted;
        self.record(row)
    }

    /// Before configuration `cfg`: keep the running instances when only
    /// the router changes (swapping it), else stop them.
    pub(super) async fn leave_for(&mut self, cfg: &ServerConfig) {
        let Some(set) = self.set.as_mut() else {
            return;
        };
        if set.config().same_instances(cfg) {
            self.progress.phase("switching the router");
            if let Err(e) = set.switch_front(self.ctx, cfg).await {
                self.progress.eprintln(&format!(
                    "error: router of configuration {}: {e}; restarting its servers",
                    cfg.index + 1
                ));
                self.stop_set().await;
            }
        } else {
            self.stop_set().await;
        }
    }

    pub(super) async fn stop_set(&mut self) {
        self.warm_shapes.clear();
        if let Some(mut set) = self.set.take() {
            self.progress.phase("stopping servers");
            let groups = set.groups();
            set.stop().await;
            self.monitor.set_processes(Vec::new());
            self.monitor.event(
                "servers_stopped",
                serde_json::json!({"config": set.config().index + 1}),
            );
            self.stopped_groups.extend(groups);
        }
    }

    /// Before configuration `cfg` starts: wait (bounded) for memory to come
    /// back after the previous one, then check it against the gate. Returns
    /// why its points are skipped, if they are.
    pub(super) async fn gate(&mut self, cfg: &ServerConfig) -> Option<String> {
        let m = &self.ctx.scenario.memory;
        // a wait belongs to the configuration that follows it only
        self.release = None;
        let launches = self
            .ctx
            .registry
            .get(&cfg.backend)
            .is_some_and(|d| d.launches());
        if self.set.is_none() && launches {
            if let Some(before) = self.available_before.take() {
                let target = gate::release_target(m, Some(before));
                let r = gate::wait_for_release(
                    target,
                    m.release_timeout_s.duration(),
                    Duration::from_millis(500),
                    &self.ctx.cancel,
                    memory_now,
                )
                .await;
                self.monitor.event("memory_release", serde_json::json!(r));
                if r.released && r.waited_s >= 1.0 {
                    self.progress.eprintln(&format!(
                        "memory came back after {:.1}s ({} available)",
                        r.waited_s,
                        r.available_bytes.map_or("unknown".into(), gate::gb)
                    ));
                }
                if !r.released && !self.ctx.cancel.is_cancelled() {
                    self.progress.eprintln(&format!(
                        "warning: memory did not come back within {}s ({} available, wanted {}; pressure {}); configuration {} starts anyway, its first point is flagged degraded_release",
                        m.release_timeout_s,
                        r.available_bytes.map_or("unknown".into(), gate::gb),
                        gate::gb(r.target_bytes),
                        r.pressure.map_or("unknown".into(), |p| p.to_string()),
                        cfg.index + 1
                    ));
                }
                self.release = Some(r);
            }
            let mem = memory_now();
            self.available_before = mem.available_bytes;
            if let Some(why) = self.gated.get(&cfg.index) {
                return Some(format!("memory gate: {why}"));
            }
            // memory may have gone since the preflight
            if let Some(model) = self.ctx.models.get(cfg.model)
                && let Some(need) = gate::config_need(cfg, model, m)
                && let Some(why) = gate::over_limit(&need, &mem, m)
            {
                self.progress.eprintln(&format!(
                    "warning: configuration {} skipped: memory gate: {why}",
                    cfg.index + 1
                ));
                return Some(format!("memory gate: {why}"));
            }
        }
        self.gated
            .get(&cfg.index)
            .map(|why| format!("memory gate: {why}"))
    }

    pub(super) async fn start(&mut self, cfg: &ServerConfig) -> Result<(), ServerError> {
        let s = &self.ctx.scenario;
        self.progress.phase(&format!(
            "starting {} server(s) for configuration {}/{}",
            cfg.instances,
            cfg.index + 1,
            self.plan.servers.len()
        ));
        // once per run, before the first configuration's servers start
        self.monitor.measure_idle_power().await;
        if let Some(busy) = self.monitor.measure_accelerator_before().await
            && busy > crate::output::quality::ACCELERATOR_BUSY_PCT
        {
            self.progress.eprintln(&format!(
                "warning: the GPU was {busy:.0}% busy before configuration {} started, with nothing of mlxrun's on it; its points are flagged accelerator_busy",
                cfg.index + 1
            ));
        }
        let set = ServerSet::start(self.ctx, cfg).await?;
        self.monitor.set_processes(set.roots());
        self.monitor.event(
            "servers_started",
            serde_json::json!({
                "config": cfg.index + 1,
                "ready_s": set.ready_secs,
                "processes": set.roots().into_iter().collect::<BTreeMap<_, _>>(),
            }),
        );
        let ranks = cfg.ranks_total;
        self.progress.eprintln(&format!(
            "servers ready in {:.1}s: configuration {}/{} ({} {} instance(s){}{}) at {}",
            set.ready_secs,
            cfg.index + 1,
            self.plan.servers.len(),
            cfg.instances,
            cfg.backend,
            if ranks > 1 {
                format!(" of {ranks} ranks")
            } else {
                String::new()
            },
            match cfg.router {
                RouterKind::Nginx => " behind nginx",
                RouterKind::Client => " spread by the client",
                RouterKind::None => "",
            },
            set.targets.join(", ")
        ));
        let warmups = u64::from(s.workload.warmup_requests) * u64::from(cfg.instances);
        if warmups > 0 {
            self.progress
                .phase(&format!("warmup: {warmups} request(s)"));
            let spec = self
                .request_spec(
                    cfg,
                    &set,
                    "warmup".into(),
                    BodyParts {
                        prompts: vec![Prompt::user("warmup".into(), None)],
                        max_tokens: s.workload.warmup_max_tokens,
                        sampling: Sampling::GREEDY,
                        stream: false,
                        media: warmup_media(self.ctx.models.get(cfg.model).map(|m| m.modality)),
                    },
                )
                .map_err(ServerError::Setup)?;
            let w = run_load(
                &self.ctx.client,
                Arc::new(spec),
                LoadPlan {
                    concurrency: cfg.instances,
                    open: None,
                    bound: Bound::requests(warmups),
                    deadline: None,
                },
                &self.ctx.cancel,
                |_| {},
            )
            .await;
            let failed = w.records.iter().filter(|r| !r.ok()).count();
            if failed > 0 {
                self.progress.eprintln(&format!(
                    "warning: {failed} of {warmups} warmup request(s) failed"
                ));
            }
        }
        self.set = Some(set);
        Ok(())
    }

    pub(super) fn record(&mut self, mut row: PointRow) -> anyhow::Result<()> {
        crate::shutdown::hold_while_panicking();
        if row.ended_at.is_empty() {
            (row.ended_at, row.ended_ts) = now_utc_and_epoch();
            (row.started_at, row.started_ts) = (row.ended_at.clone(), row.ended_ts);
        }
        // the machine's flags and what the point's own requests and
        // warmup say (unsteady, outliers, not_warmed) count alike
        let requests: Vec<&str> = row.request_flags.iter().map(String::as_str).collect();
        row.health.quality_flags = quality_flags_with(
            &row.health,
            &self.ctx.scenario.memory,
            &row.client_check,
            row.metrics.errors,
            &requests,
        );
        self.csv
            .write(&row)
            .with_context(|| format!("cannot write {}", self.csv.path().display()))?;
        let version = self
            .backend_versions
            .get(&row.backend)
            .cloned()
            .unwrap_or_default();
        let model = self
            .models
            .iter()
            .find(|m| m.id == row.model)
            .cloned()
            .unwrap_or_default();
        self.report.write(
            &row,
            RecordContext {
                backend_version: &version,
                model: &model,
            },
        )?;
        let m = &row.metrics;
        let fmt_ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
        let e2e = fmt_ms(m.e2e_ms.at(&m.percentiles, 50.0).or(m.e2e_ms.mean));
        // audio points have no tokens: latency and the real-time factor
        let figures = match m.rtf_mean {
            Some(rtf) => format!(
                "requests_per_s={:.2} e2e_p50_ms={e2e} rtf_mean={rtf:.3} audio_seconds={:.1}",
                m.requests_per_s, m.audio_seconds
            ),
            None => format!(
                "throughput_tps={:.1} requests_per_s={:.2} ttft_p50_ms={} e2e_p50_ms={e2e}",
                m.throughput_tps,
                m.requests_per_s,
                fmt_ms(m.ttft_ms.at(&m.percentiles, 50.0).or(m.ttft_ms.mean)),
            ),
        };
        let slo = m.slo.as_ref().map_or(String::new(), |s| {
            format!(
                " slo_attainment={:.3} goodput_rps={:.2}",
                s.attainment, s.goodput_rps
            )
        });
        let which = match (row.row_kind, row.repeat) {
            (RowKind::Repeat, Some(r)) => format!(" repeat {r}/{}", row.repeats),
            _ if row.repeats > 1 => format!(" ({} repeats combined)", row.repeats),
            _ => String::new(),
        };
        self.progress.println(&format!(
            "point {}/{}{which} {} {figures}{slo} errors={} status={}",
            row.point,
            self.plan.points.len(),
            row.params(),
            m.errors,
            row.status.as_str()
        ));
        let is_point = row.row_kind.is_result();
        let last = row.params();
        self.rows.push(row);
        // progress counts points; a repeat is part of its point
        if is_point {
            // a point probed again by a search counts once
            let done = self
                .rows
                .iter()
                .filter(|r| r.row_kind.is_result())
                .map(|r| r.point)
                .collect::<BTreeSet<_>>()
                .len();
            self.progress.point_done(done, &last);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(repeats: u32, o: RepeatOrder) -> Vec<(char, u32)> {
        schedule(&['a', 'b'], repeats, o)
            .into_iter()
            .map(|(p, r)| {
                assert_eq!(r.of, repeats.max(1));
                (p, r.index)
            })
            .collect()
    }

    #[test]
    fn repeats_run_back_to_back_or_round_by_round() {
        assert_eq!(
            order(3, RepeatOrder::Consecutive),
            [('a', 1), ('a', 2), ('a', 3), ('b', 1), ('b', 2), ('b', 3)]
        );
        assert_eq!(
            order(3, RepeatOrder::Interleaved),
            [('a', 1), ('b', 1), ('a', 2), ('b', 2), ('a', 3), ('b', 3)]
        );
        // once is once, whatever the order
        for o in [RepeatOrder::Consecutive, RepeatOrder::Interleaved] {
            assert_eq!(order(1, o), [('a', 1), ('b', 1)]);
            assert_eq!(order(0, o), [('a', 1), ('b', 1)]);
        }
    }
}
