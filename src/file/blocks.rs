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

    /// True inside a quoted field that has not closed yet.
    pub fn in_open_quote(&self) -> bool {
        self.state == State::Quoted
    }

    /// Scans `buf`, the bytes that follow everything scanned before, and returns the offset
    /// just past the last record boundary in it.
    pub fn scan(&mut self, buf: &[u8]) -> Option<usize> {
        let mut last = None;
        let mut i = 0;
        while i < buf.len() {
            if self.state != State::Unquoted {
                match self.step_in_quotes(buf, i) {
                    Some(next) => i = next,
                    None => break,
                }
                continue;
            }
            // Outside quotes up to the next quote (most files have none): every `\n` before it
            // ends a record, and only the last one is wanted. Two searches, not one per line.
            let quote = memchr::memchr(b'"', &buf[i..]).map(|j| i + j);
            let end = quote.unwrap_or(buf.len());
            if let Some(j) = memchr::memrchr(b'\n', &buf[i..end]) {
                last = Some(i + j + 1);
            }
            let Some(at) = quote else {
                self.prev = buf[buf.len() - 1];
                break;
            };
            let before = if at > i { buf[at - 1] } else { self.prev };
            self.quote_outside(before);
            i = at + 1;
        }
        last
    }

    /// Scans `buf` up to the first record boundary and returns the offset just past it; the
    /// state is then that of a record start.
    pub fn scan_first(&mut self, buf: &[u8]) -> Option<usize> {
        self.scan_with(buf, |_| false)
    }

    /// Every record boundary in `buf` (offsets just past each `\n` that ends a record).
    pub fn scan_all(&mut self, buf: &[u8], cuts: &mut Vec<usize>) {
        self.scan_with(buf, |at| {
            cuts.push(at);
            true
        });
    }

    /// The scan itself: `on_cut` sees each boundary and says whether to go on.
    fn scan_with(&mut self, buf: &[u8], mut on_cut: impl FnMut(usize) -> bool) -> Option<usize> {
        let mut last = None;
        let mut i = 0;
        while i < buf.len() {
            if self.state != State::Unquoted {
                match self.step_in_quotes(buf, i) {
                    Some(next) => i = next,
                    None => break,
                }
                continue;
            }
            match memchr::memchr2(b'\n', b'"', &buf[i..]) {
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
                        self.quote_outside(before);
                    }
                    i = at + 1;
                }
                None => {
                    self.prev = buf[buf.len() - 1];
                    break;
                }
            }
        }
        last
    }

    /// One step inside quotes from `buf[i]` (the state is not `Unquoted`): where to go on
    /// from, `None` when `buf` ends first.
    fn step_in_quotes(&mut self, buf: &[u8], i: usize) -> Option<usize> {
        if self.state == State::Quoted {
            let j = memchr::memchr(b'"', &buf[i..])?;
            self.state = State::QuoteInQuoted;
            Some(i + j + 1)
        } else if buf[i] == b'"' {
            self.state = State::Quoted;
            Some(i + 1)
        } else {
            self.state = State::Unquoted;
            self.prev = b'"';
            Some(i)
        }
    }

    /// A `"` outside quotes after the byte `before`: it opens quotes at a field start, and is a
    /// plain character anywhere else.
    fn quote_outside(&mut self, before: u8) {
        if before == self.delimiter || before == b'\n' {
            self.state = State::Quoted;
        } else {
            self.prev = b'"';
        }
    }
}

/// The 1-based line, within `bytes`, where the record read at `pos` starts. csv reports the
/// line where it began looking for the record, which is a blank line's when blank lines come
/// before it; the blank lines it skipped are counted back in. The tests' oracle: the parser
/// counts lines itself.
#[cfg(test)]
pub(crate) fn record_line(bytes: &[u8], pos: &csv::Position) -> u64 {
    let from = (pos.byte() as usize).min(bytes.len());
    let blank = bytes[from..].iter().take_while(|&&b| b == b'\n').count();
    pos.line() + blank as u64
}

