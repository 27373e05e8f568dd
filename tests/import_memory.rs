//! `qusers import` of files at and past Qualtrics' limits: a file refused at the file level is
//! reported whole (its file-level problem, then every row skipped, in order) although the
//! importer no longer holds its rows; a file at the row limit is still planned row by row.
//! (What these cost in memory is measured by `examples/import_memory.rs` and in the README,
//! not asserted here.)

use crate::support;

use std::io::Write;
use std::path::Path;

use support::{qusers, read_report, HEADER};

/// A file of `rows` small, valid create rows (short enough that 100,000 stay under 20 MB).
fn write_creates(path: &Path, header: &str, rows: u64) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    writeln!(w, "{header}").expect("write");
    for i in 1..=rows {
        writeln!(w, ",u{i}@x.org,Ann,Lee,u{i}@x.org,,{TYPE},active,").expect("write");
    }
    w.flush().expect("flush");
}

/// The user type the instance export knows.
const TYPE: &str = "UT_4SjjZmbPphZGKDq";

fn dry_run(dir: &Path, file: &Path, report: &Path) -> std::process::Output {
    qusers()
        .arg("import")
        .arg(file)
        .arg("--existing")
        .arg(support::fixture("existing_export.csv"))
        .args(["--dry-run", "--quiet", "--report"])
        .arg(report)
        .current_dir(dir)
        .output()
        .expect("runs")
}

#[test]
fn a_file_past_the_row_limit_is_refused_and_every_row_is_reported_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.csv");
    // 100,001 data rows: past the limit only once 99,999 rows were read (and held).
    let rows = 100_001u64;
    write_creates(&file, HEADER, rows);
    let report = dir.path().join("big.report.csv");
    let out = dry_run(dir.path(), &file, &report);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("F07"), "{stdout}");
    assert!(
        stdout.contains(&format!("{} skipped", "100,001")),
        "{stdout}"
    );

    let report = read_report(&report);
    // The file-level row first (no row number), then every data row once, in order.
    let file_rows: Vec<_> = report.iter().filter(|r| r["row"].is_empty()).collect();
    assert_eq!(file_rows.len(), 1, "{file_rows:?}");
    assert_eq!(file_rows[0]["codes"], "F07");
    assert_eq!(file_rows[0]["outcome"], "invalid");
    assert!(report[0]["row"].is_empty(), "{:?}", report[0]);
    let data: Vec<_> = report.iter().filter(|r| !r["row"].is_empty()).collect();
    assert_eq!(data.len() as u64, rows);
    for (i, r) in data.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(r["row"], n.to_string(), "{r:?}");
        assert_eq!(r["line"], (n + 1).to_string(), "{r:?}");
        assert_eq!(r["outcome"], "skipped", "{r:?}");
        assert_eq!(r["userName"], format!("u{n}@x.org"), "{r:?}");
        assert_eq!(r["action"], "create", "{r:?}");
        assert_eq!(
            r["message"], "not imported: the file has file-level errors",
            "{r:?}"
        );
    }
    // The failed file holds every row, ready to split and import again.
    let failed = read_report(&dir.path().join("big.report.failed.csv"));
    assert_eq!(failed.len() as u64, rows);
    assert_eq!(failed[0]["userName"], "u1@x.org");
    assert_eq!(failed[99_999]["userName"], "u100000@x.org");
}

