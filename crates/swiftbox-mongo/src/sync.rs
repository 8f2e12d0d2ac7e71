//! Sync bookkeeping inside each entity's document, so a write and the change it owes the
//! graph are one single-document update (no transactions needed; FerretDB and standalone
//! MongoDB have none).
//!
//! Fields next to the entity's own:
//!
//! | field | meaning |
//! |---|---|
//! | `version` | bumped (`$inc`) by every write |
//! | `synced_version` | the version the graph acknowledged (0: never) |
//! | `owed_since` | present while the graph owes a change: the time of the first unacknowledged write (`$min`, so later writes keep it) |
//! | `attempts`, `last_error`, `failed_at` | failed applies of the current version |
//! | `set_aside` | the change is poison until the entity is written again or released |
//! | `bucket` | [`swiftbox_core::primary::sync_bucket`] of the id, for [`Partition`] queries (`$mod`) |
//! | `deleted` | a tombstone: unique keys released, purged when the graph acknowledges it |
//!
//! Every write sets `attempts: 0, set_aside: false` (a new version is a new chance) and keeps
//! `last_error` until acknowledged, so status reports still show why the entity was stuck.
//! An acknowledgement is a conditional update on `{_id, version}` (a tombstone: a conditional
//! delete), so a write that raced the graph apply keeps its owed marker.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Document};
use serde::Deserialize;
use swiftbox_core::primary::sync_bucket;
use swiftbox_core::{
    changes, ChangeAck, EntityKind, EntityRef, Error, FailureRecord, GraphChange, GraphRecord,
    OwedChange, OwedQuery, PageRequest, ProductId, Result, SyncStats,
};

use crate::model::{
    from_bson_date, from_document, to_bson_date, version_from_i64, CategoryDoc, OrderDoc,
    ProductDoc, ReviewDoc, UserDoc,
};
use crate::MongoStore;

/// Acknowledgements of one kind per batched round of statements (see
/// [`MongoStore::ack_batched`]).
const ACK_CHUNK: usize = 500;

/// A filter on `_id`: equality for one id, `$in` for several. FerretDB's SQLite backend
/// pushes a filter down to SQL only when it is `_id` alone with one value; anything else (even
/// `{_id, version}`) reads the whole collection, which made a single acknowledgement cost about
/// two thirds of an inline write (issue 8, figure 2).
fn ids_filter<S: AsRef<str>>(ids: &[S]) -> Document {
    match ids {
        [one] => doc! { "_id": one.as_ref() },
        many => doc! { "_id": { "$in": many.iter().map(AsRef::as_ref).collect::<Vec<&str>>() } },
    }
}

/// Longest `last_error` kept, in bytes.
const MAX_ERROR_LEN: usize = 2000;

/// The sync fields of a freshly inserted entity (version 1 lives in the entity's own fields).
pub(crate) fn new_entity_fields(id: &str, now: DateTime<Utc>) -> Document {
    doc! {
        "synced_version": 0_i64,
        "owed_since": to_bson_date(now),
        "attempts": 0_i64,
        "set_aside": false,
        "bucket": i64::from(sync_bucket(id)),
        "deleted": false,
    }
}

/// An update for one write: `$set` of `set`, `$inc` of `inc` plus the version bump, the owed
/// marker kept at its earliest, failure counters reset.
pub(crate) fn write_update(mut set: Document, mut inc: Document, now: DateTime<Utc>) -> Document {
    set.insert("attempts", 0_i64);
    set.insert("set_aside", false);
    inc.insert("version", 1_i64);
    doc! {
        "$set": set,
        "$inc": inc,
        "$min": { "owed_since": to_bson_date(now) },
    }
}

impl MongoStore {
    /// One write of a live entity (`$set` of `set` plus the bookkeeping of
    /// [`write_update`]), under its lock; the document as it is afterwards, or NotFound.
    pub(crate) async fn write_live(
        &self,
        kind: EntityKind,
        id: &str,
        set: Document,
    ) -> Result<Document> {
        let update = write_update(set, doc! {}, swiftbox_core::time::now());
        self.run_locked(
            kind,
            id,
            self.coll(kind)
                .find_one_and_update(live(id), update)
                .return_document(mongodb::options::ReturnDocument::After),
        )
        .await?
        .ok_or_else(|| Error::not_found(kind, id))
    }

