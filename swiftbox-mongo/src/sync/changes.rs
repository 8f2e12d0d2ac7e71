//! The graph changes owed documents stand for: live documents become upserts (orders and
//! reviews with their users' and products' liveness), tombstones deletes.

use std::collections::HashSet;

use futures::TryStreamExt;
use mongodb::bson::{self, doc, Document};
use serde::Deserialize;
use swiftbox_core::{
    changes, EntityKind, EntityRef, Error, GraphChange, OwedChange, ProductId, Result,
};

use crate::model::{
    from_bson_date, from_document, version_from_i64, CategoryDoc, OrderDoc, ProductDoc, ReviewDoc,
    UserDoc,
};
use crate::MongoStore;

/// What the sync queries read of any entity document.
#[derive(Debug, Deserialize)]
pub(super) struct SyncDoc {
    #[serde(rename = "_id")]
    pub(crate) id: String,
    pub(crate) version: i64,
    #[serde(default)]
    pub(crate) owed_since: Option<bson::DateTime>,
    #[serde(default)]
    pub(crate) attempts: i64,
    #[serde(default)]
    pub(crate) last_error: Option<String>,
    #[serde(default)]
    pub(crate) set_aside: bool,
    /// Failed retries of the set-aside change (stale once it is back in line: read only with
    /// `set_aside`).
    #[serde(default)]
    pub(crate) retries: i64,
    /// The next retry of the set-aside change (same caveat).
    #[serde(default)]
    pub(crate) retry_at: Option<bson::DateTime>,
    #[serde(default)]
    pub(crate) deleted: bool,
}

impl MongoStore {
    /// Ids among `ids` of live entities of `kind`.
    pub(crate) async fn live_ids(
        &self,
        kind: EntityKind,
        ids: HashSet<String>,
    ) -> Result<HashSet<String>> {
        let ids: Vec<String> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let coll = self.coll(kind);
        let docs: Vec<Document> = self
            .run(kind, async {
                coll.find(doc! { "_id": { "$in": ids }, "deleted": false })
                    .projection(doc! { "_id": 1 })
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        Ok(docs
            .into_iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect())
    }

    /// The graph changes for live documents of one kind (orders and reviews need their users'
    /// and products' liveness, looked up in two queries for the whole batch).
    pub(super) async fn changes_for(
        &self,
        kind: EntityKind,
        docs: Vec<Document>,
    ) -> Result<Vec<GraphChange>> {
        match kind {
            EntityKind::User => docs
                .into_iter()
                .map(|d| {
                    let (u, _) = from_document::<UserDoc>(kind, d)?.into_user()?;
                    Ok(GraphChange::Upsert(changes::user_record(&u)))
                })
                .collect(),
            EntityKind::Category => docs
                .into_iter()
                .map(|d| {
                    let c = from_document::<CategoryDoc>(kind, d)?.into_category()?;
                    Ok(GraphChange::Upsert(changes::category_record(&c)))
                })
                .collect(),
            EntityKind::Product => docs
                .into_iter()
                .map(|d| {
                    let p = from_document::<ProductDoc>(kind, d)?.into_product()?;
                    Ok(GraphChange::Upsert(changes::product_record(&p)))
                })
                .collect(),
            EntityKind::Order => {
                let orders = docs
                    .into_iter()
                    .map(|d| from_document::<OrderDoc>(kind, d)?.into_order())
                    .collect::<Result<Vec<_>>>()?;
                let users = self
                    .live_ids(
                        EntityKind::User,
                        orders.iter().map(|o| o.user.to_canonical()).collect(),
                    )
                    .await?;
                let products = self
                    .live_ids(
                        EntityKind::Product,
                        orders
                            .iter()
                            .flat_map(|o| o.items.iter().map(|i| i.product.to_canonical()))
                            .collect(),
                    )
                    .await?;
                Ok(orders
                    .iter()
                    .map(|o| {
                        changes::order_change(
                            o,
                            users.contains(&o.user.to_canonical()),
                            |p: &ProductId| products.contains(&p.to_canonical()),
                        )
                    })
                    .collect())
            }
            EntityKind::Review => {
                let reviews = docs
                    .into_iter()
                    .map(|d| from_document::<ReviewDoc>(kind, d)?.into_review())
                    .collect::<Result<Vec<_>>>()?;
                let users = self
                    .live_ids(
                        EntityKind::User,
                        reviews.iter().map(|r| r.user.to_canonical()).collect(),
                    )
                    .await?;
                let products = self
                    .live_ids(
                        EntityKind::Product,
                        reviews.iter().map(|r| r.product.to_canonical()).collect(),
                    )
                    .await?;
                Ok(reviews
                    .iter()
                    .map(|r| {
                        changes::review_change(
                            r,
                            users.contains(&r.user.to_canonical()),
                            products.contains(&r.product.to_canonical()),
                        )
                    })
                    .collect())
            }
        }
    }

    /// Owed changes of one kind from owed documents, in the documents' order.
    pub(super) async fn owed_from_docs(
        &self,
        kind: EntityKind,
        docs: Vec<Document>,
    ) -> Result<Vec<OwedChange>> {
        let mut metas = Vec::with_capacity(docs.len());
        let mut live_docs = Vec::new();
        for d in docs {
            let meta: SyncDoc = from_document(kind, d.clone())?;
            if !meta.deleted {
                live_docs.push(d);
            }
            metas.push(meta);
        }
        let mut live_changes = self.changes_for(kind, live_docs).await?.into_iter();
        let mut out = Vec::with_capacity(metas.len());
        for meta in metas {
            let entity = EntityRef::new(kind, &meta.id);
            let version = version_from_i64(meta.version);
            let change = if meta.deleted {
                changes::delete_change(entity.clone(), version)
            } else {
                live_changes.next().ok_or_else(|| {
                    Error::backend(crate::error::STORE, "owed change lookup lost a document")
                })?
            };
            out.push(OwedChange {
                entity,
                version,
                change,
                owed_since: meta.owed_since.map(from_bson_date).unwrap_or_default(),
                attempts: u32::try_from(meta.attempts).unwrap_or(u32::MAX),
                last_error: meta.last_error,
                set_aside: meta.set_aside,
                // Writes, acknowledgements and releases leave these behind: they count only
                // while the change is set aside (setting it aside writes both afresh).
                retries: if meta.set_aside {
                    u32::try_from(meta.retries).unwrap_or(u32::MAX)
                } else {
                    0
                },
                retry_at: meta.retry_at.filter(|_| meta.set_aside).map(from_bson_date),
            });
        }
        Ok(out)
    }
}
