//! Which encoding a file is in, and a reader that yields it as UTF-8.
//!
//! Rules (SPEC "Reading a file"): UTF-8 with or without BOM is read as is; UTF-16 with a BOM,
//! or without one but with a NUL in every other byte, is decoded with a warning; NUL bytes
//! elsewhere or mostly control bytes mean the file is not text. `--encoding` overrides all.
//!
//! A file that is not UTF-8 goes to [`detect`] (in `detect.rs`): chardetng proposes, and the
//! names decoded each way decide whether the proposal can be trusted. A file the detector is
//! not sure of is refused with the likely encodings (F18), never read on a guess; a file that is
//! UTF-8 but for some fields keeps its UTF-8 and has only those fields decoded (F19).

use std::io::{self, Read};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use encoding_rs::Encoding;
use encoding_rs_io::DecodeReaderBytesBuilder;

use super::{Block, FileError, Source};

pub(super) mod detect;
pub(super) use detect::detect;

/// How many leading bytes decide "is this text at all".
const SNIFF_BYTES: usize = 8192;

/// The encoding a file was read in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    /// UTF-16 without a byte-order mark, told by its NUL bytes (every other byte of Latin text).
    Utf16LeNoBom,
    Utf16BeNoBom,
    /// Not valid UTF-8, and detected with confidence as this legacy encoding; `first_line` is
    /// the first physical line with a byte that is not UTF-8.
    Legacy {
        encoding: &'static Encoding,
        first_line: u64,
    },
    /// UTF-8 but for some fields (Excel saved one typed name in the machine's code page):
    /// those fields are decoded as `legacy`, the rest is read as UTF-8.
    Mixed {
        legacy: &'static Encoding,
        first_line: u64,
    },
    /// Given with `--encoding`.
    Forced(&'static Encoding),
}

impl TextEncoding {
    /// A short name for summaries.
    pub fn describe(&self) -> String {
        match self {
            TextEncoding::Utf8 => "UTF-8".into(),
            TextEncoding::Utf8Bom => "UTF-8 with BOM".into(),
            TextEncoding::Utf16Le => "UTF-16 LE with BOM".into(),
            TextEncoding::Utf16Be => "UTF-16 BE with BOM".into(),
            TextEncoding::Utf16LeNoBom => "UTF-16 LE without BOM".into(),
            TextEncoding::Utf16BeNoBom => "UTF-16 BE without BOM".into(),
            TextEncoding::Legacy { encoding, .. } => {
                format!("{} (not UTF-8, detected)", detect::describe(encoding))
            }
            TextEncoding::Mixed { legacy, .. } => {
                format!("UTF-8, with some fields in {}", detect::describe(legacy))
            }
            TextEncoding::Forced(e) => format!("{} (--encoding)", e.name()),
        }
    }

    /// The legacy encoding of a mixed file's fields that are not UTF-8.
    pub fn mixed_legacy(&self) -> Option<&'static Encoding> {
        match self {
            TextEncoding::Mixed { legacy, .. } => Some(legacy),
            _ => None,
        }
    }

    /// The first line with a byte that is not UTF-8, for a legacy or mixed file.
    pub fn first_line(&self) -> Option<u64> {
        match self {
            TextEncoding::Legacy { first_line, .. } | TextEncoding::Mixed { first_line, .. } => {
                Some(*first_line)
            }
            _ => None,
        }
    }

    fn decoder(&self) -> Option<&'static Encoding> {
        match self {
            // A mixed file is read as bytes: its parser decodes field by field.
            TextEncoding::Utf8 | TextEncoding::Utf8Bom | TextEncoding::Mixed { .. } => None,
            TextEncoding::Utf16Le | TextEncoding::Utf16LeNoBom => Some(encoding_rs::UTF_16LE),
            TextEncoding::Utf16Be | TextEncoding::Utf16BeNoBom => Some(encoding_rs::UTF_16BE),
            TextEncoding::Legacy { encoding, .. } => Some(encoding),
            TextEncoding::Forced(e) => Some(e),
        }
    }
}

