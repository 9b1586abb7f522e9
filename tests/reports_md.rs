//! `report.md` from real runs against mlx_lm.server (tiny model, nginx for
//! two instances): every run writes it with all its sections and one row
//! per point, and `mlxrun report RUN2 --compare RUN1` matches every point
//! of two runs of the same sweep.

use std::path::Path;

use crate::common::*;

const SECTIONS: &[&str] = &[
    "## Summary",
    "## Quality",
    "## How to read the intervals",
    "## Points",
    "## Best configurations",
    "## Memory and GPU per configuration",
    "## Files",
];

/// The cells of a table line, split on pipes that are not escaped.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut prev = ' ';
    for c in inner.chars() {
        if c == '|' && prev != '\\' {
            out.push(String::new());
        } else {
            out.last_mut().unwrap().push(c);
        }
        prev = c;
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

/// The first table of `md` under `heading` (up to the next `## `) as rows of
/// cells, header first; panics unless each row has the header's width.
fn table_under(md: &str, heading: &str) -> Vec<Vec<String>> {
    let start = md
        .find(&format!("{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading:?} in:\n{md}"));
    let body = &md[start + heading.len()..];
    let end = body.find("\n## ").unwrap_or(body.len());
    let rows: Vec<Vec<String>> = body[..end]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(cells)
        .collect();
    assert!(rows.len() >= 2, "no table under {heading}:\n{md}");
    for r in &rows {
        assert_eq!(r.len(), rows[0].len(), "{heading}: ragged row {r:?}");
    }
    rows
}

fn read_md(run: &Path) -> String {
    std::fs::read_to_string(run.join("report.md"))
        .unwrap_or_else(|e| panic!("every run writes report.md in {}: {e}", run.display()))
}

#[test]
fn runs_write_report_md_and_report_compares_two_runs_point_by_point() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    // two configurations (1 and 2 instances) × two concurrencies
    let path = write_scenario(
        t.path(),
        "reports_md",
        port,
        // the suite runs two tests at once, each the other's noisy
        // neighbour: this test checks the report of clean points (the shape
        // warmup is off: on a busy machine one that does not settle flags
        // its point not_warmed; tests/defensible.rs tests the warmup)
        "[workload]\nrequests_per_concurrency = 3\nwarmup_requests = 1\n\n[matrix]\ninstances = [1, 2]\nconcurrency = [1, 2]\nmax_tokens = 16\n\n[memory]\nnoisy_neighbour_cores = 64\n\n[run.warmup]\nenabled = false\n",
    );
    let (stdout, _) = run_ok(mlxrun().arg(&path).arg("--plain"));
    let files = csvs(t.path(), "reports_md");
    let run1 = run_dir(&files[0]);
    assert!(
        stdout.contains(&format!("report_md={}", run1.join("report.md").display())),
        "{stdout}"
    );
    assert_clean_run(&run1);

    let md = read_md(&run1);
    assert!(md.starts_with("# Benchmark report: reports_md\n"), "{md}");
    let run1_id = run1.file_name().unwrap().to_string_lossy().into_owned();
    assert!(md.contains(&format!("- **Run:** `{run1_id}`")), "{md}");
    assert!(
        md.contains(&format!(
            "- **Schema:** v{}",
            mlxrun::output::jsonl::REPORT_SCHEMA_VERSION
        )),
        "{md}"
    );
    assert!(md.contains("logical cores"), "{md}");
    assert!(md.contains("- **Backends:** mlx_lm (mlx-lm "), "{md}");
    for s in SECTIONS {
        assert!(md.contains(&format!("\n{s}\n")), "no {s}:\n{md}");
    }
    assert!(!md.contains("## Comparison with"), "{md}");
    assert!(
        md.contains("- **Points:** 4 total: 4 measured (4 ok, 0 with errors)"),
        "{md}"
    );
    assert!(md.contains("✅ All measured points clean (4/4)"), "{md}");

    // one row per point, measured numbers present
    let points = table_under(&md, "## Points");
    assert_eq!(points.len(), 2 + 4, "{md}");
    let col = |name: &str| points[0].iter().position(|h| h == name).unwrap();
    let expected = [
        ("tiny-llama mlx_lm ×1", "c=1 mt=16"),
        ("tiny-llama mlx_lm ×1", "c=2 mt=16"),
        ("tiny-llama mlx_lm ×2 nginx", "c=1 mt=16"),
        ("tiny-llama mlx_lm ×2 nginx", "c=2 mt=16"),
    ];
    for (i, row) in points[2..].iter().enumerate() {
        assert_eq!(row[0], (i + 1).to_string(), "{row:?}");
        assert_eq!(
            (
                row[col("configuration")].as_str(),
                row[col("load")].as_str()
            ),
            expected[i]
        );
        assert_eq!(row[col("outcome")], "ok");
        // `512.3 ± 12.1` (or the value alone without an interval)
        let tps = row[col("tok/s")].split(" ± ").next().unwrap();
        assert!(tps.parse::<f64>().unwrap() > 0.0, "{row:?}");
        assert!(row[col("TTFT p50/p99 ms")].contains(" / "), "{row:?}");
        // a Python server with a model loaded holds well over 50 MB
        assert!(
            row[col("peak RSS MB")].parse::<f64>().unwrap() > 50.0,
            "{row:?}"
        );
        assert_eq!(row[col("flags")], "clean");
    }
    let resources = table_under(&md, "## Memory and GPU per configuration");
    assert_eq!(resources.len(), 2 + 2, "{md}");
    assert_eq!(resources[2][0], "tiny-llama mlx_lm ×1");
    assert_eq!(resources[3][0], "tiny-llama mlx_lm ×2 nginx");
    // two servers hold more than one
    let rss = |r: &Vec<String>| r[2].parse::<f64>().unwrap();
    assert!(rss(&resources[3]) > rss(&resources[2]), "{resources:?}");
    assert_eq!(table_under(&md, "### By throughput").len(), 2 + 4);
    let csv_name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(md.contains(&format!("(../{csv_name})")), "{md}");
    assert!(md.contains("sample(s) every 200 ms"), "{md}");

    // the same sweep again, then run 2 against run 1
    run_ok(mlxrun().arg(&path).arg("--plain"));
    let files = csvs(t.path(), "reports_md");
    assert_eq!(files.len(), 2, "{files:?}");
    let run2 = run_dir(&files[1]);
    assert_clean_run(&run2);
    let (stdout, _) = run_ok(
        mlxrun()
            .arg("report")
            .arg(&run2)
            .arg("--compare")
            .arg(&run1),
    );
    assert!(stdout.contains("report_md="), "{stdout}");
    let md = read_md(&run2);
    for s in SECTIONS {
        assert!(md.contains(&format!("\n{s}\n")), "no {s}:\n{md}");
    }
    assert!(md.contains(&format!("- **vs:** `{run1_id}`")), "{md}");
    assert!(
        md.contains("- **Matched points:** 4 measured in both\n"),
        "{md}"
    );
    assert!(md.contains("- **Median throughput change:** "), "{md}");
    assert!(md.contains("- **Verdicts:** "), "{md}");
    assert!(
        stdout.contains(&format!("compare vs {run1_id}: ")),
        "the comparison's one-line summary: {stdout}"
    );
    let cmp = table_under(&md, &format!("## Comparison with {run1_id}"));
    assert_eq!(cmp.len(), 2 + 4, "{md}");
    for (row, (config, load)) in cmp[2..].iter().zip(expected) {
        assert_eq!((row[0].as_str(), row[1].as_str()), (config, load));
        // tok/s, TTFT, ITL and E2E p50: `old → new (Δ%; verdict, p)` (no
        // Δ% from 0: an ITL p50 of 0 ms happens when a loaded server
        // flushes several tokens in one write)
        for c in &row[2..6] {
            assert!(c.contains(" → ") && c.ends_with(')'), "{row:?}");
        }
        assert!(
            [
                "⚠️ slower",
                "✅ faster",
                "➡️ no significant difference",
                "❔ cannot tell"
            ]
            .iter()
            .any(|v| row[6].starts_with(v)),
            "{row:?}"
        );
    }
    assert!(
        md.contains(
            "z-test on the difference (standard errors from each interval), Holm-corrected at 0.05"
        ),
        "{md}"
    );
    assert!(!md.contains("Only in"), "every point matched:\n{md}");
}
