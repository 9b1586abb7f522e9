//! `mlxrun analyze`: rank the rows of a benchmark sweep CSV by one field and
//! print them as an aligned text table.
//!
//! This is the Rust port of the old `analyze-data.py` helper:
//!
//! ```text
//! mlxrun analyze results/<scenario>/sweep.csv --field throughput_tps --order desc --count 10
//! ```
//!
//! Behaviour:
//!
//! * the file is read once; rows shorter than the header are padded with
//!   empty cells, extra cells beyond the header are ignored;
//! * rows of single repeats (`row_kind` = `repeat`, or without that column
//!   a non-empty `repeat` cell) are left out: a point measured several
//!   times is ranked by its combined row;
//! * with a `point` column, only the last row of each point number is
//!   kept (a resumed run appends a re-measured point after its
//!   interrupted row);
//! * rows are sorted by `field`: cells that parse as a number (`f64`, NaN
//!   excluded) sort numerically in the requested order, every other cell
//!   (`"default"`, `""`, `"NaN"`, ...) sorts *last* whatever the order, and
//!   ties keep file order (the sort is stable);
//! * `count` limits the printed rows (`0` prints all of them);
//! * `columns` selects and orders the printed columns (empty = all);
//! * column widths come from the header and every printed row; numbers are
//!   right-aligned, text is left-aligned, columns are joined by ` | ` under a
//!   header and a `-+-` rule, and no line has trailing spaces.

use std::cmp::Ordering;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Direction in which the sort field is ordered, and the values of
/// `mlxrun analyze --order`: `Asc` puts the smallest value first, `Desc`
/// (the default of the original tool) the largest.
///
/// Non-numeric cells always come last, whichever direction is chosen.
// The variants carry no `///` comments on purpose: clap would print them
// as per-value help and change `mlxrun analyze --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortOrder {
    // smallest value first
    Asc,
    // largest value first
    Desc,
}

/// What to analyze and how to present it.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// CSV file written by a benchmark run (e.g. under `results/<scenario>/`).
    pub file: std::path::PathBuf,
    /// Header name of the column to sort by (e.g. `throughput_tps`).
    pub field: String,
    /// Sort direction.
    pub order: SortOrder,
    /// Maximum number of rows to print; `0` prints every row.
    pub count: usize,
    /// Only these columns in the output (in this order); empty = all columns.
    pub columns: Vec<String>,
}

/// Everything that can go wrong while analyzing a CSV.
///
/// Each message says what happened and what to do next.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The CSV file does not exist.
    #[error(
        "file '{}' not found; pass the CSV a run wrote under results/<scenario>/",
        .path.display()
    )]
    NotFound {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// The file exists but could not be opened or read.
    #[error(
        "cannot read '{}': {error}; check that the path is a readable CSV file",
        .path.display()
    )]
    Read {
        /// The file being read.
        path: PathBuf,
        /// The underlying I/O error.
        error: io::Error,
    },
    /// The file has no header line at all.
    #[error(
        "'{}' is empty (no header); pass the CSV a completed run wrote under results/<scenario>/, \
         or re-run the sweep to regenerate it",
        .path.display()
    )]
    Empty {
        /// The empty file.
        path: PathBuf,
    },
    /// The file has a header but not a single data row.
    #[error(
        "'{}' has a header but no rows; the run recorded no results, check its log and re-run the sweep",
        .path.display()
    )]
    NoRows {
        /// The header-only file.
        path: PathBuf,
    },
    /// The CSV could not be parsed (for example a cell that is not valid UTF-8).
    #[error("{}", parse_message(.path, *.line, .message))]
    Parse {
        /// The file being parsed.
        path: PathBuf,
        /// 1-based line where the offending record starts, when known.
        line: Option<u64>,
        /// What is wrong with it.
        message: String,
    },
    /// The sort field is not a column of the CSV.
    #[error(
        "{}",
        unknown_message("field", .field, .file.as_deref(), .suggestion.as_deref(), .fields)
    )]
    UnknownField {
        /// The requested sort field.
        field: String,
        /// The CSV file, when the table came from a file.
        file: Option<PathBuf>,
        /// Closest existing column name, when one is close enough.
        suggestion: Option<String>,
        /// Every column of the CSV, in file order.
        fields: Vec<String>,
    },
    /// A column requested for output is not a column of the CSV.
    #[error(
        "{}",
        unknown_message("column", .column, .file.as_deref(), .suggestion.as_deref(), .fields)
    )]
    UnknownColumn {
        /// The requested output column.
        column: String,
        /// The CSV file, when the table came from a file.
        file: Option<PathBuf>,
        /// Closest existing column name, when one is close enough.
        suggestion: Option<String>,
        /// Every column of the CSV, in file order.
        fields: Vec<String>,
    },
}

