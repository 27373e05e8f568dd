//! Per-row reports (CSV or JSONL, chosen by extension) written as the work proceeds.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The columns of a validate report, in order.
pub const VALIDATE_COLUMNS: [&str; 8] = [
    "line", "row", "userID", "userName", "action", "outcome", "codes", "message",
];
/// The extra columns of an import report.
pub const IMPORT_EXTRA_COLUMNS: [&str; 2] = ["httpStatus", "requestId"];

/// One report row. Borrowed, so that writing one costs no allocation.
#[derive(Debug, Default, Serialize)]
pub struct ReportRow<'a> {
    /// Physical line where the record starts (`None` for a file-level row without one).
    pub line: Option<u64>,
    /// Data row number, 1 = first data row; `None` for file-level rows.
    pub row: Option<u64>,
    #[serde(rename = "userID")]
    pub user_id: &'a str,
    #[serde(rename = "userName")]
    pub user_name: &'a str,
    pub action: &'a str,
    pub outcome: &'a str,
    pub codes: &'a str,
    pub message: &'a str,
    #[serde(rename = "httpStatus", skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    Validate,
    Import,
}

enum Sink {
    Csv(Box<csv::Writer<BufWriter<File>>>),
    Jsonl(BufWriter<File>),
}

/// A report file being written.
pub struct ReportWriter {
    sink: Sink,
    kind: ReportKind,
    path: PathBuf,
    buf: String,
}

fn io_context(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl ReportWriter {
    /// Creates (truncates) the report; `.jsonl`/`.ndjson` is JSON Lines, anything else CSV.
    pub fn create(path: &Path, kind: ReportKind) -> io::Result<ReportWriter> {
        let file = File::create(path).map_err(|e| io_context(path, e))?;
        let lower = path.to_string_lossy().to_ascii_lowercase();
        let sink = if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Sink::Jsonl(BufWriter::with_capacity(1 << 16, file))
        } else {
            let mut w = csv::WriterBuilder::new()
                .buffer_capacity(1 << 16)
                .from_writer(BufWriter::with_capacity(1 << 16, file));
            let mut header: Vec<&str> = VALIDATE_COLUMNS.to_vec();
            if kind == ReportKind::Import {
                header.extend(IMPORT_EXTRA_COLUMNS);
            }
            w.write_record(&header).map_err(csv_io)?;
            Sink::Csv(Box::new(w))
        };
        Ok(ReportWriter {
            sink,
            kind,
            path: path.to_path_buf(),
            buf: String::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one row (buffered; see [`ReportWriter::flush`]).
    pub fn write(&mut self, row: &ReportRow) -> io::Result<()> {
        match &mut self.sink {
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, row).map_err(io::Error::other)?;
                w.write_all(b"\n")
            }
            Sink::Csv(w) => {
                let buf = &mut self.buf;
                let mut num = |w: &mut csv::Writer<_>, n: Option<u64>| {
                    buf.clear();
                    if let Some(n) = n {
                        use std::fmt::Write as _;
                        let _ = write!(buf, "{n}");
                    }
                    w.write_field(buf.as_bytes())
                };
                num(w, row.line).map_err(csv_io)?;
                num(w, row.row).map_err(csv_io)?;
                for cell in [
                    row.user_id,
                    row.user_name,
                    row.action,
                    row.outcome,
                    row.codes,
                    row.message,
                ] {
                    write_safe(w, cell)?;
                }
                if self.kind == ReportKind::Import {
                    num(w, row.http_status.map(u64::from)).map_err(csv_io)?;
                    write_safe(w, row.request_id.unwrap_or(""))?;
                }
                w.write_record(None::<&[u8]>).map_err(csv_io)
            }
        }
    }

    /// Pushes everything written so far to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv(w) => w.flush(),
            Sink::Jsonl(w) => w.flush(),
        }
        .map_err(|e| io_context(&self.path, e))
    }
}

impl Drop for ReportWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// A cell that a spreadsheet would run as a formula gets a leading `'`.
fn write_safe<W: Write>(w: &mut csv::Writer<W>, cell: &str) -> io::Result<()> {
    if cell.starts_with(['=', '+', '-', '@']) {
        let mut s = String::with_capacity(cell.len() + 1);
        s.push('\'');
        s.push_str(cell);
        w.write_field(s.as_bytes()).map_err(csv_io)
    } else {
        w.write_field(cell.as_bytes()).map_err(csv_io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_report_escapes_formulas_and_keeps_columns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.csv");
        let mut w = ReportWriter::create(&path, ReportKind::Import).expect("create");
        w.write(&ReportRow {
            line: Some(2),
            row: Some(1),
            user_name: "=cmd|x",
            action: "create",
            outcome: "failed",
            message: "a, b",
            http_status: Some(400),
            request_id: Some("req-1"),
            ..Default::default()
        })
        .expect("write");
        drop(w);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "line,row,userID,userName,action,outcome,codes,message,httpStatus,requestId\n2,1,,'=cmd|x,create,failed,,\"a, b\",400,req-1\n"
        );
    }
}
