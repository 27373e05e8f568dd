//! What every command prints, as snapshots: the text and `--format json` summaries of validate,
//! import (dry run, real run, interrupted), update, export, fix, split, template, rules, whoami,
//! integration-user and sync (plan, run, held), the error of a refused file, and the visible
//! text of the validate and import HTML pages. These are the bytes an admin sees: a change to
//! any of them shows here as a diff to accept or refuse.
//!
//! Temp paths, loopback ports, timings, rates, dates and request ids are filtered (see
//! [`settings`]); everything else is compared byte for byte.

use crate::support::{qusers, write_user_file};

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// A fixed "today", so that dates the commands compute (sync's grace periods, expirations)
/// are the same on every run.
const TODAY: &str = "2027-01-01";

/// A temp dir holding a `--sim` state, commands run in it with relative paths.
struct Sim {
    dir: tempfile::TempDir,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `qusers ARGS…` in the dir, with `--sim --sim-state sim.json` appended when `sim`.
    fn run(&self, args: &[&str], sim: bool) -> Output {
        let mut cmd = qusers();
        cmd.args(args).current_dir(self.dir.path());
        cmd.env("QUSERS_TODAY", TODAY);
        if sim {
            cmd.args(["--sim", "--sim-state", "sim.json"]);
        }
        cmd.output().expect("runs")
    }

    /// A division and a user type the simulator knows (not the brand admin's), read from an
    /// export of it (which also creates the state).
    fn ids(&self) -> (String, String) {
        let out = self.run(&["export", "-o", "seed-export.csv", "-q"], true);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let rows = crate::support::read_report(&self.path("seed-export.csv"));
        let r = rows
            .iter()
            .find(|r| r["accountType"] != "UT_BRANDADMIN" && !r["divisionId"].is_empty())
            .expect("a demo user");
        (r["divisionId"].clone(), r["accountType"].clone())
    }

    /// Writes `name` with `n` new users of the sim's division and user type.
    fn new_users(&self, name: &str, n: usize) {
        let (division, user_type) = self.ids();
        let rows: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    ",new{i}@univ.example.edu,New,User{i},new{i}@univ.example.edu,{division},{user_type},active,"
                )
            })
            .collect();
        write_user_file(&self.path(name), &rows);
    }
}

/// Exit code, stdout and stderr, as one text to snapshot.
fn shown(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().map_or("signal".into(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The filters: what differs between two runs of the same command and nothing else.
fn settings(dir: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(true);
    let dir = dir.display().to_string();
    let canonical = std::fs::canonicalize(&dir)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| dir.clone());
    for d in [canonical, dir] {
        s.add_filter(&regex_escape(&d), "[DIR]");
    }
    s.add_filter(r"(127\.0\.0\.1|localhost):\d+", "$1:[PORT]");
    // Durations and rates, in text and in JSON.
    s.add_filter(r"\b\d+(\.\d+)? ?(ms|s|min)\b", "[TIME]");
    s.add_filter(r"\d[\d,]*(\.\d+)? (users|rows|requests)/s\b", "[RATE] $2/s");
    s.add_filter(
        r#""(elapsedSeconds|rowsPerSecond|usersPerSecond|seconds|elapsedMs)": [\d.e-]+"#,
        r#""$1": [N]"#,
    );
    // Timestamps and request ids.
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?",
        "[DATETIME]",
    );
    s.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "[DATETIME]");
    s.add_filter(r"\([\d.]+ per second\)", "([RATE] per second)");
    s.add_filter(
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
        "[UUID]",
    );
    s
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Snapshots `text` under `name` with the filters of `dir`.
fn snap(dir: &Path, name: &str, text: &str) {
    settings(dir).bind(|| insta::assert_snapshot!(name, text));
}

/// The visible text of an HTML page: no markup, scripts or styles, one line per block.
fn page_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        rest = &rest[lt..];
        let lower = rest.get(..8).unwrap_or(rest).to_ascii_lowercase();
        let skip_to = if lower.starts_with("<script") {
            "</script>"
        } else if lower.starts_with("<style") {
            "</style>"
        } else {
            ">"
        };
        let tag_end = rest.find('>').map_or(rest.len(), |i| i + 1);
        let tag = rest[..tag_end].to_ascii_lowercase();
        let block = [
            "<p",
            "</p",
            "<div",
            "</div",
            "<tr",
            "</tr",
            "<li",
            "<h",
            "</h",
            "<br",
            "<table",
            "<section",
            "</section",
            "<summary",
            "<details",
            "<ul",
            "</ul",
            "<footer",
            "<header",
        ]
        .iter()
        .any(|b| tag.starts_with(b));
        let end = match skip_to {
            ">" => tag_end,
            close => rest
                .to_ascii_lowercase()
                .find(close)
                .map_or(rest.len(), |i| i + close.len()),
        };
        rest = &rest[end..];
        text.push(if block { '\n' } else { ' ' });
    }
    text.push_str(rest);
    let text = text
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ");
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn validate_text_and_json() {
    let w = Sim::new();
    for f in [
        "every_row_rule.csv",
        "semicolon_excel.csv",
        "valid_create.csv",
    ] {
        std::fs::copy(crate::support::fixture(f), w.path(f)).expect("copy");
    }
    for f in ["every_row_rule.csv", "valid_create.csv"] {
        let stem = f.trim_end_matches(".csv");
        let text = w.run(&["validate", f], false);
        snap(
            w.dir.path(),
            &format!("validate_{stem}_text"),
            &shown(&text),
        );
        let json = w.run(&["validate", f, "--format", "json"], false);
        snap(
            w.dir.path(),
            &format!("validate_{stem}_json"),
            &shown(&json),
        );
    }
    let json = w.run(
        &["validate", "semicolon_excel.csv", "--format", "json"],
        false,
    );
    snap(w.dir.path(), "validate_semicolon_excel_json", &shown(&json));
}

