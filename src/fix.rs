//! `qusers fix` without the command line: rewrite a user file so that what can be fixed
//! mechanically is fixed, and say what changed. It never guesses: a date that could be read
//! two ways stays as it is unless the file is declared day-first.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::file::{
    self, parse_block_into, trim, Col, FileError, Opening, ReadOptions, Record, Source,
    TextEncoding,
};
use crate::rules::{
    find_invisible, format_file_date, is_header_record, parse_date, parse_status, remove_invisible,
    unmojibake, DateIssue,
};

/// How to fix.
#[derive(Clone, Debug, Default)]
pub(crate) struct FixOptions {
    pub read: ReadOptions,
    /// Write tab-separated.
    pub tsv: bool,
    /// Start the output with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Dates in the file are DD/MM/YYYY: convert every one.
    pub day_first: bool,
}

/// One cell changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CellChange {
    pub line: u64,
    pub column: String,
    pub before: String,
    pub after: String,
}

/// What a fix did and could not do.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FixReport {
    /// File-level changes: encoding, delimiter, columns.
    pub file_changes: Vec<String>,
    /// The first cell changes, in input order (all of them are counted in `counts`).
    pub cell_changes: Vec<CellChange>,
    /// Cell changes by kind.
    pub counts: BTreeMap<&'static str, u64>,
    /// What stays for `qusers validate` to report.
    pub not_fixed: Vec<String>,
    pub rows: u64,
    /// Rows with no value at all, left out.
    pub empty_rows_dropped: u64,
    /// Input lines whose record is not in the copy because it could not be read (a line
    /// longer than a record may be): the copy is incomplete, and `fix` says so with exit 1.
    pub lost_lines: Vec<u64>,
}

/// How many cell changes are kept in full.
const KEEP_CHANGES: usize = 200;

impl FixReport {
    fn cell(&mut self, kind: &'static str, line: u64, column: &str, before: &str, after: &str) {
        *self.counts.entry(kind).or_default() += 1;
        if self.cell_changes.len() < KEEP_CHANGES {
            self.cell_changes.push(CellChange {
                line,
                column: column.to_string(),
                before: before.to_string(),
                after: after.to_string(),
            });
        }
    }

    pub fn total_cell_changes(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// A date in the file's format, when it can be fixed without guessing.
pub(crate) fn fix_date(s: &str, day_first: bool) -> Option<String> {
    let numbers: Vec<&str> = s.split(['/', '.', '-']).collect();
    let all_digits = numbers.len() == 3
        && numbers
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()));
    let from_parts = |m: &str, d: &str, y: &str| -> Option<String> {
        (y.len() == 4 && m.len() <= 2 && d.len() <= 2).then(|| format!("{m:0>2}/{d:0>2}/{y}"))
    };
    if day_first && s.contains('/') && all_digits {
        // Declared DD/MM/YYYY: converted when that reading is a real date.
        let out = from_parts(numbers[1], numbers[0], numbers[2])?;
        return (out != s && parse_date(&out).is_ok()).then_some(out);
    }
    // Only ever into a real date: an invalid date is never turned into another invalid one
    // (2027-13-01 stays as it is, for validate to name).
    match parse_date(s) {
        Ok(_) => None,
        Err(DateIssue::Iso(Some(d))) => Some(format_file_date(d)),
        Err(DateIssue::Unpadded(d)) => Some(format_file_date(d)),
        // DD.MM.YYYY: dots are the day-first convention (German and others).
        Err(DateIssue::Format(_)) if all_digits && s.contains('.') => {
            from_parts(numbers[1], numbers[0], numbers[2]).filter(|out| parse_date(out).is_ok())
        }
        _ => None,
    }
}

/// Where an output column comes from.
enum OutCol {
    Template(Col),
    Other(usize, String),
}

