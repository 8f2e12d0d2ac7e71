//! Issue 19: what a MongoDB rollback leaves in the graph, and how the reconciler repairs it.
//!
//! A write acknowledged with `w: 1` is on the old primary only; if that primary fails over
//! before a majority has it, the new primary never saw it and the old one rolls it back when it
//! rejoins. The decorator may already have applied it to the graph. (With the default
//! `w: majority`, journaled, an acknowledged write is never rolled back; see ARCHITECTURE.md,
//! "Failover".) A rollback cannot be staged on one FerretDB, so the test does to the documents
//! exactly what a rollback does: an inserted document vanishes, an updated one returns to its
//! earlier state, and the next write after the failover starts again from that earlier
//! version.

use mongodb::bson::{doc, Document};
use swiftbox_core::prelude::*;
use swiftbox_core::{EntityKind, GraphRecord, NewUser, UserPatch};
use swiftbox_sync::{StaleReason, Synced};

use crate::common::{self, must};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_rolled_back_by_a_failover_are_found_and_repaired() {
    let Some(env) = common::env("rollback").await else {
        return;
    };
    let users = env.mongo.database().collection::<Document>("users");
    let store = Synced::new(env.mongo.clone(), env.graph);

    // Rolled-back insert: the graph got the user, the primary store no longer has it.
    let ghost = must(
        store
            .create_user(NewUser::new("ghost", "ghost@example.com"))
            .await,
        "create ghost",
    );
    must(
        users.delete_one(doc! { "_id": ghost.id.to_string() }).await,
        "roll back the insert",
    );

    // Rolled-back updates: version 1 is majority-committed; versions 2 and 3 reach the graph
    // and are rolled back; the first write after the failover is version 2 again, which the
    // graph (holding 3) ignores as older, and the worker acknowledges as settled.
    let ann = must(
        store
            .create_user(NewUser::new("ann", "ann@example.com"))
            .await,
        "create ann",
    );
    let committed = must(
        users.find_one(doc! { "_id": ann.id.to_string() }).await,
        "read ann",
    )
    .expect("ann's document");
    for email in ["ann2@example.com", "ann3@example.com"] {
        let patch = UserPatch {
            email: Some(email.into()),
            ..UserPatch::default()
        };
        must(store.update_user(&ann.id, patch).await, "update ann");
    }
    must(
        users
            .replace_one(doc! { "_id": ann.id.to_string() }, committed)
            .await,
        "roll back the updates",
    );
    let after = UserPatch {
        email: Some("ann-after-failover@example.com".into()),
        ..UserPatch::default()
    };
    let ann_now = must(
        store.update_user(&ann.id, after).await,
        "write after failover",
    );
    assert_eq!(ann_now.version, 2);
    assert_eq!(
        must(env.mongo.sync_stats().await, "stats").owed,
        0,
        "the stale apply was acknowledged: nothing looks owed"
    );

    let reconciler = store.reconciler();
    let drift = must(reconciler.check().await, "check");
    let extra: Vec<_> = drift.extra.iter().map(GraphRecord::entity).collect();
    assert_eq!(
        extra,
        vec![swiftbox_core::EntityRef::new(
            EntityKind::User,
            ghost.id.to_string()
        )]
    );
    assert_eq!(drift.missing, vec![]);
    assert_eq!(drift.stale.len(), 1, "{drift}");
    assert_eq!(drift.stale[0].reason, StaleReason::NewerVersion);
    assert_eq!(drift.stale[0].found.version(), 3);
    assert_eq!(drift.stale[0].expected.version(), 2);

    let repaired = must(reconciler.repair(&drift).await, "repair");
    assert_eq!(
        (repaired.deleted, repaired.upserted),
        (2, 1),
        "{repaired:?}"
    );
    let again = must(reconciler.check().await, "check again");
    assert!(again.is_clean(), "after repair:\n{again}");
    let records = must(
        store.graph().records(EntityKind::User, None, 10).await,
        "records",
    );
    let emails: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            GraphRecord::User(u) => Some((u.username.as_str(), u.email.as_str(), u.version)),
            _ => None,
        })
        .collect();
    assert_eq!(emails, vec![("ann", "ann-after-failover@example.com", 2)]);
}
