//! Connection settings: [`MongoConfig`] and its builder, with defaults meant for a service
//! that would rather fail fast (and retry) than hang when the server is gone.

use std::fmt;
use std::time::Duration;

use mongodb::options::{Acknowledgment, WriteConcern};
use swiftbox_core::{redact_uri, Error, Result};

/// Environment variable holding the connection string ([`MongoConfig::from_env`]).
pub const URI_VAR: &str = "SWIFTBOX_MONGO_URI";
/// Environment variable holding the database name ([`MongoConfig::from_env`]).
pub const DB_VAR: &str = "SWIFTBOX_MONGO_DB";
/// Database used by [`MongoConfig::from_env`] when [`DB_VAR`] is unset.
pub const DEFAULT_DB: &str = "swiftbox";

/// How to reach MongoDB: a connection string (anything the official driver accepts,
/// `mongodb://` or `mongodb+srv://`, replica sets, TLS options, credentials) plus the database
/// SwiftBox keeps its collections in, and a few driver settings.
///
/// Settings given here override the same options in the connection string. `Debug` never
/// shows the credentials of the connection string (nor any `...password=` option).
///
/// ```
/// use std::time::Duration;
/// use swiftbox_mongo::MongoConfig;
///
/// let config = MongoConfig::builder("mongodb://app:s3cret@db.example:27017/", "shop")
///     .max_pool_size(20)
///     .server_selection_timeout(Duration::from_secs(2))
///     .app_name("shop-api")
///     .build()
///     .unwrap();
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct MongoConfig {
    pub(crate) uri: String,
    pub(crate) database: String,
    pub(crate) app_name: Option<String>,
    pub(crate) max_pool_size: Option<u32>,
    pub(crate) min_pool_size: Option<u32>,
    pub(crate) connect_timeout: Duration,
    pub(crate) server_selection_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) document_locks: Option<bool>,
    pub(crate) lock_lease: Option<Duration>,
    pub(crate) write_concern: Option<WriteConcern>,
    #[cfg(feature = "test-hooks")]
    pub(crate) lock_hook: Option<std::sync::Arc<dyn crate::hooks::LockHook>>,
}

impl MongoConfig {
    /// Default time to wait for a usable server before a call fails as unavailable.
    pub const DEFAULT_SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default time to wait for a TCP connection (and TLS handshake).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default bound on one store call's database work (a call that takes longer fails as
    /// unavailable; the driver has no socket timeout of its own).
    pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

    /// The default write concern: majority, journaled (see
    /// [`MongoConfigBuilder::write_concern`]).
    pub fn durable_write_concern() -> WriteConcern {
        WriteConcern::builder()
            .w(Acknowledgment::Majority)
            .journal(true)
            .build()
    }

    /// The write concern this configuration sets, if any (`None`: the connection string's, or
    /// the default).
    pub fn configured_write_concern(&self) -> Option<&WriteConcern> {
        self.write_concern.as_ref()
    }

    /// A builder for the server at `uri` and the database `database`, with the defaults above.
    pub fn builder(uri: impl Into<String>, database: impl Into<String>) -> MongoConfigBuilder {
        MongoConfigBuilder {
            config: MongoConfig {
                uri: uri.into(),
                database: database.into(),
                app_name: Some("swiftbox".to_owned()),
                max_pool_size: None,
                min_pool_size: None,
                connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
                server_selection_timeout: Self::DEFAULT_SERVER_SELECTION_TIMEOUT,
                operation_timeout: Self::DEFAULT_OPERATION_TIMEOUT,
                document_locks: None,
                lock_lease: None,
                write_concern: None,
                #[cfg(feature = "test-hooks")]
                lock_hook: None,
            },
        }
    }

    /// The settings from the environment: [`URI_VAR`] (required) and [`DB_VAR`] (default
    /// [`DEFAULT_DB`]), with the builder's defaults for the rest.
    pub fn from_env() -> Result<Self> {
        let uri = std::env::var(URI_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Error::invalid(URI_VAR, "is not set"))?;
        let database = std::env::var(DB_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DB.to_owned());
        Self::builder(uri, database).build()
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The connection string with credentials replaced by `<redacted>`, for messages.
    pub fn redacted_uri(&self) -> String {
        redact_uri(&self.uri)
    }
}

impl fmt::Debug for MongoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoConfig")
            .field("uri", &self.redacted_uri())
            .field("database", &self.database)
            .field("app_name", &self.app_name)
            .field("max_pool_size", &self.max_pool_size)
            .field("min_pool_size", &self.min_pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("server_selection_timeout", &self.server_selection_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("document_locks", &self.document_locks)
            .field("lock_lease", &self.lock_lease)
            .field("write_concern", &self.write_concern)
            .finish()
    }
}

/// Builds a [`MongoConfig`]; see [`MongoConfig::builder`].
#[derive(Debug, Clone)]
pub struct MongoConfigBuilder {
    config: MongoConfig,
}

impl MongoConfigBuilder {
    /// Most connections the pool opens per server (driver default: 10).
    pub fn max_pool_size(mut self, n: u32) -> Self {
        self.config.max_pool_size = Some(n);
        self
    }

