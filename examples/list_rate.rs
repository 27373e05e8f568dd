//! Reading a whole instance (`GET /users`, every page) at a given latency, with the offset
//! read-ahead and, for comparison, link by link: `cargo run --release --example list_rate
//! [USERS] [LATENCY_MS] [sequential]` (defaults 30,000 users, 150 ms).

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use qusers::api::{BaseUrl, Client, ClientOptions, Token, UserFilter};
use qusers::sim::{self, SimConfig};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(30_000);
    let latency: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(150);
    let sequential = args.next().as_deref() == Some("sequential");
    let h = sim::spawn(SimConfig {
        latency: Duration::from_millis(latency),
        demo_users: users - 1,
        ..SimConfig::default()
    })?;
    // The CLI's defaults: the polite ceiling (35/s, 2,100 a minute) and 20 pages read ahead.
    let client = Client::new(
        BaseUrl::parse(&h.url())?,
        Token::new(h.token())?,
        ClientOptions {
            read_ahead: if sequential {
                1
            } else {
                qusers::api::READ_AHEAD
            },
            ..ClientOptions::default()
        },
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut seen = 0usize;
    rt.block_on(client.users(&UserFilter::default(), |page| seen += page.len()))?;
    let secs = started.elapsed().as_secs_f64();
    let pages = h.stats().requests.get("GET /users").copied().unwrap_or(0);
    println!(
        "{} users at {latency} ms: {seen} read in {secs:.2} s ({pages} page requests, {}; chain alone {:.1} s)",
        users,
        if sequential { "link by link" } else { "read ahead" },
        (users.div_ceil(100) as f64) * latency as f64 / 1000.0
    );
    Ok(())
}
