//! Workbooks read directly (issue 12 item 1): a sheet written by rust_xlsxwriter validates with
//! the same rows and verdicts as the CSV Excel would save from it, and messages name the cells.

use crate::support;

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use support::{qusers, read_report, report_rows, Row};

const HEADER: [&str; 9] = [
    "userID",
    "userName",
    "firstName",
    "lastName",
    "email",
    "divisionId",
    "accountType",
    "accountStatus",
    "expirationDate",
];

/// A sheet "Users" (after a first sheet "Notes" when `notes_first`) with text-formatted ids,
/// numbers, a date cell, formulas, an error cell and a boolean; and the CSV Excel would save.
fn workbook(dir: &Path, notes_first: bool) -> (PathBuf, PathBuf) {
    let mut wb = Workbook::new();
    if notes_first {
        let notes = wb.add_worksheet();
        notes.set_name("Notes").expect("name");
        notes.write_string(0, 0, "read me").expect("write");
    }
    let ws = wb.add_worksheet();
    ws.set_name("Users").expect("name");
    let text = Format::new().set_num_format("@");
    let date = Format::new().set_num_format("mm/dd/yyyy");
    for (c, h) in HEADER.iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("header");
    }
    let ut = "UT_4SjjZmbPphZGKDq";
    // Row 2: a create, every cell text.
    for (c, v) in [
        "",
        "ann@x.org",
        "Ann",
        "Lee",
        "ann@x.org",
        "",
        ut,
        "active",
        "12/31/2030",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string_with_format(1, c as u16, *v, &text)
            .expect("w");
    }
    // Row 3: a number as first name (no spurious .0), a date cell as expirationDate.
    for (c, v) in ["", "bo@x.org", "", "Bo", "bo@x.org", "", ut, "active"]
        .iter()
        .enumerate()
    {
        ws.write_string(2, c as u16, *v).expect("w");
    }
    ws.write_number(2, 2, 1234567.0).expect("w");
    let d = ExcelDateTime::from_ymd(2030, 3, 4).expect("date");
    ws.write_datetime_with_format(2, 8, &d, &date).expect("w");
    // Row 4: email by a formula (its cached value is read), a forbidden symbol in userName.
    for (c, v) in ["", "c!d@x.org", "Cy", "Do", "", "", ut, "disabled", ""]
        .iter()
        .enumerate()
    {
        ws.write_string(3, c as u16, *v).expect("w");
    }
    ws.write_formula(
        3,
        4,
        Formula::new("=LOWER(\"CY@X.ORG\")").set_result("cy@x.org"),
    )
    .expect("w");
    // Row 5: an error cell from a failed lookup, and a TRUE cell in accountStatus.
    for (c, v) in ["", "ed@x.org", "Ed", "Fu", "ed@x.org", "", ut, "", ""]
        .iter()
        .enumerate()
    {
        ws.write_string(4, c as u16, *v).expect("w");
    }
    ws.write_formula(
        4,
        5,
        Formula::new("=VLOOKUP(1,Z1:Z2,1,0)").set_result("#N/A"),
    )
    .expect("w");
    ws.write_boolean(4, 7, true).expect("w");
    // Row 6: an update with a text-formatted id.
    for (c, v) in ["UR_0Ab3cD4eF5gH6iJ", "", "", "", "", "", "", "disabled", ""]
        .iter()
        .enumerate()
    {
        ws.write_string_with_format(5, c as u16, *v, &text)
            .expect("w");
    }
    let xlsx = dir.join("users.xlsx");
    wb.save(&xlsx).expect("saved");

    let csv = dir.join("users.csv");
    std::fs::write(
        &csv,
        format!(
            "{}\n\
             ,ann@x.org,Ann,Lee,ann@x.org,,{ut},active,12/31/2030\n\
             ,bo@x.org,1234567,Bo,bo@x.org,,{ut},active,03/04/2030\n\
             ,c!d@x.org,Cy,Do,cy@x.org,,{ut},disabled,\n\
             ,ed@x.org,Ed,Fu,ed@x.org,#N/A,{ut},TRUE,\n\
             UR_0Ab3cD4eF5gH6iJ,,,,,,,disabled,\n",
            HEADER.join(",")
        ),
    )
    .expect("csv");
    (xlsx, csv)
}

fn validate(file: &Path, report: &Path, extra: &[&str]) -> (i32, String) {
    let o = support::run(
        qusers()
            .arg("validate")
            .arg(file)
            .arg("--report")
            .arg(report)
            .args(extra),
    );
    (o.code, o.all())
}

