//! The `mlx_lm` backend: which Python runs it, what the installed
//! `mlx_lm.server` supports (its `--help`, so a sweep never records a flag
//! value that did not reach the server), and the exact command line of each
//! instance.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::scenario::Scenario;
use crate::scenario::expand::ServerConfig;
use crate::scenario::server_args::{flag_names, parse_server_args, strip_flag};

/// Where `scripts/setup.sh` puts mlxrun's own Python environment.
pub const DEFAULT_VENV_PYTHON: &str = ".mlxrun/venv/bin/python";

/// What the installed backend is and accepts.
#[derive(Debug, Clone, Default)]
pub struct BackendInfo {
    pub python: String,
    pub mlx_lm_version: String,
    pub mlx_version: String,
    /// Every `--flag` the server's `--help` lists.
    pub flags: BTreeSet<String>,
}

/// The interpreter to use: `backend.python`, else mlxrun's own venv when it
/// exists, else `python3`.
pub fn python_for(s: &Scenario) -> String {
    if !s.backend.python.trim().is_empty() {
        return s.backend.python.clone();
    }
    if Path::new(DEFAULT_VENV_PYTHON).is_file() {
        return DEFAULT_VENV_PYTHON.to_string();
    }
    "python3".to_string()
}

/// The user's extra server arguments: `backend.args`, then `backend.server_args`.
pub fn user_args(s: &Scenario) -> Vec<String> {
    let mut args = s.backend.args.clone();
    args.extend(parse_server_args(&s.backend.server_args).unwrap_or_default());
    args
}

/// The flags the matrix owns for this scenario (stripped from user args).
pub fn matrix_flags(s: &Scenario) -> Vec<String> {
    let mut f = Vec::new();
    if s.matrix.decode_concurrency.is_some() {
        f.push("--decode-concurrency".to_string());
    }
    if s.matrix.prompt_concurrency.is_some() {
        f.push("--prompt-concurrency".to_string());
    }
    f.extend(
        s.matrix
            .server_flags
            .keys()
            .map(|k| crate::scenario::server_args::flag_for_key(k)),
    );
    f
}

/// User flags that the matrix replaces (for a warning).
pub fn replaced_user_flags(s: &Scenario) -> Vec<String> {
    let user = flag_names(&user_args(s));
    matrix_flags(s)
        .into_iter()
        .filter(|f| user.contains(f))
        .collect()
}

/// argv of one instance of `cfg` on `port`.
pub fn instance_argv(
    s: &Scenario,
    python: &str,
    model: &str,
    cfg: &ServerConfig,
    port: u16,
) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        python.into(),
        "-m".into(),
        "mlx_lm".into(),
        "server".into(),
        "--model".into(),
        model.into(),
        "--host".into(),
        s.backend.host.clone(),
        "--port".into(),
        port.to_string(),
    ];
    let mut extra = user_args(s);
    for flag in matrix_flags(s) {
        extra = strip_flag(&extra, &flag).0;
    }
    argv.extend(extra);
    if s.matrix.decode_concurrency.is_some()
        && let Some(d) = cfg.decode_concurrency
    {
        argv.extend(["--decode-concurrency".to_string(), d.to_string()]);
    }
    if s.matrix.prompt_concurrency.is_some()
        && let Some(p) = cfg.prompt_concurrency
    {
        argv.extend(["--prompt-concurrency".to_string(), p.to_string()]);
    }
    for (flag, value) in &cfg.flags {
        match value.as_str() {
            "true" => argv.push(flag.clone()),
            "false" => {}
            v => argv.extend([flag.clone(), v.to_string()]),
        }
    }
    argv
}

