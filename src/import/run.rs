//! The import workflow without the command line: load the instance, validate the rows against
//! it, carry over what an interrupted run finished, plan, apply through the API with the
//! journal, and write the report in input order. The CLI turns flags into [`ImportOptions`],
//! asks for confirmation between [`Importer::prepare`] and [`Prepared::apply`], draws progress
//! through [`Progress`], and renders the [`ImportOutcome`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::apply::{
    apply, finalize, finalize_input, result_without_request, ApplyOptions, History, OnTaken,
};
use super::base::Base;
use super::brakes::{BrakeOptions, BrakeStop};
use super::journal::{
    content_hash, ImportLock, Journal, JournalEntry, JournalError, JournalTarget, RowResult,
};
use super::plan::{plan, Plan, PlanOptions, Planned, Prefer, Protect};
use super::undo;
use super::{Collect, Outcome, RefusedRows, REFUSED};
use crate::api::Client;
use crate::file::{ReadOptions, Source};
use crate::instance::Instance;
use crate::report::{companion_csv, is_html_path};
use crate::report::{ReportKind, ReportRow, ReportWriter};
use crate::rules::Action;
use crate::validate::{validate_source, FileSummary, ValidateOptions, Verdict};

/// What the workflow tells whoever drives it. Every method has a default that does nothing, so
/// tests pass [`NoProgress`]; the CLI draws bars and prints the notes on stderr.
pub trait Progress: Sync {
    /// A line of talk ("instance: 40 users").
    fn note(&self, _message: &str) {}
    /// `n` more users of the instance were read.
    fn reading(&self, _n: u64) {}
    /// Reading the instance is over.
    fn read_done(&self) {}
    /// Reading `total` users' full records starts.
    fn details_start(&self, _total: u64) {}
    /// One more full record was read (or failed).
    fn detail_read(&self) {}
    /// Reading full records is over.
    fn details_done(&self) {}
    /// Applying starts: `total` rows need a request.
    fn start(&self, _total: u64) {}
    /// One more of those rows is done.
    fn row_done(&self) {}
    /// Applying is over.
    fn finish(&self) {}
}

/// Progress nobody watches.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Where the rows to import come from. A user file today; `qusers update` builds its rows
/// from a selection of the instance instead, through the same workflow.
pub trait ImportInput: Sync {
    /// How to name the input to the user (and in the journal).
    fn name(&self) -> String;
    /// A fingerprint of the input: a resume refuses an input that changed.
    fn fingerprint(&self) -> anyhow::Result<String>;
    /// The division ids the rows use (checked against the API before validating).
    fn division_ids(&self) -> anyhow::Result<BTreeSet<String>>;
    /// Validates every row with the instance's rules, into `sink`.
    fn validate(&self, instance: &Instance, sink: &mut Collect) -> anyhow::Result<FileSummary>;
    /// The file, when there is one: its base snapshot is looked for beside it.
    fn path(&self) -> Option<&Path> {
        None
    }
}

/// A user file (CSV/TSV, or stdin).
pub struct FileInput {
    pub source: Source,
    pub read: ReadOptions,
}

impl ImportInput for FileInput {
    fn name(&self) -> String {
        self.source.name()
    }

    fn fingerprint(&self) -> anyhow::Result<String> {
        content_hash(&self.source).context("cannot read the file to fingerprint it")
    }

    fn division_ids(&self) -> anyhow::Result<BTreeSet<String>> {
        Ok(crate::instance::division_ids(&self.source, &self.read)?)
    }

    fn validate(&self, instance: &Instance, sink: &mut Collect) -> anyhow::Result<FileSummary> {
        let opts = ValidateOptions::new(self.read.clone(), false);
        let mut summary = validate_source(&self.source, &opts, Some(instance), sink)?;
        super::plan::accept_export_layout(&mut summary, &mut sink.file_problems);
        Ok(summary)
    }

    fn path(&self) -> Option<&Path> {
        self.source.path()
    }
}

/// Where the instance's users come from.
pub enum InstanceFrom {
    /// Every user from the API (the default).
    Api,
    /// An instance export (`--existing`).
    Export(Source),
}

