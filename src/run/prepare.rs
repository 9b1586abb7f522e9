//! Everything a run derives from a scenario, computed before anything
//! starts: every instance's command line and every nginx config (so a
//! template that fails on instance 3 fails before instance 0 starts), and
//! each point's load plan, deadline, prompt count and first send times,
//! with the run-wide durations (request timeout, backoff, pauses, waits).
//! Preflight calls it; the `prepare` fuzz target drives it with arbitrary
//! scenarios, so every conversion the run does from user values is
//! exercised without servers. Nothing here can panic on a loaded scenario:
//! its durations are bounded (`spec::units`) and its arithmetic saturates.

use std::path::Path;
use std::time::Duration;

use super::requests::{load_plan, precision_cap, prompt_count, with_cap};
use super::warmup::round_size;
use crate::load::arrival::Schedule;
use crate::load::driver::LoadPlan;
use crate::scenario::Resolved;
use crate::server::command::Commands;
use crate::server::set::{endpoints, nginx_config, nginx_prefix};
use crate::server::settings::ServerSettings;

/// How many send times of an open-loop point are drawn ahead.
const SENDS_DRAWN: usize = 64;

/// One server configuration, ready to start.
#[derive(Debug, Clone)]
pub struct PreparedServer {
    pub index: usize,
    /// Each launched instance's full argv (empty for external endpoints).
    pub argv: Vec<Vec<String>>,
    /// The rendered nginx config, when nginx fronts the configuration.
    pub nginx_conf: Option<String>,
}

/// One point, ready to send.
#[derive(Debug, Clone)]
pub struct PreparedPoint {
    pub index: usize,
    /// How its load is sent, with its deadline (always set).
    pub load: LoadPlan,
    /// Prompts it builds (its cap's, when a precision target extends it).
    pub prompts: usize,
    /// Requests it sends per repeat (0 for a time-bounded point).
    pub requests: u64,
    /// Requests of one shape-warmup round.
    pub warmup_round: u64,
    /// An open-loop point's first send times from its start.
    pub first_sends: Vec<Duration>,
}

/// A run's derived values.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub settings: ServerSettings,
    pub request_timeout: Duration,
    pub retry_backoff: Duration,
    /// The wait before the last retry of a request (`retries × backoff`).
    pub longest_backoff: Duration,
    pub pause_between_points: Duration,
    pub release_timeout: Duration,
    pub warmup_budget: Duration,
    pub precision_budget: Duration,
    /// Requests over the whole run, repeats included (saturating).
    pub total_requests: u64,
    pub servers: Vec<PreparedServer>,
    pub points: Vec<PreparedPoint>,
}

