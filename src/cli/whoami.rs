//! `qusers whoami`: checks the credentials and prints what a partner integration asks for.

use std::fmt::Write as _;

use serde::Serialize;

use super::target::{runtime, TargetArgs};
use super::{Exit, Format, Output};
use crate::api::UserFilter;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// text or json
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    base_url: String,
    datacenter: Option<String>,
    simulator: bool,
    user_id: String,
    user_name: String,
    first_name: String,
    last_name: String,
    brand_id: String,
    account_type: String,
    can_list_users: bool,
    list_users_error: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let target = args.target.resolve()?;
    let client = target.client.clone();
    let rt = runtime()?;
    let (me, listing) = rt.block_on(async {
        let me = client.whoami().await?;
        // The brand-admin check: one page of users.
        let listing = client.users_page(None, &UserFilter::default()).await;
        Ok::<_, crate::api::ApiError>((me, listing))
    })?;
    let id = Identity {
        base_url: client.base().root().to_string(),
        datacenter: client.base().datacenter().map(String::from),
        simulator: target.sim.is_some(),
        user_id: me.user_id,
        user_name: me.user_name,
        first_name: me.first_name,
        last_name: me.last_name,
        brand_id: me.brand_id,
        account_type: me.account_type,
        can_list_users: listing.is_ok(),
        list_users_error: listing.err().map(|e| e.to_string()),
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&id)? + "\n",
        Format::Text => {
            let mut s = String::new();
            let _ = writeln!(s, "target:         {}", target.description);
            let _ = writeln!(s, "base URL:       {}", id.base_url);
            let _ = writeln!(
                s,
                "datacenter:     {}",
                id.datacenter.as_deref().unwrap_or("(not in the host name)")
            );
            let _ = writeln!(s, "user id:        {}", id.user_id);
            let _ = writeln!(s, "username:       {}", id.user_name);
            let _ = writeln!(s, "name:           {} {}", id.first_name, id.last_name);
            let _ = writeln!(s, "brand id:       {}", id.brand_id);
            let _ = writeln!(s, "account type:   {}", id.account_type);
            match &id.list_users_error {
                None => {
                    let _ = writeln!(
                        s,
                        "can list users: yes (brand administrator with API access)"
                    );
                }
                Some(e) => {
                    let _ = writeln!(s, "can list users: no: {e}");
                }
            }
            s.push_str("\nAn integration asks for the datacenter (or base URL), the brand id and the user id above, and the API token.\n");
            s
        }
    };
    Output::stdout(&text)?;
    Ok(Exit::Ok)
}
