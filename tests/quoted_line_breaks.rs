//! Issue 19, item 6 (the parts about reading records): `fix` exits 1 when its copy lacks an
//! input record; a well-formed multi-line cell is R02 (a line break in a field), R10 only a
//! quote that never closes; a CRLF inside a quoted cell stays as the file had it.

use crate::support;

use support::{qusers, HEADER};

const TAIL: &str = ",UT_4SjjZmbPphZGKDq,active,";

fn row(name: &str, first: &str) -> String {
    format!(",{name}@uni.edu,{first},Smith,{name}@uni.edu,{TAIL}")
}

#[test]
fn fix_exits_1_when_the_copy_lacks_a_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("long.csv");
    let mut text = format!("{HEADER}\n{}\n", row("anna", "Anna"));
    // Line 3: longer than a record may be (1 MiB).
    text.push_str(&row("long", &"x".repeat(1_200_000)));
    text.push('\n');
    text.push_str(&row("carl", "Carl"));
    text.push('\n');
    std::fs::write(&input, &text).expect("write");
    let copy = dir.path().join("fixed.csv");
    let out = qusers()
        .arg("fix")
        .arg(&input)
        .arg("-o")
        .arg(&copy)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("the copy lacks input line(s) 3"),
        "{stdout}"
    );
    let fixed = std::fs::read_to_string(&copy).expect("copy written");
    assert!(fixed.contains("anna@uni.edu") && fixed.contains("carl@uni.edu"));
    assert!(!fixed.contains("long@uni.edu"));

    // JSON says it too.
    let out = qusers()
        .arg("fix")
        .arg(&input)
        .arg("-o")
        .arg(&copy)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["changes"]["lost_lines"], serde_json::json!([3]));
}

#[test]
fn a_well_formed_multi_line_cell_is_r02_not_r10() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("multi.csv");
    let text = format!(
        "{HEADER}\n{}\n,bo@uni.edu,\"Bo\nJo\",Smith,bo@uni.edu,{TAIL}\n{}\n,\"dan@uni.edu,Dan,Smith,dan@uni.edu,{TAIL}\n{}\n",
        row("anna", "Anna"),
        row("carl", "Carl"),
        row("eve", "Eve"),
    );
    std::fs::write(&input, &text).expect("write");
    let report = dir.path().join("r.csv");
    let out = qusers()
        .arg("validate")
        .arg(&input)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows = support::read_report(&report);
    let by_line = |l: &str| {
        rows.iter()
            .find(|r| r["line"] == l)
            .unwrap_or_else(|| panic!("line {l}: {rows:?}"))
            .clone()
    };
    // The multi-line cell: R02 names the lines read into it; no R10.
    let multi = by_line("3");
    assert_eq!(multi["codes"], "R02", "{multi:?}");
    assert!(
        multi["message"].contains("line 4 was read into one cell"),
        "{multi:?}"
    );
    // The rows after it keep their physical lines.
    assert_eq!(by_line("5")["codes"], "");
    // A quote that never closes is R10, and the lines after it are rows of their own.
    assert_eq!(by_line("6")["codes"], "R10");
    assert_eq!(by_line("7")["codes"], "");
}

#[test]
fn crlf_inside_a_quoted_cell_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("crlf.csv");
    // An Excel (CRLF) file with an extra column whose cell holds a CRLF of its own.
    let header = format!("{HEADER},note");
    let text = format!(
        "{header}\r\n{},one\r\n{},\"two\r\nlines\"\r\n{},three\r\n",
        row("anna", "Anna"),
        row("bob", "Bob"),
        row("carl", "Carl"),
    );
    std::fs::write(&input, &text).expect("write");
    let copy = dir.path().join("fixed.csv");
    let out = qusers()
        .arg("fix")
        .arg(&input)
        .arg("-o")
        .arg(&copy)
        .output()
        .expect("runs");
    let fixed = std::fs::read(&copy).expect("copy");
    let fixed = String::from_utf8_lossy(&fixed);
    assert!(fixed.contains("\"two\r\nlines\""), "{fixed:?} {out:?}");
    // And the rows after it are on their own lines.
    let report = dir.path().join("r.csv");
    qusers()
        .arg("validate")
        .arg(&input)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("runs");
    let rows = support::read_report(&report);
    let carl = rows
        .iter()
        .find(|r| r["userName"] == "carl@uni.edu")
        .expect("carl");
    assert_eq!(carl["line"], "5", "{rows:?}");
}
