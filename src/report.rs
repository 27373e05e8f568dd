//! Per-row reports (CSV or JSONL) written as the work proceeds, and where a report goes
//! ([`Destination`], decided once from the path given); `.html` pages for people are rendered
//! by [`crate::present::html`] from rows collected here.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use serde::Serialize;

use crate::file::Col;
use crate::rules::Problem;
use crate::validate::{CheckedRow, RowEncoder, RowSink};

/// Where a report goes, decided once from the path the user gave: rows as CSV, rows as JSON
/// Lines (`.jsonl`/`.ndjson`), or a page for people (`.html`/`.htm`) with every row in a CSV
/// beside it (`staff.html` → `staff.rows.csv`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Csv(PathBuf),
    Jsonl(PathBuf),
    Page { page: PathBuf, rows: PathBuf },
}

impl Destination {
    /// The destination a path names, by its extension.
    pub fn of(path: &Path) -> Destination {
        let path = path.to_path_buf();
        if is_html_path(&path) {
            let rows = companion_csv(&path);
            return Destination::Page { page: path, rows };
        }
        match ReportFormat::for_path(&path) {
            ReportFormat::Jsonl => Destination::Jsonl(path),
            ReportFormat::Csv => Destination::Csv(path),
        }
    }

    /// The file the user named: the report, or the page.
    pub fn path(&self) -> &Path {
        match self {
            Destination::Csv(p) | Destination::Jsonl(p) => p,
            Destination::Page { page, .. } => page,
        }
    }

    /// The file the rows go to (beside the page, for a page).
    pub fn rows_path(&self) -> &Path {
        match self {
            Destination::Csv(p) | Destination::Jsonl(p) => p,
            Destination::Page { rows, .. } => rows,
        }
    }

    /// How the rows are written.
    pub fn rows_format(&self) -> ReportFormat {
        match self {
            Destination::Jsonl(_) => ReportFormat::Jsonl,
            Destination::Csv(_) | Destination::Page { .. } => ReportFormat::Csv,
        }
    }

    /// Every file written: the report, or the page and its rows.
    pub fn files(&self) -> Vec<&Path> {
        match self {
            Destination::Csv(p) | Destination::Jsonl(p) => vec![p.as_path()],
            Destination::Page { page, rows } => vec![page.as_path(), rows.as_path()],
        }
    }
}

/// `.html`/`.htm` reports are pages (see [`Destination`]).
pub fn is_html_path(path: &Path) -> bool {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// The CSV report with every row that goes with a page: `staff.html` → `staff.rows.csv` (not
/// `staff.csv`, which is likely the very file being checked).
pub fn companion_csv(path: &Path) -> PathBuf {
    path.with_extension("rows.csv")
}

/// The columns of a validate report, in order.
pub const VALIDATE_COLUMNS: [&str; 8] = [
    "line", "row", "userID", "userName", "action", "outcome", "codes", "message",
];
/// The extra columns of an import report.
pub const IMPORT_EXTRA_COLUMNS: [&str; 3] = ["httpStatus", "requestId", "changes"];

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
    /// Import: the fields the row changes (`firstName: Ann → Anne; …`) or, for a create, sends.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub changes: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    Validate,
    Import,
}

/// CSV or JSON Lines, chosen by the report's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Csv,
    Jsonl,
}

impl ReportFormat {
    /// `.jsonl`/`.ndjson` is JSON Lines, anything else CSV.
    pub fn for_path(path: &Path) -> ReportFormat {
        let lower = path.to_string_lossy().to_ascii_lowercase();
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            ReportFormat::Jsonl
        } else {
            ReportFormat::Csv
        }
    }
}

/// Turns report rows into bytes. Cheap to copy and `Sync`, so rows can be encoded on worker
/// threads and written in order by one writer.
#[derive(Clone, Copy, Debug)]
pub struct ReportEncoder {
    pub format: ReportFormat,
    pub kind: ReportKind,
}

