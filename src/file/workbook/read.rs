//! Workbooks (.xlsx, .xlsm, .xls, .xlsb, .ods) read directly: one worksheet becomes the UTF-8
//! CSV that Excel's "Save as CSV UTF-8" would have written, so that every command reads it
//! through its usual pipeline, plus the facts about cells that the CSV loses (a date cell, a
//! TRUE/FALSE cell, an error such as `#N/A`, an id typed into a number cell, a merged range)
//! and about the sheet (hidden rows and columns). Line N of that CSV is row N of the sheet,
//! even when a cell holds a line break (records are numbered by [`SheetData::row_lines`]),
//! and messages name the cell as Excel does: `sheet Users, cell E7`.
//!
//! A workbook is bounded before anything is allocated for it ([`guard`]); an .xlsx is then
//! streamed cell by cell, never held as a dense range of its used area.

use super::guard::{bound_cell, MAX_SHEET_ROWS};
use super::{guard, layout};

use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use calamine::{Data, DataType, Reader};

use self::guard::Refusal;
use self::layout::Layout;
use crate::file::header::column_letters;
use crate::file::{Col, ColumnMap, FileError, Spool, SpoolReader};
use crate::vocab::rule::{Code, Problem};

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// A date cell, written as MM/DD/YYYY.
    Date,
    /// A TRUE/FALSE cell.
    Bool,
    /// An error value such as `#N/A`, `#REF!` (a formula that failed).
    Error,
    /// A number cell in a column of ids (userName, userID, email): Excel dropped what made
    /// it text (leading zeros, digits past 15, the id shown as 2.02312E+11).
    Number,
    /// A cell covered by a merged range (the fact's text): it reads as empty, the value being
    /// in the range's first cell only. One fact per row of the range, at its first covered cell.
    Merged,
}

/// A fact about one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellFact {
    /// The line of the cell's record: its sheet row (records are numbered by sheet row).
    pub line: u64,
    /// 0-based column.
    pub col: usize,
    /// 1-based sheet row.
    pub row: u32,
    pub kind: CellKind,
    /// The text written for it.
    pub text: String,
}

/// A cell fact as a sheet keeps it: its text in the sheet's one buffer of fact texts. A sheet
/// may carry a fact on every id cell (hundreds of thousands of them): 16 bytes each, not a
/// [`CellFact`] with a `String` of its own.
#[derive(Clone, Copy, Debug)]
struct Fact {
    /// 1-based sheet row (the line of its record).
    row: u32,
    /// Where its text starts and ends in [`SheetData::fact_text`].
    start: u32,
    end: u32,
    /// 0-based column (a sheet has at most [`MAX_SHEET_COLUMNS`]).
    col: u16,
    kind: CellKind,
}

/// Where a sheet's CSV text is: in memory when small, else in an unlinked temporary file, so
/// that a sheet costs what a CSV file of its rows costs (the reader streams it either way).
#[derive(Debug)]
enum SheetText {
    Memory(Vec<u8>),
    Spooled(Arc<Spool>),
}

/// One worksheet as CSV text plus its cell facts.
#[derive(Debug)]
pub struct SheetData {
    /// The workbook (`None`: standard input).
    pub path: Option<PathBuf>,
    /// The worksheet's name.
    pub sheet: String,
    /// UTF-8, comma-delimited, `\n` line ends (see [`SheetData::csv`]).
    text: SheetText,
    /// The CSV line each sheet row starts on (index: 0-based row), when a cell holds a line
    /// break (else line N is row N): the reader numbers records by it.
    pub row_lines: Option<Arc<[u64]>>,
    /// Sheet rows in the CSV.
    rows: u32,
    /// Sorted by row, then column.
    facts: Vec<Fact>,
    /// The texts of the facts, one after the other.
    fact_text: String,
    /// What the CSV does not show about the sheet (hidden rows and columns): file problems.
    pub problems: Vec<Problem>,
}

impl AsRef<[u8]> for SheetBytes {
    fn as_ref(&self) -> &[u8] {
        match &self.0.text {
            SheetText::Memory(csv) => csv,
            // `reader` reads a spooled text from its file instead.
            SheetText::Spooled(_) => &[],
        }
    }
}

/// The CSV of a sheet held in memory, as a reader's buffer.
struct SheetBytes(Arc<SheetData>);

/// A fresh reader of a sheet's CSV text, from its first byte.
pub(crate) fn reader(sheet: Arc<SheetData>) -> Box<dyn Read + Send> {
    match &sheet.text {
        SheetText::Memory(_) => Box::new(Cursor::new(SheetBytes(sheet))),
        SheetText::Spooled(spool) => Box::new(SpoolReader {
            spool: spool.clone(),
            pos: 0,
        }),
    }
}

