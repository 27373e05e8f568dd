//! `qusers sync`: the roster kept in step, one sync a "day" (`QUSERS_TODAY`) against the
//! simulator, each step checked on the simulator's users: creates, updates, leavers missing
//! then disabled after the grace period, the undo file, returns re-enabled only when the sync
//! disabled them, the truncated-roster guard (exit 3, nothing sent, the webhook and the mail
//! told why), and a run killed mid-apply then run again.

use crate::support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use qusers::api::ApiUser;
use qusers::sim::{self, SimConfig, SimHandle};
use support::qusers;

const TOKEN: &str = "sync-token-0123456789abcdef";

/// A student of the roster: NetID, first, last, role.
#[derive(Clone)]
struct Student {
    net_id: String,
    first: String,
    last: String,
    role: &'static str,
}

fn students(range: std::ops::Range<usize>) -> Vec<Student> {
    range
        .map(|i| Student {
            net_id: format!("s{i:04}"),
            first: format!("First{i}"),
            last: format!("Last{i}"),
            role: "Student",
        })
        .collect()
}

/// The roster in its own layout (not the template): columns in another order, other names.
fn write_roster(path: &Path, rows: &[Student]) {
    let mut text = String::from("Last Name,Preferred Name,First Name,NetID,Role,Graduation\n");
    for s in rows {
        text.push_str(&format!(
            "{},,{},{},{},2031-06-30\n",
            s.last, s.first, s.net_id, s.role
        ));
    }
    std::fs::write(path, text).expect("roster");
}

fn users(h: &SimHandle) -> BTreeMap<String, ApiUser> {
    h.with_store(|s| {
        s.users
            .iter()
            .map(|u| (u.username.to_lowercase(), u.clone()))
            .collect()
    })
}

fn status(u: &ApiUser) -> &str {
    u.account_status.as_deref().unwrap_or("active")
}

fn univ(all: &BTreeMap<String, ApiUser>) -> BTreeMap<String, ApiUser> {
    all.iter()
        .filter(|(k, _)| k.ends_with("@univ.edu"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

struct Scenario {
    sim: SimHandle,
    dir: tempfile::TempDir,
    student_type: String,
    ta_type: String,
}

impl Scenario {
    fn new(latency: Duration) -> Scenario {
        let sim = sim::spawn(SimConfig {
            token: TOKEN.into(),
            demo_users: 40,
            latency,
            ..SimConfig::default()
        })
        .expect("sim");
        let (student_type, ta_type) = sim.with_store(|s| {
            let id = |name: &str| {
                s.user_types
                    .iter()
                    .find(|(_, n)| n.as_str() == name)
                    .map(|(i, _)| i.clone())
                    .expect("type")
            };
            (id("Student"), id("Researcher"))
        });
        let dir = tempfile::tempdir().expect("dir");
        let map = format!(
            r#"[fields]
userName  = "{{NetID}}@univ.edu"
firstName = "{{Preferred Name|First Name}}"
lastName  = "{{Last Name}}"
email     = "{{NetID}}@univ.edu"
expirationDate = {{ column = "Graduation", format = "%Y-%m-%d" }}
accountType = {{ column = "Role", values = {{ Student = "{student_type}", TA = "{ta_type}" }} }}
"#
        );
        std::fs::write(dir.path().join("map.toml"), map).expect("map");
        Scenario {
            sim,
            dir,
            student_type,
            ta_type,
        }
    }

    fn roster(&self) -> std::path::PathBuf {
        self.dir.path().join("roster.csv")
    }

    fn sync(&self, day: &str, extra: &[&str]) -> (i32, String, String) {
        let out = support::run(
            qusers()
                .arg("sync")
                .arg(self.roster())
                .arg("--map")
                .arg(self.dir.path().join("map.toml"))
                .args(["--scope", "username:*@univ.edu", "--grace", "2", "--yes"])
                .args(support::NO_CEILING)
                .arg("--report")
                .arg(self.dir.path().join(format!("{day}.csv")))
                .args(extra)
                .args(["--base-url", &self.sim.url()])
                .env("QUALTRICS_API_TOKEN", TOKEN)
                .env("QUSERS_TODAY", day),
        );
        out.parts()
    }

    fn report(&self, day: &str) -> Vec<BTreeMap<String, String>> {
        support::read_report(&self.dir.path().join(format!("{day}.csv")))
    }
}

fn outcomes(report: &[BTreeMap<String, String>]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in report {
        *m.entry(r["outcome"].clone()).or_insert(0) += 1;
    }
    m
}

/// A loopback webhook: every POST body, as received.
fn webhook() -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", l.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut r = BufReader::new(c.try_clone().expect("clone"));
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (url, rx)
}

/// A loopback SMTP server speaking just enough SMTP: every message's DATA.
fn smtp() -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("smtp://{}", l.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut r = BufReader::new(c.try_clone().expect("clone"));
            let _ = c.write_all(b"220 test ESMTP\r\n");
            let mut data = String::new();
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        let _ = c.write_all(b"250 queued\r\n");
                        let _ = tx.send(std::mem::take(&mut data));
                    } else {
                        data.push_str(&line);
                    }
                    continue;
                }
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let answer: &[u8] = match verb.as_str() {
                    "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go ahead\r\n"
                    }
                    "QUIT" => b"221 bye\r\n",
                    _ => b"250 ok\r\n",
                };
                let _ = c.write_all(answer);
                if verb == "QUIT" {
                    break;
                }
            }
        }
    });
    (url, rx)
}

