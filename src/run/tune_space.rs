//! What `mlxrun tune` searches, from the run's plan: the plan's points
//! grouped into the search's configurations (a server configuration with
//! the matrix's other non-load values: max tokens, input tokens,
//! temperature, media), each with its loads — the concurrency values, or
//! the request rates when the scenario runs an open loop — and the
//! requests of each load's own point. Also the scenario settings a search
//! cannot honour, refused before anything starts.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::UsageError;
use crate::metrics::point::PointMetrics;
use crate::output::row::PointRow;
use crate::scenario::Resolved;
use crate::scenario::expand::{Plan, Point};
use crate::tune::search::{ConfigAxis, Space};

/// A closed-loop probe at concurrency `c` measures at least this many
/// times `c` requests (and sends a round of `c` unmeasured on each side,
/// so none of them is measured at less than full concurrency).
pub const CLOSED_LOOP_ROUNDS: u64 = 2;

/// Which value of a point is its load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadAxis {
    Concurrency,
    RequestRate,
}

impl LoadAxis {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadAxis::Concurrency => "concurrency",
            LoadAxis::RequestRate => "request_rate",
        }
    }

    /// `point`'s load on this axis (an infinite rate is `inf`).
    pub fn load_of(self, point: &Point) -> f64 {
        match self {
            LoadAxis::Concurrency => f64::from(point.concurrency),
            LoadAxis::RequestRate => point.request_rate.map_or(f64::NAN, |r| r.get()),
        }
    }
}

/// One configuration of the search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuneConfig {
    /// Index into the plan's server configurations.
    pub server: usize,
    pub label: String,
    /// Indices into the plan's points, by load ascending (the search's
    /// load indices).
    pub points: Vec<usize>,
}

/// The search's space and how it maps onto the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneSpace {
    pub load_axis: LoadAxis,
    pub configs: Vec<TuneConfig>,
    pub space: Space,
}

impl TuneSpace {
    /// The plan's point of `config`'s load `load_index`.
    pub fn point<'p>(&self, plan: &'p Plan, config: usize, load_index: usize) -> Option<&'p Point> {
        let c = self.configs.get(config)?;
        plan.points.get(*c.points.get(load_index)?)
    }
}

/// The search space of `plan`. The load axis is the request rate when any
/// point runs an open loop, else the concurrency.
pub fn tune_space(plan: &Plan) -> TuneSpace {
    let load_axis = if plan.points.iter().any(Point::open_loop) {
        LoadAxis::RequestRate
    } else {
        LoadAxis::Concurrency
    };
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut configs: Vec<TuneConfig> = Vec::new();
    for p in &plan.points {
        let key = group_key(p, load_axis);
        let at = *by_key.entry(key).or_insert_with(|| {
            configs.push(TuneConfig {
                server: p.server,
                label: label_of(plan, p, load_axis),
                points: Vec::new(),
            });
            configs.len() - 1
        });
        configs[at].points.push(p.index);
    }
    shorten_labels(&mut configs);
    for c in &mut configs {
        c.points.sort_by(|a, b| {
            load_axis
                .load_of(&plan.points[*a])
                .total_cmp(&load_axis.load_of(&plan.points[*b]))
        });
        c.points.dedup_by(|a, b| {
            load_axis.load_of(&plan.points[*a]) == load_axis.load_of(&plan.points[*b])
        });
    }
    let axes = configs
        .iter()
        .map(|c| {
            let points: Vec<&Point> = c.points.iter().map(|&i| &plan.points[i]).collect();
            ConfigAxis {
                label: c.label.clone(),
                loads: points.iter().map(|p| load_axis.load_of(p)).collect(),
                requests: points.iter().map(|p| p.requests).collect(),
                min_requests: points
                    .iter()
                    .map(|p| match load_axis {
                        LoadAxis::Concurrency => {
                            u64::from(p.concurrency).saturating_mul(CLOSED_LOOP_ROUNDS)
                        }
                        LoadAxis::RequestRate => 0,
                    })
                    .collect(),
            }
        })
        .collect();
    TuneSpace {
        load_axis,
        configs,
        space: Space {
            configs: axes,
            requests_per_point: 0,
        },
    }
}

/// What a point is apart from its load: the points of one configuration
/// of the search share it.
fn group_key(p: &Point, axis: LoadAxis) -> String {
    let mut q = p.clone();
    q.index = 0;
    q.requests = 0;
    q.server_mode.clear();
    match axis {
        LoadAxis::Concurrency => q.concurrency = 0,
        LoadAxis::RequestRate => q.request_rate = None,
    }
    serde_json::to_string(&q).unwrap_or_default()
}

