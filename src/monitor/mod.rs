//! The system monitor: a dedicated OS thread samples memory, swap, memory
//! pressure, load, the CPU split, GPUs and named process trees on a
//! fixed-rate schedule and appends each sample to a JSONL file as it is
//! taken (`monitor.jsonl`, see the README's "The monitor"). Windows
//! (`begin_window` … `end_window`) give per-point statistics; `stop`
//! appends the run's summary. [`Monitor::start_append`] continues the file
//! of an interrupted run: one header stays at the top, a `resumed` event
//! marks where this monitor began, its times continue the header's clock,
//! and its summary covers the samples since the event.
//!
//! Unlike mlx-knife's memmon: deadlines are absolute (`start + k ×
//! interval`; a slow sample delays nothing after it, and a tick whose slot
//! passed is skipped and counted), unreadable values are `null` (never 0)
//! with the reason in the header, and nothing is held back in memory.
//!
//! - [`procfs`]: `/proc/stat` CPU split and PSI parsing (Linux).
//! - [`memory`]: RAM, swap, pressure; [`memory::snapshot`] for one-shot use.
//! - [`hardware`]: the machine's profile.
//! - [`gpu`], [`ioreg`]: NVIDIA GPUs (NVML) and Apple GPUs (ioreg).
//! - [`accelerator`]: how busy the GPUs are before a configuration starts.
//! - [`vm_stat`]: macOS wired and compressed memory.
//! - [`thermal`]: macOS thermal pressure, warnings and Low Power Mode.
//! - [`neighbours`]: CPU taken by programs outside mlxrun and its servers.
//! - `poller`: runs a short command (ioreg, vm_stat, pmset…) on a side thread,
//!   keeps its last parsed reading.
//! - [`tree`]: process trees; [`collector`]: one reading of every source.
//! - [`schedule`], [`stats`], [`record`]: timing, statistics, file lines.
//! - [`cmd`]: `mlxrun monitor`; [`schema`]: the JSON Schema of the lines.

pub mod accelerator;
pub mod apple_power;
pub(crate) mod child;
pub mod cmd;
pub mod collector;
pub mod energy;
pub mod gpu;
pub mod hardware;
pub mod ioreg;
pub mod memory;
pub mod neighbours;
pub(crate) mod poller;
pub(crate) mod power;
pub mod procfs;
pub mod rapl;
pub mod record;
pub mod schedule;
pub mod schema;
pub mod stats;
#[cfg(test)]
mod tests;
pub mod thermal;
pub mod tree;
pub mod vm_stat;

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub use collector::Sources;
use collector::{Collector, SourceChange};
use energy::{EnergyAcc, IdlePower, TracePoint, WindowTrace};
pub use hardware::{HardwareProfile, profile};
pub use memory::{MemorySnapshot, snapshot};
use record::{Event, Header, JsonlFile, Record, round};
pub use record::{Sample, Trigger};
use schedule::Schedule;
use stats::{Acc, SummaryInput, TickStats, summarize};
pub use stats::{CommandOutcome, InstanceStats, Summary, WindowStats};

/// A running monitor; stopped by [`Monitor::stop`] or on drop.
pub struct Monitor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Option<Duration>>>,
}

struct Shared {
    start: Instant,
    start_epoch: f64,
    /// Seconds between the file's header and `start` (0 unless appending).
    offset_s: f64,
    interval: Duration,
    /// Whether any power source exists.
    has_power: bool,
    /// Held while reading, so samples are taken (and written) one at a time.
    sampling: Mutex<Sampling>,
    /// Locked after `sampling` when both are needed, never before.
    state: Mutex<State>,
    stop: Mutex<bool>,
    wake: Condvar,
}

struct Sampling {
    collector: Collector,
    procs: Vec<(String, i32)>,
}

struct State {
    out: JsonlFile,
    latest: Option<Sample>,
    run: Acc,
    window: Option<Window>,
    ticks: TickStats,
    thread_ticks: u64,
    ram_total_gb: Option<f64>,
    /// The last [`Monitor::measure_accelerator_before`], for the windows
    /// that follow it.
    accelerator_before: Option<f64>,
    /// Energy over the whole run, and why there is none.
    run_energy: EnergyAcc,
    no_power: String,
    /// Power readings while idle power is measured; the result after.
    idle_trace: Option<Vec<TracePoint>>,
    idle: Option<IdlePower>,
}

