//! `qusers import` end to end against the simulator: the report's rows, the requests the API
//! received, and the state the instance ends in.

use crate::support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qusers::sim::{self, SimConfig, SimHandle};
use support::{qusers, read_report, write_user_file, SimProcess};

struct Ids {
    user_type: String,
    other_type: String,
    division: String,
}

fn ids(h: &SimHandle) -> Ids {
    h.with_store(|s| {
        let types: Vec<String> = s
            .user_types
            .keys()
            .filter(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .collect();
        Ids {
            user_type: types[0].clone(),
            other_type: types[1].clone(),
            division: s.divisions.keys().next().cloned().expect("a division"),
        }
    })
}

fn write(dir: &Path, name: &str, rows: &[String]) -> PathBuf {
    let path = dir.join(name);
    write_user_file(&path, rows);
    path
}

/// Runs an import against the simulator; returns (exit code, report rows, stdout).
fn import(
    h_url: &str,
    token: &str,
    file: &Path,
    report: &Path,
    extra: &[&str],
) -> (i32, Vec<HashMap<String, String>>, String) {
    let out = support::run(
        qusers()
            .arg("import")
            .arg(file)
            .arg("--report")
            .arg(report)
            .args(["--base-url", h_url, "--yes"])
            .args(extra)
            .env("QUALTRICS_API_TOKEN", token),
    );
    let rows = if report.exists() && report.extension().is_some_and(|e| e == "csv") {
        read_report(report)
            .into_iter()
            .map(|m| m.into_iter().collect())
            .collect()
    } else {
        Vec::new()
    };
    (out.code, rows, out.all())
}

fn outcomes(rows: &[HashMap<String, String>]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|r| (r["line"].clone(), r["outcome"].clone(), r["codes"].clone()))
        .collect()
}

fn t(line: &str, outcome: &str, codes: &str) -> (String, String, String) {
    (line.into(), outcome.into(), codes.into())
}

fn writes(h: &SimHandle) -> (u64, u64) {
    let s = h.stats();
    (
        s.requests.get("POST /users").copied().unwrap_or(0),
        s.requests.get("PUT /users/{id}").copied().unwrap_or(0),
    )
}

#[test]
fn create_only() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let i = ids(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "new.csv",
        &[
            format!(
                ",ann.lee@x.org,Ann,Lee,ann.lee@x.org,{},{},active,12/31/2099",
                i.division, i.user_type
            ),
            format!(
                ",bo.chen@x.org,Bo,Chen,bo.chen@x.org,,{},disabled,",
                i.user_type
            ),
            format!(",cy.diaz@x.org,Cy,Díaz,cy.diaz@x.org,,{},,", i.other_type),
        ],
    );
    let report = dir.path().join("report.csv");
    let (code, rows, out) = import(&h.url(), h.token(), &file, &report, &[]);
    assert_eq!(code, 0, "{out}");
    // The instance has no user of these types yet: A07 warns, and the rows still go in.
    assert_eq!(
        outcomes(&rows),
        vec![
            t("2", "created", "A07"),
            t("3", "created", "A07"),
            t("4", "created", "A07")
        ]
    );
    assert!(rows
        .iter()
        .all(|r| r["userID"].starts_with("UR_") && r["httpStatus"] == "200"));
    assert!(rows.iter().all(|r| !r["requestId"].is_empty()));
    // Three creates, and one PUT to disable the user the file wants disabled.
    assert_eq!(writes(&h), (3, 1));
    h.with_store(|s| {
        let ann = s.by_username("ann.lee@x.org").expect("created");
        assert_eq!(
            ann.account_expiration_date.as_deref(),
            Some("2099-12-31T00:00:00Z"),
            "sent, and kept, as the API writes dates"
        );
        assert_eq!(ann.division_id.as_deref(), Some(i.division.as_str()));
        assert_eq!(
            s.by_username("bo.chen@x.org")
                .and_then(|u| u.account_status.clone())
                .as_deref(),
            Some("disabled")
        );
        assert_eq!(
            s.by_username("cy.diaz@x.org")
                .and_then(|u| u.last_name.clone())
                .as_deref(),
            Some("Díaz")
        );
    });
    assert!(
        !Path::new(&format!("{}.journal", report.display())).exists(),
        "journal removed when done"
    );
}

