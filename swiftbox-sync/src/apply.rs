//! The one way sync code calls [`GraphStore::apply`]: under a timeout, with a span.

use std::time::Duration;

use swiftbox_core::{ApplyReport, Error, GraphChange, GraphStore, Result};

/// Applies `changes` within `timeout`; a timeout is [`Error::Unavailable`] (retryable). The
/// timed-out call may still complete in the graph: harmless, applies are idempotent.
pub(crate) async fn apply_within<G: GraphStore + ?Sized>(
    graph: &G,
    changes: &[GraphChange],
    timeout: Duration,
) -> Result<ApplyReport> {
    match tokio::time::timeout(timeout, graph.apply(changes)).await {
        Ok(r) => r,
        Err(_) => Err(Error::unavailable(
            "graph",
            format!(
                "apply of {} changes timed out after {timeout:?}",
                changes.len()
            ),
        )),
    }
}
