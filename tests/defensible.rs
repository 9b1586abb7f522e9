//! Numbers you can defend, end to end: the shape warmup keeps a server's
//! cold start out of the first point; repeats and their combined row.

use std::path::Path;

use crate::common::*;

/// The CSV rows of the one run of `name` under `dir`.
fn only_run(dir: &Path, name: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let csv = csvs(dir, name);
    assert_eq!(csv.len(), 1, "{csv:?}");
    read_rows(&csv[0])
}

#[test]
fn the_shape_warmup_keeps_a_cold_start_out_of_the_first_point() {
    // the first 4 requests of each max_tokens value wait 400 ms more, as a
    // server compiling kernels for a new shape
    let backend = stub_backend(
        "stub",
        &[
            "--ttft-ms",
            "5",
            "--itl-ms",
            "1",
            "--cold-ms",
            "400",
            "--cold-requests",
            "4",
        ],
    );
    let body = format!(
        "{backend}[workload]\nrequests = 12\nwarmup_requests = 0\n\n[matrix]\nconcurrency = 1\nmax_tokens = 8\n\n[run]\nrepeats = 2\n"
    );
    for warm in [false, true] {
        let t = tempfile::tempdir().unwrap();
        let name = if warm { "warm" } else { "cold" };
        let scenario = stub_scenario(t.path(), name, port_block(), &body);
        let out = mlxrun()
            .arg(&scenario)
            .args(["--plain", "--set", &format!("run.warmup.enabled={warm}")])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = only_run(t.path(), name);
        let kinds: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r["row_kind"].as_str(), r["repeat"].as_str()))
            .collect();
        assert_eq!(kinds, [("repeat", "1"), ("repeat", "2"), ("point", "")]);
        assert!(stdout.contains("point 1/1 repeat 1/2 "), "{stdout}");
        assert!(
            stdout.contains("point 1/1 (2 repeats combined) "),
            "{stdout}"
        );
        // which measured requests paid the cold start (TTFT 405 ms or more,
        // against 5 ms warm): counted per request, not as a bound on a
        // mean, so a busy machine cannot fake one (it would have to stall
        // a 5 ms request for 400 ms)
        let dir = run_dir(&csvs(t.path(), name)[0]);
        let mut cold: Vec<(u64, u64)> = std::fs::read_to_string(dir.join("requests.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|l| l["ttft_ms"].as_f64().unwrap() >= 400.0)
            .map(|l| (l["repeat"].as_u64().unwrap(), l["seq"].as_u64().unwrap()))
            .collect();
        cold.sort();
        eprintln!(
            "{name}: TTFT means {} and {} ms",
            rows[0]["ttft_mean_ms"], rows[1]["ttft_mean_ms"]
        );
        if warm {
            // round 1 is cold, rounds 2 and 3 agree: 12 warmup requests
            assert_eq!(rows[0]["warmup_steady"], "true");
            assert!(num(&rows[0], "warmup_requests") >= 12.0, "{:?}", rows[0]);
            assert_eq!(rows[1]["warmup_requests"], "0", "the shape is warm by now");
            assert_eq!(cold, [], "the warmup took every cold request");
            assert!(!rows[0]["quality_flags"].contains("not_warmed"));
        } else {
            assert_eq!(rows[0]["warmup_requests"], "0");
            // the first 4 requests of the first repeat paid it, none after
            assert_eq!(cold, [(1, 0), (1, 1), (1, 2), (1, 3)]);
        }
        assert_clean_run(&dir);
        energy_follows_the_power_source(&dir, &rows);
    }
}

