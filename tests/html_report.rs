//! `qusers validate --report r.html`: the page as a person sees it, rendered by real headless
//! Chromium (`--dump-dom` serialises the DOM after the page's scripts ran).
//!
//! Needs `/usr/bin/chromium` (Debian's `chromium` package; `.ci/run` installs it) or
//! `QUSERS_CHROMIUM=/path/to/chrome`. Without one the browser tests skip loudly, except under
//! `CI=true`, where they fail.

use crate::browser;
use crate::support;

use browser::{chromium, dump_dom, text_of};
use std::path::PathBuf;
use std::time::Duration;
use support::{fixture, qusers};

const FIXTURE: &str = "hostile_cells.csv";

/// Runs validate on the fixture with an HTML report; returns the temp dir and the page path.
fn validate_html() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("r.html");
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(fixture(FIXTURE))
            .arg("--report")
            .arg(&page),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    (dir, page)
}

/// The value of `name="…"` on the `<html>` element of a dumped DOM.
fn html_attr(dom: &str, name: &str) -> Option<String> {
    let start = dom.find("<html")?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let key = format!("{name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(tag[at..at + tag[at..].find('"')?].to_string())
}

/// The body rows of the problems table, as dumped (each `<tr …>…</tr>`).
fn table_rows(dom: &str) -> Vec<&str> {
    let start = dom.find("id=\"rows\"").expect("rows table");
    let body = start + dom[start..].find("<tbody>").expect("tbody");
    let end = body + dom[body..].find("</tbody>").expect("tbody end");
    dom[body..end]
        .split("<tr")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap_or(""))
        .collect()
}

fn visible(rows: &[&str]) -> usize {
    rows.iter()
        .filter(|r| !r[..r.find('>').unwrap_or(0)].contains("hidden"))
        .count()
}

fn assert_not_pwned(dom: &str) {
    assert!(
        dom.contains("hostile_cells.csv — cannot be imported yet</title>"),
        "the page's title changed: {}",
        &dom[dom.find("<title>").unwrap_or(0)..][..200]
    );
    assert!(!dom.contains("PWNED</title>"), "the injected script ran");
    assert!(
        !dom.contains("data-pwned=\""),
        "the injected onerror handler ran"
    );
    // Shown as text, escaped.
    assert!(dom.contains("&lt;script&gt;document.title='PWNED'&lt;/script&gt;@univ.edu"));
    assert!(dom.contains("\"&gt;&lt;img src=x onerror="));
    assert!(!dom.contains("<img"));
}

#[test]
fn the_page_shows_verdict_counts_rules_and_rows_and_runs_no_injected_script() {
    let Some(chrome) = chromium() else { return };
    let (dir, page) = validate_html();
    // Every row, ok ones included, went to the CSV report beside the page.
    let csv = support::read_report(&dir.path().join("r.rows.csv"));
    assert_eq!(csv.len(), 7);

    let dom = dump_dom(&chrome, &page, &[]);
    assert_not_pwned(&dom);
    assert_eq!(
        text_of(&dom, "verdict"),
        "Error This file cannot be imported yet: 3 rows have errors. Fix them below, then check the file again.",
    );
    assert_eq!(
        text_of(&dom, "counts"),
        "7 rows checked 2 ok 2 with warnings 3 with errors"
    );
    assert!(dom.contains("U03 a forbidden symbol in userName: 2 rows · error"));
    assert!(dom.contains("How to fix:"));
    assert!(dom.contains(
        "N05: email \"dan.brown@univ\": the domain \"univ\" has no dot (fix: write it as name@domain.tld"
    ));
    // The page's own script ran under its security policy: controls shown, count written.
    let rows = table_rows(&dom);
    assert_eq!(rows.len(), 5);
    assert_eq!(visible(&rows), 5);
    assert_eq!(text_of(&dom, "shown"), "5 of 5 rows shown");
    assert!(!dom.contains("id=\"controls\" hidden"));
}

