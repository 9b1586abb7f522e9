//! Fuzz target `scenario`: arbitrary text as a scenario file.
//!
//! The input up to its first NUL byte is the scenario text (invalid UTF-8
//! replaced by U+FFFD), loaded by `scenario::load_str` with no environment
//! and no `--set`, against a scratch folder that holds the models the
//! example scenarios name. When the text parses as a TOML table and a NUL
//! follows, the bytes after it are an edit script: up to four times a field
//! (one of `scenario::known_fields()`, or a key of the tables that take any
//! key) and a typed value (integer, list, axis text, filter expression,
//! boolean, float, arbitrary text, table) set into the table, which is
//! loaded again. So the fuzzer steers both the syntax and, through valid
//! files, validation and matrix expansion.
//!
//! Invariants: `load_str` returns, never panics; an error is a parse error
//! with a line (1-based, within the file) and column, or a list of problems
//! each naming its field; an `Ok` scenario owns its plan (`Resolved::plan`),
//! expanded without error into exactly as many combinations as the product of its
//! axes computed here independently, every point belongs to a kept server
//! configuration and every kept configuration has a point, and without
//! `filter`/`exclude` every combination is a point (so there is at least
//! one).

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use mlxrun::scenario::{Resolved, ScenarioError, expand};

/// The number of combinations, from the documented product: per model,
/// instances × ranks × the backend axes its backend knows × raw flags ×
/// (router × balance, for more than one instance) × max_tokens ×
/// input_tokens × concurrency × request_rate.
fn expected_product(r: &Resolved) -> u128 {
    let s = &r.scenario;
    let m = &s.matrix;
    let len = |n: usize| n as u128;
    let concurrency = if m.concurrency.is_none() && m.request_rate.is_some() {
        1 // open loop without a cap
    } else {
        len(m.closed_concurrency().len())
    };
    let clients = len(m.max_tokens.values().len())
        * m.input_tokens.as_ref().map_or(1, |a| len(a.values().len()))
        * concurrency
        * m.request_rate.as_ref().map_or(1, |a| len(a.values().len()));
    let flags: u128 = m
        .server_flags
        .values()
        .map(|a| len(a.values().len()))
        .product();
    let fronts = m.router.as_ref().map_or(1, |a| len(a.values().len()))
        * m.balance.as_ref().map_or(1, |a| len(a.values().len()));
    let axes = expand::backend_axes(s);
    let mut total = 0u128;
    for model in &r.models {
        let known = r.registry.get(&model.backend).map(|d| &d.axes);
        let own: u128 = axes
            .iter()
            .filter(|(name, _)| known.is_some_and(|k| k.contains_key(name)))
            .map(|(_, v)| len(v.len()))
            .product();
        for &instances in m.instances.values() {
            let f = if instances <= 1 { 1 } else { fronts };
            total += f * len(m.ranks.values().len()) * own * flags * clients;
        }
    }
    total
}

fn check_expansion(r: &Resolved) {
    let s = &r.scenario;
    let expected = expected_product(r);
    // load_str expanded it: the plan it owns
    let plan = &r.plan;
    assert_eq!(plan.product as u128, expected, "combinations");
    assert!(plan.points.len() <= plan.product);
    for (i, p) in plan.points.iter().enumerate() {
        assert_eq!(p.index, i);
        assert!(p.server < plan.servers.len(), "point {i} has no server");
    }
    for (i, c) in plan.servers.iter().enumerate() {
        assert_eq!(c.index, i);
        assert!(
            plan.points.iter().any(|p| p.server == i),
            "server configuration {i} has no point"
        );
    }
    if s.matrix.filter.trim().is_empty() && s.matrix.exclude.is_empty() {
        assert_eq!(plan.points.len(), plan.product, "nothing filtered");
        assert!(!plan.points.is_empty(), "a valid scenario has a point");
    }
}

fn check(text: &str) {
    match common::load(text) {
        Ok(r) => check_expansion(&r),
        Err(ScenarioError::Parse(d)) => {
            let lines = text.split('\n').count();
            assert!(d.line >= 1 && d.line <= lines, "line {} of {lines}", d.line);
            assert!(d.col >= 1, "column {}", d.col);
            let shown = ScenarioError::Parse(d.clone()).to_string();
            assert!(
                shown.contains(&format!(":{}:{}: ", d.line, d.col)),
                "{shown}"
            );
        }
        Err(ScenarioError::Invalid(problems)) => {
            assert!(!problems.is_empty());
            for p in &problems {
                assert!(!p.field.trim().is_empty(), "a problem without a field: {p}");
            }
        }
        Err(e @ ScenarioError::Read { .. }) => panic!("load_str reads no file: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    for text in common::texts(data) {
        check(&text);
    }
});
