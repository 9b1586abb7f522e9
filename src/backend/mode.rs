//! The server's own mode: whether a point's requests or its server's flags
//! change how the server works (per-request sampling, requests taken out of
//! the batch, requests waiting inside the server, prompts answered from its
//! cache), judged by the rules of the backend definition
//! (`[backends.NAME.mode]`). `plan` and `run` warn with these notes and
//! every row records them as `server_mode`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::flags::find_flag;
use crate::spec::backend::BackendDef;
use crate::spec::scenario::Sampling;

/// Requests with temperature above the backend's threshold get a sampler
/// of their own.
pub const PER_REQUEST_SAMPLING: &str = "per_request_sampling";
/// Requests carrying `seed` are served outside the batch.
pub const UNBATCHED_SEED: &str = "unbatched_seed";
/// Prefix of the code of a server flag that turns batching off
/// (`--draft-model` → `unbatched_draft_model`).
pub const UNBATCHED_FLAG_PREFIX: &str = "unbatched_";
/// More requests in flight than an instance decodes at once.
pub const SERVER_QUEUE: &str = "server_queue";
/// Most prompt tokens were answered from the server's prompt cache.
pub const PROMPT_CACHE_HITS: &str = "prompt_cache_hits";

/// The share of cached prompt tokens above which a point is noted as
/// answered from the prompt cache.
pub const DEFAULT_CACHE_SHARE: f64 = 0.5;

/// One way the server works differently for a point: a stable code (for
/// filters and the CSV) and what it means for this point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModeNote {
    pub code: String,
    pub detail: String,
}

impl ModeNote {
    fn new(code: impl Into<String>, detail: impl Into<String>) -> ModeNote {
        ModeNote {
            code: code.into(),
            detail: detail.into(),
        }
    }
}

/// What the rules look at for one point.
#[derive(Debug, Clone, Copy)]
pub struct ModeInput<'a> {
    /// What every request of the point asks of the sampler.
    pub sampling: Sampling,
    /// The flags each instance is started with beyond its launch template,
    /// as argv (the user's arguments, then the swept axes and raw flags:
    /// for a flag given twice the last one counts, as argparse reads it).
    pub server_args: &'a [String],
    /// Server instances sharing the point's requests.
    pub instances: u32,
    /// The most requests the client keeps in flight at once; `None` when
    /// nothing bounds it (an open loop without a cap).
    pub in_flight: Option<u64>,
}

/// The code of server flag `flag` when it turns batching off.
pub fn unbatched_flag_code(flag: &str) -> String {
    format!(
        "{UNBATCHED_FLAG_PREFIX}{}",
        flag.trim_start_matches('-').replace('-', "_")
    )
}

/// The notes `def`'s rules give for a point (empty when the server works
/// as usual, or the backend states no rules).
pub fn notes(def: &BackendDef, input: &ModeInput<'_>) -> Vec<ModeNote> {
    let rules = &def.mode;
    let mut out = Vec::new();
    let t = input.sampling.temperature;
    if let Some(above) = rules.per_request_sampling_above
        && t > above
    {
        out.push(ModeNote::new(
            PER_REQUEST_SAMPLING,
            format!(
                "temperature {t} > {above}: every request gets a sampler of its own and the \
                 server samples its batch row by row, slower than greedy decoding at high \
                 concurrency (matrix.temperature = [0.0, {t}] measures both)"
            ),
        ));
    }
    if rules.unbatched_seed
        && let Some(seed) = input.sampling.seed
    {
        out.push(ModeNote::new(
            UNBATCHED_SEED,
            format!(
                "requests carry seed {seed} (workload.sampling_seed): the server serves each \
                 one alone, outside the batch, so they do not run concurrently"
            ),
        ));
    }
    for flag in &rules.unbatched_flags {
        if find_flag(input.server_args, flag).is_some() {
            out.push(ModeNote::new(
                unbatched_flag_code(flag),
                format!(
                    "the server runs with {flag}: it batches no request, so requests do not \
                     run concurrently"
                ),
            ));
        }
    }
    if let Some(note) = queue_note(def, input) {
        out.push(note);
    }
    out
}

/// `server_queue`: more requests in flight per instance than it decodes at once.
fn queue_note(def: &BackendDef, input: &ModeInput<'_>) -> Option<ModeNote> {
    let rules = &def.mode;
    if rules.batch_limit_flag.is_empty() {
        return None;
    }
    let flag = rules.batch_limit_flag.as_str();
    let (limit, whose) = match find_flag(input.server_args, flag) {
        Some(v) => (v.trim().parse::<u64>().ok()?, "passed"),
        None => (
            u64::from(rules.batch_limit_default?),
            "the server's default",
        ),
    };
    let in_flight = input.in_flight?;
    let instances = u64::from(input.instances.max(1));
    let per_instance = in_flight.div_ceil(instances);
    if limit == 0 || per_instance <= limit {
        return None;
    }
    let spread = if instances > 1 {
        format!(" ({in_flight} over {instances} instances)")
    } else {
        String::new()
    };
    Some(ModeNote::new(
        SERVER_QUEUE,
        format!(
            "up to {per_instance} requests in flight per instance{spread} but {flag} {limit} \
             ({whose}): the others wait inside the server, and TTFT includes that wait"
        ),
    ))
}

