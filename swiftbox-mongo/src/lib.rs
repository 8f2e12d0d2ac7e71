//! # swiftbox-mongo
//!
//! [`MongoStore`]: SwiftBox's system of record on MongoDB, a complete
//! [`swiftbox_core::PrimaryStore`] over the official `mongodb` driver (3.x). It uses only
//! single-document atomic operations (find, insert, update and find-and-modify with `$set`,
//! `$inc`, `$min`, `$push`, `$pull`, `$pullAll`; conditional deletes; counts; ordinary and
//! unique indexes), so it runs on standalone MongoDB 4.2+, replica sets, sharded clusters and
//! FerretDB alike: no multi-document transactions, no change streams, no aggregation stages
//! beyond what `countDocuments` needs.
//!
//! ```no_run
//! use swiftbox_core::prelude::*;
//! use swiftbox_core::{Currency, Money, NewCategory, NewProduct, NewUser};
//! use swiftbox_mongo::{MongoConfig, MongoStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> swiftbox_core::Result<()> {
//! // Or MongoStore::connect("mongodb://localhost:27017", "shop"), or MongoStore::from_env().
//! let config = MongoConfig::builder("mongodb://localhost:27017", "shop")
//!     .max_pool_size(20)
//!     .app_name("shop-api")
//!     .build()?;
//! let store = MongoStore::connect_with(config).await?; // creates the indexes
//! let ann = store.create_user(NewUser::new("ann", "ann@example.com")).await?;
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
//! assert_eq!(store.get_product(&book.id).await?.stock, 10);
//! # let _ = ann;
//! # Ok(())
//! # }
//! ```
//!
//! ## Storage
//!
//! One collection per entity kind (`users`, `categories`, `products`, `orders`, `reviews`);
//! documents keyed by the entity's canonical UUID string in `_id`; money as integer minor units
//! and a currency code; times as BSON dates (see `src/model.rs`).
//! Lists are ordered by `_id` and paged with a `{_id: {$gt: cursor}}` filter and one extra
//! document fetched to know whether there is a next page, so pages are stable under concurrent
//! inserts.
//!
//! Unique values (username, e-mail, category name, one review per user and product) are
//! enforced by unique indexes on separate *key* fields; deleting an entity replaces its keys by
//! a value no input can equal (a control character and its id), so the value is free at once
//! while the tombstone waits for the graph. [`MongoStore::migrate`] (run by `connect`) creates
//! the indexes idempotently.
//!
//! ## Sync bookkeeping
//!
//! Each document carries its own sync state (version, acknowledged version, owed-since time,
//! failed attempts, set-aside flag, sync bucket, tombstone flag), changed by the same
//! single-document update as the entity itself, so a write and the graph change it owes can
//! never be separated. Acknowledgements are conditional on the version, so a write that races
//! the graph stays owed. See `src/sync.rs`.
//!
//! ## FerretDB
//!
//! FerretDB 1.x applies an update by reading the matching documents, changing them in its own
//! process and writing them back by `_id`, so two concurrent updates of one document can lose
//! one of them (and a conditional update is no guard against overselling). When `connect`
//! finds FerretDB (its `buildInfo` says so), every update or delete of an entity document
//! first takes a per-document lock (an insert into `swiftbox_locks` with a lease, which the
//! unique `_id` makes atomic). MongoDB needs none and gets none; see
//! [`MongoConfigBuilder::document_locks`] to force either way. Other FerretDB 1.24.2 quirks
//! handled here: duplicate keys from inserts name no index (the field is found by looking),
//! duplicate keys from updates come as `InternalError` with SQLite's message, `findAndModify`
//! projections are not implemented, and re-creating existing indexes in one batch drops the
//! connection.
//!
//! ## Orders and stock
//!
//! Placing an order reserves stock with one conditional update per product (`stock >= q`),
//! in a deterministic order, gives back what it reserved when a later item fails, and only
//! then inserts the order: concurrent orders never oversell and a failed order leaves stock as
//! it was. Reservations carry markers, so what a crash (or a dropped `place_order` future)
//! interrupts is recoverable with
//! [`OrderStore::recover_reservations`](swiftbox_core::OrderStore::recover_reservations),
//! which `swiftbox_sync::maintenance` runs at start and periodically; an order insert that
//! fails ambiguously gives stock back only after a fence proves the order can never land. An
//! order placed with an idempotency key carries the key in its own document under a unique
//! index, so one key places one order. See `src/orders.rs` and `src/order_keys.rs`.
//!
//! ## Errors
//!
//! Duplicate keys become [`swiftbox_core::Error::Conflict`] naming the field; server selection,
//! network, pool and timeout failures become [`swiftbox_core::Error::Unavailable`] (retryable,
//! and the same store recovers by itself once the server is back); anything else becomes
//! [`swiftbox_core::Error::Backend`] with the driver error as its source. Input is only ever
//! used as a *value* in a filter (never as a key or operator, no `$where`), so a username of
//! `{"$gt": ""}` is just that string.
//!
//! ## Testing against a real MongoDB
//!
//! The tests in `tests/` run against the server `SWIFTBOX_MONGO_URI` names (FerretDB by
//! default, started by `scripts/servers.sh`); point it at a MongoDB 4.2+ server to run them
//! there: `SWIFTBOX_MONGO_URI=mongodb://localhost:27017 cargo test -p swiftbox-mongo`.
#![deny(missing_docs)]
#![warn(
    unreachable_pub,
    missing_debug_implementations,
    clippy::future_not_send
)]

mod catalog;
mod config;
mod error;
#[cfg(feature = "test-hooks")]
pub mod hooks;
#[cfg(test)]
mod insert_faults;
mod leases;
mod lock;
mod model;
mod order_keys;
mod orders;
mod reviews;
mod schema;
mod store;
mod sync;
mod users;

pub use config::{MongoConfig, MongoConfigBuilder, DB_VAR, DEFAULT_DB, URI_VAR};
pub use store::MongoStore;
/// Re-exported from core: `uri` with credentials and password options redacted.
pub use swiftbox_core::redact_uri;

pub(crate) use swiftbox_core::PageRequest;
