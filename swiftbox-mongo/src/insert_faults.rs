//! Faults injected into the order insert (unit tests only): a client cannot tell a timed-out
//! insert that landed from one that did not, nor from one still on its way to the server.
//! These make each case happen on demand, against the real server, so the tests can check
//! that stock is never given back for an order that exists.

use std::sync::Mutex;

use mongodb::bson::Document;

use crate::error::OperationTimedOut;
use crate::MongoStore;

/// What the next order insert of one store (by database name) does.
#[derive(Debug)]
pub(crate) enum InsertFault {
    /// The insert lands, then the call reports a timeout (the answer was lost).
    LandThenTimeOut,
    /// The call reports a timeout at once, while the insert is still "on its way": the
    /// document goes to the test, which sends it to the server later.
    TimeOutAndLandLater(tokio::sync::oneshot::Sender<Document>),
}

static FAULTS: Mutex<Vec<(String, InsertFault)>> = Mutex::new(Vec::new());

/// Makes the next order insert of `store` fail as `fault` says.
pub(crate) fn inject(store: &MongoStore, fault: InsertFault) {
    let mut faults = FAULTS.lock().unwrap_or_else(|e| e.into_inner());
    faults.push((store.database().name().to_owned(), fault));
}

/// The fault waiting for `store`'s next order insert, if any.
pub(crate) fn take(store: &MongoStore) -> Option<InsertFault> {
    let mut faults = FAULTS.lock().unwrap_or_else(|e| e.into_inner());
    let db = store.database().name();
    let i = faults.iter().position(|(name, _)| name == db)?;
    Some(faults.remove(i).1)
}

impl InsertFault {
    pub(crate) async fn run(self, store: &MongoStore, d: Document) -> mongodb::error::Result<()> {
        match self {
            InsertFault::LandThenTimeOut => {
                store
                    .run_raw(store.coll(swiftbox_core::EntityKind::Order).insert_one(d))
                    .await?;
            }
            InsertFault::TimeOutAndLandLater(late) => {
                let _ = late.send(d);
            }
        }
        Err(mongodb::error::Error::custom(OperationTimedOut))
    }
}

#[cfg(test)]
mod tests {
    use swiftbox_core::prelude::*;
    use swiftbox_core::{
        EntityKind, Error, IdempotencyKey, Money, NewCategory, NewOrder, NewOrderItem, NewProduct,
        NewUser, Product, ShippingAddress, User,
    };

    use super::*;
    use crate::error;

    async fn store(test: &str) -> Option<MongoStore> {
        let server = swiftbox_testsupport::mongo().await?;
        let db = server.unique_database(test);
        Some(
            MongoStore::connect(&server.uri, &db)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to {server:?}: {e}")),
        )
    }

    async fn shop(store: &MongoStore) -> (User, Product) {
        let cat = store
            .create_category(NewCategory::new("Tools"))
            .await
            .unwrap();
        let product = store
            .create_product(NewProduct {
                name: "Saw".into(),
                description: String::new(),
                price: Money::new(1500, swiftbox_core::Currency::USD),
                images: Vec::new(),
                category: cat.id,
                stock: 10,
            })
            .await
            .unwrap();
        let user = store
            .create_user(NewUser::new("ann", "ann@example.com"))
            .await
            .unwrap();
        (user, product)
    }

    fn order_of(user: &User, product: &Product, quantity: i64) -> NewOrder {
        NewOrder {
            user: user.id,
            items: vec![NewOrderItem {
                product: product.id,
                quantity,
            }],
            shipping: ShippingAddress {
                name: "Ann".into(),
                line1: "1 Main St".into(),
                line2: None,
                city: "Springfield".into(),
                postal_code: "12345".into(),
                country: "US".into(),
            },
        }
    }

    async fn stock_and_placed(store: &MongoStore, product: &Product) -> (i64, i64) {
        let stock = store.get_product(&product.id).await.unwrap().stock;
        let placed = store
            .list_orders(swiftbox_core::PageRequest::first(100))
            .await
            .unwrap()
            .items
            .iter()
            .flat_map(|o| &o.items)
            .filter(|i| i.product == product.id)
            .map(|i| i.quantity)
            .sum();
        (stock, placed)
    }

    /// The insert times out on the client while it is still on its way; the placement fails
    /// and the insert then reaches the server. Without a fence the placement gave the stock
    /// back, the late insert landed, and the shop sold 3 units it still counted in stock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_insert_that_arrives_later_never_keeps_stock_it_gave_back() {
        let Some(store) = store("late_insert").await else {
            return;
        };
        let (ann, saw) = shop(&store).await;
        let key = IdempotencyKey::parse("retry-me").unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        inject(&store, InsertFault::TimeOutAndLandLater(tx));
        let err = store
            .place_order_once(order_of(&ann, &saw, 3), &key)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err}");

        // The insert arrives now: it must be refused, or its order would exist without stock.
        let late = rx.await.unwrap();
        let landed = store
            .run_raw(store.coll(EntityKind::Order).insert_one(late))
            .await;
        assert!(
            matches!(&landed, Err(e) if error::is_duplicate(e)),
            "the late insert was not refused: {landed:?}"
        );
        assert_eq!(stock_and_placed(&store, &saw).await, (10, 0));

        // The client's retry with the same key places the order, once.
        let retry = store
            .place_order_once(order_of(&ann, &saw, 3), &key)
            .await
            .unwrap();
        assert!(!retry.replayed);
        assert_eq!(stock_and_placed(&store, &saw).await, (7, 3));
        let again = store
            .place_order_once(order_of(&ann, &saw, 3), &key)
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.order.id, retry.order.id);
        assert_eq!(stock_and_placed(&store, &saw).await, (7, 3));
    }

    /// The insert lands and only its answer is lost: the order exists, so the placement
    /// succeeds with it and its stock stays taken; a retry with the key replays it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_insert_that_landed_before_its_timeout_keeps_its_stock() {
        let Some(store) = store("landed_insert").await else {
            return;
        };
        let (ann, saw) = shop(&store).await;
        let key = IdempotencyKey::parse("landed").unwrap();
        inject(&store, InsertFault::LandThenTimeOut);
        let placed = store
            .place_order_once(order_of(&ann, &saw, 4), &key)
            .await
            .unwrap();
        assert!(!placed.replayed);
        assert_eq!(stock_and_placed(&store, &saw).await, (6, 4));
        let retry = store
            .place_order_once(order_of(&ann, &saw, 4), &key)
            .await
            .unwrap();
        assert!(retry.replayed);
        assert_eq!(retry.order.id, placed.order.id);

        // Without a key too.
        inject(&store, InsertFault::LandThenTimeOut);
        store.place_order(order_of(&ann, &saw, 1)).await.unwrap();
        assert_eq!(stock_and_placed(&store, &saw).await, (5, 5));
        // Nothing is left for recovery to give back.
        assert_eq!(
            store
                .recover_reservations(std::time::Duration::ZERO)
                .await
                .unwrap(),
            0
        );
        assert_eq!(stock_and_placed(&store, &saw).await, (5, 5));
    }
}
