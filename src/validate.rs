//! The validation pipeline: a reader thread parses records in chunks, rayon checks each chunk's
//! rows in parallel, and this thread applies the cross-row checks and hands every row, in input
//! order, to a [`RowSink`] (the report writer, the importer's planner). Memory is bounded by
//! the chunks in flight, not by the file: only usernames and ids are kept for duplicates.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc;

use csv::ByteRecord;
use jiff::civil::Date;
use rayon::prelude::*;
use serde::Serialize;

use crate::file::{self, trim, Col, ColumnMap, FileError, Opened, Opening, ReadOptions, Source};
use crate::instance::Instance;
use crate::rules::{check_row, username_key, Action, CheckCtx, Code, CrossRow, Problem, Severity};

/// Records per chunk: large enough to amortise the hand-offs, small enough to keep memory flat.
pub const CHUNK_ROWS: usize = 4096;
/// How many row problems the summary quotes in full.
const SAMPLE_PROBLEMS: usize = 20;
/// How many line numbers the summary lists per rule.
const LINES_PER_RULE: usize = 5;

/// Settings for one validation run.
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    pub read: ReadOptions,
    /// Warnings count as errors.
    pub strict: bool,
    /// "Today", for dates in the past.
    pub today: Date,
    pub chunk_rows: usize,
}

impl ValidateOptions {
    pub fn new(read: ReadOptions, strict: bool) -> Self {
        ValidateOptions {
            read,
            strict,
            today: jiff::Zoned::now().date(),
            chunk_rows: CHUNK_ROWS,
        }
    }
}

/// A row's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warning,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Error => "error",
        }
    }

    fn of(problems: &[Problem], strict: bool) -> Verdict {
        problems
            .iter()
            .map(|p| match p.severity(strict) {
                Severity::Error => Verdict::Error,
                Severity::Warning => Verdict::Warning,
            })
            .max_by_key(|v| *v as u8)
            .unwrap_or(Verdict::Ok)
    }
}

/// One data record after every check, as a sink sees it.
pub struct CheckedRow<'a> {
    pub line: u64,
    pub row: u64,
    pub record: &'a ByteRecord,
    pub map: &'a ColumnMap,
    pub action: Action,
    pub problems: &'a [Problem],
    pub verdict: Verdict,
}

impl<'a> CheckedRow<'a> {
    /// A template field, trimmed; empty when the file lacks the column.
    pub fn field(&self, col: Col) -> Cow<'a, str> {
        match self.map.text(self.record, col) {
            Cow::Borrowed(s) => Cow::Borrowed(trim(s)),
            Cow::Owned(s) => Cow::Owned(trim(&s).to_string()),
        }
    }

    /// Every problem's code, space separated.
    pub fn codes(&self) -> String {
        join_codes(self.problems)
    }

    /// Every problem with its fix, `; ` separated.
    pub fn message(&self) -> String {
        join_messages(self.problems)
    }

    /// A row with nothing in it (R03): skipped, never imported.
    pub fn is_empty_row(&self) -> bool {
        self.problems.iter().any(|p| p.code == Code::EmptyRow)
    }
}

pub fn join_codes(problems: &[Problem]) -> String {
    let mut s = String::new();
    for p in problems {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(p.code.id());
    }
    s
}

