//! SSO brands: usernames ending in `#brandId` (issue 10 item 1). A round trip against the
//! simulator seeded with `#univ` usernames, the brand given or detected, and `fix` appending
//! the suffix to new users.

use crate::support;

use std::path::{Path, PathBuf};

use qusers::sim::{self, SimConfig, SimHandle, Store};
use support::{qusers, report_rows, row, HEADER};

/// A simulator whose users (all but the admin) have SSO usernames of the brand `univ`, one of
/// them not email-shaped at all (`1352432#univ`).
fn sso_sim(dir: &Path) -> SimHandle {
    let state = dir.join("sim.json");
    let mut rng = Store::rng(7);
    let mut store = Store::new(&mut rng, 12);
    for (i, u) in store.users.iter_mut().enumerate() {
        if u.username == sim::ADMIN_USERNAME {
            continue;
        }
        u.username = if i == 3 {
            "1352432#univ".to_string()
        } else {
            format!("{}#univ", u.username)
        };
    }
    store.save(&state).expect("state saved");
    sim::spawn(SimConfig {
        state: Some(state),
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

fn type_and_division(h: &SimHandle) -> (String, String) {
    h.with_store(|s| {
        (
            s.user_types
                .keys()
                .find(|t| *t != "UT_BRANDADMIN")
                .cloned()
                .expect("a user type"),
            s.divisions.keys().next().cloned().expect("a division"),
        )
    })
}

fn export(h: &SimHandle, out: &Path) {
    let o = support::run(
        qusers()
            .args(["export", "--for-update", "--base-url", &h.url(), "-o"])
            .arg(out)
            .env("QUALTRICS_API_TOKEN", h.token()),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
}

fn run(args: &[&str], files: &[&Path]) -> (i32, String) {
    support::run(qusers().args(args).args(files)).code_all()
}

/// The export with one user's first name changed, and `creates` appended.
fn edited(export: &Path, dir: &Path, creates: &[String]) -> PathBuf {
    let text = std::fs::read_to_string(export).expect("export");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let line = lines
        .iter_mut()
        .find(|l| l.contains("#univ"))
        .expect("an SSO user");
    let mut fields: Vec<String> = line.split(',').map(String::from).collect();
    fields[2] = "Renamed".into();
    *line = fields.join(",");
    lines.extend(creates.iter().cloned());
    let path = dir.join("edited.csv");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    path
}

#[test]
fn sso_round_trip_has_no_false_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let h = sso_sim(dir.path());
    let (ut, dv) = type_and_division(&h);
    let exported = dir.path().join("export.csv");
    export(&h, &exported);
    let creates = [
        format!(",new.person@univ.edu#univ,New,Person,new.person@univ.edu,{dv},{ut},active,"),
        format!(",7654321#univ,Num,Login,num.login@univ.edu,{dv},{ut},,"),
    ];
    let file = edited(&exported, dir.path(), &creates);

    // Before SSO support every #univ username of a create row was U02.
    let report = dir.path().join("r.csv");
    let (code, out) = run(
        &["validate", "--sso-brand", "univ", "--existing"],
        &[&exported, &file, Path::new("--report"), &report],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SSO brand univ"), "{out}");
    let rows = report_rows(&report);
    assert!(rows.iter().all(|r| r.outcome != "error"), "{rows:?}");

    // Detected from the instance: the same verdict without the flag, and it says so.
    let (code, out) = run(&["validate", "--existing"], &[&exported, &file]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("SSO brand univ detected (12 of 13 usernames"),
        "{out}"
    );
    let o = support::run(
        qusers()
            .args(["validate", "--check-instance", "--base-url", &h.url()])
            .arg(&file)
            .env("QUALTRICS_API_TOKEN", h.token()),
    );
    let out = o.stdout.as_str();
    assert_eq!(o.code, 0, "{out}");
    assert!(out.contains("SSO brand univ detected"), "{out}");

    // Import: the brand is detected from the fetched users; one update, one create. (This
    // simulator refuses usernames that are not email-shaped, as a non-SSO brand does; the
    // one-without-@ create is covered by validate above.)
    let file = edited(&exported, dir.path(), &creates[..1]);
    let import_report = dir.path().join("import.csv");
    let o = support::run(
        qusers()
            .args([
                "import",
                "--yes",
                "--no-password",
                "--base-url",
                &h.url(),
                "--report",
            ])
            .arg(&import_report)
            .arg(&file)
            .env("QUALTRICS_API_TOKEN", h.token()),
    );
    let out = o.all();
    assert_eq!(o.code, 0, "{out}");
    assert!(
        out.contains("1 created, 1 updated, 12 unchanged, 0 invalid"),
        "{out}"
    );
    h.with_store(|s| {
        assert!(s.by_username("new.person@univ.edu#univ").is_some());
        assert_eq!(
            s.users
                .iter()
                .filter(|u| u.first_name.as_deref() == Some("Renamed"))
                .count(),
            1
        );
    });
}

#[test]
fn create_without_the_suffix_is_flagged_and_fix_appends_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let h = sso_sim(dir.path());
    let (ut, dv) = type_and_division(&h);
    let exported = dir.path().join("export.csv");
    export(&h, &exported);
    let taken = h.with_store(|s| {
        s.users
            .iter()
            .find(|u| u.username.ends_with("#univ") && u.username.contains('@'))
            .map(|u| u.username.trim_end_matches("#univ").to_string())
            .expect("an SSO user")
    });
    let file = dir.path().join("new.csv");
    std::fs::write(
        &file,
        format!(
            "{HEADER}\n\
             ,plain@univ.edu,Plain,User,plain@univ.edu,{dv},{ut},,\n\
             ,ok@univ.edu#univ,Ok,User,ok@univ.edu,{dv},{ut},,\n\
             ,#univ,No,Login,nologin@univ.edu,{dv},{ut},,\n\
             ,j doe#univ,Spaced,Login,jdoe@univ.edu,{dv},{ut},,\n\
             ,{}#UNIV,Taken,Again,x@univ.edu,{dv},{ut},,\n\
             ,OK@univ.edu#UNIV,Dup,Row,dup@univ.edu,{dv},{ut},,\n",
            taken.to_uppercase()
        ),
    )
    .expect("write");
    let report = dir.path().join("r.csv");
    let (code, out) = run(
        &["validate", "--sso-brand", "univ", "--report"],
        &[&report, Path::new("--existing"), &exported, &file],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("on this SSO brand usernames end in #univ"),
        "{out}"
    );
    assert_eq!(
        report_rows(&report),
        vec![
            row("2", "1", "error", "U06"),
            row("3", "2", "ok", ""),
            row("4", "3", "error", "U07"),
            row("5", "4", "error", "U07"),
            row("6", "5", "error", "U05"),
            row("7", "6", "error", "U04"),
        ]
    );

    // fix appends the suffix to the create row that lacks it, and only there.
    let fixed = dir.path().join("fixed.csv");
    let (_, out) = run(&["fix", "--sso-brand", "univ", "-o"], &[&fixed, &file]);
    assert!(
        out.contains("\"plain@univ.edu\" → \"plain@univ.edu#univ\""),
        "{out}"
    );
    let text = std::fs::read_to_string(&fixed).expect("fixed");
    assert!(text.contains("\n,plain@univ.edu#univ,Plain,"), "{text}");
    assert!(text.contains("\n,ok@univ.edu#univ,Ok,"), "{text}");
    let report = dir.path().join("r2.csv");
    let (_, out) = run(
        &["validate", "--report"],
        &[&report, Path::new("--existing"), &exported, &fixed],
    );
    assert_eq!(report_rows(&report)[0], row("2", "1", "ok", ""), "{out}");
}

#[test]
fn without_the_brand_sso_usernames_are_not_email_shaped() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("f.csv");
    std::fs::write(
        &file,
        format!("{HEADER}\n,1352432#wuxyz,A,B,a@b.org,,UT_X,,\n"),
    )
    .expect("write");
    let (code, out) = run(&["validate"], &[&file]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("U02"), "{out}");
    let (code, out) = run(&["validate", "--sso-brand", "wuxyz"], &[&file]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&["validate", "--sso-brand", "wu xyz"], &[&file]);
    assert_eq!(code, 2, "{out}");
}
