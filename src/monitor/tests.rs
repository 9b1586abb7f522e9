//! The monitor as the runner uses it: a file that is valid line by line
//! while it grows, windows with at least two samples, sources that fail
//! written as null with a reason, and a clean stop (explicit or on drop).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::schema::MONITOR_SCHEMA;
use super::*;
use crate::cmd::validate_report::LineValidator;

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn kinds(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["kind"].as_str().unwrap()).collect()
}

#[test]
fn a_window_around_a_short_point_has_two_samples_and_sane_values() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("m.jsonl");
    // ticks far apart: the window's samples are its own two extra ones
    let mon = Monitor::start(&path, Duration::from_secs(10)).unwrap();
    mon.set_processes(vec![("self".into(), std::process::id() as i32)]);
    let outside = Instant::now();
    mon.begin_window(json!({"point": 7, "concurrency": 4}));
    let began = Instant::now();
    let mut x = 0u64;
    while began.elapsed() < Duration::from_millis(50) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    std::hint::black_box(x);
    let w = mon.end_window();
    let around = outside.elapsed().as_secs_f64();
    assert!(w.samples >= 2, "{w:?}");
    // the window spans the 50 ms inside it and lies within the time
    // measured around it (± 2 ms: its ends are rounded to 1 ms), however
    // busy the machine is
    assert!(
        w.duration_s >= 0.05 - 0.002 && w.duration_s <= around + 0.002,
        "{w:?} within {around} s"
    );
    let total = snapshot().total_bytes as f64 / (1u64 << 30) as f64 + 0.001;
    let (start, end, min) = (
        w.ram_available_start_gb.unwrap(),
        w.ram_available_end_gb.unwrap(),
        w.ram_available_min_gb.unwrap(),
    );
    assert!(
        min > 0.0 && min <= start.min(end) && start <= total,
        "{w:?}"
    );
    assert!(w.swap_used_max_mb.unwrap() >= w.swap_used_start_mb.unwrap());
    assert!(w.load_1_max.unwrap() >= 0.0);
    if cfg!(target_os = "linux") {
        let sum = w.cpu_user_avg.unwrap() + w.cpu_sys_avg.unwrap() + w.cpu_idle_avg.unwrap();
        assert!(sum > 50.0 && sum <= 100.01, "{w:?}");
        // this thread was busy the whole window
        assert!(w.cpu_user_avg.unwrap() > 0.0, "{w:?}");
    }
    let me = &w.instances["self"];
    assert!(me.rss_peak_mb.unwrap() > 1.0, "{w:?}");
    assert!(me.processes_max >= 1);
    assert_eq!(w.server_rss_peak_mb, me.rss_peak_mb);
    let latest = mon.latest().unwrap();
    assert_eq!(latest.trigger, Trigger::WindowEnd);
    let summary = mon.stop();
    assert!(
        summary.samples >= 4,
        "tick 0, two extras, final: {summary:?}"
    );

    let l = lines(&path);
    let start = l
        .iter()
        .position(|v| v["name"] == "point_start")
        .expect("a point_start event");
    assert_eq!(l[start]["fields"], json!({"point": 7, "concurrency": 4}));
    assert_eq!(l[start + 1]["trigger"], "window_start");
    let end = l.iter().position(|v| v["name"] == "point_end").unwrap();
    assert_eq!(l[end - 1]["trigger"], "window_end");
    assert_eq!(l[end]["fields"]["point"], 7);
    assert_eq!(
        l[end]["fields"]["window"],
        serde_json::to_value(&w).unwrap()
    );
}