/// `prompt_cache_hits` when more than `threshold` (a share, 0–1) of a
/// point's `prompt_tokens` were `cached_tokens` (the server's own count):
/// its prompts were mostly not prefilled, so TTFT is lower than for new
/// prompts. Known only once the point ran.
pub fn cache_note(cached_tokens: u64, prompt_tokens: u64, threshold: f64) -> Option<ModeNote> {
    if prompt_tokens == 0 {
        return None;
    }
    let share = cached_tokens as f64 / prompt_tokens as f64;
    (share > threshold).then(|| {
        ModeNote::new(
            PROMPT_CACHE_HITS,
            format!(
                "{:.0}% of the prompt tokens ({cached_tokens} of {prompt_tokens}) came from the \
                 server's prompt cache (above {:.0}%): they were not prefilled, so TTFT is lower \
                 than for new prompts (vary the prompts, e.g. matrix.input_tokens, to measure prefill)",
                share * 100.0,
                threshold * 100.0
            ),
        )
    })
}

/// The same note for every point it concerns, in the words of a warning.
fn headline(code: &str, first_detail: &str) -> String {
    match code {
        PER_REQUEST_SAMPLING => "temperature > 0: every request gets a sampler of its own and \
             the server samples its batch row by row, slower than greedy decoding at high \
             concurrency"
            .into(),
        SERVER_QUEUE => "more requests in flight per instance than the server decodes at once: \
             the others wait inside the server, and TTFT includes that wait"
            .into(),
        PROMPT_CACHE_HITS => "most prompt tokens came from the server's prompt cache: TTFT is \
             lower than for new prompts"
            .into(),
        _ => first_detail.to_string(),
    }
}

