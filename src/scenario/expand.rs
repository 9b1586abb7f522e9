//! The Cartesian product of the matrix axes, in a fixed order: server-shaping
//! axes vary slowest (model, instances, ranks, the backend's own axes, raw
//! server flags, then router and balancing method, so that configurations
//! differing only in the router reuse running instances), client axes
//! (temperature, max_tokens, then concurrency) fastest, so each server
//! configuration starts once and serves all of its points. A model is
//! multiplied only by the axes its backend knows. `matrix.filter` and
//! `matrix.exclude` drop combinations afterwards. Each point carries the
//! notes of its backend's mode rules (how the server works for it).

use itertools::Itertools;
use serde::Serialize;

use super::models::ResolvedModel;
use super::models::user_args;
use crate::backend::flags::{find_flag, flag_for_key, parse_server_args, strip_flag};
use crate::backend::mode::{self, ModeInput, ModeNote};
use crate::backend::registry::Registry;
use crate::spec::backend::{AxisArg, BackendDef};
use crate::spec::media::{ImageSize, Modality};
use crate::spec::scenario::{BalanceMethod, FlagValue, Rate, RouterKind, Sampling, Scenario};
use crate::spec::units::Secs;

/// One server configuration: what the servers are started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerConfig {
    /// Position in [`Plan::servers`].
    pub index: usize,
    /// Index of the model in the run's model list.
    pub model: usize,
    /// The model's label.
    pub model_name: String,
    /// What `{{ model }}` renders to.
    pub model_arg: String,
    pub backend: String,
    pub instances: u32,
    /// Ranks per host under mlx.launch (1 = no launcher unless forced).
    pub ranks: u32,
    /// Ranks per instance in all: ranks per host × hosts (1 without
    /// mlx.launch), resolved from `[launcher]` when the plan is made.
    #[serde(skip)]
    pub ranks_total: u32,
    /// Hosts each instance's ranks span under mlx.launch, rank 0 first
    /// (`launcher.hosts` or `matrix.hosts`); empty = this machine.
    pub hosts: Vec<String>,
    /// Hosts the instances are placed on, instance `i` on `placement[i mod
    /// n]` (`backend.hosts`); empty = this machine.
    pub placement: Vec<String>,
    /// MLX's distributed backend (`launcher.backend` or
    /// `matrix.launcher_backend`); empty when not under mlx.launch.
    pub launcher_backend: String,
    /// Swept backend axes as `(axis, value)`, in name order
    /// (decode and prompt concurrency included when swept).
    pub axes: Vec<(String, String)>,
    /// `--decode-concurrency` that reaches each instance (from the matrix, or
    /// from the user's server args); `None` = the server's own default.
    pub decode_concurrency: Option<u32>,
    pub prompt_concurrency: Option<u32>,
    /// Further swept raw flags as `(--flag, value)`, in key order.
    pub flags: Vec<(String, String)>,
    /// How requests reach the instances (`None` for a single instance).
    pub router: RouterKind,
    /// Balancing method; `None` without a router.
    pub balance: Option<BalanceMethod>,
}

impl ServerConfig {
    /// Whether two configurations run the same instances (they differ at
    /// most in the router in front).
    pub fn same_instances(&self, other: &ServerConfig) -> bool {
        self.model == other.model
            && self.backend == other.backend
            && self.instances == other.instances
            && self.ranks == other.ranks
            && self.hosts == other.hosts
            && self.launcher_backend == other.launcher_backend
            && self.axes == other.axes
            && self.flags == other.flags
    }

    /// The hosts this configuration's processes run on, in order, without
    /// repeats (`local` for this machine).
    pub fn host_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let chosen: Vec<String> = if !self.hosts.is_empty() {
            self.hosts.clone()
        } else if !self.placement.is_empty() {
            (0..self.instances as usize)
                .map(|i| self.placement[i % self.placement.len()].clone())
                .collect()
        } else {
            vec![crate::remote::host::LOCAL.to_string()]
        };
        for h in chosen {
            if !out.contains(&h) {
                out.push(h);
            }
        }
        out
    }

    /// The host instance `i` runs on (its rank 0's host under mlx.launch);
    /// `None` = this machine.
    pub fn host_of(&self, i: u32) -> Option<&str> {
        let name = if let Some(first) = self.hosts.first() {
            first
        } else if !self.placement.is_empty() {
            &self.placement[i as usize % self.placement.len()]
        } else {
            return None;
        };
        (!crate::remote::host::is_local_name(name)).then_some(name.as_str())
    }

    pub fn uses_nginx(&self) -> bool {
        self.router == RouterKind::Nginx
    }

    /// The value of backend axis `name`, when swept.
    pub fn axis(&self, name: &str) -> Option<&str> {
        self.axes
            .iter()
            .find(|(a, _)| a == name)
            .map(|(_, v)| v.as_str())
    }

    /// How requests are balanced over the instances: the configuration's
    /// method (`matrix.balance`, else `router.method`, resolved when the
    /// plan is made); a single instance has no router and needs none, and
    /// round robin over one URL is the same as any method.
    pub fn balancing(&self) -> BalanceMethod {
        self.balance.unwrap_or_default()
    }

    pub fn balance_str(&self) -> &'static str {
        self.balance.map_or("none", BalanceMethod::as_str)
    }
}

