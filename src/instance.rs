//! What qusers knows of an instance's users: from an export file (`--existing`) or from the
//! API. Validation uses it for "taken"/"unknown" checks, the importer to plan updates.

use std::collections::{BTreeSet, HashMap, HashSet};

use csv::ByteRecord;

use crate::api::{ApiError, Client, UserFilter};
use crate::file::{
    self, Col, ColumnMap, FileError, Opening, ReadOptions, Record, RecordBuf, Source,
};
use crate::rules::{InstanceFacts, UserFacts};

/// Which of a user's file columns a source actually carried. The API's user list carries eight
/// fields and not the expiration date (which only `GET /users/{id}` gives): a column the source
/// did not carry is unknown, never empty. The default is "every column" (a user built in full).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known(u16);

impl Known {
    /// Every column.
    pub const ALL: Known = Known((1 << Col::ALL.len()) - 1);
    /// What a `GET /users` list element carries: every column but the expiration date.
    pub const LIST: Known = Known(Known::ALL.0 & !(1 << Col::ExpirationDate as u16));

    /// Whether the column was carried.
    pub fn has(self, col: Col) -> bool {
        self.0 & (1 << col as u16) != 0
    }

    /// The same with `col` carried (`true`) or not.
    pub fn with(self, col: Col, known: bool) -> Known {
        if known {
            Known(self.0 | (1 << col as u16))
        } else {
            Known(self.0 & !(1 << col as u16))
        }
    }
}

impl Default for Known {
    fn default() -> Self {
        Known::ALL
    }
}

/// One user of the instance, in file terms (dates as MM/DD/YYYY, status `active`/`disabled`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceUser {
    pub id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub division_id: String,
    pub account_type: String,
    pub status: String,
    /// Empty when the user has none, or when it is not known (see `known`).
    pub expiration: String,
    /// The columns the source carried; the others are unknown, not empty.
    pub known: Known,
    /// `lastLoginDate` as the API gives it (a UTC timestamp), when details were read and the
    /// user ever logged in.
    pub last_login: Option<String>,
    /// Whether this is the full record (`GET /users/{id}`), not a list element.
    pub detailed: bool,
}

impl InstanceUser {
    /// A `GET /users` list element in file terms. The list is thin: its expiration date is
    /// known only when the element carries one (a richer list than the real API's); the other
    /// columns are the eight fields every list element has.
    pub fn from_api(u: crate::api::ApiUser) -> InstanceUser {
        let carried = u.account_expiration_date.is_some();
        let mut user = InstanceUser::from_detail(u);
        user.known = Known::LIST.with(Col::ExpirationDate, carried);
        user.detailed = false;
        user
    }

    /// The full record of `GET /users/{id}`: every column known (no expiration date is none).
    pub fn from_detail(u: crate::api::ApiUser) -> InstanceUser {
        let status = u.account_status.unwrap_or_default();
        let status = crate::rules::parse_status(&status)
            .map(|(s, _)| s.as_str().to_string())
            .unwrap_or(status);
        InstanceUser {
            id: u.id,
            username: u.username,
            first_name: u.first_name.unwrap_or_default(),
            last_name: u.last_name.unwrap_or_default(),
            email: u.email.unwrap_or_default(),
            division_id: u.division_id.unwrap_or_default(),
            account_type: u.user_type.unwrap_or_default(),
            status,
            expiration: u
                .account_expiration_date
                .as_deref()
                .and_then(api_date_to_file)
                .unwrap_or_default(),
            known: Known::ALL,
            last_login: u.last_login_date.filter(|d| !d.is_empty()),
            detailed: true,
        }
    }

    /// The column's value, `None` when the source did not carry it.
    pub fn value(&self, col: Col) -> Option<&str> {
        let v = match col {
            Col::UserId => &self.id,
            Col::UserName => &self.username,
            Col::FirstName => &self.first_name,
            Col::LastName => &self.last_name,
            Col::Email => &self.email,
            Col::DivisionId => &self.division_id,
            Col::AccountType => &self.account_type,
            Col::AccountStatus => &self.status,
            Col::ExpirationDate => &self.expiration,
        };
        self.known.has(col).then_some(v.as_str())
    }
}

