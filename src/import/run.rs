//! The import workflow without the command line: load the instance, validate the rows against
//! it, carry over what an interrupted run finished, plan, apply through the API with the
//! journal, and write the report in input order. The CLI turns flags into [`ImportOptions`],
//! asks for confirmation between [`Importer::prepare`] and [`Prepared::apply`], draws progress
//! through [`Progress`], and renders the [`ImportOutcome`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::apply::{apply, result_without_request, ApplyOptions};
use super::base::Base;
use super::brakes::{BrakeOptions, BrakeStop};
use super::journal::{content_hash, Journal, JournalEntry, JournalError, RowResult};
use super::plan::{plan, Plan, PlanOptions, Planned, Prefer, Protect};
use super::undo;
use super::{Collect, Outcome};
use crate::api::Client;
use crate::file::{ReadOptions, Source};
use crate::instance::Instance;
use crate::report::{ReportKind, ReportRow, ReportWriter};
use crate::rules::Action;
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
        Ok(validate_source(&self.source, &opts, Some(instance), sink)?)
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
}

impl ImportOptions {
    /// Defaults for a report at `report`.
    pub fn new(report: impl Into<PathBuf>) -> Self {
        ImportOptions {
            report: report.into(),
            dry_run: false,
            resume: false,
            skip_invalid: false,
            language: "EN".into(),
            passwords: true,
            concurrency: 20,
            upsert: false,
            base: None,
            prefer: None,
            brakes: BrakeOptions::default(),
            allow_admin_changes: false,
        }
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
    /// Stopped before the end (Ctrl-C); the journal is kept for `--resume`.
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
    /// The journal to resume from, when the import was interrupted (`--resume` with the same
    /// input and report continues it).
    pub resume_journal: Option<PathBuf>,
    /// Requests the client sent (reading the instance included).
    pub requests: u64,
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
    journal: Option<Journal>,
    input_name: String,
    input_sha256: String,
    client: Option<Client>,
    opts: ImportOptions,
    started: Instant,
    /// The instance as planned against (the undo file's prior values).
    instance: Instance,
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
        opts: ImportOptions,
    ) -> Self {
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
        if !opts.resume && !opts.dry_run && journal_path.exists() {
            return Err(JournalError::Exists {
                path: journal_path.display().to_string(),
            }
            .into());
        }
        if self.client.is_none()
            && !(opts.dry_run && matches!(self.instance_from, InstanceFrom::Export(_)))
        {
            anyhow::bail!("an import needs an API client unless it is a dry run against an export");
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

        // Protected accounts: the token's own, and Brand Administrators.
        let self_id = match &self.client {
            Some(client) => Some(
                client
                    .whoami()
                    .await
                    .context("cannot ask the API whose token this is (GET /whoami)")?
                    .user_id,
            ),
            None => {
                progress.note(
                    "protected accounts: Brand Administrators only (no API to ask whose token this is)",
                );
                None
            }
        };
        // The export's base snapshot: a three-way merge when there is one.
        let found = Base::find(self.input.path(), opts.base.as_deref())?;
        let base_note = match (&found, self.input.path()) {
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

        // 2. Validate with every rule, the instance's included.
        let mut collect = Collect::default();
        let validation = self.input.validate(&instance, &mut collect)?;
        let file_errors = collect.file_problems.iter().any(|(_, _, error)| *error);

        // 3. The journal: a resume carries what an interrupted run finished.
        let input_sha256 = self.input.fingerprint()?;
        let mut carried = HashMap::new();
        let mut sent_updates = HashSet::new();
        let mut journal = None;
        if opts.resume {
            let (j, resumed) = Journal::resume(&journal_path, &input_sha256)?;
            carried = resumed.done;
            // A create that went out without a recorded answer: the instance says whether it
            // happened. (An update is simply sent again: it is idempotent.)
            for (row, username) in resumed.sending {
                let is_create = collect
                    .rows
                    .iter()
                    .any(|r| r.row == row && r.action == Action::Create);
                if !is_create {
                    sent_updates.insert(row);
                    continue;
                }
                if let Some(user) = instance.by_username(&username) {
                    carried.insert(
                        row,
                        RowResult {
                            outcome: Outcome::Created,
                            user_id: user.id.clone(),
                            http_status: None,
                            request_id: None,
                            codes: String::new(),
                            message:
                                "created before the interruption (found by username on resume)"
                                    .into(),
                        },
                    );
                }
            }
            progress.note(&format!("resuming: {} rows already done", carried.len()));
            journal = Some(j);
        }

        // 4. Plan.
        let plan_opts = PlanOptions {
            skip_invalid: opts.skip_invalid,
            language: opts.language.clone(),
            passwords: opts.passwords,
            upsert: opts.upsert,
            base: found.map(|(_, b)| b),
            prefer: opts.prefer,
            protect: Protect {
                self_id,
                allow_admin_changes: opts.allow_admin_changes,
            },
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
                r.planned = Planned::Carried(RowResult {
                    outcome: Outcome::Updated,
                    user_id: r.user_id().to_string(),
                    http_status: None,
                    request_id: None,
                    codes: String::new(),
                    message:
                        "updated before the interruption (the instance already has the changes)"
                            .into(),
                });
            }
        }
        if file_errors {
            for r in &mut plan.rows {
                if !matches!(r.planned, Planned::Carried(_)) {
                    r.planned = Planned::Nothing {
                        outcome: Outcome::Skipped,
                        message: "not imported: the file has file-level errors".into(),
                    };
                }
            }
        }
        // The brake: checked on what this run would send.
        let brake = if file_errors || plan.blocked_by_invalid {
            None
        } else {
            super::brakes::check(&plan, instance.len(), &opts.brakes).err()
        };
        Ok(Prepared {
            instance,
            brake,
            base_note,
            plan,
            validation,
            file_problems: collect.file_problems,
            file_errors,
            journal,
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
            mut journal,
            input_name,
            input_sha256,
            client,
            opts,
            started,
            instance,
            brake,
            base_note,
        } = self;
        let stopped_early = file_errors || plan.blocked_by_invalid || brake.is_some();
        let journal_path = Journal::path_for(&opts.report);

        let mut writer = ReportWriter::create(&opts.report, ReportKind::Import)
            .context("cannot create the report")?;
        for (line, p, error) in &file_problems {
            writer.write(&ReportRow {
                line: *line,
                outcome: if *error { "invalid" } else { "warning" },
                codes: p.code.id(),
                message: &p.message(),
                ..Default::default()
            })?;
        }
        let mut report = OrderedReport::new(writer, &plan);

        let mut todo = Vec::new();
        for (i, row) in plan.rows.iter().enumerate() {
            match result_without_request(row) {
                Some(result) => report.done(i, result)?,
                None if opts.dry_run || stopped_early => report.done(
                    i,
                    RowResult {
                        outcome: Outcome::Planned,
                        user_id: row.user_id().to_string(),
                        http_status: None,
                        request_id: None,
                        codes: String::new(),
                        message: if brake.is_some() {
                            "not sent: the blast-radius brake stopped the import".into()
                        } else {
                            String::new()
                        },
                    },
                )?,
                None => todo.push(i),
            }
        }
        let mut interrupted = false;
        let mut requests = 0;
        if !todo.is_empty() {
            let client = client.as_ref().context("rows to apply but no API client")?;
            let journal = match journal.take() {
                Some(j) => j,
                None => Journal::create(
                    &journal_path,
                    JournalEntry::Start {
                        input: input_name.clone(),
                        input_sha256: input_sha256.clone(),
                        target: client.base().to_string(),
                    },
                )?,
            };
            let journal = Mutex::new(journal);
            let apply_opts = ApplyOptions {
                concurrency: opts.concurrency,
            };
            progress.start(todo.len() as u64);
            let mut write_error = None;
            let mut told = false;
            let result = apply(client, &plan, todo, &journal, cancel, &apply_opts, |e| {
                progress.row_done();
                if !told && cancel.load(Ordering::Relaxed) {
                    told = true;
                    progress
                        .note("interrupted: finishing the requests in flight, starting no more");
                }
                if let Err(err) = report.done(e.index, e.result) {
                    write_error.get_or_insert(err);
                }
            })
            .await;
            progress.finish();
            result?;
            if let Some(err) = write_error {
                return Err(err.into());
            }
            requests = client.requests_sent();
            interrupted = cancel.load(Ordering::Relaxed);
            let journal = journal.into_inner().unwrap_or_else(|e| e.into_inner());
            if !interrupted {
                journal
                    .remove()
                    .context("cannot remove the finished journal")?;
            }
        } else if let Some(j) = journal.take() {
            // Resumed and nothing left to do.
            j.remove().context("cannot remove the finished journal")?;
        }
        let (counts, results) = report.finish()?;
        let done = || {
            results
                .iter()
                .enumerate()
                .filter_map(|(i, r)| Some((i, r.as_ref()?)))
        };
        // Every real run leaves its undo; every run with rows that did not succeed, those rows.
        let mut not_undoable = Vec::new();
        let mut undo_rows = 0;
        let undo_path = if opts.dry_run {
            None
        } else {
            let path = undo::path_beside(&opts.report, "undo");
            let u = undo::undo(&plan, done(), &instance);
            let mut rows = Vec::new();
            if opts.resume {
                // The interrupted run's undo comes first: this run knows only its own rows.
                rows = undo::read_template(&path).unwrap_or_default();
            }
            not_undoable = u.not_undoable;
            if !rows.is_empty() {
                not_undoable.retain(|n| !n.contains("interrupted run"));
            }
            rows.extend(u.rows);
            undo_rows = rows.len();
            undo::write_template(&path, &rows)?;
            Some(path)
        };
        let failed_rows = undo::failed_rows(&plan, done());
        let failed_path = undo::path_beside(&opts.report, "failed");
        let failed = if failed_rows.is_empty() {
            // A file left by an earlier run with this report no longer says anything true.
            let _ = std::fs::remove_file(&failed_path);
            None
        } else {
            undo::write_template(&failed_path, &failed_rows)?;
            Some(failed_path)
        };

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
            resume_journal: interrupted.then_some(journal_path),
            report: opts.report,
            requests,
            elapsed_seconds: started.elapsed().as_secs_f64(),
            brake,
            base_note,
            undo: undo_path,
            undo_rows,
            not_undoable,
            failed,
        })
    }
}

