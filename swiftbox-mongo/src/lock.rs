//! Per-document write locks, for servers whose updates are not atomic, and the fence that
//! keeps a holder whose lease ran out from writing.
//!
//! # Why locks
//!
//! MongoDB applies each update (`update`, `findAndModify`, filtered `delete`) atomically to one
//! document: the filter is checked and the change applied under the document's lock. FerretDB
//! 1.x does not: it reads matching documents, applies the update in its own process, and
//! writes each whole document back by `_id` (`UPDATE ... WHERE _id = ?` in its SQLite backend;
//! a filtered delete likewise reads, then deletes by `_id`). Two concurrent updates of one
//! document can then both pass a filter like `{stock: {$gte: 1}}` and the later write silently
//! discards the earlier one (measured: 50 concurrent orders for a stock of 10 placed 49 orders
//! without these locks).
//!
//! What FerretDB does apply atomically is an insert against a unique index. So when
//! [`MongoStore::connect`] finds a FerretDB server (its `buildInfo` reports `ferretdbVersion`),
//! or when [`crate::MongoConfigBuilder::document_locks`] asks for it, every update or delete
//! of an entity document first takes a lock: it inserts `{_id: "<kind>:<id>", token, at}`
//! into the `swiftbox_locks` collection (a duplicate key means someone else holds it: wait
//! with capped, jittered backoff), runs the update, and deletes its lock. Inserts of new
//! documents need no lock. Waiting longer than the operation timeout fails with
//! [`swiftbox_core::Error::Unavailable`].
//!
//! # Leases, on the server's clock
//!
//! A lock whose holder died must not block its document forever, so it has a lease
//! ([`crate::MongoConfigBuilder::lock_lease`], default twice the operation timeout) after
//! which a waiter takes it over. Both ends of that comparison are the *server's* clock: the
//! lock is taken with an upsert whose `$currentDate` stamps `at` (FerretDB 1.24 supports
//! `$currentDate` in upserts; an upsert that finds the `_id` taken fails with duplicate key
//! 11000, as an insert does, so taking stays atomic), and a waiter compares `at` with the
//! server's `localTime` from `hello`. No two machines' clocks are ever compared (FerretDB 1.24
//! has no `$expr`/`$$NOW` in filters, so the comparison itself is done by the waiter, on two
//! readings of the one clock). A waiter asks for the server's time only once the same holder
//! has kept the lock for a quarter of the lease by its own monotonic clock, so short waits cost
//! nothing extra. The holder checks its lease on its own monotonic clock, measured from before
//! it asked for the lock: one that finds half its lease gone before it sends its write gives
//! the lock back and takes it again.
//!
//! # The fence
//!
//! A holder can still be paused (a stopped process, a long GC, a slow network) after that
//! check, past its lease, while another writer takes the lock over and writes; when it
//! resumes, its write must not land on top. So every write under a lock is *fenced*, in the
//! same single-document statement: the lock's fencing token is its `at` in milliseconds, every
//! entity write under it adds `fence: {$not: {$gt: <token> + <slack>}}` to its filter and
//! `$max: {fence: <token>}` to its update, so a document written by a newer holder no longer
//! matches an older holder's filter. The slack is half the lease: the server stamps `at` when
//! it computes an upsert, before the insert commits, so a lock taken right after a release can
//! carry a stamp a little *older* than its predecessor's (measured: concurrent orders on one
//! product refused their own give-backs without it); a takeover comes a whole lease after the
//! lock it replaces was stamped (the taker saw the lease run out on the server's clock before
//! asking), so a stale holder's token is always more than the slack below the fence a newer
//! holder wrote. The stale write then changes nothing (an acknowledgement cannot clear the
//! owed marker a newer write left; a reservation cannot take stock a newer holder accounted
//! for), and the holder learns that it lost the lock when it releases it (its lock document is
//! gone or someone else's): the call fails with a retryable
//! [`swiftbox_core::Error::Unavailable`], like a timed-out write, whose effect is unknown to
//! the caller. Batched acknowledgements (`sync::ack_locked`) fence their `updateMany` and
//! `deleteMany` the same way, with one token for the batch (the server's `localTime` read
//! before the locks were inserted).
//!
//! # Waiting
//!
//! A lock someone else holds is asked for again with capped, jittered backoff, and each
//! refusal costs the server a failed insert and a read of the holder. So the writers of one
//! store (and its clones) that want the same document first queue in process, in arrival
//! order ([`keyed_lock`]), and only the first of them asks the server; the next asks once it
//! has given the lock back. The server then sees one contender per process and document
//! instead of one per waiting call: at 100 orders/s over a 100-product catalogue on FerretDB,
//! the refused inserts had grown to about 1,500 a second and orders failed with
//! [`LockTimeout`] (`docs/performance-notes.md`, "FerretDB: lock documents"). The wait in the
//! queue and the wait at the server share one operation timeout. Writers of other processes
//! still wait with backoff, and a lock whose holder died (another process, or a call of this
//! one that was dropped) is still taken over once its lease runs out; a call of this process
//! that is alive but stuck holds up the queue behind it until its own operation timeout ends
//! its write.
//!
//! # Dropped calls
//!
//! A call dropped while it holds or asks for a lock (a caller's timeout, a client that
//! disconnected) gives the lock back from a task of its own rather than leave the document
//! blocked for a lease; if a write may have been in flight it waits a second first, so that
//! write (which the server may still run) does not run beside the next holder's.
//!
//! What the fence cannot do on FerretDB: the check and the write of one statement are still
//! FerretDB's read and write-back, so a stale write that the server reads *while* the newer
//! holder's write is between its own read and write-back can still overwrite it. That needs
//! the stale request to sit inside the server for longer than the lease minus the holder's
//! check (a server paused for minutes); on MongoDB the filter and the write are one atomic
//! step and the fence is exact. The token relies on the server's clock not stepping back by
//! more than a lease (NTP slews a running clock rather than stepping it).
//!
//! The in-memory store has no leases: it serialises writes under one in-process lock that
//! cannot expire, so there is nothing to fence there.
//!
//! On MongoDB the locks are off by default: its atomic single-document updates already give
//! every guarantee this crate documents.