/// Records longer than this many bytes (after decoding) are not read: a record so long is a
/// quote that never closes, or not a user file. Far beyond any real record (nine short fields).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// A line the reader could not read as a normal record; it stands alone in its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// A quote opened on this line and did not close before the end of the file (or within
    /// [`MAX_RECORD_BYTES`]). The line was read alone, its quotes as plain characters, and the
    /// lines after it as records of their own: no line is swallowed.
    UnclosedQuote,
    /// The line alone is longer than [`MAX_RECORD_BYTES`]: its bytes were skipped, up to the
    /// next line end, and reading went on from there.
    TooLong { bytes: u64 },
}

/// A run of whole records and the physical line its first byte is on.
#[derive(Debug)]
pub struct Block {
    pub bytes: Vec<u8>,
    pub first_line: u64,
    /// Set when the block is one line that could not be read as a record (see [`Broken`]);
    /// `bytes` is then that line (empty for [`Broken::TooLong`]).
    pub broken: Option<Broken>,
    /// What the bytes of a [`Broken::TooLong`] line held: they are not in `bytes`, but they
    /// still decide whether the file is text and UTF-8.
    pub skipped: Skipped,
    /// For a worksheet whose cells hold line breaks: the line each sheet row starts on.
    /// Records are then numbered by sheet row, so that line N is row N (see
    /// `SheetData::row_lines`).
    pub rows: Option<std::sync::Arc<[u64]>>,
    /// The encoding of the fields that are not UTF-8, in a file that is UTF-8 but for some
    /// fields (see `TextEncoding::Mixed`); `None`: such fields are replaced lossily.
    pub legacy: Option<&'static encoding_rs::Encoding>,
}

/// What the skipped bytes of a line too long to read held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    pub nul: bool,
    /// A byte that is not UTF-8.
    pub not_utf8: bool,
}

/// Whether bytes seen in pieces are UTF-8, a character possibly cut between two pieces.
#[derive(Default)]
struct Utf8Pieces {
    /// The start of a character cut at the end of the last piece.
    carry: Vec<u8>,
    bad: bool,
}

impl Utf8Pieces {
    fn feed(&mut self, piece: &[u8]) {
        if self.bad {
            return;
        }
        let mut joined = std::mem::take(&mut self.carry);
        let bytes = if joined.is_empty() {
            piece
        } else {
            joined.extend_from_slice(piece);
            &joined[..]
        };
        match std::str::from_utf8(bytes) {
            Ok(_) => {}
            Err(e) if e.error_len().is_none() => self.carry = bytes[e.valid_up_to()..].to_vec(),
            Err(_) => self.bad = true,
        }
    }

    /// True when every piece fed was UTF-8 and no character was left cut.
    fn is_utf8(&self) -> bool {
        !self.bad && self.carry.is_empty()
    }
}

/// Reads a stream as blocks of whole records of about `target` bytes. Memory stays within a
/// few times `target` + [`MAX_RECORD_BYTES`], whatever the stream holds: a record longer than
/// that becomes a [`Broken`] block and reading goes on after it.
pub struct BlockReader {
    inner: Box<dyn Read + Send>,
    delimiter: u8,
    scanner: BoundaryScanner,
    /// `buf[..filled]`: bytes read and not handed out yet; they start at a record start.
    /// `buf[filled..]` is room already zeroed once: reads go there without zeroing it again.
    buf: Vec<u8>,
    filled: usize,
    /// `buf[..scanned]` has been through the scanner.
    scanned: usize,
    /// Just past the last record boundary in `buf` (0: none yet).
    cut: usize,
    /// The physical line of `buf[0]`.
    next_line: u64,
    target: usize,
    /// The target for the next block: smaller than `target` when lines are so short that a
    /// block of `target` bytes would hold more than [`MAX_BLOCK_LINES`] (memory in flight
    /// grows with rows, not only with bytes).
    next_target: usize,
    eof: bool,
    ready: std::collections::VecDeque<Block>,
    /// Buffers of blocks already used, given back with [`BlockReader::recycle`]: reading into
    /// memory that is already mapped costs no page faults.
    spare: Vec<Vec<u8>>,
    /// Given to every block (see [`Block::rows`]).
    rows: Option<std::sync::Arc<[u64]>>,
    /// Handed to every block (see [`Block::legacy`]).
    legacy: Option<&'static encoding_rs::Encoding>,
}

