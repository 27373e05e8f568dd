//! Workbooks (.xlsx, .xlsm, .xls, .xlsb, .ods) read directly: one worksheet becomes the UTF-8
//! CSV that Excel's "Save as CSV UTF-8" would have written, so that every command reads it
//! through its usual pipeline, plus the facts about cells that the CSV loses (a date cell, a
//! TRUE/FALSE cell, an error such as `#N/A`). Line N of that CSV is row N of the sheet (unless a
//! cell holds a line break), and messages name the cell as Excel does: `sheet Users, cell E7`.

use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use calamine::{Data, Reader};

use super::header::column_letters;
use super::{Col, ColumnMap, FileError};
use crate::rules::{Code, Problem};

/// File name endings read as workbooks.
const WORKBOOK_EXTENSIONS: &[&str] = &["xlsx", "xlsm", "xlsb", "xls", "ods"];

/// Whether a path names a workbook by its extension.
pub fn is_workbook_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| WORKBOOK_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Whether bytes start like a workbook: a zip (xlsx, ods) or an OLE compound file (xls).
pub fn is_workbook_bytes(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
}

/// What the CSV text of a cell does not show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// A date cell, written as MM/DD/YYYY.
    Date,
    /// A TRUE/FALSE cell.
    Bool,
    /// An error value such as `#N/A`, `#REF!` (a formula that failed).
    Error,
}

/// A fact about one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellFact {
    /// The CSV line of the cell's row.
    pub line: u64,
    /// 0-based column.
    pub col: usize,
    /// 1-based sheet row.
    pub row: u32,
    pub kind: CellKind,
    /// The text written for it.
    pub text: String,
}

/// One worksheet as CSV text plus its cell facts.
#[derive(Debug)]
pub struct SheetData {
    /// The workbook (`None`: standard input).
    pub path: Option<PathBuf>,
    /// The worksheet's name.
    pub sheet: String,
    /// UTF-8, comma-delimited, `\n` line ends.
    pub csv: Vec<u8>,
    /// The CSV line each sheet row starts on (index: 0-based row).
    row_lines: Vec<u64>,
    /// Sorted by line.
    facts: Vec<CellFact>,
}

impl AsRef<[u8]> for SheetBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0.csv
    }
}

/// The CSV of a sheet as a reader's buffer.
pub(crate) struct SheetBytes(pub(crate) Arc<SheetData>);

impl SheetData {
    /// How messages name the workbook: `users.xlsx, sheet Users`.
    pub fn describe(&self) -> String {
        let file = self
            .path
            .as_ref()
            .map_or("<stdin>".to_string(), |p| p.display().to_string());
        format!("{file} (sheet {})", self.sheet)
    }

    /// The 1-based sheet row that starts on CSV `line`.
    pub fn row_of_line(&self, line: u64) -> Option<u32> {
        self.row_lines
            .binary_search(&line)
            .ok()
            .map(|i| i as u32 + 1)
    }

    /// Excel's name of a cell: `sheet Users, cell E7`.
    pub fn cell_name(&self, col: usize, row: u32) -> String {
        format!("sheet {}, cell {}{row}", self.sheet, column_letters(col))
    }

    /// Every cell fact, in line order.
    pub fn facts(&self) -> &[CellFact] {
        &self.facts
    }

    /// The facts of the record starting on `line`.
    pub fn facts_at(&self, line: u64) -> &[CellFact] {
        let start = self.facts.partition_point(|f| f.line < line);
        let end = self.facts.partition_point(|f| f.line <= line);
        &self.facts[start..end]
    }

    /// Adds the cell facts of the record on `line` as problems, and names the cell (or the
    /// row) of every problem of it, as Excel does.
    pub fn annotate(&self, line: u64, map: &ColumnMap, out: &mut Vec<Problem>) {
        if self.row_of_line(line).is_none() {
            return;
        }
        let column_of = |col: usize| -> String {
            map.pos.iter().position(|p| *p == Some(col)).map_or_else(
                || format!("column {}", column_letters(col)),
                |t| Col::ALL[t].name().to_string(),
            )
        };
        for f in self.facts_at(line) {
            let cell = self.cell_name(f.col, f.row);
            out.push(match f.kind {
                CellKind::Date => Problem::new(
                    Code::SheetDateCell,
                    format!(
                        "{cell}: {} is a date cell, read as {} (Excel would write it in the computer's date format)",
                        column_of(f.col),
                        f.text
                    ),
                ),
                CellKind::Bool => Problem::new(
                    Code::SheetBoolCell,
                    format!("{cell}: {} is a TRUE/FALSE cell ({})", column_of(f.col), f.text),
                ),
                CellKind::Error => Problem::new(
                    Code::SheetErrorCell,
                    format!(
                        "{cell}: {} holds the error {} (a formula that failed)",
                        column_of(f.col),
                        f.text
                    ),
                ),
            });
        }
        self.name_cells(line, map, out);
    }

    /// Names the cell (or the row) of each problem of the record on `line`, as Excel does.
    pub fn name_cells(&self, line: u64, map: &ColumnMap, problems: &mut [Problem]) {
        let Some(row) = self.row_of_line(line) else {
            return;
        };
        let sheet_row = format!("sheet {}, row {row}", self.sheet);
        for p in problems.iter_mut() {
            if p.detail.starts_with("sheet ") {
                continue;
            }
            let place = p
                .code
                .column()
                .and_then(|c| map.pos[c as usize])
                .map_or_else(|| sheet_row.clone(), |i| self.cell_name(i, row));
            p.detail = format!("{place}: {}", p.detail);
        }
    }
}

