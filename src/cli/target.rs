//! The target flags every API command shares, resolved once into a client (and, with
//! `--sim`, the in-process simulator it talks to).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::api::{
    BaseUrl, Client, ClientOptions, ClientSecret, Credentials, NoTarget, NoToken, OAuthClient,
    Token,
};
use crate::present::console;
use crate::sim::{self, SimConfig, SimHandle};

/// Demo users a fresh `--sim` state starts with.
pub const SIM_DEMO_USERS: usize = 40;

/// Which instance, and the credentials: what every API command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// The instance URL, e.g. https://iad1.qualtrics.com (or its /API/v3 root)
    #[arg(
        long,
        env = "QUALTRICS_BASE_URL",
        value_name = "URL",
        help_heading = "Target"
    )]
    pub base_url: Option<String>,
    /// The datacenter id (Account Settings › Qualtrics IDs), e.g. iad1
    #[arg(
        long,
        env = "QUALTRICS_DATACENTER",
        value_name = "ID",
        help_heading = "Target"
    )]
    pub datacenter: Option<String>,
    /// A file holding the API token (otherwise QUALTRICS_API_TOKEN is read)
    #[arg(long, value_name = "PATH", help_heading = "Target")]
    pub token_file: Option<PathBuf>,
    /// Use the built-in simulator instead of Qualtrics
    #[arg(long, help_heading = "Target")]
    pub sim: bool,
    /// Where --sim keeps its users between runs
    #[arg(
        long,
        value_name = "PATH",
        default_value = "qusers-sim.json",
        help_heading = "Target"
    )]
    pub sim_state: PathBuf,
    /// Start the simulator afresh: discard its state file first
    #[arg(long, requires = "sim", help_heading = "Target")]
    pub sim_reset: bool,
    /// A file holding the OAuth client secret (otherwise QUALTRICS_CLIENT_SECRET is read);
    /// used with QUALTRICS_CLIENT_ID
    #[arg(long, value_name = "PATH", help_heading = "Target")]
    pub client_secret_file: Option<PathBuf>,
    /// OAuth scopes to ask for (space-separated), e.g. "manage:all" (`--scope` outside sync)
    #[arg(
        long = "oauth-scope",
        alias = "scope",
        value_name = "SCOPES",
        help_heading = "Target"
    )]
    pub oauth_scope: Option<String>,
}

/// The target flags of the bulk commands (`import`, `export`): the connection, the request
/// rate, and whether to go on through a proxying host.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Requests in flight at most
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Target")]
    pub concurrency: u16,
    /// Requests per second at most; also 60 × R in any rolling minute [default: 35, 70 % of
    /// the brand's 3,000/min, which every integration of the brand shares]. The pace adapts
    /// below it on 429s
    #[arg(long, value_name = "R", help_heading = "Target")]
    pub max_rps: Option<f64>,
    /// Go on although the server proxies this host to another datacenter (writes fail there)
    #[arg(long, help_heading = "Target")]
    pub allow_proxied: bool,
}

impl std::ops::Deref for TargetArgs {
    type Target = ConnArgs;
    fn deref(&self) -> &ConnArgs {
        &self.conn
    }
}

/// The OAuth client given by QUALTRICS_CLIENT_ID and QUALTRICS_CLIENT_SECRET or
/// `--client-secret-file`, if any.
fn oauth_client(args: &ConnArgs) -> anyhow::Result<Option<OAuthClient>> {
    let id = std::env::var("QUALTRICS_CLIENT_ID")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let Some(client_id) = id else {
        if args.client_secret_file.is_some() || args.oauth_scope.is_some() {
            bail!(
                "--client-secret-file and --oauth-scope need QUALTRICS_CLIENT_ID (the OAuth client's id)"
            );
        }
        return Ok(None);
    };
    let secret = match &args.client_secret_file {
        Some(path) => ClientSecret::from_file(path, &mut |w| console::err_line(&w))?,
        None => match std::env::var("QUALTRICS_CLIENT_SECRET") {
            Ok(s) if !s.trim().is_empty() => {
                ClientSecret::new(s).context("in QUALTRICS_CLIENT_SECRET")?
            }
            _ => bail!("QUALTRICS_CLIENT_ID is set but no secret: set QUALTRICS_CLIENT_SECRET or pass --client-secret-file PATH"),
        },
    };
    Ok(Some(OAuthClient {
        client_id,
        secret,
        scope: args.oauth_scope.clone().filter(|s| !s.trim().is_empty()),
    }))
}

/// A resolved target.
pub struct Target {
    pub client: Client,
    /// The simulator, when `--sim`: stopped (and its state saved) when this is dropped.
    pub sim: Option<SimHandle>,
    /// How to name the target to the user.
    pub description: String,
}

