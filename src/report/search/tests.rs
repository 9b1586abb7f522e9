//! Tests of reading a search's log and of the text the reports show from
//! it, on a log built here line by line, and on the log a real
//! [`crate::tune::search::Search`] writes.

use serde_json::{Value, json};

use super::*;
use crate::report::data::tests::record_v060;
use crate::report::data::{RowKind, RunData};

/// Configuration labels of the fixture; the second one carries markup.
pub(crate) const LABELS: [&str; 4] = [
    "tiny mlx_lm ×1 decode=8 mt=128",
    "tiny mlx_lm ×1 decode=2 <fast> mt=128",
    "tiny mlx_lm ×1 decode=32 mt=128",
    "tiny mlx_lm ×1 decode=16 mt=128",
];
const LOADS: [f64; 3] = [1.0, 2.0, 4.0];

/// A probe row of report.jsonl: probe `probe` of configuration `config`
/// at load index `load`, throughput `tps` ± `half` (`None`: it failed).
pub(crate) fn probe_row(
    probe: u64,
    round: u32,
    why: &str,
    config: usize,
    load: usize,
    requests: u64,
    tps: Option<(f64, f64)>,
) -> Value {
    let point = (config * LOADS.len() + load + 1) as u64;
    let (v, half) = tps.unwrap_or((0.0, 0.0));
    let mut r = record_v060(
        point,
        "probe",
        None,
        1,
        (v, v - half, v + half),
        (10.0, 9.0, 11.0),
    );
    r["point"]["concurrency"] = json!(LOADS[load].to_string());
    r["metrics"]["requests"] = json!(requests);
    r["metrics"]["ok_requests"] = json!(requests);
    // 5 s a probe
    r["metrics"]["requests_per_s"] = json!(requests as f64 / 5.0);
    // probes in order, 5 s each
    r["test_start_ts"] = json!(1000.0 + 10.0 * probe as f64);
    r["test_end_ts"] = json!(1005.0 + 10.0 * probe as f64);
    if tps.is_none() {
        r["outcome"] = json!("failed");
        r["metrics"]["ok_requests"] = json!(0);
        r["metrics"]["requests_per_s"] = json!(0.0);
        r["intervals"]["figures"]["throughput_tps"] =
            json!({"value": null, "lo": null, "hi": null, "n": 0, "why": "no successful request"});
    }
    r["search"] = json!({"probe": probe, "round": round, "why": why, "config": config,
        "label": LABELS[config], "load_axis": "concurrency", "load": LOADS[load], "requests": requests});
    r
}

/// The fixture's probes: `(probe, round, why, config, load index,
/// requests, throughput ± half)`.
#[allow(clippy::type_complexity)]
const PROBES: [(u64, u32, &str, usize, usize, u64, Option<(f64, f64)>); 9] = [
    (1, 0, "start", 0, 0, 24, Some((100.0, 5.0))),
    (2, 0, "doubling", 0, 1, 24, Some((180.0, 8.0))),
    (3, 0, "doubling", 0, 2, 24, Some((200.0, 6.0))),
    (4, 0, "start", 1, 0, 24, Some((90.0, 5.0))),
    (5, 0, "doubling", 1, 1, 24, Some((120.0, 4.0))),
    (6, 0, "start", 2, 0, 24, None),
    (7, 0, "start", 3, 2, 24, Some((198.0, 7.0))),
    (8, 1, "refine", 0, 2, 96, Some((205.0, 3.0))),
    (9, 1, "refine", 3, 2, 96, Some((201.0, 4.0))),
];

fn rate(value: f64, half: f64) -> Value {
    json!({"kind": "rate", "estimate": {"value": value, "lo": value - half, "hi": value + half, "level": 0.95}})
}

fn outcome(config: usize, standing: Value, score: Value, points: u64) -> Value {
    json!({"config": config, "label": LABELS[config], "standing": standing,
           "knee_load": if score.is_null() { Value::Null } else { json!(4.0) },
           "best_load": if score.is_null() { Value::Null } else { json!(4.0) },
           "score": score, "knee_throughput": null, "points": points})
}

fn dropped_evidence() -> Value {
    json!({"score": rate(120.0, 4.0), "leader": 0, "leader_score": rate(200.0, 6.0),
           "z": 21.6, "p_one_sided": 1e-12,
           "rule": "its interval lies wholly below the leader's (hi < leader's lo)"})
}

