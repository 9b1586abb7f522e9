//! The override layers above the scenario file: environment variables (the
//! predecessor's `MLX_*` names (mlx-knife's benchmark scripts, which
//! mlxrun was created from) and the generic `MLXRUN_SECTION__FIELD` form) and
//! `--set key=value` arguments. Each layer is a TOML table plus, for every
//! dotted key it sets, the variable or argument that set it.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::error::{Origin, Problem, did_you_mean};
use crate::spec::scenario::split_list;

/// One override layer: the values and who set each key.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub table: Table,
    pub origins: BTreeMap<String, Origin>,
}

impl Layer {
    fn set(&mut self, path: &str, value: Value, origin: Origin) {
        insert_path(&mut self.table, path, value);
        self.origins.insert(path.to_string(), origin);
    }

    /// Who set `path` (or a parent or child of it) in this layer.
    pub fn origin_of(&self, path: &str) -> Option<&Origin> {
        if let Some(o) = self.origins.get(path) {
            return Some(o);
        }
        self.origins
            .iter()
            .find(|(k, _)| path.starts_with(&format!("{k}.")) || k.starts_with(&format!("{path}.")))
            .map(|(_, o)| o)
    }
}

/// How the value of a predecessor variable is read.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    PositiveInt,
    PositiveList,
    Port,
    NonNegFloat,
    NonNegFloatList,
    PositiveFloat,
    Count,
    Seed,
    Bool,
}

/// The predecessor's `MLX_*` variables (and `NGINX_BIN`), and in their
/// style the sampling fields it did not have (`MLX_TEMPERATURE_LIST`,
/// `MLX_TOP_P`, `MLX_SAMPLING_SEED`): name, target fields, kind.
/// Singular forms come before their `_LIST` forms so a list wins when both are set.
const PREDECESSOR_VARS: &[(&str, &[&str], Kind)] = &[
    ("MLX_MODEL_PATH", &["model.path"], Kind::Text),
    ("MLX_SERVER_ARGS", &["backend.server_args"], Kind::Text),
    (
        "MLX_SERVER_HOST",
        &["backend.host", "router.host"],
        Kind::Text,
    ),
    ("MLX_SERVER_BASE_PORT", &["backend.base_port"], Kind::Port),
    ("MLX_NGINX_PORT", &["router.port"], Kind::Port),
    ("NGINX_BIN", &["router.nginx_bin"], Kind::Text),
    (
        "MLX_READY_TIMEOUT",
        &["backend.ready_timeout_s"],
        Kind::PositiveFloat,
    ),
    ("MLX_PROMPT", &["workload.prompt"], Kind::Text),
    (
        "MLX_TEMPERATURE",
        &["workload.temperature"],
        Kind::NonNegFloat,
    ),
    (
        "MLX_TEMPERATURE_LIST",
        &["matrix.temperature"],
        Kind::NonNegFloatList,
    ),
    ("MLX_TOP_P", &["workload.top_p"], Kind::PositiveFloat),
    ("MLX_SAMPLING_SEED", &["workload.sampling_seed"], Kind::Seed),
    (
        "MLX_NUM_REQUESTS",
        &["workload.requests"],
        Kind::PositiveInt,
    ),
    (
        "MLX_REQUESTS_MULTIPLIER",
        &["workload.requests_per_concurrency"],
        Kind::PositiveInt,
    ),
    (
        "MLX_WARMUP_REQUESTS",
        &["workload.warmup_requests"],
        Kind::Count,
    ),
    (
        "MLX_REQUEST_TIMEOUT",
        &["workload.request_timeout_s"],
        Kind::PositiveFloat,
    ),
    ("MLX_RETRY_ATTEMPTS", &["workload.retries"], Kind::Count),
    (
        "MLX_RETRY_SLEEP_S",
        &["workload.retry_backoff_s"],
        Kind::NonNegFloat,
    ),
    (
        "MLX_CONTINUE_ON_ERROR",
        &["run.continue_on_error"],
        Kind::Bool,
    ),
    (
        "MLX_CELL_PAUSE_S",
        &["run.pause_between_points_s"],
        Kind::NonNegFloat,
    ),
    ("MLX_RESULTS_DIR", &["output.dir"], Kind::Text),
    (
        "MLX_SERVER_INSTANCES",
        &["matrix.instances"],
        Kind::PositiveInt,
    ),
    (
        "MLX_INSTANCES_LIST",
        &["matrix.instances"],
        Kind::PositiveList,
    ),
    (
        "MLX_DECODE_CONCURRENCY",
        &["matrix.decode_concurrency"],
        Kind::PositiveInt,
    ),
    (
        "MLX_DECODE_CONCURRENCY_LIST",
        &["matrix.decode_concurrency"],
        Kind::PositiveList,
    ),
    (
        "MLX_PROMPT_CONCURRENCY",
        &["matrix.prompt_concurrency"],
        Kind::PositiveInt,
    ),
    (
        "MLX_PROMPT_CONCURRENCY_LIST",
        &["matrix.prompt_concurrency"],
        Kind::PositiveList,
    ),
    (
        "MLX_CONCURRENCY",
        &["matrix.concurrency"],
        Kind::PositiveInt,
    ),
    (
        "MLX_CONCURRENCY_LIST",
        &["matrix.concurrency"],
        Kind::PositiveList,
    ),
    ("MLX_MAX_TOKENS", &["matrix.max_tokens"], Kind::PositiveInt),
    (
        "MLX_MAX_TOKENS_LIST",
        &["matrix.max_tokens"],
        Kind::PositiveList,
    ),
];

