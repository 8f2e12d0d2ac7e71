//! [`Neo4jGraph`]: connection, schema migration, and the plumbing every call goes through
//! (time budget, draining, commit or rollback, error mapping).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use neo4rs::{BoltString, BoltType, Query, Row, Txn};
use swiftbox_core::{Error, GraphLimits, Result};

use crate::config::Neo4jConfig;
use crate::error::{self, map};
use crate::schema::Schema;

/// A [`swiftbox_core::GraphStore`] on Neo4j 5 through `neo4rs`.
///
/// Cheap to clone (clones share the connection pool). Create it with [`Neo4jGraph::connect`],
/// then call [`Neo4jGraph::migrate`] once per deployment (it is idempotent) before writing.
#[derive(Clone)]
pub struct Neo4jGraph {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) driver: neo4rs::Graph,
    pub(crate) schema: Schema,
    pub(crate) config: Neo4jConfig,
}

impl std::fmt::Debug for Neo4jGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4jGraph")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Neo4jGraph {
    /// Connects and checks the server answers (and accepts the credentials) within the
    /// connect timeout: [`Error::Unavailable`] when it cannot be reached, [`Error::Backend`] when
    /// the credentials are refused.
    #[tracing::instrument(skip_all, fields(uri = %swiftbox_core::redact_uri(&config.uri), namespace = ?config.namespace))]
    pub async fn connect(config: &Neo4jConfig) -> Result<Self> {
        let mut builder = neo4rs::ConfigBuilder::default()
            .uri(config.uri.as_str())
            .user(config.user.as_str())
            .password(config.password.as_str())
            .max_connections(config.max_connections)
            .fetch_size(config.fetch_size);
        if let Some(db) = &config.database {
            builder = builder.db(db.as_str());
        }
        let driver_config = builder.build().map_err(map)?;
        let driver = neo4rs::Graph::connect(driver_config).await.map_err(map)?;
        let graph = Neo4jGraph {
            inner: Arc::new(Inner {
                driver,
                schema: Schema::new(config.namespace.as_deref()),
                config: config.clone(),
            }),
        };
        graph.check_alive().await?;
        Ok(graph)
    }

    /// Connects with [`Neo4jConfig::from_env`].
    pub async fn connect_from_env() -> Result<Self> {
        let config = Neo4jConfig::from_env()?.build()?;
        Self::connect(&config).await
    }

    /// The configuration this store was created with.
    pub fn config(&self) -> &Neo4jConfig {
        &self.inner.config
    }

    /// The query caps in force.
    pub fn limits(&self) -> GraphLimits {
        self.inner.config.limits
    }

    /// Creates the constraints and indexes the store relies on, if they are missing, and waits
    /// until they are online. Run it before the first `apply` of a process that may be the
    /// first against a database or namespace: apply names the trend buckets' `(product, hour)`
    /// index in a hint, so a product upsert or delete fails with [`Error::Backend`] until the
    /// index exists. The constraints and indexes: unique `id` on `User`, `Product`, `Category`; unique
    /// `Category.name`; unique key of the internal tombstone nodes; relationship indexes on
    /// `PURCHASED(order_id)` (order upserts and deletes), `PURCHASED(timestamp)` (trending) and
    /// `REVIEWED(id)`; unique `id` of the internal counter nodes and an index on each of their
    /// counters (`popular`); a unique `(product, hour)` and an index on `hour` of the internal
    /// trend buckets (`trending`). Then gives every product that
    /// lacks them its popularity counters (`purchases`, `units`, `buyers`, kept by apply from
    /// then on: see [`Self::recount_product_stats`]), computed from its relationships, and
    /// builds the trend buckets of every product not marked as having complete ones (see the
    /// `trending` module) and the recent-buyer list of every counter node without one (see
    /// the `apply` module), so a
    /// graph written by an older version of this crate is brought up to date. Idempotent, also when several
    /// processes run it at once. Constraint and index names start with `swiftbox_` (plus the
    /// namespace).
    #[tracing::instrument(skip(self), fields(namespace = ?self.inner.config.namespace))]
    pub async fn migrate(&self) -> Result<()> {
        // Concurrent schema changes on one server can stall each other (seen on 5.26: a
        // constraint index left POPULATING forever when several were created at once), so one
        // process runs one migration at a time.
        static MIGRATIONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let budget = self.inner.config.query_timeout.max(Duration::from_secs(60));
        bounded("migrate", budget, async {
            let _one_at_a_time = MIGRATIONS.lock().await;
            for statement in self.inner.schema.migrations() {
                match self.inner.driver.run(neo4rs::query(&statement)).await {
                    Ok(()) => {}
                    // Another process created it between our IF NOT EXISTS check and ours.
                    Err(neo4rs::Error::Neo4j(e)) if e.code().contains("AlreadyExists") => {}
                    Err(e) => return Err(map(e)),
                }
            }
            self.await_own_indexes().await?;
            self.run_all(self.inner.schema.recount(true)).await?;
            self.rebuild_trend_buckets(false).await
        })
        .await
    }

    /// Recomputes every product's popularity counters from its `PURCHASED` relationships:
    /// `purchases` (number of relationships), `units` (sum of their `quantity`) and `buyers`
    /// (number of distinct users with at least one).
    ///
    /// The counters live on an internal node per product (`SwiftboxProductStats {id}`, the
    /// product's id), which [`swiftbox_core::GraphStore::apply`] keeps exact in the same
    /// transaction as the relationships it writes; `popular` and the cold-start fill of
    /// `recommendations_for` read them instead of the relationships. This is for a graph whose
    /// relationships or products were edited by hand (outside `apply`): it also creates missing
    /// counter nodes and deletes those whose product is gone. Runs in batches of 1,000
    /// products, each its own transaction, so run it while no `apply` is in flight. Then
    /// rebuilds every product's recent-buyer list (its latest 100 buyers, which the
    /// recommendation queries read) and trend buckets (per-hour purchase sums `trending`
    /// reads), both kept by apply likewise, from its relationships.
    #[tracing::instrument(skip(self), fields(namespace = ?self.inner.config.namespace))]
    pub async fn recount_product_stats(&self) -> Result<()> {
        let budget = self
            .inner
            .config
            .query_timeout
            .max(Duration::from_secs(120));
        bounded("recount_product_stats", budget, async {
            self.run_all(self.inner.schema.recount(false)).await?;
            self.rebuild_trend_buckets(true).await
        })
        .await
    }

    /// Runs `statements` one after the other, each in its own auto-commit transaction.
    async fn run_all(&self, statements: Vec<String>) -> Result<()> {
        for statement in statements {
            self.inner
                .driver
                .run(neo4rs::query(&statement))
                .await
                .map_err(map)?;
        }
        Ok(())
    }

    /// Waits until every index of this namespace is online (not `db.awaitIndexes`, which
    /// waits for every index of the database, other namespaces' included).
    async fn await_own_indexes(&self) -> Result<()> {
        let prefix = self.inner.schema.schema_prefix();
        loop {
            let q = neo4rs::query(
                "SHOW INDEXES YIELD name, state WHERE name STARTS WITH $prefix AND state <> 'ONLINE' \
                 RETURN name, state",
            )
            .param("prefix", prefix.as_str());
            let mut stream = self.inner.driver.execute(q).await.map_err(map)?;
            let mut pending = Vec::new();
            while let Some(row) = stream.next().await.map_err(map)? {
                let name: String = row.get("name").map_err(|e| error::decode("index", e))?;
                let state: String = row.get("state").map_err(|e| error::decode("index", e))?;
                pending.push((name, state));
            }
            if let Some((name, _)) = pending.iter().find(|(_, state)| state == "FAILED") {
                return Err(Error::backend(
                    error::STORE,
                    error::Msg(format!(
                        "index {name} failed to build; drop it and migrate again"
                    )),
                ));
            }
            if pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Deletes every node and relationship of this store's namespace, and drops its
    /// constraints and indexes. Meant for tests and throw-away environments; refuses
    /// ([`Error::Invalid`]) when no namespace is configured, so it can never empty a shared
    /// default graph.
    #[tracing::instrument(skip(self), fields(namespace = ?self.inner.config.namespace))]
    pub async fn wipe(&self) -> Result<()> {
        if self.inner.config.namespace.is_none() {
            return Err(Error::invalid(
                "namespace",
                "wipe needs a namespace, it never empties the default graph",
            ));
        }
        let budget = self
            .inner
            .config
            .query_timeout
            .max(Duration::from_secs(120));
        bounded("wipe", budget, async {
            for label in [
                "User",
                "Product",
                "Category",
                "SwiftboxTombstone",
                "SwiftboxProductStats",
                "SwiftboxTrendBucket",
            ] {
                let q = self.inner.schema.cypher(&format!(
                    "MATCH (n:%{label}%) CALL {{ WITH n DETACH DELETE n }} IN TRANSACTIONS OF 5000 ROWS"
                ));
                self.inner.driver.run(neo4rs::query(&q)).await.map_err(map)?;
            }
            let prefix = self.inner.schema.schema_prefix();
            let mut rows = Vec::new();
            for (kind, show) in [
                ("CONSTRAINT", "SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH $prefix RETURN name"),
                ("INDEX", "SHOW INDEXES YIELD name, owningConstraint WHERE name STARTS WITH $prefix AND owningConstraint IS NULL RETURN name"),
            ] {
                let mut stream = self
                    .inner
                    .driver
                    .execute(neo4rs::query(show).param("prefix", prefix.as_str()))
                    .await
                    .map_err(map)?;
                while let Some(row) = stream.next().await.map_err(map)? {
                    let name: String = row.get("name").map_err(|e| error::decode("name", e))?;
                    rows.push((kind, name));
                }
            }
            for (kind, name) in rows {
                // `name` comes from the server and starts with our validated prefix; quote it anyway.
                let q = format!("DROP {kind} `{}` IF EXISTS", name.replace('`', "``"));
                self.inner.driver.run(neo4rs::query(&q)).await.map_err(map)?;
            }
            Ok(())
        })
        .await
    }

    /// `RETURN 1` within the connect timeout.
    pub(crate) async fn check_alive(&self) -> Result<()> {
        let t = self.inner.config.connect_timeout;
        self.txn("ping", t, vec![neo4rs::query("RETURN 1 AS one")], |_| {
            Ok(None)
        })
        .await
        .map(drop)
    }

    /// Runs one query and drains every row, within the call budget.
    pub(crate) async fn read(&self, what: &'static str, q: Query) -> Result<Vec<Row>> {
        let t = self.inner.config.query_timeout;
        let mut results = self.txn(what, t, vec![q], |_| Ok(None)).await?;
        Ok(results.pop().unwrap_or_default())
    }

    /// Runs `queries` in order in one explicit transaction, draining each one's rows, within the
    /// call budget.
    pub(crate) async fn write_txn(
        &self,
        what: &'static str,
        queries: Vec<Query>,
    ) -> Result<Vec<Vec<Row>>> {
        self.write_txn_then(what, queries, |_| Ok(None)).await
    }

    /// [`Self::write_txn`], then, in the same transaction, the query `then` makes from the
    /// rows of `queries` (if any; its rows are not returned). An error from `then` rolls back.
    pub(crate) async fn write_txn_then(
        &self,
        what: &'static str,
        queries: Vec<Query>,
        then: impl FnOnce(&[Vec<Row>]) -> Result<Option<Query>> + Send,
    ) -> Result<Vec<Vec<Row>>> {
        self.txn(what, self.inner.config.query_timeout, queries, then)
            .await
    }

    /// Runs `queries` in one explicit transaction, then the query `then` makes from their
    /// rows (if any): commits when all succeed, rolls back when one fails; fails with [`Error::Unavailable`] after `t` (a transaction abandoned by the
    /// timeout is rolled back by the `RESET` its connection gets before reuse, or by the server
    /// when the connection closes).
    ///
    /// Every call, reads included, goes through here rather than neo4rs's auto-commit
    /// `Graph::execute`: in neo4rs 0.8 that retries *any* failure to get a connection (server
    /// down, refused credentials) with backoff for up to 60 s, which would hide both behind the
    /// call timeout. `start_txn` reports them at once.
    async fn txn(
        &self,
        what: &'static str,
        t: Duration,
        queries: Vec<Query>,
        then: impl FnOnce(&[Vec<Row>]) -> Result<Option<Query>> + Send,
    ) -> Result<Vec<Vec<Row>>> {
        bounded(what, t, async {
            let mut txn = self.inner.driver.start_txn().await.map_err(map)?;
            let mut results = Vec::with_capacity(queries.len());
            for q in queries {
                match txn_rows(&mut txn, q).await {
                    Ok(rows) => results.push(rows),
                    Err(err) => return Err(rollback(txn, err).await),
                }
            }
            let last = match then(&results) {
                Ok(last) => last,
                Err(err) => return Err(rollback(txn, err).await),
            };
            if let Some(q) = last {
                if let Err(err) = txn_rows(&mut txn, q).await {
                    return Err(rollback(txn, err).await);
                }
            }
            txn.commit().await.map_err(map)?;
            Ok(results)
        })
        .await
    }

    /// A query text for this store's namespace.
    pub(crate) fn cypher(&self, template: &str) -> String {
        self.inner.schema.cypher(template)
    }
}

/// Rolls `txn` back after `err` and returns `err`.
async fn rollback(txn: Txn, err: Error) -> Error {
    if let Err(rollback) = txn.rollback().await {
        tracing::warn!(error = %rollback, "rollback failed; the connection reset discards the transaction");
    }
    err
}

/// Runs one query inside a transaction and drains its rows.
async fn txn_rows(txn: &mut Txn, q: Query) -> Result<Vec<Row>> {
    let mut stream = txn.execute(q).await.map_err(map)?;
    let mut rows = Vec::new();
    while let Some(row) = stream.next(txn.handle()).await.map_err(map)? {
        rows.push(row);
    }
    Ok(rows)
}

/// Fails with [`Error::Unavailable`] when `fut` takes longer than `t`.
pub(crate) async fn bounded<T>(
    what: &'static str,
    t: Duration,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(t, fut).await {
        Ok(r) => {
            if let Err(e) = &r {
                tracing::debug!(call = what, error = %e, "neo4j call failed");
            }
            r
        }
        Err(_) => {
            tracing::warn!(call = what, timeout = ?t, "neo4j call timed out");
            Err(error::timeout(what, t))
        }
    }
}

/// Builders for query parameters.
pub(crate) mod param {
    use super::*;

    /// A string.
    pub(crate) fn s(v: impl Into<String>) -> BoltType {
        BoltType::from(v.into())
    }

    /// An integer.
    pub(crate) fn i(v: i64) -> BoltType {
        BoltType::from(v)
    }

    /// A map.
    pub(crate) fn map<const N: usize>(pairs: [(&str, BoltType); N]) -> BoltType {
        BoltType::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (BoltString::from(k), v))
                .collect(),
        )
    }

    /// A list.
    pub(crate) fn list(items: Vec<BoltType>) -> BoltType {
        BoltType::List(neo4rs::BoltList::from(items))
    }

    /// A primary-store version as a Neo4j integer.
    pub(crate) fn version(v: u64) -> Result<BoltType> {
        i64::try_from(v)
            .map(BoltType::from)
            .map_err(|_| Error::invalid("version", "exceeds the largest integer Neo4j stores"))
    }

    /// A `limit` as a Neo4j integer.
    pub(crate) fn count(n: usize) -> BoltType {
        BoltType::from(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
