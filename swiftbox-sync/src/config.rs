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
        half + Duration::from_nanos(fastrand::u64(..nanos))
    }
}

/// When a [`crate::SyncWorker`] retries a change it set aside: `cooldown` after it was set
/// aside, then after `cooldown * factor`, `cooldown * factor^2`, ... until `max_retries`
/// retries have failed; then it stays set aside until the entity is written again or an
/// operator releases it ([`crate::Reconciler::release_set_aside`]).
///
/// The next retry time is stored in the primary store with the change
/// ([`swiftbox_core::OwedChange::retry_at`]), so it survives restarts and every worker agrees.
/// With the defaults (1 min, factor 2, 8 retries) a change is retried for about four hours.
///
/// ```
/// use std::time::Duration;
/// use swiftbox_sync::SetAsideRetry;
///
/// let retry = SetAsideRetry { cooldown: Duration::from_secs(10), factor: 3, max_retries: 4 };
/// assert_eq!(retry.cooldown_after(0), Some(Duration::from_secs(10)));
/// assert_eq!(retry.cooldown_after(2), Some(Duration::from_secs(90)));
/// assert_eq!(retry.cooldown_after(4), None, "retries used up");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetAsideRetry {
    /// Wait before the first retry (default 1 min; zero retries at the next round, for tests).
    pub cooldown: Duration,
    /// Each failed retry multiplies the wait by this, at least 1 (default 2).
    pub factor: u32,
    /// Retries before the change waits for a release; 0 never retries (default 8).
    pub max_retries: u32,
}

impl Default for SetAsideRetry {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(60),
            factor: 2,
            max_retries: 8,
        }
    }
}

impl SetAsideRetry {
    /// Longest wait between two retries, whatever the factor (30 days).
    pub const MAX_COOLDOWN: Duration = Duration::from_secs(30 * 86_400);

    /// The wait before the next retry of a change whose `failed_retries` retries have failed
    /// (at most [`SetAsideRetry::MAX_COOLDOWN`]); `None` once `max_retries` have failed.
    pub fn cooldown_after(&self, failed_retries: u32) -> Option<Duration> {
        if failed_retries >= self.max_retries {
            return None;
        }
        let mut wait = self.cooldown;
        for _ in 0..failed_retries {
            wait = wait.saturating_mul(self.factor);
            if wait >= Self::MAX_COOLDOWN {
                break;
            }
        }
        Some(wait.min(Self::MAX_COOLDOWN))
    }

    /// When the next retry is due, counted from `now`; `None` once the retries are used up.
    pub fn next_retry_at(
        &self,
        failed_retries: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let wait = chrono::Duration::from_std(self.cooldown_after(failed_retries)?).ok()?;
        now.checked_add_signed(wait)
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
    /// A change that failed this many times alone with an error retrying cannot fix (the
    /// graph answered but refused this entity) is set aside as poison (default 5). A timeout or
    /// [`swiftbox_core::Error::Unavailable`] is the graph's trouble, not the change's: it
    /// never counts.
    pub set_aside_after: u32,
    /// A change deferred this many times (a node it references never arrived) is set aside too,
    /// so it cannot block the queue forever (default 20).
    pub deferred_set_aside_after: u32,
    /// When set-aside changes are retried.
    pub set_aside_retry: SetAsideRetry,
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
            set_aside_retry: SetAsideRetry::default(),
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
        if self.set_aside_retry.factor == 0 {
            return Err(Error::invalid(
                "set_aside_retry.factor",
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
    fn set_aside_cooldowns_grow_cap_and_end() {
        let r = SetAsideRetry::default();
        let waits: Vec<_> = (0..=8).map(|n| r.cooldown_after(n)).collect();
        assert_eq!(waits[0], Some(Duration::from_secs(60)));
        assert_eq!(waits[3], Some(Duration::from_secs(480)));
        assert_eq!(waits[8], None);
        let huge = SetAsideRetry {
            cooldown: Duration::from_secs(3600),
            factor: u32::MAX,
            max_retries: u32::MAX,
        };
        assert_eq!(huge.cooldown_after(1000), Some(SetAsideRetry::MAX_COOLDOWN));
        let now = swiftbox_core::time::now();
        assert_eq!(
            r.next_retry_at(1, now),
            Some(now + chrono::Duration::seconds(120))
        );
        assert_eq!(r.next_retry_at(8, now), None);
        let never = SetAsideRetry {
            max_retries: 0,
            ..r
        };
        assert_eq!(never.next_retry_at(0, now), None);
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
            (
                WorkerConfig {
                    set_aside_retry: SetAsideRetry {
                        factor: 0,
                        ..SetAsideRetry::default()
                    },
                    ..Default::default()
                },
                "set_aside_retry.factor",
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
