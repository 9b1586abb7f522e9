//! Energy from power readings, as pure arithmetic: cumulative energy
//! counters unwrapped ([`Counter`]), a trace of readings clipped to a
//! window ([`clip`]), and the joules over that window per device and in
//! all ([`EnergyAcc`], [`window_energy`]): the counter's delta where the
//! device has a counter, else the trapezoid integral of its power samples
//! (irregular intervals), and never a number without saying which
//! (`method`) or, where none can be given, why.
//!
//! Times are seconds on the monitor's clock (`elapsed_s`, unrounded).

use serde::{Deserialize, Serialize};

use super::record::round;

/// What a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Gpu,
    Cpu,
    Ane,
    Dram,
    Package,
}

/// Where a device's readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerSource {
    /// NVML's total-energy counter (mJ since the driver loaded), and its
    /// power reading beside it.
    NvmlEnergyCounter,
    /// NVML's power reading only (the device has no energy counter).
    NvmlPower,
    /// Apple silicon's IOReport energy model (mean power over each of its
    /// intervals), without sudo.
    Ioreport,
    /// Linux RAPL under `/sys/class/powercap` (µJ counter).
    Rapl,
}

impl PowerSource {
    /// Whether the source has an energy counter (else power only).
    pub fn has_counter(self) -> bool {
        matches!(self, PowerSource::NvmlEnergyCounter | PowerSource::Rapl)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PowerSource::NvmlEnergyCounter => "nvml_energy_counter",
            PowerSource::NvmlPower => "nvml_power",
            PowerSource::Ioreport => "ioreport",
            PowerSource::Rapl => "rapl",
        }
    }
}

/// One device in one sample (`monitor.jsonl`: a sample's `power.devices`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerDevice {
    /// `gpu0`, `cpu`, `gpu`, `ane`, `package-0`, `dram-0`, …
    pub name: String,
    pub kind: DeviceKind,
    pub source: PowerSource,
    /// Watts now (a counter source: since the previous sample); `null`
    /// when it could not be read.
    pub power_w: Option<f64>,
    /// Joules since the monitor's first reading of the device, already
    /// unwrapped; `null` for a power-only source, or when this reading failed.
    pub energy_j: Option<f64>,
}

/// A sample's `power` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerSample {
    pub devices: Vec<PowerDevice>,
}

/// The power readings of one sample at time `t_s`; `None` = no source
/// could be read in that sample.
#[derive(Debug, Clone, PartialEq)]
pub struct TracePoint {
    pub t_s: f64,
    pub devices: Option<Vec<PowerDevice>>,
}

/// A cumulative counter (µJ, mJ) read as it goes: the count since its
/// first reading, with wrap-around undone when the counter's range is
/// known.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    /// The largest value the counter takes before it starts again at 0
    /// (RAPL's `max_energy_range_uj`); `None` when it does not wrap.
    range: Option<u64>,
    prev: Option<u64>,
    total: u64,
    /// A reading below the previous one with no known range: a reset, and
    /// the count since is no longer comparable with the count before.
    resets: u64,
}

impl Counter {
    pub fn new(range: Option<u64>) -> Counter {
        Counter {
            range: range.filter(|r| *r > 0),
            ..Counter::default()
        }
    }

    /// Add one raw reading; the count since the first reading, or `None`
    /// when the counter went back without a known range (it was reset: the
    /// energy between the two readings is unknown, and the count starts
    /// again from this reading).
    pub fn push(&mut self, raw: u64) -> Option<u64> {
        let Some(prev) = self.prev else {
            self.prev = Some(raw);
            return Some(0);
        };
        self.prev = Some(raw);
        let delta = if raw >= prev {
            raw - prev
        } else {
            match self.range {
                // it counted up to `range`, then from 0 to `raw`
                Some(range) if prev <= range => range - prev + 1 + raw,
                _ => {
                    self.resets += 1;
                    return None;
                }
            }
        };
        self.total = self.total.saturating_add(delta);
        Some(self.total)
    }

    /// Readings that went back without a known range.
    pub fn resets(&self) -> u64 {
        self.resets
    }
}

/// How a figure was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnergyMethod {
    /// The difference of an energy counter at the window's ends (each end
    /// interpolated between the two readings around it).
    Counter,
    /// Power samples integrated over the window (trapezoid rule, the ends
    /// interpolated): an approximation of the energy between samples.
    Integrated,
}

/// One device over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceEnergy {
    pub name: String,
    pub kind: DeviceKind,
    pub source: PowerSource,
    pub joules: Option<f64>,
    pub mean_power_w: Option<f64>,
    pub method: Option<EnergyMethod>,
    /// Why `joules` is `null`.
    pub why: Option<String>,
}