use std::collections::HashSet;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, DateTime, Document};
use mongodb::error::{ErrorKind, InsertManyError};
use mongodb::options::ReturnDocument;
use mongodb::Collection;
use swiftbox_core::{EntityKind, Result};

use crate::error::{self, LockLost, LockTimeout};
use crate::MongoStore;

/// The collection holding the locks.
pub(crate) const LOCKS: &str = "swiftbox_locks";

/// The entity documents' field holding the token of the latest lock holder that wrote them.
pub(crate) const FENCE: &str = "fence";

const MAX_BACKOFF: Duration = Duration::from_millis(25);

/// How long the locks of a call dropped while its write may be in flight stay held: the
/// server may still read and run that write (the driver only drops its connection), and on
/// FerretDB it must not run beside the next holder's write. Normally far more than the server
/// needs; the fence covers a write arriving later still, once the next holder has written.
const IN_FLIGHT_GRACE: Duration = Duration::from_secs(1);

/// Pauses before each attempt to release the locks of a dropped call (see [`ReleaseOnDrop`]).
const RELEASE_RETRIES: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_millis(20),
    Duration::from_millis(200),
    Duration::from_secs(2),
    Duration::from_secs(10),
];

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

/// What a write under a document lock adds to its filter and update (see the
/// [module docs](self)); nothing when locks are off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fence(Option<Token>);

/// A lock's fencing token and the slack its fence allows (both in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token {
    token: i64,
    slack: i64,
}

impl Fence {
    /// No lock, no fence.
    pub(crate) const NONE: Fence = Fence(None);

    /// The fence of a lock stamped `at` (milliseconds of the server's clock), for `lease`.
    fn new(at: i64, lease: Duration) -> Self {
        let slack = i64::try_from(lease.as_millis() / 2).unwrap_or(i64::MAX);
        Fence(Some(Token { token: at, slack }))
    }

