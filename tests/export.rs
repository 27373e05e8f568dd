//! `qusers export` against the simulator: filters, layout, round trip through validate and
//! import, and no file left behind on failure.

use crate::support;

use std::collections::BTreeSet;

use qusers::instance::InstanceUser;
use qusers::sim::{self, SimConfig, SimHandle};
use support::{qusers, read_report};

fn export(h: &SimHandle, args: &[&str]) -> (i32, String) {
    let out = qusers()
        .arg("export")
        .args(["--base-url", &h.url(), "--quiet"])
        .args(support::NO_CEILING)
        .args(args)
        .env("QUALTRICS_API_TOKEN", h.token())
        .output()
        .expect("runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("UTF-8 CSV"),
    )
}

fn ids_in(csv_text: &str) -> BTreeSet<String> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    rdr.records()
        .map(|r| r.expect("record")[0].to_string())
        .collect()
}

fn users(h: &SimHandle) -> Vec<InstanceUser> {
    h.with_store(|s| {
        s.users
            .iter()
            .cloned()
            .map(InstanceUser::from_api)
            .collect()
    })
}

#[test]
fn filters_return_exactly_the_matching_users() {
    let h = sim::spawn(SimConfig {
        demo_users: 450,
        seed: 3,
        ..SimConfig::default()
    })
    .expect("sim");
    let all = users(&h);
    let some_division = all[5].division_id.clone();
    let some_type = all[5].account_type.clone();
    let expect = |f: &dyn Fn(&InstanceUser) -> bool| -> BTreeSet<String> {
        all.iter().filter(|u| f(u)).map(|u| u.id.clone()).collect()
    };
    let cases: Vec<(Vec<&str>, BTreeSet<String>)> = vec![
        (vec![], expect(&|_| true)),
        (
            vec!["--username", "MARIA"],
            expect(&|u| u.username.contains("maria")),
        ),
        (
            vec!["--first-name", "zoë"],
            expect(&|u| u.first_name.to_lowercase().contains("zoë")),
        ),
        (
            vec!["--last-name", "ov"],
            expect(&|u| u.last_name.to_lowercase().contains("ov")),
        ),
        (
            vec!["--email", "corp.example"],
            expect(&|u| u.email.contains("corp.example")),
        ),
        (
            vec!["--status", "disabled"],
            expect(&|u| u.status == "disabled"),
        ),
        (
            vec!["--division", &some_division],
            expect(&|u| u.division_id == some_division),
        ),
        (
            vec![
                "--account-type",
                &some_type,
                "--status",
                "active",
                "--email",
                "students",
            ],
            expect(&|u| {
                u.account_type == some_type && u.status == "active" && u.email.contains("students")
            }),
        ),
    ];
    for (args, want) in cases {
        let (code, out) = export(&h, &args);
        assert_eq!(code, 0);
        let got = ids_in(&out);
        assert!(
            !want.is_empty() || args.is_empty(),
            "{args:?} should match someone"
        );
        assert_eq!(got, want, "{args:?}");
    }
}

#[test]
fn layout_names_and_dates() {
    let h = sim::spawn(SimConfig {
        demo_users: 30,
        ..SimConfig::default()
    })
    .expect("sim");
    let (code, out) = export(&h, &[]);
    assert_eq!(code, 0);
    let mut rdr = csv::Reader::from_reader(out.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(
        header,
        [
            "userID",
            "userName",
            "firstName",
            "lastName",
            "email",
            "divisionId",
            "Division Name",
            "accountType",
            "User Type Name",
            "accountStatus",
            "expirationDate"
        ]
    );
    let (divisions, with_date) = h.with_store(|s| {
        (
            s.divisions.clone(),
            s.users
                .iter()
                .find(|u| u.account_expiration_date.is_some())
                .cloned(),
        )
    });
    for r in rdr.records() {
        let r = r.expect("record");
        if !r[5].is_empty() {
            assert_eq!(&r[6], divisions[&r[5]].as_str());
        }
        assert!(["active", "disabled"].contains(&&r[9]));
    }
    let u = with_date.expect("a demo user with an expiration date");
    let iso = u.account_expiration_date.expect("date");
    let file_date = format!("{}/{}/{}", &iso[5..7], &iso[8..10], &iso[..4]);
    assert!(out.contains(&format!(",{file_date}\n")), "{file_date}");
    // One division look-up per division, not per user.
    assert!(
        h.stats()
            .requests
            .get("GET /divisions/{id}")
            .copied()
            .unwrap_or(0)
            <= divisions.len() as u64
    );
}

#[test]
fn round_trip_export_validate_import() {
    let h = sim::spawn(SimConfig {
        demo_users: 60,
        ..SimConfig::default()
    })
    .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("users.csv");
    let out = qusers()
        .arg("export")
        .args(["--for-update", "-o"])
        .arg(&file)
        .args(["--base-url", &h.url()])
        .env("QUALTRICS_API_TOKEN", h.token())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 61 of 61 users"));
    qusers().arg("validate").arg(&file).assert().code(0);

    let import = |path: &std::path::Path, report: &str| {
        qusers()
            .arg("import")
            .arg(path)
            .arg("--report")
            .arg(dir.path().join(report))
            .args(["--base-url", &h.url(), "--yes"])
            .env("QUALTRICS_API_TOKEN", h.token())
            .output()
            .expect("runs")
    };
    let writes = || {
        let s = h.stats();
        s.requests.get("POST /users").copied().unwrap_or(0)
            + s.requests.get("PUT /users/{id}").copied().unwrap_or(0)
    };
    assert_eq!(import(&file, "same.csv").status.code(), Some(0));
    assert_eq!(writes(), 0, "an unchanged export sends no write");

    // Edit two names and two statuses.
    let text = std::fs::read_to_string(&file).expect("read");
    let mut lines: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    lines[3][2] = "Edited".into();
    lines[4][3] = "Edited-Name".into();
    for i in [5, 6] {
        lines[i][7] = if lines[i][7] == "active" {
            "disabled".into()
        } else {
            "active".into()
        };
    }
    let changed: BTreeSet<String> = [3, 4, 5, 6].iter().map(|&i| lines[i][0].clone()).collect();
    let edited = dir.path().join("edited.csv");
    std::fs::write(
        &edited,
        lines
            .iter()
            .map(|l| l.join(","))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .expect("write");
    assert_eq!(import(&edited, "edited-report.csv").status.code(), Some(0));
    assert_eq!(writes(), 4, "exactly the four edited users");
    let report = read_report(&dir.path().join("edited-report.csv"));
    let updated: BTreeSet<String> = report
        .iter()
        .filter(|r| r["outcome"] == "updated")
        .map(|r| r["userID"].clone())
        .collect();
    assert_eq!(updated, changed);
    let by_id = |id: &str| h.with_store(|s| s.get(id).cloned().expect("user"));
    assert_eq!(by_id(&lines[3][0]).first_name.as_deref(), Some("Edited"));
    assert_eq!(
        by_id(&lines[4][0]).last_name.as_deref(),
        Some("Edited-Name")
    );
}

#[test]
fn a_rejected_token_leaves_no_file_and_exits_2() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("out.csv");
    let out = qusers()
        .arg("export")
        .arg("-o")
        .arg(&file)
        .args(["--base-url", &h.url()])
        .env("QUALTRICS_API_TOKEN", "wrong")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rejected"));
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "no file, not even a partial one"
    );
}
