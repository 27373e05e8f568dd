//! The import page: what the plan held, what was sent and what came back, row by row.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::vocab::change::{ChangeClass, ClassCounts};

/// One field of one user, before and after.
#[derive(Clone, Debug)]
pub struct FieldChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

/// One import report row, as the page shows it.
#[derive(Clone, Debug, Default)]
pub struct ImportRow {
    pub line: Option<u64>,
    pub row: Option<u64>,
    pub user_id: String,
    pub user_name: String,
    /// `create` or `update`.
    pub action: String,
    /// `created | updated | unchanged | invalid | failed | skipped | planned`.
    pub outcome: String,
    pub codes: String,
    pub message: String,
    pub changes: Vec<FieldChange>,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
}

/// Everything the import page shows. Counts cover every row; `rows` holds the embedded ones
/// (collect them with a [`Capped`] of [`EMBEDDED_ROWS`]), `rows_omitted` the rest.
#[derive(Clone, Debug, Default)]
pub struct ImportPage {
    /// The user file.
    pub file: String,
    /// Where the users went, e.g. `https://ca1.qualtrics.com (brand acme)` — never a token.
    pub target: String,
    pub dry_run: bool,
    /// The verdict in one sentence (e.g. "All 120 users were imported.").
    pub verdict: String,
    /// `ok`, `warning` or `error`: the verdict's look.
    pub verdict_class: String,
    /// Rows to send per class of change (all rows, not only the embedded ones).
    pub plan: ClassCounts,
    /// Rows the plan leaves alone: unchanged, invalid, skipped.
    pub unchanged: u64,
    pub invalid: u64,
    pub skipped: u64,
    /// Rows per outcome, e.g. `("created", 118)`, `("failed", 2)`.
    pub outcomes: Vec<(String, u64)>,
    pub rows: Vec<ImportRow>,
    pub rows_omitted: u64,
    /// How the embedded rows are ordered, said above the table (e.g. "failed rows first").
    pub rows_order: Option<String>,
    /// Retries per class, e.g. `("429 rate limited", 12)`, `("timeout", 1)`.
    pub retries: Vec<(String, u64)>,
    pub requests: u64,
    pub elapsed: Duration,
    /// The command that resumes an interrupted run.
    pub resume_command: Option<String>,
    /// The CSV report with every row, when one is written next to the page.
    pub csv_report: Option<String>,
}

fn outcome_group(outcome: &str) -> &'static str {
    match outcome {
        "failed" | "invalid" => "problem",
        "created" | "updated" | "planned" => "change",
        _ => "other",
    }
}

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "failed" | "invalid" => "error",
        "skipped" => "warning",
        _ => "",
    }
}

