//! Test harness: starts the API on a free 127.0.0.1 port over fresh stores and drives it with a
//! real HTTP client.
//!
//! The harness is the one place that picks the stores: the in-memory backends by default, or,
//! when `SWIFTBOX_MONGO_URI` and `SWIFTBOX_NEO4J_URI` are both set (as `scripts/test.sh` does),
//! MongoDB + Neo4j, each test in a database and a graph namespace of its own, dropped when the
//! test stops its server.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use swiftbox_api_example::run::{seed_admin, AdminSeed};
use swiftbox_api_example::{spawn, ApiConfig, AppState, RunningServer, ShopBackend};
use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_mongo::MongoStore;
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};
use swiftbox_sync::testing::{Faults, FaultyGraph};
use swiftbox_sync::Synced;

pub const ADMIN: &str = "root-admin";
pub const ADMIN_PASSWORD: &str = "admin password 1";
pub const PASSWORD: &str = "correct horse battery";

/// A running API and a client for it.
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    server: Option<RunningServer>,
    real: Option<Synced<MongoStore, Neo4jGraph>>,
    backend: std::sync::Arc<dyn ShopBackend>,
}

/// True when the tests run on the real servers.
pub fn on_real_servers() -> bool {
    let set = |v: &str| std::env::var(v).is_ok_and(|s| !s.trim().is_empty());
    set(swiftbox_testsupport::MONGO_URI_VAR) && set(swiftbox_testsupport::NEO4J_URI_VAR)
}

/// Fresh real stores: a database and a graph namespace no other test uses.
async fn real_stores() -> Synced<MongoStore, Neo4jGraph> {
    let mongo = swiftbox_testsupport::mongo()
        .await
        .expect("SWIFTBOX_MONGO_URI is set");
    let neo4j = swiftbox_testsupport::neo4j()
        .await
        .expect("SWIFTBOX_NEO4J_URI is set");
    let primary = MongoStore::connect(&mongo.uri, &mongo.unique_database("api"))
        .await
        .expect("connect to MongoDB");
    let config = Neo4jConfig::builder(&neo4j.uri, &neo4j.user, &neo4j.password)
        .namespace(neo4j.unique_namespace("api"))
        .build()
        .expect("neo4j config");
    let graph = Neo4jGraph::connect(&config)
        .await
        .expect("connect to Neo4j");
    graph.migrate().await.expect("neo4j schema");
    Synced::new(primary, graph)
}

/// A name no other test uses (the real servers are shared).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let id = swiftbox_core::UserId::generate().to_string();
    format!(
        "{prefix}-{}-{}",
        N.fetch_add(1, Ordering::Relaxed),
        &id[id.len() - 8..]
    )
}

/// Starts the API with the default configuration.
pub async fn start() -> Api {
    start_with(ApiConfig::default()).await
}

/// Log-in and sign-up limits high enough for tests that sign up and log in many users from
/// 127.0.0.1 ([`start`], [`start_with`], [`start_faulty`] use them; [`start_limited`] keeps the
/// configuration's own).
fn lift_auth_limits(mut config: ApiConfig) -> ApiConfig {
    let lots = swiftbox_api_example::ratelimit::RateLimit::new(
        std::num::NonZeroU32::new(100_000).expect("non-zero"),
        Duration::from_secs(1),
    );
    config.auth_limit_per_client = lots;
    config.auth_limit_per_account = lots;
    config
}

/// Starts the API with `config` exactly (its log-in and sign-up limits included), over the
/// stores [`start_with`] picks.
pub async fn start_limited(config: ApiConfig) -> Api {
    let (backend, real) = stores().await;
    start_on(backend, real, config).await
}

/// Starts the API with `config` (auth rate limits lifted), over the stores the environment
/// picks, with the administrator [`ADMIN`] seeded.
pub async fn start_with(config: ApiConfig) -> Api {
    let (backend, real) = stores().await;
    start_on(backend, real, lift_auth_limits(config)).await
}

/// Fresh stores: in memory, or on the real servers when both are configured.
async fn stores() -> (
    std::sync::Arc<dyn ShopBackend>,
    Option<Synced<MongoStore, Neo4jGraph>>,
) {
    let (backend, real): (std::sync::Arc<dyn ShopBackend>, _) = if on_real_servers() {
        let synced = real_stores().await;
        (std::sync::Arc::new(synced.clone()), Some(synced))
    } else {
        let synced = Synced::new(MemoryStore::new(), MemoryGraph::new());
        (std::sync::Arc::new(synced), None)
    };
    (backend, real)
}

/// Starts the API with `config` over in-memory stores whose graph injects faults; returns the
/// faults' switches too.
pub async fn start_faulty(config: ApiConfig) -> (Api, std::sync::Arc<Faults>) {
    let synced = Synced::new(MemoryStore::new(), FaultyGraph::new(MemoryGraph::new()));
    let faults = std::sync::Arc::clone(synced.graph().faults());
    (
        start_on(std::sync::Arc::new(synced), None, lift_auth_limits(config)).await,
        faults,
    )
}

/// The in-memory stores of [`start_faulty_store`], graph behind a [`FaultyGraph`].
pub type FaultyStore = Synced<MemoryStore, FaultyGraph<MemoryGraph>>;

/// Like [`start_faulty`], returning the synced stores themselves (clones share them), so a
/// test can run a sync worker over what the API writes.
pub async fn start_faulty_store(config: ApiConfig) -> (Api, FaultyStore) {
    let synced = Synced::new(MemoryStore::new(), FaultyGraph::new(MemoryGraph::new()));
    (
        start_on(std::sync::Arc::new(synced.clone()), None, config).await,
        synced,
    )
}