/// Energy in the CSV and report.jsonl, for every row (repeats and the
/// combined one): without a power source (CI) every figure is empty and
/// the monitor's reason is given; with one, each row has joules and says
/// how they were obtained.
fn energy_follows_the_power_source(
    dir: &Path,
    rows: &[std::collections::BTreeMap<String, String>],
) {
    let lines = |f: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let monitor = lines("monitor.jsonl");
    let power = monitor[0]["sources"]["power"].as_str().unwrap().to_string();
    assert!(
        monitor.iter().any(|l| l["name"] == "idle_power"),
        "idle power is measured before the first configuration"
    );
    let report = lines("report.jsonl");
    assert_eq!(report.len(), rows.len());
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<section id=\"sec-energy\">"));
    if let Some(why) = power.strip_prefix("unavailable: ") {
        assert!(
            md.contains(&format!(
                "## Energy\n\nNo energy figures for this run: {why}"
            )),
            "{md}"
        );
        assert!(html.contains(&format!("No energy figures: {why}")));
    } else {
        assert!(md.contains("| output tokens / J |"), "{md}");
    }
    for (row, r) in rows.iter().zip(&report) {
        let e = &r["energy"];
        match power.strip_prefix("unavailable: ") {
            Some(why) => {
                for col in [
                    "energy_j",
                    "power_w_mean",
                    "j_per_output_token",
                    "output_tokens_per_j",
                    "energy_method",
                ] {
                    assert_eq!(row[col], "", "{col}");
                }
                assert!(row["energy_why"].ends_with(why), "{}", row["energy_why"]);
                for k in ["total_j", "mean_power_w", "j_per_output_token", "method"] {
                    assert!(e[k].is_null(), "{k}: {e}");
                }
                assert!(e["why"].as_str().unwrap().ends_with(why), "{e}");
            }
            None => {
                assert!(num(row, "energy_j") > 0.0, "{row:?}");
                assert!(["counter", "integrated"].contains(&row["energy_method"].as_str()));
                assert!(e["total_j"].as_f64().unwrap() > 0.0, "{e}");
            }
        }
    }
}

/// The i-th value of column `col`, as a number.
fn f(row: &std::collections::BTreeMap<String, String>, col: &str) -> f64 {
    num(row, col)
}

