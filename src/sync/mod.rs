//! `qusers sync` without the command line: keep the users a roster owns in step with it.
//!
//! Every run: take the state's lock, read the roster and check it is whole (the guard holds a
//! broken one: nothing read or sent, exit 3), map its columns to template rows, and hand those
//! rows — plus one row per user in scope and absent from the roster — to import's workflow
//! ([`crate::import::Importer`]) as an [`ImportInput`]. Import validates, plans, brakes, protects
//! accounts, applies with its journal, writes the report and the undo file; this module decides
//! what each row is for (create, update, re-enable, retire, or only report `missing`) and keeps
//! the state: run history, missing-since, who the sync retired. It returns the run's facts
//! ([`SyncOutcome`]); the caller has them worded and, when the run is news, sent to the
//! webhook and the mail through [`notify_all`].

pub mod guard;
pub mod map;
pub mod notify;
pub mod roster;
pub mod scope;
pub mod state;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::Serialize;

use crate::api::Client;
use crate::file::{Col, ReadOptions, Source, COLUMNS};
use crate::import::{
    Collect, ImportInput, ImportOptions, ImportOutcome, ImportVerdict, Importer, InstanceFrom,
    Outcome, Planned, PlannedImport, Progress,
};
use crate::instance::Instance;
use crate::rules::Problem;
use crate::validate::{validate_source, FileSummary, ValidateOptions, Verdict};
use map::Map;
use roster::Roster;
use scope::{Scope, ScopeRule};
use state::{Retired, RunCounts, RunRecord, State, StateDir};

/// The day a run counts as: `QUSERS_TODAY` (YYYY-MM-DD, a testing knob for grace days and
/// `--max-age`), else today in UTC.
pub fn today() -> anyhow::Result<jiff::civil::Date> {
    match std::env::var("QUSERS_TODAY") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse()
            .with_context(|| format!("QUSERS_TODAY={s:?} is not a date (YYYY-MM-DD)")),
        _ => Ok(jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()),
    }
}

/// How long a user may be missing before it is retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grace {
    /// Consecutive runs missing (`--grace 3`).
    Runs(u64),
    /// Days since first missing (`--grace 7d`).
    Days(i64),
}

impl std::str::FromStr for Grace {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("--grace {s:?}: give a number of runs (3) or of days (7d)");
        match s.strip_suffix('d') {
            Some(d) => d.trim().parse().map(Grace::Days).map_err(|_| bad()),
            None => s.parse().map(Grace::Runs).map_err(|_| bad()),
        }
    }
}

/// A number of days: `30d` or `30`.
pub fn parse_days(s: &str) -> Result<i64, String> {
    let t = s.trim();
    t.strip_suffix('d')
        .unwrap_or(t)
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| *d >= 0)
        .ok_or_else(|| format!("{s:?} is not a number of days (e.g. 30d)"))
}

/// What happens to a leaver past the grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Deprovision {
    /// `accountStatus` disabled (the default).
    Disable,
    /// An expiration date `--expire-after` days from today.
    Expire,
    /// Only reported.
    Report,
}

/// How to sync, resolved from the flags.
pub struct SyncOptions {
    pub roster: Source,
    pub read: ReadOptions,
    /// `--map`: (its path, its text).
    pub map: Option<(String, String)>,
    pub scope: Vec<ScopeRule>,
    pub grace: Grace,
    pub deprovision: Deprovision,
    pub expire_after_days: i64,
    pub reenable_all: bool,
    pub guard: guard::GuardOptions,
    pub accept_roster: bool,
    pub state_dir: PathBuf,
    /// Import's options (report, dry run, brakes, concurrency…).
    pub import: ImportOptions,
    pub today: jiff::civil::Date,
    pub notify: Option<String>,
    pub mail: Option<notify::Mail>,
    pub notify_always: bool,
    /// How to name the target in notifications.
    pub target: String,
    /// `--seats N`: the licence's seats, to compare active users with.
    pub seats: Option<u64>,
}

/// Active users against `--seats`, and who has gone longest without a login when over.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seats {
    pub seats: u64,
    pub active_before: u64,
    pub active_after: u64,
    /// Listed, never changed: the users longest without a login (never first), as many as
    /// the plan is over.
    pub candidates: Vec<SeatCandidate>,
    /// Detail reads that failed (the candidates are from the others).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<String>,
}

