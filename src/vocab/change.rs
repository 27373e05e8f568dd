//! The words of a change to a user: one field's old and new value ([`Change`]), the class a
//! change belongs to ([`ChangeClass`]), and the one counter of rows per class
//! ([`ClassCounts`]) that the terminal plan, the JSON summary, the HTML page and the brake all
//! read, so that they cannot disagree. The words for each class (the table below) are the
//! presentation layer's: `present::import` for the terminal and JSON, `present::html` for
//! the page.
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

use super::Col;

/// One field an update changes, with the value it replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub field: Col,
    pub old: String,
    pub new: String,
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
    fn counts_are_kept_per_class_in_display_order() {
        let mut c = ClassCounts::default();
        c.add(ChangeClass::Name);
        c.add(ChangeClass::Name);
        c.add(ChangeClass::Status);
        c.add_disable();
        let seen: Vec<(ChangeClass, usize)> = c.iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(seen, [(ChangeClass::Name, 2), (ChangeClass::Status, 1)]);
        assert_eq!(c.disables(), 1);
        assert_eq!(c.iter().count(), ChangeClass::ALL.len());
    }
}
