//! Server-side metrics: a parser for the Prometheus text exposition format
//! (0.0.4, what vLLM, SGLang with `--enable-metrics` and llama-server with
//! `--metrics` serve at `/metrics`), the difference of two scrapes taken
//! before and after a benchmark point, and the scrape itself.
//!
//! The parser never fails: lines it does not understand are skipped and
//! counted in [`Snapshot::bad_lines`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// The type a `# TYPE` line gives a metric family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// No `# TYPE` line (or `untyped`/`unknown`).
    #[default]
    Untyped,
}

impl MetricType {
    fn from_word(word: &str) -> Option<MetricType> {
        Some(match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            // "unknown" is OpenMetrics' spelling of untyped
            "untyped" | "unknown" => MetricType::Untyped,
            _ => return None,
        })
    }
}

/// One scrape of a `/metrics` endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Every sample, keyed by its canonical series name:
    /// `name{label="value",...}` with the labels sorted by name and the
    /// values escaped as in the exposition format (`\\`, `\"`, `\n`); just
    /// `name` without labels. Timestamps are dropped.
    pub series: BTreeMap<String, f64>,
    /// Family name → type, from the `# TYPE` lines.
    pub types: BTreeMap<String, MetricType>,
    /// Lines skipped because they could not be parsed (including repeated
    /// series and conflicting `# TYPE` lines).
    pub bad_lines: usize,
}

/// How a series changes over a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Only goes up (counters, histogram/summary `_bucket`, `_sum`, `_count`):
    /// the delta is what the point added.
    Cumulative,
    /// A level (gauges, untyped, summary quantiles): before and after.
    Level,
}

impl Snapshot {
    /// The value of one series, by its canonical key.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.series.get(key).copied()
    }

    /// The type of the family a metric name belongs to: its own `# TYPE`,
    /// or for `X_bucket` (histograms), `X_sum` and `X_count` (histograms and
    /// summaries) and `X_total` (counters) the type of `X`.
    pub fn type_of(&self, metric_name: &str) -> MetricType {
        self.resolve(metric_name).0
    }

    fn resolve(&self, name: &str) -> (MetricType, Role) {
        if let Some(&t) = self.types.get(name) {
            let role = if t == MetricType::Counter {
                Role::Cumulative
            } else {
                Role::Level
            };
            return (t, role);
        }
        for (suffix, fits) in [
            ("_bucket", &[MetricType::Histogram][..]),
            ("_sum", &[MetricType::Histogram, MetricType::Summary][..]),
            ("_count", &[MetricType::Histogram, MetricType::Summary][..]),
            ("_total", &[MetricType::Counter][..]),
        ] {
            if let Some(base) = name.strip_suffix(suffix)
                && let Some(&t) = self.types.get(base)
                && fits.contains(&t)
            {
                return (t, Role::Cumulative);
            }
        }
        (MetricType::Untyped, Role::Level)
    }
}

/// The metric name of a canonical series key (everything before `{`).
pub fn metric_name(key: &str) -> &str {
    key.split_once('{').map_or(key, |(name, _)| name)
}

/// Parse the text exposition format. Never fails: bad lines are counted.
pub fn parse(text: &str) -> Snapshot {
    let mut snap = Snapshot::default();
    for line in text.lines() {
        let line = line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if !type_line(comment, &mut snap.types) {
                snap.bad_lines += 1;
            }
            continue;
        }
        match sample(line) {
            Some((key, value)) if !snap.series.contains_key(&key) => {
                snap.series.insert(key, value);
            }
            _ => snap.bad_lines += 1,
        }
    }
    snap
}

