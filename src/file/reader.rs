//! Opening a user file: sniff the encoding, find the delimiter, read and analyse the header,
//! and hand back a record reader positioned on the first data record.

use std::io::{self, Read};

use csv::ByteRecord;
use encoding_rs::Encoding;

use super::blocks::MAX_RECORD_BYTES;
use super::blocks::{BlockReader, BoundaryScanner};
use super::decode::{decoded_reader, sniff, Decoding, Scan, TextEncoding, Unchecked};
use super::header::{analyze_header, HeaderAnalysis};
use super::{Delimiter, FileError, Source, MAX_BYTES};
use crate::vocab::rule::{Code, Problem};

/// How to read a file, when the caller knows better than the sniffing.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    pub encoding: Option<&'static Encoding>,
    pub delimiter: Option<Delimiter>,
    /// The SSO brand id (`--sso-brand`): usernames end in `#id`. Carried here so that every
    /// command that reads and checks a file sees it.
    pub sso_brand: Option<String>,
    /// The worksheet to read from a workbook (`--sheet`; default the first visible one).
    pub sheet: Option<String>,
    /// `--include-hidden`: a workbook's hidden rows are read too (else left out, with F25).
    pub include_hidden: bool,
}

/// The result of opening: either a file that cannot be read as a user file at all, or one
/// ready to stream.
pub enum Opening {
    /// Empty or not text: the problem says which. No records can be read.
    Refused {
        problem: Problem,
        size: u64,
    },
    Ready(Box<Opened>),
}

/// A file ready to stream its data records.
pub struct Opened {
    pub size: u64,
    pub encoding: TextEncoding,
    /// The delimiter the records are split on (the one found, when the expected one was wrong).
    pub delimiter: Delimiter,
    /// File-level problems found so far (encoding, delimiter, size, header).
    pub problems: Vec<Problem>,
    pub header: HeaderAnalysis,
    /// The header's fields as read.
    pub header_fields: Vec<String>,
    /// The physical line of the header (1 unless blank lines come first).
    pub header_line: u64,
    /// The physical line where `body` starts.
    pub body_line: u64,
    /// The delimiter named by Excel's `sep=X` line when the file starts with one (line 1; the
    /// header is then on line 2 and the `sep=` line is in no record: `fix` leaves it out).
    pub sep_line: Option<Delimiter>,
    /// The data records as decoded UTF-8 with `\n` line ends (the header record itself when
    /// it turned out to be data).
    pub body: Box<dyn Read + Send>,
    /// The worksheet read, when the file is a workbook (its cell facts, its cell names).
    pub sheet: Option<std::sync::Arc<super::SheetData>>,
    /// What the reader of `body` must still check (after [`open_unchecked`]).
    pub unchecked: Unchecked,
}

impl Opened {
    /// The body as blocks of whole records, for parallel parsing.
    pub fn into_blocks(self, target: usize) -> BlockReader {
        let rows = self.sheet.as_ref().and_then(|s| s.row_lines.clone());
        BlockReader::new(self.body, self.delimiter.0, self.body_line, target)
            .with_rows(rows)
            .with_legacy(self.encoding.mixed_legacy())
    }

    /// The body as a plain record reader (its line numbers count from the body's start).
    pub fn into_records(self) -> csv::Reader<Box<dyn Read + Send>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter.0)
            .buffer_capacity(1 << 16)
            .from_reader(self.body)
    }
}

/// Opens `source` for reading records, after one pass over the whole file that decides its
/// encoding (see [`open_unchecked`] for the way without it).
pub fn open(source: &Source, opts: &ReadOptions) -> Result<Opening, FileError> {
    open_scanning(source, opts, Scan::Whole)
}

/// Opens `source` having read only its first bytes: the caller checks the bytes of the body
/// with [`Opened::unchecked`] as it reads them and, when they show the file is not what the
/// first bytes said, opens it again with [`open_decided`]. No pass over the file comes first.
pub fn open_unchecked(source: &Source, opts: &ReadOptions) -> Result<Opening, FileError> {
    open_scanning(source, opts, Scan::Head)
}

fn open_scanning(source: &Source, opts: &ReadOptions, scan: Scan) -> Result<Opening, FileError> {
    // A workbook is read as the CSV of its worksheet.
    let source = &match source.with_sheet(opts) {
        Ok(s) => s,
        Err(FileError::BadWorkbook { message, code, .. }) => {
            return Ok(Opening::Refused {
                problem: Problem::new(code, message),
                size: source.size()?,
            })
        }
        Err(e) => return Err(e),
    };
    let (decoding, unchecked) = sniff(source, opts.encoding, scan)?;
    open_text(source, opts, decoding, unchecked)
}

