//! What a run's points add up to: outcome counts, durations, models, the
//! share of clean points among measured ones, flag tallies, the best points
//! by throughput, latency and goodput, and resources per server
//! configuration.

use std::collections::BTreeMap;

use super::data::PointRecord;
use crate::output::quality::QUALITY_FLAGS;

/// Points by outcome. `ok` and `errors` count measured points only (a
/// point with no successful request is recorded as `failed`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub measured: usize,
    pub ok: usize,
    pub errors: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn of(points: &[PointRecord]) -> Counts {
        let mut c = Counts {
            total: points.len(),
            ..Default::default()
        };
        for p in points {
            if p.measured() {
                c.measured += 1;
                if p.outcome == "ok" {
                    c.ok += 1;
                } else {
                    c.errors += 1;
                }
            } else {
                match p.outcome.as_str() {
                    "interrupted" => c.interrupted += 1,
                    "skipped" => c.skipped += 1,
                    _ => c.failed += 1,
                }
            }
        }
        c
    }
}

/// Whether a point's flags say the machine was fit to measure on.
pub fn is_clean(p: &PointRecord) -> bool {
    p.quality_flags == ["clean"]
}

/// `(clean, measured)`: clean points among measured points only (points
/// that were not measured say nothing about the machine).
pub fn clean_share(points: &[PointRecord]) -> (usize, usize) {
    let measured: Vec<&PointRecord> = points.iter().filter(|p| p.measured()).collect();
    let clean = measured.iter().filter(|p| is_clean(p)).count();
    (clean, measured.len())
}

/// `clean / measured` in percent, `None` without measured points.
pub fn clean_percent(points: &[PointRecord]) -> Option<f64> {
    let (clean, measured) = clean_share(points);
    (measured > 0).then(|| 100.0 * clean as f64 / measured as f64)
}

/// Each flag raised on a measured point with the points that carry it, in
/// the order of [`QUALITY_FLAGS`] (flags it does not know last, by name).
pub fn flag_tally(points: &[PointRecord]) -> Vec<(String, Vec<usize>)> {
    let mut by_flag: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.measured()) {
        for f in &p.quality_flags {
            by_flag.entry(f.clone()).or_default().push(p.point);
        }
    }
    let rank = |f: &str| {
        QUALITY_FLAGS
            .iter()
            .position(|k| *k == f)
            .unwrap_or(QUALITY_FLAGS.len())
    };
    let mut v: Vec<(String, Vec<usize>)> = by_flag.into_iter().collect();
    v.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.0.cmp(&b.0)));
    v
}

/// Seconds spent in points (sum of their durations) and the wall clock
/// from the first point's start to the last one's end.
pub fn durations(points: &[PointRecord]) -> (f64, Option<(f64, f64)>) {
    let ran: Vec<&PointRecord> = points
        .iter()
        .filter(|p| p.start_ts > 0.0 && p.end_ts >= p.start_ts)
        .collect();
    let sum = ran.iter().map(|p| p.end_ts - p.start_ts).sum();
    let first = ran.iter().map(|p| p.start_ts).min_by(f64::total_cmp);
    let last = ran.iter().map(|p| p.end_ts).max_by(f64::total_cmp);
    (sum, first.zip(last))
}

/// Distinct models, in the order they were first run.
pub fn models(points: &[PointRecord]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for p in points {
        if !p.model.is_empty() && !v.contains(&p.model) {
            v.push(p.model.clone());
        }
    }
    v
}

/// The `n` measured points with the highest throughput (tok/s).
pub fn top_throughput(points: &[PointRecord], n: usize) -> Vec<&PointRecord> {
    // audio points make no tokens: they are ranked by real-time factor
    let mut v: Vec<&PointRecord> = points
        .iter()
        .filter(|p| p.measured() && p.modality != "audio")
        .collect();
    v.sort_by(|a, b| b.throughput_tps.total_cmp(&a.throughput_tps));
    v.truncate(n);
    v
}

/// The `n` measured audio points with the highest mean real-time factor.
pub fn top_rtf(points: &[PointRecord], n: usize) -> Vec<&PointRecord> {
    let mut v: Vec<&PointRecord> = points
        .iter()
        .filter(|p| p.measured() && p.rtf_mean.is_some())
        .collect();
    v.sort_by(|a, b| b.rtf_mean.unwrap().total_cmp(&a.rtf_mean.unwrap()));
    v.truncate(n);
    v
}

/// The `n` measured points with the lowest TTFT p50.
pub fn top_latency(points: &[PointRecord], n: usize) -> Vec<&PointRecord> {
    let mut v: Vec<&PointRecord> = points
        .iter()
        .filter(|p| p.measured() && p.ttft_ms.p50.is_some())
        .collect();
    v.sort_by(|a, b| a.ttft_ms.p50.unwrap().total_cmp(&b.ttft_ms.p50.unwrap()));
    v.truncate(n);
    v
}

