//! Per-instance accounting: how many requests and output tokens each
//! instance served in a point, so an unbalanced upstream shows. The
//! instance of a request comes from the client router's own choice, or from
//! nginx's access log.

use serde::Serialize;

use crate::load::record::RequestRecord;

/// What one instance served in a point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstanceStats {
    /// 0-based instance number.
    pub instance: u32,
    /// Where it listens (`host:port`, or the URL of an external endpoint).
    pub address: String,
    pub requests: u64,
    pub ok_requests: u64,
    pub errors: u64,
    /// Output tokens of its successful requests.
    pub completion_tokens: u64,
}

/// The whole point's per-instance picture.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Accounting {
    /// Where the instance numbers came from: `client`, `nginx_access_log`, `single`.
    pub source: String,
    pub instances: Vec<InstanceStats>,
    /// Requests whose instance is unknown (e.g. no access log line).
    pub unattributed: u64,
    /// Most requests on one instance over the mean (1.0 = even); `None`
    /// with fewer than two instances or no attributed requests.
    pub imbalance: Option<f64>,
}

/// Count `records` per instance; `addresses[i]` names instance `i`.
pub fn account(records: &[RequestRecord], addresses: &[String], source: &str) -> Accounting {
    let mut instances: Vec<InstanceStats> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| InstanceStats {
            instance: i as u32,
            address: a.clone(),
            ..Default::default()
        })
        .collect();
    let mut unattributed = 0;
    for r in records {
        match r.instance.and_then(|i| instances.get_mut(i as usize)) {
            Some(s) => {
                s.requests += 1;
                if r.ok() {
                    s.ok_requests += 1;
                    s.completion_tokens += r.completion_tokens;
                } else {
                    s.errors += 1;
                }
            }
            None => unattributed += 1,
        }
    }
    let attributed: u64 = instances.iter().map(|s| s.requests).sum();
    let imbalance = (instances.len() >= 2 && attributed > 0).then(|| {
        let mean = attributed as f64 / instances.len() as f64;
        let max = instances.iter().map(|s| s.requests).max().unwrap_or(0) as f64;
        max / mean
    });
    Accounting {
        source: source.to_string(),
        instances,
        unattributed,
        imbalance,
    }
}

/// Name the instance that served each record from nginx's access log:
/// `upstream_of` maps a request's sequence number to the upstream address
/// that served it, `addresses` lists the instances' addresses in order. A
/// request the log does not name keeps no instance.
pub fn attribute(
    records: &mut [RequestRecord],
    upstream_of: &std::collections::HashMap<u64, String>,
    addresses: &[String],
) {
    for r in records {
        r.instance = upstream_of
            .get(&r.seq)
            .and_then(|up| addresses.iter().position(|a| a == up))
            .map(|i| i as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::record::ErrorKind;

    fn rec(instance: Option<u32>, tokens: u64, ok: bool) -> RequestRecord {
        RequestRecord {
            instance,
            completion_tokens: tokens,
            error: (!ok).then(|| (ErrorKind::Http5xx, "x".into())),
            ..Default::default()
        }
    }

    #[test]
    fn the_access_log_names_each_requests_instance() {
        let mut recs: Vec<RequestRecord> = (0..3)
            .map(|seq| RequestRecord {
                seq,
                ..Default::default()
            })
            .collect();
        let log = [
            (0, "127.0.0.1:9101".to_string()),
            (1, "127.0.0.1:9100".to_string()),
            (2, "10.0.0.9:1".to_string()),
        ]
        .into_iter()
        .collect();
        attribute(
            &mut recs,
            &log,
            &["127.0.0.1:9100".into(), "127.0.0.1:9101".into()],
        );
        let got: Vec<Option<u32>> = recs.iter().map(|r| r.instance).collect();
        assert_eq!(
            got,
            [Some(1), Some(0), None],
            "an unknown upstream names no instance"
        );
    }

    #[test]
    fn counts_requests_tokens_and_imbalance() {
        let recs = vec![
            rec(Some(0), 10, true),
            rec(Some(0), 10, true),
            rec(Some(0), 0, false),
            rec(Some(1), 10, true),
            rec(None, 10, true),
            rec(Some(7), 10, true),
        ];
        let a = account(&recs, &["a:1".into(), "a:2".into()], "client");
        assert_eq!(a.instances[0].requests, 3);
        assert_eq!(a.instances[0].ok_requests, 2);
        assert_eq!(a.instances[0].errors, 1);
        assert_eq!(a.instances[0].completion_tokens, 20);
        assert_eq!(a.instances[1].completion_tokens, 10);
        assert_eq!(a.unattributed, 2);
        assert_eq!(a.imbalance, Some(1.5));
        assert_eq!(account(&recs, &["a:1".into()], "single").imbalance, None);
    }
}
