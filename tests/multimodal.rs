//! Vision and audio points end to end. Against the stub (no Python): one
//! scenario mixing a text model, a vision model and two speech models, each
//! row with its modality, images that reach the server (the stub delays
//! each one), real-time factors the stub's `--audio-rtf` bounds, injected
//! transcription errors by kind, report.jsonl valid, report.md grouped by
//! modality, `mlxrun analyze` sorting by the RTF, report.html in headless
//! Chromium; an 11-minute clip; local image files and a folder of WAVs.
//! Against the real `mlx_vlm.server`: the tiny vision model (an image and a
//! text-only request) and the tiny Whisper model (`--stt-model`), routed by
//! `backend = "auto"`, beside the tiny text model, in one run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;

/// The mlxrun binary under test, which the scenarios launch as their stub.
const BIN: &str = env!("CARGO_BIN_EXE_mlxrun");

/// `[backends.<name>]`: the stub with `flags`; `extra` adds keys.
fn stub_backend(name: &str, flags: &[&str], extra: &str) -> String {
    let argv: Vec<String> = [
        BIN,
        "stub-server",
        "--host",
        "{{ host }}",
        "--port",
        "{{ port }}",
    ]
    .iter()
    .chain(flags)
    .map(|a| format!("{a:?}"))
    .collect();
    format!(
        "[backends.{name}]\nlaunch = [{}]\nmodel_kind = \"name\"\nready = \"health\"\n{extra}\n",
        argv.join(", ")
    )
}