/// Rewrites `source` into `out`.
pub(crate) fn fix(
    source: &Source,
    out: &mut dyn Write,
    opts: &FixOptions,
) -> Result<FixReport, FixError> {
    let mut report = FixReport::default();
    // A workbook is read once, here: a damaged one is the file error every command gives.
    let source = &source.with_sheet(&opts.read)?;
    let opened = match file::open(source, &opts.read)? {
        Opening::Refused { problem, .. } => return Err(FixError::NotFixable(problem.detail)),
        Opening::Ready(o) => o,
    };
    if let Some(sheet) = &opened.sheet {
        note_sheet(sheet, &mut report);
    }
    let delimiter = if opts.tsv { b'\t' } else { b',' };
    note_reading(&opened, opts, delimiter, &mut report);
    let map = opened.header.map.clone();
    let cols = output_columns(source, &opts.read, &opened, &mut report)?;

    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_writer(BomFirst {
            inner: out,
            bom: opts.bom,
        });
    let header: Vec<String> = cols
        .iter()
        .map(|c| match c {
            OutCol::Template(col) => col.name().to_string(),
            OutCol::Other(_, name) => name.clone(),
        })
        .collect();
    w.write_record(&header)?;

    let delimiter_in = opened.delimiter.0;
    let mut blocks = opened.into_blocks(1 << 18);
    let mut fields: Vec<String> = Vec::with_capacity(cols.len());
    let mut repeated_headers = Vec::new();
    let mut more_notes = 0u64;
    // One buffer for every block's records: no allocation per block.
    let mut records = file::RecordBuf::new();
    while let Some(block) = blocks.next_block().map_err(FixError::Io)? {
        match block.broken {
            Some(file::Broken::TooLong { bytes }) => {
                report.rows += 1;
                report.lost_lines.push(block.first_line);
                report.not_fixed.push(format!(
                    "line {} is {bytes} bytes long, more than a record may be: it is not in the copy",
                    block.first_line
                ));
                continue;
            }
            Some(file::Broken::UnclosedQuote) => report.not_fixed.push(format!(
                "line {}: a quote opens and never closes: the line was copied with its quotes as characters, the lines after it as rows of their own",
                block.first_line
            )),
            None => {}
        }
        parse_block_into(&block, delimiter_in, &mut records);
        for i in 0..records.len() {
            let rec = records.get(i);
            let line = records.line(i);
            report.rows += 1;
            if rec.iter().all(|f| trim(f).is_empty()) {
                report.empty_rows_dropped += 1;
                continue;
            }
            if is_header_record(&map, rec) {
                repeated_headers.push(line);
                continue;
            }
            fields.clear();
            for col in &cols {
                fields.push(fix_cell(&mut report, rec, &map, col, line, opts));
            }
            if rec.len() < map.width {
                report.not_fixed.push(format!(
                    "line {line} has {} fields where the header has {}: padded with empty fields at the end; check that its values are in the right columns",
                    rec.len(),
                    map.width
                ));
            } else if rec.len() > map.width {
                // Nothing is lost: the extra fields stay, after the others (validate shows R01).
                fields.extend(
                    (map.width..rec.len())
                        .filter_map(|i| rec.get(i))
                        .map(String::from),
                );
                report.not_fixed.push(format!(
                    "line {line} has {} fields where the header has {}: the extra ones are kept at the end of the row",
                    rec.len(),
                    map.width
                ));
            }
            w.write_record(&fields)?;
        }
        // Memory stays flat on huge files: the first notes in full, the rest counted.
        if report.not_fixed.len() > KEEP_CHANGES {
            more_notes += (report.not_fixed.len() - KEEP_CHANGES) as u64;
            report.not_fixed.truncate(KEEP_CHANGES);
        }
    }
    if more_notes > 0 {
        report.not_fixed.push(format!(
            "… and {more_notes} more lines like these (`qusers validate` lists every line)"
        ));
    }
    w.flush()?;
    if !repeated_headers.is_empty() {
        let lines: Vec<String> = repeated_headers.iter().map(u64::to_string).collect();
        report.file_changes.push(format!(
            "left out the header line repeated inside the data (line{} {})",
            if lines.len() == 1 { "" } else { "s" },
            lines.join(", ")
        ));
    }
    if report.empty_rows_dropped > 0 {
        report.file_changes.push(format!(
            "left out {} empty row(s)",
            report.empty_rows_dropped
        ));
    }
    Ok(report)
}

