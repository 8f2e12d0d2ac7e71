//! Typed ids. Every id is a UUID (version 7, so ids sort roughly by creation time), carried as
//! its canonical lower-case hyphenated string in every store and on the wire.

use std::fmt;
use std::str::FromStr;

use crate::error::{EntityKind, Error};

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $kind:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUID v7).
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// An id from a 128-bit number: deterministic ids for fixtures and tests.
            pub const fn from_u128(n: u128) -> Self {
                Self(uuid::Uuid::from_u128(n))
            }

            /// Parses the canonical string form; anything else is [`Error::Invalid`].
            pub fn parse(s: &str) -> Result<Self, Error> {
                uuid::Uuid::try_parse(s)
                    .map(Self)
                    .map_err(|_| Error::invalid(concat!(stringify!($name)), "not a valid id"))
            }

            /// The kind of entity this id names.
            pub const KIND: EntityKind = $kind;

            /// The canonical string form (36 characters, lower-case).
            pub fn to_canonical(&self) -> String {
                self.0.hyphenated().to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_canonical()
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                Self::parse(&s)
            }
        }
    };
}

typed_id!(
    /// Id of a [`crate::User`].
    UserId,
    EntityKind::User
);
typed_id!(
    /// Id of a [`crate::Category`].
    CategoryId,
    EntityKind::Category
);
typed_id!(
    /// Id of a [`crate::Product`].
    ProductId,
    EntityKind::Product
);
typed_id!(
    /// Id of an [`crate::Order`].
    OrderId,
    EntityKind::Order
);
typed_id!(
    /// Id of a [`crate::Review`].
    ReviewId,
    EntityKind::Review
);

/// A reference to one stored entity of any kind: what sync bookkeeping and drift reports name.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct EntityRef {
    /// The entity's kind.
    pub kind: EntityKind,
    /// The entity's id in canonical string form.
    pub id: String,
}

impl EntityRef {
    /// A reference from a kind and any id.
    pub fn new(kind: EntityKind, id: impl fmt::Display) -> Self {
        Self {
            kind,
            id: id.to_string(),
        }
    }
}

impl EntityRef {
    /// This reference with its id in canonical form (upper-case UUIDs name the same entity as
    /// their lower-case form), or [`Error::Invalid`] when the id is not an id of its kind.
    pub fn canonical(&self) -> Result<EntityRef, Error> {
        let id = &self.id;
        let canonical = match self.kind {
            EntityKind::User => UserId::parse(id)?.to_string(),
            EntityKind::Category => CategoryId::parse(id)?.to_string(),
            EntityKind::Product => ProductId::parse(id)?.to_string(),
            EntityKind::Order => OrderId::parse(id)?.to_string(),
            EntityKind::Review => ReviewId::parse(id)?.to_string(),
        };
        Ok(EntityRef::new(self.kind, canonical))
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings_and_refuse_garbage() {
        let id = ProductId::generate();
        let s = id.to_string();
        assert_eq!(ProductId::parse(&s).unwrap(), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{s}\""));
        let err = ProductId::parse("{\"$gt\": \"\"}").unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
    }

    #[test]
    fn generated_ids_sort_by_creation() {
        let a = OrderId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = OrderId::generate();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
