//! The simulator's HTTP surface: `/API/v3/...` as Qualtrics answers it, and `/__sim/stats`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::Rng;
use serde_json::{json, Value};

use super::{Shared, WalEntry};
use crate::api::ApiUser;
use crate::rules::{email_issue, forbidden_symbols, sso_username_issue};

const PAGE_SIZE: usize = 100;

type S = State<Arc<Shared>>;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/API/v3/whoami", get(whoami))
        .route("/API/v3/users", get(list_users).post(create_user))
        .route(
            "/API/v3/users/{id}",
            get(get_user).put(update_user).delete(delete_user),
        )
        .route("/API/v3/divisions/{id}", get(get_division))
        .route("/API/v3/directories", get(list_directories))
        .route("/API/v3/libraries", get(list_libraries))
        .route(
            "/API/v3/users/{id}/apitoken",
            get(get_api_token).post(create_api_token),
        )
        .route_layer(middleware::from_fn_with_state(shared.clone(), guard));
    Router::new()
        .route("/__sim/stats", get(stats))
        .route("/oauth2/token", axum::routing::post(oauth_token))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), read_body))
        .with_state(shared)
}

fn request_id(shared: &Shared) -> String {
    let n = shared.request_ids.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-5151-4000-8000-{n:012x}", shared.config.seed as u32)
}

fn status_text(status: StatusCode) -> String {
    format!(
        "{} - {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Unknown")
    )
}