/// tune.jsonl of the fixture: `search_started`, the decisions, and the
/// `result` when `finished`; plus one line that is not JSON.
pub(crate) fn tune_lines(finished: bool) -> String {
    let configs: Vec<Value> = (0..4)
        .map(|c| {
            json!({"config": c, "label": LABELS[c], "loads": LOADS, "requests": [100, 100, 100],
                   "points": [3 * c + 1, 3 * c + 2, 3 * c + 3]})
        })
        .collect();
    let mut lines = vec![
        json!({"decision": "search_started", "objective": "throughput",
        "figure": "throughput_tps", "limits": {"ttft_p99_ms": 500.0}, "load_axis": "concurrency",
        "seed": 0, "budget": {"max_points": 0, "max_requests": 0, "max_s": 0.0},
        "configs": configs, "full_product": {"points": 12, "requests": 1200}}),
    ];
    for (probe, round, why, config, load, requests, tps) in PROBES {
        lines.push(
            json!({"decision": "probe_chosen", "probe": probe, "config": config,
            "label": LABELS[config], "load_index": load, "load": LOADS[load],
            "requests": requests, "round": round, "why": why}),
        );
        if config == 0 && load == 2 && round == 0 {
            lines.push(
                json!({"decision": "knee_found", "config": 0, "label": LABELS[0], "round": 0,
                "knee_load": 4.0, "best_load": 4.0, "score": rate(200.0, 6.0)}),
            );
        }
        if tps.is_none() {
            lines.push(json!({"decision": "config_excluded", "config": config,
                "label": LABELS[config], "why": "did not start: exited with status 1"}));
        }
        if probe == 7 {
            lines.push(
                json!({"decision": "config_dropped", "config": 1, "label": LABELS[1],
                "round": 0, "evidence": dropped_evidence()}),
            );
            lines.push(
                json!({"decision": "round_ended", "round": 0, "requests_per_probe": 24,
                "leader": 0, "survivors": [0, 3]}),
            );
        }
    }
    if finished {
        let spent = json!({"points": 9, "requests": 360, "seconds": 45.0});
        lines.push(
            json!({"decision": "round_ended", "round": 1, "requests_per_probe": 96,
            "leader": 0, "survivors": [0, 3]}),
        );
        lines.push(
            json!({"decision": "finished", "stop": {"kind": "full_precision"}, "spent": spent}),
        );
        let best = outcome(0, json!({"kind": "contender"}), rate(205.0, 3.0), 4);
        let runner_up = outcome(3, json!({"kind": "contender"}), rate(201.0, 4.0), 2);
        lines.push(json!({"decision": "result", "wall_s": 61.5,
            "goal": {"objective": "throughput", "limits": [["ttft_p99_ms", 500.0]]},
            "best": best, "runner_up": runner_up, "tied": true,
            "configs": [
                best,
                outcome(1, json!({"kind": "dropped", "round": 0, "evidence": dropped_evidence()}), rate(120.0, 4.0), 2),
                outcome(2, json!({"kind": "excluded", "why": "did not start: exited with status 1"}), Value::Null, 1),
                runner_up,
            ],
            "pareto": [
                {"config": 0, "label": LABELS[0], "load": 1.0, "throughput_tps": 100.0, "latency_ms": 80.0},
                {"config": 0, "label": LABELS[0], "load": 4.0, "throughput_tps": 205.0, "latency_ms": 150.0}],
            "spent": spent,
            "full_product": {"points": 12, "requests": 1200, "estimated_s": 600.0},
            "stop": {"kind": "full_precision"}}));
    }
    let mut text: Vec<String> = lines.iter().map(Value::to_string).collect();
    text.insert(3, "{not json".to_string());
    text.join("\n") + "\n"
}

/// A run folder of the fixture (with `tune.jsonl` unless `log` is `None`).
pub(crate) fn run_folder(log: Option<bool>) -> (tempfile::TempDir, RunData) {
    let d = tempfile::tempdir().unwrap();
    let rows: Vec<String> = PROBES
        .iter()
        .map(|&(probe, round, why, config, load, requests, tps)| {
            probe_row(probe, round, why, config, load, requests, tps).to_string()
        })
        .collect();
    std::fs::write(d.path().join("report.jsonl"), rows.join("\n") + "\n").unwrap();
    if let Some(finished) = log {
        std::fs::write(d.path().join(FILE), tune_lines(finished)).unwrap();
    }
    let run = RunData::load(d.path()).unwrap();
    (d, run)
}

