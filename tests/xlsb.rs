//! .xlsb workbooks bounded before they are read (issue 21 item 1): a valid one, built record by
//! record, reads as the CSV it holds; crafted ones (a far corner cell, a huge used range, a zip
//! bomb of repeated rows, a huge shared string, records that are cut short or point past what
//! the file holds) are refused with exit 1 by validate, fix, split and import alike, never an
//! abort; and mutations of a valid one, read in process, never panic.
//!
//! rust_xlsxwriter writes no .xlsb, so the files are written here from MS-XLSB's records: each
//! a type (7 bits a byte, one or two bytes), a length (7 bits a byte, one to four), its data.

use crate::support;

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use support::{qusers, read_report};

const UT: &str = "UT_4SjjZmbPphZGKDq";

/// A record of type `typ` holding `data`.
fn record(typ: u16, data: &[u8]) -> Vec<u8> {
    let mut r = if typ < 0x80 {
        vec![typ as u8]
    } else {
        vec![(typ & 0x7F) as u8 | 0x80, (typ >> 7) as u8]
    };
    let mut len = data.len();
    loop {
        let b = (len & 0x7F) as u8;
        len >>= 7;
        if len == 0 {
            r.push(b);
            break;
        }
        r.push(b | 0x80);
    }
    r.extend_from_slice(data);
    r
}

/// Little-endian u32s, one after the other.
fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// An XLWideString: its length in characters, then UTF-16.
fn wide(s: &str) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().collect();
    let mut b = u32s(&[units.len() as u32]);
    b.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    b
}

/// BrtRowHdr: row `r` (0-based), no style, default height, no column spans.
fn row(r: u32) -> Vec<u8> {
    let mut d = u32s(&[r, 0]);
    d.extend([0x2C, 0x01, 0, 0, 0, 0, 0, 0, 0]);
    record(0x0000, &d)
}

/// BrtCellSt: a string in the cell.
fn text(col: u32, s: &str) -> Vec<u8> {
    let mut d = u32s(&[col, 0]);
    d.extend(wide(s));
    record(0x0006, &d)
}

/// BrtCellIsst: shared string `i`.
fn shared(col: u32, i: u32) -> Vec<u8> {
    record(0x0007, &u32s(&[col, 0, i]))
}

/// BrtCellRk: a whole number.
fn number(col: u32, n: i32) -> Vec<u8> {
    let mut d = u32s(&[col, 0]);
    d.extend(((n << 2) | 2).to_le_bytes());
    record(0x0002, &d)
}

/// BrtCellReal: a number in cell format (XF) `style`.
fn real(col: u32, style: u32, f: f64) -> Vec<u8> {
    let mut d = u32s(&[col, style]);
    d.extend(f.to_le_bytes());
    record(0x0005, &d)
}

/// The styles part: cell formats (BrtXF) 0, General, and 1, a date (Excel's number format 14).
fn styles_part() -> Vec<u8> {
    let mut p = record(0x0269, &u32s(&[2]));
    for format in [0u8, 14] {
        let mut xf = vec![0xFF, 0xFF, format, 0];
        xf.extend([0; 12]);
        p.extend(record(0x002F, &xf));
    }
    p.extend(record(0x026A, &[]));
    p
}

/// A sheet part: its used range (first row, last row, first column, last column, 0-based),
/// then `data` between BrtBeginSheetData and BrtEndSheetData.
fn sheet_part(dims: [u32; 4], data: &[Vec<u8>]) -> Vec<u8> {
    let mut p = record(0x0081, &[]);
    p.extend(record(0x0094, &u32s(&dims)));
    p.extend(record(0x0091, &[]));
    for r in data {
        p.extend(r);
    }
    p.extend(record(0x0092, &[]));
    p.extend(record(0x0082, &[]));
    p
}

/// The template header as shared strings 0 to 8, then "Lee".
fn shared_strings() -> Vec<Vec<u8>> {
    qusers::file::COLUMNS
        .iter()
        .chain(&["Lee"])
        .map(|s| sst_item(s))
        .collect()
}

