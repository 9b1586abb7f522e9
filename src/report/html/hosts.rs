//! The page's hosts section, for a run that used other hosts: the table
//! of memory and CPU per machine (from [`crate::report::hosts`]), each
//! machine's hardware and monitor file, and the data of the chart of RAM
//! used over time, one line per machine.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::timeline;
use crate::report::data::RunData;
use crate::report::hosts::{self, Machine};

/// One machine under the table: its hardware and its files' links.
#[derive(Debug, Clone, Serialize)]
pub struct MachineFiles {
    pub label: String,
    pub hardware: String,
    pub monitor_file: String,
    /// `None` when the file is not in the run folder.
    pub monitor_href: Option<String>,
    pub log_file: Option<String>,
    pub log_href: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub columns: Vec<(String, bool)>,
    pub rows: Vec<Vec<String>>,
    pub machines: Vec<MachineFiles>,
    pub how: String,
}

/// The section, or `None` for a run on this machine alone.
pub fn section(run: &RunData) -> Option<Section> {
    let machines = hosts::machines(run);
    if machines.is_empty() {
        return None;
    }
    Some(Section {
        columns: hosts::COLUMNS
            .iter()
            .map(|(c, numeric)| (c.to_string(), *numeric))
            .collect(),
        rows: machines.iter().map(Machine::row).collect(),
        machines: machines
            .iter()
            .map(|m| {
                let log = m.log_file.clone().filter(|l| run.dir.join(l).is_file());
                MachineFiles {
                    label: m.label.clone(),
                    hardware: m
                        .hardware
                        .clone()
                        .unwrap_or_else(|| "hardware not recorded".into()),
                    monitor_file: m.monitor_file.clone(),
                    monitor_href: run
                        .dir
                        .join(&m.monitor_file)
                        .is_file()
                        .then(|| hosts::link_target(&m.monitor_file)),
                    log_href: log.as_deref().map(hosts::link_target),
                    log_file: log,
                }
            })
            .collect(),
        how: hosts::HOW.to_string(),
    })
}

/// The chart of RAM used (GB) over minutes since the run's first sample
/// (else the first sample of any machine), each machine by its own
/// clock: `{t, series: [{label, y}]}`, every series on the union of all
/// the machines' times (null where a machine has no sample then).
/// `None` without hosts or without a RAM figure.
pub fn ram_chart(run: &RunData) -> Option<Value> {
    let machines = hosts::machines(run);
    let t0 = timeline::origin(run).or_else(|| {
        machines
            .iter()
            .flat_map(|m| m.samples.iter().map(|s| s.ts))
            .reduce(f64::min)
    })?;
    let minutes = |ts: f64| ((ts - t0) / 60.0 * 1e6).round() / 1e6;
    // per machine: minute (as bits, for exact keys) -> RAM used
    let by_time: Vec<BTreeMap<u64, f64>> = machines
        .iter()
        .map(|m| {
            m.samples
                .iter()
                .filter_map(|s| Some((minutes(s.ts).to_bits(), hosts::ram_used_gb(s)?)))
                .collect()
        })
        .collect();
    let mut t: Vec<f64> = by_time
        .iter()
        .flat_map(|b| b.keys().map(|k| f64::from_bits(*k)))
        .filter(|v| v.is_finite())
        .collect();
    if t.is_empty() {
        return None;
    }
    t.sort_by(f64::total_cmp);
    t.dedup();
    let series: Vec<Value> = machines
        .iter()
        .zip(&by_time)
        .map(|(m, b)| {
            json!({
                "label": m.label,
                "y": t.iter().map(|x| b.get(&x.to_bits())).collect::<Vec<_>>(),
            })
        })
        .collect();
    Some(json!({"t": t, "series": series}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::{HostMonitor, MonitorSample};

    fn s(ts: f64, used: f64) -> MonitorSample {
        MonitorSample {
            ts,
            ram_total_gb: Some(100.0),
            ram_available_gb: Some(100.0 - used),
            ..Default::default()
        }
    }

    #[test]
    fn the_ram_chart_puts_every_machine_on_one_time_axis() {
        let mut run = RunData {
            samples: vec![s(600.0, 10.0), s(660.0, 12.0)],
            ..Default::default()
        };
        assert!(ram_chart(&run).is_none(), "no hosts: no chart");
        assert!(section(&run).is_none());
        run.hosts = vec![
            HostMonitor {
                name: "a".into(),
                samples: vec![s(630.0, 40.0), s(660.0, 50.0)],
                ..Default::default()
            },
            HostMonitor {
                name: "b".into(),
                // a sample without a RAM figure is no point of the line
                samples: vec![MonitorSample {
                    ts: 690.0,
                    ..Default::default()
                }],
                ..Default::default()
            },
        ];
        let c = ram_chart(&run).unwrap();
        assert_eq!(c["t"], json!([0.0, 0.5, 1.0]));
        assert_eq!(c["series"][0]["label"], hosts::THIS_MACHINE);
        assert_eq!(c["series"][0]["y"], json!([10.0, null, 12.0]));
        assert_eq!(c["series"][1]["label"], "a");
        assert_eq!(c["series"][1]["y"], json!([null, 40.0, 50.0]));
        assert_eq!(c["series"][2]["y"], json!([null, null, null]));
        let sec = section(&run).unwrap();
        assert_eq!(sec.rows.len(), 3);
        assert_eq!(sec.rows[1][0], "a");
        assert_eq!(sec.machines[1].monitor_file, "hosts/a/monitor.jsonl");
        assert_eq!(sec.machines[1].monitor_href, None, "not on disk");
        assert_eq!(sec.machines[1].log_file, None, "no monitor.log on disk");
        // no RAM figure anywhere: no chart
        run.samples.clear();
        run.hosts.truncate(0);
        run.hosts.push(HostMonitor {
            name: "c".into(),
            samples: vec![MonitorSample::default()],
            ..Default::default()
        });
        assert!(ram_chart(&run).is_none());
    }
}
