//! A workbook is bounded before any reader allocates for it. calamine builds what a file
//! declares (a dense range of the used area, every shared string, a vector reserved to the
//! `uniqueCount` the file states), so a 2 KB file can ask for gigabytes. Here the zip is
//! checked first, without decompressing anything to memory: its end record and entry count,
//! each part's declared size, then each part's actual size, decompressed into a scanner that
//! keeps no more than a tag's first bytes. The scanner refuses a DTD (no entity can expand), a
//! text, tag, comment or CDATA section longer than a record may be (so no XML event that a
//! reader buffers whole is larger than 1 MiB), and counts the shared strings.
//!
//! The limits give the scale of a Qualtrics user file (under 20 MB and 100,000 rows, 9 to 11
//! columns) a wide margin, and stay far below what would strain memory.

use std::io::{self, Read, Seek, SeekFrom};

use crate::file::MAX_RECORD_BYTES;
use crate::vocab::rule::Code;

/// A workbook of more bytes than this is refused: a 99,998-row user workbook is about 5 MB.
pub(super) const MAX_WORKBOOK_BYTES: u64 = 64_000_000;
/// No user workbook has more parts (Excel writes about a dozen).
const MAX_ENTRIES: u64 = 10_000;
/// Nor a central directory larger than this.
const MAX_CENTRAL_DIRECTORY: u64 = 4 << 20;
/// One part, uncompressed: a 99,998-row, 11-column sheet is 50–80 MB of XML.
pub(super) const MAX_PART_BYTES: u64 = 160 << 20;
/// All parts together, uncompressed.
const MAX_TOTAL_BYTES: u64 = 320 << 20;
/// The shared strings a user sheet can need: one per cell of 100,000 rows of 11 columns,
/// and twice that.
const MAX_SHARED_STRINGS: u64 = 2_200_000;

/// Why a workbook is refused: the rule and the message that names the part and the reason.
#[derive(Debug)]
pub(super) struct Refusal {
    pub code: Code,
    pub message: String,
}

impl Refusal {
    pub(super) fn too_big(message: String) -> Self {
        Refusal {
            code: Code::SheetTooBig,
            message,
        }
    }

    pub(super) fn damaged(message: String) -> Self {
        Refusal {
            code: Code::NotText,
            message,
        }
    }
}

/// What the parts of a zip workbook hold, as far as the readers after the check need it.
#[derive(Debug, Default)]
pub(super) struct ZipFacts {
    /// Part names, as stored.
    pub names: Vec<String>,
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20))
}

/// Checks the zip behind `rdr` (`len` bytes) and rewinds it.
pub(super) fn check_zip<R: Read + Seek>(rdr: &mut R, len: u64) -> Result<ZipFacts, Refusal> {
    if len > MAX_WORKBOOK_BYTES {
        return Err(Refusal::too_big(format!(
            "the workbook has {len} bytes; a workbook of Qualtrics users is a few MB (at most {MAX_WORKBOOK_BYTES} bytes are read)"
        )));
    }
    end_record(rdr, len)?;
    let io = |e: io::Error| Refusal::damaged(format!("the workbook cannot be read ({e})"));
    rdr.seek(SeekFrom::Start(0)).map_err(io)?;
    let facts = {
        let mut zip = zip::ZipArchive::new(&mut *rdr).map_err(|e| {
            Refusal::damaged(format!(
                "not a workbook that can be read: its zip structure is damaged ({e})"
            ))
        })?;
        let mut names = Vec::with_capacity(zip.len());
        let mut declared = Vec::with_capacity(zip.len());
        let mut declared_total = 0u64;
        for i in 0..zip.len() {
            let part = zip.by_index_raw(i).map_err(|e| {
                Refusal::damaged(format!("part {i} of the workbook cannot be read ({e})"))
            })?;
            let name = part.name().to_string();
            let size = part.size();
            if size > MAX_PART_BYTES {
                return Err(Refusal::too_big(format!(
                    "its part {name} declares {} uncompressed, more than any user workbook holds (at most {})",
                    mib(size),
                    mib(MAX_PART_BYTES)
                )));
            }
            declared_total += size;
            declared.push(size);
            names.push(name);
        }
        if declared_total > MAX_TOTAL_BYTES {
            return Err(Refusal::too_big(format!(
                "its parts declare {} uncompressed, more than any user workbook holds (at most {})",
                mib(declared_total),
                mib(MAX_TOTAL_BYTES)
            )));
        }
        // The sizes a part declares can lie: each is decompressed (to nowhere) and measured.
        let mut total = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        for (i, name) in names.iter().enumerate() {
            let mut part = zip
                .by_index(i)
                .map_err(|e| Refusal::damaged(format!("its part {name} cannot be read ({e})")))?;
            let xml = is_xml(name);
            let mut scan = Scanner::new(name);
            let mut size = 0u64;
            loop {
                let n = match part.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(Refusal::damaged(format!(
                            "its part {name} is damaged ({e})"
                        )))
                    }
                };
                size += n as u64;
                total += n as u64;
                if size > declared[i] {
                    // What a zip bomb does to get past a check of the declared sizes.
                    return Err(Refusal::too_big(format!(
                        "its part {name} unpacks to more than the {} bytes it declares (a zip bomb, or a damaged file)",
                        declared[i]
                    )));
                }
                if size > MAX_PART_BYTES || total > MAX_TOTAL_BYTES {
                    return Err(Refusal::too_big(format!(
                        "its part {name} unpacks to more than {} (a zip bomb, or far more than any user workbook holds)",
                        mib(size.min(MAX_PART_BYTES))
                    )));
                }
                if xml {
                    scan.feed(&buf[..n])?;
                }
            }
            if xml {
                scan.finish()?;
            }
        }
        ZipFacts { names }
    };
    rdr.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(facts)
}

