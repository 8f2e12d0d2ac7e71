//! [`Reconciler::check`] and [`Reconciler::repair`].

use std::collections::HashSet;
use std::fmt;

use swiftbox_core::prelude::*;
use swiftbox_core::{
    ApplyReport, CategoryId, ChangeAck, EntityKind, EntityRef, Error, GraphChange, GraphRecord,
    GraphStore, OrderId, ProductId, Result, ReviewId, UserId,
};

use super::merge::{MergeJoin, Pair};
use super::{Checked, Reconciler};
use crate::apply::apply_within;

/// Records seen on each side for one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindCounts {
    /// Records the primary store expects in the graph.
    pub expected: u64,
    /// Records found in the graph.
    pub found: u64,
}

/// How a graph record differs from the expected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleReason {
    /// The graph holds an older version (a change was not applied).
    OlderVersion,
    /// The graph holds a newer version than the primary store (written by hand).
    NewerVersion,
    /// Same version, different content (written by hand, or a backend bug).
    Content,
}

/// An entity whose graph record differs from what the primary store expects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StaleRecord {
    /// What the graph should hold.
    pub expected: GraphRecord,
    /// What it holds.
    pub found: GraphRecord,
    /// How they differ.
    pub reason: StaleReason,
}

/// Drift between the graph and the primary store, entity by entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DriftReport {
    /// Entities the graph should hold and does not (with the expected record).
    pub missing: Vec<GraphRecord>,
    /// Entities in the graph the primary store does not expect (deleted, or never existed).
    pub extra: Vec<GraphRecord>,
    /// Entities whose graph record differs.
    pub stale: Vec<StaleRecord>,
    /// Records compared per kind.
    pub checked: std::collections::BTreeMap<EntityKind, KindCounts>,
    /// All drifted entities found, including those left out of a truncated report.
    pub drift_total: u64,
    /// True when more drift was found than [`super::ReconcilerConfig::max_report`] keeps.
    pub truncated: bool,
}

impl DriftReport {
    /// True when the graph holds exactly what the primary store expects.
    pub fn is_clean(&self) -> bool {
        self.drift_total == 0
    }

    /// Entries listed (missing + extra + stale).
    pub fn len(&self) -> usize {
        self.missing.len() + self.extra.len() + self.stale.len()
    }

    /// True when nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every listed entity, sorted.
    pub fn entities(&self) -> Vec<EntityRef> {
        let mut all: Vec<EntityRef> = self
            .missing
            .iter()
            .chain(&self.extra)
            .map(GraphRecord::entity)
            .chain(self.stale.iter().map(|s| s.expected.entity()))
            .collect();
        all.sort();
        all
    }
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (kind, c) in &self.checked {
            writeln!(
                f,
                "{:<10} expected {:>8}, found {:>8}",
                kind.as_str(),
                c.expected,
                c.found
            )?;
        }
        if self.is_clean() {
            return write!(f, "no drift");
        }
        for r in &self.missing {
            writeln!(
                f,
                "missing in graph: {} (version {})",
                r.entity(),
                r.version()
            )?;
        }
        for r in &self.extra {
            writeln!(
                f,
                "extra in graph:   {} (version {})",
                r.entity(),
                r.version()
            )?;
        }
        for s in &self.stale {
            writeln!(
                f,
                "stale in graph:   {} ({:?}: graph has version {}, expected {})",
                s.expected.entity(),
                s.reason,
                s.found.version(),
                s.expected.version()
            )?;
        }
        write!(f, "{} drifted entities", self.drift_total)?;
        if self.truncated {
            write!(f, " (report truncated to {})", self.len())?;
        }
        Ok(())
    }
}

/// The version of a deletion the reconciler writes again after undoing it by mistake (see
/// `restore_tombstoned`): ids are never reused, so a tombstone at the largest version a
/// backend stores (Neo4j integers are `i64`) rightly keeps out every later upsert of the
/// entity, also one a worker read before the deletion and applies after it.
const DELETED_FOR_GOOD: u64 = i64::MAX as u64;

