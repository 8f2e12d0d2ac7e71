use chrono::{DateTime, Utc};

use super::validate;
use crate::error::Error;
use crate::id::{ProductId, ReviewId, UserId};

/// A user's rating and comment on a product; one per user and product.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Review {
    /// Id.
    pub id: ReviewId,
    /// Author.
    pub user: UserId,
    /// Product reviewed.
    pub product: ProductId,
    /// 1..=5.
    pub rating: u8,
    /// Up to 5000 characters, may be empty.
    pub comment: String,
    /// Bumped by every write.
    pub version: u64,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// Input for [`crate::ReviewStore::create_review`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewReview {
    /// Author; must exist.
    pub user: UserId,
    /// Product; must exist.
    pub product: ProductId,
    /// 1..=5.
    pub rating: i64,
    /// Comment.
    #[serde(default)]
    pub comment: String,
}

pub(crate) fn rating(r: i64) -> Result<u8, Error> {
    u8::try_from(r)
        .ok()
        .filter(|r| (1..=5).contains(r))
        .ok_or_else(|| Error::invalid("rating", "must be between 1 and 5"))
}

impl NewReview {
    /// Validates, giving the review a store writes once it has checked user and product exist.
    pub fn prepare(self) -> Result<Review, Error> {
        Ok(Review {
            id: ReviewId::generate(),
            user: self.user,
            product: self.product,
            rating: rating(self.rating)?,
            comment: validate::optional_text("comment", &self.comment, 5000)?,
            version: 1,
            created_at: crate::time::now(),
        })
    }
}

/// Changes to a review; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ReviewPatch {
    /// New rating.
    pub rating: Option<i64>,
    /// New comment.
    pub comment: Option<String>,
}

impl ReviewPatch {
    /// Validates and applies, bumping the version.
    pub fn apply_to(&self, review: &Review) -> Result<Review, Error> {
        let mut next = review.clone();
        if let Some(r) = self.rating {
            next.rating = rating(r)?;
        }
        if let Some(c) = &self.comment {
            next.comment = validate::optional_text("comment", c, 5000)?;
        }
        next.version += 1;
        Ok(next)
    }
}
