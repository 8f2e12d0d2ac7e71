//! The `PrimaryStore` conformance suite (being built).
