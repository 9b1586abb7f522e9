//! The results CSV: header written when the run starts, one row appended
//! and flushed as each point ends, so a crash never loses a finished point.

use std::fs::File;
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
        let file = File::create(path)?;
        let mut writer = csv::Writer::from_writer(file);
        writer
            .write_record(csv_header(columns))
            .map_err(std::io::Error::other)?;
        writer.flush()?;
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
