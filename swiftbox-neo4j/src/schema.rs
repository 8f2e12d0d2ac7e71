//! Labels, relationship types, constraints and indexes, with the optional namespace applied.
//!
//! Cypher text in this crate is written with placeholders (`%User%`, `%PURCHASED%`, ...) that
//! [`Schema::cypher`] turns into back-quoted, namespaced names. The namespace is validated
//! configuration ([`crate::Neo4jConfigBuilder::namespace`]); every value from input travels as a
//! query parameter.

use crate::batches::Pages;

/// The node labels (placeholder names, before namespacing): a wipe empties each.
const LABELS: [&str; 8] = [
    "User",
    "Product",
    "Category",
    "SwiftboxTombstone",
    "SwiftboxProductStats",
    "SwiftboxTrendBucket",
    "SwiftboxLock",
    "SwiftboxSchema",
];

/// The relationship types (placeholder names, before namespacing).
const TYPES: [&str; 4] = ["PURCHASED", "VIEWED", "REVIEWED", "BELONGS_TO"];

/// The version of what [`Schema::migrations`] and the data backfills of
/// [`crate::Neo4jGraph::migrate`] produce. `migrate` records it in the namespace's
/// `SwiftboxSchema` node when it is done; `connect` migrates when the node holds an older one
/// (or none), or when an index is missing or not online. Raise it with every change to either.
///
/// 3: `PURCHASED` lines carry `product` (backfilled from their product node) under the
/// `(order_id, product)` uniqueness constraint `purchased_line`.
///
/// 4: counter nodes carry neighbour lists (`neighbours`, `neighbour_scores`) and their mark
/// (`marked`); migrate marks every product with buyers, so the lists get computed.
///
/// 5: users' bought sets (`bought` on `User` nodes); migrate builds those missing.
///
/// 6: counter nodes carry each product's trend bound (`trend_bound`) and category (`category`),
/// indexed, and mark them complete with `trend = 2`; migrate rebuilds the buckets, bound and
/// category of every product not so marked.
pub(crate) const SCHEMA_VERSION: i64 = 6;

/// Reads the version `migrate` last recorded (`null` if none).
const SCHEMA_VERSION_READ: &str = "
OPTIONAL MATCH (m:%SwiftboxSchema%)
RETURN max(m.version) AS version";

/// Records `$version` as migrated, unless a higher one is recorded: a `migrate` of an older
/// version that read the version before a newer one recorded its own must not lower it.
const SCHEMA_VERSION_WRITE: &str = "
MERGE (m:%SwiftboxSchema% {id: 'schema'})
SET m.version = CASE WHEN m.version > $version THEN m.version ELSE $version END";

/// Gives the `PURCHASED` lines of the products `$ids` that lack it their product's id (lines
/// written before schema version 3).
const LINE_PRODUCTS: &str = "
UNWIND $ids.items AS id
MATCH (:%Product% {id: id})<-[r:%PURCHASED%]-()
WHERE r.product IS NULL
SET r.product = id";

/// This namespace's indexes (constraints' included) and their states.
const SHOW_INDEXES: &str = "
SHOW INDEXES YIELD name, state
WHERE name STARTS WITH $prefix
RETURN name, state";

/// This namespace's constraints (dropping one drops its index).
const SHOW_CONSTRAINTS: &str = "
SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH $prefix RETURN name";

/// This namespace's indexes that back no constraint.
const SHOW_FREE_INDEXES: &str = "
SHOW INDEXES YIELD name, owningConstraint
WHERE name STARTS WITH $prefix AND owningConstraint IS NULL
RETURN name";

/// Deletes up to 5,000 nodes of one label (`%LABEL%`) with their relationships: one batch of
/// [`crate::Neo4jGraph::wipe`], its own transaction.
const WIPE_BATCH: &str = "
MATCH (n:%LABEL%)
WITH n LIMIT 5000
DETACH DELETE n
RETURN count(*) AS deleted";

/// A schema command of [`Schema::migrations`]: the index or constraint it creates (or drops),
/// and the command.
#[derive(Debug, Clone)]
pub(crate) struct Migration {
    /// The name of the index or constraint.
    pub(crate) name: String,
    /// Whether the command drops it (a name that must not exist afterwards).
    pub(crate) drops: bool,
    /// The command.
    pub(crate) command: String,
}

