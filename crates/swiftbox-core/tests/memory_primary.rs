//! The in-memory primary store passes the `PrimaryStore` conformance suite.

swiftbox_core::primary_conformance_tests!(|| async { swiftbox_core::memory::MemoryStore::new() });

/// The suite also runs through the `Arc<dyn PrimaryStore>` forwarding impl.
mod through_arc {
    use std::sync::Arc;

    use swiftbox_core::PrimaryStore;

    swiftbox_core::primary_conformance_tests!(|| async {
        Arc::new(swiftbox_core::memory::MemoryStore::new()) as Arc<dyn PrimaryStore>
    });
}
