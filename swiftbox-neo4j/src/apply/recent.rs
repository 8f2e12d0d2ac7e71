//! Projection: each product's **recent-buyer list**, which the *recent buyers of a product* hop
//! of `recommendations_for`, `also_bought` and `similar_users` reads instead of every
//! relationship of the product (docs/performance-notes.md, "Recent-buyer lists").
//!
//! The list is the `recent` property of the product's counter node (see [`super::counters`]):
//! the product's latest [`RECENT_BUYERS_KEPT`] buyers, one string per buyer, a key of its latest
//! purchase time and its user id ([`recent_entry`]), which sort as strings by time descending,
//! then id.
//!
//! Apply keeps it exact from the same removed and created `PURCHASED` lines as the counters,
//! under the same lock (the counter node, write-locked by the projection statement's first
//! `SET`): a user whose latest line to the product may have gone (it lost a line later than any
//! it gained, [`Times::dropped`]) and who is listed makes the list be read again from the
//! relationships ([`RECENT_OF`]); any other user whose latest line moved later
//! ([`Times::advanced`]) is inserted when it beats the list's last entry. When all of them are
//! newer than the list's first entry (every new purchase in a live shop, most of a resync) they
//! are put in front and their users' older entries dropped, with list operations only;
//! otherwise each is inserted in rank order by `reduce`, which costs more.
//!
//! A counter node without a list (a graph from before the lists) keeps none until
//! [`Neo4jGraph::migrate`](crate::Neo4jGraph::migrate) builds it ([`RECOUNT`]); the queries
//! read the relationships meanwhile.

use std::collections::BTreeMap;

use neo4rs::BoltType;

use crate::batches::Recount;
use crate::graph::param;

/// How many recent buyers each product's counter node lists (`recent`): the default
/// [`swiftbox_core::GraphLimits::buyers_per_product`]. A query whose cap is larger reads a
/// full list's product from its relationships instead.
pub(crate) const RECENT_BUYERS_KEPT: usize = 100;

/// Length of the time key that starts every entry of a recent-buyer list, with its `:`.
pub(crate) const RECENT_KEY_LEN: usize = 20;

/// An entry of a recent-buyer list: a 19-digit key falling as `ts_ms` rises, `:`, the user id.
/// Entries sort as strings in the list's order: latest purchase first, then user id.
///
/// The key is `i64::MAX - (ts_ms + 2^62)`, zero-padded: every time a `DateTime` holds (about
/// +-2^58 ms) stays in range. One string array per product, not a user-id array and a time
/// array, because Neo4j rewrites one array property on a node faster than two.
pub(crate) fn recent_entry(ts_ms: i64, user: &str) -> String {
    format!("{:019}:{user}", i64::MAX - (ts_ms + (1 << 62)))
}

/// Reads the recent buyers of product `p` from its relationships: `entries` (see
/// [`recent_entry`]; the key is computed the same way), at most [`RECENT_BUYERS_KEPT`]; `[]`
/// for a product without any (or no product).
const RECENT_OF: &str = "CALL (p) {
    OPTIONAL MATCH (p)<-[r:%PURCHASED%]-(x)
    WITH x.id AS u, max(r.timestamp) AS t
    WHERE u IS NOT NULL
    WITH right('0000000000000000000' + toString(9223372036854775807 - (t + 4611686018427387904)), 19)
         + ':' + u AS e
    ORDER BY e LIMIT %KEPT%
    RETURN collect(e) AS entries
  }";

/// `template` with `%RECENT_OF%` (the [`RECENT_OF`] subquery), `%KEPT%`
/// ([`RECENT_BUYERS_KEPT`]) and `%KEY_LEN%` ([`RECENT_KEY_LEN`]) filled in; placeholders of
/// names are left for [`crate::schema::Schema::cypher`].
pub(crate) fn fill_recent(template: &str) -> String {
    template
        .replace("%RECENT_OF%", RECENT_OF)
        .replace("%KEPT%", &RECENT_BUYERS_KEPT.to_string())
        .replace("%KEY_LEN%", &RECENT_KEY_LEN.to_string())
}

/// Recomputes the recent-buyer lists of the counter nodes of the products `$ids` (one batch
/// of a recount, its own transaction), after write-locking each counter node (its first
/// `SET`), as the counters' recount does and for the same reason.
pub(crate) const RECOUNT: &str = "
UNWIND $ids.items AS id
MATCH (s:%SwiftboxProductStats% {id: id})
SET s.recent = coalesce(s.recent, [])
WITH s, id
OPTIONAL MATCH (p:%Product% {id: id})
%RECENT_OF%
SET s.recent = entries";

/// The recount of the recent-buyer lists: every counter node, or those without a list.
pub(crate) fn recount(schema: &crate::schema::Schema) -> Recount {
    Recount::new(
        schema,
        "recount_recent_buyers",
        ["recount.recent.pages", "recount.recent"],
        "SwiftboxProductStats",
        "AND n.recent IS NULL",
        schema.cypher(&fill_recent(RECOUNT)),
    )
}

/// The recent-list part of the projection statement (module docs): `s` the write-locked
/// counter node, `row.dropped` the users whose latest line may have gone, `row.added` the
/// entries of users whose latest line moved later, in the list's order.
pub(crate) const UPDATE: &str = "
WITH s, row, s.recent AS list
WITH s, row, list, list IS NOT NULL AND size(row.dropped) > 0
     AND any(e IN list WHERE substring(e, %KEY_LEN%) IN row.dropped) AS rescan
