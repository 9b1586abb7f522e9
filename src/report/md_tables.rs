//! The table sections of `report.md`: quality flags, every point, the best
//! configurations, memory and GPU per configuration, and the comparison
//! with another run. A section with nothing to show says so in one line.

use super::cells::{self, MISSING, escape, num, old_new, pair};
use super::compare::{
    Comparison, LATENCY_IMPROVEMENT_PCT, LATENCY_REGRESSION_PCT, THROUGHPUT_IMPROVEMENT_PCT,
    THROUGHPUT_REGRESSION_PCT,
};
use super::data::{PointRecord, RunData};
use super::summary;
use super::table::{Align, Table};
use crate::output::quality::flag_meaning;

const L: Align = Align::Left;
const R: Align = Align::Right;

/// How many points each "best" table lists.
pub const BEST_COUNT: usize = 5;

/// `## Quality`: clean or not, flags with their points, the legend, and
/// the points that were not measured.
pub fn quality(run: &RunData) -> String {
    let mut md = String::from("## Quality\n\n");
    let (clean, measured) = summary::clean_share(&run.points);
    if measured == 0 {
        md.push_str("No measured point: nothing to judge.\n\n");
    } else if clean == measured {
        md.push_str(&format!(
            "✅ All measured points clean ({measured}/{measured})\n\n"
        ));
    } else {
        md.push_str(&format!(
            "⚠️ {} of {measured} measured points degraded\n\n",
            measured - clean
        ));
    }
    let tally = summary::flag_tally(&run.points);
    if !tally.is_empty() {
        let mut t = Table::new(&[("flag", L), ("count", R), ("points", L)]);
        for (flag, pts) in &tally {
            t.row(vec![
                format!("`{flag}`"),
                pts.len().to_string(),
                cells::point_list(pts),
            ]);
        }
        md.push_str(&t.render());
        md.push('\n');
        for (flag, _) in &tally {
            if let Some(m) = flag_meaning(flag) {
                md.push_str(&format!("- `{flag}`: {m}\n"));
            }
        }
        md.push('\n');
    }
    let unmeasured: Vec<&PointRecord> = run.points.iter().filter(|p| !p.measured()).collect();
    if !unmeasured.is_empty() {
        md.push_str("Points not measured:\n\n");
        for p in unmeasured {
            let detail = if p.outcome_detail.is_empty() {
                String::new()
            } else {
                format!(": {}", escape(&p.outcome_detail))
            };
            md.push_str(&format!(
                "- p{} `{}`, {} — **{}**{detail}\n",
                p.point,
                p.config_label(),
                p.load_label(),
                p.outcome
            ));
        }
        md.push('\n');
    }
    md
}

/// A point's modality group: vision, audio, else text (records older
/// than modalities say nothing, and were text).
fn kind(p: &PointRecord) -> &'static str {
    match p.modality.as_str() {
        "vision" => "vision",
        "audio" => "audio",
        _ => "text",
    }
}

/// The modalities of a run's points, in the order text, vision, audio.
pub fn modalities(run: &RunData) -> Vec<&'static str> {
    ["text", "vision", "audio"]
        .into_iter()
        .filter(|m| run.points.iter().any(|p| kind(p) == *m))
        .collect()
}

/// `## Points`: one row per point. A run with vision or audio points has
/// one table per modality (`### Text`, `### Vision`, `### Audio`), each
/// with its own metrics: images for vision, the real-time factor and no
/// tokens for audio.
pub fn points(run: &RunData) -> String {
    let mut md = String::from("## Points\n\n");
    if run.points.is_empty() {
        md.push_str("No point was recorded.\n\n");
        return md;
    }
    let kinds = modalities(run);
    if kinds == ["text"] {
        md.push_str(&token_points(&run.points.iter().collect::<Vec<_>>()));
        return md;
    }
    for kind in kinds {
        let pts: Vec<&PointRecord> = run
            .points
            .iter()
            .filter(|p| self::kind(p) == kind)
            .collect();
        let (title, body) = match kind {
            "audio" => (
                "Audio",
                format!(
                    "Transcriptions (`/v1/audio/transcriptions`). RTF = audio seconds / processing seconds: higher is faster, above 1 is faster than real time.\n\n{}",
                    audio_points(&pts)
                ),
            ),
            "vision" => (
                "Vision",
                format!(
                    "Chat with images (`img=N@WxH`; `img=0` is a text-only request to the vision model).\n\n{}",
                    token_points(&pts)
                ),
            ),
            _ => ("Text", token_points(&pts)),
        };
        md.push_str(&format!("### {title}\n\n{body}"));
    }
    md
}

