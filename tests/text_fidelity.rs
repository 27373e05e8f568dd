//! Every name arrives as the admin meant it: an export with accented and non-Latin names,
//! saved the ways Excel saves it, imports without writing a garbled name over a good one;
//! names that differ only in Unicode normalization are the same name; Excel's scientific
//! notation and the characters a wrong conversion leaves are errors; the problem list puts
//! errors first. Against the in-process simulator (its end state is what is checked).

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qusers::sim::{self, SimConfig, SimHandle};
use support::{qusers, read_report, run_in, run_offline, HEADER};

/// The users the test creates: (username, first name, last name). Some names fit in
/// Windows-1252, some do not; the last is the one the admin edits (Zoe → Zoë).
const PEOPLE: [(&str, &str, &str); 8] = [
    ("anna.krueger@univ.example", "Anna", "Krüger"),
    ("j.mueller@univ.example", "Jürgen", "Müller"),
    ("a.dvorak@univ.example", "Antonín", "Dvořák"),
    ("s.ivanova@univ.example", "Светлана", "Иванова"),
    ("chen.wei@univ.example", "伟", "陈"),
    ("jose.garcia@univ.example", "José María", "García"),
    ("l.wrobel@univ.example", "Łukasz", "Wróbel"),
    ("zoe.smith@univ.example", "Zoe", "Smith"),
];

const EDITED: &str = "zoe.smith@univ.example";

/// username → (first name, last name), every user of the simulator.
fn names(h: &SimHandle) -> BTreeMap<String, (String, String)> {
    h.with_store(|s| {
        s.users
            .iter()
            .map(|u| {
                (
                    u.username.clone(),
                    (
                        u.first_name.clone().unwrap_or_default(),
                        u.last_name.clone().unwrap_or_default(),
                    ),
                )
            })
            .collect()
    })
}

/// A simulator holding [`PEOPLE`] (created through `qusers import`, as an admin would) beside
/// two demo users; and the export of it all (UTF-8, as `qusers export` writes it).
fn instance_and_export(dir: &Path) -> (SimHandle, Vec<u8>) {
    let h = sim::spawn(SimConfig {
        demo_users: 2,
        ..SimConfig::default()
    })
    .expect("sim");
    let (division, user_type) = h.with_store(|s| {
        (
            s.divisions.keys().next().cloned().expect("a division"),
            s.user_types
                .keys()
                .find(|t| *t != "UT_BRANDADMIN")
                .cloned()
                .expect("a user type"),
        )
    });
    let mut text = format!("{HEADER}\n");
    for (user, first, last) in PEOPLE {
        text.push_str(&format!(
            ",{user},{first},{last},{user},{division},{user_type},active,\n"
        ));
    }
    std::fs::write(dir.join("new.csv"), text).expect("write");
    let (code, out) = run_in(&h, dir, &["import", "new.csv", "--yes", "-q"]).code_all();
    assert_eq!(code, 0, "{out}");
    let (code, out) = run_in(&h, dir, &["export", "-o", "export.csv", "-q"]).code_all();
    assert_eq!(code, 0, "{out}");
    let export = std::fs::read(dir.join("export.csv")).expect("the export");
    let text = std::str::from_utf8(&export).expect("the export is UTF-8");
    for (_, first, last) in PEOPLE {
        assert!(
            text.contains(first) && text.contains(last),
            "{first} {last}: {text}"
        );
    }
    (h, export)
}

/// The admin's one edit: Zoe becomes Zoë (typed in Excel, so correct whatever the file's
/// encoding is).
fn edit(text: &str) -> String {
    let edited = text.replacen(",Zoe,Smith,", ",Zoë,Smith,", 1);
    assert_ne!(edited, text, "the edit applies");
    edited
}

/// Windows-1252 as Excel's "CSV (Comma delimited)" writes it: a character the code page
/// lacks becomes `?`.
fn ansi(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(c.encode_utf8(&mut buf));
        if unmappable {
            out.push(b'?');
        } else {
            out.extend_from_slice(&bytes);
        }
    }
    out
}

/// Whether a name survives Windows-1252.
fn fits_1252(s: &str) -> bool {
    !encoding_rs::WINDOWS_1252.encode(s).2
}

/// The report's user rows by username (file-level problems, such as F04 for a file read as
/// Windows-1252, have a row of their own without one).
fn report_by_user(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    read_report(path)
        .into_iter()
        .filter(|r| !r["userName"].is_empty())
        .map(|r| (r["userName"].clone(), r))
        .collect()
}

