//! The prompts of a scenario, checked before anything starts: the prompts
//! file is read and parsed (a bad line is refused with its file and line
//! number), and for synthetic prompts (`matrix.input_tokens`) each model
//! gets its tokenizer (`workload.tokenizer`, else the model's own
//! `tokenizer.json`: its folder, or the Hugging Face cache for a repo id).
//! Also how a point's [`WorkloadSpec`] is made from the scenario.

use std::path::{Path, PathBuf};

use super::error::{Finding, finding};
use super::expand::Point;
use super::model_path::expand_tilde;
use super::models::ResolvedModel;
use crate::spec::scenario::Scenario;
use crate::workload::{
    FileFormat, LengthDist, PromptSource, WorkloadSpec, check_file, count_tokens, find_tokenizer,
};

/// The file format named by `workload.prompts_format` (checked by validate).
pub fn file_format(name: &str) -> FileFormat {
    match name {
        "text" => FileFormat::Text,
        "jsonl" => FileFormat::Jsonl,
        "sharegpt" => FileFormat::ShareGpt,
        _ => FileFormat::Auto,
    }
}

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let expanded = expand_tilde(p, home.as_deref());
    if expanded.is_absolute() {
        expanded
    } else {
        absolute(&base.join(expanded))
    }
}

/// `p` made absolute against the working directory (unchanged when that
/// cannot be read), so the saved effective scenario loads from any folder.
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Check the prompts of `s` (whose file lives in `base`): rewrites
/// `workload.prompts_file` and `workload.tokenizer` to absolute paths and
/// sets each model's tokenizer when prompts are synthetic.
pub fn resolve_prompts(
    s: &mut Scenario,
    models: &mut [ResolvedModel],
    base: &Path,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let w = &mut s.workload;
    if !w.prompts_file.is_empty() {
        let path = resolve_path(base, &w.prompts_file);
        match check_file(&path, file_format(&w.prompts_format)) {
            Ok(_) => w.prompts_file = path.display().to_string(),
            Err(e) => out.push(finding(
                "workload.prompts_file",
                e.to_string(),
                "fix the file, or set workload.prompts_format (text, jsonl, sharegpt)",
            )),
        }
    }
    if s.matrix.input_tokens.is_none() {
        return out;
    }
    let given = (!w.tokenizer.is_empty()).then(|| resolve_path(base, &w.tokenizer));
    if let Some(t) = &given {
        w.tokenizer = t.display().to_string();
    }
    for m in models.iter_mut() {
        let found = given
            .clone()
            .or_else(|| find_tokenizer(&m.spec, m.local_dir.as_deref()));
        let Some(tok) = found else {
            out.push(finding(
                "workload.tokenizer",
                format!(
                    "no tokenizer.json for model '{}' ({}): synthetic prompts (matrix.input_tokens) are built with the model's own tokenizer",
                    m.name, m.spec
                ),
                "set workload.tokenizer = \"/path/to/tokenizer.json\", or use a model folder that has one",
            ));
            continue;
        };
        match count_tokens(&tok, "tokenizer check") {
            Ok(_) => m.tokenizer = Some(tok),
            Err(e) => out.push(finding(
                "workload.tokenizer",
                e.to_string(),
                "point workload.tokenizer at a Hugging Face tokenizer.json",
            )),
        }
    }
    out
}

/// What point `point` of model `model` sends: synthetic prompts of its
/// `input_tokens`, the prompts file, or the fixed prompt.
pub fn workload_spec(s: &Scenario, model: &ResolvedModel, point: &Point) -> WorkloadSpec {
    let w = &s.workload;
    let source = match point.input_tokens {
        Some(n) => PromptSource::Synthetic {
            input_tokens: n,
            dist: match w.input_tokens_distribution.as_str() {
                "uniform" => LengthDist::Uniform {
                    spread: w.input_tokens_spread,
                },
                "normal" => LengthDist::Normal {
                    spread: w.input_tokens_spread,
                },
                _ => LengthDist::Fixed,
            },
            shared_prefix_tokens: w.shared_prefix_tokens,
        },
        None if !w.prompts_file.is_empty() => PromptSource::File {
            path: PathBuf::from(&w.prompts_file),
            format: file_format(&w.prompts_format),
        },
        None => PromptSource::Fixed(w.prompt.clone()),
    };
    WorkloadSpec {
        // synthetic prompts differ from point to point, so one point never
        // finds the previous one's prompts in a server's prompt cache
        seed: match source {
            PromptSource::Synthetic { .. } => w.seed.wrapping_add(point.index as u64),
            _ => w.seed,
        },
        source,
        shuffle: w.shuffle,
        tokenizer: model.tokenizer.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::scenario::Axis;

    fn tiny() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/tiny-llama")
    }

    #[test]
    fn a_bad_prompts_file_is_refused_with_its_line() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("p.jsonl"), "{\"prompt\":\"a\"}\n{oops\n").unwrap();
        let mut s = Scenario::default();
        s.workload.prompts_file = "p.jsonl".into();
        let f = resolve_prompts(&mut s, &mut [], t.path());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].field, "workload.prompts_file");
        assert!(f[0].message.contains("p.jsonl line 2"), "{}", f[0].message);

        std::fs::write(t.path().join("p.jsonl"), "{\"prompt\":\"a\"}\n").unwrap();
        assert!(resolve_prompts(&mut s, &mut [], t.path()).is_empty());
        assert!(Path::new(&s.workload.prompts_file).is_absolute());
    }

    #[test]
    fn synthetic_prompts_need_a_tokenizer() {
        let mut s = Scenario::default();
        s.matrix.input_tokens = Some(Axis(vec![32]));
        let mut with = ResolvedModel::for_test(0, "tiny", "mlx_lm");
        with.local_dir = Some(tiny());
        let mut without = ResolvedModel::for_test(1, "nowhere", "mlx_lm");
        without.spec = "/no/such/model".into();
        let mut models = [with, without];
        let f = resolve_prompts(&mut s, &mut models, Path::new("."));
        assert_eq!(models[0].tokenizer, Some(tiny().join("tokenizer.json")));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].field, "workload.tokenizer");
        assert!(f[0].message.contains("'nowhere'"));

        // an explicit tokenizer serves every model
        s.workload.tokenizer = tiny().join("tokenizer.json").display().to_string();
        let f = resolve_prompts(&mut s, &mut models, Path::new("."));
        assert!(f.is_empty(), "{f:?}");
        assert!(models[1].tokenizer.is_some());
    }

    #[test]
    fn each_point_draws_its_own_synthetic_prompts() {
        let mut s = Scenario::default();
        s.workload.seed = 5;
        let m = ResolvedModel::for_test(0, "m", "mlx_lm");
        let mut p = Point {
            index: 3,
            server: 0,
            concurrency: 1,
            request_rate: None,
            max_tokens: 8,
            input_tokens: Some(64),
            requests: 4,
            duration_s: None,
            modality: crate::spec::media::Modality::Text,
            image_count: None,
            image_size: None,
            audio_duration_s: None,
            sampling: crate::spec::scenario::Sampling::GREEDY,
            server_mode: Vec::new(),
        };
        let spec = workload_spec(&s, &m, &p);
        assert_eq!(spec.seed, 8);
        assert!(matches!(
            spec.source,
            PromptSource::Synthetic {
                input_tokens: 64,
                ..
            }
        ));
        p.input_tokens = None;
        let spec = workload_spec(&s, &m, &p);
        assert_eq!(spec.seed, 5);
        assert_eq!(spec.source, PromptSource::Fixed(s.workload.prompt.clone()));
    }
}
