//! `<run dir>/requests.jsonl`: one JSON object per measured request of
//! every point (a point's warmup and cooldown requests are left out), so
//! intervals and comparisons can be recomputed from the raw data. A point's
//! lines are gathered in a buffer and appended whole, every `write(2)`
//! carrying complete lines only (one per point, or one per
//! [`WRITE_CHUNK`] bytes of lines for a large point), and the file is
//! synced when the point ends: memory stays bounded however many requests
//! a point has, a crash never leaves half a line, and a later failure loses
//! nothing already written.
//! The format is described in `docs/outputs.md` ("requests.jsonl").

use std::io;
use std::path::Path;

use serde::Serialize;
use serde::ser::Serializer;

use crate::durable::{LineFile, push_json_line};
use crate::load::record::RequestRecord;
use crate::metrics::distribution::percentile;
use crate::metrics::point::tpot_ms;
use crate::spec::scenario::RequestItl;

/// The file's name in the run folder.
pub const REQUESTS_FILE: &str = "requests.jsonl";

/// A point's lines are appended once this many bytes of them are
/// gathered (and the rest when it ends).
pub const WRITE_CHUNK: usize = 1 << 20;

/// What every line of one point shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointContext {
    /// 1-based point number.
    pub point: usize,
    /// 1-based repeat of the point; `None` when it is measured once.
    pub repeat: Option<u32>,
    /// When the point's load started (Unix epoch seconds): its records'
    /// times are offsets from it.
    pub start_epoch_s: f64,
}

/// An open `requests.jsonl`, appended to point by point.
#[derive(Debug)]
pub struct RequestsLog {
    out: LineFile,
    /// Whole lines not written yet.
    pending: Vec<u8>,
    itl: RequestItl,
    /// Reused for the ITL summary, so a point allocates it once.
    scratch: Vec<f64>,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A request's inter-token gaps, written as milliseconds without copying them.
struct ItlList<'a>(&'a [u32]);

impl Serialize for ItlList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|us| f64::from(*us) / 1e3))
    }
}

/// `output.request_itl = "summary"`: a request's gaps in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct ItlSummary {
    count: usize,
    mean: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
}

/// One line.
#[derive(Serialize)]
struct Line<'a> {
    point: usize,
    repeat: Option<u32>,
    instance: Option<u32>,
    seq: u64,
    /// When it was due (open loop: its arrival; closed loop: when sent),
    /// seconds from the point's start: the latency origin.
    scheduled_s: f64,
    /// When it was first sent, seconds from the point's start.
    sent_s: f64,
    scheduled_ts: f64,
    sent_ts: f64,
    ttft_ms: Option<f64>,
    e2e_ms: f64,
    tpot_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    itl_ms: Option<ItlList<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    itl_ms_summary: Option<ItlSummary>,
    prompt_tokens: Option<u64>,
    completion_tokens: u64,
    cached_tokens: Option<u64>,
    retries: u32,
    /// `ok`, or the error kind.
    outcome: &'static str,
    error: Option<&'a str>,
}

impl RequestsLog {
    /// Open (or create) `path` for appending, with every inter-token gap
    /// listed (see [`RequestsLog::with_itl`]).
    pub fn create(path: &Path) -> io::Result<RequestsLog> {
        Ok(RequestsLog {
            out: LineFile::append(path)?,
            pending: Vec::new(),
            itl: RequestItl::List,
            scratch: Vec::new(),
        })
    }

    /// How each request's inter-token latencies are written
    /// (`output.request_itl`).
    pub fn with_itl(mut self, itl: RequestItl) -> RequestsLog {
        self.itl = itl;
        self
    }

    /// Append one line per measured request of a point (whole lines per
    /// write), then sync the file, so the point survives a crash of a later
    /// one. Returns the number of lines written.
    pub fn write_point(
        &mut self,
        ctx: &PointContext,
        records: &[RequestRecord],
    ) -> io::Result<u64> {
        self.pending.clear();
        let written = self.write_lines(ctx, records);
        // a failed point leaves nothing behind for the next one
        self.pending.clear();
        written
    }

    fn write_lines(&mut self, ctx: &PointContext, records: &[RequestRecord]) -> io::Result<u64> {
        let mut written = 0u64;
        for r in records.iter().filter(|r| !r.excluded) {
            let scheduled = r.sent_at.saturating_sub(r.queue).as_secs_f64();
            let sent = r.sent_at.as_secs_f64();
            let summary = match self.itl {
                RequestItl::List => None,
                RequestItl::Summary => Some(self.summary(&r.itl_us)),
            };
            let line = Line {
                point: ctx.point,
                repeat: ctx.repeat,
                instance: r.instance,
                seq: r.seq,
                scheduled_s: scheduled,
                sent_s: sent,
                scheduled_ts: ctx.start_epoch_s + scheduled,
                sent_ts: ctx.start_epoch_s + sent,
                ttft_ms: r.ttft.map(ms),
                e2e_ms: ms(r.e2e),
                tpot_ms: tpot_ms(r),
                itl_ms: (self.itl == RequestItl::List).then_some(ItlList(&r.itl_us)),
                itl_ms_summary: summary,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
                cached_tokens: r.cached_tokens,
                retries: r.retries,
                outcome: r.error.as_ref().map_or("ok", |(kind, _)| kind.as_str()),
                error: r.error.as_ref().map(|(_, detail)| detail.as_str()),
            };
            push_json_line(&mut self.pending, &line)?;
            written += 1;
            if self.pending.len() >= WRITE_CHUNK {
                self.out.append_lines(&self.pending)?;
                self.pending.clear();
            }
        }
        self.out.append_synced(&self.pending)?;
        Ok(written)
    }

