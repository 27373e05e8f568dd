//! What every command prints, as snapshots: the text and `--format json` summaries of validate,
//! import (dry run, real run, interrupted), update, export, fix, split, template, rules, whoami,
//! integration-user and sync (plan, run, held), the error of a refused file, and the visible
//! text of the validate and import HTML pages. These are the bytes an admin sees: a change to
//! any of them shows here as a diff to accept or refuse.
//!
//! Temp paths, loopback ports, timings, rates, dates and request ids are filtered (see
//! [`settings`]); everything else is compared byte for byte.

use crate::support::{interrupt, read_report, write_user_file, Run, Workdir};

use std::path::Path;
use std::time::Duration;

/// A fixed "today", so that dates the commands compute (sync's grace periods, expirations)
/// are the same on every run.
const TODAY: &str = "2027-01-01";

/// A workdir whose commands see the fixed [`TODAY`].
fn workdir() -> Workdir {
    Workdir::new().env("QUSERS_TODAY", TODAY)
}

/// A division and a user type the built-in simulator knows (not the brand admin's), read
/// from an export of it (which also creates its state in the workdir).
fn ids(w: &Workdir) -> (String, String) {
    let out = w.run_sim(&["export", "-o", "seed-export.csv", "-q"]);
    assert_eq!(out.code, 0, "{out:?}");
    let rows = read_report(&w.join("seed-export.csv"));
    let r = rows
        .iter()
        .find(|r| r["accountType"] != "UT_BRANDADMIN" && !r["divisionId"].is_empty())
        .expect("a demo user");
    (r["divisionId"].clone(), r["accountType"].clone())
}

/// Writes `name` with `n` new users of the simulator's division and user type.
fn new_users(w: &Workdir, name: &str, n: usize) {
    let (division, user_type) = ids(w);
    let rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                ",new{i}@univ.example.edu,New,User{i},new{i}@univ.example.edu,{division},{user_type},active,"
            )
        })
        .collect();
    w.users(name, &rows);
}

/// Exit code, stdout and stderr, as one text to snapshot.
fn shown(out: &Run) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.code, out.stdout, out.stderr
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
    let w = workdir();
    for f in [
        "every_row_rule.csv",
        "semicolon_excel.csv",
        "valid_create.csv",
    ] {
        std::fs::copy(crate::support::fixture(f), w.join(f)).expect("copy");
    }
    for f in ["every_row_rule.csv", "valid_create.csv"] {
        let stem = f.trim_end_matches(".csv");
        let text = w.run(&["validate", f]);
        snap(w.path(), &format!("validate_{stem}_text"), &shown(&text));
        let json = w.run(&["validate", f, "--format", "json"]);
        snap(w.path(), &format!("validate_{stem}_json"), &shown(&json));
    }
    let json = w.run(&["validate", "semicolon_excel.csv", "--format", "json"]);
    snap(w.path(), "validate_semicolon_excel_json", &shown(&json));
}

#[test]
fn a_refused_file() {
    let w = workdir();
    std::fs::write(
        w.join("binary.csv"),
        b"userID,userName\n\0\0\x01\x02\xff\xfe\0\0",
    )
    .expect("w");
    std::fs::write(w.join("empty.csv"), b"").expect("w");
    for f in ["binary.csv", "empty.csv", "missing.csv"] {
        let stem = f.trim_end_matches(".csv");
        let text = w.run(&["validate", f]);
        snap(w.path(), &format!("refused_{stem}_text"), &shown(&text));
        let json = w.run(&["validate", f, "--format", "json"]);
        snap(w.path(), &format!("refused_{stem}_json"), &shown(&json));
    }
    let import = w.run_sim(&["import", "binary.csv", "--yes"]);
    snap(w.path(), "refused_binary_import", &shown(&import));
}

