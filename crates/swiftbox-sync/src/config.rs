//! Configuration of the decorator ([`SyncConfig`]) and the worker ([`WorkerConfig`]), with
//! the exponential backoff they share ([`Backoff`]).

use std::time::Duration;

use swiftbox_core::{Error, Partition, Result};

/// How [`crate::Synced`] applies changes inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Apply each write's change to the graph right after the primary write (default `true`).
    /// With `false` the decorator only writes the primary store and the [`crate::SyncWorker`]
    /// does all graph work ("deferred" mode).
    pub inline: bool,
    /// How long an inline apply may take before the write returns anyway, leaving the change
    /// owed for the worker (default 2 s).
    pub inline_timeout: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            inline: true,
            inline_timeout: Duration::from_secs(2),
        }
    }
}

impl SyncConfig {
    /// Deferred mode: no graph call on the write path; a worker applies everything.
    pub fn deferred() -> Self {
        Self {
            inline: false,
            ..Self::default()
        }
    }
}

/// Exponential backoff with jitter: attempt `n` (1-based) waits a random time between half and
/// all of `min(max, initial * 2^(n-1))` ("equal jitter"), so workers that failed together do
/// not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay of the first retry (default 100 ms).
    pub initial: Duration,
    /// Longest delay (default 30 s).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based; 0 is treated as 1), jittered.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let full = self
            .initial
            .saturating_mul(1u32 << exp)
            .min(self.max)
            .max(Duration::from_millis(1));
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_nanos(crate::jitter::random_u64() % nanos)
    }
}

/// How a [`crate::SyncWorker`] drains owed changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Owed changes fetched and applied per round, 1..=10000 (default 500).
    pub batch_size: usize,
    /// The share of entities this worker drains (default: all). Run one worker per partition
    /// to spread the work; see [`crate::worker`] for why two workers never conflict.
    pub partition: Partition,
    /// Only changes owed for at least this long are picked up, so the worker does not race the
    /// decorator's inline apply (default 5 s; `Duration::ZERO` in tests and for `drain`-style
    /// maintenance runs).
    pub grace: Duration,
    /// How long one graph apply may take before it counts as failed (retryable; default 30 s).
    pub apply_timeout: Duration,
    /// A change that failed this many times (the graph answered but refused this entity) is set
    /// aside as poison (default 5).
    pub set_aside_after: u32,
    /// A change deferred this many times (a node it references never arrived) is set aside too,
    /// so it cannot block the queue forever (default 20).
    pub deferred_set_aside_after: u32,
    /// Backoff between rounds that made no progress (graph or primary down, everything failed
    /// or deferred).
    pub backoff: Backoff,
    /// Pause between polls when nothing is owed (default 1 s).
    pub idle_poll: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            partition: Partition::ALL,
            grace: Duration::from_secs(5),
            apply_timeout: Duration::from_secs(30),
            set_aside_after: 5,
            deferred_set_aside_after: 20,
            backoff: Backoff::default(),
            idle_poll: Duration::from_secs(1),
        }
    }
}

impl WorkerConfig {
    /// Checks the batch size, partition and thresholds; [`Error::Invalid`] names the field.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return Err(Error::invalid("batch_size", "must be between 1 and 10000"));
        }
        self.partition.validate()?;
        if self.set_aside_after == 0 {
            return Err(Error::invalid("set_aside_after", "must be at least 1"));
        }
        if self.deferred_set_aside_after == 0 {
            return Err(Error::invalid(
                "deferred_set_aside_after",
                "must be at least 1",
            ));
        }
        if self.apply_timeout.is_zero() {
            return Err(Error::invalid("apply_timeout", "must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jitters_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d40 = b.delay(40);
            assert!(d40 >= Duration::from_millis(500) && d40 <= Duration::from_secs(1));
        }
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| b.delay(5)).collect();
        assert!(distinct.len() > 1, "jitter should vary the delay");
    }

    #[test]
    fn bad_worker_configs_are_refused_with_the_field() {
        assert!(WorkerConfig::default().validate().is_ok());
        let cases = [
            (
                WorkerConfig {
                    batch_size: 0,
                    ..Default::default()
                },
                "batch_size",
            ),
            (
                WorkerConfig {
                    partition: Partition { index: 2, count: 2 },
                    ..Default::default()
                },
                "partition",
            ),
            (
                WorkerConfig {
                    set_aside_after: 0,
                    ..Default::default()
                },
                "set_aside_after",
            ),
        ];
        for (cfg, field) in cases {
            let err = cfg.validate().unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field: f, .. } if f == field),
                "{err}"
            );
        }
    }
}
