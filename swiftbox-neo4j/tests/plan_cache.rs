//! One plan per statement, whatever the size of its batch.
//!
//! Neo4j 5 keys its plan cache on the size of every list and string parameter, rounded up to a
//! power of ten (`internal.cypher.use_parameter_size`, on by default): a statement reading
//! `UNWIND $rows` is planned again, as a new statement, the first time it gets 1, 2-10, 11-100
//! or 101-1000 rows. Planning the projection statement takes 150-700 ms on a loaded 2-core
//! machine, and each apply carrying a batch of a new size waited for it: figure 3's sync-lag
//! tail (issue 18). Every statement of the crate takes its lists inside a map (`$rows.items`,
//! `graph::param::items`), which has no size.
//!
//! The count comes from `db.clearQueryCaches()`, which says how many plans it dropped. That
//! count covers the whole server, so this file holds one test: cargo runs test binaries one
//! after another, and nothing else runs statements while it counts.

mod common;

use common::bolt::{map, Bolt, Value};
use common::list_params::list_params;

/// Drops every cached plan and says how many there were.
fn clear(b: &mut Bolt) -> usize {
    let rows = b.rows("CALL db.clearQueryCaches()");
    let said = match rows.first().and_then(|r| r.first()) {
        Some(Value::String(s)) => s.clone(),
        other => panic!("db.clearQueryCaches() said {other:?}"),
    };
    if said.contains("already empty") {
        return 0;
    }
    // "Query caches successfully cleared of 3 queries."
    said.split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no count in {said:?}"))
}

/// Batches of 1, 5 and 50 rows, sizes of three different powers of ten.
const SIZES: [usize; 3] = [1, 5, 50];

/// How many plans Neo4j made for `statement` `EXPLAIN`ed with `params(n)` for each of
/// [`SIZES`].
fn plans_made(b: &mut Bolt, statement: &str, params: impl Fn(usize) -> Value) -> usize {
    clear(b);
    for n in SIZES {
        b.explain_with(statement, params(n));
    }
    clear(b)
}

#[tokio::test]
async fn a_statement_is_planned_once_whatever_its_batch_size() {
    let Some(g) = common::graph("plan_cache").await else {
        return;
    };
    let server = swiftbox_testsupport::neo4j().await.expect("server");
    let mut b = Bolt::connect(&server.uri, &server.user, &server.password);
    let ns = g.config().namespace().expect("namespace").to_owned();
    let rows = |n: usize| vec![Value::Map(Default::default()); n];

    // The check of the checker: a bare list is planned once per size.
    let bare = format!("UNWIND $rows AS row MATCH (n:`{ns}_User` {{id: row.id}}) RETURN n");
    let made = plans_made(&mut b, &bare, |n| map([("rows", Value::List(rows(n)))]));
    assert_eq!(
        made,
        SIZES.len(),
        "a bare list's size no longer keys the plan"
    );

    let mut seen = 0;
    let mut failures = Vec::new();
    for (name, text) in g.cypher_statements() {
        let lists = list_params(text);
        if lists.is_empty() {
            continue;
        }
        seen += 1;
        let made = plans_made(&mut b, text, |n| {
            Value::Map(
                lists
                    .iter()
                    .map(|(l, wrapped)| {
                        let list = Value::List(rows(n));
                        let value = if *wrapped {
                            map([("items", list)])
                        } else {
                            list
                        };
                        (l.clone(), value)
                    })
                    .collect(),
            )
        });
        if made != 1 {
            failures.push(format!(
                "{name} ({lists:?}): {made} plans for sizes {SIZES:?}"
            ));
        }
    }
    // The apply statements, the recounts and rebuilds, trending's and the fill's.
    assert!(seen >= 20, "only {seen} statements take a list");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    g.wipe().await.expect("wipe");
}
