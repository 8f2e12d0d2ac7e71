//! # swiftbox-api-example
//!
//! SwiftBox embedded in a real application: the seed shop's HTTP API (axum), JSON in and out,
//! over [`swiftbox_sync::Synced`] stores. Every write goes to the primary store through the
//! decorator, which brings the graph along at once; a background `SyncWorker` catches up
//! whatever the inline apply could not; recommendations, popularity and purchase history are
//! read from the graph.
//!
//! Run it with no setup on the in-memory stores (or on MongoDB + Neo4j when `SWIFTBOX_MONGO_URI`
//! and `SWIFTBOX_NEO4J_URI` are set):
//!
//! ```text
//! cargo run --example api            # from the workspace root
//! cargo run -p swiftbox-api-example  # the same service, as this crate's `api` binary
//! ```
//!
//! It listens on `SWIFTBOX_ADDR` (default `127.0.0.1:8080`), prints the address it bound and
//! stops cleanly on Ctrl-C (the server drains its connections, then the worker finishes its
//! round). See [`run()`] and [`mod@run`] for the environment it reads, [`routes`] for the endpoints and
//! `/api/openapi.json` for their description; `/metrics` serves Prometheus metrics ([`exporter`]).
//!
//! Embedding it in tests or another program:
//!
//! ```
//! use swiftbox_api_example::{spawn, AppState};
//! use swiftbox_core::memory::{MemoryGraph, MemoryStore};
//! use swiftbox_sync::Synced;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let state = AppState::new(Synced::new(MemoryStore::new(), MemoryGraph::new()));
//! let server = spawn(state, "127.0.0.1:0".parse().unwrap()).await?;
//! println!("listening on http://{}", server.addr());
//! server.stop().await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(
    unreachable_pub,
    missing_debug_implementations,
    clippy::future_not_send
)]

pub mod auth;
pub mod backend;
pub mod dashboard;
pub mod error;
pub mod exporter;
pub mod extract;
pub mod hashing;
pub mod layers;
pub mod openapi;
pub mod operator;
pub mod ratelimit;
pub mod routes;
pub mod run;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use backend::ShopBackend;
pub use error::ApiError;
pub use routes::router;
pub use run::run;
pub use state::{ApiConfig, AppState};

/// Serves the API on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address is what log-in and sign-up are rate limited by (crate::ratelimit).
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A server running in the background (see [`spawn`]).
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets open requests finish, and waits for the server to end.
    pub async fn stop(self) -> std::io::Result<()> {
        // An error only means the server already ended.
        let _ = self.stop.send(());
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Binds `addr` (port 0 picks a free port) and serves the API in a background task.
pub async fn spawn(state: AppState, addr: SocketAddr) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(RunningServer { addr, stop, task })
}
