//! `qusers fix` without the command line: rewrite a user file so that what can be fixed
//! mechanically is fixed, and say what changed. It never guesses: a date that could be read
//! two ways stays as it is unless the file is declared day-first.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::file::{
    self, parse_block, trim, Col, FileError, Opening, ReadOptions, Record, Source, TextEncoding,
};
use crate::rules::{format_file_date, parse_date, parse_status, DateIssue};

/// How to fix.
#[derive(Clone, Debug, Default)]
pub struct FixOptions {
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
pub fn fix_date(s: &str, day_first: bool) -> Option<String> {
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
    match parse_date(s) {
        Ok(_) => None,
        // YYYY-MM-DD is unambiguous; an impossible one is rewritten too, so that validate
        // names the real problem (D02) rather than the format.
        Err(DateIssue::Iso(Some(d))) => Some(format_file_date(d)),
        Err(DateIssue::Iso(None)) if all_digits => from_parts(numbers[1], numbers[2], numbers[0]),
        Err(DateIssue::Unpadded(d)) => Some(format_file_date(d)),
        // DD.MM.YYYY: dots are the day-first convention (German and others).
        Err(DateIssue::Format(_)) if all_digits && s.contains('.') => {
            from_parts(numbers[1], numbers[0], numbers[2])
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
pub fn fix(source: &Source, out: &mut dyn Write, opts: &FixOptions) -> Result<FixReport, FixError> {
    let mut report = FixReport::default();
    let opened = match file::open(source, &opts.read)? {
        Opening::Refused { problem, .. } => return Err(FixError::NotFixable(problem.detail)),
        Opening::Ready(o) => o,
    };
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
    let delimiter = if opts.tsv { b'\t' } else { b',' };
    if opened.delimiter.0 != delimiter {
        report.file_changes.push(format!(
            "delimiter {} → {}",
            opened.delimiter.describe(),
            file::Delimiter(delimiter).describe()
        ));
    }
    let map = opened.header.map.clone();
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
    let mut more_notes = 0u64;
    while let Some(block) = blocks.next_block().map_err(FixError::Io)? {
        match block.broken {
            Some(file::Broken::TooLong { bytes }) => {
                report.rows += 1;
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
        let records = parse_block(&block, delimiter_in);
        for i in 0..records.len() {
            let rec = records.get(i);
            let line = records.line(i);
            report.rows += 1;
            if rec.iter().all(|f| trim(f).is_empty()) {
                report.empty_rows_dropped += 1;
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
    if report.empty_rows_dropped > 0 {
        report.file_changes.push(format!(
            "left out {} empty row(s)",
            report.empty_rows_dropped
        ));
    }
    Ok(report)
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
    let trimmed = trim(raw);
    if trimmed.len() != raw.len() {
        report.cell("spaces trimmed", line, name, raw, trimmed);
    }
    let mut value = trimmed.to_string();
    match template {
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
pub enum FixError {
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
        assert_eq!(fix_date("2099-02-30", false).as_deref(), Some("02/30/2099"));
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
