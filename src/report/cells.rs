//! Text for report tables: numbers rounded for reading, `–` for what is
//! missing, p-values, percent changes, point lists (`p1–p3, p7`), UTC times, pressure
//! levels by name, and cells escaped for GitHub-flavoured Markdown tables.

/// What a cell shows when there is no value.
pub const MISSING: &str = "–";

/// A number rounded for reading: `0`, two decimals below 10, one below
/// 10 000, none above; `–` for `None` or a non-finite value.
pub fn num(v: Option<f64>) -> String {
    match v {
        None => MISSING.to_string(),
        Some(x) if !x.is_finite() => MISSING.to_string(),
        Some(0.0) => "0".to_string(),
        Some(x) if x.abs() < 10.0 => format!("{x:.2}"),
        Some(x) if x.abs() < 10_000.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.0}"),
    }
}

/// `p50 / p99` of a latency, each rounded by [`num`]; `–` when neither exists.
pub fn pair(a: Option<f64>, b: Option<f64>) -> String {
    if a.is_none() && b.is_none() {
        return MISSING.to_string();
    }
    format!("{} / {}", num(a), num(b))
}

/// A percent change with its sign and one decimal: `+5.4%`, `-6.0%`.
pub fn pct_change(v: f64) -> String {
    let v = if v.abs() < 0.05 { 0.0 } else { v };
    format!("{v:+.1}%")
}

/// A p-value for reading: `p = 0.034`, `p < 0.001`.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {:.3}", p.min(1.0))
    }
}

/// Point numbers as `p1–p3, p7` (consecutive numbers joined as ranges).
pub fn point_list(points: &[usize]) -> String {
    let mut sorted = points.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(match j - i {
            0 => format!("p{}", sorted[i]),
            1 => format!("p{}, p{}", sorted[i], sorted[j]),
            _ => format!("p{}–p{}", sorted[i], sorted[j]),
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// Epoch seconds as `2026-11-22 02:29:32 UTC`; `–` for 0 or out of range.
pub fn utc(ts: f64) -> String {
    if !ts.is_finite() || ts <= 0.0 {
        return MISSING.to_string();
    }
    chrono::DateTime::from_timestamp_millis((ts * 1000.0).round() as i64).map_or_else(
        || MISSING.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// A duration in seconds for reading: `42.1 s`, `3.5 min`, `1.2 h`.
pub fn duration(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// A memory pressure level by name: 1 normal, 2 warn, 4 critical.
pub fn pressure(level: Option<u8>) -> String {
    match level {
        None => MISSING.to_string(),
        Some(1) => "normal".to_string(),
        Some(2) => "warn".to_string(),
        Some(4) => "critical".to_string(),
        Some(n) => format!("level {n}"),
    }
}

/// Text made safe for one table cell: `|` escaped, line breaks as spaces.
pub fn escape(s: &str) -> String {
    s.replace('|', "\\|")
        .replace("\r\n", " ")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_by_size_and_missing_is_a_dash() {
        assert_eq!(num(None), "–");
        assert_eq!(num(Some(f64::NAN)), "–");
        assert_eq!(num(Some(0.0)), "0");
        assert_eq!(num(Some(1.5672)), "1.57");
        assert_eq!(num(Some(474.666)), "474.7");
        assert_eq!(num(Some(12_345.6)), "12346");
        assert_eq!(pair(Some(11.0079), Some(12.526)), "11.0 / 12.5");
        assert_eq!(pair(Some(3.0), None), "3.00 / –");
        assert_eq!(pair(None, None), "–");
    }

    #[test]
    fn changes_carry_their_sign() {
        assert_eq!(pct_change(5.44), "+5.4%");
        assert_eq!(pct_change(-6.0), "-6.0%");
        assert_eq!(pct_change(-0.01), "+0.0%");
    }

    #[test]
    fn p_values_read_with_three_decimals_or_as_a_bound() {
        assert_eq!(p_value(0.0456), "p = 0.046");
        assert_eq!(p_value(0.0004), "p < 0.001");
        assert_eq!(p_value(0.0), "p < 0.001");
        assert_eq!(p_value(1.0), "p = 1.000");
    }

    #[test]
    fn point_lists_join_consecutive_numbers() {
        assert_eq!(point_list(&[7, 1, 2, 3]), "p1–p3, p7");
        assert_eq!(point_list(&[3, 4]), "p3, p4");
        assert_eq!(point_list(&[5]), "p5");
        assert_eq!(point_list(&[]), "");
        assert_eq!(point_list(&[2, 2, 9, 10, 11, 12]), "p2, p9–p12");
    }

    #[test]
    fn times_durations_and_pressure_read_as_words() {
        assert_eq!(utc(1_795_314_572.678), "2026-11-22 02:29:32 UTC");
        assert_eq!(utc(0.0), "–");
        assert_eq!(duration(42.14), "42.1 s");
        assert_eq!(duration(210.0), "3.5 min");
        assert_eq!(duration(4320.0), "72.0 min");
        assert_eq!(duration(9000.0), "2.5 h");
        assert_eq!(pressure(Some(1)), "normal");
        assert_eq!(pressure(Some(2)), "warn");
        assert_eq!(pressure(Some(4)), "critical");
        assert_eq!(pressure(None), "–");
    }

    #[test]
    fn a_pipe_in_a_label_is_escaped_and_lines_are_joined() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("tail:\nline 2\r\nline 3"), "tail: line 2 line 3");
    }
}
