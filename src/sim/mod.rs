//! The Qualtrics-compatible simulator: the v3 endpoints qusers uses, with the envelope, the
//! error codes and paging of the real API, and knobs for latency, rate limits and faults. It is
//! the test double of Qualtrics for every test, and a way to try qusers without an account.

mod routes;
mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use serde::Serialize;

pub use store::{AccessApiState, Store, WalEntry, ADMIN_USERNAME};

/// How a simulator behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The token it accepts (`X-API-TOKEN`).
    pub token: String,
    /// A token of a user who is not a brand admin: whoami works, user endpoints answer 403.
    pub non_admin_token: Option<String>,
    pub latency: Duration,
    /// Requests per minute before it answers 429.
    pub rate_limit_per_min: Option<u32>,
    /// Share of requests answered 5xx before anything is done.
    pub fail_rate: f64,
    /// Share of requests whose connection is closed after the work was done.
    pub drop_rate: f64,
    pub seed: u64,
    /// Where the instance is persisted (atomically), if anywhere.
    pub state: Option<PathBuf>,
    /// Demo users to create when starting without a state.
    pub demo_users: usize,
    /// Answer 429 to every Nth write (create or update), whatever the rate.
    pub throttle_every: Option<u32>,
    /// Answer 429 when more than this many requests are in flight.
    pub max_in_flight: Option<u32>,
    /// Answer as a host that proxies to this one: every answer carries the "Request proxied"
    /// notice naming it, and writes answer a bare 400.
    pub proxied_host: Option<String>,
    /// OAuth clients `(id, secret)` that may fetch access tokens at `/oauth2/token`.
    pub oauth_clients: Vec<(String, String)>,
    /// How long an access token lives.
    pub oauth_token_ttl: Duration,
    /// An SSO brand: usernames end in `#ID` (demo users too), and need not be emails.
    pub sso_brand: Option<String>,
    /// List elements carry every stored field, as the simulator answered before issue 20 (for
    /// comparison); by default they carry the eight fields of the real API's thin list.
    pub rich_list: bool,
    /// How long a request's head, and then its body, may take to arrive: a slow or half-sent
    /// request is cut off after it (its connection closed, or a 408), so that slow clients
    /// cannot hold the simulator's connections and file descriptors. Zero: no timeout.
    pub read_timeout: Duration,
    /// A division administrator's token and its division (`DV_…`): it lists, reads and
    /// changes only that division's users, and creates users in it.
    pub division_admin: Option<(String, String)>,
}

/// The default [`SimConfig::read_timeout`].
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl SimConfig {
    /// The datacenter `GET /whoami` reports: the proxied-to host's, or `sim`.
    pub fn datacenter(&self) -> String {
        self.proxied_host
            .as_deref()
            .and_then(crate::api::datacenter_of_host)
            .unwrap_or("sim")
            .to_string()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            token: "sim-token".into(),
            non_admin_token: None,
            latency: Duration::ZERO,
            rate_limit_per_min: None,
            fail_rate: 0.0,
            drop_rate: 0.0,
            seed: 1,
            state: None,
            demo_users: 0,
            throttle_every: None,
            max_in_flight: None,
            proxied_host: None,
            oauth_clients: Vec::new(),
            oauth_token_ttl: Duration::from_secs(3600),
            sso_brand: None,
            rich_list: false,
            read_timeout: READ_TIMEOUT,
            division_admin: None,
        }
    }
}

/// Requests the simulator received, by route and outcome: what tests assert.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SimStats {
    /// `METHOD /route` → requests, every one counted (rejected ones too).
    pub requests: BTreeMap<String, u64>,
    pub rate_limited: u64,
    pub failed: u64,
    pub dropped: u64,
    /// Writes applied (creates and updates).
    pub writes: u64,
}

/// A token bucket refilled at the per-minute limit, holding at most a second's worth.
struct Bucket {
    tokens: f64,
    per_sec: f64,
    last: Instant,
}

/// What the handlers share.
pub(crate) struct Shared {
    config: SimConfig,
    store: Mutex<Store>,
    rng: Mutex<StdRng>,
    stats: Mutex<SimStats>,
    bucket: Mutex<Option<Bucket>>,
    dirty: AtomicBool,
    request_ids: AtomicU64,
    /// Writes arrived (for `throttle_every`) and requests in flight (for `max_in_flight`).
    writes_arrived: AtomicU64,
    in_flight: AtomicU64,
    /// Access tokens issued: token → (expiry, scope).
    access_tokens: Mutex<std::collections::HashMap<String, (Instant, Option<String>)>>,
    /// The write-ahead log beside the state file: every write is a line here before it is
    /// answered, so a SIGKILL loses no acknowledged write.
    wal: Mutex<Option<std::fs::File>>,
}

impl Shared {
    fn lock_store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_stats(&self) -> std::sync::MutexGuard<'_, SimStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes a write durable (a line in the log, written before this returns), then applies
    /// it. Called with the store locked, so that log and snapshot agree on the order.
    pub(crate) fn commit(&self, store: &mut Store, entry: WalEntry) -> anyhow::Result<()> {
        use std::io::Write;
        let mut wal = self.wal.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = wal.as_mut() {
            let mut line = serde_json::to_vec(&entry)?;
            line.push(b'\n');
            // One write of the whole line: in the OS's hands once it returns (SIGKILL-safe).
            file.write_all(&line)
                .context("cannot write the simulator's log")?;
        }
        drop(wal);
        store.apply(entry);
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }
}

