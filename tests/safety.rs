//! Safe bulk changes end to end against the simulator: the blast-radius brake, protected
//! accounts, the three-way merge with an export's base snapshot, undo, the failed-rows file,
//! upsert and the report's `changes` column.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qusers::api::{BaseUrl, Client, ClientOptions, NewUser, Secret, Token, UserUpdate};
use qusers::sim::{self, SimConfig, SimHandle};
use support::{read_report, run_on, write_user_file, HEADER};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn write(path: &Path, rows: &[String]) {
    write_user_file(path, rows);
}

/// A template CSV as rows of cells (header left out).
fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).expect("csv");
    r.records()
        .map(|rec| rec.expect("record").iter().map(String::from).collect())
        .collect()
}

fn write_csv(path: &Path, rows: &[Vec<String>]) {
    write(path, &rows.iter().map(|r| r.join(",")).collect::<Vec<_>>());
}

fn client(h: &SimHandle) -> Client {
    Client::new(
        BaseUrl::parse(&h.url()).expect("url"),
        Token::new(h.token()).expect("token"),
        ClientOptions::default(),
    )
    .expect("client")
}

/// Changes a user directly through the API, as a colleague in the Qualtrics UI would.
fn api_update(h: &SimHandle, id: &str, update: UserUpdate) {
    let c = client(h);
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(c.update_user(id, &update))
        .expect("update");
}

fn writes(h: &SimHandle) -> (u64, u64) {
    let s = h.stats();
    (
        s.requests.get("POST /users").copied().unwrap_or(0),
        s.requests.get("PUT /users/{id}").copied().unwrap_or(0),
    )
}

fn status(h: &SimHandle, id: &str) -> String {
    h.with_store(|s| s.get(id).and_then(|u| u.account_status.clone()))
        .unwrap_or_default()
}

/// id → (username, first, last, division, type, status), every user.
fn state(h: &SimHandle) -> BTreeMap<String, [String; 6]> {
    h.with_store(|s| {
        s.users
            .iter()
            .map(|u| {
                let o = |v: &Option<String>| v.clone().unwrap_or_default();
                (
                    u.id.clone(),
                    [
                        u.username.clone(),
                        o(&u.first_name),
                        o(&u.last_name),
                        o(&u.division_id),
                        o(&u.user_type),
                        o(&u.account_status),
                    ],
                )
            })
            .collect()
    })
}

fn non_admin_type(h: &SimHandle, n: usize) -> String {
    h.with_store(|s| {
        s.user_types
            .keys()
            .filter(|t| *t != "UT_BRANDADMIN")
            .nth(n)
            .cloned()
            .expect("a user type")
    })
}

#[test]
fn a_file_disabling_30_percent_stops_whole_until_overridden() {
    let h = sim::spawn(SimConfig {
        demo_users: 499,
        ..SimConfig::default()
    })
    .expect("sim");
    let admin = h.with_store(|s| s.admin_id.clone());
    let targets: Vec<String> = h.with_store(|s| {
        s.users
            .iter()
            .filter(|u| u.id != admin && u.account_status.as_deref() == Some("active"))
            .take(150)
            .map(|u| u.id.clone())
            .collect()
    });
    assert_eq!(targets.len(), 150);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("disable.csv");
    let rows: Vec<String> = targets
        .iter()
        .map(|id| format!("{id},,,,,,,disabled,"))
        .collect();
    write(&file, &rows);
    let report = dir.path().join("disable.report.csv");

    let (code, out) = run_on(&h, &["import", p(&file), "--report", p(&report), "--yes"]).code_all();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("150 disables"), "the class and count: {out}");
    assert!(out.contains("limit of 50"), "{out}");
    assert!(out.contains("--allow-mass-changes"), "the override: {out}");
    assert_eq!(writes(&h), (0, 0), "nothing sent");
    assert!(targets.iter().all(|id| status(&h, id) == "active"));
    assert!(!PathBuf::from(format!("{}.journal", report.display())).exists());

    // A dry run says the same, and sends nothing either.
    let (code, out) = run_on(
        &h,
        &["import", p(&file), "--report", p(&report), "--dry-run"],
    )
    .code_all();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("a real run would stop"), "{out}");
    assert_eq!(writes(&h), (0, 0));

    // A raised limit, or the override, lets it through.
    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&file),
            "--report",
            p(&report),
            "--yes",
            "--max-changes",
            "30%",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "150 is at the limit of 30 % of 500: {out}");
    assert_eq!(writes(&h), (0, 150));
    assert!(targets.iter().all(|id| status(&h, id) == "disabled"));

    let undo = dir.path().join("disable.report.undo.csv");
    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&undo),
            "--report",
            p(&dir.path().join("u.csv")),
            "--yes",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "enabling is not braked: {out}");
    let again = dir.path().join("again.csv");
    write(
        &again,
        &targets
            .iter()
            .map(|id| format!("{id},,,,,,,disabled,"))
            .collect::<Vec<_>>(),
    );
    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&again),
            "--report",
            p(&dir.path().join("e.csv")),
            "--yes",
            "--allow-mass-changes",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert!(targets.iter().all(|id| status(&h, id) == "disabled"));
}