#[test]
fn a_roster_kept_in_step_day_by_day() {
    let sc = Scenario::new(Duration::ZERO);
    let before = users(&sc.sim);
    assert_eq!(before.len(), 41, "40 staff and the Brand Administrator");
    assert!(univ(&before).is_empty());

    // Day 1: 500 students into an instance that holds 40 staff and a Brand Administrator.
    let mut roster = students(0..500);
    write_roster(&sc.roster(), &roster);
    let (code, out, err) = sc.sync("2027-01-01", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let after = users(&sc.sim);
    let created = univ(&after);
    assert_eq!(created.len(), 500);
    for (k, u) in &before {
        assert_eq!(after.get(k), Some(u), "{k} was touched");
    }
    let s7 = &created["s0007@univ.edu"];
    assert_eq!(s7.first_name.as_deref(), Some("First7"));
    assert_eq!(s7.user_type.as_deref(), Some(sc.student_type.as_str()));
    assert_eq!(outcomes(&sc.report("2027-01-01"))["created"], 500);

    // Day 2: 20 leavers, 10 joiners, 30 changed (20 names, 10 roles): missing, not disabled.
    roster.drain(0..20);
    roster.extend(students(500..510));
    for s in roster.iter_mut().take(20) {
        s.first = format!("{}-renamed", s.first);
    }
    for s in roster.iter_mut().skip(20).take(10) {
        s.role = "TA";
    }
    write_roster(&sc.roster(), &roster);
    let (code, out, err) = sc.sync("2027-01-02", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let o = outcomes(&sc.report("2027-01-02"));
    assert_eq!(o.get("created"), Some(&10), "{o:?}");
    assert_eq!(o.get("updated"), Some(&30), "{o:?}");
    assert_eq!(o.get("missing"), Some(&20), "{o:?}");
    let now = univ(&users(&sc.sim));
    assert_eq!(now.len(), 510);
    assert!(
        now.values().all(|u| status(u) == "active"),
        "none disabled yet"
    );
    assert_eq!(
        now["s0020@univ.edu"].first_name.as_deref(),
        Some("First20-renamed")
    );
    assert_eq!(
        now["s0040@univ.edu"].user_type.as_deref(),
        Some(sc.ta_type.as_str())
    );

    // Day 3: the same roster again: the 20 leavers are disabled, nobody else.
    let (code, out, err) = sc.sync("2027-01-03", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let now = univ(&users(&sc.sim));
    let disabled: Vec<&String> = now
        .iter()
        .filter(|(_, u)| status(u) == "disabled")
        .map(|(k, _)| k)
        .collect();
    let leavers: Vec<String> = (0..20).map(|i| format!("s{i:04}@univ.edu")).collect();
    assert_eq!(disabled, leavers.iter().collect::<Vec<_>>());
    assert!(users(&sc.sim)
        .iter()
        .filter(|(k, _)| !k.ends_with("@univ.edu"))
        .all(|(k, u)| before.get(k) == Some(u)));
    let undo = sc.dir.path().join("2027-01-03.undo.csv");
    assert!(undo.exists(), "the undo file of the run");

    // An admin disables one student by hand.
    let out = support::run(
        qusers()
            .args([
                "update",
                "--username",
                "s0300@univ.edu",
                "--set",
                "accountStatus=disabled",
                "--yes",
            ])
            .arg("--report")
            .arg(sc.dir.path().join("by-hand.csv"))
            .args(["--base-url", &sc.sim.url()])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Day 4: 5 leavers come back: exactly those are re-enabled; the one disabled by hand stays.
    roster.extend(students(0..5));
    write_roster(&sc.roster(), &roster);
    let (code, out, err) = sc.sync("2027-01-04", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let now = univ(&users(&sc.sim));
    for i in 0..20 {
        let want = if i < 5 { "active" } else { "disabled" };
        assert_eq!(status(&now[&format!("s{i:04}@univ.edu")]), want, "s{i:04}");
    }
    assert_eq!(
        status(&now["s0300@univ.edu"]),
        "disabled",
        "disabled by hand stays so"
    );
    let report = sc.report("2027-01-04");
    let s300 = report
        .iter()
        .find(|r| r["userName"] == "s0300@univ.edu")
        .expect("row");
    assert!(s300["message"].contains("not by this sync"), "{s300:?}");

    // The undo file of day 3 re-enables the 20 it disabled.
    let out = support::run(
        qusers()
            .arg("import")
            .arg(&undo)
            .arg("--report")
            .arg(sc.dir.path().join("undo-report.csv"))
            .args(["--yes", "--base-url", &sc.sim.url()])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    let now = univ(&users(&sc.sim));
    assert!(leavers.iter().all(|k| status(&now[k]) == "active"));

    // Day 5: the roster cut to half its rows, then cut mid-line: each held, exit 3, nothing
    // sent, the webhook and the mail told why.
    let (hook, hooks) = webhook();
    let (mail, mails) = smtp();
    let notify = [
        "--notify",
        hook.as_str(),
        "--mail-to",
        "admin@univ.edu",
        "--smtp",
        mail.as_str(),
    ];
    let snapshot = users(&sc.sim);
    write_roster(&sc.roster(), &roster[..roster.len() / 2]);
    let (code, out, err) = sc.sync("2027-01-05", &notify);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("HELD"), "{out}");
    assert_eq!(users(&sc.sim), snapshot, "nothing sent");
    let body = hooks
        .recv_timeout(Duration::from_secs(10))
        .expect("the webhook was called");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["held"], true);
    assert!(
        json["text"]
            .as_str()
            .is_some_and(|t| t.contains("fewer than")),
        "{json}"
    );
    let message = mails
        .recv_timeout(Duration::from_secs(10))
        .expect("mail sent");
    assert!(
        message.contains("HELD") && message.contains("fewer than"),
        "{message}"
    );
    let held = sc.report("2027-01-05");
    assert!(held.iter().all(|r| r["outcome"] == "held"), "{held:?}");

    write_roster(&sc.roster(), &roster);
    let mut text = std::fs::read_to_string(sc.roster()).expect("read");
    text.truncate(text.len() - 20);
    std::fs::write(sc.roster(), &text).expect("cut");
    let (code, out, err) = sc.sync("2027-01-05", &notify);
    assert_eq!(code, 3, "{out}\n{err}");
    assert_eq!(users(&sc.sim), snapshot, "nothing sent");
    let body = hooks
        .recv_timeout(Duration::from_secs(10))
        .expect("the webhook was called");
    assert!(body.contains("cut off"), "{body}");
    let message = mails
        .recv_timeout(Duration::from_secs(10))
        .expect("mail sent");
    assert!(message.contains("cut off"), "{message}");

    // --accept-roster would take it; the whole roster instead runs as before.
    write_roster(&sc.roster(), &roster);
    let (code, out, err) = sc.sync("2027-01-06", &[]);
    assert_eq!(code, 0, "{out}\n{err}");

    // The history has every run, the held ones with their reasons.
    let out =
        support::run(
            qusers()
                .arg("sync")
                .arg(sc.roster())
                .args(["--history", "--format", "json"]),
        );
    let runs: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let outcomes: Vec<&str> = runs
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        outcomes,
        ["done", "done", "done", "done", "held", "held", "done"]
    );
}

#[test]
fn a_run_killed_mid_apply_and_run_again_leaves_no_duplicate_and_no_row_lost() {
    let sc = Scenario::new(Duration::from_millis(15));
    let roster = students(0..400);
    write_roster(&sc.roster(), &roster);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"))
        .arg("sync")
        .arg(sc.roster())
        .arg("--map")
        .arg(sc.dir.path().join("map.toml"))
        .args(["--scope", "username:*@univ.edu", "--yes", "--quiet"])
        .arg("--report")
        .arg(sc.dir.path().join("run.csv"))
        .args(["--base-url", &sc.sim.url()])
        .env("QUALTRICS_API_TOKEN", TOKEN)
        .env("QUSERS_TODAY", "2027-02-01")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while univ(&users(&sc.sim)).len() < 100 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    let partial = univ(&users(&sc.sim)).len();
    assert!(
        (100..400).contains(&partial),
        "killed mid-apply: {partial} created"
    );

    let (code, out, err) = sc.sync("2027-02-01", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = sc.sim.with_store(|s| {
        s.users
            .iter()
            .map(|u| u.username.to_lowercase())
            .collect::<Vec<_>>()
    });
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "no user created twice");
    assert_eq!(univ(&users(&sc.sim)).len(), 400, "no row lost");
    // Every roster row is in the report once: created now, or found from the killed run.
    let report = sc.report("2027-02-01");
    assert_eq!(report.len(), 400);
    let o = outcomes(&report);
    assert_eq!(
        o.get("created").copied().unwrap_or(0) + o.get("unchanged").copied().unwrap_or(0),
        400,
        "{o:?}"
    );
    // The state: the finished run, every user managed, nothing left half done.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sc.dir.path().join("roster.qusers-sync/state.json")).expect("state"),
    )
    .expect("json");
    let runs = state["runs"].as_array().expect("runs");
    assert_eq!(runs.last().expect("a run")["outcome"], "done");
    let managed = state["users"]
        .as_object()
        .expect("users")
        .values()
        .filter(|u| u["managed"] == true)
        .count();
    assert_eq!(managed, 400);
}

#[test]
fn a_division_administrators_token_syncs_only_its_division() {
    const DIV_TOKEN: &str = "division-admin-token-0123456789";
    let probe = sim::spawn(SimConfig::default()).expect("sim");
    let (home, other) = probe.with_store(|s| {
        let mut d = s.divisions.keys().cloned();
        (d.next().expect("a division"), d.next().expect("another"))
    });
    drop(probe);
    // The same seed makes the same divisions.
    let sim = sim::spawn(SimConfig {
        token: TOKEN.into(),
        demo_users: 40,
        division_admin: Some((DIV_TOKEN.into(), home.clone())),
        ..SimConfig::default()
    })
    .expect("sim");
    let student_type = sim.with_store(|s| {
        s.user_types
            .iter()
            .find(|(_, n)| n.as_str() == "Student")
            .map(|(i, _)| i.clone())
            .expect("type")
    });
    let dir = tempfile::tempdir().expect("dir");
    // Ten @univ.edu users of another division, made with the brand admin's token: the division
    // administrator cannot see them, so they are never missing.
    let others = dir.path().join("others.csv");
    support::write_user_file(
        &others,
        &(0..10)
            .map(|i| format!(",o{i}@univ.edu,O,Ther{i},o{i}@univ.edu,{other},{student_type},,"))
            .collect::<Vec<_>>(),
    );
    let out = support::run(
        qusers()
            .arg("import")
            .arg(&others)
            .arg("--report")
            .arg(dir.path().join("others.report.csv"))
            .args(["--yes", "--base-url", &sim.url()])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    std::fs::write(
        dir.path().join("map.toml"),
        format!(
            "[fields]\nuserName = \"{{NetID}}@univ.edu\"\nfirstName = \"{{First Name}}\"\nlastName = \"{{Last Name}}\"\nemail = \"{{NetID}}@univ.edu\"\naccountType = {{ column = \"Role\", values = {{ Student = \"{student_type}\" }} }}\ndivisionId = \"{home}\"\n"
        ),
    )
    .expect("map");
    let roster = dir.path().join("roster.csv");
    let sync = |day: &str| {
        let out = support::run(
            qusers()
                .arg("sync")
                .arg(&roster)
                .arg("--map")
                .arg(dir.path().join("map.toml"))
                .args(["--scope", "username:*@univ.edu", "--grace", "2", "--yes"])
                .args(support::NO_CEILING)
                .arg("--report")
                .arg(dir.path().join(format!("{day}.csv")))
                .args(["--base-url", &sim.url()])
                .env("QUALTRICS_API_TOKEN", DIV_TOKEN)
                .env("QUSERS_TODAY", day),
        );
        assert_eq!(
            out.code,
            0,
            "{}\n{}",
            out.stdout.as_str(),
            out.stderr.as_str()
        );
        support::read_report(&dir.path().join(format!("{day}.csv")))
    };
    let outside = |h: &SimHandle| {
        users(h)
            .into_iter()
            .filter(|(_, u)| u.division_id.as_deref() != Some(home.as_str()))
            .collect::<BTreeMap<_, _>>()
    };
    let before = outside(&sim);
    let mut rows = students(0..50);
    write_roster(&roster, &rows);
    let report = sync("2027-03-01");
    assert_eq!(outcomes(&report).get("created"), Some(&50));
    let now = univ(&users(&sim));
    assert!(now
        .iter()
        .filter(|(k, _)| k.starts_with('s'))
        .all(|(_, u)| u.division_id.as_deref() == Some(home.as_str())));
    rows.truncate(45);
    write_roster(&roster, &rows);
    let report = sync("2027-03-02");
    assert_eq!(
        outcomes(&report).get("missing"),
        Some(&5),
        "only its own 5 are missing"
    );
    assert!(report.iter().all(|r| !r["userName"].starts_with("o")));
    sync("2027-03-03");
    let now = univ(&users(&sim));
    let disabled: Vec<&String> = now
        .iter()
        .filter(|(_, u)| status(u) == "disabled")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(disabled.len(), 5, "{disabled:?}");
    assert!(disabled.iter().all(|k| k.starts_with("s004")));
    assert_eq!(outside(&sim), before, "no user of another division touched");
}

#[test]
fn seats_show_active_users_before_and_after_and_list_candidates_without_changing_them() {
    let sc = Scenario::new(Duration::ZERO);
    let before = users(&sc.sim);
    let active = before.values().filter(|u| status(u) == "active").count() as u64;
    write_roster(&sc.roster(), &students(0..20));
    let seats = (active + 12).to_string();
    let (code, out, err) = sc.sync(
        "2027-04-01",
        &["--dry-run", "--format", "json", "--seats", &seats],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let s = &v["seats"];
    assert_eq!(s["activeBefore"], active);
    assert_eq!(s["activeAfter"], active + 20);
    let candidates = s["candidates"].as_array().expect("candidates");
    assert_eq!(candidates.len(), 8, "as many as over: {s}");
    assert!(candidates
        .iter()
        .all(|c| before.contains_key(&c["userName"].as_str().unwrap_or("").to_lowercase())));
    assert_eq!(
        users(&sc.sim),
        before,
        "a dry run, and seats never change anyone"
    );
}

#[test]
fn export_inactive_since_selects_users_without_a_recent_login() {
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("sim.json");
    let config = || SimConfig {
        token: TOKEN.into(),
        demo_users: 10,
        state: Some(state.clone()),
        ..SimConfig::default()
    };
    sim::spawn(config()).expect("sim").stop().expect("saved");
    // Three recent logins, every other user's old (or none), written into the simulator's
    // state over the logins it seeds.
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("json");
    let users = json["users"].as_array_mut().expect("users");
    let mut recent = Vec::new();
    for (i, u) in users.iter_mut().enumerate() {
        let when = match i {
            1..=3 => "2027-01-20T10:00:00Z".into(),
            4 => serde_json::Value::Null,
            _ => "2025-06-01T10:00:00Z".into(),
        };
        u["lastLoginDate"] = when;
        if (1..=3).contains(&i) {
            recent.push(u["username"].as_str().expect("name").to_string());
        }
    }
    std::fs::write(&state, serde_json::to_vec(&json).expect("json")).expect("write");
    let h = sim::spawn(config()).expect("sim");
    let out = support::run(
        qusers()
            .args([
                "export",
                "--for-update",
                "--inactive-since",
                "365d",
                "--base-url",
                &h.url(),
            ])
            .env("QUALTRICS_API_TOKEN", TOKEN)
            .env("QUSERS_TODAY", "2027-02-01"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let csv = out.stdout.as_str();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 11 - 3, "{csv}");
    assert!(recent.iter().all(|r| !csv.contains(r.as_str())), "{csv}");
}

#[test]
fn mapping_errors_name_the_roster_line_and_column() {
    let sc = Scenario::new(Duration::ZERO);
    let mut rows = students(0..5);
    rows[2].role = "Dean";
    write_roster(&sc.roster(), &rows);
    // A value missing from a table without a default: that row is invalid, the others go in.
    let (code, out, err) = sc.sync("2027-05-01", &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    let report = sc.report("2027-05-01");
    let bad = report
        .iter()
        .find(|r| r["outcome"] == "invalid")
        .expect("an invalid row");
    assert_eq!(bad["line"], "4");
    assert!(bad["codes"].contains("M02"), "{bad:?}");
    assert!(
        bad["message"].contains("line 4")
            && bad["message"].contains("\"Role\"")
            && bad["message"].contains("Dean"),
        "{bad:?}"
    );
    assert_eq!(univ(&users(&sc.sim)).len(), 4);
    assert!(!univ(&users(&sc.sim)).contains_key("s0002@univ.edu"));

    // A column the roster does not have: the file is refused, nothing sent.
    let map = sc.dir.path().join("map.toml");
    let text = std::fs::read_to_string(&map)
        .expect("map")
        .replace("{Last Name}", "{Surname}");
    std::fs::write(&map, text).expect("map");
    let before = users(&sc.sim);
    let (code, out, err) = sc.sync("2027-05-02", &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    let report = sc.report("2027-05-02");
    assert!(
        report
            .iter()
            .any(|r| r["codes"] == "M01" && r["message"].contains("Surname")),
        "{report:?}"
    );
    assert_eq!(users(&sc.sim), before);
}
