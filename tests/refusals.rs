//! What mlxrun refuses before starting anything: bad scenarios (exit 2,
//! file:line:field), taken ports and an unwritable results folder (exit 3),
//! each watched while mlxrun runs and checked from what it left
//! (`common::run_refused`); and `plan` on the shipped scenarios.

use crate::common::*;

#[test]
fn bad_scenario_is_refused_with_file_line_and_field() {
    let t = tempfile::tempdir().unwrap();
    let path = write_scenario(
        t.path(),
        "bad",
        port_block(),
        "[matrix]\nconcurency = [1, 2]\n",
    );
    let out = mlxrun().arg("validate").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("concurency"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "bad.toml:{line}:1: matrix.concurency: unknown field"
        )),
        "{err}"
    );
    assert!(err.contains("did you mean `concurrency`?"), "{err}");
    // the same through `run`: exit 2, nothing started (no results folder,
    // no processes.jsonl, no server): there is no run to check clean
    let results = t.path().join("results");
    let refused = run_refused(mlxrun().arg(&path), t.path(), &results, &[]);
    assert_eq!(refused.output.status.code(), Some(2), "{}", refused.stderr);
}

#[test]
fn bad_environment_value_names_the_variable() {
    let t = tempfile::tempdir().unwrap();
    let path = write_scenario(t.path(), "envbad", port_block(), "");
    // `plan` starts nothing and writes no run folder: no run to check clean
    let out = mlxrun()
        .arg("plan")
        .arg(&path)
        .env("MLX_CONCURRENCY_LIST", "1,two")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("env MLX_CONCURRENCY_LIST: matrix.concurrency: bad value"),
        "{err}"
    );
}

#[test]
fn taken_port_is_refused_before_anything_starts() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
    let path = write_scenario(t.path(), "ports", port, "[matrix]\ninstances = [1, 2]\n");
    // checked while mlxrun probes the backend and then refuses, and from
    // what it left: no server, nginx or results folder, no processes.jsonl
    // (so no run to check clean)
    let results = t.path().join("results");
    let refused = run_refused(mlxrun().arg(&path), t.path(), &results, &[port, port + 9]);
    let err = &refused.stderr;
    assert_eq!(refused.output.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!(
            "port(s) already in use: {} (instance 1)",
            port + 1
        )),
        "{err}"
    );
    assert!(
        refused.checks_while_running > 0,
        "the backend probe takes long enough to be watched"
    );
}

#[test]
fn plan_of_full_sweep_has_432_points_and_48_server_configurations() {
    // `plan` starts nothing and writes no run folder: no run to check clean
    let out = mlxrun()
        .args(["plan", "scenarios/full_sweep.toml"])
        .env("MLX_MODEL_PATH", tiny_model())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("points: 432 over 48 server configurations"),
        "{text}"
    );
    assert!(
        text.contains("--decode-concurrency 64 --prompt-concurrency 16"),
        "{text}"
    );
    assert!(
        text.contains("upstream mlx_backend"),
        "rendered nginx.conf is shown"
    );
    assert!(text.contains("(env MLX_MODEL_PATH)"), "origins are shown");
}

#[test]
fn every_shipped_scenario_validates() {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| format!("scenarios/{}", e.file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    // `validate` starts nothing and writes no run folder: no run to check clean
    let out = mlxrun().arg("validate").args(&files).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_backend_choices_are_refused_with_line_and_field() {
    let t = tempfile::tempdir().unwrap();
    // (body, file line marker, field, words in the message or hint)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "[[models]]\nname = \"a\"\nbackend = \"mlx_llm\"\n",
            "backend = \"mlx_llm\"",
            "models.0.backend",
            "did you mean `mlx_lm`?",
        ),
        (
            "[matrix.axes]\nparalel = [1, 2]\n",
            "paralel",
            "matrix.axes.paralel",
            "takes the axis `paralel`",
        ),
        (
            "[[models]]\nname = \"a\"\nbackend = \"llama_server\"\npath = \"nothing-here.gguf\"\n",
            "path = \"nothing-here.gguf\"",
            "models.0.path",
            "needs a .gguf file",
        ),
        (
            "[backends.mine]\nlaunch = [\"srv\", \"{{ port \"]\n",
            "[backends.mine]",
            "backends.mine.launch[1]",
            "does not compile",
        ),
    ];
    // `validate` starts nothing and writes no run folder: no run to check clean
    for (i, (body, marker, field, words)) in cases.iter().enumerate() {
        let name = format!("case{i}");
        let path = write_scenario(t.path(), &name, port_block(), body);
        let out = mlxrun().arg("validate").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text.lines().position(|l| l.starts_with(marker)).unwrap() + 1;
        assert!(
            err.contains(&format!("{name}.toml:{line}: {field}")),
            "case {i}: expected line {line} and {field} in: {err}"
        );
        assert!(err.contains(words), "case {i}: {err}");
    }
}

#[test]
fn an_unwritable_results_folder_is_refused_before_any_server_starts() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    // a results folder under a regular file cannot be created (even by root)
    let blocker = t.path().join("not-a-folder");
    std::fs::write(&blocker, "").unwrap();
    let path = write_scenario(t.path(), "unwritable", port, "[matrix]\nmax_tokens = 8\n");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("dir = \"{}\"", t.path().join("results").display()),
        &format!("dir = \"{}\"", blocker.join("results").display()),
    );
    std::fs::write(&path, text).unwrap();
    // checked while mlxrun probes the backend and then refuses, and from
    // what it left: no server, no results folder, no processes.jsonl (so
    // no run to check clean)
    let refused = run_refused(
        mlxrun().arg(&path),
        t.path(),
        &blocker.join("results"),
        &[port, port + 9],
    );
    let err = &refused.stderr;
    assert_eq!(refused.output.status.code(), Some(3), "{err}");
    assert!(err.contains("is not writable"), "{err}");
    assert!(err.contains("next:"), "{err}");
    assert!(!err.contains("servers ready"), "{err}");
    assert!(
        refused.checks_while_running > 0,
        "the backend probe takes long enough to be watched"
    );
}