/// BrtSSTItem: a plain string.
fn sst_item(s: &str) -> Vec<u8> {
    let mut d = vec![0u8];
    d.extend(wide(s));
    record(0x0013, &d)
}

/// The shared strings part: BrtBeginSst (stating `items.len()` strings), the items, BrtEndSst.
fn sst_part(items: &[Vec<u8>]) -> Vec<u8> {
    let n = items.len() as u32;
    let mut p = record(0x009F, &u32s(&[n, n]));
    for i in items {
        p.extend(i);
    }
    p.extend(record(0x00A0, &[]));
    p
}

/// The workbook part: visible sheets (name, relationship), then `names` (defined names and
/// the like), then the records calamine stops at.
fn workbook_part(sheets: &[(&str, &str)], names: &[Vec<u8>]) -> Vec<u8> {
    let mut p = record(0x0083, &[]);
    p.extend(record(0x0099, &u32s(&[0, 0])));
    p.extend(record(0x008F, &[]));
    for (i, (name, rel)) in sheets.iter().enumerate() {
        let mut sheet = u32s(&[0, i as u32 + 1]);
        sheet.extend(wide(rel));
        sheet.extend(wide(name));
        p.extend(record(0x009C, &sheet));
    }
    p.extend(record(0x0090, &[]));
    for n in names {
        p.extend(n);
    }
    p.extend(record(0x009D, &u32s(&[0, 0, 0, 0])));
    p.extend(record(0x0084, &[]));
    p
}

/// The rows of a header and one user: the header and the last name from shared strings, the
/// user's other cells inline.
fn valid_rows() -> Vec<Vec<u8>> {
    let mut rows = vec![row(0)];
    rows.extend((0..9).map(|c| shared(c, c)));
    rows.push(row(1));
    rows.push(text(1, "ann@x.org"));
    rows.push(text(2, "Ann"));
    rows.push(shared(3, 9));
    rows.push(text(4, "ann@x.org"));
    rows.push(text(6, UT));
    rows.push(text(7, "active"));
    rows
}

/// The CSV that [`valid_rows`] hold.
const VALID_CSV: &str = "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n,ann@x.org,Ann,Lee,ann@x.org,,UT_4SjjZmbPphZGKDq,active,\n";

/// The parts of an .xlsb: a sheet part (and a second one), the shared strings, the styles and
/// the workbook.
struct Parts {
    sheet: Vec<u8>,
    /// `xl/worksheets/sheet2.bin`, in relationship rId3.
    second: Option<Vec<u8>>,
    sst: Vec<u8>,
    styles: Vec<u8>,
    workbook: Vec<u8>,
    rels: String,
}

impl Parts {
    /// A valid workbook, with the cells of `rows` in a sheet whose used range is `dims`.
    fn new(dims: [u32; 4], rows: &[Vec<u8>]) -> Self {
        Parts {
            sheet: sheet_part(dims, rows),
            second: None,
            sst: sst_part(&shared_strings()),
            styles: styles_part(),
            workbook: workbook_part(&[("Users", "rId1")], &[]),
            rels: r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.bin"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.bin"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.bin"/></Relationships>"#.into(),
        }
    }

    fn valid() -> Self {
        Parts::new([0, 1, 0, 8], &valid_rows())
    }

    /// The valid rows, then `more`, in a sheet that says it is the valid rows' size.
    fn with(more: &[Vec<u8>]) -> Self {
        let mut rows = valid_rows();
        rows.extend_from_slice(more);
        Parts::new([0, 1, 0, 8], &rows)
    }