/// A user who could free a seat.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatCandidate {
    pub user_id: String,
    pub user_name: String,
    /// `None`: never logged in.
    pub last_login_date: Option<String>,
}

/// What a row of the sync's input is for.
#[derive(Clone, Debug, PartialEq)]
enum Purpose {
    /// A roster row: create or update.
    Roster,
    /// A roster row for a user the sync retired: it comes back.
    Reenable(String),
    /// A roster row for a user the sync does not own: nothing sent.
    OutOfScope(String),
    /// A user absent from the roster, not retired (yet): nothing sent.
    Missing(String),
    /// A user absent from the roster past the grace period.
    Retire(String),
}

/// What the sync decided while the workflow validated, for the plan and the state.
#[derive(Default)]
struct Decided {
    /// By the row's number.
    purpose: HashMap<u64, Purpose>,
    /// User ids the roster names (in scope).
    seen: HashSet<String>,
    /// Users in scope and missing: id → (username, missing since, runs missing).
    missing: HashMap<String, (String, String, u64)>,
    /// Unconfirmed retirements the instance shows done.
    confirmed: Vec<String>,
    /// Notes for the report's message, by row.
    notes: HashMap<u64, String>,
    /// Active users of the instance (id, username, may be a candidate: not a protected
    /// account), for `--seats`.
    active: Vec<(String, String, bool)>,
}

/// The roster as import's input.
struct SyncInput<'a> {
    roster: &'a Roster,
    map: &'a Result<Map, Problem>,
    scope: &'a Scope,
    state: &'a State,
    run: u64,
    opts: &'a SyncOptions,
    fingerprint: String,
    decided: Mutex<Decided>,
}

/// A synthetic row: its fields and where it came from.
struct Made {
    fields: [String; 9],
    line: u64,
    row: u64,
    problems: Vec<Problem>,
    purpose: Purpose,
}

