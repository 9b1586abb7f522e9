//! report.html in a real browser: a small real sweep against mlx_lm.server
//! (and nginx) writes its report; headless Chromium loads it from disk with
//! no console output, no uncaught error and no blocked load, and every chart
//! drew its data (the page's own self-check, read from the DOM); the page
//! fetches nothing from the network; a screenshot is kept for people.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// The Chromium binary; panics with the fix when there is none.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    for app in [
        "/Applications/Chromium.app/Contents/MacOS/Chromium",
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    ] {
        if Path::new(app).is_file() {
            return app.into();
        }
    }
    panic!("no Chromium found: run scripts/install-chromium.sh (scripts/test.sh does)");
}

/// Run headless Chromium on `page` (with `fragment`, `#…` or empty) with
/// `extra` arguments, in its own process group, killed (the whole group)
/// after 90 s or when it is done. Returns `(stdout, stderr)`.
pub fn headless(page: &Path, fragment: &str, extra: &[String], dir: &Path) -> (String, String) {
    use std::os::unix::process::CommandExt;
    let profile = tempfile::tempdir_in(dir).unwrap();
    let (out_path, err_path) = (dir.join("chromium.out"), dir.join("chromium.err"));
    let mut child = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}{fragment}", page.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // whatever Chromium left in its group goes with it
    // SAFETY: signalling the process group this test started.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("Chromium did not finish in 90 s\n{stderr}"));
    assert!(status.success(), "Chromium failed: {status}\n{stderr}");
    (stdout, stderr)
}

/// The text between `start` and the next `end` in `text`.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let i = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in the page"))
        + start.len();
    let j = text[i..].find(end).unwrap() + i;
    &text[i..j]
}

