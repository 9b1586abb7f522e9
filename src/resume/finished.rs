//! Which points of an interrupted run are finished. A point is finished
//! when the last CSV row with its number and the last report.jsonl record
//! with its number both say `ok`, `errors`, `failed` or `skipped`;
//! `interrupted` points, and points that miss either line (a crash between
//! the two writes), are measured again. Files are append-only, so an
//! earlier line of a point stays where it is and the new one comes after
//! it: readers take the last line per point.

use std::collections::BTreeMap;
use std::path::Path;

/// Outcomes that end a point for good.
pub const FINISHED: &[&str] = &["ok", "errors", "failed", "skipped"];

/// A point's last line in the CSV (status and throughput) and in
/// report.jsonl (outcome).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointState {
    pub csv_status: Option<String>,
    pub throughput_tps: Option<f64>,
    pub report_outcome: Option<String>,
}

impl PointState {
    /// Whether the point is finished (both lines say so).
    pub fn finished(&self) -> bool {
        let done = |s: &Option<String>| s.as_deref().is_some_and(|s| FINISHED.contains(&s));
        done(&self.csv_status) && done(&self.report_outcome)
    }
}

/// Point number → its last lines.
pub type States = BTreeMap<usize, PointState>;

/// The last status (and throughput) per point of a results CSV.
pub fn read_csv(path: &Path, states: &mut States) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    read_csv_data(&data, path, states)
}

/// [`read_csv`] on the CSV `path`'s contents `data` (its whole records).
pub fn read_csv_data(data: &[u8], path: &Path, states: &mut States) -> Result<(), String> {
    let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(data);
    let header = r
        .headers()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(point), Some(status)) = (col("point"), col("status")) else {
        return Err(format!(
            "{} has no `point` and `status` columns",
            path.display()
        ));
    };
    let tps = col("throughput_tps");
    let kind = col("row_kind");
    for rec in r.records() {
        let rec = rec.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // one repeat of a point does not finish it: its `point` row does
        if kind.and_then(|i| rec.get(i)) == Some("repeat") {
            continue;
        }
        let Some(n) = rec.get(point).and_then(|c| c.parse::<usize>().ok()) else {
            continue;
        };
        let st = states.entry(n).or_default();
        st.csv_status = rec.get(status).map(String::from);
        st.throughput_tps = tps.and_then(|i| rec.get(i)).and_then(|c| c.parse().ok());
    }
    Ok(())
}

/// The last outcome per point of a report.jsonl (lines that are not a
/// record are passed over).
pub fn read_report(text: &str, states: &mut States) {
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["row_kind"].as_str() == Some("repeat") {
            continue;
        }
        if let Some(n) = v
            .pointer("/point/point")
            .and_then(serde_json::Value::as_u64)
        {
            states.entry(n as usize).or_default().report_outcome =
                v["outcome"].as_str().map(String::from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_of_a_point_decide_and_both_files_must_agree() {
        let d = tempfile::tempdir().unwrap();
        let csv = d.path().join("r.csv");
        std::fs::write(
            &csv,
            "throughput_tps,status,point\n10.5,ok,1\n3.0,interrupted,2\n12.0,ok,2\n0,skipped,3\n5,ok,4\n1,interrupted,5\n",
        )
        .unwrap();
        let mut s = States::new();
        read_csv(&csv, &mut s).unwrap();
        let rec = |p: u64, o: &str| format!(r#"{{"outcome":"{o}","point":{{"point":{p}}}}}"#);
        let report = [
            rec(1, "ok"),
            rec(2, "interrupted"),
            rec(2, "ok"),
            rec(3, "skipped"),
            "not json".into(),
            rec(5, "interrupted"),
        ]
        .join("\n");
        read_report(&report, &mut s);
        let done: Vec<usize> = s
            .iter()
            .filter(|(_, p)| p.finished())
            .map(|(n, _)| *n)
            .collect();
        // 4 has a row but no record (killed between the two writes)
        assert_eq!(done, [1, 2, 3]);
        assert_eq!(s[&2].throughput_tps, Some(12.0));
        assert_eq!(s[&4].report_outcome, None);
        std::fs::write(&csv, "a,b\n1,2\n").unwrap();
        let e = read_csv(&csv, &mut States::new()).unwrap_err();
        assert!(e.contains("no `point` and `status` columns"), "{e}");
    }

    #[test]
    fn a_repeat_row_does_not_finish_its_point() {
        let d = tempfile::tempdir().unwrap();
        let csv = d.path().join("r.csv");
        // point 1: both repeats and its point row; point 2: one repeat only
        std::fs::write(
            &csv,
            "throughput_tps,status,point,row_kind\n9,ok,1,repeat\n11,ok,1,repeat\n10,ok,1,point\n8,ok,2,repeat\n",
        )
        .unwrap();
        let mut s = States::new();
        read_csv(&csv, &mut s).unwrap();
        let rec = |p: u64, kind: &str| {
            format!(r#"{{"outcome":"ok","row_kind":"{kind}","point":{{"point":{p}}}}}"#)
        };
        read_report(
            &[
                rec(1, "repeat"),
                rec(1, "repeat"),
                rec(1, "point"),
                rec(2, "repeat"),
            ]
            .join("\n"),
            &mut s,
        );
        assert!(s[&1].finished());
        assert_eq!(s[&1].throughput_tps, Some(10.0));
        assert!(!s.get(&2).is_some_and(|p| p.finished()));
    }
}
