//! `qusers fix` and `qusers split` as an admin uses them: what fix repairs no longer shows up
//! in validate, fix is idempotent and never touches its input; split's parts are within the
//! limits and hold the input's data rows byte for byte.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use support::{fixture, qusers};

/// The rule codes validate reports for a file (file- and row-level).
fn codes(path: &Path) -> BTreeSet<String> {
    codes_with(path, &[])
}

fn codes_with(path: &Path, extra: &[&str]) -> BTreeSet<String> {
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(path)
            .args(["--format", "json"])
            .args(extra),
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let f = &v["files"][0];
    let mut set = BTreeSet::new();
    for p in f["file_problems"].as_array().expect("array") {
        set.insert(p["code"].as_str().expect("code").to_string());
    }
    for r in f["rules"].as_array().expect("array") {
        set.insert(r["code"].as_str().expect("code").to_string());
    }
    set
}

fn fix(input: &Path, output: &Path, extra: &[&str]) -> (i32, String) {
    let out = support::run(
        qusers()
            .arg("fix")
            .arg(input)
            .arg("-o")
            .arg(output)
            .args(extra),
    );
    (out.code, out.stdout.clone())
}

/// The flags a fixture is validated and fixed with (`sso_*`: an SSO brand).
fn flags_for(name: &str) -> &'static [&'static str] {
    if name.starts_with("sso_") {
        &["--sso-brand", "univ"]
    } else {
        &[]
    }
}

/// (fixture, the fixable codes it breaks, whether the fixed copy validates with no error)
const CASES: &[(&str, &[&str], bool)] = &[
    ("utf16_unicode_text.tsv", &["F03"], true),
    ("semicolon_excel.csv", &["F04", "F05", "D01"], true),
    ("columns_out_of_order.csv", &["F10"], true),
    ("header_case_spacing.csv", &["F11"], true),
    ("export_with_name_columns.csv", &["F12"], true),
    ("iso_dates.csv", &["D03"], true),
    ("sso_create.csv", &["U06"], true),
    (
        "messy_cells.csv",
        &["R04", "R05", "R06", "R08", "A05"],
        true,
    ),
    ("fixable_cells.csv", &["A05", "D03", "D06", "W01"], true),
    ("every_row_rule.csv", &["A05", "D03", "D06", "W01"], false),
    ("sep_line_excel.csv", &["F16"], true),
    ("mixed_encoding.csv", &["F04", "F19"], true),
];

#[test]
fn every_fixable_code_is_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut covered = BTreeSet::new();
    for (name, fixed_codes, clean) in CASES {
        let input = fixture(name);
        let before = codes_with(&input, flags_for(name));
        let out = dir.path().join(format!("fixed-{name}"));
        let original = std::fs::read(&input).expect("read");
        let (code, stdout) = fix(&input, &out, flags_for(name));
        assert_eq!(
            std::fs::read(&input).expect("read"),
            original,
            "{name} untouched"
        );
        assert_eq!(code, if *clean { 0 } else { 1 }, "{name}: {stdout}");
        let after = codes_with(&out, flags_for(name));
        for c in *fixed_codes {
            assert!(before.contains(*c), "{name} breaks {c} before");
            assert!(
                !after.contains(*c),
                "{name} still breaks {c} after: {after:?}"
            );
            covered.insert(c.to_string());
        }
    }
    let fixable: BTreeSet<String> = qusers::rules::RULES
        .iter()
        .filter(|r| r.fixable)
        .map(|r| r.id.to_string())
        .collect();
    assert!(
        fixable.is_subset(&covered),
        "no fixture for {:?}",
        fixable.difference(&covered).collect::<Vec<_>>()
    );
}

#[test]
fn fix_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, _, _) in CASES {
        let once = dir.path().join(format!("1-{name}"));
        let twice = dir.path().join(format!("2-{name}"));
        fix(&fixture(name), &once, flags_for(name));
        let (_, stdout) = fix(&once, &twice, flags_for(name));
        assert_eq!(
            std::fs::read(&once).expect("once"),
            std::fs::read(&twice).expect("twice"),
            "{name}"
        );
        assert!(stdout.contains(" 0 cells changed"), "{name}: {stdout}");
    }
}

