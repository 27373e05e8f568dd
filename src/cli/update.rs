//! `qusers update`: select users with export's filters and set fields, through import's
//! workflow (plan, brake, protected accounts, report, undo). The selection and its rows are
//! [`crate::import::update::UpdateInput`]; this file turns flags into options.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::bail;

use super::filter::FilterArgs;
use super::import::confirm;
use super::instance::Bars;
use super::safety::GuardArgs;
use super::target::{runtime, TargetArgs};
use super::{Exit, Format, Output};
use crate::export::ExportFilter;
use crate::import::update::{SetField, UpdateInput};
use crate::import::{resume_command, ImportOptions, ImportVerdict, Importer, InstanceFrom};
use crate::present::import::{write_page, Summary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A field to set on every selected user, FIELD=VALUE (repeatable): firstName, lastName,
    /// divisionId, accountType, accountStatus, expirationDate (MM/DD/YYYY)
    #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
    sets: Vec<SetField>,
    /// Select every user (needed when no filter is given)
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    filters: FilterArgs,
    /// The per-row result report (.csv or .jsonl); default update.report.csv here. The undo
    /// file (REPORT-STEM.undo.csv) is written beside it. A .html report is a page for people,
    /// with every row in PATH.rows.csv beside it
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// Plan and print the plan; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Apply without asking (needed when stdin is not a terminal)
    #[arg(short, long)]
    yes: bool,
    #[command(flatten)]
    guard: GuardArgs,
    /// Warnings count as errors (as with validate --strict): a row with a warning is not imported
    #[arg(long)]
    strict: bool,
    /// Write a value even when it looks like a garbled copy of the one in Qualtrics (KrÃ¼ger for
    /// Krüger, Dvo?ák for Dvořák); without it such a row is an error (T01)
    #[arg(long)]
    allow_damaged_text: bool,
    /// The summary on stdout: text or one JSON object
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    target: TargetArgs,
}

impl Args {
    /// The filter and the selection in words.
    fn filter(&self) -> anyhow::Result<(ExportFilter, String)> {
        // The name of a division is resolved by export alone: here it would match no id and
        // so select every division's users.
        if let Some(d) = self
            .filters
            .division
            .as_ref()
            .filter(|d| !d.starts_with("DV_"))
        {
            bail!("update selects a division by its id (DV_…), not by a name such as `{d}`; `qusers export --division '{d}'` says which id it is");
        }
        let words = self.filters.describe();
        let selection = if words.is_empty() {
            "every user".to_string()
        } else {
            format!("the users with {words}")
        };
        Ok((self.filters.filter(), selection))
    }
}

pub(super) fn run(args: Args) -> anyhow::Result<Exit> {
    let (filter, selection) = args.filter()?;
    if selection == "every user" && !args.all {
        bail!("no filter selects the users to update; give one (--division, --account-type, --status, --username…) or pass --all to update every user");
    }
    let sets: Vec<String> = args
        .sets
        .iter()
        .map(|s| format!("{}={}", s.col.name(), s.value))
        .collect();
    let description = format!("update of {selection} (set {})", sets.join(", "));
    let input = UpdateInput::new(filter, args.sets.clone(), description);
    let mut opts = ImportOptions::new(
        args.report
            .clone()
            .unwrap_or_else(|| PathBuf::from("update.report.csv")),
    );
    opts.dry_run = args.dry_run;
    opts.concurrency = usize::from(args.target.concurrency) * 2;
    args.guard.apply(&mut opts);
    opts.strict = args.strict;
    opts.allow_damaged_text = args.allow_damaged_text;
    let target = args.target.resolve()?;
    let progress = Bars::new(args.quiet, "reading the instance's users");
    use crate::import::Progress as _;
    if !args.dry_run {
        // An interrupted update is run again rather than resumed (it only updates, and
        // updates are idempotent): its journal goes, under the report's lock.
        let lock = crate::import::ImportLock::acquire(&opts.report)?;
        let journal = crate::import::Journal::path_for(&opts.report);
        if journal.exists() {
            // A finished run keeps its journal only for the rows that failed.
            let finished = crate::import::Journal::read(&journal, None)
                .is_ok_and(|r| r.is_some_and(|r| r.finished));
            std::fs::remove_file(&journal)?;
            if !finished {
                progress.note("an earlier run of this update was interrupted: running it again");
            }
        }
        drop(lock);
    }
    progress.note(&format!("target: {}", target.description));
    let rt = runtime()?;
    let resume_report = opts.report.clone();
    let importer = Importer::new(&input, Some(target.client.clone()), InstanceFrom::Api, opts);
    let prepared = rt.block_on(importer.prepare(&progress))?;
    progress.finish();
    progress.note(&format!(
        "selected {} users",
        input.selected().unwrap_or_default()
    ));
    if prepared.sends_anything() {
        confirm(&prepared, &target, args.yes)?;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let outcome = rt
        .block_on(async {
            let watcher = tokio::spawn(async move {
                super::target::shutdown_signal().await;
                flag.store(true, Ordering::Relaxed);
            });
            let outcome = prepared.apply(&cancel, &progress).await;
            watcher.abort();
            outcome
        })
        .map_err(|mut e| {
            // A file that could not be written stopped the update: the same command again.
            if let Some(crate::import::JournalError::Stopped { resume, .. }) = e.downcast_mut() {
                let again = resume_command(std::env::args().skip(1), &resume_report);
                *resume = Some(again.replacen(" --resume", "", 1));
            }
            e
        })?;
    // To finish an interrupted update: the same command again.
    let resume = (outcome.resume_journal.as_ref()).map(|_| {
        let again = resume_command(std::env::args().skip(1), &outcome.report);
        again.replacen(" --resume", "", 1)
    });
    let page = write_page(&outcome, &target.description, resume.as_deref())?;
    let summary = Summary::new(&outcome, &target.description, resume.as_deref());
    let text = if args.format == Format::Json {
        serde_json::to_string_pretty(&summary)? + "\n"
    } else {
        let mut text = String::new();
        let problems = outcome.validation.warning + outcome.validation.error > 0;
        if (outcome.verdict == ImportVerdict::NotImported && outcome.brake.is_none()) || problems {
            crate::present::validate::render_text(
                &mut text,
                &outcome.validation,
                Some(&outcome.report),
            );
        }
        summary.render_text(&mut text, &outcome);
        if let Some(page) = page {
            text.push_str(&format!("  page: {}\n", page.display()));
        }
        text
    };
    Output::stdout(&text)?;
    if let Some(sim) = target.sim {
        sim.stop()?;
    }
    Ok(if outcome.verdict.cancelled() {
        Exit::Interrupted
    } else if outcome.success() {
        Exit::Ok
    } else {
        Exit::Invalid
    })
}
