//! The per-point table of the page: one row per point of the run, each
//! cell its text and the value its column sorts by.

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

/// The rows, in point order.
pub fn rows(points: &[PointRecord]) -> Vec<Row> {
    points
        .iter()
        .map(|p| {
            let measured = p.measured();
            let m = |v: f64| opt(measured.then_some(v));
            let ml = |v: Option<f64>| opt(v.filter(|_| measured));
            Row {
                outcome: p.outcome.clone(),
                cells: vec![
                    cell(p.point.to_string(), p.point.to_string()),
                    text(&p.outcome),
                    text(&p.config_label()),
                    text(&p.load_label()),
                    opt((measured && p.modality != "audio").then_some(p.throughput_tps)),
                    m(p.requests_per_s),
                    ml(p.ttft_ms.p50),
                    ml(p.ttft_ms.p99),
                    ml(p.itl_ms.p50),
                    ml(p.itl_ms.p99),
                    ml(p.e2e_ms.p50),
                    ml(p.rtf_mean),
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
}