#[test]
fn a_file_refused_by_its_header_reports_each_row_with_its_own_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("users.csv");
    // No userName column (F-error on opening, before any row): the rows are still reported.
    let header = HEADER.replace("userName,", "");
    std::fs::write(
        &file,
        format!(
            "{header}\n,Ann,Lee,ann@x.org,,{TYPE},,\n,,,,,,,\nUR_nope,Bo,Li,bo@x.org,,,,\n,Cy,Wu,cy@x.org,,{TYPE},,\n"
        ),
    )
    .expect("write");
    let report = dir.path().join("r.csv");
    let out = dry_run(dir.path(), &file, &report);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("file-level") || stdout.contains("F0"),
        "{stdout}"
    );

    let report = read_report(&report);
    let file_rows: Vec<_> = report.iter().filter(|r| r["row"].is_empty()).collect();
    assert!(
        file_rows.iter().any(|r| r["outcome"] == "invalid"),
        "{file_rows:?}"
    );
    let data: Vec<_> = report.iter().filter(|r| !r["row"].is_empty()).collect();
    let got: Vec<(&str, &str, &str)> = data
        .iter()
        .map(|r| {
            (
                r["row"].as_str(),
                r["action"].as_str(),
                r["outcome"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("1", "create", "skipped"),
            ("2", "create", "skipped"),
            ("3", "update", "skipped"),
            ("4", "create", "skipped"),
        ]
    );
    // Each row keeps its own findings after the reason it was skipped: the empty row is R03.
    assert!(data[1]["codes"].contains("R03"), "{:?}", data[1]);
    assert!(
        data[1]["message"].starts_with("not imported: the file has file-level errors; "),
        "{:?}",
        data[1]
    );
    assert_eq!(data[2]["userID"], "UR_nope");
    // The failed file has the rows to fix, the empty one left out.
    let failed = read_report(&dir.path().join("r.failed.csv"));
    let emails: Vec<&str> = failed.iter().map(|r| r["email"].as_str()).collect();
    assert_eq!(emails, ["ann@x.org", "bo@x.org", "cy@x.org"]);
}

#[test]
fn a_file_at_the_row_limit_is_planned_row_by_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("max.csv");
    // The most Qualtrics takes: 99,998 data rows and the header.
    let rows = 99_998u64;
    write_creates(&file, HEADER, rows);
    let report = dir.path().join("max.report.csv");
    let out = dry_run(dir.path(), &file, &report);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("99,998 planned"), "{stdout}");
    assert!(stdout.contains("plan: 99998 create"), "{stdout}");

    let report = read_report(&report);
    assert_eq!(report.len() as u64, rows, "no file-level row");
    for (i, r) in report.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(r["row"], n.to_string(), "{r:?}");
        assert_eq!(r["outcome"], "planned", "{r:?}");
        assert_eq!(r["userName"], format!("u{n}@x.org"), "{r:?}");
        assert!(
            r["changes"].starts_with(&format!("userName: u{n}@x.org; firstName: Ann")),
            "{r:?}"
        );
    }
}

#[test]
fn a_refused_file_read_again_in_another_encoding_reports_each_row_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("latin1.csv");
    // No userName column: refused on opening. A byte that is not UTF-8 a megabyte into the
    // file (past the first blocks, whose rows were written aside already) makes the whole file
    // be read again as Windows-1252: those rows are forgotten, not reported twice.
    let header = HEADER.replace("userName,", "");
    let rows = 30_000u64;
    let mut bytes = format!("{header}\n").into_bytes();
    for i in 1..=rows {
        let first: &[u8] = if i == 20_000 { b"Ren\xe9" } else { b"Ann" };
        bytes.extend_from_slice(b",");
        bytes.extend_from_slice(first);
        bytes.extend_from_slice(format!(",Lee,u{i}@x.org,,{TYPE},active,\n").as_bytes());
    }
    std::fs::write(&file, bytes).expect("write");
    let report = dir.path().join("r.csv");
    let out = dry_run(dir.path(), &file, &report);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    let report = read_report(&report);
    let data: Vec<_> = report.iter().filter(|r| !r["row"].is_empty()).collect();
    assert_eq!(data.len() as u64, rows);
    for (i, r) in data.iter().enumerate() {
        assert_eq!(r["row"], (i as u64 + 1).to_string(), "{r:?}");
        assert_eq!(r["outcome"], "skipped", "{r:?}");
    }
    let failed = read_report(&dir.path().join("r.failed.csv"));
    assert_eq!(failed.len() as u64, rows);
    assert_eq!(failed[19_999]["firstName"], "René");
    assert_eq!(failed[19_999]["email"], "u20000@x.org");
}
