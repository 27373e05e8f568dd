//! `qusers template`: the blank import template (the header line, nothing else).

use std::io::Write as _;
use std::path::PathBuf;

use super::{Exit, Output};
use crate::file::{Delimiter, COLUMNS};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout (`-` is stdout); a `.tsv` name implies --tsv, an
    /// `.xlsx` name writes a workbook (Text-formatted columns, a status list, the rules)
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Tab-separated instead of comma-separated
    #[arg(long)]
    tsv: bool,
}

/// The template's header line for a delimiter, with its line break.
pub fn template_line(delimiter: Delimiter) -> String {
    let mut line = COLUMNS.join(&(delimiter.0 as char).to_string());
    line.push('\n');
    line
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let to_file = args.output.as_ref().filter(|p| p.as_os_str() != "-");
    let tsv = args.tsv
        || to_file.is_some_and(|p| Delimiter::for_name(&p.to_string_lossy()) == Delimiter::TAB);
    let line = template_line(if tsv {
        Delimiter::TAB
    } else {
        Delimiter::COMMA
    });
    match to_file {
        Some(path)
            if crate::file::workbook::writes_workbook(path).map_err(anyhow::Error::msg)? =>
        {
            super::write_atomically(path, |out| crate::file::workbook::template_workbook(out))?;
            eprintln!("wrote the template workbook to {}", path.display());
        }
        Some(path) => {
            super::write_atomically(path, |out| Ok(out.write_all(line.as_bytes())?))?;
            eprintln!("wrote the template to {}", path.display());
        }
        None => Output::stdout(&line)?,
    }
    Ok(Exit::Ok)
}
