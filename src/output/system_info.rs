//! The `system` object of report records: platform, architecture, RAM, the
//! hardware profile, and the versions of the Python packages the backends
//! report (mlx, mlx-lm…), read from their version lines.

use std::collections::BTreeMap;

use serde_json::json;

/// `name version` pairs of a backend version line: `mlx-lm 0.32.2 mlx
/// 0.32.4` → {mlx-lm: 0.32.2, mlx: 0.32.4}. Words not followed by a version
/// are skipped.
pub fn packages(line: &str) -> BTreeMap<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = BTreeMap::new();
    for w in words.windows(2) {
        let (name, version) = (w[0], w[1].trim_start_matches('v'));
        let looks_like_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        let looks_like_version = version.chars().next().is_some_and(|c| c.is_ascii_digit())
            && version.contains('.')
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '+' || c == '-');
        if looks_like_name && looks_like_version {
            out.insert(name.to_string(), version.to_string());
        }
    }
    out
}

/// The `system` object: `hardware` is the monitor's hardware profile;
/// `backend_versions` maps backend names to their version lines.
pub fn system_info(
    hardware: serde_json::Value,
    backend_versions: &BTreeMap<String, String>,
) -> serde_json::Value {
    let mut pkgs = BTreeMap::new();
    for line in backend_versions.values() {
        pkgs.extend(packages(line));
    }
    json!({
        "platform": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "platform_version": hardware.get("os_version").cloned().unwrap_or(serde_json::Value::Null),
        "ram_total_gb": hardware.get("ram_total_gb").cloned().unwrap_or(serde_json::Value::Null),
        "mlx_version": pkgs.get("mlx"),
        "mlx_lm_version": pkgs.get("mlx-lm"),
        "packages": pkgs,
        "hardware_profile": hardware,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines_give_package_versions() {
        let p = packages("mlx-lm 0.32.2 mlx 0.32.4");
        assert_eq!(p.get("mlx-lm").map(String::as_str), Some("0.32.2"));
        assert_eq!(p.get("mlx").map(String::as_str), Some("0.32.4"));
        assert_eq!(p.len(), 2);
        let p = packages("version: 6123 (abc123) built with cc");
        assert!(p.is_empty(), "{p:?}");
        let p = packages("vllm 0.11.0+cu128");
        assert_eq!(p.get("vllm").map(String::as_str), Some("0.11.0+cu128"));
    }
}
