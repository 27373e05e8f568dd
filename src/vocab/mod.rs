//! The ground floor: the words every layer shares and nothing else. The columns of a
//! Qualtrics user file and its limits live here, so that reading a file, checking its rows,
//! planning an import and rendering a report all name a field the same way (a [`Col`], never
//! a string), and no layer has to reach up or sideways for them.
//!
//! Nothing here does work: no I/O, no parsing of files, no requests. A module belongs here only
//! when two rooms above would otherwise each define it or import it from one another.
//!
//! - [`rule`]: the rule catalog ([`Code`](rule::Code), severities, hints) and a [`Problem`](rule::Problem).
//! - [`row`]: where a row is ([`RowRef`](row::RowRef)), what it asks ([`Action`](row::Action)), its
//!   [`Verdict`](row::Verdict).

pub mod row;
pub mod rule;

pub mod hint;

/// The template columns, in the only order Qualtrics accepts.
pub const COLUMNS: [&str; 9] = [
    "userID",
    "userName",
    "firstName",
    "lastName",
    "email",
    "divisionId",
    "accountType",
    "accountStatus",
    "expirationDate",
];

/// The columns an instance export adds (after `divisionId` and `accountType`).
pub const DIVISION_NAME: &str = "Division Name";
pub const USER_TYPE_NAME: &str = "User Type Name";

/// Files of this many bytes or more are refused (Qualtrics says "under 20 MB"; we read MB as
/// 10^6 bytes, the conservative reading).
pub const MAX_BYTES: u64 = 20_000_000;
/// Files of this many rows or more, header included, are refused ("fewer than 100,000 rows").
pub const MAX_ROWS: u64 = 100_000;

/// A template column, indexing [`COLUMNS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Col {
    UserId = 0,
    UserName,
    FirstName,
    LastName,
    Email,
    DivisionId,
    AccountType,
    AccountStatus,
    ExpirationDate,
}

impl Col {
    pub const ALL: [Col; 9] = [
        Col::UserId,
        Col::UserName,
        Col::FirstName,
        Col::LastName,
        Col::Email,
        Col::DivisionId,
        Col::AccountType,
        Col::AccountStatus,
        Col::ExpirationDate,
    ];

    pub fn name(self) -> &'static str {
        COLUMNS[self as usize]
    }
}
pub mod change;
pub mod outcome;