#[test]
fn the_token_owner_and_brand_administrators_are_not_disabled_by_accident() {
    let h = sim::spawn(SimConfig {
        demo_users: 10,
        ..SimConfig::default()
    })
    .expect("sim");
    let me = h.with_store(|s| s.admin_id.clone());
    // A second Brand Administrator.
    let boss = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(client(&h).create_user(&NewUser {
            username: "boss@x.org".into(),
            password: Some(Secret::new("Pass-word-12345")),
            first_name: "Big".into(),
            last_name: "Boss".into(),
            user_type: "UT_BRANDADMIN".into(),
            email: "boss@x.org".into(),
            language: "EN".into(),
            ..Default::default()
        }))
        .expect("create")
        .value;
    let plain = h.with_store(|s| {
        s.users
            .iter()
            .find(|u| u.id != me && u.id != boss && u.account_status.as_deref() == Some("active"))
            .map(|u| u.id.clone())
            .expect("a user")
    });
    let other_div = h.with_store(|s| s.divisions.keys().last().cloned().expect("division"));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.csv");
    write(
        &file,
        &[
            format!("{me},,,,,,,disabled,"),
            format!("{boss},,,,,{other_div},,disabled,"),
            format!("{plain},,,,,,,disabled,"),
        ],
    );
    let report = dir.path().join("r.csv");
    let (code, out) = run_on(&h, &["import", p(&file), "--report", p(&report), "--yes"]).code_all();
    assert_eq!(code, 0, "{out}");
    let rows = read_report(&report);
    assert_eq!(rows[0]["outcome"], "skipped");
    assert!(
        rows[0]["message"].contains("the account this token belongs to")
            && rows[0]["message"].contains("--allow-admin-changes"),
        "{:?}",
        rows[0]
    );
    assert_eq!(rows[1]["outcome"], "skipped");
    assert!(
        rows[1]["message"].contains("Brand Administrator"),
        "{:?}",
        rows[1]
    );
    assert_eq!(rows[2]["outcome"], "updated");
    assert_eq!(status(&h, &me), "active");
    assert_eq!(status(&h, &boss), "active");
    assert_eq!(status(&h, &plain), "disabled");
    assert_eq!(writes(&h).1, 1, "one PUT: the plain user only");

    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&file),
            "--report",
            p(&dir.path().join("r2.csv")),
            "--yes",
            "--allow-admin-changes",
            "--max-changes",
            "10",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert_eq!(status(&h, &me), "disabled");
    assert_eq!(status(&h, &boss), "disabled");
    let moved = h.with_store(|s| s.get(&boss).and_then(|u| u.division_id.clone()));
    assert_eq!(moved.as_deref(), Some(other_div.as_str()));
}

/// Column positions in the template.
const FIRST: usize = 2;
const LAST: usize = 3;
const TYPE: usize = 6;

