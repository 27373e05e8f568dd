//! The Qualtrics user file: its columns and limits, where its bytes come from, how they are
//! decoded, which delimiter splits them, and the record reader that keeps physical line numbers.

mod blocks;
mod decode;
mod header;
mod parse;
mod paths;
mod reader;
mod record;
pub mod workbook;

pub use blocks::{Block, BlockReader, BoundaryScanner, Broken, Skipped, MAX_RECORD_BYTES};
pub use decode::{encoding_for_label as decode_label, Decoding, Scan, TextEncoding, Unchecked};
pub use header::{analyze_header, column_letters, ColumnMap, HeaderAnalysis};
pub use parse::{parse_block, parse_block_into};
pub use paths::ensure_outputs_distinct;
pub(crate) use reader::csv_error;
pub use reader::{open, open_decided, open_unchecked, Opened, Opening, ReadOptions};
pub use record::{Record, RecordBuf};
pub use workbook::{is_workbook_name, read_sheet, CellFact, CellKind, SheetChoice, SheetData};

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::vocab::{Col, COLUMNS, DIVISION_NAME, MAX_BYTES, MAX_ROWS, USER_TYPE_NAME};

/// A field delimiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl Delimiter {
    pub const COMMA: Delimiter = Delimiter(b',');
    pub const TAB: Delimiter = Delimiter(b'\t');
    pub const SEMICOLON: Delimiter = Delimiter(b';');

    /// The delimiter a file of this name uses: tab for `.tsv`/`.txt`, else comma.
    pub fn for_name(name: &str) -> Delimiter {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".tsv") || lower.ends_with(".txt") {
            Delimiter::TAB
        } else {
            Delimiter::COMMA
        }
    }

    /// Parses `--delimiter`: one ASCII character, or a name (`comma`, `tab`, `semicolon`, `\t`).
    pub fn parse(s: &str) -> Result<Delimiter, String> {
        match s {
            "," | "comma" => Ok(Delimiter::COMMA),
            "\t" | "\\t" | "tab" => Ok(Delimiter::TAB),
            ";" | "semicolon" => Ok(Delimiter::SEMICOLON),
            "|" | "pipe" => Ok(Delimiter(b'|')),
            _ if s.len() == 1 && s.is_ascii() => Ok(Delimiter(s.as_bytes()[0])),
            _ => Err(format!(
                "`{s}` is not a delimiter: give one character, or comma, tab, semicolon"
            )),
        }
    }

    /// How a person would name it.
    pub fn describe(self) -> String {
        match self.0 {
            b',' => "comma".into(),
            b'\t' => "tab".into(),
            b';' => "semicolon".into(),
            b'|' => "pipe".into(),
            c => format!("'{}'", c as char),
        }
    }
}

/// How many bytes of a stream (stdin, a pipe, a device) are kept at most: far beyond anything
/// Qualtrics takes (20 MB) or `split` is for, and short of filling a disk.
pub const MAX_STREAM_BYTES: u64 = 4 << 30;

/// Where a file's bytes come from.
///
/// A regular file is opened as often as reading needs. A stream (stdin `-`, a FIFO, process
/// substitution `<(…)`, a device) can be read only once: it is copied as it is read into an
/// unlinked temporary file, so that memory stays small whatever its size, and read from there.
/// Copying stops at the first NUL byte of a stream that is not UTF-16 (the file is then not
/// text, and `/dev/zero` or `/dev/urandom` ends at once). `Stdin` holds bytes already in memory (tests, a
/// converted spreadsheet).
#[derive(Clone, Debug)]
pub enum Source {
    Path(PathBuf),
    Stdin(Arc<Vec<u8>>),
    Spooled(Arc<Spool>),
    /// A worksheet of a workbook, as the CSV Excel would save (see [`SheetData`]).
    Sheet(Arc<SheetData>),
}

/// A stream's bytes, kept in an unlinked temporary file.
#[derive(Debug)]
pub struct Spool {
    name: String,
    path: Option<PathBuf>,
    file: std::fs::File,
    len: u64,
}

impl Source {
    /// `-` is stdin; anything else a path that must exist.
    pub fn from_arg(arg: &str) -> Result<Source, FileError> {
        if arg == "-" {
            return Source::spool("<stdin>", None, &mut io::stdin().lock());
        }
        let path = PathBuf::from(arg);
        let io_err = |source| FileError::Io {
            path: arg.into(),
            source,
        };
        let meta = std::fs::metadata(&path).map_err(io_err)?;
        if meta.is_dir() {
            return Err(FileError::IsDir { path: arg.into() });
        }
        if meta.is_file() {
            return Ok(Source::Path(path));
        }
        let mut f = std::fs::File::open(&path).map_err(io_err)?;
        Source::spool(arg, Some(path), &mut f)
    }

