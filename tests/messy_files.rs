//! The messy-file defects of issue 12 item 4 that are rules and fixes: invisible characters,
//! empty unnamed columns, a repeated header, status words of other languages, dates that fix
//! must not break, errors listed before warnings, Excel's text prefix, over-long values.

use crate::support;

use std::path::{Path, PathBuf};

use support::{qusers, read_report, report_rows, row, HEADER};

const UT: &str = "UT_4SjjZmbPphZGKDq";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// (exit code, stdout) of `validate FILE --report R`.
fn validate(file: &Path, report: &Path) -> (i32, String) {
    let o = support::run(
        qusers()
            .arg("validate")
            .arg(file)
            .arg("--report")
            .arg(report),
    );
    (o.code, o.stdout.clone())
}

/// (exit code, stdout) of `fix FILE -o OUT`.
fn fix(file: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let o = support::run(qusers().arg("fix").arg(file).arg("-o").arg(out).args(extra));
    (o.code, o.stdout.clone())
}

fn messages(report: &Path) -> Vec<String> {
    read_report(report)
        .into_iter()
        .map(|m| m["message"].clone())
        .collect()
}

#[test]
fn invisible_characters_are_named_rejected_and_removed() {
    let dir = tempfile::tempdir().expect("tmp");
    let header = HEADER.replace("email", "email\u{200b}");
    let file = write(
        dir.path(),
        "zw.csv",
        &format!(
            "{header}\n\
             ,ann\u{200b}@x.org,Ann,Lee,ann@x.org,,{UT},active,\n\
             ,bo@x.org,Mary\u{a0}Jo,Ng,bo\u{200b}@x.org,,{UT},active,\n\
             ,cy@x.org,Cy,Do,cy@x.org,,{UT},active,\n"
        ),
    );
    let report = dir.path().join("r.csv");
    let (code, out) = validate(&file, &report);
    assert_eq!(code, 1, "{out}");
    // One clear header message, not "not a template column" next to "missing column".
    assert!(
        out.contains("\"email\" (with U+200B zero-width space) → email"),
        "{out}"
    );
    assert!(!out.contains("F08") && !out.contains("F09"), "{out}");
    let rows = report_rows(&report);
    assert_eq!(rows[1], row("2", "1", "error", "R04 U02"));
    assert_eq!(rows[2], row("3", "2", "error", "R04 N05"));
    assert_eq!(rows[3], row("4", "3", "ok", ""));
    let m = messages(&report);
    assert!(
        m[1].contains("userName has U+200B zero-width space"),
        "{}",
        m[1]
    );
    assert!(
        m[2].contains("firstName has U+00A0 no-break space"),
        "{}",
        m[2]
    );

    let fixed = dir.path().join("fixed.csv");
    let (code, out) = fix(&file, &fixed, &[]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&fixed).expect("fixed");
    assert!(text.starts_with(&format!("{HEADER}\n")), "{text}");
    assert!(text.contains(",ann@x.org,Ann,"), "{text}");
    assert!(text.contains(",bo@x.org,Mary Jo,Ng,bo@x.org,"), "{text}");
    assert!(!text.contains('\u{200b}') && !text.contains('\u{a0}'));
}

#[test]
fn empty_unnamed_columns_are_dropped_by_fix() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = write(
        dir.path(),
        "trailing.csv",
        &format!("{HEADER},,,\n,ann@x.org,Ann,Lee,ann@x.org,,{UT},active,,,,\n,bo@x.org,Bo,Ng,bo@x.org,,{UT},active,,,,\n"),
    );
    let fixed = dir.path().join("fixed.csv");
    let (code, out) = fix(&file, &fixed, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("dropped 3 empty column(s) without a name (J, K, L)"),
        "{out}"
    );
    let text = std::fs::read_to_string(&fixed).expect("fixed");
    assert_eq!(
        text,
        format!("{HEADER}\n,ann@x.org,Ann,Lee,ann@x.org,,{UT},active,\n,bo@x.org,Bo,Ng,bo@x.org,,{UT},active,\n")
    );
    // A column without a name that holds something is kept (and still reported).
    let file = write(
        dir.path(),
        "data.csv",
        &format!("{HEADER},\n,ann@x.org,Ann,Lee,ann@x.org,,{UT},active,,note\n"),
    );
    let (code, _) = fix(&file, &fixed, &[]);
    assert_eq!(code, 1);
    let text = std::fs::read_to_string(&fixed).expect("fixed");
    assert!(text.contains(",note\n"), "{text}");
}

