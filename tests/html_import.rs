//! `--report PATH.html` on `qusers import` and `qusers update`, against the simulator: the
//! page beside its CSV report (`PATH.rows.csv`, which carries the journal, undo and failed
//! files), what a person reads on it, and names from the file shown as text. One test loads
//! the page in headless Chromium (`/usr/bin/chromium` or `QUSERS_CHROMIUM`; skipped loudly
//! without one, except under `CI=true`).

use crate::browser;
use crate::support;

use browser::{chromium, dump_dom, text_of};
use qusers::sim::{self, SimConfig, SimHandle};
use std::path::Path;
use support::{read_report, run_in, HEADER};

fn sim5() -> SimHandle {
    sim::spawn(SimConfig {
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim")
}

/// A user type that is not the brand administrators'.
fn user_type(h: &SimHandle) -> String {
    h.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("a user type")
    })
}

/// The file: a create, an update of user 1's first name to "Renamed", and an invalid row whose
/// username is a script. Returns (file, user 1's id, its first name before).
fn write_file(h: &SimHandle, dir: &Path) -> (std::path::PathBuf, String, String) {
    let ty = user_type(h);
    let (id, line, first) = h.with_store(|s| {
        let u = s
            .users
            .iter()
            .find(|u| u.user_type.as_deref() != Some("UT_BRANDADMIN"))
            .expect("a user");
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        (
            u.id.clone(),
            format!(
                "{},{},Renamed,{},{},{},{},{},",
                u.id,
                u.username,
                o(&u.last_name),
                o(&u.email),
                o(&u.division_id),
                o(&u.user_type),
                o(&u.account_status),
            ),
            o(&u.first_name),
        )
    });
    let file = dir.join("staff.csv");
    let text = format!(
        "{HEADER}\n,new.person@x.org,New,Person,new.person@x.org,,{ty},active,\n{line}\n,<script>document.title='PWNED'</script>,Bad,Row,bad@x.org,,{ty},active,\n"
    );
    std::fs::write(&file, text).expect("write");
    (file, id, first)
}

/// As the page escapes text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn an_import_writes_the_page_and_every_row_beside_it() {
    let h = sim5();
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, id, first) = write_file(&h, dir.path());
    let page = dir.path().join("result.html");
    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "import",
            p(&file),
            "--report",
            p(&page),
            "--yes",
            "--skip-invalid",
        ],
    )
    .code_all();
    assert_eq!(code, 1, "an invalid row: {out}");
    assert!(out.contains("page: "), "{out}");
    // The import did happen.
    assert!(h.with_store(|s| s.by_username("new.person@x.org").is_some()));
    let renamed = h.with_store(|s| s.get(&id).and_then(|u| u.first_name.clone()));
    assert_eq!(renamed.as_deref(), Some("Renamed"));

    // Every row is in the CSV report beside the page, and the other files are named after it.
    let csv = dir.path().join("result.rows.csv");
    let rows = read_report(&csv);
    let outcomes: Vec<&str> = rows.iter().map(|r| r["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["created", "updated", "invalid"], "{rows:?}");
    assert!(dir.path().join("result.rows.undo.csv").exists(), "{out}");
    assert!(dir.path().join("result.rows.failed.csv").exists(), "{out}");
    assert!(!dir.path().join("result.html.journal").exists());
    assert!(!dir.path().join("result.undo.csv").exists());

    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..100]);
    assert!(
        html.contains(
            "Imported with problems: 1 created, 1 updated, 0 unchanged; 1 row is invalid."
        ),
        "verdict: {html}"
    );
    assert!(html.contains("New users: 1 user;"), "plan counts");
    assert!(html.contains("Name changes: 1 user;"), "plan counts");
    assert!(html.contains("Invalid rows: 1 user;"), "plan counts");
    // The field-by-field change.
    assert!(
        html.contains(&format!(
            "<li>firstName: <del>{first}</del> → <ins>Renamed</ins></li>"
        )),
        "the change of {first}"
    );
    // The invalid row's message, and its username shown as text, never as markup.
    let invalid = &rows[2];
    assert!(invalid["message"].contains("U02"), "{invalid:?}");
    assert!(
        html.contains(&esc(&invalid["message"])),
        "the invalid row's message"
    );
    assert!(!html.contains("<script>document.title"), "unescaped script");
    assert!(
        html.contains("&lt;script&gt;document.title="),
        "the username as text"
    );
    assert!(html.contains("result.rows.csv"), "names the CSV report");
    assert!(!html.contains(h.token()), "never the token");
    assert!(html.contains("Failed, invalid and conflicting rows come first"));
    // Problem rows first.
    let at = |s: &str| html.find(s).unwrap_or(usize::MAX);
    assert!(
        at("&lt;script&gt;") < at("new.person@x.org</td>")
            || at("&lt;script&gt;") < at("new.person@x.org<br>")
    );
}

