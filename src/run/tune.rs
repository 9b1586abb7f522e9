//! `mlxrun tune`: the search of [`crate::tune`] driven over the sweep's
//! machinery. Each probe the search asks for is measured like a point —
//! its configuration's servers started once and kept while the search
//! probes it (the router swapped when only it changes), the request shape
//! warmed, the load driven — and written as a `probe` row (CSV and
//! report.jsonl) before the search sees it. A configuration that does not
//! start or a load that errors is recorded, and the search goes on.
//! `tune.jsonl` holds every decision as it is made, so a resumed search
//! replays what was measured and goes on from there.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;

use super::sweep::{Repeat, Sweep};
use super::tune_log::{Measured, TuneLog};
use super::tune_space::TuneSpace;
use super::tune_summary::summary_lines;
use crate::output::row::{PointRow, RowKind, SearchTag, Status};
use crate::scenario::expand::ServerConfig;
use crate::server::ServerError;
use crate::tune::observation::Observation;
use crate::tune::search::{Search, TuneResult};

/// A probe whose failed requests pass this share of those it sent is a
/// load the configuration cannot serve (the search treats it as failed).
pub const ERRORED_SHARE: f64 = 0.05;

/// How a search ended.
#[derive(Debug, Clone)]
pub struct TuneEnd {
    pub result: TuneResult,
}

/// Whether a configuration's servers are up for a probe.
enum Ready {
    Yes,
    /// Not started (or skipped by the memory gate): why, and whether it
    /// was the gate.
    No {
        why: String,
        skipped: bool,
    },
    Interrupted,
}

/// What a probe's row says to the search. `seconds` is the probe's wall
/// time (server start and warmup included), what a budget in seconds
/// counts.
pub fn observation_of(row: &PointRow, seconds: f64) -> Observation {
    observation_from(
        row.status,
        &row.status_detail,
        &row.metrics,
        row.intervals.as_ref(),
        seconds,
    )
}

fn observation_from(
    status: Status,
    detail: &str,
    m: &crate::metrics::point::PointMetrics,
    intervals: Option<&crate::metrics::uncertainty::PointIntervals>,
    seconds: f64,
) -> Observation {
    match status {
        Status::Skipped => return Observation::not_started(detail, seconds),
        Status::Failed => {
            let why = if detail.is_empty() {
                "every request failed".to_string()
            } else {
                detail.to_string()
            };
            return Observation::errored(why, m.requests, seconds);
        }
        _ => {}
    }
    if m.requests > 0 && m.errors as f64 > ERRORED_SHARE * m.requests as f64 {
        return Observation::errored(
            format!(
                "{} of {} requests failed (more than {:.0}%)",
                m.errors,
                m.requests,
                ERRORED_SHARE * 100.0
            ),
            m.requests,
            seconds,
        );
    }
    match intervals {
        Some(iv) => Observation::from_intervals(iv, m.requests, seconds),
        None => Observation::errored("no figures with intervals", m.requests, seconds),
    }
}

