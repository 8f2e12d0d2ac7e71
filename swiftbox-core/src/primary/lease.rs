//! Lease records: the few compare-and-swap records in the primary store through which sync
//! workers share the owed changes (`swiftbox_sync::lease` builds the leases on them).
//!
//! A record names a lease (`key`), who holds it (`owner`, `None` once released), a fencing
//! `token` that grows each time the lease changes hands, and a `beat` that its holder bumps to
//! say it is alive. No record carries a time: whether a holder is gone is judged by whoever
//! watches it, on its own monotonic clock, from a `beat` that stops moving. So no two
//! machines' clocks are ever compared, on any server.

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::forward::forward_through_pointers;

/// Longest lease key or owner name, in bytes.
pub const MAX_LEASE_NAME: usize = 200;

/// One lease as the primary store keeps it (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseRecord {
    /// The lease's name: printable ASCII, 1..=[`MAX_LEASE_NAME`] bytes.
    pub key: String,
    /// Its holder, or `None` when nobody holds it (1..=[`MAX_LEASE_NAME`] bytes).
    pub owner: Option<String>,
    /// The fencing token: grows by one at every change of holder, so a holder that lost the
    /// lease recognises it by a token other than its own. At most `i64::MAX`.
    pub token: u64,
    /// Renewals under this token. At most `i64::MAX`.
    pub beat: u64,
}

impl LeaseRecord {
    /// Checks the key, the owner and the counters; [`Error::Invalid`] names the field.
    pub fn validate(&self) -> Result<()> {
        fn name_ok(s: &str) -> bool {
            (1..=MAX_LEASE_NAME).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
        }
        if !name_ok(&self.key) {
            return Err(Error::invalid(
                "key",
                "must be 1 to 200 printable ASCII characters",
            ));
        }
        if self.owner.as_deref().is_some_and(|o| !name_ok(o)) {
            return Err(Error::invalid(
                "owner",
                "must be 1 to 200 printable ASCII characters",
            ));
        }
        let max = i64::MAX as u64;
        if self.token > max || self.beat > max {
            return Err(Error::invalid("token", "token and beat must fit an i64"));
        }
        Ok(())
    }
}

/// The lease records of a primary store (see the [module docs](self)). Every backend
/// implements it next to its [`super::SyncLedger`]; the sync crate's leased workers use it.
/// Each call is atomic on its one record.
#[async_trait]
pub trait LeaseLedger: Send + Sync + std::fmt::Debug + 'static {
    /// Every record whose key starts with `prefix` (compared as text), ordered by key.
    /// [`Error::Invalid`] for a prefix that no key could start with (see [`validate_prefix`]).
    async fn lease_records(&self, prefix: &str) -> Result<Vec<LeaseRecord>>;
    /// Replaces the record `next.key` with `next` if it still equals `current` (`None`: if
    /// there is no record of that key); `true` when it did, `false` (changing nothing) when
    /// the record is otherwise. [`Error::Invalid`] for a record that is not valid or a
    /// `current` of another key.
    async fn swap_lease(&self, current: Option<&LeaseRecord>, next: &LeaseRecord) -> Result<bool>;
    /// Removes the record if it still equals `current`; `true` when it did.
    async fn remove_lease(&self, current: &LeaseRecord) -> Result<bool>;
}

forward_through_pointers!(LeaseLedger {
    fn lease_records(&self, prefix: &str) -> Result<Vec<LeaseRecord>>;
    fn swap_lease(&self, current: Option<&LeaseRecord>, next: &LeaseRecord) -> Result<bool>;
    fn remove_lease(&self, current: &LeaseRecord) -> Result<bool>;
});

/// Checks a prefix of [`LeaseLedger::lease_records`]: empty, or printable ASCII of at most
/// [`MAX_LEASE_NAME`] bytes (for backends).
pub fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.len() > MAX_LEASE_NAME || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "prefix",
            "must be at most 200 printable ASCII characters",
        ));
    }
    Ok(())
}

/// Validates the arguments of [`LeaseLedger::swap_lease`] (for backends).
pub fn validate_swap(current: Option<&LeaseRecord>, next: &LeaseRecord) -> Result<()> {
    next.validate()?;
    if let Some(c) = current {
        c.validate()?;
        if c.key != next.key {
            return Err(Error::invalid("key", "current and next name other leases"));
        }
    }
    Ok(())
}
