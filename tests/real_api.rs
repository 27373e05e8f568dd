//! qusers against the API as the evidence shows it (issue 20 items 3–6, issue 21's server
//! side): offset paging read in parallel and checked against the server's chain, taken
//! usernames whatever the wording, inherited API access, the wire formats, endless paging,
//! server ids checked before use. Servers that must misbehave in one precise way are tiny
//! loopback servers started here; the rest runs against the simulator.

use crate::loopback;
use crate::support;

use std::collections::HashSet;
use std::time::Duration;

use loopback::{list_user, Reply, Seen, Server};
use qusers::api::{BaseUrl, Client, ClientOptions, ErrorKind, NewUser, Secret, Token, UserFilter};
use qusers::sim::{self, SimConfig, SimHandle};
use serde_json::json;
use support::{qusers, read_report, write_user_file};

const TOKEN: &str = "real-api-test-token-0123456789";

fn client_with(url: &str, opts: ClientOptions) -> Client {
    Client::new(
        BaseUrl::parse(url).expect("url"),
        Token::new(TOKEN).expect("token"),
        ClientOptions {
            backoff_base: Duration::from_millis(5),
            backoff_cap: Duration::from_millis(20),
            max_attempts: 2,
            ..opts
        },
    )
    .expect("client")
}

fn client(url: &str) -> Client {
    client_with(url, ClientOptions::default())
}

fn id(n: usize) -> String {
    format!("UR_{n:011}")
}

