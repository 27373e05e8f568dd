//! `qusers sim`: the Qualtrics-compatible simulator on a loopback port.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::target::{parse_millis, random_token, runtime, shutdown_signal};
use super::Exit;
use crate::present::{self, console};
use crate::sim::{self, SimConfig};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; the address is printed)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The token to accept (default: a random one, printed)
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Demo users to create when the state is new
    #[arg(long, value_name = "N", default_value_t = 0)]
    users: usize,
    /// Delay before every answer, milliseconds
    #[arg(long, value_name = "MS", value_parser = parse_millis, default_value = "0")]
    latency: Duration,
    /// Requests per minute before answering 429, e.g. 3000 or 3000/min
    #[arg(long, value_name = "N/min", value_parser = parse_rate)]
    rate_limit: Option<u32>,
    /// Share of requests answered 500 before doing anything (0 to 1)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_share)]
    fail_rate: f64,
    /// Share of requests whose connection is closed after the work is done (0 to 1)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_share)]
    drop_rate: f64,
    /// Seed for ids, demo users and faults
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the instance in this file (written atomically)
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// Also accept this token, as a user who is not a brand admin (403 on user endpoints)
    #[arg(long, value_name = "TOKEN")]
    non_admin_token: Option<String>,
    /// Answer 429 to every Nth write (create or update) whatever the rate: throttling that
    /// does not come from going too fast
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    throttle_every: Option<u32>,
    /// Answer 429 when more than N requests are in flight: a concurrency limit
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: Option<u32>,
    /// Act as a host that proxies to HOST (e.g. sjc1.qualtrics.com): answers carry the
    /// "Request proxied … use this host instead" notice, and writes answer a bare 400
    #[arg(long, value_name = "HOST")]
    proxied_host: Option<String>,
    /// Accept this OAuth client at /oauth2/token (repeatable)
    #[arg(long, value_name = "ID:SECRET", value_parser = parse_client)]
    oauth_client: Vec<(String, String)>,
    /// Seconds an OAuth access token lives
    #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    oauth_token_ttl: u64,
    /// An SSO brand with this id: usernames end in #ID (demo users' too) and need not be emails
    #[arg(long, value_name = "ID")]
    sso_brand: Option<String>,
    /// User list elements carry every field (expiration date, language, dates), as the
    /// simulator answered before; by default they carry the real API's eight fields only
    #[arg(long)]
    rich_list: bool,
    /// How long a request's head, then its body, may take to arrive before the connection is
    /// cut off (slow or half-sent requests), milliseconds
    #[arg(long, value_name = "MS", value_parser = parse_millis, default_value = "30000")]
    read_timeout: Duration,
    /// Print only the address and the token (no example command)
    #[arg(short, long)]
    quiet: bool,
}

fn parse_client(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_string(), secret.to_string()))
        }
        _ => Err("give the OAuth client as ID:SECRET".into()),
    }
}

fn parse_rate(s: &str) -> Result<u32, String> {
    s.trim_end_matches("/min")
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}` is not a rate such as 3000/min"))
}

fn parse_share(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| format!("`{s}` is not a share between 0 and 1"))
}

pub(crate) fn run(args: Args) -> anyhow::Result<Exit> {
    let token = args.token.clone().unwrap_or_else(random_token);
    let config = SimConfig {
        token: token.clone(),
        non_admin_token: args.non_admin_token.clone(),
        latency: args.latency,
        rate_limit_per_min: args.rate_limit,
        fail_rate: args.fail_rate,
        drop_rate: args.drop_rate,
        seed: args.seed,
        state: args.state.clone(),
        demo_users: args.users,
        rich_list: args.rich_list,
        throttle_every: args.throttle_every,
        max_in_flight: args.max_in_flight,
        proxied_host: args.proxied_host.clone(),
        oauth_clients: args.oauth_client.clone(),
        oauth_token_ttl: Duration::from_secs(args.oauth_token_ttl),
        sso_brand: args.sso_brand.clone(),
        read_timeout: args.read_timeout,
        division_admin: None,
    };
    let prepared = sim::prepare(config)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        let addr = listener.local_addr()?;
        console::out(&present::sim::banner(&addr, &token, args.quiet))?;
        prepared.serve(listener, shutdown_signal()).await
    })?;
    Ok(Exit::Ok)
}