impl ReportEncoder {
    /// The header line (CSV only).
    pub fn header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.format == ReportFormat::Csv {
            let mut cols: Vec<&str> = VALIDATE_COLUMNS.to_vec();
            if self.kind == ReportKind::Import {
                cols.extend(IMPORT_EXTRA_COLUMNS);
            }
            out.extend_from_slice(cols.join(",").as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// Appends one row, line end included.
    pub fn encode(&self, row: &ReportRow, out: &mut Vec<u8>) {
        match self.format {
            ReportFormat::Jsonl => {
                // Serialising plain strings and numbers into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, row);
                out.push(b'\n');
            }
            ReportFormat::Csv => {
                // Room for the usual row at once.
                out.reserve(64 + row.user_id.len() + row.user_name.len() + row.message.len());
                put_number(out, row.line);
                out.push(b',');
                put_number(out, row.row);
                for cell in [
                    row.user_id,
                    row.user_name,
                    row.action,
                    row.outcome,
                    row.codes,
                    row.message,
                ] {
                    out.push(b',');
                    put_cell(out, cell);
                }
                if self.kind == ReportKind::Import {
                    out.push(b',');
                    put_number(out, row.http_status.map(u64::from));
                    out.push(b',');
                    put_cell(out, row.request_id.unwrap_or(""));
                    out.push(b',');
                    put_cell(out, row.changes);
                }
                out.push(b'\n');
            }
        }
    }
}

fn put_number(out: &mut Vec<u8>, n: Option<u64>) {
    if let Some(n) = n {
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }
}

/// A CSV cell: quoted when it holds a delimiter, quote or line break; a leading `'` when a
/// spreadsheet would run it as a formula.
#[inline(always)]
fn put_cell(out: &mut Vec<u8>, cell: &str) {
    let b = cell.as_bytes();
    // The usual cell needs neither, and one quick look says so: every byte that asks for
    // quotes is below `-`.
    if matches!(b.first(), Some(b'=' | b'+' | b'-' | b'@')) || has_byte_below_dash(b) {
        put_cell_with_care(out, cell);
    } else {
        out.extend_from_slice(b);
    }
}

/// [`put_cell`] for a cell that may need quotes or the formula guard: byte by byte.
fn put_cell_with_care(out: &mut Vec<u8>, cell: &str) {
    let guard = cell.starts_with(['=', '+', '-', '@']);
    let quote = cell
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if quote {
        out.push(b'"');
    }
    if guard {
        out.push(b'\'');
    }
    if quote {
        // Each quote doubled; the runs between them copied whole.
        let mut rest = cell.as_bytes();
        while let Some(i) = memchr::memchr(b'"', rest) {
            out.extend_from_slice(&rest[..=i]);
            out.push(b'"');
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
        out.push(b'"');
    } else {
        out.extend_from_slice(cell.as_bytes());
    }
}

/// Whether some byte of `b` is below `-` (0x2D), as `,` `"` and line breaks are: eight bytes at
/// a time, since every cell of every row is looked at.
fn has_byte_below_dash(b: &[u8]) -> bool {
    use crate::rules::words::{each_word, HIGH, ONES};
    let mut below = 0u64;
    each_word(b, b'a', |_, x| {
        // A lane below 0x2D borrows into its top bit (the lowest one surely does); a lane
        // past ASCII has it already, and is left out.
        below |= x.wrapping_sub(ONES * 0x2D) & !x;
    });
    below & HIGH != 0
}

/// A report file being written.
pub struct ReportWriter {
    out: BufWriter<ReportFile>,
    encoder: ReportEncoder,
    path: PathBuf,
    buf: Vec<u8>,
    /// Bytes written so far (header included), buffered or not.
    written: u64,
    /// Where [`ReportWriter::mark`] was set, in a regular file.
    mark: Option<u64>,
}

/// The report's file, while the rows of the report it replaces may still be being cut away
/// on another thread (see [`ReportWriter::create`]): nothing is written past the header
/// before that is done.
struct ReportFile {
    file: File,
    cutting: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl ReportFile {
    fn ready(&mut self) -> io::Result<&mut File> {
        if let Some(cut) = self.cutting.take() {
            cut.join()
                .map_err(|_| io::Error::other("cutting the old report short failed"))??;
        }
        Ok(&mut self.file)
    }
}

impl Write for ReportFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.ready()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.ready()?.flush()
    }
}

impl Seek for ReportFile {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.ready()?.seek(pos)
    }
}

fn io_context(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl ReportWriter {
    /// Creates the report, or replaces the one at `path`, and writes its header.
    ///
    /// A report run again over the same path is common, and cutting the old one away frees
    /// its pages, which takes milliseconds before anything else could start: the old report
    /// is overwritten with the new header and cut down to it on another thread while the
    /// input is opened, and the first row waits for that. Cut to the header, not to nothing:
    /// ext4 takes a file cut to zero bytes for one being replaced and writes it all out to
    /// disk when it is closed.
    pub fn create(path: &Path, kind: ReportKind) -> io::Result<ReportWriter> {
        Self::create_as(path, ReportFormat::for_path(path), kind)
    }

    /// [`ReportWriter::create`] for the rows of a [`Destination`].
    pub fn for_rows(dest: &Destination, kind: ReportKind) -> io::Result<ReportWriter> {
        Self::create_as(dest.rows_path(), dest.rows_format(), kind)
    }

    fn create_as(path: &Path, format: ReportFormat, kind: ReportKind) -> io::Result<ReportWriter> {
        let context = |e| io_context(path, e);
        // Never through a link planted at the name (the error names the path).
        let mut file = crate::fsx::open(path, crate::fsx::Open::Keep)?;
        let encoder = ReportEncoder { format, kind };
        let header = encoder.header();
        file.write_all(&header).map_err(context)?;
        let keep = header.len() as u64;
        let meta = file.metadata().map_err(context)?;
        let cutting = if meta.is_file() && meta.len() > keep {
            let old = file.try_clone().map_err(context)?;
            Some(std::thread::spawn(move || old.set_len(keep)))
        } else {
            None
        };
        Ok(ReportWriter {
            out: BufWriter::with_capacity(1 << 16, ReportFile { file, cutting }),
            encoder,
            path: path.to_path_buf(),
            buf: Vec::new(),
            written: keep,
            mark: None,
        })
    }

    /// Marks the current end of the report; true when [`ReportWriter::rewind`] can go back to
    /// it (a regular file can be cut short; a pipe or a terminal cannot).
    pub fn mark(&mut self) -> io::Result<bool> {
        let regular = self
            .out
            .get_ref()
            .file
            .metadata()
            .map_err(|e| io_context(&self.path, e))?
            .is_file();
        self.mark = regular.then_some(self.written);
        Ok(self.mark.is_some())
    }

    /// Cuts the report back to the mark: what was written since is gone.
    pub fn rewind(&mut self) -> io::Result<()> {
        let Some(at) = self.mark else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{}: the report cannot be rewound", self.path.display()),
            ));
        };
        self.out.flush().map_err(|e| io_context(&self.path, e))?;
        self.out
            .get_mut()
            .ready()
            .and_then(|f| f.set_len(at))
            .map_err(|e| io_context(&self.path, e))?;
        self.out
            .seek(io::SeekFrom::Start(at))
            .map_err(|e| io_context(&self.path, e))?;
        self.written = at;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn encoder(&self) -> ReportEncoder {
        self.encoder
    }

