//! The record parser: a block's bytes straight into a [`RecordBuf`], in one pass.
//!
//! It reads exactly as the csv crate read blocks before it (`has_headers(false)`,
//! `flexible(true)`, quote `"` doubled to escape, no escape byte, no comments): a `"` opens a
//! quoted field only at the start of a field, `""` inside quotes is a literal quote, the bytes
//! after a closing quote are kept up to the delimiter or line end (`"ab"cd` is `abcd`), a `"`
//! anywhere else is a plain character, and a `\n` at a record start (a blank line) makes no
//! record. The stream has `\n` line ends only (`decode::LineEnds`): a `\r` is a plain byte here.
//!
//! Why by hand: csv copied every byte three times (its buffer, a `ByteRecord`, the
//! `RecordBuf`), stepped its state machine byte by byte, checked UTF-8 record by record and
//! knew nothing of the line a record starts on, which cost a second count. simd-csv (the xan
//! reader) is fast but reads differently by design: it has no notion of a field start, so a
//! `"` inside an unquoted field opens quotes (`joh"n,landis` in its docs), and it gives no line
//! numbers. This parser finds a record's line end with memchr and, on a line without quotes
//! (most are), its delimiters eight bytes at a time; it copies each field once, counts lines as
//! it passes them and checks UTF-8 once per block.

use super::blocks::{Block, Broken};
use super::record::{RecordBuf, RecordWriter};

/// csv dropped a UTF-8 BOM at the start of its input, so at the start of every block.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// Parses a block's records, each with its physical line.
pub fn parse_block(block: &Block, delimiter: u8) -> RecordBuf {
    let mut records = RecordBuf::with_capacity(block.bytes.len());
    parse_block_into(block, delimiter, &mut records);
    records
}

/// Parses a block's records into `out`, which is cleared first but keeps its memory (a buffer
/// reused from block to block costs no new pages). Returns the offset in `block.bytes` of the
/// first byte that is not UTF-8, `None` when the block is UTF-8 throughout; fields with bytes
/// that are not UTF-8 are replaced lossily, field by field.
pub fn parse_block_into(block: &Block, delimiter: u8, out: &mut RecordBuf) -> Option<usize> {
    let first_bad = parse_lines(block, delimiter, out);
    if let Some(rows) = &block.rows {
        out.number_by_rows(rows);
    }
    first_bad
}

fn parse_lines(block: &Block, delimiter: u8, out: &mut RecordBuf) -> Option<usize> {
    out.clear();
    let bytes = &block.bytes[..];
    out.reserve_text(bytes.len());
    let quoting = match block.broken {
        None => true,
        // One line, read with its quotes as plain characters.
        Some(Broken::UnclosedQuote) => false,
        Some(Broken::TooLong { .. }) => {
            // Its bytes were skipped: a record without fields stands for the line.
            out.start_record().finish(block.first_line, 0);
            return None;
        }
    };
    // Delimiters, quotes and line ends are ASCII, so every piece of a UTF-8 block is UTF-8.
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            parse(block, delimiter, quoting, &mut Utf8 { text }, out);
            None
        }
        Err(e) => {
            let mut lossy = Lossy {
                bytes,
                field: Vec::new(),
                legacy: block.legacy,
            };
            parse(block, delimiter, quoting, &mut lossy, out);
            Some(e.valid_up_to())
        }
    }
}

fn parse(block: &Block, delimiter: u8, quoting: bool, f: &mut impl Fields, out: &mut RecordBuf) {
    if quoting {
        let bom = block.bytes.starts_with(BOM);
        let from = if bom { BOM.len() } else { 0 };
        parse_quoted(&block.bytes, from, delimiter, block.first_line, bom, f, out);
    } else {
        // csv was given the line without its line end.
        let line = block.bytes.strip_suffix(b"\n").unwrap_or(&block.bytes);
        let from = if line.starts_with(BOM) { BOM.len() } else { 0 };
        parse_plain(line, from, delimiter, block.first_line, f, out);
    }
}

