//! What an import did: the verdict, the outcome counts, the plan and every row's result, the
//! files it left ([`ImportOutcome`]). Facts only: the presentation layer words them.

use std::path::PathBuf;

use serde::Serialize;

use super::brakes::BrakeStop;
use super::journal::RowResult;
use super::plan::Plan;
use super::Outcome;
use crate::validate::FileSummary;

/// Outcome counts, in report order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub invalid: u64,
    pub failed: u64,
    pub skipped: u64,
    pub planned: u64,
    /// Changed both in the file and in Qualtrics since the export (nothing sent).
    pub conflict: u64,
    /// `qusers sync`: users absent from the roster, nothing sent (absent from import's JSON).
    #[serde(skip_serializing_if = "is_zero")]
    pub missing: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counts {
    pub(super) fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Invalid => self.invalid += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Planned => self.planned += 1,
            Outcome::Conflict => self.conflict += 1,
            Outcome::Missing => self.missing += 1,
        }
    }
}

/// How the import ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportVerdict {
    /// Every row went in.
    Done,
    /// Some rows are invalid or failed; the rest went in.
    DoneWithProblems,
    /// Nothing was sent: file-level errors, or invalid rows without `--skip-invalid`.
    NotImported,
    /// `--dry-run`: the plan only.
    Planned,
    /// Stopped before the end, by what; the journal is kept for `--resume`.
    Interrupted(Interruption),
}

/// What stopped an import before the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// The run was cancelled (Ctrl-C or SIGTERM): the CLI exits 130.
    Signal,
    /// The server did not answer for `max_outage`.
    Outage,
}

impl ImportVerdict {
    /// The verdict's one spelling (`done with problems`), as the summary says it.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportVerdict::Done => "done",
            ImportVerdict::DoneWithProblems => "done with problems",
            ImportVerdict::NotImported => "not imported",
            ImportVerdict::Planned => "planned",
            ImportVerdict::Interrupted(_) => "interrupted",
        }
    }

    /// Whether the run was stopped before the end (by a signal or an outage).
    pub fn interrupted(self) -> bool {
        matches!(self, ImportVerdict::Interrupted(_))
    }

    /// Whether the run was cancelled by a signal (the CLI exits 130).
    pub fn cancelled(self) -> bool {
        self == ImportVerdict::Interrupted(Interruption::Signal)
    }
}

/// What an import did.
#[derive(Debug)]
pub struct ImportOutcome {
    /// The input's name (the file, or `<stdin>`).
    pub input: String,
    pub verdict: ImportVerdict,
    pub counts: Counts,
    pub plan: Plan,
    /// What validation found (the CLI shows it when nothing was imported).
    pub validation: FileSummary,
    /// The file has file-level errors (nothing was imported).
    pub file_errors: bool,
    pub report: PathBuf,
    /// The journal to resume from, when the import was interrupted or rows failed for want
    /// of an answer (`--resume` with the same input and report continues it).
    pub resume_journal: Option<PathBuf>,
    /// Requests the client sent (reading the instance included).
    pub requests: u64,
    /// Retries by class and the 5xx rate, when the API was used.
    pub transient: Option<crate::api::TransientStats>,
    /// Requests by kind (list pages, detail reads, writes), when the API was used.
    pub request_counts: Option<crate::api::RequestCounts>,
    pub elapsed_seconds: f64,
    /// The blast-radius brake held: nothing was sent.
    pub brake: Option<BrakeStop>,
    /// How rows were compared: three-way with a base snapshot, or why not.
    pub base_note: String,
    /// `REPORT.undo.csv` (real runs).
    pub undo: Option<PathBuf>,
    /// Rows in the undo file (0: the run changed nothing).
    pub undo_rows: usize,
    /// Changes the undo file cannot take back.
    pub not_undoable: Vec<String>,
    /// `REPORT.failed.csv`, when rows did not succeed.
    pub failed: Option<PathBuf>,
    /// Each plan row's result, in plan order (`None`: not done, the run was interrupted).
    pub results: Vec<Option<RowResult>>,
    /// The HTML page to write (`--report PATH.html`).
    pub page: Option<PathBuf>,
}

impl ImportOutcome {
    /// Whether the command succeeds (exit 0): not interrupted, and no row invalid or failed
    /// (a dry run of a file with invalid rows does not succeed either).
    pub fn success(&self) -> bool {
        matches!(self.verdict, ImportVerdict::Done | ImportVerdict::Planned)
            && !self.file_errors
            && self.counts.invalid + self.counts.failed + self.counts.conflict == 0
            && self.brake.is_none()
            && !self.plan.blocked_by_invalid
    }

    /// Rows that went through the API (created, updated or failed).
    pub fn applied(&self) -> u64 {
        self.counts.created + self.counts.updated + self.counts.failed
    }
}