/// Buffers kept for reuse, at most.
const MAX_SPARE: usize = 16;

/// Lines per block, about, at most (see `BlockReader::next_target`).
const MAX_BLOCK_LINES: usize = 4096;

impl BlockReader {
    /// `first_line` is the physical line of the stream's first byte.
    pub fn new(inner: Box<dyn Read + Send>, delimiter: u8, first_line: u64, target: usize) -> Self {
        BlockReader {
            inner,
            delimiter,
            scanner: BoundaryScanner::new(delimiter),
            buf: Vec::new(),
            filled: 0,
            scanned: 0,
            cut: 0,
            next_line: first_line,
            target: target.max(1),
            next_target: target.max(1),
            eof: false,
            ready: std::collections::VecDeque::new(),
            spare: Vec::new(),
            rows: None,
            legacy: None,
        }
    }

    /// Numbers records by the sheet rows that start on `rows` lines (see [`Block::rows`]).
    pub fn with_rows(mut self, rows: Option<std::sync::Arc<[u64]>>) -> Self {
        self.rows = rows;
        self
    }

    /// Blocks of a file that is UTF-8 but for some fields, which are in `legacy`.
    pub fn with_legacy(mut self, legacy: Option<&'static encoding_rs::Encoding>) -> Self {
        self.legacy = legacy;
        self
    }

    /// Gives back a block's buffer once its records are no longer needed.
    pub fn recycle(&mut self, bytes: Vec<u8>) {
        // Only buffers that hold a block without growing, and none grown by a long record.
        let fits = (self.target..=2 * self.target + (1 << 16)).contains(&bytes.capacity());
        // Not cleared: its bytes are room that needs no zeroing before the next read.
        if self.spare.len() < MAX_SPARE && fits {
            self.spare.push(bytes);
        }
    }

