//! Deterministic demo-shop generator.