impl AnalyzeError {
    /// Attaches the CSV path to errors produced from parsed data.
    fn in_file(mut self, path: &Path) -> Self {
        match &mut self {
            Self::UnknownField { file, .. } | Self::UnknownColumn { file, .. } => {
                *file = Some(path.to_path_buf());
            }
            _ => {}
        }
        self
    }
}

fn parse_message(path: &Path, line: Option<u64>, message: &str) -> String {
    match line {
        Some(line) => format!(
            "cannot parse '{}' at line {line}: {message}; fix or remove that line and try again",
            path.display()
        ),
        None => format!(
            "cannot parse '{}': {message}; check that it is a UTF-8 CSV file written by a run",
            path.display()
        ),
    }
}

fn unknown_message(
    kind: &str,
    name: &str,
    file: Option<&Path>,
    suggestion: Option<&str>,
    fields: &[String],
) -> String {
    let mut msg = format!("{kind} '{name}' does not exist");
    if let Some(file) = file {
        msg.push_str(&format!(" in '{}'", file.display()));
    }
    msg.push(';');
    if let Some(suggestion) = suggestion {
        msg.push_str(&format!(" did you mean '{suggestion}'?"));
    }
    if fields.is_empty() {
        msg.push_str(" the CSV has no fields");
    } else {
        msg.push_str(" fields: ");
        msg.push_str(&fields.join(", "));
    }
    msg
}

