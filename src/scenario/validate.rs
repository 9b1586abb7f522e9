//! Checks that span fields or need more than a type: empty or non-positive
//! axes, port clashes, reserved flags, filters that do not compile. Each
//! finding names the field; [`super::load`] adds where the value came from.

use std::collections::BTreeSet;

use super::error::{Finding, finding, no_values};
use super::models::ResolvedModel;
use super::models::user_args;
use crate::backend::flags::launch_flags;
use crate::backend::flags::{flag_for_key, flag_names, parse_server_args};
use crate::backend::registry::Registry;
use crate::spec::scenario::{Axis, RouterKind, Scenario};

/// Names usable in `matrix.filter` and `matrix.exclude` (besides the
/// backends' own axes and the raw server flags).
pub const AXIS_NAMES: &[&str] = &[
    "model",
    "backend",
    "instances",
    "ranks",
    "hosts",
    "host_count",
    "launcher_backend",
    "router",
    "balance",
    "decode_concurrency",
    "prompt_concurrency",
    "concurrency",
    "max_tokens",
    "temperature",
    "modality",
    "image_count",
    "image_size",
    "audio_duration_s",
];

/// Flags mlxrun sets itself; the user may not pass them.
const OWNED_FLAGS: &[(&str, &str)] = &[
    ("--host", "backend.host"),
    ("--port", "backend.base_port"),
    ("--model", "model.path"),
];

