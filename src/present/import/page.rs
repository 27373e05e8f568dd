//! The import page (`--report PATH.html`): what an import or an update did, as one
//! self-contained HTML file for a person, built from the [`ImportOutcome`] (the plan and each
//! row's result: nothing is read or validated again). The CSV report with every row is
//! written beside it (`PATH.rows.csv`), with the journal, undo and failed files.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::import::{ImportOutcome, ImportVerdict, Interruption, Planned, PlannedRow, RowResult};
use crate::numfmt::plural;
use crate::present::html::{
    write_import, Capped, FieldChange, ImportPage, ImportRow, EMBEDDED_ROWS,
};
use crate::rules::Severity;
use crate::vocab::outcome::Outcome;

/// Writes the page of `o` when its report was an `.html` name; returns its path. `target`
/// says where the users went (never a token); `resume` is the command that finishes an
/// interrupted run.
pub fn write_page(
    o: &ImportOutcome,
    target: &str,
    resume: Option<&str>,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(path) = &o.page else {
        return Ok(None);
    };
    write_import(path, &import_page(o, target, resume))
        .with_context(|| format!("cannot write the page {}", path.display()))?;
    Ok(Some(path.clone()))
}

/// The page of an import: its verdict, plan, outcomes, retries and rows (failed, invalid and
/// conflict rows first, then the rest, each in input order; capped at [`EMBEDDED_ROWS`]).
pub fn import_page(o: &ImportOutcome, target: &str, resume: Option<&str>) -> ImportPage {
    let (verdict, verdict_class) = verdict(o);
    let c = &o.counts;
    let not_done = o.results.iter().filter(|r| r.is_none()).count() as u64;
    let mut outcomes: Vec<(String, u64)> = [
        ("created", c.created),
        ("updated", c.updated),
        ("unchanged", c.unchanged),
        ("planned", c.planned),
        ("invalid", c.invalid),
        ("failed", c.failed),
        ("conflict", c.conflict),
        ("skipped", c.skipped),
        ("not done (interrupted)", not_done),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    if outcomes.is_empty() {
        outcomes.push(("rows".into(), 0));
    }

    // File-level problems first (they are why nothing went in), then the problem rows.
    let mut rows = Capped::new(EMBEDDED_ROWS);
    for p in &o.validation.file_problems {
        let row = ImportRow {
            line: p.line,
            outcome: if p.severity == Severity::Error {
                "invalid"
            } else {
                "warning"
            }
            .into(),
            codes: p.code.to_string(),
            message: p.message.clone(),
            ..ImportRow::default()
        };
        if rows.has_room() {
            rows.push(row);
        } else {
            rows.skip();
        }
    }
    let pairs = || o.plan.rows.iter().zip(&o.results);
    let problem = |r: &Option<RowResult>| {
        r.as_ref().is_some_and(|r| {
            matches!(
                r.outcome,
                Outcome::Failed | Outcome::Invalid | Outcome::Conflict
            )
        })
    };
    for first in [true, false] {
        for (row, result) in pairs().filter(|(_, r)| problem(r) == first) {
            if rows.has_room() {
                rows.push(page_row(row, result.as_ref()));
            } else {
                rows.skip();
            }
        }
    }
    let retries = o
        .transient
        .as_ref()
        .map(|t| {
            [
                ("429 rate limited", t.retries_429),
                ("5xx server error", t.retries_5xx),
                ("network error or timeout", t.retries_network),
            ]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.to_string(), n))
            .collect()
        })
        .unwrap_or_default();
    let requests = (o.transient.as_ref())
        .map_or(o.requests, |t| t.requests)
        .max(o.requests);
    ImportPage {
        file: o.input.clone(),
        target: target.to_string(),
        dry_run: o.verdict == ImportVerdict::Planned,
        verdict,
        verdict_class: verdict_class.into(),
        plan: o.plan.class_counts(),
        unchanged: c.unchanged,
        invalid: c.invalid,
        skipped: c.skipped,
        outcomes,
        rows: rows.items,
        rows_omitted: rows.omitted,
        rows_order: Some(
            "Failed, invalid and conflicting rows come first, then the others; each in the order of the file."
                .into(),
        ),
        retries,
        requests,
        elapsed: Duration::from_secs_f64(o.elapsed_seconds.max(0.0)),
        resume_command: (o.verdict.interrupted() || o.resume_journal.is_some())
            .then_some(resume)
            .flatten()
            .map(str::to_string),
        csv_report: Some(
            o.report
                .file_name()
                .map_or_else(|| o.report.display().to_string(), |n| n.to_string_lossy().into()),
        ),
    }
}

