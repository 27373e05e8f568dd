//! A resume's first step: what an interrupted run left in the journal, read against the
//! instance as it is now ([`reconcile`]), and the users whose full record a plan needs
//! ([`detail_candidates`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::apply::{finalize_input, History};
use super::journal::RowResult;
use super::Outcome;
use crate::instance::Instance;
use crate::rules::Action;
use crate::validate::Verdict;

/// What a resume makes of the journal of an interrupted run.
pub(super) struct Reconciled {
    pub(super) carried: HashMap<u64, RowResult>,
    pub(super) history: History,
    /// Update rows whose write went out (an update now without changes was applied).
    pub(super) sent_updates: HashSet<u64>,
}

/// Reads what an interrupted run left against the instance as it is now: finished rows are
/// carried as they were reported; failed rows are tried again when the failure was for want
/// of an answer (or always with `retry_failed`); a create that went out without an answer
/// counts as created when its user exists; a create whose disable step was not done (or
/// failed) gets it done. Rows this import wrote lose the "username taken" finding that their
/// own create causes in the resumed validation.
pub(super) fn reconcile(
    resumed: super::journal::Resumed,
    rows: &mut [super::InputRow],
    instance: &Instance,
    retry_failed: bool,
) -> Reconciled {
    let mut carried = HashMap::new();
    let mut history = History::default();
    let mut sent_updates = HashSet::new();
    // Rows whose write may have gone in: row → the username sent (creates).
    let mut sent: HashMap<u64, String> = resumed.sending;
    // Creates known to have gone in: row → their created result.
    let mut created: HashMap<u64, RowResult> = resumed.created;
    for (row, result) in resumed.done {
        if result.outcome == Outcome::Failed && (retry_failed || result.is_transient_failure()) {
            if result.user_id.is_empty() {
                sent.insert(row, result.username.clone().unwrap_or_default());
            } else {
                // A create whose disable failed, or an update.
                created.insert(
                    row,
                    RowResult {
                        outcome: Outcome::Created,
                        user_id: result.user_id.clone(),
                        username: result.username.clone(),
                        ..RowResult::default()
                    },
                );
            }
        } else {
            carried.insert(row, result);
        }
    }
    for input in rows.iter_mut() {
        let row = input.row;
        if carried.contains_key(&row) {
            continue;
        }
        let was_sent = sent.contains_key(&row) || created.contains_key(&row);
        if !was_sent {
            continue;
        }
        if input.action != Action::Create {
            sent_updates.insert(row);
            continue;
        }
        // This import's own create makes the username taken: that finding is not the row's.
        input
            .problems
            .retain(|p| p.code != crate::rules::Code::UserNameTaken);
        input.verdict = verdict_of(&input.problems);
        let wants_disabled = crate::rules::parse_status(input.get(crate::file::Col::AccountStatus))
            .is_some_and(|(s, _)| s == crate::rules::Status::Disabled);
        let known = created.remove(&row).or_else(|| {
            let name = sent.get(&row).filter(|n| !n.is_empty());
            let name = name.map_or(input.get(crate::file::Col::UserName), String::as_str);
            instance.by_username(name).map(|u| RowResult {
                outcome: Outcome::Created,
                user_id: u.id.clone(),
                username: (u.username != input.get(crate::file::Col::UserName))
                    .then(|| u.username.clone()),
                message: "created before the interruption (found by username on resume)".into(),
                ..RowResult::default()
            })
        });
        match known {
            Some(result) => {
                let disabled_now = instance
                    .by_id(&result.user_id)
                    .is_some_and(|u| u.status == "disabled");
                if wants_disabled && !disabled_now {
                    history.to_disable.insert(row, result);
                } else {
                    let mut result = result;
                    if wants_disabled && result.message.is_empty() {
                        result.message = "created, then disabled as the row asks".into();
                    }
                    // As the report shows it: with the row's own findings.
                    carried.insert(row, finalize_input(input, result));
                }
            }
            // Not there (yet): a "taken" answer to the new create may be this one landing late.
            None => {
                history.sent_before.insert(row);
            }
        }
    }
    Reconciled {
        carried,
        history,
        sent_updates,
    }
}

/// The users whose full record a plan needs: those an update row (or an upsert) may change,
/// that is with a cell that is not empty and differs from what the list says, or that the list
/// does not carry (the expiration date). Rows carried from an interrupted run are done.
pub(super) fn detail_candidates(
    rows: &[super::InputRow],
    instance: &Instance,
    carried: &HashMap<u64, RowResult>,
    upsert: bool,
) -> Vec<String> {
    use crate::file::Col;
    let mut ids = BTreeSet::new();
    for row in rows {
        if row.empty || row.verdict == Verdict::Error || carried.contains_key(&row.row) {
            continue;
        }
        let user = match row.action {
            Action::Update => instance.by_id(row.get(Col::UserId)),
            Action::Create if upsert => instance.by_username(row.get(Col::UserName)),
            Action::Create => None,
        };
        let Some(user) = user else { continue };
        if user.detailed {
            continue;
        }
        let may_change = [
            Col::FirstName,
            Col::LastName,
            Col::DivisionId,
            Col::AccountType,
            Col::AccountStatus,
            Col::ExpirationDate,
        ]
        .into_iter()
        .any(|col| {
            let cell = row.get(col);
            !cell.is_empty()
                && user
                    .value(col)
                    .is_none_or(|live| !super::plan::same_value(col, live, cell))
        });
        if may_change {
            ids.insert(user.id.clone());
        }
    }
    ids.into_iter().collect()
}

fn verdict_of(problems: &[crate::rules::Problem]) -> Verdict {
    use crate::rules::Severity;
    if problems
        .iter()
        .any(|p| p.severity(false) == Severity::Error)
    {
        Verdict::Error
    } else if problems.is_empty() {
        Verdict::Ok
    } else {
        Verdict::Warning
    }
}
