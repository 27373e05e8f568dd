//! The simulator's instance: users, divisions, user types, persisted atomically.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::api::ApiUser;
use crate::fake;

/// The brand admin whose token the simulator accepts.
pub const ADMIN_USERNAME: &str = "admin@qusers-sim.example";

/// One write, as the write-ahead log keeps it: a line of JSON appended before the answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum WalEntry {
    /// A user created or replaced whole.
    Put { user: Box<ApiUser> },
    /// A user's API token created (or replaced).
    ApiToken { user_id: String, token: String },
    /// A user's "Access API" permission set.
    AccessApi { user_id: String, on: bool },
    /// A user deleted (`DELETE /users/{id}`).
    Delete { user_id: String },
}

/// A user's "Access API" permission as `GET /users/{id}` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessApiState {
    /// `on`, `off`, or `userType` (inherited from the user type).
    pub state: &'static str,
    /// The effective value.
    pub calculated: bool,
}

/// An XM directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimDirectory {
    pub directory_id: String,
    pub name: String,
    pub contact_count: u64,
    pub is_default: bool,
}

/// Everything the simulated instance holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Store {
    pub brand_id: String,
    pub admin_id: String,
    /// id → name
    pub divisions: BTreeMap<String, String>,
    /// id → name
    pub user_types: BTreeMap<String, String>,
    pub users: Vec<ApiUser>,
    #[serde(default)]
    pub directories: Vec<SimDirectory>,
    /// Group libraries: id (`GR_…`) → name.
    #[serde(default)]
    pub group_libraries: BTreeMap<String, String>,
    /// User id → that user's API token (the server's own record).
    #[serde(default)]
    pub api_tokens: BTreeMap<String, String>,
    /// Users given the "Access API" permission explicitly (`state: "on"`).
    #[serde(default)]
    pub api_access: std::collections::BTreeSet<String>,
    /// Users refused it explicitly (`state: "off"`), whatever their user type gives.
    #[serde(default)]
    pub api_access_off: std::collections::BTreeSet<String>,
    /// User types whose users have API access unless refused (`state: "userType"`); brand
    /// admins always have it.
    #[serde(default)]
    pub api_user_types: std::collections::BTreeSet<String>,
    #[serde(skip)]
    by_id: HashMap<String, usize>,
    #[serde(skip)]
    by_username: HashMap<String, usize>,
}

const DIVISION_NAMES: &[&str] = &[
    "Faculty of Arts",
    "Medical School",
    "School of Engineering",
    "Business School",
    "Central Administration",
];

impl Store {
    /// A fresh instance: the admin, five divisions, three user types and `demo_users` users.
    pub fn new(rng: &mut StdRng, demo_users: usize) -> Store {
        Store::new_for(rng, demo_users, None)
    }

