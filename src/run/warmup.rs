//! The shape warmup: before a point whose request shape (prompt length,
//! `max_tokens`, images and their size, audio length, sampling, and the
//! batch it makes: its concurrency) is new to the running servers, send rounds of the point's own kind of request —
//! through the one request builder, at the point's concurrency — until
//! two rounds agree (the rule of [`crate::metrics::steady`]). Synthetic
//! prompts of the warmup are drawn from their own seed: the same lengths,
//! other text, so the measured requests find nothing of them in a prompt
//! cache. A prompt file or a fixed prompt is replayed as it is (the
//! measured requests repeat those prompts anyway).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::media::point_media;
use super::requests::BodyParts;
use super::sweep::Sweep;
use crate::load::driver::{Bound, LoadPlan, run_load};
use crate::metrics::steady::{WarmupRecord, is_steady, round_median, rule_words};
use crate::scenario::expand::{Point, ServerConfig};
use crate::scenario::prompts::workload_spec;
use crate::workload::{PromptSource, build_prompts};

/// Mixed into the workload seed for the warmup's synthetic prompts.
const WARMUP_SEED_STREAM: u64 = 0x5741_524d_5550; // "WARMUP"

/// The most requests in flight of a search's shape warmup (its probes warm
/// their own batch size with an unmeasured round).
pub const PROBE_WARMUP_CONCURRENCY: u32 = 8;

/// Requests per round: the point's concurrency, at least 8 (so the median
/// of a single-stream point's round is not one or two requests' luck).
pub fn round_size(concurrency: u32) -> u64 {
    u64::from(concurrency).max(8)
}

/// What makes a request shape, as words: two points with the same words
/// send the same kind of request in the same batch. The concurrency is
/// part of it: a server compiles and caches its kernels per batch size,
/// and measured, the first point at a new concurrency drifted while the
/// server did so.
pub fn shape_of(point: &Point) -> String {
    let mut s = format!(
        "modality={} concurrency={}",
        point.modality.as_str(),
        point.concurrency_label()
    );
    match point.input_tokens {
        Some(n) => s.push_str(&format!(" input_tokens={n}")),
        None => s.push_str(" prompts=workload"),
    }
    if point.modality.as_str() != "audio" {
        s.push_str(&format!(" max_tokens={}", point.max_tokens));
    }
    if let Some(n) = point.image_count {
        s.push_str(&format!(" image_count={n}"));
    }
    if let Some(sz) = point.image_size {
        s.push_str(&format!(" image_size={sz}"));
    }
    if let Some(d) = point.audio_duration_s {
        s.push_str(&format!(" audio_duration_s={d}"));
    }
    let sampling = &point.sampling;
    s.push_str(&format!(" temperature={}", sampling.temperature));
    if let Some(p) = sampling.top_p {
        s.push_str(&format!(" top_p={p}"));
    }
    if sampling.seed.is_some() {
        s.push_str(" seeded");
    }
    s
}

/// [`shape_of`] without the concurrency, for `mlxrun tune`'s probes.
pub fn shape_across_concurrency(point: &Point) -> String {
    let mut p = point.clone();
    p.concurrency = 0;
    shape_of(&p).replace("concurrency=none", "concurrency=any")
}

