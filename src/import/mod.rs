//! `qusers import` without the command line: collect the validated rows, plan them against
//! the instance, apply the plan through the API with a journal that makes every row happen
//! exactly once, across crashes.

mod apply;
pub mod base;
pub mod brakes;
mod journal;
mod load;
mod plan;
mod resume;
mod rows;
mod run;
#[cfg(test)]
pub(crate) mod tests;
pub mod undo;
pub mod update;

pub use apply::{
    apply, finalize, result_without_request, suffixed, ApplyEnd, ApplyEvent, ApplyOptions, History,
    OnTaken,
};
pub use journal::{
    content_hash, ImportLock, Journal, JournalEntry, JournalError, JournalTarget, Resumed,
    RowResult,
};
pub use load::{Collect, RefusedRow, RefusedRows, REFUSED};
pub use plan::{
    describe_changes, iso_date, plan, same_value, Change, ChangeClass, Plan, PlanOptions, Planned,
    PlannedRow, Prefer, Protect, BRAND_ADMIN_TYPE,
};
pub use resume::resume_command;
pub use rows::Fields;
pub use run::{
    default_report, parse_duration, Counts, FileInput, ImportInput, ImportOptions, ImportOutcome,
    ImportVerdict, Importer, InstanceFrom, NoProgress, Prepared, Progress,
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
