//! Cutting a decoded stream into blocks of whole records, so that blocks can be parsed and
//! checked in parallel while line numbers stay exact.
//!
//! A record ends at a `\n` outside quotes (the stream has `\n` line ends only, see
//! `decode::LineEnds`). Quotes follow the csv crate's reading exactly: a `"` opens a quoted
//! field only at the start of a field, `""` inside quotes is a literal quote, and a quote
//! anywhere else is a literal character.

use std::io::{self, Read};

/// Where the scan stands between two bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Outside quotes; `prev` is the byte before (a delimiter or `\n` means "field start").
    Unquoted,
    Quoted,
    /// Just read a `"` inside quotes: `""` goes on quoted, anything else closes the quotes.
    QuoteInQuoted,
}

/// Finds record boundaries, carrying its state from one buffer to the next.
#[derive(Clone, Debug)]
pub struct BoundaryScanner {
    delimiter: u8,
    state: State,
    prev: u8,
}

impl BoundaryScanner {
    pub fn new(delimiter: u8) -> Self {
        BoundaryScanner {
            delimiter,
            state: State::Unquoted,
            prev: b'\n',
        }
    }

    /// Scans `buf`, the bytes that follow everything scanned before, and returns the offset
    /// just past the last record boundary in it.
    pub fn scan(&mut self, buf: &[u8]) -> Option<usize> {
        self.scan_to(buf, false)
    }

    /// Scans `buf` up to the first record boundary and returns the offset just past it; the
    /// state is then that of a record start.
    pub fn scan_first(&mut self, buf: &[u8]) -> Option<usize> {
        self.scan_to(buf, true)
    }

    /// Every record boundary in `buf` (offsets just past each `\n` that ends a record).
    pub fn scan_all(&mut self, buf: &[u8], cuts: &mut Vec<usize>) {
        self.scan_with(buf, |at| {
            cuts.push(at);
            true
        });
    }

    fn scan_to(&mut self, buf: &[u8], first: bool) -> Option<usize> {
        self.scan_with(buf, |_| !first)
    }

    /// The scan itself: `on_cut` sees each boundary and says whether to go on.
    fn scan_with(&mut self, buf: &[u8], mut on_cut: impl FnMut(usize) -> bool) -> Option<usize> {
        let mut last = None;
        let mut i = 0;
        while i < buf.len() {
            match self.state {
                State::Quoted => match memchr::memchr(b'"', &buf[i..]) {
                    Some(j) => {
                        self.state = State::QuoteInQuoted;
                        i += j + 1;
                    }
                    None => break,
                },
                State::QuoteInQuoted => {
                    if buf[i] == b'"' {
                        self.state = State::Quoted;
                        i += 1;
                    } else {
                        self.state = State::Unquoted;
                        self.prev = b'"';
                    }
                }
                State::Unquoted => match memchr::memchr2(b'\n', b'"', &buf[i..]) {
                    Some(j) => {
                        let at = i + j;
                        if buf[at] == b'\n' {
                            last = Some(at + 1);
                            self.prev = b'\n';
                            if !on_cut(at + 1) {
                                return last;
                            }
                        } else {
                            let before = if at > i { buf[at - 1] } else { self.prev };
                            if before == self.delimiter || before == b'\n' {
                                self.state = State::Quoted;
                            } else {
                                self.prev = b'"';
                            }
                        }
                        i = at + 1;
                    }
                    None => {
                        self.prev = buf[buf.len() - 1];
                        break;
                    }
                },
            }
        }
        last
    }
}

/// The 1-based line, within `bytes`, where the record read at `pos` starts. csv reports the
/// line where it began looking for the record, which is a blank line's when blank lines come
/// before it; the blank lines it skipped are counted back in.
pub fn record_line(bytes: &[u8], pos: &csv::Position) -> u64 {
    let from = (pos.byte() as usize).min(bytes.len());
    let blank = bytes[from..].iter().take_while(|&&b| b == b'\n').count();
    pos.line() + blank as u64
}

