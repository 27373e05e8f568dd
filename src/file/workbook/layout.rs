//! What calamine does not tell about a worksheet of an .xlsx: the part that holds it, its
//! hidden rows and columns, its merged ranges, and the area its values really cover (the
//! `<dimension>` a file states can be anything). Read in one streaming pass over the sheet's
//! XML, after [`super::guard`] has bounded every event of it.

use std::io::{BufReader, Read, Seek};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader as XmlReader;

use super::guard::Refusal;

/// No user sheet has more merged ranges worth reporting; the rest are counted.
const MAX_MERGES: usize = 100_000;

/// A worksheet's layout.
#[derive(Debug, Default)]
pub(super) struct Layout {
    /// 0-based rows marked hidden, sorted.
    pub hidden_rows: Vec<u32>,
    /// 0-based column ranges marked hidden (inclusive).
    pub hidden_cols: Vec<(u32, u32)>,
    /// Merged ranges: (first row, first column, last row, last column), 0-based inclusive.
    pub merges: Vec<(u32, u32, u32, u32)>,
    /// The last row and column that hold a value (0-based), when any cell does.
    pub last_row: Option<u32>,
    pub last_col: Option<u32>,
    /// Where that last row's value is (for the message).
    pub far_cell: Option<(u32, u32)>,
    /// Cells that hold a value.
    pub cells: u64,
}

/// `D5` → (4, 3), 0-based (row, column); `None` for anything else.
pub(super) fn parse_cell(r: &[u8]) -> Option<(u32, u32)> {
    let letters = r.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if letters == 0 || letters > 3 || letters == r.len() {
        return None;
    }
    let mut col = 0u32;
    for b in &r[..letters] {
        col = col * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1;
    }
    let row: u32 = std::str::from_utf8(&r[letters..]).ok()?.parse().ok()?;
    if row == 0 {
        return None;
    }
    Some((row - 1, col - 1))
}

fn attr(e: &BytesStart, key: &[u8]) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.as_ref() == key || a.key.local_name().as_ref() == key)
            .then(|| String::from_utf8_lossy(&a.value).into_owned())
    })
}

fn damaged(part: &str, e: impl std::fmt::Display) -> Refusal {
    Refusal::damaged(format!("its part {part} is not well-formed XML ({e})"))
}

/// Reads a part of the zip whole (a small one: the workbook and its relationships).
fn read_small<R: Read + Seek>(zip: &mut zip::ZipArchive<R>, name: &str) -> Option<Vec<u8>> {
    let idx = index_of(zip, name)?;
    let mut part = zip.by_index(idx).ok()?;
    let mut out = Vec::new();
    part.read_to_end(&mut out).ok()?;
    Some(out)
}

/// The index of part `name` (as Excel and calamine, any case and either slash).
fn index_of<R: Read + Seek>(zip: &zip::ZipArchive<R>, name: &str) -> Option<usize> {
    zip.index_for_name(name).or_else(|| {
        (0..zip.len()).find(|&i| {
            zip.name_for_index(i)
                .is_some_and(|n| n.replace('\\', "/").eq_ignore_ascii_case(name))
        })
    })
}

