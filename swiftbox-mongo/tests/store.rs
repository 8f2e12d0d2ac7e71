//! `MongoStore` behaviour beyond the conformance suite: connecting, migrations, crash recovery
//! of stock reservations, the storage layout other tools rely on.

mod common;

use std::time::Duration;

use mongodb::bson::{doc, Document};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    Currency, Error, Money, NewOrder, NewOrderItem, NewProduct, NewUser, PrimaryStore,
};
use swiftbox_mongo::{MongoConfig, MongoStore};

use common::product;

#[tokio::test]
async fn connecting_to_nothing_is_unavailable_not_a_hang() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port();
    let config = MongoConfig::builder(format!("mongodb://127.0.0.1:{port}/"), "nothing")
        .server_selection_timeout(Duration::from_millis(300))
        .build()
        .expect("config");
    let err = MongoStore::connect_with(config).await.unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { .. }) && err.is_retryable(),
        "{err}"
    );
}

#[tokio::test]
async fn bad_connection_strings_are_invalid() {
    let err = MongoStore::connect("mongodb://h:1/?maxPoolSize=many", "db")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "uri"),
        "{err}"
    );
    let err = MongoStore::connect("postgres://h", "db").await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "uri"),
        "{err}"
    );
}

/// Writes are majority-acknowledged and journaled unless the connection string or the builder
/// says otherwise (the builder wins), and every read goes to the primary whatever the
/// connection string's readPreference. Checked on the handle the store writes and reads through
/// (the driver sends what its options say), and with a write that the server accepts.
#[tokio::test]
async fn writes_are_durable_and_reads_go_to_the_primary_by_default() {
    let Some(server) = swiftbox_testsupport::mongo().await else {
        return;
    };
    let database = server.unique_database("durability");
    let sep = if server.uri.contains('?') { '&' } else { '?' };
    let with = |options: &str| format!("{}{sep}{options}", server.uri);
    let connect = |config: MongoConfig| async move {
        MongoStore::connect_with(config).await.expect("connect")
    };
    let durable = MongoConfig::durable_write_concern();

    let plain = connect(
        MongoConfig::builder(&server.uri, &database)
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(plain.database().write_concern(), Some(&durable));
    let secondary = connect(
        MongoConfig::builder(with("readPreference=secondaryPreferred"), &database)
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(
        secondary.database().selection_criteria(),
        Some(&mongodb::options::SelectionCriteria::ReadPreference(
            mongodb::options::ReadPreference::Primary
        )),
        "a readPreference in the connection string does not reach the store's reads"
    );
    // The server takes majority, journaled writes.
    secondary
        .create_user(NewUser::new("durable", "durable@example.com"))
        .await
        .expect("a majority write");

    let w1 = mongodb::options::WriteConcern::builder()
        .w(mongodb::options::Acknowledgment::Nodes(1))
        .build();
    let from_uri = connect(
        MongoConfig::builder(with("w=1"), &database)
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(
        from_uri.database().write_concern(),
        Some(&w1),
        "the URI's w is kept"
    );
    let builder = connect(
        MongoConfig::builder(with("w=1"), &database)
            .write_concern(durable.clone())
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(
        builder.database().write_concern(),
        Some(&durable),
        "the builder wins"
    );
    let timeout_only = connect(
        MongoConfig::builder(with("wtimeoutMS=5000"), &database)
            .build()
            .unwrap(),
    )
    .await;
    let concern = timeout_only
        .database()
        .write_concern()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (concern.w, concern.journal, concern.w_timeout),
        (durable.w.clone(), Some(true), Some(Duration::from_secs(5))),
        "a timeout alone keeps the durable default"
    );
    plain.database().drop().await.expect("drop");
}

#[tokio::test]
async fn migrate_is_idempotent_and_creates_the_unique_indexes() {
    let Some(store) = common::fresh_store("migrate").await else {
        return;
    };
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    // A second store on the same database (an application restart) migrates again.
    let again = MongoStore::connect_with(store.config().clone())
        .await
        .expect("reconnect");
    again.ping().await.expect("ping");
    let names: Vec<String> = store
        .database()
        .collection::<Document>("users")
        .list_index_names()
        .await
        .expect("index names");
    for want in ["username_unique", "email_unique", "owed"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn documents_keep_money_exact_dates_as_dates_and_ids_as_strings() {
    let Some(store) = common::fresh_store("layout").await else {
        return;
    };
    let p = product(&store, 3).await;
    let d = store
        .database()
        .collection::<Document>("products")
        .find_one(doc! { "_id": p.id.to_string() })
        .await
        .expect("find")
        .expect("stored under its id string");
    let price = d.get_document("price").expect("price");
    assert_eq!(price.get_i64("minor"), Ok(1999));
    assert_eq!(price.get_str("currency"), Ok("USD"));
    assert!(d.get_datetime("created_at").is_ok(), "{d}");
    assert_eq!(d.get_str("category"), Ok(p.category.to_string().as_str()));
    assert!(
        d.get_datetime("owed_since").is_ok(),
        "a new entity is owed: {d}"
    );
    assert_eq!(d.get_i64("version"), Ok(1));
}

#[tokio::test]
async fn ferretdb_is_detected_and_gets_document_locks() {
    let Some(store) = common::fresh_store("locks").await else {
        return;
    };
    let info = store
        .database()
        .run_command(doc! { "buildInfo": 1 })
        .await
        .expect("buildInfo");
    assert_eq!(
        store.document_locks(),
        info.contains_key("ferretdbVersion"),
        "locks on exactly for FerretDB"
    );
}

/// A grace longer than the calendar (chrono's dates end ~262,000 years back) gives nothing
/// back, and does not panic.
#[tokio::test]
async fn recover_reservations_with_a_grace_beyond_the_calendar_gives_nothing_back() {
    let Some(store) = common::fresh_store("recover_huge_grace").await else {
        return;
    };
    let grace = Duration::from_secs(1_000_000 * 366 * 86_400);
    assert_eq!(store.recover_reservations(grace).await.expect("recover"), 0);
}

/// What a crash between reserving stock and inserting the order leaves behind, simulated by
/// writing it by hand: reserved stock and a marker, no order. Recovery gives the stock back
/// once; a marker whose order exists is only dropped.
#[tokio::test]
async fn recover_reservations_repairs_an_interrupted_order() {
    let Some(store) = common::fresh_store("recover").await else {
        return;
    };
    let p = product(&store, 10).await;
    let user = store
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .expect("user");
    let placed = store
        .place_order(NewOrder {
            user: user.id,
            items: vec![NewOrderItem {
                product: p.id,
                quantity: 1,
            }],
            shipping: common::shipping(),
        })
        .await
        .expect("order");

    let products = store.database().collection::<Document>("products");
    let old = swiftbox_core::time::now().timestamp_millis() - 60_000;
    let lost_order = swiftbox_core::OrderId::generate();
    products
        .update_one(
            doc! { "_id": p.id.to_string() },
            doc! {
                "$inc": { "stock": -3_i64 },
                "$push": { "reservations": {
                    "$each": [
                        format!("{lost_order}|3|{old}"),
                        format!("{}|1|{old}", placed.id),
                    ]
                } },
            },
        )
        .await
        .expect("simulate the crash");
    assert_eq!(store.get_product(&p.id).await.expect("get").stock, 6);

    // Young markers are left alone (their orders may still be on their way).
    assert_eq!(
        store
            .recover_reservations(Duration::from_secs(3600))
            .await
            .expect("recover"),
        0
    );
    assert_eq!(
        store
            .recover_reservations(Duration::from_secs(1))
            .await
            .expect("recover"),
        1
    );
    let after = store.get_product(&p.id).await.expect("get");
    assert_eq!(
        after.stock, 9,
        "the lost order's 3 units are back, the placed one's not"
    );
    assert_eq!(after.version, p.version, "recovery is not a product write");
    assert_eq!(
        store
            .recover_reservations(Duration::ZERO)
            .await
            .expect("again"),
        0,
        "a give-back happens once"
    );
    let d = products
        .find_one(doc! { "_id": p.id.to_string() })
        .await
        .expect("find")
        .expect("product");
    let left = d.get_array("reservations").map(|a| a.len()).unwrap_or(0);
    assert_eq!(left, 0, "every marker is gone: {d}");
}

/// Two-line orders racing for the last unit of one line: whichever interleaving happens
/// (refused by the advisory check, or after reserving the other line and giving it back),
/// exactly one order is placed and every other leaves stock and markers as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_line_orders_give_everything_back() {
    let Some(store) = common::fresh_store("failed_orders").await else {
        return;
    };
    let a = product(&store, 100).await;
    let b = store
        .create_product(NewProduct {
            name: "Emma".into(),
            description: String::new(),
            price: Money::new(500, Currency::USD),
            images: vec![],
            category: a.category,
            stock: 1,
        })
        .await
        .expect("b");
    let user = store
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .expect("user");
    let order = NewOrder {
        user: user.id,
        items: vec![
            NewOrderItem {
                product: a.id,
                quantity: 2,
            },
            NewOrderItem {
                product: b.id,
                quantity: 1,
            },
        ],
        shipping: common::shipping(),
    };
    let results = futures::future::join_all((0..20).map(|_| {
        let store = store.clone();
        let order = order.clone();
        async move { store.place_order(order).await }
    }))
    .await;
    let placed = results.iter().filter(|r| r.is_ok()).count();
    let short = results
        .iter()
        .filter(|r| matches!(r, Err(Error::InsufficientStock { .. })))
        .count();
    assert_eq!((placed, short), (1, 19), "{results:?}");
    assert_eq!(store.get_product(&a.id).await.expect("a").stock, 98);
    assert_eq!(store.get_product(&b.id).await.expect("b").stock, 0);
    let with_markers = store
        .database()
        .collection::<Document>("products")
        .count_documents(doc! { "reservations": { "$type": "string" } })
        .await
        .expect("count");
    assert_eq!(with_markers, 0, "no reservation markers left behind");
}

/// An acknowledgement of several entities (batched under document locks on FerretDB) settles
/// exactly the entities still at the acknowledged version, purges a tombstone at its version,
/// leaves a newer write owed, and acknowledges an entity whose lock someone else holds (here an
/// expired lock, taken over) one by one; no lock is left behind.
#[tokio::test]
async fn a_batch_of_acknowledgements_settles_exactly_what_is_still_at_its_version() {
    use swiftbox_core::{ChangeAck, EntityKind, EntityRef, OwedQuery, UserPatch};
    let Some(store) = common::fresh_store("batched_acks").await else {
        return;
    };
    let mut users = Vec::new();
    for i in 0..4 {
        let u = store
            .create_user(NewUser::new(
                format!("acker{i}"),
                format!("acker{i}@example.com"),
            ))
            .await
            .expect("user");
        users.push(u.id);
    }
    let owed = store
        .owed_changes(&OwedQuery::oldest(100))
        .await
        .expect("owed");
    assert_eq!(owed.len(), 4, "{owed:?}");
    let acks: Vec<ChangeAck> = owed
        .iter()
        .map(|c| ChangeAck {
            entity: c.entity.clone(),
            version: c.version,
        })
        .collect();
    // After the graph read them: user 1 is written again, user 2 deleted (its tombstone is
    // then acknowledged at its own version), user 3's lock is held by a holder that died.
    store
        .update_user(
            &users[1],
            UserPatch {
                is_admin: Some(true),
                ..UserPatch::default()
            },
        )
        .await
        .expect("update");
    store.delete_user(&users[2]).await.expect("delete");
    let tombstone = store
        .owed_change(&EntityRef::new(EntityKind::User, users[2]))
        .await
        .expect("owed tombstone")
        .expect("a tombstone is owed");
    let locks = store.database().collection::<Document>("swiftbox_locks");
    locks
        .insert_one(doc! {
            "_id": format!("{}:{}", EntityKind::User, users[3]),
            "token": "a-holder-that-died",
            "until": mongodb::bson::DateTime::from_millis(0),
        })
        .await
        .expect("stale lock");
    let mut batch: Vec<ChangeAck> = acks
        .into_iter()
        .filter(|a| a.entity.id != users[2].to_string())
        .collect();
    batch.push(ChangeAck {
        entity: tombstone.entity.clone(),
        version: tombstone.version,
    });
    store.ack_changes(&batch).await.expect("ack");

    let still: Vec<(String, u64)> = store
        .owed_changes(&OwedQuery::oldest(100))
        .await
        .expect("owed")
        .into_iter()
        .map(|c| (c.entity.id, c.version))
        .collect();
    assert_eq!(
        still,
        vec![(users[1].to_string(), 2)],
        "only the newer write stays owed"
    );
    let users_coll = store.database().collection::<Document>("users");
    for (i, id) in users.iter().enumerate() {
        let d = users_coll
            .find_one(doc! { "_id": id.to_string() })
            .await
            .expect("find");
        match i {
            2 => assert!(d.is_none(), "the acknowledged tombstone is purged"),
            1 => assert_eq!(d.expect("doc").get_i64("synced_version"), Ok(0)),
            _ => assert_eq!(d.expect("doc").get_i64("synced_version"), Ok(1)),
        }
    }
    assert_eq!(
        locks.count_documents(doc! {}).await.expect("count"),
        0,
        "no lock left behind"
    );
}

/// A hot product under load carries the markers of every order between its reservation and
/// its insert; at 100 orders/s on FerretDB there were dozens at once. FerretDB on PostgreSQL
/// indexes an array field as one value, and an index on `reservations` refused every update
/// once the markers passed PostgreSQL's 2,704-byte index row ("index row size 2720 exceeds
/// btree version 4 maximum 2704", SQLSTATE 54000): orders of that product failed until the
/// markers cleared (on FerretDB the update carrying them by hand failed before the change).
/// Placing an order and recovering must work with a hundred markers.
#[tokio::test]
async fn a_product_with_a_hundred_reservations_still_takes_orders() {
    let Some(store) = common::fresh_store("many_markers").await else {
        return;
    };
    let p = product(&store, 1_000).await;
    let user = store
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .expect("user");
    // Ids and times as varied as real ones (PostgreSQL compresses an index row first).
    let now = swiftbox_core::time::now().timestamp_millis();
    let mut x: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
    let markers: Vec<String> = (0..100)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = swiftbox_core::OrderId::from_u128(x);
            format!("{id}|1|{}", now - 60_000 - (x % 1_000_000) as i64 - i)
        })
        .collect();
    store
        .database()
        .collection::<Document>("products")
        .update_one(
            doc! { "_id": p.id.to_string() },
            doc! { "$inc": { "stock": -100_i64 }, "$push": { "reservations": { "$each": markers } } },
        )
        .await
        .expect("a hundred orders in flight, written by hand");

    store
        .place_order(NewOrder {
            user: user.id,
            items: vec![NewOrderItem {
                product: p.id,
                quantity: 1,
            }],
            shipping: common::shipping(),
        })
        .await
        .expect("an order of a product with many reservations in flight");
    assert_eq!(
        store
            .recover_reservations(Duration::from_secs(1))
            .await
            .expect("recover"),
        100,
        "the hundred lost orders' stock goes back"
    );
    let after = store.get_product(&p.id).await.expect("get");
    assert_eq!(after.stock, 999);

    // On FerretDB, `migrate` drops the index an earlier version created.
    let products = store.database().collection::<Document>("products");
    let has_index = |names: Vec<String>| names.iter().any(|n| n == "reservations");
    let ferretdb = store
        .database()
        .run_command(doc! { "buildInfo": 1 })
        .await
        .expect("buildInfo")
        .contains_key("ferretdbVersion");
    assert_eq!(
        has_index(products.list_index_names().await.expect("indexes")),
        !ferretdb
    );
    if ferretdb {
        products
            .create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! { "reservations": 1 })
                    .options(
                        mongodb::options::IndexOptions::builder()
                            .name("reservations".to_owned())
                            .build(),
                    )
                    .build(),
            )
            .await
            .expect("the old index");
        store.migrate().await.expect("migrate");
        assert!(!has_index(
            products.list_index_names().await.expect("indexes")
        ));
    }
    store.database().drop().await.expect("drop");
}
