//! The performance charts' data: throughput against request concurrency
//! (or rate) per configuration and run, latency against throughput with
//! its Pareto fronts, and the requests each instance served per point;
//! each figure with its confidence interval's bounds (`lo`, `hi`, null
//! when unknown) for the whiskers the page draws.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::pareto;
use crate::report::data::{PointRecord, RunData};

/// Whether a point ran open loop (a request rate) rather than closed loop.
fn open_loop(p: &PointRecord) -> bool {
    !p.request_rate.is_empty()
}

/// What else, beside the configuration, tells the curves apart: max and
/// input tokens when the runs vary them, a vision point's images, the
/// concurrency cap in open loop.
struct Extras {
    max_tokens: bool,
    input_tokens: bool,
}

/// A vision point's images as a curve label part: ` img=2@512x512`.
fn images_label(p: &PointRecord) -> String {
    match (p.image_count, &p.image_size) {
        (Some(n), Some(sz)) if n > 0 => format!(" img={n}@{sz}"),
        (Some(n), _) => format!(" img={n}"),
        _ => String::new(),
    }
}

impl Extras {
    fn of(runs: &[&RunData]) -> Extras {
        let pts = || runs.iter().flat_map(|r| r.measured());
        Extras {
            max_tokens: pts().map(|p| p.max_tokens).collect::<BTreeSet<_>>().len() > 1,
            input_tokens: pts().map(|p| p.input_tokens).collect::<BTreeSet<_>>().len() > 1,
        }
    }

    fn label(&self, p: &PointRecord) -> String {
        let mut s = p.config_label();
        if self.max_tokens {
            s.push_str(&format!(" mt={}", p.max_tokens));
        }
        if self.input_tokens {
            s.push_str(&format!(
                " in={}",
                p.input_tokens.map_or("-".into(), |n| n.to_string())
            ));
        }
        s.push_str(&images_label(p));
        if open_loop(p) && !matches!(p.concurrency.as_str(), "" | "none") {
            s.push_str(&format!(" c≤{}", p.concurrency));
        }
        s
    }
}

/// One curve: x (as f64 bits) -> (throughput, point, configuration index,
/// the throughput's interval).
type Curve = BTreeMap<u64, (f64, usize, usize, Option<(f64, f64)>)>;