impl SyncInput<'_> {
    fn make(&self, instance: &Instance, map: &Map) -> (Vec<Made>, Decided) {
        let mut d = Decided::default();
        let mut made = Vec::new();
        let managed_rule = self.scope.rules.contains(&ScopeRule::Managed);
        let mut named: HashSet<String> = HashSet::new();
        let mut unnamed = false;
        let managed = |id: &str| self.state.users.get(id).is_some_and(|u| u.managed);
        for (k, (line, rec)) in self.roster.records.iter().enumerate() {
            let (mut fields, problems) = map.apply(*line, rec);
            let username = fields[Col::UserName as usize].clone();
            if username.is_empty() {
                unnamed = true;
            }
            named.insert(username.to_lowercase());
            let mut purpose = Purpose::Roster;
            match instance.by_username(&username) {
                Some(u) if !username.is_empty() => {
                    let id = u.id.clone();
                    if let Some(why) = self.scope.protected(u) {
                        purpose = Purpose::OutOfScope(why.into());
                    } else if !self.scope.matches(
                        &u.username,
                        &u.division_id,
                        managed_rule || managed(&id),
                    ) {
                        purpose = Purpose::OutOfScope(format!(
                            "{} is outside --scope {}: not touched",
                            u.username,
                            self.scope.describe()
                        ));
                    } else {
                        d.seen.insert(id.clone());
                        fields[Col::UserId as usize] = id.clone();
                        if u.status == "disabled" {
                            let by_sync =
                                self.state.users.get(&id).and_then(|s| s.retired.as_ref());
                            if by_sync.is_some_and(|r| r.how == "disabled")
                                || self.opts.reenable_all
                            {
                                fields[Col::AccountStatus as usize] = "active".into();
                                purpose = Purpose::Reenable(match by_sync {
                                    Some(r) => format!("back in the roster: re-enabled (the sync disabled it on {})", r.on),
                                    None => "back in the roster: re-enabled (--reenable-all)".into(),
                                });
                            } else {
                                d.notes.insert(
                                    k as u64 + 1,
                                    "disabled in Qualtrics, not by this sync: stays disabled (--reenable-all re-enables)".into(),
                                );
                            }
                        }
                    }
                    if matches!(purpose, Purpose::OutOfScope(_)) {
                        // Only the id: the plan then has nothing to change.
                        let user_name = std::mem::take(&mut fields[Col::UserName as usize]);
                        fields = Default::default();
                        fields[Col::UserId as usize] = id;
                        fields[Col::UserName as usize] = user_name;
                    }
                }
                _ => {
                    let division = &fields[Col::DivisionId as usize];
                    if !username.is_empty() && !self.scope.matches(&username, division, true) {
                        purpose = Purpose::OutOfScope(format!(
                            "{username} would be created outside --scope {}: not created",
                            self.scope.describe()
                        ));
                    }
                }
            }
            made.push(Made {
                fields,
                line: *line,
                row: k as u64 + 1,
                problems,
                purpose,
            });
        }
        if self.opts.seats.is_some() {
            d.active = instance
                .users()
                .iter()
                .filter(|u| u.status != "disabled")
                .map(|u| {
                    (
                        u.id.clone(),
                        u.username.clone(),
                        self.scope.protected(u).is_none(),
                    )
                })
                .collect();
        }
        // The leavers: users in scope the roster does not name.
        let today = self.opts.today.to_string();
        let mut row = made.len() as u64;
        for u in instance.users() {
            if named.contains(&u.username.to_lowercase()) || !self.scope.takes(u, managed(&u.id)) {
                continue;
            }
            let st = self.state.users.get(&u.id);
            let since = st
                .and_then(|s| s.missing_since.clone())
                .unwrap_or_else(|| today.clone());
            let runs = match st {
                Some(s) if s.missing_last_run == self.run => s.missing_runs,
                Some(s) => s.missing_runs + 1,
                None => 1,
            };
            d.missing
                .insert(u.id.clone(), (u.username.clone(), since.clone(), runs));
            let retired = st.and_then(|s| s.retired.as_ref());
            let done = match (self.opts.deprovision, retired) {
                (_, Some(r)) if r.confirmed => true,
                (_, Some(r)) if r.how == "disabled" && u.status == "disabled" => {
                    d.confirmed.push(u.id.clone());
                    true
                }
                (_, Some(r)) if r.how == "expired" && !u.expiration.is_empty() => {
                    d.confirmed.push(u.id.clone());
                    true
                }
                (Deprovision::Disable, None) if u.status == "disabled" => true,
                _ => false,
            };
            if done {
                continue;
            }
            let days =
                (self.opts.today - since.parse().unwrap_or(self.opts.today)).get_days() as i64;
            let (due, progress) = match self.opts.grace {
                Grace::Runs(n) => (runs >= n, format!("run {runs} of the --grace {n}")),
                Grace::Days(n) => (days >= n, format!("day {days} of the --grace {n}d")),
            };
            let mut fields: [String; 9] = Default::default();
            fields[Col::UserId as usize] = u.id.clone();
            fields[Col::UserName as usize] = u.username.clone();
            let purpose = if !due {
                Purpose::Missing(format!(
                    "missing from the roster since {since} ({progress}): nothing sent"
                ))
            } else if unnamed {
                Purpose::Missing(format!(
                    "missing from the roster since {since}, past the grace period, but not retired: some roster rows have no userName, and this user may be one of them"
                ))
            } else {
                match self.opts.deprovision {
                    Deprovision::Report => Purpose::Missing(format!(
                        "missing from the roster since {since}, past the grace period: only reported (--deprovision report)"
                    )),
                    Deprovision::Disable => {
                        fields[Col::AccountStatus as usize] = "disabled".into();
                        Purpose::Retire(format!("missing from the roster since {since} ({progress}): disabled"))
                    }
                    Deprovision::Expire => {
                        let on = self.opts.today + jiff::Span::new().days(self.opts.expire_after_days);
                        fields[Col::ExpirationDate as usize] =
                            format!("{:02}/{:02}/{:04}", on.month(), on.day(), on.year());
                        Purpose::Retire(format!("missing from the roster since {since} ({progress}): expires on {on}"))
                    }
                }
            };
            row += 1;
            made.push(Made {
                fields,
                line: 0,
                row,
                problems: Vec::new(),
                purpose,
            });
        }
        (made, d)
    }
}

