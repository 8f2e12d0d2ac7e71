//! The history checker: what the application was told, compared with what the stores hold.
//!
//! A [`History`] records, for every write a caller saw acknowledged (the call returned `Ok`),
//! the entity and the version it returned; for deletes, that one was tried and whether it was
//! acknowledged. Writes whose outcome the caller never learned (an error that is not a plain
//! refusal, a timeout, a task dropped mid-call) are only counted: they may or may not have
//! happened, and the graph must then follow whatever the primary store holds.
//!
//! [`check_history`] runs once every writer has stopped and the sync has settled, and names:
//!
//! - **lost**: an acknowledged write the graph does not hold: the entity is live in the
//!   primary store (at the acknowledged version or later) and missing from the graph, or the
//!   primary store itself lost it (gone, though nobody tried to delete it; or older than what
//!   it acknowledged);
//! - **stale**: the graph holds the entity at an older version than the primary store (hence
//!   older than, or equal to an earlier one than, the acknowledged write);
//! - **extra**: the graph holds an entity the primary store does not expect there: deleted
//!   (with an acknowledged delete or not), never created, or no longer projected (a review of
//!   a deleted user);
//! - **doubled**: an order whose purchases appear more than once per product, or more of them
//!   than the order has projected items;
//! - **dangling**: an order or review record in the graph whose user or product node is not;
//! - **drift**: everything [`Reconciler::check`] reports (content differences included).
//!
//! All of them must be zero. The checker reads whole stores: it is for test-sized shops.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use swiftbox_core::prelude::*;
use swiftbox_core::{
    CategoryId, EntityKind, EntityRef, Error, GraphRecord, GraphStore, OrderId, ProductId,
    ReviewId, UserId,
};

use super::must;
use crate::Reconciler;

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// The highest version a write of this entity returned.
    version: u64,
    /// A delete of it was tried (whatever its outcome).
    delete_tried: bool,
    /// A delete of it was acknowledged.
    deleted: bool,
}

/// How a write ended, as its caller saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `Ok`: the write happened.
    Acknowledged,
    /// Refused with a domain error (not found, conflict, invalid, out of stock): it did not
    /// happen. Expected when writers race each other's deletes.
    Refused,
    /// Unknown: an error that may have come after the write landed, a timeout, a dropped call.
    Unknown,
}

impl Outcome {
    /// The outcome of a call that returned `result`.
    pub fn of<T>(result: &swiftbox_core::Result<T>) -> Self {
        match result {
            Ok(_) => Outcome::Acknowledged,
            Err(
                Error::NotFound { .. }
                | Error::Conflict { .. }
                | Error::Invalid { .. }
                | Error::InsufficientStock { .. },
            ) => Outcome::Refused,
            Err(_) => Outcome::Unknown,
        }
    }
}

/// Every acknowledged write of a run (see the [module docs](self)); shared by all writers.
#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<EntityRef, Entry>,
    acknowledged: u64,
    refused: u64,
    unknown: u64,
}

