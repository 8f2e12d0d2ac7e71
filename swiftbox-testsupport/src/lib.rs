//! Finds the real servers SwiftBox's server tests run against.
//!
//! Every server test gets its MongoDB-wire server and its Neo4j server here,
//! from one place, in this order:
//!
//! 1. the environment: `SWIFTBOX_MONGO_URI`, and `SWIFTBOX_NEO4J_URI` with
//!    `SWIFTBOX_NEO4J_USER` (default `neo4j`) and `SWIFTBOX_NEO4J_PASSWORD`
//!    (default empty). `scripts/test.sh` sets them to the servers that
//!    `scripts/servers.sh` starts (FerretDB and Neo4j Community 5.26); point
//!    them at a real MongoDB or Neo4j cluster to test against those;
//! 2. else, when a Docker engine answers and this crate is built with its
//!    `docker` feature, a fresh `mongo` or `neo4j` container started with
//!    `testcontainers` and kept alive as long as the returned server value;
//! 3. else, when `CI` is set, the test **fails** with a message naming the
//!    missing variables and `scripts/servers.sh`;
//! 4. else the test is **skipped**: [`mongo`] and [`neo4j`] print
//!    `SKIPPED: <test>: <reason>` straight to the process's stderr (past the
//!    test harness's output capture, so it shows in a normal `cargo test`
//!    run) and return `None`. A skip is never silent.
//!
//! Each test owns its data: [`MongoServer::unique_database`] gives it a
//! database of its own and [`Neo4jServer::unique_namespace`] a key space of
//! its own (Neo4j Community has a single user database, so tests share it and
//! keep apart by an id prefix or namespace property), so tests run in parallel.
//!
//! ```no_run
//! # async fn example() {
//! // In a backend's tests/, inside #[tokio::test] async fn creates_user():
//! let Some(mongo) = swiftbox_testsupport::mongo().await else {
//!     return; // skipped, and said so loudly
//! };
//! let db_name = mongo.unique_database("creates_user");
//! // connect with mongo.uri, use db_name ...
//!
//! let Some(neo4j) = swiftbox_testsupport::neo4j().await else { return };
//! let ns = neo4j.unique_namespace("creates_user");
//! // connect with neo4j.uri / neo4j.user / neo4j.password, tag data with ns ...
//! # }
//! ```
#![deny(missing_docs)]
#![warn(
    unreachable_pub,
    missing_debug_implementations,
    clippy::future_not_send
)]

mod docker;
mod ferret;
mod names;

use std::any::Any;
use std::fmt;
use std::io::Write as _;

pub use ferret::PrivateFerret;
pub use names::unique_name;

/// Environment variable holding the MongoDB connection string.
pub const MONGO_URI_VAR: &str = "SWIFTBOX_MONGO_URI";
/// Environment variable holding the Neo4j Bolt URI.
pub const NEO4J_URI_VAR: &str = "SWIFTBOX_NEO4J_URI";
/// Environment variable holding the Neo4j user name (default `neo4j`).
pub const NEO4J_USER_VAR: &str = "SWIFTBOX_NEO4J_USER";
/// Environment variable holding the Neo4j password (default empty).
pub const NEO4J_PASSWORD_VAR: &str = "SWIFTBOX_NEO4J_PASSWORD";

/// Keeps a container (or anything else backing a server) alive until dropped.
type Guard = Box<dyn Any + Send + Sync>;

/// A MongoDB wire-protocol server to test against.
pub struct MongoServer {
    /// The connection string, e.g. `mongodb://127.0.0.1:27017/`.
    pub uri: String,
    /// Where the server came from, for messages.
    pub source: ServerSource,
    _guard: Option<Guard>,
}

impl MongoServer {
    /// A server at `uri` that this crate does not manage.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            source: ServerSource::External,
            _guard: None,
        }
    }

    /// A database name no other test uses: `swiftbox_test_<test>_<random>`,
    /// at most 63 characters of `[a-z0-9_]`, valid on MongoDB and FerretDB.
    pub fn unique_database(&self, test: &str) -> String {
        unique_name(test)
    }
}

impl fmt::Debug for MongoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoServer")
            .field("uri", &swiftbox_core::redact_uri(&self.uri))
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// A Neo4j server to test against.
pub struct Neo4jServer {
    /// The Bolt URI, e.g. `bolt://127.0.0.1:7687`.
    pub uri: String,
    /// The user to log in as.
    pub user: String,
    /// The password; `Debug` never shows it.
    pub password: String,
    /// Where the server came from, for messages.
    pub source: ServerSource,
    _guard: Option<Guard>,
}

