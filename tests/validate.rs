//! `qusers validate` on every fixture: exit code and the exact report rows.

use crate::support;

use std::collections::BTreeSet;

use support::{fixture, qusers, report_rows, row, Row};

/// Runs validate with a CSV report; returns (exit code, rows, stdout).
fn validate(name: &str, extra: &[&str]) -> (i32, Vec<Row>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report.csv");
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(fixture(name))
            .arg("--report")
            .arg(&report)
            .args(extra),
    );
    let code = out.code;
    (code, report_rows(&report), out.stdout.clone())
}

#[test]
fn valid_create_file() {
    let (code, rows, stdout) = validate("valid_create.csv", &[]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        rows,
        vec![
            row("2", "1", "ok", ""),
            row("3", "2", "ok", ""),
            row("4", "3", "ok", ""),
            row("5", "4", "ok", "")
        ]
    );
    assert!(stdout.contains(": valid\n"), "{stdout}");
}

#[test]
fn valid_update_file_against_its_instance() {
    let existing = fixture("existing_export.csv");
    let (code, rows, _) = validate(
        "valid_update.csv",
        &["--existing", existing.to_str().expect("utf8 path")],
    );
    assert_eq!(code, 0);
    assert_eq!(
        rows,
        vec![
            row("2", "1", "ok", ""),
            row("3", "2", "ok", ""),
            row("4", "3", "ok", "")
        ]
    );
}

#[test]
fn utf8_bom_with_non_ascii_names_reads_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("r.csv");
    qusers()
        .args(["validate"])
        .arg(fixture("utf8_bom_non_ascii.csv"))
        .arg("--report")
        .arg(&report)
        .assert()
        .code(0);
    let rows = support::read_report(&report);
    let names: Vec<&str> = rows.iter().map(|r| r["userName"].as_str()).collect();
    assert_eq!(
        names,
        [
            "jose.munoz@univ.edu",
            "zoe.krueger@univ.edu",
            "ying.chen@univ.edu",
            "bjorn.asgeirsson@univ.edu"
        ]
    );
    assert!(rows
        .iter()
        .all(|r| r["outcome"] == "ok" && r["line"] != "1"));
}

#[test]
fn utf16_unicode_text_is_decoded_with_a_warning() {
    let (code, rows, stdout) = validate("utf16_unicode_text.tsv", &[]);
    assert_eq!(code, 0);
    assert_eq!(
        rows,
        vec![
            row("", "", "warning", "F03"),
            row("2", "1", "ok", ""),
            row("3", "2", "ok", ""),
            row("4", "3", "ok", "")
        ]
    );
    assert!(stdout.contains("UTF-16 LE"), "{stdout}");
    assert!(stdout.contains("tab-delimited"), "{stdout}");
}

#[test]
fn german_excel_semicolons_are_named_and_rows_still_checked() {
    let (code, rows, stdout) = validate("semicolon_excel.csv", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        rows,
        vec![
            row("2", "", "warning", "F04"),
            row("1", "", "error", "F05"),
            row("2", "1", "ok", ""),
            row("3", "2", "error", "D01"),
            row("4", "3", "ok", ""),
        ]
    );
    assert!(stdout.contains("semicolons"), "{stdout}");
    assert!(stdout.contains("European Excel"), "{stdout}");
    assert!(stdout.contains("qusers fix"), "{stdout}");
    assert!(stdout.contains("Windows-1252"), "{stdout}");
}

#[test]
fn semicolon_file_with_explicit_delimiter_is_clean_of_f05() {
    let (code, rows, _) = validate("semicolon_excel.csv", &["--delimiter", ";"]);
    assert_eq!(code, 1, "the date is still wrong");
    assert!(!rows.iter().any(|r| r.codes == "F05"));
}

#[test]
fn export_with_name_columns_left_in() {
    let (code, rows, stdout) = validate("export_with_name_columns.csv", &[]);
    assert_eq!(code, 1);
    assert_eq!(rows[0], row("1", "", "error", "F12"));
    assert_eq!(rows.len(), 5);
    assert!(rows[1..].iter().all(|r| r.outcome == "ok"));
    assert!(stdout.contains("Division Name"), "{stdout}");
    assert!(stdout.contains("qusers fix"), "{stdout}");
}

#[test]
fn multi_line_record_keeps_physical_lines() {
    let (code, rows, stdout) = validate("multiline_record.csv", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        rows,
        vec![
            row("2", "1", "ok", ""),
            row("3", "2", "error", "R02"),
            row("5", "3", "ok", ""),
            row("6", "4", "error", "U03")
        ]
    );
    assert!(stdout.contains("line 3 (row 2)"), "{stdout}");
}

#[test]
fn iso_dates_are_named_with_the_fix() {
    let (code, rows, stdout) = validate("iso_dates.csv", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        rows,
        vec![row("2", "1", "error", "D03"), row("3", "2", "error", "D03")]
    );
    assert!(stdout.contains("write 12/31/2099"), "{stdout}");
}

