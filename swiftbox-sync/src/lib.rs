//! # swiftbox-sync
//!
//! Keeps the graph in step with the primary store without ever losing a change
//! (ARCHITECTURE.md, "The sync contract"):
//!
//! - [`Synced`]: a decorator that is itself a [`PrimaryStore`](swiftbox_core::PrimaryStore).
//!   Each write commits in the primary store (which records the owed graph change atomically
//!   with it), then is applied to the graph inline and acknowledged. If the graph fails or is
//!   slow, the write still succeeds and the change stays owed.
//! - [`SyncWorker`]: a background task that drains owed changes in batches, retries with
//!   backoff through outages of any length, isolates and sets aside poison changes, and can be
//!   partitioned by entity id across several workers ([`worker`] explains why that is safe).
//! - [`Reconciler`]: [`status`](Reconciler::status) for health endpoints,
//!   [`check`](Reconciler::check) for drift entity by entity, [`repair`](Reconciler::repair)
//!   for exactly that drift, and a resumable [`resync`](Reconciler::resync).
//! - [`SyncMetrics`]: counters to export; `tracing` spans and events on every apply, retry and
//!   set-aside.
//! - [`testing::FaultyGraph`]: a fault-injecting graph wrapper for your own tests; with the
//!   `scenarios` feature, `scenarios` holds the fault scenarios this crate's tests run, ready
//!   for any pair of backends.
//!
//! Why nothing is lost: the owed change is state in the primary store, written in the same
//! atomic write as the entity, and is settled only by an acknowledgement naming the version the
//! graph applied. A crash, a timeout or a graph outage leaves it owed; the worker applies it
//! later. Applying is idempotent and version-guarded, so applying twice or late is harmless.
//!
//! ```
//! use swiftbox_core::memory::{MemoryGraph, MemoryStore};
//! use swiftbox_core::prelude::*;
//! use swiftbox_core::{
//!     Currency, Money, NewCategory, NewOrder, NewOrderItem, NewProduct, NewUser, ShippingAddress,
//! };
//! use swiftbox_sync::{Synced, WorkerConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> swiftbox_core::Result<()> {
//! let store = Synced::new(MemoryStore::new(), MemoryGraph::new());
//! let books = store.create_category(NewCategory::new("Books")).await?;
//! let book = store
//!     .create_product(NewProduct {
//!         name: "Rust in Action".into(),
//!         description: String::new(),
//!         price: Money::new(3999, Currency::USD),
//!         images: vec![],
//!         category: books.id,
//!         stock: 10,
//!     })
//!     .await?;
//! let ann = store.create_user(NewUser::new("ann", "ann@example.com")).await?;
//! store
//!     .place_order(NewOrder {
//!         user: ann.id,
//!         items: vec![NewOrderItem { product: book.id, quantity: 2 }],
//!         shipping: ShippingAddress {
//!             name: "Ann".into(),
//!             line1: "1 Main St".into(),
//!             line2: None,
//!             city: "Springfield".into(),
//!             postal_code: "12345".into(),
//!             country: "US".into(),
//!         },
//!     })
//!     .await?;
//!
//! // Applied inline: the graph already knows the purchase, nothing is owed.
//! assert_eq!(store.graph().purchase_history(&ann.id, 10).await?.len(), 1);
//! let reconciler = store.reconciler();
//! assert!(reconciler.status().await?.is_in_sync());
//! assert!(reconciler.check().await?.is_clean());
//!
//! // In production a worker catches up whatever the inline apply could not.
//! let worker = store.worker(WorkerConfig::default())?.spawn();
//! worker.shutdown().await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(
    unreachable_pub,
    missing_debug_implementations,
    clippy::future_not_send
)]

mod apply;
mod config;
pub mod lease;
pub mod maintenance;
mod metrics;
pub mod neighbours;
pub mod reconcile;
#[cfg(feature = "scenarios")]
pub mod scenarios;
mod synced;
mod task;
pub mod testing;
pub mod worker;

#[cfg(test)]
mod mocks;

pub use config::{Backoff, SetAsideRetry, SyncConfig, WorkerConfig};
pub use metrics::{SyncMetrics, SyncMetricsSnapshot};
pub use reconcile::{
    DriftReport, Reconciler, ReconcilerConfig, RepairReport, ResyncCheckpoint, ResyncProgress,
    ResyncReport, StaleReason, StaleRecord, SyncStatus,
};
pub use synced::Synced;
pub use worker::{RoundReport, SyncWorker, WorkerHandle};
