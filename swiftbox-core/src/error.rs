//! The one error type of SwiftBox: each variant tells the caller what to do.

use std::fmt;

/// A boxed error from a driver or another library, kept as the source of [`Error::Backend`]
/// and [`Error::Unavailable`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used across SwiftBox.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kinds of entity SwiftBox stores. Used in errors, sync bookkeeping and graph records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A [`crate::User`].
    User,
    /// A [`crate::Category`].
    Category,
    /// A [`crate::Product`].
    Product,
    /// An [`crate::Order`] with its items.
    Order,
    /// A [`crate::Review`].
    Review,
}

impl EntityKind {
    /// Every kind, in the order the graph applies upserts (referenced kinds first).
    pub const ALL: [EntityKind; 5] = [
        EntityKind::Category,
        EntityKind::User,
        EntityKind::Product,
        EntityKind::Order,
        EntityKind::Review,
    ];

    /// The kind's position in [`EntityKind::ALL`] (referenced kinds first): the order in which
    /// a batch applies upserts, and the tie-break of owed changes after their age.
    pub const fn rank(self) -> usize {
        match self {
            EntityKind::Category => 0,
            EntityKind::User => 1,
            EntityKind::Product => 2,
            EntityKind::Order => 3,
            EntityKind::Review => 4,
        }
    }

    /// Lower-case name, as used in messages and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Category => "category",
            EntityKind::Product => "product",
            EntityKind::Order => "order",
            EntityKind::Review => "review",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in a SwiftBox call.
///
/// Match on the variant to decide what to do: fix the input ([`Error::Invalid`]), pick another
/// value ([`Error::Conflict`]), give up or create it first ([`Error::NotFound`]), retry later
/// ([`Error::Unavailable`], see [`Error::is_retryable`]), or report a bug or server problem
/// ([`Error::Backend`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The entity does not exist (or was deleted).
    #[error("{kind} {id} not found")]
    NotFound {
        /// What kind of entity was looked for.
        kind: EntityKind,
        /// The id (or unique key) that was looked for.
        id: String,
    },
    /// A unique field already holds this value, or the write conflicts with the entity's state
    /// (for example deleting a category that still has products).
    #[error("conflict on {kind} {field}: {reason}")]
    Conflict {
        /// Which kind of entity.
        kind: EntityKind,
        /// Which field is in conflict (for example `username`, `email`, `name`).
        field: &'static str,
        /// Why, in a few words.
        reason: String,
    },
    /// The input is malformed; nothing was changed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which input field, with its path for nested input (for example `items[1].quantity`).
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// An order asks for more units than the product has in stock; nothing was changed.
    #[error(
        "insufficient stock for product {product}: requested {requested}, available {available}"
    )]
    InsufficientStock {
        /// The product that is short.
        product: String,
        /// Units asked for.
        requested: i64,
        /// Units in stock when the order was checked.
        available: i64,
    },
    /// The store cannot be reached or is overloaded right now; the same call may succeed later.
    #[error("{store} unavailable: {source}")]
    Unavailable {
        /// Which store (`mongodb`, `neo4j`, `memory`, ...).
        store: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// Any other failure of a store or driver, with its source kept.
    #[error("{store} error: {source}")]
    Backend {
        /// Which store (`mongodb`, `neo4j`, `memory`, ...).
        store: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::NotFound`].
    pub fn not_found(kind: EntityKind, id: impl fmt::Display) -> Self {
        Error::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// Builds an [`Error::Conflict`].
    pub fn conflict(kind: EntityKind, field: &'static str, reason: impl Into<String>) -> Self {
        Error::Conflict {
            kind,
            field,
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Unavailable`] from any error.
    pub fn unavailable(store: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            store,
            source: source.into(),
        }
    }

    /// Builds an [`Error::Backend`] from any error.
    pub fn backend(store: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            store,
            source: source.into(),
        }
    }

    /// True when the same call may succeed if retried later (the sync worker retries these
    /// with backoff; everything else is a property of the input or a bug).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::EntityKind;

    #[test]
    fn rank_is_the_position_in_all() {
        for (i, kind) in EntityKind::ALL.iter().enumerate() {
            assert_eq!(kind.rank(), i, "{kind}");
        }
    }
}
