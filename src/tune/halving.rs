//! Successive halving across configurations: after every configuration
//! has a score from cheap probes, the clearly worse ones are dropped and
//! the contenders are measured again with `eta` times the requests, round
//! after round, until one is left or the probes are as long as the
//! scenario's own points.
//!
//! # The decision rule
//!
//! The leader is the configuration with the highest score (for
//! `max_load_under_slo`: the highest load within the limits, then the
//! higher throughput there). Another configuration is dropped only when it
//! is worse *beyond noise*:
//!
//! - *throughput, goodput:* its interval lies wholly below the leader's,
//!   `hi < leader's lo`. For two 95% intervals of equal width that is a
//!   one-sided z-test (standard errors from the intervals, as
//!   `crate::report::verdict` takes them) at z > 2.77, p < 0.003: a
//!   stricter bar than a z-test at 0.05, so a tie within noise always
//!   survives. The z and p are logged as evidence beside the intervals.
//! - *max load:* its first bad load (failed, or beyond a limit with its
//!   interval wholly beyond) is at most the leader's knee, and the
//!   leader's knee meets every limit with its interval wholly within.
//!
//! A configuration without an interval (too few requests) cannot be shown
//! worse and survives. The halving is in the samples, not the count: no
//! configuration is dropped just to keep the top `1/eta`.

use serde::Serialize;

use super::knee::Score;

/// Why one configuration was dropped: its score against the leader's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub score: Score,
    pub leader: usize,
    pub leader_score: Score,
    /// One-sided z of "below the leader" and its p-value (rates with
    /// intervals only).
    pub z: Option<f64>,
    pub p_one_sided: Option<f64>,
    /// The rule that decided, in words.
    pub rule: &'static str,
}

/// A round's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Halving {
    pub leader: Option<usize>,
    pub dropped: Vec<(usize, Evidence)>,
    pub survivors: Vec<usize>,
}

/// Rule of a dropped rate, in words.
pub const RATE_RULE: &str = "its interval lies wholly below the leader's (hi < leader's lo)";
/// Rule of a dropped load, in words.
pub const LOAD_RULE: &str = "its first load beyond the limits (beyond noise, or failed) is at most the leader's knee, which meets them beyond noise";

/// The leader among `scores` (`(configuration, score)`): highest rank,
/// the earlier entry on a tie.
pub fn leader(scores: &[(usize, Score)]) -> Option<(usize, Score)> {
    let mut best: Option<(usize, Score)> = None;
    for &(c, s) in scores {
        if best.is_none_or(|(_, b)| rank_above(&s, &b)) {
            best = Some((c, s));
        }
    }
    best
}

fn rank_above(a: &Score, b: &Score) -> bool {
    let (a, b) = (a.rank(), b.rank());
    a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
}

/// Whether `score` is worse than `leader` beyond noise, and the evidence.
pub fn clearly_worse(score: &Score, leader_config: usize, leader: &Score) -> Option<Evidence> {
    let (worse, z) = match (score, leader) {
        (Score::Rate { estimate: c }, Score::Rate { estimate: l }) => {
            (c.clearly_below(l) == Some(true), c.z_below(l))
        }
        (Score::Load { hi_excl, .. }, Score::Load { value, lo, .. }) => (
            hi_excl.is_some_and(|h| h <= *lo && *lo == *value && *lo > 0.0),
            None,
        ),
        _ => (false, None),
    };
    worse.then(|| Evidence {
        score: *score,
        leader: leader_config,
        leader_score: *leader,
        z: z.map(|z| z.0),
        p_one_sided: z.map(|z| z.1),
        rule: match score {
            Score::Rate { .. } => RATE_RULE,
            Score::Load { .. } => LOAD_RULE,
        },
    })
}