struct Window {
    fields: Value,
    acc: Acc,
    /// The window's power readings, for the energy over its measured part.
    trace: Vec<TracePoint>,
}

fn check_interval(interval: Duration) -> std::io::Result<()> {
    if interval.is_zero() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the sampling interval must be above 0",
        ));
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `fields` as an object: `null` is `{}`, any other non-object `{"value": v}`.
fn as_object(fields: Value) -> Value {
    match fields {
        Value::Object(_) => fields,
        Value::Null => json!({}),
        v => json!({ "value": v }),
    }
}

impl Monitor {
    /// Create/truncate `path`, write a header record, start sampling every `interval`.
    pub fn start(path: &Path, interval: Duration) -> std::io::Result<Monitor> {
        Monitor::start_with(path, interval, Sources::default())
    }

    /// [`Monitor::start`] reading from `sources` (tests point them at fakes).
    pub fn start_with(
        path: &Path,
        interval: Duration,
        sources: Sources,
    ) -> std::io::Result<Monitor> {
        Monitor::open(path, interval, sources, None)
    }

    /// Continue the monitor file of an interrupted run at `path`: append a
    /// `resumed` event (with `fields` and this monitor's start, pid,
    /// interval and sources) instead of a second header, and keep the
    /// header's clock (`elapsed_s` counts from the header's `ts`; tick
    /// numbers `seq` start again at 0). A file without a header gets one,
    /// as from [`Monitor::start`].
    pub fn start_append(
        path: &Path,
        interval: Duration,
        fields: Value,
    ) -> std::io::Result<Monitor> {
        Monitor::open(path, interval, Sources::default(), Some(fields))
    }

    /// Write a header record to standard output, then every line as it is
    /// taken (a monitor whose reader is another program, e.g. over ssh).
    pub fn start_stdout(interval: Duration) -> std::io::Result<Monitor> {
        check_interval(interval)?;
        Monitor::begin(
            JsonlFile::stdout()?,
            None,
            interval,
            Sources::default(),
            None,
        )
    }

    fn open(
        path: &Path,
        interval: Duration,
        sources: Sources,
        resumed: Option<Value>,
    ) -> std::io::Result<Monitor> {
        check_interval(interval)?;
        let origin = match &resumed {
            Some(_) => std::fs::read_to_string(path)
                .ok()
                .and_then(|t| record::header_ts(&t)),
            None => None,
        };
        let out = match resumed {
            Some(_) => JsonlFile::append(path)?,
            None => JsonlFile::create(path)?,
        };
        Monitor::begin(out, origin, interval, sources, resumed)
    }