/// What sniffing found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoding {
    Empty,
    /// Not a text file; the reason says what it looks like instead.
    NotText(String),
    Text(TextEncoding),
    /// Not UTF-8 from this physical line on: what it is instead is for [`detect`] to say.
    NotUtf8 {
        first_line: u64,
    },
    /// Not UTF-8, and no encoding is sure enough to read it in: the message names the likely
    /// ones (F18).
    Unsure(String),
}

/// Resolves an `--encoding` label: a WHATWG label (`windows-1250`, `shift_jis`, `utf-16le`)
/// or a name admins know from Python, iconv or Excel (`cp1250`, `mac_roman`, `sjis`, `latin2`).
pub fn encoding_for_label(label: &str) -> Result<&'static Encoding, FileError> {
    let norm = label.trim().to_ascii_lowercase();
    if let Some(e) = Encoding::for_label(norm.as_bytes()) {
        return Ok(e);
    }
    // Python and iconv spell with `_` or without separators where WHATWG has `-`.
    let squeezed: String = norm
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect();
    let alias = match squeezed.as_str() {
        "macroman" | "macintosh" | "mac" | "xmacroman" => Some(encoding_rs::MACINTOSH),
        "shiftjis" | "sjis" | "cp932" | "ms932" | "windows31j" | "mskanji" => {
            Some(encoding_rs::SHIFT_JIS)
        }
        "cp936" | "ms936" | "gb2312" | "gbk" | "euccn" => Some(encoding_rs::GBK),
        "gb18030" => Some(encoding_rs::GB18030),
        "cp949" | "ms949" | "uhc" | "euckr" => Some(encoding_rs::EUC_KR),
        "cp950" | "ms950" | "big5" | "big5hkscs" => Some(encoding_rs::BIG5),
        "eucjp" => Some(encoding_rs::EUC_JP),
        "cp874" | "windows874" | "tis620" => Some(encoding_rs::WINDOWS_874),
        "utf16le" | "utf16" => Some(encoding_rs::UTF_16LE),
        "utf16be" => Some(encoding_rs::UTF_16BE),
        "utf8" | "utf8sig" => Some(encoding_rs::UTF_8),
        "koi8r" => Some(encoding_rs::KOI8_R),
        "koi8u" => Some(encoding_rs::KOI8_U),
        s => s
            .strip_prefix("cp")
            .or_else(|| s.strip_prefix("windows"))
            .filter(|n| n.len() == 4 && n.starts_with("125"))
            .and_then(|n| Encoding::for_label(format!("windows-{n}").as_bytes()))
            .or_else(|| {
                // latin1…latin10, iso8859N, iso88591…
                let n = s
                    .strip_prefix("latin")
                    .map(|n| match n {
                        "1" => "1",
                        "2" => "2",
                        "3" => "3",
                        "4" => "4",
                        "5" => "9",
                        "6" => "10",
                        "7" => "13",
                        "8" => "14",
                        "9" => "15",
                        "10" => "16",
                        _ => "",
                    })
                    .map(str::to_string)
                    .or_else(|| s.strip_prefix("iso8859").map(str::to_string))?;
                Encoding::for_label(format!("iso-8859-{n}").as_bytes())
            }),
    };
    alias.ok_or_else(|| FileError::UnknownEncoding(label.into()))
}

/// How much of a file [`sniff`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// Every byte: NUL bytes and UTF-8 are checked before any record is read (one pass over
    /// the file before the records are read).
    Whole,
    /// The first bytes only: whoever reads the records checks the rest as it goes (see
    /// [`Unchecked`]), and opens the file again with the encoding it found when a byte says so.
    Head,
}

/// What a [`Scan::Head`] sniff left to the reader of the records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unchecked {
    /// A NUL byte anywhere means the file is not text.
    pub nul: bool,
    /// A byte that is not UTF-8 means the file is in another encoding (which [`detect`]
    /// finds), from that byte's line on.
    pub utf8: bool,
}

impl Unchecked {
    /// What a stretch of decoded text says about the whole file, if anything: `first_line` is
    /// the physical line of `bytes[0]` (line ends are `\n` only, one per physical line).
    pub fn verdict(&self, bytes: &[u8], first_line: u64) -> Option<Decoding> {
        let first_bad = if self.utf8 {
            std::str::from_utf8(bytes).err().map(|e| e.valid_up_to())
        } else {
            None
        };
        self.verdict_given(bytes, first_line, first_bad)
    }

