//! `qusers import`: validate, plan against the instance, apply through the API, and report
//! every row, with a journal that makes `--resume` safe after a crash or Ctrl-C.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::Serialize;

use super::instance::{check_divisions, division_ids, fetch_instance, read_existing};
use super::target::{runtime, Target, TargetArgs};
use super::{Exit, Format, Output};
use crate::file::Source;
use crate::import::{
    apply, content_hash, plan, result_without_request, ApplyOptions, Collect, Journal,
    JournalEntry, Outcome, Plan, PlanOptions, Planned, RowResult,
};
use crate::instance::Instance;
use crate::report::{ReportKind, ReportRow, ReportWriter};
use crate::validate::{validate_source, ValidateOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user file to import (`-` reads stdin)
    #[arg(value_name = "FILE")]
    file: String,
    /// The per-row result report (.csv or .jsonl); default FILE-STEM.report.csv here. Its
    /// journal (REPORT.journal) lives beside it until every row is done
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// Plan and print the plan; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Import the valid rows and report the invalid ones (otherwise any invalid row stops all)
    #[arg(long)]
    skip_invalid: bool,
    /// Continue an interrupted import (same FILE, same --report)
    #[arg(long)]
    resume: bool,
    /// Plan against this instance export instead of reading the users from the API
    #[arg(long, value_name = "EXPORT.csv")]
    existing: Option<String>,
    /// Language of new users
    #[arg(long, value_name = "L", default_value = "EN")]
    language: String,
    /// Create users without a password (SSO brands)
    #[arg(long)]
    no_password: bool,
    /// Apply without asking (needed when stdin is not a terminal)
    #[arg(short, long)]
    yes: bool,
    /// The summary on stdout: text or one JSON object
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    read: super::ReadArgs,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    target: TargetArgs,
}

/// Outcome counts, in report order.
#[derive(Debug, Default, Serialize)]
struct Counts {
    created: u64,
    updated: u64,
    unchanged: u64,
    invalid: u64,
    failed: u64,
    skipped: u64,
    planned: u64,
    conflict: u64,
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

/// Writes report rows in input order as rows finish in any order.
struct OrderedReport<'p> {
    writer: ReportWriter,
    plan: &'p Plan,
    waiting: BTreeMap<usize, RowResult>,
    next: usize,
    counts: Counts,
}

impl<'p> OrderedReport<'p> {
    fn new(writer: ReportWriter, plan: &'p Plan) -> Self {
        OrderedReport {
            writer,
            plan,
            waiting: BTreeMap::new(),
            next: 0,
            counts: Counts::default(),
        }
    }

