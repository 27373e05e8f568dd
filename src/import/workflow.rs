//! The import workflow without the command line, as named steps: [`Importer::prepare`] loads
//! the instance, validates the rows against it, carries over what an interrupted run finished
//! and plans; [`PlannedImport::apply`] records the rows that need no request, sends the rest
//! through the API with the journal, and closes the ledger (report, undo, failed files). The
//! CLI turns flags into [`ImportOptions`], asks for confirmation between the two, draws
//! progress through [`Progress`], and renders the [`ImportOutcome`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::apply::{apply, finalize, result_without_request, ApplyOptions, History, OnTaken};
use super::base::Base;
use super::brakes::{BrakeOptions, BrakeStop};
use super::journal::{
    content_hash, ImportLock, Journal, JournalEntry, JournalError, JournalTarget, Resumed,
    RowResult,
};
use super::ledger::Ledger;
use super::outcome::{ImportOutcome, ImportVerdict, Interruption};
use super::plan::{plan, Plan, PlanOptions, Planned, Prefer, Protect};
use super::reconcile::{detail_candidates, reconcile};
use super::undo;
use super::{Collect, Outcome, RefusedRows, REFUSED};
use crate::api::Client;
use crate::file::{ReadOptions, Source};
use crate::instance::Instance;
use crate::report::{companion_csv, is_html_path};
use crate::rules::Upsert;
use crate::validate::{validate_source, FileSummary, ValidateOptions};

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
    /// Validates every row with the instance's rules, into `sink`; with `upsert`, a create
    /// whose username the instance has is checked and counted as an update of that user.
    fn validate(
        &self,
        instance: &Instance,
        upsert: Option<&Upsert>,
        sink: &mut Collect,
    ) -> anyhow::Result<FileSummary>;
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

    fn validate(
        &self,
        instance: &Instance,
        upsert: Option<&Upsert>,
        sink: &mut Collect,
    ) -> anyhow::Result<FileSummary> {
        let opts = ValidateOptions {
            upsert: upsert.cloned(),
            ..ValidateOptions::new(self.read.clone(), false)
        };
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

/// An import about to start: from the flags to a plan.
pub struct Importer<'a> {
    input: &'a dyn ImportInput,
    client: Option<Client>,
    instance_from: InstanceFrom,
    opts: ImportOptions,
}

/// A planned import, ready to apply once confirmed.
pub struct PlannedImport {
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
    pub async fn prepare(self, progress: &dyn Progress) -> anyhow::Result<PlannedImport> {
        let started = Instant::now();
        if self.client.is_none()
            && !(self.opts.dry_run && matches!(self.instance_from, InstanceFrom::Export(_)))
        {
            anyhow::bail!("an import needs an API client unless it is a dry run against an export");
        }
        // One import at a time writes this report and its journal.
        let lock = ImportLock::acquire(&self.opts.report)?;
        let input_sha256 = self.input.fingerprint()?;
        let found = self.find_journal(&input_sha256)?;
        let (target, self_id) = self.whoami(progress).await?;
        let (base_found, base_note) = self.base_snapshot(progress)?;
        if let (Some(resumed), Some(_)) = (&found, &self.client) {
            if !target.same_as(&resumed.target) {
                return Err(JournalError::OtherTarget {
                    path: Journal::path_for(&self.opts.report).display().to_string(),
                    journal: resumed.target.describe(),
                    this: target.describe(),
                }
                .into());
            }
        }
        let mut instance = self.load_instance(progress).await?;
        let (mut collect, mut validation) = self.validate(&instance, found.as_ref())?;
        let file_errors = collect.refused();
        let refused = collect.take_refused();
        let resume = self.resume(found, &mut collect.rows, &instance, progress)?;
        self.read_details(&mut instance, &collect.rows, &resume.carried, progress)
            .await;
        let plan_opts = PlanOptions {
            skip_invalid: self.opts.skip_invalid,
            language: self.opts.language.clone(),
            passwords: self.opts.passwords,
            base: base_found.map(|(_, b)| b),
            prefer: self.opts.prefer,
            protect: Protect {
                self_id,
                allow_admin_changes: self.opts.allow_admin_changes,
            },
            allow_damaged_text: self.opts.allow_damaged_text,
        };
        let plan = plan_rows(
            collect.rows,
            &instance,
            &plan_opts,
            resume.carried,
            &resume.sent_updates,
            file_errors,
        );
        super::plan::count_damaged(&mut validation, &plan);
        // The brake: checked on what this run would send.
        let brake = if file_errors || plan.blocked_by_invalid {
            None
        } else {
            super::brakes::check(&plan, instance.len(), &self.opts.brakes).err()
        };
        Ok(PlannedImport {
            instance,
            priors: resume.priors,
            brake,
            base_note,
            plan,
            validation,
            file_problems: collect.file_problems,
            file_errors,
            refused,
            journal: resume.journal,
            lock,
            target,
            history: resume.history,
            input_name: self.input.name(),
            input_sha256,
            client: self.client,
            opts: self.opts,
            started,
        })
    }