/// Whether a part is XML that a reader parses.
fn is_xml(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".xml") || lower.ends_with(".rels") || lower.ends_with(".vml")
}

/// Finds the zip's end record and refuses what no user workbook has: zip64, thousands of
/// parts, a huge central directory. The zip reader would read all of it into memory first.
fn end_record<R: Read + Seek>(rdr: &mut R, len: u64) -> Result<(), Refusal> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let io = |e: io::Error| Refusal::damaged(format!("the workbook cannot be read ({e})"));
    let tail_len = len.min(22 + 0xFFFF);
    rdr.seek(SeekFrom::Start(len - tail_len)).map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    rdr.read_exact(&mut tail).map_err(io)?;
    let Some(at) = memchr::memmem::rfind(&tail, EOCD).filter(|&at| at + 22 <= tail.len()) else {
        return Err(Refusal::damaged(
            "not a workbook that can be read: the end of its zip structure is missing (the file was cut short, or is not a workbook)".into(),
        ));
    };
    let rec = &tail[at..at + 22];
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([rec[i], rec[i + 1]]));
    let u32_at = |i: usize| {
        u64::from(u32::from_le_bytes([
            rec[i],
            rec[i + 1],
            rec[i + 2],
            rec[i + 3],
        ]))
    };
    let entries = u16_at(10);
    let cd_size = u32_at(12);
    let zip64 = entries == 0xFFFF
        || cd_size == 0xFFFF_FFFF
        || u32_at(16) == 0xFFFF_FFFF
        || (at >= 20 && &tail[at - 20..at - 16] == b"PK\x06\x07");
    if zip64 {
        return Err(Refusal::too_big(
            "it is a zip64 archive, made for parts of 4 GB or more: no user workbook needs one"
                .into(),
        ));
    }
    if entries > MAX_ENTRIES || cd_size > MAX_CENTRAL_DIRECTORY {
        return Err(Refusal::too_big(format!(
            "it has {entries} parts ({cd_size} bytes of directory); a user workbook has a few dozen"
        )));
    }
    Ok(())
}

/// What the scanner is inside of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Text,
    Tag,
    Comment,
    Cdata,
    Pi,
}

/// A streaming pass over a part's XML that keeps only a tag's first bytes.
struct Scanner<'a> {
    part: &'a str,
    state: State,
    /// Bytes of the current text, tag, comment or section.
    run: u64,
    /// The first bytes of the current tag (its name and first attributes).
    head: Vec<u8>,
    /// The last bytes seen, to find `-->`, `]]>`, `?>`.
    last: [u8; 2],
    strings: u64,
    /// For an .ods's content.xml: where the cells with a value reach (see [`Ods`]).
    ods: Option<Ods>,
}