/// After an import that must change only Zoe's first name: every other name is as before.
fn assert_only_the_edit(before: &BTreeMap<String, (String, String)>, h: &SimHandle, edited: bool) {
    let after = names(h);
    assert_eq!(after.len(), before.len());
    for (user, (first, last)) in before {
        let now = &after[user];
        if user == EDITED && edited {
            assert_eq!(now, &("Zoë".to_string(), last.clone()), "{user}");
        } else {
            // Byte for byte: not even a normalization form changed.
            assert_eq!(now, &(first.clone(), last.clone()), "{user}");
        }
    }
}

/// Case by case, the report rows of an import of a saved export: the rows in `garbled` are
/// invalid with T01, quoting the live value; the edited row is `edited_outcome`; the others
/// are unchanged (or skipped, when nothing is imported).
fn assert_report(
    report: &Path,
    garbled: &[&str],
    edited_outcome: &str,
    others: &str,
    before: &BTreeMap<String, (String, String)>,
) {
    let rows = report_by_user(report);
    assert_eq!(rows.len(), before.len(), "every row is in the report");
    for (user, (first, last)) in before {
        let r = &rows[user];
        if garbled.contains(&user.as_str()) {
            assert_eq!(r["outcome"], "invalid", "{user}: {r:?}");
            assert!(r["codes"].contains("T01"), "{user}: {r:?}");
            let quotes_live = [first, last]
                .iter()
                .any(|v| !v.is_ascii() && r["message"].contains(&format!("\"{v}\"")));
            assert!(quotes_live, "{user}: the live value is quoted: {r:?}");
        } else if user == EDITED {
            assert_eq!(r["outcome"], edited_outcome, "{user}: {r:?}");
        } else {
            assert_eq!(r["outcome"], others, "{user}: {r:?}");
        }
    }
}

#[test]
fn csv_utf8_with_mojibake_writes_only_the_admins_edit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, export) = instance_and_export(dir.path());
    let before = names(&h);
    // Excel opened the UTF-8 export as Windows-1252 (no BOM), the admin typed Zoë, and saved
    // as "CSV UTF-8" (with its BOM): every accented name is now mojibake.
    let shown = encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(&export)
        .0
        .into_owned();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(edit(&shown).as_bytes());
    std::fs::write(dir.path().join("mojibake.csv"), bytes).expect("write");
    let garbled: Vec<&str> = before
        .iter()
        .filter(|(_, (f, l))| !f.is_ascii() || !l.is_ascii())
        .map(|(u, _)| u.as_str())
        .collect();
    assert!(garbled.len() >= 7, "{garbled:?}");

    // Without --skip-invalid: nothing is written, exit 1.
    let (code, out) = run_in(
        &h,
        dir.path(),
        &["import", "mojibake.csv", "--yes", "--report", "all.csv"],
    )
    .code_all();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("T01"), "{out}");
    assert_report(
        &dir.path().join("all.csv"),
        &garbled,
        "skipped",
        "skipped",
        &before,
    );
    assert_only_the_edit(&before, &h, false);

    // With it: the edit goes in, the garbled rows are errors quoting the live value.
    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "import",
            "mojibake.csv",
            "--yes",
            "--skip-invalid",
            "--report",
            "r.csv",
        ],
    )
    .code_all();
    assert_eq!(code, 1, "invalid rows: {out}");
    assert_report(
        &dir.path().join("r.csv"),
        &garbled,
        "updated",
        "unchanged",
        &before,
    );
    let krueger = &report_by_user(&dir.path().join("r.csv"))["anna.krueger@univ.example"];
    assert!(
        krueger["message"].contains("lastName \"KrÃ¼ger\" is a garbled copy of \"Krüger\""),
        "{krueger:?}"
    );
    assert_only_the_edit(&before, &h, true);
}

