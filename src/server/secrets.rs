//! API keys of external endpoints: read from the environment variable a
//! backend definition names (`api_key_env`), held only in memory, and never
//! printed (`Debug` shows the variable names, not the keys).

use std::collections::BTreeMap;

use crate::backend::registry::Registry;
use crate::scenario::models::ResolvedModel;

/// Backend name → `(variable, key)`.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, (String, String)>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.values().map(|(var, _)| var.as_str()).collect();
        write!(f, "Secrets(from {})", names.join(", "))
    }
}

impl Secrets {
    /// The keys the backends of `models` need, from `env` (normally the
    /// process environment). A named variable that is unset or empty is an
    /// error naming it (never the key).
    pub fn read(
        models: &[ResolvedModel],
        reg: &Registry,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Secrets, String> {
        let mut out = BTreeMap::new();
        for m in models {
            let Some(def) = reg.get(&m.backend) else {
                continue;
            };
            if def.api_key_env.is_empty() || out.contains_key(&m.backend) {
                continue;
            }
            match env(&def.api_key_env) {
                Some(k) if !k.trim().is_empty() => {
                    out.insert(
                        m.backend.clone(),
                        (def.api_key_env.clone(), k.trim().to_string()),
                    );
                }
                _ => {
                    return Err(format!(
                        "backend `{}` reads its API key from ${}, which is not set\n  next: export {}=<key> (the key is never written to results or logs)",
                        m.backend, def.api_key_env, def.api_key_env
                    ));
                }
            }
        }
        Ok(Secrets(out))
    }

    /// The key of `backend`, when it has one.
    pub fn key(&self, backend: &str) -> Option<&str> {
        self.0.get(backend).map(|(_, k)| k.as_str())
    }

    /// Every key, for redaction.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(|(_, k)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(backend: &str) -> ResolvedModel {
        ResolvedModel::for_test(0, "m", backend)
    }

    fn registry() -> Registry {
        let t: toml::Table =
            toml::from_str("urls = [\"http://127.0.0.1:1\"]\napi_key_env = \"MY_KEY\"").unwrap();
        Registry::build(&[("s".into(), [("openai".to_string(), t)].into())]).unwrap()
    }

    #[test]
    fn reads_the_named_variable_and_never_shows_the_key() {
        let s = Secrets::read(&[model("openai")], &registry(), |v| {
            (v == "MY_KEY").then(|| "sk-secret".to_string())
        })
        .unwrap();
        assert_eq!(s.key("openai"), Some("sk-secret"));
        assert_eq!(s.key("mlx_lm"), None);
        let shown = format!("{s:?}");
        assert!(shown.contains("MY_KEY") && !shown.contains("sk-secret"));
        let err = Secrets::read(&[model("openai")], &registry(), |_| None).unwrap_err();
        assert!(err.contains("$MY_KEY"));
        assert!(Secrets::read(&[model("mlx_lm")], &registry(), |_| None).is_ok());
    }
}
