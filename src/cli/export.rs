//! `qusers export`: every user (or those matching filters) to an import-ready CSV.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use super::target::{runtime, TargetArgs};
use super::{write_atomically, Exit};
use crate::export::{export, ExportFilter, ExportOptions};
use crate::rules::Status;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum StatusArg {
    Active,
    Disabled,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file (written under a temporary name, renamed when complete); `-` or
    /// nothing is stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Leave out "Division Name" and "User Type Name": a file to edit and import as it is
    #[arg(long)]
    for_update: bool,
    /// Only usernames containing this (any case)
    #[arg(long, value_name = "S")]
    username: Option<String>,
    /// Only first names containing this (any case)
    #[arg(long, value_name = "S")]
    first_name: Option<String>,
    /// Only last names containing this (any case)
    #[arg(long, value_name = "S")]
    last_name: Option<String>,
    /// Only emails containing this (any case)
    #[arg(long, value_name = "S")]
    email: Option<String>,
    /// Only users with this account status
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
    /// Only users of this user type (UT_…)
    #[arg(long, value_name = "UT_…")]
    account_type: Option<String>,
    /// Only users of this division (DV_…)
    #[arg(long, value_name = "DV_…")]
    division: Option<String>,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let target = args.target.resolve()?;
    if !args.quiet {
        eprintln!("target: {}", target.description);
    }
    let opts = ExportOptions {
        for_update: args.for_update,
        filter: ExportFilter {
            username: args.username.clone(),
            first_name: args.first_name.clone(),
            last_name: args.last_name.clone(),
            email: args.email.clone(),
            status: args.status.map(|s| match s {
                StatusArg::Active => Status::Active,
                StatusArg::Disabled => Status::Disabled,
            }),
            account_type: args.account_type.clone(),
            division: args.division.clone(),
        },
    };
    let to_file = args.output.clone().filter(|p| p.as_os_str() != "-");
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} users  {msg}  ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    };
    let progress = |s: &crate::export::ExportStats| {
        bar.set_position(s.users_seen);
        bar.set_message(format!("{} pages, {} written", s.pages, s.users_written));
    };
    let rt = runtime()?;
    let stats = match &to_file {
        Some(path) => write_atomically(path, |out| {
            Ok(rt.block_on(export(&target.client, &opts, out, progress))?)
        })?,
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
            let stats = rt.block_on(export(&target.client, &opts, &mut out, progress))?;
            out.flush()?;
            stats
        }
    };
    bar.finish_and_clear();
    if let Some(path) = &to_file {
        write_base(path, &target.client.base().to_string(), args.quiet)?;
    } else if !args.quiet {
        eprintln!(
            "no base snapshot (the export went to stdout): import compares with the instance only"
        );
    }
    if !args.quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "exported {} of {} users ({} pages) in {secs:.1} s to {}",
            stats.users_written,
            stats.users_seen,
            stats.pages,
            to_file
                .as_ref()
                .map_or("stdout".to_string(), |p| p.display().to_string())
        );
    }
    if let Some(sim) = target.sim {
        sim.stop()?;
    }
    Ok(Exit::Ok)
}

/// The base snapshot beside the export (`FILE.qusers-base`), read back from the file itself so
/// that it holds exactly the values written: `import` merges three ways with it.
fn write_base(path: &std::path::Path, target: &str, quiet: bool) -> anyhow::Result<()> {
    use crate::import::base::Base;
    let source = crate::file::Source::Path(path.to_path_buf());
    let instance = crate::instance::Instance::from_export(&source, &Default::default())?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let base = Base::from_instance(&instance, target, name.as_deref().unwrap_or(""));
    let base_path = Base::path_for(path);
    base.write(&base_path)?;
    if !quiet {
        eprintln!("base snapshot: {}", base_path.display());
    }
    Ok(())
}