/// Where the parser puts a field's text. A field is one or more pieces of the block: more
/// than one around a `""` or after a closing quote.
trait Fields {
    fn piece(&mut self, w: &mut RecordWriter, from: usize, to: usize);
    fn end_field(&mut self, w: &mut RecordWriter);
}

/// The block is UTF-8, and so is every piece: pieces start and end next to ASCII bytes.
struct Utf8<'a> {
    text: &'a str,
}

impl Fields for Utf8<'_> {
    #[inline]
    fn piece(&mut self, w: &mut RecordWriter, from: usize, to: usize) {
        w.push_str(&self.text[from..to]);
    }

    #[inline]
    fn end_field(&mut self, w: &mut RecordWriter) {
        w.end_field();
    }
}

/// The block is not UTF-8: each field is gathered whole, then replaced lossily where it needs
/// it (a field can be UTF-8 where its bytes in the block are not: `"\xc3"\xa9` is `é`), or,
/// in a file that is UTF-8 but for some fields, decoded from their legacy encoding and marked.
struct Lossy<'a> {
    bytes: &'a [u8],
    field: Vec<u8>,
    legacy: Option<&'static encoding_rs::Encoding>,
}

impl Fields for Lossy<'_> {
    fn piece(&mut self, _: &mut RecordWriter, from: usize, to: usize) {
        self.field.extend_from_slice(&self.bytes[from..to]);
    }

    fn end_field(&mut self, w: &mut RecordWriter) {
        match (std::str::from_utf8(&self.field), self.legacy) {
            (Ok(text), _) => w.push_str(text),
            (Err(_), Some(legacy)) => {
                w.push_str(&legacy.decode_without_bom_handling(&self.field).0);
                w.mark_legacy();
            }
            (Err(_), None) => w.push_lossy(&self.field),
        }
        self.field.clear();
        w.end_field();
    }
}

/// Reads the records of `bytes[from..]`, quotes on; `first_line` is the line of `bytes[0]`.
/// `bom`: a BOM was dropped before `from` (see below).
fn parse_quoted(
    bytes: &[u8],
    from: usize,
    delimiter: u8,
    first_line: u64,
    bom: bool,
    f: &mut impl Fields,
    out: &mut RecordBuf,
) {
    let len = bytes.len();
    let mut pos = from;
    let mut line = first_line;
    let mut first = true;
    // With such a delimiter a line end or a quote would not end a record or open a field.
    let plain_lines = delimiter != b'\n' && delimiter != b'"';
    while pos < len {
        let blank = pos;
        while pos < len && bytes[pos] == b'\n' {
            pos += 1;
        }
        if pos == len {
            break;
        }
        line += (pos - blank) as u64;
        // csv gave a record the line where it began looking for it and `record_line` counted
        // the blank lines after that back in, but not after a BOM: the first record after a
        // dropped BOM is on the block's first line, blank lines or not.
        let record_line = if first && bom { first_line } else { line };
        first = false;
        let mut w = out.start_record();
        if plain_lines {
            // Most records are one line without a quote: find its end, then its delimiters.
            let end = memchr::memchr2(b'"', b'\n', &bytes[pos..]).map_or(len, |j| pos + j);
            if end == len || bytes[end] == b'\n' {
                split_line(bytes, pos, end, delimiter, f, &mut w);
                w.finish(record_line, 0);
                // Past `len` at the end of the block, which ends the loop.
                pos = end + 1;
                line += 1;
                continue;
            }
        }
        let mut breaks = 0u64;
        loop {
            if bytes.get(pos) == Some(&b'"') {
                pos += 1;
                let mut piece = pos;
                loop {
                    let Some(j) = memchr::memchr2(b'"', b'\n', &bytes[pos..]) else {
                        // The quote never closes: the field runs to the end, as in csv.
                        f.piece(&mut w, piece, len);
                        pos = len;
                        break;
                    };
                    let at = pos + j;
                    pos = at + 1;
                    if bytes[at] == b'\n' {
                        breaks += 1;
                    } else if bytes.get(pos) == Some(&b'"') {
                        // `""`: the first quote ends this piece as a literal quote.
                        f.piece(&mut w, piece, pos);
                        pos += 1;
                        piece = pos;
                    } else {
                        f.piece(&mut w, piece, at);
                        break;
                    }
                }
            }
            // An unquoted field, or what follows a closing quote: plain bytes up to the
            // delimiter or the line end. The delimiter is looked for first, as csv does.
            let end = memchr::memchr2(delimiter, b'\n', &bytes[pos..]).map_or(len, |j| pos + j);
            if end > pos {
                f.piece(&mut w, pos, end);
            }
            f.end_field(&mut w);
            if end == len {
                pos = len;
                break;
            }
            pos = end + 1;
            if bytes[end] != delimiter {
                line += 1;
                break;
            }
        }
        w.finish(record_line, breaks);
        line += breaks;
    }
}

