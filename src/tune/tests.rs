//! The search on synthetic response surfaces.

use super::goal::Goal;
use super::knee::{Knee, ProbeWhy, Step};
use super::log::{Decision, Stop};
use super::observation::{Estimate, Observation};
use super::search::{Budget, Search, SearchOptions, Standing};
use super::surface::{Config, Surface, doubling_loads};
use crate::spec::tune::Objective;

fn throughput() -> Goal {
    Goal::new(Objective::Throughput, &[])
}

/// A 24-request probe measuring `v` tok/s, its interval ± `rel` of it.
fn rate_obs(v: f64, rel: f64) -> Observation {
    Observation::measured(
        [(
            "throughput_tps",
            Estimate::new(v, v * (1.0 - rel), v * (1.0 + rel), 0.95),
        )],
        24,
        1.0,
    )
}

fn surface(configs: Vec<Config>, noise: f64, seed: u64) -> Surface {
    Surface {
        configs,
        loads: doubling_loads(),
        noise,
        seed,
    }
}

/// 48 configurations (as full_sweep.toml: 3 × 4 × 4), peaks spread over
/// 40–100% of the best, knees at 8–64; the best is number 29.
fn many(noise: f64) -> Surface {
    let configs = (0..48)
        .map(|i| {
            let peak = if i == 29 {
                1000.0
            } else {
                400.0 + f64::from((i * 37) % 48) * 10.0
            };
            Config::new(&format!("c{i}"), peak, f64::from(8u32 << (i % 4)))
        })
        .collect();
    surface(configs, noise, 7)
}

#[test]
fn a_known_knee_is_found_with_fewer_probes_than_loads() {
    let s = surface(vec![Config::new("one", 500.0, 16.0)], 0.02, 1);
    let mut search = Search::new(s.space(500), throughput(), Budget::default(), 1);
    let (r, probes) = s.run(&mut search);
    let best = r.best.unwrap();
    assert_eq!(best.knee_load, Some(16.0));
    assert!(probes.len() < 9, "{} probes", probes.len());
    assert_eq!(probes[0].why, ProbeWhy::Start);
    assert_eq!(probes[1].why, ProbeWhy::Doubling);
    assert_eq!(r.stop, Some(Stop::OneLeft));
}

#[test]
fn the_best_of_48_configurations_for_a_quarter_of_the_requests() {
    let s = many(0.03);
    let mut search = Search::new(s.space(500), throughput(), Budget::default(), 3);
    let (r, probes) = s.run(&mut search);
    let best = r.best.as_ref().unwrap();
    assert_eq!(best.label, "c29");
    assert_eq!(best.knee_load, Some(f64::from(8u32 << (29 % 4))));
    assert_eq!(r.full_product.points, 432);
    assert!(probes.len() < 300, "{} probes of 432", probes.len());
    let full = r.full_product.requests as f64;
    assert!(
        (r.spent.requests as f64) < 0.25 * full,
        "{} requests of {full}",
        r.spent.requests
    );
    assert_eq!(r.tied, Some(false));
    // every configuration but the best was dropped on evidence
    let dropped = r
        .configs
        .iter()
        .filter(|c| matches!(c.standing, Standing::Dropped { .. }))
        .count();
    assert_eq!(dropped, 47);
    let seconds = r.full_product.estimated_s.unwrap();
    assert!(
        r.spent.seconds < 0.25 * seconds,
        "{} of {seconds}",
        r.spent.seconds
    );
}

#[test]
fn the_same_seed_gives_the_same_search() {
    let s = many(0.05);
    let run = |seed| {
        let mut search = Search::new(s.space(500), throughput(), Budget::default(), seed);
        let (r, probes) = s.run(&mut search);
        (r, probes, search.decisions().to_vec())
    };
    let (a, pa, da) = run(11);
    let (b, pb, db) = run(11);
    assert_eq!(pa, pb);
    assert_eq!(da, db);
    assert_eq!(a, b);
    let (_, pc, _) = run(12);
    assert_ne!(pa, pc, "another seed, another order");
}

#[test]
fn a_configuration_is_never_dropped_while_its_interval_overlaps_the_leaders() {
    for seed in 0..20 {
        let s = many(0.15);
        let mut search = Search::new(s.space(2000), throughput(), Budget::default(), seed);
        s.run(&mut search);
        for d in search.decisions() {
            if let Decision::ConfigDropped { evidence, .. } = d {
                let (
                    super::knee::Score::Rate { estimate: c },
                    super::knee::Score::Rate { estimate: l },
                ) = (evidence.score, evidence.leader_score)
                else {
                    panic!("a rate score")
                };
                assert!(c.hi.unwrap() < l.lo.unwrap(), "seed {seed}: {c:?} vs {l:?}");
            }
        }
    }
}

