//! Acknowledgements under document locks (FerretDB): a few statements per kind instead of
//! four per entity.

use std::collections::{BTreeMap, HashSet};

use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use swiftbox_core::{ChangeAck, EntityKind, Result};

use crate::lock::Fence;
use crate::MongoStore;

/// Acknowledgements of one kind per batched round of statements (see
/// [`MongoStore::ack_batched`]).
const ACK_CHUNK: usize = 500;

/// A filter on `_id`: equality for one id, `$in` for several. FerretDB's SQLite backend
/// pushes a filter down to SQL only when it is `_id` alone with one value; anything else (even
/// `{_id, version}`) reads the whole collection.
fn ids_filter<S: AsRef<str>>(ids: &[S]) -> Document {
    match ids {
        [one] => doc! { "_id": one.as_ref() },
        many => doc! { "_id": { "$in": many.iter().map(AsRef::as_ref).collect::<Vec<&str>>() } },
    }
}

impl MongoStore {
    /// Acknowledgements with document locks on (FerretDB), a few statements per kind instead
    /// of four per entity: lock every document at once (`insertMany`), read their versions
    /// (on `_id` alone when there is one document, see [`ids_filter`]), settle the live ones
    /// and purge the tombstones still at the acknowledged version with one `updateMany` and
    /// one `deleteMany`, release the locks. Holding the locks, nothing else writes these
    /// documents between the read and the writes, so the outcome is the one of the
    /// conditional statements of [`Self::ack_one_by_one`]; documents locked by someone else
    /// are acknowledged one by one afterwards (waiting for their locks). Should the batch
    /// outlive its locks' lease and another writer take one over, the writes are fenced (see
    /// `crate::lock`): a document written since the read is left owed, and the call fails
    /// with a retryable error.
    ///
    /// Why: on FerretDB every filter other than `_id` alone reads the whole collection, so a
    /// worker round acknowledging n orders one by one costs 2n collection scans and 4n
    /// statements, and competes with the application's writes for FerretDB's single writer.
    pub(super) async fn ack_batched(&self, acks: &[ChangeAck]) -> Result<()> {
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
        let batch = self
            .try_lock_many(kind, &ids)
            .await
            .map_err(|e| crate::error::map(kind, e))?;
        let locked = batch.ids.clone();
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
        let result = self
            .settle_locked(kind, &locked, &wanted, batch.fence())
            .await;
        if !self.release_many(kind, batch).await {
            tracing::warn!(kind = %kind, "document locks taken over during a batched acknowledgement; its writes were fenced");
            return Err(crate::error::map(
                kind,
                mongodb::error::Error::custom(crate::error::LockLost),
            ));
        }
        result?;
        Ok(left)
    }

    /// The writes of [`Self::ack_chunk`] on documents this store holds the locks of.
    async fn settle_locked(
        &self,
        kind: EntityKind,
        locked: &[String],
        wanted: &[(&str, i64)],
        fence: Fence,
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
        #[cfg(feature = "test-hooks")]
        self.hook(crate::hooks::LockPoint::BatchRead {
            keys: locked.iter().map(|id| format!("{kind}:{id}")).collect(),
        })
        .await;
        // Fenced: a document a newer lock holder wrote since the read above (this batch's
        // locks were taken over) is left alone.
        if !purge.is_empty() {
            self.run(kind, coll.delete_many(fence.filter(ids_filter(&purge))))
                .await?;
        }
        for (version, ids) in settle {
            self.run(
                kind,
                coll.update_many(
                    fence.filter(ids_filter(&ids)),
                    fence.update(doc! {
                        "$set": { "synced_version": version, "attempts": 0_i64, "set_aside": false },
                        "$unset": { "owed_since": "", "last_error": "", "failed_at": "" },
                    }),
                ),
            )
            .await?;
        }
        Ok(())
    }
}