/// The log of a state file: `STATE.wal`.
fn wal_path(state: &std::path::Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, what `--base-url` takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    pub fn stats(&self) -> SimStats {
        self.shared.lock_stats().clone()
    }

    /// A look at the instance (for tests and for the closing summary).
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.shared.lock_store())
    }

    /// Stops serving and persists the state.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        save_if_dirty(&self.shared)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

fn save_if_dirty(shared: &Shared) -> anyhow::Result<()> {
    if let Some(path) = &shared.config.state {
        if shared.dirty.swap(false, Ordering::AcqRel) {
            // The store stays locked until the log is emptied: no write falls between them.
            let store = shared.lock_store();
            if let Err(e) = store.save(path) {
                shared.dirty.store(true, Ordering::Release);
                return Err(e);
            }
            if let Some(file) = shared
                .wal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
            {
                file.set_len(0)
                    .context("cannot empty the simulator's log")?;
            }
        }
    }
    Ok(())
}

fn build_shared(config: SimConfig) -> anyhow::Result<Arc<Shared>> {
    let mut rng = Store::rng(config.seed);
    let (mut store, mut fresh) = match &config.state {
        Some(path) if path.exists() => (Store::load(path)?, false),
        _ => (
            Store::new_for(&mut rng, config.demo_users, config.sso_brand.as_deref()),
            true,
        ),
    };
    let wal = match &config.state {
        Some(path) => {
            let wal = wal_path(path);
            // Writes acknowledged after the last snapshot.
            if store.replay(&wal)? > 0 {
                fresh = true;
            }
            Some(
                // Never through a planted link (the error names the path).
                crate::fsx::open(&wal, crate::fsx::Open::Append { create: true })
                    .context("cannot open the simulator log")?,
            )
        }
        None => None,
    };
    let bucket = config.rate_limit_per_min.map(|per_min| {
        let per_sec = f64::from(per_min.max(1)) / 60.0;
        Bucket {
            tokens: per_sec.max(1.0),
            per_sec,
            last: Instant::now(),
        }
    });
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        rng: Mutex::new(rng),
        stats: Mutex::new(SimStats::default()),
        bucket: Mutex::new(bucket),
        dirty: AtomicBool::new(fresh),
        request_ids: AtomicU64::new(0),
        writes_arrived: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        access_tokens: Mutex::new(std::collections::HashMap::new()),
        wal: Mutex::new(wal),
        config,
    });
    save_if_dirty(&shared)?;
    Ok(shared)
}

/// A simulator whose instance is loaded (and its state on disk), not yet serving.
pub struct Prepared(Arc<Shared>);

/// Loads or creates the instance (state file and log included), before any port is announced.
pub fn prepare(config: SimConfig) -> anyhow::Result<Prepared> {
    Ok(Prepared(build_shared(config)?))
}

impl Prepared {
    /// Serves until `shutdown` resolves, saving the state when it changed (at most every
    /// 200 ms, and at the end); every write is in the log before it is answered.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        serve_shared(self.0, listener, shutdown).await
    }
}

/// Where the simulator's own trouble goes, set once by whoever runs it (the command line sets
/// stderr): the simulator sits below the presentation layer and does not reach up to it.
static LOG: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Sends the simulator's trouble lines to `sink` (the first call wins).
pub fn set_log(sink: fn(&str)) {
    let _ = LOG.set(sink);
}

/// The simulator's own trouble (a state it could not save, a listener it could not use): the
/// server keeps going, and whoever runs it should know.
pub(crate) fn log(what: std::fmt::Arguments<'_>) {
    if let Some(sink) = LOG.get() {
        sink(&format!("qusers sim: {what}"));
    }
}

async fn serve_shared(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let saver = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if let Err(e) = save_if_dirty(&shared) {
                    log(format_args!("{e:#}"));
                }
            }
        })
    };
    let app = routes::router(shared.clone());
    let result = serve_connections(app, listener, shared.config.read_timeout, shutdown).await;
    saver.abort();
    save_if_dirty(&shared)?;
    result
}

/// Serves HTTP/1.1 connections until `shutdown`, each with a header read timeout (axum's own
/// loop sets none): a client that opens connections and never finishes a request is cut off
/// after `read_timeout`, while everyone else is served. On shutdown, requests in flight get a
/// few seconds to finish.
async fn serve_connections(
    app: axum::Router,
    listener: tokio::net::TcpListener,
    read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                // Out of file descriptors, or a connection reset before it was accepted:
                // wait a moment and go on serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut closing = closing_rx.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                // Zero: no timeout.
                .header_read_timeout(Some(read_timeout).filter(|t| !t.is_zero()))
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        // Finished connections are reaped as new ones come.
        while connections.try_join_next().is_some() {}
    }
    let _ = closing_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    Ok(())
}

/// Starts a simulator on a loopback port of its own thread: for tests and `--sim`.
pub fn spawn(config: SimConfig) -> anyhow::Result<SimHandle> {
    let shared = build_shared(config)?;
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot open a loopback port for the simulator")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name("qusers-sim".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    log(format_args!("cannot start: {e}"));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        log(format_args!("{e}"));
                        return;
                    }
                };
                let stop = async move {
                    let _ = rx.await;
                };
                if let Err(e) = serve_shared(thread_shared, listener, stop).await {
                    log(format_args!("{e:#}"));
                }
            });
        })?;
    Ok(SimHandle {
        addr,
        shared,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}