/// `2027-12-31`, `2027-12-31T00:00:00Z` or any timestamp form the API may send → `12/31/2027`
/// (its UTC day; see [`crate::api::read_date`]).
pub fn api_date_to_file(s: &str) -> Option<String> {
    crate::api::read_date(s).map(crate::rules::format_file_date)
}

/// The users of an instance, indexed for the checks.
#[derive(Debug, Default)]
pub struct Instance {
    users: Vec<InstanceUser>,
    by_id: HashMap<String, usize>,
    by_username: HashMap<String, usize>,
    divisions: HashSet<String>,
    user_types: HashSet<String>,
    /// Divisions known to exist or not, from `GET /divisions/{id}` (`--check-instance`).
    checked_divisions: HashMap<String, bool>,
}

/// Why an export could not be used as `--existing`.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path} cannot serve as an instance export: {why}")]
    NotAnExport { path: String, why: String },
}

impl Instance {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user; a later user with the same id replaces the earlier one.
    pub fn insert(&mut self, user: InstanceUser) {
        if !user.division_id.is_empty() {
            self.divisions.insert(user.division_id.clone());
        }
        if !user.account_type.is_empty() {
            self.user_types.insert(user.account_type.clone());
        }
        let idx = match self.by_id.get(&user.id) {
            Some(&i) => {
                self.by_username
                    .remove(&self.users[i].username.to_lowercase());
                self.users[i] = user;
                i
            }
            None => {
                self.users.push(user);
                self.by_id.insert(
                    self.users[self.users.len() - 1].id.clone(),
                    self.users.len() - 1,
                );
                self.users.len() - 1
            }
        };
        self.by_username
            .insert(self.users[idx].username.to_lowercase(), idx);
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn users(&self) -> &[InstanceUser] {
        &self.users
    }

    pub fn by_id(&self, id: &str) -> Option<&InstanceUser> {
        self.by_id.get(id).map(|&i| &self.users[i])
    }

    /// Case-insensitive.
    pub fn by_username(&self, username: &str) -> Option<&InstanceUser> {
        self.by_username
            .get(&username.to_lowercase())
            .map(|&i| &self.users[i])
    }

    /// Whether any user is in this division (`None`: no user has a division, so nothing is known).
    pub fn knows_division(&self, id: &str) -> Option<bool> {
        if let Some(&exists) = self.checked_divisions.get(id) {
            return Some(exists);
        }
        (!self.divisions.is_empty()).then(|| self.divisions.contains(id))
    }

    /// Whether the division was confirmed missing by the API.
    pub fn division_confirmed_missing(&self, id: &str) -> bool {
        self.checked_divisions.get(id) == Some(&false)
    }

    /// Records what the API said of a division.
    pub fn set_division_exists(&mut self, id: &str, exists: bool) {
        self.checked_divisions.insert(id.to_string(), exists);
        if exists {
            self.divisions.insert(id.to_string());
        }
    }

    /// Whether any user has this user type (`None`: nothing is known).
    pub fn knows_user_type(&self, id: &str) -> Option<bool> {
        (!self.user_types.is_empty()).then(|| self.user_types.contains(id))
    }

    /// Reads an instance export (template columns, with or without the name columns).
    pub fn from_export(source: &Source, opts: &ReadOptions) -> Result<Instance, InstanceError> {
        let not_export = |why: String| InstanceError::NotAnExport {
            path: source.name(),
            why,
        };
        let opened = match file::open(source, opts)? {
            Opening::Refused { problem, .. } => return Err(not_export(problem.detail)),
            Opening::Ready(o) => o,
        };
        let map = opened.header.map.clone();
        for col in [Col::UserId, Col::UserName] {
            if map.pos[col as usize].is_none() {
                return Err(not_export(format!(
                    "it has no {} column (header: {})",
                    col.name(),
                    opened.header_fields.join(",")
                )));
            }
        }
        let mut instance = Instance::new();
        let mut rec = ByteRecord::new();
        let mut one = RecordBuf::new();
        let mut records = opened.into_records();
        while records
            .read_byte_record(&mut rec)
            .map_err(|e| file::csv_error(source, e))?
        {
            one.clear();
            one.push(&rec, 0);
            instance.insert_record(&map, one.get(0));
        }
        Ok(instance)
    }

    /// The instance as the API lists it.
    pub fn from_api(users: impl IntoIterator<Item = crate::api::ApiUser>) -> Instance {
        let mut instance = Instance::new();
        for u in users {
            instance.insert(InstanceUser::from_api(u));
        }
        instance
    }

    fn insert_record(&mut self, map: &ColumnMap, rec: Record) {
        let get = |c: Col| file::trim(map.field(rec, c)).to_string();
        // A column the export does not have is unknown, not empty.
        let known = Col::ALL
            .iter()
            .fold(Known::ALL, |k, &c| k.with(c, map.pos[c as usize].is_some()));
        let id = get(Col::UserId);
        if id.is_empty() {
            return;
        }
        let status = get(Col::AccountStatus);
        let status = crate::rules::parse_status(&status)
            .map(|(s, _)| s.as_str().to_string())
            .unwrap_or(status);
        self.insert(InstanceUser {
            id,
            username: get(Col::UserName),
            first_name: get(Col::FirstName),
            last_name: get(Col::LastName),
            email: get(Col::Email),
            division_id: get(Col::DivisionId),
            account_type: get(Col::AccountType),
            status,
            expiration: get(Col::ExpirationDate),
            known,
            last_login: None,
            detailed: false,
        });
    }

    /// Replaces a user with its full record (`GET /users/{id}`).
    pub fn set_detail(&mut self, user: crate::api::ApiUser) {
        self.insert(InstanceUser::from_detail(user));
    }
}

impl InstanceUser {
    fn facts(&self) -> UserFacts<'_> {
        UserFacts {
            id: &self.id,
            username: &self.username,
            email: &self.email,
        }
    }
}