/// What a [`History`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryCounts {
    /// Writes acknowledged.
    pub acknowledged: u64,
    /// Writes refused (domain errors; nothing written).
    pub refused: u64,
    /// Writes whose outcome is unknown.
    pub unknown: u64,
    /// Distinct entities acknowledged writes touched.
    pub entities: u64,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an acknowledged write of `entity` that returned `version`.
    pub fn acknowledged(&self, entity: EntityRef, version: u64) {
        let mut inner = self.inner.lock();
        inner.acknowledged += 1;
        let e = inner.entries.entry(entity).or_default();
        e.version = e.version.max(version);
    }

    /// Records a write that was not acknowledged (`outcome` is [`Outcome::Refused`] or
    /// [`Outcome::Unknown`]; an acknowledgement goes to [`History::acknowledged`]).
    pub fn not_acknowledged(&self, outcome: Outcome) {
        let mut inner = self.inner.lock();
        match outcome {
            Outcome::Refused => inner.refused += 1,
            Outcome::Unknown | Outcome::Acknowledged => inner.unknown += 1,
        }
    }

    /// Records that a delete of `entity` is about to be tried.
    pub fn deleting(&self, entity: EntityRef) {
        self.inner
            .lock()
            .entries
            .entry(entity)
            .or_default()
            .delete_tried = true;
    }

    /// Records the outcome of the delete of `entity` (after [`History::deleting`]).
    pub fn deleted(&self, entity: EntityRef, outcome: Outcome) {
        let mut inner = self.inner.lock();
        match outcome {
            Outcome::Acknowledged => {
                inner.acknowledged += 1;
                inner.entries.entry(entity).or_default().deleted = true;
            }
            Outcome::Refused => inner.refused += 1,
            Outcome::Unknown => inner.unknown += 1,
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> HistoryCounts {
        let inner = self.inner.lock();
        HistoryCounts {
            acknowledged: inner.acknowledged,
            refused: inner.refused,
            unknown: inner.unknown,
            entities: inner.entries.len() as u64,
        }
    }

    fn entries(&self) -> HashMap<EntityRef, Entry> {
        self.inner.lock().entries.clone()
    }
}

/// What [`check_history`] found: every list must be empty.
#[derive(Debug, Clone, Default)]
pub struct HistoryVerdict {
    /// Entities of the history checked.
    pub checked: u64,
    /// Acknowledged writes the graph (or the primary store) does not hold.
    pub lost: Vec<EntityRef>,
    /// Entities the graph holds at an older version than the primary store.
    pub stale: Vec<EntityRef>,
    /// Entities the graph holds and should not.
    pub extra: Vec<EntityRef>,
    /// Orders whose purchases the graph holds more than once.
    pub doubled: Vec<EntityRef>,
    /// Orders and reviews in the graph whose user or product node is missing.
    pub dangling: Vec<EntityRef>,
    /// Entries of [`Reconciler::check`]'s report.
    pub drift: u64,
}

impl HistoryVerdict {
    /// True when nothing was lost, stale, extra, doubled or dangling, and nothing drifted.
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.stale.is_empty()
            && self.extra.is_empty()
            && self.doubled.is_empty()
            && self.dangling.is_empty()
            && self.drift == 0
    }
}

impl fmt::Display for HistoryVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| entities checked | {} |", self.checked)?;
        for (name, list) in [
            ("lost", &self.lost),
            ("stale", &self.stale),
            ("extra", &self.extra),
            ("doubled", &self.doubled),
            ("dangling", &self.dangling),
        ] {
            write!(f, "| {name} | {} |", list.len())?;
            if !list.is_empty() {
                let shown: Vec<String> = list
                    .iter()
                    .take(5)
                    .map(|e| format!("{} {}", e.kind, e.id))
                    .collect();
                write!(f, " e.g. {}", shown.join(", "))?;
            }
            writeln!(f)?;
        }
        writeln!(f, "| drift (check) | {} |", self.drift)
    }
}

/// Every record of `kind`, from the graph (`graph`) or as the primary store expects it.
async fn all_records<P: PrimaryBackend, G: GraphStore>(
    primary: &P,
    graph: Option<&G>,
    kind: EntityKind,
) -> Vec<GraphRecord> {
    const PAGE: usize = 1_000;
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = match graph {
            Some(g) => must(
                g.records(kind, after.as_deref(), PAGE).await,
                "graph records",
            ),
            None => must(
                primary.expected_graph(kind, after.as_deref(), PAGE).await,
                "expected graph",
            ),
        };
        let done = page.len() < PAGE;
        after = page.last().map(|r| r.entity().id);
        out.extend(page);
        if done {
            return out;
        }
    }
}