    /// Deletes a live entity by leaving a tombstone: `deleted: true` and `set` (its unique
    /// keys replaced by [`crate::model::tombstone_key`]), `unset` fields dropped, version
    /// bumped and the delete owed to the graph. NotFound when there is no live entity.
    pub(crate) async fn tombstone(
        &self,
        kind: EntityKind,
        id: &str,
        mut set: Document,
        unset: Option<Document>,
    ) -> Result<()> {
        set.insert("deleted", true);
        let mut update = write_update(set, doc! {}, swiftbox_core::time::now());
        if let Some(u) = unset {
            update.insert("$unset", u);
        }
        let res = self
            .run_locked(kind, id, self.coll(kind).update_one(live(id), update))
            .await?;
        if res.matched_count == 0 {
            return Err(Error::not_found(kind, id));
        }
        Ok(())
    }
}

/// The filter of a live entity.
pub(crate) fn live(id: &str) -> Document {
    doc! { "_id": id, "deleted": false }
}

/// What the sync queries read of any entity document.
#[derive(Debug, Deserialize)]
pub(crate) struct SyncDoc {
    #[serde(rename = "_id")]
    pub(crate) id: String,
    pub(crate) version: i64,
    #[serde(default)]
    pub(crate) owed_since: Option<bson::DateTime>,
    #[serde(default)]
    pub(crate) attempts: i64,
    #[serde(default)]
    pub(crate) last_error: Option<String>,
    #[serde(default)]
    pub(crate) set_aside: bool,
    #[serde(default)]
    pub(crate) deleted: bool,
}

fn owed_filter(query: &OwedQuery) -> Document {
    let mut f = doc! { "owed_since": { "$exists": true } };
    if let Some(before) = query.owed_before {
        f.insert(
            "owed_since",
            doc! { "$exists": true, "$lt": to_bson_date(before) },
        );
    }
    if !query.include_set_aside {
        f.insert("set_aside", doc! { "$ne": true });
    }
    if query.partition.count > 1 {
        f.insert(
            "bucket",
            doc! { "$mod": [i64::from(query.partition.count), i64::from(query.partition.index)] },
        );
    }
    f
}

fn truncate_error(e: &str) -> String {
    if e.len() <= MAX_ERROR_LEN {
        return e.to_owned();
    }
    let mut end = MAX_ERROR_LEN;
    while !e.is_char_boundary(end) {
        end -= 1;
    }
    e[..end].to_owned()
}

fn kind_rank(kind: EntityKind) -> usize {
    EntityKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(usize::MAX)
}

