//! Synthetic response surfaces for the search's tests: configurations
//! whose throughput rises linearly with load to a knee and stays flat,
//! whose latency grows past it, with seeded noise whose interval narrows
//! with the requests measured, and optional failures.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use super::observation::{Estimate, Observation};
use super::search::{ConfigAxis, Probe, Search, Space, TuneResult};

/// Output tokens per request.
const TOKENS: f64 = 100.0;

/// One synthetic configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub label: String,
    /// Output tokens/s on the plateau.
    pub peak_tps: f64,
    /// Load where the plateau begins.
    pub knee: f64,
    /// Loads at or above this error.
    pub fails_at: Option<f64>,
    /// The servers never start.
    pub not_starting: bool,
    /// p99 TTFT at no load, ms; doubles at the knee and grows linearly.
    pub ttft0_ms: f64,
}

impl Config {
    pub fn new(label: &str, peak_tps: f64, knee: f64) -> Config {
        Config {
            label: label.into(),
            peak_tps,
            knee,
            fails_at: None,
            not_starting: false,
            ttft0_ms: 100.0,
        }
    }

    pub fn tps(&self, load: f64) -> f64 {
        self.peak_tps * (load / self.knee).min(1.0)
    }

    pub fn ttft_p99(&self, load: f64) -> f64 {
        self.ttft0_ms * (1.0 + load / self.knee)
    }
}

/// The surface: configurations over one load axis, with noise.
#[derive(Debug, Clone)]
pub struct Surface {
    pub configs: Vec<Config>,
    pub loads: Vec<f64>,
    /// Relative standard deviation of a figure measured with 24 requests.
    pub noise: f64,
    pub seed: u64,
}

impl Surface {
    pub fn space(&self, requests_per_point: u64) -> Space {
        Space {
            configs: self
                .configs
                .iter()
                .map(|c| ConfigAxis::new(c.label.clone(), self.loads.clone()))
                .collect(),
            requests_per_point,
        }
    }

    /// What `probe` measures: the same probe, the same observation.
    pub fn measure(&self, probe: &Probe) -> Observation {
        let c = &self.configs[probe.config];
        if c.not_starting {
            return Observation::not_started("exited with status 1", 2.0);
        }
        let load = probe.load;
        let tps = c.tps(load);
        let requests = probe.requests;
        let seconds = requests as f64 * TOKENS / tps.max(1e-9);
        if c.fails_at.is_some_and(|f| load >= f) {
            return Observation::errored("12 of 24 requests failed", requests, seconds);
        }
        let mut rng = StdRng::seed_from_u64(self.seed ^ probe.id.wrapping_mul(0x9E37_79B9));
        let sd = self.noise / (requests as f64 / 24.0).sqrt();
        let mut noisy = |truth: f64| {
            let rel = Normal::new(0.0, sd).map_or(0.0, |n| n.sample(&mut rng));
            let v = truth * (1.0 + rel);
            let half = 1.96 * sd * truth;
            Estimate::new(v, v - half, v + half, 0.95)
        };
        let ttft = c.ttft_p99(load);
        Observation::measured(
            [
                ("throughput_tps", noisy(tps)),
                ("requests_per_s", noisy(tps / TOKENS)),
                ("ttft_p99_ms", noisy(ttft)),
                ("e2e_p50_ms", noisy(ttft * 5.0)),
            ],
            requests,
            seconds,
        )
    }

    /// Drives `search` to its end against this surface; panics past
    /// 10,000 probes (a search that does not end).
    pub fn run(&self, search: &mut Search) -> (TuneResult, Vec<Probe>) {
        let mut probes = Vec::new();
        while let Some(p) = search.next() {
            assert!(probes.len() < 10_000, "the search does not end");
            let obs = self.measure(&p);
            search.observe(&p, obs);
            probes.push(p);
        }
        (search.result(), probes)
    }
}

/// Concurrency 1, 2, 4, … 256.
pub fn doubling_loads() -> Vec<f64> {
    (0..9).map(|i| f64::from(1u32 << i)).collect()
}
