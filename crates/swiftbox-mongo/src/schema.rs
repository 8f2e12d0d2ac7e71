//! Collections and indexes. One collection per entity kind; [`migrate`] creates every index
//! idempotently (same name, same keys: the server accepts the repeat).
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
];

fn index(keys: Document, name: &str, unique: bool) -> IndexModel {
    let options = IndexOptions::builder()
        .name(name.to_owned())
        .unique(unique.then_some(true))
        .build();
    IndexModel::builder().keys(keys).options(options).build()
}

/// The indexes of one collection.
pub(crate) fn indexes(kind: EntityKind) -> Vec<IndexModel> {
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
            // Crash recovery of stock reservations (MongoStore::recover_reservations).
            v.push(index(doc! { "reservations": 1 }, "reservations", false));
        }
        EntityKind::Order => {
            v.push(index(doc! { "user": 1, "_id": 1 }, "by_user", false));
            v.push(index(doc! { "placed_at": 1 }, "by_time", false));
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

/// Creates every collection's indexes (a no-op when they exist).
pub(crate) async fn migrate(db: &Database) -> mongodb::error::Result<()> {
    for kind in EntityKind::ALL {
        db.collection::<Document>(collection_name(kind))
            .create_indexes(indexes(kind))
            .await?;
    }
    Ok(())
}
