//! An .xlsb (a zip whose parts are BIFF12 records, not XML) bounded before calamine opens it.
//! calamine reads an .xlsb's sheet into a dense range spanning its farthest cells, sizes each
//! record's buffer by the length the record states before reading it, and indexes records by
//! the offsets and counts they hold without checking them. So every part calamine reads is
//! walked here first, record by record, the way calamine will walk it: the shared strings,
//! the styles, the workbook (its sheets and defined names) and every sheet. A record longer
//! than any user file has, or one cut short, a string over the record limit, a sheet whose
//! declared used range, cells or span cannot be a user file (the limits of [`super::read`]),
//! and a record calamine would index past its end are refused before anything is allocated
//! for them.
//!
//! The walk keeps no more than one record of the workbook part (a few KB in a real file) and
//! the first bytes of any other; it reads each part once, so it is bounded in time by the
//! parts' sizes, which [`super::guard`] has already bounded.

use std::collections::HashMap;
use std::io::{BufReader, Cursor, Read, Seek};

use encoding_rs::UTF_16LE;

use super::guard::Refusal;
use super::guard::{bound_cell, MAX_SHEET_CELLS, MAX_SHEET_COLUMNS, MAX_SHEET_ROWS};
use crate::file::header::column_letters;
use crate::file::MAX_RECORD_BYTES;

/// The most data one record may hold: a cell with a string at the record limit (two bytes a
/// character) and its formula, with room to spare. calamine allocates what a record states.
const MAX_RECORD: u64 = 4 * MAX_RECORD_BYTES as u64;
/// The most characters (UTF-16 units) of one string: the record limit of a user file.
const MAX_STRING_UNITS: u64 = MAX_RECORD_BYTES as u64;
/// The characters of all shared strings, or of one sheet's own strings: twice the 20 MB a
/// user file may have.
const MAX_TEXT_UNITS: u64 = 2 * crate::vocab::MAX_BYTES;
/// The shared strings a workbook may hold (as for an .xlsx).
const MAX_SHARED_STRINGS: u64 = 2_200_000;
/// Sheets in one workbook: a user workbook has a few.
const MAX_SHEETS: usize = 4096;
/// A sheet's or a defined name's name, in characters (Excel allows 31 and 255).
const MAX_NAME_UNITS: u64 = 255;
/// References to sheets (BrtExternSheet) that defined names may use.
const MAX_EXTERN_SHEETS: u64 = 4096;
/// A defined name's formula, in bytes of its parsed form (Excel's formulas stop at 8,192
/// characters), and the text calamine writes for it.
const MAX_FORMULA_BYTES: usize = 16 << 10;
const MAX_FORMULA_TEXT: u64 = 64 << 10;
/// All defined names' formulas together.
const MAX_FORMULAS_BYTES: u64 = 256 << 10;
/// How deeply a formula may nest (calamine reads a nested formula by recursion).
const MAX_FORMULA_DEPTH: u32 = 32;

/// The record types read here (MS-XLSB 2.3.2).
mod brt {
    pub(super) const ROW_HDR: u16 = 0x0000;
    pub(super) const CELL_RK: u16 = 0x0002;
    pub(super) const CELL_ERROR: u16 = 0x0003;
    pub(super) const CELL_BOOL: u16 = 0x0004;
    pub(super) const CELL_REAL: u16 = 0x0005;
    pub(super) const CELL_ST: u16 = 0x0006;
    pub(super) const CELL_ISST: u16 = 0x0007;
    pub(super) const FMLA_STRING: u16 = 0x0008;
    pub(super) const FMLA_NUM: u16 = 0x0009;
    pub(super) const FMLA_BOOL: u16 = 0x000A;
    pub(super) const SST_ITEM: u16 = 0x0013;
    pub(super) const FRT_BEGIN: u16 = 0x0023;
    pub(super) const FRT_END: u16 = 0x0024;
    pub(super) const AC_BEGIN: u16 = 0x0025;
    pub(super) const AC_END: u16 = 0x0026;
    pub(super) const NAME: u16 = 0x0027;
    pub(super) const FMT: u16 = 0x002C;
    pub(super) const XF: u16 = 0x002F;
    pub(super) const END_BUNDLE_SHS: u16 = 0x0090;
    pub(super) const BEGIN_SHEET_DATA: u16 = 0x0091;
    pub(super) const END_SHEET_DATA: u16 = 0x0092;
    pub(super) const WS_DIM: u16 = 0x0094;
    pub(super) const WB_PROP: u16 = 0x0099;
    pub(super) const BUNDLE_SH: u16 = 0x009C;
    pub(super) const BEGIN_SST: u16 = 0x009F;
    pub(super) const BEGIN_WS_VIEWS: u16 = 0x0085;
    pub(super) const END_WS_VIEWS: u16 = 0x0086;
    pub(super) const EXTERN_SHEET: u16 = 0x016A;
    pub(super) const BEGIN_COL_INFOS: u16 = 0x0186;
    pub(super) const END_COL_INFOS: u16 = 0x0187;
    pub(super) const BEGIN_FMTS: u16 = 0x0267;
    pub(super) const BEGIN_CELL_XFS: u16 = 0x0269;
    /// Records calamine takes as the end of the defined names.
    pub(super) const AFTER_NAMES: [u16; 9] = [
        0x009D, 0x0225, 0x018D, 0x0180, 0x009A, 0x0252, 0x0229, 0x009B, 0x0084,
    ];
}

