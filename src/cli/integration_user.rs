//! `qusers integration-user`: the dedicated user a partner platform asks for, with API access
//! and a token written to a private file; prints what to send the partner (never the token).

use std::path::PathBuf;

use super::target::{runtime, ConnArgs};
use super::{Exit, Format};
use crate::integration::{setup, IntegrationOptions};
use crate::present::{self, console};
use crate::vocab::hint::Hint as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The integration user's username, e.g. partner@client.com
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Its email (default: the username)
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// First name for a new user
    #[arg(long, value_name = "NAME", default_value = "Integration")]
    first_name: String,
    /// Last name for a new user
    #[arg(long, value_name = "NAME", default_value = "User")]
    last_name: String,
    /// User type for a new user (a standard type, UT_…)
    #[arg(long, value_name = "UT_…")]
    user_type: Option<String>,
    /// Division for a new user (DV_…)
    #[arg(long, value_name = "DV_…")]
    division: Option<String>,
    /// Write a new token here (created with mode 0600; an existing file is never overwritten)
    #[arg(long, value_name = "PATH", required_unless_present = "dry_run")]
    token_out: Option<PathBuf>,
    /// Replace the user's existing token: every integration using the old one breaks at once
    #[arg(long)]
    regenerate: bool,
    /// Show what would be done; change nothing
    #[arg(long)]
    dry_run: bool,
    /// text or json
    #[arg(long, value_enum, default_value_t)]
    pub(super) format: Format,
    /// No progress or talk on stderr
    #[arg(short, long)]
    quiet: bool,
    /// Go on although the server proxies this host to another datacenter (writes fail there)
    #[arg(long, help_heading = "Target")]
    allow_proxied: bool,
    #[command(flatten)]
    target: ConnArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Exit> {
    let target = args.target.resolve()?;
    if !args.quiet {
        console::err_line(&format!("target: {}", target.description));
    }
    let rt = runtime()?;
    target.check_direct_allowing(args.allow_proxied, &rt)?;
    let opts = IntegrationOptions {
        username: args.username.trim().to_string(),
        email: args.email.clone(),
        first_name: args.first_name.clone(),
        last_name: args.last_name.clone(),
        user_type: args.user_type.clone(),
        division_id: args.division.clone(),
        token_out: args.token_out.clone(),
        regenerate: args.regenerate,
        dry_run: args.dry_run,
    };
    let report = rt.block_on(setup(&target.client, &opts)).map_err(|e| {
        let hint = e.hint();
        let err = anyhow::Error::new(e);
        match hint {
            Some(h) => err.context(format!("integration-user stopped ({h})")),
            None => err,
        }
    })?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Text => present::integration_user::text(&report),
    };
    console::out(&text)?;
    Ok(Exit::Ok)
}