    /// The next block, `None` at the end of the stream.
    pub fn next_block(&mut self) -> io::Result<Option<Block>> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Ok(Some(b));
            }
            if self.cut > 0 && self.filled >= self.next_target {
                return Ok(Some(self.take(self.cut)));
            }
            if self.filled - self.cut > MAX_RECORD_BYTES {
                self.flush_whole();
                self.broken_record()?;
                continue;
            }
            if self.eof {
                if self.filled == 0 {
                    return Ok(None);
                }
                if self.scanner.in_open_quote() {
                    // The last record opens a quote that never closes.
                    self.flush_whole();
                    self.broken_record()?;
                    continue;
                }
                let all = self.filled;
                return Ok(Some(self.take(all)));
            }
            let start = self.filled;
            // Up to the target, and at least a good read's worth once past it.
            let want = self
                .next_target
                .saturating_sub(start)
                .max(self.next_target.min(1 << 16));
            if self.buf.len() < start + want {
                self.buf.resize(start + want, 0);
            }
            let n = super::read_some(&mut self.inner, &mut self.buf[start..start + want])?;
            self.filled = start + n;
            if n == 0 {
                self.eof = true;
            } else {
                self.scan_new();
            }
        }
    }

    /// Runs the scanner over the bytes it has not seen.
    fn scan_new(&mut self) {
        if let Some(c) = self.scanner.scan(&self.buf[self.scanned..self.filled]) {
            self.cut = self.scanned + c;
        }
        self.scanned = self.filled;
    }

    /// Queues the whole records before the cut as a block.
    fn flush_whole(&mut self) {
        if self.cut > 0 {
            let b = self.take(self.cut);
            self.ready.push_back(b);
        }
    }

    /// Hands out `buf[..end]` (whole records) as a block.
    fn take(&mut self, end: usize) -> Block {
        // The bytes after the cut start the next buffer: a given-back one, or one with room
        // for a block and a read past it (no growing and copying as it fills).
        let mut rest = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.target + (1 << 16)));
        let after = &self.buf[end..self.filled];
        if rest.len() >= after.len() {
            rest[..after.len()].copy_from_slice(after);
        } else {
            rest.clear();
            rest.extend_from_slice(after);
        }
        self.filled = after.len();
        self.buf.truncate(end);
        let bytes = std::mem::replace(&mut self.buf, rest);
        self.scanned -= end.min(self.scanned);
        self.cut = 0;
        let first_line = self.next_line;
        let lines = memchr::memchr_iter(b'\n', &bytes).count();
        self.next_line += lines as u64;
        if let Some(per_line) = bytes.len().checked_div(lines) {
            self.next_target =
                (per_line * MAX_BLOCK_LINES).clamp(self.target.min(1 << 12), self.target);
        }
        Block {
            bytes,
            first_line,
            broken: None,
            skipped: Skipped::default(),
            rows: self.rows.clone(),
            legacy: self.legacy,
        }
    }

    /// `buf` starts with a record that cannot be read whole: too long, or a quote that never
    /// closes. Its first line becomes a broken block and reading starts again on the next line.
    fn broken_record(&mut self) -> io::Result<()> {
        // Rare: plain `buf.len()` bookkeeping here, the room after `filled` let go.
        self.buf.truncate(self.filled);
        let line = self.next_line;
        match memchr::memchr(b'\n', &self.buf).filter(|&i| i < MAX_RECORD_BYTES) {
            Some(i) => {
                // The quote opened on the record's first line (before it, any line end would
                // have ended the record).
                let rest = self.buf.split_off(i + 1);
                let bytes = std::mem::replace(&mut self.buf, rest);
                self.ready.push_back(Block {
                    bytes,
                    first_line: line,
                    broken: Some(Broken::UnclosedQuote),
                    skipped: Skipped::default(),
                    rows: self.rows.clone(),
                    legacy: self.legacy,
                });
            }
            None => {
                // One line longer than the limit: skip to its end.
                let mut skipped = 0u64;
                let mut nul = false;
                let mut utf8 = Utf8Pieces::default();
                loop {
                    if let Some(i) = memchr::memchr(b'\n', &self.buf) {
                        skipped += i as u64;
                        nul |= memchr::memchr(0, &self.buf[..i]).is_some();
                        utf8.feed(&self.buf[..i]);
                        self.buf.drain(..=i);
                        break;
                    }
                    skipped += self.buf.len() as u64;
                    nul |= memchr::memchr(0, &self.buf).is_some();
                    utf8.feed(&self.buf);
                    self.buf.clear();
                    if self.eof {
                        break;
                    }
                    self.buf.resize(1 << 16, 0);
                    let n = super::read_some(&mut self.inner, &mut self.buf)?;
                    self.buf.truncate(n);
                    if n == 0 {
                        self.eof = true;
                    }
                }
                self.ready.push_back(Block {
                    bytes: Vec::new(),
                    first_line: line,
                    broken: Some(Broken::TooLong { bytes: skipped }),
                    skipped: Skipped {
                        nul,
                        not_utf8: !utf8.is_utf8(),
                    },
                    rows: self.rows.clone(),
                    legacy: self.legacy,
                });
            }
        }
        self.next_line = line + 1;
        self.filled = self.buf.len();
        // Start afresh on the next line.
        self.scanner = BoundaryScanner::new(self.delimiter);
        self.scanned = 0;
        self.cut = 0;
        self.scan_new();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::parse_block;
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
            // Given back, so that later blocks are read into used buffers.
            reader.recycle(block.bytes);
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
            // A quote left open at the end is a broken record (tested below): close it.
            let mut data = data;
            let mut s = BoundaryScanner::new(b',');
            s.scan(&data);
            if s.in_open_quote() {
                data.push(b'"');
            }
            prop_assert_eq!(blocked(&data, target), whole(&data));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn scan_cuts_where_scan_all_does(
            data in proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b','), Just(b'"'), Just(b'\n')], 0..200),
            split in 0usize..200,
        ) {
            let split = split.min(data.len());
            let mut fast = BoundaryScanner::new(b',');
            let mut each = fast.clone();
            for part in [&data[..split], &data[split..]] {
                let mut cuts = Vec::new();
                each.scan_all(part, &mut cuts);
                prop_assert_eq!(fast.scan(part), cuts.last().copied());
                prop_assert_eq!(fast.state, each.state);
                // `prev` only counts outside quotes.
                if fast.state == State::Unquoted {
                    prop_assert_eq!(fast.prev, each.prev);
                }
            }
        }
    }

    /// (line, fields, broken) of every record, read through blocks.
    fn read_all(data: &[u8], target: usize) -> Vec<(u64, Vec<String>, Option<Broken>)> {
        let mut reader =
            BlockReader::new(Box::new(io::Cursor::new(data.to_vec())), b',', 1, target);
        let mut out = Vec::new();
        while let Some(block) = reader.next_block().expect("in memory") {
            let recs = parse_block(&block, b',');
            for i in 0..recs.len() {
                let fields = recs.get(i).iter().map(String::from).collect();
                out.push((recs.line(i), fields, block.broken));
            }
            reader.recycle(block.bytes);
        }
        out
    }

    #[test]
    fn an_unclosed_quote_swallows_no_line() {
        let data = b"a,b\nc,\"d\ne,f\ng,h\"\"\n";
        for target in [1, 5, 1000] {
            let got = read_all(data, target);
            assert_eq!(
                got,
                [
                    (1, vec!["a".into(), "b".into()], None),
                    (
                        2,
                        vec!["c".into(), "\"d".into()],
                        Some(Broken::UnclosedQuote)
                    ),
                    (3, vec!["e".into(), "f".into()], None),
                    (4, vec!["g".into(), "h\"\"".into()], None),
                ],
                "target {target}"
            );
        }
    }

    #[test]
    fn records_past_the_limit_are_broken_and_reading_goes_on() {
        // A quoted field of 2 MiB over many lines, then a normal record.
        let mut data = b"a,b\nc,\"".to_vec();
        for _ in 0..(2 * MAX_RECORD_BYTES / 64) {
            data.extend_from_slice(&[b'x'; 63]);
            data.push(b'\n');
        }
        data.extend_from_slice(b"\",z\nlast,row\n");
        let got = read_all(&data, 1 << 16);
        for (i, g) in got.iter().enumerate() {
            if g.0 != i as u64 + 1 {
                panic!("record {i}: {:?} {:?}", g.0, g.2);
            }
        }
        assert_eq!(got[0].0, 1);
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].2, Some(Broken::UnclosedQuote));
        // Every line after the quote is a record of its own; the last one is intact.
        // "a,b", then `c,"` + 32768 lines of x (the first on line 2), `",z`, "last,row".
        let lines = 1 + 2 * MAX_RECORD_BYTES as u64 / 64 + 2;
        assert_eq!(got.len() as u64, lines);
        assert_eq!(got.last().expect("last").1, ["last", "row"]);
        assert_eq!(got.last().expect("last").0, lines);

        // One line of 3 MiB with no line end inside: skipped, counted, and the next line read.
        let mut data = b"a,b\n".to_vec();
        data.extend(std::iter::repeat_n(b',', 3 << 20));
        data.extend_from_slice(b"\nlast,row\n");
        let got = read_all(&data, 1 << 16);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].2, Some(Broken::TooLong { bytes: 3 << 20 }));
        assert_eq!(got[2], (3, vec!["last".into(), "row".into()], None));
    }
}