#[test]
fn a_search_log_reads_its_start_decisions_and_result() {
    let log = SearchLog::parse(&tune_lines(true));
    let s = log.started.as_ref().unwrap();
    assert_eq!(
        (s.objective.as_str(), s.figure.as_str()),
        ("throughput", "throughput_tps")
    );
    assert_eq!(limits_of(&s.limits), [("ttft_p99_ms".to_string(), 500.0)]);
    assert_eq!(s.load_axis, "concurrency");
    assert_eq!(s.configs.len(), 4);
    assert_eq!(s.configs[1].label, LABELS[1]);
    assert_eq!(s.full_product.points, Some(12));
    assert_eq!(log.resumes, 0);
    // the line that is not JSON is skipped and named by its line number
    assert_eq!(log.skipped_lines.len(), 1, "{:?}", log.skipped_lines);
    assert!(
        log.skipped_lines[0].starts_with("tune.jsonl:4: "),
        "{:?}",
        log.skipped_lines
    );
    let kinds: Vec<&str> = log
        .decisions
        .iter()
        .map(|d| match d {
            Decision::ProbeChosen { .. } => "probe",
            Decision::KneeFound { .. } => "knee",
            Decision::ConfigExcluded { .. } => "excluded",
            Decision::ConfigDropped { .. } => "dropped",
            Decision::RoundEnded { .. } => "round",
            Decision::Finished { .. } => "finished",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "probe", "probe", "probe", "knee", "probe", "probe", "probe", "excluded", "probe",
            "dropped", "round", "probe", "probe", "round", "finished"
        ]
    );
    let Decision::ConfigDropped {
        config,
        round,
        evidence,
        ..
    } = &log.decisions[9]
    else {
        panic!("{:?}", log.decisions[9]);
    };
    assert_eq!((*config, *round, evidence.leader), (1, 0, Some(0)));
    assert_eq!(
        (evidence.z, evidence.p_one_sided),
        (Some(21.6), Some(1e-12))
    );
    let Some(Score::Rate { estimate }) = evidence.score else {
        panic!("{evidence:?}");
    };
    assert_eq!(
        (estimate.value, estimate.lo, estimate.hi),
        (Some(120.0), Some(116.0), Some(124.0))
    );
    let r = log.result.as_ref().unwrap();
    assert!(log.finished());
    assert_eq!(r.best.as_ref().unwrap().config, 0);
    assert_eq!(r.runner_up.as_ref().unwrap().label, LABELS[3]);
    assert_eq!(r.tied, Some(true));
    assert_eq!(r.stop, Some(Stop::FullPrecision));
    assert_eq!(
        limits_of(&r.goal.limits),
        [("ttft_p99_ms".to_string(), 500.0)]
    );
    assert!(
        matches!(r.configs[2].standing, Standing::Excluded { ref why } if why.contains("status 1"))
    );
    assert_eq!(r.full_product.estimated_s, Some(600.0));
}

#[test]
fn odd_lines_are_skipped_or_read_as_unknown_never_a_panic() {
    let text = [
        r#"{"decision":"search_started","objective":"throughput"}"#,
        r#"{"decision":"something_new","x":1}"#,
        r#"{"no_tag":1}"#,
        r#"{"decision":"config_dropped","config":"two"}"#,
        r#"{"decision":"finished","stop":{"kind":"meteor"}}"#,
        r#"{"decision":"search_resumed"}"#,
        r#"{"decision":"search_started","resumed":true}"#,
        r#"[1,2]"#,
        "",
    ]
    .join("\n");
    let log = SearchLog::parse(&text);
    assert_eq!(log.resumes, 1);
    assert_eq!(
        log.decisions,
        [
            Decision::Other,
            Decision::Finished {
                stop: Some(Stop::Unknown),
                spent: Spent::default()
            },
            Decision::Other,
            Decision::SearchResumed
        ]
    );
    // no tag, a field of the wrong type, not an object
    assert_eq!(log.skipped_lines.len(), 3, "{:?}", log.skipped_lines);
    assert!(log.skipped_lines[0].starts_with("tune.jsonl:3: no `decision` tag"));
    assert!(!log.finished());
    assert_eq!(log.figure(), "throughput_tps");
    // an empty log: nothing known, nothing panics
    let empty = SearchLog::parse("");
    let run = RunData::default();
    let lines = summary(&run, &empty, &|s| s.to_string());
    assert!(
        lines[0]
            .text
            .starts_with("– (tune.jsonl has no search_started line)"),
        "{lines:?}"
    );
    assert!(config_rows(&run, &empty).is_empty());
}

