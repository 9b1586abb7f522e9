//! Load modes against the real mlx_lm.server with the tiny model: open-loop
//! points (Poisson arrivals at a rate and all at once, behind a concurrency
//! cap, with unmeasured warmup and cooldown requests and an SLO), and a
//! closed-loop point bounded by time.

use crate::common::*;

#[test]
fn open_loop_points_count_from_the_schedule_and_report_goodput() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = write_scenario(
        t.path(),
        "open",
        port,
        r#"
[workload]
requests = 12
warmup_requests = 1
seed = 7

[load]
arrival = "poisson"
warmup_requests = 2
cooldown_requests = 2

[slo]
ttft_ms = 60000
e2e_ms = 60000

[metrics]
percentiles = [50, 99, 99.9]

[matrix]
request_rate = [20, "inf"]
concurrency = [2]
max_tokens = 8
"#,
    );
    run_ok(mlxrun().arg(&path).arg("--plain"));

    let files = csvs(t.path(), "open");
    let h = header(&files[0]);
    for col in [
        "ttft_p99_9_ms",
        "tpot_mean_ms",
        "itl_token_p50_ms",
        "queue_p99_ms",
        "goodput_rps",
    ] {
        assert!(h.contains(&col.to_string()), "{col} in {h:?}");
    }
    assert!(
        !h.contains(&"ttft_p90_ms".to_string()),
        "only the configured percentiles"
    );
    let rows = read_rows(&files[0]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["request_rate"], "20");
    assert_eq!(rows[1]["request_rate"], "inf");
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r:?}");
        assert_eq!(r["requests"], "12", "exactly the measured requests: {r:?}");
        assert_eq!(r["concurrency"], "2");
        let excluded = num(r, "excluded_requests");
        assert!(
            (2.0..=4.0).contains(&excluded),
            "the 2 warmup requests, and the cooldown ones that finished: {r:?}"
        );
        assert_eq!(r["requested_tokens"], "96", "12 x max_tokens 8");
        assert!(num(r, "total_tokens") <= 96.0 && num(r, "total_tokens") > 0.0);
        assert!(num(r, "total_tps") > num(r, "throughput_tps"), "{r:?}");
        assert!(num(r, "tpot_mean_ms") > 0.0 && num(r, "itl_token_mean_ms") > 0.0);
        // TTFT counts from the scheduled send time, so it includes queueing
        assert!(num(r, "ttft_mean_ms") >= num(r, "queue_mean_ms"), "{r:?}");
        assert_eq!(r["slo_attainment"], "1.0000", "a generous SLO: {r:?}");
        assert!((num(r, "goodput_rps") - num(r, "requests_per_s")).abs() < 0.01);
    }
    // all 14 requests due at once behind a cap of 2: the last ones wait for
    // several earlier ones to finish, far longer than one request's own
    // time to first token
    let inf = &rows[1];
    assert!(
        num(inf, "queue_p99_ms") > num(inf, "ttft_mean_ms") - num(inf, "queue_mean_ms"),
        "{inf:?}"
    );
    assert_clean_run(&run_dir(&files[0]));
}

