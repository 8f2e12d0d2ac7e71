//! The in-memory graph passes the `GraphStore` conformance suite.

swiftbox_core::graph_conformance_tests!(|| async { swiftbox_core::memory::MemoryGraph::new() });

/// The suite also runs through the `Arc<dyn GraphStore>` forwarding impl.
mod through_arc {
    use std::sync::Arc;

    use swiftbox_core::GraphStore;

    swiftbox_core::graph_conformance_tests!(|| async {
        Arc::new(swiftbox_core::memory::MemoryGraph::new()) as Arc<dyn GraphStore>
    });
}