    /// What the bytes of a block say about the whole file (see [`Unchecked::verdict`]): its
    /// parsed bytes, `first_bad` being where the parser found the first byte that is not UTF-8,
    /// and those of a line it skipped.
    pub fn block_verdict(&self, block: &Block, first_bad: Option<usize>) -> Option<Decoding> {
        let skipped = block.skipped;
        if self.nul && skipped.nul {
            return Some(nul_byte(block.first_line));
        }
        self.verdict_given(&block.bytes, block.first_line, first_bad)
            .or_else(|| {
                (self.utf8 && skipped.not_utf8).then_some(Decoding::NotUtf8 {
                    first_line: block.first_line,
                })
            })
    }

    /// [`Unchecked::verdict`] when the offset of the first byte that is not UTF-8 is known
    /// already (the parser validates each block once).
    pub fn verdict_given(
        &self,
        bytes: &[u8],
        first_line: u64,
        first_bad: Option<usize>,
    ) -> Option<Decoding> {
        let line_of =
            |at: usize| first_line + memchr::memchr_iter(b'\n', &bytes[..at]).count() as u64;
        if self.nul {
            if let Some(at) = memchr::memchr(0, bytes) {
                return Some(nul_byte(line_of(at)));
            }
        }
        match first_bad {
            Some(at) if self.utf8 => Some(Decoding::NotUtf8 {
                first_line: line_of(at),
            }),
            _ => None,
        }
    }
}

fn nul_byte(line: u64) -> Decoding {
    Decoding::NotText(format!(
        "line {line} has a NUL byte, which no text file has"
    ))
}

/// Decides how to read a source. With [`Scan::Whole`] this costs one pass over the bytes for
/// files without a BOM (UTF-8 validation runs at memory speed); with [`Scan::Head`] only the
/// first bytes are read, and the result says what is left to check.
pub(super) fn sniff(
    source: &Source,
    forced: Option<&'static Encoding>,
    scan: Scan,
) -> Result<(Decoding, Unchecked), FileError> {
    let io_err = |source_err: io::Error| FileError::Io {
        path: source.name(),
        source: source_err,
    };
    let checked = Unchecked::default();
    let mut rdr = source.reader()?;
    let mut head = vec![0u8; SNIFF_BYTES];
    let head_len = read_full(&mut rdr, &mut head).map_err(io_err)?;
    head.truncate(head_len);
    if head.is_empty() {
        return Ok((Decoding::Empty, checked));
    }
    // Known without looking further: given, or a byte-order mark. UTF-16 has NUL bytes.
    let known = if let Some(enc) = forced {
        if enc.output_encoding() != enc {
            // UTF-16 (or a relative)
            return Ok((Decoding::Text(TextEncoding::Forced(enc)), checked));
        }
        Some(TextEncoding::Forced(enc))
    } else if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        Some(TextEncoding::Utf8Bom)
    } else if head.starts_with(&[0xFF, 0xFE]) {
        return Ok((Decoding::Text(TextEncoding::Utf16Le), checked));
    } else if head.starts_with(&[0xFE, 0xFF]) {
        return Ok((Decoding::Text(TextEncoding::Utf16Be), checked));
    } else {
        match not_text(&head) {
            Some(NotText::Utf16 { big_endian: false }) => {
                return Ok((Decoding::Text(TextEncoding::Utf16LeNoBom), checked))
            }
            Some(NotText::Utf16 { big_endian: true }) => {
                return Ok((Decoding::Text(TextEncoding::Utf16BeNoBom), checked))
            }
            Some(NotText::Why(why)) => return Ok((Decoding::NotText(why), checked)),
            None => {}
        }
        None
    };
    if scan == Scan::Head {
        let unchecked = Unchecked {
            nul: true,
            utf8: known.is_none(),
        };
        return Ok((
            Decoding::Text(known.unwrap_or(TextEncoding::Utf8)),
            unchecked,
        ));
    }
    // Validate the whole stream as UTF-8 in one buffer, and look for NUL bytes all the way
    // (a NUL anywhere means the file is not text); an incomplete sequence at the end of a read
    // (at most 3 bytes) moves to the front and the next read lands behind it.
    let mut buf = vec![0u8; (1 << 20).max(head.len())];
    buf[..head.len()].copy_from_slice(&head);
    let mut filled = head.len();
    let mut offset: u64 = 0; // stream offset of buf[0]
    let mut first_bad: Option<u64> = None;
    loop {
        if let Some(at) = memchr::memchr(0, &buf[..filled]) {
            let line = line_of_offset(source, offset + at as u64)?;
            return Ok((nul_byte(line), checked));
        }
        let keep = if first_bad.is_some() || known.is_some() {
            0
        } else {
            match std::str::from_utf8(&buf[..filled]) {
                Ok(_) => 0,
                Err(e) if e.error_len().is_some() => {
                    first_bad = Some(offset + e.valid_up_to() as u64);
                    0
                }
                Err(e) => filled - e.valid_up_to(),
            }
        };
        buf.copy_within(filled - keep..filled, 0);
        offset += (filled - keep) as u64;
        let n = super::read_some(&mut rdr, &mut buf[keep..]).map_err(io_err)?;
        if n == 0 {
            if keep > 0 {
                // The file ends inside a multi-byte sequence.
                first_bad = Some(offset);
            }
            let encoding = match (known, first_bad) {
                (Some(known), _) => known,
                (None, Some(bad)) => {
                    let first_line = line_of_offset(source, bad)?;
                    return Ok((detect::detect(source, first_line)?, checked));
                }
                (None, None) => TextEncoding::Utf8,
            };
            return Ok((Decoding::Text(encoding), checked));
        }
        filled = keep + n;
    }
}