/// A comment line (without the `#`): records `# TYPE`; false if it is a
/// malformed `# TYPE` (or one contradicting an earlier one). `# HELP` and
/// other comments are ignored.
fn type_line(comment: &str, types: &mut BTreeMap<String, MetricType>) -> bool {
    let mut words = comment.split([' ', '\t']).filter(|w| !w.is_empty());
    if words.next() != Some("TYPE") {
        return true;
    }
    let (Some(name), Some(word), None) = (words.next(), words.next(), words.next()) else {
        return false;
    };
    let Some(t) = MetricType::from_word(word) else {
        return false;
    };
    if !is_metric_name(name) {
        return false;
    }
    match types.get(name) {
        Some(&old) => old == t,
        None => {
            types.insert(name.to_string(), t);
            true
        }
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// One sample line → (canonical key, value); None if malformed.
fn sample(line: &str) -> Option<(String, f64)> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return None;
    }
    let mut rest = line[name_end..].trim_start_matches(is_blank);
    let mut labels: Vec<(&str, String)> = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = label_set(after, &mut labels)?;
    }
    let mut words = rest.split(is_blank).filter(|w| !w.is_empty());
    let value = parse_value(words.next()?)?;
    if let Some(ts) = words.next() {
        ts.parse::<i64>().ok()?;
    }
    if words.next().is_some() {
        return None;
    }
    labels.sort_by(|a, b| a.0.cmp(b.0));
    if labels.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    Some((series_key(name, &labels), value))
}

/// The label pairs after `{` up to the closing `}`; returns the rest of the line.
fn label_set<'a>(mut s: &'a str, labels: &mut Vec<(&'a str, String)>) -> Option<&'a str> {
    loop {
        s = s.trim_start_matches(is_blank);
        if let Some(rest) = s.strip_prefix('}') {
            return Some(rest);
        }
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let label = &s[..end];
        if label.is_empty() || label.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        s = s[end..].trim_start_matches(is_blank).strip_prefix('=')?;
        s = s.trim_start_matches(is_blank).strip_prefix('"')?;
        let (value, rest) = label_value(s)?;
        labels.push((label, value));
        s = rest.trim_start_matches(is_blank);
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return None;
        }
    }
}

/// A label value after its opening quote, unescaped; and the rest after the
/// closing quote. `\\`, `\"` and `\n` are escapes; any other backslash is
/// kept as written.
fn label_value(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            c => out.push(c),
        }
    }
    None
}

/// A sample value: a float (exponents allowed), `NaN`, `+Inf`, `-Inf`.
fn parse_value(word: &str) -> Option<f64> {
    // Rust also accepts "infinity"; the format only has Inf.
    if word.to_ascii_lowercase().contains("infinity") {
        return None;
    }
    word.parse::<f64>().ok()
}

fn series_key(name: &str, sorted_labels: &[(&str, String)]) -> String {
    let mut key = name.to_string();
    if sorted_labels.is_empty() {
        return key;
    }
    key.push('{');
    for (i, (label, value)) in sorted_labels.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(label);
        key.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => key.push_str("\\\\"),
                '"' => key.push_str("\\\""),
                '\n' => key.push_str("\\n"),
                c => key.push(c),
            }
        }
        key.push('"');
    }
    key.push('}');
    key
}

/// What the server reported about one benchmark point: the difference of a
/// scrape before and one after it. Keys are canonical series names (see
/// [`Snapshot::series`]). Values that are not finite (NaN, ±Inf) are left
/// out (`null` in JSON), since JSON has no NaN.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerMetrics {
    /// Counters and histogram/summary `_bucket`, `_sum`, `_count` series:
    /// after − before (a series new in `after` counts from 0).
    pub counters: BTreeMap<String, f64>,
    /// Gauges, untyped series and summary quantiles: `[before, after]`
    /// (`before` is null for a series new in `after`).
    pub gauges: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Cumulative series that went down, which means the server restarted
    /// in between: their value in `counters` is the `after` value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reset: Vec<String>,
    /// Lines of the two scrapes that could not be parsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub bad_lines: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The change from `before` to `after`. Series missing from `after` are left
/// out. Types come from `after`'s `# TYPE` lines, else from `before`'s.
pub fn delta(before: &Snapshot, after: &Snapshot) -> ServerMetrics {
    let mut out = ServerMetrics {
        bad_lines: before.bad_lines + after.bad_lines,
        ..ServerMetrics::default()
    };
    for (key, &now) in &after.series {
        let name = metric_name(key);
        let (_, role) = match after.resolve(name) {
            (MetricType::Untyped, _) => before.resolve(name),
            known => known,
        };
        let then = before.get(key);
        match role {
            Role::Cumulative => {
                let then = then.unwrap_or(0.0);
                let d = if now < then {
                    out.reset.push(key.clone());
                    now
                } else {
                    now - then
                };
                if let Some(d) = finite(d) {
                    out.counters.insert(key.clone(), d);
                }
            }
            Role::Level => {
                out.gauges
                    .insert(key.clone(), (then.and_then(finite), finite(now)));
            }
        }
    }
    out
}