#[test]
fn intervals_cover_the_stubs_true_mean_and_median_at_about_their_level() {
    // TTFT drawn from a log-normal of mean 200 ms and sd 100 ms: median
    // 200 / √1.25 = 178.9 ms. 25 repeats of 100 requests (50 at a time),
    // each repeat row with its own 95% intervals (within-repeat variation
    // only).
    let (mean, median) = (200.0, 200.0 / 1.25f64.sqrt());
    let backend = stub_backend(
        "stub",
        &["--ttft-ms", "200", "--ttft-sd-ms", "100", "--seed", "11"],
    );
    let body = format!(
        "{backend}[workload]\nrequests = 100\nwarmup_requests = 0\n\n[matrix]\nconcurrency = 50\nmax_tokens = 2\n\n[run]\nrepeats = 25\n\n[run.warmup]\nenabled = false\n"
    );
    let t = tempfile::tempdir().unwrap();
    let scenario = stub_scenario(t.path(), "cover", port_block(), &body);
    let out = mlxrun().arg(&scenario).arg("--plain").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = only_run(t.path(), "cover");
    let repeats: Vec<_> = rows.iter().filter(|r| r["row_kind"] == "repeat").collect();
    assert_eq!(repeats.len(), 25);
    let covers = |fig: &str, truth: f64| {
        repeats
            .iter()
            .filter(|r| f(r, &format!("{fig}_lo")) <= truth && truth <= f(r, &format!("{fig}_hi")))
            .count()
    };
    // nominal 95%: at least 17 of 25 (a true coverage of 88% fails this
    // one run in 600)
    let (c_mean, c_median) = (covers("ttft_mean_ms", mean), covers("ttft_p50_ms", median));
    assert!(c_mean >= 17, "the mean's interval covered {c_mean} of 25");
    assert!(
        c_median >= 17,
        "the median's interval covered {c_median} of 25"
    );
    // and not by being too wide: each repeat's half-width is what its own
    // spread gives, 1.96 s / √n with its measured s (about 1.96 × 100 / 10
    // = 19.6 ms); a ratio to a figure of the same repeat, so a busy machine
    // that widens the spread cannot fail it (bootstrap intervals of a
    // skewed distribution: 0.85 to 1.19 of it per repeat, 0.97 on average)
    let ratio = |r: &std::collections::BTreeMap<String, String>| {
        (f(r, "ttft_mean_ms_hi") - f(r, "ttft_mean_ms_lo"))
            / 2.0
            / (1.96 * f(r, "ttft_std_ms") / 100f64.sqrt())
    };
    let avg_ratio = repeats.iter().map(|r| ratio(r)).sum::<f64>() / 25.0;
    assert!(
        (0.8..1.25).contains(&avg_ratio),
        "half-widths {avg_ratio:.2} of 1.96 s / √n on average"
    );
    let hw: f64 = repeats
        .iter()
        .map(|r| (f(r, "ttft_mean_ms_hi") - f(r, "ttft_mean_ms_lo")) / 2.0)
        .sum::<f64>()
        / 25.0;
    // the combined row pools the 2,500 requests: centred on the repeats'
    // means, a far tighter interval, and not below the truth (every
    // measured TTFT is the stub's delay plus the machine's lateness, never
    // less). How far above it the lateness puts it (2 to 7 ms on this
    // 2-core machine, debug build, as its load varied) is the client
    // benchmark's to say (scripts/bench-client.sh, "accuracy"), not this
    // test's: the repeats' coverage above holds with it
    let point = rows.iter().find(|r| r["row_kind"] == "point").unwrap();
    let (lo, hi) = (f(point, "ttft_mean_ms_lo"), f(point, "ttft_mean_ms_hi"));
    let of_repeats = repeats.iter().map(|r| f(r, "ttft_mean_ms")).sum::<f64>() / 25.0;
    assert!(
        (f(point, "ttft_mean_ms") - of_repeats).abs() < 0.01,
        "combined mean {} vs the repeats' {of_repeats}",
        point["ttft_mean_ms"]
    );
    assert!(mean - 3.0 <= hi, "combined {lo}–{hi}");
    assert!(hi - lo < 2.0 * hw, "combined {lo}–{hi} vs a repeat's ±{hw}");
    eprintln!(
        "coverage of 25: mean {c_mean}, median {c_median}; half-width {hw:.1} ms ({avg_ratio:.2} of 1.96 s/√n); combined {lo}–{hi} ms against the true 200 ms"
    );
    assert_eq!(point["repeats"], "25");
    // p99 of 100 requests has no interval, and says why
    assert!(point["ci_notes"].is_empty() || !point["ci_notes"].contains("ttft_p99_ms"));
    assert!(repeats[0]["ci_notes"].contains("ttft_p99_ms: too few samples for p99"));
    assert_clean_run(&run_dir(&csvs(t.path(), "cover")[0]));
}