/// The verdict in one sentence, and its look (`ok`, `warning`, `error`). Rows sent (or to be
/// sent) despite warnings are counted by rule, and an otherwise clean run looks `warning`.
fn verdict(o: &ImportOutcome) -> (String, &'static str) {
    let (mut text, class) = plain_verdict(o);
    let Some(warned) = super::plan::warnings_line(&o.plan) else {
        return (text, class);
    };
    let sent = if o.verdict == ImportVerdict::Planned {
        "to be sent"
    } else {
        "sent"
    };
    text = format!("{}; {warned} {sent}.", text.trim_end_matches('.'));
    (text, if class == "ok" { "warning" } else { class })
}

fn plain_verdict(o: &ImportOutcome) -> (String, &'static str) {
    let c = &o.counts;
    let problems = c.invalid + c.failed + c.conflict;
    let problem_text = || {
        let mut parts = Vec::new();
        if c.failed > 0 {
            parts.push(plural(c.failed, "row failed", "rows failed"));
        }
        if c.invalid > 0 {
            parts.push(plural(c.invalid, "row is invalid", "rows are invalid"));
        }
        if c.conflict > 0 {
            parts.push(plural(
                c.conflict,
                "row conflicts with a change made in Qualtrics",
                "rows conflict with changes made in Qualtrics",
            ));
        }
        parts.join(", ")
    };
    let done = format!(
        "{} created, {} updated, {} unchanged",
        c.created, c.updated, c.unchanged
    );
    match o.verdict {
        ImportVerdict::Planned => {
            let what = format!(
                "Dry run: nothing was changed in Qualtrics. A real run would send {} and {}",
                plural(o.plan.creates() as u64, "create", "creates"),
                plural(o.plan.updates() as u64, "update", "updates"),
            );
            if let Some(b) = &o.brake {
                (format!("{what}, but it would stop: {b}."), "warning")
            } else if o.file_errors || o.plan.blocked_by_invalid {
                (
                    format!(
                        "{what}; but {}, so nothing would be imported.",
                        problem_text()
                    ),
                    "error",
                )
            } else if problems > 0 {
                (format!("{what}; {}.", problem_text()), "warning")
            } else {
                (format!("{what}."), "ok")
            }
        }
        ImportVerdict::Done => (format!("Every row went in: {done}."), "ok"),
        ImportVerdict::DoneWithProblems if c.created + c.updated == 0 => (
            format!("No user was created or changed: {}.", problem_text()),
            "error",
        ),
        ImportVerdict::DoneWithProblems => (
            format!("Imported with problems: {done}; {}.", problem_text()),
            "error",
        ),
        ImportVerdict::NotImported => {
            let why = if let Some(b) = &o.brake {
                b.to_string()
            } else if o.file_errors {
                "the file has file-level errors".into()
            } else {
                format!(
                    "{}; fix them, or pass --skip-invalid to import the rest",
                    problem_text()
                )
            };
            (format!("Nothing was imported: {why}."), "error")
        }
        ImportVerdict::Interrupted(why) => {
            // Rows to send that were not: not started, or skipped by the interruption.
            let left = (o.plan.rows.iter().zip(&o.results))
                .filter(|(row, r)| match r {
                    None => true,
                    Some(r) => {
                        r.outcome == Outcome::Skipped
                            && matches!(
                                row.planned,
                                Planned::Create { .. } | Planned::Update { .. }
                            )
                    }
                })
                .count() as u64;
            let why = match why {
                Interruption::Outage => "the server stopped answering",
                Interruption::Signal => "it was stopped",
            };
            (
                format!(
                    "The import was interrupted ({why}): {done}; {} not done yet.",
                    plural(left, "row", "rows")
                ),
                "warning",
            )
        }
    }
}