/// A reader yielding UTF-8 without BOM, with `\n` line ends (see [`LineEnds`]), and the cell
/// through which the caller names the delimiter once it knows it.
pub(super) fn decoded_reader(
    source: &Source,
    encoding: &TextEncoding,
) -> Result<(Box<dyn Read + Send>, Arc<AtomicU8>), FileError> {
    let delimiter = Arc::new(AtomicU8::new(0));
    let reader =
        LineEnds::new(undecorated_reader(source, encoding)?).with_delimiter(delimiter.clone());
    Ok((Box::new(reader), delimiter))
}

fn undecorated_reader(
    source: &Source,
    encoding: &TextEncoding,
) -> Result<Box<dyn Read + Send>, FileError> {
    let mut rdr = source.reader()?;
    match encoding.decoder() {
        None => {
            if *encoding == TextEncoding::Utf8Bom {
                let mut bom = [0u8; 3];
                read_full(&mut rdr, &mut bom).map_err(|e| FileError::Io {
                    path: source.name(),
                    source: e,
                })?;
            }
            Ok(rdr)
        }
        // Read in large pieces: the default 8 KiB costs a call per 8 KiB of a big file.
        Some(enc) => Ok(Box::new(
            DecodeReaderBytesBuilder::new()
                .encoding(Some(enc))
                .bom_override(true)
                .strip_bom(true)
                .build_with_buffer(rdr, vec![0u8; 1 << 16])
                .map_err(|e| FileError::Io {
                    path: source.name(),
                    source: e,
                })?,
        )),
    }
}

/// Turns `\r\n` and lone `\r` that end lines into `\n`. The csv parser counts physical lines
/// by `\n` and, after a record ending in `\r\n`, counts its `\n` only once the next record has
/// started, which puts every line number of an Excel (CRLF) file one short. One line end, one
/// `\n`. A `\r\n` inside a quoted cell is the cell's own text and stays as the file had it (a
/// lone `\r` there becomes `\n`: it still ends a physical line, which the parser counts).
///
/// Quotes are followed as the parser follows them (see `blocks`): a `"` opens a quoted field
/// only at a field start, after the delimiter (while it is not known yet, after any of
/// `, ; tab |`) or a line end.
pub(super) struct LineEnds<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    quote: Quote,
    /// The last byte outside quotes (`\n` at the start).
    prev: u8,
    /// The delimiter, 0 while unknown.
    delimiter: Arc<AtomicU8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Outside,
    Inside,
    /// Just read a `"` inside quotes: `""` goes on quoted, anything else closes the quotes.
    InsideAfterMark,
}

