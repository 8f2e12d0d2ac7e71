//! [`SyncLedger`] for [`MongoStore`]: owed changes read from the sync fields, acknowledgements
//! and failures written back to them.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Document};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    ChangeAck, EntityKind, EntityRef, Error, FailureRecord, GraphChange, GraphRecord, OwedChange,
    OwedQuery, PageRequest, Partitions, Result, SetAsideQuery, SyncStats,
};

use super::changes::SyncDoc;
use crate::model::{from_bson_date, from_document, to_bson_date};
use crate::MongoStore;

/// Longest `last_error` kept, in bytes.
const MAX_ERROR_LEN: usize = 2000;

/// The `bucket` condition selecting `partitions` (`None`: all of them): `$mod` for one
/// partition, `$in` of their buckets for several (see [`Partitions::buckets`]).
fn bucket_filter(partitions: &Partitions) -> Option<Document> {
    if partitions.is_all() {
        return None;
    }
    let count = i64::from(partitions.count());
    Some(match partitions.indexes() {
        [index] => doc! { "$mod": [count, i64::from(*index)] },
        _ => doc! { "$in": partitions.buckets().into_iter().map(i64::from).collect::<Vec<i64>>() },
    })
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
    if let Some(buckets) = bucket_filter(&query.partitions) {
        f.insert("bucket", buckets);
    }
    f
}

