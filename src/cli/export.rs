//! `qusers export`: every user (or those matching filters) to an import-ready CSV.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use super::filter::FilterArgs;
use super::target::{runtime, TargetArgs};
use super::{write_atomically, Exit, Format};
use crate::export::{export, ExportOptions};
use crate::present::{self, console};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file (written under a temporary name, renamed when complete); `-` or
    /// nothing is stdout; an `.xlsx` name writes a workbook Excel cannot mangle
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Leave out "Division Name" and "User Type Name": a file to edit and import as it is
    #[arg(long)]
    for_update: bool,
    /// Start the CSV with a UTF-8 byte-order mark: Excel on Windows needs it to read accents
    /// right (or write .xlsx)
    #[arg(long)]
    bom: bool,
    /// Write what the user list carries only: one request per 100 users instead of one more
    /// per user, but the list has no expiration dates, so that column stays empty (the
    /// summary and the base snapshot say so)
    #[arg(long)]
    no_details: bool,
    #[command(flatten)]
    filters: FilterArgs,
    /// Only users who have not logged in for this long (e.g. 365d), or never: one detail read
    /// per selected user
    #[arg(long, value_name = "Nd", value_parser = crate::sync::parse_days)]
    inactive_since: Option<i64>,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
    /// The closing summary as text or json (json goes to stdout with -o FILE, else to stderr)
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    #[command(flatten)]
    target: TargetArgs,
}

impl Args {
    /// The CSV goes to stdout (no `-o FILE`).
    pub(super) fn writes_stdout(&self) -> bool {
        self.output.as_ref().is_none_or(|p| p.as_os_str() == "-")
    }
}

/// Runs `fut` until it ends or Ctrl-C/SIGTERM comes: then [`super::Interrupted`] (exit 130),
/// after which a file being written is removed, never left looking complete.
fn until_signal<T, E: Into<anyhow::Error>>(
    rt: &tokio::runtime::Runtime,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    rt.block_on(async {
        tokio::select! {
            r = fut => r.map_err(Into::into),
            _ = super::target::shutdown_signal() => Err(super::Interrupted.into()),
        }
    })
}

pub(crate) fn run(args: Args) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let target = args.target.resolve()?;
    if !args.quiet {
        console::err_line(&format!("target: {}", target.description));
    }
    let rt = runtime()?;
    target.check_direct(&args.target, &rt)?;
    let opts = ExportOptions {
        for_update: args.for_update,
        filter: args.filters.filter(),
        no_details: args.no_details,
        inactive_before: match args.inactive_since {
            Some(days) => Some(crate::sync::today()? - jiff::Span::new().days(days)),
            None => None,
        },
    };
    let to_file = args.output.clone().filter(|p| p.as_os_str() != "-");
    let bar = if args.quiet || !crate::present::console::stderr_is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            crate::present::progress::style("{spinner} {count} users  {msg}  ({rate})")
                .unwrap_or_else(indicatif::ProgressStyle::default_spinner),
        );
        b
    };
    let progress = |s: &crate::export::ExportStats| {
        bar.set_position(s.users_seen);
        bar.set_message(format!(
            "{} pages, {} details, {} written",
            s.pages, s.details_read, s.users_written
        ));
    };
    let workbook = match &to_file {
        Some(p) => crate::file::workbook::writes_workbook(p).map_err(anyhow::Error::msg)?,
        None => false,
    };
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let stats = match &to_file {
        Some(path) if workbook => write_atomically(path, |out| {
            let mut csv = Vec::new();
            let stats = until_signal(&rt, export(&target.client, &opts, &mut csv, progress))?;
            crate::file::workbook::csv_to_workbook(&csv, out)?;
            Ok(stats)
        })?,
        Some(path) => write_atomically(path, |out| {
            if args.bom {
                out.write_all(BOM)?;
            }
            until_signal(&rt, export(&target.client, &opts, out, progress))
        })?,
        None => {
            let mut out = BufWriter::with_capacity(1 << 16, crate::present::output::stdout());
            if args.bom {
                out.write_all(BOM)?;
            }
            let stats = until_signal(&rt, export(&target.client, &opts, &mut out, progress))?;
            out.flush()?;
            stats
        }
    };
    bar.finish_and_clear();
    if let Some(name) = args
        .filters
        .division
        .as_ref()
        .filter(|d| !d.starts_with("DV_"))
    {
        if let Some(note) = present::export::division_note(name, &stats, args.quiet) {
            console::err_line(&note);
        }
    }
    // The base is read back from the file written: only a regular file has one (not stdout,
    // a device or a FIFO, which cannot be read again).
    if let Some(path) = to_file.as_ref().filter(|p| p.is_file()) {
        write_base(
            path,
            &target.client.base().to_string(),
            stats.details,
            args.quiet,
        )?;
    } else if !args.quiet {
        console::err_line(
            "no base snapshot (the export did not go to a regular file): import compares with the instance only",
        );
    }
    let transient = target.client.transient_stats();
    let summary = present::export::Summary {
        stats: &stats,
        output: to_file
            .as_ref()
            .map_or("stdout".to_string(), |p| p.display().to_string()),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        requests: target.client.request_counts(),
        transient: &transient,
    };
    match args.format {
        // The JSON goes where the data does not: stdout when the users went to a file.
        Format::Json if to_file.is_some() => console::out(&summary.json()?)?,
        Format::Json => console::err(&summary.json()?),
        Format::Text if !args.quiet || transient.asks_for_support() => {
            console::err(&summary.text())
        }
        Format::Text => {}
    }
    if let Some(sim) = target.sim {
        sim.stop()?;
    }
    Ok(Exit::Ok)
}

/// The base snapshot beside the export (`FILE.qusers-base`), read back from the file itself so
/// that it holds exactly the values written: `import` merges three ways with it.
/// Without details (`--no-details`) the expiration dates are marked unknown, not empty.
fn write_base(
    path: &std::path::Path,
    target: &str,
    details: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    use crate::import::base::Base;
    let source = crate::file::Source::Path(path.to_path_buf());
    let instance = crate::instance::Instance::from_export(&source, &Default::default())?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut base = Base::from_instance(&instance, target, name.as_deref().unwrap_or(""));
    if !details {
        base.forget_expirations();
    }
    let base_path = Base::path_for(path);
    base.write(&base_path)?;
    if !quiet {
        console::err_line(&format!("base snapshot: {}", base_path.display()));
    }
    Ok(())
}
