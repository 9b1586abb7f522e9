//! Scenarios: a TOML file, layered with figment under environment variables
//! and `--set` arguments (defaults < file < environment < `--set`), checked,
//! and expanded into the ordered list of points a run measures.
//!
//! Errors name the file and line (or the variable, or the argument), the
//! field, and the next step.

pub mod error;
pub mod expand;
pub mod hostfile;
pub mod hosts;
pub mod layers;
pub mod media;
pub mod model_path;
pub mod models;
pub mod prompts;
pub mod source_map;
pub mod validate;
pub mod validate_bounds;
pub mod validate_hosts;
pub mod validate_load;
pub mod validate_tune;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Serialized;
use toml::{Table, Value};

pub use crate::spec::scenario::Scenario;
pub use error::{Origin, Problem, ScenarioError};
use model_path::SearchDirs;
pub use models::ResolvedModel;
use source_map::SourceMap;

use crate::backend::registry::Registry;

/// What the layers above the file hold.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Environment variables to read (normally all of `std::env::vars()`).
    pub env: Vec<(String, String)>,
    /// `--set key=value` arguments, in order.
    pub sets: Vec<String>,
}

impl Overrides {
    /// The process environment and the given `--set` arguments.
    pub fn from_process(sets: Vec<String>) -> Overrides {
        Overrides {
            env: std::env::vars().collect(),
            sets,
        }
    }
}

/// A loaded, layered and checked scenario.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub path: PathBuf,
    pub scenario: Scenario,
    /// The models of the run, each with its backend.
    pub models: Vec<ResolvedModel>,
    /// Built-in backends overridden by the included files and the scenario.
    pub registry: Registry,
    /// The matrix expanded, once, when the scenario was loaded: every
    /// other part of mlxrun reads it from here.
    pub plan: expand::Plan,
    source: SourceMap,
    env: layers::Layer,
    set: layers::Layer,
}

impl Resolved {
    /// Where the effective value of `field` came from: `--set`, the
    /// environment, the file (only where it sets the key, not where it
    /// merely opens the key's table), else the default.
    pub fn origin(&self, field: &str) -> Origin {
        self.layer_origin(field)
            .or_else(|| self.source.sets(field).then(|| self.file_origin(field)))
            .unwrap_or(Origin::Default)
    }

    /// Where to look for a problem with `field`: as [`Resolved::origin`],
    /// but a default under a table the file opens points at that table's
    /// line (where the key would go).
    fn problem_origin(&self, field: &str) -> Origin {
        self.layer_origin(field)
            .or_else(|| self.source.defines(field).then(|| self.file_origin(field)))
            .unwrap_or(Origin::Default)
    }

    /// `--set`, then the environment.
    fn layer_origin(&self, field: &str) -> Option<Origin> {
        self.set
            .origin_of(field)
            .or_else(|| self.env.origin_of(field))
            .cloned()
    }

    fn file_origin(&self, field: &str) -> Origin {
        Origin::File {
            path: self.path.clone(),
            line: self.source.line_of(field),
        }
    }

    /// `findings` with the origin of each field.
    fn locate(&self, findings: Vec<error::Finding>) -> Vec<Problem> {
        findings
            .into_iter()
            .map(|f| Problem {
                origin: self.problem_origin(&f.field),
                field: f.field,
                message: f.message,
                hint: f.hint,
            })
            .collect()
    }

    /// Every effective leaf value as `(field, value as TOML, origin)`.
    pub fn provenance(&self) -> Vec<(String, String, Origin)> {
        let value = Value::try_from(&self.scenario).unwrap_or(Value::Table(Table::new()));
        let mut leaves = Vec::new();
        flatten(&value, "", &mut leaves);
        leaves
            .into_iter()
            .map(|(k, v)| {
                let origin = self.origin(&k);
                (k, v, origin)
            })
            .collect()
    }

    /// The effective scenario as TOML text (what `run` saves beside the CSV).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.scenario).unwrap_or_default()
    }
}

