//! What every test here shares: a MongoDB database and a Neo4j namespace of its own on the
//! real servers, dropped and wiped when the test ends (also when it fails).

use std::time::Duration;

use swiftbox_core::ShippingAddress;
use swiftbox_mongo::MongoStore;
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};
use swiftbox_testsupport::{MongoServer, Neo4jServer};

/// Panics with `what` and the error: for test set-up, where a failure is the test's failure.
pub fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// A fresh `MongoStore` and a migrated `Neo4jGraph`, each in a space of this test's own, and
/// the guard that cleans both up.
pub struct Env {
    /// The primary store, on a database of this test's own.
    pub mongo: MongoStore,
    /// The graph, in a namespace of this test's own.
    pub graph: Neo4jGraph,
    /// Drops the database and wipes the namespace when dropped.
    pub cleanup: Cleanup,
    /// The Neo4j server, for a driver of the test's own (tampering, locks).
    pub neo4j: Neo4jServer,
    /// The graph's namespace: every label is prefixed `{namespace}_`.
    pub namespace: String,
}

/// The servers, or `None` when the test is skipped (`swiftbox_testsupport` says so on stderr;
/// under `CI` a missing server fails the test instead).
pub async fn servers() -> Option<(MongoServer, Neo4jServer)> {
    let mongo = swiftbox_testsupport::mongo().await?;
    let neo4j = swiftbox_testsupport::neo4j().await?;
    Some((mongo, neo4j))
}

/// A Neo4j configuration for `namespace` on `server`.
pub fn neo4j_config(server: &Neo4jServer, namespace: &str) -> Neo4jConfig {
    must(
        Neo4jConfig::builder(&server.uri, &server.user, &server.password)
            .namespace(namespace)
            // Connection refusals are quick; a hung server must not hold a test for 30 s.
            .query_timeout(Duration::from_secs(20))
            .build(),
        "neo4j config",
    )
}

/// Connects to a fresh database and namespace named after `test`.
pub async fn env(test: &str) -> Option<Env> {
    let (mongo_server, neo4j_server) = servers().await?;
    let database = mongo_server.unique_database(test);
    let namespace = neo4j_server.unique_namespace(test);
    let cleanup = Cleanup::new(&mongo_server, Some(&neo4j_server), &database, &namespace);
    let mongo = must(
        MongoStore::connect(&mongo_server.uri, &database).await,
        "connect to mongo",
    );
    let graph = must(
        Neo4jGraph::connect(&neo4j_config(&neo4j_server, &namespace)).await,
        "connect to neo4j",
    );
    must(graph.migrate().await, "migrate the graph");
    Some(Env {
        mongo,
        graph,
        cleanup,
        neo4j: neo4j_server,
        namespace,
    })
}

/// Drops a test's MongoDB database and wipes its Neo4j namespace when dropped, on fresh
/// connections in a runtime of its own, so it also runs while a failed test unwinds.
pub struct Cleanup(Option<Spaces>);

/// Where a test's data lives.
struct Spaces {
    mongo_uri: String,
    database: String,
    neo4j: Option<(String, String, String)>,
    namespace: String,
}

impl Cleanup {
    /// A guard for `database` on `mongo` and `namespace` on `neo4j` (if any).
    pub fn new(
        mongo: &MongoServer,
        neo4j: Option<&Neo4jServer>,
        database: &str,
        namespace: &str,
    ) -> Self {
        Self(Some(Spaces {
            mongo_uri: mongo.uri.clone(),
            database: database.to_owned(),
            neo4j: neo4j.map(|n| (n.uri.clone(), n.user.clone(), n.password.clone())),
            namespace: namespace.to_owned(),
        }))
    }
}

impl Spaces {
    async fn clean(&self) -> Vec<String> {
        let mut failures = Vec::new();
        match mongodb::Client::with_uri_str(&self.mongo_uri).await {
            Ok(client) => {
                if let Err(e) = client.database(&self.database).drop().await {
                    failures.push(format!("dropping database {}: {e}", self.database));
                }
            }
            Err(e) => failures.push(format!("connecting to mongo: {e}")),
        }
        if let Some((uri, user, password)) = &self.neo4j {
            let config = Neo4jConfig::builder(uri, user, password)
                .namespace(&self.namespace)
                .build();
            let wiped = match config {
                Ok(config) => match Neo4jGraph::connect(&config).await {
                    Ok(graph) => graph.wipe().await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = wiped {
                failures.push(format!("wiping namespace {}: {e}", self.namespace));
            }
        }
        failures
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(spaces) = self.0.take() else { return };
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match rt {
                Ok(rt) => rt.block_on(spaces.clean()),
                Err(e) => vec![format!("no runtime for the clean-up: {e}")],
            }
        })
        .join();
        let failures = done.unwrap_or_else(|_| vec!["the clean-up panicked".to_owned()]);
        for f in failures {
            // Never panic in drop (the test may already be unwinding); say it instead.
            eprintln!("clean-up: {f}");
        }
    }
}

/// A valid shipping address.
pub fn shipping() -> ShippingAddress {
    ShippingAddress {
        name: "Ann Buyer".into(),
        line1: "1 Main Street".into(),
        line2: None,
        city: "Springfield".into(),
        postal_code: "12345".into(),
        country: "US".into(),
    }
}
