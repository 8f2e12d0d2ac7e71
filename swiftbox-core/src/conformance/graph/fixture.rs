//! The suite's small fixed shop: deterministic ids, fixed times, every query's answer worked out
//! by hand in the checks. Backends may use it in their own tests too.
//!
//! Ids come from disjoint ranges per kind (users `0x1000 + n`, categories `0x2000 + n`,
//! products `0x3000 + n`, orders `0x4000 + n`, reviews `0x5000 + n`), so `user(1) < user(2)`
//! and the same holds for their strings. Times are hours after [`t0`].
//!
//! | product | name | category | price |
//! |---|---|---|---|
//! | P1 | Rust Book | Books | 39.99 |
//! | P2 | Go Book | Books | 29.99 |
//! | P3 | Chess | Games | 15.00 |
//! | P4 | Catan | Games | 45.00 |
//! | P5 | Jazz LP | Music | 25.00 |
//! | P6 | Rock LP | Music | 22.00 |
//! | P7 | Easel | Art | 50.00 |
//! | P8 | Haiku | Books | 12.00 |
//! | P9 | Unsold | Books | 10.00 (never bought) |
//!
//! | order | user | placed at | items (product x quantity @ unit price) |
//! |---|---|---|---|
//! | O1 | U1 alice | 1h | P1 x1, P3 x2 |
//! | O2 | U2 bob | 2h | P1 x1, P2 x1 |
//! | O3 | U2 bob | 3h | P3 x1 |
//! | O4 | U3 carol | 4h | P1 x2, P4 x1 |
//! | O5 | U3 carol | 5h | P2 x1, P5 x1 |
//! | O6 | U4 dave | 6h | P5 x3 @ 20.00 (a discount) |
//! | O7 | U1 alice | 7h | P6 x1 |
//! | O8 | U4 dave | 8h | P1 x1 |
//! | O9 | U4 dave | 9h | P5 x1 |
//! | O10 | U6 frank | 10h | P7 x1, P8 x1 |
//!
//! U5 erin bought nothing and viewed P3 (1h, and again at 0h30), P4 (2h), P1 (3h), P5 (4h),
//! P7 (5h) ([`views`]). Reviews: R1 by U1 on P1 (5 stars), R2 by U2 on P3 (4 stars). Every
//! entity is at version 1.

use chrono::{DateTime, Duration, Utc};

use crate::error::Result;
use crate::graph::{
    CategoryNode, GraphChange, GraphRecord, GraphStore, OrderPurchases, ProductNode, PurchasedItem,
    ReviewEdge, UserNode,
};
use crate::id::{CategoryId, OrderId, ProductId, ReviewId, UserId};
use crate::money::{Currency, Money};

/// 2024-01-01T00:00:00Z: the fixture's time origin.
pub fn t0() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_704_067_200)
}