impl ImportInput for SyncInput<'_> {
    fn name(&self) -> String {
        self.roster.name.clone()
    }

    fn fingerprint(&self) -> anyhow::Result<String> {
        Ok(self.fingerprint.clone())
    }

    fn division_ids(&self) -> anyhow::Result<BTreeSet<String>> {
        let Ok(map) = self.map else {
            return Ok(BTreeSet::new());
        };
        Ok(self
            .roster
            .records
            .iter()
            .map(|(line, rec)| map.apply(*line, rec).0[Col::DivisionId as usize].clone())
            .filter(|d| crate::rules::is_division_id(d))
            .collect())
    }

    fn validate(
        &self,
        instance: &Instance,
        upsert: Option<&crate::rules::Upsert>,
        sink: &mut Collect,
    ) -> anyhow::Result<FileSummary> {
        let read = ReadOptions {
            sso_brand: self.opts.read.sso_brand.clone(),
            ..ReadOptions::default()
        };
        let vopts = ValidateOptions {
            upsert: upsert.cloned(),
            ..ValidateOptions::new(read, false)
        };
        let map = match self.map {
            Ok(m) => m,
            Err(p) => {
                // Nothing to map: the file-level finding stops the run.
                let header = csv_bytes(&[]);
                let summary = validate_source(&header, &vopts, Some(instance), sink)?;
                sink.file_problems.push((None, p.clone(), true));
                return Ok(summary);
            }
        };
        let (made, decided) = self.make(instance, map);
        let source = csv_bytes(&made);
        let mut got = Collect::default();
        let summary = validate_source(&source, &vopts, Some(instance), &mut got)?;
        sink.file_problems.extend(got.file_problems);
        let mut purposes = HashMap::new();
        for (mut input, m) in got.rows.into_iter().zip(made) {
            input.line = m.line;
            input.row = m.row;
            if !m.problems.is_empty() {
                input.problems.splice(0..0, m.problems);
                input.verdict = Verdict::Error;
            }
            purposes.insert(m.row, m.purpose);
            sink.rows.push(input);
        }
        let mut d = decided;
        d.purpose = purposes;
        *self.decided.lock().unwrap_or_else(|e| e.into_inner()) = d;
        Ok(summary)
    }
}

/// The rows as a template CSV in memory.
fn csv_bytes(made: &[Made]) -> Source {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(COLUMNS);
    for m in made {
        let _ = w.write_record(&m.fields);
    }
    Source::Stdin(Arc::new(w.into_inner().unwrap_or_default()))
}

/// How a sync ended.
#[derive(Debug)]
pub struct SyncOutcome {
    /// The guard held the run: why (nothing was sent).
    pub held: Vec<String>,
    /// The import's outcome (`None` when held).
    pub import: Option<ImportOutcome>,
    /// The run as the history records it: its number, counts, outcome and reasons.
    pub record: RunRecord,
    pub state_dir: PathBuf,
    /// The per-row report (when held, the one that says why).
    pub report: PathBuf,
    /// Whether the run is news for `--notify`/`--mail-to` (a held run always is); `None`
    /// for a dry run, which notifies no one. See [`notify_all`].
    pub eventful: Option<bool>,
    /// `--seats`: active users before and after, and the candidates when over.
    pub seats: Option<Seats>,
}

impl SyncOutcome {
    /// The exit code: 3 held, 130 interrupted, 0 success, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match &self.import {
            None => 3,
            Some(o) if o.verdict.cancelled() => 130,
            Some(o) if o.success() => 0,
            Some(_) => 1,
        }
    }
}

