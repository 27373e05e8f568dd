//! One guard every pager uses: a `nextPage` already followed, page after page that brings no
//! new user, or a listing longer than any brand stops with an error instead of going on for
//! ever. It keeps 8 bytes per page and per user (hashes, not the strings), so memory stays flat
//! next to what the caller keeps of the users themselves.
//!
//! And the plan of a parallel listing: when `nextPage` carries an `offset` that steps by the
//! page size, the pages after it can be asked for at once ([`OffsetChain`]).

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use super::error::{ApiError, ErrorKind};

/// Pages in a row that may bring no new user before the listing is judged a loop. A real
/// listing never repeats users; a few empty pages are tolerated.
pub const MAX_STALE_PAGES: u32 = 5;
/// Pages one listing may take at most (twice 1,000,000 users at 100 a page).
pub const MAX_PAGES: u64 = 20_000;
/// Users one listing may bring at most: more than any Qualtrics brand holds (the bulk file's
/// limit is 100,000 rows). A server that keeps sending fresh pages is stopped here.
pub const MAX_LISTED_USERS: u64 = 1_000_000;

/// A hash of a URL or an id: what the guard remembers of it.
fn key(s: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(s)
}

/// Follows `nextPage` links for one listing.
#[derive(Debug)]
pub struct PageGuard {
    call: String,
    followed: HashSet<u64>,
    pages: u64,
    ids: HashSet<u64>,
    users: u64,
    max_users: u64,
    stale_run: u32,
}

impl PageGuard {
    /// A guard for the listing `call` (e.g. `GET /users`).
    pub fn new(call: &str) -> Self {
        Self::with_max_users(call, MAX_LISTED_USERS)
    }

    /// A guard that stops the listing past `max_users` users.
    pub fn with_max_users(call: &str, max_users: u64) -> Self {
        PageGuard {
            call: call.to_string(),
            followed: HashSet::new(),
            pages: 0,
            ids: HashSet::new(),
            users: 0,
            max_users,
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
        if !self.followed.insert(key(&next)) {
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

    /// Whether any of `ids` was on a page already noted.
    pub fn any_seen<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> bool {
        ids.into_iter().any(|id| self.ids.contains(&key(id)))
    }

    /// Notes the ids on a page: an error after [`MAX_STALE_PAGES`] pages in a row with no
    /// id not seen before, or once the listing has brought more users than any brand holds.
    pub fn users<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) -> Result<(), ApiError> {
        let mut new = false;
        for id in ids {
            self.users += 1;
            if self.ids.insert(key(id)) {
                new = true;
            }
        }
        if self.users > self.max_users {
            return Err(self.error(format!(
                "the server's listing goes on past {} users, more than any Qualtrics brand holds: stopped (the server keeps sending pages; check the base URL, or report it to Qualtrics support)",
                crate::numfmt::count(self.max_users)
            )));
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

/// The `nextPage` chain of an `offset`-paged listing: page `k` (from 0) is the URL of the first
/// `nextPage` with `offset` = `k × step`, every other part the same.
#[derive(Clone, Debug)]
pub struct OffsetChain {
    url: reqwest::Url,
    step: u64,
}

impl OffsetChain {
    /// The chain a first page of `first_len` elements and its `nextPage` show, when that
    /// `nextPage` carries an `offset` equal to the page's length (else `None`: the listing is
    /// followed link by link).
    pub fn new(next: &str, first_len: usize) -> Option<OffsetChain> {
        let url = reqwest::Url::parse(next).ok()?;
        let offsets: Vec<u64> = url
            .query_pairs()
            .filter(|(k, _)| k == "offset")
            .map(|(_, v)| v.parse::<u64>())
            .collect::<Result<_, _>>()
            .ok()?;
        match offsets.as_slice() {
            [step] if *step > 0 && *step == first_len as u64 => {
                Some(OffsetChain { url, step: *step })
            }
            _ => None,
        }
    }

    /// Elements a full page holds.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The URL of page `k`.
    pub fn page(&self, k: u64) -> String {
        let mut url = self.url.clone();
        let pairs: Vec<(String, String)> = self
            .url
            .query_pairs()
            .map(|(a, b)| {
                if a == "offset" {
                    (a.into_owned(), (k * self.step).to_string())
                } else {
                    (a.into_owned(), b.into_owned())
                }
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url.to_string()
    }

    /// Whether `next` (a page's own `nextPage`) is page `k` of the chain: the same URL with
    /// the same query parameters, in any order.
    pub fn is_page(&self, next: &str, k: u64) -> bool {
        let (Ok(a), Ok(b)) = (
            reqwest::Url::parse(next),
            reqwest::Url::parse(&self.page(k)),
        ) else {
            return false;
        };
        let sorted = |u: &reqwest::Url| {
            let mut v: Vec<(String, String)> = u
                .query_pairs()
                .map(|(x, y)| (x.into_owned(), y.into_owned()))
                .collect();
            v.sort();
            v
        };
        a.scheme() == b.scheme()
            && a.host_str() == b.host_str()
            && a.port_or_known_default() == b.port_or_known_default()
            && a.path() == b.path()
            && sorted(&a) == sorted(&b)
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
        assert!(g.any_seen(["UR_9", "UR_2"]));
        assert!(!g.any_seen(["UR_9"]));
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

    #[test]
    fn a_listing_longer_than_any_brand_stops() {
        let mut g = PageGuard::with_max_users("GET /users", 250);
        for page in 0..2 {
            let ids: Vec<String> = (0..100).map(|n| format!("UR_{page}x{n}")).collect();
            g.users(ids.iter().map(String::as_str)).expect("within");
        }
        let ids: Vec<String> = (0..100).map(|n| format!("UR_2x{n}")).collect();
        let e = g.users(ids.iter().map(String::as_str)).expect_err("past");
        assert!(e.message.contains("more than any Qualtrics brand"), "{e}");
    }

    #[test]
    fn offset_chains() {
        let c = OffsetChain::new("https://x.qualtrics.com/API/v3/users?offset=100", 100)
            .expect("chain");
        assert_eq!(c.page(3), "https://x.qualtrics.com/API/v3/users?offset=300");
        assert!(c.is_page("https://x.qualtrics.com/API/v3/users?offset=300", 3));
        assert!(!c.is_page("https://x.qualtrics.com/API/v3/users?offset=301", 3));
        let c = OffsetChain::new("http://h:1/API/v3/users?username=a%2Bb&offset=100", 100)
            .expect("chain");
        assert!(c.is_page("http://h:1/API/v3/users?offset=200&username=a%2Bb", 2));
        assert!(!c.is_page("http://h:1/API/v3/users?offset=200&username=ab", 2));
        // No offset, an offset that is not the page's length, two offsets: link by link.
        assert!(OffsetChain::new("https://x/API/v3/users?skipToken=abc", 100).is_none());
        assert!(OffsetChain::new("https://x/API/v3/users?offset=50", 100).is_none());
        assert!(OffsetChain::new("https://x/API/v3/users?offset=100&offset=100", 100).is_none());
        assert!(OffsetChain::new("https://x/API/v3/users?offset=0", 0).is_none());
    }
}
