//! Bad input is refused before anything starts: a table of scenarios, each
//! wrong in one way, must make `mlxrun validate` (and `mlxrun run`) exit 2
//! with the file, the line and the field of the fault, and a next step.

use std::path::{Path, PathBuf};

use crate::common::*;

/// `(case, scenario text, marker of the faulty line, field, words in the message)`.
/// `{model}` is the tiny model's folder.
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "syntax_error",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix\nconcurrency = 1\n",
        "[matrix",
        "",
        "unclosed table",
    ),
    (
        "unknown_key",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\nconcurency = [1]\n",
        "concurency",
        "matrix.concurency",
        "did you mean `concurrency`?",
    ),
    (
        "wrong_type",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\nmax_tokens = \"many\"\n",
        "max_tokens",
        "matrix.max_tokens",
        "many",
    ),
    (
        "empty_axis",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\nconcurrency = []\n",
        "concurrency",
        "matrix.concurrency",
        "no values",
    ),
    (
        "zero_concurrency",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\nconcurrency = [1, 0]\n",
        "concurrency",
        "matrix.concurrency",
        "0 is not allowed",
    ),
    (
        "negative_concurrency",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\nconcurrency = [-4]\n",
        "concurrency",
        "matrix.concurrency",
        "-4",
    ),
    (
        "zero_instances",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\ninstances = [0]\n",
        "instances",
        "matrix.instances",
        "0 is not allowed",
    ),
    (
        "zero_max_tokens",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\nmax_tokens = 0\n",
        "max_tokens",
        "matrix.max_tokens",
        "0 is not allowed",
    ),
    (
        "port_out_of_range",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[backend]\nbase_port = 70000\n",
        "base_port",
        "backend.base_port",
        "70000",
    ),
    (
        "instances_overlap_nginx_port",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[backend]\nbase_port = 9400\n[router]\nport = 9401\n[matrix]\ninstances = [1, 2]\n",
        "port = 9401",
        "router.port",
        "overlaps the instance ports",
    ),
    (
        "missing_model_path",
        "name = \"x\"\n[model]\npath = \"/nonexistent/models/llama\"\n",
        "path =",
        "model.path",
        "/nonexistent/models/llama",
    ),
    (
        "unknown_backend",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[backend]\nkind = \"mlx_llm\"\n",
        "kind",
        "backend.kind",
        "did you mean `mlx_lm`?",
    ),
    (
        "broken_launch_template",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[backends.mine]\nlaunch = [\"srv\", \"{{ port \"]\n",
        "[backends.mine]",
        "backends.mine.launch[1]",
        "does not compile",
    ),
    (
        "unreadable_prompt_file",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[workload]\nprompts_file = \"/nonexistent/prompts.jsonl\"\n",
        "prompts_file",
        "workload.prompts_file",
        "/nonexistent/prompts.jsonl",
    ),
    (
        "negative_request_rate",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[workload]\nrequests = 4\n[matrix]\nrequest_rate = [-2.0]\n",
        "request_rate",
        "matrix.request_rate",
        "is not a rate",
    ),
    (
        "unknown_arrival",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[load]\narrival = \"bursty\"\n",
        "arrival",
        "load.arrival",
        "bursty",
    ),
    (
        "zero_burstiness",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[load]\nburstiness = 0.0\n",
        "burstiness",
        "load.burstiness",
        "is not a gamma shape",
    ),
    (
        "percentile_out_of_range",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[metrics]\npercentiles = [50, 101]\n",
        "percentiles",
        "metrics.percentiles",
        "101 is not a percentile",
    ),
    (
        "memory_limit_zero",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[memory]\nlimit_percent = 0\n",
        "limit_percent",
        "memory.limit_percent",
        "is not a share of RAM",
    ),
    (
        "unknown_over_limit_policy",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[memory]\nover_limit = \"ignore\"\n",
        "over_limit",
        "memory.over_limit",
        "ignore",
    ),
    (
        "unknown_router",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[router]\nkind = \"haproxy\"\n",
        "kind",
        "router.kind",
        "haproxy",
    ),
    (
        "unknown_backend_axis",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix.axes]\nparalel = [1, 2]\n",
        "paralel",
        "matrix.axes.paralel",
        "paralel",
    ),
    (
        "missing_include",
        "name = \"x\"\ninclude = [\"nowhere/backends.toml\"]\n[model]\npath = \"{model}\"\n",
        "include",
        "include",
        "nowhere/backends.toml",
    ),
    (
        "negative_timeout",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[workload]\nrequest_timeout_s = -1.0\n",
        "request_timeout_s",
        "workload.request_timeout_s",
        "-1",
    ),
    (
        "images_for_a_text_model",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\nimage_count = [1, 2]\n",
        "image_count",
        "matrix.image_count",
        "applies to vision models only",
    ),
    (
        "bad_image_size",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\nimage_size = [\"512\"]\n",
        "image_size",
        "matrix.image_size",
        "WIDTHxHEIGHT",
    ),
    (
        "audio_for_a_text_model",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\naudio_duration_s = [5]\n",
        "audio_duration_s",
        "matrix.audio_duration_s",
        "applies to audio models only",
    ),
    (
        "zero_audio_duration",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[matrix]\naudio_duration_s = [0]\n",
        "audio_duration_s",
        "matrix.audio_duration_s",
        "not a clip length",
    ),
    (
        "audio_modality_on_a_chat_backend",
        "name = \"x\"\n[model]\npath = \"{model}\"\nmodality = \"audio\"\n",
        "modality",
        "model.modality",
        "needs a transcription backend",
    ),
    (
        "unknown_image_format",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[workload]\nimage_format = \"gif\"\n",
        "image_format",
        "workload.image_format",
        "not an image format",
    ),
    (
        "missing_audio_folder",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[backend]\nkind = \"mlx_vlm_stt\"\n[workload]\naudio_dir = \"nowhere\"\n",
        "audio_dir",
        "workload.audio_dir",
        "cannot read the audio folder",
    ),
    // values that once passed validation and panicked mid-run
    (
        "infinite_stop_grace",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[backend]\nstop_grace_s = inf\n",
        "stop_grace_s",
        "backend.stop_grace_s",
        "inf is not a number of seconds from 0 to 2592000 (30 days)",
    ),
    (
        "huge_timeout",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[workload]\nrequest_timeout_s = 1e20\n",
        "request_timeout_s",
        "workload.request_timeout_s",
        "1e20 is not a number of seconds",
    ),
    (
        "tiny_request_rate",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[workload]\nrequests = 4\n[matrix]\nrequest_rate = [1, 1e-12]\n",
        "request_rate",
        "matrix.request_rate",
        "use 0.001 to 1000000 requests/s",
    ),
    (
        "overflowing_request_count",
        "name = \"x\"\n[model]\npath = \"{model}\"\n[workload]\nrequests_per_concurrency = 9223372036854775807\n[matrix]\nconcurrency = [4]\n",
        "requests_per_concurrency",
        "workload.requests_per_concurrency",
        "more than mlxrun sends in one point",
    ),
];

