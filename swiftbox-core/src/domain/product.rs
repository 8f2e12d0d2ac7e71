use chrono::{DateTime, Utc};

use super::validate;
use super::PageRequest;
use crate::error::Error;
use crate::id::{CategoryId, ProductId};
use crate::money::Money;

/// A product for sale.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Product {
    /// Id.
    pub id: ProductId,
    /// Name, 1..=200 characters.
    pub name: String,
    /// Description, up to 5000 characters.
    pub description: String,
    /// Unit price, exact.
    pub price: Money,
    /// Image URLs (http or https), at most 20.
    pub images: Vec<String>,
    /// The category it belongs to.
    pub category: CategoryId,
    /// The category's name (category names never change, so this copy never goes stale).
    pub category_name: String,
    /// Units in stock, never negative.
    pub stock: i64,
    /// Bumped by every write.
    pub version: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for [`crate::CatalogStore::create_product`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewProduct {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Unit price, 0..=[`Money::MAX_MINOR`].
    pub price: Money,
    /// Image URLs.
    #[serde(default)]
    pub images: Vec<String>,
    /// Category, which must exist.
    pub category: CategoryId,
    /// Units in stock, 0 or more.
    #[serde(default)]
    pub stock: i64,
}

fn price(field: &str, p: Money) -> Result<Money, Error> {
    if p.minor < 0 {
        return Err(Error::invalid(field, "must not be negative"));
    }
    if p.minor > Money::MAX_MINOR {
        return Err(Error::invalid(field, "is too large"));
    }
    Ok(p)
}

fn stock(s: i64) -> Result<i64, Error> {
    if s < 0 {
        return Err(Error::invalid("stock", "must not be negative"));
    }
    if s > 1_000_000_000 {
        return Err(Error::invalid("stock", "is too large"));
    }
    Ok(s)
}

fn images(list: &[String]) -> Result<Vec<String>, Error> {
    if list.len() > 20 {
        return Err(Error::invalid("images", "at most 20 images"));
    }
    list.iter()
        .enumerate()
        .map(|(i, u)| validate::url(&format!("images[{i}]"), u))
        .collect()
}

impl NewProduct {
    /// Validates, giving the product a store writes once it has checked the category exists and
    /// filled in `category_name`.
    pub fn prepare(self, category_name: String) -> Result<Product, Error> {
        let now = crate::time::now();
        Ok(Product {
            id: ProductId::generate(),
            name: validate::text("name", &self.name, 200)?,
            description: validate::optional_text("description", &self.description, 5000)?,
            price: price("price", self.price)?,
            images: images(&self.images)?,
            category: self.category,
            category_name,
            stock: stock(self.stock)?,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    /// Checks every field that needs no store lookup; backends call it before they look up the
    /// category, so bad input is refused the same way whatever exists.
    pub fn validate(&self) -> Result<(), Error> {
        self.clone().prepare(String::new()).map(drop)
    }
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price.
    pub price: Option<Money>,
    /// New image list (replaces the list).
    pub images: Option<Vec<String>>,
    /// New category, which must exist.
    pub category: Option<CategoryId>,
    /// New stock level.
    pub stock: Option<i64>,
}

impl ProductPatch {
    /// Checks every field that needs no store lookup.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(n) = &self.name {
            validate::text("name", n, 200)?;
        }
        if let Some(d) = &self.description {
            validate::optional_text("description", d, 5000)?;
        }
        if let Some(p) = self.price {
            price("price", p)?;
        }
        if let Some(i) = &self.images {
            images(i)?;
        }
        if let Some(s) = self.stock {
            stock(s)?;
        }
        Ok(())
    }

    /// Applies the patch to `product` (bumping version and `updated_at`). `category_name` is the
    /// name of the new category when the patch changes it.
    pub fn apply_to(
        &self,
        product: &Product,
        category_name: Option<String>,
    ) -> Result<Product, Error> {
        self.validate()?;
        let mut next = product.clone();
        if let Some(n) = &self.name {
            next.name = validate::text("name", n, 200)?;
        }
        if let Some(d) = &self.description {
            next.description = validate::optional_text("description", d, 5000)?;
        }
        if let Some(p) = self.price {
            next.price = p;
        }
        if let Some(i) = &self.images {
            next.images = images(i)?;
        }
        if let (Some(c), Some(name)) = (self.category, category_name) {
            next.category = c;
            next.category_name = name;
        }
        if let Some(s) = self.stock {
            next.stock = s;
        }
        next.version += 1;
        next.updated_at = crate::time::now();
        Ok(next)
    }
}

/// What [`crate::CatalogStore::list_products`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProductQuery {
    /// Only products of this category.
    pub category: Option<CategoryId>,
    /// Which page.
    pub page: PageRequest,
}