/// How to import, resolved from the flags.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The per-row report; its journal lives beside it (`REPORT.journal`).
    pub report: PathBuf,
    /// The HTML page written at the end (`--report PATH.html`: `report` is then the CSV
    /// report with every row beside it, `PATH.rows.csv`). See [`ImportOptions::new`].
    pub page: Option<PathBuf>,
    /// Plan and report the plan; send nothing.
    pub dry_run: bool,
    /// Continue the interrupted import whose journal is beside the report.
    pub resume: bool,
    /// Import the valid rows and report the invalid ones (otherwise any invalid row stops all).
    pub skip_invalid: bool,
    /// `language` of new users.
    pub language: String,
    /// New users get a random password (`false` for SSO brands).
    pub passwords: bool,
    /// Rows worked on at once.
    pub concurrency: usize,
    /// On resume, try again the rows the server refused for their content (400) as well as
    /// those that failed for want of an answer (which are always tried again).
    pub retry_failed: bool,
    /// A create refused because the username is taken elsewhere in Qualtrics.
    pub on_taken: OnTaken,
    /// How long the server may stay unreachable before the import stops (resumable).
    pub max_outage: Duration,
    /// `--upsert`: a create whose username exists updates that user.
    pub upsert: bool,
    /// `--base PATH`: the export's snapshot to merge with (else the one beside the file).
    pub base: Option<PathBuf>,
    /// `--prefer file|live`: who wins a field changed on both sides since the export.
    pub prefer: Option<Prefer>,
    /// `--max-changes`, `--allow-mass-changes`.
    pub brakes: BrakeOptions,
    /// `--allow-admin-changes`: the token's own account and Brand Administrators may be
    /// disabled, re-typed or moved.
    pub allow_admin_changes: bool,
    /// `--strict`: warnings count as errors (as `validate --strict` has it).
    pub strict: bool,
    /// `--allow-damaged-text`: an update may write text that looks like a garbled copy of the
    /// value in Qualtrics.
    pub allow_damaged_text: bool,
}

impl ImportOptions {
    /// Defaults for a report at `report`; an `.html` report is a page, with the CSV report
    /// (and so the journal, lock, undo and failed files) under [`companion_csv`] of it.
    pub fn new(report: impl Into<PathBuf>) -> Self {
        let (report, page) = split_page(report.into());
        ImportOptions {
            report,
            page,
            dry_run: false,
            resume: false,
            skip_invalid: false,
            language: "en".into(),
            passwords: true,
            concurrency: 20,
            retry_failed: false,
            on_taken: OnTaken::Fail,
            max_outage: Duration::from_secs(300),
            upsert: false,
            base: None,
            prefer: None,
            brakes: BrakeOptions::default(),
            allow_admin_changes: false,
            strict: false,
            allow_damaged_text: false,
        }
    }

    /// Every file the import writes (the page, the report, its journal, lock, undo and
    /// failed files): none may be an input.
    pub fn outputs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.page.iter().cloned().collect();
        out.extend([
            self.report.clone(),
            Journal::path_for(&self.report),
            ImportLock::path_for(&self.report),
            undo::path_beside(&self.report, "undo"),
            undo::path_beside(&self.report, "failed"),
        ]);
        out
    }
}

/// `x.html` → (`x.rows.csv`, the page `x.html`); any other report stays as it is.
fn split_page(report: PathBuf) -> (PathBuf, Option<PathBuf>) {
    if is_html_path(&report) {
        (companion_csv(&report), Some(report))
    } else {
        (report, None)
    }
}

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
    fn add(&mut self, o: Outcome) {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportVerdict {
    /// Every row went in.
    Done,
    /// Some rows are invalid or failed; the rest went in.
    DoneWithProblems,
    /// Nothing was sent: file-level errors, or invalid rows without `--skip-invalid`.
    NotImported,
    /// `--dry-run`: the plan only.
    Planned,
    /// Stopped before the end (Ctrl-C, or an outage longer than `max_outage`); the journal
    /// is kept for `--resume`.
    Interrupted,
}

impl ImportVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportVerdict::Done => "done",
            ImportVerdict::DoneWithProblems => "done with problems",
            ImportVerdict::NotImported => "not imported",
            ImportVerdict::Planned => "planned",
            ImportVerdict::Interrupted => "interrupted",
        }
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
    /// It stopped because the server did not answer for `max_outage`.
    pub outage: bool,
    /// It stopped because the run was cancelled (Ctrl-C or SIGTERM): the CLI exits 130.
    pub cancelled: bool,
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

/// An import about to start: from the flags to a plan.
pub struct Importer<'a> {
    input: &'a dyn ImportInput,
    client: Option<Client>,
    instance_from: InstanceFrom,
    opts: ImportOptions,
}