/// `t0` plus `minutes`.
pub fn at_min(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

/// `t0` plus `hours`.
pub fn at_h(hours: i64) -> DateTime<Utc> {
    t0() + Duration::hours(hours)
}

/// User `n` of the fixture (U1 alice .. U6 frank).
pub fn user(n: u128) -> UserId {
    UserId::from_u128(0x1000 + n)
}

/// Category `n` (C1 Books, C2 Games, C3 Music, C4 Art).
pub fn category(n: u128) -> CategoryId {
    CategoryId::from_u128(0x2000 + n)
}

/// Product `n` (P1 .. P9).
pub fn product(n: u128) -> ProductId {
    ProductId::from_u128(0x3000 + n)
}

/// Order `n` (O1 .. O10).
pub fn order(n: u128) -> OrderId {
    OrderId::from_u128(0x4000 + n)
}

/// Review `n` (R1, R2).
pub fn review(n: u128) -> ReviewId {
    ReviewId::from_u128(0x5000 + n)
}

/// An amount in US cents.
pub fn usd(cents: i64) -> Money {
    Money::new(cents, Currency::USD)
}

const USERS: [(u128, &str); 6] = [
    (1, "alice"),
    (2, "bob"),
    (3, "carol"),
    (4, "dave"),
    (5, "erin"),
    (6, "frank"),
];

const CATEGORIES: [(u128, &str); 4] = [(1, "Books"), (2, "Games"), (3, "Music"), (4, "Art")];

/// (n, name, category, price in cents).
const PRODUCTS: [(u128, &str, &str, i64); 9] = [
    (1, "Rust Book", "Books", 3999),
    (2, "Go Book", "Books", 2999),
    (3, "Chess", "Games", 1500),
    (4, "Catan", "Games", 4500),
    (5, "Jazz LP", "Music", 2500),
    (6, "Rock LP", "Music", 2200),
    (7, "Easel", "Art", 5000),
    (8, "Haiku", "Books", 1200),
    (9, "Unsold", "Books", 1000),
];

/// (n, user, hour, [(product, quantity, unit price)]).
type OrderRow = (u128, u128, i64, &'static [(u128, i64, i64)]);
const ORDERS: [OrderRow; 10] = [
    (1, 1, 1, &[(1, 1, 3999), (3, 2, 1500)]),
    (2, 2, 2, &[(1, 1, 3999), (2, 1, 2999)]),
    (3, 2, 3, &[(3, 1, 1500)]),
    (4, 3, 4, &[(1, 2, 3999), (4, 1, 4500)]),
    (5, 3, 5, &[(2, 1, 2999), (5, 1, 2500)]),
    (6, 4, 6, &[(5, 3, 2000)]),
    (7, 1, 7, &[(6, 1, 2200)]),
    (8, 4, 8, &[(1, 1, 3999)]),
    (9, 4, 9, &[(5, 1, 2500)]),
    (10, 6, 10, &[(7, 1, 5000), (8, 1, 1200)]),
];

/// The user node of fixture user `n`.
pub fn user_node(n: u128) -> UserNode {
    let name = USERS
        .iter()
        .find(|(i, _)| *i == n)
        .map_or("nobody", |(_, name)| name);
    UserNode {
        id: user(n),
        username: name.to_owned(),
        email: format!("{name}@example.com"),
        version: 1,
    }
}

/// The category node of fixture category `n`.
pub fn category_node(n: u128) -> CategoryNode {
    let name = CATEGORIES
        .iter()
        .find(|(i, _)| *i == n)
        .map_or("None", |(_, name)| name);
    CategoryNode {
        id: category(n),
        name: name.to_owned(),
        version: 1,
    }
}

/// The product node of fixture product `n`.
pub fn product_node(n: u128) -> ProductNode {
    let (_, name, cat, price) = PRODUCTS
        .iter()
        .find(|p| p.0 == n)
        .copied()
        .unwrap_or((n, "None", "None", 0));
    ProductNode {
        id: product(n),
        name: name.to_owned(),
        category: cat.to_owned(),
        price: usd(price),
        version: 1,
    }
}

/// The purchases of fixture order `n`.
pub fn order_purchases(n: u128) -> OrderPurchases {
    let (_, u, hour, items) = ORDERS
        .iter()
        .find(|o| o.0 == n)
        .copied()
        .unwrap_or((n, 0, 0, &[]));
    OrderPurchases {
        order_id: order(n),
        user: user(u),
        placed_at: at_h(hour),
        items: items
            .iter()
            .map(|(p, q, price)| PurchasedItem {
                product: product(*p),
                quantity: *q,
                unit_price: usd(*price),
            })
            .collect(),
        version: 1,
    }
}

/// Review `n` of the fixture.
pub fn review_edge(n: u128) -> ReviewEdge {
    let (u, p, rating) = if n == 1 { (1, 1, 5) } else { (2, 3, 4) };
    ReviewEdge {
        id: review(n),
        user: user(u),
        product: product(p),
        rating,
        version: 1,
    }
}

/// Every record of the fixture, referenced kinds first.
pub fn records() -> Vec<GraphRecord> {
    let mut out: Vec<GraphRecord> = Vec::new();
    out.extend(
        CATEGORIES
            .iter()
            .map(|c| GraphRecord::Category(category_node(c.0))),
    );
    out.extend(USERS.iter().map(|u| GraphRecord::User(user_node(u.0))));
    out.extend(
        PRODUCTS
            .iter()
            .map(|p| GraphRecord::Product(product_node(p.0))),
    );
    out.extend(
        ORDERS
            .iter()
            .map(|o| GraphRecord::Order(order_purchases(o.0))),
    );
    out.extend((1..=2).map(|r| GraphRecord::Review(review_edge(r))));
    out
}

/// The fixture as one batch of upserts (referenced kinds first).
pub fn changes() -> Vec<GraphChange> {
    records().into_iter().map(GraphChange::Upsert).collect()
}

/// The fixture's views: (user, product, when).
pub fn views() -> Vec<(UserId, ProductId, DateTime<Utc>)> {
    vec![
        (user(5), product(3), at_h(1)),
        (user(5), product(4), at_h(2)),
        (user(5), product(1), at_h(3)),
        (user(5), product(5), at_h(4)),
        (user(5), product(7), at_h(5)),
        (user(5), product(3), at_min(30)),
    ]
}

/// Applies [`changes`] and records [`views`].
pub async fn load(graph: &dyn GraphStore) -> Result<()> {
    graph.apply(&changes()).await?;
    for (u, p, at) in views() {
        graph.record_view(&u, &p, at).await?;
    }
    Ok(())
}