impl<R: Read> LineEnds<R> {
    pub(super) fn new(inner: R) -> Self {
        LineEnds {
            inner,
            buf: vec![0; 1 << 18],
            pos: 0,
            len: 0,
            eof: false,
            quote: Quote::Outside,
            prev: b'\n',
            delimiter: Arc::new(AtomicU8::new(0)),
        }
    }

    /// Follows quotes with the delimiter this cell names (0: not known yet).
    pub(super) fn with_delimiter(mut self, delimiter: Arc<AtomicU8>) -> Self {
        self.delimiter = delimiter;
        self
    }

    fn field_start(&self, before: u8) -> bool {
        match self.delimiter.load(Ordering::Relaxed) {
            0 => matches!(before, b'\n' | b',' | b';' | b'\t' | b'|'),
            d => before == b'\n' || before == d,
        }
    }

    /// Reads more behind the bytes not handed out yet (moved to the front).
    fn fill(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.pos..self.len, 0);
        self.len -= self.pos;
        self.pos = 0;
        let n = super::read_some(&mut self.inner, &mut self.buf[self.len..])?;
        if n == 0 {
            self.eof = true;
        }
        self.len += n;
        Ok(())
    }
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut w = 0;
        while w < out.len() {
            // A `\r` needs the byte after it: read on when it is the last one held.
            let short = self.pos == self.len
                || (self.buf[self.len - 1] == b'\r' && self.pos + 1 == self.len);
            if short && !self.eof {
                if w > 0 {
                    break;
                }
                self.fill()?;
                continue;
            }
            if self.pos == self.len {
                break;
            }
            let avail = &self.buf[self.pos..self.len];
            // Plain bytes up to the next `\r` or `"`, in one copy.
            let k = memchr::memchr2(b'\r', b'"', avail)
                .unwrap_or(avail.len())
                .min(out.len() - w);
            if k > 0 {
                out[w..w + k].copy_from_slice(&avail[..k]);
                match self.quote {
                    Quote::Inside => {}
                    // The byte after a closing quote is outside again.
                    Quote::Outside | Quote::InsideAfterMark => {
                        self.quote = Quote::Outside;
                        self.prev = avail[k - 1];
                    }
                }
                self.pos += k;
                w += k;
                continue;
            }
            let b = avail[0];
            if b == b'"' {
                self.quote = match self.quote {
                    Quote::Outside if self.field_start(self.prev) => Quote::Inside,
                    Quote::Outside => {
                        self.prev = b'"';
                        Quote::Outside
                    }
                    Quote::Inside => Quote::InsideAfterMark,
                    Quote::InsideAfterMark => Quote::Inside,
                };
                out[w] = b'"';
                w += 1;
                self.pos += 1;
                continue;
            }
            // A `\r`.
            let lf_next = avail.get(1) == Some(&b'\n');
            if self.quote == Quote::Inside && lf_next {
                // The cell's own CRLF: the `\r` now, the `\n` as a plain byte next.
                out[w] = b'\r';
                w += 1;
                self.pos += 1;
                continue;
            }
            out[w] = b'\n';
            w += 1;
            self.pos += if lf_next { 2 } else { 1 };
            if self.quote != Quote::Inside {
                self.quote = Quote::Outside;
                self.prev = b'\n';
            }
        }
        Ok(w)
    }
}

/// What leading bytes without a BOM are, when they are not UTF-8-or-legacy text.
#[derive(Debug, PartialEq, Eq)]
enum NotText {
    /// UTF-16 without a byte-order mark.
    Utf16 { big_endian: bool },
    /// Not text; why.
    Why(String),
}

