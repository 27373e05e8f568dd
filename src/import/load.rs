//! The load stage of an import: the validated rows, held compactly for the plan — unless the
//! file is refused at the file level (too large, too many rows, a wrong header…). Then nothing
//! will be planned, and holding every row would make a file validate streams in a few MiB cost
//! gigabytes: the rows go to an unlinked temporary file instead, as the report and the failed
//! file need them (`skipped`, every row kept), and memory stays what validate needs.
//!
//! File-level problems found on opening reach the sink before any row, so a file refused there
//! holds no row at all. Refusals found as rows come (F07, too many rows, at the end of the
//! file) are why an import's sink ([`Collect::spilling`]) holds at most [`SPILL_ROWS`] rows in
//! memory while the file is read: the rest wait in the temporary file, and are read back into
//! memory ([`Collect::finish`]) only once the whole file is known to be importable. A refused
//! file then costs what validate costs, a workbook of 200,000 rows whose every cell has a
//! finding included; a file that is imported holds its rows once the reading is done.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};

use super::rows::Fields;
use super::InputRow;
use crate::file::{Col, MAX_ROWS};
use crate::rules::{Action, Problem, Severity};
use crate::validate::{join_codes, join_messages, CheckedRow, RowSink};
use crate::vocab::row::Verdict;

/// Rows an import's sink holds in memory while the file is read; past them, rows wait in the
/// temporary file until the end of the file says whether they will be planned.
pub(crate) const SPILL_ROWS: usize = 8192;

/// Why every row of a refused file is skipped (the report's message, before the row's own).
pub const REFUSED: &str = "not imported: the file has file-level errors";

/// A [`RowSink`] that keeps every row and every file-level problem; the rows of a file refused
/// at the file level are kept in a [`RefusedRows`] file instead of memory.
#[derive(Default)]
pub struct Collect {
    /// The rows held, in input order (none once the file is refused, unless `hold_all`; none
    /// while they wait in the temporary file, until [`Collect::finish`]).
    pub rows: Vec<InputRow>,
    /// (line, problem, counts as an error)
    pub file_problems: Vec<(Option<u64>, Problem, bool)>,
    /// Every row so far, in input order, when they are not held: the rows of a refused file,
    /// or those past [`SPILL_ROWS`] of a spilling sink.
    refused: Option<RefusedRows>,
    /// Hold every row even of a refused file (a resume: the journal's rows are matched to
    /// them, and a row done before keeps its result).
    hold_all: bool,
    /// Past [`SPILL_ROWS`] rows, every row goes to the temporary file (see [`Collect::spilling`]).
    spill: bool,
    /// What was kept at [`RowSink::mark`].
    marked: Mark,
}

#[derive(Default)]
struct Mark {
    rows: usize,
    file_problems: usize,
    /// Refused rows written by then (and where they end), when the file was refused by then.
    refused: Option<(u64, u64, u64)>,
}

impl Collect {
    /// A sink that holds every row, even of a refused file.
    pub fn holding_all() -> Self {
        Collect {
            hold_all: true,
            ..Collect::default()
        }
    }

    /// A sink that holds at most [`SPILL_ROWS`] rows while the file is read (an import's):
    /// call [`Collect::finish`] once it is read.
    pub fn spilling() -> Self {
        Collect {
            spill: true,
            ..Collect::default()
        }
    }

    /// Whether a file-level error was found: no row will be planned.
    pub fn refused(&self) -> bool {
        self.file_problems.iter().any(|(_, _, error)| *error)
    }

    /// The rows of a refused file that were not held (see [`Collect::holding_all`]).
    pub fn take_refused(&mut self) -> Option<RefusedRows> {
        self.refused.take()
    }

    /// Once the file is read: the rows of a file that will be planned are read back from the
    /// temporary file into [`Collect::rows`] (a refused file's stay there).
    pub fn finish(&mut self) -> io::Result<()> {
        if self.refused() {
            return Ok(());
        }
        if let Some(mut spool) = self.refused.take() {
            self.rows = Vec::with_capacity(spool.len() as usize);
            for r in spool.iter()? {
                self.rows.push(r?.into_input());
            }
        }
        Ok(())
    }

    /// From now on rows go to the temporary file; those held so far go there first, in order.
    fn refuse(&mut self) -> io::Result<()> {
        if self.hold_all || self.refused.is_some() {
            return Ok(());
        }
        let mut spool = RefusedRows::new()?;
        for r in self.rows.drain(..) {
            spool.push(
                r.line,
                r.row,
                r.action,
                r.verdict,
                r.empty,
                &r.fields,
                &r.problems,
            )?;
        }
        // The memory goes back now, not when the import ends.
        self.rows = Vec::new();
        self.refused = Some(spool);
        Ok(())
    }
}

impl RowSink for Collect {
    fn file_problem(&mut self, line: Option<u64>, p: &Problem, strict: bool) -> io::Result<()> {
        // The export's name columns (F12) refuse a file meant for Qualtrics' own upload, not an
        // import, which reads columns by name (`accept_export_layout` drops them afterwards).
        let error = p.severity(strict) == Severity::Error
            && p.code != crate::rules::Code::ExportNameColumns;
        self.file_problems.push((line, p.clone(), error));
        if error {
            self.refuse()?;
        }
        Ok(())
    }

