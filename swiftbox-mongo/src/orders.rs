//! Orders, and how placing one reserves stock without transactions.
//!
//! # Placing an order
//!
//! 1. validate the input ([`NewOrder::validate`]); look up the user and every product (live);
//!    capture unit prices and the total ([`NewOrder::prepare`]);
//! 2. reserve stock product by product, in ascending product id order (so two orders never
//!    wait on each other in opposite orders), each with one conditional update:
//!    `{_id, deleted: false, stock: {$gte: q}, price: <captured>}` →
//!    `$inc: {stock: -q}` and `$push` of a *reservation marker* `"<order id>|<q>|<millis>"`
//!    onto the product's `reservations` (stock is not graph state, so this is not a product
//!    write: no version bump, nothing owed). The server applies each
//!    update atomically, so concurrent orders can never take the stock below zero;
//! 3. if a reservation fails, every reservation made so far is given back (a conditional
//!    update on the marker: `$inc: {stock: +q}` and `$pull` of the marker, so a give-back
//!    happens at most once), and the call fails: [`Error::InsufficientStock`] with the stock
//!    seen, [`Error::NotFound`] when the product was deleted meanwhile. When the price changed
//!    between the read and the reservation, the whole placement starts again (a few times)
//!    with the new price, so an order never records a price the product did not have;
//! 4. the order is inserted (owing the graph its purchases), then the markers are removed.
//!
//! # An insert that fails ambiguously
//!
//! An insert that times out (or loses its connection) may still land later: the server can
//! hold it in a queue past the client's timeout. Stock is never given back for an order that
//! then exists: after such a failure the placement *fences* the order's `_id` (inserts a
//! hidden document with that `_id`, `deleted` and owing nothing). The insert of one `_id` is
//! atomic on every server, FerretDB included, so either the fence lands, and the order can
//! never be inserted, and its stock goes back; or the fence is refused as a duplicate, because
//! the order landed, and the placement succeeds with it. When the fence cannot be written
//! either (the server is gone), the reservations are left for
//! [`MongoStore::recover_reservations`]. An insert refused outright (a duplicate idempotency
//! key, see [`crate::order_keys`]) wrote nothing, and its stock goes back at once.
//!
//! # Crashes and outages mid-way
//!
//! A process killed (or a server lost) between steps 2 and 4 leaves reserved stock and
//! markers behind, and no order. Nothing else is affected, and the markers make it
//! recoverable: [`OrderStore::recover_reservations`] gives back the stock of every marker older
//! than a grace period whose order does not exist, and drops markers whose order does. If the
//! order insert itself fails ambiguously (the server may have applied it), stock is given back
//! only once a fence proves the order can never land, and otherwise left for that recovery, so
//! stock is never given back for an order that exists. Run it at start-up or periodically with
//! a grace period far above the
//! operation timeout.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    EntityKind, Error, IdempotencyKey, NewOrder, Order, OrderId, OrderStatusPatch, Page,
    PageRequest, Placement, Product, Result, UserId,
};

use crate::catalog::to_product;
use crate::error;
use crate::order_keys::KeyFields;

use crate::model::{from_document, order_status_str, payment_status_str, to_document, OrderDoc};
use crate::sync::new_entity_fields;
use crate::MongoStore;

const KIND: EntityKind = EntityKind::Order;
const PRODUCT: EntityKind = EntityKind::Product;
/// How often a placement restarts because a price changed under it.
const PRICE_RETRIES: usize = 3;

fn to_order(d: Document) -> Result<Order> {
    from_document::<OrderDoc>(KIND, d)?.into_order()
}

/// One product's reservation for one order.
#[derive(Debug, Clone)]
struct Reservation {
    product: String,
    quantity: i64,
    marker: String,
}

fn marker(order: &OrderId, quantity: i64, at_millis: i64) -> String {
    format!("{order}|{quantity}|{at_millis}")
}

/// `(order id, quantity, reserved at millis)` of a marker.
fn parse_marker(m: &str) -> Option<(String, i64, i64)> {
    let mut parts = m.split('|');
    let order = parts.next()?.to_owned();
    let quantity = parts.next()?.parse().ok()?;
    let at = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((order, quantity, at))
}

/// Why a placement attempt stopped.
enum Attempt {
    Done(Box<Result<Order>>),
    PriceChanged,
}

impl Attempt {
    fn done(r: Result<Order>) -> Self {
        Attempt::Done(Box::new(r))
    }
}

