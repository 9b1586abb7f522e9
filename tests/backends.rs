//! Backends, routers and ranks against real servers: the backends tour
//! (two models, one routed by `auto`, 1 and 2 ranks under mlx.launch, nginx
//! and client routers with both balancing methods), the `openai` backend
//! against a running mlx_lm.server with an API key that must never be
//! written, and `plan` snapshots of the backends that cannot run here.

use std::collections::BTreeSet;

use crate::common::*;

#[test]
fn backends_tour_runs_end_to_end_with_ranks_routers_and_accounting() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let ring = port_block();
    run_ok(
        shipped("scenarios/backends_tour.toml", port, t.path())
            .env("MLX_MODEL_PATH", tiny_model())
            .args(["--set", &format!("launcher.starting_port={ring}")])
            .args(["--set", &format!("backend.python={}", python())]),
    );

    let files = csvs(t.path(), "backends_tour");
    assert_eq!(files.len(), 1);
    let h = header(&files[0]);
    for col in [
        "model",
        "backend",
        "ranks",
        "router",
        "balance",
        "instance_requests",
    ] {
        assert!(h.contains(&col.to_string()), "column {col} in {h:?}");
    }
    let rows = read_rows(&files[0]);
    assert_eq!(rows.len(), 12, "{rows:?}");
    let set = |col: &str| -> BTreeSet<String> { rows.iter().map(|r| r[col].clone()).collect() };
    assert_eq!(set("model"), ["llama", "routed"].map(String::from).into());
    assert_eq!(
        set("backend"),
        ["mlx_lm"].map(String::from).into(),
        "auto routed the tiny Llama to mlx_lm"
    );
    assert_eq!(set("ranks"), ["1", "2"].map(String::from).into());
    assert_eq!(
        set("router"),
        ["client", "nginx", "none"].map(String::from).into()
    );
    assert_eq!(
        set("balance"),
        ["least_conn", "none", "round_robin"]
            .map(String::from)
            .into()
    );
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r:?}");
        assert!(!r["model"].is_empty() && !r["backend"].is_empty());
        assert_eq!(r["total_tokens"], "128", "8 requests x 16 tokens: {r:?}");
        let per: Vec<u64> = r["instance_requests"]
            .split(';')
            .map(|x| x.parse().unwrap())
            .collect();
        let tokens: Vec<u64> = r["instance_tokens"]
            .split(';')
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(
            per.iter().sum::<u64>(),
            8,
            "every request attributed: {r:?}"
        );
        assert_eq!(tokens.iter().sum::<u64>(), 128, "{r:?}");
        if r["instances"] == "2" {
            assert_eq!(per.len(), 2);
            assert!(per.iter().all(|n| *n > 0), "both instances served: {r:?}");
            if r["balance"] == "round_robin" {
                assert_eq!(per, vec![4, 4], "round robin splits evenly: {r:?}");
                assert_eq!(r["imbalance"], "1.00");
            }
        }
    }

    let run = run_dir(&files[0]);
    // nginx points were attributed from nginx's own access log
    let report = std::fs::read_to_string(run.join("report.jsonl")).unwrap();
    let sources: BTreeSet<String> = report
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| v["per_instance"]["source"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sources,
        ["client", "nginx_access_log", "single"]
            .map(String::from)
            .into()
    );
    let access = std::fs::read_to_string(run.join("nginx/access.log")).unwrap();
    assert!(access.contains("req=p3-0 upstream=127.0.0.1:"), "{access}");

    // two ranks ran under mlx.launch for each model, and are gone now
    let ranks = journal_ranks(&run);
    assert_eq!(ranks.len(), 4, "2 ranks x 2 models: {ranks:?}");
    assert_eq!(
        ranks.iter().map(|r| r.1).collect::<BTreeSet<_>>(),
        [0, 1].into()
    );
    for (pid, _) in &ranks {
        assert!(!pid_alive(*pid), "rank {pid} still running");
    }
    let launched = journal_starts(&run)
        .into_iter()
        .filter(|(_, argv)| argv[0].ends_with("mlx.launch"))
        .count();
    assert_eq!(launched, 2);
    // instances are reused when only the router changes: 3 starts per model
    let instance0 = journal_starts(&run)
        .into_iter()
        .filter(|(_, argv)| argv.iter().any(|a| a == &port.to_string()))
        .count();
    assert_eq!(
        instance0, 6,
        "instance-0 started once per instance configuration"
    );
    assert_clean_run(&run);
    assert!(!listening(port) && !listening(port + 1) && !listening(port + 9));

    // plan says which routing rule fired
    let plan = mlxrun()
        .env("MLX_MODEL_PATH", tiny_model())
        .args(["plan", "scenarios/backends_tour.toml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("backend: mlx_lm (auto: config.json model_type \"llama\""),
        "{text}"
    );
}

