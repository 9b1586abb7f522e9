//! Memory and CPU per machine of a run that used other hosts: for this
//! machine (the run's own `monitor.jsonl`) and each host
//! (`hosts/<host>/monitor.jsonl`), figures over all of its monitor's
//! samples, its hardware from the monitor's header, and where its files
//! are; the rows both reports print. A figure no sample had is `None`
//! (a dash): nothing is guessed.

use serde_json::Value;

use super::cells::MISSING;
use super::data::{MonitorSample, RunData};

/// How the run's own machine is labelled.
pub const THIS_MACHINE: &str = "this machine";

/// The table's columns, with whether each is numeric.
pub const COLUMNS: [(&str, bool); 11] = [
    ("machine", false),
    ("samples", true),
    ("span s", true),
    ("RAM used mean GB", true),
    ("RAM used peak GB", true),
    ("RAM total GB", true),
    ("swap used peak MB", true),
    ("CPU busy mean %", true),
    ("CPU busy peak %", true),
    ("load_1 peak", true),
    ("GPU util mean %", true),
];

/// What one machine's monitor samples say, over the whole run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MachineStats {
    pub samples: usize,
    /// From the first sample to the last (s); `None` without samples.
    pub span_s: Option<f64>,
    /// RAM in use (total − available), mean over the samples and peak (GB).
    pub ram_used_mean_gb: Option<f64>,
    pub ram_used_peak_gb: Option<f64>,
    /// The largest `ram_total_gb` a sample reported.
    pub ram_total_gb: Option<f64>,
    pub swap_used_peak_mb: Option<f64>,
    /// % of all cores busy, mean over the samples and peak.
    pub cpu_busy_mean_pct: Option<f64>,
    pub cpu_busy_peak_pct: Option<f64>,
    pub load_1_peak: Option<f64>,
    /// GPU utilisation, mean over the samples that have one.
    pub gpu_util_mean_pct: Option<f64>,
}

/// RAM in use in one sample: total − available (GB).
pub fn ram_used_gb(s: &MonitorSample) -> Option<f64> {
    finite(s.ram_total_gb? - s.ram_available_gb?)
}

/// % of all cores busy in one sample: 100 − idle, or user + sys when
/// idle is not recorded (the first sample has neither).
pub fn cpu_busy_pct(s: &MonitorSample) -> Option<f64> {
    match s.cpu_idle.and_then(finite) {
        Some(idle) => finite(100.0 - idle),
        None => finite(s.cpu_user? + s.cpu_sys?),
    }
}

/// GPU utilisation in one sample (%): the mean over NVIDIA GPUs, else the
/// Apple GPU's device utilisation.
pub fn gpu_util_pct(s: &MonitorSample) -> Option<f64> {
    s.gpu_util
        .and_then(finite)
        .or_else(|| s.gpu_device_util.and_then(finite))
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn peak(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.reduce(f64::max)
}

impl MachineStats {
    /// The figures of `samples` (in any order).
    pub fn of(samples: &[MonitorSample]) -> MachineStats {
        let each = |f: fn(&MonitorSample) -> Option<f64>| samples.iter().filter_map(f);
        let first = samples.iter().map(|s| s.ts).reduce(f64::min);
        let last = samples.iter().map(|s| s.ts).reduce(f64::max);
        MachineStats {
            samples: samples.len(),
            span_s: first.zip(last).map(|(a, b)| b - a),
            ram_used_mean_gb: mean(each(ram_used_gb)),
            ram_used_peak_gb: peak(each(ram_used_gb)),
            ram_total_gb: peak(each(|s| s.ram_total_gb.and_then(finite))),
            swap_used_peak_mb: peak(each(|s| s.swap_used_mb.and_then(finite))),
            cpu_busy_mean_pct: mean(each(cpu_busy_pct)),
            cpu_busy_peak_pct: peak(each(cpu_busy_pct)),
            load_1_peak: peak(each(|s| s.load_1.and_then(finite))),
            gpu_util_mean_pct: mean(each(gpu_util_pct)),
        }
    }
}

/// One machine of the run, for the reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine<'a> {
    /// [`THIS_MACHINE`] or the host's folder name.
    pub label: String,
    /// Its monitor's file, relative to the run folder (`monitor.jsonl`,
    /// `hosts/a/monitor.jsonl`).
    pub monitor_file: String,
    /// The monitor's stderr beside it (`hosts/a/monitor.log`); `None`
    /// for this machine, whose monitor runs inside mlxrun.
    pub log_file: Option<String>,
    /// `Apple M2 Ultra (Mac14,14), 24 cores (24 logical), 192.0 GB RAM`.
    pub hardware: Option<String>,
    /// The monitor's sampling interval (ms), from its header.
    pub interval_ms: Option<f64>,
    pub stats: MachineStats,
    pub samples: &'a [MonitorSample],
}