pub fn join_messages(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::message)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Receives the results of a validation, in input order.
pub trait RowSink {
    /// A file-level problem (line when it has one).
    fn file_problem(
        &mut self,
        line: Option<u64>,
        problem: &Problem,
        strict: bool,
    ) -> io::Result<()>;
    /// A checked data row.
    fn row(&mut self, row: &CheckedRow) -> io::Result<()>;
    /// A chunk of rows is complete: a good moment to flush.
    fn chunk_done(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that keeps nothing (validation without a report).
pub struct NullSink;

impl RowSink for NullSink {
    fn file_problem(&mut self, _: Option<u64>, _: &Problem, _: bool) -> io::Result<()> {
        Ok(())
    }
    fn row(&mut self, _: &CheckedRow) -> io::Result<()> {
        Ok(())
    }
}

/// Why a validation could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("cannot write the report: {0}")]
    Report(#[source] io::Error),
}

/// A file-level problem as the summary shows it.
#[derive(Clone, Debug, Serialize)]
pub struct FileProblemOut {
    pub code: &'static str,
    pub severity: Severity,
    pub line: Option<u64>,
    pub message: String,
}

/// How often one rule broke, and where first.
#[derive(Clone, Debug, Serialize)]
pub struct RuleCount {
    pub code: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub rows: u64,
    pub lines: Vec<u64>,
}

/// A row problem quoted in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct RowProblemOut {
    pub line: u64,
    pub row: u64,
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// What a validation found in one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileSummary {
    pub file: String,
    pub valid: bool,
    pub bytes: u64,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    pub rows: u64,
    pub creates: u64,
    pub updates: u64,
    pub ok: u64,
    pub warning: u64,
    pub error: u64,
    pub file_problems: Vec<FileProblemOut>,
    pub rules: Vec<RuleCount>,
    pub samples: Vec<RowProblemOut>,
}

struct Tally {
    summary: FileSummary,
    by_code: BTreeMap<Code, (u64, Vec<u64>)>,
    strict: bool,
}

impl Tally {
    fn new(source: &Source, bytes: u64, strict: bool) -> Tally {
        Tally {
            summary: FileSummary {
                file: source.name(),
                valid: true,
                bytes,
                encoding: None,
                delimiter: None,
                rows: 0,
                creates: 0,
                updates: 0,
                ok: 0,
                warning: 0,
                error: 0,
                file_problems: Vec::new(),
                rules: Vec::new(),
                samples: Vec::new(),
            },
            by_code: BTreeMap::new(),
            strict,
        }
    }

    fn file_problem(
        &mut self,
        sink: &mut dyn RowSink,
        line: Option<u64>,
        p: &Problem,
    ) -> Result<(), ValidateError> {
        let severity = p.severity(self.strict);
        if severity == Severity::Error {
            self.summary.valid = false;
        }
        self.summary.file_problems.push(FileProblemOut {
            code: p.code.id(),
            severity,
            line,
            message: p.message(),
        });
        sink.file_problem(line, p, self.strict)
            .map_err(ValidateError::Report)
    }

    fn row(&mut self, row: &CheckedRow) {
        let s = &mut self.summary;
        s.rows += 1;
        match row.action {
            Action::Create => s.creates += 1,
            Action::Update => s.updates += 1,
        }
        match row.verdict {
            Verdict::Ok => s.ok += 1,
            Verdict::Warning => s.warning += 1,
            Verdict::Error => {
                s.error += 1;
                s.valid = false;
            }
        }
        for p in row.problems {
            let entry = self.by_code.entry(p.code).or_default();
            // A rule counts once per row even when it broke twice there.
            if entry.1.last() != Some(&row.line) {
                entry.0 += 1;
                if entry.1.len() < LINES_PER_RULE {
                    entry.1.push(row.line);
                }
            }
            if s.samples.len() < SAMPLE_PROBLEMS {
                s.samples.push(RowProblemOut {
                    line: row.line,
                    row: row.row,
                    code: p.code.id(),
                    severity: p.severity(self.strict),
                    message: p.message(),
                });
            }
        }
    }

