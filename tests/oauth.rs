//! OAuth client credentials: every command works with QUALTRICS_CLIENT_ID and a secret, the
//! access token is refreshed when it expires mid-import without a failed row, a 403 says which
//! kind of scope is missing, and neither the secret nor an access token is ever shown.

use crate::support;

use std::time::Duration;

use qusers::sim::{self, SimConfig, SimHandle};
use support::qusers;

const CLIENT_ID: &str = "OC_partnerclient01";
const SECRET: &str = "oauth-SECRET-value-4f9a8b7c6d5e";

fn sim_with(ttl: Duration, state: Option<std::path::PathBuf>) -> SimHandle {
    sim::spawn(SimConfig {
        token: "unused-api-token-0123456789".into(),
        oauth_clients: vec![(CLIENT_ID.into(), SECRET.into())],
        oauth_token_ttl: ttl,
        latency: Duration::from_millis(5),
        state,
        ..SimConfig::default()
    })
    .expect("sim")
}

fn users_file(dir: &std::path::Path, user_type: &str, rows: usize) -> std::path::PathBuf {
    let path = dir.join("users.csv");
    let mut text = String::from(
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n",
    );
    for k in 0..rows {
        text.push_str(&format!(
            ",oauth{k}@x.example,Oh,Auth{k},oauth{k}@x.example,,{user_type},active,\n"
        ));
    }
    std::fs::write(&path, text).expect("write");
    path
}

fn a_type(h: &SimHandle) -> String {
    h.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("type")
    })
}

fn oauth_cmd(h: &SimHandle, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = qusers();
    cmd.args(args)
        .env("QUALTRICS_CLIENT_ID", CLIENT_ID)
        .env("QUALTRICS_CLIENT_SECRET", SECRET)
        .env_remove("QUALTRICS_API_TOKEN")
        .args(["--base-url", &h.url()]);
    cmd
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET),
        "the client secret leaked into {what}: {text}"
    );
    assert!(
        !text.contains("4f9a8b7c"),
        "part of the secret leaked into {what}"
    );
}

#[test]
fn a_token_expiring_mid_import_is_refreshed_without_a_failed_row() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = dir.path().join("sim.json");
    // Tokens of 3 s (refreshed 0.3 s early) and an import of 200 rows at 40 requests/s (5 s):
    // at least one refresh mid-import, with room for a starved test machine (with 1 s tokens
    // the 0.1 s margin was lost under load and a row failed).
    let h = sim_with(Duration::from_secs(3), Some(state.clone()));
    let file = users_file(dir.path(), &a_type(&h), 200);
    let report = dir.path().join("report.csv");
    let mut cmd = qusers();
    let out = cmd
        .arg("import")
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .args(["--base-url", &h.url(), "--yes", "--max-rps", "40"])
        .env("QUALTRICS_CLIENT_ID", CLIENT_ID)
        .env("QUALTRICS_CLIENT_SECRET", SECRET)
        .timeout(Duration::from_secs(300))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rows = support::read_report(&report);
    assert_eq!(rows.len(), 200);
    assert!(
        rows.iter().all(|r| r["outcome"] == "created"),
        "every row created"
    );
    assert_eq!(h.with_store(|s| s.users.len()), 201);
    let fetches = h
        .stats()
        .requests
        .get("POST /oauth2/token")
        .copied()
        .unwrap_or(0);
    assert!(fetches >= 2, "the token was refreshed ({fetches} fetches)");
    // Nothing shows the secret or an access token.
    drop(h);
    assert_no_secret("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_no_secret("stderr", &stderr);
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        assert_no_secret(&path.display().to_string(), &text);
        assert!(!text.contains("Bearer"), "{}", path.display());
    }
}