impl Machine<'_> {
    /// The table's cells, in [`COLUMNS`] order.
    pub fn row(&self) -> Vec<String> {
        let s = &self.stats;
        let n = |v: Option<f64>, digits: usize| {
            v.map_or_else(|| MISSING.to_string(), |x| format!("{x:.digits$}"))
        };
        vec![
            self.label.clone(),
            s.samples.to_string(),
            n(s.span_s, 0),
            n(s.ram_used_mean_gb, 2),
            n(s.ram_used_peak_gb, 2),
            n(s.ram_total_gb, 1),
            n(s.swap_used_peak_mb, 0),
            n(s.cpu_busy_mean_pct, 1),
            n(s.cpu_busy_peak_pct, 1),
            n(s.load_1_peak, 2),
            n(s.gpu_util_mean_pct, 1),
        ]
    }
}

/// This machine first, then each host in folder-name order; empty when
/// the run used no other host.
pub fn machines(run: &RunData) -> Vec<Machine<'_>> {
    if run.hosts.is_empty() {
        return Vec::new();
    }
    let interval = |h: Option<&Value>| h.and_then(|h| h["interval_ms"].as_f64());
    let local_hardware = run
        .monitor_header
        .as_ref()
        .map(|h| &h["hardware"])
        .filter(|h| h.is_object())
        .or_else(|| run.hardware());
    let mut out = vec![Machine {
        label: THIS_MACHINE.to_string(),
        monitor_file: "monitor.jsonl".to_string(),
        log_file: None,
        hardware: local_hardware.and_then(hardware_line),
        interval_ms: interval(run.monitor_header.as_ref()),
        stats: MachineStats::of(&run.samples),
        samples: &run.samples,
    }];
    out.extend(run.hosts.iter().map(|h| {
        Machine {
            label: h.name.clone(),
            monitor_file: format!("hosts/{}/monitor.jsonl", h.name),
            log_file: Some(format!("hosts/{}/monitor.log", h.name)),
            hardware: h
                .header
                .as_ref()
                .map(|v| &v["hardware"])
                .and_then(hardware_line),
            interval_ms: interval(h.header.as_ref()),
            stats: MachineStats::of(&h.samples),
            samples: &h.samples,
        }
    }));
    out
}

