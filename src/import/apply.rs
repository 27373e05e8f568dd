//! Applying a plan: creates and updates through the client (whose controller paces them),
//! each announced in the journal before it goes out and recorded there when it is done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use futures_util::StreamExt;

use super::journal::{Journal, JournalEntry, RowResult};
use super::plan::{Change, Plan, Planned, PlannedRow};
use super::Outcome;
use crate::api::{ApiError, Client, UserUpdate};

/// How to apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Rows worked on at once (the client bounds the requests in flight as well).
    pub concurrency: usize,
}

/// A row finished (or, after a cancel, not started).
#[derive(Clone, Debug)]
pub struct ApplyEvent {
    /// Index into the plan's rows.
    pub index: usize,
    pub result: RowResult,
    /// Whether the journal has it (rows not started after a cancel are not journalled).
    pub journalled: bool,
}

fn failed(e: &ApiError, user_id: &str) -> RowResult {
    RowResult {
        outcome: Outcome::Failed,
        user_id: user_id.to_string(),
        http_status: e.status,
        request_id: e.request_id.clone(),
        codes: String::new(),
        message: e.to_string(),
    }
}

fn describe(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| {
            let old = if c.old.is_empty() { "(empty)" } else { &c.old };
            format!("{}: {} → {}", c.field, old, c.new)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn run_row(client: &Client, row: &PlannedRow) -> RowResult {
    match &row.planned {
        Planned::Create { user, disable } => match client.create_user_once(user).await {
            Ok(created) => {
                let mut notes = Vec::new();
                if created.reconciled {
                    notes.push(
                        "the create's answer was lost; the user was found by username".to_string(),
                    );
                }
                if *disable {
                    let update = UserUpdate {
                        status: Some("disabled".into()),
                        ..Default::default()
                    };
                    match client.update_user(&created.id, &update).await {
                        Ok(_) => notes.push("created, then disabled as the row asks".into()),
                        Err(e) => notes.push(format!("created, but disabling it failed: {e}")),
                    }
                }
                RowResult {
                    outcome: Outcome::Created,
                    user_id: created.id,
                    http_status: Some(created.status),
                    request_id: Some(created.request_id).filter(|r| !r.is_empty()),
                    codes: String::new(),
                    message: notes.join("; "),
                }
            }
            Err(e) => failed(&e, ""),
        },
        Planned::Update {
            id,
            update,
            changes,
        } => match client.update_user(id, update).await {
            Ok(a) => RowResult {
                outcome: Outcome::Updated,
                user_id: id.clone(),
                http_status: Some(a.status),
                request_id: Some(a.request_id).filter(|r| !r.is_empty()),
                codes: String::new(),
                message: describe(changes),
            },
            Err(e) => failed(&e, id),
        },
        Planned::Nothing { .. } | Planned::Carried(_) => {
            result_without_request(row).expect("rows needing no request have a result")
        }
    }
}

/// Applies the rows `todo` (indices into `plan.rows`), calling `on_done` as each finishes, in
/// the order they finish. After `cancel` is set no new row starts; those not started are
/// reported as skipped and left out of the journal, so that `--resume` does them.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    todo: Vec<usize>,
    journal: &Mutex<Journal>,
    cancel: &AtomicBool,
    opts: &ApplyOptions,
    mut on_done: impl FnMut(ApplyEvent),
) -> std::io::Result<()> {
    let lock = || journal.lock().unwrap_or_else(|e| e.into_inner());
    let mut results = futures_util::stream::iter(todo)
        .map(|index| async move {
            let row = &plan.rows[index];
            if cancel.load(Ordering::Relaxed) {
                let result = RowResult {
                    outcome: Outcome::Skipped,
                    user_id: row.user_id().to_string(),
                    http_status: None,
                    request_id: None,
                    codes: String::new(),
                    message: "not started: the import was interrupted (run it again with --resume)"
                        .into(),
                };
                return Ok(ApplyEvent {
                    index,
                    result,
                    journalled: false,
                });
            }
            lock().append(&JournalEntry::Sending {
                row: row.input.row,
                username: row.user_name().to_string(),
            })?;
            let result = run_row(client, row).await;
            lock().append(&JournalEntry::Done {
                row: row.input.row,
                result: result.clone(),
            })?;
            Ok::<_, std::io::Error>(ApplyEvent {
                index,
                result,
                journalled: true,
            })
        })
        .buffer_unordered(opts.concurrency.max(1));
    while let Some(event) = results.next().await {
        on_done(event?);
    }
    Ok(())
}

/// The result of a row that needs no request.
pub fn result_without_request(row: &PlannedRow) -> Option<RowResult> {
    match &row.planned {
        Planned::Nothing { outcome, message } => Some(RowResult {
            outcome: *outcome,
            user_id: row.user_id().to_string(),
            http_status: None,
            request_id: None,
            codes: row.input.codes(),
            message: message.clone(),
        }),
        Planned::Carried(result) => Some(result.clone()),
        _ => None,
    }
}