/// Every problem with `s` (empty when it is fine).
pub fn validate(s: &Scenario) -> Vec<Finding> {
    let mut out = Vec::new();
    positive_axis(&mut out, "matrix.instances", Some(&s.matrix.instances));
    positive_axis(&mut out, "matrix.ranks", Some(&s.matrix.ranks));
    for (key, axis) in &s.matrix.axes {
        no_values(
            &mut out,
            &format!("matrix.axes.{key}"),
            axis.values().is_empty(),
            "give at least one value",
        );
    }
    if let Some(a) = &s.matrix.router {
        no_values(
            &mut out,
            "matrix.router",
            a.values().is_empty(),
            "list nginx, client, or both",
        );
    }
    if let Some(a) = &s.matrix.balance {
        no_values(
            &mut out,
            "matrix.balance",
            a.values().is_empty(),
            "list round_robin, least_conn, or both",
        );
    }
    if !crate::spec::scenario::LAUNCHER_BACKENDS.contains(&s.launcher.backend.as_str()) {
        out.push(finding(
            "launcher.backend",
            format!("'{}' is not an mlx.launch backend", s.launcher.backend),
            "use ring, mpi, jaccl or jaccl-ring (nccl on CUDA)",
        ));
    }
    out.extend(super::validate_hosts::check(s));
    positive_axis(
        &mut out,
        "matrix.decode_concurrency",
        s.matrix.decode_concurrency.as_ref(),
    );
    positive_axis(
        &mut out,
        "matrix.prompt_concurrency",
        s.matrix.prompt_concurrency.as_ref(),
    );
    positive_axis(
        &mut out,
        "matrix.concurrency",
        s.matrix.concurrency.as_ref(),
    );
    positive_axis(
        &mut out,
        "matrix.input_tokens",
        s.matrix.input_tokens.as_ref(),
    );
    super::validate_load::load_findings(&mut out, s);
    super::media::media_findings(&mut out, s);
    super::validate_bounds::bound_findings(&mut out, s);
    super::validate_tune::tune_findings(&mut out, s);
    memory_findings(&mut out, &s.memory);
    positive_axis(&mut out, "matrix.max_tokens", Some(&s.matrix.max_tokens));
    for (key, axis) in &s.matrix.server_flags {
        let field = format!("matrix.server_flags.{key}");
        no_values(
            &mut out,
            &field,
            axis.values().is_empty(),
            "give at least one value",
        );
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            out.push(finding(
                &field,
                "not a flag name",
                "use the flag without dashes, e.g. prefill_step_size",
            ));
        }
        let flag = flag_for_key(key);
        let reserved = match flag.as_str() {
            "--decode-concurrency" => Some("matrix.decode_concurrency"),
            "--prompt-concurrency" => Some("matrix.prompt_concurrency"),
            _ => OWNED_FLAGS
                .iter()
                .find(|(f, _)| *f == flag)
                .map(|(_, field)| *field),
        };
        if let Some(instead) = reserved {
            out.push(finding(
                &field,
                format!("{flag} is set by mlxrun"),
                format!("use {instead} instead"),
            ));
        }
    }

    let max_instances = s
        .matrix
        .instances
        .values()
        .iter()
        .copied()
        .max()
        .unwrap_or(1);
    let last_port = u32::from(s.backend.base_port).saturating_add(max_instances.saturating_sub(1));
    if s.backend.base_port == 0 {
        out.push(finding(
            "backend.base_port",
            "port 0 is not allowed",
            "pick a port from 1024 to 65535",
        ));
    }
    if last_port > 65535 {
        out.push(finding(
            "backend.base_port",
            format!(
                "{max_instances} instances from port {} run past port 65535",
                s.backend.base_port
            ),
            "lower backend.base_port or the instance counts",
        ));
    }
    let routers: Vec<RouterKind> = match &s.matrix.router {
        Some(a) => a.values().to_vec(),
        None => vec![s.router.kind],
    };
    if max_instances > 1 {
        if routers.contains(&RouterKind::None) {
            let field = if s.matrix.router.is_some() {
                "matrix.router"
            } else {
                "router.kind"
            };
            out.push(finding(
                field,
                format!("router \"none\" cannot serve {max_instances} instances"),
                "use nginx or client, or keep matrix.instances at 1",
            ));
        }
        if routers.contains(&RouterKind::Nginx) {
            let p = u32::from(s.router.port);
            if p >= u32::from(s.backend.base_port) && p <= last_port {
                out.push(finding(
                    "router.port",
                    format!(
                        "nginx port {p} overlaps the instance ports {}..={last_port}",
                        s.backend.base_port
                    ),
                    "move router.port or backend.base_port",
                ));
            }
            if s.router.port == 0 {
                out.push(finding(
                    "router.port",
                    "port 0 is not allowed",
                    "pick a port from 1024 to 65535",
                ));
            }
        }
    }

    let w = &s.workload;
    sampling_findings(&mut out, s);
    if w.requests == Some(0) {
        out.push(finding(
            "workload.requests",
            "0 requests per point",
            "use 1 or more, or remove it to use requests_per_concurrency",
        ));
    }
    if w.requests_per_concurrency == 0 {
        out.push(finding(
            "workload.requests_per_concurrency",
            "must be 1 or more",
            "use 1 or more",
        ));
    }
    // durations are bounded as they are read (`spec::units`): every one
    // is finite, within 30 days, and above 0 where 0 would mean no time
    if s.backend.host.trim().is_empty() {
        out.push(finding("backend.host", "empty host", "use 127.0.0.1"));
    }
    if s.output.dir.trim().is_empty() {
        out.push(finding(
            "output.dir",
            "empty results folder",
            "use \"results\"",
        ));
    }

    match parse_server_args(&s.backend.server_args) {
        Ok(_) => {}
        Err(e) => out.push(finding(
            "backend.server_args",
            e,
            "close the quote, or use the comma form --flag=value,--other=value",
        )),
    }
    if !s.matrix.filter.trim().is_empty() {
        let env = minijinja::Environment::new();
        if let Err(e) = env.compile_expression(&s.matrix.filter) {
            out.push(finding(
                "matrix.filter",
                format!("does not compile: {e}"),
                "write an expression like \"prompt_concurrency <= decode_concurrency\"",
            ));
        }
    }
    let flag_keys: BTreeSet<&str> = s.matrix.server_flags.keys().map(String::as_str).collect();
    for (i, rule) in s.matrix.exclude.iter().enumerate() {
        if rule.is_empty() {
            out.push(finding(
                &format!("matrix.exclude[{i}]"),
                "empty rule would drop every point",
                "name at least one axis",
            ));
        }
        for key in rule.keys() {
            if !AXIS_NAMES.contains(&key.as_str())
                && !flag_keys.contains(key.as_str())
                && !s.matrix.axes.contains_key(key)
            {
                let names: Vec<&str> = AXIS_NAMES
                    .iter()
                    .copied()
                    .chain(flag_keys.iter().copied())
                    .chain(s.matrix.axes.keys().map(String::as_str))
                    .collect();
                out.push(finding(
                    &format!("matrix.exclude[{i}].{key}"),
                    "not an axis",
                    format!("axes are: {}", names.join(", ")),
                ));
            }
        }
    }
    out
}

