//! `report.md`: the run as Markdown that reads well on GitHub. This module
//! puts the document together (header, summary with the verdict on the
//! best point, a search's outcome, memory and CPU per host, files); the
//! tables of points, quality, resources and comparisons, and the note on
//! intervals, come from [`super::md_tables`].

use serde_json::Value;

use super::cells::{self, MISSING};
use super::compare::{Comparison, compare};
use super::data::RunData;
use super::hosts;
use super::md_tables;
use super::search::{self, SearchLog};
use super::summary::{self, Counts};
use super::table::{Align, Table};
use super::verdict::{self, with_interval};

/// The Markdown report of `run`, with deltas against `compare`.
pub fn render(run: &RunData, compare_with: &[RunData]) -> String {
    let comparisons: Vec<Comparison> = compare_with.iter().map(|o| compare(run, o)).collect();
    let mut md = header(
        run,
        &chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
    );
    md.push_str(&summary_section(run, &comparisons));
    if let Some(log) = &run.search {
        md.push_str(&search_section(run, log));
    }
    md.push_str(&md_tables::quality(run));
    md.push_str(&md_tables::intervals_note(run));
    md.push_str(&md_tables::points(run));
    md.push_str(&md_tables::repeats(run));
    md.push_str(&md_tables::best(run));
    md.push_str(&md_tables::resources(run));
    md.push_str(&super::energy::markdown(run));
    md.push_str(&hosts_section(run));
    for c in &comparisons {
        md.push_str(&md_tables::comparison(c));
    }
    md.push_str(&files(run));
    md
}

/// Title and the run's identity: run, dates, generator, hardware, backends, schema.
fn header(run: &RunData, generated: &str) -> String {
    let title = if run.scenario.is_empty() {
        &run.run_id
    } else {
        &run.scenario
    };
    let first_start = run
        .points
        .iter()
        .map(|p| p.start_ts)
        .filter(|t| *t > 0.0)
        .min_by(f64::total_cmp);
    let schema = run
        .points
        .iter()
        .find_map(|p| p.raw["schema_version"].as_str())
        .map_or_else(|| MISSING.to_string(), |v| format!("v{v}"));
    let mut md = format!("# Benchmark report: {title}\n\n");
    md.push_str(&format!("- **Run:** `{}`\n", run.run_id));
    md.push_str(&format!(
        "- **Date:** {}\n",
        first_start.map_or_else(|| MISSING.to_string(), cells::utc)
    ));
    let resumes = run.events.iter().filter(|(_, n, _)| n == "resumed").count();
    if resumes > 0 || run.superseded > 0 {
        md.push_str(&format!(
            "- **Resumed:** {resumes} time(s); {} earlier record(s) of points measured again are kept in report.jsonl, the last one per point is shown\n",
            run.superseded
        ));
    }
    md.push_str(&format!("- **Generated:** {generated}\n"));
    md.push_str(&format!("- **Generator:** mlxrun {}\n", crate::VERSION));
    md.push_str(&format!(
        "- **Hardware:** {}\n",
        run.hardware().map_or_else(|| MISSING.to_string(), hardware)
    ));
    md.push_str(&format!("- **Backends:** {}\n", backends(run)));
    md.push_str(&format!("- **Schema:** {schema}\n\n"));
    md
}