impl SheetData {
    /// How messages name the workbook: `users.xlsx, sheet Users`.
    pub fn describe(&self) -> String {
        let file = self
            .path
            .as_ref()
            .map_or("<stdin>".to_string(), |p| p.display().to_string());
        format!("{file} (sheet {})", self.sheet)
    }

    /// The 1-based sheet row of a record's `line` (records are numbered by sheet row).
    pub fn row_of_line(&self, line: u64) -> Option<u32> {
        (line >= 1 && line <= u64::from(self.rows)).then_some(line as u32)
    }

    /// Excel's name of a cell: `sheet Users, cell E7`.
    pub fn cell_name(&self, col: usize, row: u32) -> String {
        format!("sheet {}, cell {}{row}", self.sheet, column_letters(col))
    }

    /// The CSV text's length in bytes.
    pub fn csv_len(&self) -> u64 {
        match &self.text {
            SheetText::Memory(csv) => csv.len() as u64,
            SheetText::Spooled(spool) => spool.len,
        }
    }

    /// The whole CSV text (the readers of a sheet stream it instead: see `Source::reader`).
    pub fn csv(self: &Arc<Self>) -> std::io::Result<Vec<u8>> {
        let mut csv = Vec::new();
        reader(self.clone()).read_to_end(&mut csv)?;
        Ok(csv)
    }

    /// Every cell fact, in line order.
    pub fn facts(&self) -> Vec<CellFact> {
        self.facts.iter().map(|f| self.fact(f)).collect()
    }

    /// How many cells have a fact of this kind.
    pub fn count_facts(&self, kind: CellKind) -> usize {
        self.facts.iter().filter(|f| f.kind == kind).count()
    }

    /// The facts of the record starting on `line`.
    pub fn facts_at(&self, line: u64) -> impl Iterator<Item = CellFact> + '_ {
        let start = self.facts.partition_point(|f| u64::from(f.row) < line);
        let end = self.facts.partition_point(|f| u64::from(f.row) <= line);
        self.facts[start..end].iter().map(|f| self.fact(f))
    }

    fn fact(&self, f: &Fact) -> CellFact {
        CellFact {
            line: u64::from(f.row),
            col: usize::from(f.col),
            row: f.row,
            kind: f.kind,
            text: self
                .fact_text
                .get(f.start as usize..f.end as usize)
                .unwrap_or_default()
                .to_string(),
        }
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
                CellKind::Number => Problem::new(
                    Code::SheetNumberId,
                    format!(
                        "{cell}: {} {} is a number cell, not text: Excel drops the leading zeros of a number (0012345 becomes 12345) and keeps only 15 digits of a long id (shown as 2.02312E+11), so this may not be the id that was typed",
                        column_of(f.col),
                        f.text
                    ),
                ),
                CellKind::Merged => {
                    let anchor = f.text.split(':').next().unwrap_or_default();
                    Problem::new(
                        Code::SheetMerged,
                        format!(
                            "{cell}: {} merged: only {anchor} holds the value, {cell_only} is empty, so this row's {} is empty",
                            f.text,
                            column_of(f.col),
                            cell_only = format_args!("{}{}", column_letters(f.col), f.row),
                        ),
                    )
                }
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
            let cols: Vec<usize> = match p.code.column() {
                Some(c) => map.pos[c as usize].into_iter().collect(),
                // A rule about several columns names the ones this problem is about.
                None => columns_named(&p.detail)
                    .into_iter()
                    .filter_map(|c| map.pos[c as usize])
                    .collect(),
            };
            let place = match cols.as_slice() {
                [] => sheet_row.clone(),
                [i] => self.cell_name(*i, row),
                many => format!(
                    "sheet {}, cells {}",
                    self.sheet,
                    many.iter()
                        .map(|i| format!("{}{row}", column_letters(*i)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            p.detail = format!("{place}: {}", p.detail);
        }
    }
}

/// The template columns a message names (outside its quoted values), in the order named.
fn columns_named(detail: &str) -> Vec<Col> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut word = String::new();
    let end_word = |word: &mut String, out: &mut Vec<Col>| {
        if let Some(c) = Col::ALL.iter().find(|c| c.name() == word.as_str()) {
            if !out.contains(c) {
                out.push(*c);
            }
        }
        word.clear();
    };
    for ch in detail.chars() {
        if ch == '"' {
            quoted = !quoted;
            end_word(&mut word, &mut out);
        } else if !quoted && ch.is_ascii_alphanumeric() {
            word.push(ch);
        } else {
            end_word(&mut word, &mut out);
        }
    }
    end_word(&mut word, &mut out);
    out
}

/// Which worksheet to read, and how.
#[derive(Clone, Copy, Debug, Default)]
pub struct SheetChoice<'a> {
    /// `--sheet` (default: the first visible worksheet).
    pub sheet: Option<&'a str>,
    /// `--include-hidden`: hidden rows are read too.
    pub include_hidden: bool,
}

