//! Labels, relationship types, constraints and indexes, with the optional namespace applied.
//!
//! Cypher text in this crate is written with placeholders (`%User%`, `%PURCHASED%`, ...) that
//! [`Schema::cypher`] turns into back-quoted, namespaced names. The namespace is validated
//! configuration ([`crate::Neo4jConfigBuilder::namespace`]); every value from input travels as a
//! query parameter.

/// The placeholder names and the schema names they stand for (before namespacing).
const NAMES: [&str; 10] = [
    "User",
    "Product",
    "Category",
    "SwiftboxTombstone",
    "SwiftboxProductStats",
    "SwiftboxTrendBucket",
    "PURCHASED",
    "VIEWED",
    "REVIEWED",
    "BELONGS_TO",
];

/// Recomputes the popularity counters of the products `%WHERE%` selects (`s` is the
/// product's counter node or null) from their `PURCHASED` relationships, creating missing
/// counter nodes, in batches of 1,000 products (an auto-commit statement). The counter node is
/// looked up inside the batch's transaction: a unique-index seek that finds nothing locks the
/// index entry, so one in the outer transaction would block the batch's `MERGE` for good.
const RECOUNT: &str = "
MATCH (p:%Product%)
CALL {
  WITH p
  OPTIONAL MATCH (s:%SwiftboxProductStats% {id: p.id})
  WITH p, s %WHERE%
  OPTIONAL MATCH (p)<-[r:%PURCHASED%]-(b)
  WITH p, count(r) AS purchases, sum(r.quantity) AS units, count(DISTINCT b) AS buyers
  MERGE (s:%SwiftboxProductStats% {id: p.id})
  SET s.purchases = purchases, s.units = units, s.buyers = buyers
} IN TRANSACTIONS OF 1000 ROWS";

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
/// array: Neo4j rewrote two arrays on one node about four times as slowly as one (3,000
/// counter nodes, one statement: +105 ms against +25 ms).
pub(crate) fn recent_entry(ts_ms: i64, user: &str) -> String {
    format!("{:019}:{user}", i64::MAX - (ts_ms + (1 << 62)))
}

/// Reads the recent buyers of product `p` from its relationships: `entries` (see
/// [`recent_entry`]; the key is computed the same way), at most [`RECENT_BUYERS_KEPT`]; `[]`
/// for a product without any (or no product).
const RECENT_OF: &str = "CALL {
    WITH p
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
/// names are left for [`Schema::cypher`].
pub(crate) fn fill_recent(template: &str) -> String {
    template
        .replace("%RECENT_OF%", RECENT_OF)
        .replace("%KEPT%", &RECENT_BUYERS_KEPT.to_string())
        .replace("%KEY_LEN%", &RECENT_KEY_LEN.to_string())
}

/// Recomputes the recent-buyer lists of the counter nodes `%WHERE%` selects (`s`), in batches
/// of 1,000 (an auto-commit statement).
const RECOUNT_RECENT: &str = "
MATCH (s:%SwiftboxProductStats%) %WHERE%
CALL {
  WITH s
  OPTIONAL MATCH (p:%Product% {id: s.id})
  %RECENT_OF%
  SET s.recent = entries
} IN TRANSACTIONS OF 1000 ROWS";

/// Deletes counter nodes whose product is gone (only a hand edit leaves one).
const ORPHAN_STATS: &str = "
MATCH (s:%SwiftboxProductStats%)
WHERE NOT EXISTS { MATCH (:%Product% {id: s.id}) }
DELETE s";

/// The namespaced schema of one store.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    namespace: Option<String>,
    /// `(placeholder, back-quoted name)` pairs.
    names: Vec<(String, String)>,
}

impl Schema {
    /// The schema for a validated namespace (or none).
    pub(crate) fn new(namespace: Option<&str>) -> Self {
        let names = NAMES
            .iter()
            .map(|n| {
                let full = match namespace {
                    Some(ns) => format!("{ns}_{n}"),
                    None => (*n).to_owned(),
                };
                (format!("%{n}%"), format!("`{full}`"))
            })
            .collect();
        Self {
            namespace: namespace.map(str::to_owned),
            names,
        }
    }

    /// A query text with every placeholder replaced.
    pub(crate) fn cypher(&self, template: &str) -> String {
        let mut out = template.to_owned();
        for (placeholder, name) in &self.names {
            out = out.replace(placeholder.as_str(), name);
        }
        debug_assert!(!out.contains('%'), "unreplaced placeholder in {out}");
        out
    }

