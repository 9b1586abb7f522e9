//! Loading tests: layering order, provenance, and error messages that name
//! the file, line and field.

use std::path::{Path, PathBuf};

use super::model_path::SearchDirs;
use super::*;

fn dirs(root: &Path) -> SearchDirs {
    SearchDirs {
        home: None,
        cwd: root.to_path_buf(),
        hf_cache: None,
    }
}

fn with_model() -> (tempfile::TempDir, SearchDirs) {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("models/tiny");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("config.json"), "{}").unwrap();
    let d = dirs(t.path());
    (t, d)
}

fn load_text(
    text: &str,
    env: &[(&str, &str)],
    sets: &[&str],
    d: &SearchDirs,
) -> Result<Resolved, ScenarioError> {
    let o = Overrides {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        sets: sets.iter().map(|s| s.to_string()).collect(),
    };
    load_str(&PathBuf::from("scenarios/t.toml"), text, &o, d)
}

const BASE: &str = r#"
name = "t"

[model]
path = "tiny"

[matrix]
concurrency = [1, 2]
max_tokens = 64
"#;

#[test]
fn layers_apply_in_order_defaults_file_env_set() {
    let (_t, d) = with_model();
    let r = load_text(BASE, &[], &[], &d).unwrap();
    assert_eq!(r.scenario.matrix.closed_concurrency().as_slice(), &[1, 2]);
    assert_eq!(r.scenario.matrix.max_tokens.values(), &[64]);
    assert_eq!(r.scenario.workload.temperature, 0.3);
    assert!(r.models[0].local_dir.is_some());
    assert_eq!(r.models[0].backend, "mlx_lm");

    let r = load_text(
        BASE,
        &[("MLX_MAX_TOKENS", "256"), ("MLX_CONCURRENCY_LIST", "4 8")],
        &[],
        &d,
    )
    .unwrap();
    assert_eq!(r.scenario.matrix.max_tokens.values(), &[256]);
    assert_eq!(r.scenario.matrix.closed_concurrency().as_slice(), &[4, 8]);

    let r = load_text(
        BASE,
        &[("MLX_MAX_TOKENS", "256")],
        &["matrix.max_tokens=16"],
        &d,
    )
    .unwrap();
    assert_eq!(r.scenario.matrix.max_tokens.values(), &[16]);
}

#[test]
fn provenance_names_each_layer() {
    let (_t, d) = with_model();
    let r = load_text(
        BASE,
        &[("MLX_TEMPERATURE", "0.9")],
        &["workload.prompt=hi"],
        &d,
    )
    .unwrap();
    let prov = r.provenance();
    let origin = |k: &str| {
        prov.iter()
            .find(|(f, _, _)| f == k)
            .map(|(_, _, o)| o.clone())
            .unwrap()
    };
    assert_eq!(
        origin("matrix.concurrency"),
        Origin::File {
            path: "scenarios/t.toml".into(),
            line: Some(8)
        }
    );
    assert_eq!(
        origin("workload.temperature"),
        Origin::Env {
            var: "MLX_TEMPERATURE".into()
        }
    );
    assert_eq!(
        origin("workload.prompt"),
        Origin::Set {
            arg: "workload.prompt=hi".into()
        }
    );
    assert_eq!(origin("backend.base_port"), Origin::Default);
}

#[test]
fn a_table_the_file_opens_without_the_key_leaves_its_value_a_default() {
    let (_t, d) = with_model();
    let origin = |text: &str, field: &str| {
        let r = load_text(text, &[], &[], &d).unwrap();
        let prov = r.provenance();
        let (_, _, o) = prov.iter().find(|(f, _, _)| f == field).unwrap().clone();
        assert_eq!(o, r.origin(field), "{field}");
        o
    };
    // `[run]` opened for another key: `run.repeats` is the default's
    let opened = format!("{BASE}\n[run]\nrepeat_order = \"interleaved\"\n");
    assert_eq!(origin(&opened, "run.repeats"), Origin::Default);
    assert_eq!(
        origin(&opened, "run.repeat_order"),
        Origin::File {
            path: "scenarios/t.toml".into(),
            line: Some(12)
        }
    );
    // `[run]` alone: still the default
    assert_eq!(
        origin(&format!("{BASE}\n[run]\n"), "run.repeats"),
        Origin::Default
    );
    // set in the file: the file's, at its line
    let set = format!("{BASE}\n[run]\nrepeats = 2\n");
    assert_eq!(
        origin(&set, "run.repeats"),
        Origin::File {
            path: "scenarios/t.toml".into(),
            line: Some(12)
        }
    );
}

#[test]
fn unknown_key_names_file_line_and_suggests() {
    let (_t, d) = with_model();
    let text = BASE.replace("concurrency = [1, 2]", "concurency = [1, 2]");
    let err = load_text(&text, &[], &[], &d).unwrap_err().to_string();
    assert!(
        err.starts_with("scenarios/t.toml:8:1: matrix.concurency: unknown field"),
        "{err}"
    );
    assert!(err.contains("did you mean `concurrency`?"), "{err}");
}