    fn done(&mut self, index: usize, result: RowResult) -> std::io::Result<()> {
        self.counts.add(result.outcome);
        self.waiting.insert(index, result);
        while let Some(result) = self.waiting.remove(&self.next) {
            write_row(&mut self.writer, self.plan, self.next, &result)?;
            self.next += 1;
        }
        // A crash leaves every row written so far on disk.
        self.writer.flush()
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

fn default_report(source: &Source) -> PathBuf {
    let stem = source
        .path()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    PathBuf::from(format!("{stem}.report.csv"))
}

/// The command to continue: this one with `--resume` (the token is never on it).
fn resume_command(report: &Path) -> String {
    let mut words: Vec<String> = std::env::args().skip(1).collect();
    if !words.iter().any(|w| w == "--resume") {
        words.push("--resume".into());
    }
    if !words
        .iter()
        .any(|w| w == "--report" || w.starts_with("--report="))
    {
        words.push("--report".into());
        words.push(report.display().to_string());
    }
    let quoted: Vec<String> = words
        .iter()
        .map(|w| {
            if w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect();
    format!("qusers {}", quoted.join(" "))
}

fn confirm(plan: &Plan, target: &Target, yes: bool) -> anyhow::Result<()> {
    if yes || target.sim.is_some() || plan.creates() + plan.updates() == 0 {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "not applying {} creates and {} updates to {} without --yes (stdin is not a terminal to ask on)",
            plan.creates(),
            plan.updates(),
            target.description
        );
    }
    eprint!(
        "Apply {} creates and {} updates to {}? [y/N] ",
        plan.creates(),
        plan.updates(),
        target.description
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("nothing was changed: the answer was not yes")
    }
}

fn progress_bar(quiet: bool, total: u64) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() || total == 0 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} rows  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// The plan, as `--dry-run` prints it.
fn render_plan(s: &mut String, plan: &Plan) {
    const MAX: usize = 50;
    let mut shown = 0;
    for r in &plan.rows {
        let line = r.input.line;
        let text = match &r.planned {
            Planned::Create { user, disable } => format!(
                "  create     line {line}: {} ({} {}, {}{}{})",
                user.username,
                user.first_name,
                user.last_name,
                user.user_type,
                user.division_id
                    .as_deref()
                    .map(|d| format!(", {d}"))
                    .unwrap_or_default(),
                if *disable { ", then disabled" } else { "" }
            ),
            Planned::Update { id, changes, .. } => {
                let list: Vec<String> = changes
                    .iter()
                    .map(|c| {
                        let old = if c.old.is_empty() { "(empty)" } else { &c.old };
                        format!("{}: {old} → {}", c.field, c.new)
                    })
                    .collect();
                format!(
                    "  update     line {line}: {id} {}: {}",
                    r.user_name(),
                    list.join("; ")
                )
            }
            _ => continue,
        };
        if shown < MAX {
            s.push_str(&text);
            s.push('\n');
        }
        shown += 1;
    }
    if shown > MAX {
        let _ = writeln!(
            s,
            "  … and {} more (the report lists every row)",
            shown - MAX
        );
    }
    for (outcome, label) in [
        (Outcome::Unchanged, "unchanged"),
        (Outcome::Invalid, "invalid"),
        (Outcome::Skipped, "skipped"),
    ] {
        let lines: Vec<String> = plan
            .rows
            .iter()
            .filter(|r| matches!(&r.planned, Planned::Nothing { outcome: o, .. } if *o == outcome))
            .map(|r| r.input.line.to_string())
            .collect();
        if !lines.is_empty() {
            let more = if lines.len() > 10 { ", …" } else { "" };
            let _ = writeln!(
                s,
                "  {label:<10} {} row{} (line{} {}{more})",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" },
                if lines.len() == 1 { "" } else { "s" },
                lines[..lines.len().min(10)].join(", ")
            );
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    file: String,
    target: String,
    dry_run: bool,
    verdict: &'static str,
    creates_planned: usize,
    updates_planned: usize,
    outcomes: Counts,
    elapsed_seconds: f64,
    requests: u64,
    rows_per_second: f64,
    report: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resume_command: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let read = args.read.options()?;
    let source = Source::from_arg(&args.file)?;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| default_report(&source));
    let journal_path = Journal::path_for(&report_path);
    let offline = args.dry_run && args.existing.is_some();
    let target = if offline {
        None
    } else {
        Some(args.target.resolve()?)
    };
    let description = target
        .as_ref()
        .map_or("the instance export".to_string(), |t| t.description.clone());
    if !args.quiet {
        eprintln!("target: {description}");
    }
    if !args.resume && !args.dry_run && journal_path.exists() {
        return Err(crate::import::JournalError::Exists {
            path: journal_path.display().to_string(),
        }
        .into());
    }
    let rt = runtime()?;

    // 1. The instance: an export, or every user from the API; and the divisions the file uses.
    let mut instance: Instance = match (&args.existing, &target) {
        (Some(path), _) => read_existing(path, args.quiet)?,
        (None, Some(t)) => rt.block_on(fetch_instance(&t.client, args.quiet))?,
        (None, None) => Instance::new(),
    };
    if let Some(t) = &target {
        let used = division_ids(&source, &read)?;
        rt.block_on(check_divisions(&t.client, &mut instance, &used))?;
    }

    // 2. Validate with every rule, the instance's included.
    let opts = ValidateOptions::new(read, false);
    let mut collect = Collect::default();
    let summary = validate_source(&source, &opts, Some(&instance), &mut collect)?;
    let file_errors = collect.file_problems.iter().any(|(_, _, error)| *error);

    // 3. The journal: a resume carries what an interrupted run finished.
    let input_sha256 = content_hash(&source).context("cannot read the file to fingerprint it")?;
    let mut carried = HashMap::new();
    let mut sent_updates = std::collections::HashSet::new();
    let mut journal = None;
    if args.resume {
        let (j, resumed) = Journal::resume(&journal_path, &input_sha256)?;
        carried = resumed.done;
        // A create that went out without a recorded answer: the instance says whether it
        // happened. (An update is simply sent again: it is idempotent.)
        for (row, username) in resumed.sending {
            let is_create = collect
                .rows
                .iter()
                .any(|r| r.row == row && r.action == crate::rules::Action::Create);
            if !is_create {
                sent_updates.insert(row);
                continue;
            }
            if let Some(user) = instance.by_username(&username) {
                {
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
        }
        if !args.quiet {
            eprintln!("resuming: {} rows already done", carried.len());
        }
        journal = Some(j);
    }

    // 4. Plan.
    let plan_opts = PlanOptions {
        skip_invalid: args.skip_invalid,
        language: args.language.clone(),
        passwords: !args.no_password,
        ..Default::default()
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
                message: "updated before the interruption (the instance already has the changes)"
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

    let mut writer = ReportWriter::create(&report_path, ReportKind::Import)
        .context("cannot create the report")?;
    for (line, p, error) in &collect.file_problems {
        writer.write(&ReportRow {
            line: *line,
            outcome: if *error { "invalid" } else { "warning" },
            codes: p.code.id(),
            message: &p.message(),
            ..Default::default()
        })?;
    }
    let mut report = OrderedReport::new(writer, &plan);

    let stopped_early = file_errors || plan.blocked_by_invalid;
    let mut text = String::new();
    if stopped_early {
        super::validate::render_text(&mut text, &summary, Some(&report_path));
    }

    // 5. Apply (or only report the plan).
    let mut todo = Vec::new();
    for (i, row) in plan.rows.iter().enumerate() {
        match result_without_request(row) {
            Some(result) => report.done(i, result)?,
            None if args.dry_run || stopped_early => report.done(
                i,
                RowResult {
                    outcome: Outcome::Planned,
                    user_id: row.user_id().to_string(),
                    http_status: None,
                    request_id: None,
                    codes: String::new(),
                    message: String::new(),
                },
            )?,
            None => todo.push(i),
        }
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let mut interrupted = false;
    let mut requests = 0;
    if !todo.is_empty() {
        let t = target
            .as_ref()
            .expect("a target whenever rows are to be applied");
        confirm(&plan, t, args.yes)?;
        let journal = match journal.take() {
            Some(j) => j,
            None => Journal::create(
                &journal_path,
                JournalEntry::Start {
                    input: source.name(),
                    input_sha256: input_sha256.clone(),
                    target: t.client.base().to_string(),
                },
            )?,
        };
        let journal = Mutex::new(journal);
        let bar = progress_bar(args.quiet, todo.len() as u64);
        let client = t.client.clone();
        let apply_opts = ApplyOptions {
            concurrency: usize::from(args.target.concurrency) * 2,
        };
        let flag = cancel.clone();
        let quiet = args.quiet;
        rt.block_on(async {
            let watcher = tokio::spawn(async move {
                super::target::shutdown_signal().await;
                flag.store(true, Ordering::Relaxed);
                if !quiet {
                    eprintln!("\ninterrupted: finishing the requests in flight, starting no more");
                }
            });
            let mut write_error = None;
            let result = apply(&client, &plan, todo, &journal, &cancel, &apply_opts, |e| {
                bar.inc(1);
                if let Err(err) = report.done(e.index, e.result) {
                    write_error.get_or_insert(err);
                }
            })
            .await;
            watcher.abort();
            bar.finish_and_clear();
            result?;
            write_error.map_or(Ok(()), Err)
        })?;
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
    drop(report.writer);
    let counts = report.counts;

    // 6. Summary.
    let elapsed = started.elapsed().as_secs_f64();
    let invalid_or_failed = counts.invalid + counts.failed > 0 || file_errors;
    let verdict = if interrupted {
        "interrupted"
    } else if args.dry_run {
        "planned"
    } else if stopped_early {
        "not imported"
    } else if invalid_or_failed {
        "done with problems"
    } else {
        "done"
    };
    let resume = interrupted.then(|| resume_command(&report_path));
    let applied = counts.created + counts.updated + counts.failed;
    let summary_out = Summary {
        file: source.name(),
        target: description,
        dry_run: args.dry_run,
        verdict,
        creates_planned: plan.creates(),
        updates_planned: plan.updates(),
        elapsed_seconds: elapsed,
        requests,
        rows_per_second: if elapsed > 0.0 {
            applied as f64 / elapsed
        } else {
            0.0
        },
        outcomes: counts,
        report: report_path.display().to_string(),
        resume_command: resume.clone(),
    };
    match args.format {
        Format::Json => text = serde_json::to_string_pretty(&summary_out)? + "\n",
        Format::Text => {
            let c = &summary_out.outcomes;
            let _ = writeln!(
                text,
                "import {} into {}: {verdict}",
                summary_out.file, summary_out.target
            );
            if args.dry_run {
                let _ = writeln!(
                    text,
                    "plan: {} create, {} update",
                    plan.creates(),
                    plan.updates()
                );
                render_plan(&mut text, &plan);
                let _ = writeln!(text, "nothing was changed (--dry-run)");
            } else if stopped_early {
                let why = if file_errors {
                    "the file has file-level errors"
                } else {
                    "some rows are invalid; fix them, or pass --skip-invalid to import the rest"
                };
                let _ = writeln!(text, "nothing was imported: {why}");
            }
            let _ = writeln!(
                text,
                "  {} created, {} updated, {} unchanged, {} invalid, {} failed, {} skipped{}",
                c.created,
                c.updated,
                c.unchanged,
                c.invalid,
                c.failed,
                c.skipped,
                if c.planned > 0 {
                    format!(", {} planned", c.planned)
                } else {
                    String::new()
                }
            );
            if !args.dry_run && applied > 0 {
                let _ = writeln!(
                    text,
                    "  {:.1} s, {} requests, {:.1} rows/s",
                    elapsed, requests, summary_out.rows_per_second
                );
            }
            let _ = writeln!(text, "  report: {}", summary_out.report);
            if let Some(cmd) = &resume {
                let _ = writeln!(text, "  to finish: {cmd}");
            }
        }
    }
    Output::stdout(&text)?;
    if let Some(t) = target {
        if let Some(sim) = t.sim {
            sim.stop()?;
        }
    }
    Ok(if interrupted || invalid_or_failed || stopped_early {
        Exit::Invalid
    } else {
        Exit::Ok
    })
}