/// The `n` measured points with an SLO outcome and the highest goodput
/// (requests/s within the SLO), attainment breaking ties.
pub fn top_goodput(points: &[PointRecord], n: usize) -> Vec<&PointRecord> {
    let mut v: Vec<&PointRecord> = points
        .iter()
        .filter(|p| p.measured() && p.slo_attainment.is_some())
        .collect();
    v.sort_by(|a, b| {
        let g = |p: &PointRecord| p.goodput_rps.unwrap_or(0.0);
        g(b).total_cmp(&g(a)).then(
            b.slo_attainment
                .unwrap()
                .total_cmp(&a.slo_attainment.unwrap()),
        )
    });
    v.truncate(n);
    v
}

/// The middle value (mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

/// One server configuration's resources over its points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigResources {
    pub label: String,
    pub points: usize,
    pub rss_peak_mb: Option<f64>,
    pub ram_available_min_gb: Option<f64>,
    pub swap_growth_max_mb: Option<f64>,
    pub pressure_peak: Option<u8>,
    /// CPU user + system (% of all cores), the points' averages weighted by
    /// their durations.
    pub cpu_avg: Option<f64>,
    /// GPU utilisation, the points' averages weighted by their durations.
    pub gpu_avg: Option<f64>,
    pub gpu_max: Option<f64>,
}

