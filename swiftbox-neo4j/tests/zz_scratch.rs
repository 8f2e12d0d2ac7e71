//! SCRATCH, not committed: dumps the statements of a migrated namespace for a Python harness.
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};

#[tokio::test]
async fn dump() {
    let ns = std::env::var("SCRATCH_NS").unwrap();
    let config = Neo4jConfig::builder(
        &std::env::var("SWIFTBOX_NEO4J_URI").unwrap(),
        &std::env::var("SWIFTBOX_NEO4J_USER").unwrap(),
        &std::env::var("SWIFTBOX_NEO4J_PASSWORD").unwrap(),
    )
    .namespace(ns)
    .build()
    .unwrap();
    let g = Neo4jGraph::connect(&config).await.unwrap();
    let mut out = String::new();
    for (k, v) in g.cypher_statements() {
        out.push_str(&format!("=====STATEMENT {k}\n{v}\n"));
    }
    std::fs::write("/work/scratch/statements.txt", out).unwrap();
}