/// Cuts `bytes[from..to]`, a line without quotes, at each delimiter: each piece is a field.
fn split_line(
    bytes: &[u8],
    from: usize,
    to: usize,
    delimiter: u8,
    f: &mut impl Fields,
    w: &mut RecordWriter,
) {
    let mut start = from;
    loop {
        let at = find_byte(bytes, start, to, delimiter);
        if at > start {
            f.piece(w, start, at);
        }
        f.end_field(w);
        if at == to {
            break;
        }
        start = at + 1;
    }
}

/// The offset of the first `byte` in `bytes[from..to]`, else `to`. Eight bytes at a time
/// (SWAR): fields are short, and a memchr call costs more than it saves on them.
fn find_byte(bytes: &[u8], from: usize, to: usize, byte: u8) -> usize {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let splat = u64::from(byte) * 0x0101_0101_0101_0101;
    let mut rest = &bytes[from..to];
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        // The high bit of each byte equal to `byte`, exactly: no carry crosses bytes.
        let x = u64::from_le_bytes(*word) ^ splat;
        let hits = !(((x & LOW7) + LOW7) | x | LOW7);
        if hits != 0 {
            return to - rest.len() + (hits.trailing_zeros() / 8) as usize;
        }
        rest = tail;
    }
    let at = to - rest.len();
    rest.iter().position(|&b| b == byte).map_or(to, |j| at + j)
}