#[test]
fn ties_within_noise_survive_and_are_reported_tied() {
    let s = surface(
        vec![
            Config::new("a", 1000.0, 16.0),
            Config::new("b", 1005.0, 16.0),
        ],
        0.05,
        2,
    );
    let mut search = Search::new(s.space(216), throughput(), Budget::default(), 2);
    let (r, _) = s.run(&mut search);
    assert_eq!(r.tied, Some(true));
    assert_eq!(r.stop, Some(Stop::FullPrecision));
    assert!(r.configs.iter().all(|c| c.standing == Standing::Contender));
    assert!(r.runner_up.is_some());
}

#[test]
fn failing_configurations_are_recorded_and_the_search_goes_on() {
    let mut configs = vec![
        Config::new("fine", 800.0, 16.0),
        Config::new("best", 1000.0, 32.0),
        Config::new("dead", 5000.0, 16.0),
    ];
    configs[1].fails_at = Some(128.0);
    configs[2].not_starting = true;
    let s = surface(configs, 0.02, 3);
    let mut search = Search::new(s.space(500), throughput(), Budget::default(), 5);
    let (r, probes) = s.run(&mut search);
    let best = r.best.unwrap();
    assert_eq!(best.label, "best");
    assert_eq!(best.knee_load, Some(32.0));
    assert!(matches!(r.configs[2].standing, Standing::Excluded { .. }));
    assert_eq!(probes.iter().filter(|p| p.config == 2).count(), 1);
    let failed = search
        .decisions()
        .iter()
        .filter(|d| matches!(d, Decision::PointFailed { .. }))
        .count();
    assert!(failed >= 1);
    assert!(
        search
            .decisions()
            .iter()
            .any(|d| matches!(d, Decision::ConfigExcluded { config: 2, .. }))
    );
}

#[test]
fn the_peak_before_a_failing_region_is_found() {
    // rises to 64 but errors from 128: doubling jumps 7 → 8 (256), fails,
    // and the gap above the best is bisected
    let mut c = Config::new("edge", 1000.0, 64.0);
    c.fails_at = Some(128.0);
    let s = Surface {
        configs: vec![c],
        loads: doubling_loads(),
        noise: 0.02,
        seed: 4,
    };
    let mut search = Search::new(s.space(500), throughput(), Budget::default(), 0);
    let (r, _) = s.run(&mut search);
    assert_eq!(r.best.unwrap().knee_load, Some(64.0));
}

#[test]
fn a_slow_server_is_searched_like_a_fast_one() {
    // 20 tokens/s = 0.2 requests/s at the plateau
    let slow = surface(
        vec![
            Config::new("slow", 20.0, 4.0),
            Config::new("slower", 10.0, 4.0),
        ],
        0.03,
        6,
    );
    let fast = surface(
        vec![
            Config::new("fast", 20_000.0, 4.0),
            Config::new("faster", 10_000.0, 4.0),
        ],
        0.03,
        6,
    );
    let run = |s: &Surface| {
        let mut search = Search::new(s.space(100), throughput(), Budget::default(), 9);
        s.run(&mut search)
    };
    let (rs, ps) = run(&slow);
    let (rf, pf) = run(&fast);
    assert_eq!(rs.best.as_ref().unwrap().label, "slow");
    assert_eq!(rs.best.unwrap().knee_load, Some(4.0));
    // the same decisions at any scale
    let shape = |ps: &[super::search::Probe]| {
        ps.iter()
            .map(|p| (p.config, p.load_index, p.requests))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&ps), shape(&pf));
    assert!(rs.spent.seconds > 100.0 * rf.spent.seconds);
}

#[test]
fn the_highest_load_under_a_limit() {
    // p99 TTFT = 100 · (1 + load/knee): ≤ 600 ms up to 5 · knee
    let goal = Goal::new(Objective::MaxLoadUnderSlo, &[("ttft_p99_ms", 600.0)]);
    let s = surface(
        vec![
            Config::new("k4", 1000.0, 4.0),   // max load 16
            Config::new("k16", 1000.0, 16.0), // max load 64
            Config::new("k2", 1000.0, 2.0),   // max load 8
        ],
        0.02,
        8,
    );
    let mut search = Search::new(s.space(500), goal, Budget::default(), 8);
    let (r, probes) = s.run(&mut search);
    let best = r.best.unwrap();
    assert_eq!(best.label, "k16");
    assert_eq!(best.knee_load, Some(64.0));
    // the others were dropped as soon as their first load beyond the limit
    // was at most the leader's knee: their own knees were not narrowed
    for c in [0, 2] {
        assert!(matches!(r.configs[c].standing, Standing::Dropped { .. }));
    }
    assert!(r.configs[0].knee_load.unwrap() <= 16.0);
    assert!(probes.len() < 27, "{}", probes.len());
    assert_eq!(r.tied, Some(false));
}