/// One measured point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// 0-based position in the run.
    pub index: usize,
    /// Index of its [`ServerConfig`].
    pub server: usize,
    /// Closed loop: requests in flight. Open loop: the cap on requests in
    /// flight, 0 = no cap.
    pub concurrency: u32,
    /// Open loop at this rate (requests/s; infinite = all at once); `None` =
    /// closed loop.
    pub request_rate: Option<Rate>,
    pub max_tokens: u32,
    /// Synthetic prompts of this many tokens; `None` = the workload's prompts.
    pub input_tokens: Option<u32>,
    /// Measured requests of this point; 0 when it is bounded by `duration_s`.
    pub requests: u64,
    /// Seconds of measured load when the point is bounded by time.
    pub duration_s: Option<Secs>,
    /// What its requests carry (its model's modality).
    pub modality: Modality,
    /// Vision: images per request (0 = text-only); `None` otherwise.
    pub image_count: Option<u32>,
    /// Vision with synthetic images: their size; `None` for image files,
    /// no images, and other modalities.
    pub image_size: Option<ImageSize>,
    /// Audio with synthetic clips: seconds per request; `None` for audio
    /// files and other modalities.
    pub audio_duration_s: Option<f64>,
    /// What its requests ask of the sampler: `matrix.temperature` (else
    /// `workload.temperature`), `workload.top_p` and `workload.sampling_seed`.
    pub sampling: Sampling,
    /// How the server works differently for this point, by its backend's
    /// `[mode]` rules; empty when it works as usual.
    pub server_mode: Vec<ModeNote>,
}

impl Point {
    pub fn open_loop(&self) -> bool {
        self.request_rate.is_some()
    }

    /// `concurrency` as written in results: the number, or `none` for an
    /// uncapped open-loop point.
    pub fn concurrency_label(&self) -> String {
        if self.concurrency == 0 {
            "none".into()
        } else {
            self.concurrency.to_string()
        }
    }

    /// `request_rate` as written in results (empty for closed loop).
    pub fn rate_label(&self) -> String {
        self.request_rate.map(|r| r.to_string()).unwrap_or_default()
    }

    /// The media of each request, for plan and progress: `2 images
    /// 512x512`, `1 file image`, `60s audio`, `audio files`; empty for text.
    pub fn media_label(&self) -> String {
        match self.modality {
            Modality::Text => String::new(),
            Modality::Vision => match (self.image_count, self.image_size) {
                (Some(0), _) | (None, _) => "no image".into(),
                (Some(1), Some(sz)) => format!("1 image {sz}"),
                (Some(n), Some(sz)) => format!("{n} images {sz}"),
                (Some(1), None) => "1 file image".into(),
                (Some(n), None) => format!("{n} file images"),
            },
            Modality::Audio => match self.audio_duration_s {
                Some(d) => format!("{d}s audio"),
                None => "audio files".into(),
            },
        }
    }

    /// How the point is bounded, for plan and progress: `64` or `30s`.
    pub fn bound_label(&self) -> String {
        match self.duration_s {
            Some(d) => format!("{d}s"),
            None => self.requests.to_string(),
        }
    }

    /// The most requests the client keeps in flight at once: the
    /// concurrency (closed loop, or an open loop's cap), every request of
    /// an uncapped open loop sent all at once; `None` when only the
    /// arrival rate and the server's speed bound it.
    pub fn max_in_flight(&self) -> Option<u64> {
        match self.request_rate {
            None => Some(u64::from(self.concurrency.max(1))),
            Some(_) if self.concurrency > 0 => Some(u64::from(self.concurrency)),
            Some(r) if r.is_infinite() && self.requests > 0 => Some(self.requests),
            Some(_) => None,
        }
    }
}

/// The expanded matrix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub servers: Vec<ServerConfig>,
    pub points: Vec<Point>,
    /// Size of the product before filter and exclude.
    pub product: usize,
}

/// Axes that have their own CSV columns at the front (as the predecessor's
/// CSV, mlx-knife's benchmark scripts, had them).
pub const CONCURRENCY_AXES: &[&str] = &["decode_concurrency", "prompt_concurrency"];

impl Plan {
    /// Total measured requests over all points.
    pub fn total_requests(&self) -> u64 {
        self.points.iter().map(|p| p.requests).sum()
    }

