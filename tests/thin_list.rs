//! Against the simulator's default shape, the real API's (issue 20): a user list of eight
//! fields, the full record only from `GET /users/{id}`. An export still writes every
//! expiration date, re-importing it unchanged sends nothing, and a changed expiration date is
//! undone to its real prior value.

use crate::support;

use std::io::{Read, Write};
use std::path::Path;

use qusers::sim::{self, SimConfig, SimHandle};
use support::{qusers, read_report, run_in, write_user_file};

/// `GET path` on the simulator, the JSON answer's `result`.
fn get_json(h: &SimHandle, path: &str) -> serde_json::Value {
    let mut s = std::net::TcpStream::connect(h.addr()).expect("connects");
    write!(
        s,
        "GET /API/v3/{path} HTTP/1.1\r\nHost: {}\r\nX-API-TOKEN: {}\r\nConnection: close\r\n\r\n",
        h.addr(),
        h.token()
    )
    .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("answer");
    let body = text.split_once("\r\n\r\n").expect("a body").1;
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
    v["result"].clone()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

fn is_whole_second_utc(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 20
        && s.ends_with('Z')
        && b[10] == b'T'
        && s.parse::<jiff::Timestamp>().is_ok()
        && !s.contains('.')
}

fn sim(users: usize, rich_list: bool) -> SimHandle {
    sim::spawn(SimConfig {
        demo_users: users,
        seed: 20,
        rich_list,
        ..SimConfig::default()
    })
    .expect("sim")
}

/// `(id, expirationDate in the file's MM/DD/YYYY)` of every demo user that has one.
fn expirations(h: &SimHandle) -> Vec<(String, String)> {
    h.with_store(|s| {
        s.users
            .iter()
            .filter_map(|u| {
                let d = u.account_expiration_date.as_deref()?;
                Some((u.id.clone(), qusers::instance::api_date_to_file(d)?))
            })
            .collect()
    })
}

fn csv_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    read_report(path)
}

#[test]
fn the_list_carries_eight_fields_and_the_record_the_rest() {
    let h = sim(30, false);
    let page = get_json(&h, "users");
    let elements = page["elements"].as_array().expect("elements");
    assert_eq!(elements.len(), 31);
    for e in elements {
        assert_eq!(
            keys(e),
            [
                "accountStatus",
                "divisionId",
                "email",
                "firstName",
                "id",
                "lastName",
                "userType",
                "username"
            ],
            "{e}"
        );
    }
    let (id, _) = expirations(&h)
        .into_iter()
        .next()
        .expect("a user with a date");
    let full = get_json(&h, &format!("users/{id}"));
    for field in [
        "organizationId",
        "language",
        "unsubscribed",
        "accountCreationDate",
        "accountExpirationDate",
        "passwordLastChangedDate",
        "passwordExpirationDate",
        "lastLoginDate",
        "timeZone",
        "responseCounts",
        "permissions",
        "username",
        "accountStatus",
    ] {
        assert!(full.get(field).is_some(), "{field} missing: {full}");
    }
    assert_eq!(full["language"], "en");
    for field in [
        "accountCreationDate",
        "accountExpirationDate",
        "lastLoginDate",
    ] {
        let v = full[field].as_str().unwrap_or_default();
        assert!(is_whole_second_utc(v), "{field} = {v:?}");
    }

    // The knob brings the old, rich list back for comparison.
    let rich = sim(30, true);
    let page = get_json(&rich, "users");
    let with_date = page["elements"]
        .as_array()
        .expect("elements")
        .iter()
        .filter(|e| e["accountExpirationDate"].is_string())
        .count();
    assert_eq!(with_date, expirations(&rich).len());
    assert!(with_date > 0);
}