/// Opens `source` as `decoding` says it must be read (what [`Unchecked::verdict`] found in
/// the body of an [`open_unchecked`] file), with `unchecked` left to check.
pub fn open_decided(
    source: &Source,
    opts: &ReadOptions,
    decoding: Decoding,
    unchecked: Unchecked,
) -> Result<Opening, FileError> {
    open_text(&source.with_sheet(opts)?, opts, decoding, unchecked)
}

/// Opens a text source (a workbook is its worksheet's CSV by now).
fn open_text(
    source: &Source,
    opts: &ReadOptions,
    decoding: Decoding,
    unchecked: Unchecked,
) -> Result<Opening, FileError> {
    let size = source.size()?;
    // Bytes that are not UTF-8 were found as the head or the body was read: which encoding
    // they are in is decided now, over the whole file.
    let decoding = match decoding {
        Decoding::NotUtf8 { first_line } => super::decode::detect(source, first_line)?,
        d => d,
    };
    let encoding = match decoding {
        Decoding::Empty => {
            return Ok(Opening::Refused {
                problem: Problem::new(Code::EmptyFile, "the file has no bytes at all"),
                size,
            })
        }
        Decoding::NotText(why) => {
            return Ok(Opening::Refused {
                problem: Problem::new(Code::NotText, why),
                size,
            })
        }
        Decoding::Unsure(why) => {
            return Ok(Opening::Refused {
                problem: Problem::new(Code::EncodingUnsure, why),
                size,
            })
        }
        // `detect` decides; were it ever to leave it open, the file is refused, not guessed.
        Decoding::NotUtf8 { first_line } => {
            return Ok(Opening::Refused {
                problem: Problem::new(
                    Code::EncodingUnsure,
                    format!("line {first_line} has a byte that is not UTF-8; pass the file's encoding with --encoding"),
                ),
                size,
            })
        }
        Decoding::Text(e) => e,
    };
    let mut problems = Vec::new();
    // What a worksheet's CSV does not show (hidden rows and columns).
    if let Some(sheet) = source.sheet() {
        problems.extend(sheet.problems.iter().cloned());
    }
    match &encoding {
        TextEncoding::Utf16Le
        | TextEncoding::Utf16Be
        | TextEncoding::Utf16LeNoBom
        | TextEncoding::Utf16BeNoBom => problems.push(Problem::new(
            Code::Utf16,
            format!("the file is {}; it was decoded", encoding.describe()),
        )),
        TextEncoding::Legacy {
            encoding: enc,
            first_line,
        } => problems.push(Problem::new(
            Code::LegacyEncoding,
            format!(
                "line {first_line} has the first byte that is not UTF-8; the file was read as {}, detected from the names in it, and there it reads \"{}\" (if that looks wrong, pass --encoding with the right one)",
                super::decode::detect::describe(enc),
                super::decode::line_sample(source, *first_line, enc)?
            ),
        )),
        TextEncoding::Mixed { legacy, first_line } => problems.push(Problem::new(
            Code::LegacyEncoding,
            format!(
                "the file is UTF-8 but for some fields, the first on line {first_line} (Excel saved values typed since in the computer's code page): those fields were read as {}, each is named (F19), and the rest stays as it is; there it reads \"{}\"",
                super::decode::detect::describe(legacy),
                super::decode::line_sample(source, *first_line, legacy)?
            ),
        )),
        _ => {}
    }
    if size >= MAX_BYTES {
        problems.push(Problem::new(
            Code::TooLarge,
            format!(
                "the file has {size} bytes; Qualtrics takes files under 20 MB ({MAX_BYTES} bytes)"
            ),
        ));
    }

    let (mut decoded, delimiter_cell) = decoded_reader(source, &encoding)?;
    // Decoders may hand out the first bytes in small pieces: gather the first line before
    // judging the delimiter, then put it back in front of the stream.
    let mut head = read_first_line(&mut decoded).map_err(|e| FileError::Io {
        path: source.name(),
        source: e,
    })?;
    let io_err = |e| FileError::Io {
        path: source.name(),
        source: e,
    };
    // Excel's `sep=;` first line names the delimiter; it is not the header.
    let sep = sep_line(first_line(&head));
    let skipped = if let Some(d) = sep {
        let len = first_line(&head).len() + 1;
        head.drain(..len.min(head.len()));
        top_up_line(&mut head, &mut decoded).map_err(io_err)?;
        problems.push(Problem::new(
            Code::SepLine,
            format!(
                "line 1 is \"sep={}\", Excel's note of the delimiter: the {}s it names were used, and the header read on the next line",
                d.0 as char,
                d.describe()
            ),
        ));
        1
    } else {
        0
    };
    let expected = opts.delimiter.unwrap_or_else(|| source.default_delimiter());
    let blank = leading_blank_lines(&head);
    // The `sep=` line's delimiter is read with (unless --delimiter says otherwise); when it is
    // not the one Qualtrics expects, that is still F05.
    let found = match sep.filter(|_| opts.delimiter.is_none()) {
        Some(d) => (d != expected).then_some(d),
        None => found_delimiter(first_line(&head[blank..]), expected),
    };
    let delimiter = match found {
        Some(found) => {
            problems.push(Problem::new(
                Code::WrongDelimiter,
                wrong_delimiter_detail(expected, found),
            ));
            found
        }
        None => expected,
    };
    // From here on the line-end reader follows quotes with the delimiter itself.
    delimiter_cell.store(delimiter.0, std::sync::atomic::Ordering::Relaxed);
    let found_header =
        find_header(&mut head, &mut decoded, delimiter.0).map_err(|e| FileError::Io {
            path: source.name(),
            source: e,
        })?;
    // The lines read so far are checked here, the rest by the reader of the body.
    let read = found_header.map_or(head.len(), |(_, end)| end);
    if let Some(decoding) = unchecked.verdict(&head[..read], 1 + skipped) {
        let left = Unchecked {
            utf8: false,
            ..unchecked
        };
        return open_text(source, opts, decoding, left);
    }
    let Some((lead, header_end)) = found_header else {
        let line = 1 + skipped + leading_blank_lines(&head) as u64;
        return Ok(Opening::Refused {
            problem: Problem::new(
                Code::HeaderTooLong,
                format!(
                    "the header (line {line}) runs on for more than {MAX_RECORD_BYTES} bytes without ending"
                ),
            ),
            size,
        });
    };
    let mut header_rec = ByteRecord::new();
    let has_header = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter.0)
        .from_reader(&head[lead..header_end])
        .read_byte_record(&mut header_rec)
        .map_err(|e| csv_error(source, e))?;
    if !has_header {
        return Ok(Opening::Refused {
            problem: Problem::new(Code::EmptyFile, "the file holds only blank lines"),
            size,
        });
    }
    let header_fields: Vec<String> = header_rec
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let field_refs: Vec<&str> = header_fields.iter().map(String::as_str).collect();
    let header = analyze_header(&field_refs);
    problems.extend(header.problems.iter().cloned());
    let header_line = 1 + skipped + lead as u64;
    // The body starts after the header, or at it when the first line turned out to be data.
    let body_start = if header.header_is_data {
        lead
    } else {
        header_end
    };
    let body_line =
        header_line + memchr::memchr_iter(b'\n', &head[lead..body_start]).count() as u64;
    head.drain(..body_start);
    Ok(Opening::Ready(Box::new(Opened {
        size,
        encoding,
        delimiter,
        problems,
        header,
        header_fields,
        header_line,
        body_line,
        sep_line: sep,
        body: Box::new(io::Cursor::new(head).chain(decoded)),
        sheet: source.sheet().cloned(),
        unchecked,
    })))
}

