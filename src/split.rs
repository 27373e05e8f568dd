//! `qusers split` without the command line: cut a file into parts within Qualtrics' limits,
//! each with the header, never cutting a record. A UTF-8 file is cut on its own bytes, so the
//! parts' data rows put together are the input's, byte for byte; other encodings are decoded
//! and the parts written as UTF-8.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::file::{
    self, BlockReader, BoundaryScanner, FileError, Opening, ReadOptions, Source, TextEncoding,
    MAX_BYTES, MAX_ROWS,
};

/// Data rows per part at most: fewer than 100,000 rows counting the header.
pub(crate) const MAX_PART_ROWS: u64 = MAX_ROWS - 2;
/// Bytes per part at most: under 20 MB.
pub(crate) const MAX_PART_BYTES: u64 = MAX_BYTES - 1;

/// How to split.
#[derive(Clone, Debug)]
pub(crate) struct SplitOptions {
    pub read: ReadOptions,
    /// Data rows per part (capped at [`MAX_PART_ROWS`]).
    pub rows: u64,
    /// Bytes per part, header included (capped at [`MAX_PART_BYTES`]).
    pub bytes: u64,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            read: ReadOptions::default(),
            rows: MAX_PART_ROWS,
            bytes: MAX_PART_BYTES,
        }
    }
}

/// A part written.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

/// Why a split could not be done.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SplitError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("cannot split this file: {0}")]
    NotSplittable(String),
    #[error("{0} exists already (nothing was written): remove the old parts or choose another --out-dir")]
    PartExists(String),
    #[error("cannot write a part: {0}")]
    Io(#[from] std::io::Error),
}

struct Writer<'a> {
    dir: &'a Path,
    stem: String,
    ext: String,
    preamble: Vec<u8>,
    current: Option<(BufWriter<File>, Part)>,
    parts: Vec<Part>,
}

impl Writer<'_> {
    fn part_path(&self, n: usize) -> PathBuf {
        self.dir
            .join(format!("{}.part-{n:03}.{}", self.stem, self.ext))
    }

    fn open_next(&mut self) -> Result<(), SplitError> {
        self.close()?;
        let path = self.part_path(self.parts.len() + 1);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    SplitError::PartExists(path.display().to_string())
                } else {
                    SplitError::Io(e)
                }
            })?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        w.write_all(&self.preamble)?;
        self.current = Some((
            w,
            Part {
                path,
                rows: 0,
                bytes: self.preamble.len() as u64,
            },
        ));
        Ok(())
    }

    fn close(&mut self) -> Result<(), SplitError> {
        if let Some((mut w, part)) = self.current.take() {
            w.flush()?;
            self.parts.push(part);
        }
        Ok(())
    }

    /// Whether a record is too big for any part, header included.
    fn too_big(&self, bytes: &[u8], opts: &SplitOptions) -> bool {
        self.preamble.len() as u64 + bytes.len() as u64 > opts.bytes
    }

    /// Adds one record's bytes (`is_row`: it counts as a row; blank lines do not).
    fn add(&mut self, bytes: &[u8], is_row: bool, opts: &SplitOptions) -> Result<(), SplitError> {
        let len = bytes.len() as u64;
        debug_assert!(
            !self.too_big(bytes, opts),
            "checked by the caller, who knows the line"
        );
        let full = match &self.current {
            None => true,
            Some((_, p)) => (is_row && p.rows >= opts.rows) || p.bytes + len > opts.bytes,
        };
        if full {
            self.open_next()?;
        }
        let (w, part) = self.current.as_mut().expect("a part is open");
        w.write_all(bytes)?;
        part.bytes += len;
        part.rows += u64::from(is_row);
        Ok(())
    }
}

