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

/// The time `age` ago, for "older than" filters: the calendar's start when `age` reaches past
/// it (so nothing counts as older), never a panic.
pub fn cutoff(age: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|a| now().checked_sub_signed(a))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
