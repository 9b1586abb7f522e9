//! The lines `mlxrun tune` prints at its end: the best configuration with
//! its interval, the runner-up and whether the two are tied within noise,
//! the Pareto front of throughput against latency, why the search stopped
//! and what it cost against the full product.

use super::tune_space::LoadAxis;
use crate::tune::knee::Score;
use crate::tune::log::{Limit, Stop};
use crate::tune::observation::Estimate;
use crate::tune::search::{ConfigOutcome, PARETO_LATENCY, Standing, TuneResult};

/// Pareto points printed at most (the rest are in tune.jsonl and the reports).
const PARETO_SHOWN: usize = 8;

fn num(v: f64) -> String {
    if !v.is_finite() {
        return if v > 0.0 { "inf".into() } else { "–".into() };
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn estimate(e: &Estimate) -> String {
    match e.interval() {
        Some((lo, hi)) => format!(
            "{} ({:.0}% CI {}–{})",
            num(e.value),
            e.level * 100.0,
            num(lo),
            num(hi)
        ),
        None => format!("{} (no interval)", num(e.value)),
    }
}

fn score(s: &Score, figure: &str, axis: LoadAxis) -> String {
    match s {
        Score::Rate { estimate: e } => format!("{figure} {}", estimate(e)),
        Score::Load {
            value,
            lo,
            hi_excl,
            tie,
        } => {
            let above = hi_excl.map_or("no load above it was found to miss".to_string(), |h| {
                format!("{} {} misses", axis.as_str(), num(h))
            });
            format!(
                "highest {} within the limits {} (at least {}; {above}), {figure} {} there",
                axis.as_str(),
                num(*value),
                num(*lo),
                num(*tie)
            )
        }
    }
}

fn config(o: &ConfigOutcome, figure: &str, axis: LoadAxis) -> String {
    let at = |what: &str, v: Option<f64>| v.map(|v| format!("{what} {}={}", axis.as_str(), num(v)));
    let loads: Vec<String> = [at("knee", o.knee_load), at("best", o.best_load)]
        .into_iter()
        .flatten()
        .collect();
    format!(
        "{} [{}]: {}{}",
        o.label,
        if loads.is_empty() {
            "no load counts".to_string()
        } else {
            loads.join(", ")
        },
        o.score
            .as_ref()
            .map_or("no score".to_string(), |s| score(s, figure, axis)),
        o.pooled.as_ref().map_or(String::new(), |p| format!(
            ", pooled over {} rounds (between rounds ± {})",
            p.rounds,
            num(p.between_sd)
        ))
    )
}

fn stop(s: Option<Stop>) -> &'static str {
    match s {
        None => "did not finish (interrupted): the best so far",
        Some(Stop::OneLeft) => "one configuration left; the others were worse beyond noise",
        Some(Stop::FullPrecision) => {
            "the contenders reached the scenario's own requests per point; what is left is tied within noise"
        }
        Some(Stop::NothingLeft) => "no configuration could be measured",
        Some(Stop::Budget {
            limit: Limit::Points,
        }) => "budget: tune.max_points reached",
        Some(Stop::Budget {
            limit: Limit::Requests,
        }) => "budget: tune.max_requests reached",
        Some(Stop::Budget {
            limit: Limit::Seconds,
        }) => "budget: tune.max_s reached",
    }
}

fn share(part: f64, whole: f64) -> String {
    if whole > 0.0 && part.is_finite() {
        format!("{:.1}%", part / whole * 100.0)
    } else {
        "–".into()
    }
}

/// The end-of-search lines of `r`, whose search ran `wall_s` seconds.
pub fn summary_lines(r: &TuneResult, axis: LoadAxis, wall_s: f64) -> Vec<String> {
    let figure = r.goal.figure();
    let mut out = Vec::new();
    let limits = if r.goal.limits.is_empty() {
        String::new()
    } else {
        format!(
            " under {}",
            r.goal
                .limits
                .iter()
                .map(|(k, v)| format!("{k} ≤ {}", num(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    out.push(format!(
        "tune: {}{limits}; stopped: {}",
        r.goal.objective.as_str(),
        stop(r.stop)
    ));
    match &r.best {
        Some(b) => out.push(format!("tune best: {}", config(b, figure, axis))),
        None => out.push("tune best: none (no configuration has a load that counts)".into()),
    }
    if let Some(u) = &r.runner_up {
        let verdict = match r.tied {
            Some(true) => "tied with the best within noise",
            Some(false) => "below the best beyond noise",
            None => "cannot tell (a figure without an interval)",
        };
        out.push(format!(
            "tune runner-up: {}; {verdict}",
            config(u, figure, axis)
        ));
    }
    for o in &r.configs {
        if let Standing::Excluded { why } = &o.standing {
            out.push(format!("tune excluded: {}: {why}", o.label));
        }
    }
    let dropped = r
        .configs
        .iter()
        .filter(|o| matches!(o.standing, Standing::Dropped { .. }))
        .count();
    if dropped > 0 {
        out.push(format!(
            "tune dropped: {dropped} configuration(s) worse than the leader beyond noise (each with its evidence in tune.jsonl)"
        ));
    }
    if !r.pareto.is_empty() {
        let shown: Vec<String> = r
            .pareto
            .iter()
            .take(PARETO_SHOWN)
            .map(|p| {
                format!(
                    "{} {}={}: {:.1} tok/s at {:.1} ms",
                    p.label,
                    axis.as_str(),
                    num(p.load),
                    p.throughput_tps,
                    p.latency_ms
                )
            })
            .collect();
        let more = r.pareto.len().saturating_sub(PARETO_SHOWN);
        out.push(format!(
            "tune pareto (throughput vs {PARETO_LATENCY}, {} point(s)): {}{}",
            r.pareto.len(),
            shown.join("; "),
            if more > 0 {
                format!("; … {more} more")
            } else {
                String::new()
            }
        ));
    }
    let f = &r.full_product;
    let estimated = f
        .estimated_s
        .map_or("unknown (nothing measured)".to_string(), |e| {
            format!("≈{e:.0} s")
        });
    out.push(format!(
        "tune cost: {} point(s), {} request(s), {wall_s:.0} s; the full product is {} points, {} requests, {estimated} (each point's requests at the rate measured nearest to it; starts and warmups not counted): {} of the points, at most {} of the time",
        r.spent.points,
        r.spent.requests,
        f.points,
        f.requests,
        share(r.spent.points as f64, f.points as f64),
        f.estimated_s
            .map_or("–".to_string(), |e| share(wall_s, e))
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tune::Objective;
    use crate::tune::goal::Goal;
    use crate::tune::observation::Observation;
    use crate::tune::search::{Budget, ConfigAxis, Search, Space};

    /// Two configurations over three loads: `a` peaks at 1000 tok/s from
    /// load 2, `b` at 500.
    fn finished() -> TuneResult {
        let space = Space {
            configs: vec![
                ConfigAxis::new("a", vec![1.0, 2.0, 4.0]),
                ConfigAxis::new("b", vec![1.0, 2.0, 4.0]),
            ],
            requests_per_point: 100,
        };
        let mut s = Search::new(
            space,
            Goal::new(Objective::Throughput, &[]),
            Budget::default(),
            1,
        );
        while let Some(p) = s.next() {
            let peak = if p.config == 0 { 1000.0 } else { 500.0 };
            let t = peak * (p.load / 2.0).min(1.0);
            let obs = Observation::measured(
                [
                    ("throughput_tps", Estimate::new(t, t * 0.98, t * 1.02, 0.95)),
                    (
                        PARETO_LATENCY,
                        Estimate::new(50.0 * p.load, 49.0 * p.load, 51.0 * p.load, 0.95),
                    ),
                    (
                        "requests_per_s",
                        Estimate::new(t / 10.0, t / 10.5, t / 9.5, 0.95),
                    ),
                ],
                p.requests,
                p.requests as f64 * 0.1,
            );
            s.observe(&p, obs);
        }
        s.result()
    }

    #[test]
    fn the_end_names_the_best_its_interval_the_runner_up_and_the_cost() {
        let r = finished();
        let lines = summary_lines(&r, LoadAxis::Concurrency, 12.0);
        let text = lines.join("\n");
        assert!(text.contains("tune best: a [knee concurrency=2"), "{text}");
        assert!(
            text.contains("throughput_tps 1000 (95% CI 980–1020)"),
            "{text}"
        );
        assert!(text.contains("tune runner-up: b"), "{text}");
        assert!(text.contains("below the best beyond noise"), "{text}");
        assert!(
            text.contains("the full product is 6 points, 600 requests"),
            "{text}"
        );
        assert!(text.contains("tune pareto"), "{text}");
        let cost = lines.iter().find(|l| l.starts_with("tune cost:")).unwrap();
        let points = r.spent.points;
        assert!(
            cost.starts_with(&format!("tune cost: {points} point(s)")),
            "{cost}"
        );
        assert!(
            cost.contains(&format!("{} of the points", share(points as f64, 6.0))),
            "{cost}"
        );
    }

    #[test]
    fn an_unfinished_search_says_so() {
        let mut r = finished();
        r.stop = None;
        r.full_product.estimated_s = None;
        let text = summary_lines(&r, LoadAxis::RequestRate, 1.0).join("\n");
        assert!(text.contains("did not finish"), "{text}");
        assert!(text.contains("unknown (nothing measured)"), "{text}");
        assert!(text.contains("knee request_rate="), "{text}");
    }
}
