//! Applying a plan: creates and updates through the client (whose controller paces them),
//! each announced in the journal before it goes out and recorded there when it is done.
//!
//! A create that also asks for a disabled account is two steps (POST, then PUT of the status);
//! the journal records the first (`created`) so that a resume finishes the second. When the
//! server stops answering altogether, no new row starts: one row probes with backoff until it
//! answers (then everything continues) or until the outage lasted `max_outage` (then the
//! import stops as after Ctrl-C, its journal kept for `--resume`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::journal::{Journal, JournalEntry, RowResult};
use super::plan::{Plan, Planned, PlannedRow};
use super::Outcome;
use crate::api::{ApiError, Client, ErrorKind, NewUser, UserUpdate};
use crate::vocab::change::Change;

/// What to do when a create is refused because its username is taken elsewhere in Qualtrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnTaken {
    /// Report the row failed.
    #[default]
    Fail,
    /// Try `local+1@domain`, `local+2@domain`, … and report the username that was created.
    Suffix,
}

/// POSTs of one create whose answers are lost before the row waits for the server.
const MAX_CREATE_TRIES: u32 = 8;

/// Usernames `--on-taken suffix` tries at most.
pub(super) const MAX_SUFFIX: u32 = 20;

/// How to apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Rows worked on at once (the client bounds the requests in flight as well).
    pub concurrency: usize,
    pub on_taken: OnTaken,
    /// How long the server may stay unreachable before the import stops (resumable).
    pub max_outage: Duration,
    /// The first wait between probes of an unreachable server (doubling up to 30 s).
    pub probe_backoff: Duration,
    /// Waits before looking a "taken" username up again, when this import may have created it.
    pub late_answer_backoff: Vec<Duration>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            concurrency: 20,
            on_taken: OnTaken::Fail,
            max_outage: Duration::from_secs(300),
            probe_backoff: Duration::from_millis(500),
            late_answer_backoff: [250, 500, 1000, 2000].map(Duration::from_millis).to_vec(),
        }
    }
}

/// What an interrupted run left for rows about to be applied again.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Rows (by row number) whose write this import sent before: a "username taken" answer to
    /// their create may be the late answer of that earlier create.
    pub sent_before: HashSet<u64>,
    /// Creates that went in and whose disable step is still to do: row → the created result.
    pub to_disable: HashMap<u64, RowResult>,
}

/// A row finished (or, after a cancel or an outage, not finished).
#[derive(Clone, Debug)]
pub struct ApplyEvent {
    /// Index into the plan's rows.
    pub index: usize,
    pub result: RowResult,
    /// Whether the journal has it as done (rows not started or not finished are not).
    pub journalled: bool,
}

/// How [`apply`] ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyEnd {
    /// The server did not answer for `max_outage`: the import stopped, resumable.
    pub outage: bool,
}