/// One plan row as the page shows it.
fn page_row(row: &PlannedRow, result: Option<&RowResult>) -> ImportRow {
    let mut message = result.map(|r| r.message.clone()).unwrap_or_default();
    for note in &row.notes {
        if !message.contains(note.as_str()) {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(note);
        }
    }
    let changes = match &row.planned {
        Planned::Update { changes, .. } => changes
            .iter()
            .map(|c| FieldChange {
                field: c.field.to_string(),
                old: c.old.clone(),
                new: c.new.clone(),
            })
            .collect(),
        Planned::Create { user, disable } => {
            let mut fields = vec![
                ("userName", user.username.clone()),
                ("firstName", user.first_name.clone()),
                ("lastName", user.last_name.clone()),
                ("email", user.email.clone()),
            ];
            if let Some(d) = &user.division_id {
                fields.push(("divisionId", d.clone()));
            }
            fields.push(("accountType", user.user_type.clone()));
            fields.push((
                "accountStatus",
                if *disable { "disabled" } else { "active" }.into(),
            ));
            if let Some(e) = &user.account_expiration_date {
                fields.push(("expirationDate", e.clone()));
            }
            fields
                .into_iter()
                .map(|(field, new)| FieldChange {
                    field: field.into(),
                    old: String::new(),
                    new,
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let user_id = match result {
        Some(r) if !r.user_id.is_empty() => r.user_id.clone(),
        _ => row.user_id().to_string(),
    };
    ImportRow {
        line: Some(row.input.line),
        row: Some(row.input.row),
        user_id,
        user_name: result
            .and_then(|r| r.username.clone())
            .unwrap_or_else(|| row.user_name().to_string()),
        action: row.input.action.as_str().into(),
        outcome: result.map_or("not done", |r| r.outcome.as_str()).into(),
        codes: result.map(|r| r.codes.clone()).unwrap_or_default(),
        message,
        changes,
        http_status: result.and_then(|r| r.http_status),
        request_id: result.and_then(|r| r.request_id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::import::tests::{client, run_import, user_type, write};
    use crate::import::ImportOptions;
    use crate::present::html::render_import;
    use crate::sim::{self, SimConfig};

    #[test]
    fn an_interrupted_import_page_has_the_resume_command_and_a_failure_its_request_id() {
        let h = sim::spawn(SimConfig::default()).expect("sim");
        let ut = user_type(&h);
        let dir = tempfile::tempdir().expect("tempdir");
        let rows: Vec<String> = (0..3)
            .map(|n| format!(",c{n}@x.org,C,User{n},c{n}@x.org,,{ut},active,"))
            .collect();
        let input = write(dir.path(), &rows);
        let page = dir.path().join("r.html");
        let opts = ImportOptions::new(&page);
        assert_eq!(opts.report, dir.path().join("r.rows.csv"));
        assert_eq!(opts.page.as_deref(), Some(page.as_path()));
        // Cancelled before it starts: every row is left for --resume.
        let mut outcome =
            run_import(&input, &client(&h), opts, &AtomicBool::new(true)).expect("cancelled");
        assert_eq!(
            outcome.verdict,
            ImportVerdict::Interrupted(Interruption::Signal)
        );
        let resume = "qusers import users.csv --report r.html --resume";
        let written = write_page(&outcome, "the simulator", Some(resume)).expect("written");
        assert_eq!(written.as_deref(), Some(page.as_path()));
        let html = std::fs::read_to_string(&page).expect("page");
        assert!(html.contains("3 rows not done yet"), "{html}");
        assert!(html.contains(&format!("<code>{resume}</code>")), "{html}");
        // The journal is the CSV report's, so that `--resume --report r.html` finds it.
        let journal = crate::import::Journal::path_for(&dir.path().join("r.rows.csv"));
        assert!(journal.exists());
        assert_eq!(outcome.resume_journal.as_deref(), Some(journal.as_path()));

        // A row the server refused shows its status and request id, first in the table.
        outcome.results[2] = Some(RowResult {
            outcome: Outcome::Failed,
            http_status: Some(400),
            request_id: Some("req-42".into()),
            message: "Username c2@x.org already exists.".into(),
            ..RowResult::default()
        });
        outcome.counts.failed = 1;
        outcome.verdict = ImportVerdict::DoneWithProblems;
        let p = import_page(&outcome, "the simulator", None);
        assert_eq!(p.rows[0].outcome, "failed");
        assert_eq!(p.rows[0].user_name, "c2@x.org");
        assert_eq!(p.rows[0].http_status, Some(400));
        let html = render_import(&p);
        assert!(html.contains("<code>req-42</code>"), "{html}");
        assert!(html.contains(">400</td>"), "{html}");
        assert!(html.contains("Username c2@x.org already exists."), "{html}");
        assert!(html.contains("<li>userName: <del>(empty)</del> → <ins>c0@x.org</ins></li>"));
    }
}