/// The audio points' table.
fn audio_points(points: &[&PointRecord]) -> String {
    let mut t = Table::new(&[
        ("#", R),
        ("configuration", L),
        ("load", L),
        ("outcome", L),
        ("req/s", R),
        ("RTF mean/p50", R),
        ("audio s/s", R),
        ("audio s", R),
        ("E2E p50/p99 ms", R),
        ("errors", R),
        ("peak RSS MB", R),
        ("flags", L),
    ]);
    for p in points {
        let m = p.measured();
        t.row(vec![
            p.point.to_string(),
            p.config_label(),
            p.load_label(),
            p.outcome.clone(),
            if m {
                num(Some(p.requests_per_s))
            } else {
                MISSING.to_string()
            },
            pair(p.rtf_mean, p.rtf_p50),
            num(p.audio_s_per_s),
            num(p.audio_seconds.filter(|_| m)),
            pair(p.e2e_ms.p50, p.e2e_ms.p99),
            if m || p.errors > 0 {
                p.errors.to_string()
            } else {
                MISSING.to_string()
            },
            num(p.server_rss_peak_mb),
            flags(p),
        ]);
    }
    let mut md = t.render();
    md.push('\n');
    md
}

/// The text or vision points' table (a vision point's images are in its
/// load label).
fn token_points(points: &[&PointRecord]) -> String {
    let mut t = Table::new(&[
        ("#", R),
        ("configuration", L),
        ("load", L),
        ("outcome", L),
        ("tok/s", R),
        ("req/s", R),
        ("TTFT p50/p99 ms", R),
        ("ITL p50/p99 ms", R),
        ("E2E p50 ms", R),
        ("errors", R),
        ("peak RSS MB", R),
        ("flags", L),
    ]);
    for p in points {
        let m = p.measured();
        let measured = |v: f64| if m { num(Some(v)) } else { MISSING.to_string() };
        t.row(vec![
            p.point.to_string(),
            p.config_label(),
            p.load_label(),
            p.outcome.clone(),
            measured(p.throughput_tps),
            measured(p.requests_per_s),
            pair(p.ttft_ms.p50, p.ttft_ms.p99),
            pair(p.itl_ms.p50, p.itl_ms.p99),
            num(p.e2e_ms.p50),
            if m || p.errors > 0 {
                p.errors.to_string()
            } else {
                MISSING.to_string()
            },
            num(p.server_rss_peak_mb),
            flags(p),
        ]);
    }
    let mut md = t.render();
    md.push('\n');
    md
}

fn flags(p: &PointRecord) -> String {
    if p.quality_flags.is_empty() {
        MISSING.to_string()
    } else {
        p.quality_flags.join(", ")
    }
}