/// The maintenance statements of a namespace (schema and wipe), rendered once.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) migrations: Vec<Migration>,
    pub(crate) version_read: String,
    pub(crate) version_write: String,
    /// The pages of products and the statement of the `PURCHASED.product` backfill.
    pub(crate) line_products: (Pages, String),
    pub(crate) show_indexes: String,
    /// What a wipe drops: `(CONSTRAINT or INDEX, the statement listing them)`.
    pub(crate) show_own_schema: [(&'static str, String); 2],
    /// One [`WIPE_BATCH`] per label of [`LABELS`].
    pub(crate) wipe: Vec<String>,
}

impl Statements {
    pub(crate) fn new(schema: &Schema) -> Self {
        Self {
            migrations: schema.migrations(),
            version_read: schema.cypher(SCHEMA_VERSION_READ),
            version_write: schema.cypher(SCHEMA_VERSION_WRITE),
            line_products: (
                Pages::new(schema, "Product", ""),
                schema.cypher(LINE_PRODUCTS),
            ),
            show_indexes: SHOW_INDEXES.to_owned(),
            show_own_schema: [
                ("CONSTRAINT", SHOW_CONSTRAINTS.to_owned()),
                ("INDEX", SHOW_FREE_INDEXES.to_owned()),
            ],
            wipe: LABELS
                .iter()
                .map(|l| schema.cypher(&WIPE_BATCH.replace("%LABEL%", &format!("%{l}%"))))
                .collect(),
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = self
            .migrations
            .iter()
            .map(|m| ("migrate.schema", m.command.as_str()))
            .collect();
        out.push(("migrate.version_read", &self.version_read));
        out.push(("migrate.version_write", &self.version_write));
        let [pages, _] = self.line_products.0.named("backfill.line_products.pages");
        out.extend([pages, ("backfill.line_products", &self.line_products.1)]);
        out.push(("migrate.show_indexes", &self.show_indexes));
        out.extend(
            self.show_own_schema
                .iter()
                .map(|(_, s)| ("wipe.show_schema", s.as_str())),
        );
        out.extend(self.wipe.iter().map(|w| ("wipe.batch", w.as_str())));
        out
    }
}

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
        let names = LABELS
            .iter()
            .chain(&TYPES)
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

    /// The idempotent schema commands [`crate::Neo4jGraph::migrate`] runs, in order.
    pub(crate) fn migrations(&self) -> Vec<Migration> {
        let p = self.schema_prefix();
        let create = |name: &str, what: &str, target: &str, rule: &str| Migration {
            name: format!("{p}{name}"),
            drops: false,
            command: self.cypher(&format!(
                "CREATE {what} {p}{name} IF NOT EXISTS FOR {target} {rule}"
            )),
        };
        let node_unique = |name: &str, label: &str, prop: &str| {
            create(
                name,
                "CONSTRAINT",
                &format!("(n:%{label}%)"),
                &format!("REQUIRE n.{prop} IS UNIQUE"),
            )
        };
        let node_index = |name: &str, label: &str, prop: &str| {
            create(
                name,
                "INDEX",
                &format!("(n:%{label}%)"),
                &format!("ON (n.{prop})"),
            )
        };
        let rel_index = |name: &str, ty: &str, prop: &str| {
            create(
                name,
                "INDEX",
                &format!("()-[r:%{ty}%]-()"),
                &format!("ON (r.{prop})"),
            )
        };
        let drop_index = |name: &str| Migration {
            name: format!("{p}{name}"),
            drops: true,
            command: format!("DROP INDEX {p}{name} IF EXISTS"),
        };
        vec![
            node_unique("user_id", "User", "id"),
            node_unique("product_id", "Product", "id"),
            node_unique("category_id", "Category", "id"),
            node_unique("category_name", "Category", "name"),
            node_unique("tombstone_key", "SwiftboxTombstone", "key"),
            node_unique("product_stats_id", "SwiftboxProductStats", "id"),
            // The per-entity lock of the order statements (apply's "Locking" docs); no node
            // of this label is ever committed.
            node_unique("lock_key", "SwiftboxLock", "key"),
            node_unique("schema_id", "SwiftboxSchema", "id"),
            node_index("product_category", "Product", "category"),
            rel_index("purchased_order_id", "PURCHASED", "order_id"),
            rel_index("purchased_timestamp", "PURCHASED", "timestamp"),
            // One line per (order, product). Lines written before schema version 3 have no
            // `product` (a uniqueness constraint ignores them) until migrate backfills it.
            create(
                "purchased_line",
                "CONSTRAINT",
                "()-[r:%PURCHASED%]-()",
                "REQUIRE (r.order_id, r.product) IS UNIQUE",
            ),
            // A review is one relationship: a uniqueness constraint, whose locking seek
            // serialises concurrent applies of one review (apply's "Locking" docs). The plain
            // index of earlier versions (same property) must go first.
            drop_index("reviewed_id"),
            create(
                "reviewed_id_unique",
                "CONSTRAINT",
                "()-[r:%REVIEWED%]-()",
                "REQUIRE r.id IS UNIQUE",
            ),
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
            // label scan over a plain composite index; a unique constraint's index is always
            // used. The plain index of the first version (same properties) must go first.
            drop_index("trend_bucket_product_hour"),
            create(
                "trend_bucket_key",
                "CONSTRAINT",
                "(n:%SwiftboxTrendBucket%)",
                "REQUIRE (n.product, n.hour) IS UNIQUE",
            ),
            node_index("trend_bucket_hour", "SwiftboxTrendBucket", "hour"),
            // Trending: the products by trend bound, best first (the whole shop), and a
            // category's products' bounds (read whole, from the index alone: Neo4j 5.26 does
            // not order by the second property of a composite index).
            node_index(
                "product_stats_trend_bound",
                "SwiftboxProductStats",
                "trend_bound",
            ),
            create(
                "product_stats_category_trend_bound",
                "INDEX",
                "(n:%SwiftboxProductStats%)",
                "ON (n.category, n.trend_bound)",
            ),
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
            let c = &m.command;
            let idempotent = if m.drops {
                c.starts_with("DROP ") && c.ends_with(" IF EXISTS")
            } else {
                c.starts_with("CREATE ") && c.contains(" IF NOT EXISTS ")
            };
            assert!(idempotent, "{c}");
            assert!(c.contains(&m.name), "{c}");
        }
    }
}