    fn row(&mut self, row: &CheckedRow, _: Option<&[u8]>) -> io::Result<()> {
        let empty = row.is_empty_row();
        if let Some(spool) = &mut self.refused {
            let fields = Fields::new(&Col::ALL.map(|c| row.field(c)));
            return spool.push(
                row.at.line,
                row.at.row,
                row.action,
                row.verdict,
                empty,
                &fields,
                row.problems,
            );
        }
        self.rows.push(InputRow {
            line: row.at.line,
            row: row.at.row,
            action: row.action,
            fields: Fields::new(&Col::ALL.map(|c| row.field(c))),
            problems: row.problems.to_vec(),
            verdict: row.verdict,
            empty,
        });
        // This many data rows are past Qualtrics' limit whatever the header (F07 follows at
        // the end of the file): the file is refused already. And a spilling sink holds no
        // more than its share until the end of the file says whether they will be planned.
        if self.rows.len() as u64 >= MAX_ROWS || (self.spill && self.rows.len() >= SPILL_ROWS) {
            self.refuse()?;
        }
        Ok(())
    }

    fn mark(&mut self) -> io::Result<bool> {
        let refused = match &mut self.refused {
            Some(s) => Some((s.rows, s.not_empty, s.bytes()?)),
            None => None,
        };
        self.marked = Mark {
            rows: self.rows.len(),
            file_problems: self.file_problems.len(),
            refused,
        };
        Ok(true)
    }

    fn rewind(&mut self) -> io::Result<()> {
        self.rows.truncate(self.marked.rows);
        self.file_problems.truncate(self.marked.file_problems);
        match (self.marked.refused, &mut self.refused) {
            (Some((rows, not_empty, bytes)), Some(s)) => s.truncate(rows, not_empty, bytes)?,
            // Moved to the temporary file only by what is forgotten now: the rows held at the
            // mark come back.
            (None, Some(s)) => {
                let held = self.marked.rows;
                let back: Vec<InputRow> = s
                    .iter()?
                    .take(held)
                    .map(|r| r.map(RefusedRow::into_input))
                    .collect::<io::Result<_>>()?;
                self.rows = back;
                self.refused = None;
            }
            _ => self.refused = None,
        }
        Ok(())
    }
}

/// The rows of a file refused at the file level, in input order, in an unlinked temporary
/// file (gone when this is dropped, or when the process ends however it ends).
pub struct RefusedRows {
    out: BufWriter<File>,
    rows: u64,
    /// Rows that are not empty (R03): they go to the failed file.
    not_empty: u64,
}

/// One row of a refused file, read back.
#[derive(Debug)]
pub struct RefusedRow {
    pub line: u64,
    pub row: u64,
    pub action: Action,
    pub empty: bool,
    pub fields: Fields,
    /// The row's own findings: codes, and messages with their fixes.
    pub codes: String,
    pub message: String,
    /// The findings themselves, and the row's verdict (a spilled row read back to be planned).
    problems: Vec<Problem>,
    verdict: Verdict,
}

impl RefusedRow {
    /// The row as the importer holds it.
    fn into_input(self) -> InputRow {
        InputRow {
            line: self.line,
            row: self.row,
            action: self.action,
            fields: self.fields,
            problems: self.problems,
            verdict: self.verdict,
            empty: self.empty,
        }
    }

    /// The report's message: why it was skipped, then the row's own findings.
    pub fn report_message(&self) -> String {
        if self.message.is_empty() {
            REFUSED.to_string()
        } else {
            format!("{REFUSED}; {}", self.message)
        }
    }
}

impl RefusedRows {
    fn new() -> io::Result<Self> {
        Ok(RefusedRows {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            rows: 0,
            not_empty: 0,
        })
    }

