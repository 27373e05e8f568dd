//! `qusers template`: the blank import template (the header line, nothing else).

use std::io::Write as _;
use std::path::PathBuf;

use super::{Exit, Format, Output};
use crate::file::{Delimiter, COLUMNS};
use crate::present::catalog::{template_written, TemplateJson};
use crate::present::console;
use crate::present::json::sorted_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout (`-` is stdout); a `.tsv` name implies --tsv, an
    /// `.xlsx` name writes a workbook (Text-formatted columns, a status list, the rules)
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Tab-separated instead of comma-separated
    #[arg(long)]
    tsv: bool,
    /// The summary (what was written where): text on stderr, or one JSON object on stdout
    /// (on stderr when the template itself goes to stdout)
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
}

/// The template's header line for a delimiter, with its line break.
pub(super) fn template_line(delimiter: Delimiter) -> String {
    let mut line = COLUMNS.join(&(delimiter.0 as char).to_string());
    line.push('\n');
    line
}

pub(super) fn run(args: Args) -> anyhow::Result<Exit> {
    let to_file = args.output.as_ref().filter(|p| p.as_os_str() != "-");
    let tsv = args.tsv
        || to_file.is_some_and(|p| Delimiter::for_name(&p.to_string_lossy()) == Delimiter::TAB);
    let line = template_line(if tsv {
        Delimiter::TAB
    } else {
        Delimiter::COMMA
    });
    let workbook = match to_file {
        Some(path)
            if crate::file::workbook::writes_workbook(path).map_err(anyhow::Error::msg)? =>
        {
            super::write_atomically(path, |out| crate::file::workbook::template_workbook(out))?;
            true
        }
        Some(path) => {
            super::write_atomically(path, |out| Ok(out.write_all(line.as_bytes())?))?;
            false
        }
        None => {
            Output::stdout(&line)?;
            false
        }
    };
    let output = to_file.map_or("stdout".to_string(), |p| p.display().to_string());
    match args.format {
        Format::Json => {
            let json = sorted_json(&TemplateJson {
                output: &output,
                workbook,
                delimiter: if workbook {
                    None
                } else if tsv {
                    Some("tab")
                } else {
                    Some("comma")
                },
                columns: &COLUMNS,
            })?;
            if to_file.is_some() {
                Output::stdout(&json)?;
            } else {
                console::err(&json);
            }
        }
        Format::Text if to_file.is_some() && !args.quiet => {
            console::err_line(&template_written(&output, workbook))
        }
        Format::Text => {}
    }
    Ok(Exit::Ok)
}
