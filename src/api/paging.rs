//! One guard every pager uses: a `nextPage` already followed, or page after page that brings
//! no new user, stops the listing with an error instead of looping for ever.

use std::collections::HashSet;

use super::error::{ApiError, ErrorKind};

/// Pages in a row that may bring no new user before the listing is judged a loop. A real
/// listing never repeats users; a few empty pages are tolerated.
pub const MAX_STALE_PAGES: u32 = 5;
/// Pages one listing may take at most: 1,000,000 users at 100 a page is 10,000 pages.
pub const MAX_PAGES: u64 = 1_000_000;

/// Follows `nextPage` links for one listing.
#[derive(Debug)]
pub struct PageGuard {
    call: String,
    followed: HashSet<String>,
    pages: u64,
    ids: HashSet<String>,
    stale_run: u32,
}

impl PageGuard {
    /// A guard for the listing `call` (e.g. `GET /users`).
    pub fn new(call: &str) -> Self {
        PageGuard {
            call: call.to_string(),
            followed: HashSet::new(),
            pages: 0,
            ids: HashSet::new(),
            stale_run: 0,
        }
    }

    /// The next URL to follow, or `None` at the end: an error when it was followed already
    /// or the listing has gone on past [`MAX_PAGES`].
    pub fn follow(&mut self, next: Option<String>) -> Result<Option<String>, ApiError> {
        self.pages += 1;
        let Some(next) = next.filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if !self.followed.insert(next.clone()) {
            return Err(self.error(format!(
                "the server's nextPage repeats a page already read ({next}) after {} pages: a paging loop; stopped",
                self.pages
            )));
        }
        if self.pages >= MAX_PAGES {
            return Err(self.error(format!(
                "the listing goes on past {MAX_PAGES} pages; stopped"
            )));
        }
        Ok(Some(next))
    }

    /// Notes the ids on a page: an error after [`MAX_STALE_PAGES`] pages in a row with no
    /// id not seen before.
    pub fn users<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) -> Result<(), ApiError> {
        let mut new = false;
        for id in ids {
            if !self.ids.contains(id) {
                self.ids.insert(id.to_string());
                new = true;
            }
        }
        if new {
            self.stale_run = 0;
            return Ok(());
        }
        self.stale_run += 1;
        if self.stale_run > MAX_STALE_PAGES {
            return Err(self.error(format!(
                "{} pages in a row brought no new user: a paging loop; stopped",
                self.stale_run
            )));
        }
        Ok(())
    }

    fn error(&self, message: String) -> ApiError {
        ApiError::new(ErrorKind::Protocol, &self.call, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_url_stops() {
        let mut g = PageGuard::new("GET /users");
        assert_eq!(g.follow(Some("A".into())).expect("new"), Some("A".into()));
        assert_eq!(g.follow(Some("B".into())).expect("new"), Some("B".into()));
        let e = g.follow(Some("A".into())).expect_err("loop");
        assert!(e.message.contains("paging loop"), "{e}");
        assert_eq!(g.follow(None).expect("end"), None);
    }

    #[test]
    fn pages_without_new_users_stop() {
        let mut g = PageGuard::new("GET /users");
        g.users(["UR_1", "UR_2"]).expect("new");
        for _ in 0..MAX_STALE_PAGES {
            g.users(["UR_1"]).expect("tolerated");
        }
        assert!(g.users(["UR_2"]).is_err());
        let mut g = PageGuard::new("GET /users");
        for n in 0..100 {
            let id = format!("UR_{n}");
            g.users([id.as_str()]).expect("always new");
        }
    }
}
