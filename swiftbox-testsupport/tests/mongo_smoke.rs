//! Proves the MongoDB-wire server the tests get is the real thing for what
//! SwiftBox needs: unique indexes that refuse duplicates with code 11000, and
//! every BSON type the domain stores coming back exactly as written.

use futures::TryStreamExt as _;
use mongodb::bson::{self, doc, oid::ObjectId, Bson, DateTime, Decimal128, Document};
use mongodb::error::{Error, ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;
use mongodb::{Client, Database, IndexModel};

/// MongoDB's (and FerretDB's) duplicate key error code.
const DUPLICATE_KEY: i32 = 11000;

async fn database(test: &str) -> Option<(Client, Database)> {
    let server = swiftbox_testsupport::mongo().await?;
    let client = Client::with_uri_str(&server.uri)
        .await
        .unwrap_or_else(|e| panic!("connecting to {server:?}: {e}"));
    let db = client.database(&server.unique_database(test));
    Some((client, db))
}

fn write_error(err: &Error) -> Option<(i32, &str)> {
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some((e.code, e.message.as_str())),
        ErrorKind::Command(e) => Some((e.code, e.message.as_str())),
        _ => None,
    }
}

#[tokio::test]
async fn unique_index_refuses_duplicates_with_code_11000() {
    let Some((_client, db)) = database("unique_index").await else {
        return;
    };
    let users = db.collection::<Document>("users");
    let index = IndexModel::builder()
        .keys(doc! { "email": 1 })
        .options(
            IndexOptions::builder()
                .unique(true)
                .name("users_email_unique".to_owned())
                .build(),
        )
        .build();
    users
        .create_index(index)
        .await
        .expect("create unique index");

    users
        .insert_one(doc! { "username": "ada", "email": "ada@example.com" })
        .await
        .expect("first insert");
    let bob = users
        .insert_one(doc! { "username": "bob", "email": "bob@example.com" })
        .await
        .expect("second insert");

    // A duplicate on insert.
    let err = users
        .insert_one(doc! { "username": "ada2", "email": "ada@example.com" })
        .await
        .expect_err("a duplicate email must be refused");
    let (code, message) = write_error(&err).unwrap_or_else(|| panic!("not a write error: {err:?}"));
    assert_eq!(code, DUPLICATE_KEY, "{err}");
    // Only the code is portable: MongoDB names the index and key in the
    // message, FerretDB 1.24 only the collection ("E11000 duplicate key error
    // collection: db.users"), so the backend cannot read the field from it.
    assert!(message.starts_with("E11000"), "{message}");

    // A duplicate made by an update is refused too, but FerretDB 1.24 reports it
    // as code 1 InternalError where MongoDB says 11000: on SQLite "... UNIQUE
    // constraint failed: index '<collection>_<hash>_<index name>' ...", on
    // PostgreSQL "... duplicate key value violates unique constraint
    // \"<collection>_<hash>_<index name>_<hash>_idx\" (SQLSTATE 23505)". The Mongo
    // backend maps all three to a conflict; this pins down the shapes.
    let bob_id = bob.inserted_id.clone();
    let err = users
        .update_one(
            doc! { "_id": bob_id.clone() },
            doc! { "$set": { "email": "ada@example.com" } },
        )
        .await
        .expect_err("an update into a duplicate email must be refused");
    let (code, message) = write_error(&err).unwrap_or_else(|| panic!("not a write error: {err:?}"));
    assert!(
        code == DUPLICATE_KEY
            || (code == 1
                && (message.contains("UNIQUE constraint failed")
                    || message.contains("(SQLSTATE 23505)"))),
        "neither MongoDB's nor FerretDB's duplicate-key shape: {err}"
    );
    let bob = users
        .find_one(doc! { "_id": bob_id })
        .await
        .expect("find")
        .expect("bob");
    assert_eq!(
        bob.get_str("email"),
        Ok("bob@example.com"),
        "the refused update must change nothing"
    );

    assert_eq!(users.count_documents(doc! {}).await.expect("count"), 2);
    db.drop().await.expect("drop test database");
}