/// The run of `r`, with `python` for Python backends and its folder
/// `run_dir` (named in nginx configs); an error names the configuration.
pub fn prepare(r: &Resolved, python: &str, run_dir: &Path) -> Result<Prepared, String> {
    let s = &r.scenario;
    let settings = ServerSettings::of(s);
    let cmds = Commands {
        scenario: s,
        registry: &r.registry,
        models: &r.models,
        python: python.to_string(),
        run_dir: run_dir.to_path_buf(),
        run_tag: crate::server::set::run_tag(run_dir),
    };
    let mut servers = Vec::with_capacity(r.plan.servers.len());
    for cfg in &r.plan.servers {
        let def = cmds.def(cfg)?;
        let mut argv = Vec::new();
        if def.launches() {
            for i in 0..cfg.instances {
                let a = cmds
                    .instance_argv(cfg, i, settings.instance_port(i))
                    .map_err(|e| format!("configuration {}: {e}", cfg.index + 1))?;
                argv.push(a);
            }
        }
        let nginx_conf = if cfg.uses_nginx() {
            let eps = endpoints(&settings, def, cfg)
                .map_err(|e| format!("configuration {}: {e}", cfg.index + 1))?;
            Some(
                nginx_config(&settings, &nginx_prefix(run_dir), cfg, &eps)
                    .map_err(|e| format!("configuration {}: {e}", cfg.index + 1))?,
            )
        } else {
            None
        };
        servers.push(PreparedServer {
            index: cfg.index,
            argv,
            nginx_conf,
        });
    }
    let repeats = u64::from(s.run.repeats.max(1));
    let mut total_requests = 0u64;
    let points = r
        .plan
        .points
        .iter()
        .map(|point| {
            let load = load_plan(s, point);
            let extended = with_cap(load, precision_cap(s, point));
            let requests = extended.bound.count();
            total_requests = total_requests.saturating_add(requests.saturating_mul(repeats));
            let first_sends = load
                .open
                .map(|o| {
                    Schedule::new(o.arrival, o.rate, o.burstiness, o.seed)
                        .take(SENDS_DRAWN)
                        .collect()
                })
                .unwrap_or_default();
            PreparedPoint {
                index: point.index,
                load,
                prompts: prompt_count(&extended),
                requests,
                warmup_round: round_size(point.concurrency),
                first_sends,
            }
        })
        .collect();
    let w = &s.workload;
    Ok(Prepared {
        settings,
        request_timeout: w.request_timeout_s.duration(),
        retry_backoff: w.retry_backoff_s.duration(),
        longest_backoff: w.retry_backoff_s.duration().saturating_mul(w.retries),
        pause_between_points: s.run.pause_between_points_s.duration(),
        release_timeout: s.memory.release_timeout_s.duration(),
        warmup_budget: s.run.warmup.max_s.duration(),
        precision_budget: s.run.precision.max_s.duration(),
        total_requests,
        servers,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(text: &str) -> Result<Prepared, String> {
        let r = crate::scenario::testing::with_tiny_model(text);
        prepare(&r, "python3", Path::new("/tmp/run"))
    }

    #[test]
    fn every_instance_and_router_is_rendered_and_every_point_has_a_deadline() {
        let p = prepared(
            r#"
[model]
path = "tiny"
[workload]
requests_per_concurrency = 3
retries = 4
retry_backoff_s = 0.25
[matrix]
instances = [1, 2]
concurrency = [1, 4]
"#,
        )
        .unwrap();
        assert_eq!(p.servers.len(), 2);
        assert_eq!(p.servers[1].argv.len(), 2);
        let ports: Vec<&str> = p.servers[1]
            .argv
            .iter()
            .map(|a| a[a.iter().position(|x| x == "--port").unwrap() + 1].as_str())
            .collect();
        assert_eq!(ports, ["9000", "9001"]);
        assert!(p.servers[0].nginx_conf.is_none());
        let conf = p.servers[1].nginx_conf.as_deref().unwrap();
        assert!(conf.contains("127.0.0.1:9001"), "{conf}");
        assert_eq!(p.longest_backoff, Duration::from_secs(1));
        assert_eq!(
            p.points.iter().map(|x| x.requests).collect::<Vec<_>>(),
            [3, 12, 3, 12]
        );
        assert_eq!(p.total_requests, 30);
        for pt in &p.points {
            // a deadline covers at least one request's timeout
            assert!(pt.load.deadline.unwrap() >= p.request_timeout);
            assert_eq!(pt.prompts as u64, pt.requests);
        }
    }

    #[test]
    fn the_longest_values_a_scenario_may_hold_prepare_without_overflow() {
        let p = prepared(
            r#"
[model]
path = "tiny"
[workload]
request_timeout_s = 2592000
retry_backoff_s = 2592000
retries = 100
requests = 1000000
[run]
repeats = 1
pause_between_points_s = 2592000
[matrix]
request_rate = 0.001
concurrency = 65536
"#,
        )
        .unwrap();
        let pt = &p.points[0];
        assert!(pt.load.deadline.unwrap() > Duration::from_secs(2_592_000));
        assert_eq!(pt.first_sends.len(), SENDS_DRAWN);
        assert!(pt.first_sends.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(p.longest_backoff, Duration::from_secs(259_200_000));
    }
}
