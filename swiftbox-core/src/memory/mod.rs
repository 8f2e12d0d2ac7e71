//! Complete in-memory backends with exactly the semantics the traits document: real backends
//! (the conformance suite proves it), not mocks. Concurrent-safe; state lives as long as the
//! value (clones share it).

mod graph;
mod store;

pub use graph::MemoryGraph;
pub use store::MemoryStore;