/// Runs a sync. `confirm` is asked before anything is sent (the CLI's prompt or `--yes`).
pub async fn run(
    opts: SyncOptions,
    client: Client,
    progress: &dyn Progress,
    cancel: &AtomicBool,
    confirm: &(dyn Fn(&PlannedImport) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<SyncOutcome> {
    let dir = StateDir::open(&opts.state_dir)?;
    let mut state = dir.load()?;
    let run_no = state.next_run();
    let roster = roster::read(&opts.roster, &opts.read)?;
    let now = jiff::Timestamp::now().to_string();
    let mut record = RunRecord {
        number: run_no,
        at: now,
        today: opts.today.to_string(),
        roster: roster.name.clone(),
        roster_sha256: roster.sha256.clone(),
        rows: roster.records.len() as u64,
        header: roster.header.clone(),
        ..RunRecord::default()
    };

    // 1. The guard: a roster that looks broken holds everything.
    let mut held = guard::check(&roster, state.last_successful(), &opts.guard, opts.today);
    if !held.is_empty() && opts.accept_roster {
        progress.note(&format!(
            "--accept-roster: taking the roster as it is although {}",
            held.join("; ")
        ));
        held.clear();
    }
    if !held.is_empty() {
        write_held_report(&opts.import.report, &held)?;
        record.outcome = "held".into();
        record.reasons = held.clone();
        if !opts.import.dry_run {
            state.record(record.clone());
            dir.save(&state)?;
        }
        return Ok(SyncOutcome {
            held,
            import: None,
            record,
            state_dir: dir.path().to_path_buf(),
            report: opts.import.report.clone(),
            eventful: Some(true),
            seats: None,
        });
    }

    // 2. The map and the scope.
    let map = match &opts.map {
        Some((name, text)) => Map::parse(name, text, &roster),
        None => Map::identity(&roster),
    };
    let me = client
        .whoami()
        .await
        .context("cannot ask the API whose token this is")?;
    let scope = Scope {
        rules: if opts.scope.is_empty() {
            vec![ScopeRule::Managed]
        } else {
            opts.scope.clone()
        },
        self_id: Some(me.user_id.clone()),
    };
    let fingerprint = format!("{}:{}", roster.sha256, run_no);
    let input = SyncInput {
        roster: &roster,
        map: &map,
        scope: &scope,
        state: &state,
        run: run_no,
        opts: &opts,
        fingerprint,
        decided: Mutex::new(Decided::default()),
    };

    // 3. A run killed mid-apply is run again, not resumed: the rows are planned afresh against
    // the instance as it is now, which holds whatever the killed run did (matched by username,
    // so nothing is created twice).
    let mut iopts = opts.import.clone();
    iopts.skip_invalid = true;
    iopts.resume = false;
    if !iopts.dry_run {
        let journal = crate::import::Journal::path_for(&iopts.report);
        if journal.exists() {
            std::fs::remove_file(&journal)
                .with_context(|| format!("cannot remove {}", journal.display()))?;
            progress.note(
                "the last sync was interrupted: running again against the instance as it is now",
            );
        }
    }
    let importer = Importer::new(&input, Some(client.clone()), InstanceFrom::Api, iopts);
    let mut prepared = importer.prepare(progress).await?;
    let decided = std::mem::take(&mut *input.decided.lock().unwrap_or_else(|e| e.into_inner()));
    for r in &mut prepared.plan.rows {
        if let Some(note) = decided.notes.get(&r.input.row) {
            r.notes.push(note.clone());
        }
        match decided.purpose.get(&r.input.row) {
            Some(Purpose::Missing(m)) => {
                r.planned = Planned::Nothing {
                    outcome: Outcome::Missing,
                    message: m.clone(),
                }
            }
            Some(Purpose::OutOfScope(m)) => {
                r.planned = Planned::Nothing {
                    outcome: Outcome::Skipped,
                    message: m.clone(),
                }
            }
            Some(Purpose::Retire(m)) | Some(Purpose::Reenable(m)) => r.notes.push(m.clone()),
            _ => {}
        }
    }
    let dry_run = opts.import.dry_run;
    let seats = match opts.seats {
        Some(n) => Some(seats(n, &prepared, &decided, opts.deprovision, &client, progress).await),
        None => None,
    };
    if prepared.sends_anything() {
        confirm(&prepared)?;
    }

    // 4. The state before sending: missing counters, and the retirements about to be sent
    // (unconfirmed, so that a run killed now is checked against the instance next time).
    if !dry_run {
        mark_before_sending(&mut state, &decided, &prepared, &opts, run_no);
        if !prepared.stopped_early() {
            dir.save(&state)?;
        }
    }

    // 5. Apply.
    let outcome = prepared.apply(cancel, progress).await?;

    // 6. The state after: what was confirmed, who is managed now, the run.
    let counts = record_results(&mut state, &decided, &outcome, &opts);
    record.counts = counts.clone();
    record.outcome = match outcome.verdict {
        ImportVerdict::Done => "done",
        ImportVerdict::DoneWithProblems => "done-with-problems",
        ImportVerdict::NotImported => "not-imported",
        ImportVerdict::Planned => "planned",
        ImportVerdict::Interrupted(_) => "interrupted",
    }
    .into();
    if let Some(b) = &outcome.brake {
        record.reasons.push(b.to_string());
    }
    if let Err(p) = &map {
        record.reasons.push(p.message());
    }
    record.reasons.extend(
        (outcome.validation.file_problems.iter())
            .filter(|p| p.severity == crate::rules::Severity::Error)
            .map(|p| p.message.clone()),
    );
    if !dry_run {
        state.record(record.clone());
        dir.save(&state)?;
    }
    let eventful = counts.eventful() || !outcome.success();
    Ok(SyncOutcome {
        held: Vec::new(),
        report: outcome.report.clone(),
        import: Some(outcome),
        record,
        state_dir: dir.path().to_path_buf(),
        eventful: (!dry_run).then_some(eventful),
        seats,
    })
}

/// Step 4 of [`run`]: the missing counters, and the retirements about to be sent, marked
/// unconfirmed (so that a run killed now is checked against the instance next time).
fn mark_before_sending(
    state: &mut State,
    decided: &Decided,
    prepared: &PlannedImport,
    opts: &SyncOptions,
    run_no: u64,
) {
    let today = opts.today.to_string();
    update_missing(state, decided, run_no);
    for r in &prepared.plan.rows {
        if let (Some(Purpose::Retire(_)), Planned::Update { id, .. }) =
            (decided.purpose.get(&r.input.row), &r.planned)
        {
            let u = state.users.entry(id.clone()).or_default();
            u.retired = Some(Retired {
                how: match opts.deprovision {
                    Deprovision::Expire => "expired".into(),
                    _ => "disabled".into(),
                },
                on: today.clone(),
                run: run_no,
                confirmed: false,
            });
        }
    }
}

/// Step 6 of [`run`]: what the import confirmed (retirements, re-enables, who is managed now),
/// into the state unless it was a dry run, and the run's counts.
fn record_results(
    state: &mut State,
    decided: &Decided,
    outcome: &ImportOutcome,
    opts: &SyncOptions,
) -> RunCounts {
    let mut counts = RunCounts {
        invalid: outcome.counts.invalid,
        failed: outcome.counts.failed,
        skipped: outcome.counts.skipped,
        unchanged: outcome.counts.unchanged,
        missing: outcome.counts.missing,
        created: outcome.counts.created,
        ..RunCounts::default()
    };
    for (r, res) in outcome.plan.rows.iter().zip(&outcome.results) {
        let Some(res) = res else { continue };
        let purpose = decided.purpose.get(&r.input.row);
        let ok = matches!(res.outcome, Outcome::Updated | Outcome::Created);
        match purpose {
            Some(Purpose::Retire(_)) if res.outcome == Outcome::Updated => match opts.deprovision {
                Deprovision::Expire => counts.expired += 1,
                _ => counts.disabled += 1,
            },
            Some(Purpose::Reenable(_)) if res.outcome == Outcome::Updated => counts.reenabled += 1,
            _ if res.outcome == Outcome::Updated => counts.updated += 1,
            _ => {}
        }
        if opts.import.dry_run {
            continue;
        }
        let id = if res.user_id.is_empty() {
            r.user_id().to_string()
        } else {
            res.user_id.clone()
        };
        if id.is_empty() {
            continue;
        }
        match purpose {
            Some(Purpose::Retire(_)) => {
                if let Some(u) = state.users.get_mut(&id) {
                    if ok || res.outcome == Outcome::Unchanged {
                        if let Some(ret) = &mut u.retired {
                            ret.confirmed = true;
                        }
                    } else {
                        u.retired = None;
                    }
                }
            }
            Some(Purpose::Roster) | Some(Purpose::Reenable(_)) => {
                let u = state.users.entry(id).or_default();
                u.username = r.user_name().to_string();
                u.managed = true;
                if matches!(purpose, Some(Purpose::Reenable(_))) && ok {
                    u.retired = None;
                }
            }
            _ => {}
        }
    }
    if !opts.import.dry_run {
        for id in &decided.seen {
            let u = state.users.entry(id.clone()).or_default();
            u.managed = true;
            u.missing_since = None;
            u.missing_runs = 0;
            u.missing_last_run = 0;
            // Expired by the sync and back: the report says so; the date is an admin's call.
            if u.retired.as_ref().is_some_and(|r| r.how == "expired") {
                u.retired = None;
            }
        }
        for id in &decided.confirmed {
            if let Some(Some(r)) = state.users.get_mut(id).map(|u| u.retired.as_mut()) {
                r.confirmed = true;
            }
        }
    }
    counts
}

/// Active users before and after the plan against `n` seats; when over, the users longest
/// without a login (detail reads, `GET /users/{id}`), listed and never changed.
async fn seats(
    n: u64,
    prepared: &PlannedImport,
    d: &Decided,
    deprovision: Deprovision,
    client: &Client,
    progress: &dyn Progress,
) -> Seats {
    use futures_util::StreamExt;
    let before = d.active.len() as u64;
    let mut leaving = HashSet::new();
    let mut after = before;
    for r in &prepared.plan.rows {
        match (&r.planned, d.purpose.get(&r.input.row)) {
            (Planned::Create { disable: false, .. }, _) => after += 1,
            (Planned::Update { .. }, Some(Purpose::Reenable(_))) => after += 1,
            (Planned::Update { id, .. }, Some(Purpose::Retire(_)))
                if deprovision == Deprovision::Disable =>
            {
                after = after.saturating_sub(1);
                leaving.insert(id.clone());
            }
            _ => {}
        }
    }
    let mut out = Seats {
        seats: n,
        active_before: before,
        active_after: after,
        ..Seats::default()
    };
    if after <= n {
        return out;
    }
    progress.note(&format!(
        "{after} active users after this run, {} over --seats {n}: reading when each last logged in",
        after - n
    ));
    let reads = d
        .active
        .iter()
        .filter(|(id, _, candidate)| *candidate && !leaving.contains(id))
        .map(|(id, name, _)| async move { (id, name, client.get_user(id).await) });
    let got: Vec<_> = futures_util::stream::iter(reads)
        .buffer_unordered(8)
        .collect()
        .await;
    let mut read = Vec::new();
    for (id, name, answer) in got {
        match answer {
            Ok(u) => read.push(SeatCandidate {
                user_id: id.clone(),
                user_name: name.clone(),
                last_login_date: u.last_login_date.filter(|d| !d.is_empty()),
            }),
            Err(e) => out.unread.push(format!("{name}: {e}")),
        }
    }
    // Never logged in first, then the oldest login (ISO timestamps sort as text).
    read.sort_by(|a, b| {
        (
            a.last_login_date.is_some(),
            &a.last_login_date,
            &a.user_name,
        )
            .cmp(&(
                b.last_login_date.is_some(),
                &b.last_login_date,
                &b.user_name,
            ))
    });
    read.truncate((after - n) as usize);
    out.candidates = read;
    out
}

/// Counts each missing user once for this run; users back in the roster start afresh.
fn update_missing(state: &mut State, d: &Decided, run: u64) {
    for (id, (username, since, runs)) in &d.missing {
        let u = state.users.entry(id.clone()).or_default();
        u.username = username.clone();
        u.missing_since = Some(since.clone());
        u.missing_runs = *runs;
        u.missing_last_run = run;
    }
}

/// A held run's report: one file-level row per reason.
fn write_held_report(report: &std::path::Path, why: &[String]) -> anyhow::Result<()> {
    let mut w = crate::report::ReportWriter::create(report, crate::report::ReportKind::Import)
        .with_context(|| format!("cannot write the report {}", report.display()))?;
    for reason in why {
        w.write(&crate::report::ReportRow {
            outcome: "held",
            message: &format!(
                "held, nothing sent: {reason} (--accept-roster takes it as it is, once)"
            ),
            ..Default::default()
        })?;
    }
    w.flush()?;
    Ok(())
}

/// Where a run's summary goes: `--notify`, `--mail-to` and `--notify-always`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Notify<'a> {
    pub webhook: Option<&'a str>,
    pub mail: Option<&'a notify::Mail>,
    /// After every run, not only an eventful one.
    pub always: bool,
}

/// What the notifications carry, worded by the caller: the JSON summary the webhook receives,
/// and the mail's subject and body.
#[derive(Clone, Debug, Default)]
pub struct Notice {
    pub summary: serde_json::Value,
    pub subject: String,
    pub body: String,
}

/// Sends the webhook and the mail when asked to (by default only for an eventful run).
pub async fn notify_all(opts: &Notify<'_>, notice: &Notice, eventful: bool) -> Vec<String> {
    let mut errors = Vec::new();
    if !(eventful || opts.always) {
        return errors;
    }
    if let Some(url) = opts.webhook {
        if let Err(e) = notify::webhook(url, &notice.summary).await {
            errors.push(format!("webhook: {e:#}"));
        }
    }
    if let Some(m) = opts.mail {
        if let Err(e) = notify::mail(m, &notice.subject, &notice.body).await {
            errors.push(format!("mail: {e:#}"));
        }
    }
    errors
}