/// The point's parameters as a run prints them, without its load.
fn label_of(plan: &Plan, p: &Point, axis: LoadAxis) -> String {
    let Some(cfg) = plan.servers.get(p.server) else {
        return format!("configuration {}", p.server + 1);
    };
    let params = PointRow::new(cfg, p, PointMetrics::default()).params();
    let load = format!("{}=", axis.as_str());
    params
        .split_whitespace()
        .filter(|t| !t.starts_with(&load))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Each label without the parameters every configuration shares (the
/// model, say, when only server flags vary), so what tells them apart is
/// what is read; a single configuration keeps its whole label.
fn shorten_labels(configs: &mut [TuneConfig]) {
    if configs.len() < 2 {
        return;
    }
    let tokens: Vec<Vec<String>> = configs
        .iter()
        .map(|c| c.label.split_whitespace().map(String::from).collect())
        .collect();
    let shared = |t: &String| tokens.iter().all(|ts| ts.contains(t));
    for (c, ts) in configs.iter_mut().zip(&tokens) {
        let own: Vec<&str> = ts
            .iter()
            .filter(|t| !shared(t))
            .map(String::as_str)
            .collect();
        if !own.is_empty() {
            c.label = own.join(" ");
        }
    }
}

/// The settings of `resolved` a search cannot honour, as one error naming
/// each field, where it was set and what to do; `Ok` when it can run.
pub fn check_tunable(resolved: &Resolved) -> Result<(), UsageError> {
    let s = &resolved.scenario;
    let mut why: Vec<String> = Vec::new();
    let at = |field: &str| format!("{}: {field}", resolved.origin(field));
    if resolved.plan.points.iter().any(|p| p.duration_s.is_some()) {
        why.push(format!(
            "{}: a probe is bounded by its request count, which the search sets\n  next: remove load.duration_s (workload.requests or workload.requests_per_concurrency set a point's requests)",
            at("load.duration_s")
        ));
    }
    if s.run.repeats > 1 {
        why.push(format!(
            "{}: the search measures its contenders again in each halving round instead of repeating every point\n  next: --set run.repeats=1 (tune.halving_eta and tune.min_probes set how often a contender is measured)",
            at("run.repeats")
        ));
    }
    if s.run.precision.is_set() {
        why.push(format!(
            "{}: the search sets each probe's requests\n  next: remove [run.precision] for tune (its contenders reach the point's own requests in the last round)",
            at("run.precision")
        ));
    }
    if resolved.plan.points.is_empty() {
        why.push(format!(
            "{}: the matrix has no point to search\n  next: widen [matrix] or the filter",
            resolved.path.display()
        ));
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(UsageError(format!(
            "mlxrun tune cannot search this scenario:\n{}",
            why.join("\n")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model_path::SearchDirs;
    use crate::scenario::{Overrides, load_str};

    /// `toml` loaded as `t.toml`, its model `m` a local folder.
    fn resolved(toml: &str) -> Resolved {
        let root = tempfile::tempdir().unwrap();
        let m = root.path().join("models/m");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("config.json"), "{}").unwrap();
        let dirs = SearchDirs {
            home: None,
            cwd: root.path().to_path_buf(),
            hf_cache: None,
        };
        load_str(
            std::path::Path::new("t.toml"),
            toml,
            &Overrides::default(),
            &dirs,
        )
        .expect("loads")
    }

    const FULL: &str = r#"
name = "t"
[model]
path = "m"
[workload]
prompt = "hi"
requests_per_concurrency = 4
[matrix]
instances = [1, 2]
decode_concurrency = [8, 16]
concurrency = [4, 1, 2]
max_tokens = [32, 64]
"#;

    #[test]
    fn points_group_by_everything_but_their_load_with_their_own_requests() {
        let r = resolved(FULL);
        let t = tune_space(&r.plan);
        assert_eq!(t.load_axis, LoadAxis::Concurrency);
        // 2 instances × 2 decode × 2 max_tokens, each over 3 concurrencies
        assert_eq!(t.configs.len(), 8);
        assert_eq!(t.space.points(), 12 * 2);
        for (c, axis) in t.configs.iter().zip(&t.space.configs) {
            assert_eq!(axis.loads, [1.0, 2.0, 4.0], "{}", c.label);
            assert_eq!(axis.requests, [4, 8, 16]);
            assert_eq!(axis.min_requests, [2, 4, 8]);
            assert!(!c.label.contains("concurrency=1 "), "{}", c.label);
            assert!(c.label.contains("max_tokens="), "{}", c.label);
            // what every configuration shares is left out of its label
            assert!(!c.label.contains("model="), "{}", c.label);
            assert!(c.label.contains("instances="), "{}", c.label);
            for (i, &p) in c.points.iter().enumerate() {
                let point = &r.plan.points[p];
                assert_eq!(point.server, c.server);
                assert_eq!(f64::from(point.concurrency), axis.loads[i]);
            }
        }
        // every point of the plan is in exactly one configuration
        let mut all: Vec<usize> = t.configs.iter().flat_map(|c| c.points.clone()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..r.plan.points.len()).collect::<Vec<_>>());
        // two configurations on one server differ in max_tokens
        let labels: std::collections::BTreeSet<&str> =
            t.configs.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels.len(), 8);
    }

    #[test]
    fn an_open_loop_searches_its_request_rates() {
        let r = resolved(
            r#"
name = "t"
[model]
path = "m"
[workload]
prompt = "hi"
requests = 30
[matrix]
request_rate = [0.5, 2, 1]
concurrency = 8
"#,
        );
        let t = tune_space(&r.plan);
        assert_eq!(t.load_axis, LoadAxis::RequestRate);
        assert_eq!(t.configs.len(), 1);
        assert_eq!(t.space.configs[0].loads, [0.5, 1.0, 2.0]);
        assert_eq!(t.space.configs[0].min_requests, [0, 0, 0]);
        assert!(t.configs[0].label.contains("concurrency=8"));
    }

    #[test]
    fn settings_a_search_cannot_honour_are_refused_naming_their_field() {
        assert!(check_tunable(&resolved(FULL)).is_ok());
        let e = check_tunable(&resolved(&format!(
            "{FULL}[run]\nrepeats = 3\n[load]\nduration_s = 5\n"
        )))
        .unwrap_err()
        .0;
        assert!(e.contains("t.toml:"), "{e}");
        assert!(e.contains("run.repeats"), "{e}");
        assert!(e.contains("load.duration_s"), "{e}");
        assert!(e.contains("next:"), "{e}");
    }
}