/// Checks the parts of the .xlsb in `bytes` that calamine reads. A zip that is no .xlsb (an
/// .ods) has none of them and passes; its own checks were made by [`super::guard`].
pub(super) fn check_xlsb(bytes: &[u8]) -> Result<(), Refusal> {
    // The zip was read whole by the guard; calamine says what is wrong with one that fails.
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    // calamine finds parts by name in any case and with either slash.
    let mut names = HashMap::with_capacity(zip.len());
    for name in zip.file_names() {
        names.insert(
            name.replace('\\', "/").to_ascii_lowercase(),
            name.to_string(),
        );
    }
    let stored = |path: &str| {
        names
            .get(&path.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| path.to_string())
    };
    let strings = match Records::open(&mut zip, &stored("xl/sharedStrings.bin"))? {
        Some(mut part) => shared_strings(&mut part)?,
        None => 0,
    };
    if let Some(mut part) = Records::open(&mut zip, &stored("xl/styles.bin"))? {
        styles(&mut part)?;
    }
    let rels = relationships(&mut zip)?;
    let sheets = match Records::open(&mut zip, &stored("xl/workbook.bin"))? {
        Some(mut part) => workbook(&mut part, &rels)?,
        None => return Ok(()),
    };
    let mut seen = HashMap::new();
    for (sheet, path) in sheets {
        let path = stored(&path);
        // calamine reads a sheet again for each name it has: one part, one sheet.
        if let Some(other) = seen.insert(path.clone(), sheet.clone()) {
            return Err(Refusal::damaged(format!(
                "its sheets \"{other}\" and \"{sheet}\" are both the part {path}"
            )));
        }
        if let Some(mut part) = Records::open(&mut zip, &path)? {
            worksheet(&mut part, strings).map_err(|r| Refusal {
                code: r.code,
                message: format!("sheet \"{sheet}\": {}", r.message),
            })?;
        }
    }
    Ok(())
}

/// A part's records, read as calamine reads them: a type of one or two bytes, a length of
/// one to four, then that many bytes of data.
struct Records<R: Read> {
    rdr: BufReader<R>,
    part: String,
    /// Bytes read so far, to say where a record is.
    at: u64,
}

impl<'a, S: Read + Seek> Records<zip::read::ZipFile<'a, S>> {
    /// The part at `path`, or `None` when the zip has none (calamine reads without it, or
    /// says that it is missing).
    fn open(zip: &'a mut zip::ZipArchive<S>, path: &str) -> Result<Option<Self>, Refusal> {
        match zip.by_name(path) {
            Ok(file) => Ok(Some(Records {
                rdr: BufReader::with_capacity(1 << 16, file),
                part: path.to_string(),
                at: 0,
            })),
            Err(zip::result::ZipError::FileNotFound) => Ok(None),
            Err(e) => Err(Refusal::damaged(format!(
                "its part {path} cannot be read ({e})"
            ))),
        }
    }
}

