//! The backends a scenario can use: the built-in definitions
//! (`backends/*.toml`, compiled in), then the files the scenario includes,
//! then its own `[backends.NAME]` tables. A later table with the name of an
//! earlier one overrides its keys (tables merge, other values replace), so
//! `[backends.llama_server] bin = "/opt/llama-server"` changes one key.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::template;
use crate::spec::backend::{AxisArg, BackendDef, parse_request_line};

/// The built-in definitions, as shipped in `backends/`.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    (
        "backends/mlx_lm.toml",
        include_str!("../../backends/mlx_lm.toml"),
    ),
    (
        "backends/mlx_vlm.toml",
        include_str!("../../backends/mlx_vlm.toml"),
    ),
    (
        "backends/mlx_vlm_stt.toml",
        include_str!("../../backends/mlx_vlm_stt.toml"),
    ),
    (
        "backends/llama_server.toml",
        include_str!("../../backends/llama_server.toml"),
    ),
    (
        "backends/vllm.toml",
        include_str!("../../backends/vllm.toml"),
    ),
    (
        "backends/sglang.toml",
        include_str!("../../backends/sglang.toml"),
    ),
    (
        "backends/openai.toml",
        include_str!("../../backends/openai.toml"),
    ),
];

/// Names the matrix, templates or routing use themselves; no backend axis
/// may take them.
pub const RESERVED_AXIS_NAMES: &[&str] = &[
    "model",
    "backend",
    "instances",
    "ranks",
    "router",
    "balance",
    "concurrency",
    "max_tokens",
    "host",
    "port",
    "python",
    "bin",
    "instance",
    "value",
];

/// A problem with one definition: the dotted field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefProblem {
    pub field: String,
    pub message: String,
}

/// Where a definition came from (for `plan`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefSource {
    pub built_in: bool,
    /// Files or the scenario that changed it, in order.
    pub overridden_by: Vec<String>,
}

/// All known backends.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    defs: BTreeMap<String, BackendDef>,
    sources: BTreeMap<String, DefSource>,
}

