//! `qusers validate`: the pre-flight check of one or more user files.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Exit, Format, Output};
use crate::file::Source;
use crate::present::console;
use crate::present::html::HtmlSink;
use crate::present::validate::{render_summaries, ValidateJson};
use crate::report::{Destination, ReportKind, ReportSink, ReportWriter};
use crate::validate::{validate_source, ValidateOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The files to check (`-` reads stdin)
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Write one row per data record to this file (.csv or .jsonl), or a page for people
    /// (.html, with every row in PATH.rows.csv beside it); with several files each gets its own
    /// report, named after it
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// The summary on stdout: text or one JSON object
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// Treat warnings as errors
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    read: super::ReadArgs,
    /// An instance export (Admin › Users › Export, or `qusers export`) to check usernames, ids,
    /// divisions and user types against
    #[arg(long, value_name = "EXPORT.csv")]
    existing: Option<String>,
    /// Check against the live instance (taken usernames, unknown userIDs, divisions the API
    /// does not know); needs a target
    #[arg(long)]
    check_instance: bool,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    target: super::target::ConnArgs,
}

/// Where each file's report goes, in order: `out.csv` itself for one file; for several,
/// `out.csv` + `a/users.csv` → `out.users.csv`, and a name already taken (`b/users.csv`, or
/// `users.tsv`) gets a number, `out.users-2.csv`: two files never share a report, nor a page's
/// rows file.
fn report_destinations(report: &Path, files: &[String]) -> Vec<Destination> {
    if files.len() <= 1 {
        return vec![Destination::of(report); files.len()];
    }
    let ext = report
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "csv".into());
    let base = report.with_extension("");
    let mut taken = std::collections::HashSet::new();
    files
        .iter()
        .map(|name| {
            let stem = match Path::new(name).file_stem() {
                Some(s) if name != "-" => s.to_string_lossy().into_owned(),
                _ => "stdin".into(),
            };
            let mut n = 1;
            loop {
                let tag = if n == 1 {
                    stem.clone()
                } else {
                    format!("{stem}-{n}")
                };
                let dest = Destination::of(Path::new(&format!("{}.{tag}.{ext}", base.display())));
                // A page comes with its rows file: neither may be another file's.
                if dest.files().iter().all(|p| !taken.contains(*p)) {
                    taken.extend(dest.files().into_iter().map(Path::to_path_buf));
                    return dest;
                }
                n += 1;
            }
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let read = args.read.options()?;
    // Each file is opened once (stdin can only be read once).
    let sources: Vec<(&String, Result<Source, crate::file::FileError>)> = args
        .files
        .iter()
        .map(|n| (n, Source::from_arg(n)))
        .collect();
    // No report may replace an input (checked before anything is written).
    let destinations = match &args.report {
        Some(report) => report_destinations(report, &args.files),
        None => Vec::new(),
    };
    if args.report.is_some() {
        let outputs: Vec<PathBuf> = sources
            .iter()
            .zip(&destinations)
            .filter(|((_, s), _)| s.is_ok())
            .map(|(_, d)| d.path().to_path_buf())
            .collect();
        let inputs: Vec<&Path> = args
            .files
            .iter()
            .chain(&args.existing)
            .map(Path::new)
            .collect();
        let outputs: Vec<&Path> = outputs.iter().map(PathBuf::as_path).collect();
        crate::file::ensure_outputs_distinct(&inputs, &outputs)?;
    }
    let mut checked = None;
    let instance = if args.check_instance {
        let target = args.target.resolve()?;
        if !args.quiet {
            console::err_line(&format!("target: {}", target.description));
        }
        let rt = super::target::runtime()?;
        let mut inst = rt.block_on(super::instance::fetch_instance(&target.client, args.quiet))?;
        let mut used = std::collections::BTreeSet::new();
        for (_, source) in &sources {
            if let Ok(source) = source {
                used.extend(super::instance::division_ids(source, &read)?);
            }
        }
        rt.block_on(super::instance::check_divisions(
            &target.client,
            &mut inst,
            &used,
        ))?;
        checked = Some(target);
        Some(inst)
    } else {
        match &args.existing {
            Some(path) => Some(super::instance::read_existing(path, args.quiet)?),
            None => None,
        }
    };
    let opts = ValidateOptions::new(read, args.strict);
    let mut summaries = Vec::new();
    let mut reports = Vec::new();
    let mut exit = Exit::Ok;
    // Files that could not be checked, as `--format json` lists them.
    let mut errors = Vec::new();
    for (index, (_, source)) in sources.into_iter().enumerate() {
        let source = match source {
            Ok(s) => s,
            Err(e) => {
                // One unreadable file does not stop the others.
                let e = anyhow::Error::new(e);
                super::print_error(&e);
                errors.push(super::error_json(&e, Exit::CouldNotRun));
                exit = exit.max(Exit::CouldNotRun);
                continue;
            }
        };
        let result = match destinations.get(index) {
            Some(Destination::Page { page, rows }) => {
                let mut sink = HtmlSink::create(page, rows, source.path())
                    .with_context(|| "cannot create the report".to_string())?;
                let r = validate_source(&source, &opts, instance.as_ref(), &mut sink);
                let rows = sink.csv_path().to_path_buf();
                if let Ok(summary) = &r {
                    sink.finish(summary)
                        .with_context(|| "cannot write the report".to_string())?;
                }
                if !args.quiet {
                    console::err_line(&format!(
                        "every row of {}: {}",
                        source.name(),
                        rows.display()
                    ));
                }
                reports.push(Some(page.clone()));
                r
            }
            Some(dest) => {
                let writer = ReportWriter::for_rows(dest, ReportKind::Validate)
                    .with_context(|| "cannot create the report".to_string())?;
                let mut sink = ReportSink { writer };
                let r = validate_source(&source, &opts, instance.as_ref(), &mut sink);
                reports.push(Some(dest.path().to_path_buf()));
                r
            }
            None => {
                reports.push(None);
                validate_source(
                    &source,
                    &opts,
                    instance.as_ref(),
                    &mut crate::validate::NullSink,
                )
            }
        };
        match result {
            Ok(summary) => {
                if !summary.valid {
                    exit = exit.max(Exit::Invalid);
                }
                summaries.push(summary);
            }
            Err(e) => {
                reports.pop();
                let e = anyhow::Error::new(e);
                super::print_error(&e);
                errors.push(super::error_json(&e, Exit::CouldNotRun));
                exit = exit.max(Exit::CouldNotRun);
            }
        }
    }
    let text = match args.format {
        Format::Json => crate::present::json::sorted_json(&ValidateJson::new(
            exit as i32,
            args.strict,
            &summaries,
            &reports,
            &errors,
        ))?,
        Format::Text => render_summaries(&summaries, &reports),
    };
    Output::stdout(&text)?;
    if let Some(sim) = checked.and_then(|t| t.sim) {
        sim.stop()?;
    }
    Ok(exit)
}
