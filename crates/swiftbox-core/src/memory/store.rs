//! `MemoryStore`: the in-memory [`crate::PrimaryStore`].

/// In-memory primary store (being built).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}