/// Checks that need the models and their backend definitions.
pub fn validate_backends(s: &Scenario, models: &[ResolvedModel], reg: &Registry) -> Vec<Finding> {
    let mut out = super::media::model_findings(s, models);
    let used: Vec<(&ResolvedModel, &crate::spec::backend::BackendDef)> = models
        .iter()
        .filter_map(|m| reg.get(&m.backend).map(|d| (m, d)))
        .collect();
    let mut axis_fields: Vec<(String, String)> = s
        .matrix
        .axes
        .keys()
        .map(|k| (k.clone(), format!("matrix.axes.{k}")))
        .collect();
    if s.matrix.decode_concurrency.is_some() {
        axis_fields.push((
            "decode_concurrency".into(),
            "matrix.decode_concurrency".into(),
        ));
    }
    if s.matrix.prompt_concurrency.is_some() {
        axis_fields.push((
            "prompt_concurrency".into(),
            "matrix.prompt_concurrency".into(),
        ));
    }
    for (axis, field) in &axis_fields {
        if used.iter().any(|(_, d)| d.axes.contains_key(axis)) {
            continue;
        }
        let backends: Vec<&str> = used.iter().map(|(m, _)| m.backend.as_str()).collect();
        let known: Vec<&str> = used
            .iter()
            .flat_map(|(_, d)| d.axes.keys().map(String::as_str))
            .collect();
        let hint = match super::error::did_you_mean(axis, known.iter().copied()) {
            Some(k) => format!("did you mean `{k}`?"),
            None if known.is_empty() => "this backend takes no axes; use matrix.server_flags for raw flags, or add [backends.NAME.axes]".into(),
            None => format!("axes of these backends: {}; raw flags go in matrix.server_flags", known.join(", ")),
        };
        out.push(finding(
            field,
            format!(
                "no backend of this scenario ({}) takes the axis `{axis}`",
                backends.join(", ")
            ),
            hint,
        ));
    }
    let max_ranks = s.matrix.ranks.values().iter().copied().max().unwrap_or(1);
    let max_instances = s
        .matrix
        .instances
        .values()
        .iter()
        .copied()
        .max()
        .unwrap_or(1);
    for (m, d) in &used {
        if max_ranks > 1 && !d.multi_rank {
            out.push(finding(
                "matrix.ranks",
                format!("backend `{}` (model {}) cannot run several ranks", m.backend, m.name),
                "keep matrix.ranks at 1 for it, or set multi_rank = true in its definition if it runs under mlx.launch",
            ));
        }
        if !d.launches() {
            if max_instances as usize > d.urls.len() {
                out.push(finding(
                    "matrix.instances",
                    format!(
                        "backend `{}` lists {} URL(s), fewer than the {max_instances} instances asked for",
                        m.backend,
                        d.urls.len()
                    ),
                    format!("add URLs to [backends.{}] urls, or lower matrix.instances", m.backend),
                ));
            }
            let routers = match &s.matrix.router {
                Some(a) => a.values().to_vec(),
                None => vec![s.router.kind],
            };
            if max_instances > 1
                && routers.contains(&RouterKind::Nginx)
                && d.urls.iter().any(|u| u.starts_with("https:"))
            {
                out.push(finding(
                    "router.kind",
                    format!(
                        "nginx cannot balance the https URLs of backend `{}`",
                        m.backend
                    ),
                    "use router.kind = \"client\" (or matrix.router = [\"client\"])",
                ));
            }
        }
        let owned = launch_flags(d);
        for name in flag_names(&user_args(s, Some(m))) {
            if owned.contains(&name) {
                let field = if m.field == "model.path" {
                    "backend.args".to_string()
                } else {
                    format!("{}.args", m.field)
                };
                out.push(finding(
                    &field,
                    format!("{name} is set by mlxrun (backend `{}` launches with it)", m.backend),
                    "remove it from the server args: host, port and model come from backend.host, backend.base_port and the model path",
                ));
            }
        }
    }
    out
}