/// Palette order: every configuration label, main run first.
pub fn configs(runs: &[&RunData]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in runs.iter().flat_map(|r| r.points.iter()) {
        let l = p.config_label();
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

/// Throughput charts: one against request concurrency (closed-loop
/// points), one against request rate (open-loop points with a finite
/// rate), each only when it has points; and notes on what was left out.
pub fn throughput(runs: &[&RunData], configs: &[String]) -> (Vec<Value>, Vec<String>) {
    let extras = Extras::of(runs);
    let mut charts = Vec::new();
    let mut notes = Vec::new();
    for open in [false, true] {
        let mut series: BTreeMap<(usize, String), Curve> = BTreeMap::new();
        let mut xs: BTreeSet<u64> = BTreeSet::new();
        let mut infinite = 0;
        for (ri, run) in runs.iter().enumerate() {
            for p in run.measured_tokens().filter(|p| open_loop(p) == open) {
                let raw = if open {
                    &p.request_rate
                } else {
                    &p.concurrency
                };
                let Some(x) = raw
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x > 0.0)
                else {
                    infinite += 1;
                    continue;
                };
                let key = x.to_bits();
                xs.insert(key);
                let cfg = configs
                    .iter()
                    .position(|c| *c == p.config_label())
                    .unwrap_or(0);
                let slot = series.entry((ri, extras.label(p))).or_default();
                // a repeated load keeps its best throughput
                if slot.get(&key).is_none_or(|best| best.0 < p.throughput_tps) {
                    let ci = p.figure("throughput_tps").interval();
                    slot.insert(key, (p.throughput_tps, p.point, cfg, ci));
                }
            }
        }
        if open && infinite > 0 {
            notes.push(format!(
                "{infinite} open-loop point(s) at request_rate=inf (all requests at once) have no place on a rate axis; see the table."
            ));
        }
        if series.is_empty() {
            continue;
        }
        let mut x: Vec<f64> = xs.iter().map(|b| f64::from_bits(*b)).collect();
        x.sort_by(f64::total_cmp);
        let (lo, hi) = (x[0], x[x.len() - 1]);
        let list: Vec<Value> = series
            .into_iter()
            .map(|((ri, label), by_x)| {
                let at = |v: f64| by_x.get(&v.to_bits());
                let config = by_x.values().next().map_or(0, |v| v.2);
                json!({
                    "label": if ri == 0 { label } else { format!("{} · {label}", runs[ri].run_id) },
                    "run": ri,
                    "config": config,
                    "dashed": ri > 0,
                    "y": x.iter().map(|v| at(*v).map(|t| t.0)).collect::<Vec<_>>(),
                    "points": x.iter().map(|v| at(*v).map(|t| t.1)).collect::<Vec<_>>(),
                    "lo": x.iter().map(|v| at(*v).and_then(|t| t.3).map(|c| c.0)).collect::<Vec<_>>(),
                    "hi": x.iter().map(|v| at(*v).and_then(|t| t.3).map(|c| c.1)).collect::<Vec<_>>(),
                })
            })
            .collect();
        charts.push(json!({
            "id": if open { "throughput_rate" } else { "throughput" },
            "title": if open { "Throughput vs request rate" } else { "Throughput vs request concurrency" },
            "x_label": if open { "request rate (requests/s)" } else { "request concurrency" },
            "log2": hi / lo >= 8.0,
            "x": x,
            "series": list,
        }));
    }
    (charts, notes)
}

/// The latency scatter: measured points of `run` in ascending throughput
/// with their TTFT and ITL p50/p99, and for each of those four the rows on
/// its Pareto front (most throughput, least latency).
pub fn latency(run: &RunData, configs: &[String]) -> Option<Value> {
    let mut pts: Vec<&PointRecord> = run.measured_tokens().collect();
    if pts.is_empty() {
        return None;
    }
    pts.sort_by(|a, b| a.throughput_tps.total_cmp(&b.throughput_tps));
    let get = |f: fn(&PointRecord) -> Option<f64>| pts.iter().map(|p| f(p)).collect::<Vec<_>>();
    let cols: [(&str, Vec<Option<f64>>); 4] = [
        ("ttft_p50", get(|p| p.ttft_ms.p50)),
        ("ttft_p99", get(|p| p.ttft_ms.p99)),
        ("itl_p50", get(|p| p.itl_ms.p50)),
        ("itl_p99", get(|p| p.itl_ms.p99)),
    ];
    let mut front = serde_json::Map::new();
    for (name, col) in &cols {
        let pairs: Vec<(f64, f64)> = pts
            .iter()
            .zip(col)
            .map(|(p, v)| (p.throughput_tps, v.unwrap_or(f64::NAN)))
            .collect();
        front.insert(name.to_string(), json!(pareto::front(&pairs)));
    }
    let rows: Vec<Value> = pts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut row = json!({
                "point": p.point,
                "config": configs.iter().position(|c| *c == p.config_label()).unwrap_or(0),
                "load": p.load_label(),
                "tps": p.throughput_tps,
            });
            for (name, col) in &cols {
                row[*name] = json!(col[i]);
            }
            // each figure's interval, for the whiskers: `tps_lo`, `ttft_p50_hi`, …
            for (name, key) in [
                ("tps", "throughput_tps"),
                ("ttft_p50", "ttft_p50_ms"),
                ("ttft_p99", "ttft_p99_ms"),
                ("itl_p50", "itl_p50_ms"),
                ("itl_p99", "itl_p99_ms"),
            ] {
                let ci = p.figure(key).interval();
                row[format!("{name}_lo")] = json!(ci.map(|c| c.0));
                row[format!("{name}_hi")] = json!(ci.map(|c| c.1));
            }
            row
        })
        .collect();
    Some(json!({"rows": rows, "front": front}))
}

