//! Maintenance a primary store needs besides the sync: giving back the stock that interrupted
//! order placements left reserved.
//!
//! A backend that cannot reserve stock and insert the order in one atomic step (MongoDB,
//! FerretDB) reserves first and inserts after. A placement cut short in between (the process
//! killed, the server lost, or the caller dropping the `place_order` future, as a web
//! framework does when a client disconnects) leaves stock reserved for an order that will never
//! exist. [`OrderStore::recover_reservations`] gives it back; a [`ReservationRecovery`] task
//! runs it when it starts and then every [`MaintenanceConfig::interval`], so stock taken by an
//! abandoned placement is back at most `stale_after + interval` later. Run one per process that
//! places orders (several at once are safe: each reservation is given back at most once).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> swiftbox_core::Result<()> {
//! use std::sync::Arc;
//! use swiftbox_core::memory::MemoryStore;
//! use swiftbox_sync::maintenance::{MaintenanceConfig, ReservationRecovery};
//!
//! let store = Arc::new(MemoryStore::new());
//! let mut task = ReservationRecovery::new(Arc::clone(&store), MaintenanceConfig::default())?.spawn();
//! task.wait_for_passes(1).await; // the pass at start
//! assert_eq!(task.stats().given_back, 0);
//! task.shutdown().await?;
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use swiftbox_core::{Error, OrderStore, Result};
use tracing::Instrument;

pub use crate::task::BackgroundHandle;

/// How often [`ReservationRecovery`] runs, and which reservations it gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceConfig {
    /// Time between passes (default 60 s). The first pass runs at start.
    pub interval: Duration,
    /// A reservation is given back once it is this old and its order does not exist (default
    /// 10 minutes). Must exceed the longest a placement still running can take (all its
    /// store calls, each bounded by the store's operation timeout): a younger reservation may
    /// belong to an order about to be inserted. Zero only where no placement is running (tests,
    /// a maintenance run with the service stopped).
    pub stale_after: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            stale_after: Duration::from_secs(600),
        }
    }
}

impl MaintenanceConfig {
    /// Checks the settings: a positive interval.
    pub fn validate(&self) -> Result<()> {
        if self.interval.is_zero() {
            return Err(Error::invalid("interval", "must be positive"));
        }
        Ok(())
    }
}

/// What a [`ReservationRecovery`] task has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceStats {
    /// Passes finished (failed ones included).
    pub passes: u64,
    /// Reservations given back, over all passes.
    pub given_back: u64,
    /// The error of the latest pass, if it failed (retried at the next interval).
    pub last_error: Option<String>,
}

/// Gives back stale stock reservations at start and then periodically; see the
/// [module docs](self).
#[derive(Debug)]
pub struct ReservationRecovery<S> {
    store: S,
    config: MaintenanceConfig,
}

impl<S: OrderStore> ReservationRecovery<S> {
    /// A task over `store` (any [`OrderStore`]: a backend, `Synced`, an `Arc` of either).
    /// [`Error::Invalid`] when `config` is.
    pub fn new(store: S, config: MaintenanceConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { store, config })
    }

    /// One pass now: how many reservations were given back.
    pub async fn run_once(&self) -> Result<u64> {
        self.store
            .recover_reservations(self.config.stale_after)
            .await
    }

    /// Runs the task in the background: a pass at once, then one every interval, until
    /// [`MaintenanceHandle::shutdown`] (or the handle is dropped). A failed pass is logged and
    /// tried again at the next interval.
    pub fn spawn(self) -> MaintenanceHandle
    where
        S: Send + Sync + 'static,
    {
        let span = tracing::info_span!("reservation_recovery");
        BackgroundHandle::spawn(
            "reservation-recovery",
            MaintenanceStats::default(),
            |mut stopped, stats_tx| {
                async move {
                    loop {
                        let outcome = self.run_once().await;
                        stats_tx.send_modify(|s| {
                            s.passes += 1;
                            match &outcome {
                                Ok(n) => {
                                    s.given_back += n;
                                    s.last_error = None;
                                }
                                Err(e) => s.last_error = Some(e.to_string()),
                            }
                        });
                        match outcome {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(given_back = n, "stale stock reservations given back"),
                            Err(e) => tracing::warn!(error = %e, "reservation recovery failed; trying again at the next interval"),
                        }
                        tokio::select! {
                            // Stop on `true`, and when the handle is gone (the channel closed).
                            _ = stopped.wait_for(|stop| *stop) => break,
                            () = tokio::time::sleep(self.config.interval) => {}
                        }
                    }
                }
                .instrument(span)
            },
        )
    }
}

/// The running [`ReservationRecovery`] task.
pub type MaintenanceHandle = BackgroundHandle<MaintenanceStats>;

impl MaintenanceHandle {
    /// Waits until at least `n` passes have finished (at once if they have; also returns when
    /// the task has ended). Bound it with `tokio::time::timeout`.
    pub async fn wait_for_passes(&mut self, n: u64) {
        self.wait_for(|s| s.passes >= n).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use swiftbox_core::memory::MemoryStore;

    use super::*;

    /// Generous bound on a wait; never a correctness condition.
    const PATIENCE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn passes_run_at_start_and_then_every_interval_until_shutdown() {
        let config = MaintenanceConfig {
            interval: Duration::from_millis(5),
            stale_after: Duration::ZERO,
        };
        let mut task = ReservationRecovery::new(Arc::new(MemoryStore::new()), config)
            .expect("config")
            .spawn();
        tokio::time::timeout(PATIENCE, task.wait_for_passes(3))
            .await
            .expect("three passes");
        let stats = task.stats();
        assert!(stats.passes >= 3, "{stats:?}");
        assert_eq!((stats.given_back, stats.last_error), (0, None));
        task.shutdown().await.expect("shutdown");
    }

    #[tokio::test]
    async fn a_zero_interval_is_invalid() {
        let config = MaintenanceConfig {
            interval: Duration::ZERO,
            ..MaintenanceConfig::default()
        };
        let err = ReservationRecovery::new(MemoryStore::new(), config).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "interval"),
            "{err}"
        );
    }
}