    /// Count, mean, p50 and p99 (linear interpolation, as every
    /// percentile of mlxrun) of gaps `itl_us`, in ms.
    fn summary(&mut self, itl_us: &[u32]) -> ItlSummary {
        self.scratch.clear();
        self.scratch
            .extend(itl_us.iter().map(|us| f64::from(*us) / 1e3));
        self.scratch.sort_by(f64::total_cmp);
        let n = self.scratch.len();
        ItlSummary {
            count: n,
            mean: (n > 0).then(|| self.scratch.iter().sum::<f64>() / n as f64),
            p50: percentile(&self.scratch, 50.0),
            p99: percentile(&self.scratch, 99.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::load::record::ErrorKind;
    use crate::metrics::point::{SummaryOptions, summarize};

    fn ms_d(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// A successful request: sent at `sent` ms (due `queue` ms earlier),
    /// first token after `ttft`, done after `e2e`.
    fn ok(seq: u64, sent: u64, queue: u64, ttft: u64, e2e: u64, tokens: u64) -> RequestRecord {
        RequestRecord {
            seq,
            instance: Some((seq % 2) as u32),
            sent_at: ms_d(sent),
            queue: ms_d(queue),
            ttft: Some(ms_d(ttft)),
            e2e: ms_d(e2e),
            itl_us: (1..tokens as u32).map(|k| 1000 + 250 * k).collect(),
            prompt_tokens: Some(20),
            completion_tokens: tokens,
            usage_reported: true,
            cached_tokens: Some(4),
            retries: u32::from(seq == 3),
            ..Default::default()
        }
    }

    /// Warmup, measured requests (one failed), cooldown.
    fn point_records() -> Vec<RequestRecord> {
        let mut warm = ok(0, 0, 0, 5, 50, 4);
        warm.excluded = true;
        let mut failed = ok(4, 130, 10, 0, 900, 0);
        failed.ttft = None;
        failed.itl_us.clear();
        failed.prompt_tokens = None;
        failed.cached_tokens = None;
        failed.error = Some((ErrorKind::Http5xx, "HTTP 503: busy".into()));
        let mut cool = ok(6, 2000, 0, 5, 60, 4);
        cool.excluded = true;
        vec![
            warm,
            ok(1, 100, 0, 40, 400, 8),
            ok(2, 110, 30, 55, 610, 16),
            ok(3, 120, 5, 35, 380, 6),
            failed,
            ok(5, 300, 0, 70, 1500, 12),
            cool,
        ]
    }

    fn read(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn ctx(point: usize, repeat: Option<u32>) -> PointContext {
        PointContext {
            point,
            repeat,
            start_epoch_s: 1_800_000_000.25,
        }
    }

    #[test]
    fn one_line_per_measured_request_that_recomputes_the_point() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(REQUESTS_FILE);
        let records = point_records();
        let mut log = RequestsLog::create(&path).unwrap();
        assert_eq!(log.write_point(&ctx(3, Some(2)), &records).unwrap(), 5);
        let lines = read(&path);
        assert_eq!(lines.len(), 5, "warmup and cooldown requests are left out");
        assert_eq!(
            lines
                .iter()
                .map(|l| l["seq"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert!(lines.iter().all(|l| l["point"] == 3 && l["repeat"] == 2));

        // the figures summarize() reports, recomputed from the lines alone
        let m = summarize(
            &records,
            &SummaryOptions {
                percentiles: &[50.0],
                max_tokens: 16,
                open_loop: true,
                ..Default::default()
            },
        );
        let ok_lines: Vec<&serde_json::Value> =
            lines.iter().filter(|l| l["outcome"] == "ok").collect();
        let start = lines
            .iter()
            .map(|l| l["scheduled_s"].as_f64().unwrap())
            .fold(f64::INFINITY, f64::min);
        let end = lines
            .iter()
            .map(|l| l["scheduled_s"].as_f64().unwrap() + l["e2e_ms"].as_f64().unwrap() / 1e3)
            .fold(0.0, f64::max);
        let tokens: u64 = ok_lines
            .iter()
            .map(|l| l["completion_tokens"].as_u64().unwrap())
            .sum();
        let throughput = tokens as f64 / (end - start);
        assert!(
            (throughput - m.throughput_tps).abs() < 1e-9 * m.throughput_tps,
            "{throughput} vs {}",
            m.throughput_tps
        );
        let mut ttft: Vec<f64> = ok_lines
            .iter()
            .map(|l| l["ttft_ms"].as_f64().unwrap())
            .collect();
        ttft.sort_by(f64::total_cmp);
        assert_eq!(percentile(&ttft, 50.0), m.ttft_ms.percentiles[0]);
        let itl: usize = ok_lines
            .iter()
            .map(|l| l["itl_ms"].as_array().unwrap().len())
            .sum();
        assert_eq!(itl as u64, m.itl_ms.count);
        let cached: u64 = ok_lines
            .iter()
            .map(|l| l["cached_tokens"].as_u64().unwrap())
            .sum();
        assert_eq!(Some(cached), m.cached_tokens);

        // times: offsets from the point's start and the same on the clock
        let second = &lines[1];
        assert_eq!(second["scheduled_s"], 0.08);
        assert_eq!(second["sent_s"], 0.11);
        assert!((second["sent_ts"].as_f64().unwrap() - 1_800_000_000.36).abs() < 1e-6);
        assert_eq!(second["itl_ms"][0], 1.25);
        assert_eq!(lines[2]["retries"], 1);
        assert_eq!(lines[0]["instance"], 1);
        assert!(
            (lines[0]["tpot_ms"].as_f64().unwrap() - 360.0 / 7.0).abs() < 1e-9,
            "(e2e − ttft) / (tokens − 1)"
        );
    }

    #[test]
    fn a_failed_request_says_its_error_kind_and_detail() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(REQUESTS_FILE);
        let mut log = RequestsLog::create(&path).unwrap();
        log.write_point(&ctx(1, None), &point_records()).unwrap();
        let lines = read(&path);
        let failed = &lines[3];
        assert_eq!(failed["outcome"], "http_5xx");
        assert_eq!(failed["error"], "HTTP 503: busy");
        assert!(failed["ttft_ms"].is_null() && failed["prompt_tokens"].is_null());
        assert!(lines[0]["error"].is_null());
        assert_eq!(lines[0]["outcome"], "ok");
        assert!(lines[0]["repeat"].is_null());
    }

    #[test]
    fn points_append_and_survive_a_reopen() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(REQUESTS_FILE);
        let mut log = RequestsLog::create(&path).unwrap();
        log.write_point(&ctx(1, None), &point_records()).unwrap();
        // durable at the point's end: readable before the log is dropped
        assert_eq!(read(&path).len(), 5);
        assert_eq!(log.write_point(&ctx(2, None), &[]).unwrap(), 0);
        drop(log);
        let mut log = RequestsLog::create(&path).unwrap();
        log.write_point(&ctx(3, None), &point_records()[1..3])
            .unwrap();
        let points: Vec<u64> = read(&path)
            .iter()
            .map(|l| l["point"].as_u64().unwrap())
            .collect();
        assert_eq!(points, vec![1, 1, 1, 1, 1, 3, 3]);
    }

    #[test]
    fn a_point_larger_than_a_write_goes_out_in_whole_lines() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(REQUESTS_FILE);
        let mut log = RequestsLog::create(&path).unwrap();
        // ~3 MB of lines: several writes, each ending on a line
        let records: Vec<RequestRecord> = (0..300)
            .map(|seq| {
                let mut r = ok(seq, 0, 0, 10, 100, 2);
                r.itl_us = vec![123_456; 2000];
                r
            })
            .collect();
        assert_eq!(log.write_point(&ctx(1, None), &records).unwrap(), 300);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() > 2 * WRITE_CHUNK, "{}", text.len());
        let seqs: Vec<u64> = read(&path)
            .iter()
            .map(|l| l["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (0..300).collect::<Vec<_>>());
        assert!(log.pending.is_empty(), "nothing is held after the point");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_write_that_fails_is_an_error_and_holds_nothing_for_the_next_point() {
        let mut log = RequestsLog::create(Path::new("/dev/full")).unwrap();
        let e = log
            .write_point(&ctx(1, None), &point_records())
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        assert!(log.pending.is_empty());
    }

    #[test]
    fn summary_mode_writes_count_mean_p50_p99_instead_of_the_list() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(REQUESTS_FILE);
        let mut log = RequestsLog::create(&path)
            .unwrap()
            .with_itl(RequestItl::Summary);
        let mut r = ok(1, 0, 0, 10, 100, 5);
        r.itl_us = vec![4000, 1000, 3000, 2000];
        log.write_point(&ctx(1, None), &[r, point_records()[4].clone()])
            .unwrap();
        let lines = read(&path);
        assert!(lines[0].get("itl_ms").is_none());
        let s = &lines[0]["itl_ms_summary"];
        assert_eq!(s["count"], 4);
        assert_eq!(s["mean"], 2.5);
        assert_eq!(s["p50"], 2.5);
        assert!((s["p99"].as_f64().unwrap() - 3.97).abs() < 1e-9);
        let empty = &lines[1]["itl_ms_summary"];
        assert_eq!(empty["count"], 0);
        assert!(empty["mean"].is_null() && empty["p99"].is_null());
    }
}
