//! Collections and indexes. One collection per entity kind; [`migrate`] creates the missing
//! indexes, so running it again (every `connect` does) changes nothing.
//!
//! Unique values are enforced by unique indexes on *key* fields (`username_key`, `email_key`,
//! `name_key`, `user_product_key`) rather than on the visible fields: a live entity's key is
//! its value, a tombstone's key is [`crate::model::tombstone_key`] (a control character and the
//! entity's id, which no valid input can equal), so deleting an entity frees its unique values
//! at once while the tombstone waits for the graph's acknowledgement.

use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use swiftbox_core::EntityKind;

/// Collection names, one per kind.
pub(crate) fn collection_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "users",
        EntityKind::Category => "categories",
        EntityKind::Product => "products",
        EntityKind::Order => "orders",
        EntityKind::Review => "reviews",
    }
}

/// Unique index names and the field a duplicate on them is reported as.
pub(crate) const UNIQUE_FIELDS: &[(&str, &str)] = &[
    ("username_unique", "username"),
    ("email_unique", "email"),
    ("name_unique", "name"),
    ("user_product_unique", "product"),
    ("idempotency_unique", "idempotency_key"),
];

fn index(keys: Document, name: &str, unique: bool) -> IndexModel {
    let options = IndexOptions::builder()
        .name(name.to_owned())
        .unique(unique.then_some(true))
        .build();
    IndexModel::builder().keys(keys).options(options).build()
}

/// The index on products' reservation markers, which FerretDB does not get: see [`indexes`].
const RESERVATIONS_INDEX: &str = "reservations";

/// Whether `e` says the index to drop does not exist (`IndexNotFound`, code 27).
fn index_not_found(e: &mongodb::error::Error) -> bool {
    matches!(e.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == 27)
}

/// The indexes of one collection on MongoDB (`ferretdb` false) or FerretDB.
///
/// FerretDB gets no index on `reservations`: it indexes an array as one value (MongoDB indexes
/// each element), and on PostgreSQL an index row is limited to 2,704 bytes, so once a hot
/// product carried about fifty markers of orders in flight every update of it failed
/// (SQLSTATE 54000). FerretDB 1.x would not use the index for `recover_reservations`'s `$type`
/// filter anyway.
pub(crate) fn indexes(kind: EntityKind, ferretdb: bool) -> Vec<IndexModel> {
    // Every collection: owed changes by age (owed_changes, sync_stats), set-aside counts.
    let mut v = vec![
        index(doc! { "owed_since": 1, "_id": 1 }, "owed", false),
        index(doc! { "set_aside": 1 }, "set_aside", false),
    ];
    match kind {
        EntityKind::User => {
            v.push(index(doc! { "username_key": 1 }, "username_unique", true));
            v.push(index(doc! { "email_key": 1 }, "email_unique", true));
        }
        EntityKind::Category => {
            v.push(index(doc! { "name_key": 1 }, "name_unique", true));
        }
        EntityKind::Product => {
            v.push(index(
                doc! { "category": 1, "_id": 1 },
                "by_category",
                false,
            ));
            // Crash recovery of stock reservations (OrderStore::recover_reservations).
            if !ferretdb {
                v.push(index(doc! { "reservations": 1 }, RESERVATIONS_INDEX, false));
            }
        }
        EntityKind::Order => {
            v.push(index(doc! { "user": 1, "_id": 1 }, "by_user", false));
            v.push(index(doc! { "placed_at": 1 }, "by_time", false));
            // Idempotency keys (crate::order_keys): unique where present. `sparse` keeps
            // MongoDB from counting orders without a key as duplicates of `null`; FerretDB
            // ignores the option, and its SQLite indexes never see two missing fields as equal.
            let mut keys = index(doc! { "idempotency_key": 1 }, "idempotency_unique", true);
            if let Some(o) = keys.options.as_mut() {
                o.sparse = Some(true);
            }
            v.push(keys);
        }
        EntityKind::Review => {
            v.push(index(doc! { "product": 1, "_id": 1 }, "by_product", false));
            v.push(index(
                doc! { "user_product_key": 1 },
                "user_product_unique",
                true,
            ));
        }
    }
    v
}

/// Creates every collection's missing indexes, one at a time.
///
/// Only the missing ones: FerretDB 1.24.2 drops the connection (a server-side panic, "slice
/// bounds out of range") on a `createIndexes` batch naming indexes that already exist, so
/// the existing names are listed first. A missing collection simply has no indexes yet. On
/// FerretDB the `reservations` index of earlier versions is dropped (see [`indexes`]); several
/// processes may do so at once. A process of an earlier version that migrates afterwards
/// creates it again: upgrade every process.
pub(crate) async fn migrate(db: &Database, ferretdb: bool) -> mongodb::error::Result<()> {
    let existing_collections = db.list_collection_names().await?;
    for kind in EntityKind::ALL {
        let name = collection_name(kind);
        let coll = db.collection::<Document>(name);
        let existing = if existing_collections.iter().any(|c| c == name) {
            coll.list_index_names().await?
        } else {
            Vec::new()
        };
        if ferretdb
            && kind == EntityKind::Product
            && existing.iter().any(|e| e == RESERVATIONS_INDEX)
        {
            match coll.drop_index(RESERVATIONS_INDEX).await {
                // Another process migrating at the same time dropped it first.
                Err(e) if index_not_found(&e) => {}
                other => other?,
            }
        }
        for model in indexes(kind, ferretdb) {
            let wanted = model
                .options
                .as_ref()
                .and_then(|o| o.name.as_deref())
                .unwrap_or_default();
            if !existing.iter().any(|e| e == wanted) {
                coll.create_index(model).await?;
            }
        }
    }
    Ok(())
}