/// What reading a workbook's sheet did to its cells, and what it could not mend.
fn note_sheet(sheet: &file::SheetData, report: &mut FixReport) {
    let count = |kind: file::CellKind| sheet.count_facts(kind);
    let mut change = format!("read the sheet {} of the workbook", sheet.sheet);
    let dates = count(file::CellKind::Date);
    if dates > 0 {
        change.push_str(&format!(
            "; {dates} date cell(s) written as MM/DD/YYYY (check them: `qusers validate` names them, S01)"
        ));
    }
    report.file_changes.push(change);
    // Ids Excel kept as numbers, and cells a merged range left empty: copied as read, for
    // the admin to type again (`qusers validate` of the workbook names each cell).
    let numbers = count(file::CellKind::Number);
    if numbers > 0 {
        report.not_fixed.push(format!(
            "{numbers} userName/userID/email cell(s) are number cells, copied as Excel holds them (leading zeros and digits past 15 may be lost: S05 in `qusers validate` of the workbook)"
        ));
    }
    let merged = count(file::CellKind::Merged);
    if merged > 0 {
        report.not_fixed.push(format!(
            "{merged} row(s) have cells covered by a merged range, copied empty (S04 in `qusers validate` of the workbook)"
        ));
    }
    let flagged = count(file::CellKind::Error) + count(file::CellKind::Bool);
    if flagged > 0 {
        report.not_fixed.push(format!(
            "{flagged} error or TRUE/FALSE cell(s) copied as Excel shows them (S02/S03 in `qusers validate` of the workbook)"
        ));
    }
}

/// The file-level changes of reading the file: its encoding, a `sep=` line, its delimiter
/// (the copy's is `delimiter`).
fn note_reading(opened: &file::Opened, opts: &FixOptions, delimiter: u8, report: &mut FixReport) {
    match &opened.encoding {
        TextEncoding::Utf8 => {}
        TextEncoding::Utf8Bom if !opts.bom => report
            .file_changes
            .push("removed the UTF-8 byte-order mark".into()),
        TextEncoding::Utf8Bom => {}
        other => report
            .file_changes
            .push(format!("re-encoded from {} to UTF-8", other.describe())),
    }
    if let Some(d) = opened.sep_line {
        report.file_changes.push(format!(
            "dropped Excel's \"sep={}\" first line (the header is the next line; its delimiter was used)",
            d.0 as char
        ));
    }
    if opened.delimiter.0 != delimiter {
        report.file_changes.push(format!(
            "delimiter {} → {}",
            opened.delimiter.describe(),
            file::Delimiter(delimiter).describe()
        ));
    }
}

