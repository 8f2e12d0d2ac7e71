//! Idempotent order placement: the key a client sends with an order request, the fingerprint
//! of the request the key is bound to, and what a placement did.
//!
//! A client that cannot tell whether its order went through (a timeout, a dropped connection)
//! sends the same request again with the same key; the store places the order at most once
//! per user and key ([`crate::OrderStore::place_order_once`]) and answers a retry with the
//! order placed the first time. The key is bound to the request it first came with, through
//! [`NewOrder::fingerprint`]: the same key with another request is refused
//! ([`crate::Error::Invalid`] on `idempotency_key`), as is the convention of payment APIs.
//!
//! Keys are kept with the order until purged ([`crate::OrderStore::purge_idempotency_keys`]);
//! [`IDEMPOTENCY_RETENTION`] is how long an application should keep them.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::order::{NewOrder, Order};
use crate::error::Error;

/// How long keys should be kept before [`crate::OrderStore::purge_idempotency_keys`] drops
/// them: 24 hours, a day of client retries (the window payment APIs document).
pub const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// A client's idempotency key: 1 to 255 visible ASCII characters (`!` to `~`), typically a
/// UUID the client generated for one order attempt. Keys are scoped to the user who orders,
/// so two users may use the same key.
///
/// ```
/// use swiftbox_core::IdempotencyKey;
/// let key = IdempotencyKey::parse("7c2c0c5e-5e0f-4b8a-9d7e-2f1b6c3a9d10").unwrap();
/// assert_eq!(key.as_str(), "7c2c0c5e-5e0f-4b8a-9d7e-2f1b6c3a9d10");
/// assert!(IdempotencyKey::parse("").is_err());
/// assert!(IdempotencyKey::parse("has space").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// Checks and wraps a key; [`Error::Invalid`] on `idempotency_key` when it is empty, longer
    /// than [`IdempotencyKey::MAX_LEN`] or holds anything but visible ASCII.
    pub fn parse(key: &str) -> Result<Self, Error> {
        if key.is_empty() || key.len() > Self::MAX_LEN {
            return Err(Error::invalid(
                "idempotency_key",
                "must be 1 to 255 characters",
            ));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "idempotency_key",
                "must be visible ASCII characters (no spaces or control characters)",
            ));
        }
        Ok(Self(key.to_owned()))
    }

    /// The error for a key sent again with another request: [`Error::Invalid`] on
    /// `idempotency_key`.
    pub fn reused() -> Error {
        Error::invalid(
            "idempotency_key",
            "already used with a different order request",
        )
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`crate::OrderStore::place_order_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The order: the one just placed, or the one an earlier request with the key placed.
    pub order: Order,
    /// `true` when the order was placed by an earlier request with the same key and nothing
    /// was placed now.
    pub replayed: bool,
}

impl NewOrder {
    /// A hex SHA-256 of the request in a canonical form (user, lines sorted by product, the
    /// address as given), which an idempotency key is bound to: the same order sent again has
    /// the same fingerprint whatever the order of its lines.
    pub fn fingerprint(&self) -> String {
        let mut items: Vec<_> = self.items.iter().map(|i| (i.product, i.quantity)).collect();
        items.sort();
        let mut h = Sha256::new();
        // Every field is length-prefixed, so no two requests share a canonical form.
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        field("swiftbox.order.v1");
        field(&self.user.to_canonical());
        field(&items.len().to_string());
        for (product, quantity) in &items {
            field(&product.to_canonical());
            field(&quantity.to_string());
        }
        let s = &self.shipping;
        for part in [&s.name, &s.line1, &s.city, &s.postal_code, &s.country] {
            field(part);
        }
        field(s.line2.as_deref().unwrap_or("\u{0}none"));
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewOrderItem, ProductId, ShippingAddress, UserId};

    fn order(items: &[(u128, i64)], city: &str) -> NewOrder {
        NewOrder {
            user: UserId::from_u128(1),
            items: items
                .iter()
                .map(|(p, q)| NewOrderItem {
                    product: ProductId::from_u128(*p),
                    quantity: *q,
                })
                .collect(),
            shipping: ShippingAddress {
                name: "Ann".into(),
                line1: "1 Main St".into(),
                line2: None,
                city: city.into(),
                postal_code: "12345".into(),
                country: "US".into(),
            },
        }
    }

    #[test]
    fn fingerprints_ignore_line_order_and_see_every_field() {
        let a = order(&[(1, 2), (2, 1)], "Springfield");
        assert_eq!(a.fingerprint().len(), 64);
        assert_eq!(
            a.fingerprint(),
            order(&[(2, 1), (1, 2)], "Springfield").fingerprint()
        );
        assert_ne!(
            a.fingerprint(),
            order(&[(1, 3), (2, 1)], "Springfield").fingerprint()
        );
        assert_ne!(
            a.fingerprint(),
            order(&[(1, 2), (2, 1)], "Shelbyville").fingerprint()
        );
        let mut other_user = a.clone();
        other_user.user = UserId::from_u128(2);
        assert_ne!(a.fingerprint(), other_user.fingerprint());
        let mut line2 = a.clone();
        line2.shipping.line2 = Some("Apt 4".into());
        assert_ne!(a.fingerprint(), line2.fingerprint());
    }

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", " ", "a b", "tab\t", "nul\u{0}", "é", &"k".repeat(256)] {
            let e = IdempotencyKey::parse(bad).unwrap_err();
            assert!(
                matches!(&e, Error::Invalid { field, .. } if field == "idempotency_key"),
                "{bad:?}: {e}"
            );
        }
    }
}