impl<R: Read> Records<R> {
    fn byte(&mut self) -> Result<Option<u8>, Refusal> {
        let mut b = [0u8; 1];
        loop {
            return match self.rdr.read(&mut b) {
                Ok(0) => Ok(None),
                Ok(_) => {
                    self.at += 1;
                    Ok(Some(b[0]))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(Refusal::damaged(format!(
                    "its part {} is damaged ({e})",
                    self.part
                ))),
            };
        }
    }

    fn cut_short(&self) -> Refusal {
        Refusal::damaged(format!(
            "its part {} is cut short: its last record ends past its end (byte {})",
            self.part, self.at
        ))
    }

    /// The next record's type, or `None` at the part's end.
    fn typ(&mut self) -> Result<Option<u16>, Refusal> {
        let Some(b) = self.byte()? else {
            return Ok(None);
        };
        if b & 0x80 == 0 {
            return Ok(Some(u16::from(b)));
        }
        let hi = self.byte()?.ok_or_else(|| self.cut_short())?;
        Ok(Some(u16::from(b & 0x7F) + (u16::from(hi & 0x7F) << 7)))
    }

    /// The record's data: its length is returned, its first `keep` bytes are put in `buf`,
    /// the rest passed over.
    fn data(&mut self, buf: &mut Vec<u8>, keep: usize) -> Result<usize, Refusal> {
        let start = self.at;
        let mut len = 0u64;
        for i in 0..4 {
            let b = self.byte()?.ok_or_else(|| self.cut_short())?;
            len += u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        if len > MAX_RECORD {
            return Err(Refusal::too_big(format!(
                "its part {} has a record of {len} bytes (at byte {start}), more than any user workbook holds (at most {MAX_RECORD})",
                self.part
            )));
        }
        let take = (len as usize).min(keep);
        buf.clear();
        buf.resize(take, 0);
        let io = |e: std::io::Error, part: &str| {
            Refusal::damaged(format!("its part {part} is damaged ({e})"))
        };
        match self.rdr.read_exact(buf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(self.cut_short()),
            Err(e) => return Err(io(e, &self.part)),
        }
        let rest = len - take as u64;
        let passed = std::io::copy(&mut (&mut self.rdr).take(rest), &mut std::io::sink())
            .map_err(|e| io(e, &self.part))?;
        self.at += take as u64 + passed;
        if passed < rest {
            return Err(self.cut_short());
        }
        Ok(len as usize)
    }

    /// calamine's `next_skip_blocks`: records up to the next of type `want` (its length, its
    /// first `keep` bytes in `buf`), passing over the blocks between each start type and its
    /// end type. `None` at the part's end.
    fn next_of(
        &mut self,
        want: u16,
        blocks: &[(u16, u16)],
        buf: &mut Vec<u8>,
        keep: usize,
    ) -> Result<Option<usize>, Refusal> {
        loop {
            let Some(typ) = self.typ()? else {
                return Ok(None);
            };
            let len = self.data(buf, keep)?;
            if typ == want {
                return Ok(Some(len));
            }
            if let Some(&(_, end)) = blocks.iter().find(|(start, _)| *start == typ) {
                loop {
                    match self.typ()? {
                        None => return Ok(None),
                        Some(t) => {
                            self.data(buf, 0)?;
                            if t == end {
                                break;
                            }
                        }
                    }
                }
            }
        }
    }

    /// A record calamine reads `need` bytes of, when it has fewer.
    fn short(&self, what: &str, len: usize, need: usize) -> Refusal {
        Refusal::damaged(format!(
            "its part {} has a {what} record of {len} bytes, where one has at least {need} (byte {})",
            self.part, self.at
        ))
    }

    /// A string (a length in characters, then UTF-16) at `at` in the record's data `buf`,
    /// of `len` bytes: its length in characters, once it is known to lie inside the record
    /// and within the record limit.
    fn string(&self, what: &str, buf: &[u8], at: usize, len: usize) -> Result<u64, Refusal> {
        let units = u64::from(u32_at(buf, at).ok_or_else(|| self.short(what, len, at + 4))?);
        if units > MAX_STRING_UNITS {
            return Err(Refusal::too_big(format!(
                "its part {} holds a string of {units} characters, more than the {MAX_RECORD_BYTES} bytes a record of a user file may have",
                self.part
            )));
        }
        if at as u64 + 4 + 2 * units > len as u64 {
            return Err(Refusal::damaged(format!(
                "its part {} has a string of {units} characters in a {what} record of {len} bytes (byte {})",
                self.part, self.at
            )));
        }
        Ok(units)
    }
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    buf.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    buf.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}

/// `xl/sharedStrings.bin` (MS-XLSB 2.1.7.45): the count the table states, then its items.
/// Returns how many strings calamine will hold: cells may refer to no other.
fn shared_strings<R: Read>(part: &mut Records<R>) -> Result<u64, Refusal> {
    let mut buf = Vec::new();
    let Some(len) = part.next_of(brt::BEGIN_SST, &[], &mut buf, 8)? else {
        return Ok(0);
    };
    let count = u64::from(u32_at(&buf, 4).ok_or_else(|| part.short("BrtBeginSst", len, 8))?);
    let mut units = 0u64;
    for i in 0..count {
        if i >= MAX_SHARED_STRINGS {
            return Err(Refusal::too_big(format!(
                "its part {} holds more than {MAX_SHARED_STRINGS} strings, more than 100,000 rows of a user file can",
                part.part
            )));
        }
        let frt = [(brt::FRT_BEGIN, brt::FRT_END)];
        let Some(len) = part.next_of(brt::SST_ITEM, &frt, &mut buf, 5)? else {
            // Fewer items than stated: calamine refuses the workbook.
            return Ok(0);
        };
        units += part.string("BrtSSTItem", &buf, 1, len)?;
        if units > MAX_TEXT_UNITS {
            return Err(Refusal::too_big(format!(
                "its part {} holds more than {MAX_TEXT_UNITS} characters of strings, more than a user file of 20 MB can",
                part.part
            )));
        }
    }
    Ok(count)
}

/// `xl/styles.bin` (MS-XLSB 2.1.7.50), as calamine reads it: it looks at the types of records
/// without passing over the data of those it does not read, so its walk is followed byte
/// for byte, up to the cell formats it stops after.
fn styles<R: Read>(part: &mut Records<R>) -> Result<(), Refusal> {
    let mut buf = Vec::new();
    loop {
        let Some(typ) = part.typ()? else {
            return Ok(());
        };
        match typ {
            brt::BEGIN_FMTS => {
                let len = part.data(&mut buf, 4)?;
                let n = u32_at(&buf, 0).ok_or_else(|| part.short("BrtBeginFmts", len, 4))?;
                for _ in 0..n {
                    let Some(len) = part.next_of(brt::FMT, &[], &mut buf, 6)? else {
                        return Ok(());
                    };
                    part.string("BrtFmt", &buf, 2, len)?;
                }
            }
            brt::BEGIN_CELL_XFS => {
                let len = part.data(&mut buf, 4)?;
                let n = u32_at(&buf, 0).ok_or_else(|| part.short("BrtBeginCellXFs", len, 4))?;
                for _ in 0..n {
                    let Some(len) = part.next_of(brt::XF, &[], &mut buf, 4)? else {
                        return Ok(());
                    };
                    if len < 4 {
                        return Err(part.short("BrtXF", len, 4));
                    }
                }
                return Ok(());
            }
            _ => {}
        }
    }
}

/// `xl/_rels/workbook.bin.rels`, read as calamine reads it: each relationship's id (its raw
/// bytes) and target. Its XML was checked by the guard.
fn relationships<S: Read + Seek>(
    zip: &mut zip::ZipArchive<S>,
) -> Result<HashMap<Vec<u8>, String>, Refusal> {
    use quick_xml::events::Event;
    use quick_xml::name::QName;
    const PART: &str = "xl/_rels/workbook.bin.rels";
    let mut rels = HashMap::new();
    let file = match zip.by_name(PART) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(rels),
        Err(e) => {
            return Err(Refusal::damaged(format!(
                "its part {PART} cannot be read ({e})"
            )))
        }
    };
    let damaged = |e: &dyn std::fmt::Display| {
        Refusal::damaged(format!("its part {PART} is not well-formed ({e})"))
    };
    let mut xml = quick_xml::Reader::from_reader(BufReader::new(file));
    let config = xml.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    let mut buf = Vec::with_capacity(64);
    loop {
        match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e)) if e.name() == QName(b"Relationship") => {
                let (mut id, mut target) = (None, None);
                for a in e.attributes() {
                    let a = a.map_err(|e| damaged(&e))?;
                    match a.key {
                        QName(b"Id") => id = Some(a.value.to_vec()),
                        QName(b"Target") => {
                            target = Some(
                                xml.decoder()
                                    .decode(&a.value)
                                    .map_err(|e| damaged(&e))?
                                    .into_owned(),
                            )
                        }
                        _ => {}
                    }
                }
                if let (Some(id), Some(target)) = (id, target) {
                    rels.insert(id, target);
                }
            }
            Ok(Event::Eof) => return Ok(rels),
            Err(e) => return Err(damaged(&e)),
            _ => {}
        }
        buf.clear();
    }
}

