//! Apple silicon power without sudo: CPU, GPU, ANE and DRAM power from
//! IOReport's energy model, with the CPU and GPU temperatures, through the
//! `macmon` crate's library (macOS only). Its sampler blocks for the
//! interval it measures, so it runs on a side thread of its own and the
//! monitor reads its latest reading. The thread works through the small
//! [`PowerSampler`] trait, so the polling and the conversion of readings
//! are tested on every platform with a fake sampler.

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::energy::{DeviceKind, PowerDevice, PowerSource};
use super::record::round;

/// One IOReport reading: mean power over its interval (W) and the
/// temperatures at its end (°C); `None` = not given or not a sane value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplePower {
    pub cpu_w: Option<f64>,
    pub gpu_w: Option<f64>,
    pub ane_w: Option<f64>,
    pub dram_w: Option<f64>,
    pub cpu_temp_c: Option<f64>,
    pub gpu_temp_c: Option<f64>,
}

/// Watts as read: finite and not below 0, else unknown.
fn watts(w: f32) -> Option<f64> {
    let w = f64::from(w);
    (w.is_finite() && w >= 0.0).then(|| round(w, 3))
}

/// °C as read: finite and above 0 (a sensor that reads nothing gives 0),
/// below 150, else unknown.
fn celsius(c: Option<f32>) -> Option<f64> {
    let c = f64::from(c?);
    (c.is_finite() && c > 0.0 && c < 150.0).then(|| round(c, 1))
}

impl ApplePower {
    /// A reading from the sampler's raw figures.
    pub fn from_raw(
        cpu_w: f32,
        gpu_w: f32,
        ane_w: f32,
        dram_w: f32,
        cpu_temp: Option<f32>,
        gpu_temp: Option<f32>,
    ) -> ApplePower {
        ApplePower {
            cpu_w: watts(cpu_w),
            gpu_w: watts(gpu_w),
            ane_w: watts(ane_w),
            dram_w: watts(dram_w),
            cpu_temp_c: celsius(cpu_temp),
            gpu_temp_c: celsius(gpu_temp),
        }
    }

    /// The sample's devices (`cpu`, `gpu`, `ane`, `dram`), power only.
    pub fn devices(reading: Option<&ApplePower>) -> Vec<PowerDevice> {
        let r = reading.cloned().unwrap_or_default();
        [
            ("cpu", DeviceKind::Cpu, r.cpu_w),
            ("gpu", DeviceKind::Gpu, r.gpu_w),
            ("ane", DeviceKind::Ane, r.ane_w),
            ("dram", DeviceKind::Dram, r.dram_w),
        ]
        .into_iter()
        .map(|(name, kind, w)| PowerDevice {
            name: name.into(),
            kind,
            source: PowerSource::Ioreport,
            power_w: w,
            energy_j: None,
        })
        .collect()
    }
}

/// Something that measures power over an interval (blocking for it).
pub trait PowerSampler {
    fn sample(&mut self, interval: Duration) -> Result<ApplePower, String>;
}

struct Latest {
    reading: Option<(Instant, ApplePower)>,
    error: Option<String>,
}

struct Shared {
    latest: Mutex<Latest>,
    stop: Mutex<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The side thread and its latest reading; stops (after its current
/// interval) when dropped.
pub struct ApplePowerPoller {
    shared: Arc<Shared>,
    interval: Duration,
}

/// How long the sampler may take to open before the source is called
/// unavailable.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

impl ApplePowerPoller {
    /// Open a sampler with `open` on a new thread and read it every
    /// `interval`; the error says why not (the sampler could not open).
    pub fn start<S, F>(open: F, interval: Duration) -> Result<ApplePowerPoller, String>
    where
        S: PowerSampler,
        F: FnOnce() -> Result<S, String> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            latest: Mutex::new(Latest {
                reading: None,
                error: None,
            }),
            stop: Mutex::new(false),
        });
        let (opened_tx, opened_rx) = mpsc::channel::<Result<(), String>>();
        let s = shared.clone();
        std::thread::Builder::new()
            .name("mlxrun-ioreport".into())
            .spawn(move || {
                let mut sampler = match open() {
                    Ok(x) => {
                        let _ = opened_tx.send(Ok(()));
                        x
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                while !*lock(&s.stop) {
                    let r = sampler.sample(interval);
                    // a failing sampler may return at once: wait before the next try
                    let failed = r.is_err();
                    let mut l = lock(&s.latest);
                    match r {
                        Ok(p) => {
                            l.reading = Some((Instant::now(), p));
                            l.error = None;
                        }
                        Err(e) => l.error = Some(e),
                    }
                    drop(l);
                    if failed {
                        std::thread::sleep(interval);
                    }
                }
            })
            .map_err(|e| format!("cannot start the IOReport thread: {e}"))?;
        match opened_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(())) => Ok(ApplePowerPoller { shared, interval }),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                *lock(&shared.stop) = true;
                Err(format!(
                    "the IOReport sampler did not open within {} s",
                    OPEN_TIMEOUT.as_secs()
                ))
            }
        }
    }

    /// The latest reading at `now`, unless it is older than three
    /// intervals (then `None`, with why); and the last error.
    pub fn latest(&self, now: Instant) -> (Option<ApplePower>, Option<String>) {
        let l = lock(&self.shared.latest);
        let stale_after = self.interval * 3 + Duration::from_millis(500);
        match &l.reading {
            Some((at, p)) if now.saturating_duration_since(*at) <= stale_after => {
                (Some(p.clone()), l.error.clone())
            }
            Some((at, _)) => (
                None,
                Some(l.error.clone().unwrap_or_else(|| {
                    format!(
                        "no IOReport reading for {:.1} s",
                        now.saturating_duration_since(*at).as_secs_f64()
                    )
                })),
            ),
            None => (None, l.error.clone()),
        }
    }
}

