//! `mlxrun plan`: what a run would do, starting nothing: the models with
//! their backends (and which routing rule fired for `auto`), the points,
//! each server configuration's exact command lines, the rendered nginx
//! config, the request count, and where every effective value came from.

use std::fmt::Write;
use std::path::Path;

use crate::scenario::Resolved;
use crate::scenario::expand::{Plan, Point};
use crate::server::command::python_for;
use crate::server::journal::Journal;
use crate::server::set::{StartContext, commands, endpoints, nginx_config};

/// The plan of `resolved` as text.
pub fn render(resolved: &Resolved) -> Result<String, String> {
    let s = &resolved.scenario;
    let reg = &resolved.registry;
    let plan: &Plan = &resolved.plan;
    let python = python_for(s);
    let mut o = String::new();
    let _ = writeln!(o, "scenario: {} ({})", s.name, resolved.path.display());
    if !s.description.trim().is_empty() {
        let _ = writeln!(o, "  {}", s.description.trim());
    }
    let _ = writeln!(o, "models:");
    for m in &resolved.models {
        let what = match (&m.local_dir, m.arg == m.spec) {
            (Some(_), _) => "local folder",
            (None, true) => "as written",
            (None, false) => "local file",
        };
        let _ = writeln!(o, "  {}: {} ({what})", m.name, m.arg);
        match &m.route_rule {
            Some(rule) => {
                let _ = writeln!(o, "    backend: {} (auto: {rule})", m.backend);
            }
            None => {
                let _ = writeln!(o, "    backend: {}", m.backend);
            }
        }
        if m.modality != crate::spec::media::Modality::Text {
            let _ = writeln!(o, "    modality: {}", m.modality);
        }
    }
    let mut used: Vec<&str> = resolved.models.iter().map(|m| m.backend.as_str()).collect();
    used.sort_unstable();
    used.dedup();
    let _ = writeln!(o, "backends:");
    for name in used {
        let Some(def) = reg.get(name) else { continue };
        let origin = match reg.source(name) {
            Some(src) if src.built_in && src.overridden_by.is_empty() => "built-in".to_string(),
            Some(src) if src.built_in => {
                format!("built-in, changed by {}", src.overridden_by.join(", "))
            }
            Some(src) => format!("defined in {}", src.overridden_by.join(", ")),
            None => String::new(),
        };
        let _ = writeln!(o, "  {name}: {} ({origin})", def.description);
        let axes: Vec<&str> = def.axes.keys().map(String::as_str).collect();
        let _ = writeln!(
            o,
            "    api={} tokens={} ready={} launches={} multi_rank={} axes=[{}]",
            serde_plain(&def.api),
            serde_plain(&def.tokens),
            serde_plain(&def.ready),
            def.launches(),
            def.multi_rank,
            axes.join(", ")
        );
        if !def.launches() {
            let _ = writeln!(o, "    urls: {}", def.urls.join(", "));
            if !def.api_key_env.is_empty() {
                let _ = writeln!(o, "    API key: from ${} (never written)", def.api_key_env);
            }
        }
        if !def.cache_reset.is_empty() {
            let _ = writeln!(
                o,
                "    cache reset before each point: {}",
                def.cache_reset.join(", ")
            );
        }
    }
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
    let l = &s.load;
    let per_point = if l.timed() {
        format!(
            "{}s measured per point (+{}s warmup, +{}s cooldown)",
            l.duration_s, l.warmup_s, l.cooldown_s
        )
    } else {
        format!(
            "{} measured (+{} warmup, +{} cooldown per point)",
            plan.total_requests() * u64::from(s.run.repeats.max(1)),
            l.warmup_requests,
            l.cooldown_requests
        )
    };
    let _ = writeln!(
        o,
        "requests: {per_point}; {warmups} server warmup after each start"
    );
    let _ = writeln!(o, "measurement: {}", measurement_words(s));
    write_memory_gate(&mut o, resolved, plan);
    let w = &s.workload;
    let prompts = if let Some(lengths) = &s.matrix.input_tokens {
        let dist = match w.input_tokens_distribution.as_str() {
            "fixed" => "exactly".to_string(),
            d => format!("{d} ±{}% around", w.input_tokens_spread * 100.0),
        };
        let tokenizers: Vec<String> = resolved
            .models
            .iter()
            .map(|m| {
                format!(
                    "{}: {}",
                    m.name,
                    m.tokenizer
                        .as_ref()
                        .map_or("-".into(), |t| t.display().to_string())
                )
            })
            .collect();
        format!(
            "synthetic, {dist} {:?} tokens{}, drawn per point from seed {} (tokenizer {})",
            lengths.values(),
            if w.shared_prefix_tokens > 0 {
                format!(", {} shared prefix tokens", w.shared_prefix_tokens)
            } else {
                String::new()
            },
            w.seed,
            tokenizers.join(", ")
        )
    } else if !w.prompts_file.is_empty() {
        format!(
            "from {} ({}{})",
            w.prompts_file,
            w.prompts_format,
            if w.shuffle { ", shuffled" } else { "" }
        )
    } else {
        format!("the fixed prompt {:?}", w.prompt)
    };
    let _ = writeln!(o, "prompts: {prompts}");
    let _ = writeln!(o, "sampling: {}", sampling_line(s));
    let has = |m: crate::spec::media::Modality| resolved.models.iter().any(|x| x.modality == m);
    if has(crate::spec::media::Modality::Vision) {
        let images = if w.image_files.is_empty() {
            format!(
                "synthetic {}, different for every request (seed {} + point)",
                w.image_format, w.seed
            )
        } else {
            format!("from {}, in name order, cycled", w.image_files)
        };
        let _ = writeln!(
            o,
            "images: {images}; sent as image_url content parts (data URLs) built before each point"
        );
    }
    if has(crate::spec::media::Modality::Audio) {
        let audio = if w.audio_dir.is_empty() {
            format!(
                "synthetic speech-like 16 kHz mono WAV, different for every request (seed {} + point)",
                w.seed
            )
        } else {
            format!("the .wav files of {}, in name order, cycled", w.audio_dir)
        };
        let _ = writeln!(
            o,
            "audio: {audio}; POST /v1/audio/transcriptions (language {:?}, response_format {}); RTF = audio s / processing s, higher is faster",
            w.audio_language, w.audio_response_format
        );
    }
    if plan.points.iter().any(Point::open_loop) {
        let _ = writeln!(
            o,
            "load: open loop, {} arrivals{} (seed {}); latency counts from each request's scheduled send time",
            l.arrival.as_str(),
            if l.arrival == crate::spec::scenario::ArrivalKind::Gamma {
                format!(", burstiness {}", l.burstiness)
            } else {
                String::new()
            },
            s.workload.seed
        );
    }

    let ctx = StartContext::new(
        resolved,
        python,
        Default::default(),
        Path::new("<run dir>").to_path_buf(),
        Journal::disabled(),
        Default::default(),
        Default::default(),
    );
    for f in ctx.commands().replaced_user_flags() {
        let _ = writeln!(
            o,
            "warning: {f} in the server args is replaced by the matrix value"
        );
    }
    for w in plan.mode_warnings() {
        let _ = writeln!(o, "{w}");
    }
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
            "  [{}/{}] model={} backend={} instances={} ranks={}{} router={} balance={}{} ({range})",
            cfg.index + 1,
            plan.servers.len(),
            cfg.model_name,
            cfg.backend,
            cfg.instances,
            cfg.ranks,
            if cfg
                .host_names()
                .iter()
                .all(|h| h == crate::remote::host::LOCAL)
            {
                String::new()
            } else if cfg.launcher_backend.is_empty() {
                format!(" hosts={}", cfg.host_names().join("+"))
            } else {
                format!(
                    " hosts={} launcher_backend={}",
                    cfg.host_names().join("+"),
                    cfg.launcher_backend
                )
            },
            cfg.router.as_str(),
            cfg.balance_str(),
            cfg.axes
                .iter()
                .map(|(a, v)| format!(" {a}={v}"))
                .chain(cfg.flags.iter().map(|(f, v)| format!(" {f}={v}")))
                .collect::<String>()
        );
        for (name, argv) in commands(&ctx, cfg)? {
            let _ = writeln!(o, "      {name}: {}", shell_words(&argv));
        }
        let def = reg.get(&cfg.backend).ok_or("unknown backend")?;
        if !def.launches() {
            let eps = endpoints(&ctx.settings, def, cfg)?;
            for e in &eps {
                let _ = writeln!(
                    o,
                    "      {}: {} (external, not launched)",
                    e.name, e.base_url
                );
            }
        }
        if cfg.uses_nginx() && !nginx_shown {
            nginx_shown = true;
            let eps = endpoints(&ctx.settings, def, cfg)?;
            let conf = nginx_config(
                &ctx.settings,
                &Path::new("<run dir>").join("nginx"),
                cfg,
                &eps,
            )?;
            let _ = writeln!(
                o,
                "      nginx.conf (this configuration; others differ only in their upstreams and method):"
            );
            for line in conf.lines() {
                let _ = writeln!(o, "        {line}");
            }
        }
    }

    let _ = writeln!(o, "\npoints:");
    write_points_table(&mut o, plan, s.matrix.temperature.is_some());

    let _ = writeln!(o, "\neffective values (origin):");
    let prov = resolved.provenance();
    let width = prov.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    for (k, v, origin) in prov {
        let _ = writeln!(o, "  {k:<width$} = {v}   ({origin})");
    }
    Ok(o)
}

