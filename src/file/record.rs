//! Records stored flat: a block's fields in one string, so that parsing a block costs a few
//! allocations, not several per record, and every field is validated UTF-8 exactly once.

use csv::ByteRecord;

/// One record's fields: a view into a [`RecordBuf`].
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    text: &'a str,
    /// End of each field in `text`.
    ends: &'a [u32],
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
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }

    /// Every field's text, back to back.
    pub fn text(&self) -> &'a str {
        self.text
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
}

/// Many records, stored flat, each with the physical line it starts on.
#[derive(Debug, Default)]
pub struct RecordBuf {
    text: String,
    ends: Vec<u32>,
    spans: Vec<Span>,
    lines: Vec<u64>,
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
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.spans.clear();
        self.lines.clear();
    }

    /// Appends a record. Bytes that are not UTF-8 (which decoded input never has) are
    /// replaced, field by field, rather than lost.
    pub fn push(&mut self, rec: &ByteRecord, line: u64) {
        let text_start = self.text.len();
        let ends_start = self.ends.len();
        match std::str::from_utf8(rec.as_slice()) {
            Ok(all) => {
                self.text.push_str(all);
                let mut end = 0;
                for field in rec.iter() {
                    end += field.len();
                    self.ends.push(end as u32);
                }
            }
            Err(_) => {
                for field in rec.iter() {
                    self.text.push_str(&String::from_utf8_lossy(field));
                    self.ends.push((self.text.len() - text_start) as u32);
                }
            }
        }
        self.spans.push(Span {
            text_start: text_start as u32,
            text_end: self.text.len() as u32,
            ends_start: ends_start as u32,
            ends_end: self.ends.len() as u32,
        });
        self.lines.push(line);
    }

    /// Record `i`.
    pub fn get(&self, i: usize) -> Record<'_> {
        let s = self.spans[i];
        Record {
            text: &self.text[s.text_start as usize..s.text_end as usize],
            ends: &self.ends[s.ends_start as usize..s.ends_end as usize],
        }
    }

    /// The physical line record `i` starts on.
    pub fn line(&self, i: usize) -> u64 {
        self.lines[i]
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
        let r = buf.get(0);
        assert_eq!(r.iter().collect::<Vec<_>>(), ["a", "", "Zoë"]);
        assert_eq!(buf.get(1).iter().collect::<Vec<_>>(), ["x\u{fffd}", "y"]);
        assert_eq!(buf.get(2).len(), 0);
        assert_eq!((buf.line(0), buf.line(1)), (2, 5));
        assert_eq!(r.get(3), None);
    }
}
