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

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use mlxrun::scenario::model_path::SearchDirs;
use mlxrun::scenario::{self, Overrides, Resolved, ScenarioError, expand};
use toml::{Table, Value};

/// A scratch folder with the models and files the example scenarios name.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mlxrun-fuzz-{}", std::process::id()));
        for m in ["tiny-llama", "tiny"] {
            let d = dir.join("models").join(m);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("config.json"), "{}").unwrap();
        }
        std::fs::write(dir.join("models/tiny-llama.gguf"), b"GGUF").unwrap();
        std::fs::write(dir.join("prompts.txt"), "one\ntwo\n").unwrap();
        std::fs::write(
            dir.join("extra.toml"),
            "[backends.extra]\nkind = \"mlx_lm\"\n",
        )
        .unwrap();
        dir
    })
}

fn dirs(root: &Path) -> SearchDirs {
    SearchDirs {
        home: None,
        cwd: root.to_path_buf(),
        hf_cache: None,
    }
}

/// Fields of the tables that take any key, besides `known_fields()`.
const EXTRA_FIELDS: &[&str] = &[
    "matrix.server_flags.prefill_step_size",
    "matrix.server_flags.max_kv_size",
    "matrix.axes.parallel",
    "matrix.axes.decode_concurrency",
    "matrix.exclude",
    "matrix.filter",
    "matrix.router",
    "matrix.balance",
    "matrix.request_rate",
    "matrix.input_tokens",
    "models",
    "include",
    "backends.extra.kind",
    "backends.mlx_lm.bin",
];

/// Axis texts, filter expressions and names the scenario format uses.
const WORDS: &[&str] = &[
    "1,2,4",
    "1 2 4",
    " 8 , 16 ",
    "",
    "0",
    "-1",
    "inf",
    "auto",
    "mlx_lm",
    "llama_server",
    "nginx",
    "client",
    "none",
    "round_robin",
    "least_conn",
    "poisson",
    "constant",
    "tiny",
    "tiny-llama",
    "models/tiny-llama.gguf",
    "org/name",
    "extra.toml",
    "prompts.txt",
    "concurrency <= 2",
    "instances == 2 and max_tokens < 100",
    "prompt_concurrency <= decode_concurrency",
    "router == 'nginx' or instances == 1",
    "(((",
    "undefined_axis > 1",
    "--decode-concurrency 4",
];

fn value(u: &mut Unstructured, depth: u32) -> ArbResult<Value> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 => Value::Integer(i64::from(u.int_in_range(0..=70u8)?)),
        1 => Value::Integer(u.arbitrary()?),
        2 => {
            let n = u.int_in_range(0..=5u8)?;
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(Value::Integer(i64::from(u.int_in_range(0..=64u8)?)));
            }
            Value::Array(v)
        }
        3 | 4 => Value::String((*u.choose(WORDS)?).to_string()),
        5 => Value::Boolean(u.arbitrary()?),
        6 => Value::Float(u.arbitrary()?),
        7 => Value::String(u.arbitrary()?),
        8 if depth < 2 => {
            let n = u.int_in_range(0..=2u8)?;
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(value(u, depth + 1)?);
            }
            Value::Array(v)
        }
        _ if depth < 2 => {
            let mut t = Table::new();
            let key = *u.choose(&["concurrency", "instances", "name", "path", "backend"])?;
            t.insert(key.to_string(), value(u, depth + 1)?);
            Value::Table(t)
        }
        _ => Value::Integer(1),
    })
}

/// Sets the dotted `field` of `t` to `v`, replacing what is in the way.
fn set(t: &mut Table, field: &str, v: Value) {
    let (parents, leaf) = match field.rsplit_once('.') {
        Some((p, l)) => (p.split('.').collect::<Vec<_>>(), l),
        None => (Vec::new(), field),
    };
    let mut cur = t;
    for p in parents {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        cur = entry.as_table_mut().expect("a table");
    }
    cur.insert(leaf.to_string(), v);
}

/// `text` with up to four edits from `script`, when `text` is a TOML table.
fn edited(text: &str, script: &[u8], fields: &[String]) -> Option<String> {
    let mut table: Table = toml::from_str(text).ok()?;
    let mut u = Unstructured::new(script);
    let n = u.int_in_range(1..=4u8).ok()?;
    for _ in 0..n {
        let i = u.choose_index(fields.len() + EXTRA_FIELDS.len()).ok()?;
        let field = fields
            .get(i)
            .map_or_else(|| EXTRA_FIELDS[i - fields.len()], String::as_str);
        let v = value(&mut u, 0).ok()?;
        set(&mut table, field, v);
    }
    toml::to_string(&table).ok()
}

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
    let root = scratch();
    let path = root.join("fuzz.toml");
    match scenario::load_str(&path, text, &Overrides::default(), &dirs(root)) {
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
    let (text, script) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let text = String::from_utf8_lossy(text);
    check(&text);
    if let Some(script) = script {
        static FIELDS: OnceLock<Vec<String>> = OnceLock::new();
        let fields = FIELDS.get_or_init(scenario::known_fields);
        if let Some(t) = edited(&text, script, fields) {
            check(&t);
        }
    }
});