/// Types into the filter box and flips the toggle through the DOM, then reads back what is
/// shown. The test script is appended to a copy of the page without its security policy (which
/// would block it); the copy also shows that escaping alone keeps the payloads inert.
#[test]
fn the_filter_and_the_toggle_narrow_the_table() {
    let Some(chrome) = chromium() else { return };
    let (dir, page) = validate_html();
    let html = std::fs::read_to_string(&page).expect("page");
    let csp_start = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .expect("the page has a policy");
    let csp_end = csp_start + html[csp_start..].find('>').expect("meta end") + 1;
    let script = r#"<script>
(function(){
  var root = document.documentElement;
  function shown(){ return Array.prototype.filter.call(document.querySelectorAll('#rows tbody tr'), function(r){ return !r.hidden && r.offsetParent !== null; }).length; }
  var f = document.getElementById('filter');
  f.focus(); f.value = 'carol'; f.dispatchEvent(new Event('input', {bubbles: true}));
  root.setAttribute('data-after-filter', shown() + '|' + document.getElementById('shown').textContent);
  f.value = 'UNIV.EDU'; f.dispatchEvent(new Event('input', {bubbles: true}));
  root.setAttribute('data-after-case', String(shown()));
  f.value = ''; f.dispatchEvent(new Event('input', {bubbles: true}));
  document.querySelector('input[name=show][value=error]').click();
  root.setAttribute('data-errors', String(shown()));
  document.querySelector('input[name=show][value=warning]').click();
  root.setAttribute('data-warnings', String(shown()));
  f.value = 'zoe'; f.dispatchEvent(new Event('input', {bubbles: true}));
  root.setAttribute('data-warning-zoe', String(shown()));
  document.querySelector('input[name=show][value=all]').click();
  f.value = 'no such user'; f.dispatchEvent(new Event('input', {bubbles: true}));
  root.setAttribute('data-none', shown() + '|' + document.getElementById('shown').textContent);
  f.value = 'dan.brown'; f.dispatchEvent(new Event('input', {bubbles: true}));
  root.setAttribute('data-title', document.title);
})();
</script>"#;
    let body_end = html.rfind("</body>").expect("body end");
    let test_page = dir.path().join("test.html");
    std::fs::write(
        &test_page,
        format!(
            "{}{}{}{}",
            &html[..csp_start],
            &html[csp_end..body_end],
            script,
            &html[body_end..]
        ),
    )
    .expect("write test page");

    let dom = dump_dom(&chrome, &test_page, &[]);
    assert_not_pwned(&dom);
    assert_eq!(
        html_attr(&dom, "data-after-filter").as_deref(),
        Some("1|1 of 5 rows shown")
    );
    assert_eq!(html_attr(&dom, "data-after-case").as_deref(), Some("5"));
    assert_eq!(html_attr(&dom, "data-errors").as_deref(), Some("3"));
    assert_eq!(html_attr(&dom, "data-warnings").as_deref(), Some("2"));
    assert_eq!(html_attr(&dom, "data-warning-zoe").as_deref(), Some("1"));
    assert_eq!(
        html_attr(&dom, "data-none").as_deref(),
        Some("0|0 of 5 rows shown")
    );
    // The last filter left one row, the one a person would look for.
    let rows = table_rows(&dom);
    let left: Vec<&&str> = rows
        .iter()
        .filter(|r| !r[..r.find('>').unwrap_or(0)].contains("hidden"))
        .collect();
    assert_eq!(left.len(), 1);
    assert!(left[0].contains("dan.brown@univ.edu") && left[0].contains("N05"));
    assert!(html_attr(&dom, "data-title")
        .is_some_and(|t| t.ends_with("hostile_cells.csv — cannot be imported yet")));
}