/// Ask `python` for the mlx-lm version and the server's flags.
pub async fn probe(python: &str) -> Result<BackendInfo, String> {
    let hint = format!(
        "install it with scripts/setup.sh (makes {DEFAULT_VENV_PYTHON}), or `{python} -m pip install mlx-lm` (Linux: \"mlx[cpu]\" mlx-lm), or set backend.python"
    );
    let versions = run_capture(
        python,
        &[
            "-c",
            "import importlib.metadata as m\nfor p in ('mlx-lm','mlx'):\n    try: print(m.version(p))\n    except Exception: print('')",
        ],
    )
    .await
    .map_err(|e| format!("cannot run Python '{python}': {e}; {hint}"))?;
    let mut lines = versions.lines();
    let mlx_lm_version = lines.next().unwrap_or_default().trim().to_string();
    let mlx_version = lines.next().unwrap_or_default().trim().to_string();
    if mlx_lm_version.is_empty() {
        return Err(format!("mlx-lm is not installed for '{python}'; {hint}"));
    }
    let help = run_capture(python, &["-m", "mlx_lm", "server", "--help"])
        .await
        .map_err(|e| format!("'{python} -m mlx_lm server --help' failed: {e}; {hint}"))?;
    Ok(BackendInfo {
        python: python.to_string(),
        mlx_lm_version,
        mlx_version,
        flags: help_flags(&help),
    })
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

/// Flags in `argv` the installed server does not accept.
pub fn unsupported_flags(info: &BackendInfo, argv: &[String]) -> Vec<String> {
    let mut bad: Vec<String> = flag_names(argv)
        .into_iter()
        .filter(|f| !info.flags.contains(f))
        .collect();
    bad.dedup();
    bad
}

async fn run_capture(program: &str, args: &[&str]) -> Result<String, String> {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "timed out after 120 s".to_string())?
    .map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or_default().to_string();
        return Err(format!("exit {}: {last}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::Axis;

    fn cfg() -> ServerConfig {
        ServerConfig {
            index: 0,
            model: "m".into(),
            instances: 1,
            decode_concurrency: Some(16),
            prompt_concurrency: Some(4),
            flags: vec![
                ("--prefill-step-size".into(), "512".into()),
                ("--trust-remote-code".into(), "true".into()),
            ],
        }
    }

    #[test]
    fn matrix_values_replace_user_flags_never_twice() {
        let mut s = Scenario::default();
        s.matrix.decode_concurrency = Some(Axis(vec![16]));
        s.matrix.prompt_concurrency = Some(Axis(vec![4]));
        for key in ["prefill_step_size", "trust_remote_code"] {
            s.matrix.server_flags.insert(key.into(), Axis(vec![]));
        }
        s.backend.server_args = "--decode-concurrency=99,--temp=0.5,--prefill-step-size=1".into();
        let argv = instance_argv(&s, "py", "/m", &cfg(), 9001);
        assert_eq!(
            argv.join(" "),
            "py -m mlx_lm server --model /m --host 127.0.0.1 --port 9001 --temp=0.5 --decode-concurrency 16 --prompt-concurrency 4 --prefill-step-size 512 --trust-remote-code"
        );
        assert_eq!(
            replaced_user_flags(&s),
            vec![
                "--decode-concurrency".to_string(),
                "--prefill-step-size".to_string()
            ]
        );
    }

    #[test]
    fn user_flag_kept_when_not_swept() {
        let mut s = Scenario::default();
        s.backend.args = vec!["--decode-concurrency".into(), "12".into()];
        let mut c = cfg();
        c.flags.clear();
        c.decode_concurrency = Some(12);
        c.prompt_concurrency = None;
        let argv = instance_argv(&s, "py", "/m", &c, 9000);
        assert_eq!(
            argv.iter().filter(|a| *a == "--decode-concurrency").count(),
            1
        );
        assert!(argv.ends_with(&["--decode-concurrency".to_string(), "12".to_string()]));
    }

    #[test]
    fn help_parsing_and_unsupported_flags() {
        let help = "usage: x [-h] [--model MODEL] [--decode-concurrency DECODE_CONCURRENCY]\n  --log-level {DEBUG,INFO}\n  --host HOST  Host (default: 127.0.0.1)";
        let info = BackendInfo {
            flags: help_flags(help),
            ..Default::default()
        };
        assert!(info.flags.contains("--decode-concurrency"));
        assert!(info.flags.contains("--log-level"));
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
    }
}
