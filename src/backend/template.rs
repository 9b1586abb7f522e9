//! The minijinja templates of backend definitions: one argv element (or the
//! request's model name) each, rendered with strict undefined variables so a
//! typo is an error, not an empty argument.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value};

/// Template variables: name → value.
pub type Vars = BTreeMap<String, Value>;

fn env<'a>() -> Environment<'a> {
    let mut e = Environment::new();
    e.set_undefined_behavior(UndefinedBehavior::Strict);
    e
}

/// Whether `template` compiles.
pub fn check(template: &str) -> Result<(), String> {
    env()
        .template_from_str(template)
        .map(|_| ())
        .map_err(|e| format!("template does not compile: {e}"))
}

/// Render `template` with `vars`.
pub fn render(template: &str, vars: &Vars) -> Result<String, String> {
    let e = env();
    let t = e
        .template_from_str(template)
        .map_err(|err| format!("template '{template}' does not compile: {err}"))?;
    t.render(Value::from_pairs(
        vars.iter().map(|(k, v)| (k.as_str(), v.clone())),
    ))
    .map_err(|err| format!("template '{template}': {err}"))
}

/// A template variable from text: whole numbers become numbers (so
/// templates can compute with them), anything else stays text.
pub fn value_of(text: &str) -> Value {
    match text.parse::<i64>() {
        Ok(i) => Value::from(i),
        Err(_) => match text {
            "true" => Value::from(true),
            "false" => Value::from(false),
            _ => Value::from(text),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_numbers_and_refuses_unknown_names() {
        let mut v = Vars::new();
        v.insert("ctx_per_slot".into(), value_of("512"));
        v.insert("parallel".into(), value_of("4"));
        v.insert("none_axis".into(), Value::from(()));
        assert_eq!(
            render("{{ ctx_per_slot * (parallel or 1) }}", &v).unwrap(),
            "2048"
        );
        assert_eq!(
            render("{{ ctx_per_slot * (none_axis or 1) }}", &v).unwrap(),
            "512"
        );
        assert!(
            render("{{ parralel }}", &v)
                .unwrap_err()
                .contains("parralel")
        );
        assert!(check("{{ x").is_err());
        assert!(check("plain").is_ok());
    }
}
