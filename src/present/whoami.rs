//! `qusers whoami` in words: the identity, labelled as Account Settings › Qualtrics IDs labels
//! it (the JSON is the [`Identity`] itself).

use std::fmt::Write as _;

use crate::integration::Identity;

/// The identity as labelled lines: what a partner integration asks for.
pub fn text(id: &Identity, description: &str) -> String {
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