#[test]
fn a_dry_run_page_says_nothing_was_changed() {
    let h = sim5();
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, id, first) = write_file(&h, dir.path());
    let page = dir.path().join("plan.html");
    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "import",
            p(&file),
            "--report",
            p(&page),
            "--dry-run",
            "--skip-invalid",
        ],
    )
    .code_all();
    assert_eq!(code, 1, "an invalid row: {out}");
    assert!(h.with_store(|s| s.by_username("new.person@x.org").is_none()));
    let kept = h.with_store(|s| s.get(&id).and_then(|u| u.first_name.clone()));
    assert_eq!(kept.as_deref(), Some(first.as_str()));
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(
        html.contains("Dry run: nothing was changed in Qualtrics. A real run would send 1 create and 1 update"),
        "{html}"
    );
    assert!(html.contains("dry run: nothing was changed in Qualtrics"));
    assert!(html.contains("New users: 1 user;"));
    assert!(html.contains(&format!(
        "<li>firstName: <del>{first}</del> → <ins>Renamed</ins></li>"
    )));
    assert!(dir.path().join("plan.rows.csv").exists());
    assert!(
        !dir.path().join("plan.rows.undo.csv").exists(),
        "a dry run has no undo"
    );
}

#[test]
fn an_update_writes_a_page() {
    let h = sim5();
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("u.html");
    let ty = user_type(&h);
    let selected = h.with_store(|s| {
        s.users
            .iter()
            .filter(|u| u.user_type.as_deref() == Some(ty.as_str()))
            .count()
    });
    assert!(selected > 0);
    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "update",
            "--account-type",
            &ty,
            "--set",
            "lastName=Updated",
            "--report",
            p(&page),
            "--yes",
        ],
    )
    .code_all();
    assert_eq!(code, 0, "{out}");
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(
        html.contains(&format!("Every row went in: 0 created, {selected} updated")),
        "{html}"
    );
    assert!(html.contains("<ins>Updated</ins>"), "{html}");
    assert_eq!(read_report(&dir.path().join("u.rows.csv")).len(), selected);
    assert!(dir.path().join("u.rows.undo.csv").exists());
}

#[test]
fn the_page_and_its_files_may_not_be_the_input() {
    let h = sim5();
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, _, _) = write_file(&h, dir.path());
    // The CSV beside `staff.html` would be `staff.rows.csv`: name the input so.
    let input = dir.path().join("x.rows.csv");
    std::fs::copy(&file, &input).expect("copy");
    let before = std::fs::read(&input).expect("read");
    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "import",
            p(&input),
            "--report",
            p(&dir.path().join("x.html")),
            "--yes",
        ],
    )
    .code_all();
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        std::fs::read(&input).expect("read"),
        before,
        "the input is untouched"
    );
    assert!(!dir.path().join("x.html").exists());
}

// -------------------------------------------------------------------------------------------
// In a real browser.

#[test]
fn in_a_browser_the_import_page_reads_right_and_runs_no_script_from_the_file() {
    let Some(chrome) = chromium() else { return };
    let h = sim5();
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, _, first) = write_file(&h, dir.path());
    let page = dir.path().join("result.html");
    let (code, out) = run_in(
        &h,
        dir.path(),
        &[
            "import",
            p(&file),
            "--report",
            p(&page),
            "--yes",
            "--skip-invalid",
        ],
    )
    .code_all();
    assert_eq!(code, 1, "{out}");
    // The page's own script, then one that picks the "failed or invalid" toggle and notes
    // how many rows are shown.
    let html = std::fs::read_to_string(&page).expect("the page");
    let csp_start = html.find("<meta http-equiv").expect("policy");
    let csp_end = csp_start + html[csp_start..].find('>').expect("meta end") + 1;
    let body_end = html.rfind("</body>").expect("body end");
    let test_page = dir.path().join("probe.html");
    std::fs::write(
        &test_page,
        format!(
            "{}{}<script>document.querySelector('input[name=show][value=problem]').click();\
             document.documentElement.setAttribute('data-shown', document.getElementById('shown').textContent);</script>{}",
            &html[..csp_start],
            &html[csp_end..body_end],
            &html[body_end..]
        ),
    )
    .expect("write the probe");
    for (path, probe) in [(&page, false), (&test_page, true)] {
        let dom = dump_dom(&chrome, path, &[]);
        assert!(!dom.contains("PWNED</title>"), "the file's script ran");
        assert!(
            dom.contains("<title>Import of "),
            "{}",
            &dom[..300.min(dom.len())]
        );
        assert_eq!(
            text_of(&dom, "verdict"),
            "Error Imported with problems: 1 created, 1 updated, 0 unchanged; 1 row is invalid."
        );
        assert_eq!(
            text_of(&dom, "counts"),
            "1 created 1 updated 1 invalid Error"
        );
        assert!(dom.contains(&format!(
            "<li>firstName: <del>{first}</del> → <ins>Renamed</ins></li>"
        )));
        if probe {
            let start = dom.find("data-shown=\"").expect("the probe ran") + 12;
            let shown = &dom[start..start + dom[start..].find('"').expect("end")];
            assert_eq!(shown, "1 of 3 rows shown");
        }
    }
}
