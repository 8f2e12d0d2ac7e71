//! Keeping the graph's neighbour lists fresh: [`NeighbourRefresher`] calls
//! [`GraphStore::refresh_neighbours`] in the background, so the lists that
//! `recommendations_for` reads follow the purchases that sync applies.
//!
//! Apply marks a product whenever its `PURCHASED` relationships change; the refresher
//! recomputes marked products' lists, [`NeighbourConfig::batch`] at a time, back to back while
//! any are marked, then polls every [`NeighbourConfig::idle_poll`]. A failed call (the graph
//! down) is retried after [`NeighbourConfig::backoff`]; marks stay in the graph, so nothing is
//! lost. One refresher per graph is enough; a second is safe (a list is never replaced by an
//! older one, no mark is lost) but doubles the work.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> swiftbox_core::Result<()> {
//! use std::sync::Arc;
//! use swiftbox_core::memory::MemoryGraph;
//! use swiftbox_sync::neighbours::{NeighbourConfig, NeighbourRefresher};
//!
//! let graph = Arc::new(MemoryGraph::new());
//! let refresher = NeighbourRefresher::new(Arc::clone(&graph), NeighbourConfig::default())?;
//! assert_eq!(refresher.drain().await?, 0); // nothing marked in an empty graph
//! let task = refresher.spawn();
//! task.shutdown().await?;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::{Error, GraphStore, NeighbourRefresh, Result};
use tracing::Instrument;

use crate::config::Backoff;
pub use crate::task::BackgroundHandle;

/// How a [`NeighbourRefresher`] paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourConfig {
    /// Products recomputed per call, 1..=10000 (default 100): one graph transaction each.
    pub batch: usize,
    /// Pause between polls when nothing is marked (default 1 s).
    pub idle_poll: Duration,
    /// Backoff after failed calls.
    pub backoff: Backoff,
}

impl Default for NeighbourConfig {
    fn default() -> Self {
        Self {
            batch: 100,
            idle_poll: Duration::from_secs(1),
            backoff: Backoff::default(),
        }
    }
}

impl NeighbourConfig {
    /// Checks the settings; [`Error::Invalid`] names the field.
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 || self.batch > 10_000 {
            return Err(Error::invalid("batch", "must be between 1 and 10000"));
        }
        if self.idle_poll.is_zero() {
            return Err(Error::invalid("idle_poll", "must be positive"));
        }
        Ok(())
    }
}

/// What a running [`NeighbourRefresher`] has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighbourStats {
    /// Calls finished (failed ones included).
    pub calls: u64,
    /// Lists recomputed, over all calls.
    pub refreshed: u64,
    /// Products marked after the latest successful call.
    pub marked: u64,
    /// The error of the latest call, if it failed.
    pub last_error: Option<String>,
}

/// Recomputes marked neighbour lists in the background; see the [module docs](self).
#[derive(Debug)]
pub struct NeighbourRefresher<G: ?Sized> {
    graph: Arc<G>,
    config: NeighbourConfig,
}