/// Write `body` as scenario `name` with instances from `port` and results
/// under `dir/results`.
fn scenario(dir: &Path, name: &str, port: u16, body: &str) -> PathBuf {
    let text = format!(
        "name = \"{name}\"\n\n[backend]\nbase_port = {port}\nready_timeout_s = 20\nstop_grace_s = 2\n\n[router]\nport = {nginx}\n\n[output]\ndir = \"{out}\"\n\n{body}\n",
        nginx = port + 9,
        out = dir.join("results").display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Run `path` to its end (exit 0) and return its CSV.
fn run(path: &Path, dir: &Path, name: &str) -> PathBuf {
    let (stdout, _) = run_ok(mlxrun().arg(path).arg("--plain"));
    assert!(stdout.contains("results_file="), "{stdout}");
    csvs(dir, name).pop().expect("a results CSV")
}

fn by_model(rows: &[BTreeMap<String, String>], model: &str) -> Vec<BTreeMap<String, String>> {
    rows.iter()
        .filter(|r| r["model"] == model)
        .cloned()
        .collect()
}

const IMAGE_DELAY_MS: f64 = 40.0;
const AUDIO_RTF: f64 = 20.0;

#[test]
fn a_mixed_text_vision_audio_scenario_through_the_stub_carries_the_modality_everywhere() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let body = format!(
        r#"[[models]]
name = "txt"
path = "stub"
backend = "chat"

[[models]]
name = "vis"
path = "stub"
backend = "chat"
modality = "vision"

[[models]]
name = "asr"
path = "stub"
backend = "stt"

[[models]]
name = "asr_faulty"
path = "stub"
backend = "stt_faulty"

[workload]
requests = 4
warmup_requests = 1
retries = 0
audio_response_format = "verbose_json"

[matrix]
max_tokens = [8]
concurrency = [1, 2]
image_count = [0, 2]
image_size = ["64x48"]
audio_duration_s = [1, 3]

{chat}{stt}{faulty}"#,
        chat = stub_backend(
            "chat",
            &["--image-delay-ms", &IMAGE_DELAY_MS.to_string()],
            ""
        ),
        stt = stub_backend(
            "stt",
            &["--audio-rtf", &AUDIO_RTF.to_string()],
            "api = \"transcriptions\"\ntokens = \"none\"\nrequest_model = \"{{ model }}\"\n"
        ),
        faulty = stub_backend(
            "stt_faulty",
            &["--error-rate", "0.25", "--seed", "3"],
            "api = \"transcriptions\"\ntokens = \"none\"\n"
        ),
    );
    let path = scenario(t.path(), "mixed", port, &body);

    // the plan names each point's modality and media
    let (plan, _) = run_ok(mlxrun().arg("plan").arg(&path));
    assert!(plan.contains("modality: vision"), "{plan}");
    assert!(plan.contains("2 images 64x48"), "{plan}");
    assert!(plan.contains("3s audio"), "{plan}");

    let csv = run(&path, t.path(), "mixed");
    let rows = read_rows(&csv);
    // text 2 + vision (0 images, 2 images) x 2 + audio 2 x 2, twice
    assert_eq!(rows.len(), 2 + 4 + 4 + 4, "{rows:?}");
    for (model, modality) in [
        ("txt", "text"),
        ("vis", "vision"),
        ("asr", "audio"),
        ("asr_faulty", "audio"),
    ] {
        for r in by_model(&rows, model) {
            assert_eq!(r["inference_modality"], modality, "{r:?}");
        }
    }
    // text rows: no media columns
    for r in by_model(&rows, "txt") {
        assert_eq!(r["status"], "ok");
        assert!(r["image_count"].is_empty() && r["audio_duration_s"].is_empty());
        assert!(r["rtf_mean"].is_empty());
    }
    // vision rows: the images reached the server (each one delays the stub's
    // first token), a text-only request is fast
    let vis = by_model(&rows, "vis");
    assert_eq!(vis.len(), 4);
    for r in &vis {
        assert_eq!(r["status"], "ok", "{r:?}");
        let ttft = num(r, "ttft_p50_ms");
        match r["image_count"].as_str() {
            "2" => {
                assert_eq!(r["image_size"], "64x48");
                assert!(
                    ttft >= 2.0 * IMAGE_DELAY_MS,
                    "2 images delay the first token by 2 x {IMAGE_DELAY_MS} ms: {r:?}"
                );
            }
            "0" => assert!(r["image_size"].is_empty(), "{r:?}"),
            other => panic!("image_count {other}"),
        }
        assert!(num(r, "throughput_tps") > 0.0);
    }
    // audio rows: RTF = audio s / processing s, at most what the stub's
    // --audio-rtf allows (the stub takes duration / rtf), and no tokens
    let asr = by_model(&rows, "asr");
    assert_eq!(asr.len(), 4);
    for r in &asr {
        assert_eq!(r["status"], "ok", "{r:?}");
        let d = num(r, "audio_duration_s");
        assert_eq!(num(r, "audio_seconds"), 4.0 * d, "four requests of {d} s");
        for col in ["rtf_mean", "rtf_p50"] {
            let rtf = num(r, col);
            assert!(
                rtf <= AUDIO_RTF * 1.001 && rtf > AUDIO_RTF / 4.0,
                "{col} {rtf} vs --audio-rtf {AUDIO_RTF}: {r:?}"
            );
        }
        assert!(num(r, "e2e_p50_ms") >= 1000.0 * d / AUDIO_RTF);
        assert_eq!(num(r, "throughput_tps"), 0.0);
        assert_eq!(r["max_tokens"], "0");
    }
    // injected errors are counted by kind; the RTF comes from the successes
    let faulty = by_model(&rows, "asr_faulty");
    let errors: f64 = faulty.iter().map(|r| num(r, "errors")).sum();
    assert!(errors > 0.0, "{faulty:?}");
    assert!(
        faulty
            .iter()
            .all(|r| r["error_kinds"].is_empty() || r["error_kinds"].starts_with("http_5xx=")),
        "{faulty:?}"
    );

    let run_dir = run_dir(&csv);
    assert_clean_run(&run_dir);
    // every record validates and carries its modality
    let report = std::fs::read_to_string(run_dir.join("report.jsonl")).unwrap();
    let modalities: Vec<String> = report
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(
                v["metadata"]["inference_modality"],
                v["point"]["inference_modality"]
            );
            v["point"]["inference_modality"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(modalities.len(), 14);
    let (out, _) = run_ok(
        mlxrun()
            .arg("validate-report")
            .arg(run_dir.join("report.jsonl")),
    );
    assert!(out.contains("14/14 records valid"), "{out}");
    // report.md: one table per modality, RTF for audio
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    let (text_at, vision_at, audio_at) = (
        md.find("### Text").expect("text group"),
        md.find("### Vision").expect("vision group"),
        md.find("### Audio").expect("audio group"),
    );
    assert!(text_at < vision_at && vision_at < audio_at, "{md}");
    assert!(md.contains("RTF mean/p50"), "{md}");
    assert!(
        md.contains("img=2@64x48") && md.contains("audio=3s"),
        "{md}"
    );
    assert!(md.contains("### By real-time factor"), "{md}");
    // analyze sorts by the new columns: the fastest transcription first
    let (table, _) = run_ok(mlxrun().args(["analyze"]).arg(&csv).args([
        "--field",
        "rtf_mean",
        "--order",
        "desc",
        "--count",
        "1",
        "--columns",
        "model,inference_modality,rtf_mean",
    ]));
    let first = table.lines().nth(2).unwrap_or_default();
    assert!(first.contains("audio"), "{table}");

    // report.html in a real browser: no console error, the self-check clean,
    // one table row per point, audio points kept out of the token charts
    let page = run_dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let data: serde_json::Value = serde_json::from_str(crate::reports_html::between(
        &html,
        r#"<script type="application/json" id="report-data">"#,
        "</script>",
    ))
    .unwrap();
    let drawn: usize = data["throughput"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["series"].as_array().unwrap())
        .map(|s| {
            s["points"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| !p.is_null())
                .count()
        })
        .sum();
    assert_eq!(drawn, 6, "the 6 text and vision points, no audio point");
    assert!(
        data["notes"]
            .to_string()
            .contains("audio point(s) make no tokens"),
        "{}",
        data["notes"]
    );
    let (dom, stderr) =
        crate::reports_html::headless(&page, "#selftest", &["--dump-dom".to_string()], t.path());
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console.is_empty(),
        "the page wrote to the console: {console:#?}"
    );
    let check = crate::reports_html::between(&dom, r#"<pre id="selfcheck" hidden="">"#, "</pre>")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let check: serde_json::Value = serde_json::from_str(&check).unwrap();
    assert_eq!(check["errors"], serde_json::json!([]), "{check:#}");
    assert_eq!(check["done"], true, "{check:#}");
    let table = crate::reports_html::between(&dom, r#"<table id="points""#, "</table>");
    assert_eq!(table.matches("<tr").count(), 1 + 14);
}

#[test]
fn an_eleven_minute_clip_goes_through_whole() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let body = format!(
        "[[models]]\nname = \"asr\"\npath = \"stub\"\nbackend = \"stt\"\n\n[workload]\nrequests = 1\nwarmup_requests = 0\naudio_response_format = \"text\"\n\n[matrix]\naudio_duration_s = 660\n\n{}",
        stub_backend(
            "stt",
            &["--audio-rtf", "600"],
            "api = \"transcriptions\"\ntokens = \"none\"\n"
        )
    );
    // readiness by a real 1-second transcription, not /health
    let body = body.replace("ready = \"health\"", "ready = \"completion\"");
    let path = scenario(t.path(), "long", port, &body);
    let csv = run(&path, t.path(), "long");
    let rows = read_rows(&csv);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["status"], "ok", "{r:?}");
    assert_eq!(r["inference_modality"], "audio");
    assert_eq!(
        num(r, "audio_seconds"),
        660.0,
        "11 minutes, from the WAV header"
    );
    // the stub answers 660 s of audio after 660 / 600 s
    assert!(num(r, "e2e_p50_ms") >= 1100.0, "{r:?}");
    assert!(num(r, "rtf_mean") <= 600.0 * 1.001, "{r:?}");
    assert_clean_run(&run_dir(&csv));
}

#[test]
fn real_mlx_vlm_servers_serve_vision_speech_and_text_in_one_run() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let body = format!(
        r#"[[models]]
name = "txt"
path = "{txt}"
backend = "auto"

[[models]]
name = "vlm"
path = "{vlm}"
backend = "auto"

[[models]]
name = "stt"
path = "{stt}"
backend = "auto"

[backend]
python = "{python}"
base_port = {port}
ready_timeout_s = 180
stop_grace_s = 5

[workload]
requests = 2
warmup_requests = 1
request_timeout_s = 120
temperature = 0.0

[matrix]
max_tokens = [4]
image_count = [0, 1]
image_size = ["64x64"]
audio_duration_s = [1]

[router]
port = {nginx}

[output]
dir = "{out}"
"#,
        txt = tiny_model(),
        vlm = tiny_vlm(),
        stt = tiny_stt(),
        python = python(),
        nginx = port + 9,
        out = t.path().join("results").display(),
    );
    let path = t.path().join("real.toml");
    std::fs::write(&path, format!("name = \"real\"\n{body}")).unwrap();
    // auto routes by config.json: text → mlx_lm, vision_config → mlx_vlm,
    // whisper → mlx_vlm_stt
    let (plan, _) = run_ok(mlxrun().arg("plan").arg(&path));
    assert!(
        plan.contains("backend: mlx_vlm (auto: config.json has vision_config"),
        "{plan}"
    );
    assert!(
        plan.contains("backend: mlx_vlm_stt (auto: config.json model_type \"whisper\""),
        "{plan}"
    );
    assert!(plan.contains("backend: mlx_lm (auto:"), "{plan}");

    let csv = run(&path, t.path(), "real");
    let rows = read_rows(&csv);
    assert_eq!(rows.len(), 1 + 2 + 1, "{rows:?}");
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r:?}");
        assert_eq!(num(r, "errors"), 0.0);
    }
    let txt = &by_model(&rows, "txt")[0];
    assert_eq!(txt["inference_modality"], "text");
    assert_eq!(txt["backend"], "mlx_lm");
    let vlm = by_model(&rows, "vlm");
    for r in &vlm {
        assert_eq!(r["inference_modality"], "vision");
        assert_eq!(r["backend"], "mlx_vlm");
        // the tiny model never stops early: every request makes max_tokens
        assert_eq!(num(r, "total_tokens"), 2.0 * 4.0, "{r:?}");
    }
    // the image costs prompt tokens (the server counts image tokens)
    let prompt = |n: &str| {
        vlm.iter()
            .find(|r| r["image_count"] == n)
            .map(|r| num(r, "prompt_tokens"))
            .unwrap()
    };
    assert!(
        prompt("1") > prompt("0"),
        "an image adds prompt tokens: {vlm:?}"
    );
    let stt = &by_model(&rows, "stt")[0];
    assert_eq!(stt["inference_modality"], "audio");
    assert_eq!(stt["backend"], "mlx_vlm_stt");
    assert_eq!(num(stt, "audio_seconds"), 2.0);
    assert!(num(stt, "rtf_mean") > 0.0, "{stt:?}");
    let run_dir = run_dir(&csv);
    assert_clean_run(&run_dir);
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(
        md.contains("### Vision") && md.contains("### Audio"),
        "{md}"
    );
}