#[test]
fn probe_rows_stand_for_their_points_and_are_not_superseded() {
    let (_d, run) = run_folder(Some(true));
    // 9 probes of 8 points: point 3 (config 0 at c=4) was probed twice
    assert_eq!(run.probes.len(), 9);
    assert_eq!(
        run.probes
            .iter()
            .map(|p| p.search.as_ref().unwrap().probe)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
    assert_eq!(run.superseded, 0);
    assert_eq!(
        run.points.iter().map(|p| p.point).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 7, 12]
    );
    let p3 = run.points.iter().find(|p| p.point == 3).unwrap();
    assert_eq!(p3.row_kind, RowKind::Probe);
    assert_eq!(
        p3.throughput_tps, 205.0,
        "the latest probe stands for the point"
    );
    let tag = p3.search.as_ref().unwrap();
    assert_eq!(
        (
            tag.probe,
            tag.round,
            tag.why.as_str(),
            tag.config,
            tag.load,
            tag.requests
        ),
        (8, 1, "refine", 0, Some(4.0), 96)
    );
    assert_eq!(
        (tag.label.as_str(), tag.load_axis.as_str()),
        (LABELS[0], "concurrency")
    );
    // the log's unreadable line is listed with the run's
    assert!(
        run.skipped_lines
            .iter()
            .any(|l| l.starts_with("tune.jsonl:4:"))
    );
    assert!(run.search.as_ref().unwrap().finished());
    // a run without tune.jsonl is no search
    let (_d, plain) = run_folder(None);
    assert!(plain.search.is_none());
}

#[test]
fn the_summary_names_best_runner_up_tie_stop_and_cost() {
    let (_d, run) = run_folder(Some(true));
    let log = run.search.as_ref().unwrap();
    let lines = summary(&run, log, &|s| format!("`{s}`"));
    let get = |k: &str| {
        lines
            .iter()
            .find(|l| l.key == k)
            .map(|l| l.text.clone())
            .unwrap_or_else(|| panic!("no {k} in {lines:?}"))
    };
    assert_eq!(
        get("Objective"),
        "throughput: maximise throughput_tps over concurrency"
    );
    assert_eq!(get("Limits"), "ttft_p99_ms ≤ 500.0 ms");
    assert_eq!(
        get("Search space"),
        "4 configuration(s), 12 point(s) (1200 requests) in the full product; budget: none; seed 0"
    );
    assert_eq!(
        get("Best"),
        format!(
            "`{}` (config 0): 205.0 ± 3.00 tok/s; knee c=4, best load c=4",
            LABELS[0]
        )
    );
    assert!(
        get("Runner-up").starts_with(&format!("`{}` (config 3): 201.0 ± 4.00 tok/s", LABELS[3]))
    );
    // 205 ± 3 against 201 ± 4: z = 4 / √((3/1.96)² + (4/1.96)²) = 1.57
    assert_eq!(
        get("Tie"),
        "tied within noise: the intervals cannot tell the best from the runner-up (z = 1.57, one-sided p = 0.058)"
    );
    assert!(get("Stopped").starts_with("the contenders were measured with as many requests"));
    assert_eq!(
        get("Cost"),
        "9 of 12 points (75.0%), 360 of 1200 requests (30.0%), 45.0 s of probes (server starts and warmups included) against an estimated 10.0 min of load alone for the full product (7.5%) (an upper bound: the full product's starts and warmups are not in the estimate); 61.5 s wall clock"
    );
}

#[test]
fn the_configuration_table_gives_each_drop_its_evidence_and_each_exclusion_its_reason() {
    let (_d, run) = run_folder(Some(true));
    let log = run.search.as_ref().unwrap();
    let rows = config_rows(&run, log);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0][2], "contender, best");
    assert_eq!(rows[3][2], "contender, runner-up");
    assert_eq!(rows[1][2], "dropped in round 0");
    assert_eq!(
        rows[1][4],
        format!(
            "120.0 ± 4.00 tok/s vs the leader config 0 ({})'s 200.0 ± 6.00 tok/s; z = 21.60, one-sided p < 0.001; rule: its interval lies wholly below the leader's (hi < leader's lo)",
            LABELS[0]
        )
    );
    assert_eq!(rows[2][2], "excluded");
    assert_eq!(rows[2][4], "did not start: exited with status 1");
    assert_eq!(rows[2][3], "– (no score: no load counted)");
    assert_eq!(rows[2][5], "– (none: no load counted)");
    assert_eq!(rows[0][5], "c=4");
    assert_eq!(rows[0][7], "4");
    let pareto = pareto_rows(&run, log).unwrap();
    assert_eq!(pareto[1], ["0", LABELS[0], "c=4", "205.0", "150.0"]);
    let decisions = decision_rows(&run, log);
    assert_eq!(decisions.len(), log.decisions.len());
    assert_eq!(
        decisions[0],
        [
            "1",
            "0",
            "probe chosen",
            LABELS[0],
            "c=1, 24 requests: the lowest load, first"
        ]
    );
    assert_eq!(decisions[10][2], "round ended");
    assert_eq!(
        decisions[10][4],
        "24 requests a probe; leader: config 0; still in: config 0, config 3"
    );
}

