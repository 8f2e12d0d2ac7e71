//! A real Neo4j process stopped and started again while `Synced<MongoStore, Neo4jGraph>` keeps
//! writing. The shared test Neo4j must stay up for everyone else, so this test runs a private
//! one (`scripts/servers.sh neo4j-private start|stop <dir>`) that it may stop.
//!
//! What the harness keeps across a restart: the port and password (so the store's URI stays
//! valid and its pool reconnects), but not the data: `servers.sh` wipes the harness's work
//! folder before each start. So the restarted database is empty, as after losing a graph
//! server's disk. The honest demonstration is therefore: writes during the outage all succeed
//! on MongoDB and stay owed; once Neo4j is back, the worker applies those owed changes to the
//! new database; a `Reconciler::resync()` (what an operator runs after a graph loses its data)
//! rebuilds what was applied before the outage; the worker settles the rest; zero drift.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::{
    EntityKind, EntityRef, Error, GraphChange, GraphRecord, GraphStore, NewUser, PrimaryStore,
    UserId,
};
use swiftbox_mongo::MongoStore;
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};
use swiftbox_sync::scenarios::{self, Workload};
use swiftbox_sync::{SyncConfig, Synced};
use swiftbox_testsupport::Neo4jServer;

use crate::common::{self, must};

/// A Neo4j of this test's own, stopped (and its state directory removed) when dropped.
struct PrivateNeo4j {
    dir: PathBuf,
}

/// Why a private Neo4j did not start.
enum StartFailure {
    /// The harness is not built (exit status 3): skip, or fail under CI.
    NotBuilt(String),
    /// Anything else: the test fails.
    Failed(String),
}

fn servers_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/servers.sh")
}

impl PrivateNeo4j {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(swiftbox_testsupport::unique_name("neo4j_private"));
        Self { dir }
    }

    /// Runs `servers.sh neo4j-private <action> <dir>` (off the async workers: it blocks).
    async fn run(&self, action: &'static str) -> std::io::Result<std::process::Output> {
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

    /// Starts it (again) and returns where it listens.
    async fn start(&self) -> Result<Neo4jServer, StartFailure> {
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

    async fn stop(&self) {
        let out = must(self.run("stop").await, "servers.sh neo4j-private stop");
        assert!(
            out.status.success(),
            "servers.sh neo4j-private stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
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

async fn owed(primary: &MongoStore) -> u64 {
    must(primary.sync_stats().await, "sync stats").owed
}

/// Polls `done` every 50 ms for at most two minutes; a bound, not a timing assertion.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = tokio::time::timeout(Duration::from_secs(120), async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neo4j_stopped_and_started_again_loses_no_write() {
    let Some(mongo_server) = swiftbox_testsupport::mongo().await else {
        return;
    };
    let neo4j = PrivateNeo4j::new();
    let server = match neo4j.start().await {
        Ok(server) => server,
        Err(StartFailure::NotBuilt(why)) if !swiftbox_testsupport::in_ci() => {
            swiftbox_testsupport::skip(&format!("no private Neo4j: {why}"));
            return;
        }
        Err(StartFailure::NotBuilt(why) | StartFailure::Failed(why)) => {
            panic!("no private Neo4j: {why}")
        }
    };
    let database = mongo_server.unique_database("neo4j_restart");
    let namespace = "restart"; // the whole private server is this test's own
    let _cleanup = common::Cleanup::new(&mongo_server, None, &database, namespace);
    let primary = Arc::new(must(
        MongoStore::connect(&mongo_server.uri, &database).await,
        "connect to mongo",
    ));
    let config = must(
        Neo4jConfig::builder(&server.uri, &server.user, &server.password)
            .namespace(namespace)
            .connect_timeout(Duration::from_secs(5))
            .query_timeout(Duration::from_secs(10))
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
    let worker = must(store.worker(scenarios::test_worker_config()), "worker").spawn();

    // Before the outage: everything applied.
    let mut load = Workload::new(0x5709);
    load.run(&store, 200).await;
    eventually("the worker to settle the first writes", || async {
        owed(&primary).await == 0
    })
    .await;

    // Neo4j really goes down.
    neo4j.stop().await;
    let err = graph.ping().await.err();
    assert!(
        matches!(err, Some(Error::Unavailable { .. })),
        "a stopped Neo4j is unavailable: {err:?}"
    );
    let probe = GraphChange::Delete {
        entity: EntityRef::new(EntityKind::User, UserId::generate()),
        version: 1,
    };
    let err = graph.apply(&[probe]).await.err();
    assert!(
        matches!(err, Some(Error::Unavailable { .. })),
        "apply on a stopped Neo4j is Unavailable: {err:?}"
    );

    // Writes during the outage: every one succeeds on MongoDB (Workload panics otherwise),
    // the inline applies fail, the changes stay owed.
    let failed_before = store.metrics().snapshot().inline_failed;
    load.run(&store, 300).await;
    let mut during = Vec::new();
    for i in 0..5 {
        let name = format!("outage{i}");
        let u = must(
            store
                .create_user(NewUser::new(name.clone(), format!("{name}@example.com")))
                .await,
            "create during the outage",
        );
        during.push(u.id);
    }
    let owed_during = owed(&primary).await;
    let m = store.metrics().snapshot();
    assert!(
        m.inline_failed - failed_before >= 305,
        "every inline apply during the outage failed: {m:?}"
    );
    assert!(owed_during >= 5, "writes during the outage stay owed");
    for id in &during {
        let entity = EntityRef::new(EntityKind::User, *id);
        assert!(
            must(primary.owed_change(&entity).await, "owed change").is_some(),
            "{entity} is owed"
        );
    }
    let err = store
        .record_view(&during[0], &load.products()[0])
        .await
        .err();
    assert!(
        matches!(&err, Some(e) if e.is_retryable()),
        "a view while Neo4j is down is refused as retryable: {err:?}"
    );

    // Neo4j comes back (same port and password, empty store): the same pool reconnects.
    let again = match neo4j.start().await {
        Ok(s) => s,
        Err(StartFailure::NotBuilt(why) | StartFailure::Failed(why)) => {
            panic!("restarting the private Neo4j: {why}")
        }
    };
    assert_eq!(again.uri, server.uri, "restarted on the same port");
    must(graph.migrate().await, "migrate the restarted database");
    let counts = must(graph.counts().await, "counts");
    eprintln!("graph after the restart (the harness starts empty): {counts:?}");

    // The worker applies what was owed during the outage to the new database.
    eventually(
        "the outage's users to reach the restarted Neo4j",
        || async {
            let users = must(
                graph.records(EntityKind::User, None, 1_000).await,
                "records",
            );
            during.iter().all(|id| {
                users
                    .iter()
                    .any(|r| matches!(r, GraphRecord::User(u) if u.id == *id))
            })
        },
    )
    .await;

    // What was applied before the outage died with the old store: resync rebuilds it.
    let report = must(
        store.reconciler().resync(None, |_| {}).await,
        "resync after the restart",
    );
    assert!(report.upserted > 0, "{report:?}");
    eventually("the worker to settle everything", || async {
        owed(&primary).await == 0
    })
    .await;
    must(worker.shutdown().await, "worker shutdown");
    let status = must(store.reconciler().status().await, "status");
    assert_eq!(status.primary.set_aside, 0, "{status}");
    scenarios::assert_in_sync(&primary, &graph).await;
}