#[test]
fn whoami_and_export_work_with_oauth_and_never_show_the_secret() {
    let h = sim_with(Duration::from_secs(3600), None);
    let out = oauth_cmd(&h, &["whoami", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["credentials"], format!("OAuth client {CLIENT_ID}"));
    assert_no_secret("whoami", &String::from_utf8_lossy(&out.stdout));
    let out = oauth_cmd(&h, &["export"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin@qusers-sim.example"));
    assert_no_secret("export", &String::from_utf8_lossy(&out.stderr));
    // One token for the whole run.
    assert_eq!(h.stats().requests.get("POST /oauth2/token"), Some(&2));
}

#[test]
fn a_wrong_secret_is_refused_and_not_shown() {
    let h = sim_with(Duration::from_secs(3600), None);
    let wrong = "WRONG-secret-value-abcdef123";
    let out = qusers()
        .args(["whoami", "--base-url", &h.url()])
        .env("QUALTRICS_CLIENT_ID", CLIENT_ID)
        .env("QUALTRICS_CLIENT_SECRET", wrong)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("OAuth client was refused"), "{all}");
    assert!(!all.contains(wrong), "{all}");
}

#[test]
fn a_secret_file_and_a_narrow_scope_name_the_missing_scope() {
    let h = sim_with(Duration::from_secs(3600), None);
    let dir = tempfile::tempdir().expect("tmp");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let file = users_file(dir.path(), &a_type(&h), 2);
    let report = dir.path().join("report.csv");
    let out = qusers()
        .arg("import")
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .args(["--base-url", &h.url(), "--yes", "--scope", "read:users"])
        .arg("--client-secret-file")
        .arg(&secret_file)
        .env("QUALTRICS_CLIENT_ID", CLIENT_ID)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&report).expect("report");
    assert!(text.contains("scope that writes users"), "{text}");
    assert_no_secret("report", &text);
    assert_eq!(h.with_store(|s| s.users.len()), 1);
}

/// A loopback server that issues `tok-1`, `tok-2`, … and refuses the tokens listed in
/// `refused` with a 401; one request per connection.
fn token_server(
    refused: &'static [&'static str],
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let issued = Arc::new(AtomicU64::new(0));
    let counter = issued.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            let mut auth = String::new();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if lower.starts_with("authorization:") {
                    auth = h["authorization:".len()..].trim().to_string();
                }
                if lower.starts_with("content-length:") {
                    len = h["content-length:".len()..].trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let (status, text) = if first.contains("/oauth2/token") {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                (
                    "200 OK",
                    format!(
                        r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":3600}}"#
                    ),
                )
            } else if refused.iter().any(|t| auth == format!("Bearer {t}"))
                || !auth.starts_with("Bearer ")
            {
                (
                    "401 Unauthorized",
                    r#"{"meta":{"httpStatus":"401 - Unauthorized","error":{"errorMessage":"Invalid access token","errorCode":"AUTH_1"}}}"#.to_string(),
                )
            } else {
                (
                    "200 OK",
                    r#"{"result":{"userId":"UR_oauth000000001","userName":"o@x.example","brandId":"b","accountType":"UT_BRANDADMIN"},"meta":{"httpStatus":"200 - OK","requestId":"r"}}"#.to_string(),
                )
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, issued)
}

fn oauth_client(url: &str) -> qusers::api::Client {
    use qusers::api::{BaseUrl, Client, ClientOptions, ClientSecret, Credentials, OAuthClient};
    Client::with_credentials(
        BaseUrl::parse(url).expect("url"),
        Credentials::OAuth(OAuthClient {
            client_id: CLIENT_ID.into(),
            secret: ClientSecret::new(SECRET).expect("secret"),
            scope: None,
        }),
        ClientOptions {
            backoff_base: Duration::from_millis(5),
            ..ClientOptions::default()
        },
    )
    .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_access_token_is_fetched_again_once() {
    // The first token is refused (revoked early): a second is fetched and the call succeeds.
    let (url, issued) = token_server(&["tok-1"]);
    let c = oauth_client(&url);
    let me = c.whoami().await.expect("succeeds with the second token");
    assert_eq!(me.user_id, "UR_oauth000000001");
    assert_eq!(issued.load(std::sync::atomic::Ordering::SeqCst), 2);
    c.whoami().await.expect("the second token is cached");
    assert_eq!(c.token_fetches(), 2);

    // Refused again after the refetch: an error, not a loop; no token in it.
    let (url, issued) = token_server(&["tok-1", "tok-2", "tok-3"]);
    let c = oauth_client(&url);
    let e = c.whoami().await.expect_err("refused twice");
    assert_eq!(e.kind, qusers::api::ErrorKind::RejectedToken);
    assert_eq!(issued.load(std::sync::atomic::Ordering::SeqCst), 2);
    let shown = format!("{e} {e:?} {c:?}");
    assert!(
        !shown.contains("tok-2") && !shown.contains(SECRET),
        "{shown}"
    );
}
