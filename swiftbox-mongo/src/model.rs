//! The stored shape of each entity: serde structs of this crate (so a change to a core type
//! never silently changes what is on disk), converted to and from the core types.
//!
//! - ids: the canonical UUID string in `_id` (and in references);
//! - money: `{ minor: i64, currency: "USD" }`, exact;
//! - times: BSON dates (core times are whole milliseconds, so they round-trip exactly);
//! - versions: `i64` (a version never gets near `i64::MAX`);
//! - sync bookkeeping (see [`crate::sync`]) lives in the same document, next to these fields.

use chrono::{DateTime, Utc};
use mongodb::bson::{self, Document};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use swiftbox_core::{
    Category, CategoryId, Currency, EntityKind, Error, Money, Order, OrderId, OrderItem,
    OrderStatus, PasswordHash, PaymentStatus, Product, ProductId, Profile, Result, Review,
    ReviewId, ShippingAddress, User, UserId,
};

use crate::error::{bad_document, STORE};

/// The unique key a tombstone holds instead of its unique value: `\u{1}` and the entity id.
/// Validation refuses control characters in usernames, e-mails and names, so no live value
/// can equal it.
pub(crate) fn tombstone_key(id: &str) -> String {
    format!("\u{1}deleted:{id}")
}

/// The key enforcing one review per user and product.
pub(crate) fn user_product_key(user: &UserId, product: &ProductId) -> String {
    format!("{user}:{product}")
}

pub(crate) fn to_bson_date(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

pub(crate) fn from_bson_date(t: bson::DateTime) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default()
}

fn version_to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn version_from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Serialises one of our document structs.
pub(crate) fn to_document<T: Serialize>(kind: EntityKind, v: &T) -> Result<Document> {
    bson::to_document(v)
        .map_err(|e| Error::backend(STORE, format!("cannot encode {kind} document: {e}")))
}

/// Deserialises one of our document structs, naming the document on failure.
pub(crate) fn from_document<T: DeserializeOwned>(kind: EntityKind, d: Document) -> Result<T> {
    let id = d.get_str("_id").unwrap_or("?").to_owned();
    bson::from_document(d).map_err(|e| bad_document(kind, &id, e))
}

fn parse_id<T>(kind: EntityKind, id: &str, parse: impl Fn(&str) -> Result<T>) -> Result<T> {
    parse(id).map_err(|_| bad_document(kind, id, "not a valid id"))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MoneyDoc {
    pub(crate) minor: i64,
    pub(crate) currency: String,
}

impl MoneyDoc {
    pub(crate) fn from_money(m: Money) -> Self {
        Self {
            minor: m.minor,
            currency: m.currency.as_str().to_owned(),
        }
    }

    fn into_money(self, kind: EntityKind, id: &str) -> Result<Money> {
        let currency =
            Currency::parse(&self.currency).map_err(|_| bad_document(kind, id, "bad currency"))?;
        Ok(Money::new(self.minor, currency))
    }
}

// ---- users ----

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ProfileDoc {
    pub(crate) display_name: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) address: Option<String>,
}

impl ProfileDoc {
    pub(crate) fn from_profile(p: &Profile) -> Self {
        Self {
            display_name: p.display_name.clone(),
            phone: p.phone.clone(),
            address: p.address.clone(),
        }
    }
}

/// No `Debug`: the document holds the password hash.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct UserDoc {
    #[serde(rename = "_id")]
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) username_key: String,
    pub(crate) email_key: String,
    pub(crate) profile: ProfileDoc,
    pub(crate) is_admin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) password_hash: Option<String>,
    pub(crate) version: i64,
    pub(crate) created_at: bson::DateTime,
}

impl UserDoc {
    pub(crate) fn from_user(u: &User, hash: Option<&PasswordHash>) -> Self {
        Self {
            id: u.id.to_canonical(),
            username: u.username.clone(),
            email: u.email.clone(),
            username_key: u.username.clone(),
            email_key: u.email.clone(),
            profile: ProfileDoc::from_profile(&u.profile),
            is_admin: u.is_admin,
            password_hash: hash.map(|h| h.as_phc().to_owned()),
            version: version_to_i64(u.version),
            created_at: to_bson_date(u.created_at),
        }
    }