fn ok(shared: &Shared, result: impl serde::Serialize) -> Response {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Meta {
        http_status: String,
        request_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        notice: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Envelope<T> {
        result: T,
        meta: Meta,
    }
    // Serialized straight from the typed value, not through a `Value` tree.
    Json(Envelope {
        result,
        meta: Meta {
            http_status: status_text(StatusCode::OK),
            request_id: request_id(shared),
            notice: proxy_notice(shared),
        },
    })
    .into_response()
}

fn error(shared: &Shared, status: StatusCode, code: &str, message: &str) -> Response {
    let mut meta = json!({
        "httpStatus": status_text(status),
        "requestId": request_id(shared),
        "error": {"errorMessage": message, "errorCode": code}
    });
    if status.is_server_error() {
        meta["error"]["instanceId"] = json!(format!("sim-{:04x}", shared.config.seed as u16));
    }
    if let Some(n) = proxy_notice(shared) {
        meta["notice"] = json!(n);
    }
    (status, Json(json!({ "meta": meta }))).into_response()
}

/// The notice of a proxying host, when the simulator plays one.
fn proxy_notice(shared: &Shared) -> Option<String> {
    shared
        .config
        .proxied_host
        .as_ref()
        .map(|h| format!("Request proxied. For faster response times, use this host instead: {h}"))
}

/// A write's answer without a result: the envelope's `meta` alone.
fn done(shared: &Shared) -> Response {
    Json(json!({
        "meta": {"httpStatus": status_text(StatusCode::OK), "requestId": request_id(shared)}
    }))
    .into_response()
}

/// A write that could not be made durable is not applied, and not acknowledged.
fn not_durable(shared: &Shared, e: &anyhow::Error) -> Response {
    super::log(format_args!("{e:#}"));
    error(
        shared,
        StatusCode::SERVICE_UNAVAILABLE,
        "ISE_2",
        "The write could not be stored; it was not applied.",
    )
}

fn not_found_response(shared: &Shared) -> Response {
    error(
        shared,
        StatusCode::NOT_FOUND,
        "RP_0.1",
        "The requested resource does not exist.",
    )
}

async fn not_found(State(shared): S) -> Response {
    not_found_response(&shared)
}

/// A method the route does not take: the API's envelope, not a bare 405.
async fn method_not_allowed(State(shared): S) -> Response {
    error(
        &shared,
        StatusCode::METHOD_NOT_ALLOWED,
        "RP_0.10",
        "The method is not allowed for this resource.",
    )
}

/// The access token of an `Authorization: Bearer …` header; the scheme in any case, as
/// HTTP has it.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .trim()
        .split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// An absolute URL on this server as the client reached it: the scheme the request came in
/// with (`X-Forwarded-Proto` behind a TLS proxy, else http) and its `Host`.
fn absolute_url(headers: &HeaderMap, path_and_query: &str) -> String {
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("{scheme}://{host}{path_and_query}")
}

/// `permissions` of `GET /users/{id}`: each entry with `state` (`on`, `off`, or `userType`
/// when inherited) and `calculatedState`, the effective value.
fn permissions_json(store: &super::Store, id: &str) -> Value {
    let api = store.access_api_state(id);
    let on_off = |b: bool| if b { "on" } else { "off" };
    json!({"controlPanel": {"accountPermissions": {
        "accessApi": {"state": api.state, "calculatedState": on_off(api.calculated)}
    }}})
}

async fn stats(State(shared): S) -> Response {
    let s = shared.lock_stats().clone();
    Json(s).into_response()
}

/// The most a request body may hold (a user is far below it).
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// Reads every request's body within the read timeout, before any handler sees it: a
/// half-sent body is answered 408 and its connection closed, instead of holding it open.
async fn read_body(State(shared): S, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let read = axum::body::to_bytes(body, MAX_REQUEST_BODY);
    let limit = Some(shared.config.read_timeout)
        .filter(|t| !t.is_zero())
        .unwrap_or(Duration::MAX);
    let bytes = match tokio::time::timeout(limit, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return error(
                &shared,
                StatusCode::PAYLOAD_TOO_LARGE,
                "RP_0.11",
                "The request body is too large, or broke off.",
            )
        }
        Err(_) => {
            let mut r = error(
                &shared,
                StatusCode::REQUEST_TIMEOUT,
                "RP_0.12",
                "The request body did not arrive in time.",
            );
            r.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            return r;
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Every API request passes here: counted, authenticated, rate limited, failed or dropped as
/// the knobs say, and answered `--latency` after it arrived. Like a real server's, the latency
/// includes the simulator's own work rather than adding to it.
async fn guard(State(shared): S, req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    struct InFlight<'a>(&'a std::sync::atomic::AtomicU64);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let now_in_flight = shared.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
    let _in_flight = InFlight(&shared.in_flight);
    let too_many = shared
        .config
        .max_in_flight
        .is_some_and(|max| now_in_flight > u64::from(max));
    let is_write =
        req.method() == axum::http::Method::POST || req.method() == axum::http::Method::PUT;
    let nth_write = is_write
        && shared.config.throttle_every.is_some_and(|n| {
            let k = shared.writes_arrived.fetch_add(1, Ordering::AcqRel) + 1;
            n > 0 && k % u64::from(n) == 0
        });
    let response = if too_many || nth_write {
        shared.lock_stats().rate_limited += 1;
        error(
            &shared,
            StatusCode::TOO_MANY_REQUESTS,
            "RL_1",
            "Too many requests. Please try again later.",
        )
    } else {
        answer(shared.clone(), req, next).await
    };
    let latency = shared.config.latency;
    if !latency.is_zero() {
        precise_sleep((arrived + latency).saturating_duration_since(Instant::now())).await;
    }
    response
}

async fn answer(shared: Arc<Shared>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().trim_start_matches("/API/v3").to_string())
        .unwrap_or_default();
    let key = format!("{} {route}", req.method());
    let count = |f: &dyn Fn(&mut super::SimStats)| {
        f(&mut shared.lock_stats());
    };
    count(&|s| *s.requests.entry(key.clone()).or_default() += 1);
    let bearer = bearer_token(req.headers()).map(str::to_string);
    if let Some(b) = bearer {
        let granted = shared
            .access_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&b)
            .cloned();
        match granted {
            Some((expires, scope)) if Instant::now() < expires => {
                let write = req.method() != axum::http::Method::GET;
                let allowed = scope.as_deref().is_none_or(|sc| {
                    sc.split_whitespace().any(|w| w == "manage:all")
                        || (!write
                            && route.starts_with("/users")
                            && sc.split_whitespace().any(|w| w == "read:users"))
                        || route == "/whoami"
                });
                if !allowed {
                    return error(
                        &shared,
                        StatusCode::FORBIDDEN,
                        "AC_2",
                        "The access token's scope does not allow this request.",
                    );
                }
            }
            _ => {
                return error(
                    &shared,
                    StatusCode::UNAUTHORIZED,
                    "AUTH_1",
                    "Invalid or expired OAuth access token.",
                )
            }
        }
    }
    let token = req
        .headers()
        .get("x-api-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            bearer_token(req.headers())
                .is_some()
                .then(|| shared.config.token.clone())
        });
    let admin = match token.as_deref() {
        None | Some("") => {
            return error(
                &shared,
                StatusCode::BAD_REQUEST,
                "ATP_2",
                "Missing API token.",
            )
        }
        Some(t) if t == shared.config.token => true,
        Some(t) if Some(t) == shared.config.non_admin_token.as_deref() => false,
        Some(t)
            if shared
                .config
                .division_admin
                .as_ref()
                .is_some_and(|(d, _)| d == t) =>
        {
            true
        }
        Some(_) => {
            return error(
                &shared,
                StatusCode::UNAUTHORIZED,
                "DCD_7",
                "Invalid API token. Please re-generate your token and try again.",
            )
        }
    };
    if !admin && route != "/whoami" {
        return error(
            &shared,
            StatusCode::FORBIDDEN,
            "AC_1",
            "You do not have permission to access this resource.",
        );
    }
    if let Some(bucket) = shared
        .bucket
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        let now = Instant::now();
        let capacity = bucket.per_sec.max(1.0);
        bucket.tokens = (bucket.tokens
            + now.duration_since(bucket.last).as_secs_f64() * bucket.per_sec)
            .min(capacity);
        bucket.last = now;
        if bucket.tokens < 1.0 {
            count(&|s| s.rate_limited += 1);
            return error(
                &shared,
                StatusCode::TOO_MANY_REQUESTS,
                "RL_1",
                "Too many requests. Please try again later.",
            );
        }
        bucket.tokens -= 1.0;
    }
    let (fail, drop) = {
        let mut rng = shared.rng.lock().unwrap_or_else(|e| e.into_inner());
        (
            shared.config.fail_rate > 0.0 && rng.random_bool(shared.config.fail_rate.min(1.0)),
            shared.config.drop_rate > 0.0 && rng.random_bool(shared.config.drop_rate.min(1.0)),
        )
    };
    if shared.config.proxied_host.is_some()
        && (req.method() == axum::http::Method::POST || req.method() == axum::http::Method::PUT)
    {
        // What a proxied write gets: a 400 that says nothing.
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"meta": {
                "httpStatus": status_text(StatusCode::BAD_REQUEST),
                "requestId": request_id(&shared),
                "notice": proxy_notice(&shared),
            }})),
        )
            .into_response();
    }
    if fail {
        count(&|s| s.failed += 1);
        return error(
            &shared,
            StatusCode::INTERNAL_SERVER_ERROR,
            "ISE_1",
            "An internal server error occurred.",
        );
    }
    let response = next.run(req).await;
    if drop {
        count(&|s| s.dropped += 1);
        // The work is done; the answer never arrives: the body breaks off.
        let broken = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("simulated dropped connection"))
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::from_stream(broken));
    }
    response
}

