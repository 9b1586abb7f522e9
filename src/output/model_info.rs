//! What a report says about a model (mlx-knife's `model` object): its id,
//! the path the server got, size on disk, framework, quantization and
//! family, read from its folder (`config.json`) or its GGUF file name.

use std::path::Path;

use serde::Serialize;

use crate::gate::weights::weights_bytes;
use crate::scenario::ResolvedModel;

/// The `model` object of a report record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelInfo {
    /// The label in results (the scenario's model name).
    pub id: String,
    /// What the server was given.
    pub path: String,
    /// Weights on disk, in GB (2^30 bytes); `None` when not on this machine.
    pub size_gb: Option<f64>,
    /// `MLX`, `GGUF` or `safetensors`; `None` when unknown.
    pub framework: Option<String>,
    /// `4bit`, `8bit`, `bf16`, `Q4_K_M`…; `None` when unknown.
    pub quantization: Option<String>,
    /// `model_type` of config.json (`llama`, `qwen2`…).
    pub family: Option<String>,
}

/// Describe `model` as served by `backend`.
pub fn model_info(model: &ResolvedModel, backend: &str) -> ModelInfo {
    let path = model
        .local_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(&model.arg));
    let mut info = ModelInfo {
        id: model.name.clone(),
        path: model.arg.clone(),
        size_gb: weights_bytes(&path).map(|b| (b as f64 / crate::gate::GB * 1e4).round() / 1e4),
        ..Default::default()
    };
    let gguf = path.extension().is_some_and(|e| e == "gguf");
    if gguf {
        info.framework = Some("GGUF".into());
        info.quantization = gguf_quantization(&path);
        return info;
    }
    let config = std::fs::read_to_string(path.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    if let Some(c) = &config {
        info.family = c["model_type"].as_str().map(String::from);
        info.quantization = c["quantization"]["bits"]
            .as_u64()
            .map(|b| format!("{b}bit"))
            .or_else(|| {
                c["torch_dtype"]
                    .as_str()
                    .or(c["dtype"].as_str())
                    .map(short_dtype)
            });
    }
    if info.size_gb.is_some() {
        info.framework = Some(if backend.starts_with("mlx") {
            "MLX".into()
        } else {
            "safetensors".into()
        });
    }
    info
}

fn short_dtype(d: &str) -> String {
    match d {
        "bfloat16" => "bf16".into(),
        "float16" => "fp16".into(),
        "float32" => "fp32".into(),
        other => other.into(),
    }
}

/// `Q4_K_M` from `model-Q4_K_M.gguf`, `F16` from `x.f16.gguf`.
fn gguf_quantization(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let last = stem.rsplit(['-', '.', '_']).next()?;
    let upper = stem.to_ascii_uppercase();
    for q in ["IQ", "Q"] {
        if let Some(i) = upper
            .rfind(&format!("-{q}"))
            .or(upper.rfind(&format!(".{q}")))
        {
            let tail = &stem[i + 1..];
            if tail
                .chars()
                .nth(q.len())
                .is_some_and(|c| c.is_ascii_digit())
            {
                return Some(tail.to_ascii_uppercase());
            }
        }
    }
    let l = last.to_ascii_uppercase();
    matches!(l.as_str(), "F16" | "F32" | "BF16").then_some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(dir: &Path, arg: &str) -> ResolvedModel {
        ResolvedModel {
            index: 0,
            name: "tiny".into(),
            spec: arg.into(),
            arg: arg.into(),
            local_dir: (!arg.ends_with(".gguf")).then(|| dir.to_path_buf()),
            backend: "mlx_lm".into(),
            route_rule: None,
            args: vec![],
            field: "model".into(),
            tokenizer: None,
            modality: crate::spec::media::Modality::Text,
        }
    }

    #[test]
    fn folder_config_gives_family_quantization_and_size() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.json"),
            r#"{"model_type":"llama","quantization":{"bits":4,"group_size":64}}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("model.safetensors"), vec![0u8; 2 << 20]).unwrap();
        let i = model_info(&resolved(d.path(), &d.path().to_string_lossy()), "mlx_lm");
        assert_eq!(i.family.as_deref(), Some("llama"));
        assert_eq!(i.quantization.as_deref(), Some("4bit"));
        assert_eq!(i.framework.as_deref(), Some("MLX"));
        assert_eq!(i.size_gb, Some(0.002), "2 MB = 0.00195 GB, 4 decimals");
        std::fs::write(
            d.path().join("config.json"),
            r#"{"model_type":"qwen2","torch_dtype":"bfloat16"}"#,
        )
        .unwrap();
        let i = model_info(&resolved(d.path(), "x"), "vllm");
        assert_eq!(i.quantization.as_deref(), Some("bf16"));
        assert_eq!(i.framework.as_deref(), Some("safetensors"));
    }

    #[test]
    fn gguf_file_names_give_the_quantization() {
        let d = tempfile::tempdir().unwrap();
        for (name, q) in [
            ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", Some("Q4_K_M")),
            ("tiny.f16.gguf", Some("F16")),
            ("model-IQ3_XS.gguf", Some("IQ3_XS")),
            ("tiny.gguf", None),
        ] {
            let p = d.path().join(name);
            std::fs::write(&p, b"GGUF").unwrap();
            let i = model_info(&resolved(d.path(), &p.to_string_lossy()), "llama_server");
            assert_eq!(i.framework.as_deref(), Some("GGUF"), "{name}");
            assert_eq!(i.quantization.as_deref(), q, "{name}");
            assert_eq!(i.size_gb, Some(0.0));
        }
    }
}