    /// Writes one row (buffered; see [`ReportWriter::flush`]).
    pub fn write(&mut self, row: &ReportRow) -> io::Result<()> {
        self.buf.clear();
        self.encoder.encode(row, &mut self.buf);
        self.written += self.buf.len() as u64;
        self.out
            .write_all(&self.buf)
            .map_err(|e| io_context(&self.path, e))
    }

    /// Writes rows encoded elsewhere with [`ReportWriter::encoder`].
    pub fn write_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        self.out
            .write_all(bytes)
            .map_err(|e| io_context(&self.path, e))
    }

    /// Pushes everything written so far to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush().map_err(|e| io_context(&self.path, e))
    }
}

impl Drop for ReportWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// Writes every row and file-level problem to a report.
pub struct ReportSink {
    pub writer: ReportWriter,
}

impl RowSink for ReportSink {
    fn file_problem(&mut self, line: Option<u64>, p: &Problem, strict: bool) -> io::Result<()> {
        let message = p.message();
        self.writer.write(&ReportRow {
            line,
            outcome: p.severity(strict).as_str(),
            codes: p.code.id(),
            message: &message,
            ..Default::default()
        })
    }

    fn encoder(&self) -> Option<Arc<RowEncoder>> {
        let encoder = self.writer.encoder();
        Some(Arc::new(move |row: &CheckedRow, out: &mut Vec<u8>| {
            encode_row(&encoder, row, out)
        }))
    }

    fn row(&mut self, row: &CheckedRow, encoded: Option<&[u8]>) -> io::Result<()> {
        match encoded {
            Some(bytes) => self.writer.write_encoded(bytes),
            None => {
                let mut buf = Vec::new();
                encode_row(&self.writer.encoder(), row, &mut buf);
                self.writer.write_encoded(&buf)
            }
        }
    }