/// Where a workbook's bytes are; opened afresh by each reader of it.
enum Input {
    Path(PathBuf),
    Bytes(Arc<Vec<u8>>),
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

impl Input {
    fn open(&self) -> std::io::Result<Box<dyn ReadSeek>> {
        Ok(match self {
            Input::Path(p) => Box::new(std::io::BufReader::with_capacity(
                1 << 16,
                std::fs::File::open(p)?,
            )),
            Input::Bytes(b) => Box::new(Cursor::new(SharedBytes(b.clone()))),
        })
    }
}

/// Reads a worksheet (`choice`) of the workbook at `path` or in `bytes`: bounded first (see
/// [`guard`]), then streamed cell by cell into the CSV. A workbook that is damaged or larger
/// than any user file is [`FileError::BadWorkbook`] (refused, exit 1 on every command); a
/// sheet asked for that the workbook does not have is [`FileError::Workbook`] (exit 2).
pub fn read_sheet(
    path: Option<&Path>,
    bytes: Option<Arc<Vec<u8>>>,
    choice: SheetChoice,
) -> Result<SheetData, FileError> {
    let name = path.map_or("<stdin>".to_string(), |p| p.display().to_string());
    let input = match (path, bytes) {
        (_, Some(b)) => Input::Bytes(b),
        (Some(p), None) => Input::Path(p.to_path_buf()),
        (None, None) => {
            return Err(FileError::Workbook {
                path: name,
                message: "nothing to read".into(),
            })
        }
    };
    let refuse = |r: Refusal| FileError::BadWorkbook {
        path: name.clone(),
        code: r.code,
        message: r.message,
    };
    let io = |source: std::io::Error| FileError::Io {
        path: name.clone(),
        source,
    };
    let mut rdr = input.open().map_err(io)?;
    let len = rdr.seek(std::io::SeekFrom::End(0)).map_err(io)?;
    rdr.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
    let mut head = [0u8; 4];
    let n = crate::file::read_some(&mut rdr, &mut head).map_err(io)?;
    rdr.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
    let read = if head[..n].starts_with(b"PK\x03\x04") || head[..n].starts_with(b"PK\x05\x06") {
        let facts = guard::check_zip(&mut rdr, len).map_err(refuse)?;
        let xlsx = facts
            .names
            .iter()
            // As calamine finds it: any case, either slash (else it is read whole below).
            .any(|n| n.replace('\\', "/").eq_ignore_ascii_case("xl/workbook.xml"));
        if xlsx {
            read_xlsx(&input, rdr, choice)
        } else {
            read_dense(&input, choice)
        }
    } else if head[..n].starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        if len > guard::MAX_WORKBOOK_BYTES {
            return Err(refuse(Refusal::too_big(format!(
                "the workbook has {len} bytes; a workbook of Qualtrics users is a few MB (at most {} bytes are read)",
                guard::MAX_WORKBOOK_BYTES
            ))));
        }
        read_dense(&input, choice)
    } else {
        Err(Failure::Refused(Refusal::damaged(
            "not a workbook that can be read: it does not start like one (an .xlsx or .ods is a zip file, an .xls an OLE file); was it renamed from another format?".into(),
        )))
    };
    let built = match read {
        Ok(b) => b,
        Err(Failure::Refused(r)) => return Err(refuse(r)),
        Err(Failure::NoSuchSheet(message)) => {
            return Err(FileError::Workbook {
                path: name,
                message,
            })
        }
        Err(Failure::Io(source)) => return Err(io(source)),
    };
    let Built {
        sheet,
        text,
        row_lines,
        rows,
        facts,
        fact_text,
        problems,
    } = built;
    Ok(SheetData {
        path: path.map(Path::to_path_buf),
        sheet,
        text,
        row_lines,
        rows,
        facts,
        fact_text,
        problems,
    })
}

/// Why a sheet was not read.
enum Failure {
    Refused(Refusal),
    NoSuchSheet(String),
    /// The sheet's text could not be written to its temporary file.
    Io(std::io::Error),
}