#[test]
fn validate_page_text() {
    let w = workdir();
    std::fs::copy(
        crate::support::fixture("every_row_rule.csv"),
        w.join("every_row_rule.csv"),
    )
    .expect("copy");
    let out = w.run(&["validate", "every_row_rule.csv", "--report", "r.html"]);
    snap(w.path(), "validate_page_summary", &shown(&out));
    let html = std::fs::read_to_string(w.join("r.html")).expect("page");
    snap(w.path(), "validate_page_text", &page_text(&html));
}

#[test]
fn import_dry_run_then_real_run() {
    let w = workdir();
    new_users(&w, "new.csv", 3);
    for format in ["text", "json"] {
        let out = w.run_sim(&[
            "import",
            "new.csv",
            "--dry-run",
            "--format",
            format,
            "--report",
            "dry.csv",
        ]);
        snap(w.path(), &format!("import_dry_run_{format}"), &shown(&out));
    }
    let out = w.run_sim(&["import", "new.csv", "--yes", "--report", "run.csv"]);
    snap(w.path(), "import_run_text", &shown(&out));
    // The same file again: every row is now unchanged.
    let out = w.run_sim(&[
        "import",
        "new.csv",
        "--yes",
        "--format",
        "json",
        "--report",
        "again.csv",
    ]);
    snap(w.path(), "import_run_again_json", &shown(&out));
}

#[test]
fn import_plan_with_every_kind_of_change() {
    // The export edited: a first-name change, a last-name change, a status change, a user-type
    // change, an expiration, and a new user. (The terminal calls name changes "renames" today;
    // issue 18 fixes that, so this snapshot is expected to change with it.)
    let w = workdir();
    let out = w.run_sim(&["export", "--for-update", "-o", "edit.csv", "-q"]);
    assert_eq!(out.code, 0, "{out:?}");
    let rows = read_report(&w.join("edit.csv"));
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
    std::fs::write(w.join("edit.csv"), text).expect("edit");
    for format in ["text", "json"] {
        let out = w.run_sim(&[
            "import",
            "edit.csv",
            "--dry-run",
            "--format",
            format,
            "--report",
            "plan.html",
        ]);
        snap(
            w.path(),
            &format!("import_changes_plan_{format}"),
            &shown(&out),
        );
    }
    let out = w.run_sim(&["import", "edit.csv", "--yes", "--report", "run.html"]);
    snap(w.path(), "import_changes_run_text", &shown(&out));
    let html = std::fs::read_to_string(w.join("run.html")).expect("page");
    snap(w.path(), "import_page_text", &page_text(&html));
    let html = std::fs::read_to_string(w.join("plan.html")).expect("page");
    snap(w.path(), "import_plan_page_text", &page_text(&html));
}

#[test]
fn import_interrupted() {
    let sim = crate::support::SimProcess::start(&["--latency", "30"]);
    let w = workdir();
    let rows: Vec<String> = (0..200)
        .map(|n| format!(",stop{n}@x.org,Stop,User{n},stop{n}@x.org,,UT_BRANDADMIN,active,"))
        .collect();
    write_user_file(&w.join("stop.csv"), &rows);
    let journal = w.join("stop-report.csv.journal");
    let out = interrupt(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"))
            .args(["import", "stop.csv", "--report", "stop-report.csv", "--yes"])
            .args([
                "--base-url",
                &sim.url,
                "--concurrency",
                "2",
                "--max-rps",
                "20",
            ])
            .current_dir(w.path())
            .env("QUALTRICS_API_TOKEN", &sim.token),
        &journal,
        Duration::from_millis(300),
    );
    assert_eq!(out.code, 130, "{out:?}");
    // How far the run got before the signal varies: the counts are filtered.
    let mut s = settings(w.path());
    s.add_filter(
        r"\b\d+ (created|skipped|rows|writes|requests|detail reads|list pages|other)\b",
        "[N] $1",
    );
    s.add_filter(r"5xx [\d.]+ % of", "5xx [P] % of");
    s.bind(|| insta::assert_snapshot!("import_interrupted_text", shown(&out)));
}