/// The part that holds the worksheet named `sheet` (as calamine names it).
pub(super) fn sheet_part<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    sheet: &str,
) -> Option<String> {
    let book = read_small(zip, "xl/workbook.xml")?;
    let rels = read_small(zip, "xl/_rels/workbook.xml.rels")?;
    let mut id = None;
    let mut xml = XmlReader::from_reader(&book[..]);
    let mut buf = Vec::new();
    loop {
        match xml.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sheet" => {
                let name = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == b"name")
                    .and_then(|a| {
                        a.decode_and_unescape_value(xml.decoder())
                            .ok()
                            .map(|v| v.into_owned())
                    });
                if name.as_deref() == Some(sheet) {
                    id = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"id")
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
                    break;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let id = id?;
    let mut xml = XmlReader::from_reader(&rels[..]);
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e)
                if e.local_name().as_ref() == b"Relationship"
                    && attr(&e, b"Id").as_deref() == Some(&id) =>
            {
                let target = attr(&e, b"Target")?;
                return Some(match target.strip_prefix('/') {
                    Some(abs) => abs.to_string(),
                    None => format!("xl/{target}"),
                });
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Reads the layout of the worksheet in `part`.
pub(super) fn read_layout<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    part: &str,
) -> Result<Layout, Refusal> {
    let idx = index_of(zip, part)
        .ok_or_else(|| Refusal::damaged(format!("its sheet part {part} is missing")))?;
    let file = zip
        .by_index(idx)
        .map_err(|e| Refusal::damaged(format!("its part {part} cannot be read ({e})")))?;
    let mut xml = XmlReader::from_reader(BufReader::with_capacity(1 << 16, file));
    let mut layout = Layout::default();
    let mut buf = Vec::with_capacity(1024);
    // calamine's way with rows and cells that do not say where they are: the next one.
    let mut row = 0u32;
    let mut col = 0u32;
    let mut in_cell: Option<(u32, u32)> = None;
    let mut valued = false;
    loop {
        buf.clear();
        let event = xml
            .read_event_into(&mut buf)
            .map_err(|e| damaged(part, e))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                match e.local_name().as_ref() {
                    b"row" => {
                        if let Some(r) = attr(e, b"r").and_then(|r| r.parse::<u32>().ok()) {
                            row = r.saturating_sub(1);
                        }
                        col = 0;
                        if attr(e, b"hidden").is_some_and(|h| h == "1" || h == "true") {
                            layout.hidden_rows.push(row);
                        }
                        if empty {
                            row = row.saturating_add(1);
                        }
                    }
                    b"col" => {
                        let n = |k: &[u8]| attr(e, k).and_then(|v| v.parse::<u32>().ok());
                        if attr(e, b"hidden").is_some_and(|h| h == "1" || h == "true") {
                            if let (Some(min), Some(max)) = (n(b"min"), n(b"max")) {
                                if min >= 1 && max >= min {
                                    layout.hidden_cols.push((min - 1, max - 1));
                                }
                            }
                        }
                    }
                    b"c" => {
                        let at = attr(e, b"r")
                            .and_then(|r| parse_cell(r.as_bytes()))
                            .unwrap_or((row, col));
                        col = at.1.saturating_add(1);
                        if !empty {
                            in_cell = Some(at);
                            valued = false;
                        }
                    }
                    b"v" | b"is" if in_cell.is_some() => valued = true,
                    b"mergeCell" => {
                        let range = attr(e, b"ref").unwrap_or_default();
                        let mut ends = range.split(':').map(|c| parse_cell(c.as_bytes()));
                        if let (Some(Some(a)), Some(Some(b))) = (ends.next(), ends.next()) {
                            if layout.merges.len() < MAX_MERGES {
                                layout.merges.push((
                                    a.0.min(b.0),
                                    a.1.min(b.1),
                                    a.0.max(b.0),
                                    a.1.max(b.1),
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                b"row" => row = row.saturating_add(1),
                b"c" => {
                    if let Some((r, c)) = in_cell.take() {
                        if valued {
                            layout.cells += 1;
                            if layout.last_row.is_none_or(|l| r > l) {
                                layout.last_row = Some(r);
                                layout.far_cell = Some((r, c));
                            }
                            if layout.last_col.is_none_or(|l| c > l) {
                                layout.last_col = Some(c);
                                if layout.far_cell.is_none_or(|f| f.0 <= r) {
                                    layout.far_cell = Some((r, c));
                                }
                            }
                            // Bounded here, before anything holds the cells.
                            super::guard::bound_cell(r, c, layout.cells)?;
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    layout.hidden_rows.sort_unstable();
    layout.hidden_rows.dedup();
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_names() {
        assert_eq!(parse_cell(b"A1"), Some((0, 0)));
        assert_eq!(parse_cell(b"D5"), Some((4, 3)));
        assert_eq!(parse_cell(b"XFD1048576"), Some((1_048_575, 16_383)));
        assert_eq!(parse_cell(b"A0"), None);
        assert_eq!(parse_cell(b"12"), None);
        assert_eq!(parse_cell(b"ABCD1"), None);
        assert_eq!(parse_cell(b"A99999999999"), None);
    }
}