/// The copy's columns: the template's in order (then the file's others), or, when a template
/// column is missing, the file's own order; the changes and what stays are noted in `report`.
fn output_columns(
    source: &Source,
    read: &ReadOptions,
    opened: &file::Opened,
    report: &mut FixReport,
) -> Result<Vec<OutCol>, FixError> {
    let map = &opened.header.map;
    let mut cols = Vec::new();
    let all_template = map.pos.iter().all(Option::is_some);
    let dropped: Vec<usize> = [map.division_name, map.user_type_name]
        .into_iter()
        .flatten()
        .collect();
    if !dropped.is_empty() {
        let names: Vec<&str> = dropped
            .iter()
            .map(|&i| opened.header_fields[i].as_str())
            .collect();
        report.file_changes.push(format!(
            "dropped the export's column(s) {}",
            names.join(", ")
        ));
    }
    let template_at = |i: usize| map.pos.iter().position(|p| *p == Some(i));
    // Columns without a name (`,,,,` at the end of every line) go when they hold nothing.
    let unnamed: Vec<usize> = (0..opened.header_fields.len())
        .filter(|&i| {
            template_at(i).is_none()
                && !dropped.contains(&i)
                && trim(&remove_invisible(&opened.header_fields[i], false)).is_empty()
        })
        .collect();
    let empty_unnamed = if unnamed.is_empty() {
        Vec::new()
    } else {
        columns_without_data(source, read, &unnamed)?
    };
    if !empty_unnamed.is_empty() {
        let labels: Vec<String> = empty_unnamed
            .iter()
            .map(|&i| file::column_letters(i))
            .collect();
        report.file_changes.push(format!(
            "dropped {} empty column(s) without a name ({}): stray delimiters at the ends of the lines",
            empty_unnamed.len(),
            labels.join(", ")
        ));
    }
    let dropped: Vec<usize> = dropped.into_iter().chain(empty_unnamed).collect();
    if all_template {
        cols.extend(Col::ALL.iter().map(|&c| OutCol::Template(c)));
        for (i, name) in opened.header_fields.iter().enumerate() {
            if template_at(i).is_none() && !dropped.contains(&i) {
                cols.push(OutCol::Other(i, name.clone()));
                report.not_fixed.push(format!(
                    "column \"{name}\" is not a template column: kept at the end (delete it if it is not needed)"
                ));
            }
        }
        let in_order = map.pos.windows(2).all(|w| w[0] < w[1]);
        if !in_order {
            report
                .file_changes
                .push("put the columns in template order".into());
        }
    } else {
        for (i, name) in opened.header_fields.iter().enumerate() {
            if dropped.contains(&i) {
                continue;
            }
            match template_at(i) {
                Some(t) => cols.push(OutCol::Template(Col::ALL[t])),
                None => cols.push(OutCol::Other(i, name.clone())),
            }
        }
        let missing: Vec<&str> = Col::ALL
            .iter()
            .filter(|c| map.pos[**c as usize].is_none())
            .map(|c| c.name())
            .collect();
        report.not_fixed.push(format!(
            "missing column(s) {}: the columns keep their order",
            missing.join(", ")
        ));
    }
    let renamed: Vec<String> = Col::ALL
        .iter()
        .filter_map(|&c| {
            let i = map.pos[c as usize]?;
            let was = &opened.header_fields[i];
            (was != c.name()).then(|| format!("\"{was}\" → {}", c.name()))
        })
        .collect();
    if !renamed.is_empty() {
        report
            .file_changes
            .push(format!("renamed {}", renamed.join(", ")));
    }
    if opened.header.header_is_data {
        report
            .file_changes
            .push("added the header line (the first line was data)".into());
    }
    Ok(cols)
}

/// Which of the columns `candidates` hold no value in any record (a first pass over the file).
fn columns_without_data(
    source: &Source,
    read: &ReadOptions,
    candidates: &[usize],
) -> Result<Vec<usize>, FixError> {
    let opened = match file::open(source, read)? {
        Opening::Refused { problem, .. } => return Err(FixError::NotFixable(problem.detail)),
        Opening::Ready(o) => o,
    };
    let delimiter = opened.delimiter.0;
    let mut empty: Vec<usize> = candidates.to_vec();
    let mut blocks = opened.into_blocks(1 << 18);
    let mut records = file::RecordBuf::new();
    while let Some(block) = blocks.next_block().map_err(FixError::Io)? {
        parse_block_into(&block, delimiter, &mut records);
        for i in 0..records.len() {
            let rec = records.get(i);
            empty.retain(|&c| rec.get(c).is_none_or(|f| trim(f).is_empty()));
        }
        if empty.is_empty() {
            break;
        }
    }
    Ok(empty)
}