/// `Intel Xeon, 2 physical / 2 logical cores, 23.5 GB RAM, Debian 12 (kernel 6.1), GPUs: none`.
fn hardware(h: &Value) -> String {
    let s = |k: &str| h[k].as_str().filter(|s| !s.is_empty());
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = s("machine_model") {
        parts.push(m.to_string());
    }
    parts.push(s("cpu_model").unwrap_or("CPU unknown").to_string());
    let core = |k: &str| {
        h[k].as_u64()
            .map_or_else(|| "?".to_string(), |n| n.to_string())
    };
    parts.push(format!(
        "{} physical / {} logical cores",
        core("physical_cores"),
        core("logical_cores")
    ));
    if let Some(gb) = h["ram_total_gb"].as_f64() {
        parts.push(format!("{gb:.1} GB RAM"));
    }
    let mut os = [s("os_name"), s("os_version")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(k) = s("kernel") {
        os.push_str(&format!(" (kernel {k})"));
    }
    if !os.trim().is_empty() {
        parts.push(os.trim().to_string());
    }
    parts.push(match h["gpus"].as_array() {
        None => "GPUs: not readable".to_string(),
        Some(g) if g.is_empty() => "GPUs: none".to_string(),
        Some(g) => format!(
            "GPUs: {}",
            g.iter()
                .map(|x| {
                    let name = x["name"].as_str().unwrap_or("GPU");
                    match x["memory_total_mb"].as_f64() {
                        Some(mb) => format!("{name} ({:.0} GB)", mb / 1024.0),
                        None => name.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    parts.join(", ")
}

/// Each distinct backend with its version line: `mlx_lm (mlx-lm 0.32.2 mlx 0.32.4)`.
fn backends(run: &RunData) -> String {
    let mut seen: Vec<String> = Vec::new();
    for p in &run.points {
        if p.backend.is_empty() {
            continue;
        }
        let version = p.raw["backend"]["version"].as_str().unwrap_or_default();
        let s = if version.is_empty() {
            p.backend.clone()
        } else {
            format!("{} ({version})", p.backend)
        };
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    if seen.is_empty() {
        MISSING.to_string()
    } else {
        seen.join("; ")
    }
}

/// `## Summary`: counts, durations, models, quality, the best point, and
/// a block per run compared with.
fn summary_section(run: &RunData, comparisons: &[Comparison]) -> String {
    let c = Counts::of(&run.points);
    let mut md = String::from("## Summary\n\n");
    if c.total == 0 {
        md.push_str("No point was recorded (the run ended before its first point).\n\n");
        return md;
    }
    md.push_str(&format!(
        "- **Points:** {} total: {} measured ({} ok, {} with errors), {} failed, {} interrupted, {} skipped\n",
        c.total, c.measured, c.ok, c.errors, c.failed, c.interrupted, c.skipped
    ));
    let (sum, wall) = summary::durations(&run.points);
    md.push_str(&format!(
        "- **Duration:** {} in points",
        cells::duration(sum)
    ));
    if let Some((start, end)) = wall {
        md.push_str(&format!(
            ", {} wall clock (first point's start to last point's end)",
            cells::duration(end - start)
        ));
    }
    md.push('\n');
    let models = summary::models(&run.points);
    md.push_str(&format!(
        "- **Models:** {} tested: {}\n",
        models.len(),
        models
            .iter()
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let (clean, measured) = summary::clean_share(&run.points);
    match summary::clean_percent(&run.points) {
        Some(pct) => md.push_str(&format!(
            "- **Quality:** {} {pct:.1}% clean ({clean}/{measured} measured points)\n",
            if clean == measured { "✅" } else { "⚠️" }
        )),
        None => md.push_str("- **Quality:** – (no measured point)\n"),
    }
    if let Some(b) = verdict::best(&run.points) {
        let among = b
            .among_text()
            .map_or_else(String::new, |a| format!(" ({a})"));
        md.push_str(&format!(
            "- **Best throughput:** {} tok/s at p{}: `{}`, {}; {}{among}\n",
            with_interval(&b.best.figure(verdict::BEST_BY)),
            b.best.point,
            b.best.config_label(),
            b.best.load_label(),
            b.versus_text()
        ));
    }
    md.push('\n');
    for cmp in comparisons {
        md.push_str(&comparison_summary(cmp));
    }
    md
}

/// `### Comparison`: matched points, median throughput change, and the
/// verdicts in one line.
fn comparison_summary(c: &Comparison) -> String {
    let mut md = format!("### Comparison\n\n- **vs:** `{}`\n", c.other_run_id);
    md.push_str(&format!(
        "- **Matched points:** {} measured in both",
        c.pairs.len()
    ));
    let unmatched = c.only_new.len() + c.only_old.len() + c.unmeasured.len();
    if unmatched > 0 {
        md.push_str(&format!(" ({unmatched} not comparable, listed below)"));
    }
    md.push('\n');
    if let Some(m) = c.median_throughput_change() {
        md.push_str(&format!(
            "- **Median throughput change:** {} (information: the verdicts rest on the intervals)\n",
            cells::pct_change(m),
        ));
    }
    if !c.pairs.is_empty() {
        md.push_str(&format!("- **Verdicts:** {}\n", c.summary_line()));
    }
    md.push('\n');
    md
}

/// `## Search`: what a `mlxrun tune` run set out to find and found (the
/// summary lines of [`search::summary`]), every configuration with its
/// standing and the evidence of each drop, and the Pareto front.
fn search_section(run: &RunData, log: &SearchLog) -> String {
    let mut md = String::from("## Search\n\n");
    md.push_str(
        "This run is a search (`mlxrun tune`): each probe is a row of report.jsonl (`row_kind` `probe`), the latest probe of a point stands for it in the tables below, and every decision is in [`tune.jsonl`](tune.jsonl).\n\n",
    );
    if !log.finished() {
        md.push_str(&format!("⚠️ {}\n\n", search::UNFINISHED_NOTE));
    }
    for l in search::summary(run, log, &|s| format!("`{s}`")) {
        md.push_str(&format!("- **{}:** {}\n", l.key, l.text));
    }
    md.push_str("\n### Configurations\n\n");
    let rows = search::config_rows(run, log);
    if rows.is_empty() {
        md.push_str(&format!(
            "{MISSING} (tune.jsonl names no configuration)\n\n"
        ));
    } else {
        let numeric = ["config", "points measured"];
        let cols: Vec<(&str, Align)> = search::CONFIG_COLUMNS
            .iter()
            .map(|c| {
                let a = if numeric.contains(c) {
                    Align::Right
                } else {
                    Align::Left
                };
                (*c, a)
            })
            .collect();
        let mut t = Table::new(&cols);
        for r in rows {
            t.row(r);
        }
        md.push_str(&t.render());
        md.push('\n');
    }
    md.push_str("### Pareto front: throughput vs e2e p50\n\n");
    match search::pareto_rows(run, log) {
        Ok(rows) => {
            let cols: Vec<(&str, Align)> = search::PARETO_COLUMNS
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        *c,
                        if i == 0 || i >= 3 {
                            Align::Right
                        } else {
                            Align::Left
                        },
                    )
                })
                .collect();
            let mut t = Table::new(&cols);
            for r in rows {
                t.row(r);
            }
            md.push_str("No other probe has more throughput and a lower e2e p50.\n\n");
            md.push_str(&t.render());
            md.push('\n');
        }
        Err(why) => md.push_str(&format!("{why}\n\n")),
    }
    md
}

/// `## Hosts`: memory and CPU of this machine and of every other host
/// the run used, one row each, with each one's hardware and monitor
/// file; empty for a run on this machine alone.
fn hosts_section(run: &RunData) -> String {
    let machines = hosts::machines(run);
    if machines.is_empty() {
        return String::new();
    }
    let mut md = String::from("## Hosts\n\n");
    let cols: Vec<(&str, Align)> = hosts::COLUMNS
        .iter()
        .map(|(c, numeric)| (*c, if *numeric { Align::Right } else { Align::Left }))
        .collect();
    let mut t = Table::new(&cols);
    for m in &machines {
        t.row(m.row());
    }
    md.push_str(&t.render());
    md.push('\n');
    for m in &machines {
        let monitor = link_if_there(run, &m.monitor_file).unwrap_or_else(|| {
            let log = m.log_file.as_deref().and_then(|l| link_if_there(run, l));
            format!(
                "`{}` absent{}",
                code_text(&m.monitor_file),
                log.map_or_else(String::new, |l| format!(" (see {l})"))
            )
        });
        md.push_str(&format!(
            "- **{}:** {}; {monitor}\n",
            m.label.replace('*', "\\*"),
            m.hardware.as_deref().unwrap_or("hardware not recorded"),
        ));
    }
    md.push_str(&format!("\n{}\n\n", hosts::HOW));
    md
}

/// A link to `path` (relative to the run folder) when it is a file there.
fn link_if_there(run: &RunData, path: &str) -> Option<String> {
    run.dir
        .join(path)
        .is_file()
        .then(|| format!("[`{}`]({})", code_text(path), hosts::link_target(path)))
}

/// `s` made safe inside a Markdown code span.
fn code_text(s: &str) -> String {
    s.replace('`', "'")
}

/// `## Files`: what the report was made from, and where the rest is.
fn files(run: &RunData) -> String {
    let mut md = String::from("## Files\n\n");
    md.push_str(&format!(
        "- [`report.jsonl`](report.jsonl): {} point record(s), one JSON object per point\n",
        run.points.len()
    ));
    if run.monitor_header.is_some() || !run.samples.is_empty() {
        let interval = run
            .monitor_header
            .as_ref()
            .and_then(|h| h["interval_ms"].as_f64())
            .map_or_else(String::new, |ms| format!(" every {ms:.0} ms"));
        md.push_str(&format!(
            "- [`monitor.jsonl`](monitor.jsonl): {} sample(s){interval}, {} event(s)\n",
            run.samples.len(),
            run.events.len()
        ));
    } else {
        md.push_str("- `monitor.jsonl`: absent (the run was not monitored)\n");
    }
    for m in hosts::machines(run).iter().skip(1) {
        let mut line = match link_if_there(run, &m.monitor_file) {
            Some(link) => format!(
                "- {link}: host {}'s monitor, {}",
                m.label,
                hosts::samples_text(m)
            ),
            None => format!(
                "- `{}`: absent (the monitor on host {} wrote nothing)",
                code_text(&m.monitor_file),
                m.label
            ),
        };
        if let Some(log) = m.log_file.as_deref().and_then(|l| link_if_there(run, l)) {
            line.push_str(&format!("; its stderr in {log}"));
        }
        md.push_str(&line);
        md.push('\n');
    }
    if let Some(log) = &run.search {
        md.push_str(&format!(
            "- [`tune.jsonl`](tune.jsonl): the search's log, {} decision(s){}\n",
            log.decisions.len(),
            if log.finished() {
                " and its result"
            } else {
                ", no result (not finished)"
            }
        ));
    }
    let csv_name = format!("{}.csv", run.run_id);
    if run
        .dir
        .parent()
        .is_some_and(|p| p.join(&csv_name).is_file())
    {
        md.push_str(&format!(
            "- [`../{csv_name}`](../{csv_name}): the CSV, one row per point\n"
        ));
    }
    md.push_str("- [`report.html`](report.html): the same run with charts and timelines\n");
    md.push_str(
        "- Schema: `schemas/report.schema.json` in mlxrun (check with `mlxrun validate-report`)\n",
    );
    if !run.skipped_lines.is_empty() {
        md.push_str(&format!(
            "\n⚠️ {} unreadable line(s) left out: {}\n",
            run.skipped_lines.len(),
            run.skipped_lines.join("; ")
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::PointRecord;
    use crate::report::summary::tests::point;

    fn run(id: &str, points: Vec<PointRecord>) -> RunData {
        RunData {
            run_id: id.into(),
            scenario: "s".into(),
            points,
            ..Default::default()
        }
    }

    #[test]
    fn the_header_names_run_hardware_backends_and_schema() {
        let mut p = point(1, "ok", 10.0, &["clean"]);
        p.start_ts = 1_795_314_572.678;
        p.raw = serde_json::json!({
            "schema_version": "0.5.0",
            "backend": {"name": "mlx_lm", "version": "mlx-lm 0.32.2"},
            "system": {"hardware_profile": {
                "cpu_model": "Xeon", "physical_cores": 2, "logical_cores": 4,
                "ram_total_gb": 23.541, "os_name": "Debian", "os_version": "12",
                "kernel": "6.1", "gpus": []}}
        });
        let md = header(&run("s_1", vec![p]), "NOW");
        assert!(md.starts_with("# Benchmark report: s\n"), "{md}");
        assert!(md.contains("- **Run:** `s_1`\n"), "{md}");
        assert!(md.contains("- **Date:** 2026-11-22 02:29:32 UTC\n"), "{md}");
        assert!(md.contains("- **Generated:** NOW\n"), "{md}");
        assert!(md.contains(&format!("- **Generator:** mlxrun {}\n", crate::VERSION)));
        assert!(
            md.contains("- **Hardware:** Xeon, 2 physical / 4 logical cores, 23.5 GB RAM, Debian 12 (kernel 6.1), GPUs: none\n"),
            "{md}"
        );
        assert!(
            md.contains("- **Backends:** mlx_lm (mlx-lm 0.32.2)\n"),
            "{md}"
        );
        assert!(md.contains("- **Schema:** v0.5.0\n"), "{md}");
    }

    #[test]
    fn the_summary_counts_quality_over_measured_points_and_names_the_best() {
        let pts = vec![
            point(1, "ok", 10.0, &["clean"]),
            point(2, "ok", 30.0, &["degraded_swap"]),
            point(3, "failed", 0.0, &["unmonitored"]),
            point(4, "ok", 20.0, &["clean"]),
        ];
        let md = summary_section(&run("r", pts), &[]);
        assert!(
            md.contains(
                "4 total: 3 measured (3 ok, 0 with errors), 1 failed, 0 interrupted, 0 skipped"
            ),
            "{md}"
        );
        assert!(md.contains("⚠️ 66.7% clean (2/3 measured points)"), "{md}");
        // the best clean point (p2 has more, but a degraded machine)
        assert!(
            md.contains("**Best throughput:** 20.0 tok/s at p4: `tiny mlx_lm ×1`, c=4 mt=16; cannot tell from p1 (no interval: "),
            "{md}"
        );
        // 4 points of 2 s each
        assert!(md.contains("8.0 s in points"), "{md}");
        assert!(md.contains("- **Models:** 1 tested: `tiny`"), "{md}");
        let empty = summary_section(&run("r", vec![]), &[]);
        assert!(empty.contains("No point was recorded"), "{empty}");
    }

    /// `point(n, "ok", tps)` with a throughput interval of ± `half`.
    fn with_ci(n: usize, tps: f64, half: f64) -> PointRecord {
        let mut p = point(n, "ok", tps, &["clean"]);
        let mut i = crate::report::data::Intervals {
            level: 0.95,
            method: "moving-block bootstrap".into(),
            resamples: Some(1000),
            ..Default::default()
        };
        i.figures.insert(
            "throughput_tps".into(),
            crate::report::data::Figure {
                key: "throughput_tps".into(),
                value: Some(tps),
                lo: Some(tps - half),
                hi: Some(tps + half),
                level: 0.95,
                ..Default::default()
            },
        );
        p.intervals = Some(i);
        p
    }

    #[test]
    fn the_comparison_summary_counts_verdicts() {
        let old = run(
            "old_run",
            vec![with_ci(1, 100.0, 1.0), with_ci(2, 100.0, 1.0)],
        );
        // −6 % well outside the noise, +4 % inside it
        let new = run(
            "new_run",
            vec![with_ci(1, 94.0, 1.0), with_ci(2, 104.0, 8.0)],
        );
        let md = comparison_summary(&compare(&new, &old));
        assert!(md.contains("- **vs:** `old_run`"), "{md}");
        assert!(
            md.contains("- **Matched points:** 2 measured in both\n"),
            "{md}"
        );
        // −6 % and +4 %: median −1 %
        assert!(
            md.contains("**Median throughput change:** -1.0% (information"),
            "{md}"
        );
        assert!(
            md.contains("- **Verdicts:** 1 point slower, 1 no significant difference, 0 faster; z-test on the difference, Holm-corrected at 0.05\n"),
            "{md}"
        );
    }

    #[test]
    fn the_whole_report_shows_intervals_and_the_best_verdict() {
        let r = run(
            "r",
            vec![
                with_ci(1, 512.3, 12.1),
                with_ci(2, 511.0, 14.0),
                with_ci(3, 100.0, 1.0),
            ],
        );
        let md = render(&r, &[]);
        assert!(md.contains("\n## How to read the intervals\n"), "{md}");
        assert!(md.contains("95% confidence interval"), "{md}");
        assert!(
            md.contains("- **Method:** moving-block bootstrap, 1000 resamples"),
            "{md}"
        );
        assert!(
            md.contains("| 1 | tiny mlx_lm ×1 | c=1 mt=16 | ok | 512.3 ± 12.1 |"),
            "{md}"
        );
        assert!(
            md.contains("- **Best throughput:** 512.3 ± 12.1 tok/s at p1: `tiny mlx_lm ×1`, c=1 mt=16; tied within noise with p2 (511.0 ± 14.0, p = 0.89"),
            "{md}"
        );
        assert!(
            md.contains("**Best clean point:** p1 `tiny mlx_lm ×1`, c=1 mt=16: 512.3 ± 12.1 tok/s; tied within noise with p2"),
            "{md}"
        );
        assert!(md.contains("the two are not distinguishable"), "{md}");
        // an old run says it has no interval
        let old = render(&run("o", vec![point(1, "ok", 5.0, &["clean"])]), &[]);
        assert!(
            old.contains("No interval: the records of this run carry none"),
            "{old}"
        );
        assert!(!old.contains(" ± "), "{old}");
    }

    #[test]
    fn a_search_has_its_section_after_the_summary() {
        use crate::report::search::tests::{LABELS, run_folder};
        let (_d, r) = run_folder(Some(true));
        let md = render(&r, &[]);
        let summary = md.find("## Summary\n").unwrap();
        let search = md.find("## Search\n").expect("a search section");
        let next = md[search + 3..].find("\n## ").unwrap() + search + 3;
        assert!(summary < search, "after the summary");
        let section = &md[search..next];
        assert!(
            section.contains(&format!(
                "- **Best:** `{}` (config 0): 205.0 ± 3.00 tok/s; knee c=4, best load c=4\n",
                LABELS[0]
            )),
            "{section}"
        );
        assert!(
            section.contains(&format!("- **Runner-up:** `{}` (config 3)", LABELS[3])),
            "{section}"
        );
        assert!(
            section.contains("- **Tie:** tied within noise: the intervals cannot tell the best from the runner-up"),
            "{section}"
        );
        assert!(
            section
                .contains("45.0 s of probes (server starts and warmups included) against an estimated 10.0 min of load alone for the full product (7.5%)"),
            "{section}"
        );
        assert!(
            section.contains("| dropped in round 0 | 120.0 ± 4.00 tok/s | 120.0 ± 4.00 tok/s vs the leader config 0"),
            "{section}"
        );
        assert!(
            section.contains("z = 21.60, one-sided p < 0.001; rule: its interval lies wholly below the leader's (hi < leader's lo)"),
            "{section}"
        );
        assert!(
            section.contains(
                "| excluded | – (no score: no load counted) | did not start: exited with status 1 |"
            ),
            "{section}"
        );
        assert!(
            section.contains("### Pareto front: throughput vs e2e p50"),
            "{section}"
        );
        assert!(section.contains("| 205.0 | 150.0 |"), "{section}");
        assert!(!section.contains("did not finish"), "{section}");
        assert!(
            md.contains(
                "- [`tune.jsonl`](tune.jsonl): the search's log, 15 decision(s) and its result\n"
            ),
            "{md}"
        );
        assert!(
            md.contains("tune.jsonl:4: "),
            "the unreadable line is listed"
        );
        // an unfinished search says so
        let (_d, open) = run_folder(Some(false));
        let md = render(&open, &[]);
        assert!(md.contains("⚠️ The search did not finish (interrupted or stopped part-way): what follows is its path so far.\n"), "{md}");
        assert!(
            md.contains("- **Stopped:** the search did not finish"),
            "{md}"
        );
        assert!(
            md.contains("- **Best:** – (the search did not finish"),
            "{md}"
        );
        assert!(md.contains(" so far\n"), "{md}");
        // a run that is no search has none
        let (_d, plain) = run_folder(None);
        assert!(!render(&plain, &[]).contains("## Search"));
    }

    #[test]
    fn a_run_on_several_hosts_has_a_row_per_machine_and_links_each_monitor() {
        use crate::report::hosts::tests::{EXPECTED_ROWS, run_with_hosts};
        let (_d, r) = run_with_hosts();
        let md = render(&r, &[]);
        let resources = md.find("## Memory and GPU per configuration\n").unwrap();
        let at = md.find("## Hosts\n").expect("a hosts section");
        let files_at = md.find("## Files\n").unwrap();
        assert!(
            resources < at && at < files_at,
            "after the resources, before the files"
        );
        let section = &md[at..files_at];
        let rows: Vec<&str> = section
            .lines()
            .filter(|l| {
                l.starts_with("| ") && !l.starts_with("| machine") && !l.starts_with("| ---")
            })
            .collect();
        assert_eq!(rows, EXPECTED_ROWS, "{section}");
        assert!(
            section.contains("| machine | samples | span s | RAM used mean GB | RAM used peak GB | RAM total GB | swap used peak MB | CPU busy mean % | CPU busy peak % | load_1 peak | GPU util mean % |\n"),
            "{section}"
        );
        assert!(
            section.contains("- **this machine:** AMD EPYC, 2 cores (2 logical), 24.0 GB RAM; [`monitor.jsonl`](monitor.jsonl)\n"),
            "{section}"
        );
        assert!(
            section.contains("- **a:** Apple M2 Ultra (Mac14,14), 24 cores (24 logical), 192.0 GB RAM; [`hosts/a/monitor.jsonl`](hosts/a/monitor.jsonl)\n"),
            "{section}"
        );
        assert!(
            section.contains(
                "- **b:** hardware not recorded; [`hosts/b/monitor.jsonl`](hosts/b/monitor.jsonl)\n"
            ),
            "{section}"
        );
        assert!(
            section.contains("- **d:** hardware not recorded; `hosts/d/monitor.jsonl` absent (see [`hosts/d/monitor.log`](hosts/d/monitor.log))\n"),
            "{section}"
        );
        assert!(
            section.contains("RAM used = total − available"),
            "{section}"
        );
        let files = &md[files_at..];
        assert!(
            files.contains("- [`hosts/a/monitor.jsonl`](hosts/a/monitor.jsonl): host a's monitor, 2 sample(s) every 1000 ms; its stderr in [`hosts/a/monitor.log`](hosts/a/monitor.log)\n"),
            "{files}"
        );
        assert!(
            files.contains("- [`hosts/b/monitor.jsonl`](hosts/b/monitor.jsonl): host b's monitor, 1 sample(s) every 1000 ms\n"),
            "{files}"
        );
        assert!(
            files.contains("- `hosts/d/monitor.jsonl`: absent (the monitor on host d wrote nothing); its stderr in [`hosts/d/monitor.log`](hosts/d/monitor.log)\n"),
            "{files}"
        );
        assert!(
            files.contains("hosts/a/monitor.jsonl:3: "),
            "the unreadable line is named"
        );
        // the same run without its hosts has no such section
        std::fs::remove_dir_all(r.dir.join("hosts")).unwrap();
        let alone = RunData::load(&r.dir).unwrap();
        let md = render(&alone, &[]);
        assert!(!md.contains("## Hosts"), "{md}");
        assert!(!md.contains("hosts/"), "{md}");
    }

    #[test]
    fn files_list_the_csv_only_when_it_exists() {
        let d = tempfile::tempdir().unwrap();
        let mut r = run("s_1", vec![point(1, "ok", 1.0, &["clean"])]);
        r.dir = d.path().join("s_1");
        let md = files(&r);
        assert!(md.contains("1 point record(s)"), "{md}");
        assert!(md.contains("`monitor.jsonl`: absent"), "{md}");
        assert!(!md.contains(".csv"), "{md}");
        std::fs::write(d.path().join("s_1.csv"), "x\n").unwrap();
        r.monitor_header = Some(serde_json::json!({"interval_ms": 200.0}));
        r.samples = vec![Default::default(); 3];
        let md = files(&r);
        assert!(md.contains("[`../s_1.csv`](../s_1.csv)"), "{md}");
        assert!(md.contains("3 sample(s) every 200 ms"), "{md}");
        assert!(md.contains("schemas/report.schema.json"), "{md}");
    }
}