#[test]
fn openai_backend_sends_the_key_and_never_writes_it() {
    const KEY: &str = "sk-mlxrun-test-5ecret-key-0042";
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    // two servers someone else started: remote upstreams by address
    let a = OwnServer::mlx_lm(port + 5, &t.path().join("own-server-a.log"));
    let b = OwnServer::mlx_lm(port + 6, &t.path().join("own-server-b.log"));
    let body = format!(
        r#"
[backends.openai]
urls = ["http://127.0.0.1:{}/v1", "http://127.0.0.1:{}"]
api_key_env = "TEST_OPENAI_API_KEY"

[workload]
requests = 4
warmup_requests = 1

[matrix]
instances = [1, 2]
router = ["nginx", "client"]
concurrency = [1, 2]
max_tokens = 8
"#,
        a.port, b.port
    );
    let path = write_scenario_with(t.path(), "remote", port, "kind = \"openai\"", &body);
    // the served model's name: mlx_lm.server answers "default_model" with the model it loaded
    let run = |key: Option<&str>| {
        let mut c = mlxrun();
        c.args([
            path.to_str().unwrap(),
            "--plain",
            "--set",
            "model.path=default_model",
        ]);
        match key {
            Some(k) => c.env("TEST_OPENAI_API_KEY", k),
            None => c.env_remove("TEST_OPENAI_API_KEY"),
        };
        c.output().unwrap()
    };

    let missing = run(None);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("$TEST_OPENAI_API_KEY"));

    let out = run(Some(KEY));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
    let files = csvs(t.path(), "remote");
    let rows = read_rows(&files[0]);
    assert_eq!(rows.len(), 6, "{rows:?}");
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r:?}");
        assert_eq!(r["backend"], "openai");
        assert_eq!(r["total_tokens"], "32");
        if r["instances"] == "2" {
            // both upstreams served, through nginx and through the client router
            assert_eq!(r["instance_requests"], "2;2", "{r:?}");
        }
    }
    let routers: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["router"].as_str()).collect();
    assert_eq!(routers, ["client", "nginx", "none"].into());
    let results = t.path().join("results");
    let all = files_under(&results);
    assert!(all.len() >= 4, "{all:?}");
    for f in all {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "{} holds the API key",
            f.display()
        );
    }
    // no server was launched: nginx is the only process mlxrun started
    let starts = journal_starts(&run_dir(&files[0]));
    assert!(!starts.is_empty());
    assert!(
        starts
            .iter()
            .all(|(_, argv)| argv.iter().any(|a| a.contains("nginx"))),
        "{starts:?}"
    );
    assert_clean_run(&run_dir(&files[0]));
    drop((a, b));
}

/// The server configurations section of `mlxrun plan`.
fn plan_servers(scenario: &str) -> String {
    // `plan` starts nothing and writes no run folder: no run to check clean
    let out = mlxrun().args(["plan", scenario]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = text.find("server configurations:").unwrap();
    let end = start + text[start..].find("\npoints:\n").unwrap();
    text[start..end].to_string()
}

#[test]
fn vllm_and_sglang_definitions_plan_as_expected() {
    insta::assert_snapshot!(plan_servers("scenarios/gpu_servers.toml"));
}

#[test]
fn llama_server_sweeps_slots_and_reads_tokens_from_timings() {
    let bin = repo().join(".mlxrun/llama.cpp/bin/llama-server");
    assert!(
        bin.is_file(),
        "missing {}: run scripts/build-llama-server.sh (scripts/test.sh does)",
        bin.display()
    );
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    run_ok(
        shipped("scenarios/llama_server.toml", port, t.path())
            .env("MLX_MODEL_PATH", tiny_gguf())
            .args(["--set", "workload.requests=8"]),
    );
    let files = csvs(t.path(), "llama_server");
    assert_eq!(files.len(), 1);
    let rows = read_rows(&files[0]);
    assert_eq!(
        rows.len(),
        4,
        "parallel [1,2] x concurrency [1,4]: {rows:?}"
    );
    let set = |col: &str| -> BTreeSet<String> { rows.iter().map(|r| r[col].clone()).collect() };
    assert_eq!(set("backend"), ["llama_server".to_string()].into());
    assert_eq!(set("parallel"), ["1", "2"].map(String::from).into());
    assert_eq!(set("ctx_per_slot"), ["512".to_string()].into());
    assert!(
        set("model_path")
            .iter()
            .all(|p| p.ends_with("tiny-llama.gguf"))
    );
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r:?}");
        assert_eq!(r["errors"], "0", "{r:?}");
        // tokens come from llama-server's `timings` (predicted_n): the random
        // model never stops early, so every request yields all 16
        assert_eq!(r["total_tokens"], "128", "8 requests x 16 tokens: {r:?}");
        let tps: f64 = r["throughput_tps"].parse().unwrap();
        assert!(tps > 0.0, "{r:?}");
    }

    // the context per slot is held: --ctx-size = 512 x parallel
    let run = run_dir(&files[0]);
    let starts = journal_starts(&run);
    assert_eq!(starts.len(), 2, "one server per slot count: {starts:?}");
    let flag = |argv: &[String], f: &str| {
        argv.iter()
            .position(|a| a == f)
            .map(|i| argv[i + 1].clone())
            .unwrap_or_default()
    };
    let pairs: BTreeSet<(String, String)> = starts
        .iter()
        .map(|(_, a)| (flag(a, "--parallel"), flag(a, "--ctx-size")))
        .collect();
    assert_eq!(
        pairs,
        [("1", "512"), ("2", "1024")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .into()
    );
    assert!(
        starts
            .iter()
            .all(|(_, a)| a[0].ends_with("llama.cpp/bin/llama-server"))
    );

    // llama-server's own Prometheus counters, scraped around every point,
    // agree with the client's token count
    let report = std::fs::read_to_string(run.join("report.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    for r in &records {
        let predicted =
            &r["server_metrics"]["instance-0"]["counters"]["llamacpp:tokens_predicted_total"];
        assert_eq!(predicted.as_f64(), Some(128.0), "{r}");
        assert_eq!(r["metrics"]["completion_tokens"], 128);
    }
    assert_clean_run(&run);
    assert!(!listening(port));
}
