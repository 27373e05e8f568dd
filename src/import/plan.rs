//! The plan: each row compared with the instance, field by field. Unchanged rows cost nothing;
//! creates carry the body they will send; updates only the fields that change.

use serde::Serialize;

use std::collections::HashMap;

use super::journal::RowResult;
use super::{InputRow, Outcome};
use crate::api::{NewUser, UserUpdate};
use crate::file::Col;
use crate::instance::Instance;
use crate::rules::{parse_date, parse_status, Action, Code, Problem, Status};
use crate::validate::Verdict;

/// How to build the requests.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Rows with errors are reported `invalid` and the rest imported (else nothing is).
    pub skip_invalid: bool,
    /// `language` of new users.
    pub language: String,
    /// New users get a random password (never stored); `false` for SSO brands.
    pub passwords: bool,
}

/// One field an update changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

/// What will be done with a row.
#[derive(Clone, Debug)]
pub enum Planned {
    /// `POST /users`, then `PUT` of the status when the row asks for a disabled account.
    Create { user: NewUser, disable: bool },
    Update {
        id: String,
        update: UserUpdate,
        changes: Vec<Change>,
    },
    /// Nothing: unchanged, invalid or skipped, with the reason.
    Nothing { outcome: Outcome, message: String },
    /// Done by an earlier, interrupted run (from the journal).
    Carried(RowResult),
}

/// A row and its plan.
#[derive(Clone, Debug)]
pub struct PlannedRow {
    pub input: InputRow,
    pub planned: Planned,
}

impl PlannedRow {
    pub fn user_id(&self) -> &str {
        match &self.planned {
            Planned::Update { id, .. } => id,
            _ => self.input.get(Col::UserId),
        }
    }

    pub fn user_name(&self) -> &str {
        self.input.get(Col::UserName)
    }
}

/// The whole plan.
#[derive(Debug, Default)]
pub struct Plan {
    pub rows: Vec<PlannedRow>,
    /// Rows with errors, when nothing is imported because of them.
    pub blocked_by_invalid: bool,
}

impl Plan {
    pub fn creates(&self) -> usize {
        self.count(|p| matches!(p, Planned::Create { .. }))
    }

    pub fn updates(&self) -> usize {
        self.count(|p| matches!(p, Planned::Update { .. }))
    }

    pub fn count_outcome(&self, outcome: Outcome) -> usize {
        self.count(|p| matches!(p, Planned::Nothing { outcome: o, .. } if *o == outcome))
    }

    fn count(&self, f: impl Fn(&Planned) -> bool) -> usize {
        self.rows.iter().filter(|r| f(&r.planned)).count()
    }
}

/// MM/DD/YYYY → YYYY-MM-DD, as the API wants it.
pub fn iso_date(file_date: &str) -> Option<String> {
    parse_date(file_date).ok().map(|d| d.to_string())
}

fn nothing(outcome: Outcome, message: impl Into<String>) -> Planned {
    Planned::Nothing {
        outcome,
        message: message.into(),
    }
}

/// A strong random password from the OS: letters, digits and a symbol, 24 characters.
fn random_password() -> String {
    use rand::rngs::OsRng;
    use rand::{Rng, TryRngCore};
    const SETS: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"-_.#@+",
    ];
    let mut rng = OsRng.unwrap_err();
    let mut pw: Vec<u8> = (0..24)
        .map(|i| {
            let set = SETS[if i < 4 { i } else { rng.random_range(0..3) }];
            set[rng.random_range(0..set.len())]
        })
        .collect();
    // Shuffle so the guaranteed characters are not always first.
    for i in (1..pw.len()).rev() {
        pw.swap(i, rng.random_range(0..=i));
    }
    String::from_utf8(pw).expect("ASCII")
}

/// Plans every row against the instance. Rows in `carried` (by row number) were finished by an
/// interrupted run and keep that result.
pub fn plan(
    rows: Vec<InputRow>,
    instance: &Instance,
    opts: &PlanOptions,
    mut carried: HashMap<u64, RowResult>,
) -> Plan {
    let any_invalid = rows
        .iter()
        .any(|r| r.verdict == Verdict::Error && !carried.contains_key(&r.row));
    let blocked = any_invalid && !opts.skip_invalid;
    let planned = rows
        .into_iter()
        .map(|input| {
            let planned = match carried.remove(&input.row) {
                Some(result) => Planned::Carried(result),
                None => plan_row(&input, instance, opts, blocked),
            };
            PlannedRow { input, planned }
        })
        .collect();
    Plan {
        rows: planned,
        blocked_by_invalid: blocked,
    }
}