/// Rows without the spreadsheet-only codes (S01 date cell, S02 error cell, S03 boolean).
fn without_sheet_codes(rows: Vec<Row>) -> Vec<(String, String, String)> {
    rows.into_iter()
        .map(|r| {
            let codes: Vec<&str> = r
                .codes
                .split(' ')
                .filter(|c| !c.is_empty() && !c.starts_with('S'))
                .collect();
            (r.line, r.row, codes.join(" "))
        })
        .collect()
}

#[test]
fn a_workbook_validates_like_the_csv_excel_saves() {
    let dir = tempfile::tempdir().expect("tmp");
    let (xlsx, csv) = workbook(dir.path(), false);
    let (rx, rc) = (dir.path().join("x.csv"), dir.path().join("c.csv"));
    let (code_x, out_x) = validate(&xlsx, &rx, &[]);
    let (code_c, out_c) = validate(&csv, &rc, &[]);
    assert_eq!(code_x, code_c, "{out_x}\n{out_c}");
    assert!(!out_x.contains("F02"), "{out_x}");
    let (xr, cr) = (report_rows(&rx), report_rows(&rc));
    assert_eq!(
        without_sheet_codes(xr.clone()),
        without_sheet_codes(cr.clone())
    );
    // Verdicts match except where a spreadsheet-only fact adds one.
    let outcomes: Vec<(&str, &str)> = xr
        .iter()
        .map(|r| (r.outcome.as_str(), r.codes.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ok", ""),
            ("warning", "S01"),
            ("error", "U03"),
            ("error", "A03 A04 S02 S03"),
            ("ok", ""),
        ]
    );
    assert_eq!(
        cr.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
        ["ok", "ok", "error", "error", "ok"]
    );
    // Cells named as Excel does.
    let messages: Vec<String> = read_report(&rx)
        .into_iter()
        .map(|m| m["message"].clone())
        .collect();
    assert!(
        messages[1].contains("sheet Users, cell I3"),
        "{}",
        messages[1]
    );
    assert!(messages[1].contains("03/04/2030"), "{}", messages[1]);
    assert!(
        messages[2].contains("sheet Users, cell B4"),
        "{}",
        messages[2]
    );
    assert!(
        messages[3].contains("sheet Users, cell F5"),
        "{}",
        messages[3]
    );
    assert!(messages[3].contains("#N/A"), "{}", messages[3]);
    assert!(
        messages[3].contains("sheet Users, cell H5"),
        "{}",
        messages[3]
    );
}

