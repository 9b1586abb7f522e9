//! `mlxrun plan`: what a run would do, starting nothing: the points, each
//! server configuration's exact command lines, the rendered nginx config,
//! the request count, and where every effective value came from.

use std::fmt::Write;
use std::path::Path;

use crate::scenario::Resolved;
use crate::scenario::expand::{Plan, expand};
use crate::scenario::model_path::ModelRef;
use crate::server::journal::Journal;
use crate::server::mlx_lm;
use crate::server::set::{StartContext, commands, nginx_config, uses_nginx};

/// The plan of `resolved` as text.
pub fn render(resolved: &Resolved) -> Result<String, String> {
    let s = &resolved.scenario;
    let model = resolved.model.server_arg();
    let plan: Plan = expand(s, &model)?;
    let python = mlx_lm::python_for(s);
    let mut o = String::new();
    let _ = writeln!(o, "scenario: {} ({})", s.name, resolved.path.display());
    if !s.description.trim().is_empty() {
        let _ = writeln!(o, "  {}", s.description.trim());
    }
    let kind = match &resolved.model {
        ModelRef::Local(_) => "local folder",
        ModelRef::Repo(_) => "Hugging Face repo",
    };
    let _ = writeln!(o, "model: {model} ({kind})");
    let _ = writeln!(o, "backend: {} via {python}", s.backend.kind.as_str());
    let _ = writeln!(
        o,
        "points: {} over {} server configurations ({} combinations, {} dropped by filter/exclude)",
        plan.points.len(),
        plan.servers.len(),
        plan.product,
        plan.product - plan.points.len()
    );
    let warmups: u64 = plan
        .servers
        .iter()
        .map(|c| u64::from(s.workload.warmup_requests) * u64::from(c.instances))
        .sum();
    let _ = writeln!(
        o,
        "requests: {} measured, {warmups} warmup",
        plan.total_requests()
    );
    for f in mlx_lm::replaced_user_flags(s) {
        let _ = writeln!(
            o,
            "warning: {f} in the server args is replaced by the matrix value"
        );
    }

    let ctx = StartContext {
        scenario: s.clone(),
        python,
        model,
        run_dir: Path::new("<run dir>").to_path_buf(),
        client: reqwest::Client::new(),
        journal: Journal::disabled(),
        cancel: Default::default(),
        total_configs: plan.servers.len(),
    };
    let _ = writeln!(o, "\nserver configurations:");
    let mut nginx_shown = false;
    for cfg in &plan.servers {
        let pts: Vec<usize> = plan.points_of(cfg.index).map(|p| p.index + 1).collect();
        let range = match (pts.first(), pts.last()) {
            (Some(a), Some(b)) if a != b => format!("points {a}-{b}"),
            (Some(a), _) => format!("point {a}"),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "  [{}/{}] instances={} decode_concurrency={} prompt_concurrency={}{} ({range})",
            cfg.index + 1,
            plan.servers.len(),
            cfg.instances,
            cfg.decode_concurrency
                .map_or("default".into(), |v| v.to_string()),
            cfg.prompt_concurrency
                .map_or("default".into(), |v| v.to_string()),
            cfg.flags
                .iter()
                .map(|(f, v)| format!(" {f}={v}"))
                .collect::<String>()
        );
        for (name, argv) in commands(&ctx, cfg) {
            let _ = writeln!(o, "      {name}: {}", shell_words(&argv));
        }
        if uses_nginx(s, cfg) && !nginx_shown {
            nginx_shown = true;
            let conf = nginx_config(s, &Path::new("<run dir>").join("nginx"), cfg)?;
            let _ = writeln!(
                o,
                "      nginx.conf (this configuration; others differ only in their upstream list):"
            );
            for line in conf.lines() {
                let _ = writeln!(o, "        {line}");
            }
        }
    }

    let _ = writeln!(o, "\npoints:");
    let _ = writeln!(
        o,
        "  {:>5}  {:>6}  {:>9}  {:>6}  {:>6}  {:>11}  {:>10}  {:>8}",
        "point", "server", "instances", "decode", "prompt", "concurrency", "max_tokens", "requests"
    );
    for p in &plan.points {
        let c = &plan.servers[p.server];
        let _ = writeln!(
            o,
            "  {:>5}  {:>6}  {:>9}  {:>6}  {:>6}  {:>11}  {:>10}  {:>8}",
            p.index + 1,
            p.server + 1,
            c.instances,
            c.decode_concurrency
                .map_or("default".into(), |v| v.to_string()),
            c.prompt_concurrency
                .map_or("default".into(), |v| v.to_string()),
            p.concurrency,
            p.max_tokens,
            p.requests
        );
    }

    let _ = writeln!(o, "\neffective values (origin):");
    let prov = resolved.provenance();
    let width = prov.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    for (k, v, origin) in prov {
        let _ = writeln!(o, "  {k:<width$} = {v}   ({origin})");
    }
    Ok(o)
}

/// argv as a copy-pasteable shell line.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            shlex::try_quote(a)
                .map(|q| q.into_owned())
                .unwrap_or_else(|_| a.clone())
        })
        .collect::<Vec<_>>()
        .join(" ")
}
