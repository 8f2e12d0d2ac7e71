//! Lease records: compare-and-swap semantics, prefixes, concurrency and bad input.

use super::support::*;
use crate::prelude::*;
use crate::primary::LeaseRecord;

fn record(key: &str, owner: Option<&str>, token: u64, beat: u64) -> LeaseRecord {
    LeaseRecord {
        key: key.to_owned(),
        owner: owner.map(str::to_owned),
        token,
        beat,
    }
}

/// `swap_lease` replaces a record only while it equals `current` (`None`: absent), every
/// field compared; `remove_lease` likewise; `lease_records` lists a prefix by key; of many
/// concurrent swaps from one state exactly one wins; bad records are invalid and change
/// nothing.
pub async fn lease_records_swap_atomically(store: &dyn PrimaryBackend) {
    let p = |prefix: &'static str| async move { ok(store.lease_records(prefix).await, "lease records") };
    assert!(p("").await.is_empty(), "a fresh store has no leases");

    let a0 = record("part/8/0", Some("w1"), 1, 0);
    assert!(ok(store.swap_lease(None, &a0).await, "create"));
    assert!(
        !ok(store.swap_lease(None, &a0).await, "create twice"),
        "a record that exists is not absent"
    );
    let a1 = LeaseRecord {
        beat: 1,
        ..a0.clone()
    };
    assert!(ok(store.swap_lease(Some(&a0), &a1).await, "renew"));
    assert!(
        !ok(store.swap_lease(Some(&a0), &a1).await, "stale renew"),
        "a swap from an older state fails"
    );
    // Each field is compared: the same beat under another token or owner is another state.
    for stale in [
        LeaseRecord {
            token: 2,
            ..a1.clone()
        },
        LeaseRecord {
            owner: Some("w2".into()),
            ..a1.clone()
        },
        LeaseRecord {
            owner: None,
            ..a1.clone()
        },
    ] {
        let next = LeaseRecord {
            beat: 9,
            ..stale.clone()
        };
        assert!(
            !ok(store.swap_lease(Some(&stale), &next).await, "other state"),
            "{stale:?} is not the record"
        );
    }
    let released = record("part/8/0", None, 1, 1);
    assert!(ok(store.swap_lease(Some(&a1), &released).await, "release"));
    assert_eq!(p("part/").await, vec![released.clone()]);

    let b = record("part/8/1", Some("w2"), 4, 7);
    let m = record("member/w2", Some("w2"), 0, 3);
    assert!(ok(store.swap_lease(None, &b).await, "b"));
    assert!(ok(store.swap_lease(None, &m).await, "m"));
    assert_eq!(
        p("part/").await,
        vec![released.clone(), b.clone()],
        "by key"
    );
    assert_eq!(p("member/").await, vec![m.clone()]);
    assert_eq!(p("").await.len(), 3);
    assert!(p("part/9").await.is_empty());
    // A prefix is literal text, not a pattern.
    assert!(p("part/.*").await.is_empty());
    assert!(p(".*").await.is_empty());

    assert!(!ok(store.remove_lease(&a1).await, "remove stale"));
    assert!(ok(store.remove_lease(&m).await, "remove"));
    assert!(!ok(store.remove_lease(&m).await, "remove twice"));
    assert!(p("member/").await.is_empty());

    // Concurrent takeovers of one state: exactly one wins.
    let contenders: Vec<LeaseRecord> = (0..8)
        .map(|i| record("part/8/1", Some(&format!("c{i}")), 5, 0))
        .collect();
    let wins = futures::future::join_all(
        contenders
            .iter()
            .map(|next| store.swap_lease(Some(&b), next)),
    )
    .await;
    let winners: Vec<&LeaseRecord> = wins
        .into_iter()
        .zip(&contenders)
        .filter_map(|(r, c)| ok(r, "concurrent swap").then_some(c))
        .collect();
    assert_eq!(winners.len(), 1, "one swap from a state wins");
    assert_eq!(p("part/8/1").await, vec![winners[0].clone()]);

    // Bad input: invalid, nothing changed.
    let before = p("").await;
    let long = "k".repeat(201);
    for (bad, field) in [
        (record("", Some("w"), 1, 0), "key"),
        (record(&long, Some("w"), 1, 0), "key"),
        (record("has space", Some("w"), 1, 0), "key"),
        (record("k", Some(""), 1, 0), "owner"),
        (record("k", Some("w\n"), 1, 0), "owner"),
        (record("k", Some("w"), u64::MAX, 0), "token"),
        (record("k", Some("w"), 1, 1 << 63), "token"),
    ] {
        assert_invalid(store.swap_lease(None, &bad).await, field, "bad record");
    }
    assert_invalid(
        store
            .swap_lease(Some(&released), &record("other", Some("w"), 2, 0))
            .await,
        "key",
        "another key",
    );
    assert_invalid(store.lease_records("a b").await, "prefix", "bad prefix");
    assert_invalid(store.lease_records(&long).await, "prefix", "long prefix");
    let after = p("").await;
    assert_eq!(before, after, "bad swaps changed nothing");
}
