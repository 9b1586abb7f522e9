//! Extra server arguments: the predecessor's (mlx-knife's benchmark
//! scripts') `MLX_SERVER_ARGS` string semantics
//! (comma-separated when the string holds a comma, shell words otherwise),
//! finding a flag in `--flag value` or `--flag=value` form, and removing the
//! flags the matrix owns so no flag is ever passed twice.

/// Split a `MLX_SERVER_ARGS`-style string into argv elements.
///
/// With a comma, every comma-separated piece (trimmed, empties dropped) is one
/// element, so paths with spaces survive: `--chat-template=/a b/t.txt,--temp=0.5`.
/// Without one, the string is split like a shell would (quotes honoured).
pub fn parse_server_args(raw: &str) -> Result<Vec<String>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    if raw.contains(',') {
        return Ok(raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect());
    }
    shlex::split(raw).ok_or_else(|| format!("unbalanced quotes in {raw:?}"))
}

/// Whether `arg` is `flag` itself or `flag=…`.
fn is_flag(arg: &str, flag: &str) -> bool {
    arg == flag || arg.strip_prefix(flag).is_some_and(|r| r.starts_with('='))
}

/// The value given to `flag` in `args` (last one wins, as argparse does).
/// `Some("")` for a flag present without a value.
pub fn find_flag(args: &[String], flag: &str) -> Option<String> {
    let mut found = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == flag {
            match args.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    found = Some(v.clone());
                    i += 1;
                }
                _ => found = Some(String::new()),
            }
        } else if is_flag(a, flag) {
            found = Some(a[flag.len() + 1..].to_string());
        }
        i += 1;
    }
    found
}

/// `args` without any occurrence of `flag` (and the value after a bare
/// `--flag`). Returns whether anything was removed.
pub fn strip_flag(args: &[String], flag: &str) -> (Vec<String>, bool) {
    let mut out = Vec::with_capacity(args.len());
    let mut removed = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == flag {
            removed = true;
            if args.get(i + 1).is_some_and(|v| !v.starts_with("--")) {
                i += 1;
            }
        } else if is_flag(a, flag) {
            removed = true;
        } else {
            out.push(a.clone());
        }
        i += 1;
    }
    (out, removed)
}

/// Every `--flag` name in `args` (without values), in order.
pub fn flag_names(args: &[String]) -> Vec<String> {
    args.iter()
        .filter(|a| a.starts_with("--") && a.len() > 2)
        .map(|a| a.split('=').next().unwrap_or(a).to_string())
        .collect()
}

/// The flag an axis key stands for: `prefill_step_size` → `--prefill-step-size`.
pub fn flag_for_key(key: &str) -> String {
    format!("--{}", key.trim_start_matches('-').replace('_', "-"))
}

/// Flags the launch templates set themselves (`--model`, `--port`, …).
pub fn launch_flags(def: &crate::spec::backend::BackendDef) -> Vec<String> {
    def.launch
        .iter()
        .filter(|a| a.starts_with('-') && !a.contains("{{"))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn comma_form_keeps_spaces_in_paths() {
        assert_eq!(
            parse_server_args(
                "--max-tokens=256, --temp=0.5,--chat-template=/path with spaces/t.txt,"
            )
            .unwrap(),
            v(&[
                "--max-tokens=256",
                "--temp=0.5",
                "--chat-template=/path with spaces/t.txt"
            ])
        );
    }

    #[test]
    fn shell_form_is_the_fallback() {
        assert_eq!(
            parse_server_args("--temp 0.5 --chat-template '/a b/t.txt'").unwrap(),
            v(&["--temp", "0.5", "--chat-template", "/a b/t.txt"])
        );
        assert!(parse_server_args("--x 'open").is_err());
        assert!(parse_server_args("  ").unwrap().is_empty());
    }

    #[test]
    fn finds_flags_in_both_forms() {
        let a = v(&[
            "--temp",
            "0.5",
            "--decode-concurrency=16",
            "--trust-remote-code",
        ]);
        assert_eq!(find_flag(&a, "--decode-concurrency").as_deref(), Some("16"));
        assert_eq!(find_flag(&a, "--temp").as_deref(), Some("0.5"));
        assert_eq!(find_flag(&a, "--trust-remote-code").as_deref(), Some(""));
        assert_eq!(find_flag(&a, "--decode"), None, "a prefix is not the flag");
    }

    #[test]
    fn strips_both_forms_and_keeps_the_rest() {
        let a = v(&[
            "--decode-concurrency",
            "8",
            "--temp=0.2",
            "--decode-concurrency=16",
            "--x",
        ]);
        let (out, removed) = strip_flag(&a, "--decode-concurrency");
        assert!(removed);
        assert_eq!(out, v(&["--temp=0.2", "--x"]));
        let (same, removed) = strip_flag(&out, "--prompt-concurrency");
        assert!(!removed);
        assert_eq!(same, out);
    }

    #[test]
    fn names_and_keys() {
        assert_eq!(
            flag_names(&v(&["--a=1", "x", "--b", "2", "-c"])),
            v(&["--a", "--b"])
        );
        assert_eq!(flag_for_key("prefill_step_size"), "--prefill-step-size");
    }
}