/// Case `case` written into `dir` with the tiny model's folder for
/// `{model}`: its path, and the 1-based line of its faulty `marker`.
fn write_case(dir: &Path, case: &str, text: &str, marker: &str, model: &str) -> (PathBuf, usize) {
    let path = dir.join(format!("{case}.toml"));
    let text = text.replace("{model}", model);
    std::fs::write(&path, &text).unwrap();
    let line = text.lines().position(|l| l.contains(marker)).unwrap() + 1;
    (path, line)
}

#[test]
fn every_bad_input_is_refused_with_file_line_field_and_a_next_step() {
    // `mlxrun validate` starts nothing and writes no run folder: no run to
    // check clean (the same cases as runs: a_run_of_bad_input_starts_nothing)
    let t = tempfile::tempdir().unwrap();
    let model = tiny_model();
    let mut failures = Vec::new();
    for (case, text, marker, field, words) in CASES {
        let (path, line) = write_case(t.path(), case, text, marker, &model);
        let out = mlxrun().arg("validate").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // `FILE:LINE:` (and a column where the parser knows it), then the field
        let at = format!("{case}.toml:{line}:");
        if out.status.code() != Some(2) {
            failures.push(format!("{case}: exit {:?}: {err}", out.status.code()));
        } else if !err.contains(&at) {
            failures.push(format!("{case}: expected `{at}` in: {err}"));
        } else if !field.is_empty() && !err.contains(&format!(" {field}")) {
            failures.push(format!("{case}: expected the field `{field}` in: {err}"));
        } else if !err.contains(words) {
            failures.push(format!("{case}: expected `{words}` in: {err}"));
        } else if !err.contains("next:") && !err.contains("did you mean") {
            failures.push(format!("{case}: no next step in: {err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert!(CASES.len() >= 20);
}

#[test]
fn a_run_of_bad_input_starts_nothing() {
    // every case again, as a run: exit 2 naming the file and line, and
    // nothing started, checked while mlxrun runs and from what it left (no
    // results folder, no processes.jsonl); there is no run to check clean
    let t = tempfile::tempdir().unwrap();
    let model = tiny_model();
    let results = t.path().join("results");
    let mut failures = Vec::new();
    for (case, text, marker, _, _) in CASES {
        let (path, line) = write_case(t.path(), case, text, marker, &model);
        let refused = run_refused(
            mlxrun()
                .arg(&path)
                .args(["--set", &format!("output.dir={}", results.display())]),
            t.path(),
            &results,
            &[],
        );
        let at = format!("{case}.toml:{line}:");
        if refused.output.status.code() != Some(2) {
            failures.push(format!(
                "{case}: exit {:?}: {}",
                refused.output.status.code(),
                refused.stderr
            ));
        } else if !refused.stderr.contains(&at) {
            failures.push(format!("{case}: expected `{at}` in: {}", refused.stderr));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// The same bounds hold for values from `--set`, the environment and
/// command-line flags: each is refused (exit 2) naming where it came from.
#[test]
fn out_of_bound_overrides_and_flags_are_refused_naming_their_source() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("s.toml");
    std::fs::write(
        &path,
        format!("name = \"x\"\n[model]\npath = \"{}\"\n", tiny_model()),
    )
    .unwrap();
    /// `(arguments, environment variable, words of the error)`
    type Case<'a> = (&'a [&'a str], Option<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 4] = [
        (
            &["--set", "backend.stop_grace_s=inf"],
            None,
            "--set backend.stop_grace_s=inf: backend.stop_grace_s: inf is not a number of seconds",
        ),
        (
            &[],
            Some(("MLX_READY_TIMEOUT", "1e20")),
            "env MLX_READY_TIMEOUT: backend.ready_timeout_s: 1e20 is not a number of seconds",
        ),
        (
            &[
                "--set",
                "workload.requests=3",
                "--set",
                "matrix.request_rate=1e-9",
            ],
            None,
            "matrix.request_rate: 1e-9 is not a rate mlxrun sends",
        ),
        (
            &["--set", "run.pause_between_points_s=-0.5"],
            None,
            "run.pause_between_points_s: -0.5 is not a number of seconds",
        ),
    ];
    for (args, env, words) in cases {
        let mut cmd = mlxrun();
        cmd.arg("validate").arg(&path).args(args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(words),
            "{args:?}: expected `{words}` in: {err}"
        );
        assert!(err.contains("next:"), "{err}");
    }
    let out = mlxrun()
        .args(["monitor", "--duration", "1e20"])
        .current_dir(t.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("at most 2592000 (30 days)"), "{err}");
    assert!(!t.path().join("monitor.jsonl").exists());
}