/// `xl/workbook.bin` (MS-XLSB 2.1.7.61), walked as calamine walks it (like the styles, byte
/// for byte between the records it reads): the sheets, then the defined names, whose
/// formulas calamine turns into text. Returns each sheet's name and part.
fn workbook<R: Read>(
    part: &mut Records<R>,
    rels: &HashMap<Vec<u8>, String>,
) -> Result<Vec<(String, String)>, Refusal> {
    let mut buf = Vec::new();
    let mut sheets: Vec<(String, String)> = Vec::new();
    loop {
        let Some(typ) = part.typ()? else {
            return Ok(Vec::new());
        };
        match typ {
            brt::WB_PROP => {
                let len = part.data(&mut buf, 1)?;
                if len < 1 {
                    return Err(part.short("BrtWbProp", len, 1));
                }
            }
            brt::BUNDLE_SH => {
                part.data(&mut buf, usize::MAX)?;
                sheets.extend(bundle_sheet(part, &buf, rels)?);
                if sheets.len() > MAX_SHEETS {
                    return Err(Refusal::too_big(format!(
                        "it has more than {MAX_SHEETS} sheets; a user workbook has a few"
                    )));
                }
            }
            brt::END_BUNDLE_SHS => break,
            _ => {}
        }
    }
    // The defined names: the byte length of each one's name, for the formulas that use it.
    let mut names: Vec<u64> = Vec::new();
    // The byte length of each sheet a formula may refer to.
    let mut externs: Vec<u64> = Vec::new();
    let mut formulas = Formulas::default();
    loop {
        let Some(typ) = part.typ()? else {
            return Ok(sheets);
        };
        match typ {
            brt::EXTERN_SHEET => {
                let len = part.data(&mut buf, usize::MAX)?;
                let n = u32_at(&buf, 0).ok_or_else(|| part.short("BrtExternSheet", len, 4))?;
                let n = u64::from(n);
                if n > MAX_EXTERN_SHEETS {
                    return Err(Refusal::too_big(format!(
                        "its part {} refers to {n} sheets, more than a user workbook can (at most {MAX_EXTERN_SHEETS})",
                        part.part
                    )));
                }
                if 4 + 12 * n > len as u64 {
                    return Err(part.short("BrtExternSheet", len, 4 + 12 * n as usize));
                }
                externs = buf[4..4 + 12 * n as usize]
                    .chunks(12)
                    .map(|xti| {
                        let p = i32::from_le_bytes([xti[4], xti[5], xti[6], xti[7]]);
                        match p {
                            -2 => "#ThisWorkbook".len() as u64,
                            -1 => "#InvalidWorkSheet".len() as u64,
                            p if p >= 0 && (p as usize) < sheets.len() => {
                                sheets[p as usize].0.len() as u64
                            }
                            _ => "#Unknown".len() as u64,
                        }
                    })
                    .collect();
            }
            brt::NAME => {
                let len = part.data(&mut buf, usize::MAX)?;
                let units = part.string("BrtName", &buf, 9, len)?;
                if units > MAX_NAME_UNITS {
                    return Err(Refusal::too_big(format!(
                        "its part {} has a defined name of {units} characters (Excel allows {MAX_NAME_UNITS})",
                        part.part
                    )));
                }
                let at = 13 + 2 * units as usize;
                let rgce_len =
                    u32_at(&buf, at).ok_or_else(|| part.short("BrtName", len, at + 4))?;
                let rgce = buf
                    .get(at + 4..)
                    .and_then(|b| b.get(..rgce_len as usize))
                    .ok_or_else(|| part.short("BrtName", len, at + 4 + rgce_len as usize))?;
                formulas.check(rgce, &externs, &names).map_err(|why| {
                    Refusal::damaged(format!(
                        "its part {} has a defined name whose formula {why} (byte {})",
                        part.part, part.at
                    ))
                })?;
                // calamine keeps the name as UTF-8: up to three bytes a character.
                names.push(3 * units);
            }
            t if brt::AFTER_NAMES.contains(&t) => return Ok(sheets),
            _ => {}
        }
    }
}

