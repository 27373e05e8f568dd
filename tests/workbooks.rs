//! Workbooks bounded and truthful (issue 21 item 1, issue 19 items 4 and 5, the workbook part
//! of 21.5): crafted workbooks (a far corner cell, zip bombs, a huge shared string, damaged
//! zips and XML) are refused with exit 1 by validate, fix, split and import alike, never an
//! abort; a sheet's line N is its row N even after a cell with line breaks; merged cells,
//! hidden rows and columns, ids in number cells and an empty first sheet are reported, each
//! naming its cell; and qusers' own export workbook imports back with nothing to write.

use crate::support;

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rust_xlsxwriter::{Format, Workbook};
use support::{qusers, read_report};

/// The template columns, in order.
use qusers::file::COLUMNS as HEADER;
const UT: &str = "UT_4SjjZmbPphZGKDq";
const DV: &str = "DV_0Iq7n6gGcZ3aXyK";

/// A user's row of the template: `userName` doubles as the email.
fn user(name: &str, first: &str) -> [String; 9] {
    [
        String::new(),
        name.into(),
        first.into(),
        "Lee".into(),
        name.into(),
        String::new(),
        UT.into(),
        "active".into(),
        String::new(),
    ]
}

fn write_row(ws: &mut rust_xlsxwriter::Worksheet, row: u32, cells: &[String]) {
    for (c, v) in cells.iter().enumerate() {
        if !v.is_empty() {
            ws.write_string(row, c as u16, v).expect("write");
        }
    }
}

/// Runs `qusers ARGS` in `dir`; (exit code, stdout and stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let run = support::run(
        qusers()
            .current_dir(dir)
            .args(args)
            .timeout(std::time::Duration::from_secs(120)),
    );
    assert!(!run.all().contains("panicked"), "{run:?}");
    run.code_all()
}

// ---------------------------------------------------------------------------------------
// Crafted workbooks.