/// A planned import, ready to apply once confirmed.
pub struct Prepared {
    pub plan: Plan,
    pub validation: FileSummary,
    /// File-level problems: (line, problem, counts as an error).
    file_problems: Vec<(Option<u64>, crate::rules::Problem, bool)>,
    file_errors: bool,
    /// The rows of a file refused at the file level, not held in memory (not in the plan).
    refused: Option<RefusedRows>,
    journal: Option<Journal>,
    /// Held until the import ends: one import at a time per report.
    lock: ImportLock,
    target: JournalTarget,
    history: History,
    input_name: String,
    input_sha256: String,
    client: Option<Client>,
    opts: ImportOptions,
    started: Instant,
    /// The instance as planned against (the undo file's prior values).
    instance: Instance,
    /// What the journal says interrupted runs' writes replaced, by row (the undo file's
    /// prior values for rows done before this run).
    priors: HashMap<u64, super::journal::Prior>,
    /// The blast-radius brake held: nothing is to be sent.
    pub brake: Option<BrakeStop>,
    /// How rows were compared: three-way with a base snapshot, or why not.
    pub base_note: String,
}

impl<'a> Importer<'a> {
    /// An import of `input` through `client` (`None` only for a dry run against an export).
    pub fn new(
        input: &'a dyn ImportInput,
        client: Option<Client>,
        instance_from: InstanceFrom,
        mut opts: ImportOptions,
    ) -> Self {
        // A page set as the report directly (not through `ImportOptions::new`).
        if opts.page.is_none() {
            (opts.report, opts.page) = split_page(std::mem::take(&mut opts.report));
        }
        Importer {
            input,
            client,
            instance_from,
            opts,
        }
    }

