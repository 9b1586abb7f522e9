//! A point measured `run.repeats` times: its `point` row, combining the
//! repeats. The figures are those of the repeats' measured windows laid
//! end to end (every request of every repeat counts once; throughput is
//! all tokens over all measured seconds); the flags are every repeat's
//! (a point with one unfit repeat is not clean); the status is the worst.
//! The machine's own figures (memory, swap, resources) are those of the
//! last repeat.

use super::sweep::Sweep;
use crate::backend::mode::{DEFAULT_CACHE_SHARE, cache_note};
use crate::load::record::RequestRecord;
use crate::metrics::per_instance::account;
use crate::metrics::point::{SummaryOptions, summarize};
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

/// The records of several repeats laid end to end: each repeat's times
/// shifted to start where the previous repeat's last request ended.
pub fn end_to_end(parts: &[Vec<RequestRecord>]) -> Vec<RequestRecord> {
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    let mut offset = std::time::Duration::ZERO;
    for recs in parts {
        let first = recs
            .iter()
            .map(|r| r.sent_at.saturating_sub(r.queue))
            .min()
            .unwrap_or_default();
        let mut end = offset;
        for r in recs {
            let mut r = r.clone();
            r.sent_at = r.sent_at.saturating_sub(first) + offset;
            end = end.max(r.sent_at.saturating_sub(r.queue) + r.e2e);
            out.push(r);
        }
        offset = end;
    }
    out
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
        let pooled = end_to_end(&records);
        let summary = SummaryOptions {
            percentiles: &s.metrics.percentiles,
            slo: s.slo.is_set().then_some(&s.slo),
            max_tokens: point.max_tokens,
            open_loop: point.open_loop(),
        };
        let mut metrics = summarize(&pooled, &summary);
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
        flags.sort();
        flags.dedup();
        row.request_flags = flags;
        row
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rec(sent_ms: u64, e2e_ms: u64, tokens: u64) -> RequestRecord {
        RequestRecord {
            sent_at: Duration::from_millis(sent_ms),
            e2e: Duration::from_millis(e2e_ms),
            ttft: Some(Duration::from_millis(e2e_ms / 2)),
            completion_tokens: tokens,
            ..Default::default()
        }
    }

    #[test]
    fn repeats_laid_end_to_end_count_every_measured_second_once() {
        // repeat 1: 1 s of load, 100 tokens; repeat 2 (started much later
        // on its own clock): 3 s, 500 tokens
        let a = vec![rec(0, 500, 50), rec(500, 500, 50)];
        let b = vec![rec(10_000, 1000, 250), rec(11_000, 2000, 250)];
        let pooled = end_to_end(&[a, b]);
        assert_eq!(pooled.len(), 4);
        assert_eq!(pooled[2].sent_at, Duration::from_millis(1000));
        assert_eq!(pooled[3].sent_at, Duration::from_millis(2000));
        let m = summarize(&pooled, &SummaryOptions::default());
        assert!((m.elapsed_s - 4.0).abs() < 1e-9, "{}", m.elapsed_s);
        assert!((m.throughput_tps - 150.0).abs() < 1e-9);
        assert!(end_to_end(&[]).is_empty());
    }

    #[test]
    fn the_worst_status_wins() {
        assert!(severity(Status::Failed) > severity(Status::Interrupted));
        assert!(severity(Status::Interrupted) > severity(Status::Errors));
        assert!(severity(Status::Errors) > severity(Status::Ok));
    }
}