/// Why `rec`, starting on physical line `line`, goes in no part of `limit` bytes, in words
/// that point at the cause: a quote that opens on one line and closes lines later holds them
/// all in one record (the usual cause), or line ends a lone CR.
fn record_too_big(rec: &[u8], line: u64, limit: u64) -> String {
    let len = rec.len();
    let body = rec.strip_suffix(b"\n").unwrap_or(rec);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let breaks = memchr::memchr_iter(b'\n', body).count() as u64;
    // The line whose end is the first inside a quote: the quote opens there.
    let mut in_quote = false;
    let mut at = line;
    let mut opened = None;
    for &b in body {
        match b {
            b'"' => in_quote = !in_quote,
            b'\n' if in_quote => {
                opened = Some(at);
                break;
            }
            b'\n' => at += 1,
            _ => {}
        }
    }
    if let (Some(open), true) = (opened, breaks > 0) {
        let last = line + breaks;
        return format!(
            "the record on lines {line} to {last} is {len} bytes, more than a part may hold ({limit} bytes with the header): a quote opens on line {open} and does not close until line {last}, so every line between is one cell; close the quote on line {open} (or delete it) and split again"
        );
    }
    if memchr::memchr(b'\r', body).is_some() {
        return format!(
            "the record on line {line} is {len} bytes, more than a part may hold ({limit} bytes with the header): its lines end in a lone CR (old Mac line ends), so they read as one; `qusers fix` rewrites them"
        );
    }
    format!(
        "line {line} is {len} bytes, more than a part may hold ({limit} bytes with the header): give a larger --bytes"
    )
}

/// Whether the file's first MiB has a `\r` that is not part of a `\r\n`.
fn has_lone_cr(source: &Source) -> Result<bool, SplitError> {
    let mut head = Vec::with_capacity(1 << 16);
    source.reader()?.take(1 << 20).read_to_end(&mut head)?;
    Ok(memchr::memchr_iter(b'\r', &head)
        .any(|i| head.get(i + 1).is_some_and(|&b| b != b'\n') || i + 1 == head.len()))
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == b'\n' || b == b'\r')
}

/// A part of an earlier split of the same file in `dir` (`STEM.part-NNN.EXT`), if any.
fn existing_part(dir: &Path, stem: &str, ext: &str) -> Option<PathBuf> {
    let prefix = format!("{stem}.part-");
    let suffix = format!(".{ext}");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(&suffix))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Splits `source` into parts in `out_dir` (created if missing).