/// `## Best configurations`: by throughput, by TTFT p50, by goodput.
pub fn best(run: &RunData) -> String {
    let mut md = String::from("## Best configurations\n\n");
    let by_tps = summary::top_throughput(&run.points, BEST_COUNT);
    let by_rtf = summary::top_rtf(&run.points, BEST_COUNT);
    if by_tps.is_empty() && by_rtf.is_empty() {
        md.push_str("No measured point to rank.\n\n");
        return md;
    }
    let table = |ps: &[&PointRecord]| {
        let mut t = Table::new(&[
            ("#", R),
            ("configuration", L),
            ("load", L),
            ("tok/s", R),
            ("TTFT p50 ms", R),
            ("ITL p50 ms", R),
            ("flags", L),
        ]);
        for p in ps {
            t.row(vec![
                p.point.to_string(),
                p.config_label(),
                p.load_label(),
                num(Some(p.throughput_tps)),
                num(p.ttft_ms.p50),
                num(p.itl_ms.p50),
                flags(p),
            ]);
        }
        t.render()
    };
    if !by_tps.is_empty() {
        md.push_str(&format!(
            "### By throughput\n\nHighest output tokens/s, top {BEST_COUNT} measured points.\n\n{}\n",
            table(&by_tps)
        ));
    }
    if !by_rtf.is_empty() {
        let mut t = Table::new(&[
            ("#", R),
            ("configuration", L),
            ("load", L),
            ("RTF mean/p50", R),
            ("audio s/s", R),
            ("E2E p50 ms", R),
            ("flags", L),
        ]);
        for p in &by_rtf {
            t.row(vec![
                p.point.to_string(),
                p.config_label(),
                p.load_label(),
                pair(p.rtf_mean, p.rtf_p50),
                num(p.audio_s_per_s),
                num(p.e2e_ms.p50),
                flags(p),
            ]);
        }
        md.push_str(&format!(
            "### By real-time factor\n\nAudio: highest audio seconds per processing second (higher is faster), top {BEST_COUNT} measured points.\n\n{}\n",
            t.render()
        ));
    }
    let by_ttft = summary::top_latency(&run.points, BEST_COUNT);
    if !by_ttft.is_empty() {
        md.push_str(&format!(
            "### By latency\n\nLowest TTFT p50 among measured points, top {BEST_COUNT}.\n\n{}\n",
            table(&by_ttft)
        ));
    }
    let by_goodput = summary::top_goodput(&run.points, BEST_COUNT);
    if !by_goodput.is_empty() {
        let mut t = Table::new(&[
            ("#", R),
            ("configuration", L),
            ("load", L),
            ("goodput req/s", R),
            ("SLO attainment", R),
            ("tok/s", R),
        ]);
        for p in &by_goodput {
            t.row(vec![
                p.point.to_string(),
                p.config_label(),
                p.load_label(),
                num(p.goodput_rps),
                p.slo_attainment
                    .map_or_else(|| MISSING.to_string(), |a| format!("{:.1}%", a * 100.0)),
                num(Some(p.throughput_tps)),
            ]);
        }
        md.push_str(&format!(
            "### By goodput\n\nMost requests/s within the SLO, top {BEST_COUNT} measured points with an SLO.\n\n{}\n",
            t.render()
        ));
    }
    md
}

/// `## Memory and GPU per configuration`.
pub fn resources(run: &RunData) -> String {
    let mut md = String::from("## Memory and GPU per configuration\n\n");
    let rows = summary::per_config(&run.points);
    if rows.is_empty() {
        md.push_str("No configuration ran.\n\n");
        return md;
    }
    let mut t = Table::new(&[
        ("configuration", L),
        ("points", R),
        ("peak server RSS MB", R),
        ("min RAM available GB", R),
        ("max swap growth MB", R),
        ("peak pressure", L),
        ("CPU user+sys avg %", R),
        ("GPU util avg / max %", R),
    ]);
    for r in &rows {
        t.row(vec![
            r.label.clone(),
            r.points.to_string(),
            num(r.rss_peak_mb),
            num(r.ram_available_min_gb),
            num(r.swap_growth_max_mb),
            cells::pressure(r.pressure_peak),
            num(r.cpu_avg),
            pair(r.gpu_avg, r.gpu_max),
        ]);
    }
    md.push_str(&t.render());
    md.push_str(
        "\nFrom the monitor's samples inside each point: peaks and minima over the configuration's points, averages weighted by point duration. CPU is % of all cores.\n\n",
    );
    md
}

