//! A point's requests assembled: its prompts, media and bodies (through
//! the one request builder, `crate::load::request`) to the running
//! servers, how the load is sent (closed or open loop, count or time, the
//! deadline), and what a warmup sends.

use super::sweep::Sweep;
use crate::load::client::{RequestSpec, auth_headers};
use crate::load::driver::{Bound, LoadPlan, OpenLoop};
use crate::load::request::{self, RequestShape, Requests};
use crate::media::PointMedia;
use crate::media::audio::synthetic_clip;
use crate::media::image::{ImageFormat, data_url, synthetic_image};
use crate::scenario::Scenario;
use crate::scenario::expand::{Point, ServerConfig};
use crate::server::set::ServerSet;
use crate::spec::media::{ImageSize, Modality};
use crate::spec::scenario::Sampling;
use crate::workload::Prompt;

/// How point `point` of `s` sends its requests, and its deadline
/// (`run.point_timeout_s`, or derived from the point when 0).
pub fn load_plan(s: &Scenario, point: &Point) -> LoadPlan {
    load_plan_with(s, point, false)
}

/// Unmeasured rounds of its concurrency a probe sends before its measured
/// requests (see [`load_plan_with`]).
pub const STEADY_EDGE_ROUNDS_BEFORE: u64 = 1;

/// [`load_plan`]; with `steady_edges`, a closed loop bounded by a count
/// also sends at least [`STEADY_EDGE_ROUNDS_BEFORE`] rounds of its
/// concurrency before its measured requests and one after them,
/// unmeasured, so every measured request runs at full concurrency on
/// servers that have run that batch (`mlxrun tune`'s probes: a small
/// probe would otherwise count its ramp-up and drain, and the first batch
/// at a new size).
pub fn load_plan_with(s: &Scenario, point: &Point, steady_edges: bool) -> LoadPlan {
    let mut plan = load_plan_unbounded(s, point);
    if steady_edges
        && plan.open.is_none()
        && let Bound::Count {
            warmup,
            measured,
            cooldown,
        } = plan.bound
    {
        let round = u64::from(point.concurrency);
        plan.bound = Bound::Count {
            warmup: warmup.max(round.saturating_mul(STEADY_EDGE_ROUNDS_BEFORE)),
            measured,
            cooldown: cooldown.max(round),
        };
    }
    let request_timeout = s.workload.request_timeout_s.duration();
    // a point that may be extended gets the deadline of its cap
    let longest = with_cap(plan, precision_cap(s, point));
    plan.deadline = Some(match s.run.point_timeout_s {
        t if !t.is_zero() => t.duration(),
        _ => longest.auto_deadline(request_timeout),
    });
    plan
}

/// The most measured requests of a point a `[run.precision]` target may
/// extend (closed loop, bounded by a count); `None` when it is not extended.
pub fn precision_cap(s: &Scenario, point: &Point) -> Option<u64> {
    let rule = &s.run.precision;
    (rule.is_set() && !point.open_loop() && point.duration_s.is_none())
        .then(|| rule.max_requests.max(point.requests))
}

/// `plan` with `cap` measured requests instead of its own, when given.
pub fn with_cap(plan: LoadPlan, cap: Option<u64>) -> LoadPlan {
    match (plan.bound, cap) {
        (
            Bound::Count {
                warmup, cooldown, ..
            },
            Some(measured),
        ) => LoadPlan {
            bound: Bound::Count {
                warmup,
                measured,
                cooldown,
            },
            ..plan
        },
        _ => plan,
    }
}

pub(super) fn load_plan_unbounded(s: &Scenario, point: &Point) -> LoadPlan {
    let l = &s.load;
    LoadPlan {
        concurrency: point.concurrency,
        open: point.request_rate.map(|r| OpenLoop {
            arrival: l.arrival,
            rate: r.get(),
            burstiness: l.burstiness,
            // each point its own arrivals, reproducible from `workload.seed`
            seed: s.workload.seed.wrapping_add(point.index as u64),
        }),
        bound: match point.duration_s {
            Some(d) => Bound::Time {
                warmup: l.warmup_s.duration(),
                measured: d.duration(),
                cooldown: l.cooldown_s.duration(),
            },
            None => Bound::Count {
                warmup: l.warmup_requests,
                measured: point.requests,
                cooldown: l.cooldown_requests,
            },
        },
        deadline: None,
    }
}

/// How many prompts a point needs: one per request of a count-bounded
/// point; for a time-bounded one, a pool that is cycled (an open-loop
/// point's expected requests, at most 4,096; 1,024 in closed loop).
pub fn prompt_count(plan: &LoadPlan) -> usize {
    match plan.bound {
        Bound::Count { .. } => usize::try_from(plan.bound.count()).unwrap_or(usize::MAX),
        Bound::Time { .. } => match plan.open {
            Some(o) if o.rate.is_finite() => {
                let secs = plan.bound.span().as_secs_f64();
                ((o.rate * secs * 1.2).ceil() as usize)
                    .saturating_add(16)
                    .min(4096)
            }
            _ => 1024,
        },
    }
}