#[test]
fn csv_utf8_with_bom_and_a_mac_typed_name_change_only_the_edit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, export) = instance_and_export(dir.path());
    let before = names(&h);
    let text = std::str::from_utf8(&export).expect("utf-8");
    // Krüger retyped on a Mac: u + U+0308, the same name in another normalization form.
    let retyped = edit(text).replacen(",Krüger,", ",Kru\u{308}ger,", 1);
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(retyped.as_bytes());
    std::fs::write(dir.path().join("bom.csv"), bytes).expect("write");

    let (code, out) = run_in(
        &h,
        dir.path(),
        &["import", "bom.csv", "--dry-run", "--report", "plan.csv"],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("plan: 0 create, 1 update"), "{out}");
    // The export's name columns are read past, with a note (validate keeps F12 for them).
    assert!(
        out.contains(
            "note: the export's \"Division Name\"/\"User Type Name\" columns were ignored"
        ),
        "{out}"
    );
    assert!(!out.contains("F12"), "{out}");
    let (code, stdout, _) = run_offline(dir.path(), &["validate", "bom.csv"]).parts();
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("F12"), "{stdout}");

    let (code, out) = run_in(
        &h,
        dir.path(),
        &["import", "bom.csv", "--yes", "--report", "r.csv"],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert_report(
        &dir.path().join("r.csv"),
        &[],
        "updated",
        "unchanged",
        &before,
    );
    assert_only_the_edit(&before, &h, true);
}

#[test]
fn csv_ansi_with_question_marks_writes_only_the_admins_edit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, export) = instance_and_export(dir.path());
    let before = names(&h);
    let text = std::str::from_utf8(&export).expect("utf-8");
    std::fs::write(dir.path().join("ansi.csv"), ansi(&edit(text))).expect("write");
    // Names Windows-1252 cannot hold came back as ?: those rows are damage.
    let garbled: Vec<&str> = before
        .iter()
        .filter(|(_, (f, l))| !fits_1252(f) || !fits_1252(l))
        .map(|(u, _)| u.as_str())
        .collect();
    for user in [
        "a.dvorak@univ.example",
        "s.ivanova@univ.example",
        "chen.wei@univ.example",
        "l.wrobel@univ.example",
    ] {
        assert!(garbled.contains(&user), "{user}");
    }
    assert!(!garbled.contains(&"anna.krueger@univ.example"));

    let mut args = vec![
        "import",
        "ansi.csv",
        "--yes",
        "--skip-invalid",
        "--report",
        "r.csv",
    ];
    let (code, out) = run_in(&h, dir.path(), &args).code_all();
    assert_eq!(code, 1, "invalid rows: {out}");
    if out.contains("F18") {
        // Too few names to tell Windows-1252 from its neighbours for sure: the file is refused
        // whole, naming the label to pass; nothing changed.
        assert!(out.contains("--encoding cp1252"), "{out}");
        assert_eq!(names(&h), before, "a refused file changes nothing");
        args.extend(["--encoding", "cp1252"]);
        let (code, out) = run_in(&h, dir.path(), &args).code_all();
        assert_eq!(code, 1, "invalid rows: {out}");
    }
    assert_report(
        &dir.path().join("r.csv"),
        &garbled,
        "updated",
        "unchanged",
        &before,
    );
    let dvorak = &report_by_user(&dir.path().join("r.csv"))["a.dvorak@univ.example"];
    assert!(
        dvorak["message"].contains("\"Dvo?ák\" is a garbled copy of \"Dvořák\""),
        "{dvorak:?}"
    );
    assert_only_the_edit(&before, &h, true);
}

#[test]
fn update_refuses_to_set_a_garbled_copy_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, _) = instance_and_export(dir.path());
    let before = names(&h);
    let args = [
        "update",
        "--username",
        "anna.krueger@univ.example",
        "--set",
        "lastName=KrÃƒÂ¼ger",
        "--yes",
    ];
    let (code, out) = run_in(&h, dir.path(), &args).code_all();
    assert_eq!(code, 1, "{out}");
    let report = read_report(&dir.path().join("update.report.csv"));
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0]["outcome"], "invalid");
    assert!(report[0]["message"].contains("\"Krüger\""), "{report:?}");
    assert_eq!(names(&h), before);

    let mut allowed = args.to_vec();
    allowed.push("--allow-damaged-text");
    let (code, out) = run_in(&h, dir.path(), &allowed).code_all();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        names(&h)["anna.krueger@univ.example"].1,
        "KrÃƒÂ¼ger",
        "written as asked"
    );
}