/// `## Comparison with <run>`: matched points with their changes, the
/// thresholds, and the points that could not be compared.
pub fn comparison(c: &Comparison) -> String {
    let mut md = format!("## Comparison with {}\n\n", c.other_run_id);
    if c.pairs.is_empty() {
        md.push_str(&format!(
            "No point measured in both runs (points match by configuration and load; `{}` has {} unmatched here).\n\n",
            c.other_run_id,
            c.only_old.len()
        ));
    } else {
        let mut t = Table::new(&[
            ("configuration", L),
            ("load", L),
            ("tok/s old → new (Δ%)", R),
            ("TTFT p50 ms old → new (Δ%)", R),
            ("ITL p50 ms old → new (Δ%)", R),
            ("verdict", L),
        ]);
        for p in &c.pairs {
            let (v, why) = p.verdict();
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join(", "))
            };
            t.row(vec![
                p.new.config_label(),
                p.new.load_label(),
                old_new(p.tps.old, p.tps.new, p.tps.change),
                old_new(p.ttft_p50.old, p.ttft_p50.new, p.ttft_p50.change),
                old_new(p.itl_p50.old, p.itl_p50.new, p.itl_p50.change),
                format!("{} {}{why}", v.icon(), v.word()),
            ]);
        }
        md.push_str(&t.render());
        md.push_str(&format!(
            "\nThresholds: tok/s below {THROUGHPUT_REGRESSION_PCT}% is a ⚠️ regression, above +{THROUGHPUT_IMPROVEMENT_PCT}% an ✅ improvement; TTFT or ITL p50 above +{LATENCY_REGRESSION_PCT}% is a ⚠️ regression, below {LATENCY_IMPROVEMENT_PCT}% an ✅ improvement; otherwise ➡️ within noise. Any regressed metric makes the point a regression.\n\n"
        ));
    }
    let listed = |title: &str, ps: &[&PointRecord]| {
        if ps.is_empty() {
            return String::new();
        }
        let mut s = format!("{title}:\n\n");
        for p in ps {
            s.push_str(&format!(
                "- p{} `{}`, {} ({})\n",
                p.point,
                p.config_label(),
                p.load_label(),
                p.outcome
            ));
        }
        s.push('\n');
        s
    };
    md.push_str(&listed("Only in this run", &c.only_new));
    md.push_str(&listed(
        &format!("Only in `{}`", c.other_run_id),
        &c.only_old,
    ));
    if !c.unmeasured.is_empty() {
        md.push_str("In both runs but not measured in both:\n\n");
        for (o, n) in &c.unmeasured {
            md.push_str(&format!(
                "- p{} `{}`, {}: {} here, {} there (p{})\n",
                n.point,
                n.config_label(),
                n.load_label(),
                n.outcome,
                o.outcome,
                o.point
            ));
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::compare;
    use crate::report::summary::tests::point;

    fn run(id: &str, points: Vec<PointRecord>) -> RunData {
        RunData {
            run_id: id.into(),
            points,
            ..Default::default()
        }
    }

    /// The table rows (lines starting with `|`) after the header and alignment.
    fn rows(md: &str) -> Vec<&str> {
        md.lines().filter(|l| l.starts_with('|')).skip(2).collect()
    }

    #[test]
    fn quality_lists_flags_with_points_legend_and_unmeasured_points() {
        let mut pts = vec![
            point(1, "ok", 10.0, &["clean"]),
            point(2, "ok", 10.0, &["degraded_swap"]),
            point(3, "ok", 10.0, &["degraded_swap", "errors"]),
            point(4, "failed", 0.0, &["unmonitored"]),
        ];
        pts[3].outcome_detail = "servers did not start:\nlog | tail".into();
        let md = quality(&run("r", pts));
        assert!(md.contains("⚠️ 2 of 3 measured points degraded"), "{md}");
        assert!(md.contains("| `degraded_swap` | 2 | p2, p3 |"), "{md}");
        assert!(md.contains("| `clean` | 1 | p1 |"), "{md}");
        // flags of unmeasured points are not tallied
        assert!(!md.contains("| `unmonitored`"), "{md}");
        assert!(md.contains("- `degraded_swap`: swap grew"), "{md}");
        assert!(md.contains("- `errors`: some requests failed"), "{md}");
        assert!(
            md.contains(
                "- p4 `tiny mlx_lm ×1`, c=4 mt=16 — **failed**: servers did not start: log \\| tail"
            ),
            "{md}"
        );
        let clean = quality(&run("r", vec![point(1, "ok", 1.0, &["clean"])]));
        assert!(
            clean.contains("✅ All measured points clean (1/1)"),
            "{clean}"
        );
    }

    #[test]
    fn every_point_has_one_row_and_unmeasured_numbers_are_dashes() {
        let mut pts = vec![
            point(1, "ok", 474.666, &["clean"]),
            point(2, "failed", 0.0, &["unmonitored"]),
        ];
        pts[0].requests_per_s = 29.667;
        pts[0].ttft_ms.p50 = Some(11.0079);
        pts[0].ttft_ms.p99 = Some(12.526);
        pts[0].itl_ms.p50 = Some(1.567);
        pts[0].itl_ms.p99 = Some(1.7552);
        pts[0].e2e_ms.p50 = Some(34.216);
        pts[0].server_rss_peak_mb = Some(86.8);
        pts[0].backend = "a|b".into();
        let md = points(&run("r", pts));
        let r = rows(&md);
        assert_eq!(r.len(), 2, "{md}");
        assert_eq!(
            r[0],
            "| 1 | tiny a\\|b ×1 | c=1 mt=16 | ok | 474.7 | 29.7 | 11.0 / 12.5 | 1.57 / 1.76 | 34.2 | 0 | 86.8 | clean |"
        );
        assert_eq!(
            r[1],
            "| 2 | tiny mlx_lm ×1 | c=2 mt=16 | failed | – | – | – | – | – | – | – | unmonitored |"
        );
        assert!(
            md.contains("| --- | ---: |") || md.contains("| ---: | --- |"),
            "{md}"
        );
        assert!(points(&run("r", vec![])).contains("No point was recorded."));
    }

    #[test]
    fn best_tables_rank_and_skip_goodput_without_slo() {
        let mut pts: Vec<PointRecord> = (1..=7)
            .map(|n| point(n, "ok", 10.0 * n as f64, &["clean"]))
            .collect();
        for p in &mut pts {
            p.ttft_ms.p50 = Some(p.point as f64);
        }
        let md = best(&run("r", pts.clone()));
        let tps = md.split("### By latency").next().unwrap();
        let first: Vec<&str> = rows(tps).iter().map(|r| &r[..4]).collect();
        assert_eq!(first, ["| 7 ", "| 6 ", "| 5 ", "| 4 ", "| 3 "], "{md}");
        let lat = md.split("### By latency").nth(1).unwrap();
        assert!(
            lat.contains("Lowest TTFT p50 among measured points"),
            "{md}"
        );
        assert!(rows(lat)[0].starts_with("| 1 |"), "{md}");
        assert!(!md.contains("By goodput"), "{md}");
        pts[2].slo_attainment = Some(0.9);
        pts[2].goodput_rps = Some(2.5);
        let md = best(&run("r", pts));
        assert!(
            md.contains("| 3 | tiny mlx_lm ×1 | c=3 mt=16 | 2.50 | 90.0% | 30.0 |"),
            "{md}"
        );
        let none = best(&run("r", vec![point(1, "failed", 0.0, &[])]));
        assert!(none.contains("No measured point to rank."), "{none}");
    }

    #[test]
    fn resources_have_one_row_per_configuration() {
        let mut pts = vec![
            point(1, "ok", 1.0, &["clean"]),
            point(2, "ok", 1.0, &["clean"]),
            point(3, "ok", 1.0, &["clean"]),
        ];
        pts[2].instances = 2;
        pts[2].router = "nginx".into();
        pts[0].memory_pressure_peak = Some(4);
        pts[0].gpu_util_avg = Some(40.0);
        pts[0].gpu_util_max = Some(90.0);
        let md = resources(&run("r", pts));
        let r = rows(&md);
        assert_eq!(r.len(), 2, "{md}");
        assert_eq!(
            r[0],
            "| tiny mlx_lm ×1 | 2 | – | – | – | critical | – | 40.0 / 90.0 |"
        );
        assert!(r[1].starts_with("| tiny mlx_lm ×2 nginx | 1 |"), "{md}");
    }

    #[test]
    fn the_comparison_shows_changes_verdicts_thresholds_and_unmatched_points() {
        let mut old_pts = vec![
            point(1, "ok", 100.0, &["clean"]),
            point(2, "ok", 100.0, &["clean"]),
        ];
        old_pts[0].ttft_ms.p50 = Some(10.0);
        let mut new_pts = vec![
            point(1, "ok", 94.0, &["clean"]),
            point(3, "ok", 1.0, &["clean"]),
        ];
        new_pts[0].ttft_ms.p50 = Some(10.5);
        let (old, new) = (run("old_run", old_pts), run("new_run", new_pts));
        let md = comparison(&compare(&new, &old));
        assert!(md.starts_with("## Comparison with old_run\n"), "{md}");
        let r = rows(&md);
        assert_eq!(
            r,
            [
                "| tiny mlx_lm ×1 | c=1 mt=16 | 100.0 → 94.0 (-6.0%) | 10.0 → 10.5 (+5.0%) | – | ⚠️ regression (tok/s) |"
            ]
        );
        assert!(
            md.contains("tok/s below -5% is a ⚠️ regression, above +5%"),
            "{md}"
        );
        assert!(
            md.contains("TTFT or ITL p50 above +10% is a ⚠️ regression, below -10%"),
            "{md}"
        );
        assert!(
            md.contains("Only in this run:\n\n- p3 `tiny mlx_lm ×1`, c=3 mt=16 (ok)"),
            "{md}"
        );
        assert!(
            md.contains("Only in `old_run`:\n\n- p2 `tiny mlx_lm ×1`, c=2 mt=16 (ok)"),
            "{md}"
        );
        let none = comparison(&compare(&run("a", vec![]), &old));
        assert!(none.contains("No point measured in both runs"), "{none}");
    }
}