fn positive_axis(out: &mut Vec<Finding>, field: &str, axis: Option<&Axis<u32>>) {
    let Some(axis) = axis else { return };
    no_values(
        out,
        field,
        axis.values().is_empty(),
        "give at least one value, e.g. [1]",
    );
    if axis.values().contains(&0) {
        out.push(finding(
            field,
            "0 is not allowed",
            "use values of 1 or more",
        ));
    }
    let mut seen = BTreeSet::new();
    for v in axis.values() {
        if !seen.insert(v) {
            out.push(finding(
                field,
                format!("{v} appears twice"),
                "list each value once",
            ));
        }
    }
}

/// Findings about what requests ask of the sampler.
fn sampling_findings(out: &mut Vec<Finding>, s: &Scenario) {
    let w = &s.workload;
    if !non_negative(w.temperature) {
        out.push(finding(
            "workload.temperature",
            format!("{} is not a temperature", w.temperature),
            "use 0 or more",
        ));
    }
    if let Some(a) = &s.matrix.temperature {
        no_values(
            out,
            "matrix.temperature",
            a.values().is_empty(),
            "give at least one value, e.g. [0.0, 0.3], or remove it to use workload.temperature",
        );
        if let Some(t) = a.values().iter().find(|t| !non_negative(**t)) {
            out.push(finding(
                "matrix.temperature",
                format!("{t} is negative"),
                "use temperatures of 0 or more",
            ));
        }
    }
    if let Some(p) = w.top_p
        && !(p > 0.0 && p <= 1.0)
    {
        out.push(finding(
            "workload.top_p",
            format!("{p} is not a probability above 0"),
            "use a value above 0 and at most 1, or remove it to leave top_p to the server",
        ));
    }
}

/// `v >= 0`, finite (an infinite temperature is not sent as a number).
fn non_negative(v: f64) -> bool {
    v >= 0.0 && v.is_finite()
}