#[test]
fn a_refused_file() {
    let w = Sim::new();
    std::fs::write(
        w.path("binary.csv"),
        b"userID,userName\n\0\0\x01\x02\xff\xfe\0\0",
    )
    .expect("w");
    std::fs::write(w.path("empty.csv"), b"").expect("w");
    for f in ["binary.csv", "empty.csv", "missing.csv"] {
        let stem = f.trim_end_matches(".csv");
        let text = w.run(&["validate", f], false);
        snap(w.dir.path(), &format!("refused_{stem}_text"), &shown(&text));
        let json = w.run(&["validate", f, "--format", "json"], false);
        snap(w.dir.path(), &format!("refused_{stem}_json"), &shown(&json));
    }
    let import = w.run(&["import", "binary.csv", "--yes"], true);
    snap(w.dir.path(), "refused_binary_import", &shown(&import));
}

#[test]
fn validate_page_text() {
    let w = Sim::new();
    std::fs::copy(
        crate::support::fixture("every_row_rule.csv"),
        w.path("every_row_rule.csv"),
    )
    .expect("copy");
    let out = w.run(
        &["validate", "every_row_rule.csv", "--report", "r.html"],
        false,
    );
    snap(w.dir.path(), "validate_page_summary", &shown(&out));
    let html = std::fs::read_to_string(w.path("r.html")).expect("page");
    snap(w.dir.path(), "validate_page_text", &page_text(&html));
}

#[test]
fn import_dry_run_then_real_run() {
    let w = Sim::new();
    w.new_users("new.csv", 3);
    for format in ["text", "json"] {
        let out = w.run(
            &[
                "import",
                "new.csv",
                "--dry-run",
                "--format",
                format,
                "--report",
                "dry.csv",
            ],
            true,
        );
        snap(
            w.dir.path(),
            &format!("import_dry_run_{format}"),
            &shown(&out),
        );
    }
    let out = w.run(&["import", "new.csv", "--yes", "--report", "run.csv"], true);
    snap(w.dir.path(), "import_run_text", &shown(&out));
    // The same file again: every row is now unchanged.
    let out = w.run(
        &[
            "import",
            "new.csv",
            "--yes",
            "--format",
            "json",
            "--report",
            "again.csv",
        ],
        true,
    );
    snap(w.dir.path(), "import_run_again_json", &shown(&out));
}