#[test]
fn an_export_writes_every_expiration_date_and_no_details_says_it_did_not() {
    let h = sim(250, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("users.csv");
    let (code, stdout, stderr) = run_in(
        &h,
        dir.path(),
        &["export", "-o", "users.csv", "--format", "json"],
    )
    .parts();
    assert_eq!(code, 0, "{stderr}");
    let rows = csv_rows(&file);
    assert_eq!(rows.len(), 251);
    let want = expirations(&h);
    assert!(want.len() > 20, "the seed gives dates to about a fifth");
    for (id, date) in &want {
        let row = rows.iter().find(|r| r["userID"] == *id).expect("exported");
        assert_eq!(row["expirationDate"], *date, "{id}");
    }
    let written = rows
        .iter()
        .filter(|r| !r["expirationDate"].is_empty())
        .count();
    assert_eq!(written, want.len());
    // One detail read per user, counted apart from the list's three pages.
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("JSON summary");
    // Three pages hold the users; the offset read-ahead may ask for up to three past the end.
    let pages = summary["requests"]["listPages"]
        .as_u64()
        .expect("listPages");
    assert!((3..=6).contains(&pages), "{summary}");
    assert_eq!(summary["pages"], 3, "{summary}");
    assert_eq!(summary["requests"]["detailReads"], 251, "{summary}");
    assert_eq!(summary["requests"]["writes"], 0, "{summary}");
    let base = std::fs::read_to_string(dir.path().join("users.csv.qusers-base")).expect("base");
    let base: serde_json::Value = serde_json::from_str(&base).expect("JSON");
    assert_eq!(base["details"], true);
    let (id, date) = &want[0];
    assert_eq!(base["users"][id]["expirationDate"], *date);

    // Without details: the column is empty, and the summary and the snapshot say why.
    let (code, _, stderr) = run_in(
        &h,
        dir.path(),
        &["export", "-o", "thin.csv", "--no-details"],
    )
    .parts();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("--no-details: expiration dates were not read"),
        "{stderr}"
    );
    assert!(stderr.contains("0 detail reads"), "{stderr}");
    let thin = csv_rows(&dir.path().join("thin.csv"));
    assert!(thin.iter().all(|r| r["expirationDate"].is_empty()));
    let base = std::fs::read_to_string(dir.path().join("thin.csv.qusers-base")).expect("base");
    let base: serde_json::Value = serde_json::from_str(&base).expect("JSON");
    assert_eq!(base["details"], false);
    assert!(
        base["users"][id].get("expirationDate").is_none(),
        "unknown, not empty: {}",
        base["users"][id]
    );
}