#[test]
fn strict_import_refuses_rows_with_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, _) = instance_and_export(dir.path());
    let user_type = h.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("type")
    });
    // A leading space (W01, a warning) on a new user.
    std::fs::write(
        dir.path().join("w.csv"),
        format!("{HEADER}\n,new@univ.example, Nora,Lind,new@univ.example,,{user_type},active,\n"),
    )
    .expect("write");
    let (code, out) = run_in(
        &h,
        dir.path(),
        &["import", "w.csv", "--dry-run", "--report", "a.csv"],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[warning: W01]"), "the plan marks it: {out}");
    assert!(out.contains("1 row with warnings (W01: 1)"), "{out}");
    let (code, out) = run_in(
        &h,
        dir.path(),
        &["import", "w.csv", "--yes", "--strict", "--report", "b.csv"],
    )
    .code_all();
    assert_eq!(code, 1, "{out}");
    let rows = read_report(&dir.path().join("b.csv"));
    assert_eq!(rows[0]["outcome"], "invalid", "{rows:?}");
    assert!(!names(&h).contains_key("new@univ.example"));
    let out = qusers()
        .current_dir(dir.path())
        .args([
            "import",
            "w.csv",
            "--dry-run",
            "--format",
            "json",
            "--report",
            "c.csv",
        ])
        .args(["--base-url", &h.url()])
        .env("QUALTRICS_API_TOKEN", h.token())
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["warningsByRule"]["W01"], 1, "{v}");
    // The HTML verdict of a dry run counts the warned rows by rule.
    let (code, out) = run_in(
        &h,
        dir.path(),
        &["import", "w.csv", "--dry-run", "--report", "page.html"],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    let page = std::fs::read_to_string(dir.path().join("page.html")).expect("page");
    assert!(
        page.contains("1 row with warnings (W01: 1) to be sent"),
        "{page}"
    );
}

/// A user file of `rows` after the template header.
fn write(dir: &Path, name: &str, rows: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn nfd_and_nfc_usernames_are_the_same_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = "UT_4SjjZmbPphZGKDq";
    write(
        dir.path(),
        "dup.csv",
        &[
            format!(",josé@univ.example,José,García,josé@univ.example,,{t},active,"),
            format!(",JOSE\u{301}@univ.example,José,García,jose@univ.example,,{t},active,"),
        ],
    );
    let (code, stdout, _) =
        run_offline(dir.path(), &["validate", "dup.csv", "--report", "r.csv"]).parts();
    assert_eq!(code, 1, "{stdout}");
    let rows = read_report(&dir.path().join("r.csv"));
    assert_eq!(rows[0]["codes"], "", "{rows:?}");
    assert!(rows[1]["codes"].contains("U04"), "{rows:?}");
    assert!(rows[1]["message"].contains("line 2"), "{rows:?}");

    // Taken: the instance has the NFC name; the file creates it typed NFD.
    write(
        dir.path(),
        "existing.csv",
        &[format!(
            "UR_0123456789a,josé@univ.example,José,García,josé@univ.example,,{t},active,"
        )],
    );
    write(
        dir.path(),
        "new.csv",
        &[format!(
            ",jose\u{301}@univ.example,José,García,jose@univ.example,,{t},active,"
        )],
    );
    let (code, stdout, stderr) = run_offline(
        dir.path(),
        &[
            "import",
            "new.csv",
            "--dry-run",
            "--existing",
            "existing.csv",
            "--report",
            "t.csv",
        ],
    )
    .parts();
    assert_eq!(code, 1, "{stdout}{stderr}");
    let rows = read_report(&dir.path().join("t.csv"));
    assert!(rows[0]["codes"].contains("U05"), "{rows:?}");
}

