//! Shared by this crate's server tests: a fresh store on a database of its own.

#![allow(dead_code, unreachable_pub)]

use swiftbox_core::prelude::*;
use swiftbox_core::{Currency, Money, NewCategory, NewProduct, Product, ShippingAddress};
use swiftbox_mongo::MongoStore;

/// A store on a fresh database of the test server, or `None` (after a loud `SKIPPED:` line)
/// when there is no server and `CI` is unset; under `CI` a missing server fails the test.
/// The database is named after the running test (its thread name) when there is one.
pub async fn fresh_store(test: &str) -> Option<MongoStore> {
    let server = swiftbox_testsupport::mongo().await?;
    let thread = std::thread::current();
    let name = thread
        .name()
        .map_or(test, |n| n.rsplit("::").next().unwrap_or(n));
    let db = server.unique_database(name);
    match MongoStore::connect(&server.uri, &db).await {
        Ok(store) => Some(store),
        Err(e) => panic!("cannot connect to {server:?}: {e}"),
    }
}

/// A valid shipping address.
pub fn shipping() -> ShippingAddress {
    ShippingAddress {
        name: "Ann".into(),
        line1: "1 Main St".into(),
        line2: None,
        city: "Springfield".into(),
        postal_code: "12345".into(),
        country: "US".into(),
    }
}

/// A product "Dune" at 19.99 USD with `stock`, in a new category "Books".
pub async fn product(store: &MongoStore, stock: i64) -> Product {
    let cat = store
        .create_category(NewCategory::new("Books"))
        .await
        .expect("category");
    store
        .create_product(NewProduct {
            name: "Dune".into(),
            description: String::new(),
            price: Money::new(1999, Currency::USD),
            images: vec![],
            category: cat.id,
            stock,
        })
        .await
        .expect("product")
}
