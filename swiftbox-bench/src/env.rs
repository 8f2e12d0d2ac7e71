//! Fresh stores for each measurement: in-memory ones, or a MongoDB database and a Neo4j
//! namespace of their own on the servers the environment names, removed again at the end.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_core::prelude::*;
use swiftbox_core::{Error, GraphStore, Result};
use swiftbox_mongo::MongoStore;
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};

/// Where the real servers are.
#[derive(Clone)]
pub struct ServerConfig {
    /// MongoDB connection string.
    pub mongo_uri: String,
    /// Neo4j Bolt URI.
    pub neo4j_uri: String,
    /// Neo4j user.
    pub neo4j_user: String,
    /// Neo4j password (never printed).
    pub neo4j_password: String,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("mongo_uri", &swiftbox_mongo::redact_uri(&self.mongo_uri))
            .field("neo4j_uri", &self.neo4j_uri)
            .field("neo4j_user", &self.neo4j_user)
            .field("neo4j_password", &"<redacted>")
            .finish()
    }
}

impl ServerConfig {
    /// From `SWIFTBOX_MONGO_URI`, `SWIFTBOX_NEO4J_URI`, `SWIFTBOX_NEO4J_USER` (default `neo4j`)
    /// and `SWIFTBOX_NEO4J_PASSWORD` (default empty); `None` unless both URIs are set.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Self {
            mongo_uri: var("SWIFTBOX_MONGO_URI")?,
            neo4j_uri: var("SWIFTBOX_NEO4J_URI")?,
            neo4j_user: var("SWIFTBOX_NEO4J_USER").unwrap_or_else(|| "neo4j".into()),
            neo4j_password: var("SWIFTBOX_NEO4J_PASSWORD").unwrap_or_default(),
        })
    }
}

/// Which primary store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryKind {
    /// [`MemoryStore`].
    Memory,
    /// [`MongoStore`] on a fresh database.
    Mongo,
}

/// Which graph store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphKind {
    /// [`MemoryGraph`].
    Memory,
    /// [`Neo4jGraph`] in a fresh namespace.
    Neo4j,
}

/// A graph store made by [`Env::graph`]; give it back with [`Env::dispose_graph`] to free the
/// server's space early.
#[derive(Debug, Clone)]
pub struct GraphHandle {
    /// The store.
    pub store: Arc<dyn GraphStore>,
    neo4j: Option<Neo4jGraph>,
}

/// A primary store made by [`Env::primary`].
#[derive(Debug, Clone)]
pub struct PrimaryHandle {
    /// The store.
    pub store: Arc<dyn PrimaryBackend>,
    mongo: Option<MongoStore>,
}

/// Makes fresh stores and remembers the server-side ones, so [`Env::cleanup`] removes them.
#[derive(Debug)]
pub struct Env {
    servers: Option<ServerConfig>,
    run_id: String,
    counter: AtomicU64,
    mongo: Mutex<Vec<MongoStore>>,
    neo4j: Mutex<Vec<Neo4jGraph>>,
    /// Leave the Neo4j namespaces in place (see [`Env::keeping_graphs`]).
    keep_graphs: bool,
    /// The namespaces left in place.
    kept: Mutex<Vec<String>>,
}

