//! [`Neo4jConfig`]: where the server is, how to log in, and how the store behaves.

use std::fmt;
use std::time::Duration;

use swiftbox_core::{Error, GraphLimits, Result};

/// Environment variable holding the Bolt URI (`bolt://host:7687`, `neo4j://...`, `neo4j+s://...`).
pub const ENV_URI: &str = "SWIFTBOX_NEO4J_URI";
/// Environment variable holding the user name (default `neo4j`).
pub const ENV_USER: &str = "SWIFTBOX_NEO4J_USER";
/// Environment variable holding the password.
pub const ENV_PASSWORD: &str = "SWIFTBOX_NEO4J_PASSWORD";
/// Environment variable naming the database (optional; the server's default database otherwise).
pub const ENV_DATABASE: &str = "SWIFTBOX_NEO4J_DATABASE";
/// Environment variable holding the label namespace (optional, see [`Neo4jConfigBuilder::namespace`]).
pub const ENV_NAMESPACE: &str = "SWIFTBOX_NEO4J_NAMESPACE";

/// Longest namespace accepted.
const MAX_NAMESPACE_LEN: usize = 64;

/// How to reach Neo4j and how [`crate::Neo4jGraph`] behaves. Build one with
/// [`Neo4jConfig::builder`] or [`Neo4jConfig::from_env`]. `Debug` never shows the password.
#[derive(Clone)]
pub struct Neo4jConfig {
    pub(crate) uri: String,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) database: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) max_connections: usize,
    pub(crate) fetch_size: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) query_timeout: Duration,
    pub(crate) limits: GraphLimits,
}

impl Neo4jConfig {
    /// A builder with the defaults: 16 connections, fetch size 500, 10 s connect timeout,
    /// 30 s per call, the server's default database, no namespace, [`GraphLimits::default`].
    pub fn builder(
        uri: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Neo4jConfigBuilder {
        Neo4jConfigBuilder {
            config: Neo4jConfig {
                uri: uri.into(),
                user: user.into(),
                password: password.into(),
                database: None,
                namespace: None,
                max_connections: 16,
                fetch_size: 500,
                connect_timeout: Duration::from_secs(10),
                query_timeout: Duration::from_secs(30),
                limits: GraphLimits::default(),
            },
        }
    }

    /// The configuration from `SWIFTBOX_NEO4J_URI`, `SWIFTBOX_NEO4J_USER` (default `neo4j`),
    /// `SWIFTBOX_NEO4J_PASSWORD` (default empty, for servers without authentication), and the
    /// optional `SWIFTBOX_NEO4J_DATABASE` and `SWIFTBOX_NEO4J_NAMESPACE`, with the other
    /// defaults of [`Neo4jConfig::builder`]. [`Error::Invalid`] naming the variable when the URI
    /// is missing.
    pub fn from_env() -> Result<Neo4jConfigBuilder> {
        let var = |name: &'static str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let uri = var(ENV_URI).ok_or_else(|| Error::invalid(ENV_URI, "not set"))?;
        let password = var(ENV_PASSWORD).unwrap_or_default();
        let user = var(ENV_USER).unwrap_or_else(|| "neo4j".to_owned());
        let mut builder = Neo4jConfig::builder(uri, user, password);
        if let Some(db) = var(ENV_DATABASE) {
            builder = builder.database(db);
        }
        if let Some(ns) = var(ENV_NAMESPACE) {
            builder = builder.namespace(ns);
        }
        Ok(builder)
    }

    /// The Bolt URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The database, when one was chosen.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The label namespace, when one was chosen.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Query fan-out caps and the largest `limit`.
    pub fn limits(&self) -> GraphLimits {
        self.limits
    }
}

impl fmt::Debug for Neo4jConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Neo4jConfig")
            .field("uri", &swiftbox_core::redact_uri(&self.uri))
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .field("namespace", &self.namespace)
            .field("max_connections", &self.max_connections)
            .field("fetch_size", &self.fetch_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("query_timeout", &self.query_timeout)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Builds a [`Neo4jConfig`]; see [`Neo4jConfig::builder`] for the defaults.
#[derive(Debug, Clone)]
pub struct Neo4jConfigBuilder {
    config: Neo4jConfig,
}

impl Neo4jConfigBuilder {
    /// The database to use (Neo4j Enterprise may hold several; Community has one).
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.config.database = Some(database.into());
        self
    }

    /// A namespace that prefixes every label and relationship type this store reads or writes
    /// (`{ns}_User`, `{ns}_PURCHASED`, ...), so several independent graphs share one database
    /// (Neo4j Community has only one): tests use one per test, an application may use one per
    /// tenant or environment. `[A-Za-z][A-Za-z0-9_]*`, at most 64 characters; it is
    /// configuration, never user input, and is the only thing ever spliced into Cypher text.
    /// Without one the labels are exactly the documented schema (`User`, `PURCHASED`, ...).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.config.namespace = Some(namespace.into());
        self
    }

