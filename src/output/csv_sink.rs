//! The results CSV: header written when the run starts, one row appended
//! and flushed as each point ends, so a crash never loses a finished point.
//! A resumed run appends to the same file under the same header.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::row::{Columns, PointRow, csv_header};

/// An open results CSV.
#[derive(Debug)]
pub struct CsvSink {
    path: PathBuf,
    columns: Columns,
    writer: csv::Writer<File>,
}

impl CsvSink {
    /// Create `path` and write the header.
    pub fn create(path: &Path, columns: &Columns) -> std::io::Result<CsvSink> {
        CsvSink::open(path, File::create(path)?, columns, true)
    }

    /// Open `path` to append rows (a resumed run); the header is written
    /// only when the file is empty. Check the existing header with
    /// [`header_differences`] first.
    pub fn append(path: &Path, columns: &Columns) -> std::io::Result<CsvSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let empty = file.metadata()?.len() == 0;
        CsvSink::open(path, file, columns, empty)
    }

    fn open(path: &Path, file: File, columns: &Columns, header: bool) -> std::io::Result<CsvSink> {
        let mut writer = csv::Writer::from_writer(file);
        if header {
            writer
                .write_record(csv_header(columns))
                .map_err(std::io::Error::other)?;
            writer.flush()?;
        }
        Ok(CsvSink {
            path: path.to_path_buf(),
            columns: columns.clone(),
            writer,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `row` and flush it to disk.
    pub fn write(&mut self, row: &PointRow) -> std::io::Result<()> {
        self.writer
            .write_record(row.csv_record(&self.columns))
            .map_err(std::io::Error::other)?;
        self.writer.flush()?;
        self.writer.get_ref().sync_data()
    }
}

/// The header of an existing CSV; `None` when the file is empty.
pub fn read_header(path: &Path) -> std::io::Result<Option<Vec<String>>> {
    if std::fs::metadata(path)?.len() == 0 {
        return Ok(None);
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(std::io::Error::other)?;
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
