//! Every user of an instance to CSV: the layout an admin edits and imports again. Pages are
//! fetched by one task while this one writes, so that neither waits for the other longer than
//! the next page takes. The list is thin (no expiration dates): by default each exported
//! user's full record is read (`GET /users/{id}`), many at once under the client's rate
//! control, and rows are written in list order as their records arrive.

use std::collections::{HashMap, VecDeque};
use std::io::Write;

use serde::Serialize;

use crate::api::{ApiError, ApiUser, Client, UserFilter};
use crate::file::{COLUMNS, DIVISION_NAME, USER_TYPE_NAME};
use crate::instance::InstanceUser;
use crate::rules::Status;
use crate::vocab::hint::Hint;

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
    /// A division id (`DV_…`), or a division's name (any case), resolved through the
    /// divisions the instance's users are in.
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
            && self.division_id().is_none_or(|d| u.division_id == *d)
    }

    /// The division filter when it is an id.
    fn division_id(&self) -> Option<&String> {
        self.division.as_ref().filter(|d| d.starts_with("DV_"))
    }

    /// The division filter when it is a name.
    fn division_name(&self) -> Option<&String> {
        self.division.as_ref().filter(|d| !d.starts_with("DV_"))
    }
}

/// How to export.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Leave out "Division Name" and "User Type Name": a file `import` takes as it is.
    pub for_update: bool,
    pub filter: ExportFilter,
    /// `--no-details`: write what the user list carries only (one request per 100 users, but
    /// no expiration dates: the column is left empty, and the base snapshot says it is
    /// unknown).
    pub no_details: bool,
    /// `--inactive-since`: only users whose last login (a detail read, `GET /users/{id}`) is
    /// before this day, or who never logged in.
    pub inactive_before: Option<jiff::civil::Date>,
}

/// Whether a `lastLoginDate` (any form the API reader takes, its UTC day) is before `day`;
/// never logged in counts as before.
pub fn login_before(last_login: Option<&str>, day: jiff::civil::Date) -> bool {
    match last_login.map(str::trim).filter(|s| !s.is_empty()) {
        None => true,
        Some(s) => crate::api::read_date(s).is_none_or(|d| d < day),
    }
}

/// What an export did.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportStats {
    pub users_seen: u64,
    pub users_written: u64,
    pub pages: u64,
    /// Full records read (`GET /users/{id}`); 0 with `--no-details`.
    pub details_read: u64,
    /// Whether every written user's full record was read (expiration dates included).
    pub details: bool,
    /// Users listed, then gone (404) before their record was read: not written.
    pub users_gone: u64,
    /// With `--division NAME`: the division ids that carry that name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub division_ids_matched: Vec<String>,
    /// With `--division NAME`: every division users are in, `(id, name)`, to say which id to
    /// use when the name matched none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub divisions_seen: Vec<(String, String)>,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    /// The task reading the pages ended without finishing (it panicked): the users written so
    /// far may be any part of the instance, so the export is not complete.
    #[error("the page reader stopped before the last page: {0}")]
    PagesStopped(String),
}

impl Hint for ExportError {
    fn hint(&self) -> Option<String> {
        match self {
            ExportError::Api(api) => api.hint(),
            ExportError::Write(_) | ExportError::PagesStopped(_) => None,
        }
    }
}

/// What the export writes where the API cannot name a user type.
pub const USER_TYPE_NAME_UNKNOWN: &str =
    "(not in the API: Qualtrics has no endpoint naming user types; see Admin › User Types)";

/// User type names the API cannot be asked for; the well-known one is named, any other gets
/// a note saying why its name is missing, and no type gets nothing.
fn user_type_name(id: &str) -> &'static str {
    match id {
        "" => "",
        "UT_BRANDADMIN" => "Brand Administrator",
        _ => USER_TYPE_NAME_UNKNOWN,
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

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<ApiUser>, ApiError>>(2);
    let fetcher = {
        let client = client.clone();
        // Only the username filter is sent to the server (it may match loosely); everything
        // is checked here.
        let server_filter = UserFilter {
            username: opts.filter.username.clone(),
        };
        // The pages come in order (read ahead in parallel where the server's paging allows);
        // the writer never waits on the network and the network never on the writer.
        tokio::spawn(async move {
            let pages = client
                .users_each(&server_filter, |page| {
                    let tx = tx.clone();
                    async move { tx.send(Ok(page)).await.is_ok() }
                })
                .await;
            if let Err(e) = pages {
                let _ = tx.send(Err(e)).await;
            }
        })
    };

    let mut stats = ExportStats {
        details: !opts.no_details,
        ..ExportStats::default()
    };
    let mut divisions: HashMap<String, String> = HashMap::new();
    // Matched users in list order, each with its detail read under way (spawned, so that reads
    // go on while this task waits for a page or writes).
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let depth = crate::instance::DETAIL_READS_IN_FLIGHT * 2;
    while let Some(page) = rx.recv().await {
        let page = page?;
        stats.pages += 1;
        stats.users_seen += page.len() as u64;
        for api_user in page {
            let u = InstanceUser::from_api(api_user);
            if !opts.filter.matches(&u) {
                continue;
            }
            if let Some(wanted) = opts.filter.division_name() {
                let name = division_name(client, &mut divisions, &u.division_id).await?;
                if !u.division_id.is_empty()
                    && !stats
                        .divisions_seen
                        .iter()
                        .any(|(id, _)| *id == u.division_id)
                {
                    stats
                        .divisions_seen
                        .push((u.division_id.clone(), name.clone()));
                    if name.trim().eq_ignore_ascii_case(wanted.trim()) {
                        stats.division_ids_matched.push(u.division_id.clone());
                    }
                }
                if !name.trim().eq_ignore_ascii_case(wanted.trim()) {
                    continue;
                }
            }
            let detail = match opts.inactive_before {
                // The record read for the login date is the one written.
                Some(day) => {
                    let detail = client.get_user(&u.id).await?;
                    if !login_before(detail.last_login_date.as_deref(), day) {
                        continue;
                    }
                    (!opts.no_details).then(|| tokio::spawn(async move { Ok(detail) }))
                }
                None => (!opts.no_details).then(|| {
                    let client = client.clone();
                    let id = u.id.clone();
                    tokio::spawn(async move { client.get_user(&id).await })
                }),
            };
            queue.push_back(Queued { listed: u, detail });
            while queue.len() >= depth {
                let Some(q) = queue.pop_front() else { break };
                write_user(client, opts, &mut w, &mut divisions, &mut stats, q).await?;
            }
        }
        progress(&stats);
    }
    while let Some(q) = queue.pop_front() {
        write_user(client, opts, &mut w, &mut divisions, &mut stats, q).await?;
    }
    progress(&stats);
    pages_read(fetcher).await?;
    w.flush()?;
    Ok(stats)
}

