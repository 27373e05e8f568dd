//! The rate controller against 429s that do not come from the rate (every 7th write refused)
//! and against a server that limits requests in flight. Speed is measured by
//! `examples/throttle_rate.rs` (figures in the notes), not asserted here: these tests check
//! that the work is done, no row fails, and the controller ends where it should.

use crate::support;

use std::time::Duration;

use qusers::api::{BaseUrl, Client, ClientOptions, NewUser, Token};
use qusers::sim::{self, SimConfig, SimHandle};

fn client(h: &SimHandle) -> Client {
    Client::new(
        BaseUrl::parse(&h.url()).expect("url"),
        Token::new(h.token()).expect("token"),
        ClientOptions {
            backoff_base: Duration::from_millis(5),
            backoff_cap: Duration::from_millis(100),
            // No ceiling: these tests are of the adaptive control alone.
            max_rps: None,
            ..ClientOptions::default()
        },
    )
    .expect("client")
}

fn a_type(h: &SimHandle) -> String {
    h.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("a type")
    })
}

async fn create_all(c: &Client, user_type: &str, n: usize, tag: &str) -> usize {
    let mut tasks = Vec::new();
    for k in 0..n {
        let c = c.clone();
        let username = format!("{tag}{k}@x.example");
        let user = NewUser {
            username: username.clone(),
            first_name: "Rate".into(),
            last_name: "Control".into(),
            user_type: user_type.to_string(),
            email: username,
            language: "EN".into(),
            ..Default::default()
        };
        tasks.push(tokio::spawn(async move { c.create_user_once(&user).await }));
    }
    let mut ok = 0;
    for t in tasks {
        t.await.expect("task").expect("no row fails");
        ok += 1;
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_share_of_429s_does_not_drive_the_rate_down() {
    let h = sim::spawn(SimConfig {
        throttle_every: Some(7),
        ..SimConfig::default()
    })
    .expect("sim");
    let c = client(&h);
    let t = a_type(&h);
    assert_eq!(create_all(&c, &t, 260, "seven").await, 260);
    assert_eq!(h.with_store(|s| s.users.len()), 261);
    let stats = h.stats();
    assert!(
        stats.rate_limited >= 37,
        "every 7th write refused: {stats:?}"
    );
    assert_eq!(c.retries(), stats.rate_limited, "each 429 retried once");
    // The old controller ratcheted down to 3-4 requests a second; the floor is 0.5.
    let rate = c.rate().rate();
    assert!(rate > 10.0, "the rate was driven down to {rate}");
    assert!(
        c.rate().cuts() <= 8,
        "a few cuts while learning: {}",
        c.rate().cuts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_is_found() {
    let h = sim::spawn(SimConfig {
        max_in_flight: Some(5),
        latency: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .expect("sim");
    let c = client(&h);
    let t = a_type(&h);
    assert_eq!(create_all(&c, &t, 300, "inflight").await, 300);
    assert_eq!(h.with_store(|s| s.users.len()), 301);
    let limit = c.rate().concurrency_limit();
    assert!(
        limit < 10,
        "the in-flight limit adapted below the start of 10: {limit}"
    );
    // Not thrashing: the limit is learnt in a few windows (how many refusals that costs
    // depends on the machine's speed, so the bound is loose).
    let stats = h.stats();
    assert!(
        stats.rate_limited < 600,
        "the refusals stopped growing: {stats:?}"
    );
}

#[test]
fn the_sim_knobs_are_flags() {
    let out = support::qusers()
        .args(["sim", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--throttle-every"), "{help}");
    assert!(help.contains("--max-in-flight"), "{help}");
}