/// GET a `/metrics` URL and parse it. The error is short: the HTTP status,
/// a timeout, or why the connection failed.
pub async fn scrape(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Snapshot, String> {
    let resp = client
        .get(url)
        // Ask for the text format: some servers (prometheus_client) answer
        // OpenMetrics only when asked for it.
        .header(reqwest::header::ACCEPT, "text/plain; version=0.0.4")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| request_error(url, timeout, &e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {}", status.as_u16()));
    }
    let text = resp
        .text()
        .await
        .map_err(|e| request_error(url, timeout, &e))?;
    let snap = parse(&text);
    if snap.series.is_empty() && snap.bad_lines > 0 {
        return Err(format!(
            "GET {url}: not Prometheus text ({} lines not understood)",
            snap.bad_lines
        ));
    }
    Ok(snap)
}

fn request_error(url: &str, timeout: Duration, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("GET {url}: no answer within {timeout:?}");
    }
    // The innermost cause is the useful part ("Connection refused (os error 111)").
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if e.is_connect() {
        format!("GET {url}: cannot connect: {cause}")
    } else {
        format!("GET {url}: {cause}")
    }
}

/// What each server's metrics did over a point: the delta of every scrape
/// taken before it against the one after, or why there is none.
pub fn deltas(
    before: BTreeMap<String, Result<Snapshot, String>>,
    mut after: BTreeMap<String, Result<Snapshot, String>>,
) -> BTreeMap<String, Result<ServerMetrics, String>> {
    before
        .into_iter()
        .map(|(name, b)| {
            let d = match (b, after.remove(&name)) {
                (Ok(b), Some(Ok(a))) => Ok(delta(&b, &a)),
                (Err(e), _) | (_, Some(Err(e))) => Err(e),
                (_, None) => Err("not scraped after the point".into()),
            };
            (name, d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_pair_each_scrape_and_say_why_one_is_missing() {
        let before = parse("vllm:generation_tokens_total 10\n");
        let after = parse("vllm:generation_tokens_total 25\n");
        let d = deltas(
            [
                ("a".to_string(), Ok(before.clone())),
                ("b".to_string(), Err("refused".to_string())),
                ("c".to_string(), Ok(before.clone())),
            ]
            .into(),
            [
                ("a".to_string(), Ok(after.clone())),
                ("b".to_string(), Ok(after)),
            ]
            .into(),
        );
        assert_eq!(
            d["a"],
            Ok(delta(&before, &parse("vllm:generation_tokens_total 25\n")))
        );
        assert_eq!(d["b"], Err("refused".to_string()));
        assert_eq!(d["c"], Err("not scraped after the point".to_string()));
    }

    const BEFORE: &str = include_str!("testdata/llamacpp_metrics_before.txt");
    const AFTER: &str = include_str!("testdata/llamacpp_metrics_after.txt");

    #[test]
    fn help_type_comments_and_blank_lines() {
        let s = parse(
            "# HELP http_requests_total The total number of HTTP requests.\n\
             # TYPE http_requests_total counter\n\
             \n\
             # just a comment\n\
             #\n\
             http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
             http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
             \t\n\
             # TYPE temperature gauge\n\
             temperature -3.5\n",
        );
        assert_eq!(s.bad_lines, 0);
        assert_eq!(
            s.get("http_requests_total{code=\"200\",method=\"post\"}"),
            Some(1027.0)
        );
        assert_eq!(
            s.get("http_requests_total{code=\"400\",method=\"post\"}"),
            Some(3.0)
        );
        assert_eq!(s.get("temperature"), Some(-3.5));
        assert_eq!(s.type_of("http_requests_total"), MetricType::Counter);
        assert_eq!(s.type_of("temperature"), MetricType::Gauge);
        assert_eq!(s.type_of("nothing"), MetricType::Untyped);
    }

    #[test]
    fn names_with_colons_and_labels_sorted() {
        let s = parse(
            "# TYPE llamacpp:prompt_tokens_total counter\n\
             llamacpp:prompt_tokens_total 5\n\
             vllm:num_requests_running{model_name=\"m\",engine=\"0\"} 2\n\
             vllm:x{ b = \"2\" , a=\"1\", } 7\n\
             empty{} 1\n",
        );
        assert_eq!(s.bad_lines, 0);
        assert_eq!(s.get("llamacpp:prompt_tokens_total"), Some(5.0));
        assert_eq!(
            s.type_of("llamacpp:prompt_tokens_total"),
            MetricType::Counter
        );
        assert_eq!(
            s.get("vllm:num_requests_running{engine=\"0\",model_name=\"m\"}"),
            Some(2.0)
        );
        assert_eq!(s.get("vllm:x{a=\"1\",b=\"2\"}"), Some(7.0));
        assert_eq!(s.get("empty"), Some(1.0), "an empty label set is no labels");
    }

    #[test]
    fn escaped_label_values_round_trip_into_the_key() {
        let s = parse(
            "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
             odd{v=\"a\\qb,}{\"} 1\n",
        );
        assert_eq!(s.bad_lines, 0);
        assert_eq!(
            s.get(
                "msdos_file_access_time_seconds{error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\",path=\"C:\\\\DIR\\\\FILE.TXT\"}"
            ),
            Some(1.458255915e9)
        );
        // an unknown escape is kept; commas and braces inside quotes are text
        assert_eq!(s.get("odd{v=\"a\\\\qb,}{\"}"), Some(1.0));
        assert_eq!(
            metric_name("odd{v=\"a\\\\qb,}{\"}"),
            "odd",
            "the name ends at the first brace"
        );
    }

    #[test]
    fn special_values_exponents_and_timestamps() {
        let s = parse(
            "a NaN\nb +Inf\nc -Inf\nd 1.5e-3\ne -2E+2 1700000000000\nf 0x10\ng Infinity\nh 3 -5\ni 7 1.5\n",
        );
        assert!(s.get("a").unwrap().is_nan());
        assert_eq!(s.get("b"), Some(f64::INFINITY));
        assert_eq!(s.get("c"), Some(f64::NEG_INFINITY));
        assert_eq!(s.get("d"), Some(0.0015));
        assert_eq!(s.get("e"), Some(-200.0));
        assert_eq!(
            s.get("h"),
            Some(3.0),
            "negative timestamps are integers too"
        );
        // hex, "Infinity" and a fractional timestamp are not in the format
        assert_eq!(s.bad_lines, 3);
        assert!(s.get("f").is_none() && s.get("g").is_none() && s.get("i").is_none());
    }

    #[test]
    fn garbage_is_skipped_and_counted() {
        let garbage = [
            "no_value",
            "1starts_with_digit 3",
            "x{a=\"unterminated} 1",
            "x{a=unquoted} 1",
            "x{a=\"1\"",
            "x{a=\"1\" b=\"2\"} 1",
            "x{=\"1\"} 1",
            "x{1a=\"1\"} 1",
            "x{a=\"1\",a=\"2\"} 1",
            "x 1 2 3",
            "x abc",
            "x 1 notatimestamp",
            "x{a=\"\\",
            "{a=\"1\"} 1",
            "# TYPE",
            "# TYPE onlyname",
            "# TYPE x strange",
            "# TYPE x counter extra",
            "# TYPE 9bad counter",
            "\u{0}\u{1}\u{fffd}",
            "é 1",
        ];
        let text = garbage.join("\n") + "\ngood 1\n";
        let s = parse(&text);
        assert_eq!(s.bad_lines, garbage.len(), "{s:?}");
        assert_eq!(s.series.len(), 1);
        assert_eq!(s.get("good"), Some(1.0));
        assert!(s.types.is_empty());
        // every prefix of every line, and arbitrary bytes, never panic
        for g in &garbage {
            for (i, _) in g.char_indices() {
                let _ = parse(&g[..i]);
            }
        }
        let _ = parse(&String::from_utf8_lossy(&(0u8..=255).collect::<Vec<_>>()));
    }

    #[test]
    fn repeated_series_and_conflicting_types_are_bad_lines() {
        let s = parse(
            "# TYPE x counter\n# TYPE x gauge\n# TYPE x counter\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",
        );
        assert_eq!(s.bad_lines, 2);
        assert_eq!(s.type_of("x"), MetricType::Counter);
        assert_eq!(s.get("x{a=\"1\"}"), Some(1.0), "the first sample is kept");
    }

    const HIST_BEFORE: &str = "\
# HELP req_seconds Request latency.
# TYPE req_seconds histogram
req_seconds_bucket{le=\"0.1\"} 2
req_seconds_bucket{le=\"1\"} 5
req_seconds_bucket{le=\"+Inf\"} 6
req_seconds_sum 3.5
req_seconds_count 6
# TYPE rpc summary
rpc{quantile=\"0.5\"} 0.2
rpc{quantile=\"0.99\"} NaN
rpc_sum 10
rpc_count 40
# TYPE running gauge
running 3
# TYPE served counter
served{model=\"a\"} 100
# TYPE restarts counter
restarts 50
untyped_thing 9
# TYPE nan_gauge gauge
nan_gauge NaN
";

    const HIST_AFTER: &str = "\
# HELP req_seconds Request latency.
# TYPE req_seconds histogram
req_seconds_bucket{le=\"0.1\"} 4
req_seconds_bucket{le=\"1\"} 9
req_seconds_bucket{le=\"+Inf\"} 11
req_seconds_sum 7.25
req_seconds_count 11
# TYPE rpc summary
rpc{quantile=\"0.5\"} 0.3
rpc{quantile=\"0.99\"} 0.9
rpc_sum 12.5
rpc_count 45
# TYPE running gauge
running 0
# TYPE served counter
served{model=\"a\"} 130
served{model=\"b\"} 7
# TYPE restarts counter
restarts 4
untyped_thing 11
# TYPE nan_gauge gauge
nan_gauge NaN
# TYPE inf_counter counter
inf_counter +Inf
";

    #[test]
    fn histogram_and_summary_children_map_to_their_family() {
        let s = parse(HIST_BEFORE);
        assert_eq!(s.bad_lines, 0);
        for name in ["req_seconds_bucket", "req_seconds_sum", "req_seconds_count"] {
            assert_eq!(s.type_of(name), MetricType::Histogram, "{name}");
        }
        for name in ["rpc", "rpc_sum", "rpc_count"] {
            assert_eq!(s.type_of(name), MetricType::Summary, "{name}");
        }
        assert_eq!(s.type_of("rpc_bucket"), MetricType::Untyped);
        assert_eq!(s.type_of("running_count"), MetricType::Untyped);
        assert_eq!(s.get("req_seconds_bucket{le=\"+Inf\"}"), Some(6.0));
        // OpenMetrics-style: the family is named without _total
        let s = parse("# TYPE reqs counter\nreqs_total 4\n");
        assert_eq!(s.type_of("reqs_total"), MetricType::Counter);
    }

    #[test]
    fn delta_of_counters_histograms_summaries_and_gauges() {
        let m = delta(&parse(HIST_BEFORE), &parse(HIST_AFTER));
        let c = |k: &str| m.counters.get(k).copied();
        assert_eq!(c("req_seconds_bucket{le=\"0.1\"}"), Some(2.0));
        assert_eq!(c("req_seconds_bucket{le=\"1\"}"), Some(4.0));
        assert_eq!(c("req_seconds_bucket{le=\"+Inf\"}"), Some(5.0));
        assert_eq!(c("req_seconds_sum"), Some(3.75));
        assert_eq!(c("req_seconds_count"), Some(5.0));
        assert_eq!(c("rpc_sum"), Some(2.5));
        assert_eq!(c("rpc_count"), Some(5.0));
        assert_eq!(c("served{model=\"a\"}"), Some(30.0));
        assert_eq!(
            c("served{model=\"b\"}"),
            Some(7.0),
            "new series count from 0"
        );
        assert_eq!(c("restarts"), Some(4.0), "a counter that went down: after");
        assert_eq!(m.reset, vec!["restarts".to_string()]);
        assert_eq!(c("inf_counter"), None, "not finite: left out");
        assert_eq!(m.gauges["running"], (Some(3.0), Some(0.0)));
        assert_eq!(m.gauges["untyped_thing"], (Some(9.0), Some(11.0)));
        assert_eq!(m.gauges["rpc{quantile=\"0.5\"}"], (Some(0.2), Some(0.3)));
        assert_eq!(m.gauges["rpc{quantile=\"0.99\"}"], (None, Some(0.9)));
        assert_eq!(m.gauges["nan_gauge"], (None, None));
        assert!(!m.gauges.contains_key("served{model=\"a\"}"));
        assert_eq!(m.bad_lines, 0);

        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("NaN"), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["counters"]["served{model=\"a\"}"], 30.0);
        assert_eq!(v["gauges"]["running"], serde_json::json!([3.0, 0.0]));
        assert_eq!(v["gauges"]["nan_gauge"], serde_json::json!([null, null]));
        assert_eq!(v["reset"], serde_json::json!(["restarts"]));
        assert!(v.get("bad_lines").is_none());
        // stable order: BTreeMap keys are sorted
        let keys: Vec<&String> = v["counters"].as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn delta_takes_types_from_before_when_after_lost_them() {
        let before = parse("# TYPE x counter\nx 5\n");
        let after = parse("x 8\ny 1\n");
        let m = delta(&before, &after);
        assert_eq!(m.counters["x"], 3.0);
        assert_eq!(m.gauges["y"], (None, Some(1.0)));
        let m = delta(&Snapshot::default(), &Snapshot::default());
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"counters":{},"gauges":{}}"#
        );
    }

    /// Captured from llama.cpp's llama-server (build b1-0c1e570, started with
    /// `--metrics --ctx-size 512` on models/tiny-llama.gguf) after one chat
    /// completion (`before`) and after a second one (`after`).
    #[test]
    fn real_llama_server_metrics() {
        let before = parse(BEFORE);
        let after = parse(AFTER);
        assert_eq!(before.bad_lines, 0);
        assert_eq!(after.bad_lines, 0);
        assert_eq!(before.series.len(), 15);
        assert_eq!(
            before.type_of("llamacpp:tokens_predicted_total"),
            MetricType::Counter
        );
        assert_eq!(
            before.type_of("llamacpp:requests_processing"),
            MetricType::Gauge
        );
        let m = delta(&before, &after);
        // The second completion's response said "usage":{"completion_tokens":8,
        // "prompt_tokens":5,...} and "timings":{"cache_n":4,"prompt_n":1,...}.
        assert_eq!(m.counters["llamacpp:tokens_predicted_total"], 8.0);
        assert_eq!(m.counters["llamacpp:prompt_tokens_total"], 1.0);
        assert_eq!(m.counters["llamacpp:prompt_tokens_cached_total"], 4.0);
        assert!(m.reset.is_empty());
        assert_eq!(
            m.gauges["llamacpp:requests_processing"],
            (Some(0.0), Some(0.0))
        );
        let counters = m.counters.len();
        let gauges = m.gauges.len();
        assert_eq!((counters, gauges), (10, 5));
    }

    /// A one-shot HTTP server answering every connection with `response`;
    /// sends each request's head back through the returned channel.
    async fn serve(
        status: &str,
        body: &str,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        (url, rx)
    }

    #[tokio::test]
    async fn scrape_parses_and_reports_status_and_connection_errors() {
        let client = reqwest::Client::new();
        let t = Duration::from_secs(5);
        let (url, mut heads) = serve("200 OK", "# TYPE x counter\nx{a=\"1\"} 41\r\n\n").await;
        let snap = scrape(&client, &url, t).await.unwrap();
        assert_eq!(snap.get("x{a=\"1\"}"), Some(41.0));
        let head = heads.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("get /metrics "), "{head}");
        assert!(head.contains("accept: text/plain; version=0.0.4"), "{head}");

        let (url, _h) = serve("404 Not Found", "Not Found").await;
        let err = scrape(&client, &url, t).await.unwrap_err();
        assert_eq!(err, format!("GET {url}: HTTP 404"));

        let (url, _h) = serve("200 OK", "<html>hi</html>").await;
        let err = scrape(&client, &url, t).await.unwrap_err();
        assert!(err.contains("not Prometheus text"), "{err}");

        // a port nobody listens on
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/metrics");
        let err = scrape(&client, &url, t).await.unwrap_err();
        assert!(
            err.starts_with(&format!("GET {url}: cannot connect: ")),
            "{err}"
        );
        assert!(err.len() < 200, "{err}");
    }

    #[tokio::test]
    async fn scrape_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        // accepts (the kernel does) but never answers
        let err = scrape(&reqwest::Client::new(), &url, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err, format!("GET {url}: no answer within 200ms"));
        drop(listener);
    }
}