    /// Most connections the pool opens (default 16).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n;
        self
    }

    /// Rows fetched per `PULL` (default 500; at least [`GraphLimits::max_limit`] keeps every
    /// query at one fetch).
    pub fn fetch_size(mut self, n: usize) -> Self {
        self.config.fetch_size = n;
        self
    }

    /// How long [`crate::Neo4jGraph::connect`] and [`swiftbox_core::GraphStore::ping`] wait for
    /// the server (default 10 s); past it they fail with [`Error::Unavailable`].
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.config.connect_timeout = t;
        self
    }

    /// How long one store call may take in all: waiting for a pooled connection, connecting,
    /// running and reading (default 30 s); past it the call fails with [`Error::Unavailable`]
    /// (a transaction in flight is then rolled back by the server when its connection closes).
    pub fn query_timeout(mut self, t: Duration) -> Self {
        self.config.query_timeout = t;
        self
    }

    /// Query fan-out caps (default [`GraphLimits::default`], which the conformance suite uses).
    pub fn limits(mut self, limits: GraphLimits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Checks and returns the configuration: [`Error::Invalid`] for an empty URI or user, a
    /// malformed namespace, zero sizes or timeouts, or limits with a zero cap.
    pub fn build(self) -> Result<Neo4jConfig> {
        let c = self.config;
        if c.uri.trim().is_empty() {
            return Err(Error::invalid("uri", "must not be empty"));
        }
        if c.user.is_empty() {
            return Err(Error::invalid("user", "must not be empty"));
        }
        if let Some(ns) = &c.namespace {
            validate_namespace(ns)?;
        }
        if c.max_connections == 0 {
            return Err(Error::invalid("max_connections", "must be at least 1"));
        }
        if c.fetch_size == 0 {
            return Err(Error::invalid("fetch_size", "must be at least 1"));
        }
        if c.connect_timeout.is_zero() {
            return Err(Error::invalid("connect_timeout", "must be positive"));
        }
        if c.query_timeout.is_zero() {
            return Err(Error::invalid("query_timeout", "must be positive"));
        }
        let l = c.limits;
        if [
            l.max_limit,
            l.seed_products,
            l.buyers_per_product,
            l.products_per_buyer,
            l.fallback_categories,
        ]
        .contains(&0)
        {
            return Err(Error::invalid("limits", "every cap must be at least 1"));
        }
        Ok(c)
    }
}

fn validate_namespace(ns: &str) -> Result<()> {
    let mut chars = ns.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok
        || ns.len() > MAX_NAMESPACE_LEN
        || !ns.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Error::invalid(
            "namespace",
            "must match [A-Za-z][A-Za-z0-9_]* and be at most 64 characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password() {
        let c = Neo4jConfig::builder("bolt://localhost:7687", "neo4j", "hunter2-secret")
            .build()
            .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn namespaces_are_validated() {
        for good in ["t1", "test_abc_123", "A"] {
            let r = Neo4jConfig::builder("bolt://x", "u", "p")
                .namespace(good)
                .build();
            assert!(r.is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "a`b",
            "x}) DETACH DELETE (n",
            &"a".repeat(65),
        ] {
            let err = Neo4jConfig::builder("bolt://x", "u", "p")
                .namespace(bad)
                .build()
                .unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn zero_sizes_and_empty_uri_are_refused() {
        let err = Neo4jConfig::builder("", "u", "p").build().unwrap_err();
        assert!(
            matches!(err, Error::Invalid { ref field, .. } if field == "uri"),
            "{err}"
        );
        let err = Neo4jConfig::builder("bolt://x", "u", "p")
            .max_connections(0)
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
        let limits = GraphLimits {
            buyers_per_product: 0,
            ..GraphLimits::default()
        };
        let err = Neo4jConfig::builder("bolt://x", "u", "p")
            .limits(limits)
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
    }
}