/// Resources per configuration (`config_label`), in the order configurations ran.
pub fn per_config(points: &[PointRecord]) -> Vec<ConfigResources> {
    let mut labels: Vec<String> = Vec::new();
    for p in points {
        let l = p.config_label();
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    labels
        .into_iter()
        .map(|label| {
            let ps: Vec<&PointRecord> = points
                .iter()
                .filter(|p| p.config_label() == label)
                .collect();
            let weight = |p: &PointRecord| (p.end_ts - p.start_ts).max(0.0);
            let cpu = ps.iter().filter_map(|p| {
                let total = match (p.cpu_user_avg, p.cpu_sys_avg) {
                    (None, None) => return None,
                    (u, s) => u.unwrap_or(0.0) + s.unwrap_or(0.0),
                };
                Some((total, weight(p)))
            });
            ConfigResources {
                points: ps.len(),
                rss_peak_mb: max(ps.iter().map(|p| p.server_rss_peak_mb)),
                ram_available_min_gb: min(ps.iter().map(|p| p.ram_available_min_gb)),
                swap_growth_max_mb: max(ps.iter().map(|p| p.swap_growth_mb)),
                pressure_peak: ps.iter().filter_map(|p| p.memory_pressure_peak).max(),
                cpu_avg: weighted_mean(cpu),
                gpu_avg: weighted_mean(
                    ps.iter()
                        .filter_map(|p| p.gpu_util_avg.map(|g| (g, weight(p)))),
                ),
                gpu_max: max(ps.iter().map(|p| p.gpu_util_max)),
                label,
            }
        })
        .collect()
}

fn max(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    v.flatten().max_by(f64::total_cmp)
}

fn min(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    v.flatten().min_by(f64::total_cmp)
}

/// Mean of `(value, weight)`; a plain mean when every weight is 0.
pub fn weighted_mean(v: impl Iterator<Item = (f64, f64)>) -> Option<f64> {
    let v: Vec<(f64, f64)> = v.collect();
    if v.is_empty() {
        return None;
    }
    let w: f64 = v.iter().map(|(_, w)| w).sum();
    Some(if w > 0.0 {
        v.iter().map(|(x, w)| x * w).sum::<f64>() / w
    } else {
        v.iter().map(|(x, _)| x).sum::<f64>() / v.len() as f64
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A measured point with the fields summaries read.
    pub(crate) fn point(n: usize, outcome: &str, tps: f64, flags: &[&str]) -> PointRecord {
        PointRecord {
            point: n,
            outcome: outcome.into(),
            start_ts: 1000.0 + 10.0 * n as f64,
            end_ts: 1002.0 + 10.0 * n as f64,
            model: "tiny".into(),
            backend: "mlx_lm".into(),
            instances: 1,
            ranks: 1,
            concurrency: n.to_string(),
            max_tokens: 16,
            requests: 4,
            ok_requests: if matches!(outcome, "ok" | "errors") {
                4
            } else {
                0
            },
            throughput_tps: tps,
            quality_flags: flags.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn outcomes_are_counted_and_quality_divides_by_measured_points() {
        let pts = [
            point(1, "ok", 10.0, &["clean"]),
            point(2, "ok", 20.0, &["degraded_swap"]),
            point(3, "errors", 5.0, &["degraded_swap", "errors"]),
            point(4, "ok", 30.0, &["clean"]),
            point(5, "failed", 0.0, &["unmonitored"]),
            point(6, "skipped", 0.0, &["unmonitored"]),
            point(7, "interrupted", 0.0, &["clean"]),
        ];
        assert_eq!(
            Counts::of(&pts),
            Counts {
                total: 7,
                measured: 4,
                ok: 3,
                errors: 1,
                failed: 1,
                interrupted: 1,
                skipped: 1
            }
        );
        // 2 clean of 4 measured = 50 % (not 3 of 7: the interrupted
        // point's flag does not count)
        assert_eq!(clean_share(&pts), (2, 4));
        assert_eq!(clean_percent(&pts), Some(50.0));
        assert_eq!(clean_percent(&pts[4..6]), None);
        assert_eq!(
            flag_tally(&pts),
            vec![
                ("clean".to_string(), vec![1, 4]),
                ("degraded_swap".to_string(), vec![2, 3]),
                ("errors".to_string(), vec![3]),
            ]
        );
        // 7 points of 2 s, first start 1010, last end 1072
        let (sum, wall) = durations(&pts);
        assert_eq!(sum, 14.0);
        assert_eq!(wall, Some((1010.0, 1072.0)));
        assert_eq!(models(&pts), ["tiny"]);
    }

    #[test]
    fn best_points_rank_measured_points_only() {
        let mut pts = vec![
            point(1, "ok", 10.0, &["clean"]),
            point(2, "ok", 30.0, &["clean"]),
            point(3, "failed", 99.0, &["clean"]),
            point(4, "errors", 20.0, &["errors"]),
        ];
        pts[0].ttft_ms.p50 = Some(8.0);
        pts[1].ttft_ms.p50 = Some(12.0);
        pts[2].ttft_ms.p50 = Some(1.0);
        let ids = |v: Vec<&PointRecord>| v.iter().map(|p| p.point).collect::<Vec<_>>();
        assert_eq!(ids(top_throughput(&pts, 2)), [2, 4]);
        assert_eq!(ids(top_latency(&pts, 5)), [1, 2]);
        assert!(top_goodput(&pts, 5).is_empty());
        pts[0].slo_attainment = Some(1.0);
        pts[0].goodput_rps = Some(3.0);
        pts[3].slo_attainment = Some(0.5);
        pts[3].goodput_rps = Some(4.0);
        assert_eq!(ids(top_goodput(&pts, 5)), [4, 1]);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn resources_are_grouped_by_configuration() {
        let mut pts = vec![
            point(1, "ok", 10.0, &["clean"]),
            point(2, "ok", 10.0, &["clean"]),
            point(3, "ok", 10.0, &["clean"]),
        ];
        pts[2].instances = 2;
        pts[0].server_rss_peak_mb = Some(100.0);
        pts[1].server_rss_peak_mb = Some(120.0);
        pts[0].ram_available_min_gb = Some(20.0);
        pts[1].ram_available_min_gb = Some(19.5);
        pts[0].swap_growth_mb = Some(0.0);
        pts[1].swap_growth_mb = Some(12.0);
        pts[0].memory_pressure_peak = Some(1);
        pts[1].memory_pressure_peak = Some(2);
        // 2 s at 80+20, 6 s at 40+10: (100×2 + 50×6) / 8 = 62.5
        pts[0].cpu_user_avg = Some(80.0);
        pts[0].cpu_sys_avg = Some(20.0);
        pts[1].cpu_user_avg = Some(40.0);
        pts[1].cpu_sys_avg = Some(10.0);
        pts[1].end_ts = pts[1].start_ts + 6.0;
        let r = per_config(&pts);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].label, "tiny mlx_lm ×1");
        assert_eq!(r[0].points, 2);
        assert_eq!(r[0].rss_peak_mb, Some(120.0));
        assert_eq!(r[0].ram_available_min_gb, Some(19.5));
        assert_eq!(r[0].swap_growth_max_mb, Some(12.0));
        assert_eq!(r[0].pressure_peak, Some(2));
        assert_eq!(r[0].cpu_avg, Some(62.5));
        assert_eq!(r[0].gpu_avg, None);
        assert_eq!(r[1].label, "tiny mlx_lm ×2");
        assert_eq!(r[1].points, 1);
        assert_eq!(r[1].cpu_avg, None);
        assert_eq!(
            weighted_mean([(1.0, 0.0), (3.0, 0.0)].into_iter()),
            Some(2.0)
        );
    }
}
