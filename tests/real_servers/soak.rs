//! The soak with real faults on real servers (issue 14, "a history checker soak"): writers in
//! two application instances (each its own MongoDB and Neo4j connections) and two workers, on a
//! private FerretDB and a private Neo4j, while the soak freezes Neo4j (SIGSTOP), kills it
//! (SIGKILL) and starts it again on its persistent store, freezes FerretDB, drops an instance
//! mid-write, and repairs and resyncs under load. The history checker then finds nothing lost,
//! doubled, stale, extra or dangling, and no drift; the table is printed (`--nocapture`).
//!
//! A short run is part of the test suite (`SWIFTBOX_SOAK_SECS`, default 30 s of writes, and at
//! least one whole cycle of faults); a long one is the same test with a longer time:
//!
//! ```sh
//! SWIFTBOX_SOAK_SECS=1800 scripts/test.sh soak_with_real_faults --nocapture
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use swiftbox_mongo::{MongoConfig, MongoStore};
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};
use swiftbox_sync::scenarios::{self, Soak, SoakTarget};
use swiftbox_sync::SyncConfig;
use swiftbox_testsupport::{Neo4jServer, PrivateFerret};

use crate::common::must;
use crate::private_neo4j::{PrivateNeo4j, TURN};

const NEO4J_FROZEN: &str = "neo4j frozen (SIGSTOP)";
const NEO4J_KILLED: &str = "neo4j killed (SIGKILL) and restarted";
const FERRET_FROZEN: &str = "ferretdb frozen (SIGSTOP)";

struct Servers {
    ferret: Mutex<PrivateFerret>,
    neo4j: PrivateNeo4j,
    neo4j_server: Neo4jServer,
    neo4j_down: AtomicBool,
    neo4j_frozen: AtomicBool,
}

const DATABASE: &str = "soak";
const NAMESPACE: &str = "soak";

#[async_trait]
impl SoakTarget for Servers {
    type Primary = MongoStore;
    type Graph = Neo4jGraph;

    async fn open(&self) -> (Arc<MongoStore>, Arc<Neo4jGraph>) {
        let uri = self.ferret.lock().uri();
        let config = must(
            MongoConfig::builder(uri, DATABASE)
                .server_selection_timeout(Duration::from_secs(5))
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(10))
                .build(),
            "mongo config",
        );
        let primary = must(
            MongoStore::connect_with(config).await,
            "connect to ferretdb",
        );
        let s = &self.neo4j_server;
        let config = must(
            Neo4jConfig::builder(&s.uri, &s.user, &s.password)
                .namespace(NAMESPACE)
                .connect_timeout(Duration::from_secs(5))
                .query_timeout(Duration::from_secs(30))
                .build(),
            "neo4j config",
        );
        let graph = must(Neo4jGraph::connect(&config).await, "connect to neo4j");
        (Arc::new(primary), Arc::new(graph))
    }

    fn faults(&self) -> Vec<&'static str> {
        vec![NEO4J_FROZEN, NEO4J_KILLED, FERRET_FROZEN]
    }

    async fn inject(&self, name: &str) {
        match name {
            NEO4J_FROZEN => {
                self.neo4j.freeze().await;
                self.neo4j_frozen.store(true, Ordering::SeqCst);
            }
            NEO4J_KILLED => {
                self.neo4j.kill().await;
                self.neo4j_down.store(true, Ordering::SeqCst);
            }
            FERRET_FROZEN => self.ferret.lock().freeze(),
            other => panic!("no fault {other}"),
        }
    }

    async fn heal(&self, name: &str) {
        match name {
            NEO4J_FROZEN => {
                if self.neo4j_frozen.swap(false, Ordering::SeqCst) {
                    self.neo4j.thaw().await;
                }
            }
            NEO4J_KILLED => {
                if self.neo4j_down.swap(false, Ordering::SeqCst) {
                    let again = self.neo4j.restart().await;
                    assert_eq!(again.uri, self.neo4j_server.uri, "same port after restart");
                }
            }
            FERRET_FROZEN => self.ferret.lock().thaw(),
            other => panic!("no fault {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_real_faults_loses_doubles_and_leaves_stale_nothing() {
    let Some(mut ferret) = PrivateFerret::new("soak") else {
        return;
    };
    let _turn = TURN.lock().await;
    let neo4j = PrivateNeo4j::new("soak");
    let Some(neo4j_server) = neo4j.first_start().await else {
        return;
    };
    ferret.start();
    let target = Servers {
        ferret: Mutex::new(ferret),
        neo4j,
        neo4j_server,
        neo4j_down: AtomicBool::new(false),
        neo4j_frozen: AtomicBool::new(false),
    };
    let (_, graph) = target.open().await;
    must(graph.migrate().await, "migrate");

    let secs = std::env::var("SWIFTBOX_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let s = Soak {
        run_for: Duration::from_secs(secs),
        phase_writes: 100,
        sync: SyncConfig {
            inline_timeout: Duration::from_secs(2),
            ..SyncConfig::default()
        },
        ..Soak::default()
    };
    let report = scenarios::soak(&target, &s).await;
    eprintln!("soak on FerretDB + Neo4j, {secs} s of writes:\n{report}");
    report.assert_clean();
    for step in target.faults() {
        assert!(
            report.faults.get(step).copied().unwrap_or(0) >= 1,
            "{step} never ran:\n{report}"
        );
    }
}
