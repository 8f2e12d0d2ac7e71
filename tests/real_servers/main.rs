//! Cross-crate tests on the real servers: `Synced<MongoStore, Neo4jGraph>` under the sync
//! fault scenarios of `swiftbox_sync::scenarios`, a real Neo4j process (with its persistent
//! store) stopped and started again and killed during applies, tampering done by hand in
//! Neo4j, and the seed shop's data flow end to end.
//!
//! Every test gets a MongoDB database and a Neo4j namespace of its own (so they run in
//! parallel on the shared servers) and drops / wipes them when it ends, also on failure. The
//! servers come from `swiftbox_testsupport`: `SWIFTBOX_MONGO_URI` and `SWIFTBOX_NEO4J_*`
//! (`eval "$(scripts/servers.sh start)"`, or `scripts/test.sh`), else a loud skip, or a failure
//! when `CI` is set.

mod common;
mod crash;
mod data_flow;
mod failover;
mod faults;
mod leases;
mod maintenance;
mod outage;
mod private_neo4j;
mod restart;
mod resync;
mod soak;