/// Skips leading blank lines (the csv reader does too) and finds the end of the header record,
/// reading more into `head` when it spans further. Returns (blank-line bytes, header end), or
/// `None` when the header is longer than [`MAX_RECORD_BYTES`].
fn find_header(
    head: &mut Vec<u8>,
    rdr: &mut dyn Read,
    delimiter: u8,
) -> io::Result<Option<(usize, usize)>> {
    let mut scanner = BoundaryScanner::new(delimiter);
    let mut lead = None;
    let mut scanned = 0;
    loop {
        if lead.is_none() {
            let blank = leading_blank_lines(head);
            if blank < head.len() {
                lead = Some(blank);
                scanned = blank;
            }
        }
        if let Some(lead) = lead {
            if let Some(end) = scanner.scan_first(&head[scanned..]) {
                return Ok(Some((lead, scanned + end)));
            }
            scanned = head.len();
            if head.len() - lead > MAX_RECORD_BYTES {
                return Ok(None);
            }
        }
        let mut buf = [0u8; 1 << 13];
        let n = super::read_some(rdr, &mut buf)?;
        if n == 0 {
            return Ok(Some((lead.unwrap_or(head.len()), head.len())));
        }
        head.extend_from_slice(&buf[..n]);
    }
}

fn leading_blank_lines(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|&&b| b == b'\n').count()
}

