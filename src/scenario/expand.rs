//! The Cartesian product of the matrix axes, in a fixed order: server-shaping
//! axes (model, instances, decode and prompt concurrency, further server
//! flags) vary slowest, client axes (max_tokens, then concurrency) fastest, so
//! each server configuration starts once and serves all of its points.
//! `matrix.filter` and `matrix.exclude` drop combinations afterwards.

use itertools::Itertools;
use serde::Serialize;

use super::model::{FlagValue, Scenario};
use super::server_args::{find_flag, flag_for_key, parse_server_args};

/// One server configuration: what the servers are started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerConfig {
    /// Position in [`Plan::servers`].
    pub index: usize,
    /// The model as given to `--model`.
    pub model: String,
    pub instances: u32,
    /// `--decode-concurrency` that reaches each instance (from the matrix, or
    /// from the user's server args); `None` = the server's own default.
    pub decode_concurrency: Option<u32>,
    pub prompt_concurrency: Option<u32>,
    /// Further swept flags as `(--flag, value)`, in key order.
    pub flags: Vec<(String, String)>,
}

/// One measured point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    /// 0-based position in the run.
    pub index: usize,
    /// Index of its [`ServerConfig`].
    pub server: usize,
    pub concurrency: u32,
    pub max_tokens: u32,
    /// Measured requests of this point.
    pub requests: u64,
}

/// The expanded matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub servers: Vec<ServerConfig>,
    pub points: Vec<Point>,
    /// Size of the product before filter and exclude.
    pub product: usize,
}

impl Plan {
    /// Total measured requests over all points.
    pub fn total_requests(&self) -> u64 {
        self.points.iter().map(|p| p.requests).sum()
    }

    /// The points of server configuration `server`, in order.
    pub fn points_of(&self, server: usize) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(move |p| p.server == server)
    }

    /// Names of the swept server flags (the `flags` keys), for CSV columns.
    pub fn flag_names(&self) -> Vec<String> {
        self.servers
            .first()
            .map(|s| s.flags.iter().map(|(f, _)| f.clone()).collect())
            .unwrap_or_default()
    }
}

fn values_or_none(axis: Option<&super::model::Axis<u32>>) -> Vec<Option<u32>> {
    match axis {
        Some(a) => a.values().iter().copied().map(Some).collect(),
        None => vec![None],
    }
}

/// The user's value of `flag` in the server args, when it is a number.
fn user_value(s: &Scenario, flag: &str) -> Option<u32> {
    let mut args = s.backend.args.clone();
    args.extend(parse_server_args(&s.backend.server_args).unwrap_or_default());
    find_flag(&args, flag).and_then(|v| v.parse().ok())
}

/// Context for `matrix.filter` and `matrix.exclude` at one combination.
fn axis_values(
    cfg: &ServerConfig,
    max_tokens: u32,
    concurrency: u32,
) -> Vec<(String, Option<String>)> {
    let mut v = vec![
        ("model".to_string(), Some(cfg.model.clone())),
        ("instances".to_string(), Some(cfg.instances.to_string())),
        (
            "decode_concurrency".to_string(),
            cfg.decode_concurrency.map(|x| x.to_string()),
        ),
        (
            "prompt_concurrency".to_string(),
            cfg.prompt_concurrency.map(|x| x.to_string()),
        ),
        ("max_tokens".to_string(), Some(max_tokens.to_string())),
        ("concurrency".to_string(), Some(concurrency.to_string())),
    ];
    for (flag, value) in &cfg.flags {
        v.push((
            flag.trim_start_matches("--").replace('-', "_"),
            Some(value.clone()),
        ));
    }
    v
}

fn filter_context(values: &[(String, Option<String>)]) -> minijinja::Value {
    let map: std::collections::BTreeMap<String, minijinja::Value> = values
        .iter()
        .map(|(k, v)| {
            let val = match v {
                None => minijinja::Value::from(()),
                Some(s) => match s.parse::<i64>() {
                    Ok(i) => minijinja::Value::from(i),
                    Err(_) => minijinja::Value::from(s.as_str()),
                },
            };
            (k.clone(), val)
        })
        .collect();
    minijinja::Value::from_pairs(map)
}

/// Compile `matrix.filter` and try it on the first combination.
pub fn check_filter(s: &Scenario) -> Result<(), String> {
    expand(s, "").map(|_| ())
}