    /// The .xlsb: its parts deflated in a zip.
    fn zip(&self) -> Vec<u8> {
        let parts: [(&str, &[u8]); 7] = [
            ("[Content_Types].xml", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/></Types>"#),
            ("_rels/.rels", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.bin"/></Relationships>"#),
            ("xl/workbook.bin", &self.workbook),
            ("xl/_rels/workbook.bin.rels", self.rels.as_bytes()),
            ("xl/worksheets/sheet1.bin", &self.sheet),
            ("xl/sharedStrings.bin", &self.sst),
            ("xl/styles.bin", &self.styles),
        ];
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let second = self
            .second
            .as_deref()
            .map(|b| ("xl/worksheets/sheet2.bin", b));
        for (name, bytes) in parts.into_iter().chain(second) {
            w.start_file(name, opts).expect("part");
            w.write_all(bytes).expect("write");
        }
        w.finish().expect("zip").into_inner()
    }
}

/// Runs `qusers ARGS` in `dir`; (exit code, stdout and stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let o = qusers()
        .current_dir(dir)
        .args(args)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    (o.status.code().expect("exited, not killed"), text)
}

#[test]
fn a_valid_xlsb_reads_as_the_csv_it_holds() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("users.xlsb");
    std::fs::write(&path, Parts::valid().zip()).expect("write");
    let file = path.to_str().expect("utf8");
    let report = dir.path().join("report.csv");
    let (exit, out) = run(
        dir.path(),
        &["validate", file, "--report", report.to_str().expect("utf8")],
    );
    assert_eq!(exit, 0, "{out}");
    let rows = read_report(&report);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["line"].as_str(), rows[0]["outcome"].as_str()),
        ("2", "ok"),
        "{rows:?}"
    );
    let fixed = dir.path().join("fixed.csv");
    let (exit, out) = run(
        dir.path(),
        &["fix", file, "-o", fixed.to_str().expect("utf8")],
    );
    assert_eq!(exit, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(&fixed).expect("fixed"),
        VALID_CSV,
        "{out}"
    );
}

/// A date cell reads as Excel writes it in a CSV, and one past Excel's last date (which Excel
/// shows as ####) as its number: no date arithmetic overflows on it.
#[test]
fn date_cells_read_as_excel_writes_them() {
    let far = 1e300;
    let bytes = Parts::with(&[
        row(2),
        text(1, "bob@x.org"),
        real(8, 1, 45_000.0),
        row(3),
        text(1, "cy@x.org"),
        real(8, 1, far),
    ])
    .zip();
    let sheet =
        qusers::file::read_sheet(None, Some(Arc::new(bytes)), Default::default()).expect("read");
    let sheet = Arc::new(sheet);
    let csv = String::from_utf8(sheet.csv().expect("csv")).expect("utf8");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[2], ",bob@x.org,,,,,,,03/15/2023", "{csv}");
    assert_eq!(lines[3], format!(",cy@x.org,,,,,,,{far:.0}"), "{csv}");
    let dates: Vec<u32> = sheet
        .facts()
        .iter()
        .filter(|f| f.kind == qusers::file::CellKind::Date)
        .map(|f| f.row)
        .collect();
    assert_eq!(dates, [3], "{:?}", sheet.facts());
}

/// An empty first sheet is refused, naming the sheet that holds the users and `--sheet`; with
/// `--sheet` the users are read.
#[test]
fn an_empty_first_sheet_names_the_sheet_with_the_users() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut parts = Parts::valid();
    parts.second = Some(sheet_part([0, 0, 0, 0], &[]));
    parts.workbook = workbook_part(&[("Notes", "rId3"), ("Users", "rId1")], &[]);
    let path = dir.path().join("two.xlsb");
    std::fs::write(&path, parts.zip()).expect("write");
    let report = dir.path().join("r.csv");
    let args = ["validate", path.to_str().expect("utf8"), "--report"];
    let (exit, out) = run(
        dir.path(),
        &[&args[..], &[report.to_str().expect("utf8")]].concat(),
    );
    assert_eq!(exit, 1, "{out}");
    let rows = read_report(&report);
    assert_eq!(rows[0]["codes"], "F24", "{rows:?}");
    let message = &rows[0]["message"];
    assert!(
        message.contains("sheet \"Notes\" (the first sheet) is empty")
            && message.contains("--sheet \"Users\""),
        "{message}"
    );
    let (exit, out) = run(
        dir.path(),
        &[
            &args[..],
            &[report.to_str().expect("utf8"), "--sheet", "Users"],
        ]
        .concat(),
    );
    assert_eq!(exit, 0, "{out}");
}

