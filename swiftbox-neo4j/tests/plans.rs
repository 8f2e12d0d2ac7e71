//! What the server says about the statements themselves, read through a raw Bolt connection
//! (`common::bolt`; neo4rs 0.8 drops result summaries): no statement uses a form Neo4j reports
//! as deprecated, and every version guard of apply is read after a *locking* seek on a
//! uniqueness constraint (the mechanism the `apply` module's "Locking" docs rely on), and every
//! statement whose plan is kept is made of seeks.

mod common;

use common::bolt::{Bolt, Summary};
use swiftbox_neo4j::Neo4jGraph;

/// A raw Bolt connection to the test server.
async fn bolt() -> Bolt {
    let server = swiftbox_testsupport::neo4j().await.expect("server");
    Bolt::connect(&server.uri, &server.user, &server.password)
}

fn namespace(g: &Neo4jGraph) -> String {
    g.config().namespace().expect("namespace").to_owned()
}

/// The seeks of a plan that lock: `(operator, details)`.
fn locking_seeks(summary: &Summary) -> Vec<(String, String)> {
    summary
        .operators()
        .into_iter()
        .filter(|(op, _)| op.contains("UniqueIndexSeek(Locking)"))
        .collect()
}

#[tokio::test]
async fn explain_sees_a_deprecation_and_a_locking_seek() {
    // The check of the checker: a form 5.26 deprecates, and a seek known to lock.
    let Some(g) = common::graph("explain_sees").await else {
        return;
    };
    let ns = namespace(&g);
    let mut b = bolt().await;
    let deprecated = b.explain("UNWIND [1] AS x CALL { WITH x RETURN x AS y } RETURN y");
    assert_eq!(deprecated.deprecations().len(), 1, "{deprecated:?}");
    let fine = b.explain("UNWIND [1] AS x CALL (x) { RETURN x AS y } RETURN y");
    assert!(fine.deprecations().is_empty(), "{fine:?}");
    let write = b.explain(&format!(
        "UNWIND $rows AS row MATCH (n:`{ns}_User` {{id: row.id}}) SET n.x = 1"
    ));
    assert_eq!(locking_seeks(&write).len(), 1, "{:?}", write.operators());
    let read = b.explain(&format!("MATCH (n:`{ns}_User` {{id: $id}}) RETURN n"));
    assert!(locking_seeks(&read).is_empty(), "{:?}", read.operators());
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn no_statement_uses_a_deprecated_form() {
    let Some(g) = common::graph("no_deprecations").await else {
        return;
    };
    let mut b = bolt().await;
    let mut seen = 0;
    let mut failures = Vec::new();
    for (name, text) in g.cypher_statements() {
        let summary = if text.trim_start().starts_with("SHOW ") {
            // Not explainable; plain reads of the schema.
            continue;
        } else if name == "migrate.schema" {
            // Idempotent schema commands, run again on the migrated namespace.
            b.run(text)
        } else {
            b.explain(text)
        };
        seen += 1;
        for d in summary.deprecations() {
            failures.push(format!("{name}: {d}\n{text}"));
        }
    }
    assert!(seen > 40, "only {seen} statements checked");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn apply_guards_are_read_after_locking_unique_seeks() {
    let Some(g) = common::graph("locking_guards").await else {
        return;
    };
    let ns = namespace(&g);
    // Statement -> the `label(property)` each must seek with a lock (apply's "Locking" docs).
    let tomb = "SwiftboxTombstone(key)";
    let lock = "SwiftboxLock(key)";
    let expected: [(&str, &[&str]); 11] = [
        ("apply.upsert.category", &[tomb, "Category(id)"]),
        ("apply.upsert.user", &[tomb, "User(id)"]),
        ("apply.upsert.product", &[tomb, "Product(id)"]),
        ("apply.upsert.order", &[lock, tomb]),
        ("apply.upsert.review", &[tomb, "REVIEWED(id)"]),
        ("apply.delete.category", &[tomb, "Category(id)"]),
        ("apply.delete.user", &[tomb, "User(id)"]),
        ("apply.delete.product", &[tomb, "Product(id)"]),
        ("apply.delete.order", &[lock, tomb]),
        ("apply.delete.review", &[tomb, "REVIEWED(id)"]),
        (
            "apply.projections",
            &["SwiftboxProductStats(id)", "User(id)"],
        ),
    ];
    let statements = g.cypher_statements();
    let mut b = bolt().await;
    let mut failures = Vec::new();
    for (name, seeks) in expected {
        let text = statements
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .unwrap_or_else(|| panic!("no statement {name}"));
        let summary = b.explain(text);
        let locking = locking_seeks(&summary);
        for seek in seeks {
            let target = format!(":{ns}_{seek}");
            if !locking.iter().any(|(_, details)| details.contains(&target)) {
                failures.push(format!(
                    "{name}: no locking unique seek on {seek}; plan:\n{:#?}",
                    summary.operators()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    g.wipe().await.expect("wipe");
}

/// A statement whose plan is kept (`CYPHER replan=skip`, the apply module's `NO_REPLAN`) keeps
/// the plan Neo4j made on the first call, usually on an empty namespace: its lookups must be
/// seeks (no scan, no cartesian product), planned here on an empty namespace as a new shop's
/// first apply plans them, and its index hints must be `USING INDEX SEEK`. Expansions from bound
/// nodes are allowed. The `EXPLAIN`s are necessary, not enough: the order upsert with plain
/// `USING INDEX` hints passed them, yet its plan kept while loading a shop scanned an index
/// (`docs/performance-notes.md`, "The order upsert frozen again").
#[tokio::test]
async fn kept_plans_are_made_of_seeks_on_an_empty_graph() {
    let Some(g) = common::graph("kept_plans").await else {
        return;
    };
    let statements = g.cypher_statements();
    let kept: Vec<(&str, &str)> = statements
        .iter()
        .filter(|(_, text)| text.trim_start().starts_with("CYPHER replan=skip"))
        .copied()
        .collect();
    let names: Vec<&str> = kept.iter().map(|(n, _)| *n).collect();
    // The two statements of every order apply (docs/performance-notes.md, "Neo4j plan
    // caching").
    assert_eq!(
        names,
        ["apply.upsert.order", "apply.projections"],
        "the statements whose plans are kept"
    );
    // A plain `USING INDEX` lets the planner scan the index instead of seeking: the kept order
    // upsert did, in a plan made while loading a shop (not in `EXPLAIN`s like the ones below).
    for (name, text) in &kept {
        let plain_hints = text.matches("USING INDEX ").count();
        let seek_hints = text.matches("USING INDEX SEEK ").count();
        assert_eq!(
            plain_hints, seek_hints,
            "{name}: a kept statement's index hints must be USING INDEX SEEK"
        );
    }
    let mut b = bolt().await;
    // The check of the checker: a label with no index is scanned.
    let ns = namespace(&g);
    let scan = b.explain(&format!(
        "MATCH (n:`{ns}_User`) WHERE n.username = $u RETURN n"
    ));
    assert!(
        scan.operators().iter().any(|(op, _)| op.contains("Scan")),
        "{:?}",
        scan.operators()
    );
    let mut failures = Vec::new();
    for (name, text) in kept {
        let operators = b.explain(text).operators();
        for (op, details) in &operators {
            if op.contains("Scan") || op.contains("CartesianProduct") {
                failures.push(format!("{name}: {op} {details}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    g.wipe().await.expect("wipe");
}
