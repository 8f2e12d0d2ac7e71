//! The `GraphStore` conformance suite (being built).