    /// Loads the instance, validates, reads the journal on a resume, and plans.
    pub async fn prepare(self, progress: &dyn Progress) -> anyhow::Result<Prepared> {
        let started = Instant::now();
        let opts = self.opts;
        let journal_path = Journal::path_for(&opts.report);
        if self.client.is_none()
            && !(opts.dry_run && matches!(self.instance_from, InstanceFrom::Export(_)))
        {
            anyhow::bail!("an import needs an API client unless it is a dry run against an export");
        }
        // One import at a time writes this report and its journal.
        let lock = ImportLock::acquire(&opts.report)?;
        let input_sha256 = self.input.fingerprint()?;
        // A dry run reads the journal of a resume (to show what is left) but never writes it.
        let found = if opts.dry_run && !opts.resume {
            None
        } else {
            Journal::read(&journal_path, opts.resume.then_some(input_sha256.as_str()))?
        };
        // The journal of a run that went through every row is kept only for a later
        // `--resume --retry-failed`: a new import starts afresh over it.
        let found = found.filter(|r| opts.resume || !r.finished);
        if found.is_some() && !opts.resume {
            return Err(JournalError::Exists {
                path: journal_path.display().to_string(),
            }
            .into());
        }
        if opts.resume && !journal_path.exists() {
            return Err(JournalError::Missing {
                path: journal_path.display().to_string(),
            }
            .into());
        }
        // Which instance and account this is: the journal binds a resume to them.
        // The same answer names the account protected from being locked out.
        let mut target = JournalTarget::default();
        let mut self_id = None;
        if let Some(client) = &self.client {
            let me = client
                .whoami()
                .await
                .context("cannot ask the API whose token this is")?;
            self_id = Some(me.user_id.clone());
            target = JournalTarget {
                base_url: client.base().to_string(),
                brand_id: me.brand_id,
                user_id: me.user_id,
            };
        } else {
            progress.note(
                "protected accounts: Brand Administrators only (no API to ask whose token this is)",
            );
        }
        // The export's base snapshot: a three-way merge when there is one.
        let base_found = Base::find(self.input.path(), opts.base.as_deref())?;
        let base_note = match (&base_found, self.input.path()) {
            (Some((path, b)), _) => format!(
                "three-way merge with the base snapshot {} (exported {} from {}): fields changed \
                 in Qualtrics since then are kept",
                path.display(),
                b.exported_at,
                b.target
            ),
            (None, Some(file)) => format!(
                "no base snapshot found ({} is missing): compared with the instance only, so the \
                 file's values replace any made in Qualtrics since it was exported",
                Base::path_for(file).display()
            ),
            (None, None) => String::new(),
        };
        if !base_note.is_empty() {
            progress.note(&base_note);
        }
        if let (Some(resumed), Some(_)) = (&found, &self.client) {
            if !target.same_as(&resumed.target) {
                return Err(JournalError::OtherTarget {
                    path: journal_path.display().to_string(),
                    journal: resumed.target.describe(),
                    this: target.describe(),
                }
                .into());
            }
        }

        // 1. The instance: an export, or every user from the API; and the divisions used.
        let mut instance = match (&self.instance_from, &self.client) {
            (InstanceFrom::Export(source), _) => {
                let inst = Instance::from_export(source, &ReadOptions::default())
                    .with_context(|| format!("reading the instance export {}", source.name()))?;
                progress.note(&format!(
                    "instance: {} users read from {}",
                    inst.len(),
                    source.name()
                ));
                inst
            }
            (InstanceFrom::Api, Some(client)) => {
                let inst = crate::instance::fetch(client, |n| progress.reading(n))
                    .await
                    .context("cannot read the instance's users")?;
                progress.read_done();
                progress.note(&format!("instance: {} users", inst.len()));
                inst
            }
            (InstanceFrom::Api, None) => Instance::new(),
        };
        if let Some(client) = &self.client {
            let used = self.input.division_ids()?;
            crate::instance::check_divisions(client, &mut instance, &used)
                .await
                .context("cannot check the divisions the file uses")?;
        }

        // 2. Validate with every rule, the instance's included. The rows of a file refused at
        // the file level are not held (a resume holds them: the journal's rows are matched).
        let mut collect = match found {
            Some(_) => Collect::holding_all(),
            None => Collect::default(),
        };
        let mut validation = self.input.validate(&instance, &mut collect)?;
        if opts.strict {
            super::plan::make_strict(
                &mut collect.rows,
                &mut collect.file_problems,
                &mut validation,
            );
        }
        let file_errors = collect.refused();
        let refused = collect.take_refused();

        // 3. The journal: a resume carries what an interrupted run finished, and finishes
        // what it left half done.
        let mut carried = HashMap::new();
        let mut history = History::default();
        let mut journal = None;
        let mut sent_updates = HashSet::new();
        let mut priors = HashMap::new();
        if let Some(mut resumed) = found {
            priors = std::mem::take(&mut resumed.priors);
            let r = reconcile(resumed, &mut collect.rows, &instance, opts.retry_failed);
            carried = r.carried;
            history = r.history;
            sent_updates = r.sent_updates;
            progress.note(&format!("resuming: {} rows already done", carried.len()));
            if !opts.dry_run {
                journal = Some(Journal::reopen(&journal_path)?);
            }
        }

        // 3b. The list is thin: the full record of every user the file may change is read
        // before planning, so that expiration dates are planned against their real values and
        // the undo file holds the real prior value of every field the run changes.
        if let Some(client) = &self.client {
            let ids = detail_candidates(&collect.rows, &instance, &carried, opts.upsert);
            if !ids.is_empty() {
                progress.note(&format!(
                    "reading the full records of {} users the file may change",
                    ids.len()
                ));
                progress.details_start(ids.len() as u64);
                let d = crate::instance::fill_details(client, &mut instance, ids, || {
                    progress.detail_read()
                })
                .await;
                progress.details_done();
                if !d.failed.is_empty() {
                    let (id, e) = &d.failed[0];
                    progress.note(&format!(
                        "could not read the details of {} users (first: {id}: {e}); rows that \
                         change their expiration date fail and nothing is sent for them",
                        d.failed.len()
                    ));
                }
            }
        }

        // 4. Plan.
        let plan_opts = PlanOptions {
            skip_invalid: opts.skip_invalid,
            language: opts.language.clone(),
            passwords: opts.passwords,
            upsert: opts.upsert,
            base: base_found.map(|(_, b)| b),
            prefer: opts.prefer,
            protect: Protect {
                self_id,
                allow_admin_changes: opts.allow_admin_changes,
            },
            allow_damaged_text: opts.allow_damaged_text,
        };
        let mut plan = plan(collect.rows, &instance, &plan_opts, carried);
        // An update that went out before the interruption and now finds nothing to change was
        // applied: it is reported as the update it was.
        for r in &mut plan.rows {
            if sent_updates.contains(&r.input.row)
                && matches!(
                    &r.planned,
                    Planned::Nothing {
                        outcome: Outcome::Unchanged,
                        ..
                    }
                )
            {
                let result = RowResult {
                    outcome: Outcome::Updated,
                    user_id: r.user_id().to_string(),
                    message:
                        "updated before the interruption (the instance already has the changes)"
                            .into(),
                    ..RowResult::default()
                };
                r.planned = Planned::Carried(finalize(r, result));
            }
        }
        if file_errors {
            for r in &mut plan.rows {
                if !matches!(r.planned, Planned::Carried(_)) {
                    r.planned = Planned::Nothing {
                        outcome: Outcome::Skipped,
                        message: REFUSED.into(),
                    };
                }
            }
        }
        super::plan::forget_upserted(&mut validation, &plan);
        super::plan::count_damaged(&mut validation, &plan);
        // The brake: checked on what this run would send.
        let brake = if file_errors || plan.blocked_by_invalid {
            None
        } else {
            super::brakes::check(&plan, instance.len(), &opts.brakes).err()
        };
        Ok(Prepared {
            instance,
            priors,
            brake,
            base_note,
            plan,
            validation,
            file_problems: collect.file_problems,
            file_errors,
            refused,
            journal,
            lock,
            target,
            history,
            input_name: self.input.name(),
            input_sha256,
            client: self.client,
            opts,
            started,
        })
    }
}