fn plan_row(row: &InputRow, instance: &Instance, opts: &PlanOptions, blocked: bool) -> Planned {
    if row.empty {
        return nothing(Outcome::Skipped, "an empty row");
    }
    if row.verdict == Verdict::Error {
        return nothing(Outcome::Invalid, row.message());
    }
    if blocked {
        return nothing(
            Outcome::Skipped,
            "not imported: other rows are invalid (fix them, or pass --skip-invalid)",
        );
    }
    let get = |c: Col| row.get(c);
    let status = parse_status(get(Col::AccountStatus)).map(|(s, _)| s);
    match row.action {
        Action::Create => {
            let opt = |c: Col| Some(get(c).to_string()).filter(|s| !s.is_empty());
            Planned::Create {
                user: NewUser {
                    username: get(Col::UserName).to_string(),
                    password: opts
                        .passwords
                        .then(|| crate::api::Secret::new(random_password())),
                    first_name: get(Col::FirstName).to_string(),
                    last_name: get(Col::LastName).to_string(),
                    user_type: get(Col::AccountType).to_string(),
                    email: get(Col::Email).to_string(),
                    language: opts.language.clone(),
                    division_id: opt(Col::DivisionId),
                    account_expiration_date: iso_date(get(Col::ExpirationDate)),
                    time_zone: None,
                },
                disable: status == Some(Status::Disabled),
            }
        }
        Action::Update => {
            let id = get(Col::UserId).to_string();
            let Some(current) = instance.by_id(&id) else {
                // Validation with the instance reports I03; without one there is nothing to
                // compare with, so the row cannot be planned.
                return nothing(
                    Outcome::Invalid,
                    Problem::new(
                        Code::UserIdUnknown,
                        format!("no user of the instance has the id {id}"),
                    )
                    .message(),
                );
            };
            let mut update = UserUpdate::default();
            let mut changes = Vec::new();
            let mut change = |field: &'static str, old: &str, new: &str| -> Option<String> {
                // An empty cell leaves the field as it is: the reading that loses nothing.
                if new.is_empty() || old == new {
                    return None;
                }
                changes.push(Change {
                    field,
                    old: old.to_string(),
                    new: new.to_string(),
                });
                Some(new.to_string())
            };
            update.first_name = change("firstName", &current.first_name, get(Col::FirstName));
            update.last_name = change("lastName", &current.last_name, get(Col::LastName));
            update.division_id = change("divisionId", &current.division_id, get(Col::DivisionId));
            update.user_type = change("accountType", &current.account_type, get(Col::AccountType));
            let new_status = status.map(|s| s.as_str()).unwrap_or("");
            update.status = change("accountStatus", &current.status, new_status);
            let same_date = match (
                parse_date(&current.expiration),
                parse_date(get(Col::ExpirationDate)),
            ) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if !same_date {
                update.account_expiration_date = change(
                    "expirationDate",
                    &current.expiration,
                    get(Col::ExpirationDate),
                )
                .and_then(|d| iso_date(&d));
            }
            if changes.is_empty() {
                nothing(Outcome::Unchanged, "nothing to change")
            } else {
                Planned::Update {
                    id,
                    update,
                    changes,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_strong_and_differ() {
        let a = random_password();
        let b = random_password();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().any(|c| c.is_ascii_uppercase()));
        assert!(a.bytes().any(|c| c.is_ascii_lowercase()));
        assert!(a.bytes().any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn a_planned_password_never_shows_in_debug_output() {
        let user = NewUser {
            password: Some(crate::api::Secret::new("hunter2-Secret")),
            ..Default::default()
        };
        assert!(!format!("{user:?}").contains("hunter2"));
        assert!(serde_json::to_string(&user)
            .expect("json")
            .contains("hunter2-Secret"));
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_date("12/31/2027").as_deref(), Some("2027-12-31"));
        assert_eq!(iso_date(""), None);
    }
}