/// Every leaf of `v` as `(dotted path, value as TOML)`; arrays are leaves.
pub(crate) fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Table(t) if !t.is_empty() => {
            for (k, child) in t {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(child, &p, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Every field path a scenario knows (tables that take any key, such as
/// `matrix.server_flags`, are listed as one entry).
pub fn known_fields() -> Vec<String> {
    let mut full = Scenario::default();
    // every optional field set, so each has a leaf
    let m = &mut full.matrix;
    m.decode_concurrency = Some(crate::spec::scenario::Axis(vec![1]));
    m.prompt_concurrency = Some(crate::spec::scenario::Axis(vec![1]));
    m.concurrency = Some(crate::spec::scenario::Axis(vec![1]));
    m.request_rate = Some(crate::spec::scenario::Axis(vec![
        crate::spec::scenario::Rate::INF,
    ]));
    m.input_tokens = Some(crate::spec::scenario::Axis(vec![1]));
    m.image_count = Some(crate::spec::scenario::Axis(vec![1]));
    m.image_size = Some(crate::spec::scenario::Axis(vec![
        crate::spec::media::ImageSize {
            width: 1,
            height: 1,
        },
    ]));
    m.audio_duration_s = Some(crate::spec::scenario::Axis(vec![
        crate::spec::media::Seconds(1.0),
    ]));
    m.router = Some(crate::spec::scenario::Axis(vec![
        crate::spec::scenario::RouterKind::Nginx,
    ]));
    m.balance = Some(crate::spec::scenario::Axis(vec![
        crate::spec::scenario::BalanceMethod::RoundRobin,
    ]));
    m.temperature = Some(crate::spec::scenario::Axis(vec![0.0]));
    full.workload.requests = Some(1);
    full.workload.top_p = Some(1.0);
    full.workload.sampling_seed = Some(0);
    full.run.precision.throughput_pct = Some(1.0);
    full.run.precision.ttft_p50_pct = Some(1.0);
    let one_ms = crate::spec::units::PositiveMillis::lit(1.0);
    full.slo.ttft_ms = Some(one_ms);
    full.slo.tpot_ms = Some(one_ms);
    full.slo.e2e_ms = Some(one_ms);
    let value = Value::try_from(&full).unwrap_or(Value::Table(Table::new()));
    let mut leaves = Vec::new();
    flatten(&value, "", &mut leaves);
    let mut out: Vec<String> = leaves.into_iter().map(|(k, _)| k).collect();
    out.sort();
    out
}

/// Load `path` with `overrides`, resolve the model and check everything.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Resolved, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(path, &text, overrides, &SearchDirs::from_env())
}

/// [`load`] on text already read (`path` is used in messages and for the
/// default name).
pub fn load_str(
    path: &Path,
    text: &str,
    overrides: &Overrides,
    dirs: &SearchDirs,
) -> Result<Resolved, ScenarioError> {
    let source = SourceMap::new(text);
    // Strict pass over the file alone: syntax, unknown keys and types, with
    // line numbers from the TOML parser.
    if let Err(e) = toml::from_str::<Scenario>(text) {
        return Err(parse_error(path, &source, &e));
    }
    let file_table: Table = toml::from_str(text).map_err(|e| parse_error(path, &source, &e))?;

    let known = known_fields();
    let mut problems = Vec::new();
    let env = layers::env_layer(&overrides.env, &known).unwrap_or_else(|p| {
        problems.extend(p);
        layers::Layer::default()
    });
    let set = layers::set_layer(&overrides.sets, &known).unwrap_or_else(|p| {
        problems.extend(p);
        layers::Layer::default()
    });
    if !problems.is_empty() {
        return Err(ScenarioError::Invalid(problems));
    }

    let figment = Figment::from(Serialized::defaults(Scenario::default()))
        .merge(Serialized::defaults(&file_table))
        .merge(Serialized::defaults(&env.table))
        .merge(Serialized::defaults(&set.table));
    let mut resolved = Resolved {
        path: path.to_path_buf(),
        scenario: Scenario::default(),
        models: Vec::new(),
        registry: Registry::default(),
        plan: expand::Plan::default(),
        source,
        env,
        set,
    };
    match figment.extract::<Scenario>() {
        Ok(s) => resolved.scenario = s,
        Err(errors) => {
            let problems = errors
                .into_iter()
                .map(|e| {
                    let field = e.path.join(".");
                    Problem {
                        origin: resolved.problem_origin(&field),
                        message: e.kind.to_string(),
                        hint: format!(
                            "fix the value of {field}; see the scenario reference in README.md"
                        ),
                        field,
                    }
                })
                .collect();
            return Err(ScenarioError::Invalid(problems));
        }
    }
    if resolved.scenario.name.trim().is_empty() {
        resolved.scenario.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
    }

    let mut problems = resolved.locate(validate::validate(&resolved.scenario));
    match build_registry(path, &resolved) {
        Ok(reg) => {
            resolved.registry = reg;
            // absolute, so the saved effective scenario loads from its
            // results folder (`mlxrun resume`)
            let base = path.parent().unwrap_or(Path::new("."));
            for inc in &mut resolved.scenario.include {
                *inc = prompts::absolute(&base.join(&*inc)).display().to_string();
            }
        }
        Err(p) => problems.extend(p),
    }
    if problems.is_empty() {
        let overridden = matches!(
            resolved.origin("model.path"),
            Origin::Env { .. } | Origin::Set { .. }
        );
        match models::resolve_models(&resolved.scenario, &resolved.registry, dirs, overridden) {
            Ok(m) => resolved.models = m,
            Err(list) => problems.extend(resolved.locate(list)),
        }
    }
    if problems.is_empty() {
        let found =
            validate::validate_backends(&resolved.scenario, &resolved.models, &resolved.registry);
        problems.extend(resolved.locate(found));
    }
    if problems.is_empty() {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut found =
            prompts::resolve_prompts(&mut resolved.scenario, &mut resolved.models, base);
        found.extend(media::resolve_media(&mut resolved.scenario, base));
        problems.extend(resolved.locate(found));
    }
    if problems.is_empty() {
        match expand::expand(&resolved.scenario, &resolved.models, &resolved.registry) {
            Ok(plan) => resolved.plan = plan,
            Err(e) => problems.push(Problem {
                field: "matrix.filter".into(),
                origin: resolved.problem_origin("matrix.filter"),
                message: e,
                hint: "the filter may use the axis names; compare with <, <=, ==, and, or".into(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(ScenarioError::Invalid(problems))
    }
}

/// The registry of `resolved`: built-ins, then the included files, then
/// the scenario's own `[backends]`.
fn build_registry(path: &Path, resolved: &Resolved) -> Result<Registry, Vec<Problem>> {
    let s = &resolved.scenario;
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    let base = path.parent().unwrap_or(Path::new("."));
    for (i, inc) in s.include.iter().enumerate() {
        let field = format!("include.{i}");
        let file = base.join(inc);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem {
                    origin: resolved.problem_origin(&field),
                    field,
                    message: format!("cannot read {}: {e}", file.display()),
                    hint: "paths in `include` are relative to the scenario file".into(),
                });
                continue;
            }
        };
        let table: Table = match toml::from_str(&text) {
            Ok(t) => t,
            Err(e) => {
                let source = SourceMap::new(&text);
                let (line, col) = source.line_col(e.span().map_or(0, |s| s.start));
                problems.push(Problem {
                    origin: Origin::File {
                        path: file.clone(),
                        line: Some(line),
                    },
                    field: format!("{field} (column {col})"),
                    message: e.message().trim().to_string(),
                    hint: "fix the TOML syntax of the included file".into(),
                });
                continue;
            }
        };
        let mut map = std::collections::BTreeMap::new();
        for (k, v) in table {
            match (k.as_str(), v) {
                ("backends", Value::Table(b)) => {
                    for (name, def) in b {
                        match def {
                            Value::Table(t) => {
                                map.insert(name, t);
                            }
                            _ => problems.push(Problem {
                                origin: Origin::File {
                                    path: file.clone(),
                                    line: None,
                                },
                                field: format!("backends.{name}"),
                                message: "expected a table".into(),
                                hint: "write [backends.NAME] tables".into(),
                            }),
                        }
                    }
                }
                (other, _) => problems.push(Problem {
                    origin: Origin::File {
                        path: file.clone(),
                        line: None,
                    },
                    field: other.to_string(),
                    message: "an included file holds only [backends.NAME] tables".into(),
                    hint: "move other settings into the scenario".into(),
                }),
            }
        }
        layers.push((file.display().to_string(), map));
    }
    layers.push((resolved.path.display().to_string(), s.backends.clone()));
    if !problems.is_empty() {
        return Err(problems);
    }
    Registry::build(&layers).map_err(|list| {
        list.into_iter()
            .map(|p| Problem {
                origin: resolved.problem_origin(&p.field),
                hint: "see backends/*.toml for the fields of a backend definition".into(),
                field: p.field,
                message: p.message,
            })
            .collect()
    })
}

fn parse_error(path: &Path, source: &SourceMap, e: &toml::de::Error) -> ScenarioError {
    let offset = e.span().map_or(0, |s| s.start);
    let (line, col) = source.line_col(offset);
    let message = e.message().trim().to_string();
    let mut field = source.path_at(offset).unwrap_or_default().to_string();
    let mut hint = "see scenarios/reference.toml for every field with its type".to_string();
    if let Some(name) = between(&message, "unknown field `", "`") {
        let expected: Vec<&str> = message
            .split("expected ")
            .nth(1)
            .map(|rest| rest.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        if let Some(s) = error::did_you_mean(name, expected.iter().copied()) {
            hint = format!("did you mean `{s}`?");
        } else if !expected.is_empty() {
            hint = format!("valid keys here: {}", expected.join(", "));
        }
        if let Some(parent) = field.rsplit_once('.').map(|(p, _)| p.to_string()) {
            if !field.ends_with(name) {
                field = format!("{parent}.{name}");
            }
        } else if field.is_empty() {
            field = name.to_string();
        }
    }
    let snippet = source
        .line_text(line)
        .map(|l| format!("  | {l}\n  | {}^\n", " ".repeat(col.saturating_sub(1))))
        .unwrap_or_default();
    ScenarioError::Parse(Box::new(error::ParseDetail {
        path: path.to_path_buf(),
        line,
        col,
        field,
        message,
        snippet,
        hint,
    }))
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

/// Scenarios for tests elsewhere in the crate.
#[cfg(test)]
pub mod testing {
    use std::path::PathBuf;

    use super::model_path::SearchDirs;
    use super::{Overrides, Resolved, load_str};

    /// `text` loaded as `scenarios/t.toml`, with no overrides, beside a
    /// local model folder `tiny` (in a temporary folder, gone on return).
    pub fn with_tiny_model(text: &str) -> Resolved {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("models/tiny");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("config.json"), "{}").unwrap();
        let dirs = SearchDirs {
            home: None,
            cwd: t.path().to_path_buf(),
            hf_cache: None,
        };
        load_str(
            &PathBuf::from("scenarios/t.toml"),
            text,
            &Overrides::default(),
            &dirs,
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests;