#[test]
fn a_header_repeated_inside_the_data_is_one_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = write(
        dir.path(),
        "pasted.csv",
        &format!(
            "{HEADER}\n,ann@x.org,Ann,Lee,ann@x.org,,{UT},active,\n{HEADER}\n,bo@x.org,Bo,Ng,bo@x.org,,{UT},active,\n"
        ),
    );
    let report = dir.path().join("r.csv");
    let (code, out) = validate(&file, &report);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        report_rows(&report),
        vec![
            row("2", "1", "ok", ""),
            row("3", "2", "error", "R05"),
            row("4", "3", "ok", ""),
        ]
    );
    let fixed = dir.path().join("fixed.csv");
    let (code, out) = fix(&file, &fixed, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("header line repeated inside the data (line 3)"),
        "{out}"
    );
    let text = std::fs::read_to_string(&fixed).expect("fixed");
    assert_eq!(text.matches("userID").count(), 1, "{text}");
}

#[test]
fn status_words_of_other_languages_are_hinted_and_mapped() {
    let dir = tempfile::tempdir().expect("tmp");
    let words = [
        "Aktiviert",
        "Deaktiviert",
        "Activé",
        "DÉSACTIVÉ",
        "Activo",
        "Inactivo",
        "Ativo",
        "Disattivato",
    ];
    let mut text = format!("{HEADER}\n");
    for (i, w) in words.iter().enumerate() {
        text.push_str(&format!(",u{i}@x.org,U,V,u{i}@x.org,,{UT},{w},\n"));
    }
    let file = write(dir.path(), "lang.csv", &text);
    let report = dir.path().join("r.csv");
    let (code, out) = validate(&file, &report);
    assert_eq!(code, 0, "{out}");
    assert!(report_rows(&report).iter().all(|r| r.codes == "A05"));
    let m = messages(&report);
    assert!(
        m[1].contains("\"Deaktiviert\" is read as disabled"),
        "{}",
        m[2]
    );
    let fixed = dir.path().join("fixed.csv");
    let (code, _) = fix(&file, &fixed, &[]);
    assert_eq!(code, 0);
    let statuses: Vec<String> = std::fs::read_to_string(&fixed)
        .expect("fixed")
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(7).expect("status").to_string())
        .collect();
    assert_eq!(
        statuses,
        ["active", "disabled", "active", "disabled", "active", "disabled", "active", "disabled"]
    );
}

#[test]
fn dates_fix_never_breaks_and_day_first_files_warn() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = write(
        dir.path(),
        "dates.csv",
        &format!(
            "{HEADER}\n\
             ,a@x.org,A,A,a@x.org,,{UT},,2027-13-01\n\
             ,b@x.org,B,B,b@x.org,,{UT},,29/02/2031\n\
             ,c@x.org,C,C,c@x.org,,{UT},,31/12/2031\n\
             ,d@x.org,D,D,d@x.org,,{UT},,03/04/2032\n"
        ),
    );
    let report = dir.path().join("r.csv");
    let (code, out) = validate(&file, &report);
    assert_eq!(code, 1, "{out}");
    let rows = report_rows(&report);
    let codes: Vec<&str> = rows.iter().map(|r| r.codes.as_str()).collect();
    assert_eq!(codes, ["D02", "D02", "D04", "", "F15"], "{out}");
    assert!(out.contains("03/04/2032 (line 5)"), "{out}");
    let fixed = dir.path().join("fixed.csv");
    fix(&file, &fixed, &[]);
    let text = std::fs::read_to_string(&fixed).expect("fixed");
    assert!(text.contains(",2027-13-01\n"), "left for a person: {text}");
    assert!(!text.contains("13/01/2027"), "{text}");
    assert!(text.contains(",29/02/2031\n"), "{text}");
}

#[test]
fn errors_are_listed_before_warnings() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = write(
        dir.path(),
        "mixed.csv",
        &format!(
            "{HEADER}\n,a@x.org,A,A,a@x.org,,{UT},enabled,\n,b@x.org,B,B,b@x.org,,{UT},,2027-1-32\n"
        ),
    );
    let (code, out) = validate(&file, &dir.path().join("r.csv"));
    assert_eq!(code, 1, "{out}");
    let a05 = out.find("A05 warning").expect("A05 listed");
    let d0x = out.find(" error ").expect("an error rule listed");
    assert!(d0x < a05, "{out}");
}

#[test]
fn excel_text_prefix_is_named_and_removed() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = write(
        dir.path(),
        "prefix.csv",
        &format!("{HEADER}\n'UR_0Ab3cD4eF5gH6iJ,,,,,,,'disabled,\n,'ann@x.org,O'Neil,Lee,ann@x.org,,{UT},,\n"),
    );
    let report = dir.path().join("r.csv");
    let (code, out) = validate(&file, &report);
    assert_eq!(code, 1, "{out}");
    let rows = report_rows(&report);
    assert!(rows[0].codes.contains("R06"), "{rows:?}");
    assert_eq!(rows[1].codes, "R06", "{rows:?}");
    let m = messages(&report);
    assert!(m[0].contains("userID \"'UR_0Ab3cD4eF5gH6iJ\""), "{}", m[0]);
    assert!(m[0].contains("Excel's text prefix"), "{}", m[0]);
    let fixed = dir.path().join("fixed.csv");
    let (code, out) = fix(&file, &fixed, &[]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&fixed).expect("fixed");
    assert!(
        text.contains("\nUR_0Ab3cD4eF5gH6iJ,,,,,,,disabled,\n"),
        "{text}"
    );
    assert!(text.contains("\n,ann@x.org,O'Neil,"), "{text}");
}

