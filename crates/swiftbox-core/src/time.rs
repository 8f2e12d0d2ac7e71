//! Time: UTC, millisecond precision (what BSON dates and Neo4j round-trip exactly).

use chrono::{DateTime, SubsecRound, Utc};

/// The current time, truncated to whole milliseconds so it survives every store unchanged.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// Truncates a time to whole milliseconds.
pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}