/// Whether the primary store holds `entity` at all (live, whether projected or not).
async fn primary_version<P: PrimaryBackend>(primary: &P, e: &EntityRef) -> Option<u64> {
    fn gone<T>(r: swiftbox_core::Result<T>, version: impl Fn(&T) -> u64) -> Option<u64> {
        match r {
            Ok(v) => Some(version(&v)),
            Err(Error::NotFound { .. }) => None,
            Err(e) => panic!("reading the primary store: {e}"),
        }
    }
    fn id<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: fmt::Display,
    {
        s.parse()
            .unwrap_or_else(|e| panic!("an id of the history does not parse: {e}"))
    }
    let s = e.id.as_str();
    match e.kind {
        EntityKind::User => gone(primary.get_user(&id::<UserId>(s)).await, |u| u.version),
        EntityKind::Category => gone(primary.get_category(&id::<CategoryId>(s)).await, |c| {
            c.version
        }),
        EntityKind::Product => gone(primary.get_product(&id::<ProductId>(s)).await, |p| {
            p.version
        }),
        EntityKind::Order => gone(primary.get_order(&id::<OrderId>(s)).await, |o| o.version),
        EntityKind::Review => gone(primary.get_review(&id::<ReviewId>(s)).await, |r| r.version),
    }
}

/// Compares `history` with the primary store and the graph (see the [module docs](self)).
/// Call it once nothing writes and nothing is owed.
pub async fn check_history<P: PrimaryBackend, G: GraphStore>(
    history: &History,
    primary: &Arc<P>,
    graph: &Arc<G>,
) -> HistoryVerdict {
    let mut expected: HashMap<EntityRef, GraphRecord> = HashMap::new();
    let mut held: HashMap<EntityRef, GraphRecord> = HashMap::new();
    for kind in EntityKind::ALL {
        for r in all_records(&**primary, None::<&G>, kind).await {
            expected.insert(r.entity(), r);
        }
        for r in all_records(&**primary, Some(&**graph), kind).await {
            held.insert(r.entity(), r);
        }
    }

    let mut v = HistoryVerdict::default();
    let mut entries: Vec<(EntityRef, Entry)> = history.entries().into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (entity, entry) in &entries {
        v.checked += 1;
        match expected.get(entity) {
            Some(_) if entry.deleted => {
                // An acknowledged delete the primary store does not reflect.
                v.lost.push(entity.clone());
            }
            Some(want) => {
                if want.version() < entry.version {
                    // The primary store is behind a version it acknowledged.
                    v.lost.push(entity.clone());
                    continue;
                }
                match held.get(entity) {
                    None => v.lost.push(entity.clone()),
                    Some(got) if got.version() < want.version() => v.stale.push(entity.clone()),
                    Some(_) => {}
                }
            }
            None => {
                // Not projected: deleted, or its user or product was. Then the primary store
                // must not have lost it unless someone deleted it.
                if !entry.delete_tried && primary_version(&**primary, entity).await.is_none() {
                    v.lost.push(entity.clone());
                }
            }
        }
    }
    let mut extra: Vec<EntityRef> = held
        .keys()
        .filter(|e| !expected.contains_key(*e))
        .cloned()
        .collect();
    extra.sort();
    v.extra = extra;

    let nodes: HashSet<&EntityRef> = held.keys().collect();
    let node = |kind, id: String| nodes.contains(&EntityRef { kind, id });
    let mut held_sorted: Vec<(&EntityRef, &GraphRecord)> = held.iter().collect();
    held_sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (entity, record) in held_sorted {
        match record {
            GraphRecord::Order(o) => {
                let products: HashSet<ProductId> = o.items.iter().map(|i| i.product).collect();
                // An order the graph should not hold at all is extra, not doubled.
                let too_many = match expected.get(entity) {
                    Some(GraphRecord::Order(want)) => o.items.len() > want.items.len(),
                    _ => false,
                };
                if products.len() < o.items.len() || too_many {
                    v.doubled.push(entity.clone());
                }
                let missing_product = o
                    .items
                    .iter()
                    .any(|i| !node(EntityKind::Product, i.product.to_string()));
                if !node(EntityKind::User, o.user.to_string()) || missing_product {
                    v.dangling.push(entity.clone());
                }
            }
            GraphRecord::Review(r)
                if !node(EntityKind::User, r.user.to_string())
                    || !node(EntityKind::Product, r.product.to_string()) =>
            {
                v.dangling.push(entity.clone());
            }
            _ => {}
        }
    }

    let drift = must(
        Reconciler::new(Arc::clone(primary), Arc::clone(graph))
            .check()
            .await,
        "check",
    );
    v.drift = drift.drift_total;
    v
}