/// The energy over a window: report.jsonl's `energy`, a monitor window's
/// and summary's `energy`. When no source covers the window every number
/// is `null` and `why` says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    /// Joules of all devices together.
    pub total_j: Option<f64>,
    pub devices: Vec<DeviceEnergy>,
    /// `total_j` / `window_s`.
    pub mean_power_w: Option<f64>,
    pub j_per_output_token: Option<f64>,
    pub output_tokens_per_j: Option<f64>,
    /// The window's length: the point's measured window (the one its
    /// throughput is over).
    pub window_s: Option<f64>,
    /// `counter` when every device's figure is a counter delta, else
    /// `integrated`.
    pub method: Option<EnergyMethod>,
    /// Mean power of the same devices with nothing of mlxrun's running,
    /// before the first configuration; `null` when not measured.
    pub idle_power_w: Option<f64>,
    /// `total_j` − `idle_power_w` × `window_s`.
    pub above_idle_j: Option<f64>,
    pub why: Option<String>,
}

impl Energy {
    /// Nothing known, and why.
    pub fn unknown(why: impl Into<String>) -> Energy {
        Energy {
            total_j: None,
            devices: Vec::new(),
            mean_power_w: None,
            j_per_output_token: None,
            output_tokens_per_j: None,
            window_s: None,
            method: None,
            idle_power_w: None,
            above_idle_j: None,
            why: Some(why.into()),
        }
    }

    /// Add the per-token figures for `output_tokens` generated in the
    /// window (none when no token was).
    pub fn with_tokens(mut self, output_tokens: u64) -> Energy {
        if let Some(j) = self.total_j
            && output_tokens > 0
        {
            self.j_per_output_token = Some(round(j / output_tokens as f64, 6));
            self.output_tokens_per_j = (j > 0.0).then(|| round(output_tokens as f64 / j, 4));
        }
        self
    }

    /// Add the idle figures for `idle` (devices by name): only when idle
    /// was measured for every device of the window.
    pub fn with_idle(mut self, idle: Option<&IdlePower>) -> Energy {
        let (Some(idle), Some(total), Some(window)) = (idle, self.total_j, self.window_s) else {
            return self;
        };
        let watts: Option<Vec<f64>> = self.devices.iter().map(|d| idle.watts(&d.name)).collect();
        if let Some(w) = watts.filter(|w| !w.is_empty()) {
            let idle_w: f64 = w.iter().sum();
            self.idle_power_w = Some(round(idle_w, 3));
            self.above_idle_j = Some(round(total - idle_w * window, 3));
        }
        self
    }

    /// Windows laid end to end (a point's repeats): joules and seconds
    /// add up; unknown when any part is.
    pub fn laid_end_to_end(parts: &[Option<&Energy>], output_tokens: u64) -> Energy {
        let Some(first) = parts.first() else {
            return Energy::unknown("no window was measured");
        };
        // one reason for every part (no source at all): that reason alone
        let whys: Vec<Option<&str>> = parts
            .iter()
            .map(|p| p.and_then(|e| e.total_j.is_none().then_some(e.why.as_deref()).flatten()))
            .collect();
        if let Some(Some(why)) = whys.first()
            && whys.iter().all(|w| w == &Some(*why))
        {
            return Energy::unknown(*why);
        }
        let mut total = 0.0;
        let mut window = 0.0;
        let mut idle_j = Some(0.0);
        let mut method = EnergyMethod::Counter;
        let mut devices: Vec<DeviceEnergy> = first.map(|e| e.devices.clone()).unwrap_or_default();
        for d in &mut devices {
            d.joules = Some(0.0);
        }
        for (k, part) in parts.iter().enumerate() {
            let Some(e) = part else {
                return Energy::unknown(format!("repeat {}: not measured", k + 1));
            };
            let (Some(j), Some(w)) = (e.total_j, e.window_s) else {
                let why = e.why.as_deref().unwrap_or("no energy");
                return Energy::unknown(format!("repeat {}: {why}", k + 1));
            };
            total += j;
            window += w;
            if e.method == Some(EnergyMethod::Integrated) {
                method = EnergyMethod::Integrated;
            }
            idle_j = match (idle_j, e.idle_power_w) {
                (Some(sum), Some(p)) => Some(sum + p * w),
                _ => None,
            };
            for d in &mut devices {
                let same = e.devices.iter().find(|x| x.name == d.name);
                d.joules = match (d.joules, same.and_then(|x| x.joules)) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
                if same.and_then(|x| x.method) == Some(EnergyMethod::Integrated) {
                    d.method = Some(EnergyMethod::Integrated);
                }
            }
        }
        for d in &mut devices {
            d.joules = d.joules.map(|j| round(j, 3));
            d.mean_power_w = d
                .joules
                .filter(|_| window > 0.0)
                .map(|j| round(j / window, 3));
        }
        let out = Energy {
            total_j: Some(round(total, 3)),
            devices,
            mean_power_w: (window > 0.0).then(|| round(total / window, 3)),
            j_per_output_token: None,
            output_tokens_per_j: None,
            window_s: Some(round(window, 3)),
            method: Some(method),
            idle_power_w: idle_j
                .filter(|_| window > 0.0)
                .map(|j| round(j / window, 3)),
            above_idle_j: idle_j.map(|j| round(total - j, 3)),
            why: None,
        };
        out.with_tokens(output_tokens)
    }
}

