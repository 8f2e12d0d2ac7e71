//! What every handler shares: the stores, the session table and the configuration.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::{GraphStore, PrimaryStore};

use crate::auth::Sessions;
use crate::backend::ShopBackend;
use crate::exporter::Metrics;
use crate::hashing::Hashing;
use crate::operator::Operator;
use crate::ratelimit::{AuthLimits, RateLimit};

/// Tunables of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long a log-in token is valid. Default one hour.
    pub token_ttl: Duration,
    /// Most live tokens kept at once. Default 100 000.
    pub max_sessions: usize,
    /// Most live tokens of one account: a new log-in past it revokes the account's oldest
    /// token, so one account cannot fill the table. Default 10.
    pub max_sessions_per_user: usize,
    /// Most password hashes and verifications running at once, each on a blocking thread
    /// (see [`crate::hashing`]). Default: the number of CPUs.
    pub max_concurrent_hashes: usize,
    /// Log-in and sign-up attempts allowed per client address (see [`crate::ratelimit`]).
    /// Default 30 per minute.
    pub auth_limit_per_client: RateLimit,
    /// Log-in attempts allowed per login name, and sign-ups per username. Default 10 per
    /// minute.
    pub auth_limit_per_account: RateLimit,
    /// Largest request body accepted, in bytes; larger ones get 413. Default 64 KiB.
    pub max_body_bytes: usize,
    /// How long a request may run: past it, it is dropped and answered 503 with code `timeout`
    /// (see [`crate::layers`]). Keep it above [`ApiConfig::read_your_writes`] and twice
    /// [`ApiConfig::health_timeout`], which the endpoints wait by design. Default 30 s.
    pub request_timeout: Duration,
    /// How long `POST /api/orders/` waits for the graph to hold the new order before it answers
    /// (read your writes: the purchase shows in the caller's purchases and recommendations on
    /// the next request). The order is placed either way; past this bound the answer is sent
    /// and the sync worker applies the order later. Zero answers at once. Default 10 s.
    pub read_your_writes: Duration,
    /// Bound on each check of `GET /api/health/` (the two pings together, then the sync status
    /// for administrators): a store that does not answer within it is reported down, so the
    /// endpoint answers within about twice this whatever the stores do. Default 1 s.
    pub health_timeout: Duration,
    /// How long `POST /api/orders/` remembers an `Idempotency-Key` (in the primary store, with
    /// the order): the service purges older keys every [`ApiConfig::idempotency_purge_every`],
    /// so a key is honoured for at least this long and at most that much longer. Default
    /// [`swiftbox_core::IDEMPOTENCY_RETENTION`] (24 h).
    pub idempotency_retention: Duration,
    /// How often the service purges idempotency keys older than
    /// [`ApiConfig::idempotency_retention`]. Default one hour.
    pub idempotency_purge_every: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(3600),
            max_sessions: 100_000,
            max_sessions_per_user: 10,
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, |n| n.get()),
            auth_limit_per_client: RateLimit::new(
                NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
                Duration::from_secs(60),
            ),
            auth_limit_per_account: RateLimit::new(
                NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
                Duration::from_secs(60),
            ),
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            read_your_writes: Duration::from_secs(10),
            health_timeout: Duration::from_secs(1),
            idempotency_retention: swiftbox_core::IDEMPOTENCY_RETENTION,
            idempotency_purge_every: Duration::from_secs(3600),
        }
    }
}

struct Inner {
    backend: Arc<dyn ShopBackend>,
    sessions: Sessions,
    hashing: Hashing,
    auth_limits: AuthLimits,
    metrics: Metrics,
    operator: Operator,
    config: ApiConfig,
}

/// The state of the service, cheap to clone: the stores (any [`ShopBackend`], normally a
/// `swiftbox_sync::Synced`), the token table and the configuration.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("backend", &self.inner.backend)
            .field("sessions", &self.inner.sessions)
            .field("hashing", &self.inner.hashing)
            .field("auth_limits", &self.inner.auth_limits)
            .field("metrics", &self.inner.metrics)
            .field("operator", &self.inner.operator)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl AppState {
    /// State over synced stores, with the default configuration.
    pub fn new(backend: impl ShopBackend) -> Self {
        Self::with_config(Arc::new(backend), ApiConfig::default())
    }

    /// State over shared synced stores, with a configuration of your own.
    pub fn with_config(backend: Arc<dyn ShopBackend>, config: ApiConfig) -> Self {
        let sessions = Sessions::new(config.token_ttl, config.max_sessions)
            .with_max_per_user(config.max_sessions_per_user);
        Self {
            inner: Arc::new(Inner {
                backend,
                sessions,
                hashing: Hashing::new(config.max_concurrent_hashes),
                auth_limits: AuthLimits::new(
                    config.auth_limit_per_client,
                    config.auth_limit_per_account,
                ),
                metrics: Metrics::new(),
                operator: Operator::default(),
                config,
            }),
        }
    }

    /// The primary store (writes go through it).
    pub fn store(&self) -> &dyn PrimaryStore {
        self.inner.backend.store()
    }

    /// The graph store (queries).
    pub fn graph(&self) -> &dyn GraphStore {
        self.inner.backend.graph()
    }

    /// The stores with their sync operations.
    pub fn backend(&self) -> &dyn ShopBackend {
        self.inner.backend.as_ref()
    }

    /// The stores, shared (for work that outlives a request, such as a resync).
    pub fn shared_backend(&self) -> Arc<dyn ShopBackend> {
        Arc::clone(&self.inner.backend)
    }

    /// What operators do to the sync: the chart's samples, the resync job.
    pub fn operator(&self) -> &Operator {
        &self.inner.operator
    }

    /// The token table.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// The bounded pool password hashes and verifications run on.
    pub fn hashing(&self) -> &Hashing {
        &self.inner.hashing
    }

    /// The rate limits of log-in and sign-up.
    pub fn auth_limits(&self) -> &AuthLimits {
        &self.inner.auth_limits
    }

    /// The service's metrics (`GET /metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }
}