#[test]
fn per_config_keeps_every_knee() {
    let s = surface(
        vec![Config::new("a", 1000.0, 8.0), Config::new("b", 400.0, 32.0)],
        0.02,
        9,
    );
    let mut search =
        Search::new(s.space(216), throughput(), Budget::default(), 1).with_options(SearchOptions {
            per_config: true,
            ..SearchOptions::default()
        });
    let (r, _) = s.run(&mut search);
    assert_eq!(r.configs[0].knee_load, Some(8.0));
    assert_eq!(r.configs[1].knee_load, Some(32.0));
    assert!(r.configs.iter().all(|c| c.standing == Standing::Contender));
    assert_eq!(r.tied, Some(false));
}

#[test]
fn budgets_stop_the_search_and_say_which() {
    let s = many(0.03);
    for (budget, limit) in [
        (
            Budget {
                max_points: 10,
                ..Budget::default()
            },
            super::log::Limit::Points,
        ),
        (
            Budget {
                max_requests: 1000,
                ..Budget::default()
            },
            super::log::Limit::Requests,
        ),
        (
            Budget {
                max_s: 60.0,
                ..Budget::default()
            },
            super::log::Limit::Seconds,
        ),
    ] {
        let mut search = Search::new(s.space(500), throughput(), budget, 1);
        let (r, probes) = s.run(&mut search);
        assert_eq!(r.stop, Some(Stop::Budget { limit }));
        match limit {
            super::log::Limit::Points => assert_eq!(probes.len(), 10),
            super::log::Limit::Requests => assert!(r.spent.requests <= 1000),
            // seconds are estimated from the probes before: only the first
            // probe of all can pass the limit unforeseen
            super::log::Limit::Seconds => {
                let last = search.decisions().len();
                assert!(last > 0);
                let before_last: f64 = probes[..probes.len() - 1]
                    .iter()
                    .map(|p| s.measure(p).seconds)
                    .sum();
                assert!(before_last <= 60.0, "{before_last}");
                assert!(
                    r.spent.seconds <= 60.0 || probes.len() == 1,
                    "{}",
                    r.spent.seconds
                );
            }
        }
        assert!(r.best.is_some());
    }
}

#[test]
fn a_probe_not_asked_for_changes_nothing() {
    let s = many(0.03);
    let mut search = Search::new(s.space(500), throughput(), Budget::default(), 1);
    let p = search.next().unwrap();
    assert_eq!(
        search.next().as_ref(),
        Some(&p),
        "asked again: the same probe"
    );
    let mut other = p.clone();
    other.id += 100;
    search.observe(&other, s.measure(&other));
    assert_eq!(search.spent().points, 0);
    search.observe(&p, s.measure(&p));
    search.observe(&p, s.measure(&p));
    assert_eq!(search.spent().points, 1);
}

#[test]
fn empty_and_degenerate_spaces_end_without_panicking() {
    let empty = Surface {
        configs: vec![Config::new("x", 1.0, 1.0)],
        loads: vec![],
        noise: 0.0,
        seed: 0,
    };
    let mut search = Search::new(empty.space(0), throughput(), Budget::default(), 0);
    let (r, probes) = empty.run(&mut search);
    assert!(probes.is_empty());
    assert!(r.best.is_none());
    assert_eq!(r.stop, Some(Stop::NothingLeft));
    let mut none = Search::new(
        super::search::Space {
            configs: vec![],
            requests_per_point: 10,
        },
        throughput(),
        Budget::default(),
        0,
    );
    assert_eq!(none.next(), None);
}

#[test]
fn the_pareto_front_trades_throughput_for_latency() {
    let s = many(0.03);
    let mut search = Search::new(s.space(500), throughput(), Budget::default(), 3);
    let (r, _) = s.run(&mut search);
    assert!(!r.pareto.is_empty());
    for w in r.pareto.windows(2) {
        assert!(w[0].latency_ms <= w[1].latency_ms && w[0].throughput_tps < w[1].throughput_tps);
    }
}