#[test]
fn update_plan_and_run() {
    let w = workdir();
    let (_, user_type) = ids(&w);
    let select = [
        "--account-type",
        user_type.as_str(),
        "--set",
        "accountStatus=disabled",
    ];
    for format in ["text", "json"] {
        let mut args = vec!["update", "--dry-run", "--format", format];
        args.extend(select);
        let out = w.run_sim(&args);
        snap(w.path(), &format!("update_dry_run_{format}"), &shown(&out));
    }
    let mut args = vec!["update", "--yes", "--allow-mass-changes"];
    args.extend(select);
    let out = w.run_sim(&args);
    snap(w.path(), "update_run_text", &shown(&out));
}

#[test]
fn export_text_and_json() {
    let w = workdir();
    let out = w.run_sim(&["export", "-o", "all.csv"]);
    snap(w.path(), "export_text", &shown(&out));
    let out = w.run_sim(&[
        "export",
        "-o",
        "some.csv",
        "--format",
        "json",
        "--last-name",
        "a",
    ]);
    snap(w.path(), "export_json", &shown(&out));
}

#[test]
fn fix_and_split() {
    let w = workdir();
    std::fs::copy(
        crate::support::fixture("messy_cells.csv"),
        w.join("messy.csv"),
    )
    .expect("copy");
    std::fs::copy(
        crate::support::fixture("valid_create.csv"),
        w.join("four.csv"),
    )
    .expect("copy");
    for format in ["text", "json"] {
        let out = w.run(&[
            "fix",
            "messy.csv",
            "-o",
            &format!("fixed-{format}.csv"),
            "--format",
            format,
        ]);
        snap(w.path(), &format!("fix_{format}"), &shown(&out));
        let out = w.run(&[
            "split",
            "four.csv",
            "--rows",
            "3",
            "--out-dir",
            &format!("parts-{format}"),
            "--format",
            format,
        ]);
        snap(w.path(), &format!("split_{format}"), &shown(&out));
    }
}

#[test]
fn template_and_rules() {
    let w = workdir();
    for format in ["text", "json"] {
        let out = w.run(&["template", "-o", "t.csv", "--format", format]);
        snap(w.path(), &format!("template_{format}"), &shown(&out));
        let out = w.run(&["rules", "--format", format]);
        snap(w.path(), &format!("rules_{format}"), &shown(&out));
    }
    let out = w.run(&["template"]);
    snap(w.path(), "template_stdout", &shown(&out));
}

#[test]
fn whoami_and_integration_user() {
    let w = workdir();
    let (division, user_type) = ids(&w);
    for format in ["text", "json"] {
        let out = w.run_sim(&["whoami", "--format", format]);
        snap(w.path(), &format!("whoami_{format}"), &shown(&out));
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
    let out = w.run_sim(&dry);
    snap(w.path(), "integration_user_dry_run_text", &shown(&out));
    let mut real = base.to_vec();
    real.extend(["--token-out", "token.txt", "--format", "json"]);
    let out = w.run_sim(&real);
    snap(w.path(), "integration_user_json", &shown(&out));
    let mut again = base.to_vec();
    again.extend(["--token-out", "token2.txt"]);
    let out = w.run_sim(&again);
    snap(w.path(), "integration_user_again_text", &shown(&out));
}

#[test]
fn sync_plan_run_and_held() {
    let w = workdir();
    let (_, user_type) = ids(&w);
    std::fs::write(
        w.join("map.toml"),
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
        std::fs::write(w.join("roster.csv"), text).expect("roster");
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
        w.run_sim(&args)
    };
    roster(20);
    for format in ["text", "json"] {
        let out = sync(&["--dry-run", "--format", format]);
        snap(w.path(), &format!("sync_plan_{format}"), &shown(&out));
    }
    let out = sync(&["--yes"]);
    snap(w.path(), "sync_run_text", &shown(&out));
    // The roster cut to a quarter: held, nothing sent.
    roster(5);
    for format in ["text", "json"] {
        let out = sync(&["--yes", "--format", format]);
        snap(w.path(), &format!("sync_held_{format}"), &shown(&out));
    }
}
