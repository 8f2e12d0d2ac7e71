//! The service as a program: reads the environment, picks the stores, seeds the first
//! administrator, runs the sync worker and the stock-reservation recovery in the background,
//! serves until Ctrl-C.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SWIFTBOX_ADDR` | address to listen on | `127.0.0.1:8080` |
//! | `SWIFTBOX_ADMIN_USERNAME`, `SWIFTBOX_ADMIN_PASSWORD` | first administrator, created at start if missing | in-memory mode: `admin` with a random password printed at start; otherwise none |
//! | `SWIFTBOX_ADMIN_EMAIL` | its e-mail | `<username>@example.invalid` |
//! | `SWIFTBOX_TOKEN_TTL_SECS` | lifetime of log-in tokens | 3600 |
//! | `SWIFTBOX_REQUEST_TIMEOUT_SECS` | how long a request may run before it is answered 503 `timeout` ([`ApiConfig::request_timeout`]) | 30 |
//! | `SWIFTBOX_MONGO_URI` + `SWIFTBOX_NEO4J_URI` (both or neither; see `MongoConfig::from_env` and `Neo4jConfig::from_env` for the rest) | MongoDB + Neo4j | unset: in-memory stores |
//! | `SWIFTBOX_RESERVATION_RECOVERY_SECS` | seconds between passes giving back stock that abandoned order placements left reserved (a client that disconnected mid-order); one pass runs at start | 60 |
//! | `SWIFTBOX_SYNC_WORKER` | `off`: this process runs no sync worker (the inline apply still runs; another process's worker must catch up what it could not apply). More workers stop helping past the graph's write limit (docs/SCALING.md) | `on` |
//! | `SWIFTBOX_LEASE_TTL_SECS` | the sync worker shares the owed changes with the other processes on the same primary store by lease (`swiftbox_sync::lease`); a process gone this long has its share taken over | 10 |
//! | `SWIFTBOX_WORKER_ID` | this process's name among the workers (printable ASCII, no `/`) | `<pid>-<random>` |
//! | `SWIFTBOX_RESERVATION_STALE_SECS` | age in seconds after which such a reservation is given back; must exceed the longest a placement can take | 600 |
//! | `RUST_LOG` | log filter | `info` |
//!
//! The in-memory mode also loads a small demo catalogue so there is something to browse.

use std::net::SocketAddr;
use std::time::Duration;

use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_core::prelude::*;
use swiftbox_core::{Currency, GraphStore, Money, NewCategory, NewProduct, NewUser, PrimaryStore};
use swiftbox_mongo::MongoStore;
use swiftbox_neo4j::Neo4jGraph;
use swiftbox_sync::lease::LeaseConfig;
use swiftbox_sync::maintenance::{MaintenanceConfig, ReservationRecovery};
use swiftbox_sync::neighbours::NeighbourConfig;
use swiftbox_sync::{Synced, WorkerConfig};

use crate::state::{ApiConfig, AppState};

/// A boxed error for the program's start-up.
pub type StartError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The listen address from `SWIFTBOX_ADDR`.
pub fn addr_from_env() -> Result<SocketAddr, StartError> {
    let raw = env("SWIFTBOX_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    raw.parse()
        .map_err(|e| format!("SWIFTBOX_ADDR={raw:?} is not a socket address: {e}").into())
}

/// The variable `name` as a positive whole number of seconds, if set.
fn positive_secs(name: &str) -> Result<Option<Duration>, StartError> {
    env(name)
        .map(|raw| {
            raw.parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{name} must be a positive whole number").into())
        })
        .transpose()
}

/// The API configuration from the environment.
pub fn config_from_env() -> Result<ApiConfig, StartError> {
    let mut config = ApiConfig::default();
    if let Some(ttl) = positive_secs("SWIFTBOX_TOKEN_TTL_SECS")? {
        config.token_ttl = ttl;
    }
    if let Some(timeout) = positive_secs("SWIFTBOX_REQUEST_TIMEOUT_SECS")? {
        config.request_timeout = timeout;
    }
    Ok(config)
}

/// The stock-reservation recovery settings from the environment (see the module docs).
pub fn maintenance_from_env() -> Result<MaintenanceConfig, StartError> {
    let mut config = MaintenanceConfig::default();
    if let Some(interval) = positive_secs("SWIFTBOX_RESERVATION_RECOVERY_SECS")? {
        config.interval = interval;
    }
    if let Some(stale_after) = positive_secs("SWIFTBOX_RESERVATION_STALE_SECS")? {
        config.stale_after = stale_after;
    }
    Ok(config)
}

/// What [`seed_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminSeed {
    /// The administrator was created.
    Created,
    /// An administrator of that name already existed; nothing changed.
    Existed,
    /// A user of that name exists but is not an administrator; nothing changed (promoting an
    /// account someone else may have signed up with would hand it the shop).
    NotAdmin,
}