#[test]
fn every_line_of_a_short_run_validates_against_the_schema() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("sub/m.jsonl");
    let mon = Monitor::start(&path, Duration::from_millis(20)).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("5")
        .spawn()
        .unwrap();
    mon.set_processes(vec![
        ("self".into(), std::process::id() as i32),
        ("sleeper".into(), child.id() as i32),
        ("gone".into(), i32::MAX),
    ]);
    std::thread::sleep(Duration::from_millis(120));
    mon.event("servers_started", json!({"config": 2}));
    mon.event("note", json!("a bare string"));
    mon.begin_window(json!({"point": 1}));
    std::thread::sleep(Duration::from_millis(60));
    let w = mon.end_window();
    let _ = mon.end_window(); // without a window: empty statistics
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(60));
    let summary = mon.stop_with(CommandOutcome {
        command: vec!["sleep".into(), "5".into()],
        exit_code: 137,
    });

    let text = std::fs::read_to_string(&path).unwrap();
    let problems = LineValidator::new(MONITOR_SCHEMA)
        .unwrap()
        .check_jsonl(&text);
    assert!(problems.is_empty(), "{problems:#?}");
    let l = lines(&path);
    let k = kinds(&l);
    assert_eq!(k[0], "header");
    assert_eq!(*k.last().unwrap(), "summary");
    assert_eq!(k.iter().filter(|k| **k == "summary").count(), 1);
    assert!(k.iter().filter(|k| **k == "sample").count() >= 8, "{k:?}");
    let note = l.iter().find(|v| v["name"] == "note").unwrap();
    assert_eq!(note["fields"], json!({"value": "a bare string"}));
    assert_eq!(l.last().unwrap()["exit_code"], 137);
    assert_eq!(summary.exit_code, Some(137));
    assert!(w.instances["sleeper"].processes_max == 1);
    let last_sample = l.iter().rev().find(|v| v["kind"] == "sample").unwrap();
    assert_eq!(last_sample["trigger"], "final");
    assert_eq!(last_sample["instances"]["gone"]["processes"], 0);
    assert_eq!(last_sample["instances"]["sleeper"]["processes"], 0);
    // ticks are numbered in order, samples are in time order
    let seqs: Vec<u64> = l.iter().filter_map(|v| v["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|p| p[0] < p[1]), "{seqs:?}");
    let ts: Vec<f64> = l
        .iter()
        .filter(|v| v["kind"] == "sample")
        .map(|v| v["ts"].as_f64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|p| p[0] <= p[1]), "{ts:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn unreadable_sources_are_null_in_samples_with_the_reason_in_the_header() {
    use super::procfs::ProcRoot;
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("m.jsonl");
    let fake = t.path().join("fake-proc");
    std::fs::create_dir(&fake).unwrap();
    let mon = Monitor::start_with(
        &path,
        Duration::from_millis(20),
        Sources {
            proc_root: ProcRoot(fake.clone()),
            ..Sources::default()
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let s = mon.stop();
    assert_eq!(s.cpu_user_max, None);
    assert_eq!(s.memory_pressure_peak, None);
    assert!(s.ram_available_min_gb.is_some(), "memory still works");

    let l = lines(&path);
    let sources = &l[0]["sources"];
    for key in ["cpu", "memory_pressure", "psi"] {
        let why = sources[key].as_str().unwrap();
        assert!(why.starts_with("unavailable: cannot read "), "{key}: {why}");
        assert!(why.contains(fake.to_str().unwrap()), "{key}: {why}");
    }
    assert_eq!(sources["memory"], "sysinfo");
    let samples: Vec<&Value> = l.iter().filter(|v| v["kind"] == "sample").collect();
    assert!(samples.len() >= 3);
    for s in samples {
        for key in super::collector::PROC_FIELDS {
            assert!(s[key].is_null(), "{key} = {} in {s}", s[key]);
        }
        assert!(s["ram_available_gb"].as_f64().unwrap() > 0.0);
    }
    // nothing was logged as lost: it was never there
    assert!(!l.iter().any(|v| v["name"] == "source_lost"));
}

#[test]
fn lines_are_on_disk_while_the_monitor_runs_and_drop_writes_the_summary() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("m.jsonl");
    let mon = Monitor::start(&path, Duration::from_millis(20)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // read by another handle while sampling goes on
        let text = std::fs::read_to_string(&path).unwrap();
        let n = text
            .lines()
            .filter(|l| l.contains("\"kind\":\"sample\""))
            .count();
        if n >= 3 {
            assert!(text.ends_with('\n'), "only whole lines are written");
            assert!(text.starts_with("{\"kind\":\"header\""));
            break;
        }
        assert!(Instant::now() < deadline, "no samples on disk: {text}");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(mon.latest().is_some());
    drop(mon);
    let l = lines(&path);
    assert_eq!(kinds(&l).last(), Some(&"summary"));
    assert!(l.last().unwrap().get("exit_code").is_none());
}

#[test]
fn a_zero_interval_or_an_unwritable_file_is_refused() {
    let t = tempfile::tempdir().unwrap();
    assert!(Monitor::start(&t.path().join("m.jsonl"), Duration::ZERO).is_err());
    let file = t.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert!(Monitor::start(&file.join("m.jsonl"), Duration::from_millis(100)).is_err());
}

#[test]
fn an_appended_monitor_keeps_one_header_marks_the_resume_and_continues_the_clock() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("m.jsonl");
    Monitor::start(&path, Duration::from_millis(50))
        .unwrap()
        .stop();
    let before = lines(&path);
    let last_ts = before.last().unwrap()["ts"].as_f64().unwrap();
    std::thread::sleep(Duration::from_millis(120));
    let mon =
        Monitor::start_append(&path, Duration::from_millis(50), json!({"points_left": 3})).unwrap();
    std::thread::sleep(Duration::from_millis(120));
    mon.stop();
    let l = lines(&path);
    assert_eq!(&l[..before.len()], &before[..], "earlier lines untouched");
    assert_eq!(kinds(&l).iter().filter(|k| **k == "header").count(), 1);
    let r = &l[before.len()];
    assert_eq!(r["name"], "resumed");
    assert_eq!(r["fields"]["points_left"], 3);
    assert_eq!(r["fields"]["pid"], std::process::id());
    assert!(r["fields"]["sources"].is_object());
    let header_ts = l[0]["ts"].as_f64().unwrap();
    let elapsed = r["elapsed_s"].as_f64().unwrap();
    assert!(elapsed >= 0.115, "the header's clock goes on: {r}");
    assert!((r["ts"].as_f64().unwrap() - (header_ts + elapsed)).abs() < 0.002);
    assert!(r["ts"].as_f64().unwrap() > last_ts);
    let first_new = l[before.len() + 1..]
        .iter()
        .find(|v| v["kind"] == "sample")
        .unwrap();
    assert_eq!(first_new["seq"], 0);
    assert_eq!(kinds(&l).last(), Some(&"summary"));
    let v = LineValidator::new(MONITOR_SCHEMA).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        v.check_jsonl(&text).is_empty(),
        "{:?}",
        v.check_jsonl(&text)
    );

    // a file without a header gets one
    let bare = t.path().join("bare.jsonl");
    Monitor::start_append(&bare, Duration::from_millis(50), json!({}))
        .unwrap()
        .stop();
    let l = lines(&bare);
    assert_eq!(kinds(&l)[..2], ["header", "event"]);
    assert_eq!(l[1]["name"], "resumed");
}

#[tokio::test]
async fn the_accelerator_reading_before_a_configuration_reaches_its_windows() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("m.jsonl");
    let mon = Monitor::start(&path, Duration::from_secs(10)).unwrap();
    mon.begin_window(json!({"point": 1}));
    let before = mon.end_window();
    assert_eq!(before.accelerator_busy_before_pct, None, "not measured yet");
    let busy = mon.measure_accelerator_before().await;
    mon.begin_window(json!({"point": 2}));
    let w = mon.end_window();
    assert_eq!(w.accelerator_busy_before_pct, busy);
    if let Some(b) = busy {
        assert!((0.0..=100.0).contains(&b), "{b}");
    }
    mon.stop();
    let l = lines(&path);
    let ev = l
        .iter()
        .find(|v| v["name"] == "accelerator_before")
        .expect("an accelerator_before event");
    assert_eq!(ev["fields"]["busy_pct"], json!(busy));
    assert_eq!(ev["fields"]["span_s"], json!(1.0));
    let end = l.iter().rfind(|v| v["name"] == "point_end").unwrap();
    assert_eq!(
        end["fields"]["window"]["accelerator_busy_before_pct"],
        json!(busy)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let problems = LineValidator::new(MONITOR_SCHEMA)
        .unwrap()
        .check_jsonl(&text);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn without_a_power_source_every_energy_figure_is_null_with_the_reason() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("m.jsonl");
    let mon = Monitor::start_with(
        &path,
        Duration::from_millis(20),
        Sources {
            powercap_root: Some(t.path().join("no-powercap")),
            ..Sources::default()
        },
    )
    .unwrap();
    if lock(&mon.shared.state).no_power == "no power reading" {
        // an NVIDIA machine: this test is for one without a source
        return;
    }
    assert_eq!(mon.measure_idle_power().await, None);
    mon.begin_window(json!({"point": 1}));
    let from = mon.clock_s(Instant::now());
    std::thread::sleep(Duration::from_millis(60));
    let to = mon.clock_s(Instant::now());
    let (_, trace) = mon.end_window_traced();
    let e = trace.energy(from, to, 500);
    assert_eq!(
        (e.total_j, e.j_per_output_token, e.method),
        (None, None, None)
    );
    let why = e.why.unwrap();
    assert!(why.starts_with("no power source: nvml: "), "{why}");
    assert!(why.contains("rapl: no powercap ("), "{why}");
    let s = mon.stop();
    assert_eq!(s.energy.total_j, None);
    assert_eq!(s.energy.why.as_deref(), Some(why.as_str()));

    let l = lines(&path);
    let v = LineValidator::new(MONITOR_SCHEMA).unwrap();
    for line in &l {
        assert!(v.check(&line.to_string()).is_empty(), "{line}");
    }
    assert_eq!(l[0]["sources"]["power"], format!("unavailable: {why}"));
    let samples: Vec<&Value> = l.iter().filter(|v| v["kind"] == "sample").collect();
    assert!(samples.iter().all(|s| s["power"].is_null()));
    let idle = l.iter().find(|v| v["name"] == "idle_power").unwrap();
    assert_eq!(idle["fields"]["why"], json!(why));
    assert_eq!(idle["fields"]["devices"], json!([]));
    assert!(l.last().unwrap()["energy"]["total_j"].is_null());
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_counter_source_gives_power_per_sample_idle_power_and_window_energy() {
    let t = tempfile::tempdir().unwrap();
    let zone = t.path().join("powercap/intel-rapl:0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("name"), "package-0\n").unwrap();
    std::fs::write(zone.join("max_energy_range_uj"), "262143328850\n").unwrap();
    let energy = zone.join("energy_uj");
    std::fs::write(&energy, "0\n").unwrap();
    // the package draws 25 W: its counter follows the clock
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, energy) = (stop.clone(), energy.clone());
        let began = Instant::now();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let uj = (began.elapsed().as_secs_f64() * 25e6) as u64;
                let tmp = energy.with_extension("tmp");
                std::fs::write(&tmp, format!("{uj}\n")).unwrap();
                std::fs::rename(&tmp, &energy).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let path = t.path().join("m.jsonl");
    let mon = Monitor::start_with(
        &path,
        Duration::from_millis(50),
        Sources {
            powercap_root: Some(t.path().join("powercap")),
            ..Sources::default()
        },
    )
    .unwrap();
    let idle = mon.measure_idle_power().await.unwrap();
    assert_eq!(idle.devices[0].0, "package-0");
    mon.begin_window(json!({"point": 1}));
    let from = mon.clock_s(Instant::now());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to = mon.clock_s(Instant::now());
    let (_, trace) = mon.end_window_traced();
    let e = trace.energy(from, to, 1000);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let s = mon.stop();
    assert_eq!(e.why, None, "{e:?}");
    assert_eq!(e.method, Some(energy::EnergyMethod::Counter));
    assert_eq!(e.devices[0].source, energy::PowerSource::Rapl);
    assert_eq!(e.window_s, Some(round(to - from, 3)));
    assert!(e.total_j.is_some_and(|j| j > 0.0), "{e:?}");
    assert!(e.j_per_output_token.is_some() && e.idle_power_w.is_some());
    assert_eq!(s.energy.method, Some(energy::EnergyMethod::Counter));
    let l = lines(&path);
    assert!(
        l[0]["sources"]["power"]
            .as_str()
            .unwrap()
            .starts_with("rapl ")
    );
    let v = LineValidator::new(MONITOR_SCHEMA).unwrap();
    for line in &l {
        assert!(v.check(&line.to_string()).is_empty(), "{line}");
    }
    let sample = l.iter().rfind(|v| v["kind"] == "sample").unwrap();
    assert_eq!(sample["power"]["devices"][0]["name"], "package-0");
    assert!(sample["power"]["devices"][0]["energy_j"].as_f64().unwrap() > 0.0);
    let triggers: Vec<&str> = l
        .iter()
        .filter_map(|v| v["trigger"].as_str())
        .filter(|t| t.starts_with("idle"))
        .collect();
    assert_eq!(triggers, ["idle_start", "idle_end"]);
}
