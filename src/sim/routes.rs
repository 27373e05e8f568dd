//! The simulator's HTTP surface: `/API/v3/...` as Qualtrics answers it, and `/__sim/stats`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

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
use crate::rules::{email_issue, forbidden_symbols};

const PAGE_SIZE: usize = 100;

type S = State<Arc<Shared>>;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/API/v3/whoami", get(whoami))
        .route("/API/v3/users", get(list_users).post(create_user))
        .route("/API/v3/users/{id}", get(get_user).put(update_user))
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

/// A write that could not be made durable is not applied, and not acknowledged.
fn not_durable(shared: &Shared, e: &anyhow::Error) -> Response {
    eprintln!("qusers sim: {e:#}");
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

async fn stats(State(shared): S) -> Response {
    let s = shared.lock_stats().clone();
    Json(s).into_response()
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
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
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
        .or_else(|| bearer_ok(&req).then(|| shared.config.token.clone()));
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

/// The request carries a bearer token (checked above).
fn bearer_ok(req: &Request) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "))
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
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        format!(
            "http://{host}/API/v3/{path}?skipToken=st{:x}",
            (start + SKIP_PAGE) ^ 0x5a5a
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
        "language": "EN",
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
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut url = format!("http://{host}/API/v3/users?offset={}", offset + PAGE_SIZE);
        if let Some(u) = q.get("username") {
            url.push_str("&username=");
            url.push_str(&percent(u));
        }
        url
    });
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Page<'a> {
        elements: Vec<&'a ApiUser>,
        next_page: Option<String>,
    }
    ok(
        &shared,
        Page {
            elements: page,
            next_page: next,
        },
    )
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
    let (user, api) = {
        let store = shared.lock_store();
        (store.get(&id).cloned(), store.has_api_access(&id))
    };
    let division = division_of(&shared, &headers);
    let user = user.filter(|u| division.is_none() || u.division_id.as_deref() == division);
    match user.map(serde_json::to_value) {
        Some(Ok(mut u)) => {
            u["permissions"] = json!({"controlPanel": {"accountPermissions": {
                "accessApi": {"state": if api { "on" } else { "off" }}
            }}});
            ok(&shared, u)
        }
        _ => not_found_response(&shared),
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

fn valid_iso_date(s: &str) -> bool {
    let day = s.get(..10).unwrap_or(s);
    day.parse::<jiff::civil::Date>().is_ok()
        && (s.len() == 10 || s.as_bytes().get(10) == Some(&b'T'))
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
        if !valid_iso_date(e) {
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
    let valid = match &shared.config.sso_brand {
        // On an SSO brand: `something#brand`, no spaces or forbidden symbols before it.
        Some(brand) => username
            .strip_suffix(&format!("#{brand}"))
            .is_some_and(|before| {
                !before.is_empty()
                    && !before.contains(char::is_whitespace)
                    && !before.contains('#')
                    && forbidden_symbols(before).is_empty()
            }),
        None => email_issue(&username).is_none() && forbidden_symbols(&username).is_empty(),
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
                StatusCode::BAD_REQUEST,
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
            account_expiration_date: s("accountExpirationDate"),
            language: s("language").or(Some("EN".into())),
            time_zone: s("timeZone"),
            account_creation_date: Some(jiff::Timestamp::now().to_string()),
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
            user.account_expiration_date = Some(v).filter(|d| !d.is_empty());
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
    Json(json!({
        "meta": {"httpStatus": status_text(StatusCode::OK), "requestId": request_id(&shared)}
    }))
    .into_response()
}
