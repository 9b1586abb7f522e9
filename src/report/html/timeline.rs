//! The memplot timeline's data: the monitor's samples as columns on one
//! axis (minutes since the first sample), each point's region from its
//! `point_start`/`point_end` events, and memory pressure as bands.

use serde::Serialize;
use serde_json::{Value, json};

use crate::report::data::{MonitorSample, RunData};

/// One point's stretch of the timeline (minutes since the origin).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Region {
    pub point: u64,
    pub config: Option<u64>,
    pub model: String,
    /// The point's parameters, as the runner wrote them.
    pub params: String,
    pub start: f64,
    pub end: f64,
    /// false: no `point_end` (the run was cut short); the region runs to
    /// the last thing the monitor recorded.
    pub ended: bool,
}

/// A stretch of memory pressure at warn (2) or critical (4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    pub start: f64,
    pub end: f64,
    pub level: u8,
}

/// The origin of the time axis: the first sample, else the first event.
pub fn origin(run: &RunData) -> Option<f64> {
    run.samples
        .first()
        .map(|s| s.ts)
        .or_else(|| run.events.first().map(|e| e.0))
}

fn minutes(ts: f64, t0: f64) -> f64 {
    (ts - t0) / 60.0
}

/// Regions from `point_start`/`point_end` events (paired by point number,
/// in order); a start without an end runs to `last_ts`.
pub fn regions(events: &[(f64, String, Value)], t0: f64, last_ts: f64) -> Vec<Region> {
    let mut out: Vec<Region> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (ts, name, fields) in events {
        let point = fields["point"].as_u64().unwrap_or(0);
        match name.as_str() {
            "point_start" => {
                open.push(out.len());
                out.push(Region {
                    point,
                    config: fields["config"].as_u64(),
                    model: fields["model"].as_str().unwrap_or_default().to_string(),
                    params: fields["params"].as_str().unwrap_or_default().to_string(),
                    start: minutes(*ts, t0),
                    end: minutes(last_ts.max(*ts), t0),
                    ended: false,
                });
            }
            "point_end" => {
                if let Some(k) = open.iter().position(|&i| out[i].point == point) {
                    let r = &mut out[open.remove(k)];
                    r.end = minutes(*ts, t0);
                    r.ended = true;
                }
            }
            _ => {}
        }
    }
    out
}

/// Stretches of samples at pressure warn or critical: each such sample
/// covers the time to the next sample; neighbours at one level merge.
pub fn pressure_bands(samples: &[MonitorSample], t0: f64) -> Vec<Band> {
    let mut out: Vec<Band> = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let level = s.memory_pressure.unwrap_or(0);
        if level < 2 {
            continue;
        }
        let start = minutes(s.ts, t0);
        let end = samples.get(i + 1).map_or(start, |n| minutes(n.ts, t0));
        match out.last_mut() {
            Some(b) if b.level == level && b.end == start => b.end = end,
            _ => out.push(Band { start, end, level }),
        }
    }
    out
}

