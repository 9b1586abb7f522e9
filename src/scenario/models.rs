//! The models of a scenario, resolved: `[[models]]` (or the one `[model]`),
//! each with its backend (named, or routed by `auto`) and the model argument
//! that backend needs (an MLX folder or repo id, a `.gguf` file, or a name
//! passed as written).

use std::path::{Path, PathBuf};

use super::error::Finding;
use super::model_path::{self, ModelRef, SearchDirs, expand_tilde};
use crate::backend::registry::Registry;
use crate::backend::routing;
use crate::spec::backend::{Api, BackendDef, ModelKind};
use crate::spec::media::Modality;
use crate::spec::scenario::Scenario;

/// One model of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// Position in the scenario's model list.
    pub index: usize,
    /// Label in results.
    pub name: String,
    /// The path or name as written (after overrides).
    pub spec: String,
    /// What `{{ model }}` is: the resolved folder or file, or the name.
    pub arg: String,
    /// The local folder, when there is one (for routing and sizes).
    pub local_dir: Option<PathBuf>,
    pub backend: String,
    /// Why `auto` chose the backend; `None` when it was named.
    pub route_rule: Option<String>,
    /// Extra server arguments for this model.
    pub args: Vec<String>,
    /// `[[models]]` entry field prefix for messages (`models.1` or `model`).
    pub field: String,
    /// `tokenizer.json` for synthetic prompts (set when the matrix has
    /// `input_tokens`; see [`super::prompts`]).
    pub tokenizer: Option<PathBuf>,
    /// What its requests carry: as written, else audio for a backend with
    /// `api = "transcriptions"`, vision for a local model whose config.json
    /// has a `vision_config`, else text.
    pub modality: Modality,
}