impl Drop for ApplePowerPoller {
    fn drop(&mut self) {
        *lock(&self.shared.stop) = true;
    }
}

/// The IOReport interval for a monitor sampling every `monitor_interval`:
/// the same, within 100 ms to 1 s.
pub fn interval_for(monitor_interval: Duration) -> Duration {
    monitor_interval.clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// `macmon`'s sampler (IOReport, SMC), opened on the thread that uses it.
#[cfg(target_os = "macos")]
struct Macmon(macmon::Sampler);

#[cfg(target_os = "macos")]
impl PowerSampler for Macmon {
    fn sample(&mut self, interval: Duration) -> Result<ApplePower, String> {
        let ms = u32::try_from(interval.as_millis()).unwrap_or(u32::MAX);
        let m = self
            .0
            .get_metrics(ms)
            .map_err(|e| format!("IOReport: {e}"))?;
        Ok(ApplePower::from_raw(
            m.cpu_power,
            m.gpu_power,
            m.ane_power,
            m.ram_power,
            m.temp.cpu_temp_avg,
            m.temp.gpu_temp_avg,
        ))
    }
}

/// Start reading this Mac's IOReport every `interval`.
#[cfg(target_os = "macos")]
pub fn start(interval: Duration) -> Result<ApplePowerPoller, String> {
    ApplePowerPoller::start(
        || {
            macmon::Sampler::new()
                .map(Macmon)
                .map_err(|e| format!("IOReport (macmon): {e}"))
        },
        interval,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        readings: Vec<Result<ApplePower, String>>,
    }

    impl PowerSampler for Fake {
        fn sample(&mut self, interval: Duration) -> Result<ApplePower, String> {
            std::thread::sleep(interval);
            if self.readings.len() > 1 {
                self.readings.remove(0)
            } else {
                self.readings[0].clone()
            }
        }
    }

    #[test]
    fn raw_figures_become_watts_and_degrees_or_unknown() {
        let p = ApplePower::from_raw(3.25, 12.5, 0.0, 0.75, Some(48.25), Some(0.0));
        assert_eq!(p.cpu_w, Some(3.25));
        assert_eq!(p.gpu_w, Some(12.5));
        assert_eq!(p.ane_w, Some(0.0), "an idle ANE draws 0 W");
        assert_eq!(p.dram_w, Some(0.75));
        assert_eq!(p.cpu_temp_c, Some(48.3));
        assert_eq!(p.gpu_temp_c, None, "a sensor reading 0 °C reads nothing");
        let bad = ApplePower::from_raw(f32::NAN, -1.0, f32::INFINITY, 1.0, Some(f32::NAN), None);
        assert_eq!((bad.cpu_w, bad.gpu_w, bad.ane_w), (None, None, None));
        assert_eq!(bad.cpu_temp_c, None);
        let devices = ApplePower::devices(Some(&p));
        let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["cpu", "gpu", "ane", "dram"]);
        assert!(devices.iter().all(|d| d.source == PowerSource::Ioreport));
        assert!(devices.iter().all(|d| d.energy_j.is_none()), "power only");
        assert_eq!(devices[1].kind, DeviceKind::Gpu);
        assert_eq!(devices[1].power_w, Some(12.5));
        // no reading yet: the devices, power unknown
        assert!(
            ApplePower::devices(None)
                .iter()
                .all(|d| d.power_w.is_none())
        );
    }

    #[test]
    fn the_poller_keeps_the_latest_reading_and_reports_a_failed_open() {
        let one = ApplePower::from_raw(1.0, 2.0, 0.0, 0.5, None, None);
        let p = ApplePowerPoller::start(
            {
                let one = one.clone();
                move || {
                    Ok(Fake {
                        readings: vec![Ok(one)],
                    })
                }
            },
            Duration::from_millis(10),
        )
        .unwrap();
        let began = Instant::now();
        let mut got = None;
        while got.is_none() && began.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
            got = p.latest(Instant::now()).0;
        }
        assert_eq!(got, Some(one));
        // long after: stale, and said so
        let (r, why) = p.latest(Instant::now() + Duration::from_secs(60));
        assert_eq!(r, None);
        assert!(why.unwrap().starts_with("no IOReport reading for "));
        drop(p);
        let e = ApplePowerPoller::start(
            || -> Result<Fake, String> { Err("IOReport (macmon): no channels".into()) },
            Duration::from_millis(10),
        )
        .err()
        .unwrap();
        assert_eq!(e, "IOReport (macmon): no channels");
    }

    #[test]
    fn a_failing_sample_is_an_error_beside_the_last_good_reading() {
        let good = ApplePower::from_raw(1.0, 1.0, 1.0, 1.0, None, None);
        let p = ApplePowerPoller::start(
            {
                let good = good.clone();
                move || {
                    Ok(Fake {
                        readings: vec![Ok(good), Err("IOReport: gone".into())],
                    })
                }
            },
            Duration::from_millis(10),
        )
        .unwrap();
        let began = Instant::now();
        loop {
            let (r, e) = p.latest(Instant::now());
            if e.is_some() {
                assert_eq!(e.as_deref(), Some("IOReport: gone"));
                assert_eq!(r, Some(good), "the last good reading, while fresh");
                break;
            }
            assert!(began.elapsed() < Duration::from_secs(10), "no error seen");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_ioreport_interval_follows_the_monitor_within_bounds() {
        let ms = Duration::from_millis;
        assert_eq!(interval_for(ms(200)), ms(200));
        assert_eq!(interval_for(ms(10)), ms(100));
        assert_eq!(interval_for(ms(5000)), ms(1000));
    }
}
