//! report.html's "Search path" of a `mlxrun tune` run: the chart's data
//! (each probe's figure with its interval, by probe number, one series
//! per configuration, the dropped and excluded ones marked) and the
//! section's text (the summary report.md shows, the configurations, the
//! Pareto front and every decision), from [`crate::report::search`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::report::data::RunData;
use crate::report::search::{self, Line, SearchLog, Standing};

/// The section's text; the template escapes every cell.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub finished: bool,
    /// Why the search has no result, when it has none.
    pub unfinished: Option<String>,
    pub summary: Vec<Line>,
    /// `(heading, numeric)` of each table's columns.
    pub config_columns: Vec<(String, bool)>,
    pub configs: Vec<Vec<String>>,
    pub pareto_columns: Vec<(String, bool)>,
    pub pareto: Vec<Vec<String>>,
    /// Why the front is empty, when it is.
    pub pareto_note: Option<String>,
    pub decision_columns: Vec<(String, bool)>,
    pub decisions: Vec<Vec<String>>,
}

/// Columns that sort as numbers.
const NUMERIC: [&str; 6] = [
    "config",
    "points measured",
    "probe",
    "round",
    "throughput (tok/s)",
    "e2e p50 (ms)",
];

fn columns(cols: &[&str]) -> Vec<(String, bool)> {
    cols.iter()
        .map(|c| (c.to_string(), NUMERIC.contains(c)))
        .collect()
}

