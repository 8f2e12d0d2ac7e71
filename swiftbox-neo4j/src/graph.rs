//! [`Neo4jGraph`]: connection, schema migration, and the plumbing every call goes through
//! (time budget, draining, commit or rollback, error mapping).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use neo4rs::{BoltString, BoltType, Query, Row, Txn};
use swiftbox_core::{Error, GraphLimits, Result};

use crate::config::Neo4jConfig;
use crate::error::{self, map};
use crate::queries::get;
use crate::schema::{Schema, SCHEMA_VERSION};
use crate::statements::Statements;

/// A [`swiftbox_core::GraphStore`] on Neo4j 5 through `neo4rs`.
///
/// Cheap to clone (clones share the connection pool). [`Neo4jGraph::connect`] leaves it ready
/// to use: it migrates the schema when the database (or namespace) needs it.
#[derive(Clone)]
pub struct Neo4jGraph {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) driver: neo4rs::Graph,
    pub(crate) schema: Schema,
    pub(crate) statements: Statements,
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
    /// Connects, checks the server answers (and accepts the credentials) within the connect
    /// timeout, and migrates the schema unless it is current: [`Error::Unavailable`] when the
    /// server cannot be reached, [`Error::Backend`] when the credentials are refused.
    ///
    /// Connect migrates, as `MongoStore::connect` creates its indexes, rather than refusing an
    /// unmigrated database with a "call migrate" error: a store that is connected is a store
    /// that works, whichever program opened it first (an example, a maintenance tool, a worker
    /// started before the application), and there is no order of calls to get wrong. When the
    /// schema is current this costs two reads in one round trip each: every index and
    /// constraint of [`Self::migrate`] is online (and none it drops is there), and the
    /// namespace's `SwiftboxSchema` node records the version this crate writes. Otherwise it
    /// runs [`Self::migrate`] (idempotent, also when several processes connect at once).
    ///
    /// A graph that a newer version of this crate migrated (a higher recorded schema version)
    /// is refused with [`Error::Backend`] saying to upgrade, by `connect` and by
    /// [`Self::migrate`]: an older process would write without keeping what the newer schema
    /// keeps (and `migrate` never records a lower version than the one recorded). In a rolling
    /// upgrade, processes that connected before the new version migrated keep running the old
    /// code until they restart; run
    /// [`GraphStore::rebuild_projections`](swiftbox_core::GraphStore::rebuild_projections)
    /// once the last of them has stopped. To roll back to an older version on purpose, set
    /// the `version` of the namespace's `SwiftboxSchema` node to the older version's by hand
    /// (the older processes then connect), and run `rebuild_projections` after upgrading
    /// again: what the older code wrote meanwhile did not keep the newer projections.
    ///
    /// Every Cypher statement the store runs is rendered here, once, for its namespace
    /// ([`Self::cypher_statements`]).
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
        let schema = Schema::new(config.namespace.as_deref());
        let graph = Neo4jGraph {
            inner: Arc::new(Inner {
                driver,
                statements: Statements::new(&schema),
                schema,
                config: config.clone(),
            }),
        };
        graph.check_alive().await?;
        if !graph.is_migrated().await? {
            graph.migrate().await?;
        }
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

    /// Every Cypher statement this store runs, as rendered for its namespace, with a name
    /// saying what runs it (`apply.upsert.order`, `query.recommend`, `migrate.schema`, ...;
    /// names repeat where one call picks among variants). For `EXPLAIN`/`PROFILE` by hand or
    /// in a plan check: the crate's tests `EXPLAIN` each one and fail on a deprecated form or
    /// on a version guard that is no longer read through a locking seek. Statements named
    /// `migrate.*` and `wipe.*` are schema commands or maintenance, not explainable queries.
    pub fn cypher_statements(&self) -> Vec<(&'static str, &str)> {
        self.inner.statements.named()
    }

    /// The rendered statements.
    pub(crate) fn statements(&self) -> &Statements {
        &self.inner.statements
    }

    /// Whether the schema and the data backfills of [`Self::migrate`] are current (see
    /// [`Self::connect`]).
    async fn is_migrated(&self) -> Result<bool> {
        let st = &self.inner.statements.schema;
        let prefix = self.inner.schema.schema_prefix();
        let q = neo4rs::query(&st.show_indexes).param("prefix", prefix.as_str());
        let mut present = HashSet::new();
        let mut online = HashSet::new();
        for row in self.read("migrate check", q).await? {
            let name: String = get(&row, "name")?;
            if get::<String>(&row, "state")? == "ONLINE" {
                online.insert(name.clone());
            }
            present.insert(name);
        }
        let schema_current = st.migrations.iter().all(|m| {
            if m.drops {
                !present.contains(&m.name)
            } else {
                online.contains(&m.name)
            }
        });
        if !schema_current {
            return Ok(false);
        }
        let recorded = self.recorded_version().await?;
        refuse_newer(recorded)?;
        Ok(recorded == Some(SCHEMA_VERSION))
    }

    /// The schema version [`Self::migrate`] last recorded in this namespace, if any.
    async fn recorded_version(&self) -> Result<Option<i64>> {
        let st = &self.inner.statements.schema;
        let rows = self
            .read("migrate check", neo4rs::query(&st.version_read))
            .await?;
        match rows.first() {
            Some(row) => get(row, "version"),
            None => Ok(None),
        }
    }

    /// Runs one schema command in a transaction of its own (Neo4j does not mix schema and data
    /// writes in one transaction); an index or constraint that another process created
    /// meanwhile is fine.
    async fn schema_command(&self, command: &str) -> Result<()> {
        fn already_exists(e: &neo4rs::Error) -> bool {
            match e {
                neo4rs::Error::Neo4j(e) => e.code().contains("AlreadyExists"),
                neo4rs::Error::UnexpectedMessage(m) => m.contains("AlreadyExists"),
                _ => false,
            }
        }
        let mut txn = self.inner.driver.start_txn().await.map_err(map)?;
        let run = txn.run(neo4rs::query(command)).await;
        let result = match run {
            Ok(()) => txn.commit().await,
            Err(e) => Err(match txn.rollback().await {
                Ok(()) | Err(_) => e,
            }),
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if already_exists(&e) => Ok(()),
            Err(e) => Err(map(e)),
        }
    }

    /// Creates the constraints and indexes the store relies on, if they are missing, and waits
    /// until they are online; [`Self::connect`] runs it when they are not all there, so an
    /// application rarely needs to. The constraints and indexes: unique `id` on `User`,
    /// `Product`, `Category`; unique `Category.name`; unique keys of the internal tombstone and
    /// lock nodes; relationship indexes on `PURCHASED(order_id)` (order upserts and deletes) and
    /// `PURCHASED(timestamp)` (trending); relationship uniqueness constraints on `REVIEWED(id)`
    /// and on `PURCHASED(order_id, product)` (one line per order and product);
    /// unique `id` of the internal counter nodes and an index on each of their counters
    /// (`popular`); a unique `(product, hour)` and an index on `hour` of the internal trend
    /// buckets, and indexes on the counter nodes' trend bound and on their `(category,
    /// trend_bound)` (`trending`). On a graph last migrated before schema version 4, marks every
    /// product with buyers for [`swiftbox_core::GraphStore::refresh_neighbours`]. On a graph
    /// last migrated before schema version 3, gives every
    /// `PURCHASED` line its product's id as `product` (a doubled line, which the constraint
    /// refuses, makes migrate fail with the constraint's error and leaves the graph at the old
    /// version). Then gives every product that lacks them its popularity counters
    /// (`purchases`, `units`, `buyers`, kept by apply from then on: see
    /// [`Self::recount_product_stats`]), computed from its relationships, and builds the trend
    /// buckets and trend bound (with the counter node's copy of the product's category) of
    /// every product not marked as having complete ones, the recent-buyer list of
    /// every counter node without one and the bought set of every user without one (see the
    /// `apply` module's projections), so a graph
    /// written by an older version of this crate is brought up to date; last, records the
    /// schema version [`Self::connect`] checks. Idempotent, also when several processes run it
    /// at once. Every step is an explicit transaction: one per schema command, one per batch
    /// of products. Constraint and index names start with `swiftbox_` (plus the namespace).
    #[tracing::instrument(skip(self), fields(namespace = ?self.inner.config.namespace))]
    pub async fn migrate(&self) -> Result<()> {
        // Concurrent schema changes on one server can stall each other (seen on 5.26: a
        // constraint index left POPULATING forever when several were created at once), so one
        // process runs one migration at a time.
        static MIGRATIONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let budget = self.inner.config.query_timeout.max(Duration::from_secs(60));
        bounded("migrate", budget, async {
            let _one_at_a_time = MIGRATIONS.lock().await;
            let st = &self.inner.statements.schema;
            let recorded = self.recorded_version().await?;
            refuse_newer(recorded)?;
            for m in &st.migrations {
                self.schema_command(&m.command).await?;
            }
            self.await_own_indexes().await?;
            // Under the `purchased_line` constraint from here on: a doubled line left by an
            // older version fails its batch (and migrate) rather than pass unnoticed.
            // (Versions before 3 wrote lines without `product`.)
            if recorded.unwrap_or(0) < 3 {
                let (pages, fill) = &st.line_products;
                self.in_batches("migrate line products", pages.next(true), 1_000, |ids| {
                    neo4rs::query(fill).param("ids", param::items(ids.to_vec()))
                })
                .await?;
            }
            self.recount_counters(false).await?;
            // (Versions before 4 kept no neighbour lists.)
            if recorded.unwrap_or(0) < 4 {
                self.mark_all_neighbours().await?;
            }
            self.recount(&self.statements().apply.recent, false).await?;
            self.rebuild_trend_buckets(false).await?;
            self.recount(&self.statements().apply.bought, false).await?;
            let q = neo4rs::query(&st.version_write).param("version", SCHEMA_VERSION);
            self.write_txn("migrate", vec![q]).await.map(drop)
        })
        .await
    }

    /// [`GraphStore::rebuild_projections`](swiftbox_core::GraphStore::rebuild_projections):
    /// [`Neo4jGraph::recount_product_stats`], then every purchased product's neighbour list
    /// marked. Every recount statement write-locks the product's counter node before it counts,
    /// so an apply committing meanwhile is counted once, by one side or the other.
    pub(crate) async fn rebuild_all_projections(&self) -> Result<()> {
        self.recount_product_stats().await?;
        self.mark_all_neighbours().await
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
    /// products, each its own explicit transaction, so run it while no `apply` is in flight. Then
    /// rebuilds every product's recent-buyer list (its latest 100 buyers, which the
    /// recommendation queries read), trend buckets (per-hour purchase sums `trending`
    /// reads) and trend bounds (by which it reads products best first), and every user's bought set (the distinct products `similar_users` reads), all
    /// kept by apply likewise, from the relationships.
    #[tracing::instrument(skip(self), fields(namespace = ?self.inner.config.namespace))]
    pub async fn recount_product_stats(&self) -> Result<()> {
        let budget = self
            .inner
            .config
            .query_timeout
            .max(Duration::from_secs(120));
        bounded("recount_product_stats", budget, async {
            self.recount_counters(true).await?;
            self.recount(&self.statements().apply.recent, true).await?;
            self.rebuild_trend_buckets(true).await?;
            self.recount(&self.statements().apply.bought, true).await
        })
        .await
    }

    /// Waits until every index of this namespace is online (not `db.awaitIndexes`, which
    /// waits for every index of the database, other namespaces' included).
    async fn await_own_indexes(&self) -> Result<()> {
        let prefix = self.inner.schema.schema_prefix();
        let show = &self.inner.statements.schema.show_indexes;
        loop {
            let q = neo4rs::query(show).param("prefix", prefix.as_str());
            let mut pending = Vec::new();
            for row in self.read("migrate", q).await? {
                let name: String = get(&row, "name")?;
                let state: String = get(&row, "state")?;
                if state != "ONLINE" {
                    pending.push((name, state));
                }
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
    /// constraints and indexes, in explicit transactions of up to 5,000 nodes (and one per
    /// dropped index or constraint). The store needs [`Self::migrate`] before it is used
    /// again. Meant for tests and throw-away environments; refuses
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
            let st = &self.inner.statements.schema;
            for batch in &st.wipe {
                loop {
                    let rows = self.write_txn("wipe", vec![neo4rs::query(batch)]).await?;
                    let deleted: i64 = match rows.first().and_then(|r| r.first()) {
                        Some(row) => get(row, "deleted")?,
                        None => 0,
                    };
                    if deleted == 0 {
                        break;
                    }
                }
            }
            let prefix = self.inner.schema.schema_prefix();
            for (kind, show) in &st.show_own_schema {
                let q = neo4rs::query(show).param("prefix", prefix.as_str());
                for row in self.read("wipe", q).await? {
                    let name: String = get(&row, "name")?;
                    // `name` comes from the server and starts with our validated prefix; quote
                    // it anyway.
                    let drop = format!("DROP {kind} `{}` IF EXISTS", name.replace('`', "``"));
                    self.schema_command(&drop).await?;
                }
            }
            Ok(())
        })
        .await
    }

    /// `RETURN 1` within the connect timeout.
    pub(crate) async fn check_alive(&self) -> Result<()> {
        let t = self.inner.config.connect_timeout;
        self.txn("ping", t, vec![neo4rs::query("RETURN 1 AS one")], |_| {
            Ok(Vec::new())
        })
        .await
        .map(drop)
    }

    /// Runs one query and drains every row, within the call budget: [`Self::read_as`] with
    /// the rows as they are.
    pub(crate) async fn read(&self, what: &'static str, q: Query) -> Result<Vec<Row>> {
        self.read_as(what, q, Ok).await
    }

    /// Runs one query, drains every row and decodes them with `decode`, within the call budget
    /// for each run. A run that raced a concurrent delete ([`error::is_raced`]: the server
    /// could not load an entity the statement matched, or `decode` met a required value that
    /// read null) is run again, up to [`READ_ATTEMPTS`] times in all. The server's race fails
    /// the transaction, which is rolled back, so [`Self::read`] may run a statement that writes
    /// (`record_view`); `decode` runs after the commit, so only a statement that does not
    /// write may decode here with a `decode` that can fail.
    pub(crate) async fn read_as<T>(
        &self,
        what: &'static str,
        q: Query,
        decode: impl Fn(Vec<Row>) -> Result<T>,
    ) -> Result<T> {
        let t = self.inner.config.query_timeout;
        let mut attempt = 1;
        loop {
            let result = self
                .txn(what, t, vec![q.clone()], |_| Ok(Vec::new()))
                .await
                .and_then(|mut results| decode(results.pop().unwrap_or_default()));
            match result {
                Err(err) if error::is_raced(&err) && attempt < READ_ATTEMPTS => {
                    tracing::debug!(call = what, attempt, error = %err, "read raced a delete; reading again");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Runs `queries` in order in one explicit transaction, draining each one's rows, within the
    /// call budget.
    pub(crate) async fn write_txn(
        &self,
        what: &'static str,
        queries: Vec<Query>,
    ) -> Result<Vec<Vec<Row>>> {
        self.write_txn_then(what, queries, |_| Ok(Vec::new())).await
    }

    /// [`Self::write_txn`], then, in the same transaction, the queries `then` makes from the
    /// rows of `queries` (their rows are not returned). An error from `then` rolls back.
    pub(crate) async fn write_txn_then(
        &self,
        what: &'static str,
        queries: Vec<Query>,
        then: impl FnOnce(&[Vec<Row>]) -> Result<Vec<Query>> + Send,
    ) -> Result<Vec<Vec<Row>>> {
        self.txn(what, self.inner.config.query_timeout, queries, then)
            .await
    }

    /// Runs `queries` in one explicit transaction, then the queries `then` makes from their
    /// rows: commits when all succeed, rolls back when one fails; fails with [`Error::Unavailable`] after `t` (a transaction abandoned by the
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
        then: impl FnOnce(&[Vec<Row>]) -> Result<Vec<Query>> + Send,
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
            for q in last {
                if let Err(err) = txn_rows(&mut txn, q).await {
                    return Err(rollback(txn, err).await);
                }
            }
            txn.commit().await.map_err(map)?;
            Ok(results)
        })
        .await
    }
}

/// Fails when a newer version of this crate has migrated the graph (`recorded` above
/// [`SCHEMA_VERSION`]): this one would write without keeping what the newer schema keeps (a
/// projection added since, say), leaving the graph wrong where the newer version reads it, and
/// its `migrate` would record the older version. The error says to upgrade; nothing is
/// written.
fn refuse_newer(recorded: Option<i64>) -> Result<()> {
    match recorded {
        Some(v) if v > SCHEMA_VERSION => Err(Error::backend(
            error::STORE,
            error::Msg(format!(
                "the graph was migrated to schema version {v} by a newer swiftbox-neo4j; this \
                 one knows version {SCHEMA_VERSION} and would not keep what version {v} keeps: \
                 upgrade this process (nothing was written)"
            )),
        )),
        _ => Ok(()),
    }
}

/// How many times [`Neo4jGraph::read_as`] runs a statement that keeps racing concurrent deletes
/// before it returns the last error (retryable for the server's `EntityNotFound`, a decode
/// error for a value that read null).
const READ_ATTEMPTS: u32 = 5;

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

/// Fails with [`Error::Unavailable`] when `fut` takes longer than `t`. Records the call's
/// duration in the `swiftbox_neo4j_call_duration_seconds` histogram (see the crate docs,
/// "Metrics"), labelled with the call and its outcome.
pub(crate) async fn bounded<T>(
    what: &'static str,
    t: Duration,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let started = std::time::Instant::now();
    let (result, outcome) = match tokio::time::timeout(t, fut).await {
        Ok(Ok(v)) => (Ok(v), "ok"),
        Ok(Err(e)) => {
            tracing::debug!(call = what, error = %e, "neo4j call failed");
            (Err(e), "error")
        }
        Err(_) => {
            tracing::warn!(call = what, timeout = ?t, "neo4j call timed out");
            (Err(error::timeout(what, t)), "timeout")
        }
    };
    metrics::histogram!(
        "swiftbox_neo4j_call_duration_seconds",
        "call" => what,
        "outcome" => outcome
    )
    .record(started.elapsed().as_secs_f64());
    result
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

    /// A list parameter as every statement takes one: the map `{items: list}`, read as
    /// `$name.items`, never a bare list.
    ///
    /// Neo4j 5 keys its plan cache on the size of each list and string parameter, rounded up
    /// to a power of ten (`internal.cypher.use_parameter_size`, on by default): `UNWIND $rows`
    /// given 1, 5, 50 and 500 rows is planned four times, as four statements. Planning the
    /// projection statement takes 150-700 ms on a loaded 2-core machine, and the first batch
    /// of each new size waited for it: that was figure 3's sync-lag tail (issue 18,
    /// `docs/performance-notes.md`). A map parameter has no size, so one plan serves every
    /// batch. The unit test `statements::tests::no_statement_reads_a_bare_list_parameter`
    /// scans the statements for a bare list; `tests/plan_cache.rs` counts the plans Neo4j
    /// makes for batches of three sizes.
    pub(crate) fn items<T: Into<BoltType>>(items: Vec<T>) -> BoltType {
        map([("items", list(items.into_iter().map(Into::into).collect()))])
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

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    /// Each bounded call lands in the call-duration histogram, labelled with its outcome.
    #[test]
    fn every_call_records_its_duration_and_outcome() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .expect("runtime");
            rt.block_on(async {
                let t = Duration::from_secs(1);
                assert!(bounded("popular", t, async { Ok(1) }).await.is_ok());
                let failed: Result<()> =
                    bounded("popular", t, async { Err(error::timeout("x", t)) }).await;
                assert!(failed.is_err());
                let slow: Result<()> = bounded("apply", t, async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(())
                })
                .await;
                assert!(slow.unwrap_err().is_retryable());
            });
        });
        let mut seen: Vec<(String, String, usize)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == "swiftbox_neo4j_call_duration_seconds")
            .map(|(key, _, _, value)| {
                let label = |name: &str| {
                    key.key()
                        .labels()
                        .find(|l| l.key() == name)
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default()
                };
                let samples = match value {
                    DebugValue::Histogram(s) => s.len(),
                    _ => 0,
                };
                (label("call"), label("outcome"), samples)
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("apply".to_owned(), "timeout".to_owned(), 1),
                ("popular".to_owned(), "error".to_owned(), 1),
                ("popular".to_owned(), "ok".to_owned(), 1),
            ]
        );
    }
}
