//! The in-memory primary store passes the `PrimaryStore` conformance suite.

swiftbox_core::primary_conformance_tests!(|| async { swiftbox_core::memory::MemoryStore::new() });

/// The suite also runs through the `Arc<dyn PrimaryBackend>` forwarding impls.
mod through_arc {
    use std::sync::Arc;

    use swiftbox_core::PrimaryBackend;

    swiftbox_core::primary_conformance_tests!(|| async {
        Arc::new(swiftbox_core::memory::MemoryStore::new()) as Arc<dyn PrimaryBackend>
    });
}