/// Names of the predecessor's variables mlxrun reads, for docs and `--help`.
pub fn predecessor_var_names() -> impl Iterator<Item = &'static str> {
    PREDECESSOR_VARS.iter().map(|(n, _, _)| *n)
}

/// Prefix of the generic form: `MLXRUN_WORKLOAD__MAX_TOKENS` is `workload.max_tokens`.
pub const ENV_PREFIX: &str = "MLXRUN_";

/// Build the environment layer from `vars` (normally `std::env::vars()`).
/// `known` lists every valid dotted field path, for unknown-name errors.
pub fn env_layer(vars: &[(String, String)], known: &[String]) -> Result<Layer, Vec<Problem>> {
    let mut layer = Layer::default();
    let mut problems = Vec::new();
    let lookup: BTreeMap<&str, &str> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    for (name, paths, kind) in PREDECESSOR_VARS {
        let Some(raw) = lookup.get(name) else {
            continue;
        };
        if raw.trim().is_empty() {
            continue; // the predecessor treats an empty variable as unset
        }
        match parse_kind(raw, *kind) {
            Ok(value) => {
                for path in *paths {
                    layer.set(
                        path,
                        value.clone(),
                        Origin::Env {
                            var: name.to_string(),
                        },
                    );
                }
            }
            Err(msg) => problems.push(Problem {
                field: paths.join(", "),
                origin: Origin::Env {
                    var: name.to_string(),
                },
                message: format!("bad value {raw:?}: {msg}"),
                hint: format!("fix or unset {name}"),
            }),
        }
    }

    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path = rest.to_ascii_lowercase().replace("__", ".");
        let origin = Origin::Env { var: name.clone() };
        if !known
            .iter()
            .any(|k| *k == path || path.starts_with(&format!("{k}.")))
        {
            let suggestion = did_you_mean(&path, known.iter().map(String::as_str))
                .map(|s| {
                    format!(
                        "did you mean {ENV_PREFIX}{}? ",
                        s.to_ascii_uppercase().replace('.', "__")
                    )
                })
                .unwrap_or_default();
            problems.push(Problem {
                field: path,
                origin,
                message: "no such scenario field".into(),
                hint: format!(
                    "{suggestion}variables of the form {ENV_PREFIX}SECTION__FIELD name a field, e.g. {ENV_PREFIX}WORKLOAD__PROMPT"
                ),
            });
            continue;
        }
        layer.set(&path, parse_loose(raw), origin);
    }

    if problems.is_empty() {
        Ok(layer)
    } else {
        Err(problems)
    }
}

