//! The nginx round-robin balancer: its config rendered from a minijinja
//! template (built-in `templates/nginx.conf.j2` or the scenario's own), and
//! the command that runs it in the foreground with its own prefix folder.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::spec::scenario::{BalanceMethod, RouterSection};

/// The template shipped with mlxrun.
pub const BUILTIN_TEMPLATE: &str = include_str!("../../templates/nginx.conf.j2");

/// One upstream server.
#[derive(Debug, Clone, Serialize)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
}

/// Everything the template sees.
#[derive(Debug, Clone, Serialize)]
pub struct NginxContext {
    /// nginx prefix folder (absolute): config, pid, logs, temp files.
    pub prefix: String,
    pub listen_host: String,
    pub listen_port: u16,
    pub upstreams: Vec<Upstream>,
    /// `round_robin` or `least_conn`.
    pub method: String,
    pub keepalive: u32,
    pub proxy_timeout_s: u32,
    /// `user` directive, set when running as root so workers may write the
    /// prefix folder.
    pub run_as_user: Option<String>,
}

impl NginxContext {
    pub fn new(
        router: &RouterSection,
        prefix: &Path,
        upstreams: Vec<Upstream>,
        method: BalanceMethod,
    ) -> NginxContext {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        NginxContext {
            prefix: prefix.display().to_string(),
            listen_host: router.host.clone(),
            listen_port: router.port,
            upstreams,
            method: method.as_str().to_string(),
            keepalive: router.keepalive,
            proxy_timeout_s: router.proxy_timeout_s,
            run_as_user: root.then(|| "root".to_string()),
        }
    }
}

/// The template text for `router` (the built-in one when none is named).
pub fn template_source(router: &RouterSection) -> Result<(String, String), String> {
    if router.template.trim().is_empty() {
        return Ok((
            "templates/nginx.conf.j2 (built in)".into(),
            BUILTIN_TEMPLATE.into(),
        ));
    }
    let path = PathBuf::from(&router.template);
    std::fs::read_to_string(&path)
        .map(|t| (path.display().to_string(), t))
        .map_err(|e| format!("cannot read nginx template {}: {e}", path.display()))
}

/// Render `template` (named `name` in errors) with `ctx`.
pub fn render(name: &str, template: &str, ctx: &NginxContext) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("nginx.conf", template)
        .map_err(|e| format!("nginx template {name} does not compile: {e}"))?;
    env.get_template("nginx.conf")
        .and_then(|t| t.render(minijinja::value::Serde(ctx)))
        .map_err(|e| format!("nginx template {name} does not render: {e}"))
}

/// argv that runs nginx in the foreground with `prefix`.
pub fn command(nginx_bin: &str, prefix: &Path) -> Vec<String> {
    let p = prefix.display().to_string();
    vec![
        nginx_bin.to_string(),
        "-p".into(),
        p.clone(),
        "-c".into(),
        format!("{p}/nginx.conf"),
        "-e".into(),
        format!("{p}/error.log"),
        "-g".into(),
        "daemon off;".into(),
    ]
}

/// Write the config and the folders nginx needs under `prefix`.
pub fn prepare_prefix(prefix: &Path, conf: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(prefix.join("tmp"))?;
    std::fs::write(prefix.join("nginx.conf"), conf)
}

/// The nginx executable, or an error with the install command.
pub fn find_binary(bin: &str) -> Result<PathBuf, String> {
    let candidate = PathBuf::from(bin);
    if candidate.components().count() > 1 {
        return if candidate.is_file() {
            Ok(candidate)
        } else {
            Err(format!("nginx not found at {bin}"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(
        [
            "/usr/sbin",
            "/usr/local/sbin",
            "/opt/homebrew/bin",
            "/usr/local/bin",
        ]
        .map(PathBuf::from),
    );
    dirs.into_iter()
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "nginx is needed for points with more than one instance but '{bin}' was not found; install it (Debian/Ubuntu: sudo apt-get install -y nginx; macOS: brew install nginx) or set router.nginx_bin / NGINX_BIN"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(method: &str) -> NginxContext {
        NginxContext {
            prefix: "/run/x/nginx".into(),
            listen_host: "127.0.0.1".into(),
            listen_port: 8088,
            upstreams: vec![
                Upstream {
                    host: "127.0.0.1".into(),
                    port: 9000,
                },
                Upstream {
                    host: "127.0.0.1".into(),
                    port: 9001,
                },
            ],
            method: method.into(),
            keepalive: 64,
            proxy_timeout_s: 3600,
            run_as_user: None,
        }
    }

    #[test]
    fn builtin_template_renders_round_robin() {
        let conf = render("builtin", BUILTIN_TEMPLATE, &ctx("round_robin")).unwrap();
        insta::assert_snapshot!(conf);
    }

    #[test]
    fn least_conn_and_user_lines() {
        let mut c = ctx("least_conn");
        c.run_as_user = Some("root".into());
        let conf = render("builtin", BUILTIN_TEMPLATE, &c).unwrap();
        assert!(conf.contains("        least_conn;\n"));
        assert!(conf.contains("\nuser root;\n"));
        assert_eq!(conf.matches("max_fails=0;").count(), 2);
    }

    #[test]
    fn broken_or_undefined_templates_are_errors() {
        assert!(
            render("t", "{% if %}", &ctx("round_robin"))
                .unwrap_err()
                .contains("does not compile")
        );
        assert!(
            render("t", "{{ nope.x }}", &ctx("round_robin"))
                .unwrap_err()
                .contains("does not render")
        );
    }

    #[test]
    fn command_runs_in_foreground_with_prefix() {
        let argv = command("nginx", Path::new("/r/nginx"));
        assert_eq!(
            argv.join(" "),
            "nginx -p /r/nginx -c /r/nginx/nginx.conf -e /r/nginx/error.log -g daemon off;"
        );
    }
}