    /// How many rows.
    pub fn len(&self) -> u64 {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// How many rows are not empty (the failed file's rows).
    pub fn not_empty(&self) -> u64 {
        self.not_empty
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        line: u64,
        row: u64,
        action: Action,
        verdict: Verdict,
        empty: bool,
        fields: &Fields,
        problems: &[Problem],
    ) -> io::Result<()> {
        // Length-prefixed fields: any byte may be in a cell, and nothing needs escaping.
        let out = &mut self.out;
        out.write_all(&line.to_le_bytes())?;
        out.write_all(&row.to_le_bytes())?;
        let verdict = match verdict {
            Verdict::Ok => 0,
            Verdict::Warning => 1,
            Verdict::Error => 2,
        };
        out.write_all(&[u8::from(action == Action::Update)
            | (u8::from(empty) << 1)
            | (verdict << 2)])?;
        for s in fields.iter() {
            put_str(out, s)?;
        }
        // A row's findings: how many, then each one's rule (its place in the catalog) and detail.
        let count = u32::try_from(problems.len()).map_err(|_| io::Error::other("findings"))?;
        out.write_all(&count.to_le_bytes())?;
        for p in problems {
            out.write_all(&(p.code as u16).to_le_bytes())?;
            put_str(out, &p.detail)?;
        }
        self.rows += 1;
        self.not_empty += u64::from(!empty);
        Ok(())
    }

    fn bytes(&mut self) -> io::Result<u64> {
        self.out.flush()?;
        self.out.get_mut().stream_position()
    }

    fn truncate(&mut self, rows: u64, not_empty: u64, bytes: u64) -> io::Result<()> {
        self.out.flush()?;
        let file = self.out.get_mut();
        file.set_len(bytes)?;
        file.seek(SeekFrom::Start(bytes))?;
        self.rows = rows;
        self.not_empty = not_empty;
        Ok(())
    }

    /// Every row, in input order (each call reads from the first again; no row is added
    /// after reading starts).
    pub fn iter(&mut self) -> io::Result<impl Iterator<Item = io::Result<RefusedRow>> + '_> {
        self.out.flush()?;
        let file: &File = self.out.get_mut();
        let mut input = BufReader::with_capacity(1 << 16, file);
        input.seek(SeekFrom::Start(0))?;
        let mut left = self.rows;
        Ok(std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            Some(read_row(&mut input))
        }))
    }
}

fn put_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    // A cell is at most a record (1 MiB): its length fits in 4 bytes.
    let len = u32::try_from(s.len()).map_err(|_| io::Error::other("a cell over 4 GiB"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(s.as_bytes())
}

fn get_u64(input: &mut impl io::Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    input.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn get_str(input: &mut impl io::Read) -> io::Result<String> {
    let mut b = [0u8; 4];
    input.read_exact(&mut b)?;
    let mut bytes = vec![0u8; u32::from_le_bytes(b) as usize];
    input.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn read_row(input: &mut impl io::Read) -> io::Result<RefusedRow> {
    let line = get_u64(input)?;
    let row = get_u64(input)?;
    let mut flags = [0u8];
    input.read_exact(&mut flags)?;
    let mut fields: [String; 9] = Default::default();
    for f in &mut fields {
        *f = get_str(input)?;
    }
    let mut b = [0u8; 4];
    input.read_exact(&mut b)?;
    let count = u32::from_le_bytes(b);
    let mut problems = Vec::with_capacity(count.min(64) as usize);
    for _ in 0..count {
        let mut c = [0u8; 2];
        input.read_exact(&mut c)?;
        let rule = crate::vocab::rule::RULES
            .get(usize::from(u16::from_le_bytes(c)))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no such rule"))?;
        problems.push(Problem::new(rule.code, get_str(input)?));
    }
    Ok(RefusedRow {
        line,
        row,
        action: if flags[0] & 1 == 1 {
            Action::Update
        } else {
            Action::Create
        },
        empty: flags[0] & 2 == 2,
        fields: Fields::new(&fields),
        codes: join_codes(&problems),
        message: join_messages(&problems),
        problems,
        verdict: match flags[0] >> 2 {
            0 => Verdict::Ok,
            1 => Verdict::Warning,
            _ => Verdict::Error,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Code;

    #[test]
    fn a_row_read_back_from_the_temporary_file_is_the_row_that_was_held() {
        let fields = Fields::from([
            "",
            "ann@x.org",
            "Ann",
            "Müller",
            "ann@x.org",
            "",
            "UT_1",
            "active",
            "",
        ]);
        let problems = vec![
            Problem::new(
                Code::SheetNumberId,
                "sheet Users, cell A2: userID 1, \"quoted\"",
            ),
            Problem::new(Code::EmptyRow, ""),
        ];
        let mut spool = RefusedRows::new().expect("temporary file");
        spool
            .push(
                7,
                6,
                Action::Update,
                Verdict::Warning,
                false,
                &fields,
                &problems,
            )
            .expect("written");
        spool
            .push(
                8,
                7,
                Action::Create,
                Verdict::Ok,
                true,
                &Fields::default(),
                &[],
            )
            .expect("written");
        assert_eq!((spool.len(), spool.not_empty()), (2, 1));
        let rows: Vec<RefusedRow> = spool
            .iter()
            .expect("read")
            .collect::<io::Result<_>>()
            .expect("rows");
        assert_eq!(rows[0].codes, join_codes(&problems));
        assert_eq!(rows[0].message, join_messages(&problems));
        assert!(rows[1].codes.is_empty() && rows[1].report_message() == REFUSED);
        let mut rows = rows.into_iter().map(RefusedRow::into_input);
        let first = rows.next().expect("first");
        assert_eq!((first.line, first.row), (7, 6));
        assert_eq!(first.action, Action::Update);
        assert_eq!(first.verdict, Verdict::Warning);
        assert!(!first.empty);
        assert_eq!(first.fields, fields);
        assert_eq!(first.problems, problems);
        let second = rows.next().expect("second");
        assert_eq!(
            (second.line, second.action, second.verdict),
            (8, Action::Create, Verdict::Ok)
        );
        assert!(second.empty && second.problems.is_empty());
    }
}