/// Build the `--set key=value` layer. Values are read as TOML values where
/// they parse (`8`, `true`, `[1, 2]`, `"text"`), else as plain text.
pub fn set_layer(args: &[String], known: &[String]) -> Result<Layer, Vec<Problem>> {
    let mut layer = Layer::default();
    let mut problems = Vec::new();
    for arg in args {
        let origin = Origin::Set { arg: arg.clone() };
        let Some((key, raw)) = arg.split_once('=') else {
            problems.push(Problem {
                field: arg.clone(),
                origin,
                message: "expected KEY=VALUE".into(),
                hint:
                    "write e.g. --set workload.prompt=\"Hello\" or --set matrix.concurrency=1,2,4"
                        .into(),
            });
            continue;
        };
        let key = key.trim();
        if !known
            .iter()
            .any(|k| k == key || key.starts_with(&format!("{k}.")))
        {
            let hint = match did_you_mean(key, known.iter().map(String::as_str)) {
                Some(s) => format!("did you mean {s}?"),
                None => "see the scenario reference in README.md for the field names".into(),
            };
            problems.push(Problem {
                field: key.to_string(),
                origin,
                message: "no such scenario field".into(),
                hint,
            });
            continue;
        }
        layer.set(key, parse_loose(raw), origin);
    }
    if problems.is_empty() {
        Ok(layer)
    } else {
        Err(problems)
    }
}

