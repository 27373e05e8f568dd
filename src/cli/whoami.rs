//! `qusers whoami`: checks the credentials and prints what a partner integration asks for,
//! labelled as Account Settings › Qualtrics IDs labels it.

use std::fmt::Write as _;

use serde::Serialize;

use super::target::{runtime, ConnArgs};
use super::{Exit, Format, Output};
use crate::api::{datacenter_of_host, proxied_advice, Client, UserFilter};

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
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Datacenter {
    /// What `GET /whoami` reports.
    reported: Option<String>,
    /// What the base URL's host names.
    in_host: Option<String>,
    /// The server answered directly (no proxy notice) and, where both are known, they agree.
    verified: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Proxied {
    use_host: String,
    flag: String,
    advice: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdName {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_default: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    base_url: String,
    datacenter: Datacenter,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxied: Option<Proxied>,
    simulator: bool,
    credentials: String,
    user_id: String,
    username: String,
    first_name: String,
    last_name: String,
    brand_id: String,
    account_type: String,
    /// The personal library's id is the user's own id.
    personal_library_id: String,
    group_library_ids: Vec<IdName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    libraries_error: Option<String>,
    directory_ids: Vec<IdName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    directories_error: Option<String>,
    can_use_api: bool,
    can_manage_users: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    manage_users_error: Option<String>,
}

async fn gather(client: &Client, simulator: bool) -> Result<Identity, crate::api::ApiError> {
    let me = client.whoami().await?;
    // The brand-admin check: one page of users.
    let listing = client.users_page(None, &UserFilter::default()).await;
    let libraries = client.libraries().await;
    let directories = client.directories().await;
    let reported = Some(me.datacenter.trim().to_ascii_lowercase()).filter(|d| !d.is_empty());
    let in_host = client.base().datacenter().map(String::from);
    let proxied = client.proxied_host().map(|host| {
        let flag = match datacenter_of_host(&host) {
            Some(dc) => format!("--datacenter {dc}"),
            None => format!("--base-url https://{host}"),
        };
        Proxied {
            advice: proxied_advice(client.base().host(), &host),
            use_host: host,
            flag,
        }
    });
    let verified = proxied.is_none()
        && match (&reported, &in_host) {
            (Some(r), Some(h)) => r == h,
            _ => true,
        };
    let (group_library_ids, libraries_error) = match libraries {
        Ok(libs) => (
            libs.into_iter()
                .filter(|l| l.library_id.starts_with("GR_"))
                .map(|l| IdName {
                    id: l.library_id,
                    name: l.library_name,
                    is_default: None,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let (directory_ids, directories_error) = match directories {
        Ok(dirs) => (
            dirs.into_iter()
                .map(|d| IdName {
                    id: d.directory_id,
                    name: d.name,
                    is_default: d.is_default,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Ok(Identity {
        base_url: client.base().root().to_string(),
        datacenter: Datacenter {
            reported,
            in_host,
            verified,
        },
        proxied,
        simulator,
        credentials: client.credentials().describe(),
        personal_library_id: me.user_id.clone(),
        user_id: me.user_id,
        username: me.user_name,
        first_name: me.first_name,
        last_name: me.last_name,
        brand_id: me.brand_id,
        account_type: me.account_type,
        group_library_ids,
        libraries_error,
        directory_ids,
        directories_error,
        can_use_api: true,
        can_manage_users: listing.is_ok(),
        manage_users_error: listing.err().map(|e| e.to_string()),
    })
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let target = args.target.resolve()?;
    let client = target.client.clone();
    let rt = runtime()?;
    let id = rt.block_on(gather(&client, target.sim.is_some()))?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&id)? + "\n",
        Format::Text => render(&id, &target.description),
    };
    Output::stdout(&text)?;
    if let Some(p) = &id.proxied {
        eprintln!("error: {}", p.advice);
        return Ok(Exit::Invalid);
    }
    Ok(Exit::Ok)
}

fn render(id: &Identity, description: &str) -> String {
    let mut s = String::new();
    let line = |s: &mut String, label: &str, value: &str| {
        let _ = writeln!(s, "{label:<24}{value}");
    };
    line(&mut s, "Target", description);
    line(&mut s, "Base URL", &id.base_url);
    let dc = &id.datacenter;
    let dc_text = match (&dc.reported, &dc.in_host, &id.proxied) {
        (_, _, Some(p)) => format!(
            "{} — NOT this host: requests are proxied; use {} ({})",
            dc.reported.as_deref().unwrap_or("?"),
            p.use_host,
            p.flag
        ),
        (Some(r), Some(h), None) if r != h => {
            format!("{r} (reported by the server; the host names {h})")
        }
        (Some(r), _, None) => format!("{r} (verified: the server answered directly)"),
        (None, Some(h), None) => format!("{h} (from the host; the server reported none)"),
        (None, None, None) => "(not reported)".to_string(),
    };
    line(&mut s, "Datacenter ID", &dc_text);
    line(&mut s, "User ID", &id.user_id);
    line(&mut s, "Username", &id.username);
    line(
        &mut s,
        "Name",
        format!("{} {}", id.first_name, id.last_name).trim(),
    );
    line(&mut s, "Brand ID", &id.brand_id);
    line(&mut s, "Account type", &id.account_type);
    line(
        &mut s,
        "Library ID (personal)",
        &format!("{} (the user's own id)", id.personal_library_id),
    );
    match &id.libraries_error {
        Some(e) => line(
            &mut s,
            "Library IDs (group)",
            &format!("(not available: {e})"),
        ),
        None if id.group_library_ids.is_empty() => line(&mut s, "Library IDs (group)", "(none)"),
        None => {
            for (n, l) in id.group_library_ids.iter().enumerate() {
                let label = if n == 0 { "Library IDs (group)" } else { "" };
                line(&mut s, label, &format!("{}  {}", l.id, l.name));
            }
        }
    }
    match &id.directories_error {
        Some(e) => line(&mut s, "Directory ID", &format!("(not available: {e})")),
        None if id.directory_ids.is_empty() => line(&mut s, "Directory ID", "(none)"),
        None => {
            for (n, d) in id.directory_ids.iter().enumerate() {
                let label = if n == 0 { "Directory ID" } else { "" };
                let default = if d.is_default == Some(true) {
                    "  (default)"
                } else {
                    ""
                };
                line(&mut s, label, &format!("{}  {}{default}", d.id, d.name));
            }
        }
    }
    line(&mut s, "Credentials", &id.credentials);
    line(
        &mut s,
        "Can use the API",
        if id.can_use_api { "yes" } else { "no" },
    );
    match &id.manage_users_error {
        None => line(
            &mut s,
            "Can manage users",
            "yes (brand administrator with API access)",
        ),
        Some(e) => line(&mut s, "Can manage users", &format!("no: {e}")),
    }
    s.push_str("\nA partner integration asks for the base URL (or datacenter), the user id, the Library ID, the Directory ID and the API token.\n");
    s
}
