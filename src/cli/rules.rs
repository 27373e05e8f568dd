//! `qusers rules`: the rule catalog, for people (text) and tools (JSON).

use super::{Exit, Format, Output};
use crate::present::catalog::{rules_json, rules_text};
use crate::vocab::rule::RULES;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// text (a table) or json (an array of rules)
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No talk on stderr (rules has none: accepted like every command's)
    #[arg(short, long)]
    quiet: bool,
}

pub(super) fn run(args: Args) -> anyhow::Result<Exit> {
    let text = match args.format {
        Format::Json => rules_json(RULES)?,
        Format::Text => rules_text(RULES),
    };
    Output::stdout(&text)?;
    Ok(Exit::Ok)
}
