//! # swiftbox-neo4j
//!
//! [`Neo4jGraph`]: SwiftBox's [`GraphStore`](swiftbox_core::GraphStore) on Neo4j 5 (tested
//! against 5.26 Community) through the `neo4rs` driver. It implements exactly the semantics of
//! the [`swiftbox_core::graph`] module docs and passes the shared conformance suite.
//!
//! ```no_run
//! use swiftbox_core::{GraphStore, TrendingQuery};
//! use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};
//!
//! # async fn run() -> swiftbox_core::Result<()> {
//! // SWIFTBOX_NEO4J_URI / _USER / _PASSWORD, or Neo4jConfig::builder(uri, user, password).
//! let config = Neo4jConfig::from_env()?
//!     .max_connections(8)
//!     .query_timeout(std::time::Duration::from_secs(5))
//!     .build()?;
//! // Connect also migrates: constraints and indexes, when the namespace lacks them.
//! let graph = Neo4jGraph::connect(&config).await?;
//!
//! let trending = graph.trending(&TrendingQuery::new(10)).await?;
//! for p in trending {
//!     println!("{} {:.2}", p.name, p.score);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Storage
//!
//! The schema of the core docs, with these representations:
//! - ids are the canonical UUID strings; versions are integers;
//! - money is an integer of minor units plus a currency string (`Product.price` +
//!   `Product.currency`; `PURCHASED.price` + `PURCHASED.currency`), never a float;
//! - times (`PURCHASED.timestamp`, `VIEWED.last_viewed`) are integers of **epoch
//!   milliseconds** (UTC), so trending's decay is computed from exact ages;
//! - a product's category, for per-category popularity and trending and for the cold-start
//!   fill, is its `category` property (as in every backend), kept next to its `BELONGS_TO`;
//! - a delete leaves an internal `SwiftboxTombstone {key: "kind:id", version}` node so that a
//!   stale upsert replayed later cannot resurrect the entity (not counted, never returned);
//! - each product has an internal `SwiftboxProductStats {id, purchases, units, buyers}` node
//!   of popularity counters that apply keeps exact in the same transaction, read by `popular`
//!   and the cold-start fill ([`Neo4jGraph::recount_product_stats`] rebuilds them after hand
//!   edits), plus the product's recent-buyer list and internal hourly `SwiftboxTrendBucket`
//!   nodes (the projections of the `apply` module);
//! - one internal `SwiftboxSchema {id, version}` node records the schema version
//!   [`Neo4jGraph::migrate`] last completed; `SwiftboxLock {key}` nodes exist only inside an
//!   apply transaction (a per-order lock), never committed.
//!
//! With a [namespace](Neo4jConfigBuilder::namespace) every label and relationship type is
//! prefixed (`{ns}_User`, `{ns}_PURCHASED`), and [`Neo4jGraph::migrate`] creates that
//! namespace's own constraints: several independent graphs share one database. The tests use
//! one namespace per test, so they run in parallel on one Neo4j Community server.
//!
//! # Round trips
//!
//! Every call is one explicit transaction, except the maintenance calls
//! ([`Neo4jGraph::connect`] when it migrates, [`Neo4jGraph::migrate`],
//! [`Neo4jGraph::recount_product_stats`], [`Neo4jGraph::wipe`]), which run several, each
//! explicit (one per schema command, one per batch of products or nodes); nothing uses
//! neo4rs's auto-commit path. Every statement is rendered once, at connect, for the store's
//! namespace ([`Neo4jGraph::cypher_statements`] lists them).
//! [`apply`](swiftbox_core::GraphStore::apply) runs
//! one `UNWIND $rows.items` statement per kind and operation present in the batch (at most ten);
//! every query is one statement, except recommendations, which run a second statement only
//! when collaborative filtering found fewer than `limit` products (the cold-start fill).
//! neo4rs 0.8 does not pipeline, so a one-statement call is four request/response exchanges
//! on one pooled connection (`BEGIN`, `RUN`, `PULL`, `COMMIT`); the fetch size (default 500)
//! exceeds every `limit`, so results never need a second `PULL`. Explicit transactions rather
//! than auto-commit because neo4rs's auto-commit path retries any connection failure for up to
//! 60 s, which would hide a down server or refused credentials.
//!
//! Every list parameter is passed inside a map and read as `$name.items`: Neo4j 5 plans a
//! statement again for each power of ten a bare list parameter's size reaches, and an apply
//! carrying the first batch of a new size would wait 150-700 ms for it (issue 18;
//! `tests/plan_cache.rs` counts the plans).
//!
//! # Fan-out
//!
//! Each hop is capped by [`GraphLimits`](swiftbox_core::GraphLimits) in a
//! `CALL (x) { ... ORDER BY ... LIMIT }` subquery, so a product bought by everyone is followed
//! through its `buyers_per_product` most recent buyers only. Finding those still reads the
//! product's `PURCHASED` relationships once (Neo4j has no per-node ordered index on
//! relationship properties); what the cap saves is the walk through every buyer's history.
//! Popularity and the cold-start fill rank all products of the scope (using relationship
//! degrees for purchase counts).
//!
//! # Errors
//!
//! Unreachable servers, broken connections, pool or call timeouts and transient server errors
//! (deadlocks, leader switches) are [`Error::Unavailable`](swiftbox_core::Error::Unavailable),
//! which callers may retry; refused credentials and everything else are
//! [`Error::Backend`](swiftbox_core::Error::Backend) with the driver error as source. Every
//! call is bounded by [`Neo4jConfigBuilder::query_timeout`] (waiting for a pooled connection
//! included, which neo4rs itself does not bound).
//!
//! # Metrics
//!
//! Every call to the server (each query, each apply transaction, migrations, pings) records its
//! duration through the [`metrics`](https://docs.rs/metrics) facade, so an application's
//! recorder (a Prometheus exporter, say) gets the graph's latencies without code of its own:
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `swiftbox_neo4j_call_duration_seconds` | histogram | `call` (`recommendations`, `also_bought`, `popular`, `trending`, `purchase_history`, `similar_users`, `apply`, `records`, `counts`, `neighbours`, `record_view`, `ping`, ...), `outcome` (`ok`, `error`, `timeout`) | wall time of the call, from asking for a connection to the commit |
//!
//! With no recorder installed this costs a few nanoseconds a call.
//!
//! # Concurrency
//!
//! Any number of `apply` calls, in any number of processes, may write the same entities at
//! once: each statement reads an entity's version guard only after a locking seek on a
//! uniqueness constraint has serialised it against every other transaction applying that
//! entity (for orders, an explicit per-order lock), so no interleaving lets an older version
//! win or doubles a purchase. The `apply` module documents the locking order; a test
//! `EXPLAIN`s every apply statement and fails when a guard is no longer read that way. View
//! counts are safe through `MERGE` locking.
//!
//! Reads take no locks, and Neo4j reads at read-committed isolation: a query or a page of
//! [`records`](swiftbox_core::GraphStore::records) can match an entity that a concurrent
//! apply deletes before the read loads it. The server then fails the statement
//! (`EntityNotFound`), or the entity's properties read as null. Either way the read is run
//! again at once, up to five times (it was rolled back, so nothing is counted twice); the
//! pages also read each property once and leave out a row that read null, so the reconciler
//! sees an entity deleted mid-read as gone. A read still racing after five runs fails with
//! its last error: [`Error::Unavailable`](swiftbox_core::Error::Unavailable) (retryable) for
//! the server's, a decode error ([`Error::Backend`](swiftbox_core::Error::Backend)) for a
//! null, which a node not written by SwiftBox also gives.
//!
//! # Lifecycle
//!
//! [`Neo4jGraph::connect`] migrates a database or namespace that needs it (and costs two
//! reads when it does not), so a connected store is always usable; [`Neo4jGraph::migrate`]
//! stays public and idempotent for tools that want to run it on their own. A graph migrated
//! by a newer version of this crate is refused by both, with an error saying to upgrade. The
//! statements use
//! no form Neo4j 5.26 reports as deprecated (subqueries always have a variable scope clause,
//! `CALL (row) { ... }`), and a test fails on any deprecation notification.
#![deny(missing_docs)]
#![warn(
    unreachable_pub,
    missing_debug_implementations,
    clippy::future_not_send
)]

mod apply;
mod batches;
mod config;
mod error;
mod graph;
#[macro_use]
mod queries;
mod neighbours;
mod records;
mod schema;
mod statements;
mod store;
mod trending;

// The scan of a statement's list parameters, shared with `tests/plan_cache.rs`.
#[cfg(test)]
#[path = "../tests/common/list_params.rs"]
mod list_params;

pub use config::{
    Neo4jConfig, Neo4jConfigBuilder, ENV_DATABASE, ENV_NAMESPACE, ENV_PASSWORD, ENV_URI, ENV_USER,
};
pub use graph::Neo4jGraph;