#[test]
fn a_stale_export_keeps_changes_made_in_qualtrics_and_flags_conflicts() {
    let h = sim::spawn(SimConfig {
        demo_users: 10,
        ..SimConfig::default()
    })
    .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("users.csv");
    let (code, out) = run_on(&h, &["export", "-o", p(&export), "--for-update"]).code_all();
    assert_eq!(code, 0, "{out}");
    assert!(dir.path().join("users.csv.qusers-base").exists(), "{out}");
    let mut rows = read_csv(&export);
    let (a, b) = (rows[1][0].clone(), rows[2][0].clone());

    // Since the export, a colleague changed A's last name in Qualtrics.
    api_update(
        &h,
        &a,
        UserUpdate {
            last_name: Some("Changed-Live".into()),
            ..Default::default()
        },
    );
    // The admin edits A's first name and B's last name in the (stale) export.
    rows[1][FIRST] = "Edited-A".into();
    rows[2][LAST] = "Edited-B".into();
    write_csv(&export, &rows);
    let report = dir.path().join("users.report.csv");
    let (code, out) =
        run_on(&h, &["import", p(&export), "--report", p(&report), "--yes"]).code_all();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("three-way merge"), "{out}");
    let s = state(&h);
    assert_eq!(s[&a][1], "Edited-A", "the file's edit applies");
    assert_eq!(s[&a][2], "Changed-Live", "the live change survives");
    assert_eq!(s[&b][2], "Edited-B");
    let report_rows = read_report(&report);
    let row_a = report_rows.iter().find(|r| r["userID"] == a).expect("A");
    assert_eq!(row_a["outcome"], "updated");
    assert!(
        row_a["message"].contains("kept: changed in Qualtrics since the export"),
        "{row_a:?}"
    );
    assert!(row_a["changes"].contains("firstName:"), "{row_a:?}");
    assert!(!row_a["changes"].contains("lastName"), "{row_a:?}");

    // A field changed on both sides, differently, is a conflict: nothing sent for the row.
    let (code, out) = run_on(&h, &["export", "-o", p(&export), "--for-update"]).code_all();
    assert_eq!(code, 0, "{out}");
    let mut rows = read_csv(&export);
    let c = rows[3][0].clone();
    let c_first = rows[3][FIRST].clone();
    api_update(
        &h,
        &c,
        UserUpdate {
            first_name: Some("Live-C".into()),
            ..Default::default()
        },
    );
    rows[3][FIRST] = "File-C".into();
    rows[4][FIRST] = "Other-D".into();
    write_csv(&export, &rows);
    let puts = writes(&h).1;
    let (code, out) =
        run_on(&h, &["import", p(&export), "--report", p(&report), "--yes"]).code_all();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 conflict"), "{out}");
    let report_rows = read_report(&report);
    let row_c = report_rows.iter().find(|r| r["userID"] == c).expect("C");
    assert_eq!(row_c["outcome"], "conflict");
    assert!(row_c["message"].contains("firstName"), "{row_c:?}");
    assert_eq!(state(&h)[&c][1], "Live-C");
    assert_eq!(writes(&h).1, puts + 1, "only the other row went out");
    assert_ne!(c_first, "Live-C");
    // The conflict row is in the failed file, ready to fix.
    let failed = read_csv(&dir.path().join("users.report.failed.csv"));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0][0], c);

    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&export),
            "--report",
            p(&report),
            "--yes",
            "--prefer",
            "file",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert_eq!(state(&h)[&c][1], "File-C");
    assert!(
        !dir.path().join("users.report.failed.csv").exists(),
        "a stale failed file is removed"
    );
}

#[test]
fn importing_the_undo_file_returns_the_instance_to_the_prior_export() {
    let h = sim::spawn(SimConfig {
        demo_users: 30,
        ..SimConfig::default()
    })
    .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let before = dir.path().join("before.csv");
    let (code, out) = run_on(&h, &["export", "-o", p(&before), "--for-update"]).code_all();
    assert_eq!(code, 0, "{out}");
    let rows = read_csv(&before);
    let admin = h.with_store(|s| s.admin_id.clone());
    let users: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] != admin).collect();
    let div = h.with_store(|s| s.divisions.keys().next().cloned().expect("division"));
    let ty = non_admin_type(&h, 0);
    let file = dir.path().join("change.csv");
    let flip = |s: &str| if s == "active" { "disabled" } else { "active" };
    write(
        &file,
        &[
            format!("{},,Renamed,,,,,,", users[0][0]),
            format!("{},,,,,{div},,,", users[1][0]),
            format!("{},,,,,,{},,", users[2][0], non_admin_type(&h, 1)),
            format!("{},,,,,,,{},", users[3][0], flip(&users[3][7])),
            format!("{},,,Other,,,{ty},,", users[4][0]),
            format!(",new.one@x.org,New,One,new.one@x.org,{div},{ty},active,"),
            format!(",new.two@x.org,New,Two,new.two@x.org,,{ty},,"),
        ],
    );
    let report = dir.path().join("change.report.csv");
    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&file),
            "--report",
            p(&report),
            "--yes",
            "--allow-mass-changes",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    let undo = dir.path().join("change.report.undo.csv");
    assert!(out.contains("undo:"), "{out}");
    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&undo),
            "--report",
            p(&dir.path().join("undo.report.csv")),
            "--yes",
            "--allow-mass-changes",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    let after = dir.path().join("after.csv");
    let (code, out) = run_on(&h, &["export", "-o", p(&after), "--for-update"]).code_all();
    assert_eq!(code, 0, "{out}");
    let after_rows = read_csv(&after);
    let (old, new): (Vec<_>, Vec<_>) = after_rows
        .iter()
        .cloned()
        .partition(|r| rows.iter().any(|b| b[0] == r[0]));
    assert_eq!(old, rows, "every prior user is as before");
    assert_eq!(new.len(), 2);
    assert!(new.iter().all(|r| r[7] == "disabled"), "{new:?}");
    assert_eq!(users[2][TYPE], state(&h)[&users[2][0]][4]);
}