#[test]
fn local_image_files_and_an_audio_folder_are_sent_as_they_are() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let media = t.path().join("media");
    std::fs::create_dir_all(media.join("clips")).unwrap();
    let size = mlxrun::spec::media::ImageSize {
        width: 32,
        height: 24,
    };
    for (i, name) in ["a.png", "b.jpg"].iter().enumerate() {
        let format = if name.ends_with("png") {
            mlxrun::media::image::ImageFormat::Png
        } else {
            mlxrun::media::image::ImageFormat::Jpeg
        };
        let bytes = mlxrun::media::image::synthetic_image(size, i as u64, format);
        std::fs::write(media.join(name), bytes).unwrap();
    }
    for (name, secs) in [("one.wav", 0.5), ("two.wav", 1.5)] {
        std::fs::write(
            media.join("clips").join(name),
            mlxrun::media::audio::synthetic_wav(secs, 7),
        )
        .unwrap();
    }
    let body = format!(
        r#"[[models]]
name = "vis"
path = "stub"
backend = "chat"
modality = "vision"

[[models]]
name = "asr"
path = "stub"
backend = "stt"

[workload]
requests = 4
warmup_requests = 0
image_files = "media"
audio_dir = "media/clips"

[matrix]
max_tokens = [4]
image_count = [2]

{chat}{stt}"#,
        chat = stub_backend("chat", &["--image-delay-ms", "30"], ""),
        stt = stub_backend(
            "stt",
            &["--audio-rtf", "50"],
            "api = \"transcriptions\"\ntokens = \"none\"\n"
        ),
    );
    let path = scenario(t.path(), "files", port, &body);
    let (plan, _) = run_ok(mlxrun().arg("plan").arg(&path));
    assert!(
        plan.contains("2 file images") && plan.contains("audio files"),
        "{plan}"
    );
    let csv = run(&path, t.path(), "files");
    let rows = read_rows(&csv);
    assert_eq!(rows.len(), 2);
    let vis = &by_model(&rows, "vis")[0];
    assert_eq!(
        (vis["status"].as_str(), vis["image_count"].as_str()),
        ("ok", "2")
    );
    assert!(vis["image_size"].is_empty(), "files keep their own size");
    assert!(
        num(vis, "ttft_p50_ms") >= 60.0,
        "two images reached the stub: {vis:?}"
    );
    let asr = &by_model(&rows, "asr")[0];
    assert_eq!(asr["status"], "ok", "{asr:?}");
    assert!(asr["audio_duration_s"].is_empty());
    // four requests cycle through 0.5 s and 1.5 s, durations from the headers
    assert_eq!(num(asr, "audio_seconds"), 4.0);
    assert_clean_run(&run_dir(&csv));
}