/// A listing of `total` users in pages of 100 by `offset`, with `nextPage` absolute; `tweak`
/// may change a page (its users and its `nextPage`) for the offset asked.
fn offset_server(
    total: usize,
    tweak: impl Fn(usize, &mut Vec<serde_json::Value>, &mut Option<String>, &str)
        + Send
        + Sync
        + 'static,
) -> Server {
    Server::start(Duration::from_millis(30), move |req: &Seen, url: &str| {
        if req.path() != "/API/v3/users" {
            return Reply::error("404 Not Found", "RP_0.1", "no such resource");
        }
        let offset: usize = req
            .query("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let end = (offset + 100).min(total);
        let mut users: Vec<_> = (offset.min(end)..end)
            .map(|n| list_user(&id(n), &format!("u{n}@x.org")))
            .collect();
        let mut next = (end < total).then(|| format!("{url}/API/v3/users?offset={end}"));
        tweak(offset, &mut users, &mut next, url);
        Reply::ok(json!({"elements": users, "nextPage": next}))
    })
}

/// Every user id a listing hands on, in order.
async fn list(c: &Client) -> Result<Vec<String>, qusers::api::ApiError> {
    let mut ids = Vec::new();
    c.users(&UserFilter::default(), |page| {
        ids.extend(page.into_iter().map(|u| u.id))
    })
    .await?;
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_pages_are_read_ahead_in_parallel_in_order() {
    let s = offset_server(2_500, |_, _, _, _| {});
    let c = client(&s.url);
    let ids = list(&c).await.expect("list");
    let want: Vec<String> = (0..2_500).map(id).collect();
    assert_eq!(ids, want, "every user once, in the server's order");
    assert!(
        s.peak_in_flight() > 4,
        "pages were asked for at once: peak {}",
        s.peak_in_flight()
    );
    let pages = s.count("GET", "/API/v3/users");
    assert!(
        (25..=25 + qusers::api::READ_AHEAD).contains(&pages),
        "25 pages and at most a read-ahead past the end: {pages}"
    );
    assert!(c.paging_notes().is_empty(), "{:?}", c.paging_notes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_offset_the_chain_is_followed_one_by_one() {
    // An opaque cursor: nothing to read ahead.
    let s = Server::start(Duration::from_millis(5), |req: &Seen, url: &str| {
        let page: usize = req
            .query("cursor")
            .and_then(|c| c.trim_start_matches('c').parse().ok())
            .unwrap_or(0);
        let users: Vec<_> = (page * 100..page * 100 + 100)
            .map(|n| list_user(&id(n), &format!("u{n}@x.org")))
            .collect();
        let next = (page < 4).then(|| format!("{url}/API/v3/users?cursor=c{}", page + 1));
        Reply::ok(json!({"elements": users, "nextPage": next}))
    });
    let c = client(&s.url);
    let ids = list(&c).await.expect("list");
    assert_eq!(ids.len(), 500);
    assert_eq!(s.peak_in_flight(), 1, "one page at a time");
    assert_eq!(s.count("GET", "/API/v3/users"), 5);
}

/// Runs a listing against a server that breaks the offset chain at offset 700, and checks
/// that every user still arrives (the chain followed one by one from there) and a note says so.
async fn falls_back(
    note: &str,
    tweak: impl Fn(usize, &mut Vec<serde_json::Value>, &mut Option<String>, &str)
        + Send
        + Sync
        + 'static,
) {
    let s = offset_server(2_500, tweak);
    let c = client(&s.url);
    let ids = list(&c).await.expect("list");
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 2_500, "no user lost");
    let notes = c.paging_notes();
    assert!(
        notes
            .iter()
            .any(|n| n.contains(note) && n.contains("one by one")),
        "{notes:?}"
    );
    // The note reaches the summary's lines.
    assert!(c.transient_stats().render_line().contains(note));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_page_that_disagrees_falls_back_to_the_chain() {
    // The page at 700 points to the right users by another URL (a cursor added).
    falls_back("is not offset 800", |offset, _, next, url| {
        if offset == 700 {
            *next = Some(format!("{url}/API/v3/users?offset=800&cursor=x"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_page_before_the_end_falls_back_to_the_chain() {
    // The page at 700 holds 50 users and says the next starts at 750.
    falls_back(
        "has 50 users but is not the last",
        |offset, users, next, url| {
            if offset == 700 {
                users.truncate(50);
                *next = Some(format!("{url}/API/v3/users?offset=750"));
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_seen_twice_falls_back_to_the_chain() {
    // The listing shifted under the reader: the page at 700 starts with the last user of 600.
    falls_back(
        "lists a user an earlier page listed",
        |offset, users, _, _| {
            if offset == 700 {
                users.insert(0, list_user(&id(699), "u699@x.org"));
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_fresh_pages_stop_past_what_a_brand_holds() {
    // Every page fresh, every nextPage new: without a bound this never ends.
    let s = Server::start(Duration::ZERO, |req: &Seen, url: &str| {
        let offset: usize = req
            .query("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let users: Vec<_> = (offset..offset + 100)
            .map(|n| list_user(&id(n), &format!("u{n}@x.org")))
            .collect();
        Reply::ok(json!({
            "elements": users,
            "nextPage": format!("{url}/API/v3/users?offset={}", offset + 100)
        }))
    });
    let c = client_with(
        &s.url,
        ClientOptions {
            max_listed_users: 3_000,
            max_rps: None,
            ..ClientOptions::default()
        },
    );
    let e = list(&c).await.expect_err("stops");
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(
        e.message.contains("past 3,000 users") && e.message.contains("more than any"),
        "{e}"
    );
    let pages = s.count("GET", "/API/v3/users");
    assert!(pages <= 31 + qusers::api::READ_AHEAD, "{pages} pages");
    // The default bound is what README documents.
    assert_eq!(qusers::api::MAX_LISTED_USERS, 1_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_id_from_the_server_goes_into_no_url() {
    let s = Server::start(Duration::ZERO, |req: &Seen, _url: &str| {
        if req.path() == "/API/v3/users" {
            Reply::ok(json!({
                "elements": [list_user("UR_../../whoami?x=", "evil@x.org")],
                "nextPage": null
            }))
        } else {
            Reply::ok(json!({}))
        }
    });
    let c = client(&s.url);
    let e = list(&c).await.expect_err("refused");
    assert!(e.message.contains("not a Qualtrics user id"), "{e}");
    let e = c.get_user("UR_../x").await.expect_err("refused");
    assert!(e.message.contains("not a Qualtrics user id"), "{e}");
    assert!(
        s.seen().iter().all(|r| !r.target.contains("..")),
        "no request carried the id"
    );
}

fn new_user(username: &str) -> NewUser {
    NewUser {
        username: username.into(),
        password: Some(Secret::new("Pw-0123456789abc!")),
        first_name: "Joel".into(),
        last_name: "Doe".into(),
        user_type: "UT_BRANDADMIN".into(),
        email: "joel@demo.com".into(),
        language: "EN".into(),
        ..Default::default()
    }
}

/// A brand holding `listed` (found by a username look-up), refusing creates as `refusal`.
fn refusing_server(listed: Option<&'static str>, refusal: fn() -> Reply) -> Server {
    Server::start(Duration::ZERO, move |req: &Seen, _url: &str| {
        match (req.method.as_str(), req.path()) {
            ("POST", "/API/v3/users") => refusal(),
            ("GET", "/API/v3/users") => {
                let wanted = req.query("username").unwrap_or_default();
                let users: Vec<_> = listed
                    .filter(|l| l.contains(wanted.as_str()))
                    .map(|l| list_user(&id(7), l))
                    .into_iter()
                    .collect();
                Reply::ok(json!({"elements": users, "nextPage": null}))
            }
            _ => Reply::error("404 Not Found", "RP_0.1", "no such resource"),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_username_does_not_depend_on_the_wording() {
    // A 409 in words no list of phrases knows.
    let s = refusing_server(None, || {
        Reply::error("409 Conflict", "E_1042", "Ressource en conflit")
    });
    let e = client(&s.url)
        .create_user(&new_user("joel@demo.com"))
        .await
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::UsernameTaken, "{e}");
    assert!(
        e.message.contains("Ressource en conflit"),
        "the server's words kept: {e}"
    );

    // A 400 for a name taken in another brand: never listed here, the message says so.
    let s = refusing_server(None, || {
        Reply::error(
            "400 Bad Request",
            "RP_0.7",
            "This user name is not available",
        )
    });
    let e = client(&s.url)
        .create_user(&new_user("joel@demo.com"))
        .await
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::UsernameTaken, "{e}");

    // A bare 400 for a name a look-up finds in this brand.
    let s = refusing_server(Some("joel@demo.com"), || {
        Reply::error("400 Bad Request", "RP_0.1", "Invalid request")
    });
    let e = client(&s.url)
        .create_user(&new_user("joel@demo.com"))
        .await
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::UsernameTaken, "{e}");
    assert!(
        e.message.contains("finds joel@demo.com in this brand"),
        "{e}"
    );
    assert_eq!(s.count("GET", "/API/v3/users"), 1, "one look-up");

    // A bare 400 for a name nobody has: a refusal like any other.
    let s = refusing_server(None, || {
        Reply::error("400 Bad Request", "RP_0.1", "Invalid request")
    });
    let e = client(&s.url)
        .create_user(&new_user("joel@demo.com"))
        .await
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::BadRequest, "{e}");
}

/// A brand for `qusers import`: whoami, a listing with the admin only, and creates that
/// answer 409 in unfamiliar words for the names in `taken`.
fn brand_server(taken: &'static [&'static str]) -> Server {
    Server::start(Duration::ZERO, move |req: &Seen, _url: &str| {
        match (req.method.as_str(), req.path()) {
            ("GET", "/API/v3/whoami") => Reply::ok(json!({
                "userId": id(1), "userName": "admin@demo.com", "firstName": "A",
                "lastName": "Admin", "email": "admin@demo.com", "brandId": "demo",
                "accountType": "UT_BRANDADMIN", "language": "en", "datacenter": "iad1"
            })),
            ("GET", "/API/v3/users") => {
                let mut researcher = list_user(&id(2), "res@demo.com");
                researcher["userType"] = json!("UT_RESEARCH0001");
                Reply::ok(json!({
                    "elements": [list_user(&id(1), "admin@demo.com"), researcher],
                    "nextPage": null
                }))
            }
            ("POST", "/API/v3/users") => {
                let name = req.json()["username"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if taken.contains(&name.as_str()) {
                    Reply::error("409 Conflict", "E_1042", "Konflikt")
                } else {
                    Reply::ok(json!({"id": id(42)}))
                }
            }
            _ => Reply::error("404 Not Found", "RP_0.1", "no such resource"),
        }
    })
}

#[test]
fn on_taken_suffix_works_whatever_the_message_says() {
    let s = brand_server(&["joel@demo.com", "joel+1@demo.com"]);
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("users.csv");
    write_user_file(
        &file,
        &[",joel@demo.com,Joel,Doe,joel@demo.com,,UT_RESEARCH0001,active,".to_string()],
    );
    let report = dir.path().join("report.csv");
    let out = support::run(
        qusers()
            .args([
                "import",
                file.to_str().expect("utf-8"),
                "--base-url",
                &s.url,
            ])
            .args([
                "--on-taken",
                "suffix",
                "--yes",
                "--report",
                report.to_str().expect("utf-8"),
            ])
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    let stdout = out.stdout.as_str();
    let stderr = out.stderr.as_str();
    assert_eq!(out.code, 0, "{stdout}{stderr}");
    let rows = read_report(&report);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "created", "{:?}", rows[0]);
    assert!(
        rows[0]["message"].contains("joel+2@demo.com"),
        "{:?}",
        rows[0]
    );
    let posts: Vec<String> = s
        .seen()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            r.json()["username"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        posts,
        ["joel@demo.com", "joel+1@demo.com", "joel+2@demo.com"],
        "each taken name tried once"
    );
    // language goes lower-case on the wire, whatever --language said (default en).
    assert!(s
        .seen()
        .iter()
        .filter(|r| r.method == "POST")
        .all(|r| r.json()["language"] == "en"));
}

#[test]
fn language_is_sent_lower_case_in_any_case_given() {
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        ..SimConfig::default()
    })
    .expect("sim");
    let t = researcher_type(&h);
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("users.csv");
    write_user_file(
        &file,
        &[format!(
            ",ann.lee@x.org,Ann,Lee,ann.lee@x.org,,{t},active,12/31/2027"
        )],
    );
    let out = support::run(
        qusers()
            .args([
                "import",
                file.to_str().expect("utf-8"),
                "--base-url",
                &h.url(),
            ])
            .args(["--language", "PT-BR", "--yes", "--report"])
            .arg(dir.path().join("report.csv"))
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    h.with_store(|s| {
        let ann = s.by_username("ann.lee@x.org").expect("created");
        assert_eq!(ann.language.as_deref(), Some("pt-br"));
        // The date went out, and is kept, as the API writes dates.
        assert_eq!(
            ann.account_expiration_date.as_deref(),
            Some("2027-12-31T00:00:00Z")
        );
    });
}

fn researcher_type(h: &SimHandle) -> String {
    h.with_store(|s| {
        s.user_types
            .iter()
            .find(|(_, name)| *name == "Researcher")
            .map(|(id, _)| id.clone())
            .expect("a Researcher type")
    })
}

#[test]
fn integration_user_leaves_inherited_api_access_alone() {
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        ..SimConfig::default()
    })
    .expect("sim");
    let t = researcher_type(&h);
    let partner = "partner@client.com";
    // The partner exists already, with a user type that gives API access.
    let c = client(&h.url());
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let mut u = new_user(partner);
    u.user_type = t;
    let uid = rt.block_on(c.create_user(&u)).expect("create").value;
    assert_eq!(
        h.with_store(|s| s.access_api_state(&uid)),
        sim::AccessApiState {
            state: "userType",
            calculated: true
        }
    );
    let dir = tempfile::tempdir().expect("tmp");
    let token_file = dir.path().join("partner.token");
    let run = |extra: &[&str]| {
        let out = support::run(
            qusers()
                .args([
                    "integration-user",
                    "--username",
                    partner,
                    "--base-url",
                    &h.url(),
                ])
                .args(extra)
                .env("QUALTRICS_API_TOKEN", TOKEN),
        );
        assert_eq!(out.code, 0, "{out:?}");
        out.stdout.clone()
    };
    let dry = run(&["--dry-run"]);
    assert!(
        dry.contains("already has API access through its user type"),
        "{dry}"
    );
    let real = run(&["--token-out", token_file.to_str().expect("utf-8")]);
    assert!(real.contains("through its user type"), "{real}");
    let puts: u64 = h
        .stats()
        .requests
        .iter()
        .filter(|(k, _)| k.starts_with("PUT /users"))
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(puts, 0, "no permission was set over the inherited one");
    assert_eq!(
        h.with_store(|s| s.access_api_state(&uid)).state,
        "userType",
        "still inherited"
    );
    assert!(token_file.exists(), "the token was still generated");
}

#[test]
fn dates_in_every_timestamp_form_are_read() {
    let forms: &[(&str, &str)] = &[
        ("2027-12-31T00:00:00Z", "12/31/2027"),
        ("2027-12-31T00:00:00.000Z", "12/31/2027"),
        ("2027-12-31T05:00:00+05:00", "12/31/2027"),
        ("2027-12-31T20:00:00-05:00", "01/01/2028"),
        ("2027-12-31", "12/31/2027"),
    ];
    let forms_for_server = forms.to_vec();
    let s = Server::start(Duration::ZERO, move |req: &Seen, _url: &str| {
        let user = |n: usize| {
            let mut u = list_user(&id(n), &format!("u{n}@x.org"));
            u["accountExpirationDate"] = json!(forms_for_server[n].0);
            u["accountCreationDate"] = json!(forms_for_server[n].0);
            u["language"] = json!("en");
            u
        };
        match req.path() {
            "/API/v3/whoami" => Reply::ok(json!({
                "userId": id(0), "userName": "u0@x.org", "brandId": "demo",
                "accountType": "UT_BRANDADMIN", "datacenter": "iad1"
            })),
            "/API/v3/users" => Reply::ok(json!({
                "elements": (0..forms_for_server.len()).map(user).collect::<Vec<_>>(),
                "nextPage": null
            })),
            p if p.starts_with("/API/v3/users/") => {
                let n = (0..forms_for_server.len())
                    .find(|n| p.ends_with(&id(*n)))
                    .unwrap_or(0);
                Reply::ok(user(n))
            }
            _ => Reply::error("404 Not Found", "RP_0.1", "no such resource"),
        }
    });
    let dir = tempfile::tempdir().expect("tmp");
    let out_file = dir.path().join("export.csv");
    let out = support::run(
        qusers()
            .args(["export", "--for-update", "--base-url", &s.url, "-o"])
            .arg(&out_file)
            .env("QUALTRICS_API_TOKEN", TOKEN),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let rows = read_report(&out_file);
    assert_eq!(rows.len(), forms.len());
    for (row, (sent, want)) in rows.iter().zip(forms) {
        assert_eq!(row["expirationDate"], *want, "{sent}");
    }
}

#[test]
fn the_summary_names_the_ceiling_and_the_requests_by_kind() {
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("users.csv");
    let run = |extra: &[&str]| {
        let out = support::run(
            qusers()
                .args(["export", "--base-url", &h.url(), "-o"])
                .arg(&file)
                .args(extra)
                .env("QUALTRICS_API_TOKEN", TOKEN),
        );
        assert_eq!(out.code, 0, "{out:?}");
        out.all()
    };
    let default = run(&[]);
    assert!(
        default.contains("35.0 requests/s, 2,100 in any minute"),
        "{default}"
    );
    assert!(default.contains("70 % of the brand"), "{default}");
    let raised = run(&["--max-rps", "50"]);
    assert!(
        raised.contains("50.0 requests/s, 3,000 in any minute"),
        "{raised}"
    );
    assert!(raised.contains("set by --max-rps"), "{raised}");
}

#[test]
fn the_simulator_cuts_off_half_sent_requests_and_serves_others() {
    use std::io::{Read, Write};
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        read_timeout: Duration::from_millis(400),
        ..SimConfig::default()
    })
    .expect("sim");
    let addr = h.addr();
    let mut slow = Vec::new();
    for n in 0..150 {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        if n % 3 == 0 {
            // A body that never finishes.
            let _ = write!(
                s,
                "POST /API/v3/users HTTP/1.1\r\nHost: x\r\nX-API-TOKEN: {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"user"
            );
        } else {
            // A head that never finishes.
            let _ = write!(s, "GET /API/v3/whoami HTTP/1.1\r\nHost: x\r\nX-API-");
        }
        slow.push(s);
    }
    // Someone else is served at once.
    let started = std::time::Instant::now();
    let c = client(&h.url());
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let me = rt.block_on(c.whoami()).expect("served");
    assert_eq!(me.user_name, sim::ADMIN_USERNAME);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served quickly: {:?}",
        started.elapsed()
    );
    // And every half-sent request is cut off after the timeout: its connection ends.
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = Vec::new();
        let r = s.read_to_end(&mut buf);
        assert!(
            r.is_ok() || matches!(r, Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "closed by the server, not left open: {r:?}"
        );
        let text = String::from_utf8_lossy(&buf);
        assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // Nothing a half-sent create carried was applied.
    assert_eq!(h.stats().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_speaks_the_real_shape() {
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        demo_users: 150,
        oauth_clients: vec![("cid".into(), "csecret".into())],
        ..SimConfig::default()
    })
    .expect("sim");
    let http = reqwest::Client::new();
    let api = format!("{}/API/v3", h.url());
    let get = |path: String, proto: Option<&'static str>| {
        let mut r = http
            .get(format!("{api}{path}"))
            .header("X-API-TOKEN", TOKEN);
        if let Some(p) = proto {
            r = r.header("X-Forwarded-Proto", p);
        }
        async move {
            let resp = r.send().await.expect("answer");
            resp.json::<serde_json::Value>().await.expect("json")
        }
    };
    // nextPage: absolute, the scheme the request came in with, offset by 100.
    let page = get("/users".into(), None).await;
    let next = page["result"]["nextPage"].as_str().expect("next");
    assert_eq!(next, format!("{}/API/v3/users?offset=100", h.url()));
    let page = get("/users".into(), Some("https")).await;
    let next = page["result"]["nextPage"].as_str().expect("next");
    assert!(
        next.starts_with("https://") && next.ends_with("?offset=100"),
        "{next}"
    );

    // Permissions with state and calculatedState; user-type inheritance.
    let researcher = researcher_type(&h);
    let (inheriting, other) = h.with_store(|s| {
        let by_type = |want: bool| {
            s.users
                .iter()
                .find(|u| {
                    u.user_type.as_deref() != Some("UT_BRANDADMIN")
                        && (u.user_type.as_deref() == Some(researcher.as_str())) == want
                })
                .map(|u| u.id.clone())
                .expect("a user")
        };
        (by_type(true), by_type(false))
    });
    let access = |id: &str| {
        let f = get(format!("/users/{id}"), None);
        async move {
            f.await["result"]["permissions"]["controlPanel"]["accountPermissions"]["accessApi"]
                .clone()
        }
    };
    assert_eq!(
        access(&inheriting).await,
        json!({"state": "userType", "calculatedState": "on"})
    );
    assert_eq!(
        access(&other).await,
        json!({"state": "userType", "calculatedState": "off"})
    );

    // A taken username on create: 409.
    let taken = h.with_store(|s| s.users[3].username.to_uppercase());
    let resp = http
        .post(format!("{api}/users"))
        .header("X-API-TOKEN", TOKEN)
        .json(
            &json!({"username": taken, "firstName": "A", "lastName": "B",
            "email": "a@b.org", "userType": researcher, "password": "Pw-0123456789!"}),
        )
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 409);

    // DELETE answers the envelope; a method a route does not take too.
    let resp = http
        .delete(format!("{api}/users/{other}"))
        .header("X-API-TOKEN", TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 200);
    let v: serde_json::Value = resp.json().await.expect("json envelope");
    assert_eq!(v["meta"]["httpStatus"], "200 - OK");
    assert!(h.with_store(|s| s.get(&other).is_none()), "deleted");
    let resp = http
        .patch(format!("{api}/users/{inheriting}"))
        .header("X-API-TOKEN", TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 405);
    let v: serde_json::Value = resp.json().await.expect("json envelope");
    assert!(v["meta"]["error"]["errorMessage"].is_string(), "{v}");

    // The Bearer scheme in any case.
    let tok: serde_json::Value = http
        .post(format!("{}/oauth2/token", h.url()))
        .basic_auth("cid", Some("csecret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    let access_token = tok["access_token"].as_str().expect("token");
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let resp = http
            .get(format!("{api}/whoami"))
            .header("Authorization", format!("{scheme} {access_token}"))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 200, "{scheme}");
    }
}

#[test]
fn the_sso_username_rule_is_the_same_for_the_validator_and_the_simulator() {
    let h = sim::spawn(SimConfig {
        token: TOKEN.into(),
        sso_brand: Some("univ".into()),
        ..SimConfig::default()
    })
    .expect("sim");
    let t = researcher_type(&h);
    let c = client(&h.url());
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let names = [
        ("ann.lee#UNIV", true),
        ("jdoe@univ.edu#univ", true),
        ("1352432#Univ", true),
        ("eve#univ#univ", false),
        ("#univ", false),
        ("j doe#univ", false),
        ("jdoe@univ.edu", false),
        ("jdoe#other", false),
    ];
    for (name, valid) in names {
        let validator = qusers::rules::sso_username_issue(name, "univ").is_none();
        let mut u = new_user(name);
        u.user_type = t.clone();
        u.password = None;
        let simulator = match rt.block_on(c.create_user(&u)) {
            Ok(_) => true,
            Err(e) if e.kind == ErrorKind::BadRequest => false,
            Err(e) => panic!("{name}: {e}"),
        };
        assert_eq!(validator, valid, "validator on {name}");
        assert_eq!(simulator, valid, "simulator on {name}");
    }
}