/// Every crafted .xlsb, by name, with the rule and the words its refusal has.
fn crafted(dir: &Path) -> Vec<(PathBuf, &'static str, &'static str)> {
    let mut out = Vec::new();
    let mut put = |name: &str, bytes: Vec<u8>, code: &'static str, says: &'static str| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        out.push((path, code, says));
    };
    // A far corner: calamine's dense range of it is 549,755,813,888 bytes.
    put(
        "corner.xlsb",
        Parts::with(&[row(1_048_575), number(16_383, 1)]).zip(),
        "F23",
        "sheet \"Users\": cell XFD1048576 holds a value",
    );
    // A used range that says it is the whole sheet.
    put(
        "used-range.xlsb",
        Parts::new([0, 1_048_575, 0, 16_383], &valid_rows()).zip(),
        "F23",
        "its used range is A1:XFD1048576",
    );
    // Rows past any user file, each small.
    let many: Vec<u8> = (2..250_000u32)
        .flat_map(|r| [row(r), number(0, 1)].concat())
        .collect();
    put(
        "many-rows.xlsb",
        Parts::with(&[many]).zip(),
        "F23",
        "cell A200001 holds a value",
    );
    // A zip bomb of repeated rows: 2.3 million cells in 32 MB of records that deflate to a
    // few dozen KB.
    let bomb = [row(2), number(0, 1).repeat(2_300_000)];
    put(
        "bomb.xlsb",
        Parts::with(&bomb).zip(),
        "F23",
        "it holds more than 2200000 values",
    );
    // Two cells whose span calamine would fill: 150,000 rows by 41 columns.
    put(
        "span.xlsb",
        Parts::with(&[row(150_000), number(40, 1)]).zip(),
        "F23",
        "its cells span 150001 rows by 41 columns",
    );
    // A shared string one character over the record limit…
    let mut huge = Parts::valid();
    let mut items = shared_strings();
    items.push(sst_item(&"a".repeat((1 << 20) + 1)));
    huge.sst = sst_part(&items);
    put(
        "huge-string.xlsb",
        huge.zip(),
        "F23",
        "xl/sharedStrings.bin holds a string of 1048577 characters",
    );
    // …and one that says it has two billion characters, in a record of nine bytes.
    let mut lying = Parts::valid();
    let mut items = shared_strings();
    items.push(record(0x0013, &[0, 0, 0x94, 0x35, 0x77, b'a', 0, b'b', 0]));
    lying.sst = sst_part(&items);
    put(
        "string-2g.xlsb",
        lying.zip(),
        "F23",
        "holds a string of 2000000000 characters",
    );
    // A record that says it is 256 MiB (calamine allocates that before reading it).
    let mut big = Parts::with(&[row(2)]);
    // In place of BrtEndSheetData and BrtEndSheet.
    let end = big.sheet.len() - 6;
    big.sheet.truncate(end);
    big.sheet.extend([0x02, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0]);
    put(
        "record-256m.xlsb",
        big.zip(),
        "F23",
        "has a record of 268435455 bytes",
    );
    // Cut short: the sheet part ends inside a record.
    let mut cut = Parts::valid();
    let end = cut.sheet.len() - 12;
    cut.sheet.truncate(end);
    put("cut-short.xlsb", cut.zip(), "F02", "is cut short");
    // Records with less than calamine reads of them, or pointing past what the file holds.
    put(
        "short-cell.xlsb",
        Parts::with(&[row(2), record(0x0005, &u32s(&[0, 0]))]).zip(),
        "F02",
        "has a cell (type 5) record of 8 bytes, where one has at least 16",
    );
    put(
        "short-dims.xlsb",
        {
            let mut p = Parts::valid();
            p.sheet = record(0x0094, &u32s(&[0, 1]));
            p.zip()
        },
        "F02",
        "has a BrtWsDim record of 8 bytes",
    );
    put(
        "no-such-string.xlsb",
        Parts::with(&[row(2), shared(0, 99)]).zip(),
        "F02",
        "cell A3 refers to shared string 99, and the workbook has 10",
    );
    put(
        "no-such-relationship.xlsb",
        {
            let mut p = Parts::valid();
            p.workbook = workbook_part(&[("Users", "rId7")], &[]);
            p.zip()
        },
        "F02",
        "relationship \"rId7\", which xl/_rels/workbook.bin.rels does not have",
    );
    // A defined name whose formula (PtgRef3d) refers to a sheet reference it lacks.
    let mut name = u32s(&[0]);
    name.push(0);
    name.extend(u32s(&[0]));
    name.extend(wide("Print_Area"));
    name.extend(u32s(&[9]));
    name.extend([0x3A, 5, 0, 0, 0, 0, 0, 0, 0]);
    put(
        "bad-name.xlsb",
        {
            let mut p = Parts::valid();
            p.workbook = workbook_part(&[("Users", "rId1")], &[record(0x0027, &name)]);
            p.zip()
        },
        "F02",
        "formula refers to sheet reference 5",
    );
    out
}