/// Mean power per device with nothing of mlxrun's running (the monitor's
/// `idle_power` event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdlePower {
    /// Device name → mean watts.
    pub devices: Vec<(String, f64)>,
    /// The span the means are over, seconds.
    pub span_s: f64,
}

impl IdlePower {
    /// The idle watts of device `name`.
    pub fn watts(&self, name: &str) -> Option<f64> {
        self.devices
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, w)| *w)
    }

    /// The idle power of every device that `e` (the energy over the idle
    /// span) has a figure for; `None` when it has none.
    pub fn from_energy(e: &Energy) -> Option<IdlePower> {
        let span = e.window_s.filter(|w| *w > 0.0)?;
        let devices: Vec<(String, f64)> = e
            .devices
            .iter()
            .filter_map(|d| d.mean_power_w.map(|w| (d.name.clone(), w)))
            .collect();
        (!devices.is_empty()).then_some(IdlePower {
            devices,
            span_s: span,
        })
    }
}

/// The CSV columns of a point's energy, in order.
pub const ENERGY_COLUMNS: [&str; 6] = [
    "energy_j",
    "power_w_mean",
    "j_per_output_token",
    "output_tokens_per_j",
    "energy_method",
    "energy_why",
];

/// The CSV cells of [`ENERGY_COLUMNS`]: empty where a figure is unknown,
/// the reason in `energy_why`; all empty for a point not measured.
pub fn energy_cells(e: Option<&Energy>) -> [String; 6] {
    let Some(e) = e else {
        return Default::default();
    };
    let num = |v: Option<f64>, dp: usize| v.map_or_else(String::new, |x| format!("{x:.dp$}"));
    [
        num(e.total_j, 3),
        num(e.mean_power_w, 2),
        num(e.j_per_output_token, 5),
        num(e.output_tokens_per_j, 3),
        match e.method {
            Some(EnergyMethod::Counter) => "counter".into(),
            Some(EnergyMethod::Integrated) => "integrated".into(),
            None => String::new(),
        },
        e.why.clone().unwrap_or_default(),
    ]
}

/// How long idle power is measured for.
pub const IDLE_SPAN: std::time::Duration = std::time::Duration::from_secs(1);

/// A monitor window's power readings, the idle power measured before it,
/// and why there is no power source (when there is none).
#[derive(Debug, Clone, Default)]
pub struct WindowTrace {
    pub points: Vec<TracePoint>,
    pub idle: Option<IdlePower>,
    pub no_source: String,
}

impl WindowTrace {
    /// The energy over exactly `[from, to]` (monitor clock seconds, inside
    /// the window) for `output_tokens` generated in it.
    pub fn energy(&self, from: f64, to: f64, output_tokens: u64) -> Energy {
        window_energy(&self.points, from, to, &self.no_source)
            .with_idle(self.idle.as_ref())
            .with_tokens(output_tokens)
    }
}

/// Linear interpolation between `(ta, a)` and `(tb, b)` at `t`.
fn lerp(ta: f64, a: f64, tb: f64, b: f64, t: f64) -> f64 {
    if tb <= ta {
        return b;
    }
    a + (b - a) * ((t - ta) / (tb - ta))
}

/// The readings of `a` and `b` interpolated at `t` (devices matched by
/// name; a device missing from either is missing here too).
fn between(a: &TracePoint, b: &TracePoint, t: f64) -> TracePoint {
    let devices = match (&a.devices, &b.devices) {
        (Some(da), Some(db)) => Some(
            da.iter()
                .filter_map(|x| {
                    let y = db.iter().find(|y| y.name == x.name)?;
                    let mix = |p: Option<f64>, q: Option<f64>| Some(lerp(a.t_s, p?, b.t_s, q?, t));
                    Some(PowerDevice {
                        power_w: mix(x.power_w, y.power_w),
                        energy_j: mix(x.energy_j, y.energy_j),
                        ..x.clone()
                    })
                })
                .collect(),
        ),
        _ => None,
    };
    TracePoint { t_s: t, devices }
}