#[test]
fn an_unfinished_search_says_so_and_counts_its_probe_rows() {
    let (_d, run) = run_folder(Some(false));
    let log = run.search.as_ref().unwrap();
    assert!(!log.finished());
    let lines = summary(&run, log, &|s| s.to_string());
    let get = |k: &str| lines.iter().find(|l| l.key == k).map(|l| l.text.clone());
    assert_eq!(get("Best").unwrap(), format!("– ({UNFINISHED})"));
    assert_eq!(get("Stopped").unwrap(), UNFINISHED);
    assert_eq!(
        get("Leader so far").unwrap(),
        format!("{} (config 0) after round 0", LABELS[0])
    );
    // 9 probe rows of 5 s; 24 × 7 + 96 × 2 requests; the full product
    // estimated from each configuration's seconds per request (config 2
    // never measured: the mean of all, 45 s / 360 requests)
    let cost = get("Cost").unwrap();
    assert!(
        cost.starts_with(
            "9 of 12 points (75.0%), 360 of 1200 requests (30.0%), 45.0 s of probes (server starts and warmups included) against an estimated "
        ),
        "{cost}"
    );
    assert!(cost.ends_with(" so far"), "{cost}");
    // from the decisions: the drop and the exclusion, the knee of config 0
    let rows = config_rows(&run, log);
    assert_eq!(rows[1][2], "dropped in round 0");
    assert_eq!(rows[2][2], "excluded");
    assert_eq!(rows[0][5], "c=4");
    assert_eq!(rows[3][5], "– (not found yet)");
    assert_eq!(
        rows.iter().map(|r| r[7].as_str()).collect::<Vec<_>>(),
        ["4", "2", "1", "2"]
    );
    assert!(pareto_rows(&run, log).unwrap_err().contains(UNFINISHED));
}

#[test]
fn the_full_product_is_estimated_the_search_way_when_unfinished() {
    let (_d, run) = run_folder(Some(false));
    let log = run.search.as_ref().unwrap();
    // every point's 100 requests at the rate measured nearest its load (a
    // load's latest probe): config 0 at 4.8/s, 4.8/s and 19.2/s (its
    // refinement); config 1 at 4.8/s (its top load from the one below);
    // config 2 never measured: the mean of every probe's rate, 8.4/s;
    // config 3 only at its top load, latest 19.2/s
    let expected = 100.0 * (2.0 / 4.8 + 1.0 / 19.2) + 300.0 / 4.8 + 300.0 / 8.4 + 300.0 / 19.2;
    let got = log.full_product(&run.probes).estimated_s.unwrap();
    assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
    assert_eq!(
        spent_of(&run.probes),
        Spent {
            points: 9,
            requests: 360,
            seconds: Some(45.0)
        }
    );
}

#[test]
fn loads_scores_and_limits_read_as_words() {
    assert_eq!(load_text("concurrency", Some(8.0)), "c=8");
    assert_eq!(load_text("request_rate", Some(2.5)), "rate=2.50");
    assert_eq!(load_text("", Some(3.0)), "3");
    assert_eq!(load_text("concurrency", None), "–");
    assert_eq!(load_text("concurrency", Some(f64::NAN)), "–");
    let load = Score::Load {
        value: Some(8.0),
        lo: Some(8.0),
        hi_excl: Some(16.0),
        tie: Some(120.0),
    };
    assert_eq!(
        score_text(Some(&load), "throughput_tps", "concurrency"),
        "c=8 (within the limits beyond noise up to c=8; first bad c=16; 120.0 tok/s there)"
    );
    assert_eq!(
        score_text(
            Some(&Score::Rate {
                estimate: Estimate {
                    value: Some(3.0),
                    ..Default::default()
                }
            }),
            "goodput_rps",
            ""
        ),
        "3.00 req/s"
    );
    assert_eq!(
        limits_of(&json!({"ttft_p99_ms": 500.0, "bad": "x"})),
        [("ttft_p99_ms".to_string(), 500.0)]
    );
    assert_eq!(
        limits_of(&json!([["a", 1.0], ["b"], 3])),
        [("a".to_string(), 1.0)]
    );
    assert_eq!(
        Stop::Budget {
            limit: "points".into()
        }
        .text(),
        "the budget's points limit was reached"
    );
    assert_eq!(
        Budget {
            max_points: 40,
            max_requests: 0,
            max_s: 600.0
        }
        .text(),
        "40 points, 10.0 min"
    );
}