/// The seed's long-input case against the real server: one synthetic
/// 11-minute clip (21 MB of WAV) through `/v1/audio/transcriptions` of
/// mlx_vlm.server with the tiny Whisper. The clip is cut into 22 windows of
/// 30 s by the server; the point must succeed (its verbose_json answer
/// with `segments`), count 660 s of audio and report a real-time factor
/// that matches its own latency.
#[test]
fn real_speech_server_transcribes_an_eleven_minute_clip() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let body = format!(
        r#"name = "long"

[model]
path = "{stt}"

[backend]
kind = "auto"
python = "{python}"
base_port = {port}
ready_timeout_s = 180
stop_grace_s = 5

[router]
port = {nginx}

[workload]
requests = 1
warmup_requests = 0
request_timeout_s = 900
retries = 0
temperature = 0.0
# the server's own verbose_json (text and segments), read for real
audio_response_format = "verbose_json"

[matrix]
audio_duration_s = [660]

[output]
dir = "{out}"
"#,
        stt = tiny_stt(),
        python = python(),
        nginx = port + 9,
        out = t.path().join("results").display(),
    );
    let path = t.path().join("long.toml");
    std::fs::write(&path, body).unwrap();
    let csv = run(&path, t.path(), "long");
    let rows = read_rows(&csv);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["status"], "ok", "{r:?}");
    assert_eq!(r["inference_modality"], "audio");
    assert_eq!(r["backend"], "mlx_vlm_stt");
    assert_eq!(num(r, "audio_duration_s"), 660.0);
    assert_eq!(num(r, "audio_seconds"), 660.0);
    // one request: RTF = 660 s ÷ its latency
    let e2e_s = num(r, "e2e_p50_ms") / 1000.0;
    let rtf = num(r, "rtf_mean");
    eprintln!("11-minute clip: {e2e_s:.1} s to transcribe, RTF {rtf:.2}");
    assert!(
        (rtf - 660.0 / e2e_s).abs() / rtf < 0.01,
        "rtf {rtf} vs 660 / {e2e_s}: {r:?}"
    );
    assert_clean_run(&run_dir(&csv));
}