/// An .ods repeats rows and cells by count (`table:number-rows-repeated`), and calamine
/// builds them all into a dense range: the area that cells with a value cover is bounded
/// here, as an .xlsx's is by its layout pass.
#[derive(Debug, Default)]
struct Ods {
    /// Rows of the current table before the current row.
    row: u64,
    /// How often the current row repeats.
    repeat: u64,
    /// Columns of the current row before the next cell.
    col: u64,
    cells: u64,
}

/// The first bytes of a tag kept: its name and attributes, as far as a cell's go.
const HEAD: usize = 4096;

impl<'a> Scanner<'a> {
    fn new(part: &'a str) -> Self {
        Scanner {
            part,
            state: State::Text,
            run: 0,
            head: Vec::with_capacity(HEAD),
            last: [0; 2],
            strings: 0,
            ods: part.eq_ignore_ascii_case("content.xml").then(Ods::default),
        }
    }

    fn too_long(&self, what: &str) -> Refusal {
        Refusal::too_big(format!(
            "its part {} holds {what} longer than {MAX_RECORD_BYTES} bytes, the most a record of a user file may have",
            self.part
        ))
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        let max = MAX_RECORD_BYTES as u64;
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Text => match memchr::memchr(b'<', &bytes[i..]) {
                    None => {
                        self.run += (bytes.len() - i) as u64;
                        if self.run > max {
                            return Err(self.too_long("a text"));
                        }
                        return Ok(());
                    }
                    Some(at) => {
                        self.run += at as u64;
                        if self.run > max {
                            return Err(self.too_long("a text"));
                        }
                        self.state = State::Tag;
                        self.run = 0;
                        self.head.clear();
                        i += at + 1;
                    }
                },
                State::Tag => match memchr::memchr(b'>', &bytes[i..]) {
                    None => {
                        self.take_head(&bytes[i..])?;
                        self.run += (bytes.len() - i) as u64;
                        if self.run > max {
                            return Err(self.too_long("a tag"));
                        }
                        return Ok(());
                    }
                    Some(at) => {
                        self.take_head(&bytes[i..i + at])?;
                        self.run += at as u64;
                        if self.run > max {
                            return Err(self.too_long("a tag"));
                        }
                        i += at;
                        if self.state == State::Tag {
                            self.end_tag()?;
                            self.state = State::Text;
                            self.run = 0;
                            i += 1;
                        }
                    }
                },
                State::Comment | State::Cdata | State::Pi => {
                    let b = bytes[i];
                    let ends = match self.state {
                        State::Comment => b == b'>' && self.last == *b"--",
                        State::Cdata => b == b'>' && self.last == *b"]]",
                        _ => b == b'>' && self.last[1] == b'?',
                    };
                    self.last = [self.last[1], b];
                    self.run += 1;
                    if self.run > max {
                        return Err(self.too_long("a comment or CDATA section"));
                    }
                    if ends {
                        self.state = State::Text;
                        self.run = 0;
                    }
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// Keeps the first bytes of a tag; a comment, CDATA section or processing instruction is
    /// told by them (they may hold `>`), and a DTD is refused.
    fn take_head(&mut self, piece: &[u8]) -> Result<(), Refusal> {
        if self.head.len() >= HEAD || self.state != State::Tag {
            return Ok(());
        }
        let before = self.head.len();
        let take = piece.len().min(HEAD - before);
        self.head.extend_from_slice(&piece[..take]);
        let head = &self.head[..];
        let switch = if head.starts_with(b"!--") {
            Some((State::Comment, 3))
        } else if head.starts_with(b"![CDATA[") {
            Some((State::Cdata, 8))
        } else if head.starts_with(b"?") {
            Some((State::Pi, 1))
        } else {
            None
        };
        if head.len() >= 2 && head[0] == b'!' && !b"-[".contains(&head[1]) {
            return Err(Refusal::damaged(format!(
                "its part {} declares a DTD (<!DOCTYPE or <!ENTITY): workbooks have none, and entities are not expanded",
                self.part
            )));
        }
        if let Some((state, skip)) = switch {
            if head.len() >= skip {
                // The rest of the piece (after the opening) is read in the new state.
                self.state = state;
                self.run = 0;
                self.last = [0; 2];
                let consumed_here = skip.saturating_sub(before);
                let rest = &piece[consumed_here..];
                return self.feed_special(rest);
            }
        }
        Ok(())
    }

    fn feed_special(&mut self, rest: &[u8]) -> Result<(), Refusal> {
        // `rest` ends before the `>` that made the tag end (or at the piece's end): no `>` in
        // it, so it cannot end the section; count it and remember its last bytes.
        for &b in rest {
            self.last = [self.last[1], b];
        }
        self.run += rest.len() as u64;
        Ok(())
    }

    fn end_tag(&mut self) -> Result<(), Refusal> {
        if self.ods.is_some() {
            self.ods_tag()?;
        }
        let head = &self.head[..];
        let name_end = head
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/')
            .unwrap_or(head.len());
        let name = &head[..name_end];
        let local = name.rsplit(|b| *b == b':').next().unwrap_or(name);
        if matches!(local, b"c" | b"row" | b"dimension") {
            self.cell_reference(local)?;
        }
        if local == b"si" {
            self.strings += 1;
            if self.strings > MAX_SHARED_STRINGS {
                return Err(Refusal::too_big(format!(
                    "its part {} holds more than {MAX_SHARED_STRINGS} strings, more than 100,000 rows of a user file can",
                    self.part
                )));
            }
        } else if local == b"sst" {
            // calamine reserves room for the count the file states.
            for attr in [&b"uniqueCount=\""[..], &b"count=\""[..]] {
                if let Some(at) = memchr::memmem::find(head, attr) {
                    let digits: Vec<u8> = head[at + attr.len()..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .copied()
                        .collect();
                    let n = std::str::from_utf8(&digits)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(u64::MAX);
                    if n > MAX_SHARED_STRINGS * 8 {
                        return Err(Refusal::too_big(format!(
                            "its part {} says it holds {} strings, more than 100,000 rows of a user file can",
                            self.part,
                            String::from_utf8_lossy(&digits)
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// A cell's, a row's or a sheet's used range's reference (`r="B7"`, `ref="A1:I100"`), as
    /// calamine reads it: letters, then digits, in 32 bits, whose arithmetic overflows on a
    /// reference of too many letters or digits, and on a range that ends before it starts.
    fn cell_reference(&self, local: &[u8]) -> Result<(), Refusal> {
        let want: &[u8] = if local == b"dimension" { b"ref" } else { b"r" };
        let Some(value) = attribute(&self.head[local.len()..], want) else {
            return Ok(());
        };
        let damaged = || {
            Refusal::damaged(format!(
                "its part {} has the cell reference \"{}\", which is not one a workbook has",
                self.part,
                String::from_utf8_lossy(&value[..value.len().min(40)])
            ))
        };
        let mut ends = Vec::with_capacity(2);
        for part in value.split(|b| *b == b':') {
            let letters = part.iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let (col, row) = part.split_at(letters);
            let col = col.iter().try_fold(0u32, |n, b| {
                n.checked_mul(26)?
                    .checked_add(u32::from(b.to_ascii_uppercase() - b'A') + 1)
            });
            let row = row.iter().try_fold(0u32, |n, b| {
                n.checked_mul(10)?
                    .checked_add(u32::from(b.wrapping_sub(b'0')))
            });
            // Anything else calamine refuses itself.
            match (col, row) {
                (Some(c), Some(r)) => ends.push((r, c)),
                _ => return Err(damaged()),
            }
        }
        if let [(r0, c0), (r1, c1)] = ends[..] {
            if r1 < r0 || c1 < c0 {
                return Err(damaged());
            }
        }
        Ok(())
    }

    /// Follows an .ods's rows and cells (see [`Ods`]).
    fn ods_tag(&mut self) -> Result<(), Refusal> {
        let head = &self.head[..];
        let closing = head.first() == Some(&b'/');
        let body = &head[usize::from(closing)..];
        let name_end = body
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/')
            .unwrap_or(body.len());
        let name = &body[..name_end];
        let number = |attr: &[u8]| -> u64 {
            memchr::memmem::find(head, attr).map_or(1, |at| {
                let digits: Vec<u8> = head[at + attr.len()..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .copied()
                    .collect();
                std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(u64::MAX)
            })
        };
        // A tag cut short (longer than HEAD) counts as one that holds something.
        let closed = head.len() < HEAD && head.last() == Some(&b'/');
        let Some(ods) = self.ods.as_mut() else {
            return Ok(());
        };
        match (closing, name) {
            (true, b"table:table-row") => ods.row = ods.row.saturating_add(ods.repeat),
            (true, _) => {}
            (false, b"table:table") => {
                *ods = Ods {
                    cells: ods.cells,
                    ..Ods::default()
                }
            }
            (false, b"table:table-row") => {
                ods.repeat = number(b"table:number-rows-repeated=\"");
                ods.col = 0;
                if closed {
                    ods.row = ods.row.saturating_add(ods.repeat);
                }
            }
            (false, b"table:table-cell" | b"table:covered-table-cell") => {
                let repeat = number(b"table:number-columns-repeated=\"");
                let valued = !closed || memchr::memmem::find(head, b"office:value-type=").is_some();
                if valued {
                    let rows = ods.row.saturating_add(ods.repeat);
                    let cols = ods.col.saturating_add(repeat);
                    ods.cells = ods.cells.saturating_add(ods.repeat.saturating_mul(repeat));
                    if rows > u64::from(MAX_SHEET_ROWS)
                        || cols > u64::from(MAX_SHEET_COLUMNS)
                        || ods.cells > MAX_SHEET_CELLS
                    {
                        return Err(Refusal::too_big(format!(
                            "its part {} repeats cells with a value to row {rows} and column {cols} ({} values): a user file has under 100,000 rows and about 10 columns",
                            self.part, ods.cells
                        )));
                    }
                }
                ods.col = ods.col.saturating_add(repeat);
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), Refusal> {
        Ok(())
    }
}

/// The value of attribute `name` in a tag's head (after its name), when it is there whole.
fn attribute<'h>(head: &'h [u8], name: &[u8]) -> Option<&'h [u8]> {
    let mut i = 0;
    while i < head.len() {
        // An attribute's name starts after white space.
        if !head[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        i += 1;
        let rest = &head[i..];
        let Some(after) = rest.strip_prefix(name) else {
            continue;
        };
        let after = after.trim_ascii_start();
        let Some(after) = after.strip_prefix(b"=") else {
            continue;
        };
        let after = after.trim_ascii_start();
        let (&quote, body) = after.split_first()?;
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        let end = memchr::memchr(quote, body)?;
        return Some(&body[..end]);
    }
    None
}

/// An .xls (an OLE compound file holding a BIFF `Workbook` or `Book` stream): calamine builds
/// every sheet's dense range when it opens one, reserving what the sheet's DIMENSIONS record
/// declares and filling the area up to its farthest cell. Both are read here first, record by
/// record, so that a sheet whose area could not be a user file is refused before calamine
/// allocates it (a 2 KB file with a cell at IV65536 would cost half a gigabyte).
pub(super) fn check_biff(bytes: &[u8]) -> Result<(), Refusal> {
    let damaged =
        |e: std::io::Error| Refusal::damaged(format!("the workbook cannot be read ({e})"));
    let mut file = cfb::CompoundFile::open(std::io::Cursor::new(bytes)).map_err(damaged)?;
    // Without either stream calamine says what is missing.
    let Some(name) = ["/Workbook", "/Book"]
        .into_iter()
        .find(|n| file.is_stream(n))
    else {
        return Ok(());
    };
    let mut stream = Vec::new();
    file.open_stream(name)
        .and_then(|mut s| s.read_to_end(&mut stream))
        .map_err(damaged)?;
    scan_biff(&stream)
}

/// The records of a BIFF stream: each a type and a length (two little-endian u16), then data.
fn scan_biff(stream: &[u8]) -> Result<(), Refusal> {
    let mut pos = 0;
    let mut cells = 0u64;
    // The area the cells of the current sheet span: (min row, max row, min col, max col).
    let mut area: Option<(u32, u32, u32, u32)> = None;
    while pos + 4 <= stream.len() {
        let typ = u16::from_le_bytes([stream[pos], stream[pos + 1]]);
        let len = usize::from(u16::from_le_bytes([stream[pos + 2], stream[pos + 3]]));
        let end = (pos + 4 + len).min(stream.len());
        let data = &stream[pos + 4..end];
        pos = end;
        let u16_at = |i: usize| {
            data.get(i..i + 2)
                .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
        };
        let u32_at = |i: usize| {
            data.get(i..i + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let cell = match typ {
            // BOF: a new sheet (or the globals) starts.
            0x0809 | 0x0409 | 0x0209 | 0x0009 => {
                area = None;
                None
            }
            // DIMENSIONS: BIFF8 rows as u32 (first, last + 1), then columns as u16; BIFF5 all u16.
            0x0200 => {
                let (rows, last_col, cols) = if data.len() >= 14 {
                    let (r0, r1) = (u32_at(0).unwrap_or(0), u32_at(4).unwrap_or(0));
                    let (c0, c1) = (u16_at(8).unwrap_or(0), u16_at(10).unwrap_or(0));
                    (r1.saturating_sub(r0), c1, c1.saturating_sub(c0))
                } else {
                    let (r0, r1) = (u16_at(0).unwrap_or(0), u16_at(2).unwrap_or(0));
                    let (c0, c1) = (u16_at(4).unwrap_or(0), u16_at(6).unwrap_or(0));
                    (r1.saturating_sub(r0), c1, c1.saturating_sub(c0))
                };
                if last_col > MAX_SHEET_COLUMNS
                    || u64::from(rows) * u64::from(cols) > MAX_SHEET_CELLS
                {
                    return Err(Refusal::too_big(format!(
                        "a sheet declares {rows} rows by {cols} columns: a user file has under 100,000 rows and about 10 columns (qusers reads sheets up to column {} and {} cells)",
                        crate::file::column_letters(MAX_SHEET_COLUMNS as usize - 1),
                        MAX_SHEET_CELLS
                    )));
                }
                None
            }
            // Cells: row, then column.
            0x0006 | 0x00FD | 0x0201 | 0x0203 | 0x0204 | 0x0205 | 0x027E => {
                u16_at(0).zip(u16_at(2))
            }
            // MULRK and MULBLANK: row, first column, …, last column.
            0x00BD | 0x00BE => u16_at(0).zip(data.len().checked_sub(2).and_then(u16_at)),
            _ => None,
        };
        if let Some((row, col)) = cell {
            cells += 1;
            bound_cell(row, col, cells)?;
            let (r0, r1, c0, c1) = area.unwrap_or((row, row, col, col));
            let a = (r0.min(row), r1.max(row), c0.min(col), c1.max(col));
            // calamine fills the whole area between the first and the farthest cell.
            let span = u64::from(a.1 - a.0 + 1) * u64::from(a.3 - a.2 + 1);
            if span > MAX_SHEET_CELLS {
                return Err(Refusal::too_big(format!(
                    "a sheet's cells span {} rows by {} columns, more cells than 100,000 rows of a user file can hold",
                    a.1 - a.0 + 1,
                    a.3 - a.2 + 1
                )));
            }
            area = Some(a);
        }
    }
    Ok(())
}

/// The most rows a sheet may reach (a user file has under 100,000).
pub const MAX_SHEET_ROWS: u32 = 200_000;
/// The most columns (a user file has 9 to 11): column BL.
pub const MAX_SHEET_COLUMNS: u32 = 64;
/// The most cells that hold a value: 100,000 rows of 11 columns, and twice that.
pub const MAX_SHEET_CELLS: u64 = 2_200_000;

/// Refuses a cell beyond any user file: far down, far right, or one too many.
pub(super) fn bound_cell(row: u32, col: u32, cells: u64) -> Result<(), Refusal> {
    if row >= MAX_SHEET_ROWS || col >= MAX_SHEET_COLUMNS {
        return Err(Refusal::too_big(format!(
            "cell {}{} holds a value: a user file has under 100,000 rows and about 10 columns (qusers reads sheets up to row 200,000 and column {})",
            crate::file::column_letters(col as usize),
            u64::from(row) + 1,
            crate::file::column_letters(MAX_SHEET_COLUMNS as usize - 1)
        )));
    }
    if cells > MAX_SHEET_CELLS {
        return Err(Refusal::too_big(format!(
            "it holds more than {MAX_SHEET_CELLS} values, more than 100,000 rows of a user file can"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(xml: &[u8], piece: usize) -> Result<u64, Refusal> {
        let mut s = Scanner::new("p.xml");
        for chunk in xml.chunks(piece) {
            s.feed(chunk)?;
        }
        s.finish()?;
        Ok(s.strings)
    }

    #[test]
    fn counts_strings_in_any_pieces_and_refuses_a_dtd() {
        let xml = b"<?xml version=\"1.0\"?><!-- a > b --><sst count=\"2\" uniqueCount=\"2\"><si><t>a</t></si><x:si><t><![CDATA[<si>]]></t></x:si></sst>";
        for piece in [1, 2, 3, 7, 1000] {
            assert_eq!(scan(xml, piece).expect("fine"), 2, "pieces of {piece}");
        }
        let dtd = b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>";
        for piece in [1, 5, 1000] {
            let e = scan(dtd, piece).expect_err("a DTD");
            assert!(e.message.contains("DTD"), "{}", e.message);
        }
    }

    fn scan_ods(xml: &[u8]) -> Result<(), Refusal> {
        let mut s = Scanner::new("content.xml");
        for chunk in xml.chunks(7) {
            s.feed(chunk)?;
        }
        Ok(())
    }

    #[test]
    fn ods_repeats_are_bounded_where_cells_hold_values() {
        // LibreOffice's way with the empty rest of a sheet: repeated, but empty.
        let fine = br#"<table:table table:name="Users"><table:table-row><table:table-cell office:value-type="string"><text:p>a</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16383"/></table:table-row><table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="16384"/></table:table-row></table:table>"#;
        assert!(scan_ods(fine).is_ok());
        // A value repeated over the whole sheet.
        let bomb = br#"<table:table table:name="Users"><table:table-row table:number-rows-repeated="1048576"><table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell></table:table-row></table:table>"#;
        let e = scan_ods(bomb).expect_err("refused");
        assert!(e.message.contains("content.xml repeats"), "{}", e.message);
        // A value far down, after many empty rows.
        let far = br#"<table:table><table:table-row table:number-rows-repeated="300000"><table:table-cell/></table:table-row><table:table-row><table:table-cell><text:p>x</text:p></table:table-cell></table:table-row></table:table>"#;
        assert!(scan_ods(far).is_err());
    }

    #[test]
    fn cell_references_calamine_cannot_count_are_refused() {
        let ok = br#"<worksheet><dimension ref="A1:I100"/><sheetData><row r="1"><c r="B1" t="s"><v>0</v></c><c r='XFD1048576'/></row></sheetData></worksheet>"#;
        assert!(scan(ok, 5).is_ok());
        for bad in [
            &br#"<dimension ref="B5:A1"/>"#[..],
            br#"<dimension ref="A9:B1"/>"#,
            br#"<c r="A99999999999"><v>1</v></c>"#,
            br#"<x:c t="n" r="ZZZZZZZZ1"/>"#,
            br#"<row r="4294967296">"#,
        ] {
            let e = scan(bad, 3).expect_err("refused");
            assert!(e.message.contains("cell reference"), "{}", e.message);
        }
        // Other attributes that end in r, and tags named like a cell, are left alone.
        assert!(scan(br#"<c attr="A99999999999" r="A1"/><cols/>"#, 4).is_ok());
    }

    #[test]
    fn long_texts_tags_and_counts_are_refused() {
        let mut xml = b"<t>".to_vec();
        xml.extend(std::iter::repeat_n(b'a', MAX_RECORD_BYTES + 1));
        xml.extend_from_slice(b"</t>");
        assert!(scan(&xml, 4096).is_err());
        let mut xml = b"<t a=\"".to_vec();
        xml.extend(std::iter::repeat_n(b'a', MAX_RECORD_BYTES + 1));
        xml.extend_from_slice(b"\"/>");
        assert!(scan(&xml, 4096).is_err());
        let mut xml = b"<!--".to_vec();
        xml.extend(std::iter::repeat_n(b'>', MAX_RECORD_BYTES + 1));
        xml.extend_from_slice(b"-->");
        assert!(scan(&xml, 4096).is_err());
        assert!(scan(b"<sst uniqueCount=\"99999999999999\">", 3).is_err());
        assert!(scan(b"<sst uniqueCount=\"12\"><si/></sst>", 3).is_ok());
    }
}