#[test]
fn every_row_rule_fixture() {
    let (code, rows, _) = validate("every_row_rule.csv", &[]);
    assert_eq!(code, 1);
    let want = [
        ("2", "ok", ""),
        ("3", "error", "R01"),
        ("4", "error", "R02"),
        ("5", "warning", "R03"),
        ("6", "error", "U01"),
        ("7", "error", "U02"),
        ("8", "error", "U03"),
        ("9", "error", "U04"),
        ("10", "error", "I01"),
        ("11", "ok", ""),
        ("12", "error", "I02"),
        ("13", "error", "N01"),
        ("14", "error", "N02"),
        ("15", "error", "N03"),
        ("16", "error", "N04"),
        ("17", "error", "N05"),
        ("18", "error", "A01"),
        ("19", "error", "A02"),
        ("20", "error", "A03"),
        ("21", "error", "A04"),
        ("22", "warning", "A05"),
        ("23", "error", "D01"),
        ("24", "error", "D02"),
        ("25", "error", "D03"),
        ("26", "error", "D04"),
        ("27", "warning", "D05"),
        ("28", "error", "D06"),
        ("29", "warning", "W01"),
    ];
    let want: Vec<Row> = want
        .iter()
        .enumerate()
        .map(|(i, (line, outcome, codes))| row(line, &(i + 1).to_string(), outcome, codes))
        .collect();
    assert_eq!(rows, want);
}

#[test]
fn strict_turns_warnings_into_errors() {
    let (code, _, _) = validate("utf16_unicode_text.tsv", &["--strict"]);
    assert_eq!(code, 1);
}

#[test]
fn instance_conflicts_with_existing_export() {
    let existing = fixture("existing_export.csv");
    let (code, rows, _) = validate(
        "instance_conflicts.csv",
        &["--existing", existing.to_str().expect("utf8")],
    );
    assert_eq!(code, 1);
    assert_eq!(
        rows,
        vec![
            row("2", "1", "error", "U05"),
            row("3", "2", "error", "I03"),
            row("4", "3", "warning", "A06"),
            row("5", "4", "warning", "A07"),
            row("6", "5", "warning", "W02"),
            row("7", "6", "warning", "W03"),
        ]
    );
}

#[test]
fn header_fixtures() {
    type Expected<'a> = &'a [(&'a str, &'a str, &'a str, &'a str)];
    let cases: &[(&str, i32, Expected)] = &[
        ("empty.csv", 1, &[("", "", "error", "F01")]),
        ("excel_workbook.xlsx", 1, &[("", "", "error", "F02")]),
        (
            "missing_column.csv",
            1,
            &[("1", "", "error", "F08"), ("2", "1", "ok", "")],
        ),
        (
            "extra_column.csv",
            1,
            &[("1", "", "error", "F09"), ("2", "1", "ok", "")],
        ),
        (
            "columns_out_of_order.csv",
            1,
            &[("1", "", "error", "F10"), ("2", "1", "ok", "")],
        ),
        (
            "header_case_spacing.csv",
            1,
            &[("1", "", "error", "F11"), ("2", "1", "ok", "")],
        ),
        ("header_only.csv", 0, &[("", "", "warning", "F13")]),
        (
            "no_header.csv",
            1,
            &[
                ("1", "", "error", "F14"),
                ("1", "1", "ok", ""),
                ("2", "2", "ok", ""),
            ],
        ),
    ];
    for (name, want_code, want_rows) in cases {
        let (code, rows, stdout) = validate(name, &[]);
        assert_eq!(code, *want_code, "{name}: {stdout}");
        let want: Vec<Row> = want_rows
            .iter()
            .map(|(l, r, o, c)| row(l, r, o, c))
            .collect();
        assert_eq!(rows, want, "{name}");
    }
}

#[test]
fn size_and_row_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header = qusers_header();
    // 99,998 data rows is the most Qualtrics takes; one more breaks F07.
    for (rows, want) in [(99_998u32, 0), (99_999, 1)] {
        let path = dir.path().join(format!("rows{rows}.csv"));
        let mut text = header.clone();
        for i in 0..rows {
            text.push_str(&format!(",u{i}@x.org,A,B,u{i}@x.org,,UT_A,active,\n"));
        }
        std::fs::write(&path, text).expect("write");
        let report = dir.path().join(format!("r{rows}.csv"));
        qusers()
            .arg("validate")
            .arg(&path)
            .arg("--report")
            .arg(&report)
            .assert()
            .code(want);
        let f07 = report_rows(&report)
            .into_iter()
            .filter(|r| r.codes == "F07")
            .count();
        assert_eq!(f07, want as usize, "{rows} rows");
    }
    // 20,000,000 bytes is too many; 19,999,999 is fine.
    for (size, want) in [(19_999_999usize, 0), (20_000_000, 1)] {
        let path = dir.path().join(format!("size{size}.csv"));
        let mut text = header.clone();
        text.push_str(",big@x.org,A,B,big@x.org,,UT_A,active,\n");
        // Blank lines of spaces (R03, a warning), each far shorter than a record may be.
        while text.len() < size {
            let pad = (size - text.len() - 1).min(999);
            text.push_str(&" ".repeat(pad));
            text.push('\n');
        }
        assert_eq!(text.len(), size);
        std::fs::write(&path, text).expect("write");
        let report = dir.path().join(format!("s{size}.csv"));
        qusers()
            .arg("validate")
            .arg(&path)
            .arg("--report")
            .arg(&report)
            .assert()
            .code(want);
        let f06 = report_rows(&report)
            .into_iter()
            .filter(|r| r.codes == "F06")
            .count();
        assert_eq!(f06, want as usize, "{size} bytes");
    }
}