fn fix_cell(
    report: &mut FixReport,
    rec: Record,
    map: &file::ColumnMap,
    col: &OutCol,
    line: u64,
    opts: &FixOptions,
) -> String {
    let (raw, name, template) = match col {
        OutCol::Template(c) => (map.field(rec, *c), c.name(), Some(*c)),
        OutCol::Other(i, name) => (rec.get(*i).unwrap_or(""), name.as_str(), None),
    };
    // Garbled accents back first: their bytes may read as no-break spaces (`à` → `Ã` + NBSP).
    let restored;
    let raw = match unmojibake(raw) {
        Some(fixed) => {
            report.cell("garbled accents restored", line, name, raw, &fixed);
            restored = fixed;
            restored.as_str()
        }
        None => raw,
    };
    // Invisible characters out (a no-break space becomes a space, then trimmed).
    let visible;
    let raw = if find_invisible(raw).is_some() {
        // Joiners are part of some scripts' names: kept there, removed from ids and addresses.
        let keep_joiners = matches!(template, Some(Col::FirstName | Col::LastName) | None);
        visible = remove_invisible(raw, keep_joiners);
        if visible != raw {
            report.cell("invisible characters removed", line, name, raw, &visible);
        }
        visible.as_str()
    } else {
        raw
    };
    let trimmed = trim(raw);
    if trimmed.len() != raw.len() {
        report.cell("spaces trimmed", line, name, raw, trimmed);
    }
    let mut value = trimmed.to_string();
    if template.is_some_and(|c| !matches!(c, Col::FirstName | Col::LastName))
        && value.starts_with('\'')
    {
        let without = trim(&value[1..]).to_string();
        report.cell("Excel text prefix removed", line, name, &value, &without);
        value = without;
    }
    match template {
        Some(Col::UserName) => {
            // On an SSO brand a new user's username ends in #brandId (updates ignore userName).
            let brand = opts.read.sso_brand.as_deref();
            let create = trim(map.field(rec, Col::UserId)).is_empty();
            // Never from Excel's scientific notation (2.02312E+11): its digits are lost, and
            // the suffix would make it look valid (T03 stays for a person to fix).
            let scientific = crate::rules::is_scientific_notation(&value);
            if let Some(with) = brand
                .filter(|_| create && !scientific)
                .and_then(|b| crate::rules::with_brand(&value, b))
            {
                report.cell("SSO brand suffix", line, name, &value, &with);
                value = with;
            }
        }
        Some(Col::AccountStatus) => {
            if let Some((s, _)) = parse_status(&value) {
                if s.as_str() != value {
                    report.cell("status", line, name, &value, s.as_str());
                    value = s.as_str().to_string();
                }
            }
        }
        Some(Col::ExpirationDate) if !value.is_empty() => {
            if let Some(d) = fix_date(&value, opts.day_first) {
                report.cell("date", line, name, &value, &d);
                value = d;
            }
        }
        _ => {}
    }
    value
}

/// Writes a UTF-8 byte-order mark before the first byte, when asked to.
struct BomFirst<W> {
    inner: W,
    bom: bool,
}

impl<W: Write> Write for BomFirst<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bom {
            self.inner.write_all(&[0xEF, 0xBB, 0xBF])?;
            self.bom = false;
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Why a fix could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FixError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("cannot fix this file: {0}")]
    NotFixable(String),
    #[error("cannot write the fixed file: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write the fixed file: {0}")]
    Csv(#[from] csv::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_fixed_only_when_unambiguous() {
        assert_eq!(fix_date("2027-12-31", false).as_deref(), Some("12/31/2027"));
        assert_eq!(
            fix_date("2099-02-30", false),
            None,
            "never into an invalid date"
        );
        assert_eq!(fix_date("2027-13-01", false), None, "not 13/01/2027");
        assert_eq!(fix_date("31.02.2027", false), None);
        assert_eq!(fix_date("29/02/2027", true), None);
        assert_eq!(fix_date("3/4/2027", false).as_deref(), Some("03/04/2027"));
        assert_eq!(fix_date("31.12.2027", false).as_deref(), Some("12/31/2027"));
        assert_eq!(fix_date("03/04/2027", false), None);
        assert_eq!(fix_date("31/12/2027", false), None, "needs --day-first");
        assert_eq!(fix_date("31/12/2027", true).as_deref(), Some("12/31/2027"));
        assert_eq!(fix_date("03/04/2027", true).as_deref(), Some("04/03/2027"));
        assert_eq!(fix_date("12/31/2027", true), None, "not a day-first date");
        assert_eq!(fix_date("12/31/27", false), None);
        assert_eq!(fix_date("12/31/2027", false), None);
    }
}
