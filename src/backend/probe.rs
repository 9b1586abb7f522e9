//! What the installed backend is and accepts, found before anything starts:
//! its version (the definition's `version` command) and the flags its
//! `--help` lists, so a sweep never records a flag value that did not reach
//! the server.

use std::collections::BTreeSet;
use std::time::Duration;

use super::template::{self, Vars};
use crate::backend::flags::flag_names;
use crate::spec::backend::BackendDef;

/// What the installed backend is and accepts.
#[derive(Debug, Clone, Default)]
pub struct BackendInfo {
    /// The version line (e.g. `mlx-lm 0.32.2 mlx 0.32.4`); empty when unknown.
    pub version: String,
    /// Every `--flag` the server's `--help` lists; `None` = not checked.
    pub flags: Option<BTreeSet<String>>,
}

/// Run the definition's version and help commands with `vars`.
pub async fn probe(
    name: &str,
    def: &BackendDef,
    vars: &Vars,
    check_flags: bool,
) -> Result<BackendInfo, String> {
    probe_with(name, def, vars, check_flags, &|argv: &[String]| {
        argv.to_vec()
    })
    .await
}

/// [`probe`], each command line passed through `wrap` first (e.g. to run
/// it on another host over ssh).
pub async fn probe_with(
    name: &str,
    def: &BackendDef,
    vars: &Vars,
    check_flags: bool,
    wrap: &(dyn Fn(&[String]) -> Vec<String> + Sync),
) -> Result<BackendInfo, String> {
    let hint = template::render(&def.install_hint, vars).unwrap_or_default();
    let hint = if hint.is_empty() {
        String::new()
    } else {
        format!("\n  next: {hint}")
    };
    let render_all = |list: &[String]| -> Result<Vec<String>, String> {
        list.iter().map(|t| template::render(t, vars)).collect()
    };
    let mut info = BackendInfo::default();
    if !def.version.is_empty() {
        let argv = render_all(&def.version)?;
        let out = run_capture(&wrap(&argv)).await.map_err(|e| {
            format!(
                "backend `{name}` is not usable: `{}` failed: {e}{hint}",
                argv.join(" ")
            )
        })?;
        info.version = out
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
    }
    if check_flags && !def.help.is_empty() {
        let argv = render_all(&def.help)?;
        let out = run_capture(&wrap(&argv))
            .await
            .map_err(|e| format!("backend `{name}`: `{}` failed: {e}{hint}", argv.join(" ")))?;
        info.flags = Some(help_flags(&out));
    }
    Ok(info)
}

/// Every `--flag` mentioned in a `--help` text.
pub fn help_flags(help: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for word in
        help.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ',' || c == '{')
    {
        if let Some(rest) = word.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(format!("--{name}"));
            }
        }
    }
    out
}

/// Flags in `argv` the installed server does not accept (none when its
/// flags were not read).
pub fn unsupported_flags(info: &BackendInfo, argv: &[String]) -> Vec<String> {
    let Some(flags) = &info.flags else {
        return Vec::new();
    };
    let mut bad: Vec<String> = flag_names(argv)
        .into_iter()
        .filter(|f| !flags.contains(f))
        .collect();
    bad.dedup();
    bad
}

/// Run `argv` (no shell) under a [`crate::supervisor`], stdout on success.
async fn run_capture(argv: &[String]) -> Result<String, String> {
    let out = crate::supervisor::spawn::capture_output(argv, Duration::from_secs(120))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "timed out after 120 s".to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or_default().to_string();
        return Err(format!("exit {}: {last}", out.status));
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.trim().is_empty() {
        // some programs print --version/--help on stderr
        text = String::from_utf8_lossy(&out.stderr).into_owned();
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_parsing_and_unsupported_flags() {
        let help = "usage: x [-h] [--model MODEL] [--decode-concurrency DECODE_CONCURRENCY]\n  --log-level {DEBUG,INFO}\n  --host HOST  Host (default: 127.0.0.1)";
        let info = BackendInfo {
            flags: Some(help_flags(help)),
            ..Default::default()
        };
        let flags = info.flags.as_ref().unwrap();
        assert!(flags.contains("--decode-concurrency"));
        assert!(flags.contains("--log-level"));
        let argv: Vec<String> = [
            "py",
            "--model",
            "m",
            "--decode-concurrency",
            "8",
            "--prompt-concurrency=2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            unsupported_flags(&info, &argv),
            vec!["--prompt-concurrency".to_string()]
        );
        assert!(unsupported_flags(&BackendInfo::default(), &argv).is_empty());
    }

    #[tokio::test]
    async fn a_missing_program_names_the_install_hint() {
        let def = BackendDef {
            launch: vec!["x".into()],
            version: vec!["/definitely/not/here".into(), "--version".into()],
            install_hint: "install {{ bin }}".into(),
            ..Default::default()
        };
        let mut vars = Vars::new();
        vars.insert("bin".into(), minijinja::Value::from("thing"));
        let err = probe("thing", &def, &vars, true).await.unwrap_err();
        assert!(err.contains("backend `thing` is not usable"), "{err}");
        assert!(err.contains("next: install thing"), "{err}");
    }
}
