#![doc = include_str!("../README.md")]
//!
//! This root package holds the examples and cross-crate tests; the library itself is in the
//! crates it re-exports: [`core`] (domain, traits, in-memory backends) and [`sync`] (the
//! decorator that keeps the graph in step).
#![deny(missing_docs)]

pub use swiftbox_core as core;
pub use swiftbox_sync as sync;
