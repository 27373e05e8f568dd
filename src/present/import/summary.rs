//! The summary of an import, as text or one JSON object: shared by the commands that run the
//! import workflow (`import`, `update`, `sync`), which print it on stdout. The JSON shape is
//! the serde type [`Summary`]; the text is rendered from the same value.

use std::fmt::Write as _;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::import::{Counts, ImportOutcome, ImportVerdict, Interruption};
use crate::vocab::change::{ChangeClass, ClassCounts};

/// The JSON summary.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    pub file: &'a str,
    pub target: &'a str,
    pub dry_run: bool,
    pub verdict: &'static str,
    /// Why an interrupted import stopped: `signal` (Ctrl-C or SIGTERM) or `outage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted_by: Option<&'static str>,
    pub creates_planned: usize,
    pub updates_planned: usize,
    pub outcomes: &'a Counts,
    /// The SSO brand the usernames were checked against (given, or detected from the instance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso_brand: Option<&'a crate::rules::SsoBrand>,
    pub elapsed_seconds: f64,
    pub requests: u64,
    pub rows_per_second: f64,
    pub report: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_command: Option<&'a str>,
    /// Retries by class and the 5xx rate (with Qualtrics' support advice above 4 %).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transient: Option<&'a crate::api::TransientStats>,
    /// Requests by kind: list pages, detail reads and writes apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_kinds: Option<crate::api::RequestCounts>,
    /// Rows to send per class of change.
    pub changes: Changes,
    /// Rows sent (or to send) despite warnings, by rule code.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub warnings_by_rule: std::collections::BTreeMap<&'static str, usize>,
    /// Why the blast-radius brake stopped the import.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brake: Option<String>,
    pub base: &'a str,
    /// What import did with the file beside the rules (the export's name columns ignored).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub notes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub not_undoable: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// The rows to send per class, as the JSON summary has them: `{"creates": 1, "nameChanges":
/// 2, "statusChanges": 3, "disables": 1, …}`, in display order, `disables` right after the
/// status changes it is part of.
pub struct Changes(pub ClassCounts);

impl Changes {
    /// A class's key in the JSON summary.
    pub fn key(class: ChangeClass) -> &'static str {
        match class {
            ChangeClass::Create => "creates",
            ChangeClass::Name => "nameChanges",
            ChangeClass::Status => "statusChanges",
            ChangeClass::UserType => "userTypeChanges",
            ChangeClass::Division => "divisionMoves",
            ChangeClass::Expiration => "expirations",
        }
    }
}

impl Serialize for Changes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(ChangeClass::ALL.len() + 1))?;
        for (class, n) in self.0.iter() {
            m.serialize_entry(Changes::key(class), &n)?;
            if class == ChangeClass::Status {
                m.serialize_entry("disables", &self.0.disables())?;
            }
        }
        m.end()
    }
}

impl<'a> Summary<'a> {
    /// The summary of `o`, an import into `target`; `resume_command` is how to continue it
    /// when it was interrupted.
    pub fn new(o: &'a ImportOutcome, target: &'a str, resume_command: Option<&'a str>) -> Self {
        Summary {
            file: &o.input,
            target,
            dry_run: o.verdict == ImportVerdict::Planned,
            verdict: o.verdict.as_str(),
            interrupted_by: match o.verdict {
                ImportVerdict::Interrupted(Interruption::Signal) => Some("signal"),
                ImportVerdict::Interrupted(Interruption::Outage) => Some("outage"),
                _ => None,
            },
            creates_planned: o.plan.creates(),
            updates_planned: o.plan.updates(),
            outcomes: &o.counts,
            sso_brand: o.validation.sso_brand.as_ref(),
            elapsed_seconds: o.elapsed_seconds,
            requests: o.requests,
            rows_per_second: if o.elapsed_seconds > 0.0 {
                o.applied() as f64 / o.elapsed_seconds
            } else {
                0.0
            },
            report: o.report.display().to_string(),
            resume_command,
            transient: o.transient.as_ref(),
            request_kinds: o.request_counts,
            changes: Changes(o.plan.class_counts()),
            warnings_by_rule: o.plan.warnings_by_rule().into_iter().collect(),
            brake: o.brake.as_ref().map(|b| b.to_string()),
            base: &o.base_note,
            notes: &o.validation.notes,
            undo: o.undo.as_ref().map(|p| p.display().to_string()),
            not_undoable: &o.not_undoable,
            failed: o.failed.as_ref().map(|p| p.display().to_string()),
        }
    }

