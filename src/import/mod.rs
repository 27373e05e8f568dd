//! `qusers import` without the command line: collect the validated rows, plan them against
//! the instance, apply the plan through the API with a journal that makes every row happen
//! exactly once, across crashes.
//!
//! The rooms: `workflow` (the steps, from the flags to the outcome), `load` (collecting
//! validated rows), `reconcile` (what an interrupted run left, read against the instance),
//! `plan` (each row against the instance), `brakes`, `apply` (the requests), `journal`,
//! `ledger` (the planned rows and their results: report, counts, undo and failed files) and
//! `outcome` (what a run did, as facts for the presentation layer).

mod apply;
pub mod base;
pub mod brakes;
mod journal;
mod ledger;
mod load;
mod outcome;
mod plan;
mod reconcile;
mod resume;
mod rows;
#[cfg(test)]
pub(crate) mod tests;
pub mod undo;
pub mod update;
mod workflow;

pub use apply::{
    apply, finalize, result_without_request, suffixed, ApplyEnd, ApplyEvent, ApplyOptions, History,
    OnTaken,
};
pub use journal::{
    content_hash, ImportLock, Journal, JournalEntry, JournalError, JournalTarget, Resumed,
    RowResult,
};
pub use load::{Collect, RefusedRow, RefusedRows, REFUSED};
pub use outcome::{Counts, ImportOutcome, ImportVerdict, Interruption};
pub use plan::{
    describe_changes, iso_date, plan, same_value, Plan, PlanOptions, Planned, PlannedRow, Prefer,
    Protect, BRAND_ADMIN_TYPE,
};
pub use resume::resume_command;
pub use rows::Fields;
pub use workflow::{
    default_report, parse_duration, FileInput, ImportInput, ImportOptions, Importer, InstanceFrom,
    NoProgress, PlannedImport, Progress,
};

pub use crate::vocab::outcome::Outcome;

use crate::file::Col;
use crate::rules::{Action, Problem};
use crate::validate::{join_codes, join_messages, Verdict};

/// A data row as the importer keeps it: its fields (trimmed) and what validation said.
#[derive(Clone, Debug)]
pub struct InputRow {
    pub line: u64,
    pub row: u64,
    pub action: Action,
    /// The nine template fields, in one allocation.
    pub fields: Fields,
    pub problems: Vec<Problem>,
    pub verdict: Verdict,
    pub empty: bool,
}

impl InputRow {
    pub fn get(&self, col: Col) -> &str {
        self.fields.get(col)
    }

    pub fn codes(&self) -> String {
        join_codes(&self.problems)
    }

    pub fn message(&self) -> String {
        join_messages(&self.problems)
    }
}