/// What every request asks of the sampler: the temperature (or the
/// swept ones), top_p and the request seed, or that they are not sent.
fn sampling_line(s: &crate::spec::scenario::Scenario) -> String {
    let w = &s.workload;
    let temperature = match &s.matrix.temperature {
        Some(a) => format!("temperature {:?} (matrix.temperature)", a.values()),
        None => format!("temperature {}", w.temperature),
    };
    let top_p = w
        .top_p
        .map_or("top_p not sent (the server's default)".into(), |p| {
            format!("top_p {p}")
        });
    let seed = w
        .sampling_seed
        .map_or("no request seed (workload.sampling_seed)".into(), |n| {
            format!("request seed {n} (workload.sampling_seed)")
        });
    format!("{temperature}, {top_p}, {seed}")
}

/// An enum's serde name (`chat`, `usage`, …).
fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(String::from))
        .unwrap_or_default()
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

/// The points table: fixed columns, then every swept backend axis and raw
/// flag of the plan, each column as wide as its widest cell.
/// What the memory gate will estimate for each launched configuration.
/// How each point is measured, in words: repeats, the shape warmup, the
/// intervals and a precision target.
pub fn measurement_words(s: &crate::scenario::Scenario) -> String {
    let r = &s.run;
    let mut words = vec![match r.repeats {
        1 => "each point once".to_string(),
        n => format!("each point {n} times ({})", r.repeat_order.as_str()),
    }];
    words.push(if r.warmup.enabled {
        format!(
            "shape warmup until two rounds agree within {}% (at most {} rounds, {} s)",
            r.warmup.tolerance_pct, r.warmup.max_rounds, r.warmup.max_s
        )
    } else {
        "no shape warmup (run.warmup.enabled = false)".to_string()
    });
    words.push(format!(
        "{}% intervals ({} bootstrap resamples)",
        s.metrics.confidence * 100.0,
        s.metrics.resamples
    ));
    let p = &r.precision;
    if p.is_set() {
        let mut t = Vec::new();
        if let Some(x) = p.throughput_pct {
            t.push(format!("throughput ±{x}%"));
        }
        if let Some(x) = p.ttft_p50_pct {
            t.push(format!("p50 TTFT ±{x}%"));
        }
        words.push(format!(
            "closed-loop points run until {} (at most {} requests, {} s)",
            t.join(" and "),
            p.max_requests,
            p.max_s
        ));
    }
    words.join("; ")
}