    /// Reads a stream once into a temporary file.
    pub fn spool(
        name: &str,
        path: Option<PathBuf>,
        rdr: &mut dyn Read,
    ) -> Result<Source, FileError> {
        let io_err = |source| FileError::Io {
            path: name.into(),
            source,
        };
        let mut file = tempfile::tempfile().map_err(io_err)?;
        let mut buf = vec![0u8; 1 << 16];
        let mut len = 0u64;
        let mut start: Vec<u8> = Vec::with_capacity(2);
        let mut utf16_no_bom = false;
        loop {
            let n = read_some(rdr, &mut buf).map_err(io_err)?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            // UTF-16 (by its byte-order mark, read across the first reads) has NUL bytes.
            if start.len() < 2 {
                start.extend(chunk.iter().take(2 - start.len()));
            }
            // … or without one, by its NUL in every other byte (as sniffing tells it).
            if len == 0 {
                utf16_no_bom = decode::utf16_without_bom(chunk).is_some();
            }
            let utf16 = start == [0xFF, 0xFE] || start == [0xFE, 0xFF] || utf16_no_bom;
            file.write_all(chunk).map_err(io_err)?;
            len += n as u64;
            // Not text: nothing after the first NUL matters (sniffing says why); stop reading.
            if !utf16 && start.len() == 2 && memchr::memchr(0, &buf[..n]).is_some() {
                break;
            }
            if len > MAX_STREAM_BYTES {
                return Err(FileError::TooLong {
                    path: name.into(),
                    limit: MAX_STREAM_BYTES,
                });
            }
        }
        Ok(Source::Spooled(Arc::new(Spool {
            name: name.into(),
            path,
            file,
            len,
        })))
    }

    /// The name to show in messages.
    pub fn name(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Stdin(_) => "<stdin>".into(),
            Source::Spooled(s) => s.name.clone(),
            Source::Sheet(s) => s.describe(),
        }
    }

    /// A workbook (by its name, or for a stream by its first bytes) as the worksheet `opts`
    /// asks for (default: the first visible one); anything else as it is, when no sheet is
    /// asked for.
    pub fn with_sheet(&self, opts: &ReadOptions) -> Result<Source, FileError> {
        let sheet = SheetChoice {
            sheet: opts.sheet.as_deref(),
            include_hidden: opts.include_hidden,
        };
        let data = match self {
            Source::Path(p) if workbook::is_workbook_name(p) => read_sheet(Some(p), None, sheet)?,
            Source::Stdin(b) if workbook::is_workbook_bytes(b) => {
                read_sheet(None, Some(b.clone()), sheet)?
            }
            Source::Spooled(s) if s.starts_like_workbook() => {
                let mut bytes = Vec::with_capacity(s.len as usize);
                self.reader()?
                    .read_to_end(&mut bytes)
                    .map_err(|source| FileError::Io {
                        path: s.name.clone(),
                        source,
                    })?;
                read_sheet(s.path.as_deref(), Some(Arc::new(bytes)), sheet)?
            }
            Source::Sheet(_) => return Ok(self.clone()),
            _ => match sheet.sheet {
                None => return Ok(self.clone()),
                Some(_) => {
                    return Err(FileError::Workbook {
                        path: self.name(),
                        message: "--sheet applies to workbooks (.xlsx, .xls, .ods) only".into(),
                    })
                }
            },
        };
        Ok(Source::Sheet(Arc::new(data)))
    }

    /// The worksheet, when this is one.
    pub fn sheet(&self) -> Option<&Arc<SheetData>> {
        match self {
            Source::Sheet(s) => Some(s),
            _ => None,
        }
    }

    /// The path it was named by (a FIFO's too), for naming outputs after it.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Source::Path(p) => Some(p),
            Source::Stdin(_) => None,
            Source::Spooled(s) => s.path.as_deref(),
            Source::Sheet(s) => s.path.as_deref(),
        }
    }

    /// A fresh reader from the first byte.
    pub fn reader(&self) -> Result<Box<dyn Read + Send>, FileError> {
        match self {
            Source::Path(p) => {
                let f = std::fs::File::open(p).map_err(|source| FileError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                Ok(Box::new(f))
            }
            Source::Stdin(bytes) => Ok(Box::new(io::Cursor::new(ArcBytes(bytes.clone())))),
            Source::Spooled(s) => Ok(Box::new(SpoolReader {
                spool: s.clone(),
                pos: 0,
            })),
            Source::Sheet(s) => Ok(workbook::reader(s.clone())),
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> Result<u64, FileError> {
        match self {
            Source::Path(p) => {
                std::fs::metadata(p)
                    .map(|m| m.len())
                    .map_err(|source| FileError::Io {
                        path: p.display().to_string(),
                        source,
                    })
            }
            Source::Stdin(b) => Ok(b.len() as u64),
            Source::Spooled(s) => Ok(s.len),
            Source::Sheet(s) => Ok(s.csv_len()),
        }
    }

    /// The delimiter its name implies (stdin: comma).
    pub fn default_delimiter(&self) -> Delimiter {
        if let Source::Sheet(_) = self {
            return Delimiter::COMMA;
        }
        match self.path() {
            Some(p) => Delimiter::for_name(&p.to_string_lossy()),
            None => Delimiter::COMMA,
        }
    }
}

struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Spool {
    /// Whether its first bytes are a workbook's (a zip or an OLE compound file).
    fn starts_like_workbook(&self) -> bool {
        let mut head = [0u8; 4];
        let n = read_at(&self.file, &mut head, 0).unwrap_or(0);
        workbook::is_workbook_bytes(&head[..n])
    }
}

/// A reader of a spool with its own position (positioned reads: readers never disturb each
/// other).
struct SpoolReader {
    spool: Arc<Spool>,
    pos: u64,
}

impl Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.spool.len.saturating_sub(self.pos);
        let want = (buf.len() as u64).min(left) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = read_at(&self.spool.file, &mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_at(f: &std::fs::File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, pos)
}

#[cfg(windows)]
fn read_at(f: &std::fs::File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, pos)
}

/// A file could not be read at all (as opposed to a file that breaks a rule).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is a folder, not a file")]
    IsDir { path: String },
    #[error("{path}: {message}")]
    Csv { path: String, message: String },
    #[error("{path}: {message}")]
    Workbook { path: String, message: String },
    /// The file is named or shaped like a workbook but cannot be read as one: damaged (F02),
    /// larger than any user file (F23), or empty where another sheet has the users (F24).
    /// Refused with `code`, exit 1 on every command.
    #[error("{path}: {message}")]
    BadWorkbook {
        path: String,
        code: crate::vocab::rule::Code,
        message: String,
    },
    #[error("unknown encoding `{0}`")]
    UnknownEncoding(String),
    #[error("{path} is longer than {limit} bytes, more than a stream is read")]
    TooLong { path: String, limit: u64 },
    #[error("{output} is the input file {input}: writing it would destroy the input")]
    SameFile { output: String, input: String },
}

