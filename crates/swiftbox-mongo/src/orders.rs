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
//! # Crashes and outages mid-way
//!
//! A process killed (or a server lost) between steps 2 and 4 leaves reserved stock and
//! markers behind, and no order. Nothing else is affected, and the markers make it
//! recoverable: [`MongoStore::recover_reservations`] gives back the stock of every marker older
//! than a grace period whose order does not exist, and drops markers whose order does. If the
//! order insert itself fails ambiguously (the server may have applied it), the reservations are
//! left for that recovery rather than given back, so stock is never given back for an order
//! that exists. Run it at start-up or periodically with a grace period far above the
//! operation timeout.

use std::collections::HashMap;
use std::time::Duration;

use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use swiftbox_core::{
    EntityKind, Error, NewOrder, Order, OrderId, OrderStatusPatch, Page, PageRequest, Product,
    Result, UserId,
};

use crate::catalog::to_product;

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
    #[tracing::instrument(level = "debug", skip_all, fields(user = %new.user, items = new.items.len()), err(Display))]
    pub(crate) async fn place_order_impl(&self, new: NewOrder) -> Result<Order> {
        new.validate()?;
        for _ in 0..PRICE_RETRIES {
            match self.try_place(&new).await {
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

    async fn try_place(&self, new: &NewOrder) -> Attempt {
        match self.prepare_order(new).await {
            Ok(order) => self.reserve_and_insert(order).await,
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

    async fn reserve_and_insert(&self, order: Order) -> Attempt {
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
                .run_locked(PRODUCT, &r.product, products.update_one(filter, update))
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
        if let Err(e) = self.run(KIND, self.coll(KIND).insert_one(d)).await {
            // The insert may have reached the server: give stock back only if the order
            // certainly does not exist; otherwise leave it to recover_reservations.
            match self.find_live(KIND, &order.id.to_canonical()).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    self.give_back(&reserved).await;
                    return Attempt::done(Err(e));
                }
                Err(_) => {
                    tracing::warn!(order = %order.id, "order insert failed ambiguously; reservations left for recover_reservations");
                    return Attempt::done(Err(e));
                }
            }
        }
        self.clear_markers(&reserved).await;
        Attempt::done(Ok(order))
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
    /// logged: the markers stay and [`MongoStore::recover_reservations`] finishes the job.
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
        let res = self
            .run_locked(
                PRODUCT,
                &r.product,
                self.coll(PRODUCT).update_one(
                    doc! { "_id": &r.product, "reservations": &r.marker },
                    update,
                ),
            )
            .await?;
        Ok(res.modified_count == 1)
    }

    /// Drops the markers of a placed order (not a write of the product: no version bump).
    async fn clear_markers(&self, reserved: &[Reservation]) {
        for r in reserved {
            let res = self
                .run_locked(
                    PRODUCT,
                    &r.product,
                    self.coll(PRODUCT).update_one(
                        doc! { "_id": &r.product },
                        doc! { "$pull": { "reservations": &r.marker } },
                    ),
                )
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
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn recover_reservations(&self, grace: Duration) -> Result<u64> {
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
                if self.find_live(KIND, &order).await?.is_some() {
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

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    pub(crate) async fn get_order_impl(&self, id: &OrderId) -> Result<Order> {
        to_order(self.get_live(KIND, &id.to_canonical()).await?)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    pub(crate) async fn update_order_status_impl(
        &self,
        id: &OrderId,
        patch: OrderStatusPatch,
    ) -> Result<Order> {
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
    pub(crate) async fn list_user_orders_impl(
        &self,
        user: &UserId,
        page: PageRequest,
    ) -> Result<Page<Order>> {
        page.validate()?;
        let key = user.to_canonical();
        self.get_live(EntityKind::User, &key).await?;
        self.page(KIND, doc! { "user": key }, &page, to_order, |o| {
            o.id.to_canonical()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    pub(crate) async fn list_orders_impl(&self, page: PageRequest) -> Result<Page<Order>> {
        self.page(KIND, doc! {}, &page, to_order, |o| o.id.to_canonical())
            .await
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