impl Neo4jServer {
    /// A server at `uri` that this crate does not manage.
    pub fn new(
        uri: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            uri: uri.into(),
            user: user.into(),
            password: password.into(),
            source: ServerSource::External,
            _guard: None,
        }
    }

    /// A key space no other test uses: `swiftbox_test_<test>_<random>`, at most
    /// 63 characters of `[a-z0-9_]`, so it is also a valid label, relationship
    /// type or constraint name suffix. Tag every node a test creates with it
    /// (an id prefix or a property) and query only within it.
    pub fn unique_namespace(&self, test: &str) -> String {
        unique_name(test)
    }
}

impl fmt::Debug for Neo4jServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Neo4jServer")
            .field("uri", &swiftbox_core::redact_uri(&self.uri))
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Where a server came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerSource {
    /// From the `SWIFTBOX_*` environment variables (or built by hand).
    External,
    /// A container started by this crate through a Docker engine.
    Container,
}

/// The result of looking for a server, before the CI / skip decision.
#[derive(Debug)]
pub enum Availability<T> {
    /// A server to test against.
    Ready(T),
    /// No server; why not, and what would provide one.
    Unavailable(String),
}

/// Looks for a MongoDB-wire server (environment, then Docker) without
/// deciding what a missing one means; most tests want [`mongo`].
pub async fn mongo_server() -> Availability<MongoServer> {
    if let Some(uri) = env_var(MONGO_URI_VAR) {
        return Availability::Ready(MongoServer::new(uri));
    }
    match docker::start_mongo().await {
        Ok(server) => Availability::Ready(server),
        Err(why) => Availability::Unavailable(format!("{MONGO_URI_VAR} is not set and {why}")),
    }
}

/// Looks for a Neo4j server (environment, then Docker) without deciding
/// what a missing one means; most tests want [`neo4j`].
pub async fn neo4j_server() -> Availability<Neo4jServer> {
    if let Some(uri) = env_var(NEO4J_URI_VAR) {
        let user = env_var(NEO4J_USER_VAR).unwrap_or_else(|| "neo4j".to_owned());
        let password = std::env::var(NEO4J_PASSWORD_VAR).unwrap_or_default();
        return Availability::Ready(Neo4jServer::new(uri, user, password));
    }
    match docker::start_neo4j().await {
        Ok(server) => Availability::Ready(server),
        Err(why) => Availability::Unavailable(format!(
            "{NEO4J_URI_VAR} (with {NEO4J_USER_VAR} and {NEO4J_PASSWORD_VAR}) is not set and {why}"
        )),
    }
}

/// The MongoDB-wire server for the calling test, or `None` when the test is
/// to be skipped (after printing `SKIPPED: ...` to stderr).
///
/// # Panics
///
/// When no server is available and the `CI` environment variable is set: a
/// server test must never pass in CI without its server.
pub async fn mongo() -> Option<MongoServer> {
    decide(mongo_server().await, "MongoDB", &[MONGO_URI_VAR])
}

/// The Neo4j server for the calling test, or `None` when the test is to be
/// skipped (after printing `SKIPPED: ...` to stderr).
///
/// # Panics
///
/// When no server is available and the `CI` environment variable is set.
pub async fn neo4j() -> Option<Neo4jServer> {
    decide(
        neo4j_server().await,
        "Neo4j",
        &[NEO4J_URI_VAR, NEO4J_USER_VAR, NEO4J_PASSWORD_VAR],
    )
}

/// True when the `CI` environment variable is set to anything but empty,
/// `0` or `false`.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI"), Ok(v) if !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

fn decide<T>(found: Availability<T>, what: &str, vars: &[&str]) -> Option<T> {
    let reason = match found {
        Availability::Ready(server) => return Some(server),
        Availability::Unavailable(reason) => reason,
    };
    let help = format!(
        "set {} (`eval \"$(scripts/servers.sh start)\"` starts FerretDB and Neo4j and prints them; \
         `scripts/test.sh` does it all), or run where a Docker engine answers with the \
         swiftbox-testsupport `docker` feature",
        vars.join(", ")
    );
    if in_ci() {
        panic!("no {what} server for this test and CI is set: {reason}; {help}");
    }
    skip(&format!("no {what} server: {reason}; {help}"));
    None
}

/// Prints `SKIPPED: <test name>: <reason>` to the process's real stderr.
///
/// It writes to the stderr handle itself rather than through `eprintln!`,
/// which the test harness captures and shows only for failing tests.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<unnamed test>");
    let mut stderr = std::io::stderr().lock();
    // Nothing sensible to do if stderr itself is gone.
    let _ = writeln!(stderr, "SKIPPED: {test}: {reason}");
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