/// What [`Reconciler::repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// Expected records written to the graph (missing and stale entities).
    pub upserted: u64,
    /// Records removed from the graph (extra entities, and stale ones the graph held at a newer
    /// version, removed before being written again).
    pub deleted: u64,
    /// Upserts the graph ignored as older than what it holds.
    pub ignored: u64,
    /// Upserts the graph deferred (a referenced node is missing); check again after the
    /// referenced entity is repaired or applied.
    pub deferred: Vec<EntityRef>,
}

impl<P: PrimaryBackend, G: GraphStore> Reconciler<P, G> {
    /// Some upserts of `chunk` were ignored as stale: entities the graph remembers deleting at
    /// their live version or later (a deletion written into the graph by hand). For those still
    /// live in the primary store, forget the graph's tombstone and write them again.
    ///
    /// A deletion that reaches the primary store (and the graph) between the liveness check and
    /// the write has its tombstone forgotten and its old state written back. So every entity
    /// written is checked again afterwards, and the ones no longer live are deleted again, for
    /// good ([`DELETED_FOR_GOOD`]). (Found by the soak's "resync under load": without the
    /// second check, one run in two left a deleted product or review in the graph.)
    pub(super) async fn restore_tombstoned(&self, chunk: &[GraphChange]) -> Result<ApplyReport> {
        let mut live = Vec::new();
        for change in chunk {
            if let GraphChange::Upsert(record) = change {
                if self.is_live(&record.entity()).await? {
                    live.push(change.clone());
                }
            }
        }
        let entities: Vec<EntityRef> = live.iter().map(GraphChange::entity).collect();
        let forgotten = match self.graph.forget_tombstones(&entities).await {
            Ok(0) => return Ok(ApplyReport::default()),
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(error = %err, "cannot forget graph tombstones; stale writes stay ignored");
                return Ok(ApplyReport::default());
            }
        };
        tracing::warn!(
            count = forgotten,
            "forgot graph tombstones of live entities"
        );
        let applied = apply_within(&*self.graph, &live, self.config.apply_timeout).await?;
        let mut undone = Vec::new();
        for change in &live {
            let entity = change.entity();
            if !self.is_live(&entity).await? {
                undone.push(GraphChange::Delete {
                    entity,
                    version: DELETED_FOR_GOOD,
                });
            }
        }
        if !undone.is_empty() {
            tracing::warn!(
                count = undone.len(),
                "entities deleted while their tombstones were restored; deleting them again"
            );
            apply_within(&*self.graph, &undone, self.config.apply_timeout).await?;
        }
        // Entities without a tombstone were written by the first call already; count only the
        // ones brought back.
        Ok(ApplyReport {
            applied: forgotten.min(applied.applied),
            ..applied
        })
    }

    /// Applies `changes` (restoring tombstoned live entities when some upserts were ignored)
    /// and acknowledges the upserts the graph did not defer; returns the graph's report and
    /// how many were acknowledged.
    pub(super) async fn write_and_ack(
        &self,
        changes: &[GraphChange],
    ) -> Result<(ApplyReport, u64)> {
        let applied = self.write(changes).await?;
        let acked = self.ack_written(changes, &applied).await?;
        Ok((applied, acked))
    }

    /// Applies `changes`, restoring tombstoned live entities when some upserts were ignored.
    pub(super) async fn write(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.write_as(changes, false).await
    }

    /// [`Self::write`], through [`GraphStore::apply_bulk`] when `bulk` (see
    /// [`Reconciler::resync`]).
    pub(super) async fn write_as(
        &self,
        changes: &[GraphChange],
        bulk: bool,
    ) -> Result<ApplyReport> {
        let mut applied =
            crate::apply::apply_within_as(&*self.graph, changes, self.config.apply_timeout, bulk)
                .await?;
        if applied.stale > 0 {
            let restored = self.restore_tombstoned(changes).await?;
            applied.applied += restored.applied;
            applied.stale = applied.stale.saturating_sub(restored.applied);
        }
        Ok(applied)
    }

    /// Acknowledges the upserts of `changes` that the graph did not defer (`applied` is what
    /// writing them gave); returns how many.
    pub(super) async fn ack_written(
        &self,
        changes: &[GraphChange],
        applied: &ApplyReport,
    ) -> Result<u64> {
        let deferred: HashSet<&EntityRef> = applied.deferred.iter().collect();
        let acks: Vec<ChangeAck> = changes
            .iter()
            .filter(|c| matches!(c, GraphChange::Upsert(_)) && !deferred.contains(&c.entity()))
            .map(|c| ChangeAck {
                entity: c.entity(),
                version: c.version(),
            })
            .collect();
        if !acks.is_empty() {
            self.primary.ack_changes(&acks).await?;
        }
        Ok(acks.len() as u64)
    }

    async fn is_live(&self, entity: &EntityRef) -> Result<bool> {
        Ok(self.live_version(entity).await?.is_some())
    }

    /// The entity's version in the primary store now, `None` when it is not live there.
    async fn live_version(&self, entity: &EntityRef) -> Result<Option<u64>> {
        let p = &*self.primary;
        let id = entity.id.as_str();
        let found = match entity.kind {
            EntityKind::User => p.get_user(&UserId::parse(id)?).await.map(|e| e.version),
            EntityKind::Category => p
                .get_category(&CategoryId::parse(id)?)
                .await
                .map(|e| e.version),
            EntityKind::Product => p
                .get_product(&ProductId::parse(id)?)
                .await
                .map(|e| e.version),
            EntityKind::Order => p.get_order(&OrderId::parse(id)?).await.map(|e| e.version),
            EntityKind::Review => p.get_review(&ReviewId::parse(id)?).await.map(|e| e.version),
        };
        match found {
            Ok(v) => Ok(Some(v)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the graph record `found` (listed as extra, or as newer than expected) is still
    /// drift once the primary store is asked again. A record the primary store now holds at
    /// `found`'s version or later is a write that landed while the two sides were read (the
    /// graph got it inline, and it was acknowledged): removing it would lose that write for
    /// good, since nothing is owed for it any more. An order or review still live whose user
    /// or product deletion is owed is left to that deletion, which removes its relationships.
    pub(super) async fn still_drift(&self, found: &GraphRecord) -> Result<bool> {
        match self.live_version(&found.entity()).await? {
            Some(v) if v >= found.version() => {
                tracing::info!(entity = %found.entity(), version = v, "written meanwhile; not removed");
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    /// Finds drift entity by entity (see [`DriftReport`]), reading both sides kind by kind in id
    /// order, [`super::ReconcilerConfig::batch_size`] records at a time.
    #[tracing::instrument(name = "reconciler.check", skip_all)]
    pub async fn check(&self) -> Result<DriftReport> {
        let mut report = DriftReport::default();
        let mut checked = Checked::new();
        for kind in EntityKind::ALL {
            let counts = checked.entry(kind).or_default();
            let mut join = MergeJoin::new(
                &*self.primary,
                &*self.graph,
                kind,
                None,
                self.config.batch_size,
            );
            while let Some((_, pair)) = join.next().await? {
                let room = report.len() < self.config.max_report;
                match pair {
                    Pair::Both { expected, found } => {
                        counts.expected += 1;
                        counts.found += 1;
                        if expected == found {
                            continue;
                        }
                        let reason = match found.version().cmp(&expected.version()) {
                            std::cmp::Ordering::Less => StaleReason::OlderVersion,
                            std::cmp::Ordering::Greater => StaleReason::NewerVersion,
                            std::cmp::Ordering::Equal => StaleReason::Content,
                        };
                        tracing::info!(entity = %expected.entity(), ?reason, "stale in graph");
                        if room {
                            report.stale.push(StaleRecord {
                                expected,
                                found,
                                reason,
                            });
                        }
                    }
                    Pair::Missing(expected) => {
                        counts.expected += 1;
                        tracing::info!(entity = %expected.entity(), "missing in graph");
                        if room {
                            report.missing.push(expected);
                        }
                    }
                    Pair::Extra(found) => {
                        counts.found += 1;
                        tracing::info!(entity = %found.entity(), "extra in graph");
                        if room {
                            report.extra.push(found);
                        }
                    }
                }
                report.drift_total += 1;
                report.truncated |= !room;
            }
        }
        report.checked = checked;
        tracing::info!(drift = report.drift_total, "check done");
        Ok(report)
    }

    /// Fixes exactly the drift `report` lists: removes extra entities (a delete at the version
    /// the graph holds), and writes the expected record of missing and stale entities. A stale
    /// entity the graph holds at a *newer* version than the primary store is removed first (the
    /// graph would ignore the older expected record otherwise); removing a user or product
    /// node also removes its relationships, so check again afterwards in that case.
    /// Acknowledges the written versions to the primary store (a no-op unless they are the
    /// current ones). Removals are checked against the primary store first: a record it now
    /// holds at the graph's version or later was written after the check and is left alone.
    #[tracing::instrument(name = "reconciler.repair", skip_all, fields(entries = report.len()))]
    pub async fn repair(&self, report: &DriftReport) -> Result<RepairReport> {
        let mut out = RepairReport::default();
        // A report is a snapshot: re-check each removal against the primary store, so writes
        // acknowledged since the check are not undone.
        let mut deletes: Vec<GraphChange> = Vec::new();
        let mut written_meanwhile: HashSet<EntityRef> = HashSet::new();
        let newer = report
            .stale
            .iter()
            .filter(|s| s.reason == StaleReason::NewerVersion)
            .map(|s| &s.found);
        for r in report.extra.iter().chain(newer) {
            if self.still_drift(r).await? {
                deletes.push(GraphChange::Delete {
                    entity: r.entity(),
                    version: r.version(),
                });
            } else {
                written_meanwhile.insert(r.entity());
            }
        }
        for chunk in deletes.chunks(self.config.batch_size) {
            let applied = apply_within(&*self.graph, chunk, self.config.apply_timeout).await?;
            out.deleted += applied.applied;
            tracing::info!(count = applied.applied, "removed extra records");
        }
        let upserts: Vec<GraphChange> = report
            .missing
            .iter()
            .chain(report.stale.iter().map(|s| &s.expected))
            .filter(|r| !written_meanwhile.contains(&r.entity()))
            .cloned()
            .map(GraphChange::Upsert)
            .collect();
        for chunk in upserts.chunks(self.config.batch_size) {
            let (applied, _) = self.write_and_ack(chunk).await?;
            out.upserted += applied.applied;
            out.ignored += applied.stale;
            out.deferred.extend(applied.deferred);
            tracing::info!(
                count = applied.applied,
                deferred = out.deferred.len(),
                "wrote expected records"
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use chrono::{DateTime, Utc};
    use swiftbox_core::memory::{MemoryGraph, MemoryStore};
    use swiftbox_core::{
        changes, GraphCounts, NewUser, PopularQuery, PurchaseRecord, Recommendation, ScoredProduct,
        SimilarUser, TrendingQuery, UserPatch,
    };

    use super::*;
    use crate::Synced;

    /// A report taken before a write landed must not make repair undo that write: the entity
    /// is live in the primary store at the version the graph holds, and already acknowledged,
    /// so nothing would ever bring it back.
    #[tokio::test]
    async fn repair_leaves_alone_what_was_written_after_the_check() {
        let store = Synced::new(MemoryStore::new(), MemoryGraph::new());
        let reconciler = store.reconciler();
        let ann = store
            .create_user(NewUser::new("ann", "ann@example.com"))
            .await
            .unwrap();
        let old_ann = changes::user_record(&ann);
        // The check ran before "bob" was created and before ann's update...
        let report_before = reconciler.check().await.unwrap();
        assert!(report_before.is_clean(), "{report_before}");
        // ...which then landed, applied inline and acknowledged.
        let bob = store
            .create_user(NewUser::new("bob", "bob@example.com"))
            .await
            .unwrap();
        let ann = store
            .update_user(
                &ann.id,
                UserPatch {
                    email: Some("ann@example.org".into()),
                    ..UserPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(store.primary().sync_stats().await.unwrap().owed, 0);
        // What a check racing those writes reports: bob extra (the graph page was read after
        // he was applied, the primary page before he existed), ann newer in the graph.
        let raced = DriftReport {
            extra: vec![changes::user_record(&bob)],
            stale: vec![StaleRecord {
                expected: old_ann,
                found: changes::user_record(&ann),
                reason: StaleReason::NewerVersion,
            }],
            drift_total: 2,
            ..DriftReport::default()
        };
        reconciler.repair(&raced).await.unwrap();
        let after = reconciler.check().await.unwrap();
        assert!(
            after.is_clean(),
            "repair undid acknowledged writes:\n{after}"
        );
    }

    /// A graph whose first `records` call of users lets a user be created (through the
    /// decorator, so applied inline and acknowledged) just before it answers: the race of a
    /// resync or check whose primary page was read before the user existed.
    #[derive(Debug)]
    struct RacingGraph {
        inner: Arc<MemoryGraph>,
        store: Synced<MemoryStore, Arc<MemoryGraph>>,
        fired: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    #[deny(clippy::missing_trait_methods)]
    impl GraphStore for RacingGraph {
        async fn apply_bulk(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
            self.inner.apply_bulk(changes).await
        }

        async fn rebuild_projections(&self) -> Result<()> {
            self.inner.rebuild_projections().await
        }

        async fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
            self.inner.apply(changes).await
        }
        async fn record_view(&self, u: &UserId, p: &ProductId, at: DateTime<Utc>) -> Result<()> {
            self.inner.record_view(u, p, at).await
        }
        async fn recommendations_for(&self, u: &UserId, n: usize) -> Result<Vec<Recommendation>> {
            self.inner.recommendations_for(u, n).await
        }
        async fn also_bought(&self, p: &ProductId, n: usize) -> Result<Vec<ScoredProduct>> {
            self.inner.also_bought(p, n).await
        }
        async fn popular(&self, q: &PopularQuery) -> Result<Vec<ScoredProduct>> {
            self.inner.popular(q).await
        }
        async fn trending(&self, q: &TrendingQuery) -> Result<Vec<ScoredProduct>> {
            self.inner.trending(q).await
        }
        async fn purchase_history(&self, u: &UserId, n: usize) -> Result<Vec<PurchaseRecord>> {
            self.inner.purchase_history(u, n).await
        }
        async fn similar_users(&self, u: &UserId, n: usize) -> Result<Vec<SimilarUser>> {
            self.inner.similar_users(u, n).await
        }
        async fn records(
            &self,
            kind: EntityKind,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<GraphRecord>> {
            if kind == EntityKind::User && !self.fired.swap(true, Ordering::SeqCst) {
                self.store
                    .create_user(NewUser::new("dave", "dave@example.com"))
                    .await?;
            }
            self.inner.records(kind, after, limit).await
        }
        async fn counts(&self) -> Result<GraphCounts> {
            self.inner.counts().await
        }
        async fn ping(&self) -> Result<()> {
            self.inner.ping().await
        }
        async fn refresh_neighbours(
            &self,
            limit: usize,
        ) -> Result<swiftbox_core::NeighbourRefresh> {
            self.inner.refresh_neighbours(limit).await
        }
        async fn forget_tombstones(&self, entities: &[EntityRef]) -> Result<u64> {
            self.inner.forget_tombstones(entities).await
        }
    }

    /// The same race during a resync: a user applied (and acknowledged) after the primary's
    /// page was read shows up as extra; removing it would lose it for good.
    #[tokio::test]
    async fn resync_keeps_an_entity_written_during_the_run() {
        let graph = Arc::new(MemoryGraph::new());
        let store = Synced::new(MemoryStore::new(), Arc::clone(&graph));
        let racing = RacingGraph {
            inner: Arc::clone(&graph),
            store: store.clone(),
            fired: Default::default(),
        };
        let reconciler = Reconciler::new(Arc::clone(store.primary_arc()), Arc::new(racing));
        let report = reconciler.resync(None, |_| {}).await.unwrap();
        assert_eq!(
            store.primary().sync_stats().await.unwrap().owed,
            0,
            "dave was acknowledged"
        );
        let after = store.reconciler().check().await.unwrap();
        assert!(
            after.is_clean(),
            "resync removed a user written during the run ({report:?}):\n{after}"
        );
    }
}
