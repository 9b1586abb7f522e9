//! The per-point table of the page: one row per point of the run, each
//! cell its text (a headline figure as `value ± half-width` when it has an
//! interval) and the value its column sorts by.

use serde::Serialize;

use crate::report::data::PointRecord;

/// One cell: what is shown, and what sorting compares (a number when the
/// column is numeric; empty cells sort last).
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub text: String,
    pub sort: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub outcome: String,
    pub cells: Vec<Cell>,
}

/// The column headings, in cell order, with whether the column is numeric.
pub const COLUMNS: [(&str, bool); 18] = [
    ("#", true),
    ("outcome", false),
    ("configuration", false),
    ("load", false),
    ("tok/s", true),
    ("req/s", true),
    ("TTFT p50 ms", true),
    ("TTFT p99 ms", true),
    ("ITL p50 ms", true),
    ("ITL p99 ms", true),
    ("E2E p50 ms", true),
    ("RTF mean", true),
    ("ok/req", true),
    ("errors", true),
    ("requests per instance", false),
    ("server RSS peak MB", true),
    ("quality", false),
    ("detail", false),
];

/// A number with the digits its size deserves: 1234, 123.4, 12.34, 1.234.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        String::new()
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(text: String, sort: String) -> Cell {
    Cell { text, sort }
}

fn text(s: &str) -> Cell {
    cell(s.to_string(), s.to_string())
}

fn opt(v: Option<f64>) -> Cell {
    match v.filter(|v| v.is_finite()) {
        Some(v) => cell(num(v), v.to_string()),
        None => cell(String::new(), String::new()),
    }
}

/// Figure `key` of `p` (only when `show`): `512.3 ± 12.10` with an
/// interval, the value alone without; sorted by the value.
fn figure(p: &PointRecord, key: &str, show: bool) -> Cell {
    let f = p.figure(key);
    match f.value.filter(|v| v.is_finite() && show) {
        Some(v) => match f.half_width() {
            Some(h) => cell(format!("{} ± {}", num(v), num(h)), v.to_string()),
            None => cell(num(v), v.to_string()),
        },
        None => cell(String::new(), String::new()),
    }
}

/// The rows, in point order.
pub fn rows(points: &[PointRecord]) -> Vec<Row> {
    points
        .iter()
        .map(|p| {
            let measured = p.measured();
            let fig = |key: &str| figure(p, key, measured);
            Row {
                outcome: p.outcome.clone(),
                cells: vec![
                    cell(p.point.to_string(), p.point.to_string()),
                    text(&p.outcome),
                    text(&p.config_label()),
                    text(&p.load_label()),
                    figure(p, "throughput_tps", measured && p.modality != "audio"),
                    fig("requests_per_s"),
                    fig("ttft_p50_ms"),
                    fig("ttft_p99_ms"),
                    fig("itl_p50_ms"),
                    fig("itl_p99_ms"),
                    fig("e2e_p50_ms"),
                    opt(p.rtf_mean.filter(|_| measured)),
                    cell(
                        format!("{}/{}", p.ok_requests, p.requests),
                        p.ok_requests.to_string(),
                    ),
                    cell(p.errors.to_string(), p.errors.to_string()),
                    text(
                        &p.instance_requests
                            .iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(" / "),
                    ),
                    opt(p.server_rss_peak_mb),
                    text(&p.quality_flags.join(" ")),
                    text(&p.outcome_detail),
                ],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_digits_by_size_and_unmeasured_points_show_no_metrics() {
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(123.456), "123.5");
        assert_eq!(num(12.3456), "12.35");
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(num(f64::NAN), "");
        let failed = PointRecord {
            point: 3,
            outcome: "failed".into(),
            outcome_detail: "servers did not start".into(),
            throughput_tps: 0.0,
            ..Default::default()
        };
        let r = &rows(&[failed])[0];
        assert_eq!(r.cells.len(), COLUMNS.len());
        assert_eq!(r.cells[0].text, "3");
        assert_eq!(r.cells[4].text, "", "no throughput for a failed point");
        assert_eq!(r.cells[17].text, "servers did not start");
        let audio = PointRecord {
            point: 4,
            outcome: "ok".into(),
            modality: "audio".into(),
            ok_requests: 2,
            requests: 2,
            rtf_mean: Some(12.5),
            ..Default::default()
        };
        let r = &rows(&[audio])[0];
        assert_eq!(r.cells[4].text, "", "no tok/s for an audio point");
        assert_eq!(r.cells[11].text, "12.50", "its RTF");
    }

    #[test]
    fn a_figure_with_an_interval_shows_plus_minus_and_sorts_by_its_value() {
        use crate::report::data::{Figure, Intervals};
        let mut p = PointRecord {
            point: 1,
            outcome: "ok".into(),
            ok_requests: 4,
            requests: 4,
            throughput_tps: 512.3,
            ..Default::default()
        };
        let mut i = Intervals::default();
        i.figures.insert(
            "throughput_tps".into(),
            Figure {
                key: "throughput_tps".into(),
                value: Some(512.3),
                lo: Some(500.2),
                hi: Some(524.4),
                level: 0.95,
                ..Default::default()
            },
        );
        p.intervals = Some(i);
        let r = &rows(&[p])[0];
        assert_eq!(r.cells[4].text, "512.3 ± 12.10");
        assert_eq!(r.cells[4].sort, "512.3");
        assert_eq!(
            r.cells[5].text, "0.000",
            "no interval for requests/s: the value alone"
        );
    }
}
