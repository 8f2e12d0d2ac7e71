//! Reviews: one per user and product, enforced by the unique `user_product_key`.

use async_trait::async_trait;
use mongodb::bson::{doc, Document};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    EntityKind, Error, NewReview, Page, PageRequest, ProductId, Result, Review, ReviewId,
    ReviewPatch,
};

use crate::error;
use crate::model::{from_document, to_document, tombstone_key, ReviewDoc};
use crate::sync::new_entity_fields;
use crate::MongoStore;

const KIND: EntityKind = EntityKind::Review;

/// A review to check patches against before looking anything up.
fn placeholder_review() -> Review {
    Review {
        id: ReviewId::from_u128(0),
        user: swiftbox_core::UserId::from_u128(0),
        product: ProductId::from_u128(0),
        rating: 1,
        comment: String::new(),
        version: 0,
        created_at: chrono::DateTime::UNIX_EPOCH,
    }
}

fn to_review(d: Document) -> Result<Review> {
    from_document::<ReviewDoc>(KIND, d)?.into_review()
}

#[async_trait]
impl ReviewStore for MongoStore {
    #[tracing::instrument(level = "debug", skip_all, fields(user = %new.user, product = %new.product), err(Display))]
    async fn create_review(&self, new: NewReview) -> Result<Review> {
        let review = new.prepare()?;
        self.get_live(EntityKind::User, &review.user.to_canonical())
            .await?;
        self.get_live(EntityKind::Product, &review.product.to_canonical())
            .await?;
        let id = review.id.to_canonical();
        let mut d = to_document(KIND, &ReviewDoc::from_review(&review))?;
        d.extend(new_entity_fields(&id, review.created_at));
        match self.run_raw(self.coll(KIND).insert_one(d)).await {
            Ok(_) => Ok(review),
            // The only unique value of a review is its (user, product) pair.
            Err(e) if error::is_duplicate(&e) => Err(Error::conflict(
                KIND,
                "product",
                "the user already reviewed this product",
            )),
            Err(e) => Err(error::map(KIND, e)),
        }
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn get_review(&self, id: &ReviewId) -> Result<Review> {
        to_review(self.get_live(KIND, &id.to_canonical()).await?)
    }

    #[tracing::instrument(level = "debug", skip(self, patch), fields(id = %id), err(Display))]
    async fn update_review(&self, id: &ReviewId, patch: ReviewPatch) -> Result<Review> {
        // Bad input is refused before any lookup, whatever exists.
        patch.apply_to(&placeholder_review())?;
        let current = self.get_review(id).await?;
        let next = patch.apply_to(&current)?;
        let mut set = doc! {};
        if patch.rating.is_some() {
            set.insert("rating", i32::from(next.rating));
        }
        if patch.comment.is_some() {
            set.insert("comment", next.comment.as_str());
        }
        to_review(self.write_live(KIND, &id.to_canonical(), set).await?)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn delete_review(&self, id: &ReviewId) -> Result<()> {
        let key = id.to_canonical();
        self.tombstone(
            KIND,
            &key,
            doc! { "user_product_key": tombstone_key(&key) },
            None,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip(self), fields(product = %product), err(Display))]
    async fn list_product_reviews(
        &self,
        product: &ProductId,
        page: PageRequest,
    ) -> Result<Page<Review>> {
        page.validate()?;
        let key = product.to_canonical();
        self.get_live(EntityKind::Product, &key).await?;
        self.page(KIND, doc! { "product": key }, &page, to_review, |r| {
            r.id.to_canonical()
        })
        .await
    }
}
