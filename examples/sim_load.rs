//! How many `GET /whoami` the simulator answers per second at zero latency:
//! `cargo run --release --example sim_load [SECONDS] [CONNECTIONS]`.

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let connections: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(32);
    let sim = qusers::sim::spawn(qusers::sim::SimConfig::default())?;
    let url = format!("{}/API/v3/whoami", sim.url());
    let token = sim.token().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .build()?;
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (http, url, token, done) = (http.clone(), url.clone(), token.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < until {
                    let ok = http
                        .get(&url)
                        .header("X-API-TOKEN", &token)
                        .send()
                        .await
                        .map(|r| r.status().is_success());
                    if matches!(ok, Ok(true)) {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let n = done.load(Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} GET /whoami in {secs:.1} s: {:.0} per second ({connections} connections, load generator on the same 2 cores)",
        n as f64 / secs
    );
    Ok(())
}
