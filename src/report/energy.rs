//! Energy in the reports: report.md's `## Energy` table (joules, mean
//! power, joules per output token and tokens per joule over each point's
//! measured window, and above idle), and report.html's chart of output
//! tokens per joule against request concurrency per configuration. Where
//! no point has energy figures, both say so with the records' reason.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::report::data::{PointRecord, RunData};
use crate::report::table::{Align, Table};

const L: Align = Align::Left;
const R: Align = Align::Right;

/// A number of the point's `energy` object.
fn energy_f(p: &PointRecord, key: &str) -> Option<f64> {
    p.raw.get("energy")?.get(key)?.as_f64()
}

/// Why the run's measured points have no energy figures (the distinct
/// reasons, most frequent first); `None` when some have figures.
pub fn missing_why(run: &RunData) -> Option<String> {
    let measured: Vec<&PointRecord> = run.measured().collect();
    if measured.is_empty() {
        return Some("no point was measured".into());
    }
    if measured.iter().any(|p| energy_f(p, "total_j").is_some()) {
        return None;
    }
    let mut whys: BTreeMap<String, usize> = BTreeMap::new();
    for p in &measured {
        let why = match p.raw.get("energy") {
            None => "the records predate energy figures (report schema before 0.8.0)".to_string(),
            Some(e) => e
                .get("why")
                .and_then(Value::as_str)
                .unwrap_or("no energy figure")
                .to_string(),
        };
        *whys.entry(why).or_default() += 1;
    }
    let mut whys: Vec<(String, usize)> = whys.into_iter().collect();
    whys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Some(
        whys.into_iter()
            .map(|(w, _)| w)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

fn cell(v: Option<f64>, dp: usize) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{x:.dp$}"))
}

/// `## Energy`: one row per measured point, or why there are no figures.
pub fn markdown(run: &RunData) -> String {
    let mut md = String::from("## Energy\n\n");
    if let Some(why) = missing_why(run) {
        md.push_str(&format!(
            "No energy figures for this run: {why}. Energy is read from NVML (NVIDIA), RAPL (Linux, where readable without root) or IOReport (Apple silicon); see the monitor header's `sources.power`.\n\n"
        ));
        return md;
    }
    let mut t = Table::new(&[
        ("point", R),
        ("configuration", L),
        ("load", L),
        ("energy J", R),
        ("mean power W", R),
        ("J / output token", R),
        ("output tokens / J", R),
        ("above idle J", R),
        ("method", L),
    ]);
    for p in run.measured() {
        let e = p.raw.get("energy");
        let method = e
            .and_then(|e| e.get("method"))
            .and_then(Value::as_str)
            .map(String::from);
        let why = e.and_then(|e| e.get("why")).and_then(Value::as_str);
        t.row(vec![
            p.point.to_string(),
            p.config_label(),
            p.load_label(),
            cell(energy_f(p, "total_j"), 1),
            cell(energy_f(p, "mean_power_w"), 1),
            cell(energy_f(p, "j_per_output_token"), 4),
            cell(energy_f(p, "output_tokens_per_j"), 3),
            cell(energy_f(p, "above_idle_j"), 1),
            method.unwrap_or_else(|| why.map_or("–".into(), |w| format!("– ({w})"))),
        ]);
    }
    md.push_str(&t.render());
    md.push_str(
        "\nOver exactly each point's measured window (first measured request to last completion, the window of its throughput), all power devices together. `counter`: energy counters read at the window's ends; `integrated`: power samples integrated (an approximation between samples). Above idle: less the devices' power measured before the first configuration, with nothing of mlxrun's running.\n\n",
    );
    md
}

/// The chart of output tokens per joule against request concurrency, one
/// curve per configuration (closed-loop points with figures), shaped as
/// the throughput charts are; and a note when it cannot be drawn.
pub fn chart(run: &RunData, configs: &[String]) -> Value {
    if let Some(why) = missing_why(run) {
        return json!({"chart": null, "note": format!("No energy figures: {why}.")});
    }
    let mut curves: BTreeMap<String, BTreeMap<u64, (f64, usize)>> = BTreeMap::new();
    let mut xs: BTreeSet<u64> = BTreeSet::new();
    for p in run.measured_tokens().filter(|p| p.request_rate.is_empty()) {
        let (Some(x), Some(y)) = (
            p.concurrency.parse::<f64>().ok().filter(|x| *x > 0.0),
            energy_f(p, "output_tokens_per_j"),
        ) else {
            continue;
        };
        xs.insert(x.to_bits());
        let slot = curves.entry(p.config_label()).or_default();
        // a repeated load keeps its best
        if slot.get(&x.to_bits()).is_none_or(|b| b.0 < y) {
            slot.insert(x.to_bits(), (y, p.point));
        }
    }
    if curves.is_empty() {
        return json!({"chart": null, "note": "No closed-loop point has tokens per joule to draw."});
    }
    let mut x: Vec<f64> = xs.iter().map(|b| f64::from_bits(*b)).collect();
    x.sort_by(f64::total_cmp);
    let (lo, hi) = (x[0], x[x.len() - 1]);
    let series: Vec<Value> = curves
        .into_iter()
        .map(|(label, by_x)| {
            let at = |v: &f64| by_x.get(&v.to_bits());
            json!({
                "label": label,
                "run": 0,
                "config": configs.iter().position(|c| *c == label).unwrap_or(0),
                "dashed": false,
                "y": x.iter().map(|v| at(v).map(|t| t.0)).collect::<Vec<_>>(),
                "points": x.iter().map(|v| at(v).map(|t| t.1)).collect::<Vec<_>>(),
                "lo": null,
                "hi": null,
            })
        })
        .collect();
    json!({
        "chart": {
            "id": "energy",
            "title": "Output tokens per joule vs request concurrency",
            "x_label": "request concurrency",
            "y_label": "output tokens/J",
            "unit": "tok/J",
            "log2": hi / lo >= 8.0,
            "x": x,
            "series": series,
        },
        "note": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: usize, conc: &str, energy: Value) -> PointRecord {
        PointRecord {
            point: n,
            outcome: "ok".into(),
            ok_requests: 10,
            requests: 10,
            throughput_tps: 100.0,
            model: "tiny".into(),
            backend: "mlx_lm".into(),
            instances: 1,
            ranks: 1,
            router: "none".into(),
            concurrency: conc.into(),
            modality: "text".into(),
            raw: json!({ "energy": energy }),
            ..Default::default()
        }
    }

    fn run(points: Vec<PointRecord>) -> RunData {
        RunData {
            run_id: "r".into(),
            points,
            ..Default::default()
        }
    }

    fn unknown(why: &str) -> Value {
        json!({"total_j": null, "mean_power_w": null, "j_per_output_token": null,
               "output_tokens_per_j": null, "method": null, "above_idle_j": null, "why": why})
    }

    fn known(j: f64, per_j: f64) -> Value {
        json!({"total_j": j, "mean_power_w": j / 2.0, "j_per_output_token": 1.0 / per_j,
               "output_tokens_per_j": per_j, "method": "counter", "above_idle_j": j / 4.0, "why": null})
    }

    #[test]
    fn without_figures_both_reports_say_why() {
        let why = "no power source: nvml: NVML: not found; rapl: no powercap";
        let r = run(vec![
            point(1, "1", unknown(why)),
            point(2, "2", unknown(why)),
        ]);
        let md = markdown(&r);
        assert!(
            md.starts_with("## Energy\n\nNo energy figures for this run: "),
            "{md}"
        );
        assert!(md.contains(why), "{md}");
        assert!(!md.contains("| point |"), "no table: {md}");
        let c = chart(&r, &[]);
        assert!(c["chart"].is_null());
        assert_eq!(c["note"], format!("No energy figures: {why}."));
        // records written before energy existed
        let old = run(vec![PointRecord {
            raw: json!({}),
            ..point(1, "1", Value::Null)
        }]);
        assert!(missing_why(&old).unwrap().contains("before 0.8.0"));
        assert_eq!(
            missing_why(&run(vec![])).as_deref(),
            Some("no point was measured")
        );
    }

    #[test]
    fn figures_make_a_table_and_a_curve_per_configuration() {
        let mut two = point(3, "4", known(300.0, 2.0));
        two.instances = 2;
        let r = run(vec![
            point(1, "1", known(100.0, 1.0)),
            point(
                2,
                "4",
                unknown("gpu0: no reading in 2 sample(s) of the window"),
            ),
            two,
        ]);
        let md = markdown(&r);
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).skip(2).collect();
        assert_eq!(rows.len(), 3, "{md}");
        assert!(
            rows[0].contains("| 100.0 | 50.0 | 1.0000 | 1.000 | 25.0 | counter |"),
            "{md}"
        );
        assert!(
            rows[1].contains("– (gpu0: no reading in 2 sample(s) of the window)"),
            "{md}"
        );
        let configs = vec![r.points[0].config_label(), r.points[2].config_label()];
        let c = chart(&r, &configs);
        let chart = &c["chart"];
        assert_eq!(chart["x"], json!([1.0, 4.0]));
        let series = chart["series"].as_array().unwrap();
        assert_eq!(series.len(), 2);
        let one = series.iter().find(|s| s["config"] == 0).unwrap();
        assert_eq!(one["y"], json!([1.0, null]), "point 2 has no figure");
        let other = series.iter().find(|s| s["config"] == 1).unwrap();
        assert_eq!(other["y"], json!([null, 2.0]));
        assert_eq!(other["points"], json!([null, 3]));
    }
}