/// Every `http://`/`https://` URL the page would fetch: in an attribute
/// that loads (src, href, …), a CSS url() or @import, or a fetch/import call.
fn fetchable_urls(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let loaders = [
        "src=", "href=", "srcset=", "poster=", "data=", "action=", "url(", "@import", "fetch(",
        "import(",
    ];
    let mut out = Vec::new();
    for scheme in ["http://", "https://"] {
        for (i, _) in lower.match_indices(scheme) {
            let before = lower[..i].trim_end_matches(['"', '\'', ' ', '\n', '\t']);
            if loaders.iter().any(|l| before.ends_with(l)) {
                let from = before.len().saturating_sub(20);
                out.push(html[from..(i + 60).min(html.len())].to_string());
            }
        }
    }
    out
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

#[test]
fn a_real_sweeps_report_html_draws_every_chart_in_headless_chromium_offline() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    // 8 server configurations (instances × decode × prompt), 2 loads each
    let path = write_scenario(
        t.path(),
        "html_sweep",
        port,
        "[workload]\nrequests_per_concurrency = 2\nwarmup_requests = 0\n\n[matrix]\ninstances = [1, 2]\ndecode_concurrency = [2, 4]\nprompt_concurrency = [1, 2]\nconcurrency = [1, 2]\nmax_tokens = 8\n\n[memory]\nmonitor_interval_ms = 100\n",
    );
    let (stdout, _) = run_ok(mlxrun().arg(&path).arg("--plain"));
    let run = run_dir(&csvs(t.path(), "html_sweep")[0]);
    assert_clean_run(&run);
    let page = run.join("report.html");
    assert!(
        stdout.contains(&format!("report_html={}", page.display())),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let records: Vec<Value> = std::fs::read_to_string(run.join("report.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 16);
    let record = |point: u64| {
        records
            .iter()
            .find(|r| r["point"]["point"] == point)
            .unwrap_or_else(|| panic!("no point {point}"))
    };

    // offline: nothing to fetch, and the browser is told to refuse any fetch
    assert_eq!(fetchable_urls(&html), Vec::<String>::new());
    assert!(
        html.contains("Content-Security-Policy") && html.contains("default-src 'none'"),
        "the page forbids loads"
    );

    // the data the page draws is the run's
    let data: Value = serde_json::from_str(between(
        &html,
        r#"<script type="application/json" id="report-data">"#,
        "</script>",
    ))
    .unwrap();
    let tput = &data["throughput"][0];
    assert_eq!(tput["x"], serde_json::json!([1.0, 2.0]));
    assert_eq!(tput["series"].as_array().unwrap().len(), 8);
    for s in tput["series"].as_array().unwrap() {
        for (i, y) in s["y"].as_array().unwrap().iter().enumerate() {
            let r = record(s["points"][i].as_u64().unwrap());
            assert_eq!(y.as_f64(), r["metrics"]["throughput_tps"].as_f64());
            assert_eq!(
                r["point"]["concurrency"].as_str().unwrap(),
                tput["x"][i].as_f64().unwrap().to_string()
            );
        }
    }
    // one grid per instance count; each cell the best concurrency of its pair
    let grids = data["heatmaps"].as_array().unwrap();
    assert_eq!(grids.len(), 2, "{}", data["heatmap_note"]);
    for g in grids {
        assert_eq!(g["cells"].as_array().unwrap().len(), 4);
        for c in g["cells"].as_array().unwrap() {
            let r = record(c["point"].as_u64().unwrap());
            let same = |o: &&Value| {
                ["instances", "decode_concurrency", "prompt_concurrency"]
                    .iter()
                    .all(|k| o["point"][k] == r["point"][k])
            };
            let best = records
                .iter()
                .filter(same)
                .map(|o| o["metrics"]["throughput_tps"].as_f64().unwrap())
                .fold(f64::MIN, f64::max);
            assert_eq!(c["tps"].as_f64().unwrap(), best);
            assert_eq!(c["decode"], r["point"]["decode_concurrency"]);
            assert_eq!(c["prompt"], r["point"]["prompt_concurrency"]);
        }
    }
    let regions = data["timeline"]["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 16);
    for (i, r) in regions.iter().enumerate() {
        assert_eq!(r["point"], i as u64 + 1);
        assert_eq!(r["ended"], true);
        assert!(r["end"].as_f64().unwrap() > r["start"].as_f64().unwrap());
    }

    // the page in a real browser: quiet, every chart drew, and (#selftest:
    // the page drives itself with DOM events once drawn) every interaction
    // it describes works
    let (dom, stderr) = headless(&page, "#selftest", &["--dump-dom".to_string()], t.path());
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console.is_empty(),
        "the page wrote to the console: {console:#?}"
    );
    let check = between(&dom, r#"<pre id="selfcheck" hidden="">"#, "</pre>")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let check: Value =
        serde_json::from_str(&check).unwrap_or_else(|e| panic!("self-check {check:?}: {e}"));
    assert_eq!(check["errors"], serde_json::json!([]), "{check:#}");
    assert_eq!(check["done"], true, "{check:#}");
    let charts = &check["charts"];
    for name in [
        "throughput",
        "latency_ttft",
        "latency_itl",
        "heatmap",
        "instance_requests",
        "timeline_memory",
        "timeline_cpu",
        "timeline_rss",
        "timeline_ranger",
        "timeline_regions",
    ] {
        let c = &charts[name];
        assert!(
            c["points"].as_u64().unwrap_or(0) > 0 && c["ink"].as_u64().unwrap_or(0) > 0,
            "{name} drew nothing: {check:#}"
        );
    }
    assert_eq!(charts["throughput"]["points"], 16);
    // p50 and p99 of 16 points, and the fronts
    assert!(charts["latency_ttft"]["points"].as_u64().unwrap() > 32);
    assert_eq!(charts["heatmap"]["points"], 8);
    assert_eq!(charts["heatmap"]["grids"], 2);
    // 8 points on one instance, 8 on two
    assert_eq!(charts["instance_requests"]["points"], 24);
    assert_eq!(charts["timeline_regions"]["points"], 16);
    // the GPU row only when the monitor saw a GPU
    let gpu = data["timeline"]["gpu_util"].is_array();
    assert_eq!(charts["timeline_gpu"].is_object(), gpu, "{check:#}");
    let selftest = check["selftest"].as_object().expect("the self-test ran");
    let mut names: Vec<&str> = selftest.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "heatmap_hover_names_the_point",
            "legend_click_toggles_a_series",
            "legend_shows_every_series_at_the_cursor",
            "overview_drag_zooms_every_row",
            "overview_selection_moves",
            "table_sorts_by_a_column",
            "timeline_double_click_resets_every_row",
            "timeline_drag_zooms_every_row",
            "timeline_hover_names_the_point",
            "timeline_rows_follow_the_cursor",
            "timeline_zoom_shows_on_the_overview",
        ],
        "{check:#}"
    );
    for (name, ok) in selftest {
        assert_eq!(ok, &Value::Bool(true), "{name}: {ok}");
    }
    // the table: one row per point
    let table = between(&dom, r#"<table id="points""#, "</table>");
    assert_eq!(table.matches("<tr").count(), 1 + 16);

    // a screenshot for people, kept with the test output
    let shot = target_dir().join("test-artifacts/report.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    headless(
        &page,
        "",
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,3000".into(),
        ],
        t.path(),
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "{} bytes",
        png.len()
    );
    println!("screenshot: {}", shot.display());
}

#[test]
fn the_offline_check_finds_loading_urls_only() {
    let page = r#"<script>/*! https://github.com/leeoniya/uPlot */</script>
        <p>see http://example.com</p><img src="https://cdn.example/x.png">
        <link href='http://cdn.example/a.css'><style>b { background: url( "https://x/y.png") }</style>"#;
    let found = fetchable_urls(page);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().all(|f| !f.contains("leeoniya")));
}
