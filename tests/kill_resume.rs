//! Kill/resume soak (issue 9 acceptance): an import of creates (some created `disabled`),
//! updates (some disabling) and unchanged rows against `qusers sim --fail-rate 0.1
//! --drop-rate 0.05 --latency 20`, SIGKILLed at random moments and resumed until done, must end with the
//! instance exactly as planned and every row once in the report with its true outcome.
//!
//! CI runs 300 rows and 5 kills; the full soak (2,000 rows, 20+ kills) is `#[ignore]`d:
//! `cargo test --release --test kill_resume -- --ignored --nocapture`.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use support::{read_report, SimProcess, HEADER};

/// What a row of the file should end as.
#[derive(Clone, Debug)]
enum Want {
    Create {
        username: String,
        disabled: bool,
    },
    Update {
        id: String,
        first: String,
        disabled: bool,
    },
    Unchanged {
        id: String,
    },
}

fn store(state: &Path) -> qusers::sim::Store {
    // The simulator saves within 200 ms of a change.
    std::thread::sleep(Duration::from_millis(500));
    qusers::sim::Store::load(state).expect("state")
}

struct Figures {
    runs: u32,
    kills: u32,
    seconds: f64,
}

fn soak(rows: usize, kills: u32, seed: u64) -> Figures {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    if std::env::var_os("SOAK_KEEP").is_some() {
        // Kept for a look after a failure.
        eprintln!("soak dir: {}", dir.display());
        std::mem::forget(tmp);
    }
    let state = dir.join("sim.json");
    let existing = rows / 4 + 2;
    let sim = SimProcess::start(&[
        "--latency",
        "20",
        "--fail-rate",
        "0.1",
        "--drop-rate",
        "0.05",
        "--users",
        &existing.to_string(),
        "--state",
        state.to_str().expect("utf-8"),
    ]);
    let before = store(&state);
    let user_type = before
        .user_types
        .keys()
        .find(|t| *t != "UT_BRANDADMIN")
        .cloned()
        .expect("type");
    // Existing users other than the admin, for updates and unchanged rows.
    let others: Vec<&qusers::api::ApiUser> = before
        .users
        .iter()
        .filter(|u| u.id != before.admin_id)
        .collect();
    // SOAK_SEED=N varies the file and the kill moments of a run by hand.
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut lines = Vec::new();
    let mut wants = Vec::new();
    let (mut next_other, mut k) = (0, 0);
    for n in 0..rows {
        let pick: f64 = rng.random();
        if pick < 0.25 && next_other < others.len() {
            let u = others[next_other];
            next_other += 1;
            if pick < 0.15 {
                // An update: a new first name; one in five also disables.
                k += 1;
                let disabled = k % 5 == 0;
                let first = format!("Upd{n}");
                lines.push(format!(
                    "{},{},{first},,,,,{},",
                    u.id,
                    u.username,
                    if disabled { "disabled" } else { "" }
                ));
                wants.push(Want::Update {
                    id: u.id.clone(),
                    first,
                    disabled,
                });
            } else {
                lines.push(format!("{},{},,,,,,,", u.id, u.username));
                wants.push(Want::Unchanged { id: u.id.clone() });
            }
        } else {
            let disabled = rng.random::<f64>() < 0.08; // ~6 % of all rows
            let username = format!("soak{n}@x.org");
            lines.push(format!(
                ",{username},So,Ak{n},{username},,{user_type},{},",
                if disabled { "disabled" } else { "active" }
            ));
            wants.push(Want::Create { username, disabled });
        }
    }
    let file = dir.join("soak.csv");
    std::fs::write(&file, format!("{HEADER}\n{}\n", lines.join("\n"))).expect("file");
    let report = dir.join("soak.report.csv");
    let journal = PathBuf::from(format!("{}.journal", report.display()));

    let run = |resume: bool| {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("qusers"));
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
                // The file disables more users than the default brake allows (issue 11).
                "--allow-mass-changes",
            ])
            .env("QUALTRICS_API_TOKEN", &sim.token)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if resume {
            cmd.arg("--resume");
        }
        cmd.spawn().expect("import starts")
    };
    let started = Instant::now();
    let (mut runs, mut killed) = (0u32, 0u32);
    let mut finished = false;
    while runs < 400 {
        runs += 1;
        let mut child = run(journal.exists());
        if killed < kills {
            let wait = Duration::from_millis(rng.random_range(50..250 + rows as u64));
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline {
                if child.try_wait().expect("wait").is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            if child.try_wait().expect("wait").is_none() {
                child.kill().expect("SIGKILL");
                killed += 1;
            }
        }
        let status = child.wait().expect("exit");
        if status.code().is_some() && !journal.exists() {
            // Exit 0 or 1 by itself, with no row left to retry.
            finished = true;
            break;
        }
    }
    assert!(finished, "done after {runs} runs");
    let seconds = started.elapsed().as_secs_f64();

    // The instance is exactly as planned.
    let after = store(&state);
    let mut by_name: HashMap<&str, Vec<&qusers::api::ApiUser>> = HashMap::new();
    for u in &after.users {
        by_name.entry(u.username.as_str()).or_default().push(u);
    }
    assert!(
        by_name.values().all(|v| v.len() == 1),
        "no duplicate username"
    );
    let creates = wants
        .iter()
        .filter(|w| matches!(w, Want::Create { .. }))
        .count();
    assert_eq!(after.users.len(), before.users.len() + creates);
    let status = |u: &qusers::api::ApiUser| u.account_status.clone().unwrap_or_default();
    for w in &wants {
        match w {
            Want::Create { username, disabled } => {
                let u = by_name[username.as_str()][0];
                let want = if *disabled { "disabled" } else { "active" };
                assert_eq!(status(u), want, "{username}");
            }
            Want::Update {
                id,
                first,
                disabled,
            } => {
                let u = after.get(id).expect("user");
                assert_eq!(u.first_name.as_deref(), Some(first.as_str()));
                if *disabled {
                    assert_eq!(status(u), "disabled", "{id}");
                }
            }
            Want::Unchanged { id } => {
                assert_eq!(after.get(id), before.get(id), "{id} untouched");
            }
        }
    }
    // Every row once in the report, with its true outcome.
    let report_rows = read_report(&report);
    assert_eq!(report_rows.len(), rows);
    let mut seen = BTreeMap::new();
    for r in &report_rows {
        let n: usize = r["row"].parse().expect("row number");
        assert!(seen.insert(n, ()).is_none(), "row {n} once");
        let want = match &wants[n - 1] {
            Want::Create { .. } => "created",
            Want::Update { .. } => "updated",
            Want::Unchanged { .. } => "unchanged",
        };
        assert_eq!(r["outcome"], want, "row {n}: {r:?}");
        assert!(!r["codes"].contains("U05"), "row {n}: {r:?}");
        if let Want::Create { username, .. } = &wants[n - 1] {
            assert_eq!(r["userID"], by_name[username.as_str()][0].id, "row {n}");
        }
    }
    assert!(!journal.exists());
    Figures {
        runs,
        kills: killed,
        seconds,
    }
}

#[test]
fn three_hundred_rows_survive_five_kills() {
    let f = soak(300, 5, 7);
    eprintln!(
        "300 rows: {} kills, {} runs, {:.1} s",
        f.kills, f.runs, f.seconds
    );
}

#[test]
#[ignore = "the full soak, by hand: cargo test --release --test kill_resume -- --ignored --nocapture"]
fn two_thousand_rows_survive_twenty_kills() {
    let f = soak(2000, 24, 11);
    eprintln!(
        "2000 rows: {} kills, {} runs, {:.1} s",
        f.kills, f.runs, f.seconds
    );
    assert!(f.kills >= 20, "only {} kills landed", f.kills);
}