impl FileError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            FileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                Some("check the path; run `ls` in the folder you think it is in".into())
            }
            FileError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                Some("you have no permission to read it: check its owner and mode".into())
            }
            FileError::IsDir { .. } => Some("name the CSV or TSV file inside it".into()),
            FileError::TooLong { .. } => {
                Some("save it to a file first, then `qusers split` it into parts".into())
            }
            FileError::SameFile { .. } => Some(
                "give the output another name (the same file through ./, a symlink or a hard link counts as the same); nothing was written"
                    .into(),
            ),
            FileError::UnknownEncoding(_) => Some(
                "use a name such as utf-8, utf-16le, cp1250 … cp1258 (windows-1250 …), latin1, latin2, mac_roman, shift_jis, gbk, big5, euc-kr"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// One `read`, repeated when a signal interrupts it.
pub(crate) fn read_some(rdr: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rdr.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Trims what Excel and copy-paste leave around values, no-break spaces included.
pub fn trim(s: &str) -> &str {
    // Most values start and end with a visible ASCII character: nothing to trim.
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&z)) if (b'!'..=b'~').contains(&a) && (b'!'..=b'~').contains(&z) => s,
        _ => s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One byte per read: a pipe at its most awkward.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn spooled(bytes: &[u8]) -> Vec<u8> {
        let source = Source::spool("t", None, &mut Trickle(bytes)).expect("spooled");
        let mut out = Vec::new();
        source
            .reader()
            .expect("reader")
            .read_to_end(&mut out)
            .expect("read");
        assert_eq!(source.size().expect("size"), out.len() as u64);
        out
    }

    #[test]
    fn streams_are_kept_whole_and_stop_at_a_nul() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("a,b\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(spooled(&utf16), utf16);
        assert_eq!(spooled(b"a,b\nc,d\n"), b"a,b\nc,d\n");
        // Copying stops at (the read holding) the first NUL: endless zeros end.
        let mut zeros = b"a,b\n".to_vec();
        zeros.extend_from_slice(&[0; 100]);
        let got = spooled(&zeros);
        assert_eq!(got, b"a,b\n\0");
    }
}
