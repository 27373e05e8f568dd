//! `qusers import`: flags → [`ImportOptions`], the confirmation prompt, the progress bar, and
//! the summary. The workflow itself is [`crate::import::Importer`].

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::bail;

use super::instance::Bars;
use super::target::{runtime, Target, TargetArgs};
use super::{Exit, Format, Output};
use crate::file::Source;
use crate::import::{
    default_report, resume_command, FileInput, ImportOptions, ImportOutcome, ImportVerdict,
    Importer, InstanceFrom, OnTaken, PlannedImport, Progress,
};
use crate::present::console;
use crate::present::import::{write_page, Summary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user file to import (`-` reads stdin)
    #[arg(value_name = "FILE")]
    file: String,
    /// The per-row result report (.csv or .jsonl); default FILE-STEM.report.csv here. Its
    /// journal (REPORT.journal) lives beside it until every row is done. A .html report is a
    /// page for people, written at the end, with every row in PATH.rows.csv beside it
    #[arg(long, value_name = "PATH")]
    report: Option<std::path::PathBuf>,
    /// Plan and print the plan; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Import the valid rows and report the invalid ones (otherwise any invalid row stops all)
    #[arg(long)]
    skip_invalid: bool,
    /// Continue an interrupted import (same FILE, same --report)
    #[arg(long)]
    resume: bool,
    /// With --resume, try again the rows the server refused (400) too, not only those that failed for want of an answer
    #[arg(long, requires = "resume")]
    retry_failed: bool,
    /// A create refused because the username is taken elsewhere in Qualtrics: fail, or retry as local+1@domain, +2…
    #[arg(long, value_name = "fail|suffix", default_value = "fail", value_parser = ["fail", "suffix"])]
    on_taken: String,
    /// Stop (resumable) when the server has not answered for this long: 90s, 5m, 1h
    #[arg(long, value_name = "TIME", default_value = "5m", value_parser = crate::import::parse_duration)]
    max_outage: std::time::Duration,
    /// Plan against this instance export instead of reading the users from the API
    #[arg(long, value_name = "EXPORT.csv")]
    existing: Option<String>,
    /// Language of new users (any case; sent lower-case, as the API returns it)
    #[arg(long, value_name = "L", default_value = "en")]
    language: String,
    /// Create users without a password (SSO brands)
    #[arg(long)]
    no_password: bool,
    /// Apply without asking (needed when stdin is not a terminal)
    #[arg(short, long)]
    yes: bool,
    /// The summary on stdout: text or one JSON object
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    #[command(flatten)]
    safety: super::safety::ImportSafetyArgs,
    /// Warnings count as errors (as with validate --strict): a row with a warning is not imported
    #[arg(long)]
    strict: bool,
    /// Write a value even when it looks like a garbled copy of the one in Qualtrics (KrÃ¼ger for
    /// Krüger, Dvo?ák for Dvořák); without it such a row is an error (T01)
    #[arg(long)]
    allow_damaged_text: bool,
    #[command(flatten)]
    read: super::ReadArgs,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    target: TargetArgs,
}

pub(super) fn confirm(prepared: &PlannedImport, target: &Target, yes: bool) -> anyhow::Result<()> {
    let plan = &prepared.plan;
    let (creates, updates) = (plan.creates(), plan.updates());
    if yes || target.sim.is_some() || creates + updates == 0 {
        return Ok(());
    }
    let what = format!(
        "{creates} creates and {updates} updates to {}",
        target.description
    );
    if !std::io::stdin().is_terminal() {
        bail!("not applying {what} without --yes (stdin is not a terminal to ask on)");
    }
    let question = crate::present::import::plan::confirm_question(plan, &target.description);
    console::err(&format!("{question} [y/N] "));
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("nothing was changed: the answer was not yes")
    }
}

pub(super) fn run(args: Args) -> anyhow::Result<Exit> {
    let input = FileInput {
        read: args.read.options()?,
        source: Source::from_arg(&args.file)?,
    };
    let report = (args.report.clone()).unwrap_or_else(|| default_report(&input.source));
    let mut opts = ImportOptions {
        dry_run: args.dry_run,
        resume: args.resume,
        skip_invalid: args.skip_invalid,
        language: args.language.clone(),
        passwords: !args.no_password,
        concurrency: usize::from(args.target.concurrency) * 2,
        retry_failed: args.retry_failed,
        on_taken: [OnTaken::Fail, OnTaken::Suffix][usize::from(args.on_taken == "suffix")],
        max_outage: args.max_outage,
        ..ImportOptions::new(report)
    };
    args.safety.apply(&mut opts);
    let resume_report = opts.report.clone();
    opts.strict = args.strict;
    opts.allow_damaged_text = args.allow_damaged_text;
    let inputs: Vec<&Path> = std::iter::once(args.file.as_str())
        .chain(args.existing.as_deref())
        .map(Path::new)
        .collect();
    let outputs = opts.outputs();
    let outputs: Vec<&Path> = outputs.iter().map(|p| p.as_path()).collect();
    crate::file::ensure_outputs_distinct(&inputs, &outputs)?;
    let offline = args.dry_run && args.existing.is_some();
    let target = (!offline).then(|| args.target.resolve()).transpose()?;
    let description = target
        .as_ref()
        .map_or("the instance export".to_string(), |t| t.description.clone());
    let progress = Bars::new(args.quiet, "reading the instance's users");
    progress.note(&format!("target: {description}"));
    let instance_from = match &args.existing {
        Some(path) => InstanceFrom::Export(Source::from_arg(path)?),
        None => InstanceFrom::Api,
    };
    let client = target.as_ref().map(|t| t.client.clone());
    let rt = runtime()?;
    if let Some(t) = &target {
        t.check_direct(&args.target, &rt)?;
    }
    let prepared =
        rt.block_on(Importer::new(&input, client, instance_from, opts).prepare(&progress))?;
    progress.finish();
    if let (true, Some(t)) = (prepared.sends_anything(), &target) {
        confirm(&prepared, t, args.yes)?;
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
            // A file that could not be written stopped the import: say how to resume it.
            if let Some(crate::import::JournalError::Stopped { resume, .. }) = e.downcast_mut() {
                *resume = Some(resume_command(std::env::args().skip(1), &resume_report));
            }
            e
        })?;
    let text = render(&args, &description, &outcome)?;
    Output::stdout(&text)?;
    if let Some(sim) = target.and_then(|t| t.sim) {
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

fn render(args: &Args, target: &str, o: &ImportOutcome) -> anyhow::Result<String> {
    let resume =
        (o.resume_journal.as_ref()).map(|_| resume_command(std::env::args().skip(1), &o.report));
    let page = write_page(o, target, resume.as_deref())?;
    let summary = Summary::new(o, target, resume.as_deref());
    if args.format == Format::Json {
        return Ok(serde_json::to_string_pretty(&summary)? + "\n");
    }
    let mut text = String::new();
    // Problems found while validating are shown as validate shows them (warnings too).
    // (Errors too: with --skip-invalid the rows left out, T01 among them, say why here.)
    let warned =
        o.validation.warning + o.validation.error > 0 || !o.validation.file_problems.is_empty();
    if (o.verdict == ImportVerdict::NotImported && o.brake.is_none()) || warned {
        crate::present::validate::render_text(&mut text, &o.validation, Some(&o.report));
    }
    summary.render_text(&mut text, o);
    if let Some(page) = page {
        text.push_str(&format!("  page: {}\n", page.display()));
    }
    Ok(text)
}
