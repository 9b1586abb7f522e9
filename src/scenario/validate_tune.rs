//! Checks of `[tune]` that span several fields: an objective that needs
//! limits or an `[slo]`, and the halving settings. Single values out of
//! their bounds (a negative limit, seconds past 30 days) are refused when
//! the file is read.

use super::error::{Finding, finding};
use crate::spec::scenario::Scenario;
use crate::spec::tune::Objective;

/// Requests a rate's interval needs (21), so the least a probe may send.
const MIN_PROBE_REQUESTS: u64 = 21;

/// Every problem with `s.tune`.
pub fn tune_findings(out: &mut Vec<Finding>, s: &Scenario) {
    let t = &s.tune;
    if t.objective == Objective::MaxLoadUnderSlo && t.limits().is_empty() {
        out.push(finding(
            "tune.objective",
            "max_load_under_slo without a limit",
            "set at least one of tune.ttft_p50_ms, ttft_p99_ms, tpot_p50_ms, tpot_p99_ms, e2e_p50_ms, e2e_p99_ms (e.g. ttft_p99_ms = 500)",
        ));
    }
    if t.objective == Objective::Goodput && !s.slo.is_set() {
        out.push(finding(
            "tune.objective",
            "goodput without an [slo]",
            "set [slo] ttft_ms, tpot_ms or e2e_ms (goodput counts the requests within them), or use objective = \"throughput\"",
        ));
    }
    if !(2..=10).contains(&t.halving_eta) {
        out.push(finding(
            "tune.halving_eta",
            format!("{} is not a growth factor", t.halving_eta),
            "use 2 to 10 (3 is the default): each round measures contenders with that many times the requests",
        ));
    }
    if !(1..=10).contains(&t.min_probes) {
        out.push(finding(
            "tune.min_probes",
            format!("{} measurements", t.min_probes),
            "use 1 to 10 (1 is the default)",
        ));
    }
    if (1..MIN_PROBE_REQUESTS).contains(&t.probe_requests) {
        out.push(finding(
            "tune.probe_requests",
            format!("{} requests are too few for an interval", t.probe_requests),
            "use 0 (derived from workload.requests) or at least 21: a rate's interval needs 21 measured requests",
        ));
    }
    if t.max_requests > 0 && t.max_requests < MIN_PROBE_REQUESTS {
        out.push(finding(
            "tune.max_requests",
            format!("{} requests cannot measure one probe", t.max_requests),
            "use 0 (no limit) or at least 21",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::units::PositiveMillis;

    fn fields(s: &Scenario) -> Vec<String> {
        let mut out = Vec::new();
        tune_findings(&mut out, s);
        out.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn the_default_is_fine() {
        assert!(fields(&Scenario::default()).is_empty());
    }

    #[test]
    fn max_load_needs_a_limit_and_goodput_an_slo() {
        let mut s = Scenario::default();
        s.tune.objective = Objective::MaxLoadUnderSlo;
        assert_eq!(fields(&s), ["tune.objective"]);
        s.tune.ttft_p99_ms = Some(PositiveMillis::lit(500.0));
        assert!(fields(&s).is_empty());
        s.tune.objective = Objective::Goodput;
        assert_eq!(fields(&s), ["tune.objective"]);
        s.slo.ttft_ms = Some(PositiveMillis::lit(500.0));
        assert!(fields(&s).is_empty());
    }

    #[test]
    fn halving_settings_and_request_counts_are_bounded() {
        let mut s = Scenario::default();
        s.tune.halving_eta = 1;
        s.tune.min_probes = 0;
        s.tune.probe_requests = 5;
        s.tune.max_requests = 20;
        assert_eq!(
            fields(&s),
            [
                "tune.halving_eta",
                "tune.min_probes",
                "tune.probe_requests",
                "tune.max_requests"
            ]
        );
        s.tune.halving_eta = 11;
        s.tune.min_probes = 11;
        s.tune.probe_requests = 21;
        s.tune.max_requests = 0;
        assert_eq!(fields(&s), ["tune.halving_eta", "tune.min_probes"]);
        s.tune.halving_eta = u32::MAX;
        s.tune.min_probes = u32::MAX;
        s.tune.probe_requests = u64::MAX;
        assert_eq!(fields(&s), ["tune.halving_eta", "tune.min_probes"]);
    }
}
