//! What the graph holds, read back: [`GraphRecord`] pages, counts, and view recording.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use neo4rs::query;
use swiftbox_core::graph::{
    CategoryNode, OrderPurchases, ProductNode, PurchasedItem, ReviewEdge, UserNode,
};
use swiftbox_core::{
    CategoryId, EntityKind, Error, GraphCounts, GraphRecord, OrderId, ProductId, Result, ReviewId,
    UserId,
};

use crate::error;
use crate::graph::{param, Neo4jGraph};
use crate::queries::{get, money, parse_id, time};

/// Every page statement skips what a concurrent transaction deleted while the statement read
/// it. Neo4j reads at read-committed isolation, and each property read sees the latest commit:
/// an entity matched by label can be deleted before its properties are read, which then read
/// as null ("cannot decode items: Invalid type: unit value", seen in the real-server soak's
/// repair under load, and reproduced by `tests/reads_under_deletes.rs`). So each statement
/// first reads every property into a variable, once, and keeps a row only when none of them
/// is null: what was deleted is read as gone, as a read an instant later would see it. (A
/// deletion can also surface as `EntityNotFound` when the entity is loaded; [`Neo4jGraph::read_as`]
/// runs such a statement again.)
const USERS: &str = "
MATCH (n:%User%) WHERE ($after IS NULL OR n.id > $after)
WITH n.id AS id, n.username AS username, n.email AS email, n.version AS version
WHERE id IS NOT NULL AND username IS NOT NULL AND email IS NOT NULL AND version IS NOT NULL
RETURN id, username, email, version
ORDER BY id ASC LIMIT $limit";

const CATEGORIES: &str = "
MATCH (n:%Category%) WHERE ($after IS NULL OR n.id > $after)
WITH n.id AS id, n.name AS name, n.version AS version
WHERE id IS NOT NULL AND name IS NOT NULL AND version IS NOT NULL
RETURN id, name, version
ORDER BY id ASC LIMIT $limit";

const PRODUCTS: &str = "
MATCH (n:%Product%) WHERE ($after IS NULL OR n.id > $after)
WITH n.id AS id, n.name AS name, n.category AS category, n.price AS price,
     n.currency AS currency, n.version AS version
WHERE id IS NOT NULL AND name IS NOT NULL AND category IS NOT NULL AND price IS NOT NULL
      AND currency IS NOT NULL AND version IS NOT NULL
RETURN id, name, category, price, currency, version
ORDER BY id ASC LIMIT $limit";

/// A page of orders: the next `$limit` order ids, each with its complete lines (`lines`), empty
/// when every line of the order was deleted after the first `MATCH` found it (or none is
/// complete). Every picked id gets a row, so the caller can tell the end of the orders from a
/// page thinned by deletes (see [`Neo4jGraph::records_q`]).
const ORDERS: &str = "
MATCH ()-[r:%PURCHASED%]->() WHERE ($after IS NULL OR r.order_id > $after) AND r.order_id IS NOT NULL
WITH DISTINCT r.order_id AS oid ORDER BY oid ASC LIMIT $limit
CALL (oid) {
  OPTIONAL MATCH (u:%User%)-[r:%PURCHASED% {order_id: oid}]->(p:%Product%)
  WITH u.id AS user, p.id AS product, r.timestamp AS ts, r.version AS version,
       r.quantity AS quantity, r.price AS price, r.currency AS currency
  WHERE user IS NOT NULL AND product IS NOT NULL AND ts IS NOT NULL AND version IS NOT NULL
        AND quantity IS NOT NULL AND price IS NOT NULL AND currency IS NOT NULL
  RETURN collect({user: user, product: product, ts: ts, version: version, quantity: quantity,
                  price: price, currency: currency}) AS lines
}
RETURN oid, lines
ORDER BY oid ASC";

const REVIEWS: &str = "
MATCH (u:%User%)-[r:%REVIEWED%]->(p:%Product%)
WHERE ($after IS NULL OR r.id > $after)
WITH r.id AS id, u.id AS user, p.id AS product, r.rating AS rating, r.version AS version
WHERE id IS NOT NULL AND user IS NOT NULL AND product IS NOT NULL AND rating IS NOT NULL
      AND version IS NOT NULL
RETURN id, user, product, rating, version
ORDER BY id ASC LIMIT $limit";