/// The filter of [`SyncLedger::set_aside_changes`], and its sort.
fn set_aside_filter(query: &SetAsideQuery) -> (Document, Document) {
    let mut f = doc! { "owed_since": { "$exists": true }, "set_aside": true };
    if let Some(buckets) = bucket_filter(&query.partitions) {
        f.insert("bucket", buckets);
    }
    match query.due_at {
        Some(at) => {
            f.insert("retry_at", doc! { "$lte": to_bson_date(at) });
            (f, doc! { "retry_at": 1, "_id": 1 })
        }
        None => (f, doc! { "owed_since": 1, "_id": 1 }),
    }
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

impl MongoStore {
    /// Each acknowledgement as its own conditional delete and update (under the document's
    /// lock when locks are on).
    pub(super) async fn ack_one_by_one(&self, acks: &[ChangeAck]) -> Result<()> {
        for ack in acks {
            let coll = self.coll(ack.entity.kind);
            let version = i64::try_from(ack.version).unwrap_or(i64::MAX);
            let id = ack.entity.id.as_str();
            let coll = &coll;
            self.run_locked(ack.entity.kind, id, |fence| async move {
                // A tombstone at this version is purged; a live entity at it is settled.
                coll.delete_one(fence.filter(
                    doc! { "_id": &id, "version": version, "deleted": true },
                ))
                .await?;
                coll.update_one(
                    fence.filter(doc! { "_id": &id, "version": version, "deleted": false }),
                    fence.update(doc! {
                        "$set": { "synced_version": version, "attempts": 0_i64, "set_aside": false },
                        "$unset": { "owed_since": "", "last_error": "", "failed_at": "" },
                    }),
                )
                .await
            })
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl SyncLedger for MongoStore {
    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn owed_changes(&self, query: &OwedQuery) -> Result<Vec<OwedChange>> {
        query.validate()?;
        if query.partitions.is_empty() {
            return Ok(Vec::new());
        }
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
            (a.owed_since, a.entity.kind.rank(), &a.entity.id).cmp(&(
                b.owed_since,
                b.entity.kind.rank(),
                &b.entity.id,
            ))
        });
        all.truncate(query.limit);
        Ok(all)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(entity = %entity), err(Display))]
    async fn owed_change(&self, entity: &EntityRef) -> Result<Option<OwedChange>> {
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
    async fn ack_changes(&self, acks: &[ChangeAck]) -> Result<()> {
        if self.document_locks() {
            return self.ack_batched(acks).await;
        }
        self.ack_one_by_one(acks).await
    }

    #[tracing::instrument(level = "debug", skip(self, error), fields(entity = %entity), err(Display))]
    async fn record_sync_failure(
        &self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        set_aside_after: u32,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<FailureRecord> {
        let coll = self.coll(entity.kind);
        let v = i64::try_from(version).unwrap_or(i64::MAX);
        let id = entity.id.as_str();
        let coll = &coll;
        let now = to_bson_date(swiftbox_core::time::now());
        let message = truncate_error(error);
        let updated = self
            .run_locked(entity.kind, id, |fence| async move {
                coll.find_one_and_update(
                    fence.filter(
                        doc! { "_id": &id, "version": v, "owed_since": { "$exists": true } },
                    ),
                    fence.update(doc! {
                        "$inc": { "attempts": 1_i64 },
                        "$set": { "last_error": message, "failed_at": now },
                    }),
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
            let retry_at = retry_at.map_or(bson::Bson::Null, |t| to_bson_date(t).into());
            let res = self
                .run_locked(entity.kind, id, |fence| async move {
                    coll.update_one(
                        fence.filter(doc! {
                            "_id": &id, "version": v, "owed_since": { "$exists": true },
                            "set_aside": { "$ne": true },
                        }),
                        fence.update(
                            doc! { "$set": { "set_aside": true, "retries": 0_i64, "retry_at": retry_at } },
                        ),
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

    #[tracing::instrument(level = "debug", skip(self, error), fields(entity = %entity), err(Display))]
    async fn record_retry_failure(
        &self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<u32> {
        let coll = self.coll(entity.kind);
        let v = i64::try_from(version).unwrap_or(i64::MAX);
        let id = entity.id.clone();
        let now = to_bson_date(swiftbox_core::time::now());
        let retry_at = retry_at.map_or(bson::Bson::Null, |t| to_bson_date(t).into());
        let message = truncate_error(error);
        let updated = self
            .run_locked(entity.kind, &id, |fence| {
                coll.find_one_and_update(
                    fence.filter(doc! {
                        "_id": &id, "version": v, "owed_since": { "$exists": true },
                        "set_aside": true,
                    }),
                    fence.update(doc! {
                        "$inc": { "retries": 1_i64 },
                        "$set": { "last_error": message, "failed_at": now, "retry_at": retry_at },
                    }),
                )
                .return_document(mongodb::options::ReturnDocument::After)
            })
            .await?;
        let Some(d) = updated else { return Ok(0) };
        let meta: SyncDoc = from_document(entity.kind, d)?;
        Ok(u32::try_from(meta.retries).unwrap_or(u32::MAX))
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn set_aside_changes(&self, query: &SetAsideQuery) -> Result<Vec<OwedChange>> {
        query.validate()?;
        if query.partitions.is_empty() {
            return Ok(Vec::new());
        }
        let (filter, sort) = set_aside_filter(query);
        let limit = i64::try_from(query.limit).unwrap_or(10_000);
        let mut all = Vec::new();
        for kind in EntityKind::ALL {
            let coll = self.coll(kind);
            let (f, s) = (filter.clone(), sort.clone());
            let docs: Vec<Document> = self
                .run(kind, async {
                    coll.find(f).sort(s).limit(limit).await?.try_collect().await
                })
                .await?;
            all.extend(self.owed_from_docs(kind, docs).await?);
        }
        let key = |c: &OwedChange| {
            let first = if query.due_at.is_some() {
                c.retry_at
            } else {
                Some(c.owed_since)
            };
            (first, c.entity.kind.rank(), c.entity.id.clone())
        };
        all.sort_by_key(key);
        all.truncate(query.limit);
        Ok(all)
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn release_set_aside(&self, entity: Option<&EntityRef>) -> Result<u64> {
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
                    .run_locked(kind, id, |fence| {
                        coll.update_one(
                            fence.filter(doc! { "_id": id, "set_aside": true }),
                            fence
                                .update(doc! { "$set": { "set_aside": false, "attempts": 0_i64 } }),
                        )
                    })
                    .await?;
                released += res.modified_count;
            }
        }
        Ok(released)
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn sync_stats(&self) -> Result<SyncStats> {
        let mut stats = SyncStats::default();
        let mut last_failure: Option<(bson::DateTime, String)> = None;
        for kind in EntityKind::ALL {
            let coll = self.coll(kind);
            let (live, owed, set_aside, oldest, oldest_aside, failed) = self
                .run(kind, async {
                    let live = coll.count_documents(doc! { "deleted": false }).await?;
                    let owed = coll
                        .count_documents(doc! { "owed_since": { "$exists": true } })
                        .await?;
                    let set_aside = coll.count_documents(doc! { "set_aside": true }).await?;
                    let oldest_aside = if set_aside == 0 {
                        None
                    } else {
                        coll.find_one(doc! { "set_aside": true, "owed_since": { "$exists": true } })
                            .sort(doc! { "owed_since": 1, "_id": 1 })
                            .projection(doc! { "owed_since": 1 })
                            .await?
                    };
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
                    Ok((live, owed, set_aside, oldest, oldest_aside, failed))
                })
                .await?;
            stats.entities.insert(kind, live);
            stats.owed += owed;
            stats.set_aside += set_aside;
            if let Some(t) = oldest.and_then(|d| d.get_datetime("owed_since").ok().copied()) {
                let t = from_bson_date(t);
                stats.oldest_owed = Some(stats.oldest_owed.map_or(t, |o| o.min(t)));
            }
            if let Some(t) = oldest_aside.and_then(|d| d.get_datetime("owed_since").ok().copied()) {
                let t = from_bson_date(t);
                stats.oldest_set_aside = Some(stats.oldest_set_aside.map_or(t, |o| o.min(t)));
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
    async fn expected_graph(
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
        q.partitions = Partition { index: 3, count: 8 }.into();
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
}