#[test]
fn knee_probes_double_then_bisect() {
    let mut k = Knee::new(9, throughput());
    let obs = |v: f64| rate_obs(v, 0.03);
    // plateau from index 5
    let truth = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 32.0, 32.0, 32.0];
    let mut seen = Vec::new();
    while let Step::Probe { index, why } = k.next() {
        seen.push((index, why));
        k.record(index, obs(truth[index]));
    }
    let idx: Vec<usize> = seen.iter().map(|s| s.0).collect();
    assert_eq!(idx, [0, 1, 3, 7, 8, 5, 4]);
    assert_eq!(k.summary().knee, Some(5));
}

#[test]
fn a_tune_table_drives_the_search_and_per_config_narrows_every_knee() {
    let t: crate::spec::tune::TuneSection = toml::from_str(
        "objective = \"max_load_under_slo\"\nttft_p99_ms = 600\nper_config = true\nseed = 4\n",
    )
    .unwrap();
    let s = surface(
        vec![
            Config::new("k4", 1000.0, 4.0),
            Config::new("k16", 1000.0, 16.0),
        ],
        0.02,
        10,
    );
    let mut search = Search::from_section(s.space(216), &t);
    let (r, _) = s.run(&mut search);
    assert_eq!(r.best.unwrap().label, "k16");
    assert_eq!(r.configs[0].knee_load, Some(16.0));
    assert_eq!(r.configs[1].knee_load, Some(64.0));
    assert!(r.configs.iter().all(|c| c.standing == Standing::Contender));
}

#[test]
fn each_load_is_probed_with_its_own_points_requests_and_at_least_its_floor() {
    // a closed loop at concurrency c: the point's requests are 4·c, a
    // probe needs at least 2·c
    let loads = vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
    let axis = |label: &str| super::search::ConfigAxis {
        label: label.into(),
        loads: loads.iter().rev().copied().collect(),
        requests: loads.iter().rev().map(|&c| 4 * c as u64).collect(),
        min_requests: loads.iter().rev().map(|&c| 2 * c as u64).collect(),
    };
    let space = super::search::Space {
        configs: vec![axis("a"), axis("b")],
        requests_per_point: 0,
    };
    assert_eq!(space.points(), 18);
    assert_eq!(space.requests(), 2 * 4 * 511);
    let surface = Surface {
        configs: vec![Config::new("a", 1000.0, 8.0), Config::new("b", 600.0, 8.0)],
        loads: loads.clone(),
        noise: 0.02,
        seed: 3,
    };
    let mut search = Search::new(space, throughput(), Budget::default(), 1);
    let mut seen = 0;
    while let Some(p) = search.next() {
        // a point of fewer requests than an interval needs gets enough
        let full = (4 * p.load as u64).max(super::search::MIN_PROBE_REQUESTS);
        let floor = (2 * p.load as u64)
            .max(super::search::MIN_PROBE_REQUESTS)
            .min(full);
        assert!(
            p.requests >= floor && p.requests <= full,
            "probe at load {} has {} requests; wanted {floor}..={full}",
            p.load,
            p.requests
        );
        search.observe(&p, surface.measure(&p));
        seen += 1;
    }
    assert!(seen > 0);
    let r = search.result();
    assert_eq!(r.full_product.points, 18);
    assert_eq!(r.full_product.requests, 2 * 4 * 511);
    assert_eq!(r.best.map(|b| b.label), Some("a".to_string()));
    assert!(r.stop.is_some());
}

#[test]
fn a_peak_that_doubling_skipped_is_found_between_its_probes() {
    let mut k = Knee::new(6, throughput());
    let obs = |v: f64| rate_obs(v, 0.03);
    // loads 1..32: the peak at 16 (index 4), which doubling (0, 1, 3, 5)
    // steps over; the load above it is lower but not beyond noise of 8
    let truth = [100.0, 200.0, 400.0, 800.0, 1000.0, 790.0];
    let mut seen = Vec::new();
    while let Step::Probe { index, why } = k.next() {
        seen.push((index, why));
        k.record(index, obs(truth[index]));
    }
    let idx: Vec<usize> = seen.iter().map(|s| s.0).collect();
    assert_eq!(idx, [0, 1, 3, 5, 4]);
    assert_eq!(seen[4].1, ProbeWhy::BisectAbove);
    assert_eq!(k.summary().best, Some(4));
    assert_eq!(k.summary().knee, Some(4));
}

