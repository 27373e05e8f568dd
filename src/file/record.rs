//! Records stored flat: a block's fields in one string, so that parsing a block costs a few
//! allocations, not several per record, and every field is validated UTF-8 exactly once.

use csv::ByteRecord;

/// One record's fields: a view into a [`RecordBuf`].
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    text: &'a str,
    /// End of each field in `text`.
    ends: &'a [u32],
    breaks: u32,
}

impl<'a> Record<'a> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`, if the record has it.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }

    /// Every field's text, back to back.
    #[inline]
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// How many line ends lie inside the record (in its quoted fields): it spans that many
    /// physical lines after the one it starts on.
    pub fn breaks(&self) -> u64 {
        u64::from(self.breaks)
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let this = *self;
        (0..this.len()).filter_map(move |i| this.get(i))
    }
}

#[derive(Clone, Copy, Debug)]
struct Span {
    text_start: u32,
    text_end: u32,
    ends_start: u32,
    ends_end: u32,
    /// Line ends inside the record, counted by whoever wrote it (see [`Record::breaks`]).
    breaks: u32,
}

/// Many records, stored flat, each with the physical line it starts on.
#[derive(Debug, Default)]
pub struct RecordBuf {
    text: String,
    ends: Vec<u32>,
    spans: Vec<Span>,
    lines: Vec<u64>,
    /// (record, field) of each field decoded from a mixed file's legacy encoding (rare: most
    /// blocks have none), in order.
    legacy: Vec<(u32, u32)>,
}

impl RecordBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for about `bytes` of records.
    pub fn with_capacity(bytes: usize) -> Self {
        RecordBuf {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(bytes / 16),
            spans: Vec::with_capacity(bytes / 128),
            lines: Vec::with_capacity(bytes / 128),
            legacy: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Bytes of field text held, all records together.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.spans.clear();
        self.lines.clear();
        self.legacy.clear();
    }

    /// The fields of record `i` that were decoded from a mixed file's legacy encoding
    /// (indexes into the record), in order.
    pub fn legacy_fields(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let i = i as u32;
        let from = self.legacy.partition_point(|&(r, _)| r < i);
        self.legacy[from..]
            .iter()
            .take_while(move |&&(r, _)| r == i)
            .map(|&(_, f)| f as usize)
    }

    /// Numbers the records by sheet row: `rows[i]` is the line row `i + 1` starts on. Their
    /// line breaks are then inside a cell, and span no line of their own.
    pub(super) fn number_by_rows(&mut self, rows: &[u64]) {
        for (line, span) in self.lines.iter_mut().zip(self.spans.iter_mut()) {
            if let Ok(i) = rows.binary_search(line) {
                *line = i as u64 + 1;
                span.breaks = 0;
            }
        }
    }

    /// Room for `bytes` more of text without growing.
    pub(super) fn reserve_text(&mut self, bytes: usize) {
        self.text.reserve(bytes);
    }

    /// Appends a record. Bytes that are not UTF-8 (which decoded input never has) are
    /// replaced, field by field, rather than lost.
    pub fn push(&mut self, rec: &ByteRecord, line: u64) {
        let mut w = self.start_record();
        // The record can be UTF-8 while a field is not, when a delimiter splits a character's
        // bytes: its fields are then replaced one by one too.
        let whole = std::str::from_utf8(rec.as_slice()).ok().filter(|all| {
            let mut end = 0;
            rec.iter().all(|field| {
                end += field.len();
                all.is_char_boundary(end)
            })
        });
        match whole {
            Some(all) => {
                w.buf.text.push_str(all);
                let mut end = 0;
                for field in rec.iter() {
                    end += field.len();
                    w.buf.ends.push(end as u32);
                }
            }
            None => {
                for field in rec.iter() {
                    w.push_lossy(field);
                    w.end_field();
                }
            }
        }
        let breaks = memchr::memchr_iter(b'\n', rec.as_slice()).count();
        w.finish(line, breaks as u64);
    }

    /// Starts a record that the caller writes field by field (the parser's way in: no
    /// `ByteRecord` in between).
    pub(super) fn start_record(&mut self) -> RecordWriter<'_> {
        RecordWriter {
            text_start: self.text.len(),
            ends_start: self.ends.len(),
            buf: self,
        }
    }

    /// Record `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Record<'_> {
        let s = self.spans[i];
        Record {
            text: &self.text[s.text_start as usize..s.text_end as usize],
            ends: &self.ends[s.ends_start as usize..s.ends_end as usize],
            breaks: s.breaks,
        }
    }

    /// The physical line record `i` starts on.
    #[inline]
    pub fn line(&self, i: usize) -> u64 {
        self.lines[i]
    }

    /// How many line ends lie inside record `i` (in its quoted fields): it ends on line
    /// `line(i) + breaks(i)`.
    pub fn breaks(&self, i: usize) -> u64 {
        u64::from(self.spans[i].breaks)
    }
}