impl Prepared {
    /// Nothing is sent: file-level errors, or invalid rows without `--skip-invalid`.
    pub fn stopped_early(&self) -> bool {
        self.file_errors || self.plan.blocked_by_invalid || self.brake.is_some()
    }

    /// Whether applying would send anything (and so whether to ask first).
    pub fn sends_anything(&self) -> bool {
        !self.opts.dry_run
            && !self.stopped_early()
            && self
                .plan
                .rows
                .iter()
                .any(|r| result_without_request(r).is_none())
    }

    /// Applies the plan (or, on a dry run or when stopped early, only reports it). After
    /// `cancel` is set no new row starts; the journal is kept for `--resume`.
    pub async fn apply(
        self,
        cancel: &AtomicBool,
        progress: &dyn Progress,
    ) -> anyhow::Result<ImportOutcome> {
        let Prepared {
            plan,
            validation,
            file_problems,
            file_errors,
            refused,
            mut journal,
            lock,
            target,
            history,
            input_name,
            input_sha256,
            client,
            opts,
            started,
            instance,
            priors,
            brake,
            base_note,
        } = self;
        let stopped_early = file_errors || plan.blocked_by_invalid || brake.is_some();
        let journal_path = Journal::path_for(&opts.report);

        let mut report = LiveReport::create(&opts.report, &plan, file_problems, refused)?;
        // Every real run's undo, written row by row as rows finish (a resume continues it).
        let mut undo_file = match opts.dry_run {
            true => None,
            false => Some(undo::UndoWriter::open(
                &undo::path_beside(&opts.report, "undo"),
                opts.resume,
                priors,
            )?),
        };
        let mut todo = Vec::new();
        for (i, row) in plan.rows.iter().enumerate() {
            match result_without_request(row) {
                Some(result) => {
                    if let Some(u) = &mut undo_file {
                        u.add(row, &result, &instance)?;
                    }
                    report.record(i, result)?
                }
                None if opts.dry_run || stopped_early => {
                    let result = RowResult {
                        outcome: Outcome::Planned,
                        user_id: row.user_id().to_string(),
                        message: if brake.is_some() {
                            "not sent: the blast-radius brake stopped the import".into()
                        } else {
                            String::new()
                        },
                        ..RowResult::default()
                    };
                    report.record(i, finalize(row, result))?
                }
                None => todo.push(i),
            }
        }
        report.writer.flush()?;
        let mut interrupted = false;
        let mut outage = false;
        let mut cancelled = false;
        let mut requests = 0;
        if !todo.is_empty() {
            let client = client.as_ref().context("rows to apply but no API client")?;
            let open = match journal.take() {
                Some(j) => j,
                None => Journal::create(
                    &journal_path,
                    JournalEntry::Start {
                        input: input_name.clone(),
                        input_sha256: input_sha256.clone(),
                        target: target.base_url.clone(),
                        brand_id: target.brand_id.clone(),
                        user_id: target.user_id.clone(),
                    },
                )?,
            };
            let shared = Mutex::new(open);
            let apply_opts = ApplyOptions {
                concurrency: opts.concurrency,
                on_taken: opts.on_taken,
                max_outage: opts.max_outage,
                ..ApplyOptions::default()
            };
            progress.start(todo.len() as u64);
            let mut write_error = None;
            let mut told = false;
            let result = apply(
                client,
                &plan,
                todo,
                &shared,
                cancel,
                &apply_opts,
                &history,
                |e| {
                    progress.row_done();
                    if !told && cancel.load(Ordering::Relaxed) {
                        told = true;
                        progress.note(
                            "interrupted: finishing the requests in flight, starting no more",
                        );
                    }
                    if let Some(u) = &mut undo_file {
                        if let Err(err) = u.add(&plan.rows[e.index], &e.result, &instance) {
                            write_error.get_or_insert(err);
                        }
                    }
                    if let Err(err) = report.done(e.index, e.result) {
                        write_error.get_or_insert(err);
                    }
                    if write_error.is_some() {
                        // A file that cannot be written (a full disk): start no more rows.
                        cancel.store(true, Ordering::Relaxed);
                    }
                },
            )
            .await;
            progress.finish();
            // The rows sent are in the journal (as far as it could be written): a resume
            // finishes the import once the cause is gone.
            let stopped = |error: std::io::Error| JournalError::Stopped {
                error,
                journal: journal_path.display().to_string(),
                resume: None,
            };
            let end = result.map_err(stopped)?;
            if let Some(err) = write_error {
                return Err(stopped(err).into());
            }
            requests = client.requests_sent();
            outage = end.outage;
            if outage {
                progress.note(&format!(
                    "stopped: the server did not answer for {} s",
                    opts.max_outage.as_secs()
                ));
            }
            cancelled = cancel.load(Ordering::Relaxed) && !outage;
            interrupted = cancelled || outage;
            journal = Some(shared.into_inner().unwrap_or_else(|e| e.into_inner()));
        }
        let counts = report.finish()?;
        // The undo file whole again: rows a kill kept out of it as it was appended (a write
        // that went out just before), from the results and the values the journal holds;
        // before the journal goes, so that a kill in between leaves both for the resume.
        let undo_file = match undo_file {
            Some(u) => {
                let done = report
                    .results
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| Some((i, r.as_ref()?)));
                Some(u.rewrite(&plan, done, &instance)?)
            }
            None => None,
        };
        // The journal goes once no row is left to try again; while a row failed, it stays,
        // marked finished, so that every later `--resume --retry-failed` can try it again.
        let retry_left = report_retry_left(&plan, &report.results);
        let keep_journal = interrupted || retry_left;
        let any_failed = report
            .results
            .iter()
            .any(|r| r.as_ref().is_some_and(|r| r.outcome == Outcome::Failed));
        match journal {
            Some(mut j) if !keep_journal && any_failed => j
                .append(&JournalEntry::Finished)
                .map_err(|e| anyhow::anyhow!("{}: {e}", j.path().display()))
                .context("cannot mark the journal finished")?,
            Some(j) if !keep_journal => {
                j.remove().context("cannot remove the finished journal")?;
            }
            _ => {}
        }
        drop(lock);
        let left = leave_undo_and_failed(
            &opts.report,
            &plan,
            &report.results,
            report.refused.as_mut(),
            undo_file,
        )?;
        let results = std::mem::take(&mut report.results);

