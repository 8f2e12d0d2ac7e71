//! Sync fault scenarios for any pair of backends.