/// The `search_started` fields of `t` searched as `section` asks.
pub fn started_fields(
    t: &TuneSpace,
    section: &crate::spec::tune::TuneSection,
    resumed: bool,
) -> serde_json::Value {
    let goal = crate::tune::goal::Goal::from_section(section);
    json!({
        "resumed": resumed,
        "objective": goal.objective.as_str(),
        "figure": goal.figure(),
        "limits": goal.limits.iter().cloned().collect::<BTreeMap<String, f64>>(),
        "load_axis": t.load_axis.as_str(),
        "seed": section.seed,
        "budget": {
            "max_points": section.max_points,
            "max_requests": section.max_requests,
            "max_s": section.max_s.get(),
        },
        "options": {
            "halving_eta": section.halving_eta,
            "min_probes": section.min_probes,
            "probe_requests": section.probe_requests,
            "per_config": section.per_config,
        },
        "configs": t.configs.iter().zip(&t.space.configs).enumerate().map(|(i, (c, a))| json!({
            "config": i,
            "label": c.label,
            "server_config": c.server + 1,
            "loads": a.loads,
            "requests": a.requests,
            "points": c.points.iter().map(|p| p + 1).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "full_product": {"points": t.space.points(), "requests": t.space.requests()},
    })
}

impl Sweep<'_> {
    /// Run the search over `t`, writing rows and `log`; `replay` holds the
    /// probes a resumed search measured before.
    pub(super) async fn tune(
        &mut self,
        t: &TuneSpace,
        search: &mut Search,
        log: &mut TuneLog,
        replay: Vec<Measured>,
    ) -> anyhow::Result<TuneEnd> {
        let began = Instant::now();
        let mut replay = replay.into_iter().peekable();
        let mut written = 0usize;
        // server configurations that did not start: they are not tried again
        let mut not_started: BTreeMap<usize, (String, bool)> = BTreeMap::new();
        let mut replayed_s = 0.0;
        while let Some(probe) = search.next() {
            if let Some(m) = replay.peek() {
                if m.answers(&probe) {
                    replayed_s += m.observation.seconds;
                    let obs = m.observation.clone();
                    replay.next();
                    search.observe(&probe, obs);
                    // already in tune.jsonl from before
                    written = search.decisions().len();
                    continue;
                }
                self.progress.eprintln(&format!(
                    "warning: tune.jsonl's probe {} is not the probe the search asks for now ({}); the rest of what it recorded is measured again",
                    m.probe, probe.id
                ));
                replay.by_ref().for_each(drop);
            }
            log.decisions(&search.decisions()[written..])?;
            written = search.decisions().len();
            if self.ctx.cancel.is_cancelled() {
                break;
            }
            let Some(base) = t.point(self.plan, probe.config, probe.load_index) else {
                anyhow::bail!("tune: probe {} names no point of the plan", probe.id);
            };
            let Some(cfg) = self.plan.servers.get(base.server) else {
                anyhow::bail!("tune: point {} has no server configuration", base.index + 1);
            };
            let mut point = base.clone();
            point.requests = probe.requests;
            let tag = SearchTag {
                probe: probe.id,
                round: probe.round,
                why: serde_json::to_value(probe.why)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                config: probe.config,
                label: probe.label.clone(),
                load_axis: t.load_axis.as_str().into(),
                load: probe.load,
                requests: probe.requests,
            };
            let started = Instant::now();
            self.progress.phase(&format!(
                "probe {} (round {}, {}): {} at {}={}",
                probe.id, probe.round, tag.why, probe.label, tag.load_axis, probe.load
            ));
            let obs = match self.ready_for(cfg, &mut not_started).await? {
                Ready::Interrupted => {
                    self.record_probe(
                        self.failed_row(cfg, &point, "interrupted while its servers started"),
                        &tag,
                        Some(Status::Interrupted),
                    )?;
                    break;
                }
                Ready::No { why, skipped } => {
                    let row = if skipped {
                        PointRow::skipped(cfg, &point, &why)
                    } else {
                        self.failed_row(cfg, &point, &why)
                    };
                    self.record_probe(row, &tag, None)?;
                    Observation::not_started(why, started.elapsed().as_secs_f64())
                }
                Ready::Yes => {
                    let warmup = self.warm_shape(cfg, &point).await;
                    if self.ctx.cancel.is_cancelled() {
                        self.record_probe(
                            self.failed_row(cfg, &point, "interrupted during its shape warmup"),
                            &tag,
                            Some(Status::Interrupted),
                        )?;
                        break;
                    }
                    let (mut row, _records) =
                        self.measure(cfg, &point, Repeat { index: 1, of: 1 }).await;
                    if warmup.not_warmed() {
                        row.request_flags.push("not_warmed".into());
                    }
                    row.warmup = Some(warmup);
                    let interrupted = row.status == Status::Interrupted;
                    let obs = observation_of(&row, started.elapsed().as_secs_f64());
                    self.record_probe(row, &tag, None)?;
                    if interrupted {
                        break;
                    }
                    obs
                }
            };
            log.measured(&probe, base.index + 1, &obs)?;
            search.observe(&probe, obs);
            log.decisions(&search.decisions()[written..])?;
            written = search.decisions().len();
            let pause = self.ctx.scenario.run.pause_between_points_s;
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause.duration()) => {}
                    _ = self.ctx.cancel.cancelled() => {}
                }
            }
        }
        log.decisions(&search.decisions()[written..])?;
        self.stop_set().await;
        let result = search.result();
        let wall_s = began.elapsed().as_secs_f64() + replayed_s;
        log.result(&result, wall_s)?;
        for line in summary_lines(&result, t.load_axis, wall_s) {
            self.progress.println(&line);
        }
        Ok(TuneEnd { result })
    }

    /// Write `row` as a probe of the search (with `status` when given).
    fn record_probe(
        &mut self,
        mut row: PointRow,
        tag: &SearchTag,
        status: Option<Status>,
    ) -> anyhow::Result<()> {
        row.row_kind = RowKind::Probe;
        row.search = Some(tag.clone());
        if let Some(s) = status {
            row.status = s;
        }
        self.record(row)
    }

    /// Bring up `cfg`'s servers for a probe: keep them when they run, swap
    /// only the router when the instances stay, else stop what runs and
    /// start them (after the memory gate). A server configuration that
    /// did not start is not tried again (`not_started`).
    async fn ready_for(
        &mut self,
        cfg: &ServerConfig,
        not_started: &mut BTreeMap<usize, (String, bool)>,
    ) -> anyhow::Result<Ready> {
        if let Some((why, skipped)) = not_started.get(&cfg.index) {
            return Ok(Ready::No {
                why: why.clone(),
                skipped: *skipped,
            });
        }
        let running = self.set.as_ref().map(|s| s.config().index);
        if running == Some(cfg.index) {
            // a server that died since the last probe is restarted
            if let Some(dead) = self.set.as_mut().map(crate::server::set::ServerSet::exited)
                && !dead.is_empty()
            {
                self.progress.eprintln(&format!(
                    "warning: server exited: {}; restarting configuration {}",
                    dead.join(", "),
                    cfg.index + 1
                ));
                self.stop_set().await;
            }
        } else {
            self.leave_for(cfg).await;
        }
        if self.set.is_some() {
            return Ok(Ready::Yes);
        }
        if let Some(why) = self.gate(cfg).await {
            not_started.insert(cfg.index, (why.clone(), true));
            return Ok(Ready::No { why, skipped: true });
        }
        match self.start(cfg).await {
            Ok(()) => Ok(Ready::Yes),
            Err(ServerError::Interrupted) => Ok(Ready::Interrupted),
            Err(e @ ServerError::Journal(_)) => Err(e.into()),
            Err(e) => {
                self.progress.eprintln(&format!(
                    "error: server configuration {}: {e}; the search goes on without it",
                    cfg.index + 1
                ));
                let why = e.summary();
                not_started.insert(cfg.index, (why.clone(), false));
                Ok(Ready::No {
                    why,
                    skipped: false,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::point::PointMetrics;
    use crate::metrics::uncertainty::{FigureInterval, PointIntervals};
    use crate::tune::observation::Outcome;

    fn metrics(requests: u64, errors: u64) -> PointMetrics {
        PointMetrics {
            requests,
            errors,
            ok_requests: requests - errors,
            ..PointMetrics::default()
        }
    }

    #[test]
    fn a_probes_row_tells_the_search_measured_errored_or_not_started() {
        let iv = PointIntervals {
            level: 0.95,
            method: "bootstrap".into(),
            resamples: 100,
            repeats: 1,
            figures: [(
                "throughput_tps".to_string(),
                FigureInterval {
                    value: Some(100.0),
                    lo: Some(95.0),
                    hi: Some(105.0),
                    ..FigureInterval::default()
                },
            )]
            .into(),
        };
        let o = observation_from(Status::Ok, "", &metrics(40, 0), Some(&iv), 3.0);
        assert!(o.is_measured());
        assert_eq!(o.figure("throughput_tps").map(|e| e.value), Some(100.0));
        assert_eq!((o.requests, o.seconds), (40, 3.0));
        // a few errors still count; more than 5% make the load a failure
        let some =
            |errors| observation_from(Status::Errors, "", &metrics(40, errors), Some(&iv), 1.0);
        assert!(some(2).is_measured());
        assert!(!some(3).is_measured());
        let failed = observation_from(Status::Failed, "", &metrics(40, 40), None, 1.0);
        assert_eq!(
            failed.outcome,
            Outcome::Errored {
                why: "every request failed".into()
            }
        );
        let skipped = observation_from(
            Status::Skipped,
            "memory gate: too big",
            &metrics(0, 0),
            None,
            0.5,
        );
        assert_eq!(
            skipped.outcome,
            Outcome::NotStarted {
                why: "memory gate: too big".into()
            }
        );
        // a measured point without intervals cannot be compared
        assert!(!observation_from(Status::Ok, "", &metrics(40, 0), None, 1.0).is_measured());
    }
}