/// With scripting off the page still reads: every row is there, the inert controls are not.
/// (`--dump-dom` itself needs JavaScript, so scripts are blocked the way a strict mail viewer
/// would: a copy of the page whose policy allows no script at all.)
#[test]
fn without_scripting_the_table_is_whole_and_the_controls_hidden() {
    let Some(chrome) = chromium() else { return };
    let (dir, page) = validate_html();
    let html = std::fs::read_to_string(&page).expect("page");
    let at = html
        .find("script-src 'sha256-")
        .expect("script hash in the policy");
    let end = at + html[at..].find(';').expect("policy directive end");
    let blocked = dir.path().join("noscript.html");
    std::fs::write(
        &blocked,
        format!("{}script-src 'none'{}", &html[..at], &html[end..]),
    )
    .expect("write copy");
    let dom = dump_dom(&chrome, &blocked, &[]);
    assert_not_pwned(&dom);
    assert!(dom.contains("id=\"controls\" hidden"));
    assert_eq!(text_of(&dom, "shown"), "");
    let rows = table_rows(&dom);
    assert_eq!((rows.len(), visible(&rows)), (5, 5));
    assert!(text_of(&dom, "verdict").contains("3 rows have errors"));
}

/// A file with more problem rows than a page embeds: the first ones are shown, the page says
/// how many more there are and where they are. (No browser needed.)
#[test]
fn a_large_file_embeds_the_first_rows_and_points_to_the_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("many.csv");
    let mut text = String::from(
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n",
    );
    let n = qusers::present::html::EMBEDDED_ROWS + 250;
    for i in 0..n {
        // Every row lacks an email: one error each.
        text.push_str(&format!(
            ",user{i}@univ.edu,First,Last,,,UT_4SjjZmbPphZGKDq,active,\n"
        ));
    }
    std::fs::write(&input, text).expect("write input");
    let page = dir.path().join("many.html");
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(&input)
            .arg("--report")
            .arg(&page),
    );
    assert_eq!(Some(out.code), Some(1));
    let html = std::fs::read_to_string(&page).expect("page");
    assert_eq!(
        html.matches("<tr class=\"error\"").count(),
        qusers::present::html::EMBEDDED_ROWS
    );
    assert!(html.contains("The first 1,000 of 1,250 rows with problems"));
    assert!(html.contains(
        "<strong>250 rows with problems more</strong> are not shown here to keep this page light: every row is in the CSV report <code>many.rows.csv</code>"
    ));
    assert_eq!(
        support::read_report(&dir.path().join("many.rows.csv")).len(),
        n
    );
}

/// The page may not overwrite the file it checks: `users.rows.csv` checked with
/// `--report users.html` is refused before anything is written.
#[test]
fn the_report_never_overwrites_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("users.rows.csv");
    std::fs::copy(fixture(FIXTURE), &input).expect("copy");
    let before = std::fs::read(&input).expect("read");
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(&input)
            .arg("--report")
            .arg(dir.path().join("users.html")),
    );
    assert_eq!(Some(out.code), Some(2));
    assert!(out
        .stderr
        .as_str()
        .contains("would overwrite the file being checked"));
    assert_eq!(std::fs::read(&input).expect("read"), before);
}