    /// [`Store::new`] on an SSO brand `sso_brand`: its id is the brand id, and every
    /// username ends in `#brand`.
    pub fn new_for(rng: &mut StdRng, demo_users: usize, sso_brand: Option<&str>) -> Store {
        let divisions: BTreeMap<String, String> = DIVISION_NAMES
            .iter()
            .map(|n| (fake::id(rng, "DV_", 15), n.to_string()))
            .collect();
        let mut user_types = BTreeMap::new();
        user_types.insert(
            "UT_BRANDADMIN".to_string(),
            "Brand Administrator".to_string(),
        );
        let mut api_user_types = std::collections::BTreeSet::new();
        for name in ["Researcher", "Student", "Participant"] {
            let id = fake::id(rng, "UT_", 15);
            // As in many brands, researchers inherit API access from their user type.
            if name == "Researcher" {
                api_user_types.insert(id.clone());
            }
            user_types.insert(id, name.to_string());
        }
        let admin_id = fake::id(rng, "UR_", 15);
        let mut store = Store {
            brand_id: sso_brand.unwrap_or("qusers-sim").into(),
            admin_id: admin_id.clone(),
            divisions,
            user_types,
            users: Vec::new(),
            directories: Vec::new(),
            group_libraries: BTreeMap::new(),
            api_tokens: BTreeMap::new(),
            api_access: std::collections::BTreeSet::new(),
            api_access_off: std::collections::BTreeSet::new(),
            api_user_types,
            by_id: HashMap::new(),
            by_username: HashMap::new(),
        };
        let suffix = sso_brand.map(|b| format!("#{b}")).unwrap_or_default();
        store.insert(ApiUser {
            id: admin_id,
            username: format!("{ADMIN_USERNAME}{suffix}"),
            first_name: Some("Sim".into()),
            last_name: Some("Admin".into()),
            email: Some(ADMIN_USERNAME.into()),
            user_type: Some("UT_BRANDADMIN".into()),
            account_status: Some("active".into()),
            language: Some("en".into()),
            account_creation_date: Some("2024-01-15T09:00:00Z".into()),
            last_login_date: Some("2026-11-30T08:12:45Z".into()),
            ..Default::default()
        });
        let divs: Vec<String> = store.divisions.keys().cloned().collect();
        let types: Vec<String> = store
            .user_types
            .keys()
            .filter(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .collect();
        for n in 0..demo_users {
            let p = fake::person(rng, n as u64);
            let id = store.new_user_id(rng);
            let expiration = rng.random_bool(0.2).then(|| {
                format!(
                    "20{}-{:02}-28T00:00:00Z",
                    rng.random_range(27..40),
                    rng.random_range(1..=12)
                )
            });
            store.insert(ApiUser {
                id,
                username: format!("{}{suffix}", p.username),
                first_name: Some(p.first.into()),
                last_name: Some(p.last.into()),
                email: Some(p.email),
                division_id: Some(divs[rng.random_range(0..divs.len())].clone()),
                user_type: Some(types[rng.random_range(0..types.len())].clone()),
                account_status: Some(
                    if rng.random_bool(0.9) {
                        "active"
                    } else {
                        "disabled"
                    }
                    .into(),
                ),
                account_expiration_date: expiration,
                language: Some("en".into()),
                account_creation_date: Some("2025-03-01T12:00:00Z".into()),
                last_login_date: demo_last_login(n),
                ..Default::default()
            });
        }
        // Drawn last: the ids above stay what they were for a seed.
        for (n, name) in [
            "Default Directory",
            "Alumni",
            "Staff Pulse",
            "Student Panel",
            "Research Participants",
            "Customer Contacts",
            "Event Attendees",
        ]
        .iter()
        .enumerate()
        {
            store.directories.push(SimDirectory {
                directory_id: fake::id(rng, "POOL_", 15),
                name: name.to_string(),
                contact_count: 120 * n as u64 + 7,
                is_default: n == 0,
            });
        }
        for name in ["Shared Research Library", "Brand Templates"] {
            store
                .group_libraries
                .insert(fake::id(rng, "GR_", 15), name.to_string());
        }
        store
    }

    /// The simulator's "now" for timestamps it records: whole seconds, UTC, as the API
    /// answers them.
    pub fn now_timestamp() -> String {
        api_timestamp(&jiff::Timestamp::now().to_string()).unwrap_or_default()
    }

    /// Reads a persisted state.
    pub fn load(path: &Path) -> anyhow::Result<Store> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the simulator state {}", path.display()))?;
        let mut store: Store = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a simulator state file (delete it to start afresh)",
                path.display()
            )
        })?;
        store.reindex();
        Ok(store)
    }

    /// Writes the state atomically, synced, never through a planted link ([`crate::fsx`]).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec(self)?;
        crate::fsx::write_bytes(path, &json)
            .with_context(|| "cannot save the simulator state".to_string())?;
        Ok(())
    }

    fn reindex(&mut self) {
        self.by_id = self
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .collect();
        self.by_username = self
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.username.to_lowercase(), i))
            .collect();
    }

    /// A fresh user id: `UR_` and 15 letters or digits.
    pub fn new_user_id(&self, rng: &mut StdRng) -> String {
        loop {
            let id = fake::id(rng, "UR_", 15);
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    pub fn insert(&mut self, user: ApiUser) {
        self.by_id.insert(user.id.clone(), self.users.len());
        self.by_username
            .insert(user.username.to_lowercase(), self.users.len());
        self.users.push(user);
    }

    /// Adds the user, or replaces the one with its id.
    pub fn put(&mut self, user: ApiUser) {
        match self.by_id.get(&user.id).copied() {
            Some(i) => {
                let old = std::mem::replace(&mut self.users[i], user);
                if old.username.to_lowercase() != self.users[i].username.to_lowercase() {
                    self.by_username.remove(&old.username.to_lowercase());
                    self.by_username
                        .insert(self.users[i].username.to_lowercase(), i);
                }
            }
            None => self.insert(user),
        }
    }

    /// Applies one logged write.
    pub fn apply(&mut self, entry: WalEntry) {
        match entry {
            WalEntry::Put { user } => self.put(*user),
            WalEntry::ApiToken { user_id, token } => {
                self.api_tokens.insert(user_id, token);
            }
            WalEntry::AccessApi { user_id, on } => {
                if on {
                    self.api_access_off.remove(&user_id);
                    self.api_access.insert(user_id);
                } else {
                    self.api_access.remove(&user_id);
                    self.api_access_off.insert(user_id);
                }
            }
            WalEntry::Delete { user_id } => {
                if self.by_id.contains_key(&user_id) {
                    self.users.retain(|u| u.id != user_id);
                    self.api_tokens.remove(&user_id);
                    self.api_access.remove(&user_id);
                    self.api_access_off.remove(&user_id);
                    self.reindex();
                }
            }
        }
    }

    /// Replays a write-ahead log: every whole line, in order; a torn last line (a kill in the
    /// middle of its write, never acknowledged) is skipped. Returns the writes applied.
    pub fn replay(&mut self, wal: &Path) -> anyhow::Result<usize> {
        let bytes = match std::fs::read(wal) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the simulator log {}", wal.display()))
            }
        };
        let mut applied = 0;
        for line in bytes.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Ok(entry) = serde_json::from_slice::<WalEntry>(line) {
                self.apply(entry);
                applied += 1;
            }
        }
        Ok(applied)
    }

    pub fn get(&self, id: &str) -> Option<&ApiUser> {
        self.by_id.get(id).map(|&i| &self.users[i])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut ApiUser> {
        self.by_id.get(id).map(|&i| &mut self.users[i])
    }

    /// Case-insensitive.
    pub fn by_username(&self, username: &str) -> Option<&ApiUser> {
        self.by_username
            .get(&username.to_lowercase())
            .map(|&i| &self.users[i])
    }

    /// Whether the user has the "Access API" permission (brand admins always do).
    pub fn has_api_access(&self, id: &str) -> bool {
        self.access_api_state(id).calculated
    }

    /// The user's "Access API" permission: explicit `on`/`off`, else inherited from the user
    /// type (brand admins and the types in `api_user_types` have it).
    pub fn access_api_state(&self, id: &str) -> AccessApiState {
        let brand_admin = self
            .get(id)
            .is_some_and(|u| u.user_type.as_deref() == Some("UT_BRANDADMIN"));
        if self.api_access.contains(id) {
            return AccessApiState {
                state: "on",
                calculated: true,
            };
        }
        if self.api_access_off.contains(id) && !brand_admin {
            return AccessApiState {
                state: "off",
                calculated: false,
            };
        }
        let by_type = brand_admin
            || self
                .get(id)
                .and_then(|u| u.user_type.as_deref())
                .is_some_and(|t| self.api_user_types.contains(t));
        AccessApiState {
            state: "userType",
            calculated: by_type,
        }
    }

    /// The admin user (whose token is the simulator's).
    pub fn admin(&self) -> Option<&ApiUser> {
        self.get(&self.admin_id)
    }

    /// A seeded RNG for a store built from `seed`.
    pub fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }
}