impl TargetArgs {
    fn client_options(&self) -> anyhow::Result<ClientOptions> {
        if let Some(r) = self.max_rps {
            if !(r > 0.0 && r.is_finite()) {
                bail!("--max-rps must be a positive number");
            }
        }
        let defaults = ClientOptions::default();
        let mut opts = ClientOptions {
            concurrency: usize::from(self.concurrency),
            max_rps: self.max_rps.or(defaults.max_rps),
            ..defaults
        };
        opts.initial_rps = opts.initial_rps.min(opts.max_rps.unwrap_or(f64::INFINITY));
        Ok(opts)
    }

    /// Resolves the target with the rate flags.
    pub fn resolve(&self) -> anyhow::Result<Target> {
        self.conn.resolve_with(self.client_options()?)
    }
}

impl ConnArgs {
    /// Resolves the target with the default request rate.
    pub fn resolve(&self) -> anyhow::Result<Target> {
        self.resolve_with(ClientOptions::default())
    }

    /// Resolves the target: `--sim`, else `--base-url`/`QUALTRICS_BASE_URL`, else
    /// `--datacenter`/`QUALTRICS_DATACENTER`; the token from `--token-file` or
    /// `QUALTRICS_API_TOKEN`.
    pub fn resolve_with(&self, opts: ClientOptions) -> anyhow::Result<Target> {
        if self.sim {
            if self.sim_reset {
                match std::fs::remove_file(&self.sim_state) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("cannot remove {}", self.sim_state.display()))
                    }
                }
            }
            let handle = sim::spawn(SimConfig {
                token: random_token(),
                state: Some(self.sim_state.clone()),
                demo_users: SIM_DEMO_USERS,
                ..SimConfig::default()
            })
            .context("cannot start the built-in simulator")?;
            let base = BaseUrl::parse(&handle.url())?;
            let token = Token::new(handle.token())?;
            let client = Client::new(base, token, opts)?;
            return Ok(Target {
                client,
                description: format!(
                    "the built-in simulator (state {}), not a Qualtrics instance",
                    self.sim_state.display()
                ),
                sim: Some(handle),
            });
        }
        let base = match (&self.base_url, &self.datacenter) {
            (Some(url), _) => BaseUrl::parse(url)?,
            (None, Some(dc)) => BaseUrl::for_datacenter(dc)?,
            (None, None) => bail!(NoTarget),
        };
        // A token file first, then an OAuth client, then the token variable.
        let credentials = match (&self.token_file, oauth_client(self)?) {
            (Some(path), _) => {
                Credentials::Token(Token::from_file(path, &mut |w| console::err_line(&w))?)
            }
            (None, Some(oauth)) => Credentials::OAuth(oauth),
            (None, None) => match std::env::var("QUALTRICS_API_TOKEN") {
                Ok(t) if !t.trim().is_empty() => {
                    Credentials::Token(Token::new(t).context("in QUALTRICS_API_TOKEN")?)
                }
                _ => bail!(NoToken),
            },
        };
        let mut description = match base.datacenter() {
            Some(dc) => format!("{base} (datacenter {dc})"),
            None => base.to_string(),
        };
        if let Credentials::OAuth(c) = &credentials {
            description.push_str(&format!(", OAuth client {}", c.client_id));
        }
        Ok(Target {
            client: Client::with_credentials(base, credentials, opts)?,
            sim: None,
            description,
        })
    }
}

impl Target {
    /// Refuses a host the server proxies to another datacenter, unless `--allow-proxied`:
    /// what `import` and `export` call before any work.
    pub fn check_direct(
        &self,
        args: &TargetArgs,
        rt: &tokio::runtime::Runtime,
    ) -> anyhow::Result<()> {
        self.check_direct_allowing(args.allow_proxied, rt)
    }

    /// [`Target::check_direct`] for a command with its own `--allow-proxied`.
    pub fn check_direct_allowing(
        &self,
        allow_proxied: bool,
        rt: &tokio::runtime::Runtime,
    ) -> anyhow::Result<()> {
        match rt.block_on(crate::api::ensure_direct(&self.client, allow_proxied)) {
            Ok(Some(warning)) => {
                console::err_line(&format!("warning: {warning}"));
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A token for a simulator: 40 letters and digits from the OS RNG.
pub fn random_token() -> String {
    let mut rng = rand::rng();
    crate::fake::id(&mut rng, "", 40)
}

/// The runtime API commands run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A duration in milliseconds, for `--latency`.
pub fn parse_millis(s: &str) -> Result<Duration, String> {
    s.trim_end_matches("ms")
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("`{s}` is not a number of milliseconds"))
}