    fn finish(mut self) -> FileSummary {
        self.summary.rules = self
            .by_code
            .into_iter()
            .map(|(code, (rows, lines))| RuleCount {
                code: code.id(),
                severity: if self.strict {
                    Severity::Error
                } else {
                    code.rule().severity
                },
                title: code.rule().title,
                rows,
                lines,
            })
            .collect();
        self.summary
    }
}

/// Where a file-level problem found when opening sits.
fn opening_line(code: Code, opened: &Opened) -> Option<u64> {
    match code {
        Code::LegacyEncoding => match opened.encoding {
            file::TextEncoding::Windows1252 { first_line } => Some(first_line),
            _ => None,
        },
        Code::WrongDelimiter
        | Code::MissingColumn
        | Code::ExtraColumn
        | Code::ColumnOrder
        | Code::ColumnSpelling
        | Code::ExportNameColumns
        | Code::NoHeader => Some(1),
        _ => None,
    }
}

/// A chunk of records travelling from the reader thread and back for reuse.
#[derive(Default)]
struct Chunk {
    records: Vec<ByteRecord>,
    len: usize,
}

/// Validates one file, streaming every row to `sink`.
pub fn validate_source(
    source: &Source,
    opts: &ValidateOptions,
    instance: Option<&Instance>,
    sink: &mut dyn RowSink,
) -> Result<FileSummary, ValidateError> {
    let mut opened = match file::open(source, &opts.read)? {
        Opening::Refused { problem, size } => {
            let mut tally = Tally::new(source, size, opts.strict);
            tally.file_problem(sink, None, &problem)?;
            sink.chunk_done().map_err(ValidateError::Report)?;
            return Ok(tally.finish());
        }
        Opening::Ready(o) => o,
    };
    let mut tally = Tally::new(source, opened.size, opts.strict);
    tally.summary.encoding = Some(opened.encoding.describe());
    tally.summary.delimiter = Some(opened.delimiter.describe());
    let problems = std::mem::take(&mut opened.problems);
    for p in &problems {
        tally.file_problem(sink, opening_line(p.code, &opened), p)?;
    }
    sink.chunk_done().map_err(ValidateError::Report)?;

    let map = opened.header.map.clone();
    let ctx = CheckCtx {
        map: &map,
        instance,
        today: opts.today,
    };
    let mut cross = CrossRow::new();
    let mut process = |chunk: &Chunk, tally: &mut Tally| -> Result<(), ValidateError> {
        let records = &chunk.records[..chunk.len];
        let results: Vec<(Vec<Problem>, Option<Box<str>>)> = records
            .par_iter()
            .map(|rec| {
                let mut out = Vec::new();
                check_row(rec, &ctx, &mut out);
                let key = if out.iter().any(|p| p.code == Code::EmptyRow) {
                    None
                } else {
                    username_key(trim(&map.text(rec, Col::UserName)))
                };
                (out, key)
            })
            .collect();
        for (rec, (mut problems, key)) in records.iter().zip(results) {
            let line = rec.position().map_or(1, |p| p.line());
            let action = Action::of(&map, rec);
            if !problems.iter().any(|p| p.code == Code::EmptyRow) {
                let id = map.text(rec, Col::UserId);
                let name = map.text(rec, Col::UserName);
                cross.check(line, trim(&id), trim(&name), key, &mut problems);
            }
            let checked = CheckedRow {
                line,
                row: tally.summary.rows + 1,
                record: rec,
                map: &map,
                action,
                verdict: Verdict::of(&problems, opts.strict),
                problems: &problems,
            };
            tally.row(&checked);
            sink.row(&checked).map_err(ValidateError::Report)?;
        }
        sink.chunk_done().map_err(ValidateError::Report)
    };

    if let Some(first) = opened.first_record.take() {
        let chunk = Chunk {
            records: vec![first],
            len: 1,
        };
        process(&chunk, &mut tally)?;
    }

    let chunk_rows = opts.chunk_rows.max(1);
    let mut reader = opened.reader;
    std::thread::scope(|s| -> Result<(), ValidateError> {
        let (tx, rx) = mpsc::sync_channel::<Result<Chunk, FileError>>(2);
        let (recycle_tx, recycle_rx) = mpsc::channel::<Chunk>();
        s.spawn(move || loop {
            let mut chunk = recycle_rx.try_recv().unwrap_or_default();
            chunk.len = 0;
            while chunk.len < chunk_rows {
                if chunk.records.len() == chunk.len {
                    chunk.records.push(ByteRecord::new());
                }
                match reader.read_byte_record(&mut chunk.records[chunk.len]) {
                    Ok(true) => chunk.len += 1,
                    Ok(false) => break,
                    Err(e) => {
                        let _ = tx.send(Err(file::csv_error(source, e)));
                        return;
                    }
                }
            }
            let last = chunk.len < chunk_rows;
            if chunk.len > 0 && tx.send(Ok(chunk)).is_err() {
                return;
            }
            if last {
                return;
            }
        });
        for msg in rx {
            let chunk = msg?;
            process(&chunk, &mut tally)?;
            // The reader may have finished already; then the chunk is simply dropped.
            let _ = recycle_tx.send(chunk);
        }
        Ok(())
    })?;

    let rows = tally.summary.rows;
    let counted = rows + u64::from(!opened.header.header_is_data);
    if counted >= file::MAX_ROWS {
        let p = Problem::new(
            Code::TooManyRows,
            format!(
                "the file has {counted} rows counting the header; Qualtrics takes fewer than {} (at most {} data rows)",
                file::MAX_ROWS,
                file::MAX_ROWS - 2
            ),
        );
        tally.file_problem(sink, None, &p)?;
    }
    if rows == 0 {
        let p = Problem::new(Code::NoDataRows, "there is nothing below the header");
        tally.file_problem(sink, None, &p)?;
    }
    sink.chunk_done().map_err(ValidateError::Report)?;
    Ok(tally.finish())
}
