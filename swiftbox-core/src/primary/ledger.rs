//! The sync ledger: what the graph is owed, and the acknowledgements that settle it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{EntityKind, Result};
use crate::forward::forward_through_pointers;
use crate::graph::{GraphChange, GraphRecord};
use crate::id::EntityRef;

/// Number of sync buckets an entity id hashes into (see [`sync_bucket`]).
pub const SYNC_BUCKETS: u32 = 1024;

/// The sync bucket of an entity id: FNV-1a of its bytes modulo [`SYNC_BUCKETS`]. Stores keep it
/// with the entity so that [`Partition`]s can be selected with a query.
pub fn sync_bucket(id: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % SYNC_BUCKETS
}

/// A share of the owed changes, so several workers can drain them without touching the same
/// entity: an entity belongs to partition `sync_bucket(id) % count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Partition {
    /// This partition, `0..count`.
    pub index: u32,
    /// How many partitions there are, 1..=[`SYNC_BUCKETS`].
    pub count: u32,
}

impl Partition {
    /// Everything: one partition.
    pub const ALL: Partition = Partition { index: 0, count: 1 };

    /// True when `id` belongs to this partition.
    pub fn contains(&self, id: &str) -> bool {
        self.count <= 1 || sync_bucket(id) % self.count == self.index
    }

    /// Checks `index < count <= SYNC_BUCKETS`.
    pub fn validate(&self) -> Result<()> {
        if self.count == 0 || self.count > SYNC_BUCKETS || self.index >= self.count {
            return Err(crate::Error::invalid(
                "partition",
                "index must be below count, count in 1..=1024",
            ));
        }
        Ok(())
    }
}

impl Default for Partition {
    fn default() -> Self {
        Partition::ALL
    }
}

/// Several partitions of one partitioning: the entities whose `sync_bucket(id) % count` is one
/// of the indexes. What a worker holding several leases drains in one query (see
/// `swiftbox_sync::lease`); a single [`Partition`] converts into one.
///
/// ```
/// use swiftbox_core::{Partition, Partitions};
///
/// let two = Partitions::new(4, [3, 1])?;
/// assert_eq!(two.indexes(), &[1, 3]);
/// assert!(Partitions::from(Partition::ALL).is_all());
/// assert!(Partitions::new(4, [4]).is_err());
/// # Ok::<(), swiftbox_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partitions {
    count: u32,
    /// Sorted, without duplicates, each below `count`.
    indexes: Vec<u32>,
}

impl Partitions {
    /// Every entity: the one partition of [`Partition::ALL`].
    pub fn all() -> Self {
        Partition::ALL.into()
    }

    /// No partition at all: selects nothing.
    pub fn none() -> Self {
        Self {
            count: 1,
            indexes: Vec::new(),
        }
    }

    /// The partitions `indexes` of `count` (in any order, repeats ignored; none is allowed and
    /// selects nothing). [`crate::Error::Invalid`] unless `count` is in 1..=[`SYNC_BUCKETS`]
    /// and every index is below it.
    pub fn new(count: u32, indexes: impl IntoIterator<Item = u32>) -> Result<Self> {
        let mut indexes: Vec<u32> = indexes.into_iter().collect();
        indexes.sort_unstable();
        indexes.dedup();
        let p = Self { count, indexes };
        p.validate()?;
        Ok(p)
    }

    /// How many partitions the entities are split into.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The partitions selected, ascending.
    pub fn indexes(&self) -> &[u32] {
        &self.indexes
    }

    /// True when no partition is selected.
    pub fn is_empty(&self) -> bool {
        self.indexes.is_empty()
    }

    /// True when every partition is selected.
    pub fn is_all(&self) -> bool {
        self.indexes.len() as u64 == u64::from(self.count)
    }

    /// True when `id` belongs to one of these partitions.
    pub fn contains(&self, id: &str) -> bool {
        self.is_all()
            || self
                .indexes
                .binary_search(&(sync_bucket(id) % self.count.max(1)))
                .is_ok()
    }

    /// The sync buckets of these partitions, ascending.
    pub fn buckets(&self) -> Vec<u32> {
        (0..SYNC_BUCKETS)
            .filter(|b| self.indexes.binary_search(&(b % self.count.max(1))).is_ok())
            .collect()
    }