impl MongoStore {
    /// Places a validated order, starting again when a price changed under it; with `key`,
    /// the key goes into the order's insert (see [`crate::order_keys`]).
    pub(crate) async fn place(&self, new: &NewOrder, key: Option<&KeyFields>) -> Result<Order> {
        for _ in 0..PRICE_RETRIES {
            match self.try_place(new, key).await {
                Attempt::Done(r) => return *r,
                Attempt::PriceChanged => {
                    tracing::debug!("a price changed while placing the order; starting again");
                }
            }
        }
        Err(Error::conflict(
            PRODUCT,
            "price",
            "prices kept changing while the order was placed; try again",
        ))
    }

    async fn try_place(&self, new: &NewOrder, key: Option<&KeyFields>) -> Attempt {
        match self.prepare_order(new).await {
            Ok(order) => self.reserve_and_insert(order, key).await,
            Err(e) => Attempt::done(Err(e)),
        }
    }

    /// Looks up user and products and builds the order (prices captured, total computed).
    async fn prepare_order(&self, new: &NewOrder) -> Result<Order> {
        self.get_live(EntityKind::User, &new.user.to_canonical())
            .await?;
        let ids: Vec<String> = new.items.iter().map(|i| i.product.to_canonical()).collect();
        let coll = self.coll(PRODUCT);
        let docs: Vec<Document> = self
            .run(PRODUCT, async {
                coll.find(doc! { "_id": { "$in": ids }, "deleted": false })
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        let mut by_id: HashMap<_, Product> = docs
            .into_iter()
            .map(|d| to_product(d).map(|p| (p.id, p)))
            .collect::<Result<_>>()?;
        let products = new
            .items
            .iter()
            .map(|i| {
                by_id
                    .remove(&i.product)
                    .ok_or_else(|| Error::not_found(PRODUCT, i.product))
            })
            .collect::<Result<Vec<_>>>()?;
        new.clone().prepare(&products)
    }

    async fn reserve_and_insert(&self, order: Order, key: Option<&KeyFields>) -> Attempt {
        let now = swiftbox_core::time::now();
        let mut items: Vec<_> = order.items.iter().collect();
        items.sort_by_key(|i| i.product);
        let products = self.coll(PRODUCT);
        let mut reserved: Vec<Reservation> = Vec::with_capacity(items.len());
        for item in items {
            let r = Reservation {
                product: item.product.to_canonical(),
                quantity: item.quantity,
                marker: marker(&order.id, item.quantity, now.timestamp_millis()),
            };
            let filter = doc! {
                "_id": &r.product,
                "deleted": false,
                "stock": { "$gte": r.quantity },
                "price.minor": item.unit_price.minor,
                "price.currency": item.unit_price.currency.as_str(),
            };
            // Stock is not graph state: taking it is not a product write (no version bump,
            // nothing owed), as the conformance suite pins.
            let update = doc! {
                "$inc": { "stock": -r.quantity },
                "$push": { "reservations": &r.marker },
            };
            let outcome = self
                .run_locked(PRODUCT, &r.product, |fence| {
                    products.update_one(fence.filter(filter), fence.update(update))
                })
                .await;
            reserved.push(r.clone());
            match outcome {
                Ok(res) if res.matched_count == 1 => {}
                Ok(_) => {
                    reserved.pop();
                    self.give_back(&reserved).await;
                    return self.why_not_reserved(&r, item.unit_price).await;
                }
                Err(e) => {
                    // The update may have been applied before the error: give back this one too
                    // (the marker makes the give-back conditional).
                    self.give_back(&reserved).await;
                    return Attempt::done(Err(e));
                }
            }
        }
        let mut d = match to_document(KIND, &OrderDoc::from_order(&order)) {
            Ok(d) => d,
            Err(e) => {
                self.give_back(&reserved).await;
                return Attempt::done(Err(e));
            }
        };
        d.extend(new_entity_fields(&order.id.to_canonical(), order.placed_at));
        if let Some(k) = key {
            k.add_to(&mut d);
        }
        match self.insert_order(d).await {
            Ok(()) => {}
            // A refused insert wrote nothing (its fresh id cannot be taken, so the duplicate
            // is its idempotency key): the stock goes back.
            Err(e) if key.is_some() && error::is_duplicate(&e) => {
                self.give_back(&reserved).await;
                return Attempt::done(Err(crate::order_keys::key_taken()));
            }
            // Any other failure is ambiguous: the insert may still land. Stock goes back only
            // once a fence makes that impossible.
            Err(e) => match self.fence_order(&order.id).await {
                Ok(true) => {
                    self.give_back(&reserved).await;
                    return Attempt::done(Err(error::map(KIND, e)));
                }
                Ok(false) => {
                    tracing::info!(order = %order.id, error = %e, "order insert reported a failure but landed");
                }
                Err(fence) => {
                    tracing::warn!(order = %order.id, error = %e, fence = %fence, "order insert failed ambiguously; reservations left for recover_reservations");
                    return Attempt::done(Err(error::map(KIND, e)));
                }
            },
        }
        self.clear_markers(&reserved).await;
        Attempt::done(Ok(order))
    }

    /// The order insert (a fault can be injected here in unit tests).
    async fn insert_order(&self, d: Document) -> mongodb::error::Result<()> {
        #[cfg(test)]
        if let Some(fault) = crate::insert_faults::take(self) {
            return fault.run(self, d).await;
        }
        self.run_raw(self.coll(KIND).insert_one(d)).await.map(drop)
    }

    /// Makes sure the order `id` can never be inserted from now on, unless it already is:
    /// inserts a *fence*, a document with the order's `_id` that no read sees (`deleted`,
    /// nothing owed). `Ok(true)`: fenced, so an insert of that order still in flight will be
    /// refused and its stock may go back; `Ok(false)`: the order exists. The insert of one
    /// `_id` is atomic on every server (FerretDB included), so exactly one of the two lands.
    pub(crate) async fn fence_order(&self, id: &OrderId) -> Result<bool> {
        let fence = doc! {
            "_id": id.to_canonical(),
            "deleted": true,
            "fence": true,
            "fenced_at": crate::model::to_bson_date(swiftbox_core::time::now()),
        };
        match self.run_raw(self.coll(KIND).insert_one(fence)).await {
            Ok(_) => Ok(true),
            Err(e) if error::is_duplicate(&e) => Ok(false),
            Err(e) => Err(error::map_other(e)),
        }
    }

    /// The error for a reservation that matched nothing, from the product as it is now.
    async fn why_not_reserved(&self, r: &Reservation, price: swiftbox_core::Money) -> Attempt {
        match self.find_live(PRODUCT, &r.product).await {
            Err(e) => Attempt::done(Err(e)),
            Ok(None) => Attempt::done(Err(Error::not_found(PRODUCT, &r.product))),
            Ok(Some(d)) => match to_product(d) {
                Err(e) => Attempt::done(Err(e)),
                Ok(p) if p.price != price => Attempt::PriceChanged,
                Ok(p) => Attempt::done(Err(Error::InsufficientStock {
                    product: r.product.clone(),
                    requested: r.quantity,
                    available: p.stock,
                })),
            },
        }
    }

    /// Gives back reserved stock, each at most once (conditional on its marker). Failures are
    /// logged: the markers stay and [`OrderStore::recover_reservations`] finishes the job.
    async fn give_back(&self, reserved: &[Reservation]) {
        for r in reserved {
            if let Err(e) = self.give_back_one(r).await {
                tracing::warn!(product = %r.product, error = %e, "could not give back reserved stock; left for recover_reservations");
            }
        }
    }

    async fn give_back_one(&self, r: &Reservation) -> Result<bool> {
        let update = doc! {
            "$inc": { "stock": r.quantity },
            "$pull": { "reservations": &r.marker },
        };
        let products = self.coll(PRODUCT);
        let res = self
            .run_locked(PRODUCT, &r.product, |fence| {
                products.update_one(
                    fence.filter(doc! { "_id": &r.product, "reservations": &r.marker }),
                    fence.update(update),
                )
            })
            .await?;
        Ok(res.modified_count == 1)
    }

    /// Drops the markers of a placed order (not a write of the product: no version bump).
    async fn clear_markers(&self, reserved: &[Reservation]) {
        let products = self.coll(PRODUCT);
        for r in reserved {
            let res = self
                .run_locked(PRODUCT, &r.product, |fence| {
                    products.update_one(
                        fence.filter(doc! { "_id": &r.product }),
                        fence.update(doc! { "$pull": { "reservations": &r.marker } }),
                    )
                })
                .await;
            if let Err(e) = res {
                tracing::warn!(product = %r.product, error = %e, "could not clear a reservation marker; recover_reservations will");
            }
        }
    }

    /// Finishes what a crash or outage interrupted while orders were being placed: for every
    /// reservation marker older than `grace`, gives the stock back when its order does not
    /// exist, or just drops the marker when it does. Returns how many reservations were given
    /// back. Safe to run at any time and from several processes at once (each give-back is
    /// conditional on its marker); `grace` must exceed the longest an order placement can take
    /// (its operation timeouts), e.g. 10 minutes.
    async fn recover_reservations_impl(&self, grace: Duration) -> Result<u64> {
        // A grace reaching past the calendar's start leaves every marker young (`-` would panic).
        let cutoff = chrono::Duration::from_std(grace)
            .ok()
            .and_then(|g| swiftbox_core::time::now().checked_sub_signed(g))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let coll = self.coll(PRODUCT);
        let docs: Vec<Document> = self
            .run(PRODUCT, async {
                coll.find(doc! { "reservations": { "$type": "string" } })
                    .projection(doc! { "reservations": 1 })
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        let mut given_back = 0;
        for d in docs {
            let Ok(product) = d.get_str("_id") else {
                continue;
            };
            let markers = d.get_array("reservations").cloned().unwrap_or_default();
            for m in markers.iter().filter_map(|m| m.as_str()) {
                let Some((order, quantity, at)) = parse_marker(m) else {
                    tracing::warn!(
                        product,
                        marker = m,
                        "malformed reservation marker left alone"
                    );
                    continue;
                };
                if at > cutoff.timestamp_millis() {
                    continue;
                }
                let r = Reservation {
                    product: product.to_owned(),
                    quantity,
                    marker: m.to_owned(),
                };
                // No order yet: an insert still on its way (a placement running past the grace,
                // on another clock) could land after the stock is given back. Fence its id
                // first (`fence_order`): once the fence (or an earlier one) holds the id, the
                // order can never be inserted; if the order holds it, it exists.
                let exists = self.find_live(KIND, &order).await?.is_some()
                    || (!self.fence_order(&OrderId::parse(&order)?).await?
                        && self.find_live(KIND, &order).await?.is_some());
                if exists {
                    self.clear_markers(std::slice::from_ref(&r)).await;
                } else if self.give_back_one(&r).await? {
                    tracing::info!(
                        product,
                        order,
                        quantity,
                        "gave back stock of an unfinished order"
                    );
                    given_back += 1;
                }
            }
        }
        Ok(given_back)
    }
}

#[async_trait]
impl OrderStore for MongoStore {
    #[tracing::instrument(level = "debug", skip_all, fields(user = %new.user, items = new.items.len()), err(Display))]
    async fn place_order(&self, new: NewOrder) -> Result<Order> {
        new.validate()?;
        self.place(&new, None).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %new.user, items = new.items.len()), err(Display))]
    async fn place_order_once(&self, new: NewOrder, key: &IdempotencyKey) -> Result<Placement> {
        self.place_once(new, key).await
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn purge_idempotency_keys(&self, older_than: Duration) -> Result<u64> {
        self.purge_keys(older_than).await
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn get_order(&self, id: &OrderId) -> Result<Order> {
        to_order(self.get_live(KIND, &id.to_canonical()).await?)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn update_order_status(&self, id: &OrderId, patch: OrderStatusPatch) -> Result<Order> {
        let mut set = doc! {};
        if let Some(s) = patch.status {
            set.insert("status", order_status_str(s));
        }
        if let Some(p) = patch.payment_status {
            set.insert("payment_status", payment_status_str(p));
        }
        to_order(self.write_live(KIND, &id.to_canonical(), set).await?)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user), err(Display))]
    async fn list_user_orders(&self, user: &UserId, page: PageRequest) -> Result<Page<Order>> {
        page.validate()?;
        let key = user.to_canonical();
        self.get_live(EntityKind::User, &key).await?;
        self.page(KIND, doc! { "user": key }, &page, to_order, |o| {
            o.id.to_canonical()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn list_orders(&self, page: PageRequest) -> Result<Page<Order>> {
        self.page(KIND, doc! {}, &page, to_order, |o| o.id.to_canonical())
            .await
    }

    /// Every reservation marker at least `stale_after` old is given back when its order does
    /// not exist, or dropped when it does (see the crate docs, "Orders and stock").
    #[tracing::instrument(skip(self), err(Display))]
    async fn recover_reservations(&self, stale_after: Duration) -> Result<u64> {
        self.recover_reservations_impl(stale_after).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        let id = OrderId::from_u128(7);
        let m = marker(&id, 3, 1_700_000_000_000);
        assert_eq!(
            parse_marker(&m),
            Some((id.to_string(), 3, 1_700_000_000_000))
        );
        assert_eq!(parse_marker("x|1"), None);
        assert_eq!(parse_marker("x|1|2|3"), None);
    }
}
