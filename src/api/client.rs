//! The one request path: auth header, envelope parsing, error classification, retries with
//! full-jitter backoff, pacing by the shared rate controller.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::auth::{scope_hint, BearerCache, Credentials, OAuthClient, TokenAnswer};
use super::endpoint::{datacenter_of_host, BaseUrl};
use super::error::{ApiError, ErrorKind};
use super::paging::{OffsetChain, PageGuard, MAX_LISTED_USERS};
use super::rate::{RateController, Signal, DEFAULT_MAX_RPS};
use super::secret::Token;
use super::stats::{RequestCounters, RequestCounts, TransientStats};
use super::types::{
    ApiUser, Created as CreatedId, Directory, Division, Envelope, Library, NewUser, Page,
    UserUpdate, WhoAmI,
};
use super::wire::{is_server_user_id, wire_language};

/// The largest answer read: a page of 100 users is far below it.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Pages of a listing asked for at once when `nextPage` carries an `offset`: the 20 concurrent
/// requests quoted per token.
pub const READ_AHEAD: usize = 20;

/// How the client behaves; defaults keep to a polite share of the brand's limit
/// ([`DEFAULT_MAX_RPS`]: 70 % of 3,000 requests a minute).
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub concurrency: usize,
    /// The ceiling, requests per second; `None`: none (the controller climbs until the server
    /// throttles: for tests and benchmarks, never the CLI's default).
    pub max_rps: Option<f64>,
    /// Pages of a listing read ahead at once (offset paging only).
    pub read_ahead: usize,
    /// A listing past this many users stops with an error.
    pub max_listed_users: u64,
    pub initial_rps: f64,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Tries per request, the first included.
    pub max_attempts: u32,
    /// No new try starts after this long.
    pub max_retry_time: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            concurrency: 10,
            max_rps: Some(DEFAULT_MAX_RPS),
            read_ahead: READ_AHEAD,
            max_listed_users: MAX_LISTED_USERS,
            initial_rps: 10.0,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_attempts: 8,
            max_retry_time: Duration::from_secs(120),
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(8),
        }
    }
}

/// Filters for listing users. Only `username` is sent to the server (which may match loosely);
/// the caller checks what comes back.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub username: Option<String>,
}

/// A user created by [`Client::create_user_once`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    pub status: u16,
    pub request_id: String,
    /// Its answer was lost; it was found by username.
    pub reconciled: bool,
}

/// A successful answer with what the report keeps of it.
#[derive(Clone, Debug)]
pub struct Answer<T> {
    pub value: T,
    pub status: u16,
    pub request_id: String,
}

struct Inner {
    http: reqwest::Client,
    base: BaseUrl,
    credentials: Credentials,
    bearer: BearerCache,
    /// The host a "Request proxied" notice named, if one did.
    proxied: std::sync::Mutex<Option<String>>,
    transient: std::sync::Mutex<TransientStats>,
    rate: RateController,
    opts: ClientOptions,
    requests: AtomicU64,
    retries: AtomicU64,
    /// Requests by kind (list pages, detail reads, writes).
    kinds: RequestCounters,
    /// Listings whose pages disagreed with their offsets: followed link by link from there.
    paging_notes: std::sync::Mutex<Vec<String>>,
}

/// A Qualtrics API client. Cheap to clone; clones share the rate controller.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .field("credentials", &self.inner.credentials)
            .finish()
    }
}

impl Client {
    pub fn new(base: BaseUrl, token: Token, opts: ClientOptions) -> anyhow::Result<Client> {
        Client::with_credentials(base, Credentials::Token(token), opts)
    }