impl Env {
    /// An environment on `servers` (memory stores only when `None`).
    pub fn new(servers: Option<ServerConfig>) -> Self {
        let run_id = format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() % 0xff_ffff_ffff)
                .unwrap_or(0)
        );
        Self {
            servers,
            run_id,
            counter: AtomicU64::new(0),
            mongo: Mutex::new(Vec::new()),
            neo4j: Mutex::new(Vec::new()),
            keep_graphs: false,
            kept: Mutex::new(Vec::new()),
        }
    }

    /// With `keep`, the Neo4j namespaces are left in place instead of wiped (to measure what a
    /// graph takes on disk: `docs/SCALING.md`); [`Env::kept_graphs`] names them.
    pub fn keeping_graphs(mut self, keep: bool) -> Self {
        self.keep_graphs = keep;
        self
    }

    /// The Neo4j namespaces left in place so far.
    pub fn kept_graphs(&self) -> Vec<String> {
        self.kept.lock().clone()
    }

    /// Wipes `graph`'s namespace, or notes it as kept.
    async fn wipe(&self, graph: &Neo4jGraph) -> Result<()> {
        if self.keep_graphs {
            let ns = graph.config().namespace().unwrap_or("(none)").to_owned();
            self.kept.lock().push(ns);
            return Ok(());
        }
        graph.wipe().await
    }

    /// Whether real servers are configured.
    pub fn has_servers(&self) -> bool {
        self.servers.is_some()
    }

    fn servers(&self) -> Result<&ServerConfig> {
        self.servers.as_ref().ok_or_else(|| {
            Error::invalid(
                "servers",
                "set SWIFTBOX_MONGO_URI and SWIFTBOX_NEO4J_URI (eval \"$(scripts/servers.sh start)\")",
            )
        })
    }

    /// A name unique to this run: `bench_<run>_<n>_<label>`, valid as a database name and as a
    /// Neo4j namespace.
    fn unique(&self, label: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(24)
            .collect();
        format!("bench_{}_{n}_{label}", self.run_id)
    }

    /// A fresh, empty primary store.
    pub async fn primary(&self, kind: PrimaryKind, label: &str) -> Result<PrimaryHandle> {
        match kind {
            PrimaryKind::Memory => Ok(PrimaryHandle {
                store: Arc::new(MemoryStore::new()),
                mongo: None,
            }),
            PrimaryKind::Mongo => {
                let servers = self.servers()?;
                let config = swiftbox_mongo::MongoConfig::builder(
                    servers.mongo_uri.as_str(),
                    self.unique(label),
                )
                .max_pool_size(32)
                .app_name("swiftbox-bench")
                .build()?;
                let store = MongoStore::connect_with(config).await?;
                self.mongo.lock().push(store.clone());
                Ok(PrimaryHandle {
                    store: Arc::new(store.clone()),
                    mongo: Some(store),
                })
            }
        }
    }

    /// One more handle on `handle`'s data, on a connection of its own (a worker of another
    /// process would have one): a new client on the same MongoDB database, or the same
    /// in-memory store (it has no connection). Left to `handle` to clean up.
    pub async fn reconnect(&self, handle: &PrimaryHandle) -> Result<PrimaryHandle> {
        match &handle.mongo {
            None => Ok(handle.clone()),
            Some(m) => {
                let store = MongoStore::connect_with(m.config().clone()).await?;
                Ok(PrimaryHandle {
                    store: Arc::new(store),
                    mongo: None,
                })
            }
        }
    }

    /// A fresh, empty graph store.
    pub async fn graph(&self, kind: GraphKind, label: &str) -> Result<GraphHandle> {
        match kind {
            GraphKind::Memory => Ok(GraphHandle {
                store: Arc::new(MemoryGraph::new()),
                neo4j: None,
            }),
            GraphKind::Neo4j => {
                let servers = self.servers()?;
                let config = Neo4jConfig::builder(
                    servers.neo4j_uri.as_str(),
                    servers.neo4j_user.as_str(),
                    servers.neo4j_password.as_str(),
                )
                .namespace(self.unique(label))
                .max_connections(16)
                .query_timeout(std::time::Duration::from_secs(120))
                .build()?;
                let graph = Neo4jGraph::connect(&config).await?;
                graph.migrate().await?;
                self.neo4j.lock().push(graph.clone());
                Ok(GraphHandle {
                    store: Arc::new(graph.clone()),
                    neo4j: Some(graph),
                })
            }
        }
    }

    /// Removes a graph's data now (Neo4j namespace wiped; memory graphs are simply dropped).
    pub async fn dispose_graph(&self, handle: GraphHandle) -> Result<()> {
        if let Some(g) = handle.neo4j {
            let ns = g.config().namespace().map(str::to_owned);
            self.neo4j
                .lock()
                .retain(|x| x.config().namespace().map(str::to_owned) != ns);
            self.wipe(&g).await?;
        }
        Ok(())
    }

    /// Drops a primary store's data now (its MongoDB database).
    pub async fn dispose_primary(&self, handle: PrimaryHandle) -> Result<()> {
        if let Some(m) = handle.mongo {
            let name = m.config().database().to_owned();
            self.mongo.lock().retain(|x| x.config().database() != name);
            drop_database(&m).await?;
        }
        Ok(())
    }

    /// Removes every database and namespace this environment created and still holds.
    pub async fn cleanup(&self) -> Result<()> {
        let graphs: Vec<Neo4jGraph> = std::mem::take(&mut *self.neo4j.lock());
        let stores: Vec<MongoStore> = std::mem::take(&mut *self.mongo.lock());
        let mut first_err = None;
        for g in graphs {
            if let Err(e) = self.wipe(&g).await {
                first_err.get_or_insert(e);
            }
        }
        for m in stores {
            if let Err(e) = drop_database(&m).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The servers' versions: (MongoDB-wire, Neo4j).
    pub async fn server_versions(&self) -> Result<(String, String)> {
        let servers = self.servers()?;
        let mongo = {
            let client = mongodb::Client::with_uri_str(&servers.mongo_uri)
                .await
                .map_err(|e| Error::unavailable("mongo", e))?;
            let info = client
                .database("admin")
                .run_command(mongodb::bson::doc! { "buildInfo": 1 })
                .await
                .map_err(|e| Error::unavailable("mongo", e))?;
            let version = info.get_str("version").unwrap_or("?").to_owned();
            match info.get_str("ferretdbVersion") {
                Ok(f) => format!("FerretDB {f} (MongoDB wire {version})"),
                Err(_) => format!("MongoDB {version}"),
            }
        };
        let neo4j = {
            let graph = neo4rs::Graph::new(
                servers.neo4j_uri.as_str(),
                servers.neo4j_user.as_str(),
                servers.neo4j_password.as_str(),
            )
            .await
            .map_err(|e| Error::unavailable("neo4j", e))?;
            let mut rows = graph
                .execute(neo4rs::query(
                    "CALL dbms.components() YIELD name, versions, edition \
                     RETURN name + ' ' + versions[0] + ' ' + edition AS v",
                ))
                .await
                .map_err(|e| Error::unavailable("neo4j", e))?;
            match rows.next().await {
                Ok(Some(row)) => row.get::<String>("v").unwrap_or_else(|_| "?".into()),
                Ok(None) => "?".into(),
                Err(e) => return Err(Error::unavailable("neo4j", e)),
            }
        };
        Ok((mongo, neo4j))
    }
}

async fn drop_database(store: &MongoStore) -> Result<()> {
    store
        .database()
        .drop()
        .await
        .map_err(|e| Error::backend("mongo", e))
}