/// A BrtBundleSh (MS-XLSB 2.4.304): the sheet's state, its relationship id and its name, read
/// as calamine reads them. Returns the name and the part calamine will open for it (none for
/// a sheet without a relationship, which calamine passes over).
fn bundle_sheet<R: Read>(
    part: &Records<R>,
    buf: &[u8],
    rels: &HashMap<Vec<u8>, String>,
) -> Result<Option<(String, String)>, Refusal> {
    let len = buf.len();
    let rel_units = u32_at(buf, 8).ok_or_else(|| part.short("BrtBundleSh", len, 12))?;
    if rel_units == u32::MAX {
        return Ok(None);
    }
    let end = 12 + 2 * rel_units as usize;
    let relid = buf
        .get(12..end)
        .ok_or_else(|| part.short("BrtBundleSh", len, end))?;
    let relid = UTF_16LE.decode(relid).0;
    let Some(target) = rels.get(relid.as_bytes()) else {
        return Err(Refusal::damaged(format!(
            "its part {} lists a sheet in relationship \"{relid}\", which xl/_rels/workbook.bin.rels does not have",
            part.part
        )));
    };
    let units = part.string("BrtBundleSh", buf, end, len)?;
    if units > MAX_NAME_UNITS {
        return Err(Refusal::too_big(format!(
            "its part {} has a sheet name of {units} characters (Excel allows 31)",
            part.part
        )));
    }
    let name = UTF_16LE
        .decode(&buf[end + 4..end + 4 + 2 * units as usize])
        .0
        .into_owned();
    Ok(Some((name, format!("xl/{target}"))))
}

