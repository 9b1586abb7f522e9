//! What the page shows, gathered from the runs: the header (scenario, run,
//! hardware, backend versions, date), the summary line, the verdict on the
//! best point, the verdicts of each comparison, the intervals' method, the
//! table, memory and CPU per host, and the charts' data blob.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Value, json};

use super::{charts, heatmap, hosts, search, table, timeline};
use crate::report::compare::compare;
use crate::report::data::RunData;
use crate::report::verdict::{self, with_interval};

#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub scenario: String,
    pub run_id: String,
    pub date: String,
    pub mlxrun_version: String,
    pub hardware: String,
    pub backends: Vec<String>,
    /// The run folders compared with, by name.
    pub compare: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub header: Header,
    pub summary: String,
    /// The best point and whether the runner-up is within its noise; empty
    /// without a measured point.
    pub verdict: String,
    /// Per run compared with: `vs OTHER: 2 points slower, …`.
    pub comparisons: Vec<String>,
    /// How the intervals (and the whiskers) were computed, or that there
    /// are none.
    pub intervals: String,
    pub columns: Vec<(String, bool)>,
    pub rows: Vec<table::Row>,
    /// Lines of the run's files that could not be read.
    pub skipped_lines: Vec<String>,
    /// The search's path and outcome, for a run of `mlxrun tune`.
    pub search: Option<search::Section>,
    /// Memory and CPU per machine, for a run that used other hosts.
    pub hosts: Option<hosts::Section>,
    /// Everything the charts draw, for the page's script.
    pub data: Value,
}