/// `POST /oauth2/token`: the client-credentials grant, HTTP Basic with a known client.
async fn oauth_token(State(shared): S, headers: HeaderMap, body: Bytes) -> Response {
    *shared
        .lock_stats()
        .requests
        .entry("POST /oauth2/token".into())
        .or_default() += 1;
    let refused =
        |status: StatusCode, error: &str| (status, Json(json!({"error": error}))).into_response();
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(base64_decode)
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
        return refused(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if !shared
        .config
        .oauth_clients
        .iter()
        .any(|(i, s)| i == id && s == secret)
    {
        return refused(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let form: HashMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (form_decode(k), form_decode(v)))
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return refused(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let scope = form.get("scope").cloned().filter(|s| !s.is_empty());
    let token = {
        let mut rng = shared.rng.lock().unwrap_or_else(|e| e.into_inner());
        crate::fake::id(&mut rng, "", 48)
    };
    let ttl = shared.config.oauth_token_ttl;
    shared
        .access_tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(token.clone(), (Instant::now() + ttl, scope.clone()));
    Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs().max(1),
        "scope": scope.unwrap_or_else(|| "manage:all".into()),
    }))
    .into_response()
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or(""), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A listing paged by `skipToken`, five a page, `nextPage` a full URL to follow as it is.
fn skip_token_page<T: serde::Serialize>(
    shared: &Shared,
    headers: &HeaderMap,
    path: &str,
    q: &HashMap<String, String>,
    items: Vec<T>,
) -> Response {
    const SKIP_PAGE: usize = 5;
    // An opaque token: the offset, disguised.
    let start = match q.get("skipToken") {
        None => 0,
        Some(t) => match t
            .strip_prefix("st")
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .map(|n| n ^ 0x5a5a)
        {
            Some(n) => n,
            None => {
                return error(
                    shared,
                    StatusCode::BAD_REQUEST,
                    "RP_0.8",
                    "Invalid skipToken.",
                )
            }
        },
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(SKIP_PAGE).collect();
    let next = (start + SKIP_PAGE < total).then(|| {
        absolute_url(
            headers,
            &format!(
                "/API/v3/{path}?skipToken=st{:x}",
                (start + SKIP_PAGE) ^ 0x5a5a
            ),
        )
    });
    ok(shared, json!({"elements": page, "nextPage": next}))
}

async fn list_directories(
    State(shared): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let dirs = shared.lock_store().directories.clone();
    skip_token_page(&shared, &headers, "directories", &q, dirs)
}

async fn list_libraries(
    State(shared): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let libs: Vec<Value> = {
        let store = shared.lock_store();
        let admin = store.admin().map(|a| {
            json!({
                "libraryId": a.id,
                "libraryName": format!(
                    "{} {}",
                    a.first_name.clone().unwrap_or_default(),
                    a.last_name.clone().unwrap_or_default()
                )
            })
        });
        admin
            .into_iter()
            .chain(
                store
                    .group_libraries
                    .iter()
                    .map(|(id, name)| json!({"libraryId": id, "libraryName": name})),
            )
            .collect()
    };
    skip_token_page(&shared, &headers, "libraries", &q, libs)
}

async fn get_api_token(State(shared): S, Path(id): Path<String>) -> Response {
    let store = shared.lock_store();
    if store.get(&id).is_none() {
        drop(store);
        return not_found_response(&shared);
    }
    let token = store.api_tokens.get(&id).cloned();
    drop(store);
    match token {
        Some(t) => ok(&shared, json!({"apiToken": t})),
        None => error(
            &shared,
            StatusCode::NOT_FOUND,
            "RP_0.9",
            "The user has no API token.",
        ),
    }
}

async fn create_api_token(State(shared): S, Path(id): Path<String>) -> Response {
    let mut store = shared.lock_store();
    if store.get(&id).is_none() {
        drop(store);
        return not_found_response(&shared);
    }
    if !store.has_api_access(&id) {
        drop(store);
        return error(
            &shared,
            StatusCode::FORBIDDEN,
            "AC_3",
            "The user does not have the Access API permission.",
        );
    }
    let token = {
        let mut rng = shared.rng.lock().unwrap_or_else(|e| e.into_inner());
        crate::fake::id(&mut rng, "", 40)
    };
    let entry = WalEntry::ApiToken {
        user_id: id,
        token: token.clone(),
    };
    if let Err(e) = shared.commit(&mut store, entry) {
        drop(store);
        return not_durable(&shared, &e);
    }
    drop(store);
    shared.lock_stats().writes += 1;
    ok(&shared, json!({"apiToken": token}))
}

/// Sleeps `d` to within a few microseconds: the timer rounds up to the next millisecond, which
/// would add up to a millisecond to every simulated latency; the last millisecond is yielded away.
async fn precise_sleep(d: std::time::Duration) {
    if d.is_zero() {
        return;
    }
    let deadline = Instant::now() + d;
    let coarse = d.saturating_sub(std::time::Duration::from_millis(1));
    if !coarse.is_zero() {
        tokio::time::sleep(coarse).await;
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

/// The division of a division administrator's request, if it is one.
fn division_of<'a>(shared: &'a Shared, headers: &HeaderMap) -> Option<&'a str> {
    let token = headers.get("x-api-token").and_then(|v| v.to_str().ok())?;
    shared
        .config
        .division_admin
        .as_ref()
        .filter(|(t, _)| t == token)
        .map(|(_, d)| d.as_str())
}

async fn whoami(State(shared): S, headers: HeaderMap) -> Response {
    let non_admin = headers
        .get("x-api-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| Some(t) == shared.config.non_admin_token.as_deref());
    let store = shared.lock_store();
    let Some(admin) = store.admin() else {
        return not_found_response(&shared);
    };
    if division_of(&shared, &headers).is_some() {
        let value = json!({
            "userId": "UR_00000000divadmin",
            "userName": "division-admin@qusers-sim.example",
            "firstName": "Division",
            "lastName": "Admin",
            "email": "division-admin@qusers-sim.example",
            "brandId": store.brand_id,
            "accountType": "UT_DIVISIONADMIN",
            "language": "EN",
            "datacenter": shared.config.datacenter(),
        });
        drop(store);
        return ok(&shared, value);
    }
    let value = json!({
        "userId": if non_admin { "UR_0000000000nonadm" } else { admin.id.as_str() },
        "userName": if non_admin { "researcher@qusers-sim.example" } else { admin.username.as_str() },
        "firstName": admin.first_name,
        "lastName": admin.last_name,
        "email": admin.email,
        "brandId": store.brand_id,
        "accountType": if non_admin { "UT_RESEARCHER" } else { "UT_BRANDADMIN" },
        "language": "en",
        "datacenter": shared.config.datacenter(),
    });
    drop(store);
    ok(&shared, value)
}

async fn list_users(
    State(shared): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let offset: usize = match q.get("offset").map(|o| o.parse()) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(_)) => {
            return error(
                &shared,
                StatusCode::BAD_REQUEST,
                "RP_0.2",
                "Invalid offset.",
            )
        }
    };
    // The filter matches loosely (a substring, any case): clients check what comes back.
    let filter = q.get("username").map(|u| u.to_lowercase());
    let division = division_of(&shared, &headers);
    let store = shared.lock_store();
    let (page, total): (Vec<&ApiUser>, usize) = match &filter {
        // A division administrator sees its division's users only.
        _ if division.is_some() => {
            let matching: Vec<&ApiUser> = store
                .users
                .iter()
                .filter(|u| u.division_id.as_deref() == division)
                .filter(|u| {
                    filter
                        .as_ref()
                        .is_none_or(|f| u.username.to_lowercase().contains(f.as_str()))
                })
                .collect();
            let total = matching.len();
            (
                matching.into_iter().skip(offset).take(PAGE_SIZE).collect(),
                total,
            )
        }
        // Without a filter a page is a slice: paging 100,000 users stays linear.
        None => (
            store.users.iter().skip(offset).take(PAGE_SIZE).collect(),
            store.users.len(),
        ),
        Some(f) => {
            let matching: Vec<&ApiUser> = store
                .users
                .iter()
                .filter(|u| u.username.to_lowercase().contains(f.as_str()))
                .collect();
            let total = matching.len();
            (
                matching.into_iter().skip(offset).take(PAGE_SIZE).collect(),
                total,
            )
        }
    };
    let next = (offset + PAGE_SIZE < total).then(|| {
        let mut url = absolute_url(
            &headers,
            &format!("/API/v3/users?offset={}", offset + PAGE_SIZE),
        );
        if let Some(u) = q.get("username") {
            url.push_str("&username=");
            url.push_str(&percent(u));
        }
        url
    });
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        elements: Vec<Value>,
        next_page: Option<String>,
    }
    let elements = page
        .into_iter()
        .map(|u| {
            if shared.config.rich_list {
                rich_element(u)
            } else {
                thin_element(u)
            }
        })
        .collect();
    drop(store);
    ok(
        &shared,
        Page {
            elements,
            next_page: next,
        },
    )
}

