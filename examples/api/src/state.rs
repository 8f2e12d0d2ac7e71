//! What every handler shares: the stores, the session table and the configuration.

use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::{GraphStore, PrimaryStore};

use crate::auth::Sessions;
use crate::backend::ShopBackend;

/// Tunables of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long a log-in token is valid. Default one hour.
    pub token_ttl: Duration,
    /// Most live tokens kept at once. Default 100 000.
    pub max_sessions: usize,
    /// Largest request body accepted, in bytes; larger ones get 413. Default 64 KiB.
    pub max_body_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(3600),
            max_sessions: 100_000,
            max_body_bytes: 64 * 1024,
        }
    }
}

struct Inner {
    backend: Arc<dyn ShopBackend>,
    sessions: Sessions,
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
        let sessions = Sessions::new(config.token_ttl, config.max_sessions);
        Self {
            inner: Arc::new(Inner {
                backend,
                sessions,
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

    /// The token table.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// The configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }
}
