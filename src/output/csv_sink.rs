//! The results CSV: created new (never over another run's file) with its
//! header when the run starts, one row appended whole (one `write(2)`) and
//! synced as each point ends, so a crash never loses a finished point nor
//! leaves half a row. A resumed run appends to the same file under the
//! same header.

use std::path::Path;

use super::row::{Columns, PointRow, csv_header};
use crate::durable::LineFile;

/// An open results CSV.
#[derive(Debug)]
pub struct CsvSink {
    file: LineFile,
    columns: Columns,
}

impl CsvSink {
    /// Create `path`, which must not exist yet (`AlreadyExists`: another
    /// run's file is never truncated), and write the header.
    pub fn create(path: &Path, columns: &Columns) -> std::io::Result<CsvSink> {
        CsvSink::open(LineFile::create_new(path)?, columns, true)
    }

    /// Open `path` to append rows (a resumed run); the header is written
    /// only when the file is empty. Check the existing header with
    /// [`header_differences`] first.
    pub fn append(path: &Path, columns: &Columns) -> std::io::Result<CsvSink> {
        let empty = !std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        CsvSink::open(LineFile::append(path)?, columns, empty)
    }

    fn open(file: LineFile, columns: &Columns, header: bool) -> std::io::Result<CsvSink> {
        let mut sink = CsvSink {
            file,
            columns: columns.clone(),
        };
        if header {
            sink.append_record(csv_header(columns))?;
        }
        Ok(sink)
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Append `row` in one write and sync it to disk.
    pub fn write(&mut self, row: &PointRow) -> std::io::Result<()> {
        self.append_record(row.csv_record(&self.columns))
    }

    /// Format `record` in memory, then append it whole: the file only ever
    /// gets complete records.
    fn append_record<I, F>(&mut self, record: I) -> std::io::Result<()>
    where
        I: IntoIterator<Item = F>,
        F: AsRef<[u8]>,
    {
        let mut bytes = Vec::new();
        {
            let mut w = csv::Writer::from_writer(&mut bytes);
            w.write_record(record).map_err(std::io::Error::other)?;
            w.flush()?;
        }
        self.file.append_synced(&bytes)
    }
}

/// The header of an existing CSV; `None` when the file is empty.
pub fn read_header(path: &Path) -> std::io::Result<Option<Vec<String>>> {
    header_of(&std::fs::read(path)?)
}

/// The header of CSV text `data`; `None` when it is empty.
pub fn header_of(data: &[u8]) -> std::io::Result<Option<Vec<String>>> {
    if data.is_empty() {
        return Ok(None);
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut rec = csv::StringRecord::new();
    if !r.read_record(&mut rec).map_err(std::io::Error::other)? {
        return Ok(None);
    }
    Ok(Some(rec.iter().map(String::from).collect()))
}

/// How header `found` differs from `wanted`: the columns only one of them
/// has, or where their order parts; empty when they are equal.
pub fn header_differences(found: &[String], wanted: &[String]) -> Vec<String> {
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter()
            .filter(|c| !b.contains(c))
            .map(|c| format!("`{c}`"))
            .collect()
    };
    let mut out = Vec::new();
    let (gone, new) = (only(found, wanted), only(wanted, found));
    if !gone.is_empty() {
        out.push(format!("only in the file: {}", gone.join(", ")));
    }
    if !new.is_empty() {
        out.push(format!("only in this run: {}", new.join(", ")));
    }
    if out.is_empty()
        && let Some(i) = found.iter().zip(wanted).position(|(a, b)| a != b)
    {
        out.push(format!(
            "column {} is `{}` in the file, `{}` in this run",
            i + 1,
            found[i],
            wanted[i]
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    #[test]
    fn header_differences_name_the_columns() {
        assert!(header_differences(&cols("a,b,c"), &cols("a,b,c")).is_empty());
        assert_eq!(
            header_differences(&cols("a,b,x"), &cols("a,b,c,d")),
            ["only in the file: `x`", "only in this run: `c`, `d`"]
        );
        assert_eq!(
            header_differences(&cols("a,c,b"), &cols("a,b,c")),
            ["column 2 is `c` in the file, `b` in this run"]
        );
    }

    #[test]
    fn create_refuses_an_existing_file_and_leaves_it_as_it_was() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.csv");
        std::fs::write(&p, "another run's rows\n").unwrap();
        let e = CsvSink::create(&p, &Columns::default()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "another run's rows\n");
    }

    #[test]
    fn append_writes_the_header_only_into_an_empty_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.csv");
        let columns = Columns::default();
        CsvSink::create(&p, &columns).unwrap();
        let header = std::fs::read_to_string(&p).unwrap();
        assert_eq!(read_header(&p).unwrap().unwrap(), csv_header(&columns));
        drop(CsvSink::append(&p, &columns).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), header);
        std::fs::write(&p, "").unwrap();
        assert_eq!(read_header(&p).unwrap(), None);
        drop(CsvSink::append(&p, &columns).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), header);
    }
}