/// An update file as an admin makes it: every user of the instance, as exported.
fn export_rows(h: &SimHandle) -> Vec<(String, String)> {
    h.with_store(|s| {
        s.users
            .iter()
            .map(|u| {
                let exp = u
                    .account_expiration_date
                    .as_deref()
                    .and_then(qusers::instance::api_date_to_file)
                    .unwrap_or_default();
                (
                    u.id.clone(),
                    format!(
                        "{},{},{},{},{},{},{},{},{}",
                        u.id,
                        u.username,
                        u.first_name.clone().unwrap_or_default(),
                        u.last_name.clone().unwrap_or_default(),
                        u.email.clone().unwrap_or_default(),
                        u.division_id.clone().unwrap_or_default(),
                        u.user_type.clone().unwrap_or_default(),
                        u.account_status.clone().unwrap_or_default(),
                        exp
                    ),
                )
            })
            .collect()
    })
}

#[test]
fn update_only_sends_only_the_changes() {
    let h = sim::spawn(SimConfig {
        demo_users: 20,
        ..SimConfig::default()
    })
    .expect("sim");
    let i = ids(&h);
    let rows = export_rows(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    // Unchanged export: nothing to do, no request but the listing.
    let file = write(
        dir.path(),
        "same.csv",
        &rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
    );
    let (code, report_rows, out) =
        import(&h.url(), h.token(), &file, &dir.path().join("r1.csv"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        report_rows.iter().all(|r| r["outcome"] == "unchanged"),
        "{report_rows:?}"
    );
    assert_eq!(writes(&h), (0, 0));
    // The thin list carries no expiration dates: only the users whose row gives one have
    // their record read, to compare it with the real date (issue 20).
    let dated = rows.iter().filter(|r| !r.1.ends_with(',')).count() as u64;
    assert!(dated > 0);
    assert_eq!(h.stats().requests.get("GET /users/{id}"), Some(&dated));

    // Edit three users: a last name, a status, a user type.
    let mut edited: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    let target_ids: Vec<String> = rows[3..6].iter().map(|r| r.0.clone()).collect();
    let mut fields: Vec<Vec<String>> = edited
        .iter()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    fields[3][3] = "Renamed".into();
    fields[4][7] = "disabled".into();
    fields[5][6] = i.other_type.clone();
    edited = fields.iter().map(|f| f.join(",")).collect();
    let file = write(dir.path(), "edited.csv", &edited);
    let before = writes(&h);
    let (code, report_rows, out) =
        import(&h.url(), h.token(), &file, &dir.path().join("r2.csv"), &[]);
    assert_eq!(code, 0, "{out}");
    let updated: Vec<&str> = report_rows
        .iter()
        .filter(|r| r["outcome"] == "updated")
        .map(|r| r["userID"].as_str())
        .collect();
    assert_eq!(
        updated,
        target_ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(
        report_rows
            .iter()
            .filter(|r| r["outcome"] == "unchanged")
            .count(),
        rows.len() - 3
    );
    assert!(
        report_rows[3]["message"].contains("lastName:")
            && report_rows[3]["message"].contains("→ Renamed")
    );
    let after = writes(&h);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (0, 3),
        "three PUTs, nothing else"
    );
    h.with_store(|s| {
        assert_eq!(
            s.get(&target_ids[0])
                .and_then(|u| u.last_name.clone())
                .as_deref(),
            Some("Renamed")
        );
        assert_eq!(
            s.get(&target_ids[1])
                .and_then(|u| u.account_status.clone())
                .as_deref(),
            Some("disabled")
        );
        assert_eq!(
            s.get(&target_ids[2]).and_then(|u| u.user_type.clone()),
            Some(i.other_type.clone())
        );
    });
}

#[test]
fn mixed_file_invalid_rows_dry_run_and_skip_invalid() {
    let h = sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let i = ids(&h);
    let rows = export_rows(&h);
    let taken = h.with_store(|s| s.users[3].username.clone());
    let mut changed: Vec<String> = rows[1].1.split(',').map(String::from).collect();
    changed[2] = "Changed".into();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "mixed.csv",
        &[
            format!(
                ",new.one@x.org,New,One,new.one@x.org,,{},active,",
                i.user_type
            ),
            changed.join(","),
            rows[2].1.clone(),
            format!(",{taken},Dup,User,dup@x.org,,{},active,", i.user_type),
            format!(
                ",bad!name@x.org,Bad,Name,bad@x.org,,{},active,",
                i.user_type
            ),
            format!(
                ",new.two@x.org,New,Two,new.two@x.org,DV_NoSuchDivision1,{},active,",
                i.user_type
            ),
        ],
    );
    // Invalid rows stop everything: the valid ones are skipped.
    let (code, report_rows, out) =
        import(&h.url(), h.token(), &file, &dir.path().join("a.csv"), &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        outcomes(&report_rows),
        vec![
            t("2", "skipped", ""),
            t("3", "skipped", ""),
            t("4", "skipped", ""),
            t("5", "invalid", "U05"),
            t("6", "invalid", "U03"),
            t("7", "invalid", "A08"),
        ]
    );
    assert!(out.contains("--skip-invalid"), "{out}");
    assert_eq!(writes(&h), (0, 0));
    assert_eq!(
        h.stats().requests.get("GET /divisions/{id}"),
        Some(&1),
        "one look-up per unknown division"
    );

    // A dry run with --skip-invalid plans and changes nothing.
    let (code, report_rows, out) = import(
        &h.url(),
        h.token(),
        &file,
        &dir.path().join("b.csv"),
        &["--dry-run", "--skip-invalid"],
    );
    assert_eq!(code, 1, "invalid rows still make the exit code 1");
    assert!(out.contains("create     line 2: new.one@x.org"), "{out}");
    assert!(
        out.contains("firstName:") && out.contains("→ Changed"),
        "{out}"
    );
    assert_eq!(
        report_rows
            .iter()
            .filter(|r| r["outcome"] == "planned")
            .count(),
        2
    );
    assert_eq!(writes(&h), (0, 0));

    // --skip-invalid imports the valid rows.
    let (code, report_rows, out) = import(
        &h.url(),
        h.token(),
        &file,
        &dir.path().join("c.csv"),
        &["--skip-invalid"],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        outcomes(&report_rows),
        vec![
            t("2", "created", ""),
            t("3", "updated", ""),
            t("4", "unchanged", ""),
            t("5", "invalid", "U05"),
            t("6", "invalid", "U03"),
            t("7", "invalid", "A08"),
        ]
    );
    assert_eq!(writes(&h), (1, 1));
}

#[test]
fn two_thousand_rows_under_faults_are_created_exactly_once() {
    let h = sim::spawn(SimConfig {
        fail_rate: 0.1,
        drop_rate: 0.05,
        seed: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let i = ids(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let rows: Vec<String> = (0..2000)
        .map(|n| {
            format!(
                ",bulk{n}@x.org,Bulk,User{n},bulk{n}@x.org,,{},active,",
                i.user_type
            )
        })
        .collect();
    let file = write(dir.path(), "bulk.csv", &rows);
    let report = dir.path().join("bulk-report.jsonl");
    let (code, _, out) = import(
        &h.url(),
        h.token(),
        &file,
        &report,
        &["--concurrency", "16", "--max-rps", "2000"],
    );
    assert_eq!(code, 0, "{out}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .expect("report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2000, "every row in the report once");
    for (n, l) in lines.iter().enumerate() {
        assert_eq!(l["row"], n as u64 + 1);
        assert_eq!(l["outcome"], "created", "{l}");
    }
    h.with_store(|s| {
        let bulk: Vec<_> = s
            .users
            .iter()
            .filter(|u| u.username.starts_with("bulk"))
            .collect();
        assert_eq!(bulk.len(), 2000, "each user exactly once");
    });
    let stats = h.stats();
    assert!(stats.failed > 0 && stats.dropped > 0, "{stats:?}");
}

#[test]
fn killed_then_resumed_ends_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("sim.json");
    let sim = SimProcess::start(&[
        "--latency",
        "15",
        "--fail-rate",
        "0.05",
        "--drop-rate",
        "0.05",
        "--users",
        "30",
        "--state",
        state.to_str().expect("utf-8"),
    ]);
    let store_now = || -> qusers::sim::Store {
        // The simulator saves within 200 ms of a change.
        std::thread::sleep(Duration::from_millis(400));
        qusers::sim::Store::load(&state).expect("state")
    };
    let store = store_now();
    let user_type = store
        .user_types
        .keys()
        .find(|t| *t != "UT_BRANDADMIN")
        .cloned()
        .expect("type");
    let mut rows: Vec<String> = (0..400)
        .map(|n| format!(",resume{n}@x.org,Re,Sume{n},resume{n}@x.org,,{user_type},active,"))
        .collect();
    // And updates of existing users, interleaved.
    for (k, u) in store.users.iter().skip(1).take(20).enumerate() {
        rows.insert(
            k * 20,
            format!(
                "{},{},Updated{k},{},{},,{},active,",
                u.id,
                u.username,
                u.last_name.clone().unwrap_or_default(),
                u.email.clone().unwrap_or_default(),
                u.user_type.clone().unwrap_or_default()
            ),
        );
    }
    let file = write(dir.path(), "resume.csv", &rows);
    let report = dir.path().join("resume-report.csv");
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"));
        cmd.arg("import")
            .arg(&file)
            .arg("--report")
            .arg(&report)
            .args([
                "--base-url",
                &sim.url,
                "--yes",
                "--quiet",
                "--concurrency",
                "4",
            ])
            .args(extra)
            .env("QUALTRICS_API_TOKEN", &sim.token)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    let journal = PathBuf::from(format!("{}.journal", report.display()));
    let mut child = run(&[]).spawn().expect("import starts");
    // Kill it once it is applying rows: the journal appears when the first write is due.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !journal.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(800));
    child.kill().expect("SIGKILL");
    let killed = child.wait().expect("exits");
    // The kill landed: the import was still running (it did not exit by itself) and had
    // created some of the users but not all of them.
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(killed.signal(), Some(9), "ended by the SIGKILL: {killed:?}");
    let partial = read_report(&report).len();
    assert!(
        partial < rows.len(),
        "killed part-way ({partial} rows reported)"
    );
    let created_before_the_kill = store_now()
        .users
        .iter()
        .filter(|u| u.username.starts_with("resume"))
        .count();
    assert!(
        created_before_the_kill > 0 && created_before_the_kill < 400,
        "killed mid-way: {created_before_the_kill} of 400 users were created"
    );
    assert!(
        journal.exists(),
        "the journal of the interrupted import is there"
    );

    // Without --resume the journal is in the way.
    let status = run(&[]).status().expect("runs");
    assert_eq!(status.code(), Some(2));
    let status = run(&["--resume", "--max-rps", "2000"])
        .status()
        .expect("runs");
    assert_eq!(status.code(), Some(0));

    let report_rows = read_report(&report);
    assert_eq!(report_rows.len(), rows.len(), "each row in the report once");
    for (n, r) in report_rows.iter().enumerate() {
        assert_eq!(r["row"], (n + 1).to_string());
        assert!(
            ["created", "updated"].contains(&r["outcome"].as_str()),
            "{r:?}"
        );
    }
    let store = store_now();
    for n in 0..400 {
        let name = format!("resume{n}@x.org");
        let count = store.users.iter().filter(|u| u.username == name).count();
        assert_eq!(count, 1, "{name} exists exactly once");
    }
    for (k, u) in store.users.iter().skip(1).take(20).enumerate() {
        assert_eq!(
            u.first_name.as_deref(),
            Some(format!("Updated{k}").as_str())
        );
    }
    assert!(!journal.exists());
}

#[test]
fn ctrl_c_finishes_in_flight_writes_and_prints_the_resume_command() {
    let sim = SimProcess::start(&["--latency", "30"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let rows: Vec<String> = (0..300)
        .map(|n| format!(",stop{n}@x.org,Stop,User{n},stop{n}@x.org,,UT_BRANDADMIN,active,"))
        .collect();
    let file = write(dir.path(), "stop.csv", &rows);
    let report = dir.path().join("stop-report.csv");
    let journal = PathBuf::from(format!("{}.journal", report.display()));
    let out = support::interrupt(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"))
            .arg("import")
            .arg(&file)
            .arg("--report")
            .arg(&report)
            .args(["--base-url", &sim.url, "--yes"])
            .args(["--concurrency", "2", "--max-rps", "20"])
            .env("QUALTRICS_API_TOKEN", &sim.token),
        &journal,
        Duration::from_millis(500),
    );
    let stdout = &out.stdout;
    assert_eq!(out.code, 130, "{stdout}");
    assert!(
        stdout.contains("interrupted") && stdout.contains("--resume"),
        "{stdout}"
    );
    let report_rows = read_report(&report);
    assert_eq!(report_rows.len(), 300, "every row is in the report");
    let skipped = report_rows
        .iter()
        .filter(|r| r["outcome"] == "skipped")
        .count();
    let created = report_rows
        .iter()
        .filter(|r| r["outcome"] == "created")
        .count();
    assert!(
        skipped > 0 && created > 0 && skipped + created == 300,
        "{created} created, {skipped} skipped"
    );
    assert!(journal.exists(), "kept for --resume");
}

#[test]
fn resume_refuses_a_changed_file() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let i = ids(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "a.csv",
        &[format!(",z@x.org,Z,Z,z@x.org,,{},active,", i.user_type)],
    );
    let report = dir.path().join("r.csv");
    let journal = dir.path().join("r.csv.journal");
    std::fs::write(
        &journal,
        "{\"kind\":\"start\",\"input\":\"a.csv\",\"input_sha256\":\"0000\",\"target\":\"x\"}\n",
    )
    .expect("journal");
    let (code, _, out) = import(&h.url(), h.token(), &file, &report, &["--resume"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("changed since the interrupted import"),
        "{out}"
    );
    assert_eq!(writes(&h), (0, 0));
}

#[test]
fn validate_check_instance_uses_the_live_instance() {
    let h = sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let i = ids(&h);
    let taken = h.with_store(|s| s.users[2].username.to_uppercase());
    let used_division = h.with_store(|s| s.users[1].division_id.clone().expect("a division"));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "check.csv",
        &[
            format!(",{taken},Dup,User,dup@x.org,,{},active,", i.user_type),
            format!(
                "UR_000000000000000,ghost@x.org,Gh,Ost,ghost@x.org,,{},active,",
                i.user_type
            ),
            format!(
                ",new@x.org,New,User,new@x.org,DV_NoSuchDivision1,{},active,",
                i.user_type
            ),
            format!(
                ",fine@x.org,Fine,User,fine@x.org,{used_division},{},active,",
                i.user_type
            ),
        ],
    );
    let report = dir.path().join("r.csv");
    let out = qusers()
        .arg("validate")
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .args(["--check-instance", "--base-url", &h.url()])
        .env("QUALTRICS_API_TOKEN", h.token())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let rows: Vec<(String, String)> = read_report(&report)
        .into_iter()
        .map(|r| (r["line"].clone(), r["codes"].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2".to_string(), "U05".to_string()),
            ("3".into(), "I03".into()),
            ("4".into(), "A08".into()),
            ("5".into(), "".into()),
        ]
    );
    let s = h.stats();
    assert_eq!(
        s.requests.get("GET /divisions/{id}"),
        Some(&1),
        "only the division no user is in"
    );
    assert_eq!(writes(&h), (0, 0), "validate never writes");
}