pub(crate) fn split(
    source: &Source,
    out_dir: &Path,
    opts: &SplitOptions,
) -> Result<Vec<Part>, SplitError> {
    let opts = SplitOptions {
        rows: opts.rows.clamp(1, MAX_PART_ROWS),
        bytes: opts.bytes.min(MAX_PART_BYTES),
        ..opts.clone()
    };
    // A workbook is split as the CSV of its worksheet (the parts are CSV).
    let source = &source.with_sheet(&opts.read)?;
    let opened = match file::open(source, &opts.read)? {
        Opening::Refused { problem, .. } => return Err(SplitError::NotSplittable(problem.detail)),
        Opening::Ready(o) => o,
    };
    let (stem, ext) = match source.path() {
        Some(p) if source.sheet().is_some() => (
            p.file_stem()
                .map_or("users".into(), |s| s.to_string_lossy().into_owned()),
            "csv".into(),
        ),
        Some(p) => (
            p.file_stem()
                .map_or("users".into(), |s| s.to_string_lossy().into_owned()),
            p.extension()
                .map_or("csv".into(), |s| s.to_string_lossy().into_owned()),
        ),
        None => ("stdin".into(), "csv".into()),
    };
    // Before any part is written: no old part may be in the way, and no part may be the input.
    if let Some(old) = existing_part(out_dir, &stem, &ext) {
        return Err(SplitError::PartExists(old.display().to_string()));
    }
    if let Some(input) = source.path() {
        let first = out_dir.join(format!("{stem}.part-001.{ext}"));
        file::ensure_outputs_distinct(&[input], &[&first])?;
    }
    std::fs::create_dir_all(out_dir)?;
    let delimiter = opened.delimiter.0;
    let opened_sep = opened.sep_line.is_some();
    // Old Mac line ends (CR only, Excel's "CSV (Macintosh)") are not cut on raw bytes: those
    // files go the decoded way, where every line end is `\n`.
    let raw = matches!(opened.encoding, TextEncoding::Utf8 | TextEncoding::Utf8Bom)
        && !has_lone_cr(source)?;
    let mut writer = Writer {
        dir: out_dir,
        stem,
        ext,
        preamble: Vec::new(),
        current: None,
        parts: Vec::new(),
    };
    let mut blocks = if raw {
        // The file's own bytes: the BOM goes in front of every part, the header after it.
        let mut rdr = source.reader()?;
        if opened.encoding == TextEncoding::Utf8Bom {
            let mut bom = [0u8; 3];
            rdr.read_exact(&mut bom)?;
            writer.preamble.extend_from_slice(&bom);
        }
        BlockReader::new(rdr, delimiter, 1, 1 << 20)
    } else {
        // Decoded: the header is written anew, as UTF-8.
        let mut w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .from_writer(Vec::new());
        w.write_record(&opened.header_fields)
            .map_err(|e| SplitError::Io(std::io::Error::other(e)))?;
        let header = w.into_inner().map_err(|e| SplitError::Io(e.into_error()))?;
        writer.preamble.extend_from_slice(&header);
        opened.into_blocks(1 << 20)
    };
    // The raw way, the header is the first record (after Excel's `sep=` line, which every part
    // keeps too).
    let mut header_pending = if raw { 1 + usize::from(opened_sep) } else { 0 };
    let mut cuts = Vec::new();
    while let Some(block) = blocks.next_block()? {
        if let Some(file::Broken::TooLong { bytes }) = block.broken {
            return Err(SplitError::NotSplittable(format!(
                "line {} is {bytes} bytes long, more than a record may be ({} bytes); the parts written so far hold the lines before it",
                block.first_line,
                file::MAX_RECORD_BYTES
            )));
        }
        cuts.clear();
        BoundaryScanner::new(delimiter).scan_all(&block.bytes, &mut cuts);
        if cuts.last() != Some(&block.bytes.len()) {
            cuts.push(block.bytes.len()); // the file's last record, without a line end
        }
        let mut start = 0;
        for &end in &cuts {
            let rec = &block.bytes[start..end];
            start = end;
            if header_pending > 0 {
                if is_blank(rec) {
                    continue;
                }
                writer.preamble.extend_from_slice(rec);
                if !rec.ends_with(b"\n") {
                    writer.preamble.push(b'\n');
                }
                header_pending -= 1;
                continue;
            }
            if writer.too_big(rec, &opts) {
                let line = block.first_line
                    + memchr::memchr_iter(b'\n', &block.bytes[..end - rec.len()]).count() as u64;
                return Err(SplitError::NotSplittable(record_too_big(
                    rec, line, opts.bytes,
                )));
            }
            writer.add(rec, !is_blank(rec), &opts)?;
        }
    }
    writer.close()?;
    Ok(writer.parts)
}

#[cfg(test)]
mod tests {
    use super::record_too_big;

    #[test]
    fn a_record_too_big_names_its_cause() {
        // A quote opening on line 7 that closes on line 9 holds three lines in one record.
        let rec = b",a@x.edu,\"Ann,B\n,b@x.edu,Bo,C\n,c@x.edu,Cy\",D\n";
        let m = record_too_big(rec, 7, 40);
        assert!(
            m.starts_with("the record on lines 7 to 9 is 45 bytes"),
            "{m}"
        );
        assert!(
            m.contains("a quote opens on line 7 and does not close until line 9"),
            "{m}"
        );
        assert!(!m.contains("Mac"), "{m}");
        // The quote may open on a later line of the record than its first.
        let rec = b",a@x.edu,\"An\"\"n\",B,\"x\n,b@x.edu\",C\n";
        let m = record_too_big(rec, 3, 10);
        assert!(m.contains("lines 3 to 4"), "{m}");
        assert!(m.contains("opens on line 3"), "{m}");
        // Lone CRs: old Mac line ends.
        let m = record_too_big(b"a,b\rc,d\re,f\n", 2, 5);
        assert!(m.contains("lone CR"), "{m}");
        assert!(m.contains("qusers fix"), "{m}");
        // One long line: only the size.
        let m = record_too_big(b"aaaaaaaaaaaaaaa\n", 5, 10);
        assert_eq!(
            m,
            "line 5 is 16 bytes, more than a part may hold (10 bytes with the header): give a larger --bytes"
        );
    }
}