/// Why these leading bytes are not text, if they are not.
fn not_text(head: &[u8]) -> Option<NotText> {
    let why = |s: &str| Some(NotText::Why(s.into()));
    if head.starts_with(b"PK\x03\x04") {
        return why("it is an Excel workbook (.xlsx) or another zip archive");
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return why("it is an Excel 97-2003 workbook (.xls)");
    }
    if head.starts_with(b"%PDF") {
        return why("it is a PDF document");
    }
    let nuls = head.iter().filter(|&&b| b == 0).count();
    if nuls * 10 > head.len() * 9 {
        return why("it is nothing but NUL bytes (a disk image, /dev/zero?)");
    }
    if nuls > 0 {
        if let Some(big_endian) = utf16_without_bom(head) {
            return Some(NotText::Utf16 { big_endian });
        }
        return why("it contains NUL bytes, which no text file has");
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
        .count();
    if control * 10 > head.len() {
        return why("most of its first bytes are not text");
    }
    None
}

/// Whether bytes without a BOM are UTF-16, and which way round: text in UTF-16 (Latin at least:
/// headers are ASCII) has a NUL in most high bytes and none in the low ones, and decodes
/// without an error. `Some(true)` is big-endian.
pub(crate) fn utf16_without_bom(head: &[u8]) -> Option<bool> {
    let pairs = head.len() / 2;
    if pairs < 4 {
        return None;
    }
    let even = head.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    // The header alone (ASCII) is a NUL in every high byte; names in other scripts have none.
    let big_endian = if odd * 3 > pairs && even * 50 < pairs {
        false
    } else if even * 3 > pairs && odd * 50 < pairs {
        true
    } else {
        return None;
    };
    let enc = if big_endian {
        encoding_rs::UTF_16BE
    } else {
        encoding_rs::UTF_16LE
    };
    // The head may cut a surrogate pair or a code unit: judge whole pairs only, and let a
    // cut pair at the end pass.
    let whole = &head[..pairs * 2];
    let (text, _) = enc.decode_without_bom_handling(whole);
    let bad = text.matches('\u{fffd}').count();
    let controls = text
        .chars()
        .filter(|&c| {
            (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || ('\u{80}'..'\u{a0}').contains(&c)
        })
        .count();
    (bad <= 1 && controls == 0).then_some(big_endian)
}

/// The 1-based physical line of a byte offset, counting line ends as the reader does (`\r\n`,
/// `\n` and a lone `\r` are one each: Excel for Mac files end lines with `\r` alone).
fn line_of_offset(source: &Source, offset: u64) -> Result<u64, FileError> {
    let mut rdr = source.reader()?.take(offset);
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 1;
    let mut after_cr = false;
    loop {
        let n = super::read_some(&mut rdr, &mut buf).map_err(|e| FileError::Io {
            path: source.name(),
            source: e,
        })?;
        if n == 0 {
            return Ok(lines);
        }
        let chunk = &buf[..n];
        for i in memchr::memchr2_iter(b'\n', b'\r', chunk) {
            // A `\n` right after a `\r` ends the same line.
            let after = if i == 0 {
                after_cr
            } else {
                chunk[i - 1] == b'\r'
            };
            if chunk[i] == b'\r' || !after {
                lines += 1;
            }
        }
        after_cr = chunk[n - 1] == b'\r';
    }
}

/// A few words of physical line `line` around its first byte that is not ASCII, decoded as
/// `encoding` (field by field, UTF-8 fields as UTF-8: a mixed file's line can hold both):
/// what the admin can compare with what the file should say.
pub(super) fn line_sample(
    source: &Source,
    line: u64,
    encoding: &'static Encoding,
) -> Result<String, FileError> {
    let io_err = |e| FileError::Io {
        path: source.name(),
        source: e,
    };
    let mut rdr = io::BufReader::with_capacity(1 << 16, source.reader()?);
    let mut at = 1;
    let mut text = Vec::new();
    let mut byte = [0u8; 1];
    let mut after_cr = false;
    // Byte by byte through a buffer: a line end is `\n`, `\r\n` or a lone `\r`.
    while rdr.read(&mut byte).map_err(io_err)? == 1 {
        let b = byte[0];
        let was_cr = std::mem::replace(&mut after_cr, b == b'\r');
        if b == b'\n' && was_cr {
            continue;
        }
        if b == b'\n' || b == b'\r' {
            if at == line {
                break;
            }
            at += 1;
            continue;
        }
        if at == line {
            text.push(b);
            if text.len() >= 4096 {
                break;
            }
        }
    }
    let mut decoded = String::new();
    for (i, piece) in text.split(|&b| b == b',').enumerate() {
        if i > 0 {
            decoded.push(',');
        }
        match std::str::from_utf8(piece) {
            Ok(s) => decoded.push_str(s),
            Err(_) => decoded.push_str(&encoding.decode_without_bom_handling(piece).0),
        }
    }
    let chars: Vec<char> = decoded.chars().collect();
    let first = chars.iter().position(|c| !c.is_ascii()).unwrap_or(0);
    let from = first.saturating_sub(20);
    let to = (first + 20).min(chars.len());
    let mut sample: String = chars[from..to].iter().collect();
    if from > 0 {
        sample.insert(0, '…');
    }
    if to < chars.len() {
        sample.push('…');
    }
    Ok(sample)
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn read_full(rdr: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match super::read_some(rdr, &mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn sniff_bytes(b: &[u8]) -> Decoding {
        sniff(&Source::Stdin(Arc::new(b.to_vec())), None, Scan::Whole)
            .expect("in memory")
            .0
    }

    #[test]
    fn detects_encodings() {
        assert_eq!(sniff_bytes(b""), Decoding::Empty);
        assert_eq!(sniff_bytes(b"a,b\n"), Decoding::Text(TextEncoding::Utf8));
        assert_eq!(
            sniff_bytes(b"\xEF\xBB\xBFa"),
            Decoding::Text(TextEncoding::Utf8Bom)
        );
        assert_eq!(
            sniff_bytes(b"\xFF\xFEa\0"),
            Decoding::Text(TextEncoding::Utf16Le)
        );
        assert_eq!(
            sniff_bytes(b"\xFE\xFF\0a"),
            Decoding::Text(TextEncoding::Utf16Be)
        );
        // é is é in every Western and Central European code page.
        assert!(matches!(
            sniff_bytes(b"h\nx\nJos\xE9\n"),
            Decoding::Text(TextEncoding::Legacy { first_line: 3, .. })
        ));
        assert!(matches!(
            sniff_bytes(b"PK\x03\x04zzz"),
            Decoding::NotText(_)
        ));
        assert_eq!(
            sniff_bytes(b"a\0b\0c\0d\0"),
            Decoding::Text(TextEncoding::Utf16LeNoBom)
        );
        assert_eq!(
            sniff_bytes(b"\0a\0b\0c\0d"),
            Decoding::Text(TextEncoding::Utf16BeNoBom)
        );
        assert!(matches!(sniff_bytes(b"ab\0cd\0ef"), Decoding::NotText(_)));
    }

    /// Hands out one byte per read, the worst case for state kept across reads.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
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

    #[test]
    fn line_ends_become_lf() {
        let input = b"a\r\nb\rc\n\r\n\r\rd\r";
        let want = b"a\nb\nc\n\n\n\nd\n".to_vec();
        let mut out = Vec::new();
        LineEnds::new(&input[..])
            .read_to_end(&mut out)
            .expect("read");
        assert_eq!(out, want);
        let mut out = Vec::new();
        LineEnds::new(OneByte(input))
            .read_to_end(&mut out)
            .expect("read");
        assert_eq!(out, want);
    }

    #[test]
    fn crlf_inside_quotes_is_kept() {
        let input = b"a,\"x\r\ny\"\r\nb,\"p\rq\"\"\r\n\"\r\n5'11\",\"z\r\nw\"\r\n";
        let want = b"a,\"x\r\ny\"\nb,\"p\nq\"\"\r\n\"\n5'11\",\"z\r\nw\"\n".to_vec();
        for one_byte in [false, true] {
            let mut out = Vec::new();
            if one_byte {
                LineEnds::new(OneByte(input)).read_to_end(&mut out)
            } else {
                LineEnds::new(&input[..]).read_to_end(&mut out)
            }
            .expect("read");
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&want)
            );
        }
    }

    #[test]
    fn multibyte_sequence_across_blocks_is_valid() {
        let mut data = vec![b'a'; SNIFF_BYTES - 1];
        data.extend_from_slice("é".as_bytes());
        data.extend_from_slice(&vec![b'b'; 70_000]);
        data.extend_from_slice("ü\n".as_bytes());
        assert_eq!(sniff_bytes(&data), Decoding::Text(TextEncoding::Utf8));
        data.push(0xC3); // truncated at the end
        assert!(matches!(sniff_bytes(&data), Decoding::Unsure(_)));
    }
}
