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
//! | `retries`, `retry_at` | while set aside: failed retries so far, and when a worker next retries it (null: retries used up); written afresh when a change is set aside, ignored otherwise |
//! | `bucket` | [`swiftbox_core::primary::sync_bucket`] of the id, for partition queries (`$mod` for one, `$in` of its buckets for a set) |
//! | `deleted` | a tombstone: unique keys released, purged when the graph acknowledges it |
//!
//! Every write sets `attempts: 0, set_aside: false` (a new version is a new chance) and keeps
//! `last_error` until acknowledged, so status reports still show why the entity was stuck.
//! An acknowledgement is a conditional update on `{_id, version}` (a tombstone: a conditional
//! delete), so a write that raced the graph apply keeps its owed marker.
//!
//! This module holds the write side: the fields of a new entity and the update every write
//! adds. The read and acknowledgement side is [`SyncLedger`](swiftbox_core::SyncLedger)'s
//! implementation (`ledger`), which turns owed documents into graph changes (`changes`) and,
//! with document locks on (FerretDB), acknowledges a batch in a few statements per kind under
//! those locks (`ack_locked`).

mod ack_locked;
mod changes;
mod ledger;

use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Document};
use swiftbox_core::primary::sync_bucket;
use swiftbox_core::{EntityKind, Error, Result};

use crate::model::to_bson_date;
use crate::MongoStore;

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
        let coll = self.coll(kind);
        self.run_locked(kind, id, |fence| {
            coll.find_one_and_update(fence.filter(live(id)), fence.update(update))
                .return_document(mongodb::options::ReturnDocument::After)
        })
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
        let coll = self.coll(kind);
        let res = self
            .run_locked(kind, id, |fence| {
                coll.update_one(fence.filter(live(id)), fence.update(update))
            })
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

#[cfg(test)]
mod tests {
    use super::*;

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
