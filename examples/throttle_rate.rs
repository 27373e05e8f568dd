//! Import time against a simulator whose 429s do not come from the rate:
//! `cargo run --release --example throttle_rate -- [MODE] [N] [ROWS] [LATENCY_MS]`
//! MODE `every` (default): 429 to every Nth write (default 7); MODE `inflight`: 429 when more
//! than N requests are in flight (default 5). ROWS defaults to 260, LATENCY_MS to 0.

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use clap::Parser;
use qusers::sim::{self, SimConfig};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "every".into());
    let n: u32 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if mode == "every" { 7 } else { 5 });
    let rows: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(260);
    let latency: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let h = sim::spawn(SimConfig {
        latency: Duration::from_millis(latency),
        throttle_every: (mode == "every").then_some(n),
        max_in_flight: (mode != "every").then_some(n),
        ..SimConfig::default()
    })?;
    let user_type = h.with_store(|s| s.user_types.keys().find(|t| *t != "UT_BRANDADMIN").cloned());
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("users.csv");
    let mut text = String::from(
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n",
    );
    for k in 0..rows {
        text.push_str(&format!(
            ",throttle{k}@x.org,Throttle,User{k},throttle{k}@x.org,,{},active,\n",
            user_type.as_deref().unwrap_or("UT_BRANDADMIN")
        ));
    }
    std::fs::write(&file, text)?;
    let report = dir.path().join("report.csv");
    std::env::set_var("QUALTRICS_API_TOKEN", h.token());
    let cli = qusers::cli::Cli::parse_from([
        "qusers".to_string(),
        "import".into(),
        file.display().to_string(),
        "--report".into(),
        report.display().to_string(),
        "--base-url".into(),
        h.url(),
        "--yes".into(),
        "--quiet".into(),
    ]);
    let started = Instant::now();
    let exit = qusers::cli::run(cli)?;
    let secs = started.elapsed().as_secs_f64();
    let created = h.with_store(|s| s.users.len() - 1);
    let stats = h.stats();
    println!(
        "{mode} {n}, {rows} rows, {latency} ms: {created} created in {secs:.1} s; {} answered 429; exit {exit:?}",
        stats.rate_limited
    );
    Ok(())
}