    /// Checks `count` in 1..=[`SYNC_BUCKETS`] and every index below it.
    pub fn validate(&self) -> Result<()> {
        if self.count == 0
            || self.count > SYNC_BUCKETS
            || self.indexes.iter().any(|i| *i >= self.count)
        {
            return Err(crate::Error::invalid(
                "partition",
                "index must be below count, count in 1..=1024",
            ));
        }
        Ok(())
    }
}

impl From<Partition> for Partitions {
    /// The one partition. An invalid one stays invalid: [`Partitions::validate`] refuses it.
    fn from(p: Partition) -> Self {
        Self {
            count: p.count,
            indexes: vec![p.index],
        }
    }
}

impl Default for Partitions {
    fn default() -> Self {
        Self::all()
    }
}

/// Which owed changes [`SyncLedger::owed_changes`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedQuery {
    /// At most this many, 1..=10000.
    pub limit: usize,
    /// Only entities of these partitions.
    pub partitions: Partitions,
    /// Only changes owed since before this time (lets an inline apply finish first); `None` for all.
    pub owed_before: Option<DateTime<Utc>>,
    /// Include changes that were set aside as poison.
    pub include_set_aside: bool,
}

impl OwedQuery {
    /// The oldest `limit` owed changes, not set aside, in every partition.
    pub fn oldest(limit: usize) -> Self {
        Self {
            limit,
            partitions: Partitions::all(),
            owed_before: None,
            include_set_aside: false,
        }
    }

    /// Checks limit and partition.
    pub fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > 10_000 {
            return Err(crate::Error::invalid(
                "limit",
                "must be between 1 and 10000",
            ));
        }
        self.partitions.validate()
    }
}

/// A change the graph owes for one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedChange {
    /// The entity in the primary store.
    pub entity: EntityRef,
    /// The entity's current version: acknowledge with this.
    pub version: u64,
    /// What to apply to the graph.
    pub change: GraphChange,
    /// Since when the graph has owed this entity a change (the first unacknowledged write).
    pub owed_since: DateTime<Utc>,
    /// Failed attempts recorded for this version.
    pub attempts: u32,
    /// The last recorded failure.
    pub last_error: Option<String>,
    /// Whether it was set aside as poison.
    pub set_aside: bool,
    /// Retries of the set-aside change that failed so far (0 while it is in line).
    pub retries: u32,
    /// When a worker next retries the set-aside change ([`SyncLedger::set_aside_changes`] with
    /// [`SetAsideQuery::due`]); `None` while it is in line, and once its retries are used up
    /// (it then waits for a new write of the entity or [`SyncLedger::release_set_aside`]).
    pub retry_at: Option<DateTime<Utc>>,
}

/// Which set-aside changes [`SyncLedger::set_aside_changes`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAsideQuery {
    /// At most this many, 1..=10000.
    pub limit: usize,
    /// Only entities of these partitions.
    pub partitions: Partitions,
    /// `Some(t)`: only changes whose retry is due at `t` (`retry_at <= t`), earliest retry
    /// first (then by kind, then id); `None`: every set-aside change, retries used up or not,
    /// longest owed first (the order of [`SyncLedger::owed_changes`]).
    pub due_at: Option<DateTime<Utc>>,
}

impl SetAsideQuery {
    /// Up to `limit` set-aside changes of every partition, longest owed first.
    pub fn all(limit: usize) -> Self {
        Self {
            limit,
            partitions: Partitions::all(),
            due_at: None,
        }
    }

    /// Up to `limit` set-aside changes of every partition whose retry is due at `at`.
    pub fn due(limit: usize, at: DateTime<Utc>) -> Self {
        Self {
            due_at: Some(at),
            ..Self::all(limit)
        }
    }

    /// Checks limit and partition.
    pub fn validate(&self) -> Result<()> {
        OwedQuery {
            limit: self.limit,
            partitions: self.partitions.clone(),
            owed_before: None,
            include_set_aside: true,
        }
        .validate()
    }
}

/// An acknowledgement: the graph now holds `entity` at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangeAck {
    /// The entity.
    pub entity: EntityRef,
    /// The version applied.
    pub version: u64,
}

/// What [`SyncLedger::record_sync_failure`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureRecord {
    /// Failed attempts for this version so far (0 when the entity has moved on or is settled).
    pub attempts: u32,
    /// Whether the change is now set aside.
    pub set_aside: bool,
}

