//! The launcher's choices (scenario, model, tokens, environment, server
//! arguments, round-robin settings) and what they become: `--set`
//! arguments, environment overrides, the scenario layers and the
//! equivalent command line. Pure: no terminal, no files but the scenario.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::scenario::error::did_you_mean;
use crate::scenario::layers::{ENV_PREFIX, predecessor_var_names};
use crate::scenario::model_path::SearchDirs;
use crate::scenario::{Origin, Overrides, Problem, Resolved, ScenarioError};

/// Everything the user chose; remembered in `.mlxrun/launcher.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Choices {
    /// The scenario file, as found under `./scenarios/`.
    pub scenario: Option<PathBuf>,
    /// `model.path`; `None` keeps the scenario's.
    pub model: Option<String>,
    /// `matrix.max_tokens`; empty keeps the scenario's.
    pub max_tokens: Vec<u64>,
    /// `matrix.concurrency`; empty keeps the scenario's.
    pub concurrency: Vec<u64>,
    /// `workload.requests`; `None` keeps the scenario's.
    pub requests: Option<u64>,
    /// Environment overrides as typed: `KEY=VALUE` pairs, shell-quoted.
    pub env: String,
    /// `backend.server_args` (MLX_SERVER_ARGS semantics); empty keeps the scenario's.
    pub server_args: String,
    /// The round-robin servers' settings.
    pub rr: RoundRobin,
}

/// Settings of the round-robin submenu (`mlxrun serve`); `None`/empty keeps the scenario's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoundRobin {
    pub instances: Option<u64>,
    pub base_port: Option<u16>,
    pub nginx_port: Option<u16>,
    pub host: String,
    pub server_args: String,
}

impl Choices {
    /// The `--set` arguments of a run.
    pub fn sets(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(m) = &self.model {
            v.push(format!("model.path={}", text_value(m)));
        }
        if !self.max_tokens.is_empty() {
            v.push(format!("matrix.max_tokens={}", join(&self.max_tokens)));
        }
        if !self.concurrency.is_empty() {
            v.push(format!("matrix.concurrency={}", join(&self.concurrency)));
        }
        if let Some(r) = self.requests {
            v.push(format!("workload.requests={r}"));
        }
        if !self.server_args.trim().is_empty() {
            v.push(format!(
                "backend.server_args={}",
                text_value(self.server_args.trim())
            ));
        }
        v
    }

    /// The `--set` arguments of `mlxrun serve` (the run's, then the round-robin settings).
    pub fn serve_sets(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sets()
            .into_iter()
            .filter(|s| !s.starts_with("backend.server_args="))
            .collect();
        let rr = &self.rr;
        if let Some(n) = rr.instances {
            v.push(format!("matrix.instances={n}"));
        }
        if let Some(p) = rr.base_port {
            v.push(format!("backend.base_port={p}"));
        }
        if let Some(p) = rr.nginx_port {
            v.push(format!("router.port={p}"));
        }
        if !rr.host.trim().is_empty() {
            v.push(format!("backend.host={}", text_value(rr.host.trim())));
        }
        let args = if rr.server_args.trim().is_empty() {
            self.server_args.trim()
        } else {
            rr.server_args.trim()
        };
        if !args.is_empty() {
            v.push(format!("backend.server_args={}", text_value(args)));
        }
        v
    }

    /// The environment overrides, checked ([`parse_env`]).
    pub fn env_pairs(&self) -> Result<Vec<(String, String)>, ScenarioError> {
        parse_env(&self.env)
    }

    /// The layers above the scenario file: this process's environment plus
    /// the overrides, and the `--set` arguments.
    pub fn overrides(&self) -> Result<Overrides, ScenarioError> {
        let pairs = self.env_pairs()?;
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| !pairs.iter().any(|(p, _)| p == k))
            .collect();
        env.extend(pairs);
        Ok(Overrides {
            env,
            sets: self.sets(),
        })
    }

    /// Load the chosen scenario with every choice, relative paths (the
    /// scenario's, the model's) taken from `cwd`; the loader's own errors.
    pub fn load(&self, cwd: &Path) -> Result<Resolved, String> {
        let Some(path) = &self.scenario else {
            return Err("no scenario chosen\n  next: pick one under Scenario".into());
        };
        let overrides = self.overrides().map_err(|e| e.to_string())?;
        load_in(path, &overrides, cwd).map_err(|e| e.to_string())
    }

    /// `KEY=VALUE mlxrun run SCENARIO --set ...`, shell-quoted, to repeat a run in a script.
    pub fn command_line(&self) -> String {
        let mut words = Vec::new();
        for (k, v) in self.env_pairs().unwrap_or_default() {
            words.push(format!("{k}={}", quote(&v)));
        }
        words.push("mlxrun".into());
        words.push("run".into());
        words.push(quote(&self.scenario_text()));
        for s in self.sets() {
            words.push("--set".into());
            words.push(quote(&s));
        }
        words.join(" ")
    }

    /// `KEY=VALUE mlxrun serve VERB SCENARIO --set ...`, shell-quoted.
    pub fn serve_command_line(&self, verb: &str) -> String {
        let mut words = Vec::new();
        for (k, v) in self.env_pairs().unwrap_or_default() {
            words.push(format!("{k}={}", quote(&v)));
        }
        words.extend(["mlxrun", "serve", verb].map(String::from));
        words.push(quote(&self.scenario_text()));
        for s in self.serve_sets() {
            words.push("--set".into());
            words.push(quote(&s));
        }
        words.join(" ")
    }

    fn scenario_text(&self) -> String {
        self.scenario
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
}