/// A demo user's last login: spread over the 400 days before December 2026, one user in ten
/// never logged in. Derived from the user's number, not drawn: the ids and fields a seed gives
/// stay what they were.
fn demo_last_login(n: usize) -> Option<String> {
    if n % 10 == 9 {
        return None;
    }
    let days = (n as i64 * 7919) % 400;
    let secs = (n as i64 * 104_729) % 86_400;
    let t = jiff::Timestamp::from_second(1_796_083_200 - days * 86_400 + secs).ok()?;
    Some(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// A stored date as the API answers it: a UTC timestamp to the second (`2027-12-31` and
/// `2027-12-31T00:00:00.123+01:00` alike); `None` for what is no date.
pub(crate) fn api_timestamp(s: &str) -> Option<String> {
    let t = match s.parse::<jiff::Timestamp>() {
        Ok(t) => t,
        Err(_) => crate::api::read_date(s)?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp(),
    };
    Some(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_answered_as_whole_second_utc_timestamps() {
        assert_eq!(
            api_timestamp("2027-12-31").as_deref(),
            Some("2027-12-31T00:00:00Z")
        );
        assert_eq!(
            api_timestamp("2027-12-31T01:30:00.25+02:00").as_deref(),
            Some("2027-12-30T23:30:00Z")
        );
        assert_eq!(api_timestamp("soon"), None);
        let now = Store::now_timestamp();
        assert_eq!(now.len(), 20, "{now}");
        assert!(demo_last_login(3).is_some() && demo_last_login(9).is_none());
    }
}