/// The log a real search writes (its decisions and its result, serialized
/// as the runner writes them) reads back with the same outcome.
#[test]
fn the_log_of_a_real_search_reads_back() {
    use crate::spec::tune::Objective;
    use crate::tune::goal::Goal;
    use crate::tune::observation::{Estimate as TuneEstimate, Observation};
    use crate::tune::search::{Budget as TuneBudget, ConfigAxis, Search, Space};

    let peaks = [500.0, 300.0, 0.0];
    let labels = ["fast", "slow", "broken"];
    let space = Space {
        configs: labels
            .iter()
            .map(|l| ConfigAxis::new(*l, vec![1.0, 2.0, 4.0, 8.0]))
            .collect(),
        requests_per_point: 200,
    };
    let mut search = Search::new(
        space,
        Goal::new(Objective::Throughput, &[]),
        TuneBudget::default(),
        1,
    );
    let mut n = 0;
    while let Some(p) = search.next() {
        n += 1;
        assert!(n < 1000, "the search does not end");
        let obs = if p.config == 2 {
            Observation::not_started("exited with status 1", 1.0)
        } else {
            // rises to a knee at 4, 1% half-widths
            let tps = peaks[p.config] * (p.load / 4.0).min(1.0);
            Observation::measured(
                [
                    (
                        "throughput_tps",
                        TuneEstimate::new(tps, tps * 0.99, tps * 1.01, 0.95),
                    ),
                    (
                        "e2e_p50_ms",
                        TuneEstimate::new(p.load * 10.0, p.load * 9.0, p.load * 11.0, 0.95),
                    ),
                ],
                p.requests,
                p.requests as f64 * 0.1,
            )
        };
        search.observe(&p, obs);
    }
    let result = search.result();
    let mut lines = vec![
        json!({"decision": "search_started", "objective": "throughput",
        "figure": "throughput_tps", "limits": {}, "load_axis": "concurrency"})
        .to_string(),
    ];
    lines.extend(search.decisions().iter().map(|d| d.to_json_line()));
    let mut r = serde_json::to_value(&result).unwrap();
    r["decision"] = json!("result");
    r["wall_s"] = json!(12.0);
    lines.push(r.to_string());
    let log = SearchLog::parse(&lines.join("\n"));
    assert!(log.skipped_lines.is_empty(), "{:?}", log.skipped_lines);
    assert_eq!(log.decisions.len(), search.decisions().len());
    assert!(
        !log.decisions.contains(&Decision::Other),
        "{:?}",
        log.decisions
    );
    let got = log.result.as_ref().unwrap();
    assert_eq!(got.best.as_ref().unwrap().label, "fast");
    assert_eq!(got.best.as_ref().unwrap().knee_load, Some(4.0));
    assert_eq!(got.spent.points, result.spent.points);
    assert_eq!(
        got.full_product.estimated_s,
        result.full_product.estimated_s
    );
    assert_eq!(got.pareto.len(), result.pareto.len());
    let standings: Vec<String> = got
        .configs
        .iter()
        .map(|c| standing_text(&c.standing))
        .collect();
    assert_eq!(standings[2], "excluded");
    assert!(
        standings[1].starts_with("dropped in round"),
        "{standings:?}"
    );
    // the drop's evidence came through: its rule and the leader
    let dropped = log
        .decisions
        .iter()
        .find_map(|d| match d {
            Decision::ConfigDropped { evidence, .. } => Some(evidence.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(dropped.leader, Some(0));
    assert!(dropped.rule.contains("wholly below"), "{}", dropped.rule);
    assert!(dropped.z.is_some_and(|z| z > 2.0));
    assert!(matches!(got.stop, Some(Stop::OneLeft)), "{:?}", got.stop);
}
