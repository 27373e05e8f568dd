//! Every user of an instance to CSV: the layout an admin edits and imports again. Pages are
//! fetched by one task while this one writes, so that neither waits for the other longer than
//! the next page takes.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use crate::api::{ApiError, Client, PageGuard, RawUsers, UserFilter};
use crate::file::{COLUMNS, DIVISION_NAME, USER_TYPE_NAME};
use crate::instance::InstanceUser;
use crate::rules::Status;

/// Which users to export; every given filter must match (AND). Text filters are
/// case-insensitive substrings.
#[derive(Clone, Debug, Default)]
pub struct ExportFilter {
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub status: Option<Status>,
    pub account_type: Option<String>,
    pub division: Option<String>,
}

fn contains(haystack: &str, needle: &Option<String>) -> bool {
    needle
        .as_ref()
        .is_none_or(|n| haystack.to_lowercase().contains(&n.to_lowercase()))
}

impl ExportFilter {
    pub fn matches(&self, u: &InstanceUser) -> bool {
        contains(&u.username, &self.username)
            && contains(&u.first_name, &self.first_name)
            && contains(&u.last_name, &self.last_name)
            && contains(&u.email, &self.email)
            && self.status.is_none_or(|s| u.status == s.as_str())
            && self
                .account_type
                .as_ref()
                .is_none_or(|t| u.account_type == *t)
            && self.division.as_ref().is_none_or(|d| u.division_id == *d)
    }
}

/// How to export.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Leave out "Division Name" and "User Type Name": a file `import` takes as it is.
    pub for_update: bool,
    pub filter: ExportFilter,
}

/// What an export did.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportStats {
    pub users_seen: u64,
    pub users_written: u64,
    pub pages: u64,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// User type names the API cannot be asked for; the well-known one is named.
fn user_type_name(id: &str) -> &'static str {
    match id {
        "UT_BRANDADMIN" => "Brand Administrator",
        _ => "",
    }
}

/// Exports to `out`; `progress` sees the stats after every page.
pub async fn export<W: Write>(
    client: &Client,
    opts: &ExportOptions,
    out: W,
    mut progress: impl FnMut(&ExportStats),
) -> Result<ExportStats, ExportError> {
    let mut w = csv::WriterBuilder::new().from_writer(out);
    let mut header: Vec<&str> = COLUMNS.to_vec();
    if !opts.for_update {
        header.insert(6, DIVISION_NAME);
        header.insert(8, USER_TYPE_NAME);
    }
    w.write_record(&header).map_err(csv_io)?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RawUsers, ApiError>>(2);
    let fetcher = {
        let client = client.clone();
        // Only the username filter is sent to the server (it may match loosely); everything
        // is checked here.
        let server_filter = UserFilter {
            username: opts.filter.username.clone(),
        };
        tokio::spawn(async move {
            let mut next: Option<String> = None;
            let mut guard = PageGuard::new("GET /users");
            loop {
                // The page's users are parsed by the writer: the next request goes out first.
                let page = client.users_page_raw(next.as_deref(), &server_filter).await;
                let after = match page {
                    Ok((users, after)) => {
                        if tx.send(Ok(users)).await.is_err() {
                            return;
                        }
                        after
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                match guard.follow(after) {
                    Ok(Some(a)) => next = Some(a),
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(client.scrub_error(e))).await;
                        return;
                    }
                }
            }
        })
    };

    let mut stats = ExportStats::default();
    let mut divisions: HashMap<String, String> = HashMap::new();
    let mut guard = PageGuard::new("GET /users");
    while let Some(page) = rx.recv().await {
        let page = page?.parse()?;
        guard
            .users(page.iter().map(|u| u.id.as_str()))
            .map_err(|e| client.scrub_error(e))?;
        stats.pages += 1;
        stats.users_seen += page.len() as u64;
        for api_user in page {
            let u = InstanceUser::from_api(api_user);
            if !opts.filter.matches(&u) {
                continue;
            }
            let mut record: Vec<String> = vec![
                u.id.clone(),
                u.username.clone(),
                u.first_name.clone(),
                u.last_name.clone(),
                u.email.clone(),
                u.division_id.clone(),
                u.account_type.clone(),
                u.status.clone(),
                u.expiration.clone(),
            ];
            if !opts.for_update {
                let name = if u.division_id.is_empty() {
                    String::new()
                } else if let Some(n) = divisions.get(&u.division_id) {
                    n.clone()
                } else {
                    // Asked once per division; one it does not know gets an empty name.
                    let n = client
                        .get_division(&u.division_id)
                        .await?
                        .map(|d| d.name)
                        .unwrap_or_default();
                    divisions.insert(u.division_id.clone(), n.clone());
                    n
                };
                record.insert(6, name);
                record.insert(8, user_type_name(&u.account_type).to_string());
            }
            w.write_record(&record).map_err(csv_io)?;
            stats.users_written += 1;
        }
        progress(&stats);
    }
    let _ = fetcher.await;
    w.flush()?;
    Ok(stats)
}

fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}
