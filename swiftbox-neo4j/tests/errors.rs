//! Error mapping against real servers: refused credentials are a non-retryable backend error,
//! an unreachable server is retryable.

use std::time::Duration;

use swiftbox_core::Error;
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};

#[tokio::test]
async fn refused_credentials_are_a_backend_error_that_says_so() {
    let Some(server) = swiftbox_testsupport::neo4j().await else {
        return;
    };
    // A user that does not exist, so no real account gets locked out by failed attempts.
    let config = Neo4jConfig::builder(&server.uri, "swiftbox_no_such_user", "wrong-password")
        .build()
        .unwrap();
    let err = Neo4jGraph::connect(&config).await.unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert!(!err.is_retryable(), "{err}");
    let source = std::error::Error::source(&err)
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(source.contains("authentication"), "{err}: {source}");
    assert!(!format!("{err:?}").contains("wrong-password"), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_retryable() {
    // Nothing listens on port 1; the refusal is immediate.
    let config = Neo4jConfig::builder("bolt://127.0.0.1:1", "neo4j", "x")
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = Neo4jGraph::connect(&config).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_unavailable() {
    // A listener that accepts and never speaks Bolt: the connect timeout bounds the wait.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    let config = Neo4jConfig::builder(format!("bolt://{addr}"), "neo4j", "x")
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = Neo4jGraph::connect(&config).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}
