//! Categories (unique `name_key`) and products (indexed by category).
//!
//! Without transactions, "a category cannot be deleted while it has products" is checked, then
//! acted on: a product created in the same instant as its category is deleted can end up in a
//! deleted category. The product stays readable and its category id simply names no live
//! category; moving it (`update_product` with a new category) repairs it.

use async_trait::async_trait;
use mongodb::bson::{doc, Document};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    Category, CategoryId, EntityKind, Error, NewCategory, NewProduct, Page, Product, ProductId,
    ProductPatch, ProductQuery, Result,
};

use crate::error;
use crate::model::{
    from_document, to_bson_date, to_document, tombstone_key, CategoryDoc, MoneyDoc, ProductDoc,
};
use crate::sync::new_entity_fields;
use crate::{MongoStore, PageRequest};

fn to_category(d: Document) -> Result<Category> {
    from_document::<CategoryDoc>(EntityKind::Category, d)?.into_category()
}

pub(crate) fn to_product(d: Document) -> Result<Product> {
    from_document::<ProductDoc>(EntityKind::Product, d)?.into_product()
}

#[async_trait]
impl CatalogStore for MongoStore {
    // ---- categories ----
    #[tracing::instrument(level = "debug", skip_all, fields(name = %new.name), err(Display))]
    async fn create_category(&self, new: NewCategory) -> Result<Category> {
        const KIND: EntityKind = EntityKind::Category;
        let category = new.prepare()?;
        if let Some(parent) = category.parent {
            self.get_live(KIND, &parent.to_canonical()).await?;
        }
        let id = category.id.to_canonical();
        let mut d = to_document(KIND, &CategoryDoc::from_category(&category))?;
        d.extend(new_entity_fields(&id, category.created_at));
        match self.run_raw(self.coll(KIND).insert_one(d)).await {
            Ok(_) => Ok(category),
            // The only unique value of a category is its name.
            Err(e) if error::is_duplicate(&e) => Err(Error::conflict(
                KIND,
                "name",
                "a category with this name exists",
            )),
            Err(e) => Err(error::map(KIND, e)),
        }
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn get_category(&self, id: &CategoryId) -> Result<Category> {
        to_category(
            self.get_live(EntityKind::Category, &id.to_canonical())
                .await?,
        )
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn category_by_name(&self, name: &str) -> Result<Option<Category>> {
        const KIND: EntityKind = EntityKind::Category;
        self.run(
            KIND,
            self.coll(KIND)
                .find_one(doc! { "name_key": name, "deleted": false }),
        )
        .await?
        .map(to_category)
        .transpose()
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn list_categories(&self, page: PageRequest) -> Result<Page<Category>> {
        self.page(EntityKind::Category, doc! {}, &page, to_category, |c| {
            c.id.to_canonical()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn delete_category(&self, id: &CategoryId) -> Result<()> {
        const KIND: EntityKind = EntityKind::Category;
        let key = id.to_canonical();
        self.get_live(KIND, &key).await?;
        let products = self.coll(EntityKind::Product);
        let in_use = self
            .run(
                EntityKind::Product,
                products
                    .find_one(doc! { "category": &key, "deleted": false })
                    .projection(doc! { "_id": 1 }),
            )
            .await?;
        if in_use.is_some() {
            return Err(Error::conflict(
                KIND,
                "products",
                "the category still has products",
            ));
        }
        self.tombstone(KIND, &key, doc! { "name_key": tombstone_key(&key) }, None)
            .await
    }

    // ---- products ----
    #[tracing::instrument(level = "debug", skip_all, fields(name = %new.name), err(Display))]
    async fn create_product(&self, new: NewProduct) -> Result<Product> {
        const KIND: EntityKind = EntityKind::Product;
        new.validate()?;
        let category = self.get_category(&new.category).await?;
        let product = new.prepare(category.name)?;
        let id = product.id.to_canonical();
        let mut d = to_document(KIND, &ProductDoc::from_product(&product))?;
        d.extend(new_entity_fields(&id, product.created_at));
        self.run(KIND, self.coll(KIND).insert_one(d)).await?;
        Ok(product)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn get_product(&self, id: &ProductId) -> Result<Product> {
        to_product(
            self.get_live(EntityKind::Product, &id.to_canonical())
                .await?,
        )
    }

    /// Sets only the patched fields (`$set`), so a concurrent stock reservation is never
    /// overwritten by a stale copy; a patched `stock` replaces the level outright.
    #[tracing::instrument(level = "debug", skip(self, patch), fields(id = %id), err(Display))]
    async fn update_product(&self, id: &ProductId, patch: ProductPatch) -> Result<Product> {
        const KIND: EntityKind = EntityKind::Product;
        patch.validate()?;
        let current = self.get_product(id).await?;
        let category_name = match patch.category {
            Some(c) => Some(self.get_category(&c).await?.name),
            None => None,
        };
        let next = patch.apply_to(&current, category_name)?;
        let mut set = doc! { "updated_at": to_bson_date(next.updated_at) };
        if patch.name.is_some() {
            set.insert("name", next.name.as_str());
        }
        if patch.description.is_some() {
            set.insert("description", next.description.as_str());
        }
        if patch.price.is_some() {
            set.insert(
                "price",
                to_document(KIND, &MoneyDoc::from_money(next.price))?,
            );
        }
        if patch.images.is_some() {
            set.insert("images", next.images.clone());
        }
        if patch.category.is_some() {
            set.insert("category", next.category.to_canonical());
            set.insert("category_name", next.category_name.as_str());
        }
        if patch.stock.is_some() {
            set.insert("stock", next.stock);
        }
        to_product(self.write_live(KIND, &id.to_canonical(), set).await?)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn delete_product(&self, id: &ProductId) -> Result<()> {
        self.tombstone(EntityKind::Product, &id.to_canonical(), doc! {}, None)
            .await
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn list_products(&self, query: ProductQuery) -> Result<Page<Product>> {
        let filter = match query.category {
            Some(c) => doc! { "category": c.to_canonical() },
            None => doc! {},
        };
        self.page(EntityKind::Product, filter, &query.page, to_product, |p| {
            p.id.to_canonical()
        })
        .await
    }
}