    /// The points of server configuration `server`, in order.
    pub fn points_of(&self, server: usize) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(move |p| p.server == server)
    }

    /// One warning per server-mode note code, with the points it concerns
    /// (what `plan` prints and a run prints once at its start).
    pub fn mode_warnings(&self) -> Vec<String> {
        mode::warnings(
            self.points
                .iter()
                .map(|p| (p.index + 1, p.server_mode.as_slice())),
        )
    }

    /// Names of the swept raw server flags (the `flags` keys), for CSV columns.
    pub fn flag_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .servers
            .iter()
            .flat_map(|s| s.flags.iter().map(|(f, _)| f.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Names of the swept backend axes other than the two concurrency axes,
    /// for CSV columns.
    pub fn axis_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .servers
            .iter()
            .flat_map(|s| s.axes.iter().map(|(a, _)| a.clone()))
            .filter(|a| !CONCURRENCY_AXES.contains(&a.as_str()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The backend axes of the matrix: the two concurrency fields and
/// `matrix.axes`, in name order.
pub fn backend_axes(s: &Scenario) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(a) = &s.matrix.decode_concurrency {
        v.push((
            "decode_concurrency".into(),
            a.values().iter().map(u32::to_string).collect(),
        ));
    }
    if let Some(a) = &s.matrix.prompt_concurrency {
        v.push((
            "prompt_concurrency".into(),
            a.values().iter().map(u32::to_string).collect(),
        ));
    }
    for (k, a) in &s.matrix.axes {
        v.push((
            k.clone(),
            a.values().iter().map(FlagValue::to_string).collect(),
        ));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The user's value of `flag` in the server args of `model`, when it is a number.
fn user_value(s: &Scenario, model: Option<&ResolvedModel>, flag: &str) -> Option<u32> {
    let mut args = s.backend.args.clone();
    args.extend(parse_server_args(&s.backend.server_args).unwrap_or_default());
    if let Some(m) = model {
        args.extend(m.args.iter().cloned());
    }
    find_flag(&args, flag).and_then(|v| v.parse().ok())
}

/// Context for `matrix.filter` and `matrix.exclude` at one combination.
fn axis_values(cfg: &ServerConfig, client: &ClientAxes) -> Vec<(String, Option<String>)> {
    let mut v = vec![
        ("model".to_string(), Some(cfg.model_name.clone())),
        ("backend".to_string(), Some(cfg.backend.clone())),
        ("instances".to_string(), Some(cfg.instances.to_string())),
        ("ranks".to_string(), Some(cfg.ranks.to_string())),
        ("hosts".to_string(), Some(cfg.host_names().join("+"))),
        (
            "host_count".to_string(),
            Some(cfg.host_names().len().to_string()),
        ),
        (
            "launcher_backend".to_string(),
            (!cfg.launcher_backend.is_empty()).then(|| cfg.launcher_backend.clone()),
        ),
        ("router".to_string(), Some(cfg.router.as_str().to_string())),
        (
            "balance".to_string(),
            cfg.balance.map(|b| b.as_str().to_string()),
        ),
        (
            "decode_concurrency".to_string(),
            cfg.decode_concurrency.map(|x| x.to_string()),
        ),
        (
            "prompt_concurrency".to_string(),
            cfg.prompt_concurrency.map(|x| x.to_string()),
        ),
        (
            "max_tokens".to_string(),
            Some(client.max_tokens.to_string()),
        ),
        (
            "temperature".to_string(),
            Some(client.temperature.to_string()),
        ),
        (
            "concurrency".to_string(),
            (client.concurrency > 0).then(|| client.concurrency.to_string()),
        ),
        (
            "request_rate".to_string(),
            client.request_rate.map(|r| r.to_string()),
        ),
        (
            "input_tokens".to_string(),
            client.input_tokens.map(|n| n.to_string()),
        ),
        (
            "modality".to_string(),
            Some(client.modality.as_str().to_string()),
        ),
        (
            "image_count".to_string(),
            client.image_count.map(|n| n.to_string()),
        ),
        (
            "image_size".to_string(),
            client.image_size.map(|n| n.to_string()),
        ),
        (
            "audio_duration_s".to_string(),
            client.audio_duration_s.map(|n| n.to_string()),
        ),
    ];
    for (axis, value) in &cfg.axes {
        if !CONCURRENCY_AXES.contains(&axis.as_str()) {
            v.push((axis.clone(), Some(value.clone())));
        }
    }
    for (flag, value) in &cfg.flags {
        v.push((
            flag.trim_start_matches("--").replace('-', "_"),
            Some(value.clone()),
        ));
    }
    v
}

fn filter_context(values: &[(String, Option<String>)]) -> minijinja::Value {
    let map: std::collections::BTreeMap<String, minijinja::Value> = values
        .iter()
        .map(|(k, v)| {
            let val = match v {
                None => minijinja::Value::from(()),
                Some(s) => match (s.parse::<i64>(), s.parse::<f64>()) {
                    (Ok(i), _) => minijinja::Value::from(i),
                    // decimals (a temperature, a rate) compare as numbers;
                    // `inf` stays a name
                    (_, Ok(f)) if s.contains('.') && f.is_finite() => minijinja::Value::from(f),
                    _ => minijinja::Value::from(s.as_str()),
                },
            };
            (k.clone(), val)
        })
        .collect();
    minijinja::Value::from_pairs(map)
}

/// The client-side axes of one point.
#[derive(Debug, Clone, Copy)]
struct ClientAxes {
    temperature: f64,
    max_tokens: u32,
    input_tokens: Option<u32>,
    concurrency: u32,
    request_rate: Option<Rate>,
    modality: Modality,
    image_count: Option<u32>,
    image_size: Option<ImageSize>,
    audio_duration_s: Option<f64>,
}

/// Default images per request of a vision model.
pub const DEFAULT_IMAGE_COUNT: u32 = 1;
/// Default size of synthetic images.
pub const DEFAULT_IMAGE_SIZE: ImageSize = ImageSize {
    width: 512,
    height: 512,
};
/// Default seconds of synthetic audio per request.
pub const DEFAULT_AUDIO_S: f64 = 30.0;

/// The media combinations of a `modality` point: `(image_count,
/// image_size, audio_duration_s)`. Only the axes that mean something for
/// the modality multiply: text has none; vision has image_count × image_size
/// (a point with no images, or with image files, is not multiplied by
/// size); audio has audio_duration_s (none with an audio folder).
fn media_combos(
    s: &Scenario,
    modality: Modality,
) -> Vec<(Option<u32>, Option<ImageSize>, Option<f64>)> {
    let m = &s.matrix;
    match modality {
        Modality::Text => vec![(None, None, None)],
        Modality::Vision => {
            let counts = m
                .image_count
                .as_ref()
                .map_or(vec![DEFAULT_IMAGE_COUNT], |a| a.values().to_vec());
            let sizes = m
                .image_size
                .as_ref()
                .map_or(vec![DEFAULT_IMAGE_SIZE], |a| a.values().to_vec());
            let files = !s.workload.image_files.trim().is_empty();
            counts
                .into_iter()
                .flat_map(|n| {
                    if n == 0 || files {
                        vec![(Some(n), None, None)]
                    } else {
                        sizes.iter().map(|sz| (Some(n), Some(*sz), None)).collect()
                    }
                })
                .collect()
        }
        Modality::Audio => {
            if !s.workload.audio_dir.trim().is_empty() {
                return vec![(None, None, None)];
            }
            m.audio_duration_s
                .as_ref()
                .map_or(vec![DEFAULT_AUDIO_S], |a| {
                    a.values().iter().map(|d| d.0).collect()
                })
                .into_iter()
                .map(|d| (None, None, Some(d)))
                .collect()
        }
    }
}

/// The client-side combinations of a `modality` model, in pinned order:
/// temperature (slowest), max_tokens, input_tokens, the media axes,
/// concurrency, request_rate (fastest). Audio points take neither
/// max_tokens nor input_tokens (recorded as 0 and empty).
fn client_combos(s: &Scenario, modality: Modality) -> Vec<ClientAxes> {
    let m = &s.matrix;
    let audio = modality == Modality::Audio;
    let temperatures: Vec<f64> = m
        .temperature
        .as_ref()
        .map_or(vec![s.workload.temperature], |a| a.values().to_vec());
    let inputs: Vec<Option<u32>> = match &m.input_tokens {
        Some(a) if !audio => a.values().iter().map(|n| Some(*n)).collect(),
        _ => vec![None],
    };
    let max_tokens: Vec<u32> = if audio {
        vec![0]
    } else {
        m.max_tokens.values().to_vec()
    };
    let rates: Vec<Option<Rate>> = match &m.request_rate {
        Some(a) => a.values().iter().map(|r| Some(*r)).collect(),
        None => vec![None],
    };
    // open loop without matrix.concurrency: no cap
    let concurrency: Vec<u32> = match (&m.concurrency, &m.request_rate) {
        (None, Some(_)) => vec![0],
        _ => m.closed_concurrency(),
    };
    itertools::iproduct!(
        temperatures,
        max_tokens,
        inputs,
        media_combos(s, modality),
        concurrency,
        rates
    )
    .map(
        |(temperature, max_tokens, input_tokens, media, concurrency, request_rate)| ClientAxes {
            temperature,
            max_tokens,
            input_tokens,
            concurrency,
            request_rate,
            modality,
            image_count: media.0,
            image_size: media.1,
            audio_duration_s: media.2,
        },
    )
    .collect()
}

/// Every combination of `axes` (one empty combination when there are none).
fn combos(axes: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    if axes.is_empty() {
        return vec![Vec::new()];
    }
    axes.iter()
        .map(|(name, values)| {
            values
                .iter()
                .map(|v| (name.clone(), v.clone()))
                .collect::<Vec<_>>()
        })
        .multi_cartesian_product()
        .collect()
}

/// Expand the matrix of `s` over `models`, whose backends `reg` defines.
pub(super) fn expand(
    s: &Scenario,
    models: &[ResolvedModel],
    reg: &Registry,
) -> Result<Plan, String> {
    let m = &s.matrix;
    let env = minijinja::Environment::new();
    let filter = if m.filter.trim().is_empty() {
        None
    } else {
        Some(
            env.compile_expression(&m.filter)
                .map_err(|e| e.to_string())?,
        )
    };
    let all_backend_axes = backend_axes(s);
    let flag_axes: Vec<(String, Vec<String>)> = m
        .server_flags
        .iter()
        .map(|(k, a)| {
            (
                flag_for_key(k),
                a.values().iter().map(FlagValue::to_string).collect(),
            )
        })
        .collect();
    let flag_combos = combos(&flag_axes);
    let routers: Vec<RouterKind> = match &m.router {
        Some(a) => a.values().to_vec(),
        None => vec![s.router.kind],
    };
    let balances: Vec<BalanceMethod> = match &m.balance {
        Some(a) => a.values().to_vec(),
        None => vec![s.router.method],
    };
    // a user's hostfile names the rank hosts itself (validation reads it
    // first and refuses one that cannot be read)
    let hostfile = (!s.launcher.hostfile.trim().is_empty())
        .then(|| super::hostfile::read(&s.launcher.hostfile).ok())
        .flatten();
    let host_sets: Vec<Vec<String>> = match (&m.hosts, &hostfile) {
        (_, Some(f)) => vec![super::hostfile::host_names(f)],
        (Some(a), None) => a.values().iter().map(|h| h.0.clone()).collect(),
        (None, None) => vec![s.launcher.hosts.clone()],
    };
    let launcher_backends: Vec<String> = match &m.launcher_backend {
        Some(a) => a.values().iter().map(|b| b.0.clone()).collect(),
        None => vec![s.launcher.backend.clone()],
    };

    let mut plan = Plan {
        servers: Vec::new(),
        points: Vec::new(),
        product: 0,
    };
    for model in models {
        let clients = client_combos(s, model.modality);
        let def = reg.get(&model.backend);
        let known = def.map(|d| &d.axes);
        let own_axes: Vec<(String, Vec<String>)> = all_backend_axes
            .iter()
            .filter(|(name, _)| known.is_some_and(|k| k.contains_key(name)))
            .cloned()
            .collect();
        let flag_of = |axis: &str| -> Option<String> {
            match known.and_then(|k| k.get(axis)) {
                Some(AxisArg::Flag(f)) => Some(f.clone()),
                _ => None,
            }
        };
        for (instances, ranks, hosts, launcher_backend, axes, flags) in itertools::iproduct!(
            m.instances.values().iter().copied(),
            m.ranks.values().iter().copied(),
            host_sets.iter(),
            launcher_backends.iter(),
            combos(&own_axes),
            flag_combos.iter()
        ) {
            let launched = ranks > 1 || s.launcher.always || !hosts.is_empty();
            // the backend only matters under mlx.launch: one value otherwise
            if !launched && launcher_backend != &launcher_backends[0] {
                continue;
            }
            // With one instance there is nothing to route: one configuration.
            let fronts: Vec<(RouterKind, Option<BalanceMethod>)> = if instances <= 1 {
                vec![(RouterKind::None, None)]
            } else {
                routers
                    .iter()
                    .flat_map(|r| balances.iter().map(move |b| (*r, Some(*b))))
                    .collect()
            };
            let concurrency_value = |name: &str| -> Option<u32> {
                axes.iter()
                    .find(|(a, _)| a == name)
                    .and_then(|(_, v)| v.parse().ok())
                    .or_else(|| flag_of(name).and_then(|f| user_value(s, Some(model), &f)))
            };
            for (router, balance) in fronts {
                let mut cfg = ServerConfig {
                    index: plan.servers.len(),
                    model: model.index,
                    model_name: model.name.clone(),
                    model_arg: model.arg.clone(),
                    backend: model.backend.clone(),
                    instances,
                    ranks,
                    ranks_total: if let Some(f) = &hostfile {
                        u32::try_from(f.hosts.len()).unwrap_or(u32::MAX)
                    } else if launched {
                        ranks.saturating_mul(hosts.len().max(1) as u32)
                    } else {
                        1
                    },
                    hosts: hosts.clone(),
                    placement: s.backend.hosts.clone(),
                    launcher_backend: if launched {
                        launcher_backend.clone()
                    } else {
                        String::new()
                    },
                    axes: axes.clone(),
                    decode_concurrency: concurrency_value("decode_concurrency"),
                    prompt_concurrency: concurrency_value("prompt_concurrency"),
                    flags: flags.clone(),
                    router,
                    balance,
                };
                let server_args = def.map_or_else(Vec::new, |d| mode_args(s, model, d, &cfg));
                let mut kept = 0;
                for client in &clients {
                    plan.product += 1;
                    let values = axis_values(&cfg, client);
                    if excluded(s, &values) {
                        continue;
                    }
                    if let Some(f) = &filter {
                        let keep = f
                            .eval(filter_context(&values))
                            .map_err(|e| format!("cannot evaluate: {e}"))?;
                        if !keep.is_true() {
                            continue;
                        }
                    }
                    let duration_s = s.load.timed().then_some(s.load.duration_s);
                    let requests = if duration_s.is_some() {
                        0
                    } else {
                        // validation bounds both factors; saturating all the same
                        s.workload.requests.unwrap_or(
                            u64::from(client.concurrency.max(1))
                                .saturating_mul(s.workload.requests_per_concurrency),
                        )
                    };
                    plan.points.push(Point {
                        index: plan.points.len(),
                        server: cfg.index,
                        concurrency: client.concurrency,
                        request_rate: client.request_rate,
                        max_tokens: client.max_tokens,
                        input_tokens: client.input_tokens,
                        requests,
                        duration_s,
                        modality: client.modality,
                        image_count: client.image_count,
                        image_size: client.image_size,
                        audio_duration_s: client.audio_duration_s,
                        sampling: s.workload.sampling(client.temperature),
                        server_mode: Vec::new(),
                    });
                    if let (Some(def), Some(point)) = (def, plan.points.last_mut()) {
                        point.server_mode = mode::notes(
                            def,
                            &ModeInput {
                                sampling: point.sampling,
                                server_args: &server_args,
                                instances: cfg.instances,
                                in_flight: point.max_in_flight(),
                            },
                        );
                    }
                    kept += 1;
                }
                if kept > 0 {
                    cfg.index = plan.servers.len();
                    plan.servers.push(cfg);
                }
            }
        }
    }
    Ok(plan)
}

/// An axis value as argv: `flag value`, the bare flag for `true`,
/// nothing for `false` and `default` (as the command line is built).
fn flag_args(flag: &str, value: &str) -> Vec<String> {
    match value {
        "true" => vec![flag.to_string()],
        "false" | "default" => Vec::new(),
        v => vec![flag.to_string(), v.to_string()],
    }
}

/// The flags of an instance of `cfg` that the mode rules read, in command
/// line order: the launch templates, the user's arguments without the
/// flags the matrix sets, the swept axes given as flags, the raw flags.
/// (Axes given as argv templates are not rendered here.)
fn mode_args(
    s: &Scenario,
    model: &ResolvedModel,
    def: &BackendDef,
    cfg: &ServerConfig,
) -> Vec<String> {
    let mut args = def.launch.clone();
    let mut user = user_args(s, Some(model));
    let owned = backend_axes(s)
        .into_iter()
        .filter_map(|(name, _)| match def.axes.get(&name) {
            Some(AxisArg::Flag(flag)) => Some(flag.clone()),
            _ => None,
        })
        .chain(s.matrix.server_flags.keys().map(|k| flag_for_key(k)));
    for flag in owned {
        user = strip_flag(&user, &flag).0;
    }
    args.extend(user);
    for (name, value) in &cfg.axes {
        if let Some(AxisArg::Flag(flag)) = def.axes.get(name) {
            args.extend(flag_args(flag, value));
        }
    }
    for (flag, value) in &cfg.flags {
        args.extend(flag_args(flag, value));
    }
    args
}

fn excluded(s: &Scenario, values: &[(String, Option<String>)]) -> bool {
    s.matrix.exclude.iter().any(|rule| {
        !rule.is_empty()
            && rule.iter().all(|(k, want)| {
                values
                    .iter()
                    .find(|(name, _)| name == k)
                    .and_then(|(_, have)| have.as_ref())
                    .is_some_and(|have| *have == want.to_string())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::scenario::Axis;

    fn model(index: usize, name: &str, backend: &str) -> ResolvedModel {
        ResolvedModel::for_test(index, name, backend)
    }

    fn ex(s: &Scenario) -> Result<Plan, String> {
        expand(s, &[model(0, "m", "mlx_lm")], &Registry::builtin())
    }

    fn sweep() -> Scenario {
        let mut s = Scenario::default();
        s.model.path = "m".into();
        s.matrix.instances = Axis(vec![1, 2]);
        s.matrix.decode_concurrency = Some(Axis(vec![8, 16]));
        s.matrix.prompt_concurrency = Some(Axis(vec![2]));
        s.matrix.concurrency = Some(Axis(vec![1, 4]));
        s.matrix.max_tokens = Axis(vec![32]);
        s
    }

    fn tuples(p: &Plan) -> Vec<(u32, Option<u32>, u32)> {
        p.points
            .iter()
            .map(|pt| {
                let c = &p.servers[pt.server];
                (c.instances, c.decode_concurrency, pt.concurrency)
            })
            .collect()
    }

    #[test]
    fn order_is_server_axes_slowest_client_fastest() {
        let p = ex(&sweep()).unwrap();
        assert_eq!(
            tuples(&p),
            vec![
                (1, Some(8), 1),
                (1, Some(8), 4),
                (1, Some(16), 1),
                (1, Some(16), 4),
                (2, Some(8), 1),
                (2, Some(8), 4),
                (2, Some(16), 1),
                (2, Some(16), 4),
            ]
        );
        assert_eq!(p.servers.len(), 4);
        assert_eq!(p.product, 8);
        // each server configuration's points are contiguous
        let servers: Vec<usize> = p.points.iter().map(|x| x.server).collect();
        assert_eq!(servers, vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(
            p.points.iter().map(|x| x.index).collect::<Vec<_>>(),
            (0..8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn max_tokens_varies_slower_than_concurrency() {
        let mut s = Scenario::default();
        s.matrix.max_tokens = Axis(vec![64, 128]);
        s.matrix.concurrency = Some(Axis(vec![1, 2]));
        let p = ex(&s).unwrap();
        let got: Vec<(u32, u32)> = p
            .points
            .iter()
            .map(|x| (x.max_tokens, x.concurrency))
            .collect();
        assert_eq!(got, vec![(64, 1), (64, 2), (128, 1), (128, 2)]);
        assert_eq!(p.servers.len(), 1);
    }

    #[test]
    fn requests_follow_count_or_multiplier() {
        let mut s = sweep();
        s.workload.requests_per_concurrency = 3;
        let p = ex(&s).unwrap();
        assert_eq!(p.points[1].requests, 12);
        assert_eq!(p.total_requests(), 4 * (3 + 12));
        s.workload.requests = Some(5);
        assert_eq!(ex(&s).unwrap().total_requests(), 40);
    }

    #[test]
    fn filter_and_exclude_drop_points_and_empty_servers() {
        let mut s = sweep();
        s.matrix.filter = "decode_concurrency >= 16".into();
        let p = ex(&s).unwrap();
        assert_eq!(p.points.len(), 4);
        assert_eq!(p.servers.len(), 2);
        assert_eq!(p.product, 8);
        assert!(
            p.points
                .iter()
                .all(|x| p.servers[x.server].decode_concurrency == Some(16))
        );

        let mut s = sweep();
        s.matrix.exclude = vec![
            [
                ("instances".to_string(), FlagValue::Int(2)),
                ("concurrency".to_string(), FlagValue::Int(1)),
            ]
            .into(),
        ];
        let p = ex(&s).unwrap();
        assert_eq!(p.points.len(), 6);
        assert!(!tuples(&p).iter().any(|t| t.0 == 2 && t.2 == 1));
    }

    #[test]
    fn server_flag_axes_multiply_server_configs() {
        let mut s = Scenario::default();
        s.matrix.server_flags.insert(
            "prefill_step_size".into(),
            Axis(vec![FlagValue::Int(512), FlagValue::Int(2048)]),
        );
        s.matrix.concurrency = Some(Axis(vec![1, 2]));
        let p = ex(&s).unwrap();
        assert_eq!(p.servers.len(), 2);
        assert_eq!(
            p.servers[1].flags,
            vec![("--prefill-step-size".to_string(), "2048".to_string())]
        );
        assert_eq!(p.flag_names(), vec!["--prefill-step-size".to_string()]);
    }

    #[test]
    fn user_flag_value_is_recorded_when_not_swept() {
        let mut s = Scenario::default();
        s.backend.server_args = "--decode-concurrency=12,--temp=0".into();
        let p = ex(&s).unwrap();
        assert_eq!(p.servers[0].decode_concurrency, Some(12));
        assert_eq!(p.servers[0].prompt_concurrency, None);
    }

    #[test]
    fn each_model_gets_only_the_axes_its_backend_knows() {
        let mut s = Scenario::default();
        s.matrix.decode_concurrency = Some(Axis(vec![4, 8]));
        s.matrix.axes.insert(
            "parallel".into(),
            Axis(vec![
                FlagValue::Int(1),
                FlagValue::Int(2),
                FlagValue::Int(4),
            ]),
        );
        let models = [model(0, "a", "mlx_lm"), model(1, "b", "llama_server")];
        let p = expand(&s, &models, &Registry::builtin()).unwrap();
        let a: Vec<_> = p.servers.iter().filter(|c| c.model == 0).collect();
        let b: Vec<_> = p.servers.iter().filter(|c| c.model == 1).collect();
        assert_eq!(a.len(), 2);
        assert_eq!(b.len(), 3);
        assert!(a.iter().all(|c| c.axis("parallel").is_none()));
        assert_eq!(b[2].axis("parallel"), Some("4"));
        assert_eq!(b[0].decode_concurrency, None);
        assert_eq!(p.axis_names(), vec!["parallel".to_string()]);
        assert_eq!(b[0].backend, "llama_server");
    }

    #[test]
    fn router_axes_multiply_only_several_instances() {
        let mut s = Scenario::default();
        s.matrix.instances = Axis(vec![1, 2]);
        s.matrix.router = Some(Axis(vec![RouterKind::Nginx, RouterKind::Client]));
        s.matrix.balance = Some(Axis(vec![
            BalanceMethod::RoundRobin,
            BalanceMethod::LeastConn,
        ]));
        let p = ex(&s).unwrap();
        let fronts: Vec<(u32, &str, &str)> = p
            .servers
            .iter()
            .map(|c| (c.instances, c.router.as_str(), c.balance_str()))
            .collect();
        assert_eq!(
            fronts,
            vec![
                (1, "none", "none"),
                (2, "nginx", "round_robin"),
                (2, "nginx", "least_conn"),
                (2, "client", "round_robin"),
                (2, "client", "least_conn"),
            ]
        );
        assert!(p.servers[1].same_instances(&p.servers[4]));
        assert!(!p.servers[0].same_instances(&p.servers[1]));
        // the filter sees the router
        s.matrix.filter = "router != 'client'".into();
        assert_eq!(ex(&s).unwrap().servers.len(), 3);
    }

    #[test]
    fn ranks_multiply_server_configurations() {
        let mut s = Scenario::default();
        s.matrix.ranks = Axis(vec![1, 2]);
        let p = ex(&s).unwrap();
        assert_eq!(
            p.servers.iter().map(|c| c.ranks).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[test]
    fn host_sets_and_launcher_backends_are_axes_of_the_launched_configurations() {
        use crate::spec::scenario::{HostSet, LauncherBackend};
        let mut s = Scenario::default();
        s.matrix.ranks = Axis(vec![1, 2]);
        s.matrix.hosts = Some(Axis(vec![
            HostSet(vec![]),
            HostSet(vec!["a".into()]),
            HostSet(vec!["a".into(), "b".into()]),
        ]));
        s.matrix.launcher_backend = Some(Axis(vec![
            LauncherBackend("ring".into()),
            LauncherBackend("jaccl".into()),
        ]));
        s.matrix.filter = "host_count == 2 or launcher_backend != 'jaccl'".into();
        let p = ex(&s).unwrap();
        let got: Vec<(u32, String, u32, String)> = p
            .servers
            .iter()
            .map(|c| {
                (
                    c.ranks,
                    c.host_names().join("+"),
                    c.ranks_total,
                    c.launcher_backend.clone(),
                )
            })
            .collect();
        let want: Vec<(u32, String, u32, String)> = [
            // one rank on this machine: no launcher, one backend value
            (1, "local", 1, ""),
            // a host given: under mlx.launch even with one rank
            (1, "a", 1, "ring"),
            (1, "a+b", 2, "ring"),
            (1, "a+b", 2, "jaccl"),
            (2, "local", 2, "ring"),
            (2, "a", 2, "ring"),
            (2, "a+b", 4, "ring"),
            (2, "a+b", 4, "jaccl"),
        ]
        .into_iter()
        .map(|(r, h, t, b)| (r, h.to_string(), t, b.to_string()))
        .collect();
        assert_eq!(got, want);
        // instances placed on hosts: instance i on placement[i mod n]
        let mut s = Scenario::default();
        s.matrix.instances = Axis(vec![3]);
        s.backend.hosts = vec!["local".into(), "b".into()];
        let p = ex(&s).unwrap();
        let c = &p.servers[0];
        assert_eq!(c.host_names(), ["local", "b"]);
        assert_eq!(
            (c.host_of(0), c.host_of(1), c.host_of(2)),
            (None, Some("b"), None)
        );
        assert_eq!(c.launcher_backend, "");
    }

    fn modal(index: usize, name: &str, backend: &str, m: Modality) -> ResolvedModel {
        let mut r = model(index, name, backend);
        r.modality = m;
        r
    }

    #[test]
    fn media_axes_multiply_only_the_models_they_mean_something_for() {
        let mut s = Scenario::default();
        s.matrix.max_tokens = Axis(vec![16, 32]);
        s.matrix.concurrency = Some(Axis(vec![1, 2]));
        s.matrix.image_count = Some(Axis(vec![0, 2]));
        s.matrix.image_size = Some(Axis(vec![
            ImageSize::parse("64x64").unwrap(),
            ImageSize::parse("128x96").unwrap(),
        ]));
        s.matrix.audio_duration_s = Some(Axis(vec![
            crate::spec::media::Seconds(5.0),
            crate::spec::media::Seconds(660.0),
        ]));
        let models = [
            modal(0, "t", "mlx_lm", Modality::Text),
            modal(1, "v", "mlx_vlm", Modality::Vision),
            modal(2, "a", "mlx_vlm_stt", Modality::Audio),
        ];
        let p = expand(&s, &models, &Registry::builtin()).unwrap();
        let of = |m: Modality| {
            p.points
                .iter()
                .filter(|x| x.modality == m)
                .collect::<Vec<_>>()
        };
        // text: max_tokens x concurrency, no media
        let t = of(Modality::Text);
        assert_eq!(t.len(), 4);
        assert!(
            t.iter()
                .all(|x| x.image_count.is_none() && x.audio_duration_s.is_none())
        );
        // vision: max_tokens x (0 images once + 2 images x 2 sizes) x concurrency
        let v = of(Modality::Vision);
        assert_eq!(v.len(), 2 * 3 * 2);
        assert_eq!(
            v.iter().filter(|x| x.image_count == Some(0)).count(),
            4,
            "a text-only request to the vision model is not multiplied by size"
        );
        assert!(
            v.iter()
                .filter(|x| x.image_count == Some(0))
                .all(|x| x.image_size.is_none())
        );
        assert_eq!(
            v.iter()
                .filter(|x| x.image_size.map(|s| s.to_string()) == Some("128x96".into()))
                .count(),
            4
        );
        // audio: durations x concurrency; no max_tokens, no images
        let a = of(Modality::Audio);
        assert_eq!(a.len(), 2 * 2);
        assert!(
            a.iter()
                .all(|x| x.max_tokens == 0 && x.image_count.is_none())
        );
        assert_eq!(
            a.iter()
                .map(|x| x.audio_duration_s.unwrap())
                .collect::<Vec<_>>(),
            vec![5.0, 5.0, 660.0, 660.0]
        );
        assert_eq!(p.points.len(), 4 + 12 + 4);
        assert_eq!(p.servers.len(), 3);
        assert_eq!(a[2].media_label(), "660s audio");
        assert_eq!(v[5].media_label(), "2 images 128x96");
        // the filter sees the media axes
        s.matrix.filter = "modality != 'vision' or image_count == 0".into();
        let p = expand(&s, &models, &Registry::builtin()).unwrap();
        assert_eq!(p.points.len(), 4 + 4 + 4);
    }

    #[test]
    fn media_defaults_and_local_files() {
        let mut s = Scenario::default();
        let models = [
            modal(0, "v", "mlx_vlm", Modality::Vision),
            modal(1, "a", "mlx_vlm_stt", Modality::Audio),
        ];
        let p = expand(&s, &models, &Registry::builtin()).unwrap();
        assert_eq!(p.points[0].image_count, Some(DEFAULT_IMAGE_COUNT));
        assert_eq!(p.points[0].image_size, Some(DEFAULT_IMAGE_SIZE));
        assert_eq!(p.points[1].audio_duration_s, Some(DEFAULT_AUDIO_S));
        s.workload.image_files = "/photos".into();
        s.workload.audio_dir = "/clips".into();
        s.matrix.image_count = Some(Axis(vec![1, 3]));
        let p = expand(&s, &models, &Registry::builtin()).unwrap();
        assert_eq!(p.points.len(), 3);
        assert!(
            p.points
                .iter()
                .all(|x| x.image_size.is_none() && x.audio_duration_s.is_none())
        );
        assert_eq!(p.points[1].media_label(), "3 file images");
        assert_eq!(p.points[2].media_label(), "audio files");
    }

    #[test]
    fn text_only_scenarios_expand_as_before() {
        let p = ex(&sweep()).unwrap();
        assert!(p.points.iter().all(|x| x.modality == Modality::Text
            && x.image_count.is_none()
            && x.image_size.is_none()
            && x.audio_duration_s.is_none()
            && x.media_label().is_empty()));
    }

    #[test]
    fn temperature_axis_multiplies_points_within_a_server_configuration() {
        let mut s = Scenario::default();
        s.matrix.temperature = Some(Axis(vec![0.0, 0.3]));
        s.matrix.max_tokens = Axis(vec![16, 32]);
        s.matrix.concurrency = Some(Axis(vec![1, 4]));
        s.workload.top_p = Some(0.9);
        s.workload.sampling_seed = Some(11);
        let p = ex(&s).unwrap();
        assert_eq!(p.servers.len(), 1, "temperature is a client axis");
        let got: Vec<(f64, u32, u32)> = p
            .points
            .iter()
            .map(|x| (x.sampling.temperature, x.max_tokens, x.concurrency))
            .collect();
        assert_eq!(
            got,
            vec![
                (0.0, 16, 1),
                (0.0, 16, 4),
                (0.0, 32, 1),
                (0.0, 32, 4),
                (0.3, 16, 1),
                (0.3, 16, 4),
                (0.3, 32, 1),
                (0.3, 32, 4),
            ]
        );
        assert!(
            p.points
                .iter()
                .all(|x| x.sampling.top_p == Some(0.9) && x.sampling.seed == Some(11))
        );
        // the filter and exclude rules see it, as a number
        s.matrix.filter = "temperature > 0.1".into();
        assert_eq!(ex(&s).unwrap().points.len(), 4);
        s.matrix.filter.clear();
        s.matrix.exclude =
            vec![[("temperature".to_string(), FlagValue::Text("0.3".into()))].into()];
        let p = ex(&s).unwrap();
        assert!(p.points.iter().all(|x| x.sampling.temperature == 0.0));
        // unset: the workload's temperature, one point per other combination
        let mut s = Scenario::default();
        s.workload.temperature = 0.7;
        let p = ex(&s).unwrap();
        assert_eq!(p.points.len(), 1);
        assert_eq!(
            p.points[0].sampling,
            Sampling {
                temperature: 0.7,
                top_p: None,
                seed: None
            }
        );
    }

    fn codes(p: &Point) -> Vec<&str> {
        p.server_mode.iter().map(|n| n.code.as_str()).collect()
    }

    #[test]
    fn points_carry_their_server_mode() {
        let mut s = Scenario::default();
        s.matrix.temperature = Some(Axis(vec![0.0, 0.3]));
        s.matrix.concurrency = Some(Axis(vec![8, 64]));
        let p = ex(&s).unwrap();
        let got: Vec<Vec<&str>> = p.points.iter().map(codes).collect();
        assert_eq!(
            got,
            vec![
                vec![],
                vec!["server_queue"],
                vec!["per_request_sampling"],
                vec!["per_request_sampling", "server_queue"],
            ]
        );
        // a swept --decode-concurrency replaces the user's and the default
        s.backend.server_args = "--decode-concurrency=4".into();
        s.matrix.decode_concurrency = Some(Axis(vec![64]));
        s.matrix.temperature = Some(Axis(vec![0.0]));
        let p = ex(&s).unwrap();
        assert!(
            p.points.iter().all(|x| x.server_mode.is_empty()),
            "{:?}",
            p.points
        );
        s.matrix.decode_concurrency = None;
        let p = ex(&s).unwrap();
        assert_eq!(
            codes(&p.points[0]),
            vec!["server_queue"],
            "8 > the user's 4"
        );
        // a draft model in the user's args, and a request seed
        let mut s = Scenario::default();
        s.workload.temperature = 0.0;
        s.backend.args = vec!["--draft-model".into(), "/m/small".into()];
        s.workload.sampling_seed = Some(3);
        let p = ex(&s).unwrap();
        assert_eq!(
            codes(&p.points[0]),
            vec!["unbatched_seed", "unbatched_draft_model"]
        );
        // a raw flag axis that is "false" passes nothing
        let mut s = Scenario::default();
        s.workload.temperature = 0.0;
        s.matrix.server_flags.insert(
            "draft_model".into(),
            Axis(vec![
                FlagValue::Bool(false),
                FlagValue::Text("/m/small".into()),
            ]),
        );
        let p = ex(&s).unwrap();
        let got: Vec<Vec<&str>> = p.points.iter().map(codes).collect();
        assert_eq!(got, vec![vec![], vec!["unbatched_draft_model"]]);
    }

    #[test]
    fn in_flight_follows_the_load_shape() {
        let mut s = Scenario::default();
        s.matrix.request_rate = Some(Axis(vec![Rate::new(2.0).unwrap(), Rate::INF]));
        s.workload.requests = Some(40);
        let p = ex(&s).unwrap();
        assert_eq!(
            p.points
                .iter()
                .map(Point::max_in_flight)
                .collect::<Vec<_>>(),
            vec![None, Some(40)]
        );
        assert_eq!(
            codes(&p.points[1]),
            vec!["per_request_sampling", "server_queue"]
        );
        s.matrix.concurrency = Some(Axis(vec![4]));
        let p = ex(&s).unwrap();
        assert!(p.points.iter().all(|x| x.max_in_flight() == Some(4)));
    }

    #[test]
    fn full_sweep_sizes() {
        let mut s = Scenario::default();
        s.matrix.instances = Axis(vec![1, 2, 4]);
        s.matrix.decode_concurrency = Some(Axis(vec![8, 16, 32, 64]));
        s.matrix.prompt_concurrency = Some(Axis(vec![2, 4, 8, 16]));
        s.matrix.concurrency = Some(Axis(vec![1, 2, 4, 8, 16, 32, 64, 128, 256]));
        let p = ex(&s).unwrap();
        assert_eq!((p.points.len(), p.servers.len()), (432, 48));
    }
}
