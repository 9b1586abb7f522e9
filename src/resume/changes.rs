//! What changed between the effective scenario a run saved beside its CSV
//! and the one a resume would run: both serialized TOML
//! ([`crate::scenario::Resolved::to_toml`]), compared leaf by leaf, so a
//! refusal can name every field as `field: saved → now`.
//!
//! A resumed run must measure what the interrupted one measured, so every
//! field counts except the few in [`MAY_DIFFER`], which only say where
//! files go, where servers listen and how long to wait: none of them
//! changes what a point measures.

use std::collections::BTreeMap;

use toml::{Table, Value};

use crate::scenario::Scenario;

/// Fields (or prefixes ending in `.`) a resume may change, and why that is
/// safe.
pub const MAY_DIFFER: &[(&str, &str)] = &[
    ("description", "free text"),
    (
        "output.",
        "where a new run would write; a resume writes into RUN_DIR",
    ),
    ("backend.base_port", "where the servers listen"),
    ("router.port", "where nginx listens"),
    ("launcher.starting_port", "mlx.launch's ring ports"),
    ("backend.ready_timeout_s", "how long to wait for a start"),
    ("router.ready_timeout_s", "how long to wait for nginx"),
    ("backend.stop_grace_s", "how long to wait for a stop"),
    (
        "memory.release_timeout_s",
        "how long to wait for memory between configurations",
    ),
    ("run.continue_on_error", "what to do after a failed point"),
    ("backend.check_flags", "a check before the start"),
    (
        "tune.max_points",
        "a search's budget: what it measured is replayed, and it goes on until the new budget",
    ),
    ("tune.max_requests", "a search's budget"),
    ("tune.max_s", "a search's budget"),
];

/// Whether `field` is one a resume may change.
pub fn may_differ(field: &str) -> bool {
    MAY_DIFFER.iter().any(|(f, _)| {
        if f.ends_with('.') {
            field.starts_with(f)
        } else {
            field == *f
        }
    })
}

/// One field whose value differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Dotted path (`matrix.concurrency`).
    pub field: String,
    /// The value as TOML; `None` = not set.
    pub saved: Option<String>,
    pub now: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "(not set)".into());
        write!(f, "{}: {} → {}", self.field, v(&self.saved), v(&self.now))
    }
}

fn parse(text: &str, what: &str) -> Result<BTreeMap<String, String>, String> {
    let t: Table = toml::from_str(text).map_err(|e| format!("{what}: {}", e.message().trim()))?;
    let mut out = Vec::new();
    crate::scenario::flatten(&Value::Table(t), "", &mut out);
    Ok(out.into_iter().collect())
}

/// The fields whose values differ between `saved` and `now` (both the TOML
/// of an effective scenario), in field order, leaving out [`MAY_DIFFER`].
/// A field only one side has counts as unchanged when the other side holds
/// its built-in default (a field added or dropped between mlxrun versions).
pub fn changes(saved: &str, now: &str) -> Result<Vec<Change>, String> {
    let saved = parse(saved, "the saved scenario")?;
    let now = parse(now, "the scenario")?;
    let defaults = parse(
        &toml::to_string(&Scenario::default()).unwrap_or_default(),
        "defaults",
    )?;
    let mut fields: Vec<&String> = saved.keys().chain(now.keys()).collect();
    fields.sort();
    fields.dedup();
    let mut out = Vec::new();
    for field in fields {
        if may_differ(field) {
            continue;
        }
        let (a, b) = (saved.get(field), now.get(field));
        let same = match (a, b) {
            (Some(a), Some(b)) => a == b,
            (Some(one), None) | (None, Some(one)) => defaults.get(field) == Some(one),
            (None, None) => true,
        };
        if !same {
            out.push(Change {
                field: field.clone(),
                saved: a.cloned(),
                now: b.cloned(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml_of(s: &Scenario) -> String {
        toml::to_string_pretty(s).unwrap()
    }

    #[test]
    fn every_changed_field_is_named_with_both_values() {
        let mut a = Scenario {
            name: "sweep".into(),
            ..Default::default()
        };
        a.matrix.concurrency = Some(crate::spec::scenario::Axis(vec![1, 2]));
        let mut b = a.clone();
        b.matrix.concurrency = Some(crate::spec::scenario::Axis(vec![1, 4]));
        b.workload.temperature = 0.5;
        b.matrix.decode_concurrency = Some(crate::spec::scenario::Axis(vec![8]));
        let c = changes(&toml_of(&a), &toml_of(&b)).unwrap();
        let lines: Vec<String> = c.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "matrix.concurrency: [1, 2] → [1, 4]",
                "matrix.decode_concurrency: (not set) → [8]",
                "workload.temperature: 0.3 → 0.5",
            ]
        );
        assert!(changes(&toml_of(&a), &toml_of(&a)).unwrap().is_empty());
    }

    #[test]
    fn paths_ports_and_waits_may_differ() {
        let a = Scenario::default();
        let mut b = a.clone();
        b.output.dir = "elsewhere".into();
        b.backend.base_port = 9300;
        b.router.port = 9399;
        b.backend.ready_timeout_s = crate::spec::units::PositiveSecs::lit(600.0);
        b.description = "rerun".into();
        assert!(changes(&toml_of(&a), &toml_of(&b)).unwrap().is_empty());
        b.backend.python = "/other/python".into();
        let c = changes(&toml_of(&a), &toml_of(&b)).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field, "backend.python");
    }

    #[test]
    fn a_field_one_side_lacks_counts_only_when_it_is_not_the_default() {
        let now = toml_of(&Scenario::default());
        // a saved scenario from a version without `workload.seed`
        let saved: String = now
            .lines()
            .filter(|l| !l.starts_with("seed ="))
            .collect::<Vec<_>>()
            .join("\n");
        assert_ne!(saved, now);
        assert!(changes(&saved, &now).unwrap().is_empty());
        let mut s = Scenario::default();
        s.workload.seed = 7;
        let c = changes(&saved, &toml_of(&s)).unwrap();
        assert_eq!(c[0].to_string(), "workload.seed: (not set) → 7");
        let e = changes("not = [toml", &now).unwrap_err();
        assert!(e.starts_with("the saved scenario: "), "{e}");
    }
}