/// What warmup requests carry: one small image for a vision model (so the
/// vision path is compiled before the first point), a 1-second clip for an
/// audio model.
pub(super) fn warmup_media(modality: Option<Modality>) -> PointMedia {
    match modality {
        Some(Modality::Vision) => PointMedia::Images(vec![vec![data_url(
            "image/png",
            &synthetic_image(
                ImageSize {
                    width: 64,
                    height: 64,
                },
                0,
                ImageFormat::Png,
            ),
        )]]),
        Some(Modality::Audio) => PointMedia::Audio(vec![synthetic_clip(1.0, 0)]),
        _ => PointMedia::None,
    }
}

impl BodyParts {
    /// What `point`'s requests carry: its `max_tokens` and sampling, the
    /// workload's streaming, and these prompts and media.
    pub(super) fn for_point(
        point: &Point,
        w: &crate::spec::scenario::WorkloadSection,
        prompts: Vec<Prompt>,
        media: PointMedia,
    ) -> BodyParts {
        BodyParts {
            prompts,
            max_tokens: point.max_tokens,
            sampling: point.sampling,
            stream: w.stream,
            media,
        }
    }
}

/// The parts of a request body that vary.
pub(super) struct BodyParts {
    pub(super) prompts: Vec<Prompt>,
    pub(super) max_tokens: u32,
    pub(super) sampling: Sampling,
    pub(super) stream: bool,
    /// Images or audio clips of the requests.
    pub(super) media: PointMedia,
}

impl Sweep<'_> {
    /// The request spec of `cfg` with one body per prompt, to the set's targets.
    pub(super) fn request_spec(
        &self,
        cfg: &ServerConfig,
        set: &ServerSet,
        tag: String,
        body: BodyParts,
    ) -> Result<RequestSpec, String> {
        let s = &self.ctx.scenario;
        let def = self
            .ctx
            .registry
            .get(&cfg.backend)
            .ok_or_else(|| format!("unknown backend `{}`", cfg.backend))?;
        let model = self.ctx.commands().request_model(cfg)?;
        let key = self.ctx.secrets.key(&cfg.backend);
        let Requests { bodies, form } = request::build(&RequestShape {
            backend: &cfg.backend,
            api: def.api,
            model: model.as_deref(),
            prompts: &body.prompts,
            max_tokens: body.max_tokens,
            sampling: body.sampling,
            stream: body.stream,
            media: &body.media,
            audio_language: &s.workload.audio_language,
            audio_response_format: &s.workload.audio_response_format,
        })?;
        Ok(RequestSpec {
            urls: set
                .targets
                .iter()
                .map(|t| format!("{t}{}", def.api.path()))
                .collect(),
            balance: cfg.balancing(),
            bodies,
            stream: body.stream && form.is_none(),
            timeout: s.workload.request_timeout_s.duration(),
            retries: s.workload.retries,
            backoff: s.workload.retry_backoff_s.duration(),
            headers: auth_headers(key),
            tag,
            tokens: def.tokens,
            secret: key.map(String::from),
            form,
        })
    }
}

#[cfg(test)]
mod edge_tests {
    use super::*;
    use crate::scenario::expand::Point;

    #[test]
    fn steady_edges_add_a_round_of_the_concurrency_on_each_side_of_a_closed_loop() {
        let s = Scenario::default();
        let mut p = Point {
            index: 0,
            server: 0,
            concurrency: 8,
            request_rate: None,
            max_tokens: 64,
            input_tokens: None,
            requests: 24,
            duration_s: None,
            modality: Modality::Text,
            image_count: None,
            image_size: None,
            audio_duration_s: None,
            sampling: Sampling::GREEDY,
            server_mode: Vec::new(),
        };
        let plain = load_plan_with(&s, &p, false);
        assert!(matches!(
            plain.bound,
            Bound::Count {
                warmup: 0,
                measured: 24,
                cooldown: 0
            }
        ));
        let edged = load_plan_with(&s, &p, true);
        assert!(matches!(
            edged.bound,
            Bound::Count {
                warmup: 8,
                measured: 24,
                cooldown: 8
            }
        ));
        // the deadline covers the edges too
        assert!(edged.deadline >= plain.deadline);
        // an open loop is left as it is
        p.request_rate = Some(crate::spec::measure::Rate::new(2.0).unwrap());
        let open = load_plan_with(&s, &p, true);
        assert!(matches!(
            open.bound,
            Bound::Count {
                warmup: 0,
                cooldown: 0,
                ..
            }
        ));
    }
}