CALL (s, row, rescan) {
  WITH s, row WHERE rescan
  MATCH (p:%Product% {id: row.id})
  %RECENT_OF%
  SET s.recent = entries
}
WITH s, row, rescan, list, size(list) AS n
WITH s, row, rescan, list, n, [e IN row.added WHERE n < %KEPT% OR e < list[n - 1]] AS beat
WITH s, row, rescan, list, beat, size(beat) > 0 AND (n = 0 OR last(beat) < list[0]) AS ahead,
     [e IN beat | substring(e, %KEY_LEN%)] AS bu
CALL (s, rescan, list, beat, ahead, bu) {
  WITH s, list, beat, bu WHERE list IS NOT NULL AND ahead AND NOT rescan
  SET s.recent = (beat + [e IN list WHERE NOT substring(e, %KEY_LEN%) IN bu])[0..%KEPT%]
}
CALL (s, rescan, list, beat, ahead, bu) {
  WITH s, list, beat, bu WHERE list IS NOT NULL AND size(beat) > 0 AND NOT ahead AND NOT rescan
  WITH s, [e IN list WHERE NOT substring(e, %KEY_LEN%) IN bu]
          + [e IN beat | reduce(best = e, x IN list |
                                CASE WHEN substring(x, %KEY_LEN%) = substring(e, %KEY_LEN%) AND x < best
                                THEN x ELSE best END)] AS candidates
  CALL (candidates) {
    UNWIND candidates AS e
    WITH e ORDER BY e LIMIT %KEPT%
    RETURN collect(e) AS merged
  }
  SET s.recent = merged
}";

/// The times of one `(user, product)` pair's lines an apply transaction created and removed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Times {
    /// Latest time of the lines created.
    added: Option<i64>,
    /// Latest time of the lines removed.
    removed: Option<i64>,
}

impl Times {
    /// Counts one line at `ts_ms` created (`sign` > 0) or removed.
    pub(crate) fn add(&mut self, ts_ms: i64, sign: i64) {
        let latest = if sign > 0 {
            &mut self.added
        } else {
            &mut self.removed
        };
        *latest = Some(latest.map_or(ts_ms, |t| t.max(ts_ms)));
    }

    /// Whether the user's latest line may have gone: lines removed later than any created.
    pub(crate) fn dropped(&self) -> bool {
        self.removed
            .is_some_and(|r| self.added.is_none_or(|a| a < r))
    }

    /// The time the user's latest line may have moved to: lines created later than any
    /// removed (a line removed and created again at the same time moves nothing).
    pub(crate) fn advanced(&self) -> Option<i64> {
        self.added.filter(|a| self.removed.is_none_or(|r| r < *a))
    }
}

/// One product's recent-list change in an apply: user id -> the times of its lines.
#[derive(Debug, Default)]
pub(crate) struct Delta(BTreeMap<String, Times>);

impl Delta {
    /// Counts one line of `user` at `ts_ms` created (`sign` > 0) or removed.
    pub(crate) fn add(&mut self, user: &str, ts_ms: i64, sign: i64) {
        self.0.entry(user.to_owned()).or_default().add(ts_ms, sign);
    }

    /// The `dropped` and `added` fields of the product's row (see [`UPDATE`]); both empty
    /// when the list cannot have changed.
    pub(crate) fn fields(&self) -> [(&'static str, BoltType); 2] {
        let dropped: Vec<BoltType> = self
            .0
            .iter()
            .filter(|(_, t)| t.dropped())
            .map(|(user, _)| param::s(user.clone()))
            .collect();
        // Newest first, then user id: the list's order.
        let mut added: Vec<String> = self
            .0
            .iter()
            .filter_map(|(user, t)| Some(recent_entry(t.advanced()?, user)))
            .collect();
        added.sort();
        let added = added.into_iter().map(param::s).collect();
        [
            ("dropped", param::list(dropped)),
            ("added", param::list(added)),
        ]
    }

    /// Whether the list may change.
    #[cfg(test)]
    pub(crate) fn changes_anything(&self) -> bool {
        self.0
            .values()
            .any(|t| t.dropped() || t.advanced().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_sort_newest_first_then_by_user() {
        let mut entries = [
            recent_entry(1_000, "b"),
            recent_entry(2_000, "c"),
            recent_entry(1_000, "a"),
            recent_entry(-5, "z"),
        ];
        entries.sort();
        let users: Vec<&str> = entries.iter().map(|e| &e[RECENT_KEY_LEN..]).collect();
        assert_eq!(users, ["c", "a", "b", "z"]);
        assert!(entries
            .iter()
            .all(|e| e.as_bytes()[RECENT_KEY_LEN - 1] == b':'));
    }

    #[test]
    fn a_line_removed_later_than_any_created_drops_the_user() {
        let mut t = Times::default();
        t.add(10, -1);
        assert!(t.dropped());
        assert_eq!(t.advanced(), None);
        t.add(20, 1);
        assert!(!t.dropped());
        assert_eq!(t.advanced(), Some(20));
    }

    #[test]
    fn a_line_replaced_at_the_same_time_moves_nothing() {
        let mut t = Times::default();
        t.add(10, -1);
        t.add(10, 1);
        assert!(!t.dropped());
        assert_eq!(t.advanced(), None);
        let mut d = Delta::default();
        d.add("u", 10, -1);
        d.add("u", 10, 1);
        assert!(!d.changes_anything());
    }
}
