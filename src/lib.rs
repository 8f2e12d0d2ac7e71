//! SwiftBox: one data layer over a document store (the system of record) and a graph store.
//!
//! This root package holds the examples and cross-crate tests; the library itself is in the
//! crates it re-exports: [`core`] (domain, traits, in-memory backends) and [`sync`] (the
//! decorator that keeps the graph in step).
#![deny(missing_docs)]

pub use swiftbox_core as core;
pub use swiftbox_sync as sync;