/// Resolve every model of `s`. `path_overridden`: `model.path` came from the
/// environment or `--set`, so it replaces every entry's path.
pub fn resolve_models(
    s: &Scenario,
    reg: &Registry,
    dirs: &SearchDirs,
    path_overridden: bool,
) -> Result<Vec<ResolvedModel>, Vec<Finding>> {
    type Entry = (String, String, String, Vec<String>, String, String);
    let entries: Vec<Entry> = if s.models.is_empty() {
        vec![(
            String::new(),
            s.model.path.clone(),
            s.backend.kind.clone(),
            Vec::new(),
            "model.path".to_string(),
            s.model.modality.clone(),
        )]
    } else {
        s.models
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let path = if path_overridden || m.path.trim().is_empty() {
                    s.model.path.clone()
                } else {
                    m.path.clone()
                };
                let backend = if m.backend.trim().is_empty() {
                    s.backend.kind.clone()
                } else {
                    m.backend.clone()
                };
                (
                    m.name.clone(),
                    path,
                    backend,
                    m.args.clone(),
                    format!("models.{i}"),
                    m.modality.clone(),
                )
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (index, (name, spec, backend, args, field, modality)) in entries.into_iter().enumerate() {
        let spec = spec.trim().to_string();
        let path_field = if field == "model.path" {
            field.clone()
        } else {
            format!("{field}.path")
        };
        let backend_field = if field == "model.path" {
            "backend.kind".to_string()
        } else {
            format!("{field}.backend")
        };
        if spec.is_empty() {
            problems.push(Finding {
                field: path_field,
                message: "no model given".into(),
                hint: "set [model] path = \"org/name\" or a local folder, or export MLX_MODEL_PATH"
                    .into(),
            });
            continue;
        }
        // Routing reads the folder the way the MLX resolver finds it.
        let mlx_ref = model_path::resolve(&spec, dirs);
        let (backend, route_rule) = if backend == "auto" {
            let dir = match &mlx_ref {
                Ok(ModelRef::Local(d)) => Some(d.as_path()),
                _ => None,
            };
            let r = routing::auto(dir, &spec);
            (r.backend, Some(r.rule))
        } else {
            (backend, None)
        };
        let Some(def) = reg.get(&backend) else {
            let known: Vec<&str> = reg.names().collect();
            let hint = match super::error::did_you_mean(&backend, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "known backends: {}, or auto; define others under [backends.NAME]",
                    known.join(", ")
                ),
            };
            let message = match &route_rule {
                Some(rule) => format!(
                    "`auto` routed '{spec}' to backend `{backend}` ({rule}), which is not defined"
                ),
                None => format!("unknown backend `{backend}`"),
            };
            problems.push(Finding {
                field: backend_field,
                message,
                hint,
            });
            continue;
        };
        let resolved = match def.model_kind {
            ModelKind::Mlx => mlx_ref.map(|r| {
                let dir = match &r {
                    ModelRef::Local(d) => Some(d.clone()),
                    ModelRef::Repo(_) => None,
                };
                (r.server_arg(), dir)
            }),
            ModelKind::Gguf => resolve_gguf(&spec, dirs).map(|p| (p.display().to_string(), None)),
            ModelKind::Name => Ok((spec.clone(), None)),
        };
        let (arg, local_dir) = match resolved {
            Ok(x) => x,
            Err(msg) => {
                problems.push(Finding {
                    field: path_field,
                    message: msg,
                    hint: match def.model_kind {
                        ModelKind::Gguf => format!("backend `{backend}` needs a .gguf file; point the path at one"),
                        _ => "point model.path (or MLX_MODEL_PATH) at a folder with config.json, or an HF repo id org/name; `scripts/setup.sh` builds the tiny test model in models/tiny-llama".into(),
                    },
                });
                continue;
            }
        };
        let modality_field = if field == "model.path" {
            "model.modality".to_string()
        } else {
            format!("{field}.modality")
        };
        let modality = match modality_of(&modality, def, local_dir.as_deref(), &backend) {
            Ok(m) => m,
            Err((message, hint)) => {
                problems.push(Finding {
                    field: modality_field,
                    message,
                    hint,
                });
                continue;
            }
        };
        let name = if name.trim().is_empty() {
            default_name(&spec)
        } else {
            name
        };
        out.push(ResolvedModel {
            index,
            name,
            spec,
            arg,
            local_dir,
            backend,
            route_rule,
            args,
            field,
            tokenizer: None,
            modality,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &out {
        if !seen.insert(m.name.clone()) {
            problems.push(Finding {
                field: format!("{}.name", m.field),
                message: format!("two models are named '{}'", m.name),
                hint: "give each [[models]] entry its own name".into(),
            });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The user's extra server arguments for `model`: `backend.args`,
/// `backend.server_args`, then the model entry's `args`.
pub fn user_args(s: &Scenario, model: Option<&ResolvedModel>) -> Vec<String> {
    let mut args = s.backend.args.clone();
    args.extend(
        crate::backend::flags::parse_server_args(&s.backend.server_args).unwrap_or_default(),
    );
    if let Some(m) = model {
        args.extend(m.args.iter().cloned());
    }
    args
}

#[cfg(test)]
impl ResolvedModel {
    /// A model named `name` served by `backend`, for unit tests.
    pub fn for_test(index: usize, name: &str, backend: &str) -> ResolvedModel {
        ResolvedModel {
            index,
            name: name.into(),
            spec: name.into(),
            arg: format!("/models/{name}"),
            local_dir: None,
            backend: backend.into(),
            route_rule: None,
            args: Vec::new(),
            field: format!("models.{index}"),
            tokenizer: None,
            modality: Modality::Text,
        }
    }
}

/// The modality of a model: `written` (`text`, `vision`, `audio`; empty or
/// `auto` = derived), checked against what its backend speaks.
fn modality_of(
    written: &str,
    def: &BackendDef,
    local_dir: Option<&Path>,
    backend: &str,
) -> Result<Modality, (String, String)> {
    let written = written.trim();
    let derived = if def.api == Api::Transcriptions {
        Modality::Audio
    } else if local_dir.is_some_and(has_vision_config) {
        Modality::Vision
    } else {
        Modality::Text
    };
    let m = match written {
        "" | "auto" => return Ok(derived),
        w => Modality::parse(w).ok_or_else(|| {
            (
                format!("'{w}' is not a modality"),
                "use text, vision, audio, or auto (derived from the backend and config.json)"
                    .to_string(),
            )
        })?,
    };
    match (m, def.api) {
        (Modality::Audio, Api::Transcriptions) => Ok(m),
        (Modality::Audio, api) => Err((
            format!("audio needs a transcription backend; `{backend}` speaks {}", api.path()),
            "serve the speech model with a backend whose api = \"transcriptions\" (mlx_audio, or backend = \"auto\")".to_string(),
        )),
        (_, Api::Transcriptions) => Err((
            format!("`{backend}` only transcribes audio ({}), so the model cannot take {m} requests", Api::Transcriptions.path()),
            "set modality = \"audio\" (or leave it out), or pick a chat backend".to_string(),
        )),
        (Modality::Vision, Api::Completions) => Err((
            format!("images need the chat API; `{backend}` uses {}", Api::Completions.path()),
            "use a chat backend such as mlx_vlm".to_string(),
        )),
        _ => Ok(m),
    }
}

/// Whether the model folder's config.json has a non-empty `vision_config`.
fn has_vision_config(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("vision_config").cloned())
        .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
}

/// The last path component (`org/name` → `name`).
fn default_name(spec: &str) -> String {
    spec.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(spec)
        .to_string()
}

/// A `.gguf` file: the path itself, or the one `.gguf` in a folder; bare
/// names are looked up in `./models` and `~/models`.
pub fn resolve_gguf(spec: &str, dirs: &SearchDirs) -> Result<PathBuf, String> {
    let expanded = expand_tilde(spec, dirs.home.as_deref());
    let mut candidates = vec![if expanded.is_absolute() {
        expanded.clone()
    } else {
        dirs.cwd.join(&expanded)
    }];
    if !spec.contains('/') {
        candidates.push(dirs.cwd.join("models").join(spec));
        if let Some(h) = &dirs.home {
            candidates.push(h.join("models").join(spec));
        }
    }
    for c in &candidates {
        if c.is_file() {
            return Ok(c.clone());
        }
        if c.is_dir() {
            let ggufs = gguf_files(c);
            return match ggufs.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(format!("folder {} holds no .gguf file", c.display())),
                _ => Err(format!(
                    "folder {} holds {} .gguf files; name one",
                    c.display(),
                    ggufs.len()
                )),
            };
        }
    }
    Err(format!(
        "no .gguf file at {}",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn gguf_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::scenario::ModelEntry;

    fn dirs(cwd: &Path) -> SearchDirs {
        SearchDirs {
            home: None,
            cwd: cwd.to_path_buf(),
            hf_cache: None,
        }
    }

    fn setup() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("models/llm");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("config.json"), r#"{"model_type":"llama"}"#).unwrap();
        let v = t.path().join("models/vlm");
        std::fs::create_dir_all(&v).unwrap();
        std::fs::write(
            v.join("config.json"),
            r#"{"model_type":"qwen2_vl","vision_config":{"d":1}}"#,
        )
        .unwrap();
        std::fs::write(t.path().join("models/tiny.gguf"), b"GGUF").unwrap();
        t
    }

    #[test]
    fn entries_get_backends_names_and_args() {
        let t = setup();
        let mut s = Scenario::default();
        s.model.path = "llm".into();
        s.models = vec![
            ModelEntry::default(),
            ModelEntry {
                path: "vlm".into(),
                backend: "auto".into(),
                ..Default::default()
            },
            ModelEntry {
                name: "gguf".into(),
                path: "tiny.gguf".into(),
                backend: "llama_server".into(),
                ..Default::default()
            },
            ModelEntry {
                name: "remote".into(),
                path: "served-name".into(),
                backend: "openai".into(),
                ..Default::default()
            },
        ];
        let m = resolve_models(&s, &Registry::builtin(), &dirs(t.path()), false).unwrap();
        assert_eq!(m[0].name, "llm");
        assert_eq!(m[0].backend, "mlx_lm");
        assert!(m[0].route_rule.is_none());
        assert_eq!(m[1].backend, "mlx_vlm");
        assert!(
            m[1].route_rule
                .as_deref()
                .unwrap()
                .contains("vision_config")
        );
        assert!(m[2].arg.ends_with("models/tiny.gguf"));
        assert_eq!(m[3].arg, "served-name");

        // an overriding model.path reaches every entry
        let m = resolve_models(&s, &Registry::builtin(), &dirs(t.path()), true);
        let err = m.unwrap_err();
        assert!(err.iter().any(|p| p.field == "models.2.path"), "{err:?}");
    }

    #[test]
    fn unknown_backends_and_duplicate_names_are_refused() {
        let t = setup();
        let mut s = Scenario::default();
        s.model.path = "llm".into();
        s.models = vec![
            ModelEntry {
                backend: "mlx_llm".into(),
                ..Default::default()
            },
            ModelEntry::default(),
            ModelEntry::default(),
        ];
        let err = resolve_models(&s, &Registry::builtin(), &dirs(t.path()), false).unwrap_err();
        assert_eq!(err[0].field, "models.0.backend");
        assert!(err[0].hint.contains("mlx_lm"));
        assert!(err.iter().any(|p| p.field == "models.2.name"));
    }
}