/// Creates the administrator `username` unless a user of that name exists.
pub async fn seed_admin(
    store: &dyn PrimaryStore,
    username: &str,
    email: &str,
    password: &str,
) -> swiftbox_core::Result<AdminSeed> {
    if let Some(c) = store.credentials(username).await? {
        return Ok(if c.user.is_admin {
            AdminSeed::Existed
        } else {
            AdminSeed::NotAdmin
        });
    }
    store
        .create_user(
            NewUser::new(username, email)
                .with_password(password)
                .admin(true),
        )
        .await?;
    Ok(AdminSeed::Created)
}

fn random_password() -> Result<String, StartError> {
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).map_err(|e| format!("random source failed: {e}"))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// Loads a few categories and products (in-memory mode only, so there is something to browse).
pub async fn seed_demo_catalogue(store: &dyn PrimaryStore) -> swiftbox_core::Result<()> {
    let catalogue: [(&str, &[(&str, i64)]); 3] = [
        (
            "Books",
            &[("Rust in Action", 3999), ("Graph Databases", 2999)],
        ),
        (
            "Coffee",
            &[("Espresso beans 1 kg", 2490), ("Hand grinder", 5900)],
        ),
        ("Games", &[("Chess set", 4500), ("Go board", 7900)]),
    ];
    for (category, products) in catalogue {
        let c = store.create_category(NewCategory::new(category)).await?;
        for (name, minor) in products {
            store
                .create_product(NewProduct {
                    name: (*name).to_owned(),
                    description: String::new(),
                    price: Money::new(*minor, Currency::EUR),
                    images: vec![],
                    category: c.id,
                    stock: 100,
                })
                .await?;
        }
    }
    Ok(())
}

/// Forgets idempotency keys older than `retention`, every `every`, for as long as it runs.
async fn purge_idempotency_keys(
    store: std::sync::Arc<impl PrimaryStore>,
    retention: Duration,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.purge_idempotency_keys(retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "purged old idempotency keys"),
            Err(e) => {
                tracing::warn!(error = %e, "could not purge idempotency keys; trying again later")
            }
        }
    }
}

async fn ctrl_c() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot listen for Ctrl-C; stop the process another way");
        std::future::pending::<()>().await;
    }
}

/// Runs the service as the environment says, until Ctrl-C.
pub async fn run() -> Result<(), StartError> {
    // A second initialisation (an embedding program set up its own) is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let addr = addr_from_env()?;
    let config = config_from_env()?;
    match (env("SWIFTBOX_MONGO_URI"), env("SWIFTBOX_NEO4J_URI")) {
        (None, None) => {
            let synced = Synced::new(MemoryStore::new(), MemoryGraph::new());
            println!("stores: in-memory (data lives as long as this process)");
            seed_demo_catalogue(&synced).await?;
            serve_synced(synced, true, addr, config).await
        }
        (Some(_), Some(_)) => {
            let primary = MongoStore::from_env().await?;
            let graph = Neo4jGraph::connect_from_env().await?;
            graph.migrate().await?;
            println!(
                "stores: MongoDB {} (database {}), Neo4j {}",
                primary.config().redacted_uri(),
                primary.config().database(),
                swiftbox_mongo::redact_uri(graph.config().uri()),
            );
            serve_synced(Synced::new(primary, graph), false, addr, config).await
        }
        _ => Err(
            "set both SWIFTBOX_MONGO_URI and SWIFTBOX_NEO4J_URI (real stores), \
                  or neither (in-memory stores)"
                .into(),
        ),
    }
}

/// Whether this process runs a sync worker: `SWIFTBOX_SYNC_WORKER` `on` (default) or `off`.
fn run_worker_from_env() -> Result<bool, StartError> {
    match env("SWIFTBOX_SYNC_WORKER").as_deref() {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(format!("SWIFTBOX_SYNC_WORKER must be on or off, not {other:?}").into()),
    }
}