/// Reads the first record of `line[from..]` with quotes as plain characters, as one record on
/// `line_no` (without fields when there is none).
fn parse_plain(
    line: &[u8],
    from: usize,
    delimiter: u8,
    line_no: u64,
    f: &mut impl Fields,
    out: &mut RecordBuf,
) {
    let len = line.len();
    let mut pos = from;
    while pos < len && line[pos] == b'\n' {
        pos += 1;
    }
    let mut w = out.start_record();
    if pos < len {
        loop {
            let end = memchr::memchr2(delimiter, b'\n', &line[pos..]).map_or(len, |j| pos + j);
            if end > pos {
                f.piece(&mut w, pos, end);
            }
            f.end_field(&mut w);
            if end == len || line[end] != delimiter {
                break;
            }
            pos = end + 1;
        }
    }
    w.finish(line_no, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::blocks::record_line;
    use proptest::prelude::*;

    /// (line, fields, breaks) of every record.
    type Parsed = Vec<(u64, Vec<String>, u64)>;

    fn block(bytes: &[u8], first_line: u64, broken: Option<Broken>) -> Block {
        Block {
            bytes: bytes.to_vec(),
            first_line,
            broken,
            skipped: Default::default(),
            rows: None,
            legacy: None,
        }
    }

    fn parsed(records: &RecordBuf) -> Parsed {
        (0..records.len())
            .map(|i| {
                let fields = records.get(i).iter().map(String::from).collect();
                (records.line(i), fields, records.breaks(i))
            })
            .collect()
    }

    /// The parser this one replaced, through the csv crate: the oracle. Fields that are not
    /// UTF-8 are replaced lossily, field by field; `breaks` is what validate counted before,
    /// the line ends in the record's text.
    fn csv_parse(block: &Block, delimiter: u8) -> Parsed {
        let mut out = Vec::new();
        let mut rec = csv::ByteRecord::new();
        let mut push = |rec: &csv::ByteRecord, line: u64| {
            let fields = rec.iter().map(|f| String::from_utf8_lossy(f).into_owned());
            let breaks = memchr::memchr_iter(b'\n', rec.as_slice()).count() as u64;
            out.push((line, fields.collect(), breaks));
        };
        match block.broken {
            None => {
                let mut rdr = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .delimiter(delimiter)
                    .from_reader(&block.bytes[..]);
                while rdr.read_byte_record(&mut rec).expect("in memory") {
                    let pos = rec.position().expect("position");
                    push(&rec, block.first_line + record_line(&block.bytes, pos) - 1);
                }
            }
            Some(Broken::UnclosedQuote) => {
                let line = block.bytes.strip_suffix(b"\n").unwrap_or(&block.bytes);
                let mut rdr = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .quoting(false)
                    .delimiter(delimiter)
                    .from_reader(line);
                if !rdr.read_byte_record(&mut rec).expect("in memory") {
                    rec.clear();
                }
                push(&rec, block.first_line);
            }
            Some(Broken::TooLong { .. }) => push(&rec, block.first_line),
        }
        out
    }

    fn new_parse(bytes: &[u8], first_line: u64, broken: Option<Broken>) -> Parsed {
        parsed(&parse_block(&block(bytes, first_line, broken), b','))
    }

    fn fields(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lines_skip_blank_lines_and_count_quoted_line_ends() {
        let data = b"\na,b\n\n\nc,\"x\ny\n\"\"z\"\nd\n\n\"e\nf\"g\n";
        assert_eq!(
            new_parse(data, 10, None),
            [
                (11, fields(&["a", "b"]), 0),
                (14, fields(&["c", "x\ny\n\"z"]), 2),
                (17, fields(&["d"]), 0),
                (19, fields(&["e\nfg"]), 1),
            ]
        );
    }

    #[test]
    fn quotes_open_only_at_field_start() {
        assert_eq!(
            new_parse(b"5'11\",\"ab\"cd,\"\",x\"\"y,\"a,b\"", 1, None),
            [(1, fields(&["5'11\"", "abcd", "", "x\"\"y", "a,b"]), 0)]
        );
        // A quote that never closes runs to the end, line ends and all.
        assert_eq!(
            new_parse(b"a,\"b\nc,d", 1, None),
            [(1, fields(&["a", "b\nc,d"]), 1)]
        );
    }

    #[test]
    fn empty_fields_and_records() {
        assert_eq!(new_parse(b"", 1, None), []);
        assert_eq!(new_parse(b"\n\n", 1, None), []);
        assert_eq!(
            new_parse(b",\na,\n\"\"", 1, None),
            [
                (1, fields(&["", ""]), 0),
                (2, fields(&["a", ""]), 0),
                (3, fields(&[""]), 0),
            ]
        );
    }

    #[test]
    fn broken_blocks_are_one_record() {
        let unclosed = Some(Broken::UnclosedQuote);
        assert_eq!(
            new_parse(b"c,\"d,e\"f\n", 4, unclosed),
            [(4, fields(&["c", "\"d", "e\"f"]), 0)]
        );
        assert_eq!(new_parse(b"\n", 4, unclosed), [(4, vec![], 0)]);
        let too_long = Some(Broken::TooLong { bytes: 9 });
        assert_eq!(new_parse(b"", 6, too_long), [(6, vec![], 0)]);
    }

    #[test]
    fn a_bom_at_the_start_is_dropped_as_csv_did() {
        assert_eq!(
            new_parse(b"\xef\xbb\xbf\n\na,b\nc\n", 3, None),
            [(3, fields(&["a", "b"]), 0), (6, fields(&["c"]), 0)]
        );
        assert_eq!(
            new_parse(b"a\n\xef\xbb\xbfb\n", 1, None),
            [(1, fields(&["a"]), 0), (2, fields(&["\u{feff}b"]), 0)]
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced_field_by_field() {
        let b = block(b"a\xff,\"\xc3\"\xa9\n\xc3\xa9\n", 1, None);
        let mut out = RecordBuf::new();
        assert_eq!(parse_block_into(&b, b',', &mut out), Some(1));
        assert_eq!(
            parsed(&out),
            [(1, fields(&["a\u{fffd}", "é"]), 0), (2, fields(&["é"]), 0)]
        );
        // The record's bytes are UTF-8, but the delimiter splits a character.
        let b = block(b"a\xc3;\xa9a", 1, None);
        assert_eq!(parse_block_into(&b, b';', &mut out), Some(1));
        assert_eq!(parsed(&out), [(1, fields(&["a\u{fffd}", "\u{fffd}a"]), 0)]);
        let b = block("é,\"x\ny\"\n".as_bytes(), 1, None);
        assert_eq!(parse_block_into(&b, b',', &mut out), None);
        assert_eq!(parsed(&out), [(1, fields(&["é", "x\ny"]), 1)]);
    }

    #[test]
    fn find_byte_finds_exactly_the_first() {
        // Bytes that differ from the target in one bit (0xac for ','), or sit next to it.
        for byte in [b',', b';', b'\t', b'\n', 0x00, 0x7f, 0x80, 0xff] {
            for at in 0..20 {
                let mut hay: Vec<u8> = (0..20).map(|i| byte ^ (1 << (i % 8))).collect();
                hay[at] = byte;
                hay.push(byte);
                for from in 0..=at {
                    assert_eq!(find_byte(&hay, from, 20, byte), at, "{byte} at {at}");
                }
                assert_eq!(find_byte(&hay, at + 1, 20, byte), 20);
            }
        }
    }

    /// Bytes for the proptests: structure, UTF-8 of 2 and 3 bytes (a BOM), halves of `é`
    /// and a byte that is never UTF-8; `quotes` and `lines` weigh `"` and `\n` (of about 20).
    fn data(quotes: u32, lines: u32, tokens: usize) -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            4 => Just(&b"a"[..]),
            1 => Just("é".as_bytes()),
            2 => Just(&b","[..]),
            1 => Just(&b";"[..]),
            1 => Just(&b"\t"[..]),
            quotes => Just(&b"\""[..]),
            lines => Just(&b"\n"[..]),
            1 => Just(&b" "[..]),
            1 => Just(&b"\xff"[..]),
            1 => Just(&b"\xc3"[..]),
            1 => Just(&b"\xa9"[..]),
            1 => Just(&b"\xef\xbb\xbf"[..]),
        ];
        proptest::collection::vec(token, 0..tokens).prop_map(|t| t.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn parses_like_csv(
            bytes in prop_oneof![data(3, 2, 80), data(1, 1, 300)],
            delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t')],
            broken in any::<bool>(),
            first_line in 1u64..1000,
        ) {
            let broken = broken.then_some(Broken::UnclosedQuote);
            let b = block(&bytes, first_line, broken);
            let mut out = RecordBuf::new();
            // Something left from another block must not show.
            let other = block(b"x,\"y\n\"\nz\n", 1, None);
            parse_block_into(&other, delimiter, &mut out);
            let bad = parse_block_into(&b, delimiter, &mut out);
            prop_assert_eq!(parsed(&out), csv_parse(&b, delimiter));
            prop_assert_eq!(bad, std::str::from_utf8(&bytes).err().map(|e| e.valid_up_to()));
        }
    }
}