/// Everything the timeline draws, or `None` without samples.
pub fn data(run: &RunData) -> Option<Value> {
    let t0 = origin(run)?;
    if run.samples.is_empty() {
        return None;
    }
    let last_ts = run
        .samples
        .iter()
        .map(|s| s.ts)
        .chain(run.events.iter().map(|e| e.0))
        .fold(t0, f64::max);
    let s = &run.samples;
    let col = |f: fn(&MonitorSample) -> Option<f64>| s.iter().map(f).collect::<Vec<_>>();
    let gpu_device = col(|x| x.gpu_device_util);
    let gpu_nvidia = col(|x| x.gpu_util);
    let has_gpu = gpu_device.iter().chain(&gpu_nvidia).any(Option::is_some);
    Some(json!({
        "t": s.iter().map(|x| round(minutes(x.ts, t0), 6)).collect::<Vec<_>>(),
        "ram_available_gb": col(|x| x.ram_available_gb),
        "swap_used_mb": col(|x| x.swap_used_mb),
        "memory_pressure": col(|x| x.memory_pressure.map(f64::from)),
        "cpu_user": col(|x| x.cpu_user),
        "cpu_sys": col(|x| x.cpu_sys),
        "cpu_idle": col(|x| x.cpu_idle),
        "load_1": col(|x| x.load_1),
        "gpu_device_util": if has_gpu { json!(gpu_device) } else { Value::Null },
        "gpu_util": if has_gpu { json!(gpu_nvidia) } else { Value::Null },
        "server_rss_mb": col(|x| x.server_rss_mb),
        "regions": regions(&run.events, t0, last_ts),
        "pressure": pressure_bands(s, t0),
    }))
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: f64, name: &str, point: u64) -> (f64, String, Value) {
        (
            ts,
            name.into(),
            json!({"point": point, "config": 1, "model": "tiny", "params": format!("p{point}")}),
        )
    }

    #[test]
    fn regions_pair_starts_with_ends_and_an_unended_point_runs_to_the_last_record() {
        let events = vec![
            ev(100.0, "servers_started", 0),
            ev(106.0, "point_start", 1),
            ev(112.0, "point_end", 1),
            ev(118.0, "point_start", 2),
            (119.0, "memory_release".into(), json!({})),
            ev(124.0, "point_end", 2),
            ev(130.0, "point_start", 3), // interrupted: no end
        ];
        let r = regions(&events, 100.0, 136.0);
        let got: Vec<(u64, f64, f64, bool)> = r
            .iter()
            .map(|r| (r.point, r.start, r.end, r.ended))
            .collect();
        assert_eq!(
            got,
            [
                (1, 0.1, 0.2, true),
                (2, 0.3, 0.4, true),
                (3, 0.5, 0.6, false)
            ]
        );
        assert_eq!(r[1].params, "p2");
        assert_eq!(r[1].model, "tiny");
        assert_eq!(r[1].config, Some(1));
        // an end without a start is ignored
        assert!(regions(&[ev(1.0, "point_end", 4)], 0.0, 2.0).is_empty());
    }

    #[test]
    fn pressure_bands_cover_warn_and_critical_samples_up_to_the_next_sample() {
        let s = |ts: f64, p: u8| MonitorSample {
            ts,
            memory_pressure: Some(p),
            ..Default::default()
        };
        let samples = vec![
            s(0.0, 1),
            s(6.0, 2),
            s(12.0, 2),
            s(18.0, 4),
            s(24.0, 1),
            MonitorSample {
                ts: 30.0,
                ..Default::default()
            },
            s(36.0, 2),
        ];
        let got: Vec<(f64, f64, u8)> = pressure_bands(&samples, 0.0)
            .iter()
            .map(|b| (b.start, b.end, b.level))
            .collect();
        assert_eq!(got, [(0.1, 0.3, 2), (0.3, 0.4, 4), (0.6, 0.6, 2)]);
    }

    #[test]
    fn without_samples_there_is_no_timeline_and_gpu_columns_only_with_gpu_values() {
        let mut run = RunData::default();
        assert!(data(&run).is_none());
        run.samples = vec![
            MonitorSample {
                ts: 60.0,
                ram_available_gb: Some(10.0),
                ..Default::default()
            },
            MonitorSample {
                ts: 90.0,
                ram_available_gb: Some(9.0),
                ..Default::default()
            },
        ];
        let d = data(&run).unwrap();
        assert_eq!(d["t"], json!([0.0, 0.5]));
        assert_eq!(d["ram_available_gb"], json!([10.0, 9.0]));
        assert_eq!(d["cpu_user"], json!([null, null]));
        assert!(d["gpu_util"].is_null());
        run.samples[1].gpu_device_util = Some(40.0);
        assert_eq!(data(&run).unwrap()["gpu_device_util"], json!([null, 40.0]));
    }
}