/// An order as the domain stores it: every BSON type SwiftBox uses.
fn order_document(id: ObjectId, user_id: ObjectId, placed_at: DateTime) -> Document {
    doc! {
        "_id": id,
        "user_id": user_id,
        "status": "placed",
        "note": "Grüße, 東京 — \"quoted\" & <tagged>",
        // Money as integer minor units: beyond f64's exact range on purpose.
        "total_minor": 9_007_199_254_740_993_i64,
        "refund_minor": -1_250_i64,
        "currency": "EUR",
        "item_count": 2_i32,
        "paid": true,
        "gift": false,
        "placed_at": placed_at,
        "cancelled_at": Bson::Null,
        "tags": ["express", "gift-wrap"],
        "items": [
            { "product_id": ObjectId::new(), "quantity": 1_i32, "unit_price_minor": 1_999_i64 },
            { "product_id": ObjectId::new(), "quantity": 3_i32, "unit_price_minor": 250_i64 },
        ],
        "shipping": {
            "street": "1 Main St",
            "city": "Springfield",
            "geo": { "lines": ["a", "b"], "floor": 3_i32 },
        },
        "sync": { "version": 1_i64, "pending": true },
    }
}

#[tokio::test]
async fn every_domain_bson_type_round_trips_and_queries() {
    let Some((_client, db)) = database("bson_round_trip").await else {
        return;
    };
    let orders = db.collection::<Document>("orders");
    let id = ObjectId::new();
    let user_id = ObjectId::new();
    // BSON dates have millisecond precision: build one that is exact.
    let placed_at = DateTime::from_millis(1_764_000_000_123);
    let original = order_document(id, user_id, placed_at);

    orders.insert_one(original.clone()).await.expect("insert");
    let back = orders
        .find_one(doc! { "_id": id })
        .await
        .expect("find")
        .expect("the order");
    // Document equality compares BSON types too: an i64 read back as i32 or
    // f64, or a date as a string, fails here.
    assert_eq!(back, original);
    for (field, ty) in [
        ("_id", bson::spec::ElementType::ObjectId),
        ("total_minor", bson::spec::ElementType::Int64),
        ("item_count", bson::spec::ElementType::Int32),
        ("paid", bson::spec::ElementType::Boolean),
        ("placed_at", bson::spec::ElementType::DateTime),
        ("cancelled_at", bson::spec::ElementType::Null),
        ("tags", bson::spec::ElementType::Array),
        ("shipping", bson::spec::ElementType::EmbeddedDocument),
    ] {
        assert_eq!(back.get(field).map(Bson::element_type), Some(ty), "{field}");
    }

    // The queries the backend relies on find it by each type.
    let filters = [
        doc! { "user_id": user_id },
        doc! { "total_minor": 9_007_199_254_740_993_i64 },
        doc! { "total_minor": { "$gt": 9_007_199_254_740_992_i64 } },
        doc! { "item_count": { "$gte": 2_i32 } },
        doc! { "paid": true, "gift": false },
        doc! { "placed_at": { "$gte": placed_at, "$lt": DateTime::from_millis(placed_at.timestamp_millis() + 1) } },
        doc! { "cancelled_at": Bson::Null },
        doc! { "tags": "express" },
        doc! { "tags": { "$in": ["nope", "gift-wrap"] } },
        // Dotted paths into arrays of documents. ($elemMatch with field
        // conditions is not in the portable subset: FerretDB 1.24 answers
        // "unknown operator".)
        doc! { "items.quantity": 3_i32 },
        doc! { "items.unit_price_minor": { "$lt": 300_i64 } },
        doc! { "shipping.city": "Springfield" },
        doc! { "shipping.geo.floor": 3_i32 },
        doc! { "sync.pending": true },
    ];
    for filter in filters {
        let found: Vec<Document> = orders
            .find(filter.clone())
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("cursor");
        assert_eq!(found.len(), 1, "filter {filter} found {found:?}");
    }

    // Versioned, conditional update: what "a version that every write bumps"
    // and the in-document pending marker need. Types must survive $inc/$set.
    let bumped = orders
        .update_one(
            doc! { "_id": id, "sync.version": 1_i64 },
            doc! { "$inc": { "sync.version": 1_i64, "total_minor": 1_i64 }, "$set": { "sync.pending": false } },
        )
        .await
        .expect("update");
    assert_eq!((bumped.matched_count, bumped.modified_count), (1, 1));
    let stale = orders
        .update_one(
            doc! { "_id": id, "sync.version": 1_i64 },
            doc! { "$set": { "status": "lost" } },
        )
        .await
        .expect("stale update");
    assert_eq!(stale.matched_count, 0, "a stale version must not match");
    let back = orders
        .find_one(doc! { "_id": id })
        .await
        .expect("find")
        .expect("the order");
    assert_eq!(
        back.get("total_minor"),
        Some(&Bson::Int64(9_007_199_254_740_994))
    );
    assert_eq!(
        back.get_document("sync").expect("sync"),
        &doc! { "version": 2_i64, "pending": false }
    );
    assert_eq!(back.get_str("status"), Ok("placed"));

    db.drop().await.expect("drop test database");
}