#[test]
fn wrong_type_and_syntax_errors_have_lines() {
    let (_t, d) = with_model();
    let err = load_text(
        &BASE.replace("max_tokens = 64", "max_tokens = \"lots\""),
        &[],
        &[],
        &d,
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("scenarios/t.toml:9:"), "{err}");
    assert!(err.contains("'lots'"), "{err}");
    let err = load_text("name = \n", &[], &[], &d)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("scenarios/t.toml:1:"), "{err}");
}

#[test]
fn semantic_errors_name_their_origin() {
    let (_t, d) = with_model();
    let err = load_text(&BASE.replace("[1, 2]", "[0, 2]"), &[], &[], &d)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scenarios/t.toml:8: matrix.concurrency: 0 is not allowed"),
        "{err}"
    );
    let err = load_text(BASE, &[("MLX_MODEL_PATH", "missing-model")], &[], &d)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("env MLX_MODEL_PATH: model.path: no model folder named 'missing-model'"),
        "{err}"
    );
    let err = load_text(BASE, &[], &["workload.temperature=-1"], &d)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--set workload.temperature=-1: workload.temperature"),
        "{err}"
    );
}

#[test]
fn env_type_errors_name_the_variable() {
    let (_t, d) = with_model();
    let err = load_text(BASE, &[("MLXRUN_WORKLOAD__STREAM", "maybe")], &[], &d)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("env MLXRUN_WORKLOAD__STREAM: workload.stream"),
        "{err}"
    );
    let err = load_text(BASE, &[("MLX_CONCURRENCY_LIST", "1,two")], &[], &d)
        .unwrap_err()
        .to_string();
    assert!(err.contains("env MLX_CONCURRENCY_LIST"), "{err}");
}

#[test]
fn name_defaults_to_file_stem() {
    let (_t, d) = with_model();
    let r = load_text("[model]\npath = \"tiny\"\n", &[], &[], &d).unwrap();
    assert_eq!(r.scenario.name, "t");
}

#[test]
fn reference_scenario_lists_every_field() {
    // every field of every section appears in scenarios/reference.toml,
    // set or commented out, so the reference cannot fall behind the code
    let text = include_str!("../../scenarios/reference.toml");
    let defaults = toml::Value::try_from(Scenario::default()).unwrap();
    let mut missing = Vec::new();
    for (section, v) in defaults.as_table().unwrap() {
        let Some(table) = v.as_table() else {
            // arrays of tables are documented as [[section]]
            if !text.contains(&format!("{section} =")) && !text.contains(&format!("[[{section}]]"))
            {
                missing.push(section.clone());
            }
            continue;
        };
        if !text.contains(&format!("[{section}]")) {
            missing.push(format!("[{section}]"));
        }
        for (key, value) in table {
            // sub-tables are documented as [section.key]
            let sub = value.is_table() && text.contains(&format!("[{section}.{key}]"));
            if !text.contains(&format!("{key} =")) && !sub {
                missing.push(format!("{section}.{key}"));
            }
        }
    }
    // sections whose fields are all unset by default still need a mention
    for key in [
        "ttft_ms",
        "tpot_ms",
        "e2e_ms",
        "request_rate",
        "input_tokens",
        "concurrency",
        "image_count",
        "image_size",
        "audio_duration_s",
        "top_p",
        "sampling_seed",
    ] {
        if !text.contains(&format!("{key} =")) {
            missing.push(key.to_string());
        }
    }
    assert!(missing.is_empty(), "not in reference.toml: {missing:?}");
}

#[test]
fn set_reaches_optional_fields_unset_by_default() {
    // fields that are None by default must still be settable (the README's
    // `--set matrix.concurrency=1,8,64`)
    let (_t, d) = with_model();
    let text = "name = \"t\"\n[model]\npath = \"tiny\"\n[workload]\nrequests = 4\n";
    let r = load_text(
        text,
        &[],
        &[
            "matrix.concurrency=1,8,64",
            "matrix.request_rate=2,inf",
            "slo.ttft_ms=500",
            "matrix.balance=least_conn",
            "matrix.temperature=0,0.3",
            "workload.top_p=0.9",
            "workload.sampling_seed=5",
        ],
        &d,
    )
    .unwrap();
    assert_eq!(
        r.scenario.matrix.closed_concurrency().as_slice(),
        &[1, 8, 64]
    );
    assert_eq!(r.scenario.matrix.request_rate.unwrap().values().len(), 2);
    assert_eq!(r.scenario.slo.ttft_ms.map(|t| t.get()), Some(500.0));
    assert!(r.scenario.matrix.balance.is_some());
    assert_eq!(r.scenario.matrix.temperature.unwrap().values(), &[0.0, 0.3]);
    assert_eq!(r.scenario.workload.top_p, Some(0.9));
    assert_eq!(r.scenario.workload.sampling_seed, Some(5));
}
