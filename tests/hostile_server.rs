//! The client against servers that misbehave on purpose: redirects to another host, endless
//! answers, paging loops, echoed secrets, a whoami without a user id. Each server is a tiny
//! loopback HTTP/1.1 server written here, one request per connection.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qusers::api::{BaseUrl, Client, ClientOptions, ErrorKind, NewUser, Secret, Token, UserFilter};
use support::qusers;

const TOKEN: &str = "tOkEnSeCrEt0123456789abcdefABCDEF0123";

/// A request as the test server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Seen, &str, &mut TcpStream) + Send + Sync;

/// A loopback server: every request is recorded, then `handler(request, own_url, stream)`
/// writes the answer; the connection is closed after it.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start(handler: impl Fn(&Seen, &str, &mut TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let seen = seen.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let seen = seen.clone();
                    let handler = handler.clone();
                    let url = url.clone();
                    std::thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                        if let Some(req) = read_request(&mut stream) {
                            seen.lock().expect("lock").push(req.clone());
                            handler(&req, &url, &mut stream);
                        }
                        let _ = stream.flush();
                    });
                }
            });
        }
        Server { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

fn respond(stream: &mut TcpStream, status: &str, extra_headers: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    );
}

fn json_ok(stream: &mut TcpStream, result: &str) {
    respond(
        stream,
        "200 OK",
        "",
        &format!(r#"{{"result":{result},"meta":{{"httpStatus":"200 - OK","requestId":"req-1"}}}}"#),
    );
}

fn client(url: &str) -> Client {
    let opts = ClientOptions {
        initial_rps: 500.0,
        max_attempts: 2,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(20),
        request_timeout: Duration::from_secs(60),
        ..ClientOptions::default()
    };
    Client::new(
        BaseUrl::parse(url).expect("url"),
        Token::new(TOKEN).expect("token"),
        opts,
    )
    .expect("client")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs a future with a generous bound: a client that loops for ever fails the test instead
/// of hanging it.
fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    rt().block_on(async {
        tokio::time::timeout(Duration::from_secs(120), f)
            .await
            .expect("the client ended by itself")
    })
}

const WHOAMI: &str = r#"{"userId":"UR_admin000000001","userName":"admin@x.example","brandId":"brand","accountType":"UT_BRANDADMIN"}"#;

// ---------- 1. redirects ----------

#[test]
fn redirects_are_not_followed_and_nothing_reaches_the_other_host() {
    let elsewhere = Server::start(|_, _, s| json_ok(s, WHOAMI));
    let target = elsewhere.url.clone();
    let brand = Server::start(move |req, _, s| {
        let status = if req.method == "POST" {
            "307 Temporary Redirect"
        } else {
            "302 Found"
        };
        respond(
            s,
            status,
            &format!("Location: {target}{}\r\n", req.target),
            "",
        );
    });
    let c = client(&brand.url);
    let e = bounded(c.whoami()).expect_err("a redirect is an error");
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert_eq!(e.status, Some(302));
    assert!(e.message.contains("127.0.0.1"), "names the host: {e}");
    assert!(
        e.message.contains("base URL"),
        "says the base URL is wrong: {e}"
    );

    let user = NewUser {
        username: "new@x.example".into(),
        password: Some(Secret::new("Pa55-word-very-secret")),
        first_name: "A".into(),
        last_name: "B".into(),
        user_type: "UT_X".into(),
        email: "new@x.example".into(),
        language: "EN".into(),
        ..Default::default()
    };
    let e = bounded(c.create_user(&user)).expect_err("a redirect is an error");
    assert_eq!(e.status, Some(307));
    assert!(brand.seen().len() >= 2);
    assert!(brand
        .seen()
        .iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains("Pa55-word-very-secret")));
    // The other host received nothing: no token, no password.
    let got = elsewhere.seen();
    assert!(got.is_empty(), "the redirect target was reached: {got:?}");
    assert!(brand
        .seen()
        .iter()
        .any(|r| r.header("x-api-token") == Some(TOKEN)));

    // The CLI says the same and exits non-zero.
    let out = support::run(
        qusers()
            .args(["whoami", "--base-url", &brand.url])
            .env("QUALTRICS_API_TOKEN", TOKEN)
            .timeout(Duration::from_secs(120)),
    );
    assert_ne!(out.code, 0);
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("redirects to 127.0.0.1"), "{stderr}");
    assert!(elsewhere.seen().is_empty());
}

