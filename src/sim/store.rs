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
    /// Users with the "Access API" permission (brand admins have it anyway).
    #[serde(default)]
    pub api_access: std::collections::BTreeSet<String>,
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
        for name in ["Researcher", "Student", "Participant"] {
            user_types.insert(fake::id(rng, "UT_", 15), name.to_string());
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
            language: Some("EN".into()),
            account_creation_date: Some("2024-01-15T09:00:00Z".into()),
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
                    "20{}-{:02}-28",
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
                language: Some("EN".into()),
                account_creation_date: Some("2025-03-01T12:00:00Z".into()),
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
                    self.api_access.insert(user_id);
                } else {
                    self.api_access.remove(&user_id);
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
        self.api_access.contains(id)
            || self
                .get(id)
                .is_some_and(|u| u.user_type.as_deref() == Some("UT_BRANDADMIN"))
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