#[test]
fn import_plan_with_every_kind_of_change() {
    // The export edited: a first-name change, a last-name change, a status change, a user-type
    // change, an expiration, and a new user. (The terminal calls name changes "renames" today;
    // issue 18 fixes that, so this snapshot is expected to change with it.)
    let w = Sim::new();
    let out = w.run(&["export", "--for-update", "-o", "edit.csv", "-q"], true);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let rows = crate::support::read_report(&w.path("edit.csv"));
    let demo: Vec<_> = rows
        .iter()
        .filter(|r| r["accountType"] != "UT_BRANDADMIN")
        .collect();
    let other_type = demo
        .iter()
        .map(|r| r["accountType"].clone())
        .find(|t| *t != demo[3]["accountType"])
        .expect("two user types");
    let header = "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate";
    let line = |r: &std::collections::BTreeMap<String, String>,
                first: &str,
                last: &str,
                ty: &str,
                status: &str,
                exp: &str| {
        format!(
            "{},{},{first},{last},{},{},{ty},{status},{exp}",
            r["userID"], r["userName"], r["email"], r["divisionId"]
        )
    };
    let keep = |r: &std::collections::BTreeMap<String, String>| r.clone();
    let (a, b, c, d, e) = (
        keep(demo[0]),
        keep(demo[1]),
        keep(demo[2]),
        keep(demo[3]),
        keep(demo[4]),
    );
    let text = [
        header.to_string(),
        line(
            &a,
            "Renamed",
            &a["lastName"],
            &a["accountType"],
            "active",
            "",
        ),
        line(
            &b,
            &b["firstName"],
            "Newlast",
            &b["accountType"],
            "active",
            "",
        ),
        line(
            &c,
            &c["firstName"],
            &c["lastName"],
            &c["accountType"],
            "disabled",
            "",
        ),
        line(
            &d,
            &d["firstName"],
            &d["lastName"],
            &other_type,
            "active",
            "",
        ),
        line(
            &e,
            &e["firstName"],
            &e["lastName"],
            &e["accountType"],
            "active",
            "12/31/2031",
        ),
        format!(
            ",brand.new@univ.example.edu,Brand,New,brand.new@univ.example.edu,{},{},active,",
            a["divisionId"], a["accountType"]
        ),
    ]
    .join("\n")
        + "\n";
    std::fs::write(w.path("edit.csv"), text).expect("edit");
    for format in ["text", "json"] {
        let out = w.run(
            &[
                "import",
                "edit.csv",
                "--dry-run",
                "--format",
                format,
                "--report",
                "plan.html",
            ],
            true,
        );
        snap(
            w.dir.path(),
            &format!("import_changes_plan_{format}"),
            &shown(&out),
        );
    }
    let out = w.run(
        &["import", "edit.csv", "--yes", "--report", "run.html"],
        true,
    );
    snap(w.dir.path(), "import_changes_run_text", &shown(&out));
    let html = std::fs::read_to_string(w.path("run.html")).expect("page");
    snap(w.dir.path(), "import_page_text", &page_text(&html));
    let html = std::fs::read_to_string(w.path("plan.html")).expect("page");
    snap(w.dir.path(), "import_plan_page_text", &page_text(&html));
}

