//! `qusers whoami`: checks the credentials and prints what a partner integration asks for,
//! labelled as Account Settings › Qualtrics IDs labels it.

use super::target::{runtime, ConnArgs};
use super::{Exit, Format};
use crate::integration::gather;
use crate::present::{self, console};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: ConnArgs,
    /// text or json
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
}

/// The datacenter, as the server reports it and as the host names it.
pub(crate) fn run(args: Args) -> anyhow::Result<Exit> {
    let target = args.target.resolve()?;
    let client = target.client.clone();
    let rt = runtime()?;
    let id = rt.block_on(gather(&client, target.sim.is_some()))?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&id)? + "\n",
        Format::Text => present::whoami::text(&id, &target.description),
    };
    console::out(&text)?;
    if let Some(p) = &id.proxied {
        console::err_line(&format!("error: {}", p.advice));
        return Ok(Exit::Invalid);
    }
    Ok(Exit::Ok)
}