/// Reads the CSV and returns the rendered table (ending with '\n').
///
/// The file is read once. The sort field and output columns are checked
/// against the header before any row is read.
pub fn analyze(opts: &AnalyzeOptions) -> Result<String, AnalyzeError> {
    let path = opts.file.as_path();
    let file = File::open(path).map_err(|error| {
        if error.kind() == io::ErrorKind::NotFound {
            AnalyzeError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            AnalyzeError::Read {
                path: path.to_path_buf(),
                error,
            }
        }
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(io::BufReader::new(file));

    let header: Vec<String> = reader
        .headers()
        .map_err(|err| csv_error(path, err))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.iter().all(|name| name.trim().is_empty()) {
        return Err(AnalyzeError::Empty {
            path: path.to_path_buf(),
        });
    }
    let selection =
        Selection::resolve(&header, &opts.field, &opts.columns).map_err(|e| e.in_file(path))?;

    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => rows.push(record.iter().map(str::to_owned).collect()),
            Ok(false) => break,
            Err(err) => return Err(csv_error(path, err)),
        }
    }
    let rows = last_per_point(&header, rows);
    if rows.is_empty() {
        return Err(AnalyzeError::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(render(&header, &rows, &selection, opts.order, opts.count))
}

/// Pure rendering from parsed data, for tests: header + rows (cells as strings).
///
/// `opts_field` is the sort field, `count` the row limit (`0` = all) and
/// `columns` the output columns (empty = all). Fails when the field or a
/// column is not in `header`.
pub fn render_table(
    header: &[String],
    rows: &[Vec<String>],
    opts_field: &str,
    order: SortOrder,
    count: usize,
    columns: &[String],
) -> Result<String, AnalyzeError> {
    let selection = Selection::resolve(header, opts_field, columns)?;
    Ok(render(header, rows, &selection, order, count))
}

/// `rows` without the rows of single repeats, and with only the last row
/// of each value of the `point` column (in file order); all the point
/// rows when there is no such column.
pub fn last_per_point(header: &[String], rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let rows: Vec<Vec<String>> = match (column("row_kind"), column("repeat")) {
        (Some(kind), _) => rows
            .into_iter()
            .filter(|r| cell(r, kind).trim() != "repeat")
            .collect(),
        (None, Some(repeat)) => rows
            .into_iter()
            .filter(|r| cell(r, repeat).trim().is_empty())
            .collect(),
        (None, None) => rows,
    };
    let Some(col) = column("point") else {
        return rows;
    };
    let mut last = std::collections::HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        last.insert(cell(row, col).trim().to_owned(), i);
    }
    rows.into_iter()
        .enumerate()
        .filter(|(i, row)| last.get(cell(row, col).trim()) == Some(i))
        .map(|(_, row)| row)
        .collect()
}

/// Turns a csv error into an [`AnalyzeError`] naming the file and line.
fn csv_error(path: &Path, err: csv::Error) -> AnalyzeError {
    let line = err.position().map(csv::Position::line);
    let message = match err.kind() {
        csv::ErrorKind::Utf8 { err: utf8, .. } => {
            format!("field {} is not valid UTF-8", utf8.field() + 1)
        }
        _ => err.to_string(),
    };
    match err.into_kind() {
        csv::ErrorKind::Io(error) => AnalyzeError::Read {
            path: path.to_path_buf(),
            error,
        },
        _ => AnalyzeError::Parse {
            path: path.to_path_buf(),
            line,
            message,
        },
    }
}

/// The sort column and the printed columns, as indices into the header.
struct Selection {
    /// Index of the sort field.
    sort: usize,
    /// Indices of the printed columns, in output order.
    columns: Vec<usize>,
}

impl Selection {
    fn resolve(header: &[String], field: &str, columns: &[String]) -> Result<Self, AnalyzeError> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name.trim());
        let sort = find(field).ok_or_else(|| AnalyzeError::UnknownField {
            field: field.to_owned(),
            file: None,
            suggestion: suggest(field, header),
            fields: header.to_vec(),
        })?;
        let columns = if columns.is_empty() {
            (0..header.len()).collect()
        } else {
            columns
                .iter()
                .map(|column| {
                    find(column).ok_or_else(|| AnalyzeError::UnknownColumn {
                        column: column.clone(),
                        file: None,
                        suggestion: suggest(column, header),
                        fields: header.to_vec(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(Self { sort, columns })
    }
}

/// The closest header name to `name`, if any is close enough to be a likely typo.
fn suggest(name: &str, candidates: &[String]) -> Option<String> {
    let needle = name.trim().to_lowercase();
    if needle.is_empty() {
        return None;
    }
    let mut best: Option<(f64, &String)> = None;
    for candidate in candidates {
        let hay = candidate.trim().to_lowercase();
        if hay.is_empty() {
            continue;
        }
        let similarity = strsim::jaro_winkler(&needle, &hay);
        let contains = (needle.len() >= 3 && hay.contains(&needle))
            || (hay.len() >= 3 && needle.contains(&hay));
        if similarity < 0.8 && !contains {
            continue;
        }
        let score = similarity + if contains { 1.0 } else { 0.0 };
        if best.is_none_or(|(top, _)| score > top) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate.clone())
}

/// Numeric value of a cell, as the original tool's `float()` would see it.
fn number(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok()
}

/// Sort key: a comparable number, or `None` for cells that sort last.
fn sort_key(cell: &str) -> Option<f64> {
    number(cell).filter(|value| !value.is_nan())
}

fn compare(a: Option<f64>, b: Option<f64>, order: SortOrder) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => {
            let ord = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            match order {
                SortOrder::Asc => ord,
                SortOrder::Desc => ord.reverse(),
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// A cell as printed: control characters escaped so one row stays one line.
fn display_text(cell: &str) -> String {
    let cell = cell.trim();
    if cell.chars().any(char::is_control) {
        cell.chars().flat_map(char::escape_default).collect()
    } else {
        cell.to_owned()
    }
}

fn pad(out: &mut String, text: &str, width: usize, right: bool) {
    let fill = width.saturating_sub(text.chars().count());
    if right {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(text);
    } else {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', fill));
    }
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Cell `index` of `row`; missing cells of a short row read as empty.
fn cell(row: &[String], index: usize) -> &str {
    row.get(index).map_or("", String::as_str)
}

fn render(
    header: &[String],
    rows: &[Vec<String>],
    selection: &Selection,
    order: SortOrder,
    count: usize,
) -> String {
    let mut ranked: Vec<(Option<f64>, &[String])> = rows
        .iter()
        .map(|row| (sort_key(cell(row, selection.sort)), row.as_slice()))
        .collect();
    ranked.sort_by(|a, b| compare(a.0, b.0, order));
    let limit = if count == 0 {
        ranked.len()
    } else {
        count.min(ranked.len())
    };

    // (text, is_number) for every printed cell.
    let table: Vec<Vec<(String, bool)>> = ranked[..limit]
        .iter()
        .map(|(_, row)| {
            selection
                .columns
                .iter()
                .map(|&index| {
                    let raw = cell(row, index);
                    (display_text(raw), number(raw).is_some())
                })
                .collect()
        })
        .collect();
    let titles: Vec<String> = selection
        .columns
        .iter()
        .map(|&index| display_text(cell(header, index)))
        .collect();

    let mut widths: Vec<usize> = titles.iter().map(|t| t.chars().count()).collect();
    // A column is numeric when every non-empty printed cell is a number;
    // its header is then right-aligned too.
    let mut numeric = vec![false; titles.len()];
    for (col, width) in widths.iter_mut().enumerate() {
        let mut any_number = false;
        let mut all_numbers = true;
        for row in &table {
            let (text, is_number) = &row[col];
            *width = (*width).max(text.chars().count());
            if !text.is_empty() {
                any_number |= *is_number;
                all_numbers &= *is_number;
            }
        }
        numeric[col] = any_number && all_numbers;
    }

    let mut out = String::new();
    let mut line = String::new();
    for (col, title) in titles.iter().enumerate() {
        if col > 0 {
            line.push_str(" | ");
        }
        pad(&mut line, title, widths[col], numeric[col]);
    }
    push_line(&mut out, &line);

    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    push_line(&mut out, &rule.join("-+-"));

    for row in &table {
        line.clear();
        for (col, (text, is_number)) in row.iter().enumerate() {
            if col > 0 {
                line.push_str(" | ");
            }
            pad(&mut line, text, widths[col], *is_number);
        }
        push_line(&mut out, &line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

    const HEADER: &str = "instances,decode_concurrency,prompt_concurrency,concurrency,\
                          throughput_tps,total_tokens,elapsed_s,errors,model,status";

    /// A small full sweep; the last row failed and has no throughput.
    fn sweep_csv() -> String {
        format!(
            "{HEADER}\n\
             1,1,1,1,41.5,4150,100.0,0,qwen3-8b,ok\n\
             1,4,1,4,120.25,12025,100.0,0,qwen3-8b,ok\n\
             2,4,2,8,233.9,23390,100.0,0,qwen3-8b,ok\n\
             2,8,2,16,198,19800,100.0,2,qwen3-8b,degraded\n\
             4,8,4,32,,0,100.0,32,qwen3-8b,failed\n"
        )
    }

    /// A uniquely named directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir().join(format!(
                "mlxrun-analyze-test-{}-{}-{nanos}",
                std::process::id(),
                NEXT.fetch_add(1, AtomicOrdering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            Self(dir)
        }

        fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).expect("write temp file");
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn opts(file: PathBuf, field: &str, order: SortOrder, count: usize) -> AnalyzeOptions {
        AnalyzeOptions {
            file,
            field: field.to_owned(),
            order,
            count,
            columns: Vec::new(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn parse(csv_text: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let mut lines = csv_text.lines();
        let header = lines
            .next()
            .map_or_else(Vec::new, |h| strings(&h.split(',').collect::<Vec<_>>()));
        let rows = lines
            .map(|l| strings(&l.split(',').collect::<Vec<_>>()))
            .collect();
        (header, rows)
    }

    #[test]
    fn full_sweep_desc_all_columns() {
        let dir = TempDir::new();
        let file = dir.write("sweep.csv", sweep_csv());
        let table = analyze(&opts(file, "throughput_tps", SortOrder::Desc, 0)).expect("analyze");
        let expected = concat!(
            "instances | decode_concurrency | prompt_concurrency | concurrency | throughput_tps | total_tokens | elapsed_s | errors | model    | status\n",
            "----------+--------------------+--------------------+-------------+----------------+--------------+-----------+--------+----------+---------\n",
            "        2 |                  4 |                  2 |           8 |          233.9 |        23390 |     100.0 |      0 | qwen3-8b | ok\n",
            "        2 |                  8 |                  2 |          16 |            198 |        19800 |     100.0 |      2 | qwen3-8b | degraded\n",
            "        1 |                  4 |                  1 |           4 |         120.25 |        12025 |     100.0 |      0 | qwen3-8b | ok\n",
            "        1 |                  1 |                  1 |           1 |           41.5 |         4150 |     100.0 |      0 | qwen3-8b | ok\n",
            "        4 |                  8 |                  4 |          32 |                |            0 |     100.0 |     32 | qwen3-8b | failed\n",
        );
        assert_eq!(table, expected);
        assert!(table.lines().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn asc_with_columns() {
        let dir = TempDir::new();
        let file = dir.write("sweep.csv", sweep_csv());
        let mut o = opts(file, "throughput_tps", SortOrder::Asc, 0);
        o.columns = strings(&["concurrency", "throughput_tps", "status"]);
        let expected = concat!(
            "concurrency | throughput_tps | status\n",
            "------------+----------------+---------\n",
            "          1 |           41.5 | ok\n",
            "          4 |         120.25 | ok\n",
            "         16 |            198 | degraded\n",
            "          8 |          233.9 | ok\n",
            "         32 |                | failed\n",
        );
        assert_eq!(analyze(&o).expect("analyze"), expected);
    }

    #[test]
    fn count_limits_rows_and_widths_follow_printed_rows() {
        let (header, rows) = parse(&sweep_csv());
        let columns = strings(&["status", "total_tokens", "throughput_tps"]);
        let table = render_table(
            &header,
            &rows,
            "throughput_tps",
            SortOrder::Desc,
            2,
            &columns,
        )
        .expect("render");
        let expected = concat!(
            "status   | total_tokens | throughput_tps\n",
            "---------+--------------+---------------\n",
            "ok       |        23390 |          233.9\n",
            "degraded |        19800 |            198\n",
        );
        assert_eq!(table, expected);

        let table = render_table(
            &header,
            &rows,
            "throughput_tps",
            SortOrder::Asc,
            1,
            &columns,
        )
        .expect("render");
        let expected = concat!(
            "status | total_tokens | throughput_tps\n",
            "-------+--------------+---------------\n",
            "ok     |         4150 |           41.5\n",
        );
        assert_eq!(table, expected);
    }

    #[test]
    fn count_larger_than_rows_or_zero_prints_all() {
        let (header, rows) = parse(&sweep_csv());
        let columns = strings(&["errors"]);
        let all =
            render_table(&header, &rows, "errors", SortOrder::Desc, 0, &columns).expect("render");
        let many =
            render_table(&header, &rows, "errors", SortOrder::Desc, 99, &columns).expect("render");
        assert_eq!(all, many);
        assert_eq!(
            all,
            "errors\n------\n    32\n     2\n     0\n     0\n     0\n"
        );
    }

    #[test]
    fn non_numeric_cells_sort_last_in_both_orders() {
        let header = strings(&["name", "value"]);
        let rows = vec![
            strings(&["a", "default"]),
            strings(&["b", "10"]),
            strings(&["c", ""]),
            strings(&["d", "-2.5"]),
            strings(&["e", "NaN"]),
            strings(&["f", "1e2"]),
        ];
        let columns = Vec::new();
        let desc =
            render_table(&header, &rows, "value", SortOrder::Desc, 0, &columns).expect("render");
        assert_eq!(
            desc,
            concat!(
                "name | value\n",
                "-----+--------\n",
                "f    |     1e2\n",
                "b    |      10\n",
                "d    |    -2.5\n",
                "a    | default\n",
                "c    |\n",
                "e    |     NaN\n",
            )
        );
        let asc =
            render_table(&header, &rows, "value", SortOrder::Asc, 0, &columns).expect("render");
        assert_eq!(
            asc,
            concat!(
                "name | value\n",
                "-----+--------\n",
                "d    |    -2.5\n",
                "b    |      10\n",
                "f    |     1e2\n",
                "a    | default\n",
                "c    |\n",
                "e    |     NaN\n",
            )
        );
    }

    #[test]
    fn ties_keep_file_order_in_both_orders() {
        let header = strings(&["id", "score"]);
        let rows = vec![
            strings(&["first", "1"]),
            strings(&["second", "2"]),
            strings(&["third", "1.0"]),
        ];
        let id = strings(&["id"]);
        let desc = render_table(&header, &rows, "score", SortOrder::Desc, 0, &id).expect("render");
        assert_eq!(desc, "id\n------\nsecond\nfirst\nthird\n");
        let asc = render_table(&header, &rows, "score", SortOrder::Asc, 0, &id).expect("render");
        assert_eq!(asc, "id\n------\nfirst\nthird\nsecond\n");
    }

    #[test]
    fn unknown_field_lists_fields_with_did_you_mean() {
        let dir = TempDir::new();
        let file = dir.write("sweep.csv", sweep_csv());
        let err =
            analyze(&opts(file.clone(), "thruput", SortOrder::Desc, 5)).expect_err("unknown field");
        assert!(matches!(
            &err,
            AnalyzeError::UnknownField { suggestion: Some(s), .. } if s == "throughput_tps"
        ));
        assert_eq!(
            err.to_string(),
            format!(
                "field 'thruput' does not exist in '{}'; did you mean 'throughput_tps'? fields: \
                 instances, decode_concurrency, prompt_concurrency, concurrency, throughput_tps, \
                 total_tokens, elapsed_s, errors, model, status",
                file.display()
            )
        );
    }

    #[test]
    fn unknown_field_far_from_everything_has_no_suggestion() {
        let (header, rows) = parse(&sweep_csv());
        let err =
            render_table(&header, &rows, "zzz", SortOrder::Desc, 5, &[]).expect_err("unknown");
        let msg = err.to_string();
        assert!(
            msg.starts_with("field 'zzz' does not exist; fields: instances, "),
            "{msg}"
        );
        assert!(!msg.contains("did you mean"), "{msg}");
        // A prefix of a real field is suggested.
        let err = render_table(&header, &rows, "Throughput", SortOrder::Desc, 5, &[])
            .expect_err("unknown");
        assert!(
            err.to_string().contains("did you mean 'throughput_tps'?"),
            "{err}"
        );
    }

    #[test]
    fn unknown_output_column_is_reported() {
        let dir = TempDir::new();
        let file = dir.write("sweep.csv", sweep_csv());
        let mut o = opts(file.clone(), "throughput_tps", SortOrder::Desc, 5);
        o.columns = strings(&["throughput_tps", "statsu"]);
        let err = analyze(&o).expect_err("unknown column");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "column 'statsu' does not exist in '{}'; did you mean 'status'? fields: instances,",
                file.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn missing_file() {
        let dir = TempDir::new();
        let file = dir.0.join("nope.csv");
        let err = analyze(&opts(file.clone(), "throughput_tps", SortOrder::Desc, 5))
            .expect_err("missing");
        assert!(matches!(err, AnalyzeError::NotFound { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "file '{}' not found; pass the CSV a run wrote under results/<scenario>/",
                file.display()
            )
        );
    }

    #[test]
    fn empty_file() {
        let dir = TempDir::new();
        for (name, contents) in [("empty.csv", ""), ("blank.csv", "\n\n")] {
            let file = dir.write(name, contents);
            let err = analyze(&opts(file.clone(), "throughput_tps", SortOrder::Desc, 5))
                .expect_err("empty");
            assert!(matches!(err, AnalyzeError::Empty { .. }), "{name}: {err:?}");
            assert!(
                err.to_string()
                    .starts_with(&format!("'{}' is empty (no header); ", file.display())),
                "{err}"
            );
        }
    }

    #[test]
    fn header_only_file() {
        let dir = TempDir::new();
        let file = dir.write("header.csv", format!("{HEADER}\n"));
        let err = analyze(&opts(file.clone(), "throughput_tps", SortOrder::Desc, 5))
            .expect_err("no rows");
        assert!(matches!(err, AnalyzeError::NoRows { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("'{}' has a header but no rows; ", file.display())),
            "{err}"
        );
    }

    #[test]
    fn ragged_rows_are_padded_and_extra_cells_ignored() {
        let dir = TempDir::new();
        let file = dir.write(
            "ragged.csv",
            "concurrency,throughput_tps,status\n4,120.5,ok\n8\n16,300,ok,extra\n",
        );
        let table = analyze(&opts(file, "throughput_tps", SortOrder::Desc, 0)).expect("analyze");
        assert_eq!(
            table,
            concat!(
                "concurrency | throughput_tps | status\n",
                "------------+----------------+-------\n",
                "         16 |            300 | ok\n",
                "          4 |          120.5 | ok\n",
                "          8 |                |\n",
            )
        );
    }

    #[test]
    fn invalid_utf8_is_a_parse_error_with_line_number() {
        let dir = TempDir::new();
        let file = dir.write(
            "bad.csv",
            b"concurrency,throughput_tps\n1,10\n2,\xff\xfe\n".as_slice(),
        );
        let err = analyze(&opts(file.clone(), "throughput_tps", SortOrder::Desc, 0))
            .expect_err("bad utf8");
        assert!(
            matches!(err, AnalyzeError::Parse { line: Some(3), .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cannot parse '{}' at line 3: field 2 is not valid UTF-8; fix or remove that line and try again",
                file.display()
            )
        );
    }

    #[test]
    fn quoted_cells_with_newlines_stay_on_one_line() {
        let dir = TempDir::new();
        let file = dir.write("quoted.csv", "model,tps\n\"a\nb\",5\n\"c, d\",7\n");
        let table = analyze(&opts(file, "tps", SortOrder::Desc, 0)).expect("analyze");
        assert_eq!(
            table,
            concat!(
                "model | tps\n",
                "------+----\n",
                "c, d  |   7\n",
                "a\\nb  |   5\n",
            )
        );
    }

    #[test]
    fn repeat_rows_are_left_out_and_the_combined_point_row_ranks() {
        let dir = TempDir::new();
        let file = dir.write(
            "repeats.csv",
            "tps,point,row_kind,repeat\n50,1,repeat,1\n70,1,repeat,2\n60,1,point,\n40,2,point,\n",
        );
        let table = analyze(&opts(file, "tps", SortOrder::Desc, 0)).expect("analyze");
        assert_eq!(
            table,
            concat!(
                "tps | point | row_kind | repeat\n",
                "----+-------+----------+-------\n",
                " 60 |     1 | point    |\n",
                " 40 |     2 | point    |\n",
            )
        );
        // without a row_kind column, a filled repeat cell marks a repeat row
        let file = dir.write("r2.csv", "tps,point,repeat\n70,1,2\n60,1,\n");
        let table = analyze(&opts(file, "tps", SortOrder::Desc, 0)).expect("analyze");
        assert!(!table.contains("70"), "{table}");
    }

    #[test]
    fn a_resumed_csv_shows_the_last_row_of_each_point() {
        let dir = TempDir::new();
        let file = dir.write(
            "resumed.csv",
            "tps,status,point\n10,ok,1\n3,interrupted,2\n12,ok,2\n9,ok,3\n",
        );
        let table = analyze(&opts(file, "tps", SortOrder::Desc, 0)).expect("analyze");
        assert_eq!(
            table,
            concat!(
                "tps | status | point\n",
                "----+--------+------\n",
                " 12 | ok     |     2\n",
                " 10 | ok     |     1\n",
                "  9 | ok     |     3\n",
            )
        );
    }
}