/// `trace` (in time order) cut to `[from, to]`: the samples inside, and a
/// point at each end interpolated between the samples around it. Fails
/// when the samples do not span the window.
pub fn clip(trace: &[TracePoint], from: f64, to: f64) -> Result<Vec<TracePoint>, String> {
    if !(from.is_finite() && to.is_finite() && from <= to) {
        return Err(format!("not a window: {from} s to {to} s"));
    }
    // (a NaN time is out of order too)
    if trace
        .windows(2)
        .any(|w| w[0].t_s.partial_cmp(&w[1].t_s).is_none_or(|o| o.is_gt()))
    {
        return Err("the power samples are not in time order".into());
    }
    let (Some(first), Some(last)) = (trace.first(), trace.last()) else {
        return Err("no power sample".into());
    };
    if first.t_s > from {
        return Err(format!(
            "the power samples begin {:.3} s after the window does",
            first.t_s - from
        ));
    }
    if last.t_s < to {
        return Err(format!(
            "the power samples end {:.3} s before the window does",
            to - last.t_s
        ));
    }
    // the last sample at or before `from`, the first at or after `to`
    let i0 = trace.iter().rposition(|p| p.t_s <= from).unwrap_or(0);
    let i1 = trace
        .iter()
        .position(|p| p.t_s >= to)
        .unwrap_or(trace.len() - 1);
    let at = |i: usize, t: f64| -> TracePoint {
        if trace[i].t_s == t || i + 1 >= trace.len() {
            TracePoint {
                t_s: t,
                ..trace[i].clone()
            }
        } else {
            between(&trace[i], &trace[i + 1], t)
        }
    };
    let mut out = vec![at(i0, from)];
    out.extend(
        trace[i0..=i1]
            .iter()
            .filter(|p| p.t_s > from && p.t_s < to)
            .cloned(),
    );
    if to > from {
        let end = if trace[i1].t_s == to || i1 == 0 {
            TracePoint {
                t_s: to,
                ..trace[i1].clone()
            }
        } else {
            between(&trace[i1 - 1], &trace[i1], to)
        };
        out.push(end);
    }
    Ok(out)
}

/// One device's running figures.
#[derive(Debug, Clone)]
struct DeviceAcc {
    name: String,
    kind: DeviceKind,
    source: PowerSource,
    first_t: f64,
    last_t: f64,
    /// The counter's first and latest value; `counter_gap` once a reading
    /// between them had none.
    counter_first: Option<f64>,
    counter_last: Option<f64>,
    counter_gap: bool,
    /// Samples without a counter reading.
    counter_missing: u64,
    /// The previous power reading, the integral so far, and the samples
    /// without one.
    power_prev: Option<(f64, f64)>,
    integral_j: f64,
    power_gaps: u64,
}

impl DeviceAcc {
    fn new(d: &PowerDevice, t: f64) -> DeviceAcc {
        DeviceAcc {
            name: d.name.clone(),
            kind: d.kind,
            source: d.source,
            first_t: t,
            last_t: t,
            counter_first: d.energy_j,
            counter_last: d.energy_j,
            counter_gap: d.energy_j.is_none(),
            counter_missing: u64::from(d.energy_j.is_none()),
            power_prev: d.power_w.map(|p| (t, p)),
            integral_j: 0.0,
            power_gaps: u64::from(d.power_w.is_none()),
        }
    }

    fn push(&mut self, d: &PowerDevice, t: f64) {
        self.last_t = t;
        match d.energy_j {
            Some(e) => self.counter_last = Some(e),
            None => {
                self.counter_gap = true;
                self.counter_missing += 1;
            }
        }
        match (d.power_w, self.power_prev) {
            (Some(p), Some((tp, pp))) => {
                self.integral_j += (pp + p) / 2.0 * (t - tp);
                self.power_prev = Some((t, p));
            }
            (Some(p), None) => self.power_prev = Some((t, p)),
            (None, _) => {
                self.power_gaps += 1;
                self.power_prev = None;
            }
        }
    }

    /// A sample without this device (or without any power reading).
    fn missing(&mut self) {
        self.counter_gap = true;
        self.counter_missing += 1;
        self.power_gaps += 1;
        self.power_prev = None;
    }

    fn finish(&self, span: (f64, f64)) -> DeviceEnergy {
        let window = span.1 - span.0;
        let mut out = DeviceEnergy {
            name: self.name.clone(),
            kind: self.kind,
            source: self.source,
            joules: None,
            mean_power_w: None,
            method: None,
            why: None,
        };
        let covered = self.first_t <= span.0 && self.last_t >= span.1;
        let counter = match (self.counter_first, self.counter_last) {
            (Some(a), Some(b)) if !self.counter_gap && b >= a => Some(b - a),
            _ => None,
        };
        let result = if !covered {
            Err(format!(
                "{}: read from {:.3} s to {:.3} s of a window of {:.3} s",
                self.name,
                self.first_t - span.0,
                self.last_t - span.0,
                window
            ))
        } else if let Some(j) = counter {
            Ok((j, EnergyMethod::Counter))
        } else if self.power_gaps == 0 {
            Ok((self.integral_j, EnergyMethod::Integrated))
        } else if self.source.has_counter() {
            Err(format!(
                "{}: no counter reading in {} sample(s) of the window",
                self.name, self.counter_missing
            ))
        } else {
            Err(format!(
                "{}: no reading in {} sample(s) of the window",
                self.name, self.power_gaps
            ))
        };
        match result {
            Ok((j, method)) => {
                out.joules = Some(round(j, 3));
                out.mean_power_w = (window > 0.0).then(|| round(j / window, 3));
                out.method = Some(method);
            }
            Err(why) => out.why = Some(why),
        }
        out
    }
}

