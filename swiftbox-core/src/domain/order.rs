use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::validate;
use crate::error::Error;
use crate::id::{OrderId, ProductId, UserId};
use crate::money::Money;

/// Payment state of an order. SwiftBox never sees card data.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Not paid yet.
    #[default]
    Pending,
    /// Paid.
    Paid,
    /// Payment failed.
    Failed,
    /// Money returned.
    Refunded,
}

/// Fulfilment state of an order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, not yet processed.
    #[default]
    Placed,
    /// Being prepared.
    Processing,
    /// On its way.
    Shipped,
    /// Delivered.
    Delivered,
    /// Cancelled (the purchase stays in the graph's history; stock is not returned).
    Cancelled,
}

/// Where an order goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShippingAddress {
    /// Recipient's name.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// More address, optional.
    #[serde(default)]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// Country (name or code).
    pub country: String,
}

impl ShippingAddress {
    fn validate(&self) -> Result<ShippingAddress, Error> {
        Ok(ShippingAddress {
            name: validate::text("shipping.name", &self.name, 150)?,
            line1: validate::text("shipping.line1", &self.line1, 200)?,
            line2: self
                .line2
                .as_deref()
                .map(|l| validate::optional_text("shipping.line2", l, 200))
                .transpose()?,
            city: validate::text("shipping.city", &self.city, 100)?,
            postal_code: validate::text("shipping.postal_code", &self.postal_code, 20)?,
            country: validate::text("shipping.country", &self.country, 60)?,
        })
    }
}

/// One line of an order: the unit price is captured when the order is placed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderItem {
    /// The product bought.
    pub product: ProductId,
    /// Units bought, 1 or more.
    pub quantity: i64,
    /// Price of one unit when the order was placed.
    pub unit_price: Money,
}

/// A placed order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    /// Id.
    pub id: OrderId,
    /// Who placed it.
    pub user: UserId,
    /// What was bought, one line per product.
    pub items: Vec<OrderItem>,
    /// Where it goes.
    pub shipping: ShippingAddress,
    /// Payment state.
    pub payment_status: PaymentStatus,
    /// Fulfilment state.
    pub status: OrderStatus,
    /// Sum of quantity × unit price, computed by the store.
    pub total: Money,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// Bumped by every write.
    pub version: u64,
}

/// One line of a [`NewOrder`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewOrderItem {
    /// Product to buy; must exist.
    pub product: ProductId,
    /// Units, 1..=10000, no more than the stock.
    pub quantity: i64,
}

/// Input for [`crate::OrderStore::place_order`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewOrder {
    /// Who orders; must exist.
    pub user: UserId,
    /// 1..=100 lines, each product at most once.
    pub items: Vec<NewOrderItem>,
    /// Where it goes.
    pub shipping: ShippingAddress,
}

impl NewOrder {
    /// Most lines in one order.
    pub const MAX_ITEMS: usize = 100;
    /// Most units of one product in one order.
    pub const MAX_QUANTITY: i64 = 10_000;

    /// Checks everything that needs no store lookup: lines, quantities, duplicates, address.
    pub fn validate(&self) -> Result<(), Error> {
        if self.items.is_empty() {
            return Err(Error::invalid("items", "an order needs at least one item"));
        }
        if self.items.len() > Self::MAX_ITEMS {
            return Err(Error::invalid("items", "at most 100 items"));
        }
        let mut seen = HashSet::new();
        for (i, item) in self.items.iter().enumerate() {
            if item.quantity <= 0 {
                return Err(Error::invalid(
                    format!("items[{i}].quantity"),
                    "must be at least 1",
                ));
            }
            if item.quantity > Self::MAX_QUANTITY {
                return Err(Error::invalid(
                    format!("items[{i}].quantity"),
                    "must be at most 10000",
                ));
            }
            if !seen.insert(item.product) {
                return Err(Error::invalid(
                    format!("items[{i}].product"),
                    "product listed twice; put the quantity on one line",
                ));
            }
        }
        self.shipping.validate().map(drop)
    }

    /// Builds the order a store writes, from this input and the current products (in the same
    /// order as `items`): captures unit prices, computes the total, checks stock and currency.
    /// The store must then reserve stock atomically (the check here is advisory).
    pub fn prepare(self, products: &[crate::Product]) -> Result<Order, Error> {
        self.validate()?;
        let shipping = self.shipping.validate()?;
        if products.len() != self.items.len() {
            return Err(Error::invalid(
                "items",
                "product lookup does not match the items",
            ));
        }
        let mut items = Vec::with_capacity(self.items.len());
        let mut total: Option<Money> = None;
        for (i, (item, product)) in self.items.iter().zip(products).enumerate() {
            if product.id != item.product {
                return Err(Error::invalid(
                    "items",
                    "product lookup does not match the items",
                ));
            }
            if product.stock < item.quantity {
                return Err(Error::InsufficientStock {
                    product: product.id.to_string(),
                    requested: item.quantity,
                    available: product.stock,
                });
            }
            let line = product.price.times(item.quantity, &format!("items[{i}]"))?;
            total = Some(match total {
                None => line,
                Some(t) => t.plus(line, &format!("items[{i}]"))?,
            });
            items.push(OrderItem {
                product: item.product,
                quantity: item.quantity,
                unit_price: product.price,
            });
        }
        let total =
            total.ok_or_else(|| Error::invalid("items", "an order needs at least one item"))?;
        Ok(Order {
            id: OrderId::generate(),
            user: self.user,
            items,
            shipping,
            payment_status: PaymentStatus::Pending,
            status: OrderStatus::Placed,
            total,
            placed_at: crate::time::now(),
            version: 1,
        })
    }
}

/// Changes to an order's state; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderStatusPatch {
    /// New fulfilment state.
    pub status: Option<OrderStatus>,
    /// New payment state.
    pub payment_status: Option<PaymentStatus>,
}

impl OrderStatusPatch {
    /// Applies the patch, bumping the version.
    pub fn apply_to(&self, order: &Order) -> Order {
        let mut next = order.clone();
        if let Some(s) = self.status {
            next.status = s;
        }
        if let Some(p) = self.payment_status {
            next.payment_status = p;
        }
        next.version += 1;
        next
    }
}
