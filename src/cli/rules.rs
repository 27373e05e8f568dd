//! `qusers rules`: the rule catalog, for people (text) and tools (JSON).

use std::fmt::Write as _;

use super::{Exit, Format, Output};
use crate::rules::RULES;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// text (a table) or json (an array of rules)
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No talk on stderr (rules has none: accepted like every command's)
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(RULES)? + "\n",
        Format::Text => {
            let mut s = String::from("CODE  SEVERITY  FIX  WHAT IT CHECKS\n");
            for r in RULES {
                let _ = writeln!(
                    s,
                    "{:<5} {:<9} {:<4} {}\n{:20}fix: {}",
                    r.id,
                    r.severity.as_str(),
                    if r.fixable { "yes" } else { "" },
                    r.title,
                    "",
                    r.hint
                );
            }
            s.push_str(
                "\nFIX yes: `qusers fix` repairs it. Warnings become errors with --strict.\n",
            );
            s
        }
    };
    Output::stdout(&text)?;
    Ok(Exit::Ok)
}
