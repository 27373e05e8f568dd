//! Import throughput against the simulator, end to end through the CLI code:
//! `cargo run --release --example import_rate [ROWS] [LATENCY_MS] [LIMIT_PER_MIN] [MAX_RPS]`
//! (defaults: 10,000 rows, 100 ms, 3000/min, the default ceiling; LIMIT 0 means unlimited).
//! The share printed is of the sim's limit: rows created over the whole run (listing included).

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use clap::Parser;
use qusers::sim::{self, SimConfig};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let latency: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let limit: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3000);
    let max_rps: Option<String> = args.next();
    let h = sim::spawn(SimConfig {
        latency: Duration::from_millis(latency),
        rate_limit_per_min: (limit > 0).then_some(limit),
        ..SimConfig::default()
    })?;
    let user_type = h.with_store(|s| s.user_types.keys().find(|t| *t != "UT_BRANDADMIN").cloned());
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("users.csv");
    let mut text = String::from("userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n");
    for n in 0..rows {
        text.push_str(&format!(
            ",bench{n}@x.org,Bench,User{n},bench{n}@x.org,,{},active,\n",
            user_type.as_deref().unwrap_or("UT_BRANDADMIN")
        ));
    }
    std::fs::write(&file, text)?;
    let report = dir.path().join("report.csv");
    std::env::set_var("QUALTRICS_API_TOKEN", h.token());
    let mut argv = vec![
        "qusers".to_string(),
        "import".into(),
        file.display().to_string(),
        "--report".into(),
        report.display().to_string(),
        "--base-url".into(),
        h.url(),
        "--yes".into(),
        "--quiet".into(),
        "--concurrency".into(),
        if limit > 0 { "10".into() } else { "32".into() },
        "--format".into(),
        "json".into(),
    ];
    if let Some(r) = &max_rps {
        argv.extend(["--max-rps".to_string(), r.clone()]);
    }
    let cli = qusers::cli::Cli::parse_from(argv);
    let started = Instant::now();
    let exit = qusers::cli::run(cli)?;
    let secs = started.elapsed().as_secs_f64();
    let created = h.with_store(|s| s.users.len() - 1);
    let stats = h.stats();
    let rate = created as f64 / secs;
    print!("{rows} rows: {created} created in {secs:.1} s = {rate:.0} rows/s");
    if limit > 0 {
        print!(
            " = {:.1} % of the {limit}/min limit",
            100.0 * rate / (f64::from(limit) / 60.0)
        );
    }
    println!(
        "; {} answered 429; ceiling {}; exit {:?}",
        stats.rate_limited,
        max_rps.as_deref().unwrap_or("default (35/s)"),
        exit
    );
    Ok(())
}
