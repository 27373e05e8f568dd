//! The words of a change to a user: one field's old and new value ([`Change`]), the class a
//! change belongs to ([`ChangeClass`]), and the one counter of rows per class
//! ([`ClassCounts`]) that the terminal plan, the JSON summary, the HTML page and the brake all
//! read, so that they cannot disagree.
//!
//! A row's fields map to classes by [`ChangeClass::of`], the only such mapping:
//!
//! | field                   | class        | terminal, JSON key              | page bar |
//! |-------------------------|--------------|---------------------------------|---|
//! | (a new user)            | `Create`     | creates, `creates`              | New users |
//! | `firstName`, `lastName` | `Name`       | name changes, `nameChanges`     | Name changes |
//! | `accountStatus`         | `Status`     | status changes, `statusChanges` | Status changes |
//! | `accountType`           | `UserType`   | user-type changes, `userType…`  | User type changes |
//! | `divisionId`            | `Division`   | division moves, `divisionMoves` | Division moves |
//! | `expirationDate`        | `Expiration` | expirations, `expirations`      | Expiration dates |
//! | userID, userName, email | none         | —                               | — |
//!
//! An update never changes `userID`, `userName` or `email`: the id is how the user is found,
//! bulk update ignores the username (validation warns, W02), and the plan does not send email.
//! So there is no username class: no count can claim a change no run makes.
//!
//! The brake watches three of these counts, exactly as before the classes were unified: rows
//! that disable an account (a status change to `disabled`, counted apart as `disables`), rows
//! that change the user type (`UserType`) and rows that move a division (`Division`). Creates
//! are never risky (a create that starts disabled is a `Create`, not a disable); name,
//! expiration and other status changes are never risky.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::Col;

/// One field an update changes, with the value it replaces.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    #[serde(serialize_with = "col_name")]
    pub field: Col,
    pub old: String,
    pub new: String,
}

fn col_name<S: Serializer>(col: &Col, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(col.name())
}

impl fmt::Display for Col {
    /// The column's template name (`firstName`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kinds of change a plan counts (a row that changes a name and a status is in both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeClass {
    Create = 0,
    Name,
    Status,
    UserType,
    Division,
    Expiration,
}

impl ChangeClass {
    /// Every class, in display order.
    pub const ALL: [ChangeClass; 6] = [
        ChangeClass::Create,
        ChangeClass::Name,
        ChangeClass::Status,
        ChangeClass::UserType,
        ChangeClass::Division,
        ChangeClass::Expiration,
    ];

    /// The class of a change to `col`; `None` for the fields an update never changes (see
    /// the module doc).
    pub const fn of(col: Col) -> Option<ChangeClass> {
        match col {
            Col::FirstName | Col::LastName => Some(ChangeClass::Name),
            Col::AccountStatus => Some(ChangeClass::Status),
            Col::AccountType => Some(ChangeClass::UserType),
            Col::DivisionId => Some(ChangeClass::Division),
            Col::ExpirationDate => Some(ChangeClass::Expiration),
            Col::UserId | Col::UserName | Col::Email => None,
        }
    }

    /// Plural, as the terminal plan names it.
    pub fn label(self) -> &'static str {
        match self {
            ChangeClass::Create => "creates",
            ChangeClass::Name => "name changes",
            ChangeClass::Status => "status changes",
            ChangeClass::UserType => "user-type changes",
            ChangeClass::Division => "division moves",
            ChangeClass::Expiration => "expirations",
        }
    }

    /// The JSON summary's key.
    pub fn key(self) -> &'static str {
        match self {
            ChangeClass::Create => "creates",
            ChangeClass::Name => "nameChanges",
            ChangeClass::Status => "statusChanges",
            ChangeClass::UserType => "userTypeChanges",
            ChangeClass::Division => "divisionMoves",
            ChangeClass::Expiration => "expirations",
        }
    }
}

/// Rows per [`ChangeClass`], plus the rows that disable an account (a kind of status change
/// the brake and the plan single out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassCounts {
    rows: [usize; ChangeClass::ALL.len()],
    disables: usize,
}

impl ClassCounts {
    /// Counts one more row in `class`.
    pub fn add(&mut self, class: ChangeClass) {
        self.rows[class as usize] += 1;
    }

    /// Counts one more row that disables an account.
    pub fn add_disable(&mut self) {
        self.disables += 1;
    }

    pub fn get(&self, class: ChangeClass) -> usize {
        self.rows[class as usize]
    }

    /// Rows that disable an account (also counted as status changes).
    pub fn disables(&self) -> usize {
        self.disables
    }

    /// Each class with its count, in display order.
    pub fn iter(&self) -> impl Iterator<Item = (ChangeClass, usize)> + '_ {
        ChangeClass::ALL.into_iter().map(|c| (c, self.get(c)))
    }
}

impl Serialize for ClassCounts {
    /// `{"creates": 1, "nameChanges": 2, "statusChanges": 3, "disables": 1, …}`: display
    /// order, `disables` right after the status changes it is part of.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(ChangeClass::ALL.len() + 1))?;
        for (class, n) in self.iter() {
            m.serialize_entry(class.key(), &n)?;
            if class == ChangeClass::Status {
                m.serialize_entry("disables", &self.disables)?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_names_are_name_changes_and_keys_never_change() {
        assert_eq!(ChangeClass::of(Col::FirstName), Some(ChangeClass::Name));
        assert_eq!(ChangeClass::of(Col::LastName), Some(ChangeClass::Name));
        assert_eq!(ChangeClass::of(Col::UserName), None);
        assert_eq!(ChangeClass::of(Col::UserId), None);
        // Every class but Create is some column's class.
        for class in &ChangeClass::ALL[1..] {
            assert!(Col::ALL.iter().any(|&c| ChangeClass::of(c) == Some(*class)));
        }
    }

    #[test]
    fn counts_serialize_in_display_order_with_disables_after_status() {
        let mut c = ClassCounts::default();
        c.add(ChangeClass::Name);
        c.add(ChangeClass::Name);
        c.add(ChangeClass::Status);
        c.add_disable();
        assert_eq!(c.get(ChangeClass::Name), 2);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"creates":0,"nameChanges":2,"statusChanges":1,"disables":1,"userTypeChanges":0,"divisionMoves":0,"expirations":0}"#
        );
    }
}