    /// The user and their password hash.
    pub(crate) fn into_user(self) -> Result<(User, Option<PasswordHash>)> {
        let k = EntityKind::User;
        let hash = self.password_hash.map(PasswordHash::from_phc);
        let user = User {
            id: parse_id(k, &self.id, UserId::parse)?,
            username: self.username,
            email: self.email,
            profile: Profile {
                display_name: self.profile.display_name,
                phone: self.profile.phone,
                address: self.profile.address,
            },
            is_admin: self.is_admin,
            has_password: hash.is_some(),
            version: version_from_i64(self.version),
            created_at: from_bson_date(self.created_at),
        };
        Ok((user, hash))
    }
}

// ---- categories ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CategoryDoc {
    #[serde(rename = "_id")]
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) name_key: String,
    pub(crate) parent: Option<String>,
    pub(crate) version: i64,
    pub(crate) created_at: bson::DateTime,
}

impl CategoryDoc {
    pub(crate) fn from_category(c: &Category) -> Self {
        Self {
            id: c.id.to_canonical(),
            name: c.name.clone(),
            name_key: c.name.clone(),
            parent: c.parent.map(|p| p.to_canonical()),
            version: version_to_i64(c.version),
            created_at: to_bson_date(c.created_at),
        }
    }

    pub(crate) fn into_category(self) -> Result<Category> {
        let k = EntityKind::Category;
        Ok(Category {
            id: parse_id(k, &self.id, CategoryId::parse)?,
            parent: self
                .parent
                .as_deref()
                .map(|p| parse_id(k, p, CategoryId::parse))
                .transpose()?,
            name: self.name,
            version: version_from_i64(self.version),
            created_at: from_bson_date(self.created_at),
        })
    }
}

// ---- products ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProductDoc {
    #[serde(rename = "_id")]
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) price: MoneyDoc,
    pub(crate) images: Vec<String>,
    pub(crate) category: String,
    pub(crate) category_name: String,
    pub(crate) stock: i64,
    pub(crate) version: i64,
    pub(crate) created_at: bson::DateTime,
    pub(crate) updated_at: bson::DateTime,
}

impl ProductDoc {
    pub(crate) fn from_product(p: &Product) -> Self {
        Self {
            id: p.id.to_canonical(),
            name: p.name.clone(),
            description: p.description.clone(),
            price: MoneyDoc::from_money(p.price),
            images: p.images.clone(),
            category: p.category.to_canonical(),
            category_name: p.category_name.clone(),
            stock: p.stock,
            version: version_to_i64(p.version),
            created_at: to_bson_date(p.created_at),
            updated_at: to_bson_date(p.updated_at),
        }
    }

    pub(crate) fn into_product(self) -> Result<Product> {
        let k = EntityKind::Product;
        Ok(Product {
            id: parse_id(k, &self.id, ProductId::parse)?,
            price: self.price.into_money(k, &self.id)?,
            category: parse_id(k, &self.category, CategoryId::parse)?,
            name: self.name,
            description: self.description,
            images: self.images,
            category_name: self.category_name,
            stock: self.stock,
            version: version_from_i64(self.version),
            created_at: from_bson_date(self.created_at),
            updated_at: from_bson_date(self.updated_at),
        })
    }
}

// ---- orders ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OrderItemDoc {
    pub(crate) product: String,
    pub(crate) quantity: i64,
    pub(crate) unit_price: MoneyDoc,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AddressDoc {
    pub(crate) name: String,
    pub(crate) line1: String,
    pub(crate) line2: Option<String>,
    pub(crate) city: String,
    pub(crate) postal_code: String,
    pub(crate) country: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OrderDoc {
    #[serde(rename = "_id")]
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) items: Vec<OrderItemDoc>,
    pub(crate) shipping: AddressDoc,
    pub(crate) payment_status: String,
    pub(crate) status: String,
    pub(crate) total: MoneyDoc,
    pub(crate) placed_at: bson::DateTime,
    pub(crate) version: i64,
}

pub(crate) fn order_status_str(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Placed => "placed",
        OrderStatus::Processing => "processing",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Delivered => "delivered",
        OrderStatus::Cancelled => "cancelled",
    }
}

fn parse_order_status(s: &str) -> Option<OrderStatus> {
    [
        OrderStatus::Placed,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ]
    .into_iter()
    .find(|v| order_status_str(*v) == s)
}

pub(crate) fn payment_status_str(s: PaymentStatus) -> &'static str {
    match s {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Paid => "paid",
        PaymentStatus::Failed => "failed",
        PaymentStatus::Refunded => "refunded",
    }
}