    /// A client with an API token or an OAuth client.
    pub fn with_credentials(
        base: BaseUrl,
        credentials: Credentials,
        opts: ClientOptions,
    ) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("qusers/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout)
            .pool_max_idle_per_host(opts.concurrency.max(1))
            // A redirect would carry the token (and a new user's password) to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                rate: RateController::new(opts.initial_rps, opts.max_rps, opts.concurrency),
                base,
                credentials,
                bearer: BearerCache::default(),
                proxied: std::sync::Mutex::new(None),
                transient: std::sync::Mutex::new(TransientStats::default()),
                opts,
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                kinds: RequestCounters::default(),
                paging_notes: std::sync::Mutex::new(Vec::new()),
            }),
        })
    }

    pub fn base(&self) -> &BaseUrl {
        &self.inner.base
    }

    pub fn rate(&self) -> &RateController {
        &self.inner.rate
    }

    /// Requests sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Requests sent so far by kind: list pages, detail reads, writes (retries included).
    pub fn request_counts(&self) -> RequestCounts {
        self.inner.kinds.get()
    }

    /// Retries so far.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// The ceiling that applies, for a summary: `"35 requests/s (2,100 a minute, 70 % of the
    /// brand's 3,000/min; --max-rps changes it)"`, or what `--max-rps` set.
    pub fn ceiling_description(&self) -> String {
        let rps = self.inner.rate.ceiling();
        if !rps.is_finite() {
            return "none (the pace adapts to the server's 429s)".to_string();
        }
        let per_min = self.inner.rate.minute_budget().unwrap_or(0) as u64;
        let share = per_min as f64 / f64::from(super::rate::BRAND_LIMIT_PER_MINUTE) * 100.0;
        let default = (rps - DEFAULT_MAX_RPS).abs() < 1e-9;
        format!(
            "{} requests/s, {} in any minute ({:.0} % of the brand's documented 3,000/min, shared by all its integrations){}",
            crate::numfmt::rate(rps),
            crate::numfmt::count(per_min),
            share,
            if default {
                "; the default, --max-rps changes it"
            } else {
                "; set by --max-rps"
            }
        )
    }

    /// What listings said about their paging (a fallback to following `nextPage` one by one).
    pub fn paging_notes(&self) -> Vec<String> {
        self.inner
            .paging_notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn note_paging(&self, note: String) {
        let mut notes = self
            .inner
            .paging_notes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if notes.len() < 10 && !notes.contains(&note) {
            notes.push(note);
        }
    }

    pub async fn whoami(&self) -> Result<WhoAmI, ApiError> {
        let url = self.inner.base.join("whoami");
        let a: Answer<WhoAmI> = self
            .call(Method::GET, url, "GET /whoami", None::<&()>)
            .await?;
        let mut me = a.value;
        for field in [
            &mut me.user_id,
            &mut me.user_name,
            &mut me.first_name,
            &mut me.last_name,
            &mut me.email,
            &mut me.brand_id,
            &mut me.account_type,
            &mut me.language,
            &mut me.datacenter,
        ] {
            *field = self.scrub(field);
        }
        if me.user_id.trim().is_empty() {
            return Err(ApiError {
                status: Some(a.status),
                request_id: Some(a.request_id).filter(|r| !r.is_empty()),
                ..ApiError::new(
                    ErrorKind::Protocol,
                    "GET /whoami",
                    "the answer names no user id: this is not a Qualtrics API answer for this token (check the base URL)",
                )
            });
        }
        Ok(me)
    }

    /// `text` (anything that came from the server) with every secret this client holds
    /// replaced by `<redacted>`: a server that echoes the token does not get it printed.
    pub fn scrub(&self, text: &str) -> String {
        scrub_secrets(text, &self.secrets())
    }

    /// An error whose message may hold server text, scrubbed like [`Client::scrub`].
    pub fn scrub_error(&self, mut e: ApiError) -> ApiError {
        e.message = self.scrub(&e.message);
        e
    }

    fn secrets(&self) -> Vec<String> {
        let mut v = match &self.inner.credentials {
            Credentials::Token(t) => vec![t.expose().to_string()],
            Credentials::OAuth(c) => vec![c.secret.expose().to_string()],
        };
        v.extend(self.inner.bearer.issued());
        v
    }

    /// How the client is authorised, e.g. `API token` or `OAuth client ID`.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// Access tokens fetched so far (OAuth).
    pub fn token_fetches(&self) -> u64 {
        self.inner.bearer.fetches.load(Ordering::Relaxed)
    }

    /// The host a "Request proxied … use this host instead" notice named, if an answer
    /// carried one.
    pub fn proxied_host(&self) -> Option<String> {
        self.inner
            .proxied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Retries by class, the 5xx rate, and a few failing request ids so far.
    pub fn transient_stats(&self) -> TransientStats {
        let mut t = self
            .inner
            .transient
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        t.requests = self.requests_sent();
        t.ceiling = self.ceiling_description();
        t.paging_notes = self.paging_notes();
        t.rate_5xx = if t.requests == 0 {
            0.0
        } else {
            t.answers_5xx as f64 / t.requests as f64
        };
        t
    }

    fn note_transient(&self, f: impl FnOnce(&mut TransientStats)) {
        f(&mut self
            .inner
            .transient
            .lock()
            .unwrap_or_else(|e| e.into_inner()));
    }

    /// Refuses to go on through a host the server proxies (reads work there, writes fail
    /// with a bare 400): asks `GET /whoami`, whose answer carries the notice if any.
    pub async fn check_direct(&self) -> Result<WhoAmI, ApiError> {
        let me = self.whoami().await?;
        match self.proxied_host() {
            Some(host) => Err(ApiError::new(
                ErrorKind::Proxied,
                "GET /whoami",
                proxied_advice(self.inner.base.host(), &host),
            )),
            None => Ok(me),
        }
    }

    /// Every XM directory (`GET /directories`, all pages, `nextPage` followed verbatim).
    pub async fn directories(&self) -> Result<Vec<Directory>, ApiError> {
        self.list_all("directories", "GET /directories", |d: &Directory| {
            d.directory_id.clone()
        })
        .await
    }

    /// Every library the user can use (`GET /libraries`, all pages).
    pub async fn libraries(&self) -> Result<Vec<Library>, ApiError> {
        self.list_all("libraries", "GET /libraries", |l: &Library| {
            l.library_id.clone()
        })
        .await
    }

    /// Every element of a paged listing, each `nextPage` followed as given (`offset`,
    /// `skipToken`, whatever the endpoint uses), under a [`PageGuard`].
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        call: &str,
        id: impl Fn(&T) -> String,
    ) -> Result<Vec<T>, ApiError> {
        let mut url = self.inner.base.join(path);
        let mut guard = PageGuard::new(call);
        let mut all = Vec::new();
        loop {
            let page: Answer<Page<T>> = self.call(Method::GET, url, call, None::<&()>).await?;
            let ids: Vec<String> = page.value.elements.iter().map(&id).collect();
            guard
                .users(ids.iter().map(String::as_str))
                .map_err(|e| self.scrub_error(e))?;
            all.extend(page.value.elements);
            match guard
                .follow(page.value.next_page)
                .map_err(|e| self.scrub_error(e))?
            {
                Some(next) => url = self.same_origin_for(&next, call)?,
                None => return Ok(all),
            }
        }
    }

    /// One page of users: the first when `next` is `None`.
    pub async fn users_page(
        &self,
        next: Option<&str>,
        filter: &UserFilter,
    ) -> Result<(Vec<ApiUser>, Option<String>), ApiError> {
        let url = match next {
            Some(n) => self.same_origin(n)?,
            None => self.first_users_url(filter)?,
        };
        self.fetch_users_page(url, false).await
    }

    fn first_users_url(&self, filter: &UserFilter) -> Result<String, ApiError> {
        let mut url = reqwest::Url::parse(&self.inner.base.join("users"))
            .map_err(|e| ApiError::new(ErrorKind::Protocol, "GET /users", e.to_string()))?;
        if let Some(u) = &filter.username {
            url.query_pairs_mut().append_pair("username", u);
        }
        Ok(url.to_string())
    }

    /// One page at `url` (already checked to be on the API's origin), its users parsed and
    /// their ids checked; `burst`: one of a listing's pages read ahead.
    async fn fetch_users_page(
        &self,
        url: String,
        burst: bool,
    ) -> Result<(Vec<ApiUser>, Option<String>), ApiError> {
        let page: Answer<Page<ApiUser>> = self
            .call_with(Method::GET, url, "GET /users", None::<&()>, burst)
            .await?;
        for u in &page.value.elements {
            self.check_user_id(&u.id, "GET /users")?;
        }
        Ok((
            page.value.elements,
            page.value.next_page.filter(|n| !n.is_empty()),
        ))
    }

    /// Refuses a user id from the server that is not `UR_` and letters/digits: it would go
    /// into request URLs and undo files.
    fn check_user_id(&self, id: &str, call: &str) -> Result<(), ApiError> {
        if is_server_user_id(id) {
            return Ok(());
        }
        let shown: String = self.scrub(id).chars().take(40).collect();
        Err(ApiError::new(
            ErrorKind::Protocol,
            call,
            format!(
                "the server sent the user id {shown:?}, which is not a Qualtrics user id (UR_ and letters or digits); not used"
            ),
        ))
    }

    /// Every user (matching the server-side filter), following `nextPage` to the end. Returns
    /// how many users were seen.
    pub async fn users(
        &self,
        filter: &UserFilter,
        mut on_page: impl FnMut(Vec<ApiUser>),
    ) -> Result<u64, ApiError> {
        self.users_each(filter, |page| {
            on_page(page);
            std::future::ready(true)
        })
        .await
    }

    /// [`Client::users`] with an asynchronous `on_page` (which returns `false` to stop).
    ///
    /// When the first page's `nextPage` carries an `offset` equal to the page's length, the
    /// pages after it are asked for [`ClientOptions::read_ahead`] at a time, in a burst inside
    /// the minute's budget, and handed on in order. Each page is checked against the chain
    /// the server gives: a page whose own `nextPage` is not the next offset, a short page
    /// before the end, or a user already listed ends the read-ahead, and the listing follows
    /// `nextPage` one by one from there (a note says so, see [`Client::paging_notes`]).
    /// Without an `offset`, `nextPage` is followed one by one from the start.
    pub async fn users_each<F, Fut>(
        &self,
        filter: &UserFilter,
        mut on_page: F,
    ) -> Result<u64, ApiError>
    where
        F: FnMut(Vec<ApiUser>) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        use futures_util::stream::{FuturesOrdered, StreamExt};
        let mut guard = PageGuard::with_max_users("GET /users", self.inner.opts.max_listed_users);
        let mut seen = 0u64;
        let (first, after) = self
            .fetch_users_page(self.first_users_url(filter)?, false)
            .await?;
        let chain = after
            .as_deref()
            .and_then(|n| OffsetChain::new(n, first.len()));
        guard
            .users(first.iter().map(|u| u.id.as_str()))
            .map_err(|e| self.scrub_error(e))?;
        seen += first.len() as u64;
        if !on_page(first).await {
            return Ok(seen);
        }
        let mut next = guard.follow(after).map_err(|e| self.scrub_error(e))?;
        let read_ahead = self.inner.opts.read_ahead.max(1);
        if let (Some(chain), Some(first_next)) = (chain, next.as_deref()) {
            self.same_origin(first_next)?;
            let mut pending = FuturesOrdered::new();
            // Page k of the chain is at offset k × step; page 0 was read. The read-ahead
            // starts at 2 pages and doubles with every page that fits the chain, up to its
            // bound: a small listing asks for few pages past its end.
            let mut asked = 1u64;
            let mut k = 1u64;
            let mut window = 2usize.min(read_ahead);
            let fallback = loop {
                while pending.len() < window {
                    let url = chain.page(asked);
                    pending.push_back(async move { self.fetch_users_page(url, true).await });
                    asked += 1;
                }
                let Some(result) = pending.next().await else {
                    break None;
                };
                let (users, after) = result?;
                let repeated = guard.any_seen(users.iter().map(|u| u.id.as_str()));
                let len = users.len() as u64;
                guard
                    .users(users.iter().map(|u| u.id.as_str()))
                    .map_err(|e| self.scrub_error(e))?;
                seen += len;
                let why = match &after {
                    None => None,
                    Some(_) if repeated => Some(format!(
                        "the page at offset {} lists a user an earlier page listed",
                        k * chain.step()
                    )),
                    Some(_) if len < chain.step() => Some(format!(
                        "the page at offset {} has {len} users but is not the last",
                        k * chain.step()
                    )),
                    Some(a) if !chain.is_page(a, k + 1) => Some(format!(
                        "the nextPage of the page at offset {} is not offset {}",
                        k * chain.step(),
                        (k + 1) * chain.step()
                    )),
                    Some(_) => None,
                };
                if !on_page(users).await {
                    return Ok(seen);
                }
                next = guard.follow(after).map_err(|e| self.scrub_error(e))?;
                match (&next, why) {
                    // The end: pages read ahead past it are dropped (cancelled or unread).
                    (None, _) => return Ok(seen),
                    (Some(_), Some(why)) => break Some(why),
                    (Some(_), None) => {
                        k += 1;
                        window = (window * 2).min(read_ahead);
                    }
                }
            };
            drop(pending);
            if let Some(why) = fallback {
                self.note_paging(format!(
                    "GET /users: {why}; the pages were read one by one from there, following the server's nextPage"
                ));
            }
        }
        while let Some(url) = next {
            let url = self.same_origin(&url)?;
            let (users, after) = self.fetch_users_page(url, false).await?;
            guard
                .users(users.iter().map(|u| u.id.as_str()))
                .map_err(|e| self.scrub_error(e))?;
            seen += users.len() as u64;
            if !on_page(users).await {
                return Ok(seen);
            }
            next = guard.follow(after).map_err(|e| self.scrub_error(e))?;
        }
        Ok(seen)
    }

    /// The user with exactly this username (case-insensitive), if any. The server's filter
    /// is sent, but only what matches exactly counts.
    pub async fn find_username(&self, username: &str) -> Result<Option<ApiUser>, ApiError> {
        let filter = UserFilter {
            username: Some(username.to_string()),
        };
        let mut found = None;
        self.users(&filter, |page| {
            if found.is_none() {
                found = page
                    .into_iter()
                    .find(|u| u.username.to_lowercase() == username.to_lowercase());
            }
        })
        .await?;
        Ok(found)
    }

    pub async fn get_user(&self, id: &str) -> Result<ApiUser, ApiError> {
        let call = format!("GET /users/{id}");
        self.check_user_id(id, &call)?;
        let url = self.inner.base.join(&format!("users/{id}"));
        let user: ApiUser = self.call(Method::GET, url, &call, None::<&()>).await?.value;
        if user.id != id {
            return Err(ApiError::new(
                ErrorKind::Protocol,
                &call,
                format!(
                    "the answer is the record of another user ({:?})",
                    self.scrub(&user.id)
                ),
            ));
        }
        Ok(user)
    }

    /// `POST /users`, `language` sent lower-case. Never retried once it may have reached the
    /// server: an uncertain outcome is [`ErrorKind::OutcomeUnknown`], for the caller to
    /// reconcile by username.
    ///
    /// A taken username does not depend on the server's wording: a 409 is taken, and so is a
    /// 400 whose message says so or whose username a look-up (`GET /users?username=`) finds in
    /// this brand ([`ErrorKind::UsernameTaken`]). A name taken in another brand is never listed
    /// here: only the status and the message can tell that.
    pub async fn create_user(&self, user: &NewUser) -> Result<Answer<String>, ApiError> {
        let url = self.inner.base.join("users");
        let language = wire_language(&user.language);
        let body = if language == user.language {
            std::borrow::Cow::Borrowed(user)
        } else {
            std::borrow::Cow::Owned(NewUser {
                language,
                ..user.clone()
            })
        };
        let a: Answer<CreatedId> = match self
            .call(Method::POST, url, "POST /users", Some(body.as_ref()))
            .await
        {
            Ok(a) => a,
            Err(e) if e.kind == ErrorKind::BadRequest && e.status == Some(400) => {
                return Err(self.taken_by_lookup(e, &user.username).await)
            }
            Err(e) => return Err(e),
        };
        self.check_user_id(&a.value.id, "POST /users")?;
        Ok(Answer {
            value: a.value.id,
            status: a.status,
            request_id: a.request_id,
        })
    }

    /// A 400 refusal of a create, [`ErrorKind::UsernameTaken`] when the username is in the
    /// brand (the refusal may say so in any words, or in none); otherwise as it was. A look-up
    /// that fails leaves the refusal as it was.
    async fn taken_by_lookup(&self, refusal: ApiError, username: &str) -> ApiError {
        match self.find_username(username).await {
            Ok(Some(_)) => {
                let said = if refusal.message.is_empty() {
                    String::new()
                } else {
                    format!("{}; ", refusal.message)
                };
                ApiError {
                    kind: ErrorKind::UsernameTaken,
                    message: format!("{said}a look-up finds {username} in this brand"),
                    ..refusal
                }
            }
            _ => refusal,
        }
    }

    /// Creates a user at most once: when a create's outcome is unknown, the username is looked
    /// up before anything is sent again. Returns the id and whether it was found that way
    /// (the create had been applied although its answer was lost).
    pub async fn create_user_once(&self, user: &NewUser) -> Result<Created, ApiError> {
        let mut last_unknown = None;
        for _ in 0..self.inner.opts.max_attempts {
            match self.create_user(user).await {
                Ok(a) => {
                    return Ok(Created {
                        id: a.value,
                        status: a.status,
                        request_id: a.request_id,
                        reconciled: false,
                    })
                }
                Err(e) if e.kind == ErrorKind::OutcomeUnknown => {
                    if let Some(found) = self.find_username(&user.username).await? {
                        return Ok(Created {
                            id: found.id,
                            status: 200,
                            request_id: e.request_id.clone().unwrap_or_default(),
                            reconciled: true,
                        });
                    }
                    // Not there: the create was not applied, so it may be sent again.
                    last_unknown = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_unknown
            .unwrap_or_else(|| ApiError::new(ErrorKind::OutcomeUnknown, "POST /users", "gave up")))
    }

    pub async fn update_user(&self, id: &str, update: &UserUpdate) -> Result<Answer<()>, ApiError> {
        let call = format!("PUT /users/{id}");
        self.check_user_id(id, &call)?;
        let url = self.inner.base.join(&format!("users/{id}"));
        let a: Answer<Option<serde_json::Value>> =
            self.call_opt(Method::PUT, url, &call, Some(update)).await?;
        Ok(Answer {
            value: (),
            status: a.status,
            request_id: a.request_id,
        })
    }

    /// The user's "Access API" permission (`GET /users/{id}`,
    /// `permissions.controlPanel.accountPermissions.accessApi`); `None` when the answer does
    /// not say.
    pub async fn access_api(&self, id: &str) -> Result<Option<AccessApi>, ApiError> {
        let call = format!("GET /users/{id}");
        self.check_user_id(id, &call)?;
        let url = self.inner.base.join(&format!("users/{id}"));
        let v: serde_json::Value = self.call(Method::GET, url, &call, None::<&()>).await?.value;
        Ok(AccessApi::from_permission(v.pointer(
            "/permissions/controlPanel/accountPermissions/accessApi",
        )))
    }

    /// Gives the user the "Access API" permission (`PUT /users/{id}` with `permissions`).
    pub async fn grant_access_api(&self, id: &str) -> Result<(), ApiError> {
        let call = format!("PUT /users/{id}");
        self.check_user_id(id, &call)?;
        let url = self.inner.base.join(&format!("users/{id}"));
        let body = serde_json::json!({"permissions": {"controlPanel": {"accountPermissions": {
            "accessApi": {"state": "on"}
        }}}});
        self.call_opt::<serde_json::Value, _>(Method::PUT, url, &call, Some(&body))
            .await?;
        Ok(())
    }

    /// The user's API token (`GET /users/{id}/apitoken`), `None` when the user has none.
    pub async fn user_api_token(&self, id: &str) -> Result<Option<Token>, ApiError> {
        let call = format!("GET /users/{id}/apitoken");
        self.check_user_id(id, &call)?;
        let url = self.inner.base.join(&format!("users/{id}/apitoken"));
        match self
            .call::<ApiTokenAnswer, _>(Method::GET, url, &call, None::<&()>)
            .await
        {
            Ok(a) => Ok(Token::new(a.value.api_token).ok()),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates (or regenerates: the old one stops working at once) the user's API token
    /// (`POST /users/{id}/apitoken`).
    pub async fn create_user_api_token(&self, id: &str) -> Result<Token, ApiError> {
        let call = format!("POST /users/{id}/apitoken");
        self.check_user_id(id, &call)?;
        let url = self.inner.base.join(&format!("users/{id}/apitoken"));
        let a: Answer<ApiTokenAnswer> = self
            .call(Method::POST, url, &call, Some(&serde_json::json!({})))
            .await?;
        Token::new(a.value.api_token).map_err(|_| {
            ApiError::new(
                ErrorKind::Protocol,
                &call,
                "the answer holds no usable token",
            )
        })
    }

    /// A division, or `None` when the API does not know it.
    pub async fn get_division(&self, id: &str) -> Result<Option<Division>, ApiError> {
        let url = self.inner.base.join(&format!("divisions/{id}"));
        let call = format!("GET /divisions/{id}");
        match self.call(Method::GET, url, &call, None::<&()>).await {
            Ok(a) => Ok(Some(a.value)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn same_origin(&self, next: &str) -> Result<String, ApiError> {
        self.same_origin_for(next, "GET /users")
    }

    /// A `nextPage` URL, accepted only on the API's own origin: the token goes nowhere else.
    fn same_origin_for(&self, next: &str, call: &str) -> Result<String, ApiError> {
        let ok = reqwest::Url::parse(next).ok().and_then(|u| {
            let base = reqwest::Url::parse(self.inner.base.root()).ok()?;
            (u.scheme() == base.scheme()
                && u.host_str() == base.host_str()
                && u.port_or_known_default() == base.port_or_known_default())
            .then(|| u.to_string())
        });
        ok.ok_or_else(|| {
            ApiError::new(
                ErrorKind::Protocol,
                call,
                format!(
                    "nextPage points to another host ({}); not followed",
                    self.scrub(next)
                ),
            )
        })
    }

    /// The request path every call takes.
    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: String,
        call: &str,
        body: Option<&B>,
    ) -> Result<Answer<T>, ApiError> {
        self.call_with(method, url, call, body, false).await
    }

    /// [`Client::call`] for answers whose `result` may be absent (a PUT's).
    async fn call_opt<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: String,
        call: &str,
        body: Option<&B>,
    ) -> Result<Answer<Option<T>>, ApiError> {
        self.call_opt_with(method, url, call, body, false).await
    }

    /// [`Client::call`] for one of a burst of reads ([`RateController::acquire_burst`]) when
    /// `burst`.
    async fn call_with<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: String,
        call: &str,
        body: Option<&B>,
        burst: bool,
    ) -> Result<Answer<T>, ApiError> {
        let a = self.call_opt_with(method, url, call, body, burst).await?;
        match a.value {
            Some(value) => Ok(Answer {
                value,
                status: a.status,
                request_id: a.request_id,
            }),
            None => Err(ApiError {
                status: Some(a.status),
                request_id: Some(a.request_id),
                ..ApiError::new(ErrorKind::Protocol, call, "the answer has no result")
            }),
        }
    }

    async fn call_opt_with<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: String,
        call: &str,
        body: Option<&B>,
        burst: bool,
    ) -> Result<Answer<Option<T>>, ApiError> {
        let idempotent = method != Method::POST;
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut refetched = false;
        loop {
            attempt += 1;
            let auth = self.auth_header().await?;
            let result = {
                let slot = if burst {
                    self.inner.rate.acquire_burst().await
                } else {
                    self.inner.rate.acquire().await
                };
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
                self.inner.kinds.count(&method, call);
                let result = self.attempt(&method, &url, call, body, &auth).await;
                slot.done(match &result {
                    Ok(_) => Signal::Success,
                    Err(e) if e.kind == ErrorKind::RateLimited => Signal::Throttled,
                    // A refusal of the request's content was still an answer at this pace.
                    Err(e) if e.status.is_some_and(|s| (400..500).contains(&s)) => Signal::Success,
                    Err(_) => Signal::Other,
                });
                result
            };
            let mut err = match result {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            if let (Credentials::OAuth(_), AuthHeader::Bearer(used)) =
                (&self.inner.credentials, &auth)
            {
                // A refused access token (expired early, revoked) is fetched again, once;
                // the request was not applied, so it is sent again.
                if err.kind == ErrorKind::RejectedToken && !refetched {
                    refetched = true;
                    self.inner.bearer.invalidate(used);
                    attempt -= 1;
                    continue;
                }
                if err.kind == ErrorKind::NotPermitted {
                    err.message = format!("{}; {}", err.message, scope_hint(call))
                        .trim_start_matches("; ")
                        .to_string();
                }
            }
            if err.kind == ErrorKind::Server {
                self.note_transient(|t| {
                    t.answers_5xx += 1;
                    if let Some(id) = &err.request_id {
                        t.keep_request_id(id);
                    }
                });
            }
            // A 429 or a refused connection means the request was not applied: safe to repeat
            // even for a create. Anything else on a create may have been applied.
            let repeatable =
                idempotent || matches!(err.kind, ErrorKind::RateLimited | ErrorKind::Connect);
            // A 429 was not applied: it is tried again until the retry time is up (with a
            // generous bound on tries), so that a busy server fails no row.
            let max_attempts = if err.kind == ErrorKind::RateLimited {
                self.inner.opts.max_attempts.saturating_mul(4)
            } else {
                self.inner.opts.max_attempts
            };
            let give_up = !err.kind.is_transient()
                || !repeatable
                || attempt >= max_attempts
                || started.elapsed() >= self.inner.opts.max_retry_time;
            if give_up {
                if !idempotent && matches!(err.kind, ErrorKind::Server | ErrorKind::Network) {
                    return Err(ApiError {
                        kind: ErrorKind::OutcomeUnknown,
                        message: format!(
                            "{} ({}); the user may or may not have been created",
                            err.message,
                            err.status
                                .map_or("no answer".to_string(), |s| format!("HTTP {s}"))
                        ),
                        ..err
                    });
                }
                return Err(err);
            }
            self.inner.retries.fetch_add(1, Ordering::Relaxed);
            self.note_transient(|t| match err.kind {
                ErrorKind::RateLimited => t.retries_429 += 1,
                ErrorKind::Server => t.retries_5xx += 1,
                _ => t.retries_network += 1,
            });
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// Full jitter: a random wait up to base × 2^(attempt-1), capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let o = &self.inner.opts;
        let ceiling = o
            .backoff_base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(o.backoff_cap);
        let ms = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }

    /// The header that authorises the next request: the token, or a fresh access token.
    async fn auth_header(&self) -> Result<AuthHeader, ApiError> {
        match &self.inner.credentials {
            Credentials::Token(t) => Ok(AuthHeader::Token(t.expose().to_string())),
            Credentials::OAuth(c) => {
                if let Some(b) = self.inner.bearer.fresh() {
                    return Ok(AuthHeader::Bearer(b));
                }
                let _one = self.inner.bearer.fetching.lock().await;
                // Another request may have fetched it meanwhile.
                if let Some(b) = self.inner.bearer.fresh() {
                    return Ok(AuthHeader::Bearer(b));
                }
                let (token, expires_in) = self.fetch_access_token(c).await?;
                self.inner.bearer.store(token.clone(), expires_in);
                Ok(AuthHeader::Bearer(token))
            }
        }
    }

    /// `POST {origin}/oauth2/token` with the client-credentials grant.
    async fn fetch_access_token(&self, c: &OAuthClient) -> Result<(String, Duration), ApiError> {
        const CALL: &str = "POST /oauth2/token";
        let url = format!("{}/oauth2/token", self.inner.base.origin());
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &c.scope {
            form.push(("scope", scope.as_str()));
        }
        self.inner.bearer.fetches.fetch_add(1, Ordering::Relaxed);
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let sent = self
                .inner
                .http
                .post(&url)
                .basic_auth(&c.client_id, Some(c.secret.expose()))
                .header("Accept", "application/json")
                .form(&form)
                .send()
                .await
                .map_err(|e| transport_error(CALL, e));
            match sent {
                Ok(r) if r.status().is_server_error() && attempt < self.inner.opts.max_attempts => {
                }
                Ok(r) => break r,
                Err(e) if e.kind.is_transient() && attempt < self.inner.opts.max_attempts => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        };
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            return Err(redirect_error(CALL, status, resp.headers()));
        }
        let bytes = read_capped(CALL, status, resp).await?;
        if !(200..300).contains(&status) {
            let text = self.scrub(&String::from_utf8_lossy(&bytes));
            let snippet: String = text.chars().take(200).collect();
            let mut e = ApiError::from_answer(CALL, status, None, snippet, None);
            if matches!(status, 400 | 401 | 403) {
                e.kind = ErrorKind::RejectedToken;
                e.message = format!(
                    "the OAuth client was refused ({}): check QUALTRICS_CLIENT_ID, the secret and --oauth-scope (Account Settings › Qualtrics IDs › OAuth Client Manager)",
                    e.message
                );
            }
            return Err(e);
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|_| ApiError {
            status: Some(status),
            ..ApiError::new(
                ErrorKind::Protocol,
                CALL,
                "the token answer has no access_token",
            )
        })?;
        if answer.access_token.trim().is_empty() {
            return Err(ApiError::new(
                ErrorKind::Protocol,
                CALL,
                "the token answer has an empty access_token",
            ));
        }
        let expires_in = Duration::from_secs(answer.expires_in.unwrap_or(3600).max(1));
        Ok((answer.access_token, expires_in))
    }

    async fn attempt<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: &Method,
        url: &str,
        call: &str,
        body: Option<&B>,
        auth: &AuthHeader,
    ) -> Result<Answer<Option<T>>, ApiError> {
        let mut req = self
            .inner
            .http
            .request(method.clone(), url)
            .header("Accept", "application/json");
        req = match auth {
            AuthHeader::Token(t) => req.header("X-API-TOKEN", t),
            AuthHeader::Bearer(b) => req.bearer_auth(b),
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| transport_error(call, e))?;
        let status = resp.status().as_u16();
        let header_request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        if (300..400).contains(&status) {
            return Err(redirect_error(call, status, resp.headers()));
        }
        let bytes = read_capped(call, status, resp).await?;
        let envelope: Result<Envelope<T>, _> = serde_json::from_slice(&bytes);
        if let Ok(env) = &envelope {
            if let Some(host) = env.meta.notice.as_deref().and_then(proxied_notice_host) {
                *self.inner.proxied.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(self.scrub(&host));
            }
            if let Some(id) = env
                .meta
                .error
                .as_ref()
                .and_then(|e| e.instance_id.as_deref())
            {
                let id = self.scrub(id);
                self.note_transient(|t| t.keep_instance_id(&id));
            }
        }
        match envelope {
            Ok(env) => {
                let request_id = Some(env.meta.request_id)
                    .filter(|r| !r.is_empty())
                    .or(header_request_id);
                if (200..300).contains(&status) {
                    Ok(Answer {
                        value: env.result,
                        status,
                        request_id: request_id.unwrap_or_default(),
                    })
                } else {
                    let (message, code) = env
                        .meta
                        .error
                        .map(|e| {
                            (
                                self.scrub(&e.error_message),
                                Some(self.scrub(&e.error_code)).filter(|c| !c.is_empty()),
                            )
                        })
                        .unwrap_or_default();
                    let mut e = ApiError::from_answer(call, status, code, message, request_id);
                    if let (400, Some(host)) = (status, self.proxied_host()) {
                        if e.message.is_empty() {
                            e.message = format!(
                                "a bare 400 through a proxied host: {}",
                                proxied_advice(self.inner.base.host(), &host)
                            );
                        }
                    }
                    Err(e)
                }
            }
            // An empty body is a fine answer to a write.
            Err(_) if bytes.is_empty() && (200..300).contains(&status) => Ok(Answer {
                value: None,
                status,
                request_id: header_request_id.unwrap_or_default(),
            }),
            Err(_) if !(200..300).contains(&status) => {
                // Proxies and load balancers answer errors in HTML.
                let text = self.scrub(&String::from_utf8_lossy(&bytes));
                let snippet: String = text.chars().take(200).collect();
                Err(ApiError::from_answer(
                    call,
                    status,
                    None,
                    snippet,
                    header_request_id,
                ))
            }
            Err(e) => Err(ApiError {
                status: Some(status),
                ..ApiError::new(
                    ErrorKind::Protocol,
                    call,
                    format!("the answer is not the API's JSON: {e}"),
                )
            }),
        }
    }
}

/// The check `import` and `export` run first: `Ok(None)` when the host is the account's
/// own, `Ok(Some(warning))` when it is proxied but `allow_proxied`, else the
/// [`ErrorKind::Proxied`] error with the host and flag to use.
pub async fn ensure_direct(
    client: &Client,
    allow_proxied: bool,
) -> Result<Option<String>, ApiError> {
    match client.check_direct().await {
        Ok(_) => Ok(None),
        Err(e) if e.kind == ErrorKind::Proxied && allow_proxied => {
            Ok(Some(format!("{} (going on: --allow-proxied)", e.message)))
        }
        Err(e) => Err(e),
    }
}

/// A user's "Access API" permission as `GET /users/{id}` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessApi {
    /// The effective value: `calculatedState` when the answer has it, else `state`.
    pub on: bool,
    /// Inherited from the user type (`state: "userType"`): not set on the user.
    pub inherited: bool,
}

impl AccessApi {
    /// Reads a permission entry: `calculatedState` before `state`, since `state: "userType"`
    /// only says the value comes from the user type.
    pub fn from_permission(p: Option<&serde_json::Value>) -> Option<AccessApi> {
        let p = p?;
        let field = |name: &str| p.get(name).and_then(serde_json::Value::as_str);
        let state = field("state");
        let inherited = state.is_some_and(|s| s.eq_ignore_ascii_case("userType"));
        let effective = field("calculatedState").or(state.filter(|_| !inherited))?;
        Some(AccessApi {
            on: effective.eq_ignore_ascii_case("on"),
            inherited,
        })
    }
}

/// `{"apiToken": …}`, never shown.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiTokenAnswer {
    #[serde(default)]
    api_token: String,
}