fn write_memory_gate(o: &mut String, resolved: &Resolved, plan: &Plan) {
    let m = &resolved.scenario.memory;
    let _ = writeln!(
        o,
        "memory gate: need ≤ {}% of RAM and ≤ available, else {} (memory.over_limit)",
        m.limit_percent,
        m.over_limit.as_str()
    );
    for cfg in &plan.servers {
        let need = match crate::gate::estimate(resolved, cfg) {
            crate::gate::Estimate::Need(n) => n.describe(),
            crate::gate::Estimate::Unknown => "size on disk unknown: not gated".into(),
            crate::gate::Estimate::NotLaunched => "nothing launched".into(),
        };
        let _ = writeln!(o, "  configuration {}: {need}", cfg.index + 1);
    }
}

fn write_points_table(o: &mut String, plan: &Plan, temperature_axis: bool) {
    let axes = plan.axis_names();
    let flags = plan.flag_names();
    let mut head: Vec<String> = [
        "point",
        "server",
        "model",
        "backend",
        "instances",
        "ranks",
        "router",
    ]
    .map(String::from)
    .to_vec();
    head.extend(["decode", "prompt"].map(String::from));
    head.extend(axes.iter().cloned());
    head.extend(flags.iter().cloned());
    let open = plan.points.iter().any(Point::open_loop);
    let synthetic = plan.points.iter().any(|p| p.input_tokens.is_some());
    if synthetic {
        head.push("input_tokens".into());
    }
    let media = plan
        .points
        .iter()
        .any(|p| p.modality != crate::spec::media::Modality::Text);
    if media {
        head.extend(["modality", "media"].map(String::from));
    }
    if temperature_axis {
        head.push("temperature".into());
    }
    head.extend(["max_tokens", "concurrency"].map(String::from));
    if open {
        head.push("request_rate".into());
    }
    head.push(if plan.points.iter().any(|p| p.duration_s.is_some()) {
        "duration".into()
    } else {
        "requests".into()
    });
    let mut rows = vec![head];
    for p in &plan.points {
        let c = &plan.servers[p.server];
        let mut r = vec![
            (p.index + 1).to_string(),
            (p.server + 1).to_string(),
            c.model_name.clone(),
            c.backend.clone(),
            c.instances.to_string(),
            c.ranks.to_string(),
            c.router.as_str().to_string(),
            c.decode_concurrency
                .map_or("default".into(), |v| v.to_string()),
            c.prompt_concurrency
                .map_or("default".into(), |v| v.to_string()),
        ];
        r.extend(axes.iter().map(|a| c.axis(a).unwrap_or("-").to_string()));
        r.extend(flags.iter().map(|f| {
            c.flags
                .iter()
                .find(|(k, _)| k == f)
                .map_or("-".to_string(), |(_, v)| v.clone())
        }));
        if synthetic {
            r.push(p.input_tokens.map_or("-".into(), |n| n.to_string()));
        }
        if media {
            let label = p.media_label();
            r.extend([
                p.modality.to_string(),
                if label.is_empty() { "-".into() } else { label },
            ]);
        }
        if temperature_axis {
            r.push(p.sampling.temperature.to_string());
        }
        let max_tokens = if p.modality == crate::spec::media::Modality::Audio {
            "-".to_string()
        } else {
            p.max_tokens.to_string()
        };
        r.extend([max_tokens, p.concurrency_label()]);
        if open {
            r.push(p.request_rate.map_or("closed".into(), |r| r.to_string()));
        }
        r.push(p.bound_label());
        rows.push(r);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    // Text columns (model, backend, router) left-aligned, the rest right.
    let left = [2usize, 3, 6];
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            let w = widths[i];
            line.push_str("  ");
            if left.contains(&i) {
                line.push_str(&format!("{cell:<w$}"));
            } else {
                line.push_str(&format!("{cell:>w$}"));
            }
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of scenario `text` with a local model folder `tiny`.
    fn plan_of(text: &str) -> String {
        render(&crate::scenario::testing::with_tiny_model(text)).unwrap()
    }

    const SWEEP: &str = r#"
name = "t"
[model]
path = "tiny"
[workload]
requests = 4
top_p = 0.9
[matrix]
temperature = [0.0, 0.3]
concurrency = [8, 64]
"#;

    /// The "effective values" line of `field` in a plan.
    fn effective_line(plan: &str, field: &str) -> String {
        let values = &plan[plan.find("\neffective values (origin):\n").unwrap()..];
        values
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{field} ")))
            .unwrap_or_else(|| panic!("no {field} in {values}"))
            .to_string()
    }

    #[test]
    fn effective_values_attribute_a_key_the_file_leaves_out_to_the_default() {
        let base = "name = \"t\"\n[model]\npath = \"tiny\"\n";
        // `[run]` opened (for another key, or for nothing): repeats is the default's
        for run in ["[run]\nrepeat_order = \"interleaved\"\n", "[run]\n"] {
            let plan = plan_of(&format!("{base}{run}"));
            let line = effective_line(&plan, "run.repeats");
            assert!(line.ends_with("= 1   (default)"), "{line}");
        }
        let plan = plan_of(&format!("{base}[run]\nrepeat_order = \"interleaved\"\n"));
        let line = effective_line(&plan, "run.repeat_order");
        assert!(line.ends_with("(scenarios/t.toml:5)"), "{line}");
        // set in the file: the file's line
        let plan = plan_of(&format!("{base}[run]\nrepeats = 2\n"));
        let line = effective_line(&plan, "run.repeats");
        assert!(line.ends_with("= 2   (scenarios/t.toml:5)"), "{line}");
    }

    #[test]
    fn plan_states_the_sampling_and_the_temperature_axis() {
        let text = plan_of(SWEEP);
        assert!(
            text.contains(
                "sampling: temperature [0.0, 0.3] (matrix.temperature), top_p 0.9, no request seed (workload.sampling_seed)"
            ),
            "{text}"
        );
        let table = &text[text.find("\npoints:\n").unwrap()..];
        let head = table.lines().nth(2).unwrap();
        assert!(
            head.contains("temperature  max_tokens  concurrency"),
            "{head}"
        );
        let temps: Vec<&str> = table
            .lines()
            .skip(3)
            .take(4)
            .map(|l| l.split_whitespace().nth(9).unwrap())
            .collect();
        assert_eq!(temps, ["0", "0", "0.3", "0.3"], "{table}");
    }

    #[test]
    fn plan_warns_once_per_server_mode_with_the_points() {
        let text = plan_of(SWEEP);
        let warnings: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("warning: server mode"))
            .collect();
        assert_eq!(warnings.len(), 2, "{text}");
        assert!(
            warnings[0].starts_with(
                "warning: server mode `per_request_sampling` at points 3-4: temperature > 0"
            ),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[1].starts_with(
                "warning: server mode `server_queue` at points 2, 4: more requests in flight"
            ),
            "{}",
            warnings[1]
        );
        // greedy requests within --decode-concurrency: nothing to warn about
        let calm = SWEEP
            .replace("[0.0, 0.3]", "[0.0]")
            .replace("[8, 64]", "[8, 32]");
        let text = plan_of(&calm);
        assert!(!text.contains("warning: server mode"), "{text}");
        assert!(text.contains("sampling: temperature [0.0] (matrix.temperature)"));
        // a request seed and a draft model are named too
        let seeded = format!(
            "{}\n[backend]\nargs = [\"--draft-model\", \"/m/draft\"]\n",
            calm.replace("top_p = 0.9", "sampling_seed = 3")
        );
        let text = plan_of(&seeded);
        assert!(
            text.contains("request seed 3 (workload.sampling_seed)"),
            "{text}"
        );
        assert!(
            text.contains(
                "warning: server mode `unbatched_seed` at points 1-2: requests carry seed 3"
            ),
            "{text}"
        );
        assert!(
            text.contains("warning: server mode `unbatched_draft_model` at points 1-2: the server runs with --draft-model"),
            "{text}"
        );
    }

    #[test]
    fn measurement_words_state_repeats_warmup_intervals_and_precision() {
        let mut s = crate::scenario::Scenario::default();
        let w = measurement_words(&s);
        assert!(
            w.starts_with("each point once; shape warmup until two rounds agree within 10%"),
            "{w}"
        );
        assert!(
            w.contains("95% intervals (1000 bootstrap resamples)"),
            "{w}"
        );
        assert!(!w.contains("run until"), "{w}");
        s.run.repeats = 3;
        s.run.repeat_order = crate::spec::measure::RepeatOrder::Interleaved;
        s.run.warmup.enabled = false;
        s.run.precision.ttft_p50_pct = Some(5.0);
        let w = measurement_words(&s);
        assert!(
            w.starts_with("each point 3 times (interleaved); no shape warmup"),
            "{w}"
        );
        assert!(
            w.contains("run until p50 TTFT ±5% (at most 5000 requests, 600 s)"),
            "{w}"
        );
    }
}
