//! How requests are authorised: an API token (`X-API-TOKEN`), or an OAuth client whose
//! access token is fetched with the client-credentials grant, cached in memory, refreshed
//! before it expires, and fetched again once when the server refuses it. Neither the client
//! secret nor an access token is ever shown: `Debug` prints placeholders.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::secret::{ClientSecret, Token};

/// An OAuth client of the brand (Account Settings › Qualtrics IDs › OAuth Client Manager).
#[derive(Clone, Debug)]
pub struct OAuthClient {
    pub client_id: String,
    pub secret: ClientSecret,
    /// Space-separated scopes to ask for; none asks for the client's own.
    pub scope: Option<String>,
}

/// What opens the API.
#[derive(Clone, Debug)]
pub enum Credentials {
    Token(Token),
    OAuth(OAuthClient),
}

impl Credentials {
    /// How to name it to the user.
    pub fn describe(&self) -> String {
        match self {
            Credentials::Token(_) => "API token".into(),
            Credentials::OAuth(c) => format!("OAuth client {}", c.client_id),
        }
    }
}

/// An access token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Bearer {
    pub token: String,
    pub refresh_at: Instant,
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

/// The cache of access tokens: the current one, and every one issued (to scrub them).
#[derive(Default)]
pub(crate) struct BearerCache {
    pub current: Mutex<Option<Bearer>>,
    pub issued: Mutex<Vec<String>>,
    /// One fetch at a time.
    pub fetching: tokio::sync::Mutex<()>,
    pub fetches: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for BearerCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerCache(<redacted>)")
    }
}

impl BearerCache {
    /// The cached token when it is still good.
    pub(crate) fn fresh(&self) -> Option<String> {
        let now = Instant::now();
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|b| b.refresh_at > now)
            .map(|b| b.token.clone())
    }

    pub(crate) fn store(&self, token: String, expires_in: Duration) {
        // Refreshed before it expires: a tenth of its life early, at most a minute.
        let margin = (expires_in / 10).min(Duration::from_secs(60));
        let refresh_at = Instant::now() + expires_in.saturating_sub(margin);
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(token.clone());
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Bearer { token, refresh_at });
    }

    /// Forgets `token` if it is the current one (the server refused it).
    pub(crate) fn invalidate(&self, token: &str) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref().is_some_and(|b| b.token == token) {
            *cur = None;
        }
    }

    pub(crate) fn issued(&self) -> Vec<String> {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The answer of `POST /oauth2/token`.
#[derive(serde::Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenAnswer(<redacted>)")
    }
}

/// Which kind of scope a call needs, for the 403 of an OAuth client.
pub(crate) fn scope_hint(call: &str) -> String {
    let read = call.starts_with("GET ");
    let what = if call.contains("/users") {
        "users"
    } else if call.contains("/directories") {
        "directories"
    } else if call.contains("/libraries") {
        "libraries"
    } else {
        "this resource"
    };
    if read {
        format!("the OAuth client lacks a scope that reads {what} (e.g. read:{what}, or manage:all); choose its scopes in Account Settings › Qualtrics IDs › OAuth Client Manager, or pass --oauth-scope")
    } else {
        format!("the OAuth client lacks a scope that writes {what} (Qualtrics publishes no narrower name than manage:all); choose its scopes in Account Settings › Qualtrics IDs › OAuth Client Manager, or pass --oauth-scope")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_access_tokens_never_show() {
        let c = Credentials::OAuth(OAuthClient {
            client_id: "OC_1".into(),
            secret: ClientSecret::new("sEcReT-123456").expect("ok"),
            scope: None,
        });
        let shown = format!("{c:?} {}", c.describe());
        assert!(!shown.contains("sEcReT"), "{shown}");
        assert!(shown.contains("OC_1"));
        let cache = BearerCache::default();
        cache.store("AccessTok-987654".into(), Duration::from_secs(3600));
        assert!(!format!("{cache:?}").contains("AccessTok"));
        assert_eq!(cache.fresh().as_deref(), Some("AccessTok-987654"));
        cache.invalidate("AccessTok-987654");
        assert_eq!(cache.fresh(), None);
        assert!(ClientSecret::new(" ").is_err());
    }

    #[test]
    fn refreshed_before_expiry() {
        let cache = BearerCache::default();
        cache.store("t".into(), Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.fresh(), None);
    }
}