/// Parses a block's records, each with its physical line.
pub fn parse_block(block: &Block, delimiter: u8) -> super::RecordBuf {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(&block.bytes[..]);
    let mut records = super::RecordBuf::with_capacity(block.bytes.len());
    let mut rec = csv::ByteRecord::new();
    // Reading from memory cannot fail: csv only reports I/O errors for flexible byte records.
    while rdr.read_byte_record(&mut rec).unwrap_or(false) {
        let line =
            block.first_line + rec.position().map_or(1, |p| record_line(&block.bytes, p)) - 1;
        records.push(&rec, line);
    }
    records
}

/// A run of whole records and the physical line its first byte is on.
#[derive(Debug)]
pub struct Block {
    pub bytes: Vec<u8>,
    pub first_line: u64,
}

/// Reads a stream as blocks of whole records of about `target` bytes (a record longer than
/// that makes a longer block).
pub struct BlockReader {
    inner: Box<dyn Read + Send>,
    scanner: BoundaryScanner,
    carry: Vec<u8>,
    next_line: u64,
    target: usize,
    eof: bool,
}

impl BlockReader {
    /// `first_line` is the physical line of the stream's first byte.
    pub fn new(inner: Box<dyn Read + Send>, delimiter: u8, first_line: u64, target: usize) -> Self {
        BlockReader {
            inner,
            scanner: BoundaryScanner::new(delimiter),
            carry: Vec::new(),
            next_line: first_line,
            target: target.max(1),
            eof: false,
        }
    }

    /// The next block, `None` at the end of the stream.
    pub fn next_block(&mut self) -> io::Result<Option<Block>> {
        let mut buf = std::mem::take(&mut self.carry);
        let mut cut = None;
        loop {
            if self.eof {
                if buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.finish(buf)));
            }
            if let Some(c) = cut {
                if buf.len() >= self.target {
                    self.carry = buf[c..].to_vec();
                    buf.truncate(c);
                    return Ok(Some(self.finish(buf)));
                }
            }
            let start = buf.len();
            // Up to the target, and at least a good read's worth once past it.
            let want = self
                .target
                .saturating_sub(start)
                .max(self.target.min(1 << 16));
            buf.resize(start + want, 0);
            let n = super::read_some(&mut self.inner, &mut buf[start..])?;
            buf.truncate(start + n);
            if n == 0 {
                self.eof = true;
                continue;
            }
            if let Some(c) = self.scanner.scan(&buf[start..]) {
                cut = Some(start + c);
            }
        }
    }

    fn finish(&mut self, bytes: Vec<u8>) -> Block {
        let first_line = self.next_line;
        self.next_line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
        Block { bytes, first_line }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (line, fields) of every record, parsed in one go.
    fn whole(data: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        let mut out = Vec::new();
        let mut rec = csv::ByteRecord::new();
        while rdr.read_byte_record(&mut rec).expect("in memory") {
            let line = record_line(data, rec.position().expect("position"));
            out.push((line, rec.iter().map(<[u8]>::to_vec).collect()));
        }
        out
    }

    /// The same, parsed block by block.
    fn blocked(data: &[u8], target: usize) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut reader =
            BlockReader::new(Box::new(io::Cursor::new(data.to_vec())), b',', 1, target);
        let mut out = Vec::new();
        while let Some(block) = reader.next_block().expect("in memory") {
            for (line, fields) in whole(&block.bytes) {
                out.push((block.first_line + line - 1, fields));
            }
        }
        out
    }

    #[test]
    fn lines_after_blank_lines_are_the_records_own() {
        assert_eq!(
            whole(b"a\n\n\nb\n").iter().map(|r| r.0).collect::<Vec<_>>(),
            [1, 4]
        );
    }

    #[test]
    fn quotes_only_open_at_field_start() {
        let mut s = BoundaryScanner::new(b',');
        assert_eq!(s.scan(b"a,5'11\",b\nc"), Some(10));
        let mut s = BoundaryScanner::new(b',');
        assert_eq!(s.scan(b"a,\"x\ny\",b\nc"), Some(10));
        let mut s = BoundaryScanner::new(b',');
        assert_eq!(s.scan(b"\"a\"\"\nb\"\nc"), Some(8));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn blocks_parse_like_the_whole(
            data in proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b','), Just(b'"'), Just(b'\n'), Just(b' ')], 0..3000),
            target in 1usize..4000,
        ) {
            prop_assert_eq!(blocked(&data, target), whole(&data));
        }
    }
}