/// A list element as the real API gives it: the eight fields and nothing else (the captured
/// fixtures in qualtrics-api.md); a field without a value is `null`, not absent.
fn thin_element(u: &ApiUser) -> Value {
    json!({
        "id": u.id,
        "divisionId": u.division_id,
        "username": u.username,
        "firstName": u.first_name,
        "lastName": u.last_name,
        "userType": u.user_type,
        "email": u.email,
        "accountStatus": u.account_status,
    })
}

/// A list element with every stored field (`--rich-list`): the simulator's shape before
/// issue 20, dates as the API writes them.
fn rich_element(u: &ApiUser) -> Value {
    let mut v = thin_element(u);
    let date = |d: &Option<String>| d.as_deref().and_then(super::store::api_timestamp);
    v["accountExpirationDate"] = json!(date(&u.account_expiration_date));
    v["language"] = json!(u.language.as_deref().map(str::to_lowercase));
    v["timeZone"] = json!(u.time_zone);
    v["accountCreationDate"] = json!(date(&u.account_creation_date));
    v["lastLoginDate"] = json!(date(&u.last_login_date));
    v
}

/// `GET /users/{id}`: the full record, every date a UTC timestamp to the second.
fn full_record(u: &ApiUser, organization_id: &str) -> Value {
    let date = |d: &Option<String>| d.as_deref().and_then(super::store::api_timestamp);
    let created = date(&u.account_creation_date);
    let mut v = thin_element(u);
    let more = json!({
        "organizationId": organization_id,
        "language": u.language.as_deref().map_or("en".to_string(), str::to_lowercase),
        "unsubscribed": false,
        "accountCreationDate": created,
        "accountExpirationDate": date(&u.account_expiration_date),
        "passwordLastChangedDate": created,
        "passwordExpirationDate": null,
        "lastLoginDate": date(&u.last_login_date),
        "timeZone": u.time_zone.as_deref().unwrap_or("America/Denver"),
        "responseCounts": {"auditable": 0, "generated": 0, "deleted": 0},
    });
    if let (Some(v), Value::Object(more)) = (v.as_object_mut(), more) {
        v.extend(more);
    }
    v
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn get_user(State(shared): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    // A division administrator's token reads only its division's users.
    let division = division_of(&shared, &headers);
    let (user, permissions) = {
        let store = shared.lock_store();
        (
            store
                .get(&id)
                .filter(|u| division.is_none() || u.division_id.as_deref() == division)
                .map(|u| full_record(u, &store.brand_id)),
            permissions_json(&store, &id),
        )
    };
    match user {
        Some(mut u) => {
            u["permissions"] = permissions;
            ok(&shared, u)
        }
        None => not_found_response(&shared),
    }
}

/// `permissions.controlPanel.accountPermissions.accessApi.state` of an update, if given.
fn access_api_in(body: &Value) -> Option<bool> {
    body.pointer("/permissions/controlPanel/accountPermissions/accessApi/state")
        .and_then(Value::as_str)
        .map(|s| s.eq_ignore_ascii_case("on"))
}

async fn get_division(State(shared): S, Path(id): Path<String>) -> Response {
    let name = shared.lock_store().divisions.get(&id).cloned();
    match name {
        Some(name) => ok(&shared, json!({"name": name, "status": "Active"})),
        None => not_found_response(&shared),
    }
}

fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

/// A date as the API takes it (a timestamp, or a bare date), stored the way the API returns
/// dates: a UTC timestamp to the second. `None` when it is no date.
fn stored_date(s: &str) -> Option<String> {
    crate::api::read_date(s).map(crate::api::write_date)
}

/// Checks the fields a create or update may carry; the message when one is wrong.
fn field_problem(shared: &Shared, body: &Value) -> Option<String> {
    let store = shared.lock_store();
    if let Some(t) = str_field(body, "userType") {
        if !store.user_types.contains_key(t) {
            return Some(format!("Invalid userType: {t}"));
        }
    }
    if let Some(d) = str_field(body, "divisionId") {
        if !store.divisions.contains_key(d) {
            return Some(format!("Invalid divisionId: {d}"));
        }
    }
    if let Some(e) = str_field(body, "accountExpirationDate") {
        if !e.is_empty() && stored_date(e).is_none() {
            return Some(format!("Invalid accountExpirationDate: {e}"));
        }
    }
    if let Some(s) = str_field(body, "status") {
        if s != "active" && s != "disabled" {
            return Some(format!("Invalid status: {s}"));
        }
    }
    for name in ["firstName", "lastName"] {
        if let Some(v) = str_field(body, name) {
            if !forbidden_symbols(v).is_empty() {
                return Some(format!("Invalid characters in {name}"));
            }
        }
    }
    None
}

async fn create_user(State(shared): S, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(mut body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            &shared,
            StatusCode::BAD_REQUEST,
            "RP_0.3",
            "Invalid request body.",
        );
    };
    // A division administrator creates users in its own division only.
    if let Some(d) = division_of(&shared, &headers) {
        match str_field(&body, "divisionId") {
            None | Some("") => body["divisionId"] = json!(d),
            Some(other) if other != d => {
                return error(
                    &shared,
                    StatusCode::FORBIDDEN,
                    "AC_1",
                    "You do not have permission to access this resource.",
                )
            }
            Some(_) => {}
        }
    }
    for required in ["username", "firstName", "lastName", "email", "userType"] {
        if str_field(&body, required).is_none_or(str::is_empty) {
            return error(
                &shared,
                StatusCode::BAD_REQUEST,
                "RP_0.4",
                &format!("Missing required field: {required}"),
            );
        }
    }
    let username = str_field(&body, "username").unwrap_or_default().to_string();
    let valid = forbidden_symbols(&username).is_empty()
        && match &shared.config.sso_brand {
            // The validator's own rule: one `#`, the brand in any case, something before it.
            Some(brand) => sso_username_issue(&username, brand).is_none(),
            None => email_issue(&username).is_none(),
        };
    if !valid {
        return error(
            &shared,
            StatusCode::BAD_REQUEST,
            "RP_0.5",
            "Invalid username.",
        );
    }
    if let Some(problem) = field_problem(&shared, &body) {
        return error(&shared, StatusCode::BAD_REQUEST, "RP_0.6", &problem);
    }
    let id = {
        let mut store = shared.lock_store();
        if store.by_username(&username).is_some() {
            drop(store);
            return error(
                &shared,
                StatusCode::CONFLICT,
                "RP_0.7",
                &format!("Username {username} already exists."),
            );
        }
        let id = {
            let mut rng = shared.rng.lock().unwrap_or_else(|e| e.into_inner());
            store.new_user_id(&mut rng)
        };
        let s = |n: &str| str_field(&body, n).map(String::from);
        let user = ApiUser {
            id: id.clone(),
            username,
            first_name: s("firstName"),
            last_name: s("lastName"),
            email: s("email"),
            division_id: s("divisionId"),
            user_type: s("userType"),
            account_status: Some("active".into()),
            account_expiration_date: s("accountExpirationDate").as_deref().and_then(stored_date),
            language: s("language").or(Some("en".into())),
            time_zone: s("timeZone"),
            account_creation_date: Some(super::Store::now_timestamp()),
            last_login_date: None,
        };
        if let Err(e) = shared.commit(
            &mut store,
            WalEntry::Put {
                user: Box::new(user),
            },
        ) {
            drop(store);
            return not_durable(&shared, &e);
        }
        id
    };
    shared.lock_stats().writes += 1;
    ok(&shared, json!({"id": id}))
}

