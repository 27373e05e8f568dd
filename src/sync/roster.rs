//! Reading a roster: any columns, CSV, TSV or workbook, through the same opening as every user
//! file (encoding, delimiter, worksheet), kept whole in memory with each record's physical line,
//! plus the facts the truncated-roster guard needs (a last record cut off, an empty file).

use std::io::Read;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::file::{Opening, ReadOptions, Source};

/// A roster as read.
#[derive(Clone, Debug, Default)]
pub struct Roster {
    /// How to name it.
    pub name: String,
    pub header: Vec<String>,
    /// (physical line, fields), blank records left out.
    pub records: Vec<(u64, Vec<String>)>,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
    /// The file has no data at all (no bytes, or nothing but blank lines).
    pub empty: bool,
    /// Why the last record looks cut off mid-record, if it does.
    pub cut: Option<String>,
    /// The file's modification time (seconds since the epoch), when it has one.
    pub modified: Option<i64>,
}

impl Roster {
    /// The column `name`: exactly, else ignoring case and spaces.
    pub fn column(&self, name: &str) -> Option<usize> {
        let squash = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
                .flat_map(char::to_lowercase)
                .collect()
        };
        self.header.iter().position(|h| h == name).or_else(|| {
            let want = squash(name);
            self.header.iter().position(|h| squash(h) == want)
        })
    }
}

/// Reads `source` whole.
pub fn read(source: &Source, opts: &ReadOptions) -> anyhow::Result<Roster> {
    let name = source.name();
    let mut sha = Sha256::new();
    let mut raw = source.reader()?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = raw
            .read(&mut buf)
            .with_context(|| format!("cannot read {name}"))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
    }
    let sha256 = format!("{:x}", sha.finalize());
    let modified = source
        .path()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    let opened = match crate::file::open(source, opts)? {
        Opening::Refused { problem, size } => {
            if size == 0 || problem.code == crate::rules::Code::EmptyFile {
                return Ok(Roster {
                    name,
                    sha256,
                    empty: true,
                    modified,
                    ..Roster::default()
                });
            }
            anyhow::bail!("{name} cannot be read as a roster: {}", problem.message());
        }
        Opening::Ready(o) => o,
    };
    let header: Vec<String> = opened
        .header_fields
        .iter()
        .map(|h| crate::file::trim(h).to_string())
        .collect();
    let body_line = opened.body_line;
    let delimiter = opened.delimiter.0;
    let workbook = opened.sheet.is_some();
    let mut text = String::new();
    let mut body = opened.body;
    body.read_to_string(&mut text)
        .with_context(|| format!("cannot read {name}"))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    let mut last_start = 0usize;
    let (mut counted_to, mut counted_lines) = (0usize, 0u64);
    let mut rec = csv::StringRecord::new();
    loop {
        let pos = reader.position().clone();
        match reader.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => anyhow::bail!("{name}: {e}"),
        }
        let start = rec.position().unwrap_or(&pos);
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        last_start = start.byte() as usize;
        // The csv reader's start can be the blank lines it skipped before the record.
        while text.as_bytes().get(last_start) == Some(&b'\n') {
            last_start += 1;
        }
        // Physical lines counted from the bytes (the body's line ends are `\n`).
        counted_lines +=
            memchr::memchr_iter(b'\n', &text.as_bytes()[counted_to..last_start]).count() as u64;
        counted_to = last_start;
        let line = body_line + counted_lines;
        records.push((line, rec.iter().map(|f| f.trim().to_string()).collect()));
    }
    let empty = header.iter().all(|h| h.is_empty()) && records.is_empty();
    // A spreadsheet's rows are whole cells: only a text file can end mid-record.
    let cut = if workbook || records.is_empty() {
        None
    } else {
        cut_off(&text[last_start.min(text.len())..], header.len(), delimiter)
    };
    Ok(Roster {
        name,
        header,
        records,
        sha256,
        empty,
        cut,
        modified,
    })
}

/// Why `last` (the text of the last record to the end of the file) looks cut off: a quote
/// that never closes, or fewer fields than the header and no final line break.
fn cut_off(last: &str, columns: usize, delimiter: u8) -> Option<String> {
    // A closed quoted field has an even number of quote characters; an unclosed one, odd.
    if last.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
        return Some(
            "its last record opens a quote that never closes (the file ends inside a field)".into(),
        );
    }
    let ends_with_break = last.ends_with('\n') || last.ends_with('\r');
    let fields = last
        .trim_end_matches(['\n', '\r'])
        .bytes()
        .filter(|&b| b == delimiter)
        .count()
        + 1;
    if !ends_with_break && fields < columns {
        return Some(format!(
            "its last line has {fields} of the header's {columns} fields and no line break at the end (the file was cut off while written)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster(text: &str) -> Roster {
        read(
            &Source::Stdin(std::sync::Arc::new(text.as_bytes().to_vec())),
            &ReadOptions::default(),
        )
        .expect("reads")
    }

    #[test]
    fn records_keep_their_physical_lines_and_a_cut_last_line_is_seen() {
        let r = roster("NetID,First Name\nab1,\"Ann\nB\"\n\ncd2,Carl\n");
        assert_eq!(r.header, ["NetID", "First Name"]);
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[0].0, 2);
        assert_eq!(r.records[1].0, 5);
        assert!(r.cut.is_none());
        assert_eq!(r.column("first name"), Some(1));

        assert!(roster("NetID,First Name\nab1,Ann\ncd2").cut.is_some());
        assert!(roster("NetID,First Name\nab1,Ann\ncd2,\"Car").cut.is_some());
        // A complete last line without a final newline is whole.
        assert!(roster("NetID,First Name\nab1,Ann\ncd2,Carl").cut.is_none());
        assert!(roster("").empty);
    }
}
