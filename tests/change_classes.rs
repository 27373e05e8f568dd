//! A real plan's classes of change, as the terminal plan, the `--format json` summary and the
//! HTML page count them: one class per kind of change, the same label and the same number in
//! all three (a first-name change is a name change, never a "rename" on one and "other field
//! updates" on another), and no class that no run can fill.

use crate::support;

use qusers::sim::{self, SimConfig, SimHandle};
use std::path::Path;
use support::{qusers, HEADER};

/// Runs `qusers ARGS… --base-url SIM` in `dir`; (exit code, stdout, stderr).
fn run(h: &SimHandle, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = qusers()
        .current_dir(dir)
        .args(args)
        .args(["--base-url", &h.url()])
        .env("QUALTRICS_API_TOKEN", h.token())
        .output()
        .expect("runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each class: (terminal label, JSON key, page bar).
const CLASSES: [(&str, &str, &str); 6] = [
    ("creates", "creates", "New users"),
    ("name changes", "nameChanges", "Name changes"),
    ("status changes", "statusChanges", "Status changes"),
    ("user-type changes", "userTypeChanges", "User type changes"),
    ("division moves", "divisionMoves", "Division moves"),
    ("expirations", "expirations", "Expiration dates"),
];

/// The number right after `label` in `text` (`name changes: 2` → 2).
fn number_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} not in:\n{text}"));
    let digits: String = text[at + label.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in:\n{text}"))
}

#[test]
fn a_name_change_is_a_name_change_on_the_terminal_in_json_and_on_the_page() {
    let h = sim::spawn(SimConfig {
        demo_users: 6,
        ..SimConfig::default()
    })
    .expect("sim");
    // Three active users who are not brand administrators, as the instance holds them.
    let users: Vec<Vec<String>> = h.with_store(|s| {
        s.users
            .iter()
            .filter(|u| u.user_type.as_deref() != Some("UT_BRANDADMIN"))
            .filter(|u| u.account_status.as_deref() == Some("active"))
            .take(3)
            .map(|u| {
                let o = |v: &Option<String>| v.clone().unwrap_or_default();
                vec![
                    u.id.clone(),
                    u.username.clone(),
                    o(&u.first_name),
                    o(&u.last_name),
                    o(&u.email),
                    o(&u.division_id),
                    o(&u.user_type),
                    "active".into(),
                    String::new(),
                ]
            })
            .collect()
    });
    assert_eq!(users.len(), 3, "the simulator has three active users");
    // A first name, a username (an update cannot change it: W02 warns, nothing is sent) and a
    // status (a disable).
    let mut first = users[0].clone();
    first[2] = format!("{}x", first[2]);
    let mut username = users[1].clone();
    username[1] = format!("renamed.{}", username[1]);
    let mut status = users[2].clone();
    status[7] = "disabled".into();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("staff.csv");
    let lines: Vec<String> = [first, username, status]
        .iter()
        .map(|r| r.join(","))
        .collect();
    std::fs::write(&file, format!("{HEADER}\n{}\n", lines.join("\n"))).expect("write");
    let file = file.to_str().expect("utf-8 path");

    let (code, text, err) = run(
        &h,
        dir.path(),
        &["import", file, "--dry-run", "--report", "text.html"],
    );
    assert_eq!(code, 0, "{text}{err}");
    let (code, json, err) = run(
        &h,
        dir.path(),
        &[
            "import",
            file,
            "--dry-run",
            "--format",
            "json",
            "--report",
            "json.html",
        ],
    );
    assert_eq!(code, 0, "{json}{err}");
    let json: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    let changes = &json["changes"];
    let page = std::fs::read_to_string(dir.path().join("json.html")).expect("the page");

    for (label, key, bar) in CLASSES {
        let on_terminal = number_after(&text, &format!("{label}: "));
        let in_json = changes[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {changes}"));
        let on_page = number_after(&page, &format!("{bar}: "));
        assert_eq!(
            (on_terminal, in_json, on_page),
            (in_json, in_json, in_json),
            "{label} / {key} / {bar}: terminal, JSON and page disagree"
        );
    }
    assert_eq!(changes["nameChanges"], 1, "{changes}");
    assert_eq!(changes["statusChanges"], 1, "{changes}");
    assert_eq!(changes["disables"], 1, "{changes}");
    assert_eq!(changes["creates"], 0, "{changes}");
    assert!(text.contains("status changes: 1 (disables: 1)"), "{text}");
    // The username row sends nothing, and no class claims otherwise anywhere.
    assert_eq!(json["outcomes"]["unchanged"], 1, "{json}");
    assert!(
        text.contains("W02"),
        "the username row is warned about: {text}"
    );
    for old in ["renames", "Username changes", "Other field updates"] {
        assert!(!text.contains(old), "{old:?} on the terminal: {text}");
        assert!(!page.contains(old), "{old:?} on the page");
    }
    assert!(changes.get("renames").is_none(), "{changes}");
    assert_eq!(
        changes.as_object().map(|m| m.len()),
        Some(CLASSES.len() + 1),
        "the six classes and disables: {changes}"
    );
}
