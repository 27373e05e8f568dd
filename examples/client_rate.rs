//! The client's sustained rate against a rate-limited, slow simulator:
//! `cargo run --release --example client_rate [SECONDS] [LIMIT_PER_MIN] [LATENCY_MS]`
//! (defaults 60 s, 3000/min, 100 ms). Prints the achieved rate as a share of the limit.

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qusers::api::{BaseUrl, Client, ClientOptions, Token};
use qusers::sim::{self, SimConfig};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let limit: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3000);
    let latency: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let h = sim::spawn(SimConfig {
        latency: Duration::from_millis(latency),
        rate_limit_per_min: Some(limit),
        demo_users: 10,
        ..SimConfig::default()
    })?;
    let client = Client::new(
        BaseUrl::parse(&h.url())?,
        Token::new(h.token())?,
        ClientOptions::default(),
    )?;
    let id = h.with_store(|s| s.users[1].id.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (c, id, ok, failed) = (client.clone(), id.clone(), ok.clone(), failed.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < until {
                    match c.get_user(&id).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let n = ok.load(Ordering::Relaxed);
    let limit_rps = f64::from(limit) / 60.0;
    let stats = h.stats();
    println!(
        "{n} requests succeeded in {secs:.1} s: {:.1}/s = {:.1} % of the {limit_rps:.0}/s limit; {} failed after retries; {} answered 429; client retries {}",
        n as f64 / secs,
        100.0 * n as f64 / secs / limit_rps,
        failed.load(Ordering::Relaxed),
        stats.rate_limited,
        client.retries()
    );
    Ok(())
}
