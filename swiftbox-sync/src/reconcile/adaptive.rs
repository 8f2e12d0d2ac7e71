//! How many changes a resync puts in one graph call: additive increase, multiplicative
//! decrease (AIMD), between [`super::ReconcilerConfig::min_batch_size`] and
//! [`super::ReconcilerConfig::batch_size`].
//!
//! A call that fails with a retryable error while the graph still answers (the apply timed out
//! on a cold or busy server, or Neo4j aborted it as a deadlock) halves the size, and the
//! changes it carried are written again in calls of the new size. Every call written whole at
//! the current size grows it back by an eighth of the maximum, so a server that warms up soon
//! gets full batches again.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The current call size, shared by the batches of one kind in flight.
#[derive(Debug)]
pub(super) struct CallSize {
    current: AtomicUsize,
    min: usize,
    max: usize,
}

impl CallSize {
    /// Starts at `max` (at least `min`, at least 1).
    pub(super) fn new(min: usize, max: usize) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        Self {
            current: AtomicUsize::new(max),
            min,
            max,
        }
    }

    /// Changes to put in the next call.
    pub(super) fn get(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    /// Whether a call of `n` changes is as small as calls get: it cannot be split further.
    pub(super) fn at_floor(&self, n: usize) -> bool {
        n <= self.min
    }

    /// A call of `n` changes failed: the next calls carry at most half of it.
    pub(super) fn shrink(&self, n: usize) {
        let half = (n / 2).max(self.min);
        // Never grows: a concurrent batch may have shrunk it further already.
        self.current.fetch_min(half, Ordering::Relaxed);
    }

    /// A call of `n` changes succeeded: when it was a full call of the current size, the next
    /// calls may carry an eighth of the maximum more.
    pub(super) fn grow(&self, n: usize) {
        let step = (self.max / 8).max(1);
        let _ = self
            .current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (n >= c && c < self.max).then(|| c.saturating_add(step).min(self.max))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_down_to_the_floor_then_grows_back_by_an_eighth() {
        let size = CallSize::new(100, 5_000);
        assert_eq!(size.get(), 5_000);
        size.shrink(5_000);
        assert_eq!(size.get(), 2_500);
        size.shrink(2_500);
        size.shrink(1_250);
        size.shrink(625);
        size.shrink(312);
        assert_eq!(size.get(), 156);
        size.shrink(156);
        assert_eq!(size.get(), 100, "never below the floor");
        assert!(size.at_floor(100) && size.at_floor(3) && !size.at_floor(101));
        size.grow(100);
        assert_eq!(size.get(), 725);
        size.grow(20); // a short tail says nothing about the size
        assert_eq!(size.get(), 725);
        for _ in 0..10 {
            size.grow(size.get());
        }
        assert_eq!(size.get(), 5_000, "never above the maximum");
    }

    #[test]
    fn a_late_failure_of_a_bigger_call_does_not_grow_it() {
        let size = CallSize::new(1, 1_000);
        size.shrink(1_000);
        size.shrink(500);
        assert_eq!(size.get(), 250);
        size.shrink(1_000); // a concurrent batch's call, started before the shrinks
        assert_eq!(size.get(), 250);
    }

    #[test]
    fn degenerate_bounds_are_clamped() {
        let size = CallSize::new(0, 0);
        assert_eq!(size.get(), 1);
        size.shrink(1);
        assert_eq!(size.get(), 1);
        let size = CallSize::new(50, 10);
        assert_eq!(size.get(), 50);
    }
}