impl Sweep<'_> {
    /// Warm the running servers up for `point` unless its shape is warm
    /// already; what was done goes into the point's row.
    pub(super) async fn warm_shape(&mut self, cfg: &ServerConfig, point: &Point) -> WarmupRecord {
        let s = &self.ctx.scenario;
        let rule = &s.run.warmup;
        // a search's probe sends its own unmeasured rounds at its
        // concurrency first (steady edges): the servers are warmed once
        // per request shape, whatever the batch
        let shape = if self.steady_edges {
            shape_across_concurrency(point)
        } else {
            shape_of(point)
        };
        if !rule.enabled {
            return WarmupRecord::skipped("off (run.warmup.enabled = false)", &shape);
        }
        if self.warm_shapes.contains(&shape) {
            let why = if self.steady_edges {
                "shape already warm on these servers; the probe's own unmeasured rounds warm its concurrency"
            } else {
                "shape already warm on these servers"
            };
            return WarmupRecord::skipped(why, &shape);
        }
        let mut rec = WarmupRecord {
            reason: "new shape".into(),
            shape: shape.clone(),
            rule: rule_words(
                rule.tolerance_pct,
                rule.min_rounds,
                rule.max_rounds,
                rule.max_s.get(),
            ),
            ..Default::default()
        };
        let Some(model) = self.ctx.models.get(cfg.model) else {
            rec.stopped_by = "failed".into();
            return rec;
        };
        // a probe's own unmeasured round warms its batch: the shape is
        // warmed at a small one
        let concurrency = if self.steady_edges {
            point.concurrency.clamp(1, PROBE_WARMUP_CONCURRENCY)
        } else {
            point.concurrency.max(1)
        };
        let per_round = round_size(concurrency);
        let mut spec = workload_spec(s, model, point);
        if matches!(spec.source, PromptSource::Synthetic { .. }) {
            spec.seed ^= WARMUP_SEED_STREAM;
        }
        let prompts = match build_prompts(&spec, per_round as usize) {
            Ok(p) => p,
            Err(e) => {
                rec.stopped_by = format!("failed: prompts: {e}");
                return rec;
            }
        };
        let media = match point_media(point, &s.workload, prompts.len()) {
            Ok(m) => m,
            Err(e) => {
                rec.stopped_by = format!("failed: media: {e}");
                return rec;
            }
        };
        let Some(set) = self.set.as_ref() else {
            rec.stopped_by = "failed: servers not running".into();
            return rec;
        };
        let request = match self.request_spec(
            cfg,
            set,
            format!("warmup-p{}", point.index + 1),
            BodyParts::for_point(point, &s.workload, prompts, media),
        ) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                rec.stopped_by = format!("failed: {e}");
                return rec;
            }
        };
        self.monitor.event(
            "warmup_start",
            serde_json::json!({"point": point.index + 1, "shape": shape}),
        );
        let started = Instant::now();
        let budget = rule.max_s.duration();
        let timeout = s.workload.request_timeout_s.duration();
        self.progress.phase(&format!(
            "warmup for point {}: rounds of {per_round} request(s) until steady",
            point.index + 1
        ));
        let bound = Bound::requests(per_round);
        let plan = LoadPlan {
            concurrency,
            open: None,
            bound,
            deadline: None,
        };
        loop {
            let left = budget.saturating_sub(started.elapsed());
            let round = run_load(
                &self.ctx.client,
                request.clone(),
                LoadPlan {
                    // a round never runs past the warmup's own budget (and
                    // a hung server costs at most one request timeout more)
                    deadline: Some(
                        left.max(Duration::from_secs(1))
                            .min(plan.auto_deadline(timeout)),
                    ),
                    ..plan
                },
                &self.ctx.cancel,
                |_| {},
            )
            .await;
            rec.rounds += 1;
            rec.requests += round.records.len() as u64;
            rec.failed += round.records.iter().filter(|r| !r.ok()).count() as u64;
            if let Some(m) = round_median(&round.records) {
                rec.round_medians_ms.push(m);
            }
            rec.seconds = started.elapsed().as_secs_f64();
            if round.interrupted || self.ctx.cancel.is_cancelled() {
                rec.stopped_by = "interrupted".into();
                break;
            }
            if !round.records.iter().any(|r| r.ok()) {
                // a server that answers nothing is not warmed by waiting:
                // the point finds out (and records why) on its own
                rec.stopped_by = "failed: no request of the round succeeded".into();
                break;
            }
            if is_steady(&rec.round_medians_ms, rule.tolerance_pct, rule.min_rounds) {
                rec.steady = true;
                rec.stopped_by = "steady".into();
                break;
            }
            if rec.rounds >= rule.max_rounds {
                rec.stopped_by = "max_rounds".into();
                break;
            }
            if started.elapsed() >= budget {
                rec.stopped_by = "max_s".into();
                break;
            }
        }

        if rec.steady {
            self.warm_shapes.insert(shape);
        } else {
            self.progress.eprintln(&format!(
                "warning: point {}: the server was not steady after {} warmup round(s) ({}; medians {} ms per token); the point is flagged not_warmed",
                point.index + 1,
                rec.rounds,
                rec.stopped_by,
                rec.round_medians_ms
                    .iter()
                    .map(|m| format!("{m:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::media::Modality;
    use crate::spec::scenario::Sampling;

    fn point() -> Point {
        Point {
            index: 0,
            server: 0,
            concurrency: 2,
            request_rate: None,
            max_tokens: 64,
            input_tokens: Some(128),
            requests: 10,
            duration_s: None,
            modality: Modality::Text,
            image_count: None,
            image_size: None,
            audio_duration_s: None,
            sampling: Sampling::GREEDY,
            server_mode: Vec::new(),
        }
    }

    #[test]
    fn a_probes_shape_is_the_same_at_every_concurrency_and_only_then() {
        let a = point();
        let mut b = point();
        b.concurrency = 32;
        assert_ne!(shape_of(&a), shape_of(&b));
        assert_eq!(shape_across_concurrency(&a), shape_across_concurrency(&b));
        assert!(shape_across_concurrency(&a).contains("concurrency=any"));
        b.max_tokens = 128;
        assert_ne!(shape_across_concurrency(&a), shape_across_concurrency(&b));
    }

    #[test]
    fn shape_words_change_with_each_part_of_the_shape_only() {
        let a = point();
        let base = shape_of(&a);
        assert_eq!(
            base,
            "modality=text concurrency=2 input_tokens=128 max_tokens=64 temperature=0"
        );
        // request counts and the point's place are not part of the shape
        let b = Point {
            requests: 99,
            index: 3,
            ..a.clone()
        };
        assert_eq!(shape_of(&b), base);
        for other in [
            Point {
                max_tokens: 65,
                ..a.clone()
            },
            Point {
                input_tokens: Some(256),
                ..a.clone()
            },
            Point {
                input_tokens: None,
                ..a.clone()
            },
            Point {
                concurrency: 8,
                ..a.clone()
            },
        ] {
            assert_ne!(shape_of(&other), base);
        }
        let mut hot = a.clone();
        hot.sampling.temperature = 0.3;
        assert_ne!(shape_of(&hot), base);
    }

    #[test]
    fn a_round_has_the_points_concurrency_and_at_least_eight_requests() {
        assert_eq!(round_size(1), 8);
        assert_eq!(round_size(0), 8);
        assert_eq!(round_size(64), 64);
    }
}