impl MongoStore {
    /// Ids among `ids` of live entities of `kind`.
    pub(crate) async fn live_ids(
        &self,
        kind: EntityKind,
        ids: HashSet<String>,
    ) -> Result<HashSet<String>> {
        let ids: Vec<String> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let coll = self.coll(kind);
        let docs: Vec<Document> = self
            .run(kind, async {
                coll.find(doc! { "_id": { "$in": ids }, "deleted": false })
                    .projection(doc! { "_id": 1 })
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        Ok(docs
            .into_iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect())
    }

    /// The graph changes for live documents of one kind (orders and reviews need their users'
    /// and products' liveness, looked up in two queries for the whole batch).
    async fn changes_for(&self, kind: EntityKind, docs: Vec<Document>) -> Result<Vec<GraphChange>> {
        match kind {
            EntityKind::User => docs
                .into_iter()
                .map(|d| {
                    let (u, _) = from_document::<UserDoc>(kind, d)?.into_user()?;
                    Ok(GraphChange::Upsert(changes::user_record(&u)))
                })
                .collect(),
            EntityKind::Category => docs
                .into_iter()
                .map(|d| {
                    let c = from_document::<CategoryDoc>(kind, d)?.into_category()?;
                    Ok(GraphChange::Upsert(changes::category_record(&c)))
                })
                .collect(),
            EntityKind::Product => docs
                .into_iter()
                .map(|d| {
                    let p = from_document::<ProductDoc>(kind, d)?.into_product()?;
                    Ok(GraphChange::Upsert(changes::product_record(&p)))
                })
                .collect(),
            EntityKind::Order => {
                let orders = docs
                    .into_iter()
                    .map(|d| from_document::<OrderDoc>(kind, d)?.into_order())
                    .collect::<Result<Vec<_>>>()?;
                let users = self
                    .live_ids(
                        EntityKind::User,
                        orders.iter().map(|o| o.user.to_canonical()).collect(),
                    )
                    .await?;
                let products = self
                    .live_ids(
                        EntityKind::Product,
                        orders
                            .iter()
                            .flat_map(|o| o.items.iter().map(|i| i.product.to_canonical()))
                            .collect(),
                    )
                    .await?;
                Ok(orders
                    .iter()
                    .map(|o| {
                        changes::order_change(
                            o,
                            users.contains(&o.user.to_canonical()),
                            |p: &ProductId| products.contains(&p.to_canonical()),
                        )
                    })
                    .collect())
            }
            EntityKind::Review => {
                let reviews = docs
                    .into_iter()
                    .map(|d| from_document::<ReviewDoc>(kind, d)?.into_review())
                    .collect::<Result<Vec<_>>>()?;
                let users = self
                    .live_ids(
                        EntityKind::User,
                        reviews.iter().map(|r| r.user.to_canonical()).collect(),
                    )
                    .await?;
                let products = self
                    .live_ids(
                        EntityKind::Product,
                        reviews.iter().map(|r| r.product.to_canonical()).collect(),
                    )
                    .await?;
                Ok(reviews
                    .iter()
                    .map(|r| {
                        changes::review_change(
                            r,
                            users.contains(&r.user.to_canonical()),
                            products.contains(&r.product.to_canonical()),
                        )
                    })
                    .collect())
            }
        }
    }

    /// Owed changes of one kind from owed documents, in the documents' order.
    async fn owed_from_docs(
        &self,
        kind: EntityKind,
        docs: Vec<Document>,
    ) -> Result<Vec<OwedChange>> {
        let mut metas = Vec::with_capacity(docs.len());
        let mut live_docs = Vec::new();
        for d in docs {
            let meta: SyncDoc = from_document(kind, d.clone())?;
            if !meta.deleted {
                live_docs.push(d);
            }
            metas.push(meta);
        }
        let mut live_changes = self.changes_for(kind, live_docs).await?.into_iter();
        let mut out = Vec::with_capacity(metas.len());
        for meta in metas {
            let entity = EntityRef::new(kind, &meta.id);
            let version = version_from_i64(meta.version);
            let change = if meta.deleted {
                changes::delete_change(entity.clone(), version)
            } else {
                live_changes.next().ok_or_else(|| {
                    Error::backend(crate::error::STORE, "owed change lookup lost a document")
                })?
            };
            out.push(OwedChange {
                entity,
                version,
                change,
                owed_since: meta.owed_since.map(from_bson_date).unwrap_or_default(),
                attempts: u32::try_from(meta.attempts).unwrap_or(u32::MAX),
                last_error: meta.last_error,
                set_aside: meta.set_aside,
            });
        }
        Ok(out)
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    pub(crate) async fn owed_changes_impl(&self, query: &OwedQuery) -> Result<Vec<OwedChange>> {
        query.validate()?;
        let filter = owed_filter(query);
        let limit = i64::try_from(query.limit).unwrap_or(10_000);
        let mut all = Vec::new();
        for kind in EntityKind::ALL {
            let coll = self.coll(kind);
            let f = filter.clone();
            let docs: Vec<Document> = self
                .run(kind, async {
                    coll.find(f)
                        .sort(doc! { "owed_since": 1, "_id": 1 })
                        .limit(limit)
                        .await?
                        .try_collect()
                        .await
                })
                .await?;
            all.extend(self.owed_from_docs(kind, docs).await?);
        }
        all.sort_by(|a, b| {
            (a.owed_since, kind_rank(a.entity.kind), &a.entity.id).cmp(&(
                b.owed_since,
                kind_rank(b.entity.kind),
                &b.entity.id,
            ))
        });
        all.truncate(query.limit);
        Ok(all)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(entity = %entity), err(Display))]
    pub(crate) async fn owed_change_impl(&self, entity: &EntityRef) -> Result<Option<OwedChange>> {
        let coll = self.coll(entity.kind);
        let id = entity.id.clone();
        let found = self
            .run(entity.kind, async {
                coll.find_one(doc! { "_id": id, "owed_since": { "$exists": true } })
                    .await
            })
            .await?;
        match found {
            None => Ok(None),
            Some(d) => Ok(self.owed_from_docs(entity.kind, vec![d]).await?.pop()),
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(acks = acks.len()), err(Display))]
    pub(crate) async fn ack_changes_impl(&self, acks: &[ChangeAck]) -> Result<()> {
        if self.document_locks() {
            return self.ack_batched(acks).await;
        }
        self.ack_one_by_one(acks).await
    }

    /// Each acknowledgement as its own conditional delete and update (under the document's
    /// lock when locks are on).
    async fn ack_one_by_one(&self, acks: &[ChangeAck]) -> Result<()> {
        for ack in acks {
            let coll = self.coll(ack.entity.kind);
            let version = i64::try_from(ack.version).unwrap_or(i64::MAX);
            let id = ack.entity.id.clone();
            self.run_locked(ack.entity.kind, &id, async {
                // A tombstone at this version is purged; a live entity at it is settled.
                coll.delete_one(doc! { "_id": &id, "version": version, "deleted": true })
                    .await?;
                coll.update_one(
                    doc! { "_id": &id, "version": version, "deleted": false },
                    doc! {
                        "$set": { "synced_version": version, "attempts": 0_i64, "set_aside": false },
                        "$unset": { "owed_since": "", "last_error": "", "failed_at": "" },
                    },
                )
                .await
            })
            .await?;
        }
        Ok(())
    }

    /// Acknowledgements with document locks on (FerretDB), a few statements per kind instead
    /// of four per entity, every filter on `_id` alone when there is one document (see
    /// [`ids_filter`]): lock every document at once (`insertMany`), read their versions,
    /// settle the live ones and purge the tombstones still at the acknowledged version with
    /// one `updateMany` and one `deleteMany`, release the locks. Holding the locks, nothing
    /// else writes these documents between the read and the writes, so the outcome is the
    /// one of the conditional statements of [`Self::ack_one_by_one`]; documents locked by
    /// someone else are acknowledged one by one afterwards (waiting for their locks).
    ///
    /// Why: on FerretDB every filter other than `_id` alone reads the whole collection, so a
    /// worker round acknowledging n orders cost 2n collection scans and 4n statements, and
    /// competed with the application's writes for FerretDB's single writer (issue 8, figure 2).
    async fn ack_batched(&self, acks: &[ChangeAck]) -> Result<()> {
        let mut by_kind: Vec<(EntityKind, Vec<&ChangeAck>)> = Vec::new();
        for ack in acks {
            match by_kind.iter_mut().find(|(k, _)| *k == ack.entity.kind) {
                Some((_, list)) => list.push(ack),
                None => by_kind.push((ack.entity.kind, vec![ack])),
            }
        }
        let mut left: Vec<ChangeAck> = Vec::new();
        for (kind, list) in by_kind {
            for chunk in list.chunks(ACK_CHUNK) {
                left.extend(self.ack_chunk(kind, chunk).await?);
            }
        }
        self.ack_one_by_one(&left).await
    }

    /// One kind's chunk of [`Self::ack_batched`]; returns the acknowledgements it could not
    /// lock.
    async fn ack_chunk(&self, kind: EntityKind, chunk: &[&ChangeAck]) -> Result<Vec<ChangeAck>> {
        let ids: Vec<String> = chunk.iter().map(|a| a.entity.id.clone()).collect();
        let (token, locked) = self
            .try_lock_many(kind, &ids)
            .await
            .map_err(|e| crate::error::map(kind, e))?;
        let locked_set: HashSet<&str> = locked.iter().map(String::as_str).collect();
        let mut left = Vec::new();
        let mut wanted: Vec<(&str, i64)> = Vec::new();
        for ack in chunk {
            if locked_set.contains(ack.entity.id.as_str()) {
                wanted.push((
                    &ack.entity.id,
                    i64::try_from(ack.version).unwrap_or(i64::MAX),
                ));
            } else {
                left.push((*ack).clone());
            }
        }
        let result = self.settle_locked(kind, &locked, &wanted).await;
        self.release_many(kind, &token, &locked).await;
        result?;
        Ok(left)
    }

    /// The writes of [`Self::ack_chunk`] on documents this store holds the locks of.
    async fn settle_locked(
        &self,
        kind: EntityKind,
        locked: &[String],
        wanted: &[(&str, i64)],
    ) -> Result<()> {
        if locked.is_empty() {
            return Ok(());
        }
        let coll = self.coll(kind);
        let current: Vec<Document> = self
            .run(kind, async {
                coll.find(ids_filter(locked))
                    .projection(doc! { "version": 1, "deleted": 1 })
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        // Live documents to settle, by version (`synced_version` is set to it: one
        // `updateMany` per distinct version, as FerretDB has no pipeline updates).
        let mut settle: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        let mut purge: Vec<&str> = Vec::new();
        for d in &current {
            let (Ok(id), Ok(version)) = (d.get_str("_id"), d.get_i64("version")) else {
                continue;
            };
            let Some((id, _)) = wanted.iter().find(|(w, v)| *w == id && *v == version) else {
                continue;
            };
            if d.get_bool("deleted").unwrap_or(false) {
                purge.push(id);
            } else {
                settle.entry(version).or_default().push(id);
            }
        }
        if !purge.is_empty() {
            self.run(kind, coll.delete_many(ids_filter(&purge))).await?;
        }
        for (version, ids) in settle {
            self.run(
                kind,
                coll.update_many(
                    ids_filter(&ids),
                    doc! {
                        "$set": { "synced_version": version, "attempts": 0_i64, "set_aside": false },
                        "$unset": { "owed_since": "", "last_error": "", "failed_at": "" },
                    },
                ),
            )
            .await?;
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self, error), fields(entity = %entity), err(Display))]
    pub(crate) async fn record_sync_failure_impl(
        &self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        set_aside_after: u32,
    ) -> Result<FailureRecord> {
        let coll = self.coll(entity.kind);
        let v = i64::try_from(version).unwrap_or(i64::MAX);
        let id = entity.id.clone();
        let now = to_bson_date(swiftbox_core::time::now());
        let message = truncate_error(error);
        let updated = self
            .run_locked(entity.kind, &id, async {
                coll.find_one_and_update(
                    doc! { "_id": &id, "version": v, "owed_since": { "$exists": true } },
                    doc! {
                        "$inc": { "attempts": 1_i64 },
                        "$set": { "last_error": message, "failed_at": now },
                    },
                )
                // No projection: FerretDB 1.x does not implement findAndModify's `fields`.
                .return_document(mongodb::options::ReturnDocument::After)
                .await
            })
            .await?;
        let Some(d) = updated else {
            return Ok(FailureRecord::default());
        };
        let meta: SyncDoc = from_document(entity.kind, d)?;
        let attempts = u32::try_from(meta.attempts).unwrap_or(u32::MAX);
        let mut set_aside = meta.set_aside;
        // `set_aside_after == 0` means never (the conformance suite pins it).
        if !set_aside && set_aside_after > 0 && attempts >= set_aside_after {
            let res = self
                .run_locked(entity.kind, &id, async {
                    coll.update_one(
                        doc! { "_id": &id, "version": v, "owed_since": { "$exists": true } },
                        doc! { "$set": { "set_aside": true } },
                    )
                    .await
                })
                .await?;
            set_aside = res.matched_count == 1;
        }
        if set_aside {
            tracing::warn!(entity = %entity, version, attempts, "owed change set aside");
        }
        Ok(FailureRecord {
            attempts,
            set_aside,
        })
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    pub(crate) async fn release_set_aside_impl(&self, entity: Option<&EntityRef>) -> Result<u64> {
        let mut released = 0;
        for kind in EntityKind::ALL {
            let mut filter = doc! { "set_aside": true };
            match entity {
                Some(e) if e.kind != kind => continue,
                Some(e) => {
                    filter.insert("_id", e.id.clone());
                }
                None => {}
            }
            let coll = self.coll(kind);
            // One document at a time, each under its lock (see crate::lock).
            let ids: Vec<Document> = self
                .run(kind, async {
                    coll.find(filter)
                        .projection(doc! { "_id": 1 })
                        .await?
                        .try_collect()
                        .await
                })
                .await?;
            for d in ids {
                let Ok(id) = d.get_str("_id") else { continue };
                let res = self
                    .run_locked(
                        kind,
                        id,
                        coll.update_one(
                            doc! { "_id": id, "set_aside": true },
                            doc! { "$set": { "set_aside": false, "attempts": 0_i64 } },
                        ),
                    )
                    .await?;
                released += res.modified_count;
            }
        }
        Ok(released)
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    pub(crate) async fn sync_stats_impl(&self) -> Result<SyncStats> {
        let mut stats = SyncStats::default();
        let mut last_failure: Option<(bson::DateTime, String)> = None;
        for kind in EntityKind::ALL {
            let coll = self.coll(kind);
            let (live, owed, set_aside, oldest, failed) = self
                .run(kind, async {
                    let live = coll.count_documents(doc! { "deleted": false }).await?;
                    let owed = coll
                        .count_documents(doc! { "owed_since": { "$exists": true } })
                        .await?;
                    let set_aside = coll.count_documents(doc! { "set_aside": true }).await?;
                    let oldest = coll
                        .find_one(doc! { "owed_since": { "$exists": true } })
                        .sort(doc! { "owed_since": 1, "_id": 1 })
                        .projection(doc! { "owed_since": 1 })
                        .await?;
                    let failed = coll
                        .find_one(doc! {
                            "owed_since": { "$exists": true },
                            "failed_at": { "$exists": true },
                        })
                        .sort(doc! { "failed_at": -1 })
                        .projection(doc! { "failed_at": 1, "last_error": 1 })
                        .await?;
                    Ok((live, owed, set_aside, oldest, failed))
                })
                .await?;
            stats.entities.insert(kind, live);
            stats.owed += owed;
            stats.set_aside += set_aside;
            if let Some(t) = oldest.and_then(|d| d.get_datetime("owed_since").ok().copied()) {
                let t = from_bson_date(t);
                stats.oldest_owed = Some(stats.oldest_owed.map_or(t, |o| o.min(t)));
            }
            if let Some(d) = failed {
                if let (Ok(at), Ok(err)) = (d.get_datetime("failed_at"), d.get_str("last_error")) {
                    if last_failure.as_ref().is_none_or(|(t, _)| at > t) {
                        last_failure = Some((*at, err.to_owned()));
                    }
                }
            }
        }
        stats.last_error = last_failure.map(|(_, e)| e);
        Ok(stats)
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    pub(crate) async fn expected_graph_impl(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>> {
        if limit == 0 || limit > 10_000 {
            return Err(Error::invalid("limit", "must be between 1 and 10000"));
        }
        if let Some(a) = after {
            // Compared as a literal value either way; refused so a typo is not an empty page.
            PageRequest::after(a, 1).validate()?;
        }
        let coll = self.coll(kind);
        let mut out = Vec::with_capacity(limit);
        let mut cursor = after.map(str::to_owned);
        // Orders and reviews whose user (or every product) is gone have no record: keep
        // reading until `limit` records or the end, so a short page always means the end.
        loop {
            let mut filter = doc! { "deleted": false };
            if let Some(a) = &cursor {
                filter.insert("_id", doc! { "$gt": a.as_str() });
            }
            let want = i64::try_from(limit - out.len()).unwrap_or(10_000);
            let docs: Vec<Document> = self
                .run(kind, async {
                    coll.find(filter)
                        .sort(doc! { "_id": 1 })
                        .limit(want)
                        .await?
                        .try_collect()
                        .await
                })
                .await?;
            let fetched = docs.len();
            cursor = docs
                .last()
                .and_then(|d| d.get_str("_id").ok())
                .map(str::to_owned);
            for change in self.changes_for(kind, docs).await? {
                if let GraphChange::Upsert(record) = change {
                    out.push(record);
                }
            }
            if out.len() >= limit || i64::try_from(fetched).unwrap_or(0) < want {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swiftbox_core::Partition;

    #[test]
    fn owed_filter_selects_partition_and_age() {
        let mut q = OwedQuery::oldest(10);
        q.partition = Partition { index: 3, count: 8 };
        q.owed_before = Some(swiftbox_core::time::now());
        let f = owed_filter(&q);
        assert!(f.get_document("bucket").is_ok());
        assert!(f.get_document("owed_since").unwrap().contains_key("$lt"));
        assert_eq!(
            f.get_document("set_aside").unwrap().get_bool("$ne"),
            Ok(true)
        );
        let all = owed_filter(&OwedQuery::oldest(1));
        assert!(!all.contains_key("bucket"));
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let e = "é".repeat(2000);
        let t = truncate_error(&e);
        assert!(t.len() <= MAX_ERROR_LEN && e.starts_with(&t));
    }

    #[test]
    fn writes_bump_version_and_keep_the_first_owed_time() {
        let u = write_update(doc! { "name": "x" }, doc! {}, swiftbox_core::time::now());
        assert_eq!(u.get_document("$inc").unwrap().get_i64("version"), Ok(1));
        assert!(u.get_document("$min").unwrap().contains_key("owed_since"));
        assert_eq!(
            u.get_document("$set").unwrap().get_bool("set_aside"),
            Ok(false)
        );
    }
}
