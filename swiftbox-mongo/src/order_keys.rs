//! Idempotency keys of orders ([`OrderStore::place_order_once`](swiftbox_core::OrderStore::place_order_once)).
//!
//! # Where a key lives
//!
//! In the order's own document: `idempotency_key` (`"<user id>:<key>"`, so keys are per user)
//! and `request_fingerprint` ([`NewOrder::fingerprint`]), written by the same `insert` as the
//! order, under the unique index `idempotency_unique`. That one insert is what makes a key
//! atomic on every server we support: FerretDB 1.x does not apply a filtered update
//! atomically (see [`crate::lock`]), but it does refuse an insert that breaks a unique index.
//! Two requests with one key may both reserve stock; only one insert lands, the other gets a
//! duplicate key (a definite refusal: its order does not exist), gives its stock back and
//! answers with the order that landed.
//!
//! The alternatives were worse: a claim document in a collection of its own, written before
//! the order, needs "in progress" and "abandoned" states and a lease to take an abandoned
//! claim over; an order id derived from the key would lose the time order of ids (UUID v7)
//! and could never be purged.
//!
//! Orders without a key have no `idempotency_key` field. The index is `sparse` for MongoDB (a
//! unique index would otherwise count every missing field as one `null`); FerretDB ignores
//! `sparse` but keeps its indexes in SQLite, where a missing field is `NULL` and `NULL`s never
//! collide.
//!
//! # Retention
//!
//! Keys stay until [`MongoStore::purge_idempotency_keys`](swiftbox_core::OrderStore::purge_idempotency_keys)
//! unsets them on orders placed before the cut-off (each under the order's document lock on
//! FerretDB, so a concurrent status update is not lost).

use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use swiftbox_core::{EntityKind, Error, IdempotencyKey, NewOrder, Placement, Result, UserId};

use crate::model::{from_document, to_bson_date, OrderDoc};
use crate::MongoStore;

const KIND: EntityKind = EntityKind::Order;
/// The fields an order document carries for its key.
pub(crate) const KEY_FIELD: &str = "idempotency_key";
const FINGERPRINT_FIELD: &str = "request_fingerprint";
/// How often a placement looks for the key's order again after losing the race for it (the
/// winner's order can be purged in between; that is all that sends it round again).
const KEY_ROUNDS: usize = 3;

/// An order request's key, as stored.
#[derive(Debug, Clone)]
pub(crate) struct KeyFields {
    scoped: String,
    fingerprint: String,
}

impl KeyFields {
    pub(crate) fn new(user: &UserId, key: &IdempotencyKey, new: &NewOrder) -> Self {
        Self {
            scoped: format!("{}:{}", user.to_canonical(), key.as_str()),
            fingerprint: new.fingerprint(),
        }
    }

    /// Adds the key to an order document about to be inserted.
    pub(crate) fn add_to(&self, d: &mut Document) {
        d.insert(KEY_FIELD, &self.scoped);
        d.insert(FINGERPRINT_FIELD, &self.fingerprint);
    }
}

/// The error of an insert refused because another order holds the key.
pub(crate) fn key_taken() -> Error {
    Error::conflict(
        KIND,
        KEY_FIELD,
        "another request with this key placed an order",
    )
}

fn is_key_taken(e: &Error) -> bool {
    matches!(e, Error::Conflict { kind: KIND, field, .. } if *field == KEY_FIELD)
}

impl MongoStore {
    pub(crate) async fn place_once(
        &self,
        new: NewOrder,
        key: &IdempotencyKey,
    ) -> Result<Placement> {
        new.validate()?;
        let fields = KeyFields::new(&new.user, key, &new);
        for _ in 0..KEY_ROUNDS {
            if let Some(replay) = self.replay(&fields).await? {
                return Ok(replay);
            }
            match self.place(&new, Some(&fields)).await {
                Ok(order) => {
                    return Ok(Placement {
                        order,
                        replayed: false,
                    })
                }
                Err(e) if is_key_taken(&e) => {
                    tracing::debug!("another request placed this key's order; answering with it");
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict(
            KIND,
            KEY_FIELD,
            "the key's order kept changing; try again",
        ))
    }

    /// The order holding the key, as a replay; invalid when it came from another request.
    async fn replay(&self, fields: &KeyFields) -> Result<Option<Placement>> {
        let coll = self.coll(KIND);
        let Some(d) = self
            .run(KIND, coll.find_one(doc! { KEY_FIELD: &fields.scoped }))
            .await?
        else {
            return Ok(None);
        };
        if d.get_str(FINGERPRINT_FIELD).ok() != Some(fields.fingerprint.as_str()) {
            return Err(IdempotencyKey::reused());
        }
        let order = from_document::<OrderDoc>(KIND, d)?.into_order()?;
        Ok(Some(Placement {
            order,
            replayed: true,
        }))
    }

    pub(crate) async fn purge_keys(&self, older_than: std::time::Duration) -> Result<u64> {
        let cutoff = to_bson_date(swiftbox_core::time::cutoff(older_than));
        let coll = self.coll(KIND);
        let docs: Vec<Document> = self
            .run(KIND, async {
                coll.find(doc! {
                    KEY_FIELD: { "$exists": true },
                    "placed_at": { "$lte": cutoff },
                })
                .projection(doc! { "_id": 1 })
                .await?
                .try_collect()
                .await
            })
            .await?;
        let mut purged = 0;
        for d in docs {
            let Ok(id) = d.get_str("_id") else { continue };
            let res = self
                .run_locked(KIND, id, |fence| {
                    coll.update_one(
                        fence.filter(doc! { "_id": id, KEY_FIELD: { "$exists": true } }),
                        fence.update(doc! { "$unset": { KEY_FIELD: "", FINGERPRINT_FIELD: "" } }),
                    )
                })
                .await?;
            purged += res.modified_count;
        }
        Ok(purged)
    }
}