/// `mlxrun report NEW --compare OLD`: its stdout.
fn compare(new: &Path, old: &Path) -> String {
    let out = mlxrun()
        .arg("report")
        .arg(new)
        .arg("--compare")
        .arg(old)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn compare_finds_a_slower_stub_slower_and_the_same_stub_no_different() {
    let t = tempfile::tempdir().unwrap();
    // TTFT drawn from a log-normal (sd half the mean) with one seed, so
    // "base" and "again" draw the same delays and "slow" the same ones
    // 20% longer; one token per request, so the figures are the drawn
    // delays and not the timer's jitter between streamed chunks on a busy
    // machine
    let runs = [
        ("base", "100", "50"),
        ("again", "100", "50"),
        ("slow", "120", "60"),
    ];
    let mut dirs = Vec::new();
    for (name, ttft, sd) in runs {
        let backend = stub_backend(
            "stub",
            &["--ttft-ms", ttft, "--ttft-sd-ms", sd, "--seed", "5"],
        );
        let body = format!(
            "{backend}[workload]\nrequests = 160\n\n[matrix]\nconcurrency = [4, 8]\nmax_tokens = 1\n\n[run.warmup]\nenabled = false\n"
        );
        let scenario = stub_scenario(t.path(), name, port_block(), &body);
        let out = mlxrun().arg(&scenario).arg("--plain").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dirs.push(run_dir(&csvs(t.path(), name)[0]));
        assert_clean_run(dirs.last().unwrap());
    }
    let slower = compare(&dirs[2], &dirs[0]);
    assert!(slower.contains("2 points slower"), "{slower}");
    let same = compare(&dirs[1], &dirs[0]);
    assert!(
        same.contains("0 points slower") && same.contains("0 faster"),
        "{same}"
    );
    let md = std::fs::read_to_string(dirs[2].join("report.md")).unwrap();
    assert!(md.contains("z-test"), "the report names its test");
}

#[test]
fn a_precision_target_extends_a_noisy_point_until_it_is_tight() {
    let backend = stub_backend("stub", &["--ttft-ms", "20", "--ttft-sd-ms", "10"]);
    let body = format!(
        "{backend}[workload]\nrequests = 20\n\n[matrix]\nconcurrency = 4\nmax_tokens = 4\n\n[run.precision]\nttft_p50_pct = 5.0\nmax_requests = 2000\nmax_s = 60\n"
    );
    let t = tempfile::tempdir().unwrap();
    let scenario = stub_scenario(t.path(), "tight", port_block(), &body);
    let out = mlxrun().arg(&scenario).arg("--plain").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = only_run(t.path(), "tight");
    let r = &rows[0];
    // 20 requests give p50 to about ±20%: it had to go on
    assert!(f(r, "requests") > 40.0, "{} requests", r["requests"]);
    assert!(f(r, "requests") < 2000.0, "{} requests", r["requests"]);
    // the stop confirms a quick check with the final (1,000-resample)
    // interval; requests still in flight when it stopped may widen it a
    // little
    let half_pct =
        (f(r, "ttft_p50_ms_hi") - f(r, "ttft_p50_ms_lo")) / 2.0 / f(r, "ttft_p50_ms") * 100.0;
    assert!(half_pct <= 7.5, "±{half_pct:.1}%");
    assert_eq!(r["precision_met"] == "true", half_pct <= 5.0, "{half_pct}");
    let jsonl =
        std::fs::read_to_string(run_dir(&csvs(t.path(), "tight")[0]).join("report.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(v["precision"]["stopped_by"], "target");
    assert!(v["precision"]["checks"].as_u64().unwrap() >= 2);
    assert_clean_run(&run_dir(&csvs(t.path(), "tight")[0]));
}

#[test]
fn a_real_server_states_its_mode_keeps_every_request_and_agrees_with_itself() {
    let t = tempfile::tempdir().unwrap();
    // temperature 0.3 (the default): per-request sampling; concurrency 8
    // above decode_concurrency 4: requests queue inside the server
    let path = write_scenario(
        t.path(),
        "mode",
        port_block(),
        "[workload]\nrequests = 24\ninput_tokens_distribution = \"fixed\"\n\n[matrix]\ndecode_concurrency = 4\nconcurrency = [1, 8]\nmax_tokens = 16\ninput_tokens = 32\n\n[run]\nrepeats = 2\n",
    );
    let plan = mlxrun().arg("plan").arg(&path).output().unwrap();
    let plan_out =
        String::from_utf8_lossy(&plan.stdout).into_owned() + &String::from_utf8_lossy(&plan.stderr);
    assert!(plan_out.contains("temperature"), "{plan_out}");
    assert!(plan_out.contains("per_request_sampling"), "{plan_out}");
    assert!(plan_out.contains("server_queue"), "{plan_out}");
    let out = mlxrun().arg(&path).arg("--plain").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("per_request_sampling"), "{stderr}");
    let csv = &csvs(t.path(), "mode")[0];
    let rows = read_rows(csv);
    for r in &rows {
        assert_eq!(r["temperature"], "0.3");
        assert!(r["server_mode"].contains("per_request_sampling"), "{r:?}");
    }
    let c8 = rows
        .iter()
        .find(|r| r["concurrency"] == "8" && r["row_kind"] == "point")
        .unwrap();
    assert!(c8["server_mode"].contains("server_queue"), "{c8:?}");
    // the first point, measured twice in a row on a fresh server, is not
    // much slower the first time: the cold start the warmup keeps out made
    // it two to three times slower. Not "within each other's intervals":
    // a point's intervals cover the variation within its window, and on
    // the suite's 2 cores, tests side by side, two repeats of one point
    // differed by more (CI: 422 (385-450) against 515 (473-565) tok/s,
    // neither flagged). The other way round is not asserted: the test
    // beside this one may slow the second repeat down.
    let first: Vec<_> = rows
        .iter()
        .filter(|r| r["point"] == "1" && r["row_kind"] == "repeat")
        .collect();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0]["warmup_steady"], "true", "{:?}", first[0]);
    let (a, b) = (first[0], first[1]);
    // a repeat the run itself flags as measured beside another process's
    // load (`noisy_neighbour`) says nothing about a cold start; mlxrun's
    // own flag decides
    let noisy = |r: &std::collections::BTreeMap<String, String>| {
        r["quality_flags"].contains("noisy_neighbour")
    };
    if noisy(a) || noisy(b) {
        eprintln!("the first point's repeats were flagged noisy_neighbour: not compared");
    } else {
        assert!(
            f(a, "throughput_tps") >= 0.7 * f(b, "throughput_tps"),
            "{a:?}\n{b:?}"
        );
        assert!(
            f(a, "e2e_p50_ms") <= 1.4 * f(b, "e2e_p50_ms"),
            "{a:?}\n{b:?}"
        );
    }
    // one record per measured request, and they recompute the CSV
    let dir = run_dir(csv);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("requests.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let measured: f64 = rows
        .iter()
        .filter(|r| r["row_kind"] == "repeat")
        .map(|r| f(r, "requests"))
        .sum();
    assert_eq!(lines.len() as f64, measured);
    for r in rows.iter().filter(|r| r["row_kind"] == "repeat") {
        let mut ttft: Vec<f64> = lines
            .iter()
            .filter(|l| {
                let same = |k: &str| l[k].as_u64().map(|n| n.to_string()).as_ref() == Some(&r[k]);
                same("point") && same("repeat")
            })
            .filter_map(|l| l["ttft_ms"].as_f64())
            .collect();
        assert_eq!(ttft.len() as f64, f(r, "ok_requests"));
        ttft.sort_by(f64::total_cmp);
        // numpy's linear median
        let n = ttft.len();
        let median = if n % 2 == 1 {
            ttft[n / 2]
        } else {
            (ttft[n / 2 - 1] + ttft[n / 2]) / 2.0
        };
        assert!(
            (median - f(r, "ttft_p50_ms")).abs() < 0.01,
            "{median} vs {}",
            r["ttft_p50_ms"]
        );
    }
    assert_clean_run(&dir);
}

#[test]
fn interleaved_repeats_alternate_points_and_each_point_row_follows_its_last_repeat() {
    let backend = stub_backend("stub", &["--ttft-ms", "2", "--ttft-sd-ms", "1"]);
    let body = format!(
        "{backend}[workload]\nrequests = 12\n\n[matrix]\nconcurrency = [1, 2]\nmax_tokens = 4\n\n[run]\nrepeats = 2\nrepeat_order = \"interleaved\"\n"
    );
    let t = tempfile::tempdir().unwrap();
    let scenario = stub_scenario(t.path(), "inter", port_block(), &body);
    let out = mlxrun().arg(&scenario).arg("--plain").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = only_run(t.path(), "inter");
    let order: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["point"].clone(), r["repeat"].clone()))
        .collect();
    let o = |p: &str, r: &str| (p.to_string(), r.to_string());
    assert_eq!(
        order,
        [
            o("1", "1"),
            o("2", "1"),
            o("1", "2"),
            o("1", ""),
            o("2", "2"),
            o("2", "")
        ]
    );
    // the point rows combine their repeats' requests
    for p in ["1", "2"] {
        let point = rows
            .iter()
            .find(|r| r["point"] == p && r["row_kind"] == "point")
            .unwrap();
        assert_eq!(f(point, "requests"), 24.0);
    }
    // progress counts points, not rows
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("progress 2/2 (100.0%)"), "{all}");
    assert!(!all.contains("progress 3/"), "{all}");
    // the plan counts every repeat's requests
    assert!(all.contains("48 measured requests"), "{all}");
    let dir = run_dir(&csvs(t.path(), "inter")[0]);
    let jsonl = std::fs::read_to_string(dir.join("report.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 6);
    assert_clean_run(&dir);
}