#[test]
fn failed_and_invalid_rows_are_written_for_another_try() {
    let h = sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let ty = non_admin_type(&h, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("in.csv");
    let bad = format!(",not-an-email,Bad,Row,bad@x.org,,{ty},,");
    let good = format!(",good@x.org,Good,Row,good@x.org,,{ty},,");
    write(&file, &[good.clone(), bad.clone()]);
    let report = dir.path().join("in.report.csv");
    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&file),
            "--report",
            p(&report),
            "--yes",
            "--skip-invalid",
        ],
    )
    .code_all();
    assert_eq!(code, 1, "{out}");
    let failed = dir.path().join("in.report.failed.csv");
    let text = std::fs::read_to_string(&failed).expect("failed file");
    assert_eq!(text, format!("{HEADER}\n{bad}\n"));
    assert!(out.contains("in.report.failed.csv"), "{out}");
}

#[test]
fn upsert_updates_the_user_a_create_row_names() {
    let h = sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let admin = h.with_store(|s| s.admin_id.clone());
    let (id, name, ty) = h.with_store(|s| {
        let u = s.users.iter().find(|u| u.id != admin).expect("user");
        (
            u.id.clone(),
            u.username.clone(),
            u.user_type.clone().unwrap_or_default(),
        )
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("up.csv");
    let upper = name.to_uppercase();
    write(
        &file,
        &[format!(",{upper},Upserted,Person,{name},,{ty},active,")],
    );
    let report = dir.path().join("up.report.csv");
    let (code, out) = run_on(&h, &["import", p(&file), "--report", p(&report), "--yes"]).code_all();
    assert_eq!(code, 1, "without --upsert the create is refused: {out}");
    assert_eq!(read_report(&report)[0]["outcome"], "invalid");
    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&file),
            "--report",
            p(&report),
            "--yes",
            "--upsert",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    let row = &read_report(&report)[0];
    assert_eq!(row["outcome"], "updated", "{row:?}");
    assert_eq!(row["userID"], id);
    assert_eq!(row["action"], "update");
    assert!(row["changes"].contains("firstName:"), "{row:?}");
    assert_eq!(state(&h)[&id][1], "Upserted");
    assert_eq!(writes(&h).0, 0, "no create was sent");
}

#[test]
fn the_dry_run_plan_counts_classes_and_the_report_has_the_changes() {
    let h = sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let admin = h.with_store(|s| s.admin_id.clone());
    let (id, first) = h.with_store(|s| {
        let u = s.users.iter().find(|u| u.id != admin).expect("user");
        (u.id.clone(), u.first_name.clone().unwrap_or_default())
    });
    let ty = non_admin_type(&h, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plan.csv");
    write(
        &file,
        &[
            format!("{id},,Zed,,,,,,"),
            format!(",n@x.org,New,User,n@x.org,,{ty},disabled,"),
        ],
    );
    let report = dir.path().join("plan.report.csv");
    let (code, out) = run_on(
        &h,
        &["import", p(&file), "--report", p(&report), "--dry-run"],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("creates: 1, name changes: 1, status changes: 0, user-type changes: 0, division moves: 0, expirations: 0"),
        "{out}"
    );
    assert!(out.contains("no base snapshot found"), "{out}");
    let rows = read_report(&report);
    assert_eq!(rows[0]["outcome"], "planned");
    assert_eq!(rows[0]["changes"], format!("firstName: {first} → Zed"));
    assert!(
        rows[1]["changes"].starts_with("userName: n@x.org; firstName: New; lastName: User"),
        "{:?}",
        rows[1]
    );
    assert!(rows[1]["changes"].contains("accountStatus: disabled"));
    assert_eq!(writes(&h), (0, 0));
    assert!(
        !dir.path().join("plan.report.undo.csv").exists(),
        "a dry run changes nothing to undo"
    );
}

#[test]
fn warnings_found_while_importing_are_shown_as_validate_shows_them() {
    let h = sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let ty = non_admin_type(&h, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("w.csv");
    write(&file, &[format!(",w@x.org, Spacey ,Row,w@x.org,,{ty},,")]);
    let report = dir.path().join("w.report.csv");
    let (code, out) = run_on(&h, &["import", p(&file), "--report", p(&report), "--yes"]).code_all();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid, with warnings"), "{out}");
    assert!(out.contains("W01"), "{out}");
    assert!(out.contains("1 created"), "{out}");
}

#[test]
fn a_renamed_export_merges_with_base_given_and_prefer_live_keeps_qualtrics() {
    let h = sim::spawn(SimConfig {
        demo_users: 6,
        ..SimConfig::default()
    })
    .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("users.csv");
    let (code, out) = run_on(&h, &["export", "-o", p(&export), "--for-update"]).code_all();
    assert_eq!(code, 0, "{out}");
    let base = dir.path().join("users.csv.qusers-base");
    let mut rows = read_csv(&export);
    let a = rows[1][0].clone();
    api_update(
        &h,
        &a,
        UserUpdate {
            last_name: Some("Live".into()),
            first_name: Some("LiveFirst".into()),
            ..Default::default()
        },
    );
    rows[1][FIRST] = "FileFirst".into();
    let edited = dir.path().join("edited.csv");
    write_csv(&edited, &rows);
    let report = dir.path().join("e.report.csv");

    // No snapshot beside the renamed file: the plan says so, and would write the stale name back.
    let (code, out) = run_on(
        &h,
        &["import", p(&edited), "--report", p(&report), "--dry-run"],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no base snapshot found"), "{out}");
    assert!(out.contains("lastName: Live →"), "{out}");

    // With --base: lastName is kept, firstName changed on both sides is a conflict.
    let with_base = [
        "import",
        p(&edited),
        "--report",
        p(&report),
        "--base",
        p(&base),
    ];
    let (code, out) = run_on(&h, &[&with_base[..], &["--yes"]].concat()).code_all();
    assert_eq!(code, 1, "{out}");
    assert_eq!(read_report(&report)[1]["outcome"], "conflict");
    let (code, out) = run_on(
        &h,
        &[&with_base[..], &["--yes", "--prefer", "live"]].concat(),
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    let s = state(&h);
    assert_eq!(s[&a][1], "LiveFirst");
    assert_eq!(s[&a][2], "Live");
    assert!(
        read_report(&report)[1]["message"].contains("--prefer live"),
        "{:?}",
        read_report(&report)[1]
    );
}

#[test]
fn upserted_rows_no_longer_count_as_invalid_in_the_validation_shown() {
    let h = sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let admin = h.with_store(|s| s.admin_id.clone());
    let (name, ty) = h.with_store(|s| {
        let u = s.users.iter().find(|u| u.id != admin).expect("user");
        (u.username.clone(), u.user_type.clone().unwrap_or_default())
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("up.csv");
    write(
        &file,
        &[
            format!(",{name},Upserted,Person,{name},,{ty},active,"),
            format!(",w@x.org, Spacey ,Row,w@x.org,,{ty},,"),
        ],
    );
    let report = dir.path().join("up.report.csv");
    let (code, out) = run_on(
        &h,
        &[
            "import",
            p(&file),
            "--report",
            p(&report),
            "--yes",
            "--upsert",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid, with warnings"), "{out}");
    assert!(!out.contains("INVALID") && !out.contains("U05"), "{out}");
    assert!(out.contains("1 create, 1 update"), "{out}");
}