    /// `filter`, matching only documents no newer lock holder has written: no document whose
    /// fence is more than the slack above this token.
    pub(crate) fn filter(self, mut filter: Document) -> Document {
        if let Some(t) = self.0 {
            filter.insert(
                FENCE,
                doc! { "$not": { "$gt": t.token.saturating_add(t.slack) } },
            );
        }
        filter
    }

    /// `update`, also raising the document's fence to this token (`$max`: never lowered).
    pub(crate) fn update(self, mut update: Document) -> Document {
        if let Some(t) = self.0 {
            match update.get_document_mut("$max") {
                Ok(max) => {
                    max.insert(FENCE, t.token);
                }
                Err(_) => {
                    update.insert("$max", doc! { FENCE: t.token });
                }
            }
        }
        update
    }
}

/// Gives locks back when the future holding them is dropped (a caller's timeout, a client
/// that disconnected), so an abandoned call does not block the documents for a whole lease:
/// the release runs as a task of its own. Disarmed once the holder released them itself.
#[derive(Debug)]
pub(crate) struct ReleaseOnDrop {
    locks: Collection<Document>,
    filter: Option<Document>,
    timeout: Duration,
    /// A write under the locks may be in flight: release only after [`IN_FLIGHT_GRACE`].
    writing: bool,
}

impl ReleaseOnDrop {
    /// A guard deleting the locks `filter` selects (by `_id` and token).
    fn new(store: &MongoStore, filter: Document) -> Self {
        Self {
            locks: store.database().collection(LOCKS),
            filter: Some(filter),
            timeout: store.config().operation_timeout,
            writing: false,
        }
    }

    /// A write under the locks is about to be sent: if dropped from now on, the server may
    /// still run it, so the release waits a little, rather than let the next holder's write
    /// race it (see [`IN_FLIGHT_GRACE`]).
    pub(crate) fn writing(&mut self) {
        self.writing = true;
    }

    /// The holder releases the locks itself.
    pub(crate) fn disarm(mut self) {
        self.filter = None;
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let (Some(filter), Ok(runtime)) =
            (self.filter.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let locks = self.locks.clone();
        let timeout = self.timeout;
        let first = if self.writing {
            IN_FLIGHT_GRACE
        } else {
            Duration::ZERO
        };
        runtime.spawn(async move {
            tokio::time::sleep(first).await;
            // The dropped call's last request may still be on its way to the server (the driver
            // drops its connection, the server may yet run what it read), so a lock it takes
            // can appear after a first delete: look again a few times, until one is deleted.
            for pause in RELEASE_RETRIES {
                tokio::time::sleep(pause).await;
                match tokio::time::timeout(timeout, locks.delete_many(filter.clone())).await {
                    Ok(Ok(res)) if res.deleted_count > 0 => {
                        tracing::debug!("released the document locks of a dropped call");
                        return;
                    }
                    Ok(Ok(_)) => {}
                    _ => {
                        tracing::warn!("could not release the document locks of a dropped call; they expire with their lease");
                        return;
                    }
                }
            }
        });
    }
}

/// A lock this store holds.
#[derive(Debug)]
struct Held {
    key: String,
    token: String,
    fence: i64,
    /// On this process's monotonic clock, before the lock was asked for: the lease ends no
    /// earlier than `since + lease` for everyone else.
    since: Instant,
}

/// One batch of locks taken by [`MongoStore::try_lock_many`]; dropped without
/// [`MongoStore::release_many`], it releases them in a task of its own.
#[derive(Debug)]
pub(crate) struct BatchLock {
    token: String,
    fence: Fence,
    /// The ids locked, in input order.
    pub(crate) ids: Vec<String>,
    guard: Option<ReleaseOnDrop>,
}

impl BatchLock {
    /// The fence every write under these locks carries.
    pub(crate) fn fence(&self) -> Fence {
        self.fence
    }
}

impl MongoStore {
    /// Runs the write `op` builds (an update or delete of the document `kind`/`id`, its filter
    /// and update passed through the [`Fence`] it is given) under that document's lock when
    /// locks are on, and under the operation timeout. Fails with [`LockLost`] when the lock was
    /// taken over before the write finished.
    pub(crate) async fn locked<T, F>(
        &self,
        kind: EntityKind,
        id: &str,
        op: impl FnOnce(Fence) -> F,
    ) -> mongodb::error::Result<T>
    where
        F: IntoFuture<Output = mongodb::error::Result<T>>,
    {
        self.locked_key(lock_key(kind, id), op).await
    }