/// The section of a run that is a search; `None` for any other run.
pub fn section(run: &RunData) -> Option<Section> {
    let log = run.search.as_ref()?;
    let (pareto, pareto_note) = match search::pareto_rows(run, log) {
        Ok(rows) => (rows, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    Some(Section {
        finished: log.finished(),
        unfinished: (!log.finished()).then(|| search::UNFINISHED_NOTE.to_string()),
        summary: search::summary(run, log, &|s| s.to_string()),
        config_columns: columns(&search::CONFIG_COLUMNS),
        configs: search::config_rows(run, log),
        pareto_columns: columns(&search::PARETO_COLUMNS),
        pareto,
        pareto_note,
        decision_columns: columns(&search::DECISION_COLUMNS),
        decisions: search::decision_rows(run, log),
    })
}

/// One probe on the chart: its configuration, the figure's value (`None`:
/// not measured) and its interval.
#[derive(Debug, Clone, Copy)]
struct Measured {
    config: usize,
    value: Option<f64>,
    interval: Option<(f64, f64)>,
}

/// What a configuration's series is marked with: `dropped in round 1`,
/// `excluded`; `None` for a contender.
fn mark(standing: &Standing) -> Option<String> {
    match standing {
        Standing::Dropped { .. } | Standing::Excluded { .. } => {
            Some(search::standing_text(standing))
        }
        _ => None,
    }
}

/// The chart's data: `x` the probe numbers measured, one series per
/// configuration with the objective's figure (`y`, `lo`, `hi`; null where
/// another configuration was probed), its mark, and the probe after which
/// it was dropped or excluded (`marked_at`); `None` for a run that is no
/// search.
pub fn chart(run: &RunData) -> Option<Value> {
    let log: &SearchLog = run.search.as_ref()?;
    let figure = log.figure().to_string();
    // by probe number; the last row of a probe number counts (a resume
    // may measure it again)
    let mut by_probe: BTreeMap<u64, Measured> = BTreeMap::new();
    for p in &run.probes {
        let Some(tag) = &p.search else { continue };
        let f = p.figure(&figure);
        let value = f.value.filter(|v| v.is_finite() && p.measured());
        let interval = value.and(f.interval());
        by_probe.insert(
            tag.probe,
            Measured {
                config: tag.config,
                value,
                interval,
            },
        );
    }
    let x: Vec<u64> = by_probe.keys().copied().collect();
    let unmeasured = by_probe.values().filter(|v| v.value.is_none()).count();
    let series: Vec<Value> = log
        .configs(&run.probes)
        .iter()
        .map(|c| {
            let at = |f: &dyn Fn(&Measured) -> Option<f64>| {
                by_probe
                    .values()
                    .map(|v| if v.config == c.config { f(v) } else { None })
                    .collect::<Vec<_>>()
            };
            let mark = mark(&c.standing);
            // the mark sits on the configuration's last probe with a value
            let marked_at = mark.as_ref().and_then(|_| {
                by_probe
                    .iter()
                    .rev()
                    .find(|(_, v)| v.config == c.config && v.value.is_some())
                    .map(|(k, _)| *k)
            });
            json!({
                "config": c.config,
                "label": c.label,
                "mark": mark,
                "marked_at": marked_at,
                "y": at(&|v| v.value),
                "lo": at(&|v| v.interval.map(|i| i.0)),
                "hi": at(&|v| v.interval.map(|i| i.1)),
            })
        })
        .collect();
    let mut notes = Vec::new();
    if unmeasured > 0 {
        notes.push(format!(
            "{unmeasured} probe(s) have no value of {figure} (failed, interrupted or without a successful request): see the decisions below."
        ));
    }
    if x.is_empty() {
        notes.push("No probe row was recorded yet.".to_string());
    }
    Some(json!({
        "figure": figure,
        "y_label": format!("{figure} ({})", search::unit(&figure)),
        "unit": search::unit(&figure),
        "x": x,
        "series": series,
        "notes": notes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::search::tests::{LABELS, run_folder};

    #[test]
    fn the_chart_has_a_series_per_configuration_with_marks_and_whiskers() {
        let (_d, run) = run_folder(Some(true));
        let c = chart(&run).unwrap();
        assert_eq!(c["figure"], "throughput_tps");
        assert_eq!(c["unit"], "tok/s");
        assert_eq!(c["x"], json!([1, 2, 3, 4, 5, 6, 7, 8, 9]));
        let series = c["series"].as_array().unwrap();
        assert_eq!(series.len(), 4);
        // config 0: probes 1, 2, 3 and 8 with their intervals
        assert_eq!(
            series[0]["y"],
            json!([100.0, 180.0, 200.0, null, null, null, null, 205.0, null])
        );
        assert_eq!(series[0]["lo"][7], json!(202.0));
        assert_eq!(series[0]["hi"][7], json!(208.0));
        assert_eq!(series[0]["mark"], Value::Null);
        // dropped: marked on its last probe; excluded: no value to mark
        assert_eq!(series[1]["mark"], "dropped in round 0");
        assert_eq!(series[1]["marked_at"], 5);
        assert_eq!(series[1]["label"], LABELS[1]);
        assert_eq!(series[2]["mark"], "excluded");
        assert_eq!(series[2]["marked_at"], Value::Null);
        assert_eq!(
            series[2]["y"][5],
            Value::Null,
            "the failed probe has no value"
        );
        assert!(
            c["notes"][0]
                .as_str()
                .unwrap()
                .starts_with("1 probe(s) have no value of throughput_tps"),
            "{c}"
        );
        let plain = RunData::default();
        assert!(chart(&plain).is_none() && section(&plain).is_none());
    }

    #[test]
    fn the_page_shows_the_search_and_escapes_its_labels() {
        let (_d, run) = run_folder(Some(true));
        let html = crate::report::html::render(&run, &[]);
        assert!(html.contains(r#"<section id="sec-search">"#), "no section");
        assert!(html.contains("<h2>Search path</h2>"));
        assert!(
            html.contains("decode=2 &lt;fast&gt; mt=128"),
            "label escaped"
        );
        assert!(
            !html.contains("<fast>"),
            "a label's markup never reaches the page"
        );
        assert!(html.contains(r#"<table id="search-decisions""#));
        assert!(html.contains("<dt>Tie</dt><dd>tied within noise"));
        assert!(html.contains("configuration dropped"));
        assert!(html.contains("(7.5%)"), "the cost against the full product");
        assert!(!html.contains(r#"id="search-unfinished""#));
        // the chart's data is in the blob
        assert!(html.contains(r#""search":{"#), "chart data");
        // unfinished: said, and no Pareto table
        let (_d, open) = run_folder(Some(false));
        let html = crate::report::html::render(&open, &[]);
        assert!(html.contains(r#"id="search-unfinished""#));
        assert!(html.contains("The search did not finish (interrupted or stopped part-way)"));
        assert!(!html.contains(r#"<table id="search-pareto""#));
        // a run that is no search has no section
        let (_d, plain) = run_folder(None);
        let html = crate::report::html::render(&plain, &[]);
        assert!(!html.contains(r#"<section id="sec-search">"#));
    }
}
