//! The words for one row of a user file: where it is ([`RowRef`]), what it asks for
//! ([`Action`]) and what its checks concluded ([`Verdict`]).

use serde::Serialize;

use super::rule::{Problem, Severity};

/// Where a row sits: its physical line in the file (1-based, the header is line 1 of a plain
/// file) and its number among the data rows (1-based). The two differ once a quoted value
/// spans lines or the file starts with a `sep=` line, so reports give both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RowRef {
    pub line: u64,
    pub row: u64,
}

/// What a row asks for: a new user (empty userID) or a change to an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
        }
    }

    /// The action of a row whose userID (trimmed) is `user_id`.
    pub fn of_user_id(user_id: &str) -> Action {
        if user_id.is_empty() {
            Action::Create
        } else {
            Action::Update
        }
    }
}

/// A row's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warning,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Error => "error",
        }
    }

    /// The verdict of a row with these problems: its worst severity (after `--strict`).
    pub fn of(problems: &[Problem], strict: bool) -> Verdict {
        problems
            .iter()
            .map(|p| match p.severity(strict) {
                Severity::Error => Verdict::Error,
                Severity::Warning => Verdict::Warning,
            })
            .max_by_key(|v| *v as u8)
            .unwrap_or(Verdict::Ok)
    }
}