/// Merge `over` into `base`: tables recursively, other values replaced.
pub fn merge_table(base: &mut Table, over: &Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge_table(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The `[backends.*]` tables of one built-in file.
fn builtin_tables() -> Vec<(String, Table)> {
    let mut out = Vec::new();
    for (file, text) in BUILTIN_FILES {
        // The files are compiled in and covered by tests; a broken one is a bug.
        let table: Table = toml::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        if let Some(Value::Table(backends)) = table.get("backends") {
            for (name, v) in backends {
                if let Value::Table(t) = v {
                    out.push((name.clone(), t.clone()));
                }
            }
        }
    }
    out
}

impl Registry {
    /// Built-ins overridden by `layers` (each a label and its
    /// `name → table` map), checked. Problems name `backends.NAME.field`.
    pub fn build(
        layers: &[(String, BTreeMap<String, Table>)],
    ) -> Result<Registry, Vec<DefProblem>> {
        let mut tables: BTreeMap<String, Table> = BTreeMap::new();
        let mut sources: BTreeMap<String, DefSource> = BTreeMap::new();
        for (name, t) in builtin_tables() {
            tables.insert(name.clone(), t);
            sources.insert(
                name,
                DefSource {
                    built_in: true,
                    overridden_by: Vec::new(),
                },
            );
        }
        for (label, layer) in layers {
            for (name, t) in layer {
                merge_table(tables.entry(name.clone()).or_default(), t);
                sources
                    .entry(name.clone())
                    .or_insert(DefSource {
                        built_in: false,
                        overridden_by: Vec::new(),
                    })
                    .overridden_by
                    .push(label.clone());
            }
        }
        let mut problems = Vec::new();
        let mut defs = BTreeMap::new();
        for (name, t) in tables {
            let field = format!("backends.{name}");
            if name == "auto" {
                problems.push(DefProblem {
                    field,
                    message: "`auto` is not a backend name: it asks for routing".into(),
                });
                continue;
            }
            match Value::Table(t).try_into::<BackendDef>() {
                Ok(def) => {
                    problems.extend(check(&name, &def));
                    defs.insert(name, def);
                }
                Err(e) => problems.push(DefProblem {
                    field,
                    message: e.message().trim().to_string(),
                }),
            }
        }
        if problems.is_empty() {
            Ok(Registry { defs, sources })
        } else {
            Err(problems)
        }
    }

    /// The built-in definitions alone.
    pub fn builtin() -> Registry {
        Registry::build(&[]).unwrap_or_default()
    }

    pub fn get(&self, name: &str) -> Option<&BackendDef> {
        self.defs.get(name)
    }

    pub fn source(&self, name: &str) -> Option<&DefSource> {
        self.sources.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.keys().map(String::as_str)
    }

    /// Every axis name some definition knows.
    pub fn all_axes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .defs
            .values()
            .flat_map(|d| d.axes.keys().map(String::as_str))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks of one parsed definition.
fn check(name: &str, def: &BackendDef) -> Vec<DefProblem> {
    let mut out = Vec::new();
    let mut bad = |field: &str, message: String| {
        out.push(DefProblem {
            field: format!("backends.{name}.{field}"),
            message,
        })
    };
    if !is_identifier(name) {
        bad(
            "",
            "backend names are letters, digits and _ (they appear in results)".into(),
        );
    }
    if !def.launches() && def.urls.is_empty() {
        bad(
            "launch",
            "neither a launch command nor urls: nothing to benchmark".into(),
        );
    }
    for (i, t) in def.launch.iter().enumerate() {
        if let Err(e) = template::check(t) {
            bad(&format!("launch[{i}]"), e);
        }
    }
    if def.launches() && def.launch.first().is_some_and(|p| p.trim().is_empty()) {
        bad("launch[0]", "the program is empty".into());
    }
    for (what, list) in [("version", &def.version), ("help", &def.help)] {
        for (i, t) in list.iter().enumerate() {
            if let Err(e) = template::check(t) {
                bad(&format!("{what}[{i}]"), e);
            }
        }
    }
    if let Err(e) = template::check(&def.request_model) {
        bad("request_model", e);
    }
    for (i, line) in def.cache_reset.iter().enumerate() {
        if let Err(e) = parse_request_line(line) {
            bad(&format!("cache_reset[{i}]"), e);
        }
    }
    if !def.health_path.starts_with('/') {
        bad("health_path", "must start with /".into());
    }
    if !def.metrics_path.is_empty() && !def.metrics_path.starts_with('/') {
        bad(
            "metrics_path",
            "must start with / (or be empty: no metrics endpoint)".into(),
        );
    }
    for (i, u) in def.urls.iter().enumerate() {
        if let Err(e) = reqwest::Url::parse(u)
            .map_err(|e| e.to_string())
            .and_then(|url| {
                if matches!(url.scheme(), "http" | "https") && url.host().is_some() {
                    Ok(())
                } else {
                    Err("expected http://host:port or https://host".to_string())
                }
            })
        {
            bad(&format!("urls[{i}]"), format!("'{u}': {e}"));
        }
    }
    if !def.api_key_env.is_empty() && !is_identifier(&def.api_key_env) {
        bad(
            "api_key_env",
            "the name of an environment variable (not the key itself)".into(),
        );
    }
    for (axis, arg) in &def.axes {
        let field = format!("axes.{axis}");
        if !is_identifier(axis) {
            bad(
                &field,
                "axis names are letters, digits and _ (they are used in templates and filters)"
                    .into(),
            );
        }
        if RESERVED_AXIS_NAMES.contains(&axis.as_str()) {
            bad(&field, format!("`{axis}` is reserved by mlxrun"));
        }
        match arg {
            AxisArg::Flag(f) if !f.starts_with('-') => {
                bad(
                    &field,
                    format!("'{f}' is not a flag (it must start with -)"),
                );
            }
            AxisArg::Args(list) => {
                for (i, t) in list.iter().enumerate() {
                    if let Err(e) = template::check(t) {
                        bad(&format!("{field}[{i}]"), e);
                    }
                }
            }
            _ => {}
        }
    }
    let mode = &def.mode;
    if let Some(t) = mode.per_request_sampling_above
        && !(t.is_finite() && t >= 0.0)
    {
        bad(
            "mode.per_request_sampling_above",
            format!("{t} is not a temperature (0 or more)"),
        );
    }
    for (i, f) in mode.unbatched_flags.iter().enumerate() {
        if !f.starts_with('-') {
            bad(
                &format!("mode.unbatched_flags[{i}]"),
                format!("'{f}' is not a flag (it must start with -)"),
            );
        }
    }
    if !mode.batch_limit_flag.is_empty() && !mode.batch_limit_flag.starts_with('-') {
        bad(
            "mode.batch_limit_flag",
            format!(
                "'{}' is not a flag (it must start with -, or be empty: no limit known)",
                mode.batch_limit_flag
            ),
        );
    }
    if mode.batch_limit_default == Some(0) {
        bad(
            "mode.batch_limit_default",
            "0 requests at once serves nothing: use 1 or more, or leave it unset".into(),
        );
    }
    if mode.batch_limit_default.is_some() && mode.batch_limit_flag.is_empty() {
        bad(
            "mode.batch_limit_default",
            "a default without mode.batch_limit_flag: name the flag it is the default of".into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(text: &str) -> Vec<(String, BTreeMap<String, Table>)> {
        let t: Table = toml::from_str(text).unwrap();
        let map = match t.get("backends") {
            Some(Value::Table(b)) => b
                .iter()
                .map(|(k, v)| (k.clone(), v.as_table().unwrap().clone()))
                .collect(),
            _ => BTreeMap::new(),
        };
        vec![("scenario".to_string(), map)]
    }

    #[test]
    fn builtins_parse_and_pass_their_checks() {
        let r = Registry::build(&[]).unwrap();
        let names: Vec<&str> = r.names().collect();
        assert_eq!(
            names,
            vec![
                "llama_server",
                "mlx_lm",
                "mlx_vlm",
                "mlx_vlm_stt",
                "openai",
                "sglang",
                "vllm"
            ]
        );
        let stt = r.get("mlx_vlm_stt").unwrap();
        assert_eq!(stt.api, crate::spec::backend::Api::Transcriptions);
        assert_eq!(stt.tokens, crate::spec::backend::TokenSource::None);
        assert!(r.get("mlx_lm").unwrap().multi_rank);
        assert!(!r.get("openai").unwrap().launches());
        assert!(r.all_axes().contains(&"parallel"));
        assert!(r.source("vllm").unwrap().built_in);
        for (name, path) in [
            ("llama_server", "/metrics"),
            ("vllm", "/metrics"),
            ("sglang", "/metrics"),
            ("mlx_lm", ""),
            ("mlx_vlm", ""),
            ("openai", ""),
        ] {
            assert_eq!(r.get(name).unwrap().metrics_path, path, "{name}");
        }
        let llama = r.get("llama_server").unwrap();
        assert!(llama.launch.contains(&"--metrics".to_string()));
        let sglang = r.get("sglang").unwrap();
        assert!(sglang.launch.contains(&"--enable-metrics".to_string()));
    }

    #[test]
    fn mode_rules_are_data_and_checked() {
        let r = Registry::build(&[]).unwrap();
        let mlx = &r.get("mlx_lm").unwrap().mode;
        assert_eq!(mlx.per_request_sampling_above, Some(0.0));
        assert!(mlx.unbatched_seed);
        assert_eq!(mlx.unbatched_flags, vec!["--draft-model".to_string()]);
        assert_eq!(mlx.batch_limit_flag, "--decode-concurrency");
        assert_eq!(mlx.batch_limit_default, Some(32));
        let vllm = &r.get("vllm").unwrap().mode;
        assert_eq!(vllm.per_request_sampling_above, None);
        assert!(!vllm.unbatched_seed);
        assert_eq!(vllm.batch_limit_flag, "--max-num-seqs");
        assert_eq!(vllm.batch_limit_default, None);
        assert_eq!(
            r.get("openai").unwrap().mode,
            crate::spec::backend::ModeRules::default()
        );
        // a scenario changes one rule and keeps the others
        let r =
            Registry::build(&layer("[backends.mlx_lm.mode]\nbatch_limit_default = 64\n")).unwrap();
        let mlx = &r.get("mlx_lm").unwrap().mode;
        assert_eq!(mlx.batch_limit_default, Some(64));
        assert!(mlx.unbatched_seed);
        let err = Registry::build(&layer(
            r#"
[backends.mine]
launch = ["srv"]
[backends.mine.mode]
per_request_sampling_above = -1.0
unbatched_flags = ["draft"]
batch_limit_default = 0
"#,
        ))
        .unwrap_err();
        let fields: Vec<&str> = err.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "backends.mine.mode.per_request_sampling_above",
                "backends.mine.mode.unbatched_flags[0]",
                "backends.mine.mode.batch_limit_default",
                "backends.mine.mode.batch_limit_default",
            ]
        );
        assert!(
            Registry::build(&layer(
                "[backends.mine]\nlaunch = [\"srv\"]\n[backends.mine.mode]\nbogus = 1\n"
            ))
            .is_err(),
            "unknown mode keys are rejected"
        );
    }

    #[test]
    fn metrics_path_is_empty_or_starts_with_a_slash() {
        let err =
            Registry::build(&layer("[backends.vllm]\nmetrics_path = \"metrics\"\n")).unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert_eq!(err[0].field, "backends.vllm.metrics_path");
        assert!(err[0].message.contains("must start with /"), "{err:?}");
        let r = Registry::build(&layer(
            "[backends.vllm]\nmetrics_path = \"\"\n[backends.mine]\nlaunch = [\"srv\"]\nmetrics_path = \"/prom/metrics\"\n",
        ))
        .unwrap();
        assert_eq!(r.get("vllm").unwrap().metrics_path, "");
        assert_eq!(r.get("mine").unwrap().metrics_path, "/prom/metrics");
    }

    #[test]
    fn a_scenario_overrides_one_key_and_adds_a_backend() {
        let r = Registry::build(&layer(
            r#"
[backends.llama_server]
bin = "/opt/llama-server"
[backends.llama_server.axes]
n_gpu_layers = "--n-gpu-layers"
[backends.mine]
launch = ["my-server", "--port", "{{ port }}"]
"#,
        ))
        .unwrap();
        let l = r.get("llama_server").unwrap();
        assert_eq!(l.bin, "/opt/llama-server");
        assert!(l.axes.contains_key("parallel"), "built-in axes are kept");
        assert!(l.axes.contains_key("n_gpu_layers"));
        assert_eq!(
            r.source("llama_server").unwrap().overridden_by,
            vec!["scenario".to_string()]
        );
        assert_eq!(r.get("mine").unwrap().launch[0], "my-server");
    }

    #[test]
    fn bad_definitions_name_the_field() {
        let err = Registry::build(&layer(
            r#"
[backends.bad]
launch = ["srv", "{{ port "]
cache_reset = ["GET"]
api = "grpc"
"#,
        ))
        .unwrap_err();
        assert!(err.iter().any(|p| p.field == "backends.bad"), "{err:?}");
        let err = Registry::build(&layer(
            r#"
[backends.bad]
launch = ["srv", "{{ port "]
cache_reset = ["GET"]
api_key_env = "sk-123"
[backends.bad.axes]
concurrency = "--c"
threads = "threads"
"#,
        ))
        .unwrap_err();
        let fields: Vec<&str> = err.iter().map(|p| p.field.as_str()).collect();
        for f in [
            "backends.bad.launch[1]",
            "backends.bad.cache_reset[0]",
            "backends.bad.api_key_env",
            "backends.bad.axes.concurrency",
            "backends.bad.axes.threads",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let err = Registry::build(&layer("[backends.empty]\ndescription = \"x\"\n")).unwrap_err();
        assert_eq!(err[0].field, "backends.empty.launch");
    }
}