    /// Start sampling into `out`: continuing the clock of the header at
    /// `origin` (epoch seconds) when there is one, else writing a header.
    fn begin(
        mut out: JsonlFile,
        origin: Option<f64>,
        interval: Duration,
        sources: Sources,
        resumed: Option<Value>,
    ) -> std::io::Result<Monitor> {
        let collector = Collector::new(Sources {
            interval: Some(interval),
            ..sources
        });
        let power_source = collector.sources().get("power");
        let has_power = power_source.is_some_and(|s| !s.starts_with("unavailable: "));
        let no_power = power_source
            .and_then(|s| s.strip_prefix("unavailable: "))
            .unwrap_or("no power reading")
            .to_string();
        let start = Instant::now();
        let now_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (start_epoch, offset_s) = match origin {
            Some(ts) => (ts, (now_epoch - ts).max(0.0)),
            None => {
                let header = Header {
                    schema: record::SCHEMA,
                    mlxrun_version: crate::VERSION,
                    interval_ms: interval.as_secs_f64() * 1e3,
                    started_at: started_at.clone(),
                    ts: round(now_epoch, 3),
                    pid: std::process::id(),
                    hardware: hardware::profile(),
                    sources: collector.sources().clone(),
                };
                out.write(&Record::Header(&header));
                (now_epoch, 0.0)
            }
        };
        let resumed = resumed.map(|fields| {
            let mut fields = as_object(fields);
            fields["started_at"] = json!(started_at);
            fields["pid"] = json!(std::process::id());
            fields["mlxrun_version"] = json!(crate::VERSION);
            fields["interval_ms"] = json!(interval.as_secs_f64() * 1e3);
            fields["sources"] = json!(collector.sources());
            fields
        });
        let shared = Arc::new(Shared {
            start,
            start_epoch,
            offset_s,
            interval,
            has_power,
            sampling: Mutex::new(Sampling {
                collector,
                procs: Vec::new(),
            }),
            state: Mutex::new(State {
                out,
                latest: None,
                run: Acc::default(),
                window: None,
                ticks: TickStats::default(),
                thread_ticks: 0,
                ram_total_gb: None,
                accelerator_before: None,
                run_energy: EnergyAcc::default(),
                no_power,
                idle_trace: None,
                idle: None,
            }),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        if let Some(fields) = resumed {
            let mut st = lock(&shared.state);
            shared.write_event(&mut st, "resumed", fields);
        }
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mlxrun-monitor".into())
            .spawn(move || sampler_loop(&s))?;
        Ok(Monitor {
            shared,
            thread: Some(thread),
        })
    }
}

impl Monitor {
    /// Replace the set of tracked process trees: (instance name, root pid). Each
    /// sample then reports, per name, the RSS (MB) and CPU % of the root and all its descendants.
    pub fn set_processes(&self, procs: Vec<(String, i32)>) {
        lock(&self.shared.sampling).procs = procs;
    }

    /// Write a free-form event line now, e.g. event("servers_started", json!({"config": 2})).
    pub fn event(&self, name: &str, fields: Value) {
        let mut st = lock(&self.shared.state);
        self.shared.write_event(&mut st, name, fields);
    }

    /// Write a point_start marker (with `fields`, e.g. point number and its parameters) and start a window.
    pub fn begin_window(&self, fields: Value) {
        let mut sampling = lock(&self.shared.sampling);
        let fields = as_object(fields);
        {
            let mut st = lock(&self.shared.state);
            self.shared
                .write_event(&mut st, "point_start", fields.clone());
            st.window = Some(Window {
                fields,
                acc: Acc::default(),
                trace: Vec::new(),
            });
        }
        self.shared
            .take(&mut sampling, Trigger::WindowStart, None, None);
    }

    /// Write a point_end marker and return statistics over the samples taken since begin_window
    /// (take one extra sample at begin and at end so even a 50 ms point has ≥2 samples).
    pub fn end_window(&self) -> WindowStats {
        self.end_window_traced().0
    }

    /// [`Monitor::end_window`], and the window's power readings, for the
    /// energy over any span inside it ([`WindowTrace::energy`]).
    pub fn end_window_traced(&self) -> (WindowStats, WindowTrace) {
        let mut sampling = lock(&self.shared.sampling);
        self.shared
            .take(&mut sampling, Trigger::WindowEnd, None, None);
        let mut st = lock(&self.shared.state);
        let (mut fields, mut stats, points) = match st.window.take() {
            Some(w) => (w.fields, w.acc.window_stats(), w.trace),
            None => (json!({}), Acc::default().window_stats(), Vec::new()),
        };
        stats.accelerator_busy_before_pct = st.accelerator_before;
        fields["window"] = serde_json::to_value(&stats).expect("stats serialize");
        self.shared.write_event(&mut st, "point_end", fields);
        let trace = WindowTrace {
            points,
            idle: st.idle.clone(),
            no_source: st.no_power.clone(),
        };
        (stats, trace)
    }

    /// `at` on the monitor's clock (seconds, as the samples' `elapsed_s`,
    /// unrounded): for spans passed to [`WindowTrace::energy`].
    pub fn clock_s(&self, at: Instant) -> f64 {
        self.shared.clock_s(at)
    }

    /// Mean power per device with nothing of mlxrun's running (call it
    /// before the first configuration's servers start): the energy over
    /// [`energy::IDLE_SPAN`] between two extra samples. Writes an
    /// `idle_power` event (`devices` with `power_w`, `span_s`, `why`) and
    /// keeps the result for the windows that follow, as their
    /// `idle_power_w`. Measured once per monitor: later calls return the
    /// first result; without a power source it returns at once.
    pub async fn measure_idle_power(&self) -> Option<IdlePower> {
        {
            let st = lock(&self.shared.state);
            if st.idle.is_some() {
                return st.idle.clone();
            }
        }
        let has_source = self.shared.has_power;
        if has_source {
            {
                let mut sampling = lock(&self.shared.sampling);
                lock(&self.shared.state).idle_trace = Some(Vec::new());
                self.shared
                    .take(&mut sampling, Trigger::IdleStart, None, None);
            }
            tokio::time::sleep(energy::IDLE_SPAN).await;
            let mut sampling = lock(&self.shared.sampling);
            self.shared
                .take(&mut sampling, Trigger::IdleEnd, None, None);
        }
        let mut st = lock(&self.shared.state);
        let trace = st.idle_trace.take().unwrap_or_default();
        let e = match (trace.first(), trace.last()) {
            (Some(a), Some(b)) if has_source => {
                energy::window_energy(&trace, a.t_s, b.t_s, &st.no_power)
            }
            _ => energy::Energy::unknown(st.no_power.clone()),
        };
        let idle = IdlePower::from_energy(&e);
        let devices: Vec<Value> = e
            .devices
            .iter()
            .map(|d| json!({ "name": d.name, "power_w": d.mean_power_w }))
            .collect();
        self.shared.write_event(
            &mut st,
            "idle_power",
            json!({ "devices": devices, "span_s": e.window_s, "why": e.why }),
        );
        st.idle = idle.clone();
        idle
    }

    /// How busy the accelerator is before a configuration's servers start
    /// (call it with none of mlxrun's servers running): the busiest GPU's
    /// mean utilisation over about a second ([`accelerator::busy_now`]).
    /// Writes an `accelerator_before` event (`busy_pct`, `span_s`) and
    /// keeps the value for the windows that follow, as their
    /// `accelerator_busy_before_pct`, until the next measurement.
    pub async fn measure_accelerator_before(&self) -> Option<f64> {
        let busy = accelerator::busy_now().await;
        let mut st = lock(&self.shared.state);
        st.accelerator_before = busy;
        self.shared.write_event(
            &mut st,
            "accelerator_before",
            json!({ "busy_pct": busy, "span_s": accelerator::SPAN.as_secs_f64() }),
        );
        busy
    }

    /// The most recent sample, if any.
    pub fn latest(&self) -> Option<Sample> {
        lock(&self.shared.state).latest.clone()
    }

    /// Stop sampling, append the summary record, flush; returns the summary.
    pub fn stop(mut self) -> Summary {
        self.finish(None).expect("a monitor is finished only once")
    }

    /// [`Monitor::stop`] for a wrapped command: the summary also carries
    /// its argv and exit code.
    pub fn stop_with(mut self, outcome: CommandOutcome) -> Summary {
        self.finish(Some(outcome))
            .expect("a monitor is finished only once")
    }

    fn finish(&mut self, outcome: Option<CommandOutcome>) -> Option<Summary> {
        let thread = self.thread.take()?;
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        let sampler_cpu = thread.join().ok().flatten();
        let mut sampling = lock(&self.shared.sampling);
        self.shared.take(&mut sampling, Trigger::Final, None, None);
        let mut st = lock(&self.shared.state);
        let energy = st.run_energy.finish(&st.no_power);
        let summary = summarize(SummaryInput {
            energy,
            run: &st.run,
            ticks: &st.ticks,
            interval: self.shared.interval,
            ts: self.shared.now_ts(Instant::now()).0,
            ram_total_gb: st.ram_total_gb,
            sampler_cpu,
            thread_ticks: st.thread_ticks,
            write_errors: st.out.errors,
            outcome,
        });
        st.out.write(&Record::Summary(&summary));
        Some(summary)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.finish(None);
    }
}

impl Shared {
    /// (ts, elapsed_s) of instant `t`.
    fn now_ts(&self, t: Instant) -> (f64, f64) {
        let elapsed = self.clock_s(t);
        (round(self.start_epoch + elapsed, 3), round(elapsed, 3))
    }

    /// Seconds of instant `t` on the monitor's clock, unrounded.
    fn clock_s(&self, t: Instant) -> f64 {
        self.offset_s + t.saturating_duration_since(self.start).as_secs_f64()
    }

    fn write_event(&self, st: &mut State, name: &str, fields: Value) {
        let (ts, elapsed_s) = self.now_ts(Instant::now());
        let ev = Event {
            name: name.to_string(),
            ts,
            elapsed_s,
            fields: as_object(fields),
        };
        st.out.write(&Record::Event(&ev));
    }

    /// Read every source, write the sample (after any source-change
    /// events) and add it to the run and the open window.
    fn take(
        &self,
        sampling: &mut Sampling,
        trigger: Trigger,
        seq: Option<u64>,
        due: Option<Instant>,
    ) {
        let at = Instant::now();
        let procs = sampling.procs.clone();
        let (mut sample, changes) = sampling.collector.read(&procs, at);
        (sample.ts, sample.elapsed_s) = self.now_ts(at);
        sample.seq = seq;
        sample.trigger = trigger;
        let late = due.map(|d| at.saturating_duration_since(d));
        sample.late_ms = late.map(|l| round(l.as_secs_f64() * 1e3, 3));
        let mut st = lock(&self.state);
        for c in changes {
            self.write_change(&mut st, c);
        }
        st.out.write(&Record::Sample(&sample));
        if let Some(l) = late {
            st.ticks.tick(at, l);
        }
        st.run.push(&sample);
        let point = TracePoint {
            t_s: self.clock_s(at),
            devices: sample.power.as_ref().map(|p| p.devices.clone()),
        };
        st.run_energy.push(&point);
        if let Some(t) = &mut st.idle_trace {
            t.push(point.clone());
        }
        if let Some(w) = &mut st.window {
            w.acc.push(&sample);
            w.trace.push(point);
        }
        if sample.ram_total_gb.is_some() {
            st.ram_total_gb = sample.ram_total_gb;
        }
        st.latest = Some(sample);
    }

    fn write_change(&self, st: &mut State, c: SourceChange) {
        match c.error {
            Some(reason) => self.write_event(
                st,
                "source_lost",
                json!({ "source": c.source, "reason": reason }),
            ),
            None => self.write_event(st, "source_restored", json!({ "source": c.source })),
        }
    }

    /// Panic (on the sampler thread, holding no lock) when the fault
    /// [`crate::shutdown::PANIC_IN_MONITOR`] names the point whose window
    /// is open.
    fn injected_panic(&self) {
        let Some(n) = crate::shutdown::PANIC_IN_MONITOR.point() else {
            return;
        };
        let point = lock(&self.state)
            .window
            .as_ref()
            .and_then(|w| w.fields.get("point").and_then(Value::as_u64))
            .and_then(|p| usize::try_from(p).ok());
        if point == Some(n) {
            panic!(
                "{}={n}: a panic asked for in the monitor's thread during point {n}",
                crate::shutdown::PANIC_IN_MONITOR.name
            );
        }
    }

    /// Wait until `due`; false when asked to stop first.
    fn wait_until(&self, due: Instant) -> bool {
        let mut stop = lock(&self.stop);
        loop {
            if *stop {
                return false;
            }
            let now = Instant::now();
            if now >= due {
                return true;
            }
            stop = self
                .wake
                .wait_timeout(stop, due - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Ask the scheduler to wake this (sampler) thread first when the machine is
/// busy: nice −10 where allowed (root, or CAP_SYS_NICE), else unchanged.
/// The sampler uses well under 1% of a core, so it takes nothing from the
/// load it watches; it only stops being late behind it.
fn raise_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread; failure leaves the nice
    // value as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, -10);
    }
}

/// The sampler thread: tick k at start + k × interval until stopped;
/// returns the CPU time the thread used.
fn sampler_loop(shared: &Shared) -> Option<Duration> {
    raise_priority();
    let schedule = Schedule::new(shared.start, shared.interval);
    let mut k = 0;
    while shared.wait_until(schedule.due(k)) {
        {
            let mut sampling = lock(&shared.sampling);
            shared.take(&mut sampling, Trigger::Tick, Some(k), Some(schedule.due(k)));
        }
        shared.injected_panic();
        let (next, missed) = schedule.next(k, Instant::now());
        let mut st = lock(&shared.state);
        st.thread_ticks += 1;
        st.ticks.missed += missed;
        drop(st);
        k = next;
    }
    collector::thread_cpu_time()
}