    fn chunk_done(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    fn mark(&mut self) -> io::Result<bool> {
        self.writer.mark()
    }

    fn rewind(&mut self) -> io::Result<()> {
        self.writer.rewind()
    }
}

/// A validate report row.
fn encode_row(encoder: &ReportEncoder, row: &CheckedRow, out: &mut Vec<u8>) {
    // Most rows have no problem: nothing to join.
    let (codes, message) = if row.problems.is_empty() {
        (String::new(), String::new())
    } else {
        (row.codes(), row.message())
    };
    encoder.encode(
        &ReportRow {
            line: Some(row.at.line),
            row: Some(row.at.row),
            user_id: row.field(Col::UserId),
            user_name: row.field(Col::UserName),
            action: row.action.as_str(),
            outcome: row.verdict.as_str(),
            codes: &codes,
            message: &message,
            ..Default::default()
        },
        out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_is_named_by_its_extension() {
        let d = Destination::of(Path::new("out/Staff.HTML"));
        assert_eq!(
            d,
            Destination::Page {
                page: "out/Staff.HTML".into(),
                rows: "out/Staff.rows.csv".into()
            }
        );
        assert_eq!(
            d.files(),
            [Path::new("out/Staff.HTML"), Path::new("out/Staff.rows.csv")]
        );
        assert_eq!(d.rows_format(), ReportFormat::Csv);
        let j = Destination::of(Path::new("r.ndjson"));
        assert_eq!(
            (j.rows_path(), j.rows_format()),
            (Path::new("r.ndjson"), ReportFormat::Jsonl)
        );
        let c = Destination::of(Path::new("r.txt"));
        assert_eq!(c, Destination::Csv("r.txt".into()));
        assert_eq!(c.files(), [Path::new("r.txt")]);
    }

    /// A report written over a longer old one holds nothing of it, written row by row, rewound
    /// or left with its header only.
    #[test]
    fn a_new_report_keeps_nothing_of_the_old_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.csv");
        let header = ReportEncoder {
            format: ReportFormat::Csv,
            kind: ReportKind::Validate,
        }
        .header();
        let row = ReportRow {
            line: Some(2),
            row: Some(1),
            outcome: "ok",
            ..Default::default()
        };
        for rows in [0, 1, 3] {
            std::fs::write(&path, vec![b'x'; 3 << 20]).expect("old report");
            let mut w = ReportWriter::create(&path, ReportKind::Validate).expect("create");
            assert!(w.mark().expect("mark"));
            for _ in 0..rows {
                w.write(&row).expect("row");
            }
            if rows == 3 {
                w.rewind().expect("rewind");
                w.write(&row).expect("row");
            }
            drop(w);
            let got = std::fs::read_to_string(&path).expect("read");
            let want_rows = if rows == 3 { 1 } else { rows };
            let want = String::from_utf8(header.clone()).expect("utf-8")
                + &"2,1,,,,ok,,\n".repeat(want_rows);
            assert_eq!(got, want, "{rows} rows");
        }
    }

    proptest::proptest! {
        #[test]
        fn cells_and_numbers_as_before(cell in "[a,\"\r\n\t=+@'é-]{0,30}", n: u64) {
            let mut want = Vec::new();
            // The cell as it was written: two scans, same rules.
            let guard = cell.starts_with(['=', '+', '-', '@']);
            let quote = cell.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
            if quote {
                want.push(b'"');
            }
            if guard {
                want.push(b'\'');
            }
            if quote {
                want.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
                want.push(b'"');
            } else {
                want.extend_from_slice(cell.as_bytes());
            }
            let mut got = Vec::new();
            put_cell(&mut got, &cell);
            proptest::prop_assert_eq!(got, want);
            let mut number = Vec::new();
            put_number(&mut number, Some(n));
            proptest::prop_assert_eq!(number, n.to_string().into_bytes());
        }
    }

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
            changes: "firstName: Ann → Anne",
            ..Default::default()
        })
        .expect("write");
        drop(w);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "line,row,userID,userName,action,outcome,codes,message,httpStatus,requestId,changes\n2,1,,'=cmd|x,create,failed,,\"a, b\",400,req-1,firstName: Ann → Anne\n"
        );
    }
}