/// [`crate::scenario::load`] with relative paths taken from `cwd` (which
/// the launcher's tests set; in use it is the current directory).
pub fn load_in(path: &Path, overrides: &Overrides, cwd: &Path) -> Result<Resolved, ScenarioError> {
    let text = std::fs::read_to_string(cwd.join(path)).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut dirs = SearchDirs::from_env();
    dirs.cwd = cwd.to_path_buf();
    crate::scenario::load_str(path, &text, overrides, &dirs)
}

/// Shell-quote one word for a POSIX shell: as is when every character is
/// safe unquoted, else in single quotes (`'` written as `'\''`).
pub fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn join(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// A text value for `--set KEY=VALUE`: as is, unless it would read as
/// another TOML value (a number, `true`, a quoted string), then quoted.
pub fn text_value(s: &str) -> String {
    if toml::from_str::<toml::Table>(&format!("v = {s}")).is_ok() {
        toml::Value::String(s.to_string()).to_string()
    } else {
        s.to_string()
    }
}

/// Parse `64` or `64,128, 256`: every value a number > 0; empty means none.
pub fn parse_positive_list(text: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        match part.parse::<u64>() {
            Ok(n) if n > 0 => out.push(n),
            _ => {
                return Err(format!(
                    "{part:?} is not a number > 0; write one value or a comma list, e.g. 64,128"
                ));
            }
        }
    }
    Ok(out)
}

/// Parse one number > 0; empty means none.
pub fn parse_positive(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(format!("{t:?} is not a number > 0")),
    }
}

/// Parse a port (1-65535); empty means none.
pub fn parse_port(text: &str) -> Result<Option<u16>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<u16>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(format!("{t:?} is not a port (1-65535)")),
    }
}

/// Parse `KEY=VALUE` pairs, shell-quoted. Every key must be a variable the
/// scenario layers read (an `MLX_*` name of mlx-knife's benchmark scripts,
/// which `predecessor_var_names` lists, or `MLXRUN_SECTION__FIELD`);
/// their values are checked when the scenario loads.
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>, ScenarioError> {
    let problem = |var: &str, field: &str, message: String, hint: String| Problem {
        field: field.to_string(),
        origin: Origin::Env {
            var: var.to_string(),
        },
        message,
        hint,
    };
    let Some(words) = shlex::split(text) else {
        return Err(ScenarioError::Invalid(vec![problem(
            "(overrides)",
            "-",
            format!("unbalanced quotes in {text:?}"),
            "close the quote, e.g. MLX_PROMPT='Hello there'".into(),
        )]));
    };
    let mut pairs = Vec::new();
    let mut problems = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            problems.push(problem(
                &w,
                "-",
                "expected KEY=VALUE".into(),
                "write e.g. MLX_CONCURRENCY=64 MLX_NUM_REQUESTS=64".into(),
            ));
            continue;
        };
        let predecessor_name = predecessor_var_names().any(|n| n == k);
        if !predecessor_name && !k.starts_with(ENV_PREFIX) {
            let hint = match did_you_mean(k, predecessor_var_names()) {
                Some(s) => format!("did you mean {s}? "),
                None => String::new(),
            };
            // "a seed name" in the hint: one of those MLX_* names (the
            // text is what users see and stays as it is)
            problems.push(problem(
                k,
                "-",
                "not a variable mlxrun reads".into(),
                format!(
                    "{hint}use a seed name (MLX_MAX_TOKENS, MLX_CONCURRENCY, ...) or {ENV_PREFIX}SECTION__FIELD"
                ),
            ));
            continue;
        }
        pairs.push((k.to_string(), v.to_string()));
    }
    if problems.is_empty() {
        Ok(pairs)
    } else {
        Err(ScenarioError::Invalid(problems))
    }
}

/// Shorten `text` to `max` characters, keeping its end (`…` + the last part).
pub fn trim_start(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max || max < 2 {
        return text.to_string();
    }
    let tail: String = text.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}

