//! The table sections of `report.md`: quality flags, every point (each
//! headline figure with its interval as `value ± half-width`), the
//! repeats of points measured several times, the best configurations with
//! the verdict on the best one, memory and GPU per configuration, and the
//! comparison with another run. A section with nothing to show says so in
//! one line.

use std::collections::BTreeMap;

use super::cells::{self, MISSING, escape, num, pair, pct_change};
use super::compare::{Comparison, Delta};
use super::data::{PointRecord, RunData};
use super::summary;
use super::table::{Align, Table};
use super::verdict::{self, TEST_NAME, Verdict, with_interval};
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
                fig(p, "requests_per_s")
            } else {
                MISSING.to_string()
            },
            pair(p.rtf_mean, p.rtf_p50),
            num(p.audio_s_per_s),
            num(p.audio_seconds.filter(|_| m)),
            fig_pair(p, "e2e_p50_ms", "e2e_p99_ms"),
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
        let measured = |key: &str| {
            if m { fig(p, key) } else { MISSING.to_string() }
        };
        t.row(vec![
            p.point.to_string(),
            p.config_label(),
            p.load_label(),
            p.outcome.clone(),
            measured("throughput_tps"),
            measured("requests_per_s"),
            fig_pair(p, "ttft_p50_ms", "ttft_p99_ms"),
            fig_pair(p, "itl_p50_ms", "itl_p99_ms"),
            fig(p, "e2e_p50_ms"),
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

/// Figure `key` of `p` as `value ± half-width` (the value alone without
/// an interval).
fn fig(p: &PointRecord, key: &str) -> String {
    with_interval(&p.figure(key))
}

/// Two figures as `a / b`, each with its interval; `–` when neither has a value.
fn fig_pair(p: &PointRecord, a: &str, b: &str) -> String {
    let (fa, fb) = (p.figure(a), p.figure(b));
    if fa.value.is_none() && fb.value.is_none() {
        return MISSING.to_string();
    }
    format!("{} / {}", with_interval(&fa), with_interval(&fb))
}

/// `### Repeats`: each measurement of the points measured several times
/// (their combined figures are the points' rows above); empty when no
/// point was repeated.
pub fn repeats(run: &RunData) -> String {
    if run.repeats.is_empty() {
        return String::new();
    }
    let mut t = Table::new(&[
        ("#", R),
        ("repeat", R),
        ("load", L),
        ("outcome", L),
        ("tok/s", R),
        ("TTFT p50 ms", R),
        ("E2E p50 ms", R),
        ("flags", L),
    ]);
    for r in &run.repeats {
        let m = r.measured();
        t.row(vec![
            r.point.to_string(),
            r.repeat
                .map_or_else(|| MISSING.to_string(), |n| n.to_string()),
            r.load_label(),
            r.outcome.clone(),
            if m {
                fig(r, "throughput_tps")
            } else {
                MISSING.to_string()
            },
            fig(r, "ttft_p50_ms"),
            fig(r, "e2e_p50_ms"),
            flags(r),
        ]);
    }
    format!(
        "### Repeats\n\nEach measurement of a point measured several times; the point's row above combines them, and the spread between repeats is part of its interval.\n\n{}\n",
        t.render()
    )
}

/// `## How to read the intervals`: the level and method the records
/// state, and the rule behind every verdict.
pub fn intervals_note(run: &RunData) -> String {
    let mut md = String::from("## How to read the intervals\n\n");
    // (level, method, resamples) -> points
    let mut methods: BTreeMap<(String, String, Option<u64>), Vec<usize>> = BTreeMap::new();
    let mut repeated = 0;
    for p in run.points.iter().filter(|p| p.measured()) {
        if let Some(i) = &p.intervals {
            methods
                .entry((verdict::level_pct(i.level), i.method.clone(), i.resamples))
                .or_default()
                .push(p.point);
        }
        if p.repeats.is_some_and(|n| n > 1) {
            repeated += 1;
        }
    }
    if methods.is_empty() {
        md.push_str("No interval: the records of this run carry none (report.jsonl before schema 0.6.0, or no measured point). Figures are shown without ±, and verdicts cannot tell a difference from noise.\n\n");
        return md;
    }
    let levels: Vec<&String> = {
        let mut v: Vec<&String> = methods.keys().map(|k| &k.0).collect();
        v.dedup();
        v
    };
    md.push_str(&format!(
        "A figure shown as `512.3 ± 12.1` is the measured value ± half the width of its {}% confidence interval (the bounds, which need not be symmetric, are in report.jsonl under `intervals` and in the CSV as `<figure>_lo` and `<figure>_hi`). A figure without ± has no interval; report.jsonl and the CSV's `ci_notes` say why (for example too few samples for a p99).\n\n",
        levels.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("% or ")
    ));
    let several = methods.len() > 1;
    for ((level, method, resamples), pts) in &methods {
        let method = if method.is_empty() {
            "not stated"
        } else {
            method.as_str()
        };
        let resamples = resamples.map_or_else(String::new, |n| format!(", {n} resamples"));
        if several {
            md.push_str(&format!(
                "- {}: {level}% intervals, {method}{resamples}\n",
                cells::point_list(pts)
            ));
        } else {
            md.push_str(&format!("- **Method:** {method}{resamples}\n"));
        }
    }
    if repeated > 0 {
        md.push_str(&format!(
            "- **Repeats:** {repeated} point(s) were measured several times; their intervals include the spread between repeats\n"
        ));
    }
    md.push_str(&format!(
        "- **Verdicts:** two figures differ when |a − b| / √(se_a² + se_b²) exceeds the normal quantile, with se = (hi − lo) / (2 · z) from each interval (z = 1.96 at 95%): a {TEST_NAME}. Overlapping intervals can still differ; \"tied within noise\" means this test finds no difference.\n\n"
    ));
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
    if let Some(b) = verdict::best(&run.points) {
        md.push_str(&best_sentence(&b));
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
                fig(p, "throughput_tps"),
                fig(p, "ttft_p50_ms"),
                fig(p, "itl_p50_ms"),
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

/// The verdict on the best point: which it is, its throughput with its
/// interval, and whether the runner-up is within its noise.
fn best_sentence(b: &verdict::BestVerdict) -> String {
    let who = if b.clean {
        "Best clean point"
    } else {
        "Best point (none was clean)"
    };
    let stands = match b.versus_runner_up.as_ref().map(|s| &s.verdict) {
        None => "the only point that competed".to_string(),
        Some(Verdict::Faster) => format!(
            "{}: distinguishable from the runner-up beyond noise",
            b.versus_text()
        ),
        Some(Verdict::CannotTell(_)) => {
            format!("{}: the ranking below may be noise", b.versus_text())
        }
        Some(_) => format!(
            "{}: the two are not distinguishable, and the order of the ranking below between them is noise",
            b.versus_text()
        ),
    };
    format!(
        "**{who}:** p{} `{}`, {}: {} tok/s; {stands}.\n\n",
        b.best.point,
        b.best.config_label(),
        b.best.load_label(),
        with_interval(&b.best.figure(verdict::BEST_BY)),
    )
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

/// `## Comparison with <run>`: matched points with each figure's change
/// and verdict, the test, and the points that could not be compared.
pub fn comparison(c: &Comparison) -> String {
    let mut md = format!("## Comparison with {}\n\n", c.other_run_id);
    if c.pairs.is_empty() {
        md.push_str(&format!(
            "No point measured in both runs (points match by configuration and load; `{}` has {} unmatched here).\n\n",
            c.other_run_id,
            c.only_old.len()
        ));
    } else {
        md.push_str(&format!("**{}.**\n\n", c.summary_line()));
        let mut t = Table::new(&[
            ("configuration", L),
            ("load", L),
            ("tok/s old → new (Δ%; verdict)", R),
            ("TTFT p50 ms old → new (Δ%; verdict)", R),
            ("ITL p50 ms old → new (Δ%; verdict)", R),
            ("E2E p50 ms old → new (Δ%; verdict)", R),
            ("verdict", L),
        ]);
        // why figures could not be judged -> how many
        let mut untold: BTreeMap<String, usize> = BTreeMap::new();
        for p in &c.pairs {
            let (v, why) = p.verdict();
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join(", "))
            };
            let mut row = vec![p.new.config_label(), p.new.load_label()];
            for d in &p.deltas {
                if let Some(Verdict::CannotTell(w)) = d.test.as_ref().map(|t| &t.verdict)
                    && d.old.value.is_some()
                    && d.new.value.is_some()
                {
                    *untold.entry(format!("{}: {w}", d.label)).or_default() += 1;
                }
                row.push(delta_cell(d));
            }
            let word = match &v {
                Verdict::CannotTell(_) => "cannot tell".to_string(),
                v => v.word(),
            };
            row.push(format!("{} {word}{why}", v.icon()));
            t.row(row);
        }
        md.push_str(&t.render());
        md.push_str(&format!(
            "\nEach figure of each matched point is tested: {TEST_NAME}, over all the tests of this comparison (p-values shown are Holm-adjusted). A point is ⚠️ slower when any figure is slower, else ✅ faster when any is faster, else ➡️ no significant difference. Δ% is information, not the verdict.\n\n"
        ));
        if !untold.is_empty() {
            md.push_str("Not judged (no interval):\n\n");
            for (why, n) in &untold {
                md.push_str(&format!("- {} ({n} point(s))\n", escape(why)));
            }
            md.push('\n');
        }
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

/// `old → new (Δ%; verdict, p)` of one figure; `–` when either side has no value.
fn delta_cell(d: &Delta) -> String {
    let (Some(_), Some(_)) = (d.old.value, d.new.value) else {
        return MISSING.to_string();
    };
    let mut notes: Vec<String> = Vec::new();
    if let Some(c) = d.change {
        notes.push(pct_change(c));
    }
    match &d.test {
        Some(t) => {
            let word = match &t.verdict {
                Verdict::CannotTell(_) => "no interval".to_string(),
                v => v.word(),
            };
            let p = t
                .p_value
                .map_or_else(String::new, |p| format!(", {}", cells::p_value(p)));
            notes.push(format!("{word}{p}"));
        }
        None => notes.push("not compared".into()),
    }
    format!(
        "{} → {} ({})",
        num(d.old.value),
        num(d.new.value),
        notes.join("; ")
    )
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

    /// `point(n, "ok", tps)` with intervals: throughput ± `half`, TTFT p50 10 ± 1.
    fn with_ci(n: usize, tps: f64, half: f64) -> PointRecord {
        use crate::report::data::{Figure, Intervals};
        let mut p = point(n, "ok", tps, &["clean"]);
        p.ttft_ms.p50 = Some(10.0);
        let f = |key: &str, v: f64, h: f64| Figure {
            key: key.into(),
            value: Some(v),
            lo: Some(v - h),
            hi: Some(v + h),
            level: 0.95,
            ..Default::default()
        };
        let mut i = Intervals {
            level: 0.95,
            method: "block bootstrap".into(),
            ..Default::default()
        };
        i.figures
            .insert("throughput_tps".into(), f("throughput_tps", tps, half));
        i.figures
            .insert("ttft_p50_ms".into(), f("ttft_p50_ms", 10.0, 1.0));
        p.intervals = Some(i);
        p
    }

    #[test]
    fn the_comparison_shows_changes_verdicts_the_test_and_unmatched_points() {
        let old_pts = vec![
            with_ci(1, 100.0, 2.0),
            with_ci(2, 100.0, 2.0),
            with_ci(4, 50.0, 2.0),
        ];
        let new_pts = vec![
            with_ci(1, 80.0, 2.0),
            with_ci(3, 1.0, 0.1),
            with_ci(4, 50.5, 2.0),
        ];
        let (old, new) = (run("old_run", old_pts), run("new_run", new_pts));
        let md = comparison(&compare(&new, &old));
        assert!(md.starts_with("## Comparison with old_run\n"), "{md}");
        assert!(
            md.contains("**1 point slower, 1 no significant difference, 0 faster; z-test on the difference, Holm-corrected at 0.05.**"),
            "{md}"
        );
        let r = rows(&md);
        assert_eq!(
            r,
            [
                "| tiny mlx_lm ×1 | c=1 mt=16 | 100.0 → 80.0 (-20.0%; slower, p < 0.001) | 10.0 → 10.0 (+0.0%; no significant difference, p = 1.000) | – | – | ⚠️ slower (tok/s) |",
                "| tiny mlx_lm ×1 | c=4 mt=16 | 50.0 → 50.5 (+1.0%; no significant difference, p = 1.000) | 10.0 → 10.0 (+0.0%; no significant difference, p = 1.000) | – | – | ➡️ no significant difference |",
            ]
        );
        assert!(md.contains("z-test on the difference (standard errors from each interval), Holm-corrected at 0.05, over all the tests"), "{md}");
        assert!(md.contains("Δ% is information, not the verdict"), "{md}");
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
        // records without intervals: the change is shown, the verdict cannot tell
        let plain = |id: &str, t: f64| run(id, vec![point(1, "ok", t, &["clean"])]);
        let md = comparison(&compare(&plain("b", 50.0), &plain("a", 100.0)));
        let r = rows(&md);
        assert_eq!(
            r,
            [
                "| tiny mlx_lm ×1 | c=1 mt=16 | 100.0 → 50.0 (-50.0%; no interval) | – | – | – | ❔ cannot tell |"
            ],
            "{md}"
        );
        assert!(
            md.contains("Not judged (no interval):\n\n- tok/s: no interval: record has no intervals (report.jsonl before 0.6.0) (1 point(s))"),
            "{md}"
        );
    }

    #[test]
    fn points_show_intervals_and_repeats_have_their_own_table() {
        let mut p = with_ci(1, 474.666, 3.17);
        p.repeats = Some(2);
        let mut r = run("r", vec![p.clone()]);
        let md = points(&r);
        assert!(
            rows(&md)[0].starts_with(
                "| 1 | tiny mlx_lm ×1 | c=1 mt=16 | ok | 474.7 ± 3.17 | 0 | 10.0 ± 1.00 / – |"
            ),
            "{md}"
        );
        assert_eq!(repeats(&r), "", "no repeat rows, no table");
        let mut rep = with_ci(1, 470.0, 5.0);
        rep.row_kind = crate::report::data::RowKind::Repeat;
        rep.repeat = Some(1);
        r.repeats = vec![rep];
        let md = repeats(&r);
        assert!(md.starts_with("### Repeats\n"), "{md}");
        assert_eq!(
            rows(&md),
            ["| 1 | 1 | c=1 mt=16 | ok | 470.0 ± 5.00 | 10.0 ± 1.00 | – | clean |"]
        );
        let note = intervals_note(&r);
        assert!(note.contains("its 95% confidence interval"), "{note}");
        assert!(note.contains("- **Method:** block bootstrap\n"), "{note}");
        assert!(
            note.contains("- **Repeats:** 1 point(s) were measured several times"),
            "{note}"
        );
        // two methods: each with its points
        let mut q = with_ci(2, 10.0, 1.0);
        if let Some(i) = q.intervals.as_mut() {
            i.method = "other".into();
            i.level = 0.9;
        }
        r.points.push(q);
        let note = intervals_note(&r);
        assert!(
            note.contains("- p1: 95% intervals, block bootstrap\n"),
            "{note}"
        );
        assert!(note.contains("- p2: 90% intervals, other\n"), "{note}");
    }

    #[test]
    fn the_best_section_states_the_verdict() {
        let md = best(&run(
            "r",
            vec![with_ci(1, 480.0, 10.0), with_ci(2, 530.0, 10.0)],
        ));
        assert!(
            md.contains("**Best clean point:** p2 `tiny mlx_lm ×1`, c=2 mt=16: 530.0 ± 10.0 tok/s; ahead of p1 (480.0 ± 10.0, p < 0.001): distinguishable from the runner-up beyond noise."),
            "{md}"
        );
        assert!(
            rows(&md)[0]
                .starts_with("| 2 | tiny mlx_lm ×1 | c=2 mt=16 | 530.0 ± 10.0 | 10.0 ± 1.00 |"),
            "{md}"
        );
    }
}
