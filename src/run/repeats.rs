//! A point measured `run.repeats` times: its `point` row, combining the
//! repeats. The figures are those of the repeats' measured windows laid
//! end to end (every request of every repeat counts once; throughput is
//! all tokens over all measured seconds); the intervals come from the
//! two-stage bootstrap over the repeats, so the spread between them is
//! in; the flags are every repeat's
//! (a point with one unfit repeat is not clean); the status is the worst.
//! The energy is the repeats' measured windows laid end to end too.
//! The machine's own figures (memory, swap, resources) are those of the
//! last repeat.

use super::point::interval_options;
use super::sweep::Sweep;
use crate::backend::mode::{DEFAULT_CACHE_SHARE, cache_note};
use crate::load::record::RequestRecord;
use crate::metrics::per_instance::account;
use crate::metrics::point::{SummaryOptions, summarize};
use crate::metrics::stability::stability;
use crate::metrics::uncertainty::{intervals, pooled};
use crate::monitor::energy::Energy;
use crate::output::row::{PointRow, RowKind, Status};
use crate::scenario::expand::{Point, ServerConfig};

/// How bad a status is, for the worst of several.
fn severity(s: Status) -> u8 {
    match s {
        Status::Ok => 0,
        Status::Errors => 1,
        Status::Skipped => 2,
        Status::Interrupted => 3,
        Status::Failed => 4,
    }
}

impl Sweep<'_> {
    /// The `point` row of `point` from its repeats' rows and records.
    pub(super) fn combine(
        &self,
        cfg: &ServerConfig,
        point: &Point,
        parts: Vec<(PointRow, Vec<RequestRecord>)>,
    ) -> PointRow {
        let s = &self.ctx.scenario;
        let (rows, records): (Vec<PointRow>, Vec<Vec<RequestRecord>>) = parts.into_iter().unzip();
        let Some(last) = rows.last() else {
            return self.failed_row(cfg, point, "no repeat was measured");
        };
        let analysis = std::time::Instant::now();
        let parts: Vec<&[RequestRecord]> = records.iter().map(Vec::as_slice).collect();
        let pooled = pooled(&parts);
        let summary = SummaryOptions {
            percentiles: &s.metrics.percentiles,
            slo: s.slo.is_set().then_some(&s.slo),
            max_tokens: point.max_tokens,
            open_loop: point.open_loop(),
        };
        let mut metrics = summarize(&pooled, &summary);
        let intervals = intervals(&parts, &interval_options(s, point));
        // across repeats laid end to end, a trend is a drift between them
        let stability = stability(&pooled);
        let cpu: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.metrics.client_cpu_ms_per_req)
            .collect();
        metrics.client_cpu_ms_per_req =
            (!cpu.is_empty()).then(|| cpu.iter().sum::<f64>() / cpu.len() as f64);
        let cache = metrics
            .cached_tokens
            .and_then(|c| cache_note(c, metrics.prompt_tokens, DEFAULT_CACHE_SHARE));
        let mut row = PointRow::with_ranks(cfg, point, metrics, cfg.ranks_total);
        row.server_mode.extend(cache);
        row.row_kind = RowKind::Point;
        row.repeat = None;
        row.repeats = rows.len() as u32;
        let worst = rows
            .iter()
            .max_by_key(|r| severity(r.status))
            .unwrap_or(last);
        if severity(worst.status) > severity(row.status) {
            row.status = worst.status;
        }
        row.status_detail = rows
            .iter()
            .filter(|r| !r.status_detail.is_empty())
            .map(|r| format!("repeat {}: {}", r.repeat.unwrap_or(0), r.status_detail))
            .collect::<Vec<_>>()
            .join("; ");
        row.started_at = rows[0].started_at.clone();
        row.started_ts = rows[0].started_ts;
        row.ended_at = last.ended_at.clone();
        row.ended_ts = last.ended_ts;
        row.health = last.health.clone();
        row.server_rss_peak_mb = rows
            .iter()
            .filter_map(|r| r.server_rss_peak_mb)
            .reduce(f64::max);
        row.resources = last.resources.clone();
        let energies: Vec<Option<&Energy>> = rows.iter().map(|r| r.energy.as_ref()).collect();
        row.energy = Some(Energy::laid_end_to_end(
            &energies,
            row.metrics.completion_tokens,
        ));
        row.client_check = {
            let mut checks: Vec<&str> = rows.iter().map(|r| r.client_check.as_str()).collect();
            checks.dedup();
            checks.join("; ")
        };
        let addresses: Vec<String> = last
            .per_instance
            .instances
            .iter()
            .map(|i| i.address.clone())
            .collect();
        row.per_instance = account(&pooled, &addresses, &last.per_instance.source);
        row.warmup = rows[0].warmup.clone();
        // every repeat's flags: a point with an unfit repeat is not clean
        let mut flags: Vec<String> = rows
            .iter()
            .flat_map(|r| {
                r.health
                    .quality_flags
                    .iter()
                    .chain(&r.request_flags)
                    .cloned()
            })
            .filter(|f| f != "clean")
            .collect();
        flags.extend(stability.flags.iter().cloned());
        flags.sort();
        flags.dedup();
        row.request_flags = flags;
        row.intervals = Some(intervals);
        row.stability = Some(stability);
        row.analysis_ms = Some(analysis.elapsed().as_secs_f64() * 1e3);
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_status_wins() {
        assert!(severity(Status::Failed) > severity(Status::Interrupted));
        assert!(severity(Status::Interrupted) > severity(Status::Errors));
        assert!(severity(Status::Errors) > severity(Status::Ok));
    }
}