impl<G: GraphStore + ?Sized> NeighbourRefresher<G> {
    /// A refresher of `graph`. [`Error::Invalid`] when `config` is.
    pub fn new(graph: Arc<G>, config: NeighbourConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { graph, config })
    }

    /// One call now.
    pub async fn run_once(&self) -> Result<NeighbourRefresh> {
        let r = self.graph.refresh_neighbours(self.config.batch).await?;
        metrics::counter!("swiftbox_neighbour_lists_refreshed_total").increment(r.refreshed);
        metrics::gauge!("swiftbox_neighbour_lists_marked").set(r.marked as f64);
        Ok(r)
    }

    /// Calls until nothing is marked; returns how many lists were recomputed. For tests, loads
    /// and maintenance: while writes keep marking products it keeps going.
    pub async fn drain(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let r = self.run_once().await?;
            total += r.refreshed;
            if r.marked == 0 {
                return Ok(total);
            }
        }
    }

    /// Runs the refresher in the background until [`NeighbourHandle::shutdown`] (or the
    /// handle is dropped).
    pub fn spawn(self) -> NeighbourHandle
    where
        G: 'static,
    {
        let span = tracing::info_span!("neighbour_refresher");
        BackgroundHandle::spawn(
            "neighbour-refresher",
            NeighbourStats::default(),
            |mut stopped, stats_tx| {
                async move {
                    let mut failures = 0u32;
                    loop {
                        let outcome = self.run_once().await;
                        stats_tx.send_modify(|s| {
                            s.calls += 1;
                            match &outcome {
                                Ok(r) => {
                                    s.refreshed += r.refreshed;
                                    s.marked = r.marked;
                                    s.last_error = None;
                                }
                                Err(e) => s.last_error = Some(e.to_string()),
                            }
                        });
                        let pause = match outcome {
                            // More marked: go on at once (after a yield).
                            Ok(r) if r.marked > 0 => Duration::ZERO,
                            Ok(_) => {
                                failures = 0;
                                self.config.idle_poll
                            }
                            Err(e) => {
                                failures = failures.saturating_add(1);
                                let delay = self.config.backoff.delay(failures);
                                tracing::warn!(error = %e, ?delay, "neighbour refresh failed; retrying after backoff");
                                delay
                            }
                        };
                        if pause.is_zero() {
                            failures = 0;
                            tokio::task::yield_now().await;
                        }
                        tokio::select! {
                            // Stop on `true`, and when the handle is gone (the channel closed).
                            _ = stopped.wait_for(|stop| *stop) => break,
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                }
                .instrument(span)
            },
        )
    }
}

/// The running [`NeighbourRefresher`].
pub type NeighbourHandle = BackgroundHandle<NeighbourStats>;

#[cfg(test)]
mod tests {
    use swiftbox_core::conformance::graph::fixture;
    use swiftbox_core::memory::MemoryGraph;

    use super::*;
    use crate::testing::FaultyGraph;

    /// Generous bound on a wait; never a correctness condition.
    const PATIENCE: Duration = Duration::from_secs(60);

    fn config(batch: usize) -> NeighbourConfig {
        NeighbourConfig {
            batch,
            idle_poll: Duration::from_millis(5),
            backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(5),
            },
        }
    }

    #[tokio::test]
    async fn the_task_computes_every_marked_list_and_survives_a_graph_outage() {
        let memory = MemoryGraph::new();
        fixture::load(&memory).await.expect("fixture");
        let graph = Arc::new(FaultyGraph::new(memory));
        graph.faults().fail_nth_call(1);
        graph.faults().fail_nth_call(2);
        let mut task = NeighbourRefresher::new(Arc::clone(&graph), config(3))
            .expect("config")
            .spawn();
        // The fixture's eight purchased products, three a call, after two failed calls.
        tokio::time::timeout(
            PATIENCE,
            task.wait_for(|s| s.refreshed == 8 && s.marked == 0),
        )
        .await
        .expect("every list computed");
        let stats = task.stats();
        assert!(stats.calls >= 5, "{stats:?}");
        assert_eq!(stats.last_error, None);
        task.shutdown().await.expect("shutdown");
        let left = graph
            .inner()
            .refresh_neighbours(100)
            .await
            .expect("refresh");
        assert_eq!(left, NeighbourRefresh::default());
    }

    #[tokio::test]
    async fn drain_recomputes_what_is_marked() {
        let graph = Arc::new(MemoryGraph::new());
        fixture::load(&*graph).await.expect("fixture");
        let refresher = NeighbourRefresher::new(Arc::clone(&graph), config(2)).expect("config");
        assert_eq!(refresher.drain().await.expect("drain"), 8);
        assert_eq!(refresher.drain().await.expect("drain again"), 0);
    }

    #[test]
    fn bad_settings_are_invalid() {
        for (cfg, field) in [
            (config(0), "batch"),
            (config(10_001), "batch"),
            (
                NeighbourConfig {
                    idle_poll: Duration::ZERO,
                    ..config(1)
                },
                "idle_poll",
            ),
        ] {
            let err = NeighbourRefresher::new(Arc::new(MemoryGraph::new()), cfg).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field: f, .. } if f == field),
                "{err}"
            );
        }
    }
}
