//! `backend = "auto"`: pick the backend from the model's files without
//! loading it, with mlx-knife's rules (ADR-020): speech models go to an
//! audio backend, vision models to mlx_vlm, the rest to mlx_lm. The rule
//! that fired is kept so `mlxrun plan` can say why.

use std::path::Path;

/// Where `auto` sends speech models: mlx_vlm.server with `--stt-model`
/// (mlx-vlm depends on mlx-audio; mlx-audio's own server needs extras).
pub const AUDIO_BACKEND: &str = "mlx_vlm_stt";

/// The routing decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub backend: String,
    /// Which rule fired, in words.
    pub rule: String,
}

fn route(backend: &str, rule: impl Into<String>) -> Route {
    Route {
        backend: backend.to_string(),
        rule: rule.into(),
    }
}

fn non_empty(v: Option<&serde_json::Value>) -> bool {
    match v {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Object(m)) => !m.is_empty(),
        Some(serde_json::Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

/// Route the model in `dir` (a local folder), or `spec` when it is not
/// local (then only its name can be read).
pub fn auto(dir: Option<&Path>, spec: &str) -> Route {
    let name = dir
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| spec.to_lowercase());
    let Some(dir) = dir else {
        if ["whisper", "voxtral", "vibevoice"]
            .iter()
            .any(|w| name.contains(w))
        {
            return route(AUDIO_BACKEND, format!("name '{spec}' names a speech model"));
        }
        return route(
            "mlx_lm",
            format!(
                "'{spec}' is not downloaded, so its config.json cannot be read: text model assumed"
            ),
        );
    };
    let config: serde_json::Value = match std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(v) => v,
        None => {
            return route(
                "mlx_lm",
                "config.json missing or unreadable: text model assumed",
            );
        }
    };
    let model_type = config
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_lowercase();
    let audio = non_empty(config.get("audio_config"));
    let vision = non_empty(config.get("vision_config"));
    if model_type == "voxtral" {
        return route(AUDIO_BACKEND, "config.json model_type is \"voxtral\"");
    }
    if audio && vision {
        return route(
            "mlx_vlm",
            "config.json has audio_config and vision_config (omni model)",
        );
    }
    if model_type.contains("whisper") {
        return route(
            AUDIO_BACKEND,
            format!("config.json model_type \"{model_type}\" contains \"whisper\""),
        );
    }
    let extractor = std::fs::read_to_string(dir.join("preprocessor_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v.get("feature_extractor_type")
                .and_then(|x| x.as_str())
                .map(str::to_lowercase)
        })
        .unwrap_or_default();
    if extractor.contains("whisper") {
        return route(
            AUDIO_BACKEND,
            "preprocessor_config.json feature_extractor_type contains \"whisper\"",
        );
    }
    if ["whisper", "voxtral", "vibevoice"]
        .iter()
        .any(|w| name.contains(w))
    {
        return route(
            AUDIO_BACKEND,
            format!("folder name '{name}' names a speech model"),
        );
    }
    if audio {
        return route("mlx_vlm", "config.json has audio_config");
    }
    if vision {
        return route("mlx_vlm", "config.json has vision_config (vision model)");
    }
    route(
        "mlx_lm",
        if model_type.is_empty() {
            "config.json has no vision or audio config: text model".to_string()
        } else {
            format!(
                "config.json model_type \"{model_type}\" with no vision or audio config: text model"
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(
        name: &str,
        config: &str,
        pre: Option<&str>,
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.json"), config).unwrap();
        if let Some(p) = pre {
            std::fs::write(d.join("preprocessor_config.json"), p).unwrap();
        }
        (t, d)
    }

    fn backend(name: &str, config: &str, pre: Option<&str>) -> String {
        let (_t, d) = model(name, config, pre);
        auto(Some(&d), name).backend
    }

    #[test]
    fn mlx_knife_rules_in_order() {
        assert_eq!(backend("m", r#"{"model_type":"llama"}"#, None), "mlx_lm");
        assert_eq!(
            backend(
                "m",
                r#"{"model_type":"qwen2_vl","vision_config":{"depth":2}}"#,
                None
            ),
            "mlx_vlm"
        );
        // an empty vision_config does not make a vision model
        assert_eq!(
            backend("m", r#"{"model_type":"x","vision_config":{}}"#, None),
            "mlx_lm"
        );
        assert_eq!(
            backend(
                "m",
                r#"{"model_type":"voxtral","vision_config":{"a":1}}"#,
                None
            ),
            AUDIO_BACKEND
        );
        assert_eq!(
            backend(
                "m",
                r#"{"model_type":"gemma3n","audio_config":{"a":1},"vision_config":{"a":1}}"#,
                None
            ),
            "mlx_vlm"
        );
        assert_eq!(
            backend("m", r#"{"model_type":"whisper"}"#, None),
            AUDIO_BACKEND
        );
        assert_eq!(
            backend(
                "m",
                r#"{"model_type":"x"}"#,
                Some(r#"{"feature_extractor_type":"WhisperFeatureExtractor"}"#)
            ),
            AUDIO_BACKEND
        );
        assert_eq!(
            backend("my-vibevoice-1b", r#"{"model_type":"x"}"#, None),
            AUDIO_BACKEND
        );
        assert_eq!(
            backend("m", r#"{"model_type":"x","audio_config":{"a":1}}"#, None),
            "mlx_vlm"
        );
    }

    #[test]
    fn the_rule_is_reported() {
        let (_t, d) = model("m", r#"{"model_type":"llama"}"#, None);
        let r = auto(Some(&d), "m");
        assert!(r.rule.contains("\"llama\""), "{}", r.rule);
        let r = auto(None, "org/whisper-tiny");
        assert_eq!(r.backend, AUDIO_BACKEND);
        let r = auto(None, "org/some-llm");
        assert!(r.rule.contains("not downloaded"));
    }
}