    /// Connections the pool keeps open per server even when idle (driver default: 0).
    pub fn min_pool_size(mut self, n: u32) -> Self {
        self.config.min_pool_size = Some(n);
        self
    }

    /// Time to wait for a TCP connection (default 5 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.config.connect_timeout = t;
        self
    }

    /// Time to wait for a usable server before a call fails as unavailable (default 5 s; the
    /// driver's own default of 30 s makes an outage look like a hang).
    pub fn server_selection_timeout(mut self, t: Duration) -> Self {
        self.config.server_selection_timeout = t;
        self
    }

    /// Bound on the database work of one store call (default 30 s).
    pub fn operation_timeout(mut self, t: Duration) -> Self {
        self.config.operation_timeout = t;
        self
    }

    /// Whether every update of an entity document takes a per-document lock first (see the
    /// `lock` module docs in the source). Default: on exactly when the server is FerretDB,
    /// whose updates are not atomic; MongoDB's are.
    pub fn document_locks(mut self, on: bool) -> Self {
        self.config.document_locks = Some(on);
        self
    }

    /// How long a document lock holds before another writer may take it over (default: twice
    /// the operation timeout). Measured on the server's clock; see the `lock` module docs in
    /// the source for how a holder that outlives its lease is fenced off.
    pub fn lock_lease(mut self, lease: Duration) -> Self {
        self.config.lock_lease = Some(lease);
        self
    }

    /// A test hook called where a document lock holder can be paused (only with the
    /// `test-hooks` feature; for tests that freeze a holder past its lease).
    #[cfg(feature = "test-hooks")]
    pub fn lock_hook(mut self, hook: std::sync::Arc<dyn crate::hooks::LockHook>) -> Self {
        self.config.lock_hook = Some(hook);
        self
    }

    /// The write concern of every write (default: the connection string's `w` / `journal` if
    /// it sets them, else [`MongoConfig::durable_write_concern`]: majority, journaled).
    ///
    /// Why the default: the owed-change marker is written with the entity, in the same
    /// statement, and the graph is only as safe as that marker. A write acknowledged by the
    /// primary alone (`w: 1`) can be rolled back when the primary fails over before a majority
    /// has it; the application was told it succeeded, and the graph may already hold it (see
    /// ARCHITECTURE.md, "Failover"). `w: majority` with the journal is never rolled back.
    pub fn write_concern(mut self, concern: WriteConcern) -> Self {
        self.config.write_concern = Some(concern);
        self
    }

    /// Name the server logs connections under (default `swiftbox`).
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.config.app_name = Some(name.into());
        self
    }

    /// Checks the settings: a connection string that names a scheme, a valid database name,
    /// non-zero timeouts and pool sizes.
    pub fn build(self) -> Result<MongoConfig> {
        let c = self.config;
        if !(c.uri.starts_with("mongodb://") || c.uri.starts_with("mongodb+srv://")) {
            return Err(Error::invalid(
                "uri",
                "must start with mongodb:// or mongodb+srv://",
            ));
        }
        let bad_db = c.database.is_empty()
            || c.database.len() > 63
            || c.database.chars().any(|ch| {
                matches!(
                    ch,
                    '/' | '\\' | '.' | ' ' | '"' | '$' | '*' | '<' | '>' | ':' | '|' | '?' | '\0'
                )
            });
        if bad_db {
            return Err(Error::invalid(
                "database",
                "must be 1..=63 characters without /\\. \"$*<>:|?",
            ));
        }
        if c.max_pool_size == Some(0) {
            return Err(Error::invalid("max_pool_size", "must be at least 1"));
        }
        if c.connect_timeout.is_zero()
            || c.server_selection_timeout.is_zero()
            || c.operation_timeout.is_zero()
            || c.lock_lease.is_some_and(|l| l.is_zero())
        {
            return Err(Error::invalid("timeout", "must be greater than zero"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_and_password_options() {
        let c = MongoConfig::builder("mongodb+srv://u:secret@x.example", "db")
            .build()
            .unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("secret") && dbg.contains("x.example"),
            "{dbg}"
        );
    }

    #[test]
    fn build_refuses_bad_settings() {
        let e = MongoConfig::builder("http://x", "db").build().unwrap_err();
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field == "uri"),
            "{e}"
        );
        let e = MongoConfig::builder("mongodb://x", "a.b")
            .build()
            .unwrap_err();
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field == "database"),
            "{e}"
        );
        let e = MongoConfig::builder("mongodb://x", "db")
            .server_selection_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{e}");
    }
}