const COUNTS: &str = "
CALL () { MATCH (n:%User%) RETURN count(n) AS users }
CALL () { MATCH (n:%Category%) RETURN count(n) AS categories }
CALL () { MATCH (n:%Product%) RETURN count(n) AS products }
CALL () { MATCH ()-[r:%PURCHASED%]->() RETURN count(r) AS purchases, count(DISTINCT r.order_id) AS orders }
CALL () { MATCH ()-[r:%REVIEWED%]->() RETURN count(r) AS reviews }
CALL () { MATCH ()-[r:%VIEWED%]->() RETURN count(r) AS views }
RETURN users, categories, products, purchases, orders, reviews, views";

const VIEW: &str = "
OPTIONAL MATCH (u:%User% {id: $user})
OPTIONAL MATCH (p:%Product% {id: $product})
CALL (u, p) {
  WITH u, p WHERE u IS NOT NULL AND p IS NOT NULL
  MERGE (u)-[v:%VIEWED%]->(p)
  ON CREATE SET v.count = 1, v.last_viewed = $at
  ON MATCH SET v.count = v.count + 1,
               v.last_viewed = CASE WHEN v.last_viewed >= $at THEN v.last_viewed ELSE $at END
}
RETURN u IS NOT NULL AS user_found, p IS NOT NULL AS product_found";

/// The record statements, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Statements {
    /// Pages of records, by [`EntityKind::ALL`] position.
    pages: Vec<String>,
    counts: String,
    view: String,
}

impl Statements {
    pub(crate) fn new(schema: &crate::schema::Schema) -> Self {
        Self {
            pages: EntityKind::ALL
                .iter()
                .map(|kind| schema.cypher(page_template(*kind)))
                .collect(),
            counts: schema.cypher(COUNTS),
            view: schema.cypher(VIEW),
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = self
            .pages
            .iter()
            .map(|p| ("records.page", p.as_str()))
            .collect();
        out.push(("records.counts", &self.counts));
        out.push(("records.record_view", &self.view));
        out
    }
}

/// The page statement of `kind`.
fn page_template(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => USERS,
        EntityKind::Category => CATEGORIES,
        EntityKind::Product => PRODUCTS,
        EntityKind::Order => ORDERS,
        EntityKind::Review => REVIEWS,
    }
}

/// One line of an order's page row.
#[derive(serde::Deserialize)]
struct LineRow {
    user: String,
    product: String,
    ts: i64,
    version: i64,
    quantity: i64,
    price: i64,
    currency: String,
}