/// Writes report rows in input order as rows finish in any order.
struct OrderedReport<'p> {
    writer: ReportWriter,
    plan: &'p Plan,
    waiting: BTreeMap<usize, RowResult>,
    next: usize,
    counts: Counts,
    /// Every row's result, by index (for the undo and failed files).
    results: Vec<Option<RowResult>>,
}

impl<'p> OrderedReport<'p> {
    fn new(writer: ReportWriter, plan: &'p Plan) -> Self {
        OrderedReport {
            writer,
            plan,
            waiting: BTreeMap::new(),
            next: 0,
            counts: Counts::default(),
            results: vec![None; plan.rows.len()],
        }
    }

    fn done(&mut self, index: usize, result: RowResult) -> std::io::Result<()> {
        self.counts.add(result.outcome);
        self.waiting.insert(index, result);
        while let Some(result) = self.waiting.remove(&self.next) {
            write_row(&mut self.writer, self.plan, self.next, &result)?;
            self.results[self.next] = Some(result);
            self.next += 1;
        }
        // A crash leaves every row written so far on disk.
        self.writer.flush()
    }

    fn finish(mut self) -> std::io::Result<(Counts, Vec<Option<RowResult>>)> {
        self.writer.flush()?;
        Ok((self.counts, self.results))
    }
}

fn write_row(
    writer: &mut ReportWriter,
    plan: &Plan,
    index: usize,
    result: &RowResult,
) -> std::io::Result<()> {
    let row = &plan.rows[index];
    let validation = row.input.message();
    let mut message = result.message.clone();
    for note in &row.notes {
        if !message.contains(note.as_str()) {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(note);
        }
    }
    if result.outcome != Outcome::Invalid && !validation.is_empty() {
        if !message.is_empty() {
            message.push_str("; ");
        }
        message.push_str(&validation);
    }
    let codes = if result.codes.is_empty() {
        row.input.codes()
    } else {
        result.codes.clone()
    };
    writer.write(&ReportRow {
        line: Some(row.input.line),
        row: Some(row.input.row),
        user_id: &result.user_id,
        user_name: row.user_name(),
        action: row.input.action.as_str(),
        outcome: result.outcome.as_str(),
        codes: &codes,
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