#[test]
fn a_closed_loop_point_bounded_by_time_measures_its_window() {
    let t = tempfile::tempdir().unwrap();
    let port = port_block();
    let path = write_scenario(
        t.path(),
        "timed",
        port,
        r#"
[workload]
warmup_requests = 1

[load]
duration_s = 2
warmup_s = 0.5
cooldown_s = 0.5

[matrix]
concurrency = [2]
max_tokens = 8
"#,
    );
    run_ok(mlxrun().arg(&path).arg("--plain"));
    let files = csvs(t.path(), "timed");
    let rows = read_rows(&files[0]);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["status"], "ok", "{r:?}");
    assert_eq!(r["duration_s"], "2");
    assert_eq!(r["request_rate"], "", "closed loop");
    assert_eq!(r["queue_mean_ms"], "", "closed loop has no queue");
    assert!(num(r, "requests") >= 2.0, "{r:?}");
    assert!(
        num(r, "excluded_requests") >= 1.0,
        "requests of the first 0.5 s are not measured: {r:?}"
    );
    // measured: the requests sent from 0.5 s to 2.5 s of the point, until
    // the last finishes. Checked on mlxrun's own clock, which decides what
    // is measured (in a closed loop a request's scheduled time is when it
    // was sent), so a busy machine cannot fail it: every measured request
    // was sent inside the window, and the row's elapsed_s runs from the
    // first of them to the end of the last
    let run = run_dir(&files[0]);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(run.join("requests.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as f64, num(r, "requests"));
    let sched = |l: &serde_json::Value| l["scheduled_s"].as_f64().unwrap();
    let end = |l: &serde_json::Value| sched(l) + l["e2e_ms"].as_f64().unwrap() / 1e3;
    for l in &lines {
        assert!(
            (0.5..2.5).contains(&sched(l)),
            "sent outside the window: {l}"
        );
    }
    let first = lines.iter().map(sched).fold(f64::INFINITY, f64::min);
    let last = lines.iter().map(end).fold(0.0, f64::max);
    let elapsed = num(r, "elapsed_s");
    // (the CSV rounds it to 10 ms)
    assert!(
        (elapsed - (last - first)).abs() <= 0.006,
        "{elapsed} vs {first}..{last}"
    );
    assert_clean_run(&run);
}

#[test]
fn synthetic_prompts_are_token_exact_and_file_prompts_reach_the_server() {
    let t = tempfile::tempdir().unwrap();
    let run = |name: &str, body: &str| {
        let port = port_block();
        let path = write_scenario(t.path(), name, port, body);
        run_ok(mlxrun().arg(&path).arg("--plain"));
        let files = csvs(t.path(), name);
        assert_clean_run(&run_dir(&files[0]));
        read_rows(&files[0])
    };

    // synthetic: the server counts exactly input_tokens plus its chat
    // template's fixed overhead, whatever the length
    let rows = run(
        "synthetic",
        "[workload]\nrequests = 4\nwarmup_requests = 0\nseed = 11\n\n[matrix]\nconcurrency = [2]\ninput_tokens = [24, 120]\nmax_tokens = 2\n",
    );
    assert_eq!(rows.len(), 2);
    let per_request: Vec<f64> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "ok", "{r:?}");
            num(r, "prompt_tokens") / num(r, "ok_requests")
        })
        .collect();
    let overhead: Vec<f64> = per_request
        .iter()
        .zip([24.0, 120.0])
        .map(|(p, n)| p - n)
        .collect();
    assert_eq!(
        overhead[0], overhead[1],
        "prompts of exact length: {rows:?}"
    );
    assert!(
        (0.0..16.0).contains(&overhead[0]),
        "template overhead {overhead:?}"
    );

    // a JSONL file's messages (system + user) reach the server as given: the
    // same user text costs more prompt tokens with a system message before it
    let user = "Tell me about benchmarking inference servers";
    std::fs::write(t.path().join("plain.txt"), format!("{user}\n")).unwrap();
    std::fs::write(
        t.path().join("chat.jsonl"),
        format!(
            "{{\"messages\":[{{\"role\":\"system\",\"content\":\"You are terse and precise.\"}},{{\"role\":\"user\",\"content\":\"{user}\"}}]}}\n"
        ),
    )
    .unwrap();
    let body = |file: &str| {
        format!(
            "[workload]\nrequests = 2\nwarmup_requests = 0\nprompts_file = \"{file}\"\n\n[matrix]\nmax_tokens = 2\n"
        )
    };
    let plain = run("plain", &body("plain.txt"));
    let chat = run("chat", &body("chat.jsonl"));
    assert!(
        num(&chat[0], "prompt_tokens") > num(&plain[0], "prompt_tokens"),
        "{plain:?}\n{chat:?}"
    );
}