/// The defined names' formulas, walked as calamine's `parse_formula` walks them (MS-XLSB
/// 2.2.2): the places it would index past the formula's end, refer to a sheet or a function
/// that is not there, or count past a number's end, and the text it would build.
#[derive(Default)]
struct Formulas {
    bytes: u64,
}

impl Formulas {
    fn check(&mut self, rgce: &[u8], externs: &[u64], names: &[u64]) -> Result<(), String> {
        if rgce.len() > MAX_FORMULA_BYTES {
            return Err(format!(
                "has {} bytes, more than Excel writes (at most {MAX_FORMULA_BYTES})",
                rgce.len()
            ));
        }
        self.bytes += rgce.len() as u64;
        if self.bytes > MAX_FORMULAS_BYTES {
            return Err(format!(
                "is one of more than {MAX_FORMULAS_BYTES} bytes of formulas, more than a user workbook has"
            ));
        }
        let text = formula(rgce, externs, names, 0)?;
        if text > MAX_FORMULA_TEXT {
            return Err(format!(
                "would be {text} bytes of text, more than Excel allows"
            ));
        }
        Ok(())
    }
}

/// How many bytes of text calamine writes at most for the formula `rgce`, or why it cannot
/// read it. Each token is taken as calamine takes it (its length included), and no further.
fn formula(mut rgce: &[u8], externs: &[u64], names: &[u64], depth: u32) -> Result<u64, String> {
    fn take<'a>(rgce: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if rgce.len() < n {
            return Err("ends inside a token".into());
        }
        let (head, rest) = rgce.split_at(n);
        *rgce = rest;
        Ok(head)
    }
    let sheet = |b: &[u8]| -> Result<u64, String> {
        let ixti = usize::from(u16::from_le_bytes([b[0], b[1]]));
        externs.get(ixti).map(|n| n + 1).ok_or_else(|| {
            format!("refers to sheet reference {ixti}, which the workbook does not have")
        })
    };
    // calamine writes a row as its number plus one, in 32 bits.
    let row = |b: &[u8], at: usize| -> Result<(), String> {
        match u32_at(b, at) {
            Some(u32::MAX) => Err("refers to a row past the last".into()),
            _ => Ok(()),
        }
    };
    const FUNCTIONS: usize = 485;
    let mut text = 0u64;
    while let Some((&ptg, rest)) = rgce.split_first() {
        rgce = rest;
        text += match ptg {
            // PtgRef3d, PtgArea3d: a sheet, its cells.
            0x3a | 0x5a | 0x7a => {
                let b = take(&mut rgce, 8)?;
                row(b, 2)?;
                sheet(b)? + 18
            }
            0x3b | 0x5b | 0x7b => {
                let b = take(&mut rgce, 14)?;
                row(b, 2)?;
                row(b, 6)?;
                sheet(b)? + 34
            }
            // PtgRefErr3d, PtgAreaErr3d.
            0x3c | 0x5c | 0x7c => sheet(take(&mut rgce, 8)?)? + 6,
            0x3d | 0x5d | 0x7d => sheet(take(&mut rgce, 14)?)? + 6,
            // PtgExp.
            0x01 => {
                take(&mut rgce, 4)?;
                0
            }
            // Operators.
            0x03..=0x15 => 2,
            0x16 => 0,
            // PtgStr: a length in characters, then UTF-16.
            0x17 => {
                let units = usize::from(u16::from_le_bytes(
                    take(&mut rgce, 2)?.try_into().expect("two bytes"),
                ));
                take(&mut rgce, 2 * units)?;
                2 + 3 * units as u64
            }
            0x18 => match take(&mut rgce, 1)?[0] {
                0x19 => {
                    take(&mut rgce, 12)?;
                    0
                }
                0x1D => {
                    take(&mut rgce, 4)?;
                    0
                }
                _ => return Err("has a token calamine does not read".into()),
            },
            // PtgAttr.
            0x19 => match take(&mut rgce, 1)?[0] {
                0x01 | 0x02 | 0x08 | 0x20 | 0x21 | 0x40 | 0x41 | 0x80 => {
                    take(&mut rgce, 2)?;
                    0
                }
                0x04 => {
                    take(&mut rgce, 10)?;
                    0
                }
                0x10 => {
                    take(&mut rgce, 2)?;
                    5
                }
                _ => return Err("has a token calamine does not read".into()),
            },
            0x1C | 0x1D => {
                take(&mut rgce, 1)?;
                14
            }
            0x1E => {
                take(&mut rgce, 2)?;
                5
            }
            // A number: its shortest text can be over 300 digits.
            0x1F => {
                take(&mut rgce, 8)?;
                330
            }
            0x20 | 0x40 | 0x60 => {
                take(&mut rgce, 14)?;
                0
            }
            // PtgFunc, PtgFuncVar: a function by its index in Excel's table of 485.
            0x21 | 0x41 | 0x61 => {
                let f = u16_at(take(&mut rgce, 2)?, 0).expect("two bytes");
                if usize::from(f) >= FUNCTIONS {
                    return Err(format!("calls function {f}, which Excel does not have"));
                }
                330
            }
            0x22 | 0x42 | 0x62 => {
                let f = u16_at(take(&mut rgce, 3)?, 1).expect("two bytes");
                if usize::from(f) >= FUNCTIONS {
                    return Err(format!("calls function {f}, which Excel does not have"));
                }
                330
            }
            // PtgName: a defined name by its index, counted from one.
            0x23 | 0x43 | 0x63 => {
                let i = u32_at(take(&mut rgce, 4)?, 0).expect("four bytes");
                if i == 0 {
                    return Err("refers to defined name 0 (they are counted from 1)".into());
                }
                names.get(i as usize - 1).copied().unwrap_or(0)
            }
            // PtgRef, PtgArea.
            0x24 | 0x44 | 0x64 => {
                row(take(&mut rgce, 6)?, 0)?;
                16
            }
            0x25 | 0x45 | 0x65 => {
                let b = take(&mut rgce, 12)?;
                row(b, 0)?;
                row(b, 4)?;
                33
            }
            0x2A | 0x4A | 0x6A => {
                take(&mut rgce, 6)?;
                5
            }
            0x2B | 0x4B | 0x6B => {
                take(&mut rgce, 12)?;
                5
            }
            // PtgMemFunc: a formula within, read by recursion.
            0x29 | 0x49 | 0x69 => {
                let n = usize::from(u16_at(take(&mut rgce, 2)?, 0).expect("two bytes"));
                let inner = take(&mut rgce, n)?;
                if depth >= MAX_FORMULA_DEPTH {
                    return Err(format!("nests more than {MAX_FORMULA_DEPTH} deep"));
                }
                formula(inner, externs, names, depth + 1)?
            }
            0x39 | 0x59 | 0x79 => {
                take(&mut rgce, 6)?;
                16
            }
            _ => return Err("has a token calamine does not read".into()),
        };
        if text > MAX_FORMULA_TEXT {
            return Ok(text);
        }
    }
    Ok(text)
}

