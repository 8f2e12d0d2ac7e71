//! `cargo run --example api`: the SwiftBox shop's HTTP API on the in-memory stores (or on
//! MongoDB + Neo4j when the `SWIFTBOX_*` variables are set).
//!
//! The service itself is the `swiftbox-api-example` crate in `examples/api/` (its own `api`
//! binary is the same program); this file only starts it. It listens on `SWIFTBOX_ADDR`
//! (default `127.0.0.1:8080`), prints the address it bound and the dev administrator's
//! password, and stops cleanly on Ctrl-C. Try:
//!
//! ```text
//! curl -s localhost:8080/api/products/
//! curl -s -XPOST localhost:8080/api/auth/signup/ -H 'content-type: application/json' \
//!      -d '{"username":"ann","email":"ann@example.com","password":"correct horse"}'
//! curl -s -XPOST localhost:8080/api/auth/login/ -H 'content-type: application/json' \
//!      -d '{"username":"ann","password":"correct horse"}'
//! curl -s localhost:8080/api/recommendations/ -H "authorization: Bearer $TOKEN"
//! ```

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match swiftbox_api_example::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