#[test]
fn an_unchanged_export_imports_with_no_write() {
    let h = sim(250, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = run_in(
        &h,
        dir.path(),
        &["export", "--for-update", "-o", "users.csv"],
    )
    .parts();
    assert_eq!(code, 0, "{stderr}");
    let before = h.stats();
    let (code, stdout, stderr) = run_in(
        &h,
        dir.path(),
        &["import", "users.csv", "--report", "r.csv", "--yes"],
    )
    .parts();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let after = h.stats();
    assert_eq!(after.writes, before.writes, "no write: {stdout}");
    let puts = |s: &qusers::sim::SimStats| {
        s.requests
            .iter()
            .filter(|(k, _)| k.starts_with("PUT") || k.starts_with("POST"))
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    assert_eq!(puts(&after), puts(&before), "{:?}", after.requests);
    let report = read_report(&dir.path().join("r.csv"));
    assert_eq!(report.len(), 251);
    assert!(
        report.iter().all(|r| r["outcome"] == "unchanged"),
        "{stdout}"
    );
    // Nothing differs from the list but the dates it does not carry: those users' records are
    // read (one each), the others are not.
    let details = |s: &qusers::sim::SimStats| s.requests.get("GET /users/{id}").copied();
    let read = details(&after).unwrap_or(0) - details(&before).unwrap_or(0);
    assert_eq!(read as usize, expirations(&h).len(), "{:?}", after.requests);
    assert!(stdout.contains("detail reads"), "{stdout}");
}

#[test]
fn a_changed_expiration_date_is_undone_to_its_real_prior_value() {
    let h = sim(60, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, prior) = expirations(&h)
        .into_iter()
        .next()
        .expect("a user with a date");
    let username = h.with_store(|s| s.get(&id).expect("user").username.clone());
    // A user without a date gets one: "empty before" is a known fact for it.
    let (other, other_name) = h.with_store(|s| {
        let u = s
            .users
            .iter()
            .find(|u| u.account_expiration_date.is_none() && u.id != s.admin_id)
            .expect("a user without a date");
        (u.id.clone(), u.username.clone())
    });
    write_user_file(
        &dir.path().join("dates.csv"),
        &[
            format!("{id},{username},,,,,,,12/31/2031"),
            format!("{other},{other_name},,,,,,,06/30/2030"),
        ],
    );
    let (code, stdout, stderr) = run_in(
        &h,
        dir.path(),
        &[
            "import",
            "dates.csv",
            "--report",
            "dates.report.csv",
            "--yes",
        ],
    )
    .parts();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report = read_report(&dir.path().join("dates.report.csv"));
    assert!(
        report.iter().all(|r| r["outcome"] == "updated"),
        "{report:?}"
    );
    assert!(
        report[0]["changes"].contains(&format!("expirationDate: {prior} → 12/31/2031")),
        "planned against the real value: {report:?}"
    );
    let stored = |id: &str| {
        h.with_store(|s| {
            s.get(id)
                .and_then(|u| u.account_expiration_date.clone())
                .and_then(|d| qusers::instance::api_date_to_file(&d))
        })
    };
    assert_eq!(stored(&id).as_deref(), Some("12/31/2031"));

    let undo = dir.path().join("dates.report.undo.csv");
    let rows = csv_rows(&undo);
    let row = rows
        .iter()
        .find(|r| r["userID"] == id)
        .expect("in the undo");
    assert_eq!(row["expirationDate"], prior, "the real prior date");
    assert!(
        !stdout.contains(&format!("{id} expirationDate was empty")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{other} expirationDate was empty before")),
        "{stdout}"
    );

    let (code, stdout, stderr) = run_in(
        &h,
        dir.path(),
        &[
            "import",
            "dates.report.undo.csv",
            "--report",
            "undo.report.csv",
            "--yes",
        ],
    )
    .parts();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stored(&id).as_deref(), Some(prior.as_str()), "restored");
}

#[test]
fn a_date_the_instance_source_did_not_carry_is_never_compared_as_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An instance export without the expirationDate column: the dates are unknown.
    std::fs::write(
        dir.path().join("existing.csv"),
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus\n\
         UR_aaaaaaaaaaaaaaa,ann@x.org,Ann,Lee,ann@x.org,,UT_BRANDADMIN,active\n\
         UR_bbbbbbbbbbbbbbb,bo@x.org,Bo,Lee,bo@x.org,,UT_BRANDADMIN,active\n",
    )
    .expect("write");
    write_user_file(
        &dir.path().join("in.csv"),
        &[
            "UR_aaaaaaaaaaaaaaa,ann@x.org,,,,,,,12/31/2031".to_string(),
            "UR_bbbbbbbbbbbbbbb,bo@x.org,Bob,,,,,,".to_string(),
        ],
    );
    let out = qusers()
        .current_dir(dir.path())
        .args([
            "import",
            "in.csv",
            "--existing",
            "existing.csv",
            "--dry-run",
            "--report",
            "r.csv",
        ])
        .output()
        .expect("runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let report = read_report(&dir.path().join("r.csv"));
    assert_eq!(report.len(), 2, "{text}");
    assert_eq!(report[0]["outcome"], "failed", "{report:?}");
    assert!(
        report[0]["message"].contains("expirationDate of UR_aaaaaaaaaaaaaaa is not known"),
        "{report:?}"
    );
    assert!(!report[0]["changes"].contains("(empty)"), "{report:?}");
    assert_eq!(report[1]["outcome"], "planned", "{report:?}");
    assert!(
        report[1]["changes"].contains("firstName: Bo → Bob"),
        "{report:?}"
    );
    assert_eq!(out.status.code(), Some(1), "a row failed: {text}");
}