    /// The text summary, appended to `text`.
    pub fn render_text(&self, text: &mut String, o: &ImportOutcome) {
        let c = &o.counts;
        let why = match self.interrupted_by {
            Some("signal") => " (by Ctrl-C or SIGTERM)",
            Some(_) => " (the server stopped answering)",
            None => "",
        };
        let _ = writeln!(
            text,
            "import {} into {}: {}{why}",
            self.file, self.target, self.verdict
        );
        // (When nothing was imported the validation summary above names it already.)
        if let (Some(b), false) = (self.sso_brand, o.verdict == ImportVerdict::NotImported) {
            let _ = writeln!(text, "  {}", b.describe());
        }
        for note in self.notes {
            let _ = writeln!(text, "  note: {note}");
        }
        if self.dry_run {
            text.push_str(&super::plan::render(&o.plan, &o.base_note));
            if let Some(b) = &o.brake {
                let _ = writeln!(text, "a real run would stop: {b}");
            }
            let _ = writeln!(text, "nothing was changed (--dry-run)");
        } else if let Some(b) = &o.brake {
            text.push_str(&super::plan::render(&o.plan, &o.base_note));
            let _ = writeln!(text, "nothing was imported: {b}");
        } else if o.verdict == ImportVerdict::NotImported {
            let why = if o.file_errors {
                "the file has file-level errors"
            } else {
                "some rows are invalid; fix them, or pass --skip-invalid to import the rest"
            };
            let _ = writeln!(text, "nothing was imported: {why}");
        }
        use crate::numfmt::{count, rate};
        let _ = writeln!(
            text,
            "  {} created, {} updated, {} unchanged, {} invalid, {} failed, {} skipped{}{}",
            count(c.created),
            count(c.updated),
            count(c.unchanged),
            count(c.invalid),
            count(c.failed),
            count(c.skipped),
            if c.conflict > 0 {
                format!(", {} conflict", count(c.conflict))
            } else {
                String::new()
            },
            if c.planned > 0 {
                format!(", {} planned", count(c.planned))
            } else {
                String::new()
            }
        );
        if !self.dry_run && o.brake.is_none() && o.plan.creates() + o.plan.updates() > 0 {
            let _ = writeln!(text, "  planned: {}", super::plan::class_line(&o.plan));
        }
        let updates = c.updated + c.conflict > 0;
        if !self.dry_run && o.brake.is_none() && updates && !o.base_note.is_empty() {
            let _ = writeln!(text, "  {}", o.base_note);
        }
        if c.conflict > 0 {
            let _ = writeln!(
                text,
                "  {} conflict row{} (changed both in the file and in Qualtrics since the export): nothing was sent for them; see the report, or pass --prefer file|live",
                c.conflict,
                if c.conflict == 1 { "" } else { "s" }
            );
        }
        if !self.dry_run && o.applied() > 0 {
            let _ = writeln!(
                text,
                "  {} s, {} requests, {} rows/s",
                rate(o.elapsed_seconds),
                count(o.requests),
                rate(self.rows_per_second)
            );
        }
        if let Some(k) = self.request_kinds.filter(|k| *k != Default::default()) {
            let _ = writeln!(text, "  {}", k.render_line());
        }
        if let Some(t) = self.transient.filter(|t| t.requests > 0) {
            let _ = writeln!(text, "  {}", t.render_line());
        }
        let _ = writeln!(text, "  report: {}", self.report);
        if let Some(undo) = &self.undo {
            if o.undo_rows > 0 {
                let _ = writeln!(text, "  undo: {undo} (import it to take this run back)");
            } else {
                let _ = writeln!(text, "  undo: {undo} (empty: this run changed nothing)");
            }
        }
        const SHOWN: usize = 10;
        for n in self.not_undoable.iter().take(SHOWN) {
            let _ = writeln!(text, "    not in the undo: {n}");
        }
        if self.not_undoable.len() > SHOWN {
            let _ = writeln!(
                text,
                "    … and {} more not in the undo (--format json lists them all)",
                self.not_undoable.len() - SHOWN
            );
        }
        if let Some(failed) = &self.failed {
            let _ = writeln!(
                text,
                "  rows that did not succeed: {failed} (fix and import it again)"
            );
        }
        if let Some(cmd) = self.resume_command {
            let _ = writeln!(text, "  to finish: {cmd}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_serialize_in_display_order_with_disables_after_status() {
        let mut c = ClassCounts::default();
        c.add(ChangeClass::Name);
        c.add(ChangeClass::Name);
        c.add(ChangeClass::Status);
        c.add_disable();
        assert_eq!(
            serde_json::to_string(&Changes(c)).unwrap(),
            r#"{"creates":0,"nameChanges":2,"statusChanges":1,"disables":1,"userTypeChanges":0,"divisionMoves":0,"expirations":0}"#
        );
    }
}