/// The order records of one row of [`ORDERS`]: one per user holding lines of the order (one,
/// unless the graph was edited by hand), none when it has no complete line left.
fn orders(row: &neo4rs::Row) -> Result<Vec<GraphRecord>> {
    let order_id = parse_id(&get::<String>(row, "oid")?, OrderId::parse)?;
    let mut by_user: BTreeMap<String, Vec<LineRow>> = BTreeMap::new();
    for line in get::<Vec<LineRow>>(row, "lines")? {
        by_user.entry(line.user.clone()).or_default().push(line);
    }
    by_user
        .into_iter()
        .map(|(user, lines)| {
            let mut items = lines
                .iter()
                .map(|l| {
                    Ok(PurchasedItem {
                        product: parse_id(&l.product, ProductId::parse)?,
                        quantity: l.quantity,
                        unit_price: money(l.price, &l.currency)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            items.sort_by_key(|i| i.product);
            let first = lines.iter().map(|l| l.ts).min().unwrap_or_default();
            let newest = lines.iter().map(|l| l.version).max().unwrap_or_default();
            Ok(GraphRecord::Order(OrderPurchases {
                order_id,
                user: parse_id(&user, UserId::parse)?,
                placed_at: time(first)?,
                items,
                version: version(newest)?,
            }))
        })
        .collect()
}

fn version(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| error::decode("version", format!("{v} is negative")))
}

/// The records of `kind` in a row of its page statement: one, or for an order one per user
/// holding its lines ([`orders`]).
fn record(kind: EntityKind, row: &neo4rs::Row) -> Result<Vec<GraphRecord>> {
    Ok(vec![match kind {
        EntityKind::User => GraphRecord::User(UserNode {
            id: parse_id(&get::<String>(row, "id")?, UserId::parse)?,
            username: get(row, "username")?,
            email: get(row, "email")?,
            version: version(get(row, "version")?)?,
        }),
        EntityKind::Category => GraphRecord::Category(CategoryNode {
            id: parse_id(&get::<String>(row, "id")?, CategoryId::parse)?,
            name: get(row, "name")?,
            version: version(get(row, "version")?)?,
        }),
        EntityKind::Product => GraphRecord::Product(ProductNode {
            id: parse_id(&get::<String>(row, "id")?, ProductId::parse)?,
            name: get(row, "name")?,
            category: get(row, "category")?,
            price: money(get(row, "price")?, &get::<String>(row, "currency")?)?,
            version: version(get(row, "version")?)?,
        }),
        EntityKind::Order => return orders(row),
        EntityKind::Review => {
            let rating: i64 = get(row, "rating")?;
            GraphRecord::Review(ReviewEdge {
                id: parse_id(&get::<String>(row, "id")?, ReviewId::parse)?,
                user: parse_id(&get::<String>(row, "user")?, UserId::parse)?,
                product: parse_id(&get::<String>(row, "product")?, ProductId::parse)?,
                rating: u8::try_from(rating).map_err(|_| error::decode("rating", rating))?,
                version: version(get(row, "version")?)?,
            })
        }
    }])
}

impl Neo4jGraph {
    pub(crate) async fn records_q(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>> {
        if limit == 0 {
            return Err(Error::invalid("limit", "must be at least 1"));
        }
        let st = &self.statements().records;
        let position = EntityKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default();
        let text = &st.pages[position];
        if kind != EntityKind::Order {
            let q = query(text)
                .param("after", after.map(str::to_owned))
                .param("limit", param::count(limit));
            return self
                .read_as("records", q, |rows| {
                    let records = rows.iter().map(|row| record(kind, row));
                    Ok(records.collect::<Result<Vec<_>>>()?.concat())
                })
                .await;
        }
        // Orders are picked by id first and read after, so an order deleted in between leaves
        // its id without lines: the page then asks for more after the last id picked, rather
        // than return a short page, which a caller reads as the end of the orders (the
        // reconciler would then see every later order as missing from the graph).
        let mut out = Vec::new();
        let mut after = after.map(str::to_owned);
        let mut found = 0;
        loop {
            // Each round asks for `limit` ids, not only those still missing: a run of ids
            // without lines (a bulk delete under way) then costs one round, not one per id.
            let q = query(text)
                .param("after", after.clone())
                .param("limit", param::count(limit));
            let picked = self
                .read_as("records", q, |rows| {
                    rows.iter()
                        .map(|row| Ok((get::<String>(row, "oid")?, record(kind, row)?)))
                        .collect::<Result<Vec<_>>>()
                })
                .await?;
            let exhausted = picked.len() < limit;
            for (oid, of_order) in picked {
                if !of_order.is_empty() {
                    found += 1;
                    out.extend(of_order);
                    if found == limit {
                        return Ok(out);
                    }
                }
                after = Some(oid);
            }
            if exhausted {
                return Ok(out);
            }
        }
    }

    pub(crate) async fn counts_q(&self) -> Result<GraphCounts> {
        let rows = self
            .read("counts", query(&self.statements().records.counts))
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| error::decode("counts", "no row"))?;
        let n = |c: &str| -> Result<u64> {
            let v: i64 = get(row, c)?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        let mut entities = BTreeMap::new();
        entities.insert(EntityKind::User, n("users")?);
        entities.insert(EntityKind::Category, n("categories")?);
        entities.insert(EntityKind::Product, n("products")?);
        entities.insert(EntityKind::Order, n("orders")?);
        entities.insert(EntityKind::Review, n("reviews")?);
        Ok(GraphCounts {
            entities,
            purchases: n("purchases")?,
            views: n("views")?,
        })
    }

    pub(crate) async fn view(
        &self,
        user: &UserId,
        product: &ProductId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let q = query(&self.statements().records.view)
            .param("user", user.to_string())
            .param("product", product.to_string())
            .param("at", at.timestamp_millis());
        let rows = self.read("record_view", q).await?;
        let row = rows
            .first()
            .ok_or_else(|| error::decode("record_view", "no row"))?;
        if !get::<bool>(row, "user_found")? {
            return Err(Error::not_found(EntityKind::User, user));
        }
        if !get::<bool>(row, "product_found")? {
            return Err(Error::not_found(EntityKind::Product, product));
        }
        Ok(())
    }
}
