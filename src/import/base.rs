//! The base snapshot `qusers export` leaves beside its file (`FILE.qusers-base`): every
//! exported user's values at the time of the export, the instance they came from and when.
//! `import` merges three ways with it — base (at export), file (edited), live (now) — so that
//! a stale export never reverts what changed in Qualtrics since.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::instance::{Instance, InstanceUser};

/// What the snapshot file says it is (refused when it says something else).
const KIND: &str = "qusers-base";
const VERSION: u32 = 1;

/// One exported user, in file terms (dates MM/DD/YYYY, status `active`/`disabled`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BaseUser {
    #[serde(rename = "userID")]
    pub id: String,
    #[serde(rename = "userName")]
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub division_id: String,
    pub account_type: String,
    #[serde(rename = "accountStatus")]
    pub status: String,
    /// `None`: not known at the export (`--no-details`: the user list does not carry it), so
    /// never taken for "was empty".
    #[serde(rename = "expirationDate", skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
}

impl BaseUser {
    /// The value the export wrote for a column; `None` when it was not known.
    pub fn value(&self, col: crate::file::Col) -> Option<&str> {
        use crate::file::Col;
        Some(match col {
            Col::UserId => &self.id,
            Col::UserName => &self.username,
            Col::FirstName => &self.first_name,
            Col::LastName => &self.last_name,
            Col::Email => &self.email,
            Col::DivisionId => &self.division_id,
            Col::AccountType => &self.account_type,
            Col::AccountStatus => &self.status,
            Col::ExpirationDate => return self.expiration.as_deref(),
        })
    }
}

impl From<&InstanceUser> for BaseUser {
    fn from(u: &InstanceUser) -> Self {
        BaseUser {
            id: u.id.clone(),
            username: u.username.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone(),
            division_id: u.division_id.clone(),
            account_type: u.account_type.clone(),
            status: u.status.clone(),
            expiration: u
                .value(crate::file::Col::ExpirationDate)
                .map(str::to_string),
        }
    }
}

/// The snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Base {
    pub kind: String,
    pub version: u32,
    /// The API base URL the export read (never the token).
    pub target: String,
    /// When the export was taken (RFC 3339, UTC).
    pub exported_at: String,
    /// The export's file name, for people reading the snapshot.
    pub file: String,
    /// Whether the export read every user's full record; `false` after `--no-details`, when
    /// the expiration dates are unknown (older snapshots: `true`).
    #[serde(default = "yes")]
    pub details: bool,
    /// userID → the values the export wrote.
    pub users: BTreeMap<String, BaseUser>,
}

fn yes() -> bool {
    true
}

/// Why a snapshot could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error("cannot read the base snapshot {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the base snapshot {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a qusers base snapshot ({why}); export again, or move it out of the \
         way (and leave --base out) to compare with the instance only"
    )]
    Invalid { path: String, why: String },
}

impl Base {
    /// A snapshot of every user of `instance` (an export read back).
    pub fn from_instance(instance: &Instance, target: &str, file: &str) -> Base {
        Base {
            kind: KIND.into(),
            version: VERSION,
            target: target.to_string(),
            exported_at: jiff::Timestamp::now().to_string(),
            file: file.to_string(),
            details: true,
            users: instance
                .users()
                .iter()
                .map(|u| (u.id.clone(), BaseUser::from(u)))
                .collect(),
        }
    }

    /// Marks every expiration date unknown (an export without details wrote the column empty,
    /// which must not read as "no expiration date" in a merge).
    pub fn forget_expirations(&mut self) {
        self.details = false;
        for u in self.users.values_mut() {
            u.expiration = None;
        }
    }

    /// `users.csv` → `users.csv.qusers-base`, beside it.
    pub fn path_for(file: &Path) -> PathBuf {
        let mut s = file.as_os_str().to_os_string();
        s.push(".qusers-base");
        PathBuf::from(s)
    }

    /// The user as the export wrote it.
    pub fn user(&self, id: &str) -> Option<&BaseUser> {
        self.users.get(id)
    }

    /// Reads a snapshot.
    pub fn read(path: &Path) -> Result<Base, BaseError> {
        let bytes = std::fs::read(path).map_err(|source| BaseError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let invalid = |why: String| BaseError::Invalid {
            path: path.display().to_string(),
            why,
        };
        let base: Base = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if base.kind != KIND {
            return Err(invalid(format!("its kind is {:?}", base.kind)));
        }
        if base.version != VERSION {
            return Err(invalid(format!(
                "version {} (this qusers reads version {VERSION})",
                base.version
            )));
        }
        Ok(base)
    }

    /// Writes the snapshot atomically (a temporary file renamed into place).
    pub fn write(&self, path: &Path) -> Result<(), BaseError> {
        let err = |source| BaseError::Write {
            path: path.display().to_string(),
            source,
        };
        crate::fsx::write_atomic(path, |f| {
            serde_json::to_writer(&mut *f, self).map_err(std::io::Error::other)?;
            f.write_all(b"\n")
        })
        .map_err(err)
    }

    /// The snapshot for an import: `explicit` (`--base`, which must exist) or the one beside
    /// `file`, if any.
    pub fn find(
        file: Option<&Path>,
        explicit: Option<&Path>,
    ) -> Result<Option<(PathBuf, Base)>, BaseError> {
        if let Some(path) = explicit {
            return Base::read(path).map(|b| Some((path.to_path_buf(), b)));
        }
        let Some(file) = file else {
            return Ok(None);
        };
        let path = Base::path_for(file);
        if !path.exists() {
            return Ok(None);
        }
        Base::read(&path).map(|b| Some((path, b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, first: &str) -> InstanceUser {
        InstanceUser {
            id: id.into(),
            username: format!("{id}@x.org"),
            first_name: first.into(),
            status: "active".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_snapshot_round_trips_and_is_found_beside_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("users.csv");
        std::fs::write(&file, "x").expect("write");
        let mut inst = Instance::new();
        inst.insert(user("UR_aaaaaaaaaaa", "Ann"));
        inst.insert(user("UR_bbbbbbbbbbb", "Bo"));
        let base = Base::from_instance(&inst, "http://127.0.0.1:1", "users.csv");
        base.write(&Base::path_for(&file)).expect("write base");
        let (path, found) = Base::find(Some(&file), None)
            .expect("reads")
            .expect("found");
        assert_eq!(path, dir.path().join("users.csv.qusers-base"));
        assert_eq!(found.users.len(), 2);
        assert_eq!(
            found.user("UR_aaaaaaaaaaa").map(|u| u.first_name.as_str()),
            Some("Ann")
        );
        assert_eq!(found.target, "http://127.0.0.1:1");
    }

    #[test]
    fn no_snapshot_is_none_and_a_missing_explicit_one_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("users.csv");
        assert!(Base::find(Some(&file), None).expect("ok").is_none());
        let missing = dir.path().join("nope.qusers-base");
        assert!(Base::find(Some(&file), Some(&missing)).is_err());
    }

    #[test]
    fn a_foreign_json_file_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.qusers-base");
        std::fs::write(
            &path,
            r#"{"kind":"other","version":1,"target":"","exportedAt":"","file":"","users":{}}"#,
        )
        .expect("write");
        let e = Base::read(&path).expect_err("refused").to_string();
        assert!(e.contains("not a qusers base snapshot"), "{e}");
        assert!(e.contains("export again"), "{e}");
    }
}