#[test]
fn what_changed_is_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stdout) = fix(
        &fixture("fixable_cells.csv"),
        &dir.path().join("f.csv"),
        &[],
    );
    assert_eq!(code, 0, "{stdout}");
    for want in [
        "line 2, accountStatus: \"Enabled\" → \"active\"",
        "line 3, expirationDate: \"7/4/2031\" → \"07/04/2031\"",
        "line 4, expirationDate: \"2031-12-31\" → \"12/31/2031\"",
        "line 4, firstName: \"Lena \" → \"Lena\"",
        "the copy validates",
    ] {
        assert!(stdout.contains(want), "{want}\n{stdout}");
    }
}

#[test]
fn day_first_is_never_guessed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = fixture("day_first_dates.csv");
    let plain = dir.path().join("plain.csv");
    let (code, _) = fix(&input, &plain, &[]);
    assert_eq!(
        code, 1,
        "31/12/2031 stays: it could only be fixed by guessing"
    );
    let text = std::fs::read_to_string(&plain).expect("read");
    assert!(text.contains("31/12/2031") && text.contains("03/04/2032"));
    let declared = dir.path().join("declared.csv");
    let (code, _) = fix(&input, &declared, &["--day-first"]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&declared).expect("read");
    assert!(
        text.contains("12/31/2031") && text.contains("04/03/2032"),
        "{text}"
    );
}

#[test]
fn fix_refuses_to_overwrite_its_input_and_writes_tsv_and_bom() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("in.csv");
    std::fs::copy(fixture("fixable_cells.csv"), &copy).expect("copy");
    let (code, _) = fix(&copy, &copy, &[]);
    assert_eq!(code, 2);
    assert_eq!(
        std::fs::read(&copy).expect("read"),
        std::fs::read(fixture("fixable_cells.csv")).expect("read")
    );
    let tsv = dir.path().join("out.tsv");
    assert_eq!(fix(&copy, &tsv, &["--bom"]).0, 0);
    let bytes = std::fs::read(&tsv).expect("read");
    assert!(bytes.starts_with(b"\xEF\xBB\xBFuserID\tuserName\t"));
    qusers().arg("validate").arg(&tsv).assert().code(0);
}

fn generate(path: &Path, rows: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    qusers::fake::write_users(&mut f, rows, 17).expect("generate");
}

/// The data rows of a file: everything after its first line, as bytes.
fn data_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read");
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .expect("a header line");
    bytes[nl + 1..].to_vec()
}

fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

#[test]
fn split_a_quarter_million_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("everyone.csv");
    generate(&input, 250_000);
    let out_dir = dir.path().join("parts");
    let out = support::run(
        qusers()
            .arg("split")
            .arg(&input)
            .arg("--out-dir")
            .arg(&out_dir),
    );
    assert_eq!(Some(out.code), Some(0));
    let stdout = out.stdout.as_str();
    assert!(stdout.contains("250,000 data rows in 3 parts"), "{stdout}");
    let parts = parts(&out_dir);
    assert_eq!(
        parts
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        [
            "everyone.part-001.csv",
            "everyone.part-002.csv",
            "everyone.part-003.csv"
        ]
    );
    let mut joined = Vec::new();
    let header = std::fs::read(&input).expect("read");
    let header = &header[..header.iter().position(|&b| b == b'\n').expect("nl") + 1];
    for p in &parts {
        let c = codes(p);
        assert!(
            !c.contains("F06") && !c.contains("F07"),
            "{}: {c:?}",
            p.display()
        );
        assert!(std::fs::read(p).expect("read").starts_with(header));
        joined.extend(data_bytes(p));
    }
    assert!(
        joined == data_bytes(&input),
        "the parts' data rows are the input's, byte for byte"
    );
}

#[test]
fn split_smaller_parts_never_cuts_a_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("p");
    let out = support::run(
        qusers()
            .arg("split")
            .arg(fixture("multiline_record.csv"))
            .arg("--out-dir")
            .arg(&out_dir)
            .args(["--rows", "1"]),
    );
    assert_eq!(Some(out.code), Some(0));
    let parts = parts(&out_dir);
    assert_eq!(parts.len(), 4);
    let second = std::fs::read_to_string(&parts[1]).expect("read");
    assert!(
        second.contains("\"Charles\nBabbage\""),
        "the quoted line break stays in one part: {second}"
    );
    // A second run does not overwrite the parts.
    let again = support::run(
        qusers()
            .arg("split")
            .arg(fixture("multiline_record.csv"))
            .arg("--out-dir")
            .arg(&out_dir),
    );
    assert_eq!(Some(again.code), Some(2));
    let mut joined = Vec::new();
    for p in &parts {
        joined.extend(data_bytes(p));
    }
    assert_eq!(joined, data_bytes(&fixture("multiline_record.csv")));
}