// ---------- 2. bounded answers ----------

#[test]
fn an_endless_answer_ends_in_an_error_naming_the_bound() {
    let server = Server::start(|_, _, s| {
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let chunk = vec![b' '; 64 * 1024];
        // Until the client hangs up (bounded: 1 GB at most).
        for _ in 0..16 * 1024 {
            if write!(s, "{:x}\r\n", chunk.len()).is_err()
                || s.write_all(&chunk).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                return;
            }
        }
    });
    let c = client(&server.url);
    let e = bounded(c.whoami()).expect_err("too large");
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(e.message.contains("10 MB"), "names the bound: {e}");

    // A declared length above the bound is refused before reading.
    let server = Server::start(|_, _, s| {
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 999999999999\r\n\r\n{{"
        );
    });
    let e = bounded(client(&server.url).whoami()).expect_err("too large");
    assert!(e.message.contains("10 MB"), "{e}");
}

// ---------- 3. paging loops ----------

/// Pages A → B → A → …: each page with its own user, the links cycling.
fn cycling_server() -> Server {
    Server::start(|req, url, s| {
        if req.target.starts_with("/API/v3/whoami") {
            return json_ok(s, WHOAMI);
        }
        let (id, next) = if req.target.contains("page=B") {
            ("UR_b00000000000001", "A")
        } else {
            ("UR_a00000000000001", "B")
        };
        json_ok(
            s,
            &format!(
                r#"{{"elements":[{{"id":"{id}","username":"{id}@x.example","firstName":"A","lastName":"B","email":"{id}@x.example","accountStatus":"active","userType":"UT_X"}}],"nextPage":"{url}/API/v3/users?page={next}"}}"#
            ),
        );
    })
}

#[test]
fn a_cycling_next_page_stops_the_listing() {
    let server = cycling_server();
    let c = client(&server.url);
    let e = bounded(c.users(&UserFilter::default(), |_| {})).expect_err("a loop");
    assert!(e.message.contains("paging loop"), "{e}");
    assert!(server.seen().len() < 10, "stopped early");
}

#[test]
fn pages_that_bring_no_new_user_stop_the_listing() {
    // Every page points to a new URL but holds the same user.
    let server = Server::start(|req, url, s| {
        let n: u64 = req
            .target
            .split("page=")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        json_ok(
            s,
            &format!(
                r#"{{"elements":[{{"id":"UR_same0000000001","username":"same@x.example"}}],"nextPage":"{url}/API/v3/users?page={}"}}"#,
                n + 1
            ),
        );
    });
    let e = bounded(client(&server.url).users(&UserFilter::default(), |_| {})).expect_err("a loop");
    assert!(e.message.contains("no new user"), "{e}");
    assert!(server.seen().len() < 20);
}

#[test]
fn export_through_a_paging_loop_fails_and_leaves_no_file() {
    let server = cycling_server();
    let dir = tempfile::tempdir().expect("tmp");
    let out_path = dir.path().join("users.csv");
    let out = support::run(
        qusers()
            .args(["export", "--for-update", "-o"])
            .arg(&out_path)
            .args(["--base-url", &server.url])
            .env("QUALTRICS_API_TOKEN", TOKEN)
            .timeout(Duration::from_secs(120)),
    );
    assert_ne!(out.code, 0);
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("paging loop"), "{stderr}");
    assert!(!out_path.exists(), "no partial file left looking whole");
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert!(left.is_empty(), "no temp file left: {left:?}");
}

#[test]
fn the_instance_fetch_through_a_paging_loop_fails() {
    let server = cycling_server();
    let out = support::run(
        qusers()
            .arg("validate")
            .arg(support::fixture("valid_create.csv"))
            .args(["--check-instance", "--base-url", &server.url])
            .env("QUALTRICS_API_TOKEN", TOKEN)
            .timeout(Duration::from_secs(120)),
    );
    assert_eq!(out.code, 2, "could not run");
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("paging loop"), "{stderr}");
}

// ---------- 4. reflected secrets ----------

