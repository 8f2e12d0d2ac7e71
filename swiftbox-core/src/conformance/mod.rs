//! The behaviour every backend must have, as public async suites (feature `conformance`):
//! [`primary`] for [`crate::PrimaryStore`], [`graph`] for [`crate::GraphStore`]. A backend's
//! tests call them on a fresh, empty store; a behaviour not in the suites is not part of the
//! contract.

pub mod graph;
pub mod primary;
