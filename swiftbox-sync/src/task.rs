//! The handle of a background task that publishes its progress (`ReservationRecovery`,
//! `NeighbourRefresher`).

use swiftbox_core::{Error, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running background task: its progress so far (`S`), a wait on it, and shutdown.
#[derive(Debug)]
pub struct BackgroundHandle<S> {
    name: &'static str,
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
    stats: watch::Receiver<S>,
}

impl<S: Clone + Send + Sync + 'static> BackgroundHandle<S> {
    /// Spawns the loop `make` builds from the stop signal (it must end when the signal turns
    /// `true` or its sender is dropped) and the sender of its stats.
    pub(crate) fn spawn<F>(
        name: &'static str,
        initial: S,
        make: impl FnOnce(watch::Receiver<bool>, watch::Sender<S>) -> F,
    ) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let (stats_tx, stats) = watch::channel(initial);
        let join = tokio::spawn(make(stopped, stats_tx));
        Self {
            name,
            stop,
            join,
            stats,
        }
    }

    /// What the task has done so far.
    pub fn stats(&self) -> S {
        self.stats.borrow().clone()
    }

    /// Waits until `done` holds for the stats (at once if it does; also returns when the task
    /// has ended). Bound it with `tokio::time::timeout`.
    pub async fn wait_for(&mut self, done: impl FnMut(&S) -> bool + Send) {
        // An error means the task ended: nothing more will come.
        let _ = self.stats.wait_for(done).await;
    }

    /// Stops the task and waits until it has (a pass under way finishes first).
    /// [`Error::Backend`] if it panicked.
    pub async fn shutdown(self) -> Result<()> {
        // An error only means the loop already ended.
        let _ = self.stop.send(true);
        self.join.await.map_err(|e| Error::backend(self.name, e))
    }
}