/// Every crafted .xlsb is refused by validate, fix, split and import alike: exit 1, the same
/// rule, a message that says why; nothing is written.
#[test]
fn crafted_xlsb_are_refused_alike_by_every_command() {
    let dir = tempfile::tempdir().expect("tmp");
    for (path, code, says) in crafted(dir.path()) {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let file = path.to_str().expect("utf8");
        let report = dir.path().join(format!("{name}.report.csv"));
        let (exit, out) = run(
            dir.path(),
            &["validate", file, "--report", report.to_str().expect("utf8")],
        );
        assert_eq!(exit, 1, "validate {name}: {out}");
        let rows = read_report(&report);
        assert_eq!(rows.len(), 1, "{name}: {rows:?}");
        assert_eq!(rows[0]["codes"], code, "{name}: {rows:?}");
        assert!(rows[0]["message"].contains(says), "{name}: {rows:?}");

        let fixed = dir.path().join(format!("{name}.fixed.csv"));
        let (exit, out) = run(
            dir.path(),
            &["fix", file, "-o", fixed.to_str().expect("utf8")],
        );
        assert_eq!(exit, 1, "fix {name}: {out}");
        assert!(out.contains(says), "fix {name}: {out}");
        assert!(!fixed.exists(), "fix {name} wrote a copy");

        let parts = dir.path().join(format!("{name}.parts"));
        let (exit, out) = run(
            dir.path(),
            &["split", file, "--out-dir", parts.to_str().expect("utf8")],
        );
        assert_eq!(exit, 1, "split {name}: {out}");
        assert!(out.contains(says), "split {name}: {out}");
        let written = std::fs::read_dir(&parts).map_or(0, |d| d.count());
        assert_eq!(written, 0, "split {name} wrote parts");

        let report = dir.path().join(format!("{name}.import.csv"));
        let (exit, out) = run(
            dir.path(),
            &[
                "import",
                file,
                "--dry-run",
                "--sim",
                "--report",
                report.to_str().expect("utf8"),
            ],
        );
        assert_eq!(exit, 1, "import {name}: {out}");
        let rows = read_report(&report);
        assert_eq!(rows[0]["codes"], code, "import {name}: {rows:?}");
    }
}

