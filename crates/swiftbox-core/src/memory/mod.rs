//! Complete in-memory backends with exactly the semantics the traits document.
