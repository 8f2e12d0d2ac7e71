//! Per-document write locks, for servers whose updates are not atomic.
//!
//! MongoDB applies each update (`update`, `findAndModify`, filtered `delete`) atomically to one
//! document: the filter is checked and the change applied under the document's lock. FerretDB
//! 1.x does not: it reads matching documents, applies the update in its own process, and
//! writes each whole document back by `_id`. Two concurrent updates of one document can then
//! both pass a filter like `{stock: {$gte: 1}}` and the later write silently discards the
//! earlier one (measured: 50 concurrent orders for a stock of 10 placed 49 orders without
//! these locks).
//!
//! What FerretDB does apply atomically is an insert against a unique index. So when
//! [`MongoStore::connect`] finds a FerretDB server (its `buildInfo` reports `ferretdbVersion`),
//! or when [`crate::MongoConfigBuilder::document_locks`] asks for it, every update or delete
//! of an entity document first takes a lock: it inserts `{_id: "<kind>:<id>", token, until}`
//! into the `swiftbox_locks` collection (a duplicate key means someone else holds it: wait
//! with capped, jittered backoff), runs the update, and deletes its lock. A lock whose holder
//! died is taken over once its lease (`until`) has passed. Inserts of new documents need no
//! lock. Waiting longer than the operation timeout fails with [`swiftbox_core::Error::Unavailable`].
//!
//! On MongoDB the locks are off by default: its atomic single-document updates already give
//! every guarantee this crate documents.

use std::collections::HashSet;
use std::future::IntoFuture;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mongodb::bson::{doc, Document};
use mongodb::error::{ErrorKind, InsertManyError};
use swiftbox_core::{EntityKind, Result};

use crate::error::{self, LockTimeout};
use crate::model::to_bson_date;
use crate::MongoStore;

/// The collection holding the locks.
pub(crate) const LOCKS: &str = "swiftbox_locks";

const MAX_BACKOFF: Duration = Duration::from_millis(25);

/// A few pseudo-random nanoseconds for jitter (no need for a real generator here).
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let max = u32::try_from(max.as_nanos()).unwrap_or(u32::MAX).max(1);
    Duration::from_nanos(u64::from(nanos.wrapping_mul(2_654_435_761) % max))
}

/// The lock document's `_id` for the entity document `kind`/`id`.
fn lock_key(kind: EntityKind, id: &str) -> String {
    format!("{kind}:{id}")
}

/// A fresh holder token.
fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether a server's `buildInfo` says it is FerretDB.
pub(crate) fn is_ferretdb(build_info: &Document) -> bool {
    build_info.contains_key("ferretdbVersion")
}

impl MongoStore {
    /// Runs `fut` (an update or delete of the document `kind`/`id`) under that document's lock
    /// when locks are on, and under the operation timeout.
    pub(crate) async fn locked<T>(
        &self,
        kind: EntityKind,
        id: &str,
        fut: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> mongodb::error::Result<T> {
        if !self.document_locks() {
            return self.run_raw(fut).await;
        }
        let key = lock_key(kind, id);
        let token = self.acquire(&key).await?;
        let result = self.run_raw(fut).await;
        let locks = self.database().collection::<Document>(LOCKS);
        if let Err(e) = self
            .run_raw(locks.delete_one(doc! { "_id": &key, "token": &token }))
            .await
        {
            tracing::warn!(lock = %key, error = %e, "could not release a document lock; it expires with its lease");
        }
        result
    }

    /// [`MongoStore::locked`] with errors mapped for entities of `kind`.
    pub(crate) async fn run_locked<T>(
        &self,
        kind: EntityKind,
        id: &str,
        fut: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T> {
        self.locked(kind, id, fut)
            .await
            .map_err(|e| error::map(kind, e))
    }

    /// Tries once, without waiting, to lock the documents `ids` of `kind` with one
    /// `insertMany` (unordered): returns the lock token and the ids it locked, in input order;
    /// ids held by someone else (or repeated in `ids`) are left out. Release with
    /// [`MongoStore::release_many`]. On an error other than a held lock, nothing stays locked.
    pub(crate) async fn try_lock_many(
        &self,
        kind: EntityKind,
        ids: &[String],
    ) -> mongodb::error::Result<(String, Vec<String>)> {
        let locks = self.database().collection::<Document>(LOCKS);
        let token = new_token();
        let until = to_bson_date(swiftbox_core::time::now() + self.lease());
        let docs: Vec<Document> = ids
            .iter()
            .map(|id| doc! { "_id": lock_key(kind, id), "token": &token, "until": until })
            .collect();
        if docs.is_empty() {
            return Ok((token, Vec::new()));
        }
        let held: HashSet<usize> = match self.run_raw(locks.insert_many(docs).ordered(false)).await
        {
            Ok(_) => HashSet::new(),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(InsertManyError {
                    write_errors: Some(errors),
                    write_concern_error: None,
                    ..
                }) if errors
                    .iter()
                    .all(|w| error::is_duplicate_code(w.code, &w.message)) =>
                {
                    errors.iter().map(|w| w.index).collect()
                }
                _ => {
                    self.release_many(kind, &token, ids).await;
                    return Err(e);
                }
            },
        };
        let locked = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| !held.contains(i))
            .map(|(_, id)| id.clone())
            .collect();
        Ok((token, locked))
    }

    /// Releases the locks of `ids` taken with `token` (a failure is logged: they expire with
    /// their lease).
    pub(crate) async fn release_many(&self, kind: EntityKind, token: &str, ids: &[String]) {
        let locks = self.database().collection::<Document>(LOCKS);
        let keys: Vec<String> = ids.iter().map(|id| lock_key(kind, id)).collect();
        if let Err(e) = self
            .run_raw(locks.delete_many(doc! { "_id": { "$in": keys }, "token": token }))
            .await
        {
            tracing::warn!(kind = %kind, error = %e, "could not release document locks; they expire with their lease");
        }
    }

    /// How long a lock holds before someone else may take it over: twice the operation
    /// timeout.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config().operation_timeout * 2)
            .unwrap_or(chrono::Duration::seconds(60))
    }

    async fn acquire(&self, key: &str) -> mongodb::error::Result<String> {
        let locks = self.database().collection::<Document>(LOCKS);
        let token = new_token();
        let deadline = Instant::now() + self.config().operation_timeout;
        let lease = self.lease();
        let mut backoff = Duration::from_millis(1);
        loop {
            let now = swiftbox_core::time::now();
            let attempt = locks.insert_one(doc! {
                "_id": key,
                "token": &token,
                "until": to_bson_date(now + lease),
            });
            match self.run_raw(attempt).await {
                Ok(_) => return Ok(token),
                Err(e) if error::is_duplicate(&e) => {}
                Err(e) => return Err(e),
            }
            // Held: take it over if its holder's lease has run out.
            let holder = self.run_raw(locks.find_one(doc! { "_id": key })).await?;
            if let Some(h) = holder {
                let expired = h
                    .get_datetime("until")
                    .map(|until| *until < to_bson_date(now))
                    .unwrap_or(true);
                if expired {
                    let stale = h.get_str("token").unwrap_or_default().to_owned();
                    tracing::warn!(lock = key, "taking over an expired document lock");
                    self.run_raw(locks.delete_one(doc! { "_id": key, "token": stale }))
                        .await?;
                    continue;
                }
            }
            if Instant::now() >= deadline {
                return Err(mongodb::error::Error::custom(LockTimeout));
            }
            tokio::time::sleep(backoff + jitter(backoff)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