async fn start_on(
    backend: std::sync::Arc<dyn ShopBackend>,
    real: Option<Synced<MongoStore, Neo4jGraph>>,
    config: ApiConfig,
) -> Api {
    let seeded = seed_admin(
        backend.store(),
        ADMIN,
        "root-admin@example.com",
        ADMIN_PASSWORD,
    )
    .await
    .expect("seed admin");
    assert_eq!(seeded, AdminSeed::Created);
    let state = AppState::with_config(std::sync::Arc::clone(&backend), config);
    let server = spawn(state, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind a free loopback port");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    Api {
        base: format!("http://{}", server.addr()),
        client,
        server: Some(server),
        real,
        backend,
    }
}

/// A response: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Res {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The field of an error body.
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }

    /// Asserts the status, printing the body otherwise.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self
    }

    /// Asserts an error status, code and field.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str, field: Option<&str>) -> Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
        match field {
            Some(f) => assert_eq!(self.field(), f, "body: {}", self.body),
            None => assert!(
                self.body["error"].get("field").is_none(),
                "body: {}",
                self.body
            ),
        }
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "body: {}",
            self.body
        );
        self
    }
}

impl Api {
    /// Read your writes for the whole test: on the real servers, waits until the graph has
    /// acknowledged every change this test's stores owe (an inline apply may have run past its
    /// timeout on a loaded machine, and no worker runs here; in memory nothing is owed). Then
    /// computes the marked neighbour lists, as the service's background refresher would.
    pub async fn settle(&self) {
        use swiftbox_core::prelude::*;
        if let Some(real) = &self.real {
            let owed = real
                .primary()
                .owed_changes(&swiftbox_core::OwedQuery::oldest(10_000))
                .await
                .expect("owed changes");
            for o in owed {
                real.wait_synced(&o.entity, o.version, Duration::from_secs(120))
                    .await
                    .expect("wait synced");
            }
        }
        let graph = self.backend.graph();
        while graph
            .refresh_neighbours(100)
            .await
            .expect("refresh neighbour lists")
            .marked
            > 0
        {}
    }

    /// Sends `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Res {
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("non-JSON body ({e}): {:?}", String::from_utf8_lossy(&bytes))
            })
        };
        Res {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Res {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Res {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Signs up `username` (e-mail `<username>@example.com`, password [`PASSWORD`]).
    pub async fn signup(&self, username: &str) {
        self.post(
            "/api/auth/signup/",
            None,
            json!({ "username": username, "email": format!("{username}@example.com"), "password": PASSWORD }),
        )
        .await
        .expect(202);
    }

    /// Logs in and returns the token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let res = self
            .post(
                "/api/auth/login/",
                None,
                json!({ "username": username, "password": password }),
            )
            .await
            .expect(200);
        res.body["token"].as_str().expect("token").to_owned()
    }

    /// Signs up and logs in a new user; returns (username, token).
    pub async fn user(&self, prefix: &str) -> (String, String) {
        let name = unique(prefix);
        self.signup(&name).await;
        let token = self.login(&name, PASSWORD).await;
        (name, token)
    }

    /// The administrator's token.
    pub async fn admin(&self) -> String {
        self.login(ADMIN, ADMIN_PASSWORD).await
    }

    /// Creates a category as `admin`; returns its id.
    pub async fn category(&self, admin: &str, name: &str) -> String {
        let res = self
            .post("/api/categories/", Some(admin), json!({ "name": name }))
            .await
            .expect(201);
        res.body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a product as `admin`; returns its id.
    pub async fn product(
        &self,
        admin: &str,
        category: &str,
        name: &str,
        cents: i64,
        stock: i64,
    ) -> String {
        let res = self
            .post(
                "/api/products/",
                Some(admin),
                json!({ "name": name, "price": { "minor": cents, "currency": "EUR" }, "category": category, "stock": stock }),
            )
            .await
            .expect(201);
        res.body["id"].as_str().expect("id").to_owned()
    }

    /// Places an order of `(product, quantity)` lines as `token`; returns the response.
    pub async fn order(&self, token: &str, lines: &[(&str, i64)]) -> Res {
        self.post("/api/orders/", Some(token), order_body(lines))
            .await
    }

    /// Places an order of `(product, quantity)` lines as `token` with an `Idempotency-Key`.
    pub async fn order_with_key(&self, token: &str, key: &str, lines: &[(&str, i64)]) -> Res {
        let req = self
            .client
            .post(format!("{}/api/orders/", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&order_body(lines));
        self.send(req).await
    }

    /// Stops the server and drops the test's database and graph namespace on the real servers.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("server stops cleanly");
        }
        if let Some(real) = self.real.take() {
            real.graph()
                .wipe()
                .await
                .expect("wipe the test's graph namespace");
            real.primary()
                .database()
                .drop()
                .await
                .expect("drop the test's database");
        }
    }
}

/// The body of an order of `(product, quantity)` lines to [`shipping`].
pub fn order_body(lines: &[(&str, i64)]) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|(p, q)| json!({ "product": p, "quantity": q }))
        .collect();
    json!({ "items": items, "shipping": shipping() })
}

pub fn shipping() -> Value {
    json!({ "name": "Ann Example", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US" })
}

/// The `field` values of a list of objects.
pub fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v[field].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
