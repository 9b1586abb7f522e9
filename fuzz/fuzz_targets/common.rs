//! What the fuzz targets share: a scratch folder with the models the
//! example scenarios name, and the edit script that sets fuzzer-chosen
//! fields of a scenario to typed values (see `scenario.rs` for the input
//! format). Included by each target with `#[path]`.

#![allow(dead_code)] // each target uses its own part

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use mlxrun::scenario::model_path::SearchDirs;
use toml::{Table, Value};

/// A scratch folder with the models and files the example scenarios name.
pub fn scratch() -> &'static PathBuf {
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

pub fn dirs(root: &Path) -> SearchDirs {
    SearchDirs {
        home: None,
        cwd: root.to_path_buf(),
        hf_cache: None,
    }
}

/// Fields of the tables that take any key, besides `known_fields()`.
pub const EXTRA_FIELDS: &[&str] = &[
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
pub const WORDS: &[&str] = &[
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

pub fn value(u: &mut Unstructured, depth: u32) -> ArbResult<Value> {
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
pub fn set(t: &mut Table, field: &str, v: Value) {
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
pub fn edited(text: &str, script: &[u8], fields: &[String]) -> Option<String> {
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

/// The scenario text of a fuzz input, and its edit script when a NUL
/// byte follows the text.
pub fn split_input(data: &[u8]) -> (String, Option<&[u8]>) {
    let (text, script) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    (String::from_utf8_lossy(text).into_owned(), script)
}

/// The scenario texts a fuzz input stands for: its text, and the text
/// after its edit script when there is one.
pub fn texts(data: &[u8]) -> Vec<String> {
    static FIELDS: OnceLock<Vec<String>> = OnceLock::new();
    let (text, script) = split_input(data);
    let mut out = Vec::new();
    if let Some(script) = script {
        let fields = FIELDS.get_or_init(mlxrun::scenario::known_fields);
        if let Some(t) = edited(&text, script, fields) {
            out.push(t);
        }
    }
    out.insert(0, text);
    out
}

/// Load `text` as the scenario `fuzz.toml` in the scratch folder, with no
/// environment and no `--set`.
pub fn load(text: &str) -> Result<mlxrun::scenario::Resolved, mlxrun::scenario::ScenarioError> {
    let root = scratch();
    mlxrun::scenario::load_str(
        &root.join("fuzz.toml"),
        text,
        &mlxrun::scenario::Overrides::default(),
        &dirs(root),
    )
}