/// Waits for the page reader. Its channel closes the same way whether it read the last page
/// or panicked half-way, so only its end tells a complete export from a part of one.
async fn pages_read(fetcher: tokio::task::JoinHandle<()>) -> Result<(), ExportError> {
    fetcher
        .await
        .map_err(|e| ExportError::PagesStopped(e.to_string()))
}

/// A user to write: as listed, and its full record being read.
struct Queued {
    listed: InstanceUser,
    detail: Option<tokio::task::JoinHandle<Result<crate::api::ApiUser, ApiError>>>,
}

impl Drop for Queued {
    /// An export that stops (an error, Ctrl-C) sends no more reads for users it will not write.
    fn drop(&mut self) {
        if let Some(read) = &self.detail {
            read.abort();
        }
    }
}

/// Writes one user, from its full record when one is being read.
async fn write_user<W: Write>(
    client: &Client,
    opts: &ExportOptions,
    w: &mut csv::Writer<W>,
    divisions: &mut HashMap<String, String>,
    stats: &mut ExportStats,
    mut q: Queued,
) -> Result<(), ExportError> {
    let u = match q.detail.take() {
        None => std::mem::take(&mut q.listed),
        Some(read) => {
            let read = read.await.map_err(|e| {
                ApiError::new(
                    crate::api::ErrorKind::Protocol,
                    "GET /users/{id}",
                    format!("the detail read stopped: {e}"),
                )
            })?;
            stats.details_read += 1;
            match read {
                Ok(full) => InstanceUser::from_detail(full),
                // Deleted between the list and now: nothing true to write.
                Err(e) if e.kind == crate::api::ErrorKind::NotFound => {
                    stats.users_gone += 1;
                    return Ok(());
                }
                Err(e) => return Err(client.scrub_error(e).into()),
            }
        }
    };
    let mut record: Vec<String> = vec![
        u.id.clone(),
        u.username.clone(),
        u.first_name.clone(),
        u.last_name.clone(),
        u.email.clone(),
        u.division_id.clone(),
        u.account_type.clone(),
        u.status.clone(),
        // Unknown (a thin list without details) is written empty: the summary and the base
        // snapshot say the column was not read.
        u.expiration.clone(),
    ];
    if !opts.for_update {
        let name = division_name(client, divisions, &u.division_id).await?;
        record.insert(6, name);
        record.insert(8, user_type_name(&u.account_type).to_string());
    }
    w.write_record(&record).map_err(csv_io)?;
    stats.users_written += 1;
    Ok(())
}

/// A division's name, asked once per division; one the API does not know gets an empty name.
async fn division_name(
    client: &Client,
    cache: &mut HashMap<String, String>,
    id: &str,
) -> Result<String, ApiError> {
    if id.is_empty() {
        return Ok(String::new());
    }
    if let Some(n) = cache.get(id) {
        return Ok(n.clone());
    }
    let n = client
        .get_division(id)
        .await?
        .map(|d| d.name)
        .unwrap_or_default();
    cache.insert(id.to_string(), n.clone());
    Ok(n)
}

fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_page_reader_that_panics_ends_the_export_as_a_failure() {
        // The reader's channel closes on a panic just as at the last page: without the join,
        // the pages read so far would be written as the whole instance.
        let panicked = tokio::spawn(async { panic!("a page reader fault") });
        let e = pages_read(panicked)
            .await
            .expect_err("a panic is not a finished read");
        assert!(matches!(e, ExportError::PagesStopped(_)));
        assert!(e.to_string().contains("before the last page"), "{e}");
        let finished = tokio::spawn(async {});
        assert!(pages_read(finished).await.is_ok());
    }
}
