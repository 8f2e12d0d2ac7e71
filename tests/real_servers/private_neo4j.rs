//! A Neo4j of one test's own (`scripts/servers.sh neo4j-private start|stop|kill|wipe <dir>`),
//! for tests that stop, kill and start Neo4j: the shared test server must stay up for everyone
//! else. Its store is persistent: started again on the same folder, after a clean stop or after
//! a SIGKILL (Neo4j recovers from its transaction logs first), it has its data and listens on
//! the same port with the same password, so a client's URI and pool stay valid.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::{EntityKind, GraphRecord, UserId};
use swiftbox_mongo::MongoStore;
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};
use swiftbox_sync::{SyncConfig, Synced};
use swiftbox_testsupport::Neo4jServer;

use crate::common::{must, Cleanup};

/// A private Neo4j, stopped (and its state directory removed) when dropped.
pub struct PrivateNeo4j {
    dir: PathBuf,
}

/// Why a private Neo4j did not start.
pub enum StartFailure {
    /// Neo4j is not built (exit status 3): skip, or fail under CI.
    NotBuilt(String),
    /// Anything else: the test fails.
    Failed(String),
}

fn servers_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/servers.sh")
}

impl PrivateNeo4j {
    /// A private Neo4j in a fresh state directory named after `test` (not started yet).
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(swiftbox_testsupport::unique_name(test));
        Self { dir }
    }

    /// Runs `servers.sh neo4j-private <action> <dir>` (off the async workers: it blocks).
    async fn run(&self, action: &'static str) -> std::io::Result<Output> {
        let dir = self.dir.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("bash")
                .arg(servers_sh())
                .args(["neo4j-private", action])
                .arg(&dir)
                .output()
        })
        .await;
        match out {
            Ok(out) => out,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Starts it (again, on its store) and returns where it listens.
    pub async fn start(&self) -> Result<Neo4jServer, StartFailure> {
        let out = self
            .run("start")
            .await
            .map_err(|e| StartFailure::Failed(format!("running servers.sh: {e}")))?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => {}
            Some(3) => return Err(StartFailure::NotBuilt(stderr)),
            _ => {
                return Err(StartFailure::Failed(format!(
                    "servers.sh neo4j-private start: {}: {stderr}",
                    out.status
                )))
            }
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let var = |name: &str| {
            stdout.lines().find_map(|l| {
                let v = l.strip_prefix(&format!("export {name}="))?;
                Some(v.trim_matches('\'').to_owned())
            })
        };
        match (
            var("SWIFTBOX_NEO4J_URI"),
            var("SWIFTBOX_NEO4J_USER"),
            var("SWIFTBOX_NEO4J_PASSWORD"),
        ) {
            (Some(uri), Some(user), Some(password)) => Ok(Neo4jServer::new(uri, user, password)),
            _ => Err(StartFailure::Failed(format!("no exports in: {stdout}"))),
        }
    }

    /// Starts it for the first time: `None` when the test is skipped (Neo4j not built and
    /// not in CI), a panic when it does not start otherwise.
    pub async fn first_start(&self) -> Option<Neo4jServer> {
        match self.start().await {
            Ok(server) => Some(server),
            Err(StartFailure::NotBuilt(why)) if !swiftbox_testsupport::in_ci() => {
                swiftbox_testsupport::skip(&format!("no private Neo4j: {why}"));
                None
            }
            Err(StartFailure::NotBuilt(why) | StartFailure::Failed(why)) => {
                panic!("no private Neo4j: {why}")
            }
        }
    }

    /// Starts it again on its store; panics when it does not start.
    pub async fn restart(&self) -> Neo4jServer {
        match self.start().await {
            Ok(server) => server,
            Err(StartFailure::NotBuilt(why) | StartFailure::Failed(why)) => {
                panic!("restarting the private Neo4j: {why}")
            }
        }
    }

    async fn expect(&self, action: &'static str) {
        let out = must(
            self.run(action).await,
            &format!("servers.sh neo4j-private {action}"),
        );
        assert!(
            out.status.success(),
            "servers.sh neo4j-private {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops it cleanly (SIGTERM: Neo4j checkpoints and shuts down); its store stays.
    pub async fn stop(&self) {
        self.expect("stop").await
    }

    /// Kills it as a crash would (SIGKILL, returns once the process is gone); its store stays
    /// as the crash left it, for Neo4j to recover at the next start.
    pub async fn kill(&self) {
        self.expect("kill").await
    }

    /// Freezes it (SIGSTOP): its sockets stay open and it answers nothing, as a stalled server.
    pub async fn freeze(&self) {
        self.expect("freeze").await
    }

    /// Thaws it (SIGCONT) after [`PrivateNeo4j::freeze`].
    pub async fn thaw(&self) {
        self.expect("thaw").await
    }

    /// Stops it and deletes its store (as after losing the graph server's disk); the port and
    /// password stay.
    pub async fn wipe(&self) {
        self.expect("wipe").await
    }
}

impl Drop for PrivateNeo4j {
    fn drop(&mut self) {
        let stopped = Command::new("bash")
            .arg(servers_sh())
            .args(["neo4j-private", "stop"])
            .arg(&self.dir)
            .output();
        match stopped {
            Ok(out) if out.status.success() => {
                if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                    eprintln!("clean-up: removing {}: {e}", self.dir.display());
                }
            }
            Ok(out) => eprintln!(
                "clean-up: stopping the private neo4j in {}: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("clean-up: running servers.sh: {e}"),
        }
    }
}

/// Polls `done` every `every` until it is true, for at most `patience`; a bound for a loaded
/// machine, not a timing assertion.
pub async fn eventually<F, Fut>(what: &str, patience: Duration, every: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(patience, async {
        while !done().await {
            tokio::time::sleep(every).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "gave up waiting {} s: {what}",
        patience.as_secs()
    );
}

/// One private Neo4j at a time: each is a JVM of about 600 MB whose start takes both cores
/// for 10 to 20 s, so tests that need one take turns (the suite's memory and load stay what
/// they were with a single such test) rather than start them all at once.
pub static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A test's own private Neo4j and MongoDB database, and `Synced<MongoStore, Neo4jGraph>`
/// over them. Dropping it stops the Neo4j (removing its folder), drops the database, and
/// lets the next test that needs a private Neo4j start one.
pub struct PrivateEnv {
    /// The private Neo4j (stop, kill, wipe, restart it).
    pub neo4j: PrivateNeo4j,
    /// Where it listened at its first start (a restart keeps it).
    pub server: Neo4jServer,
    /// The primary store, on a database of the test's own.
    pub primary: Arc<MongoStore>,
    /// The graph (the whole private Neo4j is the test's own; migrated).
    pub graph: Arc<Neo4jGraph>,
    /// Both, synced.
    pub store: Synced<MongoStore, Neo4jGraph>,
    _cleanup: Cleanup,
    // Last, so it is released once the Neo4j has stopped.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl PrivateEnv {
    /// Starts a private Neo4j and connects; `None` when the test is skipped (no MongoDB, or
    /// Neo4j not built, outside CI). Calls to a dead Neo4j fail at once (connection refused or
    /// reset); the query timeout is generous, for a Neo4j that has just recovered, on a loaded
    /// machine.
    pub async fn start(test: &str) -> Option<Self> {
        let mongo_server = swiftbox_testsupport::mongo().await?;
        let turn = TURN.lock().await;
        let neo4j = PrivateNeo4j::new(test);
        let server = neo4j.first_start().await?;
        let database = mongo_server.unique_database(test);
        let namespace = test;
        let cleanup = Cleanup::new(&mongo_server, None, &database, namespace);
        let primary = Arc::new(must(
            MongoStore::connect(&mongo_server.uri, &database).await,
            "connect to mongo",
        ));
        let config = must(
            Neo4jConfig::builder(&server.uri, &server.user, &server.password)
                .namespace(namespace)
                .connect_timeout(Duration::from_secs(5))
                .query_timeout(Duration::from_secs(30))
                .build(),
            "neo4j config",
        );
        let graph = Arc::new(must(Neo4jGraph::connect(&config).await, "connect to neo4j"));
        must(graph.migrate().await, "migrate");
        let store = Synced::from_arcs(
            Arc::clone(&primary),
            Arc::clone(&graph),
            SyncConfig::default(),
        );
        Some(Self {
            neo4j,
            server,
            primary,
            graph,
            store,
            _cleanup: cleanup,
            _turn: turn,
        })
    }
}

/// Changes the primary store owes the graph.
pub async fn owed(primary: &MongoStore) -> u64 {
    must(primary.sync_stats().await, "sync stats").owed
}

/// Every user node in the graph, read page by page. Call it while nothing applies changes, so
/// that it reads one state (`records` skips a node deleted while it reads, but pages read at
/// different instants).
pub async fn graph_users(graph: &Neo4jGraph) -> HashSet<UserId> {
    const PAGE: usize = 500;
    let mut users = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = must(
            graph
                .records(EntityKind::User, after.as_deref(), PAGE)
                .await,
            "user records",
        );
        let done = page.len() < PAGE;
        for record in &page {
            after = Some(record.entity().id);
            if let GraphRecord::User(u) = record {
                users.insert(u.id);
            }
        }
        if done {
            return users;
        }
    }
}
