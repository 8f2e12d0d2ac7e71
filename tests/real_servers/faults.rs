//! Issue 6's other fault scenarios on MongoDB + Neo4j: crash between the two writes, replay
//! and reordering, tampering (through the graph API, and by hand in Neo4j), poison (set aside,
//! then applied on a retry), and applies timing out behind a lock (not poison).

use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::{EntityKind, EntityRef, GraphRecord, GraphStore, NewUser, UserId, UserPatch};
use swiftbox_sync::scenarios::{self, Scenario, Workload};
use swiftbox_sync::testing::FaultyGraph;
use swiftbox_sync::{SyncConfig, Synced, WorkerConfig};

use crate::common::{self, must};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_the_two_writes_is_applied_by_a_new_worker() {
    let Some(env) = common::env("crash_between_writes").await else {
        return;
    };
    scenarios::crash_between_writes(env.mongo, env.graph).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_reordered_changes_end_in_the_same_graph() {
    let Some(env) = common::env("replay_and_reorder").await else {
        return;
    };
    let s = Scenario {
        writes: 600,
        ..Scenario::default()
    };
    scenarios::replay_and_reorder(env.mongo, env.graph, &s).await;
}

/// Tampering through the graph API: a delete (which leaves a tombstone, so repair must forget
/// it), a stale e-mail and a foreign user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_through_the_graph_api_is_found_and_repaired_exactly() {
    let Some(env) = common::env("tampering_api").await else {
        return;
    };
    scenarios::tampering(env.mongo, env.graph, &Scenario::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_change_is_set_aside_while_1000_others_apply() {
    let Some(env) = common::env("poison").await else {
        return;
    };
    scenarios::poison(env.mongo, env.graph, &Scenario::default()).await;
}

/// Tampering by hand, in Neo4j itself through its own driver (as an operator's stray Cypher
/// would): a product node detached and deleted, a user's e-mail overwritten, a user node
/// created that the primary store never had. `check()` names exactly those three, `repair()`
/// writes exactly those three entities, and the graph is in sync again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_by_hand_in_neo4j_is_found_and_repaired_exactly() {
    let Some((mongo_server, neo4j_server)) = common::servers().await else {
        return;
    };
    let database = mongo_server.unique_database("tampering_by_hand");
    let namespace = neo4j_server.unique_namespace("tampering_by_hand");
    let _cleanup = common::Cleanup::new(&mongo_server, Some(&neo4j_server), &database, &namespace);
    let mongo = must(
        swiftbox_mongo::MongoStore::connect(&mongo_server.uri, &database).await,
        "connect to mongo",
    );
    let graph = must(
        swiftbox_neo4j::Neo4jGraph::connect(&common::neo4j_config(&neo4j_server, &namespace)).await,
        "connect to neo4j",
    );
    must(graph.migrate().await, "migrate");

    // Recording shows which entities repair writes.
    let graph = Arc::new(FaultyGraph::new(graph));
    let primary = Arc::new(mongo);
    let store = Synced::from_arcs(
        Arc::clone(&primary),
        Arc::clone(&graph),
        SyncConfig::default(),
    );
    let mut load = Workload::new(0x7a3e);
    load.run(&store, 300).await;
    let lonely = load.product(&store).await; // no orders, no reviews
    let victim = load.users()[0];
    // An inline apply slower than the inline timeout (a loaded machine) leaves its change
    // owed: a worker settles those first, so the graph is in sync before the tampering.
    let worker = must(store.worker(scenarios::test_worker_config()), "worker");
    must(worker.drain().await, "drain");
    assert_eq!(must(primary.sync_stats().await, "stats").owed, 0);
    let reconciler = store.reconciler();
    let before = must(reconciler.check().await, "check");
    assert!(before.is_clean(), "in sync before tampering:\n{before}");

    // The namespace prefixes every label: `{ns}_User`, `{ns}_Product`.
    let driver = must(
        neo4rs::Graph::new(
            &neo4j_server.uri,
            &neo4j_server.user,
            &neo4j_server.password,
        )
        .await,
        "neo4rs connect",
    );
    let label = |l: &str| format!("`{namespace}_{l}`");
    let foreign = UserId::generate();
    let statements = [
        neo4rs::query(&format!(
            "MATCH (p:{} {{id: $id}}) DETACH DELETE p",
            label("Product")
        ))
        .param("id", lonely.to_string()),
        neo4rs::query(&format!(
            "MATCH (u:{} {{id: $id}}) SET u.email = $email",
            label("User")
        ))
        .param("id", victim.to_string())
        .param("email", "tampered@example.com"),
        neo4rs::query(&format!(
            "CREATE (:{} {{id: $id, username: 'nobody', email: 'nobody@example.com', version: 1}})",
            label("User")
        ))
        .param("id", foreign.to_string()),
    ];
    for q in statements {
        must(driver.run(q).await, "tamper");
    }
    // The statements really hit this namespace's nodes.
    let mut rows = must(
        driver
            .execute(
                neo4rs::query(&format!(
                    "MATCH (p:{} {{id: $id}}) RETURN count(p) AS n",
                    label("Product")
                ))
                .param("id", lonely.to_string()),
            )
            .await,
        "count",
    );
    let row = must(rows.next().await, "row").unwrap_or_else(|| panic!("a count row"));
    assert_eq!(
        must(row.get::<i64>("n"), "n"),
        0,
        "the product node is gone"
    );

    let drift = must(reconciler.check().await, "check");
    scenarios::assert_tamper_drift(&drift, lonely, foreign, victim);

    scenarios::assert_repairs_exactly(&reconciler, &graph, &drift).await;

    // The hand-edited e-mail is the primary store's again, the product is back in its category.
    let users = must(
        graph.inner().records(EntityKind::User, None, 1_000).await,
        "records",
    );
    let email = users.iter().find_map(|r| match r {
        GraphRecord::User(u) if u.id == victim => Some(u.email.clone()),
        _ => None,
    });
    let user = must(primary.get_user(&victim).await, "user");
    assert_eq!(email, Some(user.email));
    scenarios::assert_in_sync(&primary, &graph).await;
}

/// A graph that answers but cannot apply a change in time (here: a real write lock on the
/// user's node, held by another Neo4j transaction, so the apply waits however fast the
/// machine is) is overloaded, not facing poison: the worker's timed-out applies count against
/// nothing and set nothing aside, and once the lock goes the change applies with no release
/// by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_timing_out_behind_a_neo4j_lock_are_not_poison() {
    let Some(env) = common::env("lock_timeout").await else {
        return;
    };
    let (primary, graph) = (Arc::new(env.mongo), Arc::new(env.graph));
    let store = Synced::from_arcs(
        Arc::clone(&primary),
        Arc::clone(&graph),
        SyncConfig::deferred(),
    );
    // A patient worker settles the store before and after the lock; an impatient one (a short
    // apply timeout, poison at the first failure) runs while the lock is held.
    let patient = must(store.worker(scenarios::test_worker_config()), "worker");
    let worker = must(
        store.worker(WorkerConfig {
            apply_timeout: Duration::from_secs(1),
            set_aside_after: 1,
            ..scenarios::test_worker_config()
        }),
        "worker",
    );
    let ann = must(
        store
            .create_user(NewUser::new("ann", "ann@example.com"))
            .await,
        "create user",
    );
    must(patient.drain().await, "drain");
    let entity = EntityRef::new(EntityKind::User, ann.id);
    assert!(must(primary.owed_change(&entity).await, "owed").is_none());

    // Another transaction write-locks ann's node and keeps the lock.
    let driver = must(
        neo4rs::Graph::new(&env.neo4j.uri, &env.neo4j.user, &env.neo4j.password).await,
        "neo4rs connect",
    );
    let mut locker = must(driver.start_txn().await, "start the locking transaction");
    must(
        locker
            .run(
                neo4rs::query(&format!(
                    "MATCH (u:`{}_User` {{id: $id}}) SET u.version = u.version",
                    env.namespace
                ))
                .param("id", ann.id.to_string()),
            )
            .await,
        "lock ann's node",
    );
    let updated = must(
        store
            .update_user(
                &ann.id,
                UserPatch {
                    is_admin: Some(true),
                    ..UserPatch::default()
                },
            )
            .await,
        "update user",
    );
    for _ in 0..3 {
        // Each apply waits for the lock until its timeout; the graph answers pings meanwhile.
        let round = must(worker.run_once().await, "round");
        assert_eq!((round.acked, round.set_aside), (0, 0), "{round:?}");
    }
    let owed = must(primary.owed_change(&entity).await, "owed").expect("still owed");
    assert_eq!(
        (owed.set_aside, owed.attempts),
        (false, 0),
        "a timeout is not poison: {owed:?}"
    );

    must(locker.rollback().await, "release the lock");
    let applied = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            must(patient.run_once().await, "round");
            if must(primary.owed_change(&entity).await, "owed").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        applied.is_ok(),
        "the change never applied once the lock was gone"
    );
    let users = must(graph.records(EntityKind::User, None, 10).await, "records");
    assert_eq!(
        users.iter().map(|r| r.version()).collect::<Vec<_>>(),
        vec![updated.version]
    );
}