/// `1-3, 5, 7-8` for 1-based point numbers (sorted, distinct).
fn ranges(points: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let start = points[i];
        let mut end = start;
        while i + 1 < points.len() && points[i + 1] == end + 1 {
            i += 1;
            end = points[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

/// One warning line per distinct note code over `points` (1-based point
/// number and its notes), naming the points it concerns, in code order.
pub fn warnings<'a>(points: impl IntoIterator<Item = (usize, &'a [ModeNote])>) -> Vec<String> {
    let mut by_code: BTreeMap<&str, (Vec<usize>, &str)> = BTreeMap::new();
    for (point, notes) in points {
        for n in notes {
            let entry = by_code
                .entry(n.code.as_str())
                .or_insert_with(|| (Vec::new(), n.detail.as_str()));
            entry.0.push(point);
        }
    }
    by_code
        .into_iter()
        .map(|(code, (mut pts, first_detail))| {
            pts.sort_unstable();
            pts.dedup();
            let which = if pts.len() == 1 { "point" } else { "points" };
            format!(
                "warning: server mode `{code}` at {which} {}: {}",
                ranges(&pts),
                headline(code, first_detail)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::registry::Registry;

    fn mlx() -> BackendDef {
        Registry::builtin().get("mlx_lm").cloned().unwrap()
    }

    fn input(temperature: f64, args: &[String], in_flight: Option<u64>) -> ModeInput<'_> {
        ModeInput {
            sampling: Sampling {
                temperature,
                top_p: None,
                seed: None,
            },
            server_args: args,
            instances: 1,
            in_flight,
        }
    }

    fn codes(notes: &[ModeNote]) -> Vec<&str> {
        notes.iter().map(|n| n.code.as_str()).collect()
    }

    #[test]
    fn greedy_requests_at_the_default_batch_leave_mlx_lm_as_it_is() {
        assert!(notes(&mlx(), &input(0.0, &[], Some(32))).is_empty());
    }

    #[test]
    fn temperature_above_zero_means_per_request_sampling() {
        let n = notes(&mlx(), &input(0.3, &[], Some(1)));
        assert_eq!(codes(&n), vec![PER_REQUEST_SAMPLING]);
        assert!(
            n[0].detail.contains("temperature 0.3 > 0"),
            "{}",
            n[0].detail
        );
        assert!(notes(&mlx(), &input(0.0, &[], Some(1))).is_empty());
    }

    #[test]
    fn a_request_seed_takes_requests_out_of_the_batch() {
        let mut i = input(0.0, &[], Some(1));
        i.sampling.seed = Some(7);
        let n = notes(&mlx(), &i);
        assert_eq!(codes(&n), vec![UNBATCHED_SEED]);
        assert!(n[0].detail.contains("seed 7"), "{}", n[0].detail);
        i.sampling.seed = None;
        assert!(notes(&mlx(), &i).is_empty());
    }

    #[test]
    fn a_draft_model_takes_every_request_out_of_the_batch() {
        for args in [
            vec!["--draft-model".to_string(), "/m/draft".to_string()],
            vec!["--draft-model=/m/draft".to_string()],
        ] {
            let n = notes(&mlx(), &input(0.0, &args, Some(1)));
            assert_eq!(codes(&n), vec!["unbatched_draft_model"], "{args:?}");
        }
        let other = vec!["--num-draft-tokens".to_string(), "3".to_string()];
        assert!(notes(&mlx(), &input(0.0, &other, Some(1))).is_empty());
    }

    #[test]
    fn requests_beyond_decode_concurrency_wait_in_the_server() {
        // the server's default (32) per instance
        let n = notes(&mlx(), &input(0.0, &[], Some(33)));
        assert_eq!(codes(&n), vec![SERVER_QUEUE]);
        assert!(
            n[0].detail
                .contains("--decode-concurrency 32 (the server's default)"),
            "{}",
            n[0].detail
        );
        assert!(notes(&mlx(), &input(0.0, &[], Some(32))).is_empty());
        // a passed value, the last one counting
        let args: Vec<String> = ["--decode-concurrency=64", "--decode-concurrency", "8"]
            .map(String::from)
            .to_vec();
        let n = notes(&mlx(), &input(0.0, &args, Some(9)));
        assert_eq!(codes(&n), vec![SERVER_QUEUE]);
        assert!(n[0].detail.contains("--decode-concurrency 8 (passed)"));
        assert!(notes(&mlx(), &input(0.0, &args, Some(8))).is_empty());
        // spread over instances
        let mut i = input(0.0, &args, Some(24));
        i.instances = 3;
        assert!(notes(&mlx(), &i).is_empty(), "8 per instance fits");
        i.in_flight = Some(25);
        let n = notes(&mlx(), &i);
        assert!(
            n[0].detail
                .contains("up to 9 requests in flight per instance (25 over 3 instances)")
        );
        // an uncapped open loop: not known in advance
        assert!(notes(&mlx(), &input(0.0, &[], None)).is_empty());
    }

    #[test]
    fn backends_without_rules_give_no_notes_and_unset_defaults_check_only_passed_values() {
        let reg = Registry::builtin();
        let openai = reg.get("openai").unwrap();
        let mut i = input(1.0, &[], Some(10_000));
        i.sampling.seed = Some(1);
        assert!(notes(openai, &i).is_empty());
        let vllm = reg.get("vllm").unwrap();
        assert!(
            notes(vllm, &i).is_empty(),
            "no default max-num-seqs is assumed"
        );
        let args = vec!["--max-num-seqs".to_string(), "16".to_string()];
        let mut i = input(1.0, &args, Some(17));
        i.sampling.seed = Some(1);
        assert_eq!(codes(&notes(vllm, &i)), vec![SERVER_QUEUE]);
    }

    #[test]
    fn cache_note_fires_above_the_share() {
        assert!(
            cache_note(500, 1000, 0.5).is_none(),
            "exactly half is not above"
        );
        let n = cache_note(900, 1000, DEFAULT_CACHE_SHARE).unwrap();
        assert_eq!(n.code, PROMPT_CACHE_HITS);
        assert!(
            n.detail
                .starts_with("90% of the prompt tokens (900 of 1000)"),
            "{}",
            n.detail
        );
        assert!(
            cache_note(0, 0, 0.5).is_none(),
            "no prompt tokens: nothing to say"
        );
        assert!(cache_note(10, 1000, 0.5).is_none());
    }

    #[test]
    fn warnings_name_each_code_once_with_its_points() {
        let sampling = ModeNote::new(PER_REQUEST_SAMPLING, "t 0.3");
        let queue = ModeNote::new(SERVER_QUEUE, "64 in flight");
        let draft = ModeNote::new(
            "unbatched_draft_model",
            "the server runs with --draft-model",
        );
        let notes: Vec<(usize, Vec<ModeNote>)> = vec![
            (1, vec![sampling.clone()]),
            (2, vec![sampling.clone(), queue.clone()]),
            (3, vec![sampling.clone(), queue.clone()]),
            (5, vec![sampling, draft]),
            (6, vec![]),
        ];
        let w = warnings(notes.iter().map(|(p, n)| (*p, n.as_slice())));
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].starts_with(
                "warning: server mode `per_request_sampling` at points 1-3, 5: temperature > 0"
            ),
            "{}",
            w[0]
        );
        assert!(
            w[1].starts_with("warning: server mode `server_queue` at points 2-3: "),
            "{}",
            w[1]
        );
        assert_eq!(
            w[2],
            "warning: server mode `unbatched_draft_model` at point 5: the server runs with --draft-model"
        );
        assert!(warnings(std::iter::empty()).is_empty());
    }
}