/// The energy of the samples pushed so far, over the span from the first
/// to the last: constant memory, so it serves a whole monitor run as well
/// as a clipped window.
#[derive(Debug, Clone, Default)]
pub struct EnergyAcc {
    span: Option<(f64, f64)>,
    devices: Vec<DeviceAcc>,
    /// Samples pushed with no power reading at all.
    unread: u64,
}

impl EnergyAcc {
    pub fn push(&mut self, p: &TracePoint) {
        let t = p.t_s;
        let first = self.span.is_none();
        self.span = Some(self.span.map_or((t, t), |(a, _)| (a, t)));
        let Some(devices) = &p.devices else {
            self.unread += 1;
            for d in &mut self.devices {
                d.missing();
            }
            return;
        };
        for d in &mut self.devices {
            if !devices.iter().any(|x| x.name == d.name) {
                d.missing();
            }
        }
        for x in devices {
            match self.devices.iter_mut().find(|d| d.name == x.name) {
                Some(d) => d.push(x, t),
                None => {
                    let mut d = DeviceAcc::new(x, t);
                    if !first {
                        // seen only from here: its span is shorter
                        d.counter_gap = true;
                    }
                    self.devices.push(d);
                }
            }
        }
    }

    /// The energy over the span pushed; `no_source` is why there is none
    /// when no device was ever read.
    pub fn finish(&self, no_source: &str) -> Energy {
        let Some(span) = self.span else {
            return Energy::unknown(format!("no power sample ({no_source})"));
        };
        if self.devices.is_empty() {
            return Energy::unknown(no_source.to_string());
        }
        let devices: Vec<DeviceEnergy> = self.devices.iter().map(|d| d.finish(span)).collect();
        let window = span.1 - span.0;
        let whys: Vec<&str> = devices.iter().filter_map(|d| d.why.as_deref()).collect();
        if !whys.is_empty() {
            let mut e = Energy::unknown(whys.join("; "));
            e.devices = devices;
            return e;
        }
        let total: f64 = devices.iter().filter_map(|d| d.joules).sum();
        let method = if devices
            .iter()
            .all(|d| d.method == Some(EnergyMethod::Counter))
        {
            EnergyMethod::Counter
        } else {
            EnergyMethod::Integrated
        };
        Energy {
            total_j: Some(round(total, 3)),
            devices,
            mean_power_w: (window > 0.0).then(|| round(total / window, 3)),
            j_per_output_token: None,
            output_tokens_per_j: None,
            window_s: Some(round(window, 3)),
            method: Some(method),
            idle_power_w: None,
            above_idle_j: None,
            why: None,
        }
    }
}