/// A TOML value where the text parses as one, else the text itself.
fn parse_loose(raw: &str) -> Value {
    let trimmed = raw.trim();
    match toml::from_str::<Table>(&format!("v = {trimmed}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

fn parse_kind(raw: &str, kind: Kind) -> Result<Value, String> {
    let raw = raw.trim();
    let positive = |s: &str| -> Result<i64, String> {
        match s.parse::<u32>() {
            Ok(v) if v >= 1 => Ok(i64::from(v)),
            _ => Err(format!("'{s}' is not a whole number of 1 or more")),
        }
    };
    let float = |s: &str| -> Result<f64, String> {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("'{s}' is not a number"))
    };
    Ok(match kind {
        Kind::Text => Value::String(raw.to_string()),
        Kind::PositiveInt => Value::Integer(positive(raw)?),
        Kind::Count => match raw.parse::<u32>() {
            Ok(v) => Value::Integer(i64::from(v)),
            Err(_) => return Err(format!("'{raw}' is not a whole number of 0 or more")),
        },
        Kind::PositiveList => {
            let items = split_list(raw)
                .map(positive)
                .collect::<Result<Vec<_>, _>>()?;
            if items.is_empty() {
                return Err("the list is empty".into());
            }
            Value::Array(items.into_iter().map(Value::Integer).collect())
        }
        Kind::Port => match raw.parse::<u16>() {
            Ok(p) if p >= 1 => Value::Integer(i64::from(p)),
            _ => return Err(format!("'{raw}' is not a port from 1 to 65535")),
        },
        Kind::NonNegFloat => {
            let v = float(raw)?;
            if v < 0.0 {
                return Err(format!("{v} is negative"));
            }
            Value::Float(v)
        }
        Kind::NonNegFloatList => {
            let items = split_list(raw)
                .map(|s| match float(s) {
                    Ok(v) if v < 0.0 => Err(format!("{v} is negative")),
                    other => other,
                })
                .collect::<Result<Vec<_>, _>>()?;
            if items.is_empty() {
                return Err("the list is empty".into());
            }
            Value::Array(items.into_iter().map(Value::Float).collect())
        }
        Kind::Seed => match raw.parse::<i64>() {
            Ok(v) if v >= 0 => Value::Integer(v),
            _ => return Err(format!("'{raw}' is not a whole number of 0 or more")),
        },
        Kind::PositiveFloat => {
            let v = float(raw)?;
            if v <= 0.0 {
                return Err(format!("{v} must be greater than 0"));
            }
            Value::Float(v)
        }
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Value::Boolean(true),
            "0" | "false" | "no" | "off" => Value::Boolean(false),
            _ => return Err(format!("'{raw}' is not one of 1/0, true/false, yes/no")),
        },
    })
}

/// Set `value` at dotted `path`, creating tables on the way.
pub fn insert_path(table: &mut Table, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_string(), value);
            return;
        }
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(t) = entry else { return };
        cur = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        [
            "model.path",
            "matrix.concurrency",
            "matrix.max_tokens",
            "matrix.server_flags",
            "workload.prompt",
            "workload.temperature",
            "run.continue_on_error",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn predecessor_variables_map_to_fields() {
        let l = env_layer(
            &vars(&[
                ("MLX_CONCURRENCY_LIST", "1, 2 4"),
                ("MLX_MAX_TOKENS", "256"),
                ("MLX_CONTINUE_ON_ERROR", "no"),
                ("MLX_SERVER_HOST", "0.0.0.0"),
                ("MLX_PROMPT", ""),
            ]),
            &known(),
        )
        .unwrap();
        assert_eq!(
            l.table["matrix"]["concurrency"],
            toml::Value::try_from(vec![1, 2, 4]).unwrap()
        );
        assert_eq!(l.table["matrix"]["max_tokens"].as_integer(), Some(256));
        assert_eq!(l.table["run"]["continue_on_error"].as_bool(), Some(false));
        assert_eq!(l.table["backend"]["host"].as_str(), Some("0.0.0.0"));
        assert_eq!(l.table["router"]["host"].as_str(), Some("0.0.0.0"));
        assert!(
            l.table.get("workload").is_none(),
            "empty MLX_PROMPT counts as unset"
        );
        assert_eq!(
            l.origin_of("matrix.concurrency"),
            Some(&Origin::Env {
                var: "MLX_CONCURRENCY_LIST".into()
            })
        );
    }

    #[test]
    fn sampling_variables_map_to_their_fields() {
        let l = env_layer(
            &vars(&[
                ("MLX_TEMPERATURE_LIST", "0, 0.3"),
                ("MLX_TOP_P", "0.9"),
                ("MLX_SAMPLING_SEED", "42"),
            ]),
            &known(),
        )
        .unwrap();
        assert_eq!(
            l.table["matrix"]["temperature"],
            toml::Value::try_from(vec![0.0, 0.3]).unwrap()
        );
        assert_eq!(l.table["workload"]["top_p"].as_float(), Some(0.9));
        assert_eq!(l.table["workload"]["sampling_seed"].as_integer(), Some(42));
        let err = env_layer(
            &vars(&[
                ("MLX_TEMPERATURE_LIST", "0.3,-1"),
                ("MLX_SAMPLING_SEED", "-4"),
            ]),
            &known(),
        )
        .unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}");
        assert!(err[0].message.contains("-1 is negative"), "{}", err[0]);
        assert!(err[1].message.contains("'-4'"), "{}", err[1]);
    }

    #[test]
    fn list_variable_beats_singular() {
        let l = env_layer(
            &vars(&[("MLX_CONCURRENCY", "3"), ("MLX_CONCURRENCY_LIST", "8,16")]),
            &known(),
        )
        .unwrap();
        assert_eq!(
            l.table["matrix"]["concurrency"],
            toml::Value::try_from(vec![8, 16]).unwrap()
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = env_layer(
            &vars(&[("MLX_MAX_TOKENS", "lots"), ("MLX_NGINX_PORT", "70000")]),
            &known(),
        )
        .unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(err.iter().any(|p| p.origin
            == Origin::Env {
                var: "MLX_MAX_TOKENS".into()
            }
            && p.message.contains("'lots'")));
        assert!(
            err.iter()
                .any(|p| p.to_string().contains("env MLX_NGINX_PORT"))
        );
    }

    #[test]
    fn generic_prefix_reaches_any_field() {
        let l = env_layer(
            &vars(&[
                ("MLXRUN_WORKLOAD__TEMPERATURE", "0.7"),
                ("MLXRUN_MATRIX__SERVER_FLAGS__PREFILL_STEP_SIZE", "512"),
            ]),
            &known(),
        )
        .unwrap();
        assert_eq!(l.table["workload"]["temperature"].as_float(), Some(0.7));
        assert_eq!(
            l.table["matrix"]["server_flags"]["prefill_step_size"].as_integer(),
            Some(512)
        );
        let err = env_layer(&vars(&[("MLXRUN_WORKLOAD__PROMT", "x")]), &known()).unwrap_err();
        assert!(
            err[0].hint.contains("MLXRUN_WORKLOAD__PROMPT"),
            "{}",
            err[0]
        );
    }

    #[test]
    fn set_layer_parses_values_and_rejects_unknown_keys() {
        let l = set_layer(
            &[
                "matrix.concurrency=[1,2]".into(),
                "workload.prompt=Hello there".into(),
                "matrix.max_tokens=64".into(),
            ],
            &known(),
        )
        .unwrap();
        assert_eq!(
            l.table["matrix"]["concurrency"],
            toml::Value::try_from(vec![1, 2]).unwrap()
        );
        assert_eq!(l.table["workload"]["prompt"].as_str(), Some("Hello there"));
        assert_eq!(l.table["matrix"]["max_tokens"].as_integer(), Some(64));
        let err =
            set_layer(&["matrix.concurency=2".into(), "novalue".into()], &known()).unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(err[0].hint.contains("matrix.concurrency"));
        assert!(err[1].message.contains("KEY=VALUE"));
    }
}