fn failed(e: &ApiError, user_id: &str) -> RowResult {
    RowResult {
        outcome: Outcome::Failed,
        user_id: user_id.to_string(),
        http_status: e.status,
        request_id: e.request_id.clone(),
        message: e.to_string(),
        ..RowResult::default()
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

/// Adds the row's validation findings to a result, as the report shows them (once, before the
/// result is journalled: a resumed run carries it as it was).
pub fn finalize(row: &PlannedRow, result: RowResult) -> RowResult {
    finalize_input(&row.input, result)
}

/// [`finalize`] for a row not planned yet.
pub(super) fn finalize_input(input: &super::InputRow, mut result: RowResult) -> RowResult {
    let validation = input.message();
    // An invalid row's own message, when it has one, already says what is wrong with it.
    if (result.outcome != Outcome::Invalid || result.message.is_empty()) && !validation.is_empty() {
        if !result.message.is_empty() {
            result.message.push_str("; ");
        }
        result.message.push_str(&validation);
    }
    if result.codes.is_empty() {
        result.codes = input.codes();
    }
    result
}

/// `local+n@domain` (or `name+n` without a domain).
pub fn suffixed(username: &str, n: u32) -> String {
    match username.rsplit_once('@') {
        Some((local, domain)) => format!("{local}+{n}@{domain}"),
        None => format!("{username}+{n}"),
    }
}

/// The server is unreachable: rows wait here while one of them probes.
struct Outage {
    gate: tokio::sync::Mutex<()>,
    /// Bumped each time the server answered a probe.
    epoch: AtomicU64,
    gave_up: AtomicBool,
    max: Duration,
    backoff: Duration,
}

impl Outage {
    /// Waits while a probe is going on.
    async fn pass(&self) {
        drop(self.gate.lock().await);
    }

    /// After a request failed for want of a server: `true` once the server answers again
    /// (someone else's probe counts if it answered after `seen`), `false` after `max` or a
    /// cancel.
    async fn wait(&self, client: &Client, seen: u64, cancel: &AtomicBool) -> bool {
        let _probing = self.gate.lock().await;
        if self.epoch.load(Ordering::Acquire) != seen {
            return true;
        }
        let start = Instant::now();
        let mut delay = self.backoff;
        loop {
            if self.gave_up.load(Ordering::Relaxed) || cancel.load(Ordering::Relaxed) {
                return false;
            }
            match client.whoami().await {
                Err(e) if e.kind.is_transient() || e.kind == ErrorKind::Protocol => {}
                // Any answer, even a refusal, means the server is there.
                _ => {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                    return true;
                }
            }
            let left = self.max.saturating_sub(start.elapsed());
            if left.is_zero() {
                self.gave_up.store(true, Ordering::Relaxed);
                return false;
            }
            tokio::time::sleep(delay.min(left)).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
}

/// The server did not answer (as opposed to refusing): worth waiting for.
fn unreachable(e: &ApiError) -> bool {
    e.kind.is_transient() || e.kind == ErrorKind::OutcomeUnknown
}

/// Why a row stopped before its end.
enum Stop {
    /// The server answered with an error: the row's result.
    Failed(RowResult),
    /// The server did not answer: wait for it and try again.
    Unreachable(ApiError),
}

struct Ctx<'a> {
    client: &'a Client,
    journal: &'a Mutex<Journal>,
    opts: &'a ApplyOptions,
    history: &'a History,
}

impl Ctx<'_> {
    fn append(&self, entry: &JournalEntry) -> std::io::Result<()> {
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(entry)
    }

    async fn find(&self, username: &str) -> Result<Option<String>, Stop> {
        match self.client.find_username(username).await {
            Ok(found) => Ok(found.map(|u| u.id)),
            Err(e) if unreachable(&e) => Err(Stop::Unreachable(e)),
            Err(e) => Err(Stop::Failed(failed(&e, ""))),
        }
    }
}

/// A create in progress: what survives a wait for the server.
struct CreateState {
    /// The username being tried (the file's, or a suffixed one).
    username: String,
    suffix: u32,
    /// A POST with this username may have gone in (its answer was lost, or an earlier run
    /// sent it): look before sending again.
    maybe_sent: bool,
    /// The user exists: (id, status, request id, note).
    created: Option<RowResult>,
}

async fn create_step(
    ctx: &Ctx<'_>,
    row: &PlannedRow,
    user: &NewUser,
    st: &mut CreateState,
) -> Result<(), Stop> {
    let mut notes = Vec::new();
    let mut tries = 0;
    loop {
        if st.maybe_sent {
            if let Some(id) = ctx.find(&st.username).await? {
                notes.push("the create's answer was lost; the user was found by username");
                st.created = Some(created_result(id, None, String::new(), &notes, st, row));
                return Ok(());
            }
        }
        ctx.append(&JournalEntry::Sending {
            row: row.input.row,
            username: st.username.clone(),
        })
        .map_err(|e| Stop::Failed(io_failure(e)))?;
        let body = if st.username == user.username {
            std::borrow::Cow::Borrowed(user)
        } else {
            std::borrow::Cow::Owned(NewUser {
                username: st.username.clone(),
                ..user.clone()
            })
        };
        match ctx.client.create_user(&body).await {
            Ok(a) => {
                st.created = Some(created_result(
                    a.value,
                    Some(a.status),
                    a.request_id,
                    &notes,
                    st,
                    row,
                ));
                return Ok(());
            }
            Err(e) if unreachable(&e) => {
                // A lost answer or a dropped connection may hide a create that went in; a
                // 429 or 5xx was refused before anything was done.
                if matches!(e.kind, ErrorKind::OutcomeUnknown | ErrorKind::Network) {
                    st.maybe_sent = true;
                }
                tries += 1;
                if e.kind != ErrorKind::OutcomeUnknown || tries >= MAX_CREATE_TRIES {
                    return Err(Stop::Unreachable(e));
                }
            }
            Err(e) if e.kind == ErrorKind::UsernameTaken => {
                let ours = st.maybe_sent
                    || (st.suffix == 0 && ctx.history.sent_before.contains(&row.input.row));
                if ours {
                    // This import sent it: its create may have gone in after the look-up.
                    for wait in &ctx.opts.late_answer_backoff {
                        tokio::time::sleep(*wait).await;
                        if let Some(id) = ctx.find(&st.username).await? {
                            notes.push(
                                "created by this import (its answer came late; found by username)",
                            );
                            st.created =
                                Some(created_result(id, None, String::new(), &notes, st, row));
                            return Ok(());
                        }
                    }
                }
                if ctx.opts.on_taken == OnTaken::Suffix && st.suffix < MAX_SUFFIX {
                    st.suffix += 1;
                    st.username = suffixed(&user.username, st.suffix);
                    st.maybe_sent = false;
                    continue;
                }
                let mut r = failed(&e, "");
                if st.suffix > 0 {
                    r.message = format!(
                        "{}; {} to {} were taken as well",
                        r.message,
                        suffixed(&user.username, 1),
                        st.username
                    );
                }
                return Err(Stop::Failed(r));
            }
            Err(e) => return Err(Stop::Failed(failed(&e, ""))),
        }
    }
}

fn created_result(
    id: String,
    status: Option<u16>,
    request_id: String,
    notes: &[&str],
    st: &CreateState,
    row: &PlannedRow,
) -> RowResult {
    let mut notes: Vec<String> = notes.iter().map(|n| n.to_string()).collect();
    let username = (st.username != row.user_name()).then(|| st.username.clone());
    if let Some(u) = &username {
        notes.push(format!(
            "{} is taken elsewhere in Qualtrics; created as {u}",
            row.user_name()
        ));
    }
    RowResult {
        outcome: Outcome::Created,
        user_id: id,
        http_status: status,
        request_id: Some(request_id).filter(|r| !r.is_empty()),
        message: notes.join("; "),
        username,
        ..RowResult::default()
    }
}

fn io_failure(e: std::io::Error) -> RowResult {
    RowResult {
        outcome: Outcome::Failed,
        message: format!("cannot write the journal: {e}"),
        ..RowResult::default()
    }
}

/// The disable step of a create: the created result on success, `failed` (with the user id
/// and the reason) when the server refuses.
async fn disable_step(ctx: &Ctx<'_>, created: &RowResult) -> Result<RowResult, Stop> {
    let update = UserUpdate {
        status: Some("disabled".into()),
        ..Default::default()
    };
    match ctx.client.update_user(&created.user_id, &update).await {
        Ok(_) => {
            let mut r = created.clone();
            if !r.message.is_empty() {
                r.message.push_str("; ");
            }
            r.message.push_str("created, then disabled as the row asks");
            Ok(r)
        }
        Err(e) if unreachable(&e) => Err(Stop::Unreachable(e)),
        Err(e) => {
            let mut r = failed(&e, &created.user_id);
            r.message = format!(
                "created as {}, but disabling it failed: {}",
                created.user_id, r.message
            );
            r.username = created.username.clone();
            Err(Stop::Failed(r))
        }
    }
}

/// Rounds of "the server did not answer, wait for it, try again" one row gets when the server
/// answers everyone else.
const ROW_ROUNDS: u32 = 3;

/// Runs one row to its end. `None`: not finished (the import stops: outage or cancel).
async fn run_row(
    ctx: &Ctx<'_>,
    row: &PlannedRow,
    outage: &Outage,
    cancel: &AtomicBool,
) -> std::io::Result<Option<RowResult>> {
    let rownum = row.input.row;
    let mut rounds = 0;
    let mut create = CreateState {
        username: row.user_name().to_string(),
        suffix: 0,
        maybe_sent: false,
        created: ctx.history.to_disable.get(&rownum).cloned(),
    };
    let mut created_journalled = create.created.is_some();
    loop {
        let seen = outage.epoch.load(Ordering::Acquire);
        let step: Result<RowResult, Stop> = match &row.planned {
            Planned::Create { user, disable } => {
                let mut r = Ok(());
                if create.created.is_none() {
                    r = create_step(ctx, row, user, &mut create).await;
                }
                match (r, &create.created) {
                    (Err(stop), _) => Err(stop),
                    (Ok(()), Some(created)) if *disable => {
                        if !created_journalled {
                            ctx.append(&JournalEntry::Created {
                                row: rownum,
                                result: created.clone(),
                            })?;
                            created_journalled = true;
                        }
                        disable_step(ctx, created).await
                    }
                    (Ok(()), Some(created)) => Ok(created.clone()),
                    (Ok(()), None) => unreachable!("a create step that succeeded has a user"),
                }
            }
            Planned::Update {
                id,
                update,
                changes,
            } => {
                if rounds == 0 {
                    // The values replaced, on disk before the write goes out: the undo file
                    // is rebuilt from them after any kill.
                    let prior = super::journal::Prior {
                        user_id: id.clone(),
                        username: row.user_name().to_string(),
                        fields: changes
                            .iter()
                            .map(|c| (c.field.to_string(), c.old.clone()))
                            .collect(),
                    };
                    ctx.append(&JournalEntry::Replacing { row: rownum, prior })?;
                    ctx.append(&JournalEntry::Sending {
                        row: rownum,
                        username: row.user_name().to_string(),
                    })?;
                }
                match ctx.client.update_user(id, update).await {
                    Ok(a) => Ok(RowResult {
                        outcome: Outcome::Updated,
                        user_id: id.clone(),
                        http_status: Some(a.status),
                        request_id: Some(a.request_id).filter(|r| !r.is_empty()),
                        message: describe(changes),
                        ..RowResult::default()
                    }),
                    Err(e) if unreachable(&e) => Err(Stop::Unreachable(e)),
                    Err(e) => Err(Stop::Failed(failed(&e, id))),
                }
            }
            Planned::Nothing { .. } | Planned::Carried(_) => {
                return Ok(result_without_request(row));
            }
        };
        match step {
            Ok(r) => return Ok(Some(r)),
            Err(Stop::Failed(r)) => return Ok(Some(r)),
            Err(Stop::Unreachable(e)) => {
                rounds += 1;
                if rounds > ROW_ROUNDS {
                    let id = create
                        .created
                        .as_ref()
                        .map_or_else(|| row.user_id().to_string(), |c| c.user_id.clone());
                    return Ok(Some(failed(&e, &id)));
                }
                if !outage.wait(ctx.client, seen, cancel).await {
                    return Ok(None);
                }
            }
        }
    }
}

/// Applies the rows `todo` (indices into `plan.rows`), calling `on_done` as each finishes, in
/// the order they finish. After `cancel` is set (or an outage outlasts `max_outage`) no new
/// row starts; those not started or not finished are reported as skipped and left unfinished
/// in the journal, so that `--resume` does them.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    client: &Client,
    plan: &Plan,
    todo: Vec<usize>,
    journal: &Mutex<Journal>,
    cancel: &AtomicBool,
    opts: &ApplyOptions,
    history: &History,
    mut on_done: impl FnMut(ApplyEvent),
) -> std::io::Result<ApplyEnd> {
    let outage = Outage {
        gate: tokio::sync::Mutex::new(()),
        epoch: AtomicU64::new(0),
        gave_up: AtomicBool::new(false),
        max: opts.max_outage,
        backoff: opts.probe_backoff,
    };
    let ctx = Ctx {
        client,
        journal,
        opts,
        history,
    };
    let (ctx, outage) = (&ctx, &outage);
    let stopped = || cancel.load(Ordering::Relaxed) || outage.gave_up.load(Ordering::Relaxed);
    let not_done = |row: &PlannedRow, why: &str| RowResult {
        outcome: Outcome::Skipped,
        user_id: row.user_id().to_string(),
        message: format!("{why}: the import was interrupted (run it again with --resume)"),
        ..RowResult::default()
    };
    let mut results = futures_util::stream::iter(todo)
        .map(|index| async move {
            let row = &plan.rows[index];
            outage.pass().await;
            if stopped() {
                return Ok(ApplyEvent {
                    index,
                    result: not_done(row, "not started"),
                    journalled: false,
                });
            }
            let Some(result) = run_row(ctx, row, outage, cancel).await? else {
                return Ok(ApplyEvent {
                    index,
                    result: not_done(row, "not finished"),
                    journalled: false,
                });
            };
            let result = finalize(row, result);
            ctx.append(&JournalEntry::Done {
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
    Ok(ApplyEnd {
        outage: outage.gave_up.load(Ordering::Relaxed),
    })
}

/// The result of a row that needs no request, as the report shows it.
pub fn result_without_request(row: &PlannedRow) -> Option<RowResult> {
    match &row.planned {
        Planned::Nothing { outcome, message } => Some(finalize(
            row,
            RowResult {
                outcome: *outcome,
                user_id: row.user_id().to_string(),
                codes: row.input.codes(),
                message: message.clone(),
                ..RowResult::default()
            },
        )),
        Planned::Carried(result) => Some(result.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        assert_eq!(suffixed("ann@x.org", 1), "ann+1@x.org");
        assert_eq!(suffixed("ann", 2), "ann+2");
    }
}