fn qusers_header() -> String {
    "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n"
        .into()
}

/// Every rule code of the catalog is broken by at least one fixture (or generated file above).
#[test]
fn fixtures_cover_the_catalog() {
    let existing = fixture("existing_export.csv");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(fixture("")).expect("fixtures") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let extra: Vec<&str> = if name == "instance_conflicts.csv" {
            vec!["--existing", existing.to_str().expect("utf8")]
        } else if name.starts_with("sso_") {
            vec!["--sso-brand", "univ"]
        } else {
            vec![]
        };
        let (_, rows, _) = validate(&name, &extra);
        for r in rows {
            seen.extend(r.codes.split_whitespace().map(String::from));
        }
    }
    // F06/F07 are generated in size_and_row_limits; A08 needs the API (--check-instance);
    // F17/R09 need more than 1 MiB (tests/file_hardening.rs generates them); T01 compares
    // with the live value when an import plans (tests/text_fidelity.rs).
    let uncovered: Vec<&str> = qusers::rules::RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| {
            !seen.contains(*id) && !["F06", "F07", "A08", "F17", "R09", "T01"].contains(id)
        })
        // M rules are the sync map's (tests/sync.rs).
        .filter(|id| !id.starts_with('M'))
        .collect();
    assert!(uncovered.is_empty(), "no fixture breaks {uncovered:?}");
}

#[test]
fn several_files_each_summarised_worst_exit_code() {
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(fixture("valid_create.csv"))
            .arg(fixture("iso_dates.csv")),
    );
    assert_eq!(Some(out.code), Some(1));
    let stdout = out.stdout.as_str();
    assert!(stdout.contains("valid_create.csv: valid"), "{stdout}");
    assert!(stdout.contains("iso_dates.csv: INVALID"), "{stdout}");
}

#[test]
fn missing_file_exits_2_naming_it() {
    qusers()
        .args(["validate", "no/such/file.csv"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no/such/file.csv"));
}

#[test]
fn json_summary_and_jsonl_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("r.jsonl");
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(fixture("iso_dates.csv"))
            .args(["--format", "json", "--report"])
            .arg(&report),
    );
    assert_eq!(Some(out.code), Some(1));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    assert_eq!(v["verdict"], "invalid");
    assert_eq!(v["files"][0]["error"], 2);
    assert_eq!(v["files"][0]["rules"][0]["code"], "D03");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .expect("report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["line"], 2);
    assert_eq!(lines[0]["codes"], "D03");
}

#[test]
fn stdin_is_read_as_csv() {
    let text = std::fs::read(fixture("valid_create.csv")).expect("fixture");
    qusers()
        .args(["validate", "-"])
        .write_stdin(text)
        .assert()
        .code(0);
}

#[test]
fn rules_lists_every_code() {
    let out = support::run(qusers().args(["rules", "--format", "json"]));
    assert_eq!(Some(out.code), Some(0));
    let v: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v.len(), qusers::rules::RULES.len());
    assert!(v
        .iter()
        .all(|r| r["hint"].as_str().is_some_and(|h| !h.is_empty())));
    let text = support::run(qusers().arg("rules"));
    let text = text.stdout.as_str();
    for r in qusers::rules::RULES {
        assert!(text.contains(r.id), "{}", r.id);
    }
}

#[test]
fn template_writes_the_header_and_validates_as_header_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("t.csv");
    let tsv = dir.path().join("t.tsv");
    qusers().args(["template", "-o"]).arg(&csv).assert().code(0);
    qusers()
        .args(["template", "--tsv", "-o"])
        .arg(&tsv)
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read_to_string(&csv).expect("csv"),
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n"
    );
    assert!(std::fs::read_to_string(&tsv)
        .expect("tsv")
        .contains("userID\tuserName"));
    for p in [&csv, &tsv] {
        let out = support::run(qusers().arg("validate").arg(p));
        assert_eq!(Some(out.code), Some(0));
    }
    qusers()
        .arg("template")
        .assert()
        .code(0)
        .stdout(predicates::str::starts_with("userID,userName"));
}

#[test]
fn text_summary_snapshot() {
    let out = support::run(
        qusers()
            .arg("validate")
            .arg("semicolon_excel.csv")
            .current_dir(fixture("")),
    );
    insta::assert_snapshot!(out.stdout.as_str());
}