/// The energy over exactly `[from, to]` from `trace` (the samples around
/// the window included): per device and in all, or every number `null`
/// with the reason. `no_source` says why there is no power source, for
/// a trace without any device.
pub fn window_energy(trace: &[TracePoint], from: f64, to: f64, no_source: &str) -> Energy {
    if trace
        .iter()
        .all(|p| p.devices.as_ref().is_none_or(Vec::is_empty))
    {
        return Energy::unknown(no_source.to_string());
    }
    match clip(trace, from, to) {
        Ok(clipped) => {
            let mut acc = EnergyAcc::default();
            for p in &clipped {
                acc.push(p);
            }
            acc.finish(no_source)
        }
        Err(why) => Energy::unknown(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, source: PowerSource, w: Option<f64>, e: Option<f64>) -> PowerDevice {
        PowerDevice {
            name: name.into(),
            kind: DeviceKind::Gpu,
            source,
            power_w: w,
            energy_j: e,
        }
    }

    fn power_only(points: &[(f64, Option<f64>)]) -> Vec<TracePoint> {
        points
            .iter()
            .map(|(t, w)| TracePoint {
                t_s: *t,
                devices: Some(vec![dev("gpu0", PowerSource::NvmlPower, *w, None)]),
            })
            .collect()
    }

    fn counter_only(points: &[(f64, Option<f64>)]) -> Vec<TracePoint> {
        points
            .iter()
            .map(|(t, e)| TracePoint {
                t_s: *t,
                devices: Some(vec![dev("pkg", PowerSource::Rapl, None, *e)]),
            })
            .collect()
    }

    #[test]
    fn a_counter_counts_from_its_first_reading() {
        let mut c = Counter::new(None);
        assert_eq!(c.push(5_000), Some(0));
        assert_eq!(c.push(5_250), Some(250));
        assert_eq!(c.push(5_250), Some(250), "no change, no energy");
        assert_eq!(c.push(6_000), Some(1_000));
        assert_eq!(c.resets(), 0);
    }

    #[test]
    fn a_counter_wraps_at_its_range() {
        // RAPL: values 0..=range, then 0 again
        let mut c = Counter::new(Some(1_000));
        c.push(900);
        // 900 → 1000 is 100, → 0 is 1 more, → 50 is 50 more
        assert_eq!(c.push(50), Some(151));
        assert_eq!(c.push(400), Some(501));
        // two wraps in a row
        assert_eq!(c.push(300), Some(501 + 601 + 300));
        assert_eq!(c.resets(), 0);
    }

    #[test]
    fn a_counter_that_goes_back_without_a_range_is_a_reset() {
        let mut c = Counter::new(None);
        c.push(10_000);
        assert_eq!(c.push(10_500), Some(500));
        assert_eq!(c.push(20), None, "the energy across a reset is unknown");
        assert_eq!(c.resets(), 1);
        // counting goes on from the new reading, after the 500 before
        assert_eq!(c.push(120), Some(600));
        // a range of 0 is no range
        let mut z = Counter::new(Some(0));
        z.push(5);
        assert_eq!(z.push(1), None);
        // a reading above the range never underflows
        let mut odd = Counter::new(Some(100));
        odd.push(500);
        assert_eq!(odd.push(10), None);
        assert_eq!(odd.push(u64::MAX), Some(u64::MAX - 10));
        assert_eq!(odd.push(u64::MAX), Some(u64::MAX - 10));
    }

    #[test]
    fn constant_power_integrates_to_power_times_time_on_irregular_samples() {
        let trace = power_only(&[
            (0.0, Some(100.0)),
            (0.13, Some(100.0)),
            (0.9, Some(100.0)),
            (1.0, Some(100.0)),
            (2.7, Some(100.0)),
        ]);
        let e = window_energy(&trace, 0.0, 2.7, "none");
        assert_eq!(e.total_j, Some(270.0));
        assert_eq!(e.mean_power_w, Some(100.0));
        assert_eq!(e.method, Some(EnergyMethod::Integrated));
        assert_eq!(e.window_s, Some(2.7));
        assert_eq!(e.why, None);
    }

    #[test]
    fn a_ramp_integrates_exactly_by_trapezoids() {
        // power = 10 t W, from 0 to 4 s, samples at uneven times: ∫ = 5 t²
        let ts = [0.0, 0.5, 1.7, 2.0, 3.1, 4.0];
        let trace = power_only(&ts.map(|t| (t, Some(10.0 * t))));
        let e = window_energy(&trace, 0.0, 4.0, "none");
        assert_eq!(e.total_j, Some(80.0));
        // clipped to [1, 3]: 5 × (9 − 1) = 40, the ends interpolated
        let e = window_energy(&trace, 1.0, 3.0, "none");
        assert_eq!(e.total_j, Some(40.0));
        assert_eq!(e.window_s, Some(2.0));
        assert_eq!(e.mean_power_w, Some(20.0));
        // a step is approximated, and says so
        let step = power_only(&[(0.0, Some(0.0)), (1.0, Some(100.0)), (2.0, Some(100.0))]);
        let e = window_energy(&step, 0.0, 2.0, "none");
        assert_eq!(e.total_j, Some(150.0));
        assert_eq!(e.method, Some(EnergyMethod::Integrated));
    }

    #[test]
    fn a_counter_gives_the_delta_over_exactly_the_window() {
        // 50 W: 50 J per second, read every 0.4 s
        let ts = [0.0, 0.4, 0.8, 1.2, 1.6, 2.0];
        let trace = counter_only(&ts.map(|t| (t, Some(50.0 * t))));
        let e = window_energy(&trace, 0.5, 1.5, "none");
        assert_eq!(e.total_j, Some(50.0));
        assert_eq!(e.method, Some(EnergyMethod::Counter));
        assert_eq!(e.devices[0].method, Some(EnergyMethod::Counter));
        assert_eq!(e.devices[0].mean_power_w, Some(50.0));
        // ends on samples exactly
        let e = window_energy(&trace, 0.4, 1.6, "none");
        assert_eq!(e.total_j, Some(60.0));
        // an empty window: 0 J, no mean power
        let e = window_energy(&trace, 0.8, 0.8, "none");
        assert_eq!((e.total_j, e.mean_power_w), (Some(0.0), None));
    }

    #[test]
    fn the_counter_is_preferred_and_power_integrated_only_without_it() {
        // the counter says 40 J, the power samples would say otherwise
        let trace: Vec<TracePoint> = [(0.0, 10.0, 0.0), (1.0, 90.0, 40.0)]
            .iter()
            .map(|(t, w, e)| TracePoint {
                t_s: *t,
                devices: Some(vec![dev(
                    "gpu0",
                    PowerSource::NvmlEnergyCounter,
                    Some(*w),
                    Some(*e),
                )]),
            })
            .collect();
        let e = window_energy(&trace, 0.0, 1.0, "none");
        assert_eq!(e.total_j, Some(40.0));
        assert_eq!(e.method, Some(EnergyMethod::Counter));
        // a counter reading missing inside the window: the power samples
        let mut gap = trace.clone();
        gap.insert(
            1,
            TracePoint {
                t_s: 0.5,
                devices: Some(vec![dev(
                    "gpu0",
                    PowerSource::NvmlEnergyCounter,
                    Some(50.0),
                    None,
                )]),
            },
        );
        let e = window_energy(&gap, 0.0, 1.0, "none");
        // (10 + 50) / 2 × 0.5 + (50 + 90) / 2 × 0.5
        assert_eq!(e.total_j, Some(50.0));
        assert_eq!(e.method, Some(EnergyMethod::Integrated));
    }

    #[test]
    fn devices_add_up_and_one_unknown_device_makes_the_total_unknown() {
        let two = |t: f64, cpu: Option<f64>| TracePoint {
            t_s: t,
            devices: Some(vec![
                dev("gpu0", PowerSource::NvmlPower, Some(200.0), None),
                PowerDevice {
                    name: "package-0".into(),
                    kind: DeviceKind::Package,
                    source: PowerSource::Rapl,
                    power_w: None,
                    energy_j: cpu,
                },
            ]),
        };
        let trace = vec![
            two(0.0, Some(0.0)),
            two(1.0, Some(30.0)),
            two(2.0, Some(60.0)),
        ];
        let e = window_energy(&trace, 0.0, 2.0, "none");
        assert_eq!(e.total_j, Some(460.0));
        assert_eq!(
            e.method,
            Some(EnergyMethod::Integrated),
            "one device integrated"
        );
        assert_eq!(e.devices.len(), 2);
        assert_eq!(e.devices[1].joules, Some(60.0));
        let e = e.with_tokens(920);
        assert_eq!(e.j_per_output_token, Some(0.5));
        assert_eq!(e.output_tokens_per_j, Some(2.0));
        // the CPU counter unreadable in the middle: no total, the GPU's joules stay
        let trace = vec![two(0.0, Some(0.0)), two(1.0, None), two(2.0, Some(60.0))];
        let e = window_energy(&trace, 0.0, 2.0, "none").with_tokens(920);
        assert_eq!(e.total_j, None);
        assert_eq!((e.mean_power_w, e.j_per_output_token), (None, None));
        assert_eq!(e.devices[0].joules, Some(400.0));
        let why = e.why.unwrap();
        assert!(
            why.starts_with("package-0: no counter reading in 1 sample"),
            "{why}"
        );
    }

    #[test]
    fn samples_that_do_not_span_the_window_give_no_number_and_say_why() {
        let trace = power_only(&[(1.0, Some(10.0)), (2.0, Some(10.0))]);
        let e = window_energy(&trace, 0.5, 2.0, "none");
        assert_eq!((e.total_j, e.window_s, e.method), (None, None, None));
        let why = e.why.unwrap();
        assert!(why.contains("begin 0.500 s after the window"), "{why}");
        let e = window_energy(&trace, 1.0, 2.25, "none");
        assert!(e.why.unwrap().contains("end 0.250 s before"));
        // a window the wrong way round, or not a number
        assert!(
            window_energy(&trace, 2.0, 1.0, "none")
                .why
                .unwrap()
                .contains("not a window")
        );
        assert!(
            window_energy(&trace, f64::NAN, 1.0, "none")
                .total_j
                .is_none()
        );
        // samples out of order
        let mut shuffled = power_only(&[(1.0, Some(10.0)), (2.0, Some(10.0)), (3.0, Some(1.0))]);
        shuffled.swap(0, 2);
        assert!(
            window_energy(&shuffled, 1.5, 1.8, "none")
                .why
                .unwrap()
                .contains("time order")
        );
        // a sample with no reading at all inside the window
        let mut lost = power_only(&[(0.0, Some(10.0)), (1.0, Some(10.0)), (2.0, Some(10.0))]);
        lost[1].devices = None;
        let e = window_energy(&lost, 0.0, 2.0, "none");
        assert_eq!(e.total_j, None);
        assert!(e.why.unwrap().contains("no reading in 1 sample"));
        // a device that appears midway covers part of the window only
        let mut late = power_only(&[(0.0, Some(10.0)), (1.0, Some(10.0)), (2.0, Some(10.0))]);
        for p in &mut late[1..] {
            if let Some(d) = &mut p.devices {
                d.push(dev("gpu1", PowerSource::NvmlPower, Some(5.0), None));
            }
        }
        let e = window_energy(&late, 0.0, 2.0, "none");
        assert_eq!(e.total_j, None);
        assert!(e.why.unwrap().starts_with("gpu1: read from 1.000 s"));
    }

    #[test]
    fn no_source_gives_every_number_null_and_the_reason() {
        let trace: Vec<TracePoint> = (0..5)
            .map(|k| TracePoint {
                t_s: f64::from(k) * 0.2,
                devices: None,
            })
            .collect();
        let why = "nvml: libnvidia-ml.so.1 not found; rapl: no powercap";
        let e = window_energy(&trace, 0.1, 0.7, why).with_tokens(100);
        let v = serde_json::to_value(&e).unwrap();
        for k in [
            "total_j",
            "mean_power_w",
            "j_per_output_token",
            "output_tokens_per_j",
            "window_s",
            "method",
            "idle_power_w",
            "above_idle_j",
        ] {
            assert!(v[k].is_null(), "{k} = {}", v[k]);
        }
        assert_eq!(v["why"], why);
        assert_eq!(v["devices"], serde_json::json!([]));
        // nothing pushed at all
        assert!(EnergyAcc::default().finish(why).why.unwrap().contains(why));
        assert_eq!(window_energy(&[], 0.0, 1.0, why).why.as_deref(), Some(why));
    }

    #[test]
    fn idle_power_is_subtracted_for_the_same_devices_only() {
        let trace = power_only(&[(0.0, Some(150.0)), (2.0, Some(150.0))]);
        let idle = IdlePower::from_energy(&window_energy(
            &power_only(&[(0.0, Some(60.0)), (0.5, Some(60.0)), (1.0, Some(60.0))]),
            0.0,
            1.0,
            "none",
        ))
        .unwrap();
        assert_eq!(idle.watts("gpu0"), Some(60.0));
        assert_eq!(idle.span_s, 1.0);
        let e = window_energy(&trace, 0.0, 2.0, "none").with_idle(Some(&idle));
        assert_eq!(e.idle_power_w, Some(60.0));
        assert_eq!(e.above_idle_j, Some(180.0));
        // idle measured for another device only: no idle figures
        let other = IdlePower {
            devices: vec![("cpu".into(), 5.0)],
            span_s: 1.0,
        };
        let e = window_energy(&trace, 0.0, 2.0, "none").with_idle(Some(&other));
        assert_eq!((e.idle_power_w, e.above_idle_j), (None, None));
        // nothing known about idle
        assert_eq!(IdlePower::from_energy(&Energy::unknown("x")), None);
    }

    #[test]
    fn repeats_laid_end_to_end_add_joules_and_seconds() {
        let a = window_energy(
            &power_only(&[(0.0, Some(100.0)), (1.0, Some(100.0))]),
            0.0,
            1.0,
            "",
        );
        let trace: Vec<TracePoint> = [(0.0, 0.0), (3.0, 150.0)]
            .iter()
            .map(|(t, e)| TracePoint {
                t_s: *t,
                devices: Some(vec![dev(
                    "gpu0",
                    PowerSource::NvmlEnergyCounter,
                    None,
                    Some(*e),
                )]),
            })
            .collect();
        let b = window_energy(&trace, 0.0, 3.0, "");
        let e = Energy::laid_end_to_end(&[Some(&a), Some(&b)], 500);
        assert_eq!(e.total_j, Some(250.0));
        assert_eq!(e.window_s, Some(4.0));
        assert_eq!(e.mean_power_w, Some(62.5));
        assert_eq!(
            e.method,
            Some(EnergyMethod::Integrated),
            "one part integrated"
        );
        assert_eq!(e.devices[0].joules, Some(250.0));
        assert_eq!(e.output_tokens_per_j, Some(2.0));
        let unknown = Energy::unknown("no source");
        let e = Energy::laid_end_to_end(&[Some(&a), Some(&unknown)], 500);
        assert_eq!(e.total_j, None);
        assert_eq!(e.why.as_deref(), Some("repeat 2: no source"));
        let e = Energy::laid_end_to_end(&[Some(&unknown), Some(&unknown)], 500);
        assert_eq!(e.why.as_deref(), Some("no source"), "one reason, said once");
        assert!(Energy::laid_end_to_end(&[], 1).why.is_some());
        assert!(Energy::laid_end_to_end(&[None], 1).why.is_some());
    }

    #[test]
    fn csv_cells_are_empty_with_the_reason_when_unknown() {
        let cells = energy_cells(Some(&Energy::unknown("rapl: no powercap")));
        assert_eq!(cells[..5], ["", "", "", "", ""].map(String::from));
        assert_eq!(cells[5], "rapl: no powercap");
        assert_eq!(energy_cells(None), <[String; 6]>::default());
        let e = window_energy(
            &power_only(&[(0.0, Some(120.0)), (2.0, Some(120.0))]),
            0.0,
            2.0,
            "",
        )
        .with_tokens(3000);
        assert_eq!(
            energy_cells(Some(&e)),
            ["240.000", "120.00", "0.08000", "12.500", "integrated", ""].map(String::from)
        );
    }

    #[test]
    fn the_wire_form_names_sources_and_kinds_in_snake_case() {
        let d = PowerDevice {
            name: "package-0".into(),
            kind: DeviceKind::Package,
            source: PowerSource::NvmlEnergyCounter,
            power_w: Some(1.5),
            energy_j: None,
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["kind"], "package");
        assert_eq!(v["source"], "nvml_energy_counter");
        assert!(v["energy_j"].is_null());
        assert_eq!(PowerSource::Ioreport.as_str(), "ioreport");
        let back: PowerDevice = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
    }
}
