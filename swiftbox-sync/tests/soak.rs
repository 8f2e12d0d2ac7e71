//! The soak and its history checker (`swiftbox_sync::scenarios::soak`) on the in-memory
//! backends, with the faults a memory graph can have (through `FaultyGraph`: frozen, down,
//! hanging applies); the workspace's server tests run it with real faults on real servers.
//! Also: the checker itself finds what it must (a test that it can fail).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    changes, EntityKind, EntityRef, GraphChange, GraphStore, NewUser, UserId, UserPatch,
};
use swiftbox_sync::scenarios::{self, History, Soak, SoakTarget};
use swiftbox_sync::testing::FaultyGraph;
use swiftbox_sync::{SyncConfig, Synced};

/// One memory shop; every instance shares it (a memory store has no connections of its own).
struct Memory {
    primary: Arc<MemoryStore>,
    graph: Arc<FaultyGraph<MemoryGraph>>,
}

#[async_trait]
impl SoakTarget for Memory {
    type Primary = MemoryStore;
    type Graph = FaultyGraph<MemoryGraph>;

    async fn open(&self) -> (Arc<MemoryStore>, Arc<FaultyGraph<MemoryGraph>>) {
        (Arc::clone(&self.primary), Arc::clone(&self.graph))
    }

    fn faults(&self) -> Vec<&'static str> {
        vec!["graph frozen", "graph down", "graph applies hang"]
    }

    async fn inject(&self, name: &str) {
        let f = self.graph.faults();
        match name {
            "graph frozen" => f.set_frozen(true),
            "graph down" => f.set_down(true),
            "graph applies hang" => f.set_hang(true),
            other => panic!("no fault {other}"),
        }
    }

    async fn heal(&self, name: &str) {
        let f = self.graph.faults();
        match name {
            "graph frozen" => f.set_frozen(false),
            "graph down" => f.set_down(false),
            "graph applies hang" => f.set_hang(false),
            other => panic!("no fault {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_of_two_instances_with_faults_loses_doubles_and_leaves_stale_nothing() {
    let target = Memory {
        primary: Arc::new(MemoryStore::new()),
        graph: Arc::new(FaultyGraph::new(MemoryGraph::new())),
    };
    let s = Soak {
        run_for: Duration::from_secs(15),
        max_writes: 30_000,
        // Short inline applies, so a frozen graph holds writers up briefly.
        sync: SyncConfig {
            inline_timeout: Duration::from_millis(200),
            ..SyncConfig::default()
        },
        hold_max: Duration::from_secs(1),
        ..Soak::default()
    };
    let report = scenarios::soak(&target, &s).await;
    eprintln!("{report}");
    report.assert_clean();
    // Every step of the cycle ran at least once, so every fault was really in the run.
    for step in target.faults().into_iter().chain([
        "instance dropped",
        "repair under load",
        "resync under load",
    ]) {
        assert!(
            report.faults.get(step).copied().unwrap_or(0) >= 1,
            "{step} never ran:\n{report}"
        );
    }
    assert!(report.writes.acknowledged > 0, "{report}");
}

/// The checker can fail: a write acknowledged and then lost from the graph, one left stale and
/// one extra entity are each named.
#[tokio::test]
async fn the_history_checker_names_lost_stale_and_extra_entities() {
    let primary = Arc::new(MemoryStore::new());
    let graph = Arc::new(MemoryGraph::new());
    let store = Synced::from_arcs(
        Arc::clone(&primary),
        Arc::clone(&graph),
        SyncConfig::default(),
    );
    let history = History::new();
    let mut users = Vec::new();
    for name in ["lost", "stale", "fine"] {
        let u = store
            .create_user(NewUser::new(name, format!("{name}@example.com")))
            .await
            .expect("create");
        history.acknowledged(EntityRef::new(EntityKind::User, u.id), u.version);
        users.push(u);
    }
    let verdict = scenarios::check_history(&history, &primary, &graph).await;
    assert!(verdict.is_clean(), "{verdict}");

    // Lost: the graph forgets an acknowledged user.
    let lost = EntityRef::new(EntityKind::User, users[0].id);
    graph
        .apply(&[GraphChange::Delete {
            entity: lost.clone(),
            version: users[0].version + 1,
        }])
        .await
        .expect("tamper");
    // Stale: the primary store moves on and the graph does not hear of it.
    let patch = UserPatch {
        email: Some("stale2@example.com".into()),
        ..UserPatch::default()
    };
    let stale = primary
        .update_user(&users[1].id, patch)
        .await
        .expect("update");
    history.acknowledged(EntityRef::new(EntityKind::User, stale.id), stale.version);
    // Extra: a user the primary store never had.
    let foreign = swiftbox_core::User {
        id: UserId::generate(),
        ..users[2].clone()
    };
    graph
        .apply(&[GraphChange::Upsert(changes::user_record(&foreign))])
        .await
        .expect("tamper");

    let verdict = scenarios::check_history(&history, &primary, &graph).await;
    assert_eq!(verdict.lost, vec![lost], "{verdict}");
    assert_eq!(
        verdict.stale,
        vec![EntityRef::new(EntityKind::User, stale.id)],
        "{verdict}"
    );
    assert_eq!(
        verdict.extra,
        vec![EntityRef::new(EntityKind::User, foreign.id)],
        "{verdict}"
    );
    assert!(!verdict.is_clean());
}