#[test]
fn over_long_values_are_errors_naming_the_length() {
    let dir = tempfile::tempdir().expect("tmp");
    let long = "é".repeat(256);
    let fits = "é".repeat(255);
    let file = write(
        dir.path(),
        "long.csv",
        &format!(
            "{HEADER}\n,a@x.org,{long},A,a@x.org,,{UT},,\n,b@x.org,{fits},B,b@x.org,,{UT},,\n"
        ),
    );
    let report = dir.path().join("r.csv");
    let (code, _) = validate(&file, &report);
    assert_eq!(code, 1);
    let rows = report_rows(&report);
    assert_eq!(rows[0], row("2", "1", "error", "R07"));
    assert_eq!(rows[1], row("3", "2", "ok", ""));
    assert!(
        messages(&report)[0].contains("firstName has 256 characters; Qualtrics holds at most 255")
    );
}

/// What Excel does to a UTF-8 CSV without a byte-order mark: reads it as Windows-1252, and
/// "Save as CSV UTF-8" writes what it read.
fn excel_round_trip(utf8: &str) -> String {
    let (decoded, _, _) = encoding_rs::WINDOWS_1252.decode(utf8.as_bytes());
    decoded.into_owned()
}

#[test]
fn mojibake_is_named_and_fix_restores_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let original = format!(
        "{HEADER}\n\
         ,lena.kruger@x.org,Lena,Krüger,lena.kruger@x.org,,{UT},active,\n\
         ,bjorn@x.org,Björn,Åström,bjorn@x.org,,{UT},active,\n\
         ,svet@x.org,Свет,Иванова,svet@x.org,,{UT},active,\n\
         ,plain@x.org,Ann,Lee,plain@x.org,,{UT},active,\n"
    );
    let garbled = excel_round_trip(&original);
    assert!(garbled.contains("KrÃ¼ger") && garbled.contains("Ð¡Ð²ÐµÑ‚"));
    let file = write(dir.path(), "garbled.csv", &garbled);
    let report = dir.path().join("r.csv");
    let (code, out) = validate(&file, &report);
    assert_eq!(code, 0, "warnings only: {out}");
    let rows = report_rows(&report);
    let codes: Vec<&str> = rows.iter().map(|r| r.codes.as_str()).collect();
    assert_eq!(codes, ["R08", "R08", "R08", ""], "{out}");
    let m = messages(&report);
    assert!(
        m[0].contains("lastName \"KrÃ¼ger\" was probably \"Krüger\""),
        "{}",
        m[0]
    );
    assert!(
        m[1].contains("firstName \"BjÃ¶rn\" was probably \"Björn\"") && m[1].contains("lastName"),
        "{}",
        m[1]
    );
    let fixed = dir.path().join("fixed.csv");
    let (code, out) = fix(&file, &fixed, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read_to_string(&fixed).expect("fixed"), original);
    // An untouched UTF-8 file has nothing of it.
    let clean = write(dir.path(), "clean.csv", &original);
    let (code, out) = validate(&clean, &report);
    assert_eq!(code, 0, "{out}");
    assert!(report_rows(&report).iter().all(|r| r.codes.is_empty()));
}

#[test]
fn fix_and_export_write_a_byte_order_mark_with_bom() {
    use qusers::sim::{self, SimConfig};
    let dir = tempfile::tempdir().expect("tmp");
    let file = write(
        dir.path(),
        "u.csv",
        &format!("{HEADER}\n,a@x.org,Zoë,Krüger,a@x.org,,{UT},active,\n"),
    );
    let fixed = dir.path().join("fixed.csv");
    let (code, _) = fix(&file, &fixed, &["--bom"]);
    assert_eq!(code, 0);
    assert!(std::fs::read(&fixed)
        .expect("fixed")
        .starts_with(b"\xEF\xBB\xBFuserID,"));
    let h = sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let out = dir.path().join("e.csv");
    let o = support::run(
        qusers()
            .args([
                "export",
                "--for-update",
                "--bom",
                "--base-url",
                &h.url(),
                "-o",
            ])
            .arg(&out)
            .env("QUALTRICS_API_TOKEN", h.token()),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let bytes = std::fs::read(&out).expect("export");
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBFuserID,"),
        "{:?}",
        &bytes[..10]
    );
    let (code, text) = validate(&out, &dir.path().join("r.csv"));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("UTF-8 with BOM") || !text.contains("F0"),
        "{text}"
    );
}
