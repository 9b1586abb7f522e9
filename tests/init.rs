//! The user-facing helpers around a run: `mlxrun init` (a starter scenario
//! that validates, plans and runs), `mlxrun completions` (scripts the shells
//! accept, naming every subcommand) and `mlxrun --version` (the git commit).

use std::process::Command;

use crate::common::*;

#[test]
fn init_writes_a_starter_that_validates_plans_and_runs() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("scenarios/mine.toml");
    let (out, _) = run_ok(
        mlxrun()
            .arg("init")
            .arg(&file)
            .args(["--model", &tiny_model()]),
    );
    assert!(
        out.contains(&format!("next: mlxrun plan {}", file.display())),
        "{out}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("path = \"{}\"", tiny_model())),
        "{text}"
    );

    let again = mlxrun().arg("init").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text, "kept");

    let (out, _) = run_ok(mlxrun().arg("validate").arg(&file));
    assert!(out.contains("(8 points)"), "{out}");
    let (plan, _) = run_ok(mlxrun().arg("plan").arg(&file));
    assert!(plan.contains("--decode-concurrency"), "{plan}");

    // the written file, narrowed to one tiny point, runs
    let port = port_block();
    let (out, err) = run_ok(
        mlxrun()
            .arg(&file)
            .arg("--plain")
            .args(["--set", "matrix.instances=1"])
            .args(["--set", "matrix.decode_concurrency=8"])
            .args(["--set", "matrix.concurrency=1"])
            .args(["--set", "matrix.max_tokens=8"])
            .args(["--set", "workload.requests_per_concurrency=2"])
            .args(["--set", &format!("backend.python={}", python())])
            .args(["--set", &format!("backend.base_port={port}")])
            .args(["--set", &format!("router.port={}", port + 9)])
            .args([
                "--set",
                &format!("output.dir={}", t.path().join("results").display()),
            ]),
    );
    let csv = csvs(t.path(), "mine");
    assert_eq!(csv.len(), 1, "{out}\n{err}");
    let rows = read_rows(&csv[0]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "ok", "{rows:?}");
    assert_eq!(num(&rows[0], "decode_concurrency"), 8.0);
    assert_clean_run(&run_dir(&csv[0]));
}

/// Whether `shell` is installed (the test never installs one).
fn installed(shell: &str) -> bool {
    Command::new(shell).arg("-c").arg("exit 0").output().is_ok()
}

#[test]
fn completion_scripts_parse_and_name_every_subcommand() {
    use clap::CommandFactory;
    let names: Vec<String> = mlxrun::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "serve") && names.iter().any(|n| n == "init"));
    let t = tempfile::tempdir().unwrap();
    // `completions` prints a script: it starts nothing and writes no run
    // folder, so there is no run to check clean
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (script, _) = run_ok(mlxrun().args(["completions", shell]));
        for n in &names {
            assert!(script.contains(n.as_str()), "{shell}: no `{n}`");
        }
        let file = t.path().join(format!("mlxrun.{shell}"));
        std::fs::write(&file, &script).unwrap();
        if ["bash", "zsh", "fish"].contains(&shell) && installed(shell) {
            let out = Command::new(shell).arg("-n").arg(&file).output().unwrap();
            assert!(
                out.status.success(),
                "{shell} -n: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // scenario arguments complete file names
    let (bash, _) = run_ok(mlxrun().args(["completions", "bash"]));
    assert!(bash.contains("compgen -f"), "bash completes files");
    let (zsh, _) = run_ok(mlxrun().args(["completions", "zsh"]));
    assert!(zsh.contains("_files"), "zsh completes files");
}

#[test]
fn version_names_the_git_commit() {
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo())
        .output();
    // `--version` starts nothing and writes no run folder: no run to check clean
    let (out, _) = run_ok(mlxrun().arg("--version"));
    let prefix = format!("mlxrun {} ", env!("CARGO_PKG_VERSION"));
    assert!(out.starts_with(prefix.trim_end()), "{out}");
    match head {
        Ok(h) if h.status.success() => {
            let hash = String::from_utf8_lossy(&h.stdout).trim().to_string();
            assert!(
                out.starts_with(&format!("{prefix}({hash}")),
                "{out} does not name HEAD {hash}"
            );
            let date = out.trim().trim_end_matches(')').rsplit(' ').next().unwrap();
            assert!(
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
                "{out}"
            );
        }
        // not a checkout (a crate tarball): only the version
        _ => assert_eq!(out.trim(), format!("mlxrun {}", env!("CARGO_PKG_VERSION"))),
    }
}