impl Failure {
    /// A refusal reworded by `f` (naming the sheet); any other failure as it is.
    fn map_refusal(self, f: impl FnOnce(Refusal) -> Refusal) -> Failure {
        match self {
            Failure::Refused(r) => Failure::Refused(f(r)),
            other => other,
        }
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

/// A sheet read.
struct Built {
    sheet: String,
    text: SheetText,
    row_lines: Option<Arc<[u64]>>,
    rows: u32,
    facts: Vec<Fact>,
    fact_text: String,
    problems: Vec<Problem>,
}

#[derive(Clone)]
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The worksheet `wanted` names (exactly, or in another case), or the first visible one.
fn choose(sheets: &[calamine::Sheet], wanted: Option<&str>) -> Result<String, Failure> {
    let worksheets: Vec<&calamine::Sheet> = sheets
        .iter()
        .filter(|s| s.typ == calamine::SheetType::WorkSheet)
        .collect();
    match wanted {
        None => worksheets
            .iter()
            .find(|s| s.visible == calamine::SheetVisible::Visible)
            .or_else(|| worksheets.first())
            .map(|s| s.name.clone())
            .ok_or_else(|| {
                Failure::Refused(Refusal::damaged("the workbook has no worksheet".into()))
            }),
        Some(w) => sheets
            .iter()
            .find(|s| s.name == w)
            .or_else(|| sheets.iter().find(|s| s.name.eq_ignore_ascii_case(w)))
            .map(|s| s.name.clone())
            .ok_or_else(|| {
                Failure::NoSuchSheet(format!(
                    "it has no sheet named \"{w}\"; its sheets: {}",
                    sheets
                        .iter()
                        .map(|s| format!("\"{}\"", s.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
    }
}

/// A refusal's message prefixed with the sheet it is about.
fn in_sheet(sheet: &str) -> impl Fn(Refusal) -> Refusal + '_ {
    move |r| Refusal {
        code: r.code,
        message: format!("sheet \"{sheet}\": {}", r.message),
    }
}

fn damaged(e: impl std::fmt::Display) -> Failure {
    Failure::Refused(Refusal::damaged(format!(
        "not a workbook that can be read ({e})"
    )))
}

/// An .xlsx, streamed: calamine's cell reader over the sheet's XML, the layout from a pass of
/// our own (see [`layout`]).
fn read_xlsx(input: &Input, rdr: Box<dyn ReadSeek>, choice: SheetChoice) -> Result<Built, Failure> {
    let mut book: calamine::Xlsx<Box<dyn ReadSeek>> =
        calamine::Reader::new(rdr).map_err(damaged)?;
    let sheets = book.sheets_metadata().to_vec();
    let sheet = choose(&sheets, choice.sheet)?;
    let layout = {
        let rdr = input
            .open()
            .map_err(|e| Refusal::damaged(format!("the workbook cannot be read ({e})")))?;
        let mut zip = zip::ZipArchive::new(rdr).map_err(damaged)?;
        let part = layout::sheet_part(&mut zip, &sheet).ok_or_else(|| {
            Refusal::damaged(format!(
                "the sheet \"{sheet}\" is listed, but the part that holds it is missing"
            ))
        })?;
        layout::read_layout(&mut zip, &part).map_err(in_sheet(&sheet))?
    };
    let mut b = Builder::new(&layout, choice.include_hidden);
    {
        let mut cells = book
            .worksheet_cells_reader(&sheet)
            .map_err(|e| damaged(format!("sheet \"{sheet}\": {e}")))?;
        while let Some(cell) = cells
            .next_cell()
            .map_err(|e| damaged(format!("sheet \"{sheet}\": {e}")))?
        {
            let (row, col) = cell.get_position();
            b.bounded_cell(&sheet, row, col, Data::from(cell.get_value().clone()))?;
        }
    }
    let built = b.finish(sheet.clone())?;
    if built.rows == 0 {
        return Err(empty_sheet(&sheet, &sheets, choice.sheet, |other| {
            let Ok(mut cells) = book.worksheet_cells_reader(other) else {
                return false;
            };
            while let Ok(Some(c)) = cells.next_cell() {
                if !c.get_value().is_empty() {
                    return true;
                }
            }
            false
        }));
    }
    Ok(built)
}

/// The refusal of an empty sheet: it names the sheets that hold data, and `--sheet`.
fn empty_sheet(
    sheet: &str,
    sheets: &[calamine::Sheet],
    wanted: Option<&str>,
    mut has_data: impl FnMut(&str) -> bool,
) -> Failure {
    let others: Vec<String> = sheets
        .iter()
        .filter(|s| s.typ == calamine::SheetType::WorkSheet && s.name != sheet)
        .map(|s| s.name.clone())
        .filter(|n| has_data(n))
        .collect();
    let which = if wanted.is_some() {
        "the sheet asked for"
    } else {
        "the first sheet"
    };
    match others.first() {
        Some(first) => Failure::Refused(Refusal {
            code: Code::SheetEmpty,
            message: format!(
                "sheet \"{sheet}\" ({which}) is empty; the users look to be on sheet {}: pass --sheet \"{first}\"",
                others
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
        None => Failure::Refused(Refusal {
            code: Code::EmptyFile,
            message: format!("sheet \"{sheet}\" ({which}) is empty, and so is every other sheet"),
        }),
    }
}

/// An .xls, .xlsb or .ods: calamine reads these only whole (an .xlsb's sheet is then streamed,
/// see [`read_xlsb`]). They were bounded by size (and a zip's by its parts) before; the range
/// is checked before it is turned into CSV.
fn read_dense(input: &Input, choice: SheetChoice) -> Result<Built, Failure> {
    // calamine wants a reader it can clone: the bytes (bounded above) in memory.
    let bytes = match input {
        Input::Bytes(b) => b.clone(),
        Input::Path(p) => Arc::new(
            std::fs::read(p)
                .map_err(|e| Refusal::damaged(format!("the workbook cannot be read ({e})")))?,
        ),
    };
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        guard::check_biff(&bytes)?;
    } else {
        super::xlsb::check_xlsb(&bytes)?;
    }
    let mut book =
        calamine::open_workbook_auto_from_rs(Cursor::new(SharedBytes(bytes))).map_err(damaged)?;
    let sheets = book.sheets_metadata().to_vec();
    let sheet = choose(&sheets, choice.sheet)?;
    if let calamine::Sheets::Xlsb(xlsb) = &mut book {
        return read_xlsb(xlsb, sheet, &sheets, choice);
    }
    let range = book
        .worksheet_range(&sheet)
        .map_err(|e| damaged(format!("sheet \"{sheet}\": {e}")))?;
    let layout = Layout::default();
    let mut b = Builder::new(&layout, choice.include_hidden);
    for (row, col, value) in range.used_cells() {
        let (row, col) = (
            range.start().map_or(0, |s| s.0) + row as u32,
            range.start().map_or(0, |s| s.1) + col as u32,
        );
        b.bounded_cell(&sheet, row, col, value.clone())?;
    }
    drop(range);
    let built = b.finish(sheet.clone())?;
    if built.rows == 0 {
        return Err(empty_sheet(&sheet, &sheets, choice.sheet, |other| {
            book.worksheet_range(other)
                .is_ok_and(|r| r.used_cells().any(|(_, _, c)| *c != Data::Empty))
        }));
    }
    Ok(built)
}

/// An .xlsb, streamed as its records come (bounded first by [`super::xlsb`]): calamine's
/// cell reader, never its dense range.
fn read_xlsb<RS: Read + Seek>(
    book: &mut calamine::Xlsb<RS>,
    sheet: String,
    sheets: &[calamine::Sheet],
    choice: SheetChoice,
) -> Result<Built, Failure> {
    let layout = Layout::default();
    let mut b = Builder::new(&layout, choice.include_hidden);
    {
        let mut cells = book
            .worksheet_cells_reader(&sheet)
            .map_err(|e| damaged(format!("sheet \"{sheet}\": {e}")))?;
        while let Some(cell) = cells
            .next_cell()
            .map_err(|e| damaged(format!("sheet \"{sheet}\": {e}")))?
        {
            let (row, col) = cell.get_position();
            b.bounded_cell(&sheet, row, col, Data::from(cell.get_value().clone()))?;
        }
    }
    let built = b.finish(sheet.clone())?;
    if built.rows == 0 {
        return Err(empty_sheet(&sheet, sheets, choice.sheet, |other| {
            let Ok(mut cells) = book.worksheet_cells_reader(other) else {
                return false;
            };
            while let Ok(Some(c)) = cells.next_cell() {
                if !c.get_value().is_empty() {
                    return true;
                }
            }
            false
        }));
    }
    Ok(built)
}

/// Turns cells, row by row in sheet order, into the CSV Excel would save.
struct Builder<'a> {
    layout: &'a Layout,
    include_hidden: bool,
    /// The CSV written since the last spill.
    out: Vec<u8>,
    /// The CSV spilled so far, past [`SPILL_BYTES`], and how many bytes.
    spilled: Option<(std::io::BufWriter<std::fs::File>, u64)>,
    /// Columns in every CSV row: the sheet's used width, from column A.
    width: usize,
    /// The 0-based sheet row the next CSV record stands for.
    next_row: u32,
    /// The CSV line the next record starts on.
    line: u64,
    row_lines: Vec<u64>,
    any_break: bool,
    /// The row being gathered.
    row: Option<u32>,
    cells: Vec<(u32, Data)>,
    header: Option<u32>,
    /// Columns whose values are ids (userName, userID, email): a number there is reported.
    id_cols: Vec<usize>,
    facts: Vec<Fact>,
    fact_text: String,
    hidden_left_out: Vec<u32>,
    hidden_read: Vec<u32>,
    fields: Vec<String>,
    /// Cells that held a value so far (bounded by [`MAX_SHEET_CELLS`](super::MAX_SHEET_CELLS)).
    values: u64,
}

impl<'a> Builder<'a> {
    /// Takes one cell of `sheet` as a reader streams it: an empty cell is skipped, and a cell
    /// past the sheet bounds (or one value too many) is refused, naming the sheet.
    fn bounded_cell(
        &mut self,
        sheet: &str,
        row: u32,
        col: u32,
        value: Data,
    ) -> Result<(), Failure> {
        if value == Data::Empty {
            return Ok(());
        }
        self.values += 1;
        bound_cell(row, col, self.values).map_err(in_sheet(sheet))?;
        self.cell(row, col, value)
            .map_err(|f| f.map_refusal(in_sheet(sheet)))
    }

    fn new(layout: &'a Layout, include_hidden: bool) -> Self {
        Builder {
            values: 0,
            layout,
            include_hidden,
            out: Vec::new(),
            spilled: None,
            width: layout.last_col.map_or(0, |c| c as usize + 1),
            next_row: 0,
            line: 1,
            row_lines: Vec::new(),
            any_break: false,
            row: None,
            cells: Vec::new(),
            header: None,
            id_cols: Vec::new(),
            facts: Vec::new(),
            fact_text: String::new(),
            hidden_left_out: Vec::new(),
            hidden_read: Vec::new(),
            fields: Vec::new(),
        }
    }

    fn cell(&mut self, row: u32, col: u32, value: Data) -> Result<(), Failure> {
        if self.row != Some(row) {
            if self.row.is_some_and(|r| row < r) {
                return Err(Failure::Refused(Refusal::damaged(format!(
                    "its cells are out of order (row {} after row {})",
                    u64::from(row) + 1,
                    u64::from(self.row.unwrap_or(0)) + 1
                ))));
            }
            self.flush();
            self.spill(false).map_err(Failure::Io)?;
            self.row = Some(row);
        }
        if let Data::String(s) = &value {
            if s.len() > crate::file::MAX_RECORD_BYTES {
                return Err(Failure::Refused(Refusal::too_big(format!(
                    "cell {}{} holds {} bytes of text, more than the {} a record of a user file may have",
                    column_letters(col as usize),
                    u64::from(row) + 1,
                    s.len(),
                    crate::file::MAX_RECORD_BYTES
                ))));
            }
        }
        self.width = self.width.max(col as usize + 1);
        self.cells.push((col, value));
        Ok(())
    }

    /// Moves the CSV written so far to the temporary file once it is past [`SPILL_BYTES`]
    /// (or, at the end, when anything was spilled before).
    fn spill(&mut self, at_end: bool) -> std::io::Result<()> {
        use std::io::Write;
        if self.out.len() < SPILL_BYTES && !(at_end && self.spilled.is_some()) {
            return Ok(());
        }
        let (file, len) = match &mut self.spilled {
            Some(s) => s,
            None => self.spilled.insert((
                std::io::BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
                0,
            )),
        };
        file.write_all(&self.out)?;
        *len += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    /// Keeps a fact about the cell at (0-based) `row`, `col`.
    fn fact(&mut self, row: u32, col: usize, kind: CellKind, text: &str) {
        // A fact's text is a number, a date, an error or a range (never a cell's string):
        // the texts of a sheet's facts stay far below 4 GiB.
        let offset = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let start = offset(self.fact_text.len());
        self.fact_text.push_str(text);
        self.facts.push(Fact {
            row: row + 1,
            start,
            end: offset(self.fact_text.len()),
            col: u16::try_from(col).unwrap_or(u16::MAX),
            kind,
        });
    }

    /// A blank line (which a reader skips) for each sheet row before `row`.
    fn blank_to(&mut self, row: u32) {
        while self.next_row < row {
            self.out.push(b'\n');
            self.row_lines.push(self.line);
            self.line += 1;
            self.next_row += 1;
        }
    }

    /// Writes the gathered row.
    fn flush(&mut self) {
        let Some(row) = self.row.take() else {
            return;
        };
        self.blank_to(row);
        let mut cells = std::mem::take(&mut self.cells);
        cells.sort_by_key(|(c, _)| *c);
        let header = *self.header.get_or_insert(row);
        let hidden = row != header && self.layout.hidden_rows.binary_search(&row).is_ok();
        if hidden && !self.include_hidden {
            // Left out, its line kept blank: every later row keeps its number.
            self.hidden_left_out.push(row);
            self.blank_to(row + 1);
            return;
        }
        if hidden {
            self.hidden_read.push(row);
        }
        let line = self.line;
        // Records are numbered by sheet row (see `SheetData::row_lines`), facts too.
        let mut fields = std::mem::take(&mut self.fields);
        fields.clear();
        let mut breaks = 0u64;
        for (col, value) in cells.drain(..) {
            let col = col as usize;
            fields.resize(col, String::new());
            let (text, kind) = cell_text(&value);
            // One line-end convention, as a CSV reader would see it.
            let text = if text.contains('\r') {
                text.replace("\r\n", "\n").replace('\r', "\n")
            } else {
                text
            };
            breaks += memchr::memchr_iter(b'\n', text.as_bytes()).count() as u64;
            let kind = kind.or_else(|| {
                (row != header
                    && self.id_cols.contains(&col)
                    && matches!(value, Data::Int(_) | Data::Float(_)))
                .then_some(CellKind::Number)
            });
            if let Some(kind) = kind {
                self.fact(row, col, kind, &text);
            }
            fields.push(text);
        }
        if row == header {
            self.id_cols = fields
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    let f = f.trim();
                    [Col::UserName, Col::UserId, Col::Email]
                        .iter()
                        .any(|c| c.name().eq_ignore_ascii_case(f))
                })
                .map(|(i, _)| i)
                .collect();
        }
        // Excel writes every row up to the used width.
        fields.resize(self.width.max(fields.len()), String::new());
        // A row of one empty cell is an empty line, as Excel writes it.
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            push_field(&mut self.out, f);
        }
        self.out.push(b'\n');
        self.fields = fields;
        self.row_lines.push(line);
        self.line += 1 + breaks;
        self.any_break |= breaks > 0;
        self.next_row = row + 1;
    }

    fn finish(mut self, sheet: String) -> Result<Built, Failure> {
        self.flush();
        self.spill(true).map_err(Failure::Io)?;
        let rows = self.next_row;
        let mut problems = Vec::new();
        let list = |rows: &[u32]| -> String {
            let shown: Vec<String> = rows.iter().take(10).map(|r| (r + 1).to_string()).collect();
            let more = rows.len().saturating_sub(10);
            let mut s = shown.join(", ");
            if more > 0 {
                s.push_str(&format!(" and {more} more"));
            }
            s
        };
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        // One message for the rows left out, one for the rows read all the same.
        for (rows, read) in [(&self.hidden_left_out, false), (&self.hidden_read, true)] {
            let n = rows.len();
            if n == 0 {
                continue;
            }
            let (is, was, stays, it) = if n == 1 {
                ("is", "was", "stays", "it")
            } else {
                ("are", "were", "stay", "them")
            };
            let what = if read {
                "read because of --include-hidden".to_string()
            } else {
                format!(
                    "{was} left out (the line{} in the report {stays} blank); pass --include-hidden to read {it}",
                    plural(n)
                )
            };
            problems.push(Problem::new(
                Code::HiddenRows,
                format!(
                    "sheet {sheet}: row{} {} {is} hidden in Excel and {what}",
                    plural(n),
                    list(rows),
                ),
            ));
        }
        let hidden_cols: Vec<String> = (0..self.width as u32)
            .filter(|c| {
                self.layout
                    .hidden_cols
                    .iter()
                    .any(|(a, b)| (*a..=*b).contains(c))
            })
            .map(|c| column_letters(c as usize))
            .collect();
        if !hidden_cols.is_empty() {
            let n = hidden_cols.len();
            problems.push(Problem::new(
                Code::HiddenColumns,
                format!(
                    "sheet {sheet}: column{} {} {} hidden in Excel; {} values were read as the sheet holds them",
                    plural(n),
                    hidden_cols.join(", "),
                    if n == 1 { "is" } else { "are" },
                    if n == 1 { "its" } else { "their" },
                ),
            ));
        }
        // Merged ranges: each row of one, but the first cell's, reads as empty cells.
        let mut merged = 0usize;
        let cell_facts = self.facts.len();
        for &(r1, c1, r2, c2) in &self.layout.merges {
            if c1 as usize >= self.width {
                continue;
            }
            let c2 = c2.min(self.width as u32 - 1);
            let range = format!(
                "{}{}:{}{}",
                column_letters(c1 as usize),
                r1 + 1,
                column_letters(c2 as usize),
                r2 + 1
            );
            for row in r1..=r2.min(rows.saturating_sub(1)) {
                let first = if row == r1 { c1 + 1 } else { c1 };
                if first > c2 || merged >= MAX_MERGED_FACTS {
                    continue;
                }
                merged += 1;
                self.fact(row, first as usize, CellKind::Merged, &range);
            }
        }
        // The cells' facts came in sheet order; the merged ranges' join them.
        if self.facts.len() > cell_facts {
            self.facts.sort_by_key(|f| (f.row, f.col));
        }
        self.facts.shrink_to_fit();
        self.fact_text.shrink_to_fit();
        let row_lines = self.any_break.then(|| Arc::from(self.row_lines));
        let text = match self.spilled {
            None => SheetText::Memory(std::mem::take(&mut self.out)),
            Some((file, len)) => SheetText::Spooled(Arc::new(Spool {
                name: sheet.clone(),
                path: None,
                file: file.into_inner().map_err(|e| Failure::Io(e.into_error()))?,
                len,
            })),
        };
        Ok(Built {
            sheet,
            text,
            row_lines,
            rows,
            facts: self.facts,
            fact_text: self.fact_text,
            problems,
        })
    }
}

/// A field as Excel's CSV writes it: quoted (its quotes doubled) when it holds a comma, a
/// quote or a line end.
fn push_field(out: &mut Vec<u8>, f: &str) {
    if f.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in f.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(f.as_bytes());
    }
}

/// A sheet's CSV text past this many bytes goes to a temporary file, this much at a time.
const SPILL_BYTES: usize = 1 << 20;

/// No sheet needs more merged-cell facts than its rows.
const MAX_MERGED_FACTS: usize = MAX_SHEET_ROWS as usize;

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
        // calamine's date arithmetic holds for Excel's dates (to 9999-12-31, serial 2958465)
        // and overflows past them; Excel shows such a cell as ####, its CSV as the number.
        Data::DateTime(dt) if dt.is_datetime() && (0.0..2_958_466.0).contains(&dt.as_f64()) => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            (format!("{m:02}/{d:02}/{y:04}"), Some(CellKind::Date))
        }
        Data::DateTime(dt) => (number_text(dt.as_f64()), None),
        Data::DateTimeIso(s) => match s
            .get(..10)
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
        {
            Some(d) => (crate::text::format_file_date(d), Some(CellKind::Date)),
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

    /// The sheet as read: its CSV text and its facts, by row.
    fn read_back(rows: u32) -> (String, Vec<(u32, CellKind, String)>, bool) {
        let layout = Layout::default();
        let mut b = Builder::new(&layout, false);
        for (col, name) in ["userID", "userName", "email"].into_iter().enumerate() {
            b.cell(0, col as u32, Data::String(name.into()))
                .unwrap_or_else(|_| panic!("header"));
        }
        for row in 1..rows {
            b.cell(row, 0, Data::Float(f64::from(row)))
                .unwrap_or_else(|_| panic!("id"));
            b.cell(row, 2, Data::String(format!("user{row}@example.org")))
                .unwrap_or_else(|_| panic!("email"));
        }
        let Ok(built) = b.finish("Users".into()) else {
            panic!("finished")
        };
        let sheet = Arc::new(SheetData {
            path: None,
            sheet: built.sheet,
            text: built.text,
            row_lines: built.row_lines,
            rows: built.rows,
            facts: built.facts,
            fact_text: built.fact_text,
            problems: built.problems,
        });
        let csv = String::from_utf8(sheet.csv().expect("read back")).expect("utf-8");
        assert_eq!(sheet.csv_len(), csv.len() as u64);
        let facts = sheet
            .facts()
            .into_iter()
            .map(|f| {
                assert_eq!(f.line, u64::from(f.row));
                (f.row, f.kind, f.text)
            })
            .collect();
        let spooled = matches!(sheet.text, SheetText::Spooled(_));
        (csv, facts, spooled)
    }

    #[test]
    fn a_large_sheet_reads_back_from_its_temporary_file_as_a_small_one_from_memory() {
        // 60,000 rows are over 1.5 MiB of CSV: spilled to the temporary file.
        let (csv, facts, spooled) = read_back(60_000);
        assert!(spooled && csv.len() > SPILL_BYTES, "{}", csv.len());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 60_000);
        assert_eq!(lines[0], "userID,userName,email");
        assert_eq!(lines[1], "1,,user1@example.org");
        assert_eq!(lines[59_999], "59999,,user59999@example.org");
        // Every id typed as a number is a fact, at its row, with its text.
        assert_eq!(facts.len(), 59_999);
        assert_eq!(facts[0], (2, CellKind::Number, "1".to_string()));
        assert_eq!(
            facts[59_998],
            (60_000, CellKind::Number, "59999".to_string())
        );
        let (small, small_facts, spooled) = read_back(3);
        assert!(!spooled);
        assert_eq!(
            small,
            "userID,userName,email\n1,,user1@example.org\n2,,user2@example.org\n"
        );
        assert_eq!(small_facts.len(), 2);
    }
}