/// The primary store's side of sync status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Live (not deleted) entities by kind.
    pub entities: BTreeMap<EntityKind, u64>,
    /// Entities owing the graph a change, set-aside ones included.
    pub owed: u64,
    /// Owed changes set aside as poison.
    pub set_aside: u64,
    /// Since when the longest-owed set-aside change has been owed.
    pub oldest_set_aside: Option<DateTime<Utc>>,
    /// Since when the longest-owed change has been owed.
    pub oldest_owed: Option<DateTime<Utc>>,
    /// The most recently recorded failure among owed changes.
    pub last_error: Option<String>,
}

/// The sync bookkeeping of a primary store (see the [module docs](super)): which changes the
/// graph owes, and the acknowledgements and failures that settle them.
///
/// Implemented by every backend next to its [`super::PrimaryStore`]; used by the sync crate's
/// decorator, worker and reconciler. An application that writes through the decorator never
/// needs it: acknowledging a change by hand would tell the ledger the graph holds what it may
/// not.
#[async_trait]
pub trait SyncLedger: Send + Sync + std::fmt::Debug + 'static {
    /// Owed changes, longest owed first (then by kind in [`EntityKind::ALL`] order, then id).
    async fn owed_changes(&self, query: &OwedQuery) -> Result<Vec<OwedChange>>;
    /// The change owed for one entity, if any.
    async fn owed_change(&self, entity: &EntityRef) -> Result<Option<OwedChange>>;
    /// Settles each entity whose version still equals the acknowledged one (purging tombstones);
    /// acknowledgements of older versions, or of unknown entities, change nothing.
    async fn ack_changes(&self, acks: &[ChangeAck]) -> Result<()>;
    /// Records a failed attempt to apply `entity` at `version`; once `set_aside_after` attempts
    /// have failed (0: never) the change is set aside (left out of
    /// [`SyncLedger::owed_changes`] unless asked for) until the entity is written again or
    /// [`SyncLedger::release_set_aside`]. The call that sets it aside stores `retry_at` as its
    /// first retry time (`None`: no retry) with no retries counted yet. Failures of another
    /// version, or of a settled entity, record nothing and return the default record.
    async fn record_sync_failure(
        &self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        set_aside_after: u32,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<FailureRecord>;
    /// Records that a retry of the set-aside change of `entity` at `version` failed: one more
    /// retry counted, `error` kept as the last error, the next retry at `retry_at` (`None`:
    /// retries are over, it stays set aside until a write or a release). Returns the retries
    /// counted so far; 0, recording nothing, when the entity is not set aside at that version.
    async fn record_retry_failure(
        &self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<u32>;
    /// Set-aside changes, with their last error, attempts, retries and next retry time: the
    /// ones due for a retry, or all of them (see [`SetAsideQuery`]).
    async fn set_aside_changes(&self, query: &SetAsideQuery) -> Result<Vec<OwedChange>>;
    /// Puts set-aside changes (one entity's, or all) back in line with their attempts and
    /// retries reset; returns how many.
    async fn release_set_aside(&self, entity: Option<&EntityRef>) -> Result<u64>;
    /// Counts for status reports; cheap (counts, no scans of entity content).
    async fn sync_stats(&self) -> Result<SyncStats>;
    /// Up to `limit` graph records of live entities of `kind` whose id sorts after `after`,
    /// ordered by id: what the graph should hold (orders and reviews as
    /// [`crate::changes`] derives them). The reconciler compares this with
    /// [`crate::GraphStore::records`].
    async fn expected_graph(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>>;
}

forward_through_pointers!(SyncLedger {
    fn owed_changes(&self, query: &OwedQuery) -> Result<Vec<OwedChange>>;
    fn owed_change(&self, entity: &EntityRef) -> Result<Option<OwedChange>>;
    fn ack_changes(&self, acks: &[ChangeAck]) -> Result<()>;
    fn record_sync_failure(&self, entity: &EntityRef, version: u64, error: &str, set_aside_after: u32, retry_at: Option<DateTime<Utc>>) -> Result<FailureRecord>;
    fn record_retry_failure(&self, entity: &EntityRef, version: u64, error: &str, retry_at: Option<DateTime<Utc>>) -> Result<u32>;
    fn set_aside_changes(&self, query: &SetAsideQuery) -> Result<Vec<OwedChange>>;
    fn release_set_aside(&self, entity: Option<&EntityRef>) -> Result<u64>;
    fn sync_stats(&self) -> Result<SyncStats>;
    fn expected_graph(&self, kind: EntityKind, after: Option<&str>, limit: usize) -> Result<Vec<GraphRecord>>;
});