/// Findings about `[memory]`.
fn memory_findings(out: &mut Vec<Finding>, m: &crate::spec::memory::MemorySection) {
    if !(10..=60_000).contains(&m.monitor_interval_ms) {
        out.push(finding(
            "memory.monitor_interval_ms",
            format!("{} ms is outside 10..60000", m.monitor_interval_ms),
            "use an interval in milliseconds, e.g. 200",
        ));
    }
    if !(m.limit_percent > 0.0 && m.limit_percent <= 100.0) {
        out.push(finding(
            "memory.limit_percent",
            format!("{} is not a share of RAM", m.limit_percent),
            "use a percentage above 0 and at most 100, e.g. 70",
        ));
    }
    for (field, v) in [
        ("memory.headroom_percent", m.headroom_percent),
        ("memory.release_floor_gb", m.release_floor_gb),
        ("memory.swap_growth_mb", m.swap_growth_mb),
        ("memory.low_available_gb", m.low_available_gb),
        ("memory.noisy_neighbour_cores", m.noisy_neighbour_cores),
    ] {
        if !(v >= 0.0 && v.is_finite()) {
            out.push(finding(
                field,
                format!("{v} is not a size, share or duration"),
                "use a number, 0 or more",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_scenario() -> Scenario {
        let mut s = Scenario::default();
        s.model.path = "m".into();
        s
    }

    fn fields(s: &Scenario) -> Vec<String> {
        validate(s).into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn default_with_model_is_valid() {
        assert!(validate(&ok_scenario()).is_empty());
    }

    #[test]
    fn finds_axis_and_port_problems() {
        let mut s = ok_scenario();
        s.matrix.concurrency = Some(Axis(vec![]));
        s.matrix.max_tokens = Axis(vec![0, 8, 8]);
        s.matrix.instances = Axis(vec![1, 4]);
        s.router.port = 9002;
        let f = fields(&s);
        assert!(f.contains(&"matrix.concurrency".to_string()));
        assert_eq!(f.iter().filter(|x| *x == "matrix.max_tokens").count(), 2);
        assert!(f.contains(&"router.port".to_string()));
        s.router.kind = RouterKind::None;
        assert!(fields(&s).contains(&"router.kind".to_string()));
    }

    #[test]
    fn sampling_values_are_checked_with_their_field() {
        let mut s = ok_scenario();
        s.workload.top_p = Some(0.9);
        s.workload.sampling_seed = Some(1);
        s.matrix.temperature = Some(Axis(vec![0.0, 0.3, 1.5]));
        assert!(validate(&s).is_empty(), "{:?}", validate(&s));
        s.workload.temperature = -0.1;
        s.workload.top_p = Some(0.0);
        s.matrix.temperature = Some(Axis(vec![0.3, -1.0]));
        let v = validate(&s);
        let f: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(
            f,
            vec![
                "workload.temperature",
                "matrix.temperature",
                "workload.top_p"
            ]
        );
        assert!(v[1].message.contains("-1 is negative"), "{:?}", v[1]);
        assert!(v[2].hint.contains("at most 1"), "{:?}", v[2]);
        s.workload.temperature = 0.3;
        s.workload.top_p = Some(1.5);
        s.matrix.temperature = Some(Axis(vec![]));
        assert_eq!(fields(&s), vec!["matrix.temperature", "workload.top_p"]);
    }

    fn one_model(s: &Scenario, backend: &str) -> Vec<Finding> {
        let mut m = ResolvedModel::for_test(0, "m", backend);
        m.field = "model.path".into();
        validate_backends(s, &[m], &Registry::builtin())
    }

    #[test]
    fn backend_axes_ranks_and_urls_are_checked() {
        let mut s = ok_scenario();
        s.matrix.axes.insert("paralel".into(), Axis(vec![]));
        s.matrix.ranks = Axis(vec![1, 2]);
        s.matrix.instances = Axis(vec![2]);
        let v = one_model(&s, "llama_server");
        assert!(
            v.iter()
                .any(|f| f.field == "matrix.axes.paralel" && f.hint.contains("`parallel`")),
            "{v:?}"
        );
        assert!(v.iter().any(|f| f.field == "matrix.ranks"));
        assert!(
            one_model(&s, "mlx_lm")
                .iter()
                .all(|f| f.field != "matrix.ranks")
        );
        let v = one_model(&s, "openai");
        assert!(
            v.iter()
                .any(|f| f.field == "matrix.instances" && f.message.contains("1 URL")),
            "{v:?}"
        );
        s.matrix.axes.clear();
        s.matrix.decode_concurrency = Some(Axis(vec![4]));
        let v = one_model(&s, "vllm");
        assert!(
            v.iter().any(|f| f.field == "matrix.decode_concurrency"),
            "{v:?}"
        );
    }

    #[test]
    fn owned_and_reserved_flags_are_refused() {
        let mut s = ok_scenario();
        s.backend.server_args = "--port=1,--temp=0".into();
        s.matrix
            .server_flags
            .insert("decode_concurrency".into(), Axis(vec![]));
        let v = validate(&s);
        let b = one_model(&s, "mlx_lm");
        assert!(
            b.iter()
                .any(|f| f.field == "backend.args" && f.message.contains("--port"))
        );
        assert!(
            v.iter()
                .any(|f| f.hint.contains("matrix.decode_concurrency"))
        );
    }

    #[test]
    fn filter_and_exclude_are_checked() {
        let mut s = ok_scenario();
        s.matrix.filter = "decode_concurrency <".into();
        s.matrix.exclude.push(
            [(
                "instance".to_string(),
                crate::spec::scenario::FlagValue::Int(1),
            )]
            .into(),
        );
        let f = fields(&s);
        assert!(f.contains(&"matrix.filter".to_string()));
        assert!(f.contains(&"matrix.exclude[0].instance".to_string()));
    }
}