/// One record being written into a [`RecordBuf`]: text first, then [`RecordWriter::end_field`]
/// after each field, then [`RecordWriter::finish`].
pub(super) struct RecordWriter<'a> {
    buf: &'a mut RecordBuf,
    text_start: usize,
    ends_start: usize,
}

impl RecordWriter<'_> {
    /// Appends text to the field being written.
    #[inline]
    pub(super) fn push_str(&mut self, s: &str) {
        self.buf.text.push_str(s);
    }

    /// Appends a whole field's bytes, replacing what is not UTF-8 (as `from_utf8_lossy`).
    pub(super) fn push_lossy(&mut self, bytes: &[u8]) {
        self.buf.text.push_str(&String::from_utf8_lossy(bytes));
    }

    /// Marks the field being written as decoded from a legacy encoding.
    pub(super) fn mark_legacy(&mut self) {
        let record = self.buf.spans.len() as u32;
        let field = (self.buf.ends.len() - self.ends_start) as u32;
        self.buf.legacy.push((record, field));
    }

    /// Ends the field being written.
    #[inline]
    pub(super) fn end_field(&mut self) {
        self.buf
            .ends
            .push((self.buf.text.len() - self.text_start) as u32);
    }

    /// Ends the record: it starts on physical line `line` and holds `breaks` line ends.
    pub(super) fn finish(self, line: u64, breaks: u64) {
        let buf = self.buf;
        buf.spans.push(Span {
            text_start: self.text_start as u32,
            text_end: buf.text.len() as u32,
            ends_start: self.ends_start as u32,
            ends_end: buf.ends.len() as u32,
            // A record is at most a block, far below 4 G line ends.
            breaks: u32::try_from(breaks).unwrap_or(u32::MAX),
        });
        buf.lines.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut buf = RecordBuf::new();
        buf.push(&ByteRecord::from(vec!["a", "", "Zoë"]), 2);
        buf.push(&ByteRecord::from(vec![&b"x\xff"[..], b"y"]), 5);
        buf.push(&ByteRecord::new(), 6);
        buf.push(&ByteRecord::from(vec![&b"a\xc3"[..], b"\xa9b"]), 7);
        let r = buf.get(0);
        assert_eq!(r.iter().collect::<Vec<_>>(), ["a", "", "Zoë"]);
        assert_eq!(buf.get(1).iter().collect::<Vec<_>>(), ["x\u{fffd}", "y"]);
        assert_eq!(buf.get(2).len(), 0);
        assert_eq!(
            buf.get(3).iter().collect::<Vec<_>>(),
            ["a\u{fffd}", "\u{fffd}b"]
        );
        assert_eq!((buf.line(0), buf.line(1)), (2, 5));
        assert_eq!(r.get(3), None);
        assert_eq!(buf.breaks(0), 0);
    }

    #[test]
    fn breaks_count_the_line_ends_inside() {
        let mut buf = RecordBuf::new();
        buf.push(&ByteRecord::from(vec!["a\nb", "c\n\nd"]), 7);
        assert_eq!((buf.line(0), buf.breaks(0), buf.get(0).breaks()), (7, 3, 3));
    }
}