/// What the row checks ask of an instance, answered from its users.
impl InstanceFacts for Instance {
    fn user_by_id(&self, id: &str) -> Option<UserFacts<'_>> {
        self.by_id(id).map(InstanceUser::facts)
    }
    fn user_by_name(&self, name: &str) -> Option<UserFacts<'_>> {
        self.by_username(name).map(InstanceUser::facts)
    }
    fn knows_user_type(&self, id: &str) -> Option<bool> {
        Instance::knows_user_type(self, id)
    }
    fn knows_division(&self, id: &str) -> Option<bool> {
        Instance::knows_division(self, id)
    }
    fn division_confirmed_missing(&self, id: &str) -> bool {
        Instance::division_confirmed_missing(self, id)
    }
    fn usernames(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.users.iter().map(|u| u.username.as_str()))
    }
}

/// Every user of the instance from the API, page by page; `on_page` hears how many users each
/// page brought (for a spinner).
pub async fn fetch(client: &Client, mut on_page: impl FnMut(u64)) -> Result<Instance, ApiError> {
    let mut instance = Instance::new();
    client
        .users(&UserFilter::default(), |page| {
            on_page(page.len() as u64);
            for u in page {
                instance.insert(InstanceUser::from_api(u));
            }
        })
        .await?;
    Ok(instance)
}

/// Detail reads in flight at most: the per-token figure quoted for the API. The client's rate
/// controller paces them (and may hold fewer in flight); this only bounds the queue.
pub const DETAIL_READS_IN_FLIGHT: usize = 20;

/// What reading users' full records gave.
#[derive(Debug, Default)]
pub struct Details {
    /// The records read, in no particular order.
    pub users: Vec<crate::api::ApiUser>,
    /// Ids the API no longer knows (404): deleted since they were listed.
    pub gone: Vec<String>,
    /// Ids whose record could not be read after the client's retries, with why.
    pub failed: Vec<(String, ApiError)>,
}

/// Reads the full record (`GET /users/{id}`) of each user in `ids`, in parallel under the
/// client's rate control; `on_read` hears of each read as it ends (for a progress bar). This is
/// how a workflow learns what the thin list does not carry: expiration dates before planning,
/// real prior values for the undo file, `lastLoginDate` for seat planning.
pub async fn read_details(
    client: &Client,
    ids: impl IntoIterator<Item = String>,
    on_read: impl Fn(),
) -> Details {
    use futures_util::StreamExt;
    let mut out = Details::default();
    let mut reads = futures_util::stream::iter(ids)
        .map(|id| async move {
            let r = client.get_user(&id).await;
            (id, r)
        })
        .buffer_unordered(DETAIL_READS_IN_FLIGHT);
    while let Some((id, r)) = reads.next().await {
        on_read();
        match r {
            Ok(u) => out.users.push(u),
            Err(e) if e.kind == crate::api::ErrorKind::NotFound => out.gone.push(id),
            Err(e) => out.failed.push((id, e)),
        }
    }
    out
}

