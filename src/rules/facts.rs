//! What the checks ask of the Qualtrics instance a file is checked against, as a small trait:
//! the rules stay below the instance (which `crate::instance` holds and implements this for),
//! and a test can answer the questions with a table of its own.

/// The facts of one user of the instance that the checks compare a row with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserFacts<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: &'a str,
}

/// The questions the row checks ask about the instance.
pub trait InstanceFacts: Sync {
    /// The user with this userID.
    fn user_by_id(&self, id: &str) -> Option<UserFacts<'_>>;
    /// The user with this username, compared regardless of ASCII case (see
    /// [`user_named`](super::user_named) for the Unicode forms).
    fn user_by_name(&self, name: &str) -> Option<UserFacts<'_>>;
    /// Whether some user of the instance has this user type (`None`: not known).
    fn knows_user_type(&self, id: &str) -> Option<bool>;
    /// Whether some user of the instance is in this division (`None`: not known).
    fn knows_division(&self, id: &str) -> Option<bool>;
    /// The API said this division does not exist.
    fn division_confirmed_missing(&self, id: &str) -> bool;
    /// Every username of the instance (for the SSO brand they show).
    fn usernames(&self) -> Box<dyn Iterator<Item = &str> + '_>;
}