    /// The journal of an interrupted run, on a resume; an error when there is one and this
    /// is not a resume, or none and it is.
    fn find_journal(&self, input_sha256: &str) -> anyhow::Result<Option<Resumed>> {
        let opts = &self.opts;
        let journal_path = Journal::path_for(&opts.report);
        // A dry run reads the journal of a resume (to show what is left) but never writes it.
        let found = if opts.dry_run && !opts.resume {
            None
        } else {
            Journal::read(&journal_path, opts.resume.then_some(input_sha256))?
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
        Ok(found)
    }

    /// Which instance and account this is: the journal binds a resume to them. The same
    /// answer names the account protected from being locked out.
    async fn whoami(
        &self,
        progress: &dyn Progress,
    ) -> anyhow::Result<(JournalTarget, Option<String>)> {
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
        Ok((target, self_id))
    }

    /// The export's base snapshot (a three-way merge when there is one), and how rows are
    /// compared, said once.
    fn base_snapshot(
        &self,
        progress: &dyn Progress,
    ) -> anyhow::Result<(Option<(PathBuf, Base)>, String)> {
        let opts = &self.opts;
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
        Ok((base_found, base_note))
    }

    /// Step 1: The instance: an export, or every user from the API; and the divisions used.
    async fn load_instance(&self, progress: &dyn Progress) -> anyhow::Result<Instance> {
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
        Ok(instance)
    }

    /// Step 2: Validate with every rule, the instance's included; `--upsert` is decided here,
    /// so the tally counts an upserted row as the update it is. The rows of a file refused at
    /// the file level are not held (a resume holds them: the journal's rows are matched).
    fn validate(
        &self,
        instance: &Instance,
        resumed: Option<&Resumed>,
    ) -> anyhow::Result<(Collect, FileSummary)> {
        let opts = &self.opts;
        let mut collect = match resumed {
            Some(_) => Collect::holding_all(),
            None => Collect::spilling(),
        };
        // The rows an interrupted run sent keep what it made of them: a create's own user
        // makes its username taken now, and the resume reconciles it as the create it was.
        let upsert = opts.upsert.then(|| Upsert {
            sent_before: resumed.map_or_else(Default::default, |r| {
                let sent = r.done.keys().chain(r.sending.keys());
                sent.chain(r.created.keys()).copied().collect()
            }),
        });
        let mut validation = self
            .input
            .validate(instance, upsert.as_ref(), &mut collect)?;
        collect.finish()?;
        if opts.strict {
            super::plan::make_strict(
                &mut collect.rows,
                &mut collect.file_problems,
                &mut validation,
            );
        }
        Ok((collect, validation))
    }

    /// Step 3: The journal: a resume carries what an interrupted run finished, and finishes what
    /// it left half done.
    fn resume(
        &self,
        found: Option<Resumed>,
        rows: &mut [super::InputRow],
        instance: &Instance,
        progress: &dyn Progress,
    ) -> anyhow::Result<Resume> {
        let opts = &self.opts;
        let mut resume = Resume::default();
        if let Some(mut resumed) = found {
            resume.priors = std::mem::take(&mut resumed.priors);
            let r = reconcile(resumed, rows, instance, opts.retry_failed);
            resume.carried = r.carried;
            resume.history = r.history;
            resume.sent_updates = r.sent_updates;
            progress.note(&format!(
                "resuming: {} rows already done",
                resume.carried.len()
            ));
            if !opts.dry_run {
                resume.journal = Some(Journal::reopen(&Journal::path_for(&opts.report))?);
            }
        }
        Ok(resume)
    }

    /// Step 3b: The list is thin: the full record of every user the file may change is read
    /// before planning, so that expiration dates are planned against their real values and
    /// the undo file holds the real prior value of every field the run changes.
    async fn read_details(
        &self,
        instance: &mut Instance,
        rows: &[super::InputRow],
        carried: &HashMap<u64, RowResult>,
        progress: &dyn Progress,
    ) {
        let opts = &self.opts;
        if let Some(client) = &self.client {
            let ids = detail_candidates(rows, instance, carried, opts.upsert);
            if !ids.is_empty() {
                progress.note(&format!(
                    "reading the full records of {} users the file may change",
                    ids.len()
                ));
                progress.details_start(ids.len() as u64);
                let d =
                    crate::instance::fill_details(client, instance, ids, || progress.detail_read())
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
    }
}

/// What a resume carries from the journal of an interrupted run.
#[derive(Default)]
struct Resume {
    carried: HashMap<u64, RowResult>,
    history: History,
    /// Update rows whose write went out before the interruption.
    sent_updates: HashSet<u64>,
    /// The values the interrupted runs' writes replaced, by row.
    priors: HashMap<u64, super::journal::Prior>,
    /// The journal, reopened to go on (a real run only).
    journal: Option<Journal>,
}

/// Step 4: Plan; then what the plan alone cannot know: an update that went out before an
/// interruption, and the rows of a file refused at the file level.
fn plan_rows(
    rows: Vec<super::InputRow>,
    instance: &Instance,
    plan_opts: &PlanOptions,
    carried: HashMap<u64, RowResult>,
    sent_updates: &HashSet<u64>,
    file_errors: bool,
) -> Plan {
    let mut plan = plan(rows, instance, plan_opts, carried);
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
                message: "updated before the interruption (the instance already has the changes)"
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
    plan
}

impl PlannedImport {
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
        let PlannedImport {
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

        // Every real run's undo, written row by row as rows finish (a resume continues it).
        let undo_file = match opts.dry_run {
            true => None,
            false => Some(undo::UndoWriter::open(
                &undo::path_beside(&opts.report, "undo"),
                opts.resume,
                priors,
            )?),
        };
        let mut ledger = Ledger::create(
            &opts.report,
            &plan,
            &instance,
            file_problems,
            refused,
            undo_file,
        )?;
        let hold = opts.dry_run || stopped_early;
        let todo = record_unsent(&mut ledger, &plan, hold, brake.is_some())?;
        let mut interrupted = None;
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
            let sent = send(
                client,
                &plan,
                todo,
                open,
                &history,
                &opts,
                &mut ledger,
                cancel,
                progress,
            )
            .await?;
            requests = client.requests_sent();
            interrupted = sent.0;
            journal = Some(sent.1);
        }
        let counts = ledger.finish()?;
        // The undo file whole again, before the journal goes, so that a kill in between
        // leaves both for the resume.
        let undo_file = ledger.rewrite_undo()?;
        // The journal goes once no row is left to try again; while a row failed, it stays,
        // marked finished, so that every later `--resume --retry-failed` can try it again.
        let keep_journal = interrupted.is_some() || ledger.retry_left();
        let any_failed = ledger.any_failed();
        close_journal(journal, keep_journal, any_failed)?;
        drop(lock);
        let left = ledger.leave(&opts.report, undo_file)?;

        let verdict = match interrupted {
            Some(why) => ImportVerdict::Interrupted(why),
            None if opts.dry_run => ImportVerdict::Planned,
            None if stopped_early => ImportVerdict::NotImported,
            None if counts.invalid + counts.failed > 0 => ImportVerdict::DoneWithProblems,
            None => ImportVerdict::Done,
        };
        Ok(ImportOutcome {
            input: input_name,
            verdict,
            counts,
            plan,
            validation,
            file_errors,
            resume_journal: (keep_journal && journal_path.exists()).then_some(journal_path),
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
            results: left.results,
            page: opts.page,
        })
    }
}

/// Step 1: The rows that need no request, into the ledger: those an interrupted run finished or
/// that send nothing, and, when nothing is to be sent (`hold`: a dry run, or a run stopped
/// early), the rest as planned. Returns the rows to send.
fn record_unsent(
    ledger: &mut Ledger<'_>,
    plan: &Plan,
    hold: bool,
    braked: bool,
) -> anyhow::Result<Vec<usize>> {
    let mut todo = Vec::new();
    for (i, row) in plan.rows.iter().enumerate() {
        match result_without_request(row) {
            Some(result) => ledger.done_unflushed(i, result)?,
            None if hold => {
                let result = RowResult {
                    outcome: Outcome::Planned,
                    user_id: row.user_id().to_string(),
                    message: if braked {
                        "not sent: the blast-radius brake stopped the import".into()
                    } else {
                        String::new()
                    },
                    ..RowResult::default()
                };
                ledger.record(i, finalize(row, result))?
            }
            None => todo.push(i),
        }
    }
    ledger.flush()?;
    Ok(todo)
}

/// Step 2: Sends the rows `todo` through the journal, each into the ledger as it finishes. After
/// `cancel` is set (or a file cannot be written) no new row starts. Returns what stopped the
/// run early, if anything did, and the journal.
#[allow(clippy::too_many_arguments)]
async fn send(
    client: &Client,
    plan: &Plan,
    todo: Vec<usize>,
    open: Journal,
    history: &History,
    opts: &ImportOptions,
    ledger: &mut Ledger<'_>,
    cancel: &AtomicBool,
    progress: &dyn Progress,
) -> anyhow::Result<(Option<Interruption>, Journal)> {
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
        plan,
        todo,
        &shared,
        cancel,
        &apply_opts,
        history,
        |e| {
            progress.row_done();
            if !told && cancel.load(Ordering::Relaxed) {
                told = true;
                progress.note("interrupted: finishing the requests in flight, starting no more");
            }
            if let Err(err) = ledger.done(e.index, e.result) {
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
        journal: Journal::path_for(&opts.report).display().to_string(),
        resume: None,
    };
    let end = result.map_err(stopped)?;
    if let Some(err) = write_error {
        return Err(stopped(err).into());
    }
    if end.outage {
        progress.note(&format!(
            "stopped: the server did not answer for {} s",
            opts.max_outage.as_secs()
        ));
    }
    let interrupted = if end.outage {
        Some(Interruption::Outage)
    } else if cancel.load(Ordering::Relaxed) {
        Some(Interruption::Signal)
    } else {
        None
    };
    Ok((
        interrupted,
        shared.into_inner().unwrap_or_else(|e| e.into_inner()),
    ))
}

/// Step 3: The journal goes once no row is left to try again; while a row failed, it stays,
/// marked finished, so that every later `--resume --retry-failed` can try it again.
fn close_journal(journal: Option<Journal>, keep: bool, any_failed: bool) -> anyhow::Result<()> {
    match journal {
        Some(mut j) if !keep && any_failed => j
            .append(&JournalEntry::Finished)
            .map_err(|e| anyhow::anyhow!("{}: {e}", j.path().display()))
            .context("cannot mark the journal finished")?,
        Some(j) if !keep => {
            j.remove().context("cannot remove the finished journal")?;
        }
        _ => {}
    }
    Ok(())
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
