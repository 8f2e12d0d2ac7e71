//! Password hashing and verification off the async workers.
//!
//! argon2 spends tens of milliseconds of CPU per hash or verification by design. Run on the
//! executor's threads (two on a two-core machine), a handful of concurrent log-ins would stall
//! every other request, health checks included. So the service runs each one in
//! `tokio::task::spawn_blocking`, and at most [`crate::ApiConfig::max_concurrent_hashes`] at
//! once (a semaphore): the rest wait their turn without holding a thread, and the blocking pool
//! never fills with argon2 work that the stores' drivers might need.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::ApiError;

/// A bounded pool for CPU-bound password work.
#[derive(Debug, Clone)]
pub struct Hashing {
    permits: Arc<Semaphore>,
}

impl Hashing {
    /// A pool running at most `max_in_flight` (at least 1) jobs at once.
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// Runs `job` on a blocking thread once a slot is free, and gives its result.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable("password checks are shut down"))?;
        tokio::task::spawn_blocking(move || {
            let out = job();
            drop(permit);
            out
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password job failed");
            ApiError::internal()
        })
    }

    /// Jobs that may start now without waiting.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_bound_in_flight() {
        let pool = Hashing::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..12).map(|_| {
            let (running, most, pool) = (Arc::clone(&running), Arc::clone(&most), pool.clone());
            async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Real work, so jobs overlap if the bound lets them.
                    let _ = swiftbox_core::Password::new("long enough").hash();
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .unwrap();
            }
        });
        futures::future::join_all(jobs).await;
        assert!(most.load(Ordering::SeqCst) <= 2, "{most:?}");
        assert_eq!(pool.available(), 2);
    }
}
