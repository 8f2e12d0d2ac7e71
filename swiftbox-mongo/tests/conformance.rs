//! `MongoStore` passes the core `PrimaryStore` conformance suite, each check on a fresh
//! database of the test server (`SWIFTBOX_MONGO_URI`: FerretDB from `scripts/servers.sh`, or a
//! real MongoDB 4.2+).

mod common;

swiftbox_core::primary_conformance_tests!(skippable: || async {
    common::fresh_store("conformance").await
});