/// What authorises one request.
enum AuthHeader {
    Token(String),
    Bearer(String),
}

/// The host of a "Request proxied. For faster response times, use this host instead: HOST"
/// notice.
pub fn proxied_notice_host(notice: &str) -> Option<String> {
    let lower = notice.to_ascii_lowercase();
    if !lower.contains("proxied") {
        return None;
    }
    let at = lower.find("instead:")? + "instead:".len();
    let host = notice[at..]
        .split_whitespace()
        .next()?
        .trim_end_matches(['.', ',', ';'])
        .trim_start_matches("https://")
        .trim_end_matches('/');
    (!host.is_empty()).then(|| host.to_string())
}

/// What to do about a proxied host: the host, and the exact flag.
pub fn proxied_advice(used: &str, host: &str) -> String {
    let flag = match datacenter_of_host(host) {
        Some(dc) => format!("--datacenter {dc}"),
        None => format!("--base-url https://{host}"),
    };
    format!(
        "the server proxies requests sent to {used}: this account lives on {host}; reads work through the proxy but writes fail with a bare 400. Use {flag}"
    )
}

/// Replaces each secret in `text` by `<redacted>`.
pub(crate) fn scrub_secrets(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "<redacted>");
        }
    }
    out
}

/// A 3xx: never followed (the token would go along); the base URL is probably wrong.
fn redirect_error(call: &str, status: u16, headers: &reqwest::header::HeaderMap) -> ApiError {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let host = reqwest::Url::parse(location)
        .ok()
        .and_then(|u| u.host_str().map(String::from))
        .unwrap_or_else(|| {
            if location.is_empty() {
                "(no Location given)".to_string()
            } else {
                "this same host".to_string()
            }
        });
    ApiError {
        status: Some(status),
        ..ApiError::new(
            ErrorKind::Protocol,
            call,
            format!(
                "the server redirects to {host}; qusers follows no redirect (the token would go along): the base URL is probably wrong — use the datacenter host (e.g. https://iad1.qualtrics.com, or --datacenter ID as Account Settings › Qualtrics IDs shows it), not a brand or login host"
            ),
        )
    }
}

/// The body, read chunk by chunk up to [`MAX_BODY_BYTES`]: an endless or huge answer is an
/// error, and memory stays bounded.
async fn read_capped(
    call: &str,
    status: u16,
    mut resp: reqwest::Response,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError {
        status: Some(status),
        ..ApiError::new(
            ErrorKind::Protocol,
            call,
            format!(
                "the answer is larger than {} MB, the most qusers reads of one answer; stopped reading",
                MAX_BODY_BYTES / (1024 * 1024)
            ),
        )
    }
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(call, e))? {
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// reqwest's error, without the URL's query (it never holds the token, which travels in a
/// header, but stays short) and classified.
fn transport_error(call: &str, e: reqwest::Error) -> ApiError {
    let e = e.without_url();
    let kind = if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Network
    };
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else {
        let mut s = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            s.push_str(": ");
            s.push_str(&cause.to_string());
            source = cause.source();
        }
        s
    };
    ApiError::new(kind, call, what)
}