/// The page of `run` with `compare` overlaid.
pub fn build(run: &RunData, compare_with: &[RunData]) -> Page {
    let runs: Vec<&RunData> = std::iter::once(run).chain(compare_with).collect();
    let configs = charts::configs(&runs);
    let (throughput, mut notes) = charts::throughput(&runs, &configs);
    let measured: Vec<_> = run.measured().collect();
    let (heatmaps, heatmap_note) = match heatmap::grids(run.measured_tokens()) {
        Ok(g) => (g, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    if measured.is_empty() {
        notes.push("No point of this run was measured: the charts of points are empty.".into());
    }
    let audio = measured.iter().filter(|p| p.modality == "audio").count();
    if audio > 0 {
        notes.push(format!(
            "{audio} audio point(s) make no tokens: they are in the table with their real-time factor (RTF = audio s / processing s, higher is faster), not in the token charts."
        ));
    }
    let data = json!({
        "run_id": run.run_id,
        "runs": runs.iter().map(|r| &r.run_id).collect::<Vec<_>>(),
        "configs": configs,
        "throughput": throughput,
        "notes": notes,
        "latency": charts::latency(run, &configs),
        "heatmaps": heatmaps,
        "heatmap_note": heatmap_note,
        "instances": charts::instances(run, &configs),
        "energy": crate::report::energy::chart(run, &configs),
        "timeline": timeline::data(run),
        "search": search::chart(run),
        "hosts_ram": hosts::ram_chart(run),
        // the timeline colours each point's region by its configuration
        "point_config": run
            .points
            .iter()
            .map(|p| {
                let l = p.config_label();
                (p.point.to_string(), json!(configs.iter().position(|c| *c == l)))
            })
            .collect::<serde_json::Map<_, _>>(),
    });
    Page {
        header: header(run, compare_with),
        summary: summary(run),
        verdict: best_verdict(run),
        comparisons: compare_with
            .iter()
            .map(|o| format!("vs {}: {}", o.run_id, compare(run, o).summary_line()))
            .collect(),
        intervals: intervals(run),
        columns: table::COLUMNS
            .iter()
            .map(|(n, numeric)| (n.to_string(), *numeric))
            .collect(),
        rows: table::rows(&run.points),
        skipped_lines: run.skipped_lines.clone(),
        search: search::section(run),
        hosts: hosts::section(run),
        data,
    }
}

/// `best clean point p3 (tiny ×1, c=8 mt=64): 512.3 ± 12.1 tok/s; tied
/// within noise with p7 (511.0 ± 14.0, p = 0.890)`.
pub fn best_verdict(run: &RunData) -> String {
    let Some(b) = verdict::best(&run.points) else {
        return String::new();
    };
    let mut s = format!(
        "best {}point p{} ({}, {}): {} tok/s; {}",
        if b.clean { "clean " } else { "" },
        b.best.point,
        b.best.config_label(),
        b.best.load_label(),
        with_interval(&b.best.figure(verdict::BEST_BY)),
        b.versus_text()
    );
    if let Some(a) = b.among_text() {
        s.push_str(&format!(" ({a})"));
    }
    s
}

/// The intervals' level and method, as the first measured point with
/// intervals states them.
fn intervals(run: &RunData) -> String {
    match run.measured().find_map(|p| p.intervals.as_ref()) {
        Some(i) => format!(
            "Whiskers and ± span each figure's {}% confidence interval ({}); verdicts: {}.",
            verdict::level_pct(i.level),
            if i.method.is_empty() { "method not stated" } else { &i.method },
            verdict::TEST_NAME
        ),
        None => "No interval: the records of this run carry none (report.jsonl before schema 0.6.0); verdicts cannot tell.".into(),
    }
}

fn header(run: &RunData, compare: &[RunData]) -> Header {
    let first = run.points.first().map(|p| &p.raw);
    let date = run
        .monitor_header
        .as_ref()
        .and_then(|h| h["started_at"].as_str())
        .or_else(|| first.and_then(|r| r["timestamp"].as_str()))
        .unwrap_or("unknown")
        .to_string();
    let mut backends: BTreeSet<String> = BTreeSet::new();
    for p in &run.points {
        if let Some(v) = p.raw.pointer("/backend/version").and_then(Value::as_str)
            && !v.is_empty()
        {
            backends.insert(format!("{}: {v}", p.backend));
        }
    }
    if backends.is_empty()
        && let Some(pk) = first
            .and_then(|r| r.pointer("/system/packages"))
            .and_then(Value::as_object)
    {
        backends.extend(
            pk.iter()
                .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?"))),
        );
    }
    Header {
        scenario: run.scenario.clone(),
        run_id: run.run_id.clone(),
        date,
        mlxrun_version: first
            .and_then(|r| r["mlxrun_version"].as_str())
            .unwrap_or(crate::VERSION)
            .to_string(),
        hardware: run
            .hardware()
            .map(hardware)
            .unwrap_or_else(|| "unknown".into()),
        backends: backends.into_iter().collect(),
        compare: compare.iter().map(|r| r.run_id.clone()).collect(),
    }
}

/// `Apple M2 Pro (Mac14,12) · 12 cores (12 logical) · 32.0 GB RAM · macOS 14.5 · arm64`.
pub fn hardware(h: &Value) -> String {
    let s = |k: &str| h[k].as_str().filter(|v| !v.is_empty());
    let mut parts = Vec::new();
    let mut cpu = s("cpu_model").unwrap_or("unknown CPU").to_string();
    if let Some(m) = s("machine_model") {
        cpu.push_str(&format!(" ({m})"));
    }
    parts.push(cpu);
    if let Some(c) = h["physical_cores"].as_u64() {
        let logical = h["logical_cores"].as_u64().unwrap_or(c);
        parts.push(format!("{c} cores ({logical} logical)"));
    }
    if let Some(r) = h["ram_total_gb"].as_f64() {
        parts.push(format!("{r:.1} GB RAM"));
    }
    let os: Vec<&str> = [s("os_name"), s("os_version")]
        .into_iter()
        .flatten()
        .collect();
    if !os.is_empty() {
        parts.push(os.join(" "));
    }
    if let Some(k) = s("kernel") {
        parts.push(format!("kernel {k}"));
    }
    if let Some(a) = s("architecture") {
        parts.push(a.to_string());
    }
    if let Some(gpus) = h["gpus"].as_array().filter(|g| !g.is_empty()) {
        let names: Vec<&str> = gpus.iter().filter_map(|g| g["name"].as_str()).collect();
        parts.push(format!("GPUs: {}", names.join(", ")));
    }
    parts.join(" · ")
}

/// `16 points: 15 measured, 1 failed, 0 interrupted, 0 skipped · 120 requests, 0 errors · quality clean: 94% of points (15/16)`.
pub fn summary(run: &RunData) -> String {
    let n = run.points.len();
    let count = |o: &str| run.points.iter().filter(|p| p.outcome == o).count();
    let measured = run.measured().count();
    let clean = run
        .points
        .iter()
        .filter(|p| p.quality_flags == ["clean"])
        .count();
    let requests: u64 = run.points.iter().map(|p| p.requests).sum();
    let errors: u64 = run.points.iter().map(|p| p.errors).sum();
    let pct = if n == 0 {
        0.0
    } else {
        100.0 * clean as f64 / n as f64
    };
    format!(
        "{n} points: {measured} measured, {} failed, {} interrupted, {} skipped · {requests} requests, {errors} errors · quality clean: {pct:.0}% of points ({clean}/{n})",
        count("failed"),
        count("interrupted"),
        count("skipped"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::PointRecord;

    #[test]
    fn the_summary_counts_outcomes_requests_and_clean_points() {
        let p = |outcome: &str, flags: &[&str], ok: u64| PointRecord {
            outcome: outcome.into(),
            quality_flags: flags.iter().map(|f| f.to_string()).collect(),
            requests: 4,
            ok_requests: ok,
            errors: 4 - ok,
            ..Default::default()
        };
        let run = RunData {
            points: vec![
                p("ok", &["clean"], 4),
                p("errors", &["errors"], 3),
                p("failed", &["unmonitored"], 0),
                p("ok", &["clean"], 4),
            ],
            ..Default::default()
        };
        assert_eq!(
            summary(&run),
            "4 points: 3 measured, 1 failed, 0 interrupted, 0 skipped · 16 requests, 5 errors · quality clean: 50% of points (2/4)"
        );
        let hw = json!({"cpu_model": "Apple M2", "machine_model": "Mac14,12", "physical_cores": 8,
                        "logical_cores": 8, "ram_total_gb": 24.0, "os_name": "macOS", "os_version": "14.5",
                        "kernel": null, "architecture": "arm64", "gpus": null});
        assert_eq!(
            hardware(&hw),
            "Apple M2 (Mac14,12) · 8 cores (8 logical) · 24.0 GB RAM · macOS 14.5 · arm64"
        );
    }
}