/// A sheet's part (MS-XLSB 2.1.7.62), as calamine's cell reader walks it: its dimensions
/// record, then the cells between the start and the end of its data. `strings` is how many
/// shared strings calamine holds.
fn worksheet<R: Read>(part: &mut Records<R>, strings: u64) -> Result<(), Refusal> {
    let mut buf = Vec::new();
    let Some(len) = part.next_of(brt::WS_DIM, &[], &mut buf, 16)? else {
        return Ok(());
    };
    if len < 16 {
        return Err(part.short("BrtWsDim", len, 16));
    }
    let at = |i| u32_at(&buf, i).expect("16 bytes");
    let (r0, r1, c0, c1) = (at(0), at(4), at(8), at(12));
    if r1 < r0 || c1 < c0 {
        return Err(Refusal::damaged(format!(
            "its used range ends before it starts (rows {r0} to {r1}, columns {c0} to {c1})"
        )));
    }
    let (rows, cols) = (u64::from(r1 - r0) + 1, u64::from(c1 - c0) + 1);
    if r1 >= MAX_SHEET_ROWS || c1 >= MAX_SHEET_COLUMNS || rows * cols > MAX_SHEET_CELLS {
        return Err(Refusal::too_big(format!(
            "its used range is {}{}:{}{} ({rows} rows by {cols} columns): a user file has under 100,000 rows and about 10 columns (qusers reads sheets up to row 200,000, column {} and {MAX_SHEET_CELLS} cells)",
            column_letters(c0 as usize),
            u64::from(r0) + 1,
            column_letters(c1 as usize),
            u64::from(r1) + 1,
            column_letters(MAX_SHEET_COLUMNS as usize - 1),
        )));
    }
    let blocks = [
        (brt::BEGIN_WS_VIEWS, brt::END_WS_VIEWS),
        (brt::AC_BEGIN, brt::AC_END),
        (brt::BEGIN_COL_INFOS, brt::END_COL_INFOS),
    ];
    if part
        .next_of(brt::BEGIN_SHEET_DATA, &blocks, &mut buf, 0)?
        .is_none()
    {
        return Ok(());
    }
    let mut row = 0u32;
    let mut cells = 0u64;
    let mut units = 0u64;
    // The area the cells span: (first row, last row, first column, last column).
    let mut area: Option<(u32, u32, u32, u32)> = None;
    loop {
        let Some(typ) = part.typ()? else {
            return Ok(());
        };
        let len = part.data(&mut buf, 16)?;
        // The bytes calamine reads of each record it takes.
        let need = match typ {
            brt::ROW_HDR => 4,
            brt::CELL_RK | brt::CELL_ST | brt::CELL_ISST | brt::FMLA_STRING => 12,
            brt::CELL_ERROR | brt::CELL_BOOL | brt::FMLA_BOOL => 9,
            brt::CELL_REAL | brt::FMLA_NUM => 16,
            brt::END_SHEET_DATA => return Ok(()),
            _ => continue,
        };
        if len < need {
            return Err(part.short(&format!("cell (type {typ})"), len, need));
        }
        let first = u32_at(&buf, 0).expect("four bytes");
        match typ {
            brt::ROW_HDR => {
                // calamine stops at a row past Excel's last.
                if first > 0x0010_0000 {
                    return Ok(());
                }
                row = first;
                continue;
            }
            brt::CELL_ST | brt::FMLA_STRING => {
                units += part.string("cell", &buf, 8, len)?;
                if units > MAX_TEXT_UNITS {
                    return Err(Refusal::too_big(format!(
                        "its cells hold more than {MAX_TEXT_UNITS} characters, more than a user file of 20 MB can"
                    )));
                }
            }
            brt::CELL_ISST => {
                let i = u64::from(u32_at(&buf, 8).expect("twelve bytes"));
                if i >= strings {
                    return Err(Refusal::damaged(format!(
                        "cell {}{} refers to shared string {i}, and the workbook has {strings}",
                        column_letters(first as usize),
                        u64::from(row) + 1
                    )));
                }
            }
            _ => {}
        }
        let col = first;
        cells += 1;
        bound_cell(row, col, cells)?;
        let (r0, r1, c0, c1) = area.unwrap_or((row, row, col, col));
        let a = (r0.min(row), r1.max(row), c0.min(col), c1.max(col));
        // calamine fills the whole area between the first and the farthest cell.
        let span = u64::from(a.1 - a.0 + 1) * u64::from(a.3 - a.2 + 1);
        if span > MAX_SHEET_CELLS {
            return Err(Refusal::too_big(format!(
                "its cells span {} rows by {} columns, more cells than 100,000 rows of a user file can hold",
                a.1 - a.0 + 1,
                a.3 - a.2 + 1
            )));
        }
        area = Some(a);
    }
}
