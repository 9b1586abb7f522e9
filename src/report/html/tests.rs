//! Tests of report.html: the data blob and the inlined assets cannot close
//! their elements, run text is escaped, and an empty run still makes a page.

use super::*;
use crate::report::data::PointRecord;

#[test]
fn the_data_blob_cannot_close_its_script_element() {
    let v = serde_json::json!({"params": "</script><script>alert(1)</script>", "c": "<!-- x"});
    let s = script_json(&v);
    assert!(!s.contains('<'), "{s}");
    assert!(s.contains(r"\u003c/script>"), "{s}");
    let back: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(back, v, "JSON.parse gives back the same strings");
}

#[test]
fn the_embedded_assets_cannot_close_their_elements() {
    for (name, text, tag) in [
        ("uPlot.iife.min.js", UPLOT_JS, "</script"),
        ("report.js", REPORT_JS, "</script"),
        ("uPlot.min.css", UPLOT_CSS, "</style"),
        ("report.css", REPORT_CSS, "</style"),
    ] {
        assert!(!text.to_lowercase().contains(tag), "{name} contains {tag}");
    }
}

#[test]
fn the_page_escapes_run_text_and_carries_its_data_and_libraries() {
    let point = PointRecord {
        point: 1,
        outcome: "failed".into(),
        outcome_detail: "<b>boom</b> </script>".into(),
        model: "m<i>".into(),
        ..Default::default()
    };
    let run = RunData {
        run_id: "run<1>".into(),
        scenario: "s&t".into(),
        points: vec![point],
        ..Default::default()
    };
    let html = render(&run, &[]);
    assert!(
        html.starts_with("<!doctype html>"),
        "{}",
        &html[..200.min(html.len())]
    );
    assert!(html.contains("run&lt;1&gt;"), "the run id is escaped");
    assert!(
        html.contains("&lt;b&gt;boom&lt;&#x2f;b&gt;") || html.contains("&lt;b&gt;boom&lt;/b&gt;")
    );
    assert!(!html.contains("<b>boom"));
    // the only `</script` are the page's own element ends
    let opens = html.matches("<script").count();
    let closes = html.to_lowercase().matches("</script").count();
    assert_eq!(opens, closes, "every script element closes once");
    assert!(html.contains("var uPlot="), "uPlot is inlined");
    assert!(html.contains(r#"<script type="application/json" id="report-data">"#));
    assert!(html.contains("Content-Security-Policy"));
    // a run with nothing in it still makes a page
    let empty = render(&RunData::default(), &[]);
    assert!(empty.contains("0 points: 0 measured"), "{empty:.300}");
}

#[test]
fn the_page_draws_whiskers_and_states_the_verdicts() {
    use crate::report::data::{Figure, Intervals};
    let p = |n: usize, tps: f64, half: f64| {
        let mut i = Intervals {
            level: 0.95,
            method: "moving-block bootstrap".into(),
            ..Default::default()
        };
        i.figures.insert(
            "throughput_tps".into(),
            Figure {
                key: "throughput_tps".into(),
                value: Some(tps),
                lo: Some(tps - half),
                hi: Some(tps + half),
                level: 0.95,
                ..Default::default()
            },
        );
        PointRecord {
            point: n,
            outcome: "ok".into(),
            model: "m".into(),
            backend: "b".into(),
            instances: 1,
            concurrency: n.to_string(),
            ok_requests: 4,
            requests: 4,
            throughput_tps: tps,
            quality_flags: vec!["clean".into()],
            intervals: Some(i),
            ..Default::default()
        }
    };
    let run = RunData {
        run_id: "new".into(),
        points: vec![p(1, 100.0, 2.0), p(2, 101.0, 2.0)],
        ..Default::default()
    };
    let old = RunData {
        run_id: "old".into(),
        points: vec![p(1, 125.0, 2.0), p(2, 101.0, 2.0)],
        ..Default::default()
    };
    let html = render(&run, &[old]);
    // the whiskers' bounds in the data, and the code that draws them
    assert!(
        html.contains(r#""lo":[98.0,99.0]"#),
        "no lower bounds in the data"
    );
    assert!(html.contains(r#""hi":[102.0,103.0]"#));
    assert!(
        html.contains("function whiskers(bars, colors)"),
        "no whisker drawing"
    );
    assert!(
        html.contains("draw: [whiskers("),
        "whiskers are not hooked into a chart"
    );
    // ± in the table, the verdicts on top
    assert!(
        html.contains("<td data-v=\"100\">100.0 ± 2.000</td>"),
        "no ± in the table"
    );
    assert!(
        html.contains("best clean point p2 (m b ×1, c=2 mt=0): 101.0 ± 2.00 tok&#x2f;s; tied within noise with p1 (100.0 ± 2.00, p = 0.488)"),
        "{}",
        &html[html.find("id=\"verdict\"").unwrap_or(0)..][..300]
    );
    assert!(
        html.contains("vs old: 1 point slower, 1 no significant difference, 0 faster; z-test on the difference, Holm-corrected at 0.05"),
        "the comparison's verdicts"
    );
    assert!(
        html.contains("span each figure&#x27;s 95% confidence interval (moving-block bootstrap)"),
        "the intervals' level and method"
    );
}

/// The JSON blob the page's script reads.
fn data_of(html: &str) -> serde_json::Value {
    let open = r#"<script type="application/json" id="report-data">"#;
    let start = html.find(open).expect("a data blob") + open.len();
    let len = html[start..].find("</script>").expect("its end");
    serde_json::from_str(&html[start..start + len]).expect("JSON")
}

#[test]
fn a_run_on_several_hosts_has_their_table_and_a_ram_chart() {
    use crate::report::hosts::tests::{EXPECTED_ROWS, run_with_hosts};
    let (_d, run) = run_with_hosts();
    let html = render(&run, &[]);
    let at = html
        .find(r#"<section id="sec-hosts">"#)
        .expect("a hosts section");
    let section = &html[at..at + html[at..].find("</section>").unwrap()];
    // each Markdown row's cells, as the page's cells
    for row in EXPECTED_ROWS {
        let cells: String = row
            .trim_matches(|c| c == '|' || c == ' ')
            .split(" | ")
            .map(|c| format!("<td>{c}</td>"))
            .collect();
        assert!(
            section.contains(&format!("<tr>{cells}</tr>")),
            "{cells} in {section}"
        );
    }
    assert!(
        section.contains(r#"<a href="hosts&#x2f;a&#x2f;monitor.jsonl">"#),
        "{section}"
    );
    assert!(
        section.contains("Apple M2 Ultra (Mac14,14), 24 cores (24 logical), 192.0 GB RAM"),
        "{section}"
    );
    assert!(
        section.contains(
            r#"hosts&#x2f;d&#x2f;monitor.jsonl absent (stderr: <a href="hosts&#x2f;d&#x2f;monitor.log">"#
        ),
        "{section}"
    );
    assert!(section.contains(r#"<div id="hosts-chart"></div>"#));
    assert!(
        html.contains(r#"guarded("hosts", hostsRam)"#),
        "the chart is drawn"
    );
    let chart = &data_of(&html)["hosts_ram"];
    let labels: Vec<&str> = chart["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["this machine", "a", "b", "d"]);
    // minutes since this machine's first sample (ts 1000)
    let t: Vec<f64> = chart["t"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(t.len(), 5);
    assert_eq!((t[0], t[4]), (0.0, 0.175));
    assert_eq!(chart["series"][1]["y"][4], 100.0, "host a's last sample");
    // a run without hosts has neither
    let alone = render(&RunData::default(), &[]);
    assert!(!alone.contains("sec-hosts"));
    assert!(data_of(&alone)["hosts_ram"].is_null());
}
