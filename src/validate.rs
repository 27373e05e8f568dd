//! The validation pipeline: a reader thread parses records in chunks, rayon checks each chunk's
//! rows in parallel, and this thread applies the cross-row checks and hands every row, in input
//! order, to a [`RowSink`] (the report writer, the importer's planner). Memory is bounded by
//! the chunks in flight, not by the file: only usernames and ids are kept for duplicates.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use jiff::civil::Date;
use rayon::prelude::*;
use serde::Serialize;

use crate::file::{
    self, trim, Block, BlockReader, Broken, Col, ColumnMap, Decoding, FileError, Opened, Opening,
    ReadOptions, Record, RecordBuf, Source, Unchecked,
};
use crate::instance::Instance;
use crate::rules::{
    check_row, duplicate_problems, CheckCtx, Code, CrossKeys, CrossRow, FirstLines, Problem,
    Severity, Upsert,
};
/// Re-exported where the sinks found it before it moved to the ground floor.
pub use crate::vocab::row::Verdict;
use crate::vocab::row::{Action, RowRef};

/// How many row problems the summary quotes in full.
pub(crate) const SAMPLE_PROBLEMS: usize = 20;
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
    /// Bytes per block of records (memory in flight is a small multiple of it).
    pub block_bytes: usize,
    /// Rows whose usernames and ids are remembered for duplicate checks (`None`: all). A file
    /// past Qualtrics' row limit is invalid whatever else it holds, so a check that must stay
    /// within a memory budget may stop remembering there.
    pub duplicate_rows: Option<u64>,
    /// `import --upsert`: a create whose username the instance has is checked, counted and
    /// handed on as an update of that user.
    pub upsert: Option<Upsert>,
}

impl ValidateOptions {
    pub fn new(read: ReadOptions, strict: bool) -> Self {
        ValidateOptions {
            read,
            strict,
            today: local_today(),
            block_bytes: BLOCK_BYTES,
            // Memory stays flat however many rows come: past the row limit the file is
            // invalid anyway (F07), and F07 says from which row on duplicates went unchecked.
            duplicate_rows: Some(file::MAX_ROWS),
            upsert: None,
        }
    }
}

/// Today in the computer's time zone. Read from `/etc/localtime` directly when `TZ` does not
/// say otherwise: finding the zone's name (which a date does not need) costs a walk through
/// the whole time zone database, a millisecond of a validation that takes a few dozen.
fn local_today() -> Date {
    let now = jiff::Timestamp::now();
    #[cfg(unix)]
    if std::env::var_os("TZ").is_none() {
        let local = std::fs::read("/etc/localtime").ok();
        if let Some(tz) = local.and_then(|data| jiff::tz::TimeZone::tzif("localtime", &data).ok()) {
            return now.to_zoned(tz).date();
        }
    }
    now.to_zoned(jiff::tz::TimeZone::system()).date()
}

/// One data record after every check, as a sink sees it.
pub struct CheckedRow<'a> {
    pub at: RowRef,
    pub record: Record<'a>,
    pub map: &'a ColumnMap,
    /// What an import does with the row, as the checks read it (an upsert is an update).
    pub action: Action,
    pub problems: &'a [Problem],
    pub verdict: Verdict,
}

impl<'a> CheckedRow<'a> {
    /// A template field, trimmed; empty when the file lacks the column.
    pub fn field(&self, col: Col) -> &'a str {
        trim(self.map.field(self.record, col))
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
    // Codes are three characters: room for all at once.
    let mut s = String::with_capacity(problems.len() * 4);
    for p in problems {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(p.code.id());
    }
    s
}

pub fn join_messages(problems: &[Problem]) -> String {
    let mut s = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        p.write_message(&mut s);
    }
    s
}

/// Encodes a row for a sink, on the worker threads (report rows are formatted in parallel).
pub type RowEncoder = dyn Fn(&CheckedRow, &mut Vec<u8>) + Send + Sync;

