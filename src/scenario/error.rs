//! Scenario errors and where a value came from. Every message names the
//! place (file and line, environment variable, or `--set` argument), the
//! field, what is wrong, and the next step.

use std::fmt;
use std::path::PathBuf;

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built-in default.
    Default,
    /// The scenario file, at a 1-based line when known.
    File { path: PathBuf, line: Option<usize> },
    /// An environment variable.
    Env { var: String },
    /// A `--set key=value` argument.
    Set { arg: String },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File {
                path,
                line: Some(l),
            } => write!(f, "{}:{l}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Env { var } => write!(f, "env {var}"),
            Origin::Set { arg } => write!(f, "--set {arg}"),
        }
    }
}

/// One thing wrong with a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted field path, e.g. `matrix.concurrency`.
    pub field: String,
    pub origin: Origin,
    pub message: String,
    /// The next step for the user.
    pub hint: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.field, self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  next: {}", self.hint)?;
        }
        Ok(())
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(
        "cannot read scenario {}: {source}\n  next: check the path; `mlxrun validate scenarios/*.toml` lists the valid ones",
        path.display()
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the scenario format.
    #[error("{0}")]
    Parse(Box<ParseDetail>),
    /// Values that parse but make no sense, from any layer.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

/// Where and why a scenario file did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDetail {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    /// Dotted path of the key at fault, when known.
    pub field: String,
    pub message: String,
    /// The offending line with a caret.
    pub snippet: String,
    pub hint: String,
}

impl fmt::Display for ParseDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}{}\n{}  next: {}",
            self.path.display(),
            self.line,
            self.col,
            field_prefix(&self.field),
            self.message,
            self.snippet,
            self.hint
        )
    }
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.to_string());
    }
    out
}

/// The closest of `candidates` to `name`, when close enough to suggest.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// One finding: field path, what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub field: String,
    pub message: String,
    pub hint: String,
}

/// A [`Finding`] for `field`.
pub(crate) fn finding(field: &str, message: impl Into<String>, hint: impl Into<String>) -> Finding {
    Finding {
        field: field.to_string(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// "the axis has no values" for `field` when `empty`.
pub(crate) fn no_values(out: &mut Vec<Finding>, field: &str, empty: bool, hint: &str) {
    if empty {
        out.push(finding(field, "the axis has no values", hint));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["concurrency", "instances", "max_tokens"];
        assert_eq!(did_you_mean("concurency", names), Some("concurrency"));
        assert_eq!(did_you_mean("max_token", names), Some("max_tokens"));
        assert_eq!(did_you_mean("zzz", names), None);
    }

    #[test]
    fn problem_names_place_field_and_next_step() {
        let p = Problem {
            field: "matrix.concurrency".into(),
            origin: Origin::File {
                path: "s.toml".into(),
                line: Some(4),
            },
            message: "0 is not allowed".into(),
            hint: "use values of 1 or more".into(),
        };
        assert_eq!(
            p.to_string(),
            "s.toml:4: matrix.concurrency: 0 is not allowed\n  next: use values of 1 or more"
        );
    }
}
