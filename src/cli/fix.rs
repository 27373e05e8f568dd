//! `qusers fix`: a repaired copy of a user file, and what could not be repaired.

use std::path::{Path, PathBuf};

use super::{write_atomically, Exit, Format, Output};
use crate::file::{Delimiter, ReadOptions, Source};
use crate::fix::{fix, FixOptions};
use crate::present::console;
use crate::present::fix::{render_text, FixJson};
use crate::present::json::sorted_json;
use crate::validate::{validate_source, NullSink, ValidateOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to repair (never changed; `-` reads stdin)
    #[arg(value_name = "FILE")]
    file: String,
    /// Where to write the repaired copy (.tsv or --tsv for tab-separated)
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Write tab-separated
    #[arg(long)]
    tsv: bool,
    /// Start the output with a UTF-8 byte-order mark (some Excel versions want one)
    #[arg(long)]
    bom: bool,
    /// The file's dates are DD/MM/YYYY: convert every one to MM/DD/YYYY (run once)
    #[arg(long)]
    day_first: bool,
    #[command(flatten)]
    read: super::ReadArgs,
    /// The summary on stdout: text or one JSON object
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
}

pub(super) fn run(args: Args) -> anyhow::Result<Exit> {
    crate::file::ensure_outputs_distinct(&[Path::new(&args.file)], &[&args.output])?;
    let source = Source::from_arg(&args.file)?;
    let tsv = args.tsv || Delimiter::for_name(&args.output.to_string_lossy()) == Delimiter::TAB;
    let opts = FixOptions {
        read: args.read.options()?,
        tsv,
        bom: args.bom,
        day_first: args.day_first,
    };
    let report = write_atomically(&args.output, |out| Ok(fix(&source, out, &opts)?))?;

    // What is left: validate the copy (not when it went to stdout, a device or a pipe).
    let in_place = super::writes_in_place(&args.output);
    let check = ValidateOptions::new(
        ReadOptions {
            encoding: None,
            delimiter: Some(if tsv {
                Delimiter::TAB
            } else {
                Delimiter::COMMA
            }),
            sso_brand: opts.read.sso_brand.clone(),
            sheet: None,
            include_hidden: false,
        },
        false,
    );
    // Streamed within a small memory budget: past the row limit the copy is invalid anyway
    // (F07), so duplicates are looked for in the rows a valid file can have.
    let check = ValidateOptions {
        duplicate_rows: Some(crate::file::MAX_ROWS),
        ..check
    };
    let summary = if in_place {
        None
    } else {
        let fixed = Source::from_arg(&args.output.to_string_lossy())?;
        Some(validate_source(&fixed, &check, None, &mut NullSink)?)
    };

    let text = match args.format {
        Format::Json => sorted_json(&FixJson {
            input: &source.name(),
            output: args.output.display().to_string(),
            changes: &report,
            remaining: summary.as_ref(),
        })?,
        Format::Text => render_text(&source.name(), &args.output, &report, summary.as_ref()),
    };
    let on_stdout = ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
        .iter()
        .any(|p| args.output.as_os_str() == *p);
    if on_stdout {
        // The copy is on stdout: the summary goes beside it, on stderr.
        if !args.quiet || args.format == Format::Json {
            console::err(&text);
        }
    } else {
        Output::stdout(&text)?;
    }
    // A copy without every input record is no fixed file, whatever it validates as.
    Ok(
        if report.lost_lines.is_empty() && summary.as_ref().is_none_or(|s| s.valid) {
            Exit::Ok
        } else {
            Exit::Invalid
        },
    )
}
