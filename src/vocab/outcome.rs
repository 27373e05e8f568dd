//! What happened to a row of an import, an update or a sync: the report's `outcome` column,
//! the journal's record of it, and the word every summary counts by.

/// What happened to a row (the report's `outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Invalid,
    Failed,
    Skipped,
    Planned,
    /// Changed both in the file and in Qualtrics since the export: nothing sent.
    Conflict,
    /// `qusers sync`: a user in scope absent from the roster, within its grace period (or
    /// past it with `--deprovision report`): nothing sent.
    Missing,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Invalid => "invalid",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Planned => "planned",
            Outcome::Conflict => "conflict",
            Outcome::Missing => "missing",
        }
    }
}