    /// The prefix of every constraint and index this store owns.
    pub(crate) fn schema_prefix(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("swiftbox_{ns}_"),
            None => "swiftbox_".to_owned(),
        }
    }

    /// The statements that recompute the products' popularity counters and recent-buyer
    /// lists: every product's (and drop counter nodes without a product), or only those
    /// missing (graphs written before the counters or the lists existed).
    pub(crate) fn recount(&self, only_missing: bool) -> Vec<String> {
        let recent =
            |filter: &str| self.cypher(&fill_recent(RECOUNT_RECENT).replace("%WHERE%", filter));
        if only_missing {
            vec![
                self.cypher(&RECOUNT.replace("%WHERE%", "WHERE s IS NULL")),
                recent("WHERE s.recent IS NULL"),
            ]
        } else {
            vec![
                self.cypher(ORPHAN_STATS),
                self.cypher(&RECOUNT.replace("%WHERE%", "")),
                recent(""),
            ]
        }
    }

    /// The idempotent statements [`crate::Neo4jGraph::migrate`] runs.
    pub(crate) fn migrations(&self) -> Vec<String> {
        let p = self.schema_prefix();
        let node_unique = |name: &str, label: &str, prop: &str| {
            self.cypher(&format!(
                "CREATE CONSTRAINT {p}{name} IF NOT EXISTS FOR (n:%{label}%) REQUIRE n.{prop} IS UNIQUE"
            ))
        };
        let node_index = |name: &str, label: &str, prop: &str| {
            self.cypher(&format!(
                "CREATE INDEX {p}{name} IF NOT EXISTS FOR (n:%{label}%) ON (n.{prop})"
            ))
        };
        let rel_index = |name: &str, ty: &str, prop: &str| {
            self.cypher(&format!(
                "CREATE INDEX {p}{name} IF NOT EXISTS FOR ()-[r:%{ty}%]-() ON (r.{prop})"
            ))
        };
        vec![
            node_unique("user_id", "User", "id"),
            node_unique("product_id", "Product", "id"),
            node_unique("category_id", "Category", "id"),
            node_unique("category_name", "Category", "name"),
            node_unique("tombstone_key", "SwiftboxTombstone", "key"),
            node_unique("product_stats_id", "SwiftboxProductStats", "id"),
            node_index("product_category", "Product", "category"),
            rel_index("purchased_order_id", "PURCHASED", "order_id"),
            rel_index("purchased_timestamp", "PURCHASED", "timestamp"),
            rel_index("reviewed_id", "REVIEWED", "id"),
            node_index(
                "product_stats_purchases",
                "SwiftboxProductStats",
                "purchases",
            ),
            node_index("product_stats_units", "SwiftboxProductStats", "units"),
            node_index("product_stats_buyers", "SwiftboxProductStats", "buyers"),
            // Trending: a product's buckets (apply's MERGE, a category's products), and every
            // bucket of a range of hours (the whole shop).
            // A unique constraint, not a plain index: apply's `MERGE` keeps the plan it was
            // first given (`CYPHER replan=skip`), and on an empty label the planner preferred a
            // label scan over a plain composite index (resync at M fell from ~11,700 to ~2,100
            // purchases/s); a unique constraint's index is always used. The plain index of the
            // first version (same properties) must go first.
            self.cypher(&format!(
                "DROP INDEX {p}trend_bucket_product_hour IF EXISTS"
            )),
            self.cypher(&format!(
                "CREATE CONSTRAINT {p}trend_bucket_key IF NOT EXISTS \
                 FOR (n:%SwiftboxTrendBucket%) REQUIRE (n.product, n.hour) IS UNIQUE"
            )),
            node_index("trend_bucket_hour", "SwiftboxTrendBucket", "hour"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_quoted_namespaced_names() {
        let s = Schema::new(Some("t1"));
        assert_eq!(
            s.cypher("MATCH (u:%User%)-[r:%PURCHASED%]->(p:%Product%)"),
            "MATCH (u:`t1_User`)-[r:`t1_PURCHASED`]->(p:`t1_Product`)"
        );
        let s = Schema::new(None);
        assert_eq!(s.cypher("(:%Category%)"), "(:`Category`)");
        // Idempotent: creations only if missing, drops only if present.
        for m in s.migrations() {
            let idempotent = if m.starts_with("DROP ") {
                m.ends_with(" IF EXISTS")
            } else {
                m.contains("IF NOT EXISTS")
            };
            assert!(idempotent, "{m}");
        }
    }
}