#[test]
fn a_token_echoed_by_the_server_is_never_printed_nor_reported() {
    let server = Server::start(|req, _, s| {
        let token = req.header("x-api-token").unwrap_or("").to_string();
        if req.target.starts_with("/API/v3/whoami") {
            // Fields echoing the token.
            return json_ok(
                s,
                &format!(
                    r#"{{"userId":"UR_admin000000001","userName":"admin {token}","brandId":"b{token}","accountType":"UT_BRANDADMIN"}}"#
                ),
            );
        }
        if req.method == "GET" && req.target.starts_with("/API/v3/users") {
            // The brand-admin check fails with an HTML page echoing it.
            return respond(
                s,
                "502 Bad Gateway",
                "",
                &format!("<html><body>upstream said: token {token} refused</body></html>"),
            );
        }
        respond(
            s,
            "400 Bad Request",
            "",
            &format!(
                r#"{{"meta":{{"httpStatus":"400 - Bad Request","requestId":"r","error":{{"errorMessage":"Bad request for token {token}","errorCode":"RP_{token}"}}}}}}"#
            ),
        );
    });
    for format in ["text", "json"] {
        let out = support::run(
            qusers()
                .args(["whoami", "--format", format, "--base-url", &server.url])
                .env("QUALTRICS_API_TOKEN", TOKEN)
                .timeout(Duration::from_secs(120)),
        );
        let all = out.all();
        assert!(
            all.contains("<redacted>"),
            "the echo is shown scrubbed: {all}"
        );
        assert!(!all.contains(TOKEN), "the token leaked: {all}");
    }

    // Client errors carry scrubbed messages, whatever prints them (a report included).
    let c = client(&server.url);
    let user = NewUser {
        username: "new@x.example".into(),
        first_name: "A".into(),
        last_name: "B".into(),
        user_type: "UT_X".into(),
        email: "new@x.example".into(),
        language: "EN".into(),
        ..Default::default()
    };
    let e = bounded(c.create_user(&user)).expect_err("400");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[test]
fn the_import_report_never_holds_an_echoed_token() {
    let server = Server::start(|req, _, s| {
        let token = req.header("x-api-token").unwrap_or("").to_string();
        if req.target.starts_with("/API/v3/whoami") {
            return json_ok(s, WHOAMI);
        }
        if req.method == "GET" && req.target.starts_with("/API/v3/users") {
            return json_ok(s, r#"{"elements":[],"nextPage":null}"#);
        }
        if req.method == "GET" && req.target.starts_with("/API/v3/divisions/") {
            return json_ok(s, r#"{"name":"Division","status":"Active"}"#);
        }
        respond(
            s,
            "400 Bad Request",
            "",
            &format!(
                r#"{{"meta":{{"httpStatus":"400 - Bad Request","requestId":"r","error":{{"errorMessage":"Invalid userType for token {token}","errorCode":"RP_0.6"}}}}}}"#
            ),
        );
    });
    let dir = tempfile::tempdir().expect("tmp");
    let report = dir.path().join("report.csv");
    let out = support::run(
        qusers()
            .arg("import")
            .arg(support::fixture("valid_create.csv"))
            .arg("--report")
            .arg(&report)
            .args(["--base-url", &server.url, "--yes"])
            .env("QUALTRICS_API_TOKEN", TOKEN)
            .timeout(Duration::from_secs(120)),
    );
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(
        text.contains("<redacted>"),
        "the rows failed with the scrubbed message: {text}"
    );
    for (what, s) in [
        ("report", text),
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
    ] {
        assert!(!s.contains(TOKEN), "the token leaked into the {what}: {s}");
    }
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token leaked into {}",
            path.display()
        );
    }
}

// ---------- 5. whoami without a user id ----------

#[test]
fn whoami_without_a_user_id_is_an_error() {
    let server = Server::start(|_, _, s| json_ok(s, r#"{"userName":"someone"}"#));
    let e = bounded(client(&server.url).whoami()).expect_err("no user id");
    assert!(e.message.contains("no user id"), "{e}");
    let out = support::run(
        qusers()
            .args(["whoami", "--base-url", &server.url])
            .env("QUALTRICS_API_TOKEN", TOKEN)
            .timeout(Duration::from_secs(120)),
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("no user id"));
}