    /// [`MongoStore::locked`] for the document whose lock document's `_id` is `key` (an entity
    /// document's is `<kind>:<id>`; other documents name theirs so that no two collide).
    pub(crate) async fn locked_key<T, F>(
        &self,
        key: String,
        op: impl FnOnce(Fence) -> F,
    ) -> mongodb::error::Result<T>
    where
        F: IntoFuture<Output = mongodb::error::Result<T>>,
    {
        if !self.document_locks() {
            return self.run_raw(op(Fence::NONE)).await;
        }
        // This process's writers of one document queue here, first come first served, and
        // only the first asks the server (module docs, "Waiting"). Held until the lock is
        // given back.
        // One operation timeout for the wait in the queue and at the server together.
        let mut deadline = Instant::now() + self.config().operation_timeout;
        let _queued =
            tokio::time::timeout_at(deadline.into(), self.lock_queue.lock_owned(key.clone()))
                .await
                .map_err(|_| mongodb::error::Error::custom(LockTimeout))?;
        let (held, mut guard) = loop {
            let (held, guard) = self.acquire(&key, deadline).await?;
            // Half the lease gone already (a slow server, a paused process): take it afresh
            // rather than write close to a takeover.
            if held.since.elapsed() < self.lease() / 2 {
                break (held, guard);
            }
            tracing::debug!(lock = %key, "document lock held too long before writing; taking it again");
            self.release(&held).await;
            guard.disarm();
            // Taking it again has an operation timeout of its own, as it always had.
            deadline = Instant::now() + self.config().operation_timeout;
        };
        #[cfg(feature = "test-hooks")]
        self.hook(crate::hooks::LockPoint::Writing { key: key.clone() })
            .await;
        guard.writing();
        let result = self.run_raw(op(Fence::new(held.fence, self.lease()))).await;
        let released = self.release(&held).await;
        guard.disarm();
        if released == Some(false) {
            tracing::warn!(lock = %key, "document lock taken over while it was held; the write was fenced");
            return Err(mongodb::error::Error::custom(LockLost));
        }
        result
    }

    /// [`MongoStore::locked`] with errors mapped for entities of `kind`.
    pub(crate) async fn run_locked<T, F>(
        &self,
        kind: EntityKind,
        id: &str,
        op: impl FnOnce(Fence) -> F,
    ) -> Result<T>
    where
        F: IntoFuture<Output = mongodb::error::Result<T>>,
    {
        self.locked(kind, id, op)
            .await
            .map_err(|e| error::map(kind, e))
    }

    /// Releases `held`: `Some(true)` when it was still ours, `Some(false)` when it had been
    /// taken over (or removed), `None` when the server did not answer (logged: it expires).
    async fn release(&self, held: &Held) -> Option<bool> {
        let locks = self.database().collection::<Document>(LOCKS);
        match self
            .run_raw(locks.delete_one(doc! { "_id": &held.key, "token": &held.token }))
            .await
        {
            Ok(res) => Some(res.deleted_count == 1),
            Err(e) => {
                tracing::warn!(lock = %held.key, error = %e, "could not release a document lock; it expires with its lease");
                None
            }
        }
    }

