//! The one way sync code calls [`GraphStore::apply`]: under a timeout, timed into the
//! `swiftbox_sync_apply_*` histograms (see [`crate::metrics`]).

use std::time::Duration;

use swiftbox_core::{ApplyReport, Error, GraphChange, GraphStore, Result};

/// Applies `changes` within `timeout`; a timeout is [`Error::Unavailable`] (retryable). The
/// timed-out call may still complete in the graph: harmless, applies are idempotent.
pub(crate) async fn apply_within<G: GraphStore + ?Sized>(
    graph: &G,
    changes: &[GraphChange],
    timeout: Duration,
) -> Result<ApplyReport> {
    apply_within_as(graph, changes, timeout, false).await
}

/// [`apply_within`], through [`GraphStore::apply_bulk`] when `bulk`.
pub(crate) async fn apply_within_as<G: GraphStore + ?Sized>(
    graph: &G,
    changes: &[GraphChange],
    timeout: Duration,
    bulk: bool,
) -> Result<ApplyReport> {
    let started = std::time::Instant::now();
    let call = async {
        if bulk {
            graph.apply_bulk(changes).await
        } else {
            graph.apply(changes).await
        }
    };
    let outcome = tokio::time::timeout(timeout, call).await;
    let label = match &outcome {
        Ok(Ok(_)) => "ok",
        Ok(Err(_)) => "error",
        Err(_) => "timeout",
    };
    metrics::histogram!("swiftbox_sync_apply_duration_seconds", "outcome" => label)
        .record(started.elapsed().as_secs_f64());
    metrics::histogram!("swiftbox_sync_apply_changes").record(changes.len() as f64);
    match outcome {
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
