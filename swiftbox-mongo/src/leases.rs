//! [`LeaseLedger`] for [`MongoStore`]: one document per lease in `swiftbox_leases`,
//! `{_id: key, owner, token, beat}`.
//!
//! Creating a record is an insert (a duplicate `_id` means it exists: the swap fails). A swap
//! or removal is one conditional statement on `{_id, owner, token, beat}`, which MongoDB
//! applies atomically; on FerretDB, whose updates are not atomic (see `crate::lock`), it runs
//! under the lease document's lock `lease:<key>`, fenced like an entity write.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;
use swiftbox_core::primary::{validate_prefix, validate_swap};
use swiftbox_core::{Error, LeaseLedger, LeaseRecord, Result};

use crate::error::{self, STORE};
use crate::MongoStore;

/// The collection holding the lease records.
pub(crate) const LEASES: &str = "swiftbox_leases";

/// The counters as stored: the conformance suite pins them below `i64::MAX`.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The filter matching exactly `r`.
fn state_filter(r: &LeaseRecord) -> Document {
    doc! {
        "_id": &r.key,
        "owner": r.owner.as_deref().map_or(Bson::Null, |o| Bson::String(o.to_owned())),
        "token": int(r.token),
        "beat": int(r.beat),
    }
}

fn from_doc(d: &Document) -> Result<LeaseRecord> {
    let bad = |why: &str| Error::backend(STORE, format!("malformed lease document: {why}"));
    let key = d.get_str("_id").map_err(|_| bad("_id"))?.to_owned();
    let owner = match d.get("owner") {
        None | Some(Bson::Null) => None,
        Some(Bson::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("owner")),
    };
    let count = |f: &str| {
        d.get_i64(f)
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| bad(f))
    };
    Ok(LeaseRecord {
        key,
        owner,
        token: count("token")?,
        beat: count("beat")?,
    })
}

impl MongoStore {
    fn leases(&self) -> Collection<Document> {
        self.database().collection(LEASES)
    }
}

#[async_trait]
impl LeaseLedger for MongoStore {
    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn lease_records(&self, prefix: &str) -> Result<Vec<LeaseRecord>> {
        validate_prefix(prefix)?;
        // A key range, not a pattern: the keys from `prefix` up to (not including) the prefix
        // with its last character moved one up (printable ASCII, so no overflow).
        let filter = match prefix.as_bytes().split_last() {
            None => doc! {},
            Some((last, head)) => {
                let mut upper = head.to_vec();
                upper.push(last + 1);
                let upper = String::from_utf8(upper).map_err(|e| Error::backend(STORE, e))?;
                doc! { "_id": { "$gte": prefix, "$lt": upper } }
            }
        };
        let leases = self.leases();
        let docs: Vec<Document> = self
            .run_raw(async {
                leases
                    .find(filter)
                    .sort(doc! { "_id": 1 })
                    .await?
                    .try_collect()
                    .await
            })
            .await
            .map_err(error::map_other)?;
        docs.iter().map(from_doc).collect()
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn swap_lease(&self, current: Option<&LeaseRecord>, next: &LeaseRecord) -> Result<bool> {
        validate_swap(current, next)?;
        let leases = self.leases();
        let fields = doc! {
            "owner": next.owner.as_deref().map_or(Bson::Null, |o| Bson::String(o.to_owned())),
            "token": int(next.token),
            "beat": int(next.beat),
        };
        let Some(current) = current else {
            let mut new = doc! { "_id": &next.key };
            new.extend(fields);
            return match self.run_raw(leases.insert_one(new)).await {
                Ok(_) => Ok(true),
                Err(e) if error::is_duplicate(&e) => Ok(false),
                Err(e) => Err(error::map_other(e)),
            };
        };
        let leases = &leases;
        let res = self
            .locked_key(format!("lease:{}", next.key), |fence| async move {
                leases
                    .update_one(
                        fence.filter(state_filter(current)),
                        fence.update(doc! { "$set": fields }),
                    )
                    .await
            })
            .await
            .map_err(error::map_other)?;
        Ok(res.matched_count == 1)
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn remove_lease(&self, current: &LeaseRecord) -> Result<bool> {
        current.validate()?;
        let leases = &self.leases();
        let res = self
            .locked_key(format!("lease:{}", current.key), |fence| async move {
                leases.delete_one(fence.filter(state_filter(current))).await
            })
            .await
            .map_err(error::map_other)?;
        Ok(res.deleted_count == 1)
    }
}