/// Decimal128 is not part of the portable subset (FerretDB 1.x does not
/// store it): money is integer minor units. What must hold everywhere is
/// that a decimal is never silently altered: it round-trips exactly, or the
/// server refuses it.
#[tokio::test]
async fn decimal128_round_trips_exactly_or_is_refused() {
    let Some((_client, db)) = database("decimal128").await else {
        return;
    };
    let coll = db.collection::<Document>("prices");
    let price: Decimal128 = "19.99".parse().expect("decimal literal");
    let id = ObjectId::new();
    match coll.insert_one(doc! { "_id": id, "price": price }).await {
        Ok(_) => {
            let back = coll
                .find_one(doc! { "_id": id })
                .await
                .expect("find")
                .expect("the price");
            assert_eq!(back.get("price"), Some(&Bson::Decimal128(price)));
            eprintln!("this server stores Decimal128");
        }
        Err(err) => {
            eprintln!("this server refuses Decimal128: {err}");
            let found = coll
                .count_documents(doc! { "_id": id })
                .await
                .expect("count");
            assert_eq!(found, 0, "a refused insert must store nothing");
        }
    }
    db.drop().await.expect("drop test database");
}

/// The write shapes a versioned store needs: an upsert that sets fields only
/// on insert, and an atomic conditional update that returns the new document.
#[tokio::test]
async fn upsert_and_find_one_and_update_return_the_new_version() {
    use mongodb::options::ReturnDocument;

    let Some((_client, db)) = database("upsert").await else {
        return;
    };
    let products = db.collection::<Document>("products");
    let id = ObjectId::new();

    for name in ["Tea", "Green tea"] {
        products
            .update_one(
                doc! { "_id": id },
                doc! {
                    "$set": { "name": name },
                    "$setOnInsert": { "created_at": DateTime::from_millis(1_000), "version": 1_i64 },
                },
            )
            .upsert(true)
            .await
            .expect("upsert");
    }
    let after = products
        .find_one_and_update(
            doc! { "_id": id, "version": 1_i64 },
            doc! { "$inc": { "version": 1_i64 }, "$set": { "pending": true } },
        )
        .return_document(ReturnDocument::After)
        .await
        .expect("find_one_and_update")
        .expect("the product at version 1");
    assert_eq!(
        after,
        doc! {
            "_id": id,
            "name": "Green tea",
            "created_at": DateTime::from_millis(1_000),
            "version": 2_i64,
            "pending": true,
        }
    );
    let stale = products
        .find_one_and_update(
            doc! { "_id": id, "version": 1_i64 },
            doc! { "$inc": { "version": 1_i64 } },
        )
        .await
        .expect("stale find_one_and_update");
    assert_eq!(stale, None, "a stale version must not match");
    db.drop().await.expect("drop test database");
}