/// Receives the results of a validation, in input order (on a pool thread: hence `Send`).
pub trait RowSink: Send {
    /// A file-level problem (line when it has one).
    fn file_problem(
        &mut self,
        line: Option<u64>,
        problem: &Problem,
        strict: bool,
    ) -> io::Result<()>;
    /// An encoder to run on the worker threads; rows then reach [`RowSink::row`] with its bytes.
    fn encoder(&self) -> Option<Arc<RowEncoder>> {
        None
    }
    /// A checked data row, with the encoder's bytes for it when the encoder ran and the row
    /// did not change afterwards (cross-row problems are found later, in order).
    fn row(&mut self, row: &CheckedRow, encoded: Option<&[u8]>) -> io::Result<()>;
    /// A batch of rows is complete: a good moment to flush.
    fn chunk_done(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Marks where a validation starts; true when [`RowSink::rewind`] can go back here. A sink
    /// that can lets the file's encoding be decided as its records are checked, with no pass
    /// over the file before.
    fn mark(&mut self) -> io::Result<bool> {
        Ok(false)
    }
    /// Forgets everything given since [`RowSink::mark`]: the file turned out to need another
    /// encoding (or to be no text at all) and is read again from the start.
    fn rewind(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that keeps nothing (validation without a report).
pub struct NullSink;

impl RowSink for NullSink {
    fn file_problem(&mut self, _: Option<u64>, _: &Problem, _: bool) -> io::Result<()> {
        Ok(())
    }
    fn row(&mut self, _: &CheckedRow, _: Option<&[u8]>) -> io::Result<()> {
        Ok(())
    }
    fn mark(&mut self) -> io::Result<bool> {
        Ok(true)
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
    /// The SSO brand the usernames were checked against, and how it was known.
    pub sso_brand: Option<crate::rules::SsoBrand>,
    /// What the command did with the file beside the rules (import ignoring the export's name
    /// columns).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

struct Tally {
    summary: FileSummary,
    by_code: BTreeMap<Code, (u64, Vec<u64>)>,
    strict: bool,
    dates: crate::rules::DateOrder,
    /// The worksheet, when the file is a workbook: cross-row problems name their cells too.
    sheet: Option<Arc<file::SheetData>>,
    /// The first warnings, quoted after the errors (`summary.samples` keeps the errors): the
    /// problem list shows errors first however many warnings come before them.
    warning_samples: Vec<RowProblemOut>,
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
                sso_brand: None,
                notes: Vec::new(),
            },
            by_code: BTreeMap::new(),
            strict,
            dates: Default::default(),
            sheet: None,
            warning_samples: Vec::new(),
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
        self.dates
            .observe(row.at.line, row.field(Col::ExpirationDate));
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
            if entry.1.last() != Some(&row.at.line) {
                entry.0 += 1;
                if entry.1.len() < LINES_PER_RULE {
                    entry.1.push(row.at.line);
                }
            }
            let severity = p.severity(self.strict);
            let samples = match severity {
                Severity::Error => &mut s.samples,
                Severity::Warning => &mut self.warning_samples,
            };
            if samples.len() < SAMPLE_PROBLEMS {
                samples.push(RowProblemOut {
                    line: row.at.line,
                    row: row.at.row,
                    code: p.code.id(),
                    severity,
                    message: p.message(),
                });
            }
        }
    }

    fn finish(mut self) -> FileSummary {
        let room = SAMPLE_PROBLEMS.saturating_sub(self.summary.samples.len());
        self.warning_samples.truncate(room);
        self.summary.samples.append(&mut self.warning_samples);
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
        Code::LegacyEncoding => opened.encoding.first_line(),
        Code::SepLine => Some(1),
        Code::WrongDelimiter
        | Code::MissingColumn
        | Code::ExtraColumn
        | Code::ColumnOrder
        | Code::ColumnSpelling
        | Code::ExportNameColumns
        | Code::NoHeader
        | Code::HeaderTooLong => Some(opened.header_line),
        _ => None,
    }
}

/// One block's rows after checking (phase 2, in parallel). Kept once its rows are consumed
/// and filled again with a later block's: memory already touched costs no page faults.
#[derive(Default)]
struct Checked {
    records: RecordBuf,
    /// The block is one line the reader could not read as a record.
    broken: Option<Broken>,
    problems: Vec<Vec<Problem>>,
    /// What an import does with each row, as the checks read it.
    actions: Vec<Action>,
    keys: Vec<CrossKeys>,
    /// The line each row's username and userID were first seen on (`None`: not looked up).
    name_first: Vec<Option<u64>>,
    id_first: Vec<Option<u64>>,
    /// The sink's encoding of each row, row `i` at `encoded[ends[i - 1]..ends[i]]`.
    encoded: Vec<u8>,
    ends: Vec<usize>,
}

/// Checks the rows parsed into `block.records`. Row numbers are known here, so the sink's
/// encoder can run on the workers.
fn check_block(
    block: &mut Checked,
    first_row: u64,
    ctx: &CheckCtx,
    strict: bool,
    encoder: Option<&RowEncoder>,
) {
    let Checked {
        records,
        broken,
        problems,
        actions,
        keys,
        encoded,
        ends,
        ..
    } = block;
    let n = records.len();
    problems.clear();
    actions.clear();
    keys.clear();
    encoded.clear();
    ends.clear();
    problems.reserve(n);
    actions.reserve(n);
    keys.reserve(n);
    if encoder.is_some() {
        // Room for the report rows at once, more than they take: growing by doubling would
        // copy them over and over into new memory, and room never written costs nothing.
        encoded.reserve(n * 128 + records.text_len());
        ends.reserve(n);
    }
    for i in 0..n {
        let rec = records.get(i);
        let number = first_row + i as u64;
        let mut out = Vec::new();
        let action = match broken {
            // Its fields are not the user's values: only say what happened to the line.
            Some(b) => {
                out.push(broken_problem(*b, records.line(i)));
                Action::of_user_id(trim(ctx.map.field(rec, Col::UserId)))
            }
            None => {
                let action = check_row(rec, number, ctx, &mut out);
                legacy_fields(records, i, ctx.map, &mut out);
                quote_across_lines(rec, records.line(i), &mut out);
                if let Some(sheet) = ctx.sheet {
                    sheet.annotate(records.line(i), ctx.map, &mut out);
                }
                action
            }
        };
        keys.push(CrossKeys::of(
            trim(ctx.map.field(rec, Col::UserId)),
            trim(ctx.map.field(rec, Col::UserName)),
        ));
        if let Some(encode) = encoder {
            let row = CheckedRow {
                at: RowRef {
                    line: records.line(i),
                    row: number,
                },
                record: rec,
                map: ctx.map,
                action,
                verdict: Verdict::of(&out, strict),
                problems: &out,
            };
            encode(&row, encoded);
            ends.push(encoded.len());
        }
        problems.push(out);
        actions.push(action);
    }
}

/// What the reader did with a line it could not read as a record.
fn broken_problem(broken: Broken, line: u64) -> Problem {
    match broken {
        Broken::UnclosedQuote => Problem::new(
            Code::QuoteAcrossLines,
            format!(
                "a quote opens on line {line} and never closes (or not within {} bytes): this line was read alone, its quotes as plain characters, and each line after it as a row of its own",
                file::MAX_RECORD_BYTES
            ),
        ),
        Broken::TooLong { bytes } => Problem::new(
            Code::RecordTooLong,
            format!(
                "line {line} is {bytes} bytes long, more than the {} a record may have: it was skipped",
                file::MAX_RECORD_BYTES
            ),
        ),
    }
}

/// The fields of a mixed file's record that were not UTF-8 and were decoded from the file's
/// legacy encoding: each is named, with its column and what it reads (F19).
fn legacy_fields(records: &RecordBuf, i: usize, map: &ColumnMap, out: &mut Vec<Problem>) {
    let rec = records.get(i);
    for f in records.legacy_fields(i) {
        let column = file::COLUMNS
            .iter()
            .zip(map.pos)
            .find(|(_, p)| *p == Some(f))
            .map_or_else(
                || format!("column {}", file::column_letters(f)),
                |(n, _)| (*n).to_string(),
            );
        out.push(Problem::new(
            Code::LegacyField,
            format!(
                "line {}, {column}: \"{}\" was not UTF-8 like the rest of the file and was read in the legacy encoding the summary names (F04)",
                records.line(i),
                rec.get(f).unwrap_or("")
            ),
        ));
    }
}

/// A quoted value with line breaks: the lines after the first were read into one cell, and
/// the row says which (no line vanishes from the report). A well-formed multi-line cell is a
/// line break inside a field (R02), not a quote problem: R10 is for a quote that never closes
/// (see [`broken_problem`]). R02 from the row checks gets the lines; a line break in a column
/// no check looks at gets an R02 of its own.
fn quote_across_lines(rec: Record, line: u64, out: &mut Vec<Problem>) {
    // Counted by the parser as it read the record.
    let breaks = rec.breaks();
    if breaks > 0 {
        let last = line + breaks;
        let lines = if breaks == 1 {
            format!("line {last} was")
        } else {
            format!("lines {}–{last} were", line + 1)
        };
        let detail = format!(
            "a quote opens on line {line} and closes only on line {last}: {lines} read into one cell of this row"
        );
        match out.iter_mut().find(|p| p.code == Code::ControlChar) {
            Some(p) => {
                p.detail.push_str("; ");
                p.detail.push_str(&detail);
            }
            None => out.push(Problem::new(Code::ControlChar, detail)),
        }
    }
}

/// Parses and checks a batch of blocks on the pool; rows are numbered from `first_row`. Then
/// the duplicate lookups, in input order, usernames and userIDs side by side (off the in-order
/// thread: it only turns the rare duplicate into a problem).
#[allow(clippy::too_many_arguments)]
fn check_batch(
    batch: &[Block],
    first_row: u64,
    ctx: &CheckCtx,
    delimiter: u8,
    opts: &ValidateOptions,
    encoder: Option<&RowEncoder>,
    cross: &mut CrossRow,
    size: u64,
    unchecked: Unchecked,
    spares: &mut Vec<Checked>,
) -> Result<Vec<Checked>, Decoding> {
    let mut checked: Vec<Checked> = batch
        .iter()
        .map(|_| spares.pop().unwrap_or_default())
        .collect();
    let verdicts: Vec<Option<Decoding>> = checked
        .par_iter_mut()
        .zip(batch.par_iter())
        .map(|(slot, b)| {
            let first_bad = file::parse_block_into(b, delimiter, &mut slot.records);
            slot.broken = b.broken;
            unchecked.block_verdict(b, first_bad)
        })
        .collect();
    // The file is not what its first bytes said: a NUL anywhere makes it no text at all,
    // otherwise the first byte that is not UTF-8 decides.
    if let Some(v) = verdicts
        .iter()
        .flatten()
        .find(|v| matches!(v, Decoding::NotText(_)))
        .or_else(|| verdicts.iter().flatten().next())
    {
        return Err(v.clone());
    }
    let mut next = first_row;
    let firsts: Vec<u64> = checked
        .iter()
        .map(|c| {
            let f = next;
            next += c.records.len() as u64;
            f
        })
        .collect();
    if first_row == 1 {
        // Room for every row's keys at once: no growth as the tables fill.
        let rows: usize = checked.iter().map(|c| c.records.len()).sum();
        let bytes: usize = batch.iter().map(|b| b.bytes.len()).sum();
        if rows > 0 && bytes > 0 {
            let estimate = (size as usize / (bytes / rows).max(1))
                .min(file::MAX_ROWS as usize * 2)
                .min(opts.duplicate_rows.map_or(usize::MAX, |m| m as usize));
            cross.reserve(estimate);
        }
    }
    checked
        .par_iter_mut()
        .zip(firsts.par_iter().copied())
        .for_each(|(block, first)| check_block(block, first, ctx, opts.strict, encoder));
    let (names, ids) = cross.tables();
    let lookup = |table: &mut FirstLines, key: fn(&CrossKeys) -> Option<u128>| {
        checked
            .iter()
            .zip(&firsts)
            .map(|(block, &first)| {
                // A block's keys first, then their lookups together (which overlaps the
                // memory waits of neighbouring lookups).
                let keys: Vec<Option<(u128, u64)>> = (0..block.records.len())
                    .map(|i| {
                        let row = first + i as u64;
                        let remember = opts.duplicate_rows.is_none_or(|max| row - 1 < max)
                            && block.broken.is_none()
                            && !block.problems[i].iter().any(|p| p.code == Code::EmptyRow);
                        let k = key(&block.keys[i]).filter(|_| remember)?;
                        Some((k, block.records.line(i)))
                    })
                    .collect();
                table.first_lines(&keys)
            })
            .collect::<Vec<_>>()
    };
    let (name_first, id_first) =
        rayon::join(|| lookup(names, |k| k.name), || lookup(ids, |k| k.id));
    for ((block, n), d) in checked.iter_mut().zip(name_first).zip(id_first) {
        block.name_first = n;
        block.id_first = d;
    }
    Ok(checked)
}

/// The in-order stage: cross-row checks, the tally, and the sink.
fn consume(
    checked: &mut [Checked],
    tally: &mut Tally,
    sink: &mut dyn RowSink,
    map: &ColumnMap,
    opts: &ValidateOptions,
    encoded_rows: bool,
) -> Result<(), ValidateError> {
    if checked.is_empty() {
        return Ok(());
    }
    for block in checked.iter_mut() {
        for i in 0..block.records.len() {
            let rec = block.records.get(i);
            let line = block.records.line(i);
            let problems = &mut block.problems[i];
            let before = problems.len();
            let remember = opts
                .duplicate_rows
                .is_none_or(|max| tally.summary.rows < max);
            // Most rows are nobody's duplicate: their fields are not even looked at here.
            let seen_before = |first: Option<u64>| first.is_some_and(|f| f != line);
            if (seen_before(block.name_first[i]) || seen_before(block.id_first[i]))
                && remember
                && block.broken.is_none()
                && !problems.iter().any(|p| p.code == Code::EmptyRow)
            {
                let id = trim(map.field(rec, Col::UserId));
                let name = trim(map.field(rec, Col::UserName));
                duplicate_problems(
                    line,
                    id,
                    name,
                    block.name_first[i],
                    block.id_first[i],
                    problems,
                );
                if let Some(sheet) = &tally.sheet {
                    sheet.name_cells(line, map, &mut problems[before..]);
                }
            }
            // A cross-row problem changes the row: the sink encodes it afresh.
            let encoded = (encoded_rows && problems.len() == before).then(|| {
                let start = if i == 0 { 0 } else { block.ends[i - 1] };
                &block.encoded[start..block.ends[i]]
            });
            let checked = CheckedRow {
                at: RowRef {
                    line,
                    row: tally.summary.rows + 1,
                },
                record: rec,
                map,
                action: block.actions[i],
                verdict: Verdict::of(problems, opts.strict),
                problems,
            };
            tally.row(&checked);
            sink.row(&checked, encoded).map_err(ValidateError::Report)?;
        }
    }
    sink.chunk_done().map_err(ValidateError::Report)
}

/// Blocks read per batch: a few per core, so that both cores stay busy.
const BLOCKS_PER_BATCH: usize = 4;
/// Bytes per block.
const BLOCK_BYTES: usize = 1 << 18;

fn read_batch(reader: &mut BlockReader, blocks: usize) -> Result<Vec<Block>, io::Error> {
    let mut batch = Vec::with_capacity(blocks);
    while batch.len() < blocks {
        match reader.next_block()? {
            Some(b) => batch.push(b),
            None => break,
        }
    }
    Ok(batch)
}

/// Validates one file, streaming every row to `sink`.
///
/// When the sink can rewind, the file is not read once before its records: its first bytes
/// decide the encoding, the workers check every block's bytes as they parse it, and a block
/// that proves the first bytes wrong (a byte that is not UTF-8, a NUL) starts the validation
/// over in the encoding it calls for. Otherwise one pass over the file decides first.
pub fn validate_source(
    source: &Source,
    opts: &ValidateOptions,
    instance: Option<&Instance>,
    sink: &mut dyn RowSink,
) -> Result<FileSummary, ValidateError> {
    let rewinds = sink.mark().map_err(ValidateError::Report)?;
    let mut opening = if rewinds {
        file::open_unchecked(source, &opts.read)?
    } else {
        file::open(source, &opts.read)?
    };
    loop {
        match validate_opened(source, opening, opts, instance, sink)? {
            Pass::Done(summary) => return Ok(*summary),
            Pass::Again(decoding) => {
                sink.rewind().map_err(ValidateError::Report)?;
                // Read as Windows-1252 now, NUL bytes are still looked for.
                let left = Unchecked {
                    nul: true,
                    utf8: false,
                };
                opening = file::open_decided(source, &opts.read, decoding, left)?;
            }
        }
    }
}

/// How one pass over a file ended.
enum Pass {
    Done(Box<FileSummary>),
    /// The bytes showed the file must be read as this says: start over.
    Again(Decoding),
}

fn validate_opened(
    source: &Source,
    opening: Opening,
    opts: &ValidateOptions,
    instance: Option<&Instance>,
    sink: &mut dyn RowSink,
) -> Result<Pass, ValidateError> {
    let mut opened = match opening {
        Opening::Refused { problem, size } => {
            let mut tally = Tally::new(source, size, opts.strict);
            tally.file_problem(sink, None, &problem)?;
            sink.chunk_done().map_err(ValidateError::Report)?;
            return Ok(Pass::Done(Box::new(tally.finish())));
        }
        Opening::Ready(o) => o,
    };
    let mut tally = Tally::new(source, opened.size, opts.strict);
    tally.summary.encoding = Some(match &opened.sheet {
        Some(s) => format!("a workbook (sheet {})", s.sheet),
        None => opened.encoding.describe(),
    });
    tally.sheet = opened.sheet.clone();
    tally.summary.delimiter = Some(opened.delimiter.describe());
    let problems = std::mem::take(&mut opened.problems);
    for p in &problems {
        tally.file_problem(sink, opening_line(p.code, &opened), p)?;
    }
    sink.chunk_done().map_err(ValidateError::Report)?;

    let map = opened.header.map.clone();
    let header_is_data = opened.header.header_is_data;
    let delimiter = opened.delimiter.0;
    let sheet = opened.sheet.clone();
    let instance = instance.map(|i| i as &dyn crate::rules::InstanceFacts);
    let sso = crate::rules::SsoBrand::resolve(opts.read.sso_brand.as_deref(), instance);
    let ctx = CheckCtx {
        map: &map,
        instance,
        today: opts.today,
        sso_brand: sso.as_ref().map(|b| b.id.as_str()),
        sheet: sheet.as_deref(),
        upsert: opts.upsert.as_ref(),
    };
    tally.summary.sso_brand = sso.clone();
    let encoder = sink.encoder();
    let mut cross = CrossRow::new();
    let io_err = |e: io::Error| {
        ValidateError::File(FileError::Io {
            path: source.name(),
            source: e,
        })
    };
    let size = opened.size;
    let unchecked = opened.unchecked;
    let mut blocks = opened.into_blocks(opts.block_bytes);
    // Nothing runs in parallel until the first batch is read: it is small, one block a core.
    let first = rayon::current_num_threads().clamp(1, BLOCKS_PER_BATCH);
    let mut batch = read_batch(&mut blocks, first).map_err(io_err)?;
    let mut pending: Vec<Checked> = Vec::new();
    // Blocks whose rows were consumed, to be filled again.
    let mut spares: Vec<Checked> = Vec::new();
    let mut numbered = 0u64;
    // Three stages at once: the next batch is read, this one parsed and checked on the pool,
    // and the previous one's rows go through the cross-row checks to the sink, in order.
    while !batch.is_empty() || !pending.is_empty() {
        let first_row = numbered + 1;
        let ((next, checked), consumed) = rayon::join(
            || {
                rayon::join(
                    || {
                        if batch.is_empty() {
                            Ok(Vec::new())
                        } else {
                            read_batch(&mut blocks, BLOCKS_PER_BATCH)
                        }
                    },
                    || {
                        check_batch(
                            &batch,
                            first_row,
                            &ctx,
                            delimiter,
                            opts,
                            encoder.as_deref(),
                            &mut cross,
                            size,
                            unchecked,
                            &mut spares,
                        )
                    },
                )
            },
            || {
                consume(
                    &mut pending,
                    &mut tally,
                    &mut *sink,
                    &map,
                    opts,
                    encoder.is_some(),
                )
            },
        );
        consumed?;
        let checked = match checked {
            Ok(c) => c,
            Err(decoding) => return Ok(Pass::Again(decoding)),
        };
        numbered += checked.iter().map(|c| c.records.len() as u64).sum::<u64>();
        spares.append(&mut pending);
        pending = checked;
        for done in std::mem::replace(&mut batch, next.map_err(io_err)?) {
            blocks.recycle(done.bytes);
        }
    }

    let rows = tally.summary.rows;
    let counted = rows + u64::from(!header_is_data);
    if counted >= file::MAX_ROWS {
        let p = Problem::new(
            Code::TooManyRows,
            format!(
                "the file has {counted} rows counting the header; Qualtrics takes fewer than {} (at most {} data rows)",
                file::MAX_ROWS,
                file::MAX_ROWS - 2
            ) + &match opts.duplicate_rows {
                Some(max) if rows > max => format!(
                    "; duplicate usernames and userIDs were looked for in the first {max} data rows only (from row {} on they were not)",
                    max + 1
                ),
                _ => String::new(),
            },
        );
        tally.file_problem(sink, None, &p)?;
    }
    if let Some(p) = tally.dates.finish() {
        tally.file_problem(sink, None, &p)?;
    }
    if rows == 0 {
        let p = Problem::new(Code::NoDataRows, "there is nothing below the header");
        tally.file_problem(sink, None, &p)?;
    }
    sink.chunk_done().map_err(ValidateError::Report)?;
    Ok(Pass::Done(Box::new(tally.finish())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_the_system_time_zones_date() {
        let before = jiff::Zoned::now().date();
        let today = local_today();
        let after = jiff::Zoned::now().date();
        assert!(
            today == before || today == after,
            "{today} vs {before}/{after}"
        );
    }
}