/// Expand the matrix of `s`; `model` is the `--model` string.
pub fn expand(s: &Scenario, model: &str) -> Result<Plan, String> {
    let m = &s.matrix;
    let env = minijinja::Environment::new();
    let filter = if m.filter.trim().is_empty() {
        None
    } else {
        Some(
            env.compile_expression(&m.filter)
                .map_err(|e| e.to_string())?,
        )
    };
    let decode_axis = values_or_none(m.decode_concurrency.as_ref());
    let prompt_axis = values_or_none(m.prompt_concurrency.as_ref());
    let decode_default = user_value(s, "--decode-concurrency");
    let prompt_default = user_value(s, "--prompt-concurrency");
    let flag_axes: Vec<(String, &[FlagValue])> = m
        .server_flags
        .iter()
        .map(|(k, a)| (flag_for_key(k), a.values()))
        .collect();
    let flag_combos: Vec<Vec<(String, String)>> = if flag_axes.is_empty() {
        vec![Vec::new()]
    } else {
        flag_axes
            .iter()
            .map(|(flag, values)| {
                values
                    .iter()
                    .map(|v| (flag.clone(), v.to_string()))
                    .collect::<Vec<_>>()
            })
            .multi_cartesian_product()
            .collect()
    };

    let mut plan = Plan {
        servers: Vec::new(),
        points: Vec::new(),
        product: 0,
    };
    for (instances, decode, prompt, flags) in itertools::iproduct!(
        m.instances.values().iter().copied(),
        decode_axis.iter().copied(),
        prompt_axis.iter().copied(),
        flag_combos.iter()
    ) {
        let mut cfg = ServerConfig {
            index: plan.servers.len(),
            model: model.to_string(),
            instances,
            decode_concurrency: decode.or(decode_default),
            prompt_concurrency: prompt.or(prompt_default),
            flags: flags.clone(),
        };
        let mut kept = 0;
        for (max_tokens, concurrency) in itertools::iproduct!(
            m.max_tokens.values().iter().copied(),
            m.concurrency.values().iter().copied()
        ) {
            plan.product += 1;
            let values = axis_values(&cfg, max_tokens, concurrency);
            if excluded(s, &values) {
                continue;
            }
            if let Some(f) = &filter {
                let keep = f
                    .eval(filter_context(&values))
                    .map_err(|e| format!("cannot evaluate: {e}"))?;
                if !keep.is_true() {
                    continue;
                }
            }
            let requests = s
                .workload
                .requests
                .unwrap_or(u64::from(concurrency) * s.workload.requests_per_concurrency);
            plan.points.push(Point {
                index: plan.points.len(),
                server: cfg.index,
                concurrency,
                max_tokens,
                requests,
            });
            kept += 1;
        }
        if kept > 0 {
            cfg.index = plan.servers.len();
            plan.servers.push(cfg);
        }
    }
    Ok(plan)
}