/// Requests each instance served, per measured point of `run` that says.
pub fn instances(run: &RunData, configs: &[String]) -> Option<Value> {
    let rows: Vec<Value> = run
        .measured()
        .filter(|p| !p.instance_requests.is_empty())
        .map(|p| {
            json!({
                "point": p.point,
                "config": configs.iter().position(|c| *c == p.config_label()).unwrap_or(0),
                "label": format!("{} {}", p.config_label(), p.load_label()),
                "requests": p.instance_requests,
            })
        })
        .collect();
    let max = run
        .measured()
        .map(|p| p.instance_requests.len())
        .max()
        .unwrap_or(0);
    (!rows.is_empty()).then(|| json!({"rows": rows, "instances": max}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: usize, inst: u32, conc: &str, rate: &str, tps: f64) -> PointRecord {
        PointRecord {
            point: n,
            outcome: "ok".into(),
            model: "m".into(),
            backend: "b".into(),
            instances: inst,
            ranks: 1,
            concurrency: conc.into(),
            request_rate: rate.into(),
            max_tokens: 8,
            ok_requests: 1,
            throughput_tps: tps,
            ..Default::default()
        }
    }

    fn run(id: &str, points: Vec<PointRecord>) -> RunData {
        RunData {
            run_id: id.into(),
            points,
            ..Default::default()
        }
    }

    #[test]
    fn throughput_curves_align_on_one_axis_per_loop_kind_with_compared_runs_dashed() {
        let main = run(
            "new",
            vec![
                point(1, 1, "1", "", 10.0),
                point(2, 1, "8", "", 40.0),
                point(3, 2, "2", "", 25.0),
                point(4, 1, "none", "4", 30.0),
                point(5, 1, "none", "inf", 50.0),
            ],
        );
        let old = run("old", vec![point(1, 1, "1", "", 9.0)]);
        let runs = [&main, &old];
        let cfgs = configs(&runs);
        assert_eq!(cfgs, ["m b ×1", "m b ×2"]);
        let (charts, notes) = throughput(&runs, &cfgs);
        assert_eq!(charts.len(), 2);
        let c = &charts[0];
        assert_eq!(c["id"], "throughput");
        assert_eq!(c["x"], json!([1.0, 2.0, 8.0]));
        assert_eq!(c["log2"], true, "1 to 8 spans 8×");
        let s = c["series"].as_array().unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0]["label"], "m b ×1");
        assert_eq!(s[0]["y"], json!([10.0, null, 40.0]));
        assert_eq!(s[0]["points"], json!([1, null, 2]));
        assert_eq!(s[1]["label"], "m b ×2");
        assert_eq!(s[1]["config"], 1);
        assert_eq!(s[2]["label"], "old · m b ×1");
        assert_eq!(s[2]["dashed"], true);
        assert_eq!(s[2]["y"], json!([9.0, null, null]));
        let r = &charts[1];
        assert_eq!(r["id"], "throughput_rate");
        assert_eq!(r["x"], json!([4.0]));
        assert_eq!(r["log2"], false);
        assert!(
            notes[0].starts_with("1 open-loop point(s) at request_rate=inf"),
            "{notes:?}"
        );
    }

    /// `p` with intervals on throughput (± `half`) and TTFT p50 (9–12).
    fn with_ci(mut p: PointRecord, half: f64) -> PointRecord {
        use crate::report::data::{Figure, Intervals};
        let mut i = Intervals {
            level: 0.95,
            ..Default::default()
        };
        let f = |key: &str, v: f64, lo: f64, hi: f64| Figure {
            key: key.into(),
            value: Some(v),
            lo: Some(lo),
            hi: Some(hi),
            level: 0.95,
            ..Default::default()
        };
        let t = p.throughput_tps;
        i.figures.insert(
            "throughput_tps".into(),
            f("throughput_tps", t, t - half, t + half),
        );
        i.figures
            .insert("ttft_p50_ms".into(), f("ttft_p50_ms", 10.0, 9.0, 12.0));
        p.ttft_ms.p50 = Some(10.0);
        p.intervals = Some(i);
        p
    }

    #[test]
    fn the_charts_carry_each_figure_s_interval_for_the_whiskers() {
        let main = run(
            "r",
            vec![
                with_ci(point(1, 1, "1", "", 10.0), 1.5),
                point(2, 1, "2", "", 20.0), // an older record: no interval
            ],
        );
        let runs = [&main];
        let cfgs = configs(&runs);
        let (charts, _) = throughput(&runs, &cfgs);
        let s = &charts[0]["series"][0];
        assert_eq!(s["y"], json!([10.0, 20.0]));
        assert_eq!(s["lo"], json!([8.5, null]));
        assert_eq!(s["hi"], json!([11.5, null]));
        let l = latency(&main, &cfgs).unwrap();
        let row = &l["rows"][0];
        assert_eq!(
            (
                &row["tps_lo"],
                &row["tps_hi"],
                &row["ttft_p50_lo"],
                &row["ttft_p50_hi"]
            ),
            (&json!(8.5), &json!(11.5), &json!(9.0), &json!(12.0))
        );
        assert_eq!(row["ttft_p99_lo"], Value::Null);
        assert_eq!(l["rows"][1]["tps_lo"], Value::Null);
    }

    #[test]
    fn latency_rows_run_in_throughput_order_with_their_fronts() {
        let mut pts = vec![
            point(1, 1, "1", "", 30.0),
            point(2, 1, "2", "", 10.0),
            point(3, 1, "4", "", 20.0),
        ];
        for (p, (t50, i50)) in pts.iter_mut().zip([(5.0, 1.0), (1.0, 3.0), (9.0, 2.0)]) {
            p.ttft_ms.p50 = Some(t50);
            p.itl_ms.p50 = Some(i50);
        }
        let r = run("r", pts);
        let l = latency(&r, &configs(&[&r])).unwrap();
        let order: Vec<u64> = l["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["point"].as_u64().unwrap())
            .collect();
        assert_eq!(order, [2, 3, 1]);
        // rows: (10, 1), (20, 9), (30, 5): point 3 is beaten by point 1
        assert_eq!(l["front"]["ttft_p50"], json!([0, 2]));
        // itl rows: (10, 3), (20, 2), (30, 1): each beats the one before
        assert_eq!(l["front"]["itl_p50"], json!([2]));
        assert_eq!(l["front"]["ttft_p99"], json!([]));
    }
}