#[test]
fn a_dip_within_noise_does_not_end_the_climb() {
    let mut k = Knee::new(7, throughput());
    let obs = |v: f64| rate_obs(v, 0.08);
    // loads 1..64 as on the CPU here: the probe at 8 (index 3) reads a
    // little below the one at 2 (within noise), the plateau is at 64
    let truth = [660.0, 1150.0, 900.0, 1120.0, 1600.0, 2000.0, 2300.0];
    let mut seen = Vec::new();
    while let Step::Probe { index, why } = k.next() {
        seen.push((index, why));
        k.record(index, obs(truth[index]));
    }
    let idx: Vec<usize> = seen.iter().map(|s| s.0).collect();
    assert_eq!(idx, [0, 1, 3, 6, 5, 4]);
    assert_eq!(seen[3].1, ProbeWhy::Doubling);
    assert_eq!(k.summary().best, Some(6));
    // 2000 (1840-2160) is tied with 2300 (2116-2484): the knee
    assert_eq!(k.summary().knee, Some(5));
    // a reading below the best beyond noise does end it
    let mut k = Knee::new(7, throughput());
    let truth = [660.0, 1150.0, 900.0, 700.0, 1600.0, 2000.0, 2300.0];
    let mut idx = Vec::new();
    while let Step::Probe { index, .. } = k.next() {
        idx.push(index);
        k.record(index, obs(truth[index]));
    }
    assert_eq!(idx, [0, 1, 3, 2]);
    assert_eq!(k.summary().best, Some(1));
}

#[test]
fn a_round_opens_with_the_configuration_whose_servers_still_run() {
    // three equal configurations: none is dropped, every round is run
    let s = surface(
        ["a", "b", "c"]
            .iter()
            .map(|l| Config::new(l, 1000.0, 8.0))
            .collect(),
        0.05,
        9,
    );
    let mut search = Search::new(s.space(500), throughput(), Budget::default(), 5);
    let (_, probes) = s.run(&mut search);
    let mut rounds_checked = 0;
    for w in probes.windows(2) {
        if w[1].round > w[0].round {
            // the previous round's last configuration opens the next when
            // it is still in the race (it may have been dropped)
            let dropped_then = search.decisions().iter().any(|d| {
                matches!(d, super::log::Decision::ConfigDropped { config, round, .. }
                    if *config == w[0].config && *round == w[0].round)
            });
            if !dropped_then {
                assert_eq!(
                    w[1].config, w[0].config,
                    "round {} opens elsewhere",
                    w[1].round
                );
                rounds_checked += 1;
            }
        }
    }
    assert!(rounds_checked > 0, "no round boundary was checked");
}

#[test]
fn the_result_pools_every_round_so_one_lucky_last_round_does_not_win() {
    // two configurations, one load each, three rounds. "steady" reads
    // 2000 every round; "drifting" reads 1450, 1820 and then 2180 in the
    // last, longest round (as the search's choice did on the CPU here).
    // By its last round alone "drifting" would be best; pooled over the
    // rounds, with the spread between them in its interval, it is not,
    // and the two are tied.
    let space = super::search::Space {
        configs: vec![
            super::search::ConfigAxis::new("steady", vec![8.0]),
            super::search::ConfigAxis::new("drifting", vec![8.0]),
        ],
        requests_per_point: 24 * 9,
    };
    let mut search = Search::new(space, throughput(), Budget::default(), 3);
    let mut rounds = [Vec::new(), Vec::new()];
    while let Some(p) = search.next() {
        let r = rounds[p.config].len();
        let v = match p.config {
            0 => 2000.0,
            _ => [1450.0, 1820.0, 2180.0][r.min(2)],
        };
        // the interval narrows with the requests: ±20%, ±12%, ±7%
        let half = v * [0.20, 0.12, 0.07][r.min(2)];
        rounds[p.config].push(v);
        search.observe(
            &p,
            Observation::measured(
                [("throughput_tps", Estimate::new(v, v - half, v + half, 0.95))],
                p.requests,
                1.0,
            ),
        );
    }
    assert_eq!(rounds[0].len(), 3, "rounds: {rounds:?}");
    assert_eq!(rounds[1].len(), 3, "rounds: {rounds:?}");
    let r = search.result();
    let best = r.best.expect("a best");
    assert_eq!(best.label, "steady");
    assert_eq!(best.pooled.map(|p| p.rounds), Some(3));
    let ru = r.runner_up.expect("a runner-up");
    let pooled = ru.pooled.expect("pooled");
    assert!(pooled.between_sd > 100.0, "τ = {}", pooled.between_sd);
    assert_eq!(r.tied, Some(true));
    // the steady one's rounds agree: nothing between them
    assert_eq!(best.pooled.map(|p| p.between_sd), Some(0.0));
}