/// [`read_details`] for users of `instance`, whose records replace their list elements; the
/// ids that could not be read are returned (their unknown columns stay unknown).
pub async fn fill_details(
    client: &Client,
    instance: &mut Instance,
    ids: impl IntoIterator<Item = String>,
    on_read: impl Fn(),
) -> Details {
    let mut d = read_details(client, ids, on_read).await;
    for u in std::mem::take(&mut d.users) {
        instance.set_detail(u);
    }
    d
}

/// The division ids a user file uses (one pass, no checks).
pub fn division_ids(source: &Source, opts: &ReadOptions) -> Result<BTreeSet<String>, FileError> {
    let mut ids = BTreeSet::new();
    let opened = match file::open(source, opts)? {
        Opening::Refused { .. } => return Ok(ids),
        Opening::Ready(o) => o,
    };
    let map = opened.header.map.clone();
    let mut records = opened.into_records();
    let mut rec = ByteRecord::new();
    let mut one = RecordBuf::new();
    while records
        .read_byte_record(&mut rec)
        .map_err(|e| file::csv_error(source, e))?
    {
        one.clear();
        one.push(&rec, 0);
        let d = file::trim(map.field(one.get(0), Col::DivisionId));
        if crate::rules::is_division_id(d) {
            ids.insert(d.to_string());
        }
    }
    Ok(ids)
}

/// Asks the API once for each division in `used` that no user of the instance is in, and
/// records the answers (a 404 makes rows using it fail A08).
pub async fn check_divisions(
    client: &Client,
    instance: &mut Instance,
    used: &BTreeSet<String>,
) -> Result<(), ApiError> {
    for id in used {
        if instance.knows_division(id) == Some(true) {
            continue;
        }
        let found = client.get_division(id).await?;
        instance.set_division_exists(id, found.is_some());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(expiration: Option<&str>) -> crate::api::ApiUser {
        crate::api::ApiUser {
            id: "UR_aaaaaaaaaaa".into(),
            username: "ann@x.org".into(),
            account_status: Some("active".into()),
            account_expiration_date: expiration.map(String::from),
            last_login_date: Some("2026-11-02T08:00:00Z".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_thin_list_element_leaves_the_expiration_date_unknown_and_a_record_knows_it() {
        let listed = InstanceUser::from_api(api(None));
        assert_eq!(
            listed.value(Col::ExpirationDate),
            None,
            "unknown, not empty"
        );
        assert_eq!(listed.value(Col::AccountStatus), Some("active"));
        assert!(!listed.detailed);
        let full = InstanceUser::from_detail(api(None));
        assert_eq!(
            full.value(Col::ExpirationDate),
            Some(""),
            "known to be none"
        );
        assert_eq!(full.last_login.as_deref(), Some("2026-11-02T08:00:00Z"));
        // A richer list that carries the date: known.
        let rich = InstanceUser::from_api(api(Some("2027-12-31T00:00:00Z")));
        assert_eq!(rich.value(Col::ExpirationDate), Some("12/31/2027"));
    }

    #[test]
    fn an_export_without_a_column_leaves_it_unknown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("existing.csv");
        std::fs::write(
            &path,
            "userID,userName,firstName\nUR_aaaaaaaaaaa,ann@x.org,Ann\n",
        )
        .expect("write");
        let inst =
            Instance::from_export(&Source::Path(path), &ReadOptions::default()).expect("an export");
        let u = inst.by_id("UR_aaaaaaaaaaa").expect("user");
        assert_eq!(u.value(Col::FirstName), Some("Ann"));
        assert_eq!(u.value(Col::ExpirationDate), None);
        assert_eq!(u.value(Col::AccountStatus), None);
    }
}