    /// Tries once, without waiting, to lock the documents `ids` of `kind` with one
    /// `insertMany` (unordered): the ids it locked, in input order, and the batch's fence; ids
    /// held by someone else (or repeated in `ids`) are left out. Release with
    /// [`MongoStore::release_many`]. On an error other than a held lock, nothing stays locked.
    pub(crate) async fn try_lock_many(
        &self,
        kind: EntityKind,
        ids: &[String],
    ) -> mongodb::error::Result<BatchLock> {
        let token = new_token();
        if ids.is_empty() {
            return Ok(BatchLock {
                token,
                fence: Fence::NONE,
                ids: Vec::new(),
                guard: None,
            });
        }
        let locks = self.database().collection::<Document>(LOCKS);
        // The batch's `at` and token: the server's time read before the locks exist, so no
        // lock of the batch is older than its stamp says.
        let at = self.server_time().await?;
        let all_keys: Vec<String> = ids.iter().map(|id| lock_key(kind, id)).collect();
        // Armed before the insert is sent: cut off in flight, it may have taken some.
        let guard = ReleaseOnDrop::new(self, doc! { "_id": { "$in": all_keys }, "token": &token });
        let docs: Vec<Document> = ids
            .iter()
            .map(|id| doc! { "_id": lock_key(kind, id), "token": &token, "at": at })
            .collect();
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
                    let batch = BatchLock {
                        token,
                        fence: Fence::NONE,
                        ids: ids.to_vec(),
                        guard: Some(guard),
                    };
                    // Whatever it says: nothing of this batch may stay locked.
                    let _ = self.release_many(kind, batch).await;
                    return Err(e);
                }
            },
        };
        let locked: Vec<String> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| !held.contains(i))
            .map(|(_, id)| id.clone())
            .collect();
        Ok(BatchLock {
            token,
            fence: Fence::new(at.timestamp_millis(), self.lease()),
            ids: locked,
            guard: Some({
                let mut guard = guard;
                guard.writing();
                guard
            }),
        })
    }

    /// Releases the locks of `batch`: false when some had been taken over meanwhile (their
    /// writes were fenced), true otherwise (a failure to release is logged: they expire with
    /// their lease).
    pub(crate) async fn release_many(&self, kind: EntityKind, mut batch: BatchLock) -> bool {
        if let Some(guard) = batch.guard.take() {
            guard.disarm();
        }
        if batch.ids.is_empty() {
            return true;
        }
        let locks = self.database().collection::<Document>(LOCKS);
        let keys: Vec<String> = batch.ids.iter().map(|id| lock_key(kind, id)).collect();
        match self
            .run_raw(locks.delete_many(doc! { "_id": { "$in": keys }, "token": &batch.token }))
            .await
        {
            Ok(res) => usize::try_from(res.deleted_count).unwrap_or(usize::MAX) >= batch.ids.len(),
            Err(e) => {
                tracing::warn!(kind = %kind, error = %e, "could not release document locks; they expire with their lease");
                true
            }
        }
    }

    /// The server's clock now (`hello`'s `localTime`).
    async fn server_time(&self) -> mongodb::error::Result<DateTime> {
        let hello = self
            .run_raw(self.database().run_command(doc! { "hello": 1 }))
            .await?;
        hello
            .get_datetime("localTime")
            .copied()
            .map_err(|_| mongodb::error::Error::custom("the server's hello reply has no localTime"))
    }

    /// How long a lock holds before someone else may take it over.
    fn lease(&self) -> Duration {
        self.config()
            .lock_lease
            .unwrap_or(self.config().operation_timeout * 2)
    }

    /// Calls the configured test hook at `point`.
    #[cfg(feature = "test-hooks")]
    pub(crate) async fn hook(&self, point: crate::hooks::LockPoint) {
        if let Some(h) = &self.config().lock_hook {
            h.at(point).await;
        }
    }

    /// Takes the lock `key`, waiting for it until `deadline` at most. The guard, armed before
    /// the first attempt is sent, releases it if this future (or its holder) is dropped: an
    /// attempt cut off in flight may have taken the lock.
    async fn acquire(
        &self,
        key: &str,
        deadline: Instant,
    ) -> mongodb::error::Result<(Held, ReleaseOnDrop)> {
        let locks = self.database().collection::<Document>(LOCKS);
        let token = new_token();
        let guard = ReleaseOnDrop::new(self, doc! { "_id": key, "token": &token });
        let lease = self.lease();
        let mut backoff = Duration::from_millis(1);
        // The holder seen last, and since when (this process's monotonic clock).
        let mut seen: Option<(String, Instant)> = None;
        loop {
            let since = Instant::now();
            // An upsert whose filter cannot match a lock someone else holds: it inserts (the
            // server stamping `at`) or fails with a duplicate `_id`.
            let attempt = locks
                .find_one_and_update(
                    doc! { "_id": key, "token": &token },
                    doc! { "$currentDate": { "at": true } },
                )
                .upsert(true)
                .return_document(ReturnDocument::After);
            match self.run_raw(attempt).await {
                Ok(Some(d)) => {
                    let fence = d
                        .get_datetime("at")
                        .map(|at| at.timestamp_millis())
                        .map_err(|_| {
                            mongodb::error::Error::custom(
                                "a lock document came back without its time",
                            )
                        })?;
                    let held = Held {
                        key: key.to_owned(),
                        token,
                        fence,
                        since,
                    };
                    return Ok((held, guard));
                }
                Ok(None) => {
                    return Err(mongodb::error::Error::custom(
                        "a lock upsert returned no document",
                    ))
                }
                Err(e) if error::is_duplicate(&e) => {}
                Err(e) => return Err(e),
            }
            // Held: take it over once its holder's lease has run out on the server's clock.
            let holder = self.run_raw(locks.find_one(doc! { "_id": key })).await?;
            if let Some(h) = holder {
                let stale = h.get_str("token").unwrap_or_default().to_owned();
                let first_seen = match &seen {
                    Some((t, at)) if *t == stale => *at,
                    _ => {
                        let now = Instant::now();
                        seen = Some((stale.clone(), now));
                        now
                    }
                };
                if first_seen.elapsed() >= lease / 4 && self.lease_ran_out(&h, lease).await? {
                    tracing::warn!(
                        lock = key,
                        "taking over a document lock whose lease ran out"
                    );
                    self.run_raw(locks.delete_one(doc! { "_id": key, "token": stale }))
                        .await?;
                    continue;
                }
            }
            if Instant::now() >= deadline {
                return Err(mongodb::error::Error::custom(LockTimeout));
            }
            let jitter = u64::try_from(backoff.as_nanos()).unwrap_or(u64::MAX).max(1);
            tokio::time::sleep(backoff + Duration::from_nanos(fastrand::u64(..jitter))).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Whether the lock document `held` was taken more than `lease` ago, by the server's clock.
    /// A lock without `at` (written before leases were stamped by the server) counts by its
    /// `until`.
    async fn lease_ran_out(
        &self,
        held: &Document,
        lease: Duration,
    ) -> mongodb::error::Result<bool> {
        let now = self.server_time().await?;
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        Ok(
            match (held.get_datetime("at"), held.get_datetime("until")) {
                (Ok(at), _) => {
                    now.timestamp_millis().saturating_sub(at.timestamp_millis()) > lease_ms
                }
                (Err(_), Ok(until)) => *until < now,
                (Err(_), Err(_)) => true,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_adds_its_condition_and_stamp_only_when_locks_are_on() {
        let filter = doc! { "_id": "a" };
        let update = doc! { "$inc": { "stock": -1_i64 } };
        assert_eq!(Fence::NONE.filter(filter.clone()), filter);
        assert_eq!(Fence::NONE.update(update.clone()), update);
        let f = Fence::new(7_000, Duration::from_secs(2));
        assert_eq!(
            f.filter(filter),
            doc! { "_id": "a", "fence": { "$not": { "$gt": 8_000_i64 } } }
        );
        assert_eq!(
            f.update(update),
            doc! { "$inc": { "stock": -1_i64 }, "$max": { "fence": 7_000_i64 } }
        );
        assert_eq!(
            f.update(doc! { "$max": { "n": 1_i64 } }),
            doc! { "$max": { "n": 1_i64, "fence": 7_000_i64 } }
        );
    }
}