fn parse_payment_status(s: &str) -> Option<PaymentStatus> {
    [
        PaymentStatus::Pending,
        PaymentStatus::Paid,
        PaymentStatus::Failed,
        PaymentStatus::Refunded,
    ]
    .into_iter()
    .find(|v| payment_status_str(*v) == s)
}

impl OrderDoc {
    pub(crate) fn from_order(o: &Order) -> Self {
        Self {
            id: o.id.to_canonical(),
            user: o.user.to_canonical(),
            items: o
                .items
                .iter()
                .map(|i| OrderItemDoc {
                    product: i.product.to_canonical(),
                    quantity: i.quantity,
                    unit_price: MoneyDoc::from_money(i.unit_price),
                })
                .collect(),
            shipping: AddressDoc {
                name: o.shipping.name.clone(),
                line1: o.shipping.line1.clone(),
                line2: o.shipping.line2.clone(),
                city: o.shipping.city.clone(),
                postal_code: o.shipping.postal_code.clone(),
                country: o.shipping.country.clone(),
            },
            payment_status: payment_status_str(o.payment_status).to_owned(),
            status: order_status_str(o.status).to_owned(),
            total: MoneyDoc::from_money(o.total),
            placed_at: to_bson_date(o.placed_at),
            version: version_to_i64(o.version),
        }
    }

    pub(crate) fn into_order(self) -> Result<Order> {
        let k = EntityKind::Order;
        let id = self.id;
        let items = self
            .items
            .into_iter()
            .map(|i| {
                Ok(OrderItem {
                    product: parse_id(k, &i.product, ProductId::parse)?,
                    quantity: i.quantity,
                    unit_price: i.unit_price.into_money(k, &id)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Order {
            id: parse_id(k, &id, OrderId::parse)?,
            user: parse_id(k, &self.user, UserId::parse)?,
            items,
            shipping: ShippingAddress {
                name: self.shipping.name,
                line1: self.shipping.line1,
                line2: self.shipping.line2,
                city: self.shipping.city,
                postal_code: self.shipping.postal_code,
                country: self.shipping.country,
            },
            payment_status: parse_payment_status(&self.payment_status)
                .ok_or_else(|| bad_document(k, &id, "bad payment_status"))?,
            status: parse_order_status(&self.status)
                .ok_or_else(|| bad_document(k, &id, "bad status"))?,
            total: self.total.into_money(k, &id)?,
            placed_at: from_bson_date(self.placed_at),
            version: version_from_i64(self.version),
        })
    }
}

// ---- reviews ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ReviewDoc {
    #[serde(rename = "_id")]
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) product: String,
    pub(crate) user_product_key: String,
    pub(crate) rating: i32,
    pub(crate) comment: String,
    pub(crate) version: i64,
    pub(crate) created_at: bson::DateTime,
}

impl ReviewDoc {
    pub(crate) fn from_review(r: &Review) -> Self {
        Self {
            id: r.id.to_canonical(),
            user: r.user.to_canonical(),
            product: r.product.to_canonical(),
            user_product_key: user_product_key(&r.user, &r.product),
            rating: i32::from(r.rating),
            comment: r.comment.clone(),
            version: version_to_i64(r.version),
            created_at: to_bson_date(r.created_at),
        }
    }

    pub(crate) fn into_review(self) -> Result<Review> {
        let k = EntityKind::Review;
        Ok(Review {
            id: parse_id(k, &self.id, ReviewId::parse)?,
            user: parse_id(k, &self.user, UserId::parse)?,
            product: parse_id(k, &self.product, ProductId::parse)?,
            rating: u8::try_from(self.rating)
                .map_err(|_| bad_document(k, &self.id, "bad rating"))?,
            comment: self.comment,
            version: version_from_i64(self.version),
            created_at: from_bson_date(self.created_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstone_keys_cannot_be_valid_input() {
        let k = tombstone_key("0190a1b2-0000-7000-8000-000000000000");
        assert!(k.chars().next().is_some_and(char::is_control));
        assert!(swiftbox_core::NewUser::new(k.clone(), "a@b.cd")
            .prepare()
            .is_err());
        assert!(swiftbox_core::NewCategory::new(k).prepare().is_err());
    }

    #[test]
    fn money_and_dates_round_trip_exactly() {
        let t = swiftbox_core::time::now();
        assert_eq!(from_bson_date(to_bson_date(t)), t);
        let m = Money::new(i64::MAX, Currency::EUR);
        let back = MoneyDoc::from_money(m)
            .into_money(EntityKind::Product, "x")
            .unwrap();
        assert_eq!(back, m);
    }
}