/// Reads worksheet `sheet` (default: the first) of the workbook at `path` or in `bytes`.
pub fn read_sheet(
    path: Option<&Path>,
    bytes: Option<Arc<Vec<u8>>>,
    sheet: Option<&str>,
) -> Result<SheetData, FileError> {
    let name = path.map_or("<stdin>".to_string(), |p| p.display().to_string());
    let err = |message: String| FileError::Workbook {
        path: name.clone(),
        message,
    };
    let bad = |message: String| FileError::BadWorkbook {
        path: name.clone(),
        message,
    };
    let (sheet_name, range) = match (path, bytes) {
        (_, Some(b)) => load(
            calamine::open_workbook_auto_from_rs(Cursor::new(SharedBytes(b)))
                .map_err(|e| bad(format!("not a workbook that can be read ({e})")))?,
            sheet,
        ),
        (Some(p), None) => load(
            calamine::open_workbook_auto(p).map_err(|e| match e {
                calamine::Error::Io(source) => FileError::Io {
                    path: name.clone(),
                    source,
                },
                e => bad(format!("not a workbook that can be read ({e})")),
            })?,
            sheet,
        ),
        (None, None) => return Err(err("nothing to read".into())),
    }
    .map_err(err)?;
    let (csv, row_lines, facts) = to_csv(&range);
    Ok(SheetData {
        path: path.map(Path::to_path_buf),
        sheet: sheet_name,
        csv,
        row_lines,
        facts,
    })
}

#[derive(Clone)]
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn load<RS: Read + Seek>(
    mut book: calamine::Sheets<RS>,
    wanted: Option<&str>,
) -> Result<(String, calamine::Range<Data>), String> {
    let names = book.sheet_names();
    let name = match wanted {
        None => names
            .first()
            .cloned()
            .ok_or_else(|| "the workbook has no worksheet".to_string())?,
        Some(w) => names
            .iter()
            .find(|n| *n == w)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(w)))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "it has no sheet named \"{w}\"; its sheets: {}",
                    names
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?,
    };
    let range = book
        .worksheet_range(&name)
        .map_err(|e| format!("cannot read the sheet \"{name}\": {e}"))?;
    Ok((name, range))
}

/// The text Excel's "Save as CSV UTF-8" writes for a cell (US settings), and what it hides.
fn cell_text(cell: &Data) -> (String, Option<CellKind>) {
    match cell {
        Data::Empty => (String::new(), None),
        Data::String(s) => (s.clone(), None),
        Data::Int(i) => (i.to_string(), None),
        Data::Float(f) => (number_text(*f), None),
        Data::Bool(b) => (
            (if *b { "TRUE" } else { "FALSE" }).into(),
            Some(CellKind::Bool),
        ),
        Data::Error(e) => (e.to_string(), Some(CellKind::Error)),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            (format!("{m:02}/{d:02}/{y:04}"), Some(CellKind::Date))
        }
        Data::DateTime(dt) => (number_text(dt.as_f64()), None),
        Data::DateTimeIso(s) => match s
            .get(..10)
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
        {
            Some(d) => (crate::rules::format_file_date(d), Some(CellKind::Date)),
            None => (s.clone(), None),
        },
        Data::DurationIso(s) => (s.clone(), None),
    }
}

/// A number as Excel's General format writes it: whole numbers without `.0`, others with at
/// most 15 significant digits.
fn number_text(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    let magnitude = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    let decimals = (14 - magnitude).clamp(0, 20) as usize;
    let s = format!("{f:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The CSV of a range: every row from the sheet's row 1 (rows above the used range as blank
/// lines, which readers skip), every column from A.
fn to_csv(range: &calamine::Range<Data>) -> (Vec<u8>, Vec<u64>, Vec<CellFact>) {
    let mut row_lines = Vec::new();
    let mut facts = Vec::new();
    let mut out = Vec::new();
    let Some((start_row, start_col)) = range.start() else {
        return (out, row_lines, facts);
    };
    let mut line = 1u64;
    for _ in 0..start_row {
        row_lines.push(line);
        out.push(b'\n');
        line += 1;
    }
    let width = start_col as usize + range.width();
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut fields: Vec<String> = Vec::with_capacity(width);
    for (i, cells) in range.rows().enumerate() {
        let row = start_row + i as u32 + 1;
        fields.clear();
        fields.resize(start_col as usize, String::new());
        for (j, cell) in cells.iter().enumerate() {
            let (text, kind) = cell_text(cell);
            // One line-end convention, so that lines are counted as the reader counts them.
            let text = if text.contains('\r') {
                text.replace("\r\n", "\n").replace('\r', "\n")
            } else {
                text
            };
            if let Some(kind) = kind {
                facts.push(CellFact {
                    line,
                    col: start_col as usize + j,
                    row,
                    kind,
                    text: text.clone(),
                });
            }
            fields.push(text);
        }
        // Excel writes trailing empty cells of a row as delimiters up to the used width.
        if fields.len() == 1 && fields[0].is_empty() {
            // A one-column empty row: csv would write `""`; Excel writes an empty line.
            w.write_record([""; 0]).ok();
        } else {
            w.write_record(&fields).ok();
        }
        row_lines.push(line);
        line += 1 + fields
            .iter()
            .map(|f| memchr::memchr_iter(b'\n', f.as_bytes()).count())
            .sum::<usize>() as u64;
    }
    out.extend_from_slice(&w.into_inner().unwrap_or_default());
    (out, row_lines, facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_excel_writes_them() {
        assert_eq!(number_text(1234567.0), "1234567");
        assert_eq!(number_text(0.1 + 0.2), "0.3");
        assert_eq!(number_text(2.5), "2.5");
        assert_eq!(number_text(-3.0), "-3");
        assert_eq!(number_text(1e20), "100000000000000000000");
    }
}