        let verdict = if interrupted {
            ImportVerdict::Interrupted
        } else if opts.dry_run {
            ImportVerdict::Planned
        } else if stopped_early {
            ImportVerdict::NotImported
        } else if counts.invalid + counts.failed > 0 || file_errors {
            ImportVerdict::DoneWithProblems
        } else {
            ImportVerdict::Done
        };
        Ok(ImportOutcome {
            input: input_name,
            verdict,
            counts,
            plan,
            validation,
            file_errors,
            resume_journal: (keep_journal && journal_path.exists()).then_some(journal_path),
            outage,
            cancelled,
            report: opts.report,
            requests,
            transient: client.as_ref().map(|c| c.transient_stats()),
            request_counts: client.as_ref().map(|c| c.request_counts()),
            elapsed_seconds: started.elapsed().as_secs_f64(),
            brake,
            base_note,
            undo: left.undo,
            undo_rows: left.undo_rows,
            not_undoable: left.not_undoable,
            failed: left.failed,
            results,
            page: opts.page,
        })
    }
}

/// The files a run leaves beside its report.
struct Left {
    undo: Option<PathBuf>,
    undo_rows: usize,
    not_undoable: Vec<String>,
    failed: Option<PathBuf>,
}

/// The undo file written as rows finished (`REPORT.undo.csv`, every real run); the rows that
/// did not succeed (`REPORT.failed.csv`, every run that has some).
fn leave_undo_and_failed(
    report: &Path,
    plan: &Plan,
    results: &[Option<RowResult>],
    refused: Option<&mut RefusedRows>,
    undo_file: Option<(PathBuf, usize, Vec<String>)>,
) -> anyhow::Result<Left> {
    let done = || {
        results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, r.as_ref()?)))
    };
    let (undo_path, undo_rows, not_undoable) = match undo_file {
        Some((path, rows, notes)) => (Some(path), rows, notes),
        None => (None, 0, Vec::new()),
    };
    let failed_rows = undo::failed_rows(plan, done());
    let failed_path = undo::path_beside(report, "failed");
    let refused_failed = refused.as_ref().map_or(0, |r| r.not_empty());
    let failed = if failed_rows.is_empty() && refused_failed == 0 {
        // A file left by an earlier run with this report no longer says anything true.
        let _ = std::fs::remove_file(&failed_path);
        None
    } else {
        // The rows of a refused file (every one but the empty) are read back one at a time.
        let mut read_error = None;
        let refused_rows = match refused {
            Some(r) => Some(r.iter()?),
            None => None,
        };
        let refused_rows = refused_rows.into_iter().flatten().filter_map(|r| match r {
            Ok(r) => (!r.empty).then(|| r.fields.to_strings()),
            Err(e) => {
                read_error.get_or_insert(e);
                None
            }
        });
        let plan_rows = failed_rows.into_iter().map(super::Fields::to_strings);
        undo::write_template(&failed_path, plan_rows.chain(refused_rows))?;
        if let Some(e) = read_error {
            // Not a file to retry with: rows are missing from it.
            let _ = std::fs::remove_file(&failed_path);
            return Err(e).context("cannot read back the rows of the refused file");
        }
        Some(failed_path)
    };
    Ok(Left {
        undo: undo_path,
        undo_rows,
        not_undoable,
        failed,
    })
}