/// The parts of a minimal .xlsx around `sheet` (the worksheet's XML) and `strings` (the
/// shared strings' XML, when given).
fn xlsx_parts(sheet: &[u8], strings: Option<&[u8]>) -> Vec<(&'static str, Vec<u8>)> {
    let mut parts: Vec<(&'static str, Vec<u8>)> = vec![
        ("[Content_Types].xml", br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_vec()),
        ("_rels/.rels", br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_vec()),
        ("xl/workbook.xml", br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Users" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_vec()),
        ("xl/_rels/workbook.xml.rels", br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#.to_vec()),
        ("xl/worksheets/sheet1.xml", sheet.to_vec()),
    ];
    if let Some(s) = strings {
        parts.push(("xl/sharedStrings.xml", s.to_vec()));
    }
    parts
}

fn zip_of(parts: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    for (name, bytes) in parts {
        w.start_file(*name, opts).expect("part");
        w.write_all(bytes).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

/// The sheet XML of a header and one user, then `more` (raw XML rows).
fn sheet_xml(more: &str) -> Vec<u8> {
    let cells = |row: u32, values: &[String]| -> String {
        values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(c, v)| {
                format!(
                    r#"<c r="{}{row}" t="inlineStr"><is><t>{v}</t></is></c>"#,
                    (b'A' + c as u8) as char
                )
            })
            .collect()
    };
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">{}</row><row r="2">{}</row>{more}</sheetData></worksheet>"#,
        cells(1, &header),
        cells(2, &user("ann@x.org", "Ann"))
    )
    .into_bytes()
}

/// Sets the uncompressed size that part `name` declares (in its local header and in the
/// central directory) to `size`: what a zip bomb does to pass a check of declared sizes.
fn declare_size(zip: &mut [u8], name: &str, size: u32) {
    let u16_at = |z: &[u8], i: usize| u16::from_le_bytes([z[i], z[i + 1]]) as usize;
    let u32_at = |z: &[u8], i: usize| u32::from_le_bytes([z[i], z[i + 1], z[i + 2], z[i + 3]]);
    let mut i = 0;
    let mut found = false;
    while let Some(at) = zip[i..].windows(4).position(|w| w == b"PK\x01\x02") {
        let cd = i + at;
        let n = u16_at(zip, cd + 28);
        if &zip[cd + 46..cd + 46 + n] == name.as_bytes() {
            zip[cd + 24..cd + 28].copy_from_slice(&size.to_le_bytes());
            let local = u32_at(zip, cd + 42) as usize;
            zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
            found = true;
        }
        i = cd + 4;
    }
    assert!(found, "{name} is in the zip");
}

/// A workbook with a far corner cell, written by rust_xlsxwriter.
fn far_corner(path: &Path, row: u32, col: u16) {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Users").expect("name");
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    write_row(ws, 0, &header);
    write_row(ws, 1, &user("ann@x.org", "Ann"));
    ws.write_number(row, col, 1.0).expect("far cell");
    wb.save(path).expect("saved");
}

/// Every crafted workbook, by name, and what its refusal says.
fn crafted(dir: &Path) -> Vec<(PathBuf, &'static str, &'static str)> {
    let mut out = Vec::new();
    let mut put = |name: &str, bytes: Vec<u8>, code: &'static str, says: &'static str| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        out.push((path, code, says));
    };
    // A far corner: 549,755,813,888 bytes of dense range, and 3.4 GB.
    for (name, row, col) in [
        ("corner-xfd.xlsx", 1_048_575, 16_383),
        ("corner-cv.xlsx", 1_048_575, 99),
    ] {
        let path = dir.join(name);
        far_corner(&path, row, col);
        let bytes = std::fs::read(&path).expect("read");
        let says = if col == 99 {
            "cell CV1048576 holds a value"
        } else {
            "cell XFD1048576 holds a value"
        };
        put(name, bytes, "F23", says);
    }
    // Rows beyond any user file, each small: a cell count far past 100,000 rows.
    let mut many = String::new();
    for r in 3..=250_000u32 {
        many.push_str(&format!(r#"<row r="{r}"><c r="A{r}"><v>1</v></c></row>"#));
    }
    put(
        "many-rows.xlsx",
        zip_of(&xlsx_parts(&sheet_xml(&many), None)),
        "F23",
        "cell A200001 holds a value",
    );
    // A zip bomb of repeated rows: 8 MiB of rows that deflate to a few KB, declaring 4 GB…
    let rows: String = (3..=200_000u32)
        .map(|r| format!(r#"<row r="{r}"><c r="A{r}"><v>1</v></c></row>"#))
        .take(8 << 20 >> 5)
        .collect();
    let bomb = zip_of(&xlsx_parts(&sheet_xml(&rows), None));
    drop(rows);
    let mut declared = bomb.clone();
    declare_size(&mut declared, "xl/worksheets/sheet1.xml", u32::MAX - 1);
    put(
        "bomb.xlsx",
        declared,
        "F23",
        "declares 4096.0 MiB uncompressed",
    );
    // …and declaring 1 KB: the lie is found as it unpacks.
    let mut lying = bomb;
    declare_size(&mut lying, "xl/worksheets/sheet1.xml", 1000);
    put(
        "bomb-lying.xlsx",
        lying,
        "F23",
        "more than the 1000 bytes it declares",
    );
    // One shared string of 2 MiB (a 2 GB one declares itself too large before that).
    let huge = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>{}</t></si></sst>"#,
        "a".repeat(2 << 20)
    );
    put(
        "huge-string.xlsx",
        zip_of(&xlsx_parts(
            &sheet_xml(r#"<row r="3"><c r="B3" t="s"><v>0</v></c></row>"#),
            Some(huge.as_bytes()),
        )),
        "F23",
        "xl/sharedStrings.xml holds a text longer than",
    );
    // A shared string table that says it holds a trillion strings (calamine reserves that).
    put(
        "string-count.xlsx",
        zip_of(&xlsx_parts(
            &sheet_xml(""),
            Some(br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1000000000000" uniqueCount="1000000000000"><si><t>a</t></si></sst>"#),
        )),
        "F23",
        "says it holds 1000000000000 strings",
    );
    // Entities: a billion laughs is refused before any expansion.
    put(
        "entities.xlsx",
        zip_of(&xlsx_parts(
            br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>"#,
            None,
        )),
        "F02",
        "declares a DTD",
    );
    // Damaged: truncated, not a zip, a sheet part missing, XML that is not well-formed.
    let good = zip_of(&xlsx_parts(&sheet_xml(""), None));
    put(
        "truncated.xlsx",
        good[..good.len() / 2].to_vec(),
        "F02",
        "the end of its zip structure is missing",
    );
    put(
        "not-a-zip.xlsx",
        b"userID,userName\n,ann@x.org\n".to_vec(),
        "F02",
        "does not start like one",
    );
    let mut parts = xlsx_parts(&sheet_xml(""), None);
    parts.retain(|(n, _)| *n != "xl/worksheets/sheet1.xml");
    put("no-sheet-part.xlsx", zip_of(&parts), "F02", "sheet1.xml");
    let mut garbage = sheet_xml("");
    let cut = garbage.len() - 30;
    garbage.truncate(cut);
    garbage.extend_from_slice(b"<row r=\"3\"><c r=\"A3\"><v>1</c></rox>");
    put(
        "garbage-xml.xlsx",
        zip_of(&xlsx_parts(&garbage, None)),
        "F02",
        "xl/worksheets/sheet1.xml",
    );
    // .xls (BIFF8 in an OLE compound file): calamine sizes a sheet by its DIMENSIONS record
    // and its farthest cell, so both are bounded before it opens the file.
    let dims = |r1: u32, c1: u16| {
        let mut d = Vec::new();
        d.extend(0u32.to_le_bytes());
        d.extend(r1.to_le_bytes());
        d.extend(0u16.to_le_bytes());
        d.extend(c1.to_le_bytes());
        d.extend(0u16.to_le_bytes());
        biff(0x0200, &d)
    };
    let number = |row: u16, col: u16| {
        let mut d = Vec::new();
        d.extend(row.to_le_bytes());
        d.extend(col.to_le_bytes());
        d.extend(0u16.to_le_bytes());
        d.extend(1.0f64.to_le_bytes());
        biff(0x0203, &d)
    };
    put(
        "declared-corner.xls",
        xls(&[dims(65_536, 256), number(0, 0)]),
        "F23",
        "declares 65536 rows by 256 columns",
    );
    put(
        "far-corner.xls",
        xls(&[dims(1, 1), number(0, 0), number(65_535, 255)]),
        "F23",
        "cell IV65536",
    );
    put(
        "wide-span.xls",
        xls(&[dims(1, 1), number(0, 0), number(65_535, 40)]),
        "F23",
        "span 65536 rows by 41 columns",
    );
    out
}

/// A BIFF record: its type, its length, its data.
fn biff(typ: u16, data: &[u8]) -> Vec<u8> {
    let mut r = typ.to_le_bytes().to_vec();
    r.extend(u16::try_from(data.len()).expect("short").to_le_bytes());
    r.extend(data);
    r
}

/// An .xls: an OLE compound file whose `Workbook` stream holds the globals' BOF and EOF, then
/// one sheet's BOF, `records` and EOF.
fn xls(records: &[Vec<u8>]) -> Vec<u8> {
    use std::io::Write;
    let bof = |kind: u16| {
        let mut d = vec![0x00, 0x06];
        d.extend(kind.to_le_bytes());
        d.extend([0u8; 12]);
        biff(0x0809, &d)
    };
    let mut stream = bof(0x0005);
    stream.extend(biff(0x000A, &[]));
    stream.extend(bof(0x0010));
    for r in records {
        stream.extend(r);
    }
    stream.extend(biff(0x000A, &[]));
    let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).expect("cfb");
    file.create_stream("/Workbook")
        .expect("stream")
        .write_all(&stream)
        .expect("written");
    file.flush().expect("flushed");
    file.into_inner().into_inner()
}

/// Every crafted workbook is refused by validate, fix, split and import alike: exit 1, the
/// same rule, a message that says why; nothing is written.
#[test]
fn crafted_workbooks_are_refused_alike_by_every_command() {
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

/// A workbook whose sheet part reaches row 199,999 but no further is read: the bound is on
/// what no user file has, not on a large one.
#[test]
fn a_long_sheet_inside_the_bounds_is_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("long.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    write_row(ws, 0, &header);
    write_row(ws, 1, &user("ann@x.org", "Ann"));
    ws.write_string(199_998, 63, "far but inside")
        .expect("write");
    wb.save(&path).expect("saved");
    let report = dir.path().join("r.csv");
    let (exit, out) = run(
        dir.path(),
        &[
            "validate",
            path.to_str().expect("utf8"),
            "--report",
            report.to_str().expect("utf8"),
        ],
    );
    // Read (not refused): the stray cell is a column that is not in the template (F09), and
    // a row of its own on line 199,999.
    assert_eq!(exit, 1, "{out}");
    let rows = read_report(&report);
    assert!(
        !rows
            .iter()
            .any(|r| r["codes"] == "F23" || r["codes"] == "F02"),
        "{out}"
    );
    assert!(rows.iter().any(|r| r["codes"] == "F09"), "{out}");
    let lines: Vec<&str> = rows
        .iter()
        .filter(|r| !r["row"].is_empty())
        .map(|r| r["line"].as_str())
        .collect();
    assert_eq!(lines, ["2", "199999"], "{out}");
}

/// Bytes of a valid workbook, mutated at random (and its sheet's XML, mutated and zipped
/// again): read in process, never a panic, always a verdict or an error value.
#[test]
fn mutated_workbooks_never_panic() {
    use qusers::file::{ReadOptions, Source};
    use qusers::validate::{validate_source, NullSink, ValidateOptions};
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("valid.xlsx");
    far_corner(&path, 2, 3);
    let valid = std::fs::read(&path).expect("read");
    let sheet = {
        let mut zip = zip::ZipArchive::new(Cursor::new(valid.clone())).expect("zip");
        let mut part = zip.by_name("xl/worksheets/sheet1.xml").expect("sheet");
        let mut xml = Vec::new();
        part.read_to_end(&mut xml).expect("xml");
        xml
    };
    let check = |bytes: Vec<u8>| {
        let source = Source::Stdin(Arc::new(bytes));
        let opts = ValidateOptions::new(ReadOptions::default(), false);
        if let Ok(summary) = validate_source(&source, &opts, None, &mut NullSink) {
            assert_eq!(summary.rows, summary.ok + summary.warning + summary.error);
        }
    };
    // A small, deterministic generator: the same cases on every run.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let interesting = b"<>/\"=&;:0123456789PK\x00\xff ";
    // 400 in CI; QUSERS_FUZZ_MUTATIONS=14400 by hand (about 46 s of CPU in a debug build).
    let cases = std::env::var("QUSERS_FUZZ_MUTATIONS").map_or(400, |n| n.parse().expect("a count"));
    for case in 0..cases {
        let (mut bytes, xml) = if case % 2 == 0 {
            (valid.clone(), false)
        } else {
            (sheet.clone(), true)
        };
        for _ in 0..1 + next() % 8 {
            let n = bytes.len().max(1);
            let at = (next() as usize) % n;
            let b = if next() % 2 == 0 {
                interesting[(next() as usize) % interesting.len()]
            } else {
                next() as u8
            };
            match next() % 3 {
                0 => bytes.insert(at, b),
                1 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ if !bytes.is_empty() => bytes[at] = b,
                _ => {}
            }
        }
        if xml {
            let mut parts = {
                let mut zip = zip::ZipArchive::new(Cursor::new(valid.clone())).expect("zip");
                (0..zip.len())
                    .map(|i| {
                        let mut f = zip.by_index(i).expect("part");
                        let mut b = Vec::new();
                        f.read_to_end(&mut b).expect("read");
                        (f.name().to_string(), b)
                    })
                    .collect::<Vec<_>>()
            };
            for (name, b) in parts.iter_mut() {
                if name == "xl/worksheets/sheet1.xml" {
                    *b = bytes.clone();
                }
            }
            let named: Vec<(&str, Vec<u8>)> =
                parts.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
            bytes = zip_of(&named);
        }
        check(bytes);
    }
}

// ---------------------------------------------------------------------------------------
// What a sheet holds, told as it is.

/// Sheet "Notes" (empty) first, then "Users": a multi-line cell (row 3), a merged
/// divisionId F5:F7, a hidden row 8, a userName typed as a number (row 9), a firstName with a
/// symbol (row 10), and the expirationDate column I hidden.
fn layout_workbook(path: &Path) {
    let mut wb = Workbook::new();
    wb.add_worksheet().set_name("Notes").expect("name");
    let ws = wb.add_worksheet();
    ws.set_name("Users").expect("name");
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    write_row(ws, 0, &header);
    write_row(ws, 1, &user("ann@x.org", "Ann"));
    write_row(ws, 2, &user("bob@x.org", "Bob\nby"));
    write_row(ws, 3, &user("cy@x.org", "Cy"));
    for (r, name) in [(4, "dee@x.org"), (5, "eve@x.org"), (6, "fay@x.org")] {
        write_row(ws, r, &user(name, "Dee"));
    }
    ws.merge_range(4, 5, 6, 5, DV, &Format::new())
        .expect("merged");
    write_row(ws, 7, &user("hid@x.org", "Hid"));
    ws.set_row_hidden(7).expect("hidden");
    let mut numbered = user("", "Num");
    numbered[4] = "num@x.org".into();
    write_row(ws, 8, &numbered);
    ws.write_number(8, 1, 12345.0).expect("number");
    write_row(ws, 9, &user("gus@x.org", "Gu!s"));
    ws.set_column_hidden(8).expect("hidden column");
    wb.save(path).expect("saved");
}

fn validate_report(
    dir: &Path,
    file: &Path,
    extra: &[&str],
) -> (i32, Vec<std::collections::BTreeMap<String, String>>) {
    let report = dir.join("layout.report.csv");
    let mut args = vec![
        "validate",
        file.to_str().expect("utf8"),
        "--report",
        report.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    let (exit, out) = run(dir, &args);
    assert!(report.exists(), "{out}");
    (exit, read_report(&report))
}

#[test]
fn an_empty_first_sheet_names_the_sheet_with_the_users() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("layout.xlsx");
    layout_workbook(&path);
    let (exit, rows) = validate_report(dir.path(), &path, &[]);
    assert_eq!(exit, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["codes"], "F24");
    let message = &rows[0]["message"];
    assert!(
        message.contains("sheet \"Notes\" (the first sheet) is empty")
            && message.contains("--sheet \"Users\""),
        "{message}"
    );
    assert!(!message.contains("no bytes"), "{message}");
}

#[test]
fn a_sheet_tells_its_rows_cells_merges_and_hidden_parts() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("layout.xlsx");
    layout_workbook(&path);
    let (exit, rows) = validate_report(dir.path(), &path, &["--sheet", "Users"]);
    assert_eq!(exit, 1);
    let file_rows: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["line"].is_empty() || r["row"].is_empty())
        .map(|r| (r["codes"].as_str(), r["message"].as_str()))
        .collect();
    let data: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| !r["row"].is_empty())
        .map(|r| {
            (
                r["line"].as_str(),
                r["outcome"].as_str(),
                r["codes"].as_str(),
            )
        })
        .collect();
    // Line N is row N: after the cell with a line break (row 3) too; the hidden row 8 is
    // left out; no R10 anywhere (the admin typed no quote).
    assert_eq!(
        data,
        [
            ("2", "ok", ""),
            ("3", "error", "R02"),
            ("4", "ok", ""),
            ("5", "ok", ""),
            ("6", "error", "S04"),
            ("7", "error", "S04"),
            ("9", "error", "U02 S05"),
            ("10", "error", "N03"),
        ],
        "{rows:?}"
    );
    let message = |line: &str| -> String {
        rows.iter()
            .find(|r| r["line"] == line)
            .map(|r| r["message"].clone())
            .unwrap_or_default()
    };
    assert!(
        message("6").contains("sheet Users, cell F6: F5:F7 merged: only F5 holds the value, F6 is empty, so this row's divisionId is empty"),
        "{}",
        message("6")
    );
    assert!(
        message("7").contains("cell F7: F5:F7 merged"),
        "{}",
        message("7")
    );
    assert!(
        message("9").contains("sheet Users, cell B9: userName 12345 is a number cell"),
        "{}",
        message("9")
    );
    assert!(
        message("10").contains("sheet Users, cell C10:"),
        "{}",
        message("10")
    );
    assert!(
        message("3").contains("sheet Users, cell C3:"),
        "{}",
        message("3")
    );
    // The hidden row and column, as file warnings.
    let f25 = file_rows.iter().find(|(c, _)| *c == "F25").expect("F25");
    assert!(
        f25.1.contains("row 8 is hidden in Excel and was left out")
            && f25.1.contains("--include-hidden"),
        "{}",
        f25.1
    );
    let f26 = file_rows.iter().find(|(c, _)| *c == "F26").expect("F26");
    assert!(f26.1.contains("column I is hidden"), "{}", f26.1);

    // --include-hidden reads row 8, and says so.
    let (_, rows) = validate_report(dir.path(), &path, &["--sheet", "Users", "--include-hidden"]);
    let hidden = rows.iter().find(|r| r["line"] == "8").expect("line 8 read");
    assert_eq!(hidden["outcome"], "ok", "{hidden:?}");
    assert_eq!(hidden["userName"], "hid@x.org");
    let f25 = rows.iter().find(|r| r["codes"] == "F25").expect("F25");
    assert!(
        f25["message"].contains("read because of --include-hidden"),
        "{f25:?}"
    );
}

/// fix, split and import read the same rows: the hidden row stays out of all three, and the
/// lines they name are the sheet's rows.
#[test]
fn fix_split_and_import_read_the_rows_validate_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("layout.xlsx");
    layout_workbook(&path);
    let file = path.to_str().expect("utf8");
    let fixed = dir.path().join("fixed.csv");
    let (_, out) = run(
        dir.path(),
        &[
            "fix",
            file,
            "--sheet",
            "Users",
            "-o",
            fixed.to_str().expect("utf8"),
        ],
    );
    let copy = std::fs::read_to_string(&fixed).unwrap_or_else(|_| panic!("{out}"));
    // What fix cannot repair is said: the id in a number cell, the rows a merge left empty.
    assert!(out.contains("S05") && out.contains("S04"), "{out}");
    assert!(!copy.contains("hid@x.org"), "{copy}");
    assert!(
        copy.contains("gus@x.org") && copy.contains("cy@x.org"),
        "{copy}"
    );
    let report = dir.path().join("import.csv");
    let (exit, out) = run(
        dir.path(),
        &[
            "import",
            file,
            "--sheet",
            "Users",
            "--dry-run",
            "--sim",
            "--report",
            report.to_str().expect("utf8"),
        ],
    );
    assert_eq!(exit, 1, "{out}");
    let rows = read_report(&report);
    let lines: Vec<&str> = rows
        .iter()
        .filter(|r| !r["row"].is_empty())
        .map(|r| r["line"].as_str())
        .collect();
    assert_eq!(lines, ["2", "3", "4", "5", "6", "7", "9", "10"], "{rows:?}");
    assert!(!rows.iter().any(|r| r["codes"].contains("R10")), "{rows:?}");
}

/// `export -o e.xlsx` (the default layout, with the name columns) then `import e.xlsx
/// --dry-run`: nothing to write. Dates, ids and statuses come back as they went out.
#[test]
fn the_export_workbook_imports_back_with_nothing_to_write() {
    use qusers::sim::{self, SimConfig};
    let dir = tempfile::tempdir().expect("tmp");
    let h = sim::spawn(SimConfig {
        demo_users: 30,
        ..SimConfig::default()
    })
    .expect("sim");
    let path = dir.path().join("e.xlsx");
    let o = qusers()
        .args(["export", "--base-url", &h.url(), "-o"])
        .arg(&path)
        .env("QUALTRICS_API_TOKEN", h.token())
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = dir.path().join("import.csv");
    let o = qusers()
        .args(["import", "--dry-run", "--base-url", &h.url(), "--report"])
        .arg(&report)
        .arg(&path)
        .env("QUALTRICS_API_TOKEN", h.token())
        .output()
        .expect("runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{out}");
    let rows = read_report(&report);
    let data: Vec<_> = rows.iter().filter(|r| !r["row"].is_empty()).collect();
    assert_eq!(data.len(), 31, "{out}");
    assert!(data.iter().all(|r| r["outcome"] == "unchanged"), "{rows:?}");
    assert_eq!(h.stats().writes, 0);
}

/// Writes the workbook fixtures that break F23, F24, F25, F26, S04 and S05 (for
/// `tests/validate.rs`'s catalog coverage). Run by hand after changing them:
/// `cargo test --test workbooks -- --ignored write_fixtures`.
#[test]
#[ignore = "writes fixtures/; run by hand"]
fn write_fixtures() {
    let fixtures = support::fixture("");
    // Users first: the layout facts.
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Users").expect("name");
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    write_row(ws, 0, &header);
    for (r, name) in [(1, "ann@x.org"), (2, "bob@x.org"), (3, "cy@x.org")] {
        write_row(ws, r, &user(name, "Ann"));
    }
    ws.merge_range(1, 5, 3, 5, DV, &Format::new())
        .expect("merged");
    write_row(ws, 4, &user("hid@x.org", "Hid"));
    ws.set_row_hidden(4).expect("hidden");
    let mut numbered = user("", "Num");
    numbered[4] = "num@x.org".into();
    write_row(ws, 5, &numbered);
    ws.write_number(5, 1, 12345.0).expect("number");
    ws.set_column_hidden(8).expect("hidden column");
    wb.save(fixtures.join("sheet_layout.xlsx")).expect("saved");
    // An empty first sheet.
    let mut wb = Workbook::new();
    wb.add_worksheet().set_name("Sheet1").expect("name");
    let ws = wb.add_worksheet();
    ws.set_name("Users").expect("name");
    write_row(ws, 0, &header);
    write_row(ws, 1, &user("ann@x.org", "Ann"));
    wb.save(fixtures.join("sheet_empty_first.xlsx"))
        .expect("saved");
    // A far corner cell.
    far_corner(&fixtures.join("sheet_far_corner.xlsx"), 1_048_575, 16_383);
}

/// A hidden first sheet is not the default: the first sheet Excel shows is.
#[test]
fn the_default_sheet_is_the_first_visible_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("hidden-first.xlsx");
    let mut wb = Workbook::new();
    let old = wb.add_worksheet();
    old.set_name("Old").expect("name");
    old.write_string(0, 0, "last year's list").expect("write");
    old.set_hidden(true);
    let ws = wb.add_worksheet();
    ws.set_name("Users").expect("name");
    ws.set_active(true);
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    write_row(ws, 0, &header);
    write_row(ws, 1, &user("ann@x.org", "Ann"));
    wb.save(&path).expect("saved");
    let (exit, rows) = validate_report(dir.path(), &path, &[]);
    assert_eq!(exit, 0, "{rows:?}");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["userName"], "ann@x.org");
}