#[test]
fn excel_scientific_notation_and_lost_characters_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = "UT_4SjjZmbPphZGKDq";
    write(
        dir.path(),
        "sci.csv",
        &[
            format!(",2.02312E+11,Ann,Lee,ann@univ.example,,{t},active,"),
            "1.23457E+15,bo@univ.example,Bo,Lee,,,,,".to_string(),
            format!(",cy@univ.example,Cy,Kr\u{81}ger,cy@univ.example,,{t},active,"),
            format!(",di@univ.example,Di,Kr\u{FFFD}ger,di@univ.example,,{t},active,"),
        ],
    );
    let (code, stdout, _) =
        run_offline(dir.path(), &["validate", "sci.csv", "--report", "r.csv"]).parts();
    assert_eq!(code, 1, "{stdout}");
    let rows = read_report(&dir.path().join("r.csv"));
    assert!(rows[0]["codes"].contains("T03"), "{rows:?}");
    assert!(
        rows[0]["message"].contains("format the column as Text"),
        "{rows:?}"
    );
    assert!(
        rows[0]["message"].contains("template -o x.xlsx"),
        "{rows:?}"
    );
    assert!(rows[1]["codes"].contains("T03"), "{rows:?}");
    assert!(rows[2]["codes"].contains("T02"), "{rows:?}");
    assert!(rows[2]["message"].contains("U+0081"), "{rows:?}");
    assert!(rows[3]["codes"].contains("T02"), "{rows:?}");

    // A European Excel's comma, quoted as its CSV writes it; and fix on an SSO brand.
    write(
        dir.path(),
        "sso.csv",
        &[
            format!(",\"2,02312E+11\",Ann,Lee,ann@univ.example,,{t},active,"),
            format!(",20231234,Bo,Lee,bo@univ.example,,{t},active,"),
        ],
    );
    let (code, stdout, _) = run_offline(
        dir.path(),
        &[
            "validate",
            "sso.csv",
            "--sso-brand",
            "univ",
            "--report",
            "s.csv",
        ],
    )
    .parts();
    assert_eq!(code, 1, "{stdout}");
    let rows = read_report(&dir.path().join("s.csv"));
    assert!(rows[0]["codes"].contains("T03"), "{rows:?}");
    let (_, stdout, stderr) = run_offline(
        dir.path(),
        &["fix", "sso.csv", "-o", "fixed.csv", "--sso-brand", "univ"],
    )
    .parts();
    let fixed = std::fs::read_to_string(dir.path().join("fixed.csv")).expect("the copy");
    assert!(!fixed.contains("E+11#univ"), "{fixed}\n{stdout}{stderr}");
    assert!(fixed.contains("20231234#univ"), "{fixed}");
    let (code, stdout, _) = run_offline(
        dir.path(),
        &[
            "validate",
            "fixed.csv",
            "--sso-brand",
            "univ",
            "--report",
            "f.csv",
        ],
    )
    .parts();
    assert_eq!(code, 1, "the copy still names the problem: {stdout}");
    assert!(read_report(&dir.path().join("f.csv"))[0]["codes"].contains("T03"));
}

#[test]
fn errors_come_first_in_every_problem_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = "UT_4SjjZmbPphZGKDq";
    // 25 rows with a warning (spaces), then one with an error (no @).
    let mut rows: Vec<String> = (0..25)
        .map(|i| format!(",u{i}@univ.example, Ann,Lee,u{i}@univ.example,,{t},active,"))
        .collect();
    rows.push(format!(
        ",broken.example,Bad,Row,bad@univ.example,,{t},active,"
    ));
    write(dir.path(), "late.csv", &rows);
    let error_line = "line 27";

    let (code, stdout, _) = run_offline(dir.path(), &["validate", "late.csv"]).parts();
    assert_eq!(code, 1, "{stdout}");
    let list = stdout
        .split("problems, first")
        .nth(1)
        .expect("a problem list");
    let first = list.lines().nth(1).expect("a first problem");
    assert!(
        first.contains(error_line) && first.contains("error"),
        "{stdout}"
    );

    let out = qusers()
        .current_dir(dir.path())
        .args(["validate", "late.csv", "--format", "json"])
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let samples = &v["files"][0]["samples"];
    assert_eq!(samples[0]["severity"], "error", "{samples}");
    assert_eq!(samples[0]["line"], 27, "{samples}");
    assert_eq!(samples.as_array().map(Vec::len), Some(20));

    let (code, _, _) =
        run_offline(dir.path(), &["validate", "late.csv", "--report", "p.html"]).parts();
    assert_eq!(code, 1);
    let page = std::fs::read_to_string(dir.path().join("p.html")).expect("page");
    let table = page.split("<tbody>").nth(1).expect("the rows table");
    let first_row = table.split("</tr>").next().expect("a row");
    assert!(first_row.contains(">27<"), "{first_row}");

    // import shows the same summary when it stops.
    let (code, stdout, _) = run_offline(
        dir.path(),
        &[
            "import",
            "late.csv",
            "--dry-run",
            "--existing",
            "late.csv",
            "--report",
            "i.csv",
        ],
    )
    .parts();
    assert_eq!(code, 1, "{stdout}");
    let list = stdout
        .split("problems, first")
        .nth(1)
        .expect("a problem list");
    assert!(
        list.lines().nth(1).expect("first").contains(error_line),
        "{stdout}"
    );
}