/// Whether a row failed for want of an answer (and so a resume would try it again).
fn report_retry_left(plan: &Plan, results: &[Option<RowResult>]) -> bool {
    plan.rows
        .iter()
        .zip(results)
        .any(|(_, r)| r.as_ref().is_some_and(RowResult::is_transient_failure))
}

/// What a resume makes of the journal of an interrupted run.
struct Reconciled {
    carried: HashMap<u64, RowResult>,
    history: History,
    /// Update rows whose write went out (an update now without changes was applied).
    sent_updates: HashSet<u64>,
}

/// Reads what an interrupted run left against the instance as it is now: finished rows are
/// carried as they were reported; failed rows are tried again when the failure was for want
/// of an answer (or always with `retry_failed`); a create that went out without an answer
/// counts as created when its user exists; a create whose disable step was not done (or
/// failed) gets it done. Rows this import wrote lose the "username taken" finding that their
/// own create causes in the resumed validation.
fn reconcile(
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
fn detail_candidates(
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

/// The report while rows finish: each row is written (and flushed) as soon as it is done, so
/// that a crash leaves every finished row on disk; at the end the report is rewritten in
/// input order (a new file renamed over it).
struct LiveReport<'p> {
    writer: ReportWriter,
    plan: &'p Plan,
    file_problems: Vec<(Option<u64>, crate::rules::Problem, bool)>,
    /// The rows of a refused file, reported after the file-level problems (all skipped).
    refused: Option<RefusedRows>,
    results: Vec<Option<RowResult>>,
    counts: Counts,
}

impl<'p> LiveReport<'p> {
    fn create(
        path: &Path,
        plan: &'p Plan,
        file_problems: Vec<(Option<u64>, crate::rules::Problem, bool)>,
        mut refused: Option<RefusedRows>,
    ) -> anyhow::Result<Self> {
        let mut writer =
            ReportWriter::create(path, ReportKind::Import).context("cannot create the report")?;
        write_file_problems(&mut writer, &file_problems)?;
        let mut counts = Counts::default();
        if let Some(rows) = &mut refused {
            write_refused(&mut writer, rows)?;
            counts.skipped += rows.len();
            writer.flush()?;
        }
        Ok(LiveReport {
            writer,
            plan,
            file_problems,
            refused,
            results: vec![None; plan.rows.len()],
            counts,
        })
    }

    fn done(&mut self, index: usize, result: RowResult) -> std::io::Result<()> {
        self.record(index, result)?;
        self.writer.flush()
    }

    /// [`LiveReport::done`] without the flush: for rows that finish without a request, all
    /// at once before any is sent (a write to the file per row cost more than the plan).
    fn record(&mut self, index: usize, result: RowResult) -> std::io::Result<()> {
        self.counts.add(result.outcome);
        write_row(&mut self.writer, self.plan, index, &result)?;
        self.results[index] = Some(result);
        Ok(())
    }

    /// Rewrites the report in input order (a new file renamed over it, so a crash leaves
    /// one or the other whole); the counts. A report that is not a regular file (`/dev/stdout`,
    /// a FIFO) keeps the rows in the order they finished: it cannot be rewritten.
    fn finish(&mut self) -> anyhow::Result<Counts> {
        self.writer.flush()?;
        let given = self.writer.path().to_path_buf();
        // Only a regular file is rewritten (the report was never opened through a link).
        if !std::fs::symlink_metadata(&given).is_ok_and(|m| m.is_file())
            || crate::fsx::is_special(&given)
        {
            return Ok(self.counts.clone());
        }
        // The given name's extension chose the format: the new file keeps it. Made new
        // (`O_EXCL`), then written without following links: nobody else's file is touched.
        let name = given.file_name().map(|n| n.to_string_lossy().into_owned());
        let tmp = given.with_file_name(format!(
            ".qusers-{}-{}",
            std::process::id(),
            name.unwrap_or_else(|| "report.csv".into())
        ));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot write the report beside {}", given.display()))?;
        let written = (|| {
            let mut w = ReportWriter::create(&tmp, ReportKind::Import)?;
            write_file_problems(&mut w, &self.file_problems)?;
            if let Some(rows) = &mut self.refused {
                write_refused(&mut w, rows)?;
            }
            for (i, r) in self.results.iter().enumerate() {
                if let Some(r) = r {
                    write_row(&mut w, self.plan, i, r)?;
                }
            }
            w.flush()?;
            drop(w);
            crate::fsx::rename_over(&tmp, &given)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e)
                .with_context(|| format!("cannot replace the report {}", given.display()));
        }
        Ok(self.counts.clone())
    }
}

fn write_file_problems(
    writer: &mut ReportWriter,
    problems: &[(Option<u64>, crate::rules::Problem, bool)],
) -> std::io::Result<()> {
    for (line, p, error) in problems {
        writer.write(&ReportRow {
            line: *line,
            outcome: if *error { "invalid" } else { "warning" },
            codes: p.code.id(),
            message: &p.message(),
            ..Default::default()
        })?;
    }
    Ok(())
}

/// The rows of a refused file as the report shows them: skipped, with their own findings.
fn write_refused(writer: &mut ReportWriter, rows: &mut RefusedRows) -> std::io::Result<()> {
    use crate::file::Col;
    for r in rows.iter()? {
        let r = r?;
        writer.write(&ReportRow {
            line: Some(r.line),
            row: Some(r.row),
            user_id: r.fields.get(Col::UserId),
            user_name: r.fields.get(Col::UserName),
            action: r.action.as_str(),
            outcome: Outcome::Skipped.as_str(),
            codes: &r.codes,
            message: &r.report_message(),
            ..Default::default()
        })?;
    }
    Ok(())
}

/// One row as the report shows it (its result already carries the validation findings).
fn write_row(
    writer: &mut ReportWriter,
    plan: &Plan,
    index: usize,
    result: &RowResult,
) -> std::io::Result<()> {
    let row = &plan.rows[index];
    // What the plan decided beside the changes (fields kept, the upsert's user).
    let mut message = result.message.clone();
    for note in &row.notes {
        if !message.contains(note.as_str()) {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(note);
        }
    }
    writer.write(&ReportRow {
        line: Some(row.input.line),
        row: Some(row.input.row),
        user_id: &result.user_id,
        user_name: result.username.as_deref().unwrap_or(row.user_name()),
        action: row.input.action.as_str(),
        outcome: result.outcome.as_str(),
        codes: &result.codes,
        message: &message,
        http_status: result.http_status,
        request_id: result.request_id.as_deref(),
        changes: &row.changes_text(),
    })
}

/// The default report for an input file: `STEM.report.csv` in the working directory.
pub fn default_report(source: &Source) -> PathBuf {
    let stem = source
        .path()
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    PathBuf::from(format!("{stem}.report.csv"))
}

/// A duration as people write it: `90s`, `5m`, `1h`, `1h30m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (examples: 90s, 5m, 1h)");
    let t = s.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if !num.is_empty() || t.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}
