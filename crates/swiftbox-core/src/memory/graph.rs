//! `MemoryGraph`: the in-memory [`crate::GraphStore`].

/// In-memory graph store (being built).
#[derive(Debug, Clone, Default)]
pub struct MemoryGraph {}

impl MemoryGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }
}
