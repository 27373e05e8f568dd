//! The sync's speed targets: a 30,000-row roster against a 30,000-user instance at 150 ms
//! latency plans (`--dry-run`) in under 10 s; a day with 300 changes applies in under a minute
//! at the default ceiling. Run: `cargo run --release --example sync_bench [USERS] [LATENCY_MS]`.

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use qusers::api::{BaseUrl, Client, ClientOptions, Token};
use qusers::file::Source;
use qusers::import::{ImportOptions, NoProgress};
use qusers::sim::{self, SimConfig};
use qusers::sync::{guard::GuardOptions, Deprovision, Grace, SyncOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let users: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30_000);
    let latency: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(150);
    let sim = sim::spawn(SimConfig {
        token: "bench-token-0123456789abcdef".into(),
        demo_users: users,
        latency: Duration::from_millis(latency),
        ..SimConfig::default()
    })?;
    let dir = tempfile::tempdir()?;
    let roster = dir.path().join("roster.csv");
    // The roster: every demo user (the admin aside), in a roster's own columns.
    let people: Vec<(String, String, String, String)> = sim.with_store(|s| {
        s.users
            .iter()
            .filter(|u| u.user_type.as_deref() != Some("UT_BRANDADMIN"))
            .map(|u| {
                (
                    u.username.clone(),
                    u.first_name.clone().unwrap_or_default(),
                    u.last_name.clone().unwrap_or_default(),
                    u.user_type.clone().unwrap_or_default(),
                )
            })
            .collect()
    });
    let write = |rows: &[(String, String, String, String)]| -> anyhow::Result<()> {
        let mut w = csv::Writer::from_path(&roster)?;
        w.write_record(["Login", "First", "Last", "Type"])?;
        for r in rows {
            w.write_record([&r.0, &r.1, &r.2, &r.3])?;
        }
        w.flush()?;
        Ok(())
    };
    write(&people)?;
    let student = sim.with_store(|s| {
        s.user_types
            .iter()
            .find(|(_, n)| n.as_str() == "Student")
            .map(|(i, _)| i.clone())
            .unwrap_or_default()
    });
    let map = "[fields]\nuserName = \"{Login}\"\nemail = \"{Login}\"\nfirstName = \"{First}\"\nlastName = \"{Last}\"\naccountType = \"{Type}\"\n".to_string();
    let map = map.as_str();
    let client = Client::new(
        BaseUrl::parse(&sim.url())?,
        Token::new(sim.token())?,
        ClientOptions::default(),
    )?;
    let run = |dry_run: bool, day: &str| -> anyhow::Result<(f64, String)> {
        let mut import = ImportOptions::new(dir.path().join(format!("{day}.csv")));
        import.dry_run = dry_run;
        import.brakes.allow_mass_changes = true;
        let opts = SyncOptions {
            roster: Source::Path(roster.clone()),
            read: Default::default(),
            map: Some(("map.toml".into(), map.into())),
            scope: vec!["username:*".parse().map_err(anyhow::Error::msg)?],
            grace: Grace::Runs(3),
            deprovision: Deprovision::Disable,
            expire_after_days: 30,
            reenable_all: false,
            guard: GuardOptions::default(),
            accept_roster: false,
            state_dir: dir.path().join("state"),
            import,
            today: day.parse()?,
            notify: None,
            mail: None,
            notify_always: false,
            target: "bench".into(),
            seats: None,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let t = Instant::now();
        let cancel = AtomicBool::new(false);
        let out = rt.block_on(qusers::sync::run(
            opts,
            client.clone(),
            &NoProgress,
            &cancel,
            &|_| Ok(()),
        ))?;
        Ok((
            t.elapsed().as_secs_f64(),
            qusers::present::sync::notification(&out, "bench")["text"].to_string(),
        ))
    };
    let (t, text) = run(true, "2027-01-01")?;
    println!(
        "dry run, {users} rows vs {} users at {latency} ms: {t:.2} s  {text}",
        users + 1
    );
    // A first real run records the baseline (nothing to change), then a day of 300 changes:
    // 150 renamed, 100 joiners, 50 leavers (missing: grace 3).
    let (t0, _) = run(false, "2027-01-01")?;
    println!("in-step run: {t0:.2} s");
    let mut day2 = people.clone();
    for p in day2.iter_mut().take(150) {
        p.1.push('x');
    }
    day2.truncate(day2.len() - 50);
    for i in 0..100 {
        day2.push((
            format!("joiner{i}@bench.example"),
            "New".into(),
            format!("Joiner{i}"),
            student.clone(),
        ));
    }
    write(&day2)?;
    let (t, text) = run(false, "2027-01-02")?;
    println!("day with 300 changes: {t:.2} s  {text}");
    Ok(())
}