/// A path as the user would type it: relative to `cwd` when under it.
pub fn display_path(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_become_sets_and_a_repeatable_command_line() {
        let c = Choices {
            scenario: Some("scenarios/my run.toml".into()),
            model: Some("models/tiny llama".into()),
            max_tokens: vec![16, 32],
            concurrency: vec![2],
            requests: Some(4),
            env: "MLX_PROMPT='Hi there' MLX_NUM_REQUESTS=8".into(),
            server_args: "--temp 0.5".into(),
            ..Choices::default()
        };
        assert_eq!(
            c.sets(),
            [
                "model.path=models/tiny llama",
                "matrix.max_tokens=16,32",
                "matrix.concurrency=2",
                "workload.requests=4",
                "backend.server_args=--temp 0.5",
            ]
        );
        assert_eq!(
            c.command_line(),
            "MLX_PROMPT='Hi there' MLX_NUM_REQUESTS=8 mlxrun run 'scenarios/my run.toml' \
             --set 'model.path=models/tiny llama' --set matrix.max_tokens=16,32 \
             --set matrix.concurrency=2 --set workload.requests=4 \
             --set 'backend.server_args=--temp 0.5'"
        );
        // the command line splits back into the same words
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(shlex::split(&quote("it's")).unwrap(), ["it's"]);
        assert_eq!(quote(""), "''");
        let words = shlex::split(&c.command_line()).unwrap();
        assert_eq!(words[0], "MLX_PROMPT=Hi there");
        assert_eq!(words[4], "scenarios/my run.toml");
    }

    #[test]
    fn a_text_that_reads_as_toml_is_quoted() {
        assert_eq!(text_value("mlx-community/Foo"), "mlx-community/Foo");
        assert_eq!(text_value("123"), "\"123\"");
        assert_eq!(text_value("true"), "\"true\"");
        assert_eq!(text_value("\"a\""), "'\"a\"'");
    }

    #[test]
    fn round_robin_settings_are_sets_of_serve() {
        let mut c = Choices {
            scenario: Some("scenarios/rr.toml".into()),
            server_args: "--temp 0.1".into(),
            ..Choices::default()
        };
        c.rr = RoundRobin {
            instances: Some(3),
            base_port: Some(9300),
            nginx_port: Some(9390),
            host: "127.0.0.1".into(),
            server_args: String::new(),
        };
        assert_eq!(
            c.serve_sets(),
            [
                "matrix.instances=3",
                "backend.base_port=9300",
                "router.port=9390",
                "backend.host=127.0.0.1",
                "backend.server_args=--temp 0.1",
            ]
        );
        c.rr.server_args = "--max-tokens 8".into();
        assert!(
            c.serve_sets()
                .contains(&"backend.server_args=--max-tokens 8".to_string())
        );
        assert!(
            c.serve_command_line("up")
                .starts_with("mlxrun serve up scenarios/rr.toml --set matrix.instances=3")
        );
    }

    #[test]
    fn numbers_are_checked_as_typed() {
        assert_eq!(parse_positive_list("64"), Ok(vec![64]));
        assert_eq!(parse_positive_list(" 1, 8 ,64,"), Ok(vec![1, 8, 64]));
        assert_eq!(parse_positive_list(""), Ok(vec![]));
        assert!(parse_positive_list("8,0").unwrap_err().contains("\"0\""));
        assert!(parse_positive_list("8,x").unwrap_err().contains("\"x\""));
        assert_eq!(parse_positive("  "), Ok(None));
        assert!(parse_positive("-3").is_err());
        assert_eq!(parse_port("9000"), Ok(Some(9000)));
        assert!(parse_port("70000").is_err());
        assert!(parse_port("0").is_err());
    }

    #[test]
    fn env_overrides_are_shell_quoted_pairs_of_known_variables() {
        assert_eq!(
            parse_env("MLX_CONCURRENCY=64 MLXRUN_WORKLOAD__PROMPT='a b'").unwrap(),
            [
                ("MLX_CONCURRENCY".to_string(), "64".to_string()),
                ("MLXRUN_WORKLOAD__PROMPT".to_string(), "a b".to_string())
            ]
        );
        assert!(parse_env("").unwrap().is_empty());
        let e = parse_env("MLX_CONCURENCY=64").unwrap_err().to_string();
        assert!(
            e.starts_with("env MLX_CONCURENCY: -: not a variable mlxrun reads"),
            "{e}"
        );
        assert!(e.contains("did you mean MLX_CONCURRENCY?"), "{e}");
        assert!(
            parse_env("MLX_PROMPT='open")
                .unwrap_err()
                .to_string()
                .contains("unbalanced")
        );
        assert!(
            parse_env("JUSTAWORD")
                .unwrap_err()
                .to_string()
                .contains("KEY=VALUE")
        );
    }

    #[test]
    fn long_texts_keep_their_end() {
        assert_eq!(trim_start("abc", 5), "abc");
        assert_eq!(trim_start("/very/long/path/model", 8), "…h/model");
        assert_eq!(
            display_path(Path::new("/w/models/m"), Path::new("/w")),
            "models/m"
        );
        assert_eq!(display_path(Path::new("/x/m"), Path::new("/w")), "/x/m");
    }
}
