//! How primary-store entities become graph state: the one place every backend and the sync
//! decorator derive [`GraphRecord`]s and [`GraphChange`]s from, so they all agree.

use crate::domain::{Category, Order, Product, Review, User};
use crate::error::EntityKind;
use crate::graph::{
    CategoryNode, GraphChange, GraphRecord, OrderPurchases, ProductNode, PurchasedItem, ReviewEdge,
    UserNode,
};
use crate::id::{EntityRef, ProductId};

/// The graph record of a user.
pub fn user_record(u: &User) -> GraphRecord {
    GraphRecord::User(UserNode {
        id: u.id,
        username: u.username.clone(),
        email: u.email.clone(),
        version: u.version,
    })
}

/// The graph record of a category.
pub fn category_record(c: &Category) -> GraphRecord {
    GraphRecord::Category(CategoryNode {
        id: c.id,
        name: c.name.clone(),
        version: c.version,
    })
}

/// The graph record of a product.
pub fn product_record(p: &Product) -> GraphRecord {
    GraphRecord::Product(ProductNode {
        id: p.id,
        name: p.name.clone(),
        category: p.category_name.clone(),
        price: p.price,
        version: p.version,
    })
}

/// The graph change for an order, given whether its user is live and which of its products
/// are: its purchases of live products, or a delete when the user is gone or no product is left.
pub fn order_change(
    o: &Order,
    user_live: bool,
    product_live: impl Fn(&ProductId) -> bool,
) -> GraphChange {
    let mut items: Vec<PurchasedItem> = o
        .items
        .iter()
        .filter(|i| product_live(&i.product))
        .map(|i| PurchasedItem {
            product: i.product,
            quantity: i.quantity,
            unit_price: i.unit_price,
        })
        .collect();
    if !user_live || items.is_empty() {
        return GraphChange::Delete {
            entity: EntityRef::new(EntityKind::Order, o.id),
            version: o.version,
        };
    }
    items.sort_by_key(|i| i.product);
    GraphChange::Upsert(GraphRecord::Order(OrderPurchases {
        order_id: o.id,
        user: o.user,
        placed_at: o.placed_at,
        items,
        version: o.version,
    }))
}

/// The graph change for a review, given whether its user and product are live.
pub fn review_change(r: &Review, user_live: bool, product_live: bool) -> GraphChange {
    if !(user_live && product_live) {
        return GraphChange::Delete {
            entity: EntityRef::new(EntityKind::Review, r.id),
            version: r.version,
        };
    }
    GraphChange::Upsert(GraphRecord::Review(ReviewEdge {
        id: r.id,
        user: r.user,
        product: r.product,
        rating: r.rating,
        version: r.version,
    }))
}

/// The change for a deleted entity (a tombstone at `version`).
pub fn delete_change(entity: EntityRef, version: u64) -> GraphChange {
    GraphChange::Delete { entity, version }
}
