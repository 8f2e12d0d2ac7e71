//! Shared by the maintenance examples (`resync`, `sync-status`): opens the stores they work on.
//!
//! With `SWIFTBOX_MONGO_URI` and `SWIFTBOX_NEO4J_URI` set (plus `SWIFTBOX_MONGO_DB`,
//! `SWIFTBOX_NEO4J_USER`, `SWIFTBOX_NEO4J_PASSWORD` as the backends document), the real
//! servers; otherwise fresh in-memory stores, which the example seeds itself.
//!
//! Nothing here migrates by hand: `MongoStore::from_env` creates its indexes and
//! `Neo4jGraph::connect_from_env` migrates the graph's schema when the database (or
//! `SWIFTBOX_NEO4J_NAMESPACE`) lacks it, so both examples work on databases nothing else has
//! opened yet.

use std::sync::Arc;

use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_core::{Error, GraphStore, PrimaryBackend, Result};
use swiftbox_sync::{Reconciler, SyncConfig, Synced};

/// The primary store behind a trait object (a `PrimaryStore` and `SyncLedger` itself).
pub type DynPrimary = Arc<dyn PrimaryBackend>;
/// The graph behind a trait object (a `GraphStore` itself).
pub type DynGraph = Arc<dyn GraphStore>;

/// The stores an example works on.
pub struct Stores {
    /// The system of record.
    pub primary: Arc<dyn PrimaryBackend>,
    /// The graph.
    pub graph: Arc<dyn GraphStore>,
    /// True for fresh in-memory stores (empty: seed them).
    pub in_memory: bool,
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty())
}

impl Stores {
    /// A reconciler on these stores.
    pub fn reconciler(&self) -> Reconciler<DynPrimary, DynGraph> {
        Reconciler::new(
            Arc::new(Arc::clone(&self.primary)),
            Arc::new(Arc::clone(&self.graph)),
        )
    }

    /// A decorator on these stores, its graph wrapped by `wrap` (for example in a fault
    /// injector).
    pub fn synced<G: GraphStore>(
        &self,
        wrap: impl FnOnce(DynGraph) -> G,
        config: SyncConfig,
    ) -> Synced<DynPrimary, G> {
        let graph = wrap(Arc::clone(&self.graph));
        Synced::from_arcs(Arc::new(Arc::clone(&self.primary)), Arc::new(graph), config)
    }
}

/// The real servers when both URIs are set, else fresh memory stores. [`Error::Invalid`] naming
/// the missing variable when only one is set.
pub async fn open() -> Result<Stores> {
    match (env_set("SWIFTBOX_MONGO_URI"), env_set("SWIFTBOX_NEO4J_URI")) {
        (false, false) => Ok(Stores {
            primary: Arc::new(MemoryStore::new()),
            graph: Arc::new(MemoryGraph::new()),
            in_memory: true,
        }),
        (true, true) => {
            let primary = swiftbox_mongo::MongoStore::from_env().await?;
            let graph = swiftbox_neo4j::Neo4jGraph::connect_from_env().await?;
            Ok(Stores {
                primary: Arc::new(primary),
                graph: Arc::new(graph),
                in_memory: false,
            })
        }
        (true, false) => Err(Error::invalid(
            "SWIFTBOX_NEO4J_URI",
            "not set (set both server URIs, or neither for the in-memory demo)",
        )),
        (false, true) => Err(Error::invalid(
            "SWIFTBOX_MONGO_URI",
            "not set (set both server URIs, or neither for the in-memory demo)",
        )),
    }
}

/// Logs to stderr at `RUST_LOG` (default: warnings only, so progress output stays readable).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