/// One round: the leader, and which of the `droppable` configurations
/// are dropped. `scores` are the configurations still in the race;
/// those not `droppable` (too few measurements yet) always survive.
pub fn halve(scores: &[(usize, Score)], droppable: impl Fn(usize) -> bool) -> Halving {
    let Some((lead, lead_score)) = leader(scores) else {
        return Halving {
            leader: None,
            dropped: Vec::new(),
            survivors: Vec::new(),
        };
    };
    let mut dropped = Vec::new();
    let mut survivors = Vec::new();
    for (c, s) in scores {
        let evidence = (*c != lead && droppable(*c))
            .then(|| clearly_worse(s, lead, &lead_score))
            .flatten();
        match evidence {
            Some(e) => dropped.push((*c, e)),
            None => survivors.push(*c),
        }
    }
    Halving {
        leader: Some(lead),
        dropped,
        survivors,
    }
}

/// Requests per probe in `round` (0 first): `first · eta^round`, at most
/// `full` (the scenario's own point) and at least `first`; `full` already
/// when the next round would pass it (a round of 765 requests is not
/// followed by one of 768).
pub fn round_requests(first: u64, eta: u32, round: u32, full: u64) -> u64 {
    let eta = u64::from(eta.max(1));
    let grown = eta
        .checked_pow(round)
        .and_then(|g| first.checked_mul(g))
        .unwrap_or(u64::MAX);
    let full = full.max(first);
    if grown.saturating_mul(eta) > full {
        full
    } else {
        grown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::observation::Estimate;

    fn rate(v: f64, half: f64) -> Score {
        Score::Rate {
            estimate: Estimate::new(v, v - half, v + half, 0.95),
        }
    }

    #[test]
    fn only_an_interval_wholly_below_the_leaders_is_dropped() {
        let scores = [
            (0, rate(100.0, 5.0)),
            (1, rate(92.0, 4.0)),
            (2, rate(80.0, 5.0)),
        ];
        let h = halve(&scores, |_| true);
        assert_eq!(h.leader, Some(0));
        assert_eq!(h.survivors, [0, 1]);
        assert_eq!(h.dropped.len(), 1);
        let (c, e) = &h.dropped[0];
        assert_eq!((*c, e.leader), (2, 0));
        assert!(e.z.unwrap() > 2.77 && e.p_one_sided.unwrap() < 0.003);
        // not yet droppable: survives whatever its score
        assert_eq!(halve(&scores, |c| c != 2).survivors, [0, 1, 2]);
    }

    #[test]
    fn without_an_interval_nothing_is_dropped() {
        let bare = Score::Rate {
            estimate: Estimate::bare(1.0),
        };
        let h = halve(&[(0, rate(100.0, 1.0)), (1, bare)], |_| true);
        assert_eq!(h.survivors, [0, 1]);
    }

    #[test]
    fn loads_are_dropped_only_on_clear_verdicts() {
        let load = |value: f64, lo: f64, hi: Option<f64>| Score::Load {
            value,
            lo,
            hi_excl: hi,
            tie: 0.0,
        };
        let leader = load(8.0, 8.0, Some(16.0));
        assert!(clearly_worse(&load(4.0, 4.0, Some(8.0)), 0, &leader).is_some());
        // the leader's knee is marginal: cannot tell
        assert!(clearly_worse(&load(4.0, 4.0, Some(8.0)), 0, &load(8.0, 0.0, None)).is_none());
        // its own bad load is marginal: cannot tell
        assert!(clearly_worse(&load(4.0, 4.0, None), 0, &leader).is_none());
        assert!(clearly_worse(&load(4.0, 4.0, Some(16.0)), 0, &leader).is_none());
    }

    #[test]
    fn requests_grow_by_eta_up_to_the_point() {
        assert_eq!(
            (0..5)
                .map(|r| round_requests(24, 3, r, 500))
                .collect::<Vec<_>>(),
            [24, 72, 500, 500, 500]
        );
        // a round that would be within a third of the point is the point
        assert_eq!(
            (0..4)
                .map(|r| round_requests(85, 3, r, 768))
                .collect::<Vec<_>>(),
            [85, 255, 768, 768]
        );
        assert_eq!(round_requests(24, 3, 1000, u64::MAX), u64::MAX);
        assert_eq!(round_requests(50, 3, 0, 10), 50);
    }
}
