//! Fuzz target `prepare`: arbitrary scenarios through everything a run
//! does before and while it starts servers, without starting any.
//!
//! The input is the `scenario` target's: text up to the first NUL, then an
//! optional edit script that sets fuzzer-chosen fields (every field
//! `scenario::known_fields()` lists, durations, rates and counts included)
//! to typed values: integers of any size, floats of any value (NaN,
//! infinities, 1e300, subnormals), lists, text, tables. Each scenario is
//! loaded (parse, environment-free layers, validation, matrix expansion)
//! and, when it loads, prepared with `run::prepare::prepare`: every
//! instance's command line, every nginx config, each point's load plan
//! with its deadline, prompt count and first send times, and the run-wide
//! durations.
//!
//! Invariants: nothing panics (no duration conversion, no overflow); a
//! loaded scenario holds only bounded durations (0 to 30 days); a
//! prepared run has one entry per configuration and per point, an argv
//! per launched instance, a deadline on every point no shorter than one
//! request timeout, send times in order, and every derived duration at
//! most `spec::units::SATURATED`.

#![no_main]

#[path = "common.rs"]
mod common;

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mlxrun::run::prepare::prepare;
use mlxrun::scenario::Resolved;
use mlxrun::spec::units::{MAX_SECONDS, SATURATED};

fn bounded(r: &Resolved) {
    let s = &r.scenario;
    for (field, v) in [
        ("backend.ready_timeout_s", s.backend.ready_timeout_s.get()),
        ("backend.stop_grace_s", s.backend.stop_grace_s.get()),
        ("router.ready_timeout_s", s.router.ready_timeout_s.get()),
        ("workload.request_timeout_s", s.workload.request_timeout_s.get()),
        ("workload.retry_backoff_s", s.workload.retry_backoff_s.get()),
        ("run.pause_between_points_s", s.run.pause_between_points_s.get()),
        ("run.point_timeout_s", s.run.point_timeout_s.get()),
        ("run.warmup.max_s", s.run.warmup.max_s.get()),
        ("run.precision.max_s", s.run.precision.max_s.get()),
        ("load.duration_s", s.load.duration_s.get()),
        ("load.warmup_s", s.load.warmup_s.get()),
        ("load.cooldown_s", s.load.cooldown_s.get()),
        ("memory.release_timeout_s", s.memory.release_timeout_s.get()),
    ] {
        assert!((0.0..=MAX_SECONDS).contains(&v), "{field} = {v}");
    }
    if let Some(rates) = &s.matrix.request_rate {
        for r in rates.values() {
            assert!(r.is_infinite() || r.get() >= 0.001, "rate {r}");
        }
    }
}

fn within(d: Duration, what: &str) {
    assert!(d <= SATURATED, "{what}: {d:?}");
}

fn check(text: &str) {
    let Ok(r) = common::load(text) else {
        return; // the scenario target checks the errors
    };
    bounded(&r);
    let run_dir = common::scratch().join("run");
    let Ok(p) = prepare(&r, "python3", &run_dir) else {
        return; // a template that does not render: refused before a start
    };
    assert_eq!(p.servers.len(), r.plan.servers.len());
    assert_eq!(p.points.len(), r.plan.points.len());
    for (server, cfg) in p.servers.iter().zip(&r.plan.servers) {
        let launches = r.registry.get(&cfg.backend).is_some_and(|d| d.launches());
        let want = if launches { cfg.instances as usize } else { 0 };
        assert_eq!(server.argv.len(), want, "configuration {}", cfg.index);
        assert_eq!(server.nginx_conf.is_some(), cfg.uses_nginx());
    }
    for d in [
        p.request_timeout,
        p.retry_backoff,
        p.longest_backoff,
        p.pause_between_points,
        p.release_timeout,
        p.warmup_budget,
        p.precision_budget,
    ] {
        within(d, "a run-wide duration");
    }
    for point in &p.points {
        let deadline = point.load.deadline.expect("every point has a deadline");
        within(deadline, "deadline");
        assert!(
            deadline >= p.request_timeout.min(SATURATED) || !r.scenario.run.point_timeout_s.is_zero(),
            "a derived deadline covers one request timeout"
        );
        assert!(point.first_sends.windows(2).all(|w| w[0] <= w[1]));
        for d in &point.first_sends {
            within(*d, "send time");
        }
        assert!(point.prompts as u64 <= point.requests.max(4096));
        assert!(point.warmup_round >= 8);
    }
}

fuzz_target!(|data: &[u8]| {
    for text in common::texts(data) {
        check(&text);
    }
});