/// Turns a csv read error (only I/O can happen with flexible byte records) into a FileError.
pub(crate) fn csv_error(source: &Source, e: csv::Error) -> FileError {
    FileError::Csv {
        path: source.name(),
        message: e.to_string(),
    }
}

/// Reads at least the first line (or the first 64 KiB, or everything when shorter).
fn read_first_line(rdr: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(1 << 13);
    let mut buf = [0u8; 1 << 13];
    loop {
        let n = super::read_some(rdr, &mut buf)?;
        head.extend_from_slice(&buf[..n]);
        if n == 0 || memchr::memchr(b'\n', &buf[..n]).is_some() || head.len() >= 1 << 16 {
            return Ok(head);
        }
    }
}

/// Reads more into `head` until it holds a whole line (or 64 KiB, or everything).
fn top_up_line(head: &mut Vec<u8>, rdr: &mut dyn Read) -> io::Result<()> {
    let mut buf = [0u8; 1 << 13];
    while memchr::memchr(b'\n', head).is_none() && head.len() < 1 << 16 {
        let n = super::read_some(rdr, &mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// The delimiter an Excel `sep=X` line names (`"sep=X"` quoted too; any case).
fn sep_line(line: &[u8]) -> Option<Delimiter> {
    let line = line
        .strip_prefix(b"\"")
        .and_then(|l| l.strip_suffix(b"\""))
        .unwrap_or(line);
    match line {
        [s, e, p, b'=', d]
            if s.eq_ignore_ascii_case(&b's')
                && e.eq_ignore_ascii_case(&b'e')
                && p.eq_ignore_ascii_case(&b'p')
                && !d.is_ascii_alphanumeric()
                && *d != b'"' =>
        {
            Some(Delimiter(*d))
        }
        _ => None,
    }
}

fn first_line(head: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', head) {
        Some(i) => &head[..i],
        None => head,
    }
}

/// Count of `d` outside double quotes.
fn count_unquoted(line: &[u8], d: u8) -> usize {
    let mut quoted = false;
    let mut n = 0;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if b == d && !quoted {
            n += 1;
        }
    }
    n
}

/// The delimiter the header really uses, when it is not the expected one: the header would be
/// one column on `expected` but nine or more on the other.
fn found_delimiter(line: &[u8], expected: Delimiter) -> Option<Delimiter> {
    if count_unquoted(line, expected.0) > 0 {
        return None;
    }
    [
        Delimiter::COMMA,
        Delimiter::SEMICOLON,
        Delimiter::TAB,
        Delimiter(b'|'),
    ]
    .into_iter()
    .filter(|d| *d != expected)
    .map(|d| (d, count_unquoted(line, d.0)))
    .filter(|&(_, n)| n >= 8)
    .max_by_key(|&(_, n)| n)
    .map(|(d, _)| d)
}

fn wrong_delimiter_detail(expected: Delimiter, found: Delimiter) -> String {
    let why = match found {
        Delimiter::SEMICOLON => {
            " (saved by a European Excel? German, French and other locales save \"CSV\" with semicolons)"
        }
        Delimiter::TAB => " (saved as \"Unicode text\" or tab-separated?)",
        _ => "",
    };
    format!(
        "the header splits on {}s, not on {}s{why}; it was read with {}s so that the rows could be checked",
        found.describe(),
        expected.describe(),
        found.describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_semicolons_and_tabs() {
        let semi = b"userID;userName;firstName;lastName;email;divisionId;accountType;accountStatus;expirationDate";
        assert_eq!(
            found_delimiter(semi, Delimiter::COMMA),
            Some(Delimiter::SEMICOLON)
        );
        assert_eq!(found_delimiter(semi, Delimiter::SEMICOLON), None);
        let tab = b"userID\tuserName\tfirstName\tlastName\temail\tdivisionId\taccountType\taccountStatus\texpirationDate";
        assert_eq!(found_delimiter(tab, Delimiter::COMMA), Some(Delimiter::TAB));
        assert_eq!(found_delimiter(b"userID", Delimiter::COMMA), None);
        assert_eq!(found_delimiter(b"\"a;b\"", Delimiter::COMMA), None);
    }
}