/// The import (or update) page.
pub fn render_import(p: &ImportPage) -> String {
    let mut b = String::with_capacity(8192 + p.rows.len() * 520);
    let class = match p.verdict_class.as_str() {
        "ok" | "warning" | "error" => p.verdict_class.as_str(),
        _ => "warning",
    };
    let _ = write!(
        b,
        "<main>\n<h1>{} of <code>{}</code></h1>\n<p class=\"verdict {class}\" id=\"verdict\">{} {}</p>\n",
        if p.dry_run { "Dry run of the import" } else { "Import" },
        Esc(&p.file),
        sev_badge(class),
        Esc(&p.verdict),
    );
    if let Some(cmd) = &p.resume_command {
        let _ = writeln!(
            b,
            "<div class=\"resume\" id=\"resume\"><h2>The import was interrupted</h2><p>Users already done stay done; to finish the rest, run:</p><p><code>{}</code></p></div>",
            Esc(cmd)
        );
    }
    let per_second = if p.elapsed.as_secs_f64() > 0.0 {
        format!(
            " ({} per second)",
            crate::numfmt::rate(p.requests as f64 / p.elapsed.as_secs_f64())
        )
    } else {
        String::new()
    };
    let _ = write!(
        b,
        "<h2>Where and when</h2>\n<dl class=\"facts\"><dt>Target</dt><dd>{}</dd><dt>File</dt><dd><code>{}</code></dd><dt>Mode</dt><dd>{}</dd><dt>Time taken</dt><dd>{}</dd><dt>API requests</dt><dd>{}{per_second}</dd></dl>\n",
        Esc(&p.target),
        Esc(&p.file),
        if p.dry_run {
            "dry run: nothing was changed in Qualtrics"
        } else {
            "import: changes were sent to Qualtrics"
        },
        human_duration(p.elapsed),
        count(p.requests),
    );
    if let Some(csv) = &p.csv_report {
        let _ = writeln!(
            b,
            "<p>Every row is in the CSV report <code id=\"csv-report\">{}</code>, next to this page.</p>",
            Esc(csv)
        );
    }

    b.push_str("<h2>The plan</h2>\n");
    let changes = p
        .plan
        .iter()
        .map(|(class, n)| (title(class), n as u64, "neutral"));
    let classes: Vec<(&str, u64, &str)> = changes
        .chain([
            ("Unchanged", p.unchanged, "ok"),
            ("Invalid rows", p.invalid, "error"),
            ("Skipped", p.skipped, "warning"),
        ])
        .collect();
    let bars: Vec<Bar> = classes
        .iter()
        .map(|(label, n, kind)| Bar {
            label: label.to_string(),
            value: *n,
            kind,
            note: if *n == 1 { "user" } else { "users" }.into(),
        })
        .collect();
    bar_chart(&mut b, "Users per kind of change", &bars);
    b.push_str("<p class=\"note\">A user can be in several kinds of change (a renamed user whose status also changes counts in both).</p>\n");

    if !p.outcomes.is_empty() {
        b.push_str("<h2>Outcomes</h2>\n<ul class=\"counts\" id=\"counts\">");
        for (outcome, n) in &p.outcomes {
            let badge = match outcome_class(outcome) {
                "" => String::new(),
                cls => format!(" {}", sev_badge(cls)),
            };
            let _ = write!(b, "<li><b>{}</b> {}{badge}</li>", count(*n), Esc(outcome));
        }
        b.push_str("</ul>\n");
    }

    b.push_str("<h2>Retries</h2>\n");
    let retried: u64 = p.retries.iter().map(|(_, n)| n).sum();
    if retried == 0 {
        b.push_str("<p>No request had to be retried.</p>\n");
    } else {
        let _ = write!(
            b,
            "<table class=\"retries\" style=\"width:auto\"><caption>{} by cause</caption><thead><tr><th scope=\"col\">Cause</th><th scope=\"col\" class=\"num\">Retries</th></tr></thead><tbody>",
            plural(retried, "retry", "retries")
        );
        for (class, n) in &p.retries {
            let _ = write!(
                b,
                "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td></tr>",
                Esc(class),
                count(*n)
            );
        }
        b.push_str("</tbody></table>\n");
    }

    if !p.rows.is_empty() {
        b.push_str("<h2 id=\"rows-heading\">Users</h2>\n");
        if let Some(order) = &p.rows_order {
            let _ = writeln!(b, "<p class=\"note\" id=\"rows-order\">{}</p>", Esc(order));
        }
        controls(
            &mut b,
            &[
                ("all", "All"),
                ("problem", "Failed or invalid"),
                ("change", "Changed"),
            ],
        );
        let total = p.rows.len() as u64 + p.rows_omitted;
        let _ = write!(
            b,
            "<table id=\"rows\"><caption>{}</caption>\n<colgroup><col style=\"width:6%\"><col style=\"width:5%\"><col style=\"width:15%\"><col style=\"width:8%\"><col style=\"width:10%\"><col style=\"width:21%\"><col style=\"width:8%\"><col style=\"width:10%\"><col></colgroup>\n\
             <thead><tr><th scope=\"col\" class=\"num\">Line</th><th scope=\"col\" class=\"num\">Row</th><th scope=\"col\">User</th><th scope=\"col\">Action</th><th scope=\"col\">Outcome</th><th scope=\"col\">Changes</th><th scope=\"col\" class=\"num\">HTTP status</th><th scope=\"col\">Request id</th><th scope=\"col\">Message</th></tr></thead>\n<tbody>\n",
            if p.rows_omitted > 0 {
                let first = if p.rows_order.is_some() { "" } else { "The first " };
                format!("{first}{} of {} rows", count(p.rows.len() as u64), count(total))
            } else {
                plural(total, "row", "rows")
            }
        );
        for r in &p.rows {
            let class = outcome_class(&r.outcome);
            let _ = write!(
                b,
                "<tr class=\"{class}\" data-group=\"{}\"><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}",
                outcome_group(&r.outcome),
                r.line.map(|l| l.to_string()).unwrap_or_default(),
                r.row.map(|l| l.to_string()).unwrap_or_default(),
                Esc(&r.user_name),
            );
            if !r.user_id.is_empty() {
                let _ = write!(b, "<br><code>{}</code>", Esc(&r.user_id));
            }
            let _ = write!(
                b,
                "</td><td>{}</td><td>{}{}</td><td>",
                Esc(&r.action),
                Esc(&r.outcome),
                match class {
                    "" => String::new(),
                    cls => format!(" {}", sev_badge(cls)),
                },
            );
            if !r.changes.is_empty() {
                b.push_str("<ul class=\"changes\">");
                for ch in &r.changes {
                    let _ = write!(
                        b,
                        "<li>{}: <del>{}</del> → <ins>{}</ins></li>",
                        Esc(&ch.field),
                        Esc(if ch.old.is_empty() {
                            "(empty)"
                        } else {
                            &ch.old
                        }),
                        Esc(if ch.new.is_empty() {
                            "(empty)"
                        } else {
                            &ch.new
                        }),
                    );
                }
                b.push_str("</ul>");
            }
            let _ = writeln!(
                b,
                "</td><td class=\"num\">{}</td><td>{}</td><td>{}{}</td></tr>",
                r.http_status.map(|s| s.to_string()).unwrap_or_default(),
                r.request_id
                    .as_deref()
                    .map(|id| format!("<code>{}</code>", Esc(id)))
                    .unwrap_or_default(),
                if r.codes.is_empty() {
                    String::new()
                } else {
                    format!("<code>{}</code> ", Esc(&r.codes))
                },
                Esc(&r.message),
            );
        }
        b.push_str("</tbody></table>\n");
        if p.rows_omitted > 0 {
            let _ = writeln!(
                b,
                "<p class=\"note\" id=\"more\"><strong>{} more</strong> are not shown here to keep this page light{}.</p>",
                plural(p.rows_omitted, "row", "rows"),
                p.csv_report
                    .as_deref()
                    .map(|c| format!(": every row is in the CSV report <code>{}</code>, next to this page", Esc(c)))
                    .unwrap_or_default(),
            );
        }
    }
    footer(&mut b);
    b.push_str("</main>");
    let title = format!(
        "{} of {} — {}",
        if p.dry_run { "Dry run" } else { "Import" },
        p.file,
        p.verdict
    );
    page(&shorten(&title, 120), &b, !p.rows.is_empty())
}

