//! The one request path: auth header, envelope parsing, error classification, retries with
//! full-jitter backoff, pacing by the shared rate controller.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{ApiError, ErrorKind};
use super::paging::PageGuard;
use super::rate::{RateController, Signal};
use super::settings::{BaseUrl, Token};
use super::types::{
    ApiUser, Created as CreatedId, Division, Envelope, NewUser, RawUserPage, RawUsers, UserUpdate,
    WhoAmI,
};

/// The largest answer read: a page of 100 users is far below it.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How the client behaves; defaults suit Qualtrics' unpublished limits (about 500 requests a
/// minute and 20 concurrent requests per token).
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub concurrency: usize,
    pub max_rps: Option<f64>,
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
            max_rps: None,
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
    token: Token,
    rate: RateController,
    opts: ClientOptions,
    requests: AtomicU64,
    retries: AtomicU64,
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
            .field("token", &self.inner.token)
            .finish()
    }
}

impl Client {
    pub fn new(base: BaseUrl, token: Token, opts: ClientOptions) -> anyhow::Result<Client> {
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
                token,
                opts,
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
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

    /// Retries so far.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
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
        vec![self.inner.token.expose().to_string()]
    }

    /// One page of users: the first when `next` is `None`.
    pub async fn users_page(
        &self,
        next: Option<&str>,
        filter: &UserFilter,
    ) -> Result<(Vec<ApiUser>, Option<String>), ApiError> {
        let (raw, after) = self.users_page_raw(next, filter).await?;
        let users = raw.parse()?;
        Ok((users, after))
    }

    /// [`Client::users_page`] with the users left unparsed, so that a pipeline can ask for the
    /// next page while this one is parsed.
    pub async fn users_page_raw(
        &self,
        next: Option<&str>,
        filter: &UserFilter,
    ) -> Result<(RawUsers, Option<String>), ApiError> {
        let url = match next {
            Some(n) => self.same_origin(n)?,
            None => {
                let mut url = reqwest::Url::parse(&self.inner.base.join("users"))
                    .map_err(|e| ApiError::new(ErrorKind::Protocol, "GET /users", e.to_string()))?;
                if let Some(u) = &filter.username {
                    url.query_pairs_mut().append_pair("username", u);
                }
                url.to_string()
            }
        };
        let page: Answer<RawUserPage> = self
            .call(Method::GET, url, "GET /users", None::<&()>)
            .await?;
        Ok((
            RawUsers(page.value.elements),
            page.value.next_page.filter(|n| !n.is_empty()),
        ))
    }

    /// Every user (matching the server-side filter), page by page, following `nextPage` to
    /// the end. Returns how many users were seen.
    pub async fn users(
        &self,
        filter: &UserFilter,
        mut on_page: impl FnMut(Vec<ApiUser>),
    ) -> Result<u64, ApiError> {
        let mut next: Option<String> = None;
        let mut seen = 0u64;
        let mut guard = PageGuard::new("GET /users");
        loop {
            let (users, after) = self.users_page(next.as_deref(), filter).await?;
            seen += users.len() as u64;
            guard
                .users(users.iter().map(|u| u.id.as_str()))
                .map_err(|e| self.scrub_error(e))?;
            on_page(users);
            match guard.follow(after).map_err(|e| self.scrub_error(e))? {
                Some(a) => next = Some(a),
                None => return Ok(seen),
            }
        }
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
        let url = self.inner.base.join(&format!("users/{id}"));
        let call = format!("GET /users/{id}");
        Ok(self.call(Method::GET, url, &call, None::<&()>).await?.value)
    }

    /// `POST /users`. Never retried once it may have reached the server: an uncertain outcome
    /// is [`ErrorKind::OutcomeUnknown`], for the caller to reconcile by username.
    pub async fn create_user(&self, user: &NewUser) -> Result<Answer<String>, ApiError> {
        let url = self.inner.base.join("users");
        let a: Answer<CreatedId> = self
            .call(Method::POST, url, "POST /users", Some(user))
            .await?;
        Ok(Answer {
            value: a.value.id,
            status: a.status,
            request_id: a.request_id,
        })
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
        let url = self.inner.base.join(&format!("users/{id}"));
        let call = format!("PUT /users/{id}");
        let a: Answer<Option<serde_json::Value>> =
            self.call_opt(Method::PUT, url, &call, Some(update)).await?;
        Ok(Answer {
            value: (),
            status: a.status,
            request_id: a.request_id,
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

    /// A `nextPage` URL, accepted only on the API's own origin: the token goes nowhere else.
    fn same_origin(&self, next: &str) -> Result<String, ApiError> {
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
                "GET /users",
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
        let a = self.call_opt(method, url, call, body).await?;
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

    /// [`Client::call`] for answers whose `result` may be absent (a PUT's).
    async fn call_opt<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: String,
        call: &str,
        body: Option<&B>,
    ) -> Result<Answer<Option<T>>, ApiError> {
        let idempotent = method != Method::POST;
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = {
                let slot = self.inner.rate.acquire().await;
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
                let result = self.attempt(&method, &url, call, body).await;
                slot.done(match &result {
                    Ok(_) => Signal::Success,
                    Err(e) if e.kind == ErrorKind::RateLimited => Signal::Throttled,
                    // A refusal of the request's content was still an answer at this pace.
                    Err(e) if e.status.is_some_and(|s| (400..500).contains(&s)) => Signal::Success,
                    Err(_) => Signal::Other,
                });
                result
            };
            let err = match result {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
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

    async fn attempt<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: &Method,
        url: &str,
        call: &str,
        body: Option<&B>,
    ) -> Result<Answer<Option<T>>, ApiError> {
        let mut req = self
            .inner
            .http
            .request(method.clone(), url)
            .header("X-API-TOKEN", self.inner.token.expose())
            .header("Accept", "application/json");
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
                    Err(ApiError::from_answer(
                        call, status, code, message, request_id,
                    ))
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