async fn update_user(
    State(shared): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            &shared,
            StatusCode::BAD_REQUEST,
            "RP_0.3",
            "Invalid request body.",
        );
    };
    let division = division_of(&shared, &headers);
    let visible = shared
        .lock_store()
        .get(&id)
        .is_some_and(|u| division.is_none() || u.division_id.as_deref() == division);
    if !visible {
        return not_found_response(&shared);
    }
    if let Some(problem) = field_problem(&shared, &body) {
        return error(&shared, StatusCode::BAD_REQUEST, "RP_0.6", &problem);
    }
    {
        let mut store = shared.lock_store();
        let Some(mut user) = store.get(&id).cloned() else {
            drop(store);
            return not_found_response(&shared);
        };
        let s = |n: &str| str_field(&body, n).map(String::from);
        // A field the body names replaces the stored one; the others stay.
        let set = |field: &mut Option<String>, v: Option<String>| {
            if v.is_some() {
                *field = v;
            }
        };
        set(&mut user.first_name, s("firstName"));
        set(&mut user.last_name, s("lastName"));
        set(&mut user.user_type, s("userType"));
        set(&mut user.division_id, s("divisionId"));
        set(&mut user.account_status, s("status"));
        set(&mut user.email, s("email"));
        set(&mut user.language, s("language"));
        set(&mut user.time_zone, s("timeZone"));
        if let Some(v) = s("accountExpirationDate") {
            user.account_expiration_date = stored_date(&v);
        }
        if let Err(e) = shared.commit(
            &mut store,
            WalEntry::Put {
                user: Box::new(user),
            },
        ) {
            drop(store);
            return not_durable(&shared, &e);
        }
        if let Some(on) = access_api_in(&body) {
            let entry = WalEntry::AccessApi {
                user_id: id.clone(),
                on,
            };
            if let Err(e) = shared.commit(&mut store, entry) {
                drop(store);
                return not_durable(&shared, &e);
            }
        }
    }
    shared.lock_stats().writes += 1;
    done(&shared)
}

/// `DELETE /users/{id}`: the user is gone; the answer is the API's envelope.
async fn delete_user(State(shared): S, Path(id): Path<String>) -> Response {
    {
        let mut store = shared.lock_store();
        if store.get(&id).is_none() {
            drop(store);
            return not_found_response(&shared);
        }
        if let Err(e) = shared.commit(&mut store, WalEntry::Delete { user_id: id }) {
            drop(store);
            return not_durable(&shared, &e);
        }
    }
    shared.lock_stats().writes += 1;
    done(&shared)
}
