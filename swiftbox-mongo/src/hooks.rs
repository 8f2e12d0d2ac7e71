//! Test hooks (feature `test-hooks`): where a store holding a document lock calls back, so a
//! test can freeze the holder past its lease and let another writer take the lock over. A real
//! process freeze cannot be done on a test's own process; pausing the holder inside the store,
//! at the exact point that matters, is the deterministic equivalent.
//!
//! ```
//! use std::sync::Arc;
//! use swiftbox_mongo::hooks::{LockHook, LockPoint};
//!
//! #[derive(Debug)]
//! struct Log;
//!
//! #[async_trait::async_trait]
//! impl LockHook for Log {
//!     async fn at(&self, point: LockPoint) {
//!         eprintln!("{point:?}");
//!     }
//! }
//!
//! let config = swiftbox_mongo::MongoConfig::builder("mongodb://localhost:27017", "shop")
//!     .lock_hook(Arc::new(Log))
//!     .build()
//!     .unwrap();
//! # let _ = config;
//! ```

/// A point where a lock holder calls its [`LockHook`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockPoint {
    /// The lock `key` (`<kind>:<id>`) is held and its lease checked; the write under it is
    /// about to be sent.
    Writing {
        /// The lock's key.
        key: String,
    },
    /// A batch of acknowledgements holds the locks of `keys` and has read their versions; the
    /// settling writes are about to be sent.
    BatchRead {
        /// The locks' keys.
        keys: Vec<String>,
    },
}

/// Called by a store at each [`LockPoint`]; the store waits for it to return.
#[async_trait::async_trait]
pub trait LockHook: Send + Sync + std::fmt::Debug + 'static {
    /// The store is at `point`.
    async fn at(&self, point: LockPoint);
}
