use chrono::{DateTime, Utc};

use super::validate;
use crate::error::Error;
use crate::id::CategoryId;

/// A product category. Its name is unique and, once created, never changes (the graph keys
/// `(:Category {name})` by it and products carry it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Category {
    /// Id.
    pub id: CategoryId,
    /// Unique name, 1..=100 characters.
    pub name: String,
    /// Optional parent category.
    pub parent: Option<CategoryId>,
    /// Bumped by every write.
    pub version: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Input for [`crate::CatalogStore::create_category`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewCategory {
    /// Unique name.
    pub name: String,
    /// Optional parent, which must exist.
    #[serde(default)]
    pub parent: Option<CategoryId>,
}

impl NewCategory {
    /// A top-level category.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            parent: None,
        }
    }

    /// Validates, giving the category a store writes (the store checks that the parent exists
    /// and the name is free).
    pub fn prepare(self) -> Result<Category, Error> {
        Ok(Category {
            id: CategoryId::generate(),
            name: validate::text("name", &self.name, 100)?,
            parent: self.parent,
            version: 1,
            created_at: crate::time::now(),
        })
    }
}
