//! Fixtures and assertions shared by the primary-store checks.

use std::fmt::Debug;

use crate::prelude::*;
use crate::primary::{OwedChange, OwedQuery, SyncStats};
use crate::{
    Category, Currency, EntityKind, EntityRef, Error, Money, NewCategory, NewOrder, NewOrderItem,
    NewProduct, NewReview, NewUser, Order, PageRequest, Product, ProductQuery, Result, Review,
    ShippingAddress, User,
};

/// Unwraps `r`, panicking with `what` and the error.
pub(super) fn ok<T>(r: Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

/// The error of `r`, panicking with `what` when it succeeded.
pub(super) fn err<T: Debug>(r: Result<T>, what: &str) -> Error {
    match r {
        Ok(v) => panic!("{what}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// Asserts `r` is [`Error::Invalid`] on exactly `field`.
pub(super) fn assert_invalid<T: Debug>(r: Result<T>, field: &str, what: &str) {
    let e = err(r, what);
    assert!(
        matches!(&e, Error::Invalid { field: f, .. } if f == field),
        "{what}: expected invalid {field}, got: {e}"
    );
}

/// Asserts `r` is [`Error::NotFound`] of `kind`.
pub(super) fn assert_not_found<T: Debug>(r: Result<T>, kind: EntityKind, what: &str) {
    let e = err(r, what);
    assert!(
        matches!(&e, Error::NotFound { kind: k, .. } if *k == kind),
        "{what}: expected {kind} not found, got: {e}"
    );
}

/// Asserts `r` is [`Error::Conflict`] on `kind`'s `field`.
pub(super) fn assert_conflict<T: Debug>(r: Result<T>, kind: EntityKind, field: &str, what: &str) {
    let e = err(r, what);
    assert!(
        matches!(&e, Error::Conflict { kind: k, field: f, .. } if *k == kind && *f == field),
        "{what}: expected conflict on {kind} {field}, got: {e}"
    );
}

/// A valid shipping address.
pub(super) fn shipping() -> ShippingAddress {
    ShippingAddress {
        name: "Ann Buyer".into(),
        line1: "1 Main Street".into(),
        line2: None,
        city: "Springfield".into(),
        postal_code: "12345".into(),
        country: "US".into(),
    }
}

/// A valid product input.
pub(super) fn new_product(category: &Category, name: &str, cents: i64, stock: i64) -> NewProduct {
    NewProduct {
        name: name.into(),
        description: format!("about {name}"),
        price: Money::new(cents, Currency::USD),
        images: vec!["https://cdn.example/p.png".into()],
        category: category.id,
        stock,
    }
}

pub(super) async fn category(store: &dyn PrimaryBackend, name: &str) -> Category {
    ok(
        store.create_category(NewCategory::new(name)).await,
        "create category",
    )
}

pub(super) async fn product(
    store: &dyn PrimaryBackend,
    category: &Category,
    name: &str,
    cents: i64,
    stock: i64,
) -> Product {
    ok(
        store
            .create_product(new_product(category, name, cents, stock))
            .await,
        "create product",
    )
}

pub(super) async fn user(store: &dyn PrimaryBackend, name: &str) -> User {
    ok(
        store
            .create_user(NewUser::new(name, format!("{name}@example.com")))
            .await,
        "create user",
    )
}

pub(super) fn new_order(user: &User, items: &[(&Product, i64)]) -> NewOrder {
    NewOrder {
        user: user.id,
        items: items
            .iter()
            .map(|(p, q)| NewOrderItem {
                product: p.id,
                quantity: *q,
            })
            .collect(),
        shipping: shipping(),
    }
}

pub(super) async fn order(
    store: &dyn PrimaryBackend,
    user: &User,
    items: &[(&Product, i64)],
) -> Order {
    ok(
        store.place_order(new_order(user, items)).await,
        "place order",
    )
}

pub(super) async fn review(
    store: &dyn PrimaryBackend,
    user: &User,
    product: &Product,
    rating: i64,
) -> Review {
    ok(
        store
            .create_review(NewReview {
                user: user.id,
                product: product.id,
                rating,
                comment: "fine".into(),
            })
            .await,
        "create review",
    )
}

/// Every item of a paged list.
pub(super) async fn all_pages<T, F, Fut>(list: F) -> Vec<T>
where
    F: Fn(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<crate::Page<T>>>,
{
    let mut out = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let p = ok(list(page.clone()).await, "list page");
        out.extend(p.items);
        match p.next {
            Some(next) => page = PageRequest::after(next, PageRequest::MAX_LIMIT),
            None => return out,
        }
    }
}

/// Every owed change, set-aside ones included.
pub(super) async fn all_owed(store: &dyn PrimaryBackend) -> Vec<OwedChange> {
    let q = OwedQuery {
        include_set_aside: true,
        ..OwedQuery::oldest(10_000)
    };
    ok(store.owed_changes(&q).await, "owed changes")
}

/// Everything a store holds that a check can see: entities, their state and the sync
/// bookkeeping. Two equal snapshots mean nothing changed.
#[derive(Debug, PartialEq)]
pub(super) struct Snapshot {
    stats: SyncStats,
    owed: Vec<OwedChange>,
    users: Vec<User>,
    categories: Vec<Category>,
    products: Vec<Product>,
    orders: Vec<Order>,
    reviews: Vec<Review>,
}

pub(super) async fn snapshot(store: &dyn PrimaryBackend) -> Snapshot {
    let products: Vec<Product> = all_pages(|page| {
        store.list_products(ProductQuery {
            category: None,
            page,
        })
    })
    .await;
    let mut reviews = Vec::new();
    for p in &products {
        reviews.extend(all_pages(|page| store.list_product_reviews(&p.id, page)).await);
    }
    Snapshot {
        stats: ok(store.sync_stats().await, "sync stats"),
        owed: all_owed(store).await,
        users: all_pages(|page| store.list_users(page)).await,
        categories: all_pages(|page| store.list_categories(page)).await,
        orders: all_pages(|page| store.list_orders(page)).await,
        products,
        reviews,
    }
}

/// Asserts the store is exactly as `before`.
pub(super) async fn assert_unchanged(store: &dyn PrimaryBackend, before: &Snapshot, what: &str) {
    let after = snapshot(store).await;
    assert!(
        &after == before,
        "{what}: a refused write changed the store\nbefore: {before:#?}\nafter: {after:#?}"
    );
}

/// The live count of `kind` in `stats` (absent means zero).
pub(super) fn count(stats: &SyncStats, kind: EntityKind) -> u64 {
    stats.entities.get(&kind).copied().unwrap_or(0)
}

/// The change owed for `entity`, panicking when none is.
pub(super) async fn owed(store: &dyn PrimaryBackend, entity: EntityRef) -> OwedChange {
    match ok(store.owed_change(&entity).await, "owed change") {
        Some(c) => c,
        None => panic!("expected a change owed for {entity}"),
    }
}