/// A valid .xlsb mutated at random: its zip's bytes, or the records of one of its parts
/// (zipped again, so that the records themselves are read). Each is read in process: never a
/// panic, always a verdict or an error value.
#[test]
fn mutated_xlsb_never_panic() {
    use qusers::file::{ReadOptions, Source};
    use qusers::validate::{validate_source, NullSink, ValidateOptions};
    let valid = Parts::valid();
    let check = |bytes: Vec<u8>| {
        let source = Source::Stdin(Arc::new(bytes));
        let opts = ValidateOptions::new(ReadOptions::default(), false);
        if let Ok(summary) = validate_source(&source, &opts, None, &mut NullSink) {
            assert_eq!(summary.rows, summary.ok + summary.warning + summary.error);
        }
    };
    // The valid workbook validates: the mutations start from a file that is read.
    {
        let source = Source::Stdin(Arc::new(valid.zip()));
        let opts = ValidateOptions::new(ReadOptions::default(), false);
        let summary = validate_source(&source, &opts, None, &mut NullSink).expect("read");
        assert_eq!((summary.rows, summary.ok), (1, 1));
    }
    // A small, deterministic generator: the same cases on every run.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Bytes that mean something in a record: small types and lengths, continuation bits, the
    // types of cells, rows, strings and sheets.
    let interesting = [
        0x00, 0x01, 0x02, 0x06, 0x07, 0x09, 0x13, 0x27, 0x7F, 0x80, 0x81, 0x91, 0x94, 0x9C, 0xFF,
    ];
    let zipped = valid.zip();
    // 2,000 in CI; QUSERS_FUZZ_MUTATIONS=14400 by hand (about 23 s of CPU in a debug build).
    let cases =
        std::env::var("QUSERS_FUZZ_MUTATIONS").map_or(2_000, |n| n.parse().expect("a count"));
    for case in 0..cases {
        let mut parts = Parts::valid();
        let target = match case % 5 {
            0 => None,
            1 => Some(&mut parts.sheet),
            2 => Some(&mut parts.sst),
            3 => Some(&mut parts.styles),
            _ => Some(&mut parts.workbook),
        };
        let mut bytes = match &target {
            None => zipped.clone(),
            Some(part) => part.to_vec(),
        };
        for _ in 0..1 + next() % 6 {
            let n = bytes.len().max(1);
            let at = (next() as usize) % n;
            let b = if next() % 2 == 0 {
                interesting[(next() as usize) % interesting.len()]
            } else {
                next() as u8
            };
            match next() % 4 {
                0 => bytes.insert(at, b),
                1 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                2 => bytes.truncate(at),
                _ if !bytes.is_empty() => bytes[at] = b,
                _ => {}
            }
        }
        match target {
            None => check(bytes),
            Some(part) => {
                *part = bytes;
                check(parts.zip());
            }
        }
    }
}

/// An .xlsx whose part names use backslashes (as some writers do) is found by calamine all
/// the same, so it is streamed and bounded as an .xlsx, not read whole: a far corner cell is
/// refused (it cost 3.3 GB at CV1048576 and aborted at XFD1048576), a small sheet is read.
#[test]
fn an_xlsx_named_with_backslashes_is_bounded_as_an_xlsx() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("tmp");
    for (name, corner, exit) in [("small.xlsx", false, 0), ("corner.xlsx", true, 1)] {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for (c, h) in qusers::file::COLUMNS.iter().enumerate() {
            ws.write_string(0, c as u16, *h).expect("header");
        }
        for (c, v) in ["", "ann@x.org", "Ann", "Lee", "ann@x.org", "", UT, "active"]
            .iter()
            .enumerate()
        {
            ws.write_string(1, c as u16, *v).expect("cell");
        }
        if corner {
            ws.write_number(1_048_575, 16_383, 1.0).expect("far cell");
        }
        let bytes = wb.save_to_buffer().expect("saved");
        let mut from = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
        let mut to = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for i in 0..from.len() {
            let mut part = from.by_index(i).expect("part");
            let mut data = Vec::new();
            part.read_to_end(&mut data).expect("read");
            to.start_file(
                part.name().replace('/', "\\"),
                zip::write::SimpleFileOptions::default(),
            )
            .expect("part");
            to.write_all(&data).expect("write");
        }
        let path = dir.path().join(name);
        std::fs::write(&path, to.finish().expect("zip").into_inner()).expect("write");
        let (code, out) = run(dir.path(), &["validate", path.to_str().expect("utf8")]);
        assert_eq!(code, exit, "{name}: {out}");
        if corner {
            assert!(out.contains("cell XFD1048576 holds a value"), "{out}");
        }
    }
}
