//! Export time against the page chain's own time: `cargo run --release --example export_rate
//! [USERS] [LATENCY_MS]` (defaults 100,000 users, 10 ms per page).

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use qusers::api::{BaseUrl, Client, ClientOptions, Token};
use qusers::export::{export, ExportOptions};
use qusers::sim::{self, SimConfig};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let latency: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let h = sim::spawn(SimConfig {
        latency: Duration::from_millis(latency),
        demo_users: users - 1,
        ..SimConfig::default()
    })?;
    let client = Client::new(
        BaseUrl::parse(&h.url())?,
        Token::new(h.token())?,
        ClientOptions::default(),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let out = std::io::BufWriter::new(std::fs::File::create(dir.path().join("export.csv"))?);
    let started = Instant::now();
    let stats = rt.block_on(export(&client, &ExportOptions::default(), out, |_| {}))?;
    let secs = started.elapsed().as_secs_f64();
    let chain = stats.pages as f64 * latency as f64 / 1000.0;
    println!(
        "{} users, {} pages in {secs:.2} s; the page chain alone is {chain:.2} s ({} × {latency} ms): {:+.1} %",
        stats.users_written,
        stats.pages,
        stats.pages,
        100.0 * (secs - chain) / chain
    );
    Ok(())
}