fn excluded(s: &Scenario, values: &[(String, Option<String>)]) -> bool {
    s.matrix.exclude.iter().any(|rule| {
        !rule.is_empty()
            && rule.iter().all(|(k, want)| {
                values
                    .iter()
                    .find(|(name, _)| name == k)
                    .and_then(|(_, have)| have.as_ref())
                    .is_some_and(|have| *have == want.to_string())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::super::model::Axis;
    use super::*;

    fn sweep() -> Scenario {
        let mut s = Scenario::default();
        s.model.path = "m".into();
        s.matrix.instances = Axis(vec![1, 2]);
        s.matrix.decode_concurrency = Some(Axis(vec![8, 16]));
        s.matrix.prompt_concurrency = Some(Axis(vec![2]));
        s.matrix.concurrency = Axis(vec![1, 4]);
        s.matrix.max_tokens = Axis(vec![32]);
        s
    }

    fn tuples(p: &Plan) -> Vec<(u32, Option<u32>, u32)> {
        p.points
            .iter()
            .map(|pt| {
                let c = &p.servers[pt.server];
                (c.instances, c.decode_concurrency, pt.concurrency)
            })
            .collect()
    }

    #[test]
    fn order_is_server_axes_slowest_client_fastest() {
        let p = expand(&sweep(), "m").unwrap();
        assert_eq!(
            tuples(&p),
            vec![
                (1, Some(8), 1),
                (1, Some(8), 4),
                (1, Some(16), 1),
                (1, Some(16), 4),
                (2, Some(8), 1),
                (2, Some(8), 4),
                (2, Some(16), 1),
                (2, Some(16), 4),
            ]
        );
        assert_eq!(p.servers.len(), 4);
        assert_eq!(p.product, 8);
        // each server configuration's points are contiguous
        let servers: Vec<usize> = p.points.iter().map(|x| x.server).collect();
        assert_eq!(servers, vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(
            p.points.iter().map(|x| x.index).collect::<Vec<_>>(),
            (0..8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn max_tokens_varies_slower_than_concurrency() {
        let mut s = Scenario::default();
        s.matrix.max_tokens = Axis(vec![64, 128]);
        s.matrix.concurrency = Axis(vec![1, 2]);
        let p = expand(&s, "m").unwrap();
        let got: Vec<(u32, u32)> = p
            .points
            .iter()
            .map(|x| (x.max_tokens, x.concurrency))
            .collect();
        assert_eq!(got, vec![(64, 1), (64, 2), (128, 1), (128, 2)]);
        assert_eq!(p.servers.len(), 1);
    }

    #[test]
    fn requests_follow_count_or_multiplier() {
        let mut s = sweep();
        s.workload.requests_per_concurrency = 3;
        let p = expand(&s, "m").unwrap();
        assert_eq!(p.points[1].requests, 12);
        assert_eq!(p.total_requests(), 4 * (3 + 12));
        s.workload.requests = Some(5);
        assert_eq!(expand(&s, "m").unwrap().total_requests(), 40);
    }

    #[test]
    fn filter_and_exclude_drop_points_and_empty_servers() {
        let mut s = sweep();
        s.matrix.filter = "decode_concurrency >= 16".into();
        let p = expand(&s, "m").unwrap();
        assert_eq!(p.points.len(), 4);
        assert_eq!(p.servers.len(), 2);
        assert_eq!(p.product, 8);
        assert!(
            p.points
                .iter()
                .all(|x| p.servers[x.server].decode_concurrency == Some(16))
        );

        let mut s = sweep();
        s.matrix.exclude = vec![
            [
                ("instances".to_string(), FlagValue::Int(2)),
                ("concurrency".to_string(), FlagValue::Int(1)),
            ]
            .into(),
        ];
        let p = expand(&s, "m").unwrap();
        assert_eq!(p.points.len(), 6);
        assert!(!tuples(&p).iter().any(|t| t.0 == 2 && t.2 == 1));
    }

    #[test]
    fn server_flag_axes_multiply_server_configs() {
        let mut s = Scenario::default();
        s.matrix.server_flags.insert(
            "prefill_step_size".into(),
            Axis(vec![FlagValue::Int(512), FlagValue::Int(2048)]),
        );
        s.matrix.concurrency = Axis(vec![1, 2]);
        let p = expand(&s, "m").unwrap();
        assert_eq!(p.servers.len(), 2);
        assert_eq!(
            p.servers[1].flags,
            vec![("--prefill-step-size".to_string(), "2048".to_string())]
        );
        assert_eq!(p.flag_names(), vec!["--prefill-step-size".to_string()]);
    }

    #[test]
    fn user_flag_value_is_recorded_when_not_swept() {
        let mut s = Scenario::default();
        s.backend.server_args = "--decode-concurrency=12,--temp=0".into();
        let p = expand(&s, "m").unwrap();
        assert_eq!(p.servers[0].decode_concurrency, Some(12));
        assert_eq!(p.servers[0].prompt_concurrency, None);
    }

    #[test]
    fn full_sweep_sizes() {
        let mut s = Scenario::default();
        s.matrix.instances = Axis(vec![1, 2, 4]);
        s.matrix.decode_concurrency = Some(Axis(vec![8, 16, 32, 64]));
        s.matrix.prompt_concurrency = Some(Axis(vec![2, 4, 8, 16]));
        s.matrix.concurrency = Axis(vec![1, 2, 4, 8, 16, 32, 64, 128, 256]);
        let p = expand(&s, "m").unwrap();
        assert_eq!((p.points.len(), p.servers.len()), (432, 48));
    }
}