/// Writes the import page.
pub fn write_import(path: &Path, page: &ImportPage) -> io::Result<()> {
    crate::fsx::write_bytes(path, render_import(page).as_bytes())
}

fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{} h {} min {} s", secs / 3600, secs % 3600 / 60, secs % 60)
    } else if secs >= 60 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A class of change as the page's bar names it (the same classes, counted the same way, as
/// the terminal plan and the JSON summary).
fn title(class: ChangeClass) -> &'static str {
    match class {
        ChangeClass::Create => "New users",
        ChangeClass::Name => "Name changes",
        ChangeClass::Status => "Status changes",
        ChangeClass::UserType => "User type changes",
        ChangeClass::Division => "Division moves",
        ChangeClass::Expiration => "Expiration dates",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::html::tests::PAYLOADS;

    fn import_page() -> ImportPage {
        ImportPage {
            file: "staff.csv".into(),
            target: "https://ca1.qualtrics.com (brand acme)".into(),
            dry_run: false,
            verdict: "3 of 4 users were imported; 1 failed.".into(),
            verdict_class: "error".into(),
            plan: {
                let mut c = ClassCounts::default();
                for class in [
                    ChangeClass::Create,
                    ChangeClass::Create,
                    ChangeClass::Name,
                    ChangeClass::Status,
                    ChangeClass::Division,
                ] {
                    c.add(class);
                }
                c
            },
            unchanged: 1,
            invalid: 0,
            skipped: 0,
            outcomes: vec![
                ("created".into(), 2),
                ("updated".into(), 1),
                ("failed".into(), 1),
            ],
            rows: vec![
                ImportRow {
                    line: Some(2),
                    row: Some(1),
                    user_id: "UR_new1".into(),
                    user_name: "ann@univ.edu".into(),
                    action: "create".into(),
                    outcome: "created".into(),
                    ..Default::default()
                },
                ImportRow {
                    line: Some(3),
                    row: Some(2),
                    user_id: "UR_1aB2cD3eF4gH5iJ".into(),
                    user_name: "bob@univ.edu".into(),
                    action: "update".into(),
                    outcome: "updated".into(),
                    changes: vec![
                        FieldChange {
                            field: "firstName".into(),
                            old: "Bob".into(),
                            new: "Robert".into(),
                        },
                        FieldChange {
                            field: "divisionId".into(),
                            old: String::new(),
                            new: "DV_<x>".into(),
                        },
                    ],
                    ..Default::default()
                },
                ImportRow {
                    line: Some(4),
                    row: Some(3),
                    user_name: PAYLOADS[1].into(),
                    action: "create".into(),
                    outcome: "failed".into(),
                    codes: "API400".into(),
                    message: PAYLOADS[0].into(),
                    http_status: Some(400),
                    request_id: Some("req-7f3a".into()),
                    ..Default::default()
                },
            ],
            rows_omitted: 1,
            rows_order: None,
            retries: vec![("429 rate limited".into(), 3), ("timeout".into(), 1)],
            requests: 9,
            elapsed: Duration::from_millis(4500),
            resume_command: Some("qusers import staff.csv --resume --report r.html".into()),
            csv_report: Some("r.csv".into()),
        }
    }

    #[test]
    fn import_page_shows_target_plan_changes_failures_retries_and_resume() {
        let html = render_import(&import_page());
        assert!(html.contains("https://ca1.qualtrics.com (brand acme)"));
        assert!(html.contains("3 of 4 users were imported; 1 failed."));
        assert!(html.contains("New users: 2 users"));
        assert!(html.contains("Name changes: 1 user"));
        assert!(
            !html.contains("Username changes"),
            "no class a run cannot fill"
        );
        assert!(html.contains("Division moves: 1 user"));
        assert!(html.contains("firstName: <del>Bob</del> → <ins>Robert</ins>"));
        assert!(html.contains("divisionId: <del>(empty)</del> → <ins>DV_&lt;x&gt;</ins>"));
        assert!(html.contains("<td class=\"num\">400</td><td><code>req-7f3a</code></td>"));
        assert!(html.contains("<th scope=\"row\">429 rate limited</th><td class=\"num\">3</td>"));
        assert!(html.contains("4 retries by cause"));
        assert!(html.contains("4.5 s"));
        assert!(html.contains("9 (2.0 per second)"));
        assert!(html.contains("<code>qusers import staff.csv --resume --report r.html</code>"));
        assert!(html.contains("The first 3 of 4 rows"));
        assert!(html.contains("every row is in the CSV report <code>r.csv</code>"));
        for p in PAYLOADS {
            assert!(!html.contains(p), "raw payload {p} in page");
        }
        assert_eq!(html.matches("<script").count(), 1);
    }

    #[test]
    fn import_dry_run_without_rows_has_no_script() {
        let mut p = import_page();
        p.dry_run = true;
        p.rows.clear();
        p.rows_omitted = 0;
        p.resume_command = None;
        p.retries.clear();
        let html = render_import(&p);
        assert!(html.contains("Dry run of the import"));
        assert!(html.contains("dry run: nothing was changed in Qualtrics"));
        assert!(html.contains("No request had to be retried."));
        assert!(!html.contains("id=\"resume\""));
        assert!(!html.contains("<script"));
    }
}