#[test]
fn import_interrupted() {
    let sim = crate::support::SimProcess::start(&["--latency", "30"]);
    let w = Sim::new();
    let rows: Vec<String> = (0..200)
        .map(|n| format!(",stop{n}@x.org,Stop,User{n},stop{n}@x.org,,UT_BRANDADMIN,active,"))
        .collect();
    write_user_file(&w.path("stop.csv"), &rows);
    let journal = w.path("stop-report.csv.journal");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"))
        .args(["import", "stop.csv", "--report", "stop-report.csv", "--yes"])
        .args([
            "--base-url",
            &sim.url,
            "--concurrency",
            "2",
            "--max-rps",
            "20",
        ])
        .current_dir(w.dir.path())
        .env_remove("QUALTRICS_BASE_URL")
        .env("NO_COLOR", "1")
        .env("QUALTRICS_API_TOKEN", &sim.token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !journal.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("exits");
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    // How far the run got before the signal varies: the counts are filtered.
    let mut s = settings(w.dir.path());
    s.add_filter(
        r"\b\d+ (created|skipped|rows|writes|requests|detail reads|list pages|other)\b",
        "[N] $1",
    );
    s.add_filter(r"5xx [\d.]+ % of", "5xx [P] % of");
    s.bind(|| insta::assert_snapshot!("import_interrupted_text", shown(&out)));
}

#[test]
fn update_plan_and_run() {
    let w = Sim::new();
    let (_, user_type) = w.ids();
    let select = [
        "--account-type",
        user_type.as_str(),
        "--set",
        "accountStatus=disabled",
    ];
    for format in ["text", "json"] {
        let mut args = vec!["update", "--dry-run", "--format", format];
        args.extend(select);
        let out = w.run(&args, true);
        snap(
            w.dir.path(),
            &format!("update_dry_run_{format}"),
            &shown(&out),
        );
    }
    let mut args = vec!["update", "--yes", "--allow-mass-changes"];
    args.extend(select);
    let out = w.run(&args, true);
    snap(w.dir.path(), "update_run_text", &shown(&out));
}

#[test]
fn export_text_and_json() {
    let w = Sim::new();
    let out = w.run(&["export", "-o", "all.csv"], true);
    snap(w.dir.path(), "export_text", &shown(&out));
    let out = w.run(
        &[
            "export",
            "-o",
            "some.csv",
            "--format",
            "json",
            "--last-name",
            "a",
        ],
        true,
    );
    snap(w.dir.path(), "export_json", &shown(&out));
}

#[test]
fn fix_and_split() {
    let w = Sim::new();
    std::fs::copy(
        crate::support::fixture("messy_cells.csv"),
        w.path("messy.csv"),
    )
    .expect("copy");
    std::fs::copy(
        crate::support::fixture("valid_create.csv"),
        w.path("four.csv"),
    )
    .expect("copy");
    for format in ["text", "json"] {
        let out = w.run(
            &[
                "fix",
                "messy.csv",
                "-o",
                &format!("fixed-{format}.csv"),
                "--format",
                format,
            ],
            false,
        );
        snap(w.dir.path(), &format!("fix_{format}"), &shown(&out));
        let out = w.run(
            &[
                "split",
                "four.csv",
                "--rows",
                "3",
                "--out-dir",
                &format!("parts-{format}"),
                "--format",
                format,
            ],
            false,
        );
        snap(w.dir.path(), &format!("split_{format}"), &shown(&out));
    }
}

#[test]
fn template_and_rules() {
    let w = Sim::new();
    for format in ["text", "json"] {
        let out = w.run(&["template", "-o", "t.csv", "--format", format], false);
        snap(w.dir.path(), &format!("template_{format}"), &shown(&out));
        let out = w.run(&["rules", "--format", format], false);
        snap(w.dir.path(), &format!("rules_{format}"), &shown(&out));
    }
    let out = w.run(&["template"], false);
    snap(w.dir.path(), "template_stdout", &shown(&out));
}

#[test]
fn whoami_and_integration_user() {
    let w = Sim::new();
    let (division, user_type) = w.ids();
    for format in ["text", "json"] {
        let out = w.run(&["whoami", "--format", format], true);
        snap(w.dir.path(), &format!("whoami_{format}"), &shown(&out));
    }
    let base = [
        "integration-user",
        "--username",
        "partner@platform.example",
        "--user-type",
        user_type.as_str(),
        "--division",
        division.as_str(),
    ];
    let mut dry = base.to_vec();
    dry.extend(["--dry-run", "--token-out", "token.txt"]);
    let out = w.run(&dry, true);
    snap(w.dir.path(), "integration_user_dry_run_text", &shown(&out));
    let mut real = base.to_vec();
    real.extend(["--token-out", "token.txt", "--format", "json"]);
    let out = w.run(&real, true);
    snap(w.dir.path(), "integration_user_json", &shown(&out));
    let mut again = base.to_vec();
    again.extend(["--token-out", "token2.txt"]);
    let out = w.run(&again, true);
    snap(w.dir.path(), "integration_user_again_text", &shown(&out));
}

#[test]
fn sync_plan_run_and_held() {
    let w = Sim::new();
    let (_, user_type) = w.ids();
    std::fs::write(
        w.path("map.toml"),
        format!(
            r#"[fields]
userName  = "{{NetID}}@univ.edu"
firstName = "{{First Name}}"
lastName  = "{{Last Name}}"
email     = "{{NetID}}@univ.edu"
accountType = {{ column = "Role", values = {{ Student = "{user_type}" }} }}
"#
        ),
    )
    .expect("map");
    let roster = |n: usize| {
        let mut text = String::from("NetID,First Name,Last Name,Role\n");
        for i in 0..n {
            text.push_str(&format!("s{i:03},First{i},Last{i},Student\n"));
        }
        std::fs::write(w.path("roster.csv"), text).expect("roster");
    };
    let sync = |extra: &[&str]| {
        let mut args = vec![
            "sync",
            "roster.csv",
            "--map",
            "map.toml",
            "--scope",
            "username:*@univ.edu",
            "--state",
            "state",
            "--report",
            "sync.csv",
        ];
        args.extend(extra);
        w.run(&args, true)
    };
    roster(20);
    for format in ["text", "json"] {
        let out = sync(&["--dry-run", "--format", format]);
        snap(w.dir.path(), &format!("sync_plan_{format}"), &shown(&out));
    }
    let out = sync(&["--yes"]);
    snap(w.dir.path(), "sync_run_text", &shown(&out));
    // The roster cut to a quarter: held, nothing sent.
    roster(5);
    for format in ["text", "json"] {
        let out = sync(&["--yes", "--format", format]);
        snap(w.dir.path(), &format!("sync_held_{format}"), &shown(&out));
    }
}