/// The import page (rendered from a hand-built `ImportPage`, as import/update will fill it):
/// its plan, failure details and resume command show, and its toggle picks the failed rows.
#[test]
fn the_import_page_shows_failures_and_its_toggle_picks_them() {
    use qusers::present::html::{render_import, FieldChange, ImportPage, ImportRow};
    use qusers::vocab::change::{ChangeClass, ClassCounts};
    let Some(chrome) = chromium() else { return };
    let row = |line: u64, name: &str, outcome: &str| ImportRow {
        line: Some(line),
        row: Some(line - 1),
        user_name: name.into(),
        action: "update".into(),
        outcome: outcome.into(),
        ..Default::default()
    };
    let mut failed = row(4, "<script>document.title='PWNED'</script>", "failed");
    failed.http_status = Some(400);
    failed.request_id = Some("req-7f3a".into());
    failed.message = "API: userName is taken".into();
    let mut renamed = row(3, "bob.new@univ.edu", "updated");
    renamed.changes = vec![FieldChange {
        field: "userName".into(),
        old: "bob@univ.edu".into(),
        new: "bob.new@univ.edu".into(),
    }];
    let page = ImportPage {
        file: "staff.csv".into(),
        target: "https://ca1.qualtrics.com".into(),
        verdict: "2 of 3 users were imported; 1 failed.".into(),
        verdict_class: "error".into(),
        plan: {
            let mut c = ClassCounts::default();
            c.add(ChangeClass::Create);
            c.add(ChangeClass::Name);
            c
        },
        outcomes: vec![
            ("created".into(), 1),
            ("updated".into(), 1),
            ("failed".into(), 1),
        ],
        rows: vec![row(2, "ann@univ.edu", "created"), renamed, failed],
        requests: 4,
        elapsed: Duration::from_secs(3),
        resume_command: Some("qusers import staff.csv --resume".into()),
        ..Default::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let html = render_import(&page);
    let csp_start = html.find("<meta http-equiv").expect("policy");
    let csp_end = csp_start + html[csp_start..].find('>').expect("meta end") + 1;
    let body_end = html.rfind("</body>").expect("body end");
    let test_page = dir.path().join("import.html");
    std::fs::write(
        &test_page,
        format!(
            "{}{}<script>document.querySelector('input[name=show][value=problem]').click();\
             document.documentElement.setAttribute('data-failed', document.getElementById('shown').textContent);</script>{}",
            &html[..csp_start],
            &html[csp_end..body_end],
            &html[body_end..]
        ),
    )
    .expect("write page");
    let dom = dump_dom(&chrome, &test_page, &[]);
    assert!(!dom.contains("<title>PWNED"));
    assert_eq!(
        text_of(&dom, "verdict"),
        "Error 2 of 3 users were imported; 1 failed."
    );
    assert!(text_of(&dom, "resume").contains("qusers import staff.csv --resume"));
    assert_eq!(
        text_of(&dom, "counts"),
        "1 created 1 updated 1 failed Error"
    );
    assert!(dom.contains("userName: <del>bob@univ.edu</del> → <ins>bob.new@univ.edu</ins>"));
    assert_eq!(
        html_attr(&dom, "data-failed").as_deref(),
        Some("1 of 3 rows shown")
    );
    let rows = table_rows(&dom);
    let shown: Vec<&&str> = rows
        .iter()
        .filter(|r| !r[..r.find('>').unwrap_or(0)].contains("hidden"))
        .collect();
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains("400") && shown[0].contains("req-7f3a"));
    assert!(shown[0].contains("&lt;script&gt;"));
}

/// Huge cells do not make a heavy page: embedded cells are clipped (the CSV keeps them whole).
#[test]
fn huge_cells_are_clipped_on_the_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("huge.csv");
    let mut text = String::from(
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n",
    );
    let huge = "x".repeat(20_000);
    for _ in 0..200 {
        text.push_str(&format!(
            ",{huge},First,Last,a@univ.edu,,UT_4SjjZmbPphZGKDq,active,\n"
        ));
    }
    std::fs::write(&input, text).expect("write input");
    let page = dir.path().join("huge.html");
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(&input)
            .arg("--report")
            .arg(&page),
    );
    assert_eq!(Some(out.code), Some(1));
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.len() < 1_000_000, "page of {} bytes", html.len());
    assert_eq!(html.matches("<tr class=\"error\"").count(), 200);
    assert!(html.contains(&format!("<td>{}…</td>", "x".repeat(200))));
    let rows = support::read_report(&dir.path().join("huge.rows.csv"));
    assert_eq!(rows.len(), 200);
    assert_eq!(rows[0]["userName"].len(), 20_000);
}
