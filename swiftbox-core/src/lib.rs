//! # swiftbox-core
//!
//! The heart of SwiftBox: the shop's domain ([`User`], [`Category`], [`Product`], [`Order`],
//! [`Review`]), the store traits ([`PrimaryStore`], the system of record, split by aggregate,
//! with its [`SyncLedger`] of owed graph changes, and
//! [`GraphStore`], the derived graph), the graph change type ([`GraphChange`]) that connects
//! them, one error type ([`Error`]), complete in-memory backends ([`memory`]) and, behind the
//! `conformance` feature, the suites every backend must pass (`conformance`).
//!
//! Backends (`swiftbox-mongo`, `swiftbox-neo4j`) only implement these traits; `swiftbox-sync`
//! wraps a primary store so the graph follows it.
//!
//! ```
//! use swiftbox_core::memory::{MemoryGraph, MemoryStore};
//! use swiftbox_core::prelude::*;
//! use swiftbox_core::{changes, Money, Currency, NewCategory, NewProduct};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> swiftbox_core::Result<()> {
//! let store = MemoryStore::new();
//! let graph = MemoryGraph::new();
//! let books = store.create_category(NewCategory::new("Books")).await?;
//! let p = store
//!     .create_product(NewProduct {
//!         name: "Rust in Action".into(),
//!         description: String::new(),
//!         price: Money::new(3999, Currency::USD),
//!         images: vec![],
//!         category: books.id,
//!         stock: 10,
//!     })
//!     .await?;
//! graph.apply(&[
//!     swiftbox_core::GraphChange::Upsert(changes::category_record(&books)),
//!     swiftbox_core::GraphChange::Upsert(changes::product_record(&p)),
//! ]).await?;
//! assert_eq!(graph.counts().await?.entities[&swiftbox_core::EntityKind::Product], 1);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(
    unreachable_pub,
    missing_debug_implementations,
    clippy::future_not_send
)]

pub mod changes;
pub mod domain;
mod error;
mod forward;
pub mod graph;
mod id;
pub mod memory;
mod money;
mod password;
pub mod primary;
mod redact;
pub mod time;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "generator")]
pub mod generator;

pub use domain::*;
pub use error::{BoxError, EntityKind, Error, Result};
pub use graph::{
    ApplyReport, GraphChange, GraphCounts, GraphLimits, GraphRecord, GraphStore, NeighbourRefresh,
    PopularQuery, PopularityMetric, PurchaseRecord, Reason, Recommendation, ScoredProduct,
    SimilarUser, TrendingQuery,
};
pub use id::{CategoryId, EntityRef, OrderId, ProductId, ReviewId, UserId};
pub use money::{Currency, Money};
pub use password::{Password, PasswordHash};
pub use primary::{
    CatalogStore, ChangeAck, FailureRecord, LeaseLedger, LeaseRecord, OrderStore, OwedChange,
    OwedQuery, Partition, Partitions, PrimaryBackend, PrimaryStore, ReviewStore, SetAsideQuery,
    SyncLedger, SyncStats, UserStore,
};

/// The store traits, for `use swiftbox_core::prelude::*`: their methods are callable on any
/// store once the traits are in scope.
pub mod prelude {
    pub use crate::graph::GraphStore;
    pub use crate::primary::{
        CatalogStore, LeaseLedger, OrderStore, PrimaryBackend, PrimaryStore, ReviewStore,
        SyncLedger, UserStore,
    };
}
pub use redact::redact_uri;