/// A monitor header's `hardware` in one line: chip or CPU (with the
/// machine model), cores and memory, `Apple M2 Ultra (Mac14,14), 24
/// cores (24 logical), 192.0 GB RAM`; `None` when it names none of them.
pub fn hardware_line(h: &Value) -> Option<String> {
    let text = |k: &str| h[k].as_str().map(str::trim).filter(|s| !s.is_empty());
    let mut parts: Vec<String> = Vec::new();
    match (text("cpu_model"), text("machine_model")) {
        (Some(cpu), Some(m)) => parts.push(format!("{cpu} ({m})")),
        (Some(cpu), None) => parts.push(cpu.to_string()),
        (None, Some(m)) => parts.push(m.to_string()),
        (None, None) => {}
    }
    match (h["physical_cores"].as_u64(), h["logical_cores"].as_u64()) {
        (Some(p), Some(l)) => parts.push(format!("{p} cores ({l} logical)")),
        (Some(p), None) => parts.push(format!("{p} cores")),
        (None, Some(l)) => parts.push(format!("{l} logical cores")),
        (None, None) => {}
    }
    if let Some(gb) = h["ram_total_gb"].as_f64().and_then(finite) {
        parts.push(format!("{gb:.1} GB RAM"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `path` as a link target: every byte outside `[A-Za-z0-9-_.~/]`
/// percent-encoded, so a folder name with spaces or brackets still links.
pub fn link_target(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the reports say under the table: how each figure is computed.
pub const HOW: &str = "From each machine's monitor samples over the whole run (this machine's in monitor.jsonl, each host's in hosts/<host>/monitor.jsonl, sampled by mlxrun monitor there). RAM used = total − available; CPU busy = 100 − idle, as % of all cores (user + sys where idle is not recorded); GPU util = the mean over NVIDIA GPUs, else the Apple GPU's device utilisation; means are over samples. A dash: no sample had the figure.";

/// `3 sample(s) every 200 ms` for the files list.
pub fn samples_text(m: &Machine) -> String {
    let every = m
        .interval_ms
        .map_or_else(String::new, |ms| format!(" every {ms:.0} ms"));
    format!("{} sample(s){every}", m.stats.samples)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::data::HostMonitor;

    /// A run folder with one point, this machine's monitor.jsonl and two
    /// hosts' (`hosts/a/` with its monitor.log and one unreadable line,
    /// `hosts/b/` with a header without hardware, `hosts/d/` with only
    /// its monitor.log), plus a host folder with no monitor file
    /// (`hosts/c/`), which is no host of the report.
    /// The figures each machine's row must show are in the comments.
    pub(crate) fn run_with_hosts() -> (tempfile::TempDir, RunData) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let record = crate::report::data::tests::record_v060(
            1,
            "point",
            None,
            1,
            (100.0, 95.0, 105.0),
            (10.0, 9.0, 11.0),
        );
        std::fs::write(dir.join("report.jsonl"), format!("{record}\n")).unwrap();
        // this machine: 2 samples over 1 s; RAM used 4 and 6 GB of 24;
        // CPU busy only in the second (100 − 25); swap peak 10 MB; no GPU
        std::fs::write(
            dir.join("monitor.jsonl"),
            concat!(
                r#"{"kind":"header","interval_ms":200.0,"hardware":{"cpu_model":"AMD EPYC","physical_cores":2,"logical_cores":2,"ram_total_gb":24.0,"machine_model":null}}"#, "\n",
                r#"{"kind":"sample","ts":1000.0,"elapsed_s":0.0,"ram_total_gb":24.0,"ram_available_gb":20.0,"swap_used_mb":0.0,"load_1":0.5,"cpu_user":null,"cpu_sys":null,"cpu_idle":null}"#, "\n",
                r#"{"kind":"event","ts":1000.2,"elapsed_s":0.2,"name":"point_start","fields":{"point":1}}"#, "\n",
                r#"{"kind":"sample","ts":1001.0,"elapsed_s":1.0,"ram_total_gb":24.0,"ram_available_gb":18.0,"swap_used_mb":10.0,"load_1":1.25,"cpu_user":60.0,"cpu_sys":15.0,"cpu_idle":25.0}"#, "\n",
                r#"{"kind":"summary","samples":2}"#, "\n",
            ),
        )
        .unwrap();
        // host a: 2 samples over 10 s; RAM used 40 and 100 GB of 192; CPU
        // busy 50 and 90; the Apple GPU at 80 and 40; load peak 6.5
        let a = dir.join("hosts/a");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(
            a.join("monitor.jsonl"),
            concat!(
                r#"{"kind":"header","interval_ms":1000.0,"hardware":{"cpu_model":"Apple M2 Ultra","machine_model":"Mac14,14","physical_cores":24,"logical_cores":24,"ram_total_gb":192.0}}"#, "\n",
                r#"{"kind":"sample","ts":1000.5,"elapsed_s":0.0,"ram_total_gb":192.0,"ram_available_gb":152.0,"swap_used_mb":0.0,"load_1":3.0,"cpu_user":40.0,"cpu_sys":10.0,"cpu_idle":50.0,"gpu_device_util":80.0}"#, "\n",
                "{oops\n",
                r#"{"kind":"sample","ts":1010.5,"elapsed_s":10.0,"ram_total_gb":192.0,"ram_available_gb":92.0,"swap_used_mb":0.0,"load_1":6.5,"cpu_user":80.0,"cpu_sys":10.0,"cpu_idle":10.0,"gpu_device_util":40.0}"#, "\n",
                r#"{"kind":"summary","samples":2}"#, "\n",
            ),
        )
        .unwrap();
        std::fs::write(a.join("monitor.log"), "").unwrap();
        // host b: one sample, no idle (user + sys = 25), no swap, no load
        let b = dir.join("hosts/b");
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(
            b.join("monitor.jsonl"),
            concat!(
                r#"{"kind":"header","interval_ms":1000.0,"hardware":null}"#, "\n",
                r#"{"kind":"sample","ts":1002.0,"elapsed_s":0.0,"ram_total_gb":16.0,"ram_available_gb":12.0,"cpu_user":20.0,"cpu_sys":5.0}"#, "\n",
            ),
        )
        .unwrap();
        let c = dir.join("hosts/c");
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(c.join("server.log"), "x\n").unwrap();
        std::fs::write(dir.join("hosts/not-a-folder"), "x\n").unwrap();
        // host d: its monitor never wrote a record, only its stderr
        let d_dir = dir.join("hosts/d");
        std::fs::create_dir_all(&d_dir).unwrap();
        std::fs::write(
            d_dir.join("monitor.log"),
            "ssh: connect to host d: refused\n",
        )
        .unwrap();
        let run = RunData::load(dir).unwrap();
        (d, run)
    }

    /// The rows [`run_with_hosts`] must give, as report.md writes them.
    pub(crate) const EXPECTED_ROWS: [&str; 4] = [
        "| this machine | 2 | 1 | 5.00 | 6.00 | 24.0 | 10 | 75.0 | 75.0 | 1.25 | – |",
        "| a | 2 | 10 | 70.00 | 100.00 | 192.0 | 0 | 70.0 | 90.0 | 6.50 | 60.0 |",
        "| b | 1 | 0 | 4.00 | 4.00 | 16.0 | – | 25.0 | 25.0 | – | – |",
        "| d | 0 | – | – | – | – | – | – | – | – | – |",
    ];

    #[test]
    fn a_run_folder_loads_each_host_s_monitor_in_name_order() {
        let (_d, run) = run_with_hosts();
        let names: Vec<&str> = run.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "d"], "c has no monitor file");
        assert!(run.hosts[2].samples.is_empty() && run.hosts[2].header.is_none());
        let a = &run.hosts[0];
        assert_eq!(a.samples.len(), 2);
        assert_eq!(a.header.as_ref().unwrap()["interval_ms"], 1000.0);
        assert_eq!(a.summary.as_ref().unwrap()["samples"], 2);
        assert!(run.hosts[1].summary.is_none(), "b's monitor was cut short");
        assert_eq!(run.samples.len(), 2, "this machine's own samples");
        assert_eq!(run.events.len(), 1);
        assert_eq!(run.skipped_lines.len(), 1, "{:?}", run.skipped_lines);
        assert!(
            run.skipped_lines[0].starts_with("hosts/a/monitor.jsonl:3: "),
            "{:?}",
            run.skipped_lines
        );
    }

    #[test]
    fn the_fixture_s_figures_are_what_its_comments_say() {
        let (_d, run) = run_with_hosts();
        let m = machines(&run);
        let rows: Vec<String> = m
            .iter()
            .map(|m| format!("| {} |", m.row().join(" | ")))
            .collect();
        assert_eq!(rows, EXPECTED_ROWS);
    }

    #[test]
    fn a_run_without_hosts_has_none() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("report.jsonl"), "{}\n").unwrap();
        let run = RunData::load(d.path()).unwrap();
        assert!(run.hosts.is_empty());
        assert!(machines(&run).is_empty());
    }

    fn sample(ts: f64, total: Option<f64>, avail: Option<f64>) -> MonitorSample {
        MonitorSample {
            ts,
            ram_total_gb: total,
            ram_available_gb: avail,
            ..Default::default()
        }
    }

    #[test]
    fn figures_are_means_and_peaks_over_the_samples_that_have_them() {
        let mut a = sample(100.0, Some(32.0), Some(20.0)); // 12 used
        a.cpu_user = Some(30.0);
        a.cpu_sys = Some(10.0); // no idle: user + sys = 40
        a.swap_used_mb = Some(0.0);
        a.load_1 = Some(1.5);
        let mut b = sample(102.5, Some(32.0), Some(16.0)); // 16 used
        b.cpu_idle = Some(10.0); // 90 busy, user + sys ignored
        b.cpu_user = Some(1.0);
        b.cpu_sys = Some(1.0);
        b.swap_used_mb = Some(512.0);
        b.load_1 = Some(3.25);
        b.gpu_device_util = Some(60.0);
        let mut c = sample(101.0, Some(32.0), None); // no RAM figure
        c.gpu_util = Some(20.0); // NVIDIA first
        c.gpu_device_util = Some(99.0);
        let s = MachineStats::of(&[a, b, c]);
        assert_eq!(s.samples, 3);
        assert_eq!(s.span_s, Some(2.5));
        assert_eq!(s.ram_used_mean_gb, Some(14.0));
        assert_eq!(s.ram_used_peak_gb, Some(16.0));
        assert_eq!(s.ram_total_gb, Some(32.0));
        assert_eq!(s.swap_used_peak_mb, Some(512.0));
        assert_eq!(s.cpu_busy_mean_pct, Some(65.0));
        assert_eq!(s.cpu_busy_peak_pct, Some(90.0));
        assert_eq!(s.load_1_peak, Some(3.25));
        assert_eq!(s.gpu_util_mean_pct, Some(40.0));
    }

    #[test]
    fn a_figure_no_sample_had_is_none_and_prints_as_a_dash() {
        // a first sample: RAM only, no CPU split yet, no GPU, no load
        let mut only = sample(5.0, Some(8.0), Some(6.0));
        only.cpu_user = Some(50.0); // sys missing: nothing is guessed
        only.load_1 = Some(f64::NAN);
        let s = MachineStats::of(&[only]);
        assert_eq!(s.span_s, Some(0.0));
        assert_eq!(s.ram_used_peak_gb, Some(2.0));
        assert_eq!(
            (
                s.cpu_busy_mean_pct,
                s.swap_used_peak_mb,
                s.load_1_peak,
                s.gpu_util_mean_pct
            ),
            (None, None, None, None)
        );
        let none = MachineStats::of(&[]);
        assert_eq!(none, MachineStats::default());
        let m = Machine {
            label: "a".into(),
            monitor_file: "hosts/a/monitor.jsonl".into(),
            log_file: None,
            hardware: None,
            interval_ms: None,
            stats: none,
            samples: &[],
        };
        let row = m.row();
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(row[..2], ["a", "0"]);
        assert!(row[2..].iter().all(|c| c == MISSING), "{row:?}");
    }

    #[test]
    fn this_machine_comes_first_and_hosts_keep_their_order() {
        let mut run = RunData::default();
        assert!(machines(&run).is_empty(), "no hosts: no table");
        run.monitor_header = Some(serde_json::json!({"interval_ms": 200.0,
            "hardware": {"cpu_model": "AMD EPYC", "physical_cores": 2, "logical_cores": 2,
                         "ram_total_gb": 23.54, "machine_model": null}}));
        run.samples = vec![sample(1.0, Some(23.54), Some(20.0))];
        run.hosts = vec![
            HostMonitor {
                name: "a".into(),
                header: Some(serde_json::json!({"hardware": {
                    "cpu_model": "Apple M2 Ultra", "machine_model": "Mac14,14",
                    "physical_cores": 24, "logical_cores": 24, "ram_total_gb": 192.0}})),
                samples: vec![sample(1.0, Some(192.0), Some(100.0))],
                summary: None,
            },
            HostMonitor {
                name: "b".into(),
                ..Default::default()
            },
        ];
        let m = machines(&run);
        let labels: Vec<&str> = m.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(labels, [THIS_MACHINE, "a", "b"]);
        assert_eq!(
            m[0].hardware.as_deref(),
            Some("AMD EPYC, 2 cores (2 logical), 23.5 GB RAM")
        );
        assert_eq!(m[0].monitor_file, "monitor.jsonl");
        assert_eq!(samples_text(&m[0]), "1 sample(s) every 200 ms");
        assert_eq!(
            m[1].hardware.as_deref(),
            Some("Apple M2 Ultra (Mac14,14), 24 cores (24 logical), 192.0 GB RAM")
        );
        assert_eq!(m[1].stats.ram_used_peak_gb, Some(92.0));
        assert_eq!(m[1].log_file.as_deref(), Some("hosts/a/monitor.log"));
        assert_eq!(m[2].hardware, None);
        assert_eq!(m[2].stats.samples, 0);
    }

    #[test]
    fn hardware_lines_name_what_the_header_holds() {
        assert_eq!(hardware_line(&serde_json::json!({})), None);
        assert_eq!(hardware_line(&Value::Null), None);
        assert_eq!(
            hardware_line(&serde_json::json!({"cpu_model": " ", "logical_cores": 8})),
            Some("8 logical cores".into())
        );
        assert_eq!(
            hardware_line(&serde_json::json!({"machine_model": "Mac15,3", "ram_total_gb": 16})),
            Some("Mac15,3, 16.0 GB RAM".into())
        );
    }

    #[test]
    fn link_targets_encode_what_would_break_a_link() {
        assert_eq!(
            link_target("hosts/a-1_b.c/monitor.jsonl"),
            "hosts/a-1_b.c/monitor.jsonl"
        );
        assert_eq!(
            link_target("hosts/my host(1)/x"),
            "hosts/my%20host%281%29/x"
        );
        assert_eq!(link_target("é"), "%C3%A9");
    }
}
