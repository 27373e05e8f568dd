//! `qusers split`: parts within Qualtrics' limits (or smaller ones), each with the header.

use std::path::PathBuf;

use super::{Exit, Format, Output};
use crate::file::Source;
use crate::present::json::sorted_json;
use crate::present::split::{render_text, SplitJson};
use crate::split::{split, SplitOptions, MAX_PART_BYTES, MAX_PART_ROWS};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to cut (`-` reads stdin)
    #[arg(value_name = "FILE")]
    file: String,
    /// Where the parts go (NAME.part-001.csv, …); created if missing
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// Data rows per part at most (and never more than 99,998)
    #[arg(long, value_name = "N", default_value_t = MAX_PART_ROWS)]
    rows: u64,
    /// Bytes per part at most, header included (and never 20,000,000 or more)
    #[arg(long, value_name = "N", default_value_t = MAX_PART_BYTES)]
    bytes: u64,
    #[command(flatten)]
    read: super::PlainReadArgs,
    /// The summary on stdout: text or one JSON object
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No talk on stderr (split has none: accepted like every command's)
    #[arg(short, long)]
    quiet: bool,
}

pub(super) fn run(args: Args) -> anyhow::Result<Exit> {
    let source = Source::from_arg(&args.file)?;
    let opts = SplitOptions {
        read: args.read.options()?,
        rows: args.rows,
        bytes: args.bytes,
    };
    let parts = split(&source, &args.out_dir, &opts)?;
    let text = match args.format {
        Format::Json => sorted_json(&SplitJson {
            input: &source.name(),
            parts: &parts,
        })?,
        Format::Text => render_text(&source.name(), &parts),
    };
    Output::stdout(&text)?;
    Ok(Exit::Ok)
}