#[test]
fn sheet_is_chosen_by_name_and_the_first_by_default() {
    let dir = tempfile::tempdir().expect("tmp");
    let (xlsx, _) = workbook(dir.path(), true);
    let r = dir.path().join("r.csv");
    // The first sheet is the notes: not a user list.
    let (code, out) = validate(&xlsx, &r, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("F08"), "{out}");
    let (code, out) = validate(&xlsx, &r, &["--sheet", "users"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(report_rows(&r).len(), 5, "{out}");
    // Cross-row problems name their cells too.
    let dup = dir.path().join("dup.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("header");
    }
    for r in 1..3u32 {
        for (c, v) in [
            "",
            "ann@x.org",
            "Ann",
            "Lee",
            "ann@x.org",
            "",
            "UT_X",
            "",
            "",
        ]
        .iter()
        .enumerate()
        {
            ws.write_string(r, c as u16, *v).expect("w");
        }
    }
    wb.save(&dup).expect("saved");
    let (code, out) = validate(&dup, &r, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("read as a workbook (sheet Sheet1)"), "{out}");
    let m = read_report(&r);
    assert!(
        m[1]["message"]
            .contains("sheet Sheet1, cell B3: userName \"ann@x.org\" was already on line 2"),
        "{:?}",
        m[1]
    );
    let (code, out) = validate(&xlsx, &r, &["--sheet", "Nope"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("\"Notes\", \"Users\""), "{out}");
}

#[test]
fn fix_and_split_read_workbooks() {
    let dir = tempfile::tempdir().expect("tmp");
    let (xlsx, _) = workbook(dir.path(), false);
    let fixed = dir.path().join("fixed.csv");
    let o = support::run(qusers().arg("fix").arg(&xlsx).arg("-o").arg(&fixed));
    assert_eq!(o.code, 1, "{}", o.stdout);
    let stdout = o.stdout.as_str();
    assert!(
        stdout
            .contains("read the sheet Users of the workbook; 1 date cell(s) written as MM/DD/YYYY"),
        "{stdout}"
    );
    assert!(stdout.contains("2 error or TRUE/FALSE cell(s)"), "{stdout}");
    let text = std::fs::read_to_string(&fixed).expect("fixed");
    assert!(
        text.contains(",bo@x.org,1234567,Bo,bo@x.org,,UT_4SjjZmbPphZGKDq,active,03/04/2030\n"),
        "{text}"
    );
    assert!(
        text.contains("\nUR_0Ab3cD4eF5gH6iJ,,,,,,,disabled,\n"),
        "{text}"
    );
    let parts = dir.path().join("parts");
    let o = support::run(
        qusers()
            .arg("split")
            .arg(&xlsx)
            .arg("--out-dir")
            .arg(&parts)
            .args(["--rows", "3"]),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let part1 = std::fs::read_to_string(parts.join("users.part-001.csv")).expect("part 1");
    assert!(part1.starts_with("userID,userName,"), "{part1}");
    assert_eq!(part1.lines().count(), 4, "{part1}");
}

/// The parts of an .xlsx that say how it is formatted.
fn xlsx_part(path: &Path, name: &str) -> String {
    use std::io::Read;
    let file = std::fs::File::open(path).expect("xlsx");
    let mut zip = zip::ZipArchive::new(file).expect("a zip");
    let mut part = zip.by_name(name).expect("part");
    let mut s = String::new();
    part.read_to_string(&mut s).expect("utf8");
    s
}

/// Every column of the Users sheet is Text (number format 49, `@`), the header row frozen,
/// accountStatus a list of active/disabled.
fn assert_excel_proof(path: &Path) {
    let styles = xlsx_part(path, "xl/styles.xml");
    assert!(styles.contains("numFmtId=\"49\""), "{styles}");
    let sheet = xlsx_part(path, "xl/worksheets/sheet1.xml");
    assert!(sheet.contains("<col min=\"1\" max=\"9\""), "{sheet}");
    assert!(
        sheet.contains("ySplit=\"1\"") && sheet.contains("state=\"frozen\""),
        "{sheet}"
    );
    assert!(sheet.contains("type=\"list\""), "{sheet}");
    assert!(sheet.contains("sqref=\"H2:H1048576\""), "{sheet}");
    assert!(sheet.contains("\"active,disabled\""), "{sheet}");
}

#[test]
fn template_workbook_is_text_formatted_with_rules() {
    use calamine::{open_workbook_auto, Data, Reader};
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("t.xlsx");
    let o = support::run(qusers().args(["template", "-o"]).arg(&path));
    assert_eq!(Some(o.code), Some(0));
    let mut wb = open_workbook_auto(&path).expect("calamine opens it");
    assert_eq!(wb.sheet_names(), ["Users", "Rules"]);
    let users = wb.worksheet_range("Users").expect("users");
    let header: Vec<Data> = users.rows().next().expect("header").to_vec();
    assert_eq!(
        header,
        HEADER
            .iter()
            .map(|h| Data::String(h.to_string()))
            .collect::<Vec<_>>()
    );
    let rules = wb.worksheet_range("Rules").expect("rules");
    assert!(rules
        .rows()
        .any(|r| r.first() == Some(&Data::String("U03".into()))));
    assert_excel_proof(&path);
    // It validates as the CSV template does: a header and no rows.
    let r = dir.path().join("r.csv");
    let (code, out) = validate(&path, &r, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("F13"), "{out}");
}

#[test]
fn export_workbook_imports_back_with_no_change() {
    use calamine::{open_workbook_auto, Data, Reader};
    use qusers::sim::{self, SimConfig};
    let dir = tempfile::tempdir().expect("tmp");
    let h = sim::spawn(SimConfig {
        demo_users: 40,
        ..SimConfig::default()
    })
    .expect("sim");
    let path = dir.path().join("e.xlsx");
    let o = support::run(
        qusers()
            .args(["export", "--for-update", "--base-url", &h.url(), "-o"])
            .arg(&path)
            .env("QUALTRICS_API_TOKEN", h.token()),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_excel_proof(&path);
    let mut wb = open_workbook_auto(&path).expect("calamine opens it");
    let users = wb.worksheet_range("Users").expect("users");
    assert_eq!(users.height(), 42, "header, admin and 40 users");
    assert!(users
        .used_cells()
        .all(|(_, _, c)| matches!(c, Data::String(_))));

    let report = dir.path().join("import.csv");
    let o = support::run(
        qusers()
            .args(["import", "--yes", "--base-url", &h.url(), "--report"])
            .arg(&report)
            .arg(&path)
            .env("QUALTRICS_API_TOKEN", h.token()),
    );
    let out = o.stdout.clone();
    assert_eq!(o.code, 0, "{out}{}", o.stderr);
    let rows = read_report(&report);
    assert_eq!(rows.len(), 41, "{out}");
    assert!(rows.iter().all(|r| r["outcome"] == "unchanged"), "{rows:?}");
    let stats = h.stats();
    assert_eq!(stats.writes, 0);
    assert_eq!(stats.requests.get("POST /users"), None);
}