/// The sync worker's leases from `SWIFTBOX_LEASE_TTL_SECS` and `SWIFTBOX_WORKER_ID`.
fn lease_from_env() -> Result<LeaseConfig, StartError> {
    let mut lease = LeaseConfig::default();
    if let Some(ttl) = positive_secs("SWIFTBOX_LEASE_TTL_SECS")? {
        lease.ttl = ttl;
    }
    lease.worker_id = env("SWIFTBOX_WORKER_ID");
    lease
        .validate()
        .map_err(|e| format!("SWIFTBOX_LEASE_TTL_SECS / SWIFTBOX_WORKER_ID: {e}"))?;
    Ok(lease)
}

/// Seeds the administrator, starts the sync worker and the stock-reservation recovery, serves on
/// `addr` until Ctrl-C, stops both.
/// `dev_defaults` allows a generated administrator password (in-memory mode only).
pub async fn serve_synced<P: PrimaryBackend, G: GraphStore>(
    synced: Synced<P, G>,
    dev_defaults: bool,
    addr: SocketAddr,
    config: ApiConfig,
) -> Result<(), StartError> {
    let admin = match (
        env("SWIFTBOX_ADMIN_USERNAME"),
        env("SWIFTBOX_ADMIN_PASSWORD"),
    ) {
        (Some(u), Some(p)) => Some((u, p, false)),
        (None, None) if dev_defaults => Some(("admin".to_owned(), random_password()?, true)),
        (None, None) => {
            println!(
                "no administrator seeded (set SWIFTBOX_ADMIN_USERNAME and SWIFTBOX_ADMIN_PASSWORD)"
            );
            None
        }
        _ => {
            return Err(
                "set both SWIFTBOX_ADMIN_USERNAME and SWIFTBOX_ADMIN_PASSWORD, or neither".into(),
            )
        }
    };
    if let Some((username, password, generated)) = admin {
        let email =
            env("SWIFTBOX_ADMIN_EMAIL").unwrap_or_else(|| format!("{username}@example.invalid"));
        let outcome = seed_admin(&synced, &username, &email, &password).await?;
        match (outcome, generated) {
            (AdminSeed::Created, true) => println!(
                "dev administrator (in-memory mode only): username {username:?}, password {password:?}"
            ),
            (AdminSeed::Created, false) => println!("administrator {username:?} created"),
            (AdminSeed::Existed, _) => println!("administrator {username:?} already exists"),
            (AdminSeed::NotAdmin, _) => eprintln!(
                "warning: user {username:?} exists but is not an administrator; not promoted"
            ),
        }
    }
    let synced = std::sync::Arc::new(synced);
    // Stock that placements cut short left reserved comes back: at start, then periodically.
    let recovery =
        ReservationRecovery::new(std::sync::Arc::clone(&synced), maintenance_from_env()?)?.spawn();
    // Several processes on one primary store share its owed changes by lease; past the
    // graph's write limit, run the worker in fewer processes than serve (SWIFTBOX_SYNC_WORKER).
    let worker = if run_worker_from_env()? {
        Some(
            synced
                .leased_worker(WorkerConfig::default(), lease_from_env()?)?
                .spawn(),
        )
    } else {
        println!("no sync worker in this process (SWIFTBOX_SYNC_WORKER=off): another process must run one");
        None
    };
    // Recommendations read neighbour lists; this keeps them in step with purchases.
    let refresher = synced
        .neighbour_refresher(NeighbourConfig::default())?
        .spawn();
    let purge = tokio::spawn(purge_idempotency_keys(
        std::sync::Arc::clone(&synced),
        config.idempotency_retention,
        config.idempotency_purge_every,
    ));
    let state = AppState::with_config(synced, config);
    // The dashboard's chart covers the minutes before anyone opened it.
    let sampler = tokio::spawn(crate::routes::health::sample_sync(
        state.clone(),
        Duration::from_secs(5),
    ));
    let served = async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!(
            "swiftbox api listening on http://{}",
            listener.local_addr()?
        );
        crate::serve(listener, state, ctrl_c()).await
    }
    .await;
    purge.abort();
    sampler.abort();
    println!("shutting down: waiting for the sync worker");
    // Stop the worker also when serving failed (for example the address was taken).
    let stopped = match worker {
        Some(w) => w.shutdown().await,
        None => Ok(()),
    };
    let recovery_stopped = recovery.shutdown().await;
    let refresher_stopped = refresher.shutdown().await;
    served?;
    stopped?;
    recovery_stopped?;
    refresher_stopped?;
    Ok(())
}
