//! The primary-store-only way: what an application without a graph does to answer the same
//! questions through the [`PrimaryStore`] API alone.
//!
//! The API has no index from a product to its orders, no time index and no aggregation, so each
//! question pages through every order (`list_orders`, 1000 a page) and every product
//! (`list_products`, for names and categories), counts in the application, and looks up the
//! usernames of similar users (`get_user`, at most `limit` calls). Nothing is cached between
//! questions: a cache of all orders kept in step with every write is a graph store by another
//! name.
//!
//! The answers follow the definitions of [`swiftbox_core::graph`] to the letter (recent
//! products and buyers by latest purchase time then id, the same fan-out caps, the same
//! tie-breaks), written here independently of both graph backends, so that equal answers are a
//! real check of all three. One difference is inherent: views live only in the graph, so the
//! cold-start fill of recommendations sees bought products only (the benchmark records no
//! views, so both sides agree).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use swiftbox_core::graph::{buyer_weight, neighbour_similarity, round_score, seed_weight};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    GraphLimits, PageRequest, PopularQuery, PopularityMetric, ProductId, ProductQuery, Reason,
    Recommendation, Result, ScoredProduct, SimilarUser, TrendingQuery, UserId,
};

const PAGE: u32 = 1000;

/// One pass over all orders, keeping what the question needs.
#[derive(Debug, Default)]
struct OrderScan {
    /// user -> product -> latest purchase time.
    user_products: HashMap<UserId, HashMap<ProductId, DateTime<Utc>>>,
    /// product -> user -> latest purchase time.
    product_buyers: HashMap<ProductId, HashMap<UserId, DateTime<Utc>>>,
    /// user -> order lines.
    user_lines: HashMap<UserId, u64>,
    /// product -> (order lines, units).
    sales: HashMap<ProductId, (u64, i64)>,
    /// Purchases inside a time range: (time, product, quantity).
    timeline: Vec<(DateTime<Utc>, ProductId, i64)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Need {
    pairs: bool,
    sales: bool,
    timeline: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

async fn scan_orders(primary: &dyn PrimaryBackend, need: Need) -> Result<OrderScan> {
    let mut scan = OrderScan::default();
    let mut page = PageRequest::first(PAGE);
    loop {
        let orders = primary.list_orders(page).await?;
        for o in &orders.items {
            for item in &o.items {
                if need.pairs {
                    let t = scan
                        .user_products
                        .entry(o.user)
                        .or_default()
                        .entry(item.product)
                        .or_insert(o.placed_at);
                    *t = (*t).max(o.placed_at);
                    let t = scan
                        .product_buyers
                        .entry(item.product)
                        .or_default()
                        .entry(o.user)
                        .or_insert(o.placed_at);
                    *t = (*t).max(o.placed_at);
                    *scan.user_lines.entry(o.user).or_default() += 1;
                }
                if need.sales {
                    let s = scan.sales.entry(item.product).or_default();
                    s.0 += 1;
                    s.1 += item.quantity;
                }
                if let Some((lo, hi)) = need.timeline {
                    if o.placed_at >= lo && o.placed_at <= hi {
                        scan.timeline
                            .push((o.placed_at, item.product, item.quantity));
                    }
                }
            }
        }
        match orders.next {
            Some(next) => page = PageRequest::after(next, PAGE),
            None => return Ok(scan),
        }
    }
}

/// Name and category name of every product.
async fn scan_products(
    primary: &dyn PrimaryBackend,
) -> Result<HashMap<ProductId, (String, String)>> {
    let mut out = HashMap::new();
    let mut query = ProductQuery {
        category: None,
        page: PageRequest::first(PAGE),
    };
    loop {
        let page = primary.list_products(query.clone()).await?;
        for p in page.items {
            out.insert(p.id, (p.name, p.category_name));
        }
        match page.next {
            Some(next) => query.page = PageRequest::after(next, PAGE),
            None => return Ok(out),
        }
    }
}

/// The first `n` keys by time descending, then key ascending.
fn recent<K: Ord + Copy>(map: Option<&HashMap<K, DateTime<Utc>>>, n: usize) -> Vec<K> {
    let mut v: Vec<(K, DateTime<Utc>)> = map
        .map(|m| m.iter().map(|(k, t)| (*k, *t)).collect())
        .unwrap_or_default();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v.into_iter().map(|(k, _)| k).collect()
}

/// Ranks by score descending, then id ascending, and keeps `limit`.
fn rank<K: Ord + Copy>(items: impl IntoIterator<Item = (K, f64)>, limit: usize) -> Vec<(K, f64)> {
    let mut v: Vec<(K, f64)> = items.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

/// Answers the graph's questions from a [`PrimaryStore`] alone (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct PrimaryOnly {
    /// The same caps the graph uses.
    pub limits: GraphLimits,
}

impl PrimaryOnly {
    /// [`swiftbox_core::GraphStore::recommendations_for`], from the primary store.
    pub async fn recommendations_for(
        &self,
        primary: &dyn PrimaryBackend,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Recommendation>> {
        self.limits.check_limit(limit)?;
        let need = Need {
            pairs: true,
            sales: true,
            timeline: None,
        };
        let scan = scan_orders(primary, need).await?;
        let products = scan_products(primary).await?;
        let name = |p: &ProductId| products.get(p).map(|x| x.0.clone()).unwrap_or_default();
        let bought = scan.user_products.get(user);
        let has_bought = |p: &ProductId| bought.is_some_and(|b| b.contains_key(p));

        // Each seed's neighbour list, computed from scratch: what the graph holds once every
        // marked list is refreshed.
        let mut candidates: HashMap<ProductId, (f64, Vec<ProductId>)> = HashMap::new();
        let seeds = recent(bought, self.limits.recommendation_seeds);
        for (i, seed) in seeds.iter().enumerate() {
            for (q, similarity) in self.neighbour_list(&scan, seed) {
                if has_bought(&q) {
                    continue;
                }
                let entry = candidates.entry(q).or_default();
                entry.0 += seed_weight(i) * similarity;
                entry.1.push(*seed);
            }
        }
        let ranked = rank(
            candidates.iter().map(|(p, (s, _))| (*p, round_score(*s))),
            limit,
        );
        let mut recs: Vec<Recommendation> = ranked
            .into_iter()
            .map(|(p, score)| {
                let mut because: Vec<ProductId> =
                    candidates.get(&p).map(|c| c.1.clone()).unwrap_or_default();
                because.sort();
                because.dedup();
                because.truncate(3);
                Recommendation {
                    product: p,
                    name: name(&p),
                    score,
                    reason: Reason::CoPurchased { because },
                }
            })
            .collect();
        if recs.len() >= limit {
            return Ok(recs);
        }

        // Cold-start fill: the user's categories (bought products only: views are not in the
        // primary store), then everything; by purchase count, never unsold products.
        let lines = |p: &ProductId| scan.sales.get(p).map_or(0, |s| s.0);
        let mut listed: HashSet<ProductId> = recs.iter().map(|r| r.product).collect();
        let mut per_category: HashMap<String, u64> = HashMap::new();
        for p in bought.into_iter().flat_map(|b| b.keys()) {
            if let Some((_, c)) = products.get(p) {
                *per_category.entry(c.clone()).or_default() += 1;
            }
        }
        let mut categories: Vec<(String, u64)> = per_category.into_iter().collect();
        categories.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        categories.truncate(self.limits.fallback_categories);
        let mut fill = |recs: &mut Vec<Recommendation>, category: Option<&str>| {
            let want = limit - recs.len();
            let eligible = products
                .iter()
                .filter(|(p, (_, c))| {
                    (match category {
                        Some(cat) => c == cat,
                        None => true,
                    }) && !listed.contains(*p)
                        && !has_bought(p)
                })
                .map(|(p, _)| (*p, lines(p) as f64))
                .filter(|(_, n)| *n > 0.0);
            for (p, score) in rank(eligible, want) {
                listed.insert(p);
                recs.push(Recommendation {
                    product: p,
                    name: name(&p),
                    score,
                    reason: match category {
                        Some(c) => Reason::PopularInCategory {
                            category: c.to_owned(),
                        },
                        None => Reason::Popular,
                    },
                });
            }
        };
        for (category, _) in &categories {
            fill(&mut recs, Some(category));
            if recs.len() >= limit {
                return Ok(recs);
            }
        }
        fill(&mut recs, None);
        Ok(recs)
    }

    /// A product's neighbour list as [`swiftbox_core::GraphStore::refresh_neighbours`] defines
    /// it.
    fn neighbour_list(&self, scan: &OrderScan, product: &ProductId) -> Vec<(ProductId, f64)> {
        let buyers = |p: &ProductId| scan.product_buyers.get(p).map_or(0, |b| b.len() as u64);
        let mut co: HashMap<ProductId, f64> = HashMap::new();
        for buyer in recent(
            scan.product_buyers.get(product),
            self.limits.neighbour_buyers,
        ) {
            let weight = buyer_weight(scan.user_lines.get(&buyer).copied().unwrap_or(0));
            for q in recent(
                scan.user_products.get(&buyer),
                self.limits.neighbour_products,
            ) {
                if q != *product {
                    *co.entry(q).or_default() += weight;
                }
            }
        }
        let mine = buyers(product);
        rank(
            co.into_iter()
                .map(|(q, w)| (q, neighbour_similarity(w, mine, buyers(&q)))),
            self.limits.neighbours,
        )
    }

    /// [`swiftbox_core::GraphStore::also_bought`], from the primary store.
    pub async fn also_bought(
        &self,
        primary: &dyn PrimaryBackend,
        product: &ProductId,
        limit: usize,
    ) -> Result<Vec<ScoredProduct>> {
        self.limits.check_limit(limit)?;
        let need = Need {
            pairs: true,
            ..Need::default()
        };
        let scan = scan_orders(primary, need).await?;
        let products = scan_products(primary).await?;
        let mut scores: HashMap<ProductId, f64> = HashMap::new();
        for buyer in recent(
            scan.product_buyers.get(product),
            self.limits.buyers_per_product,
        ) {
            for q in recent(
                scan.user_products.get(&buyer),
                self.limits.products_per_buyer,
            ) {
                if q != *product {
                    *scores.entry(q).or_default() += 1.0;
                }
            }
        }
        Ok(scored(rank(scores, limit), &products))
    }

    /// [`swiftbox_core::GraphStore::popular`], from the primary store.
    pub async fn popular(
        &self,
        primary: &dyn PrimaryBackend,
        query: &PopularQuery,
    ) -> Result<Vec<ScoredProduct>> {
        self.limits.check_limit(query.limit)?;
        let need = Need {
            pairs: query.metric == PopularityMetric::Buyers,
            sales: query.metric != PopularityMetric::Buyers,
            timeline: None,
        };
        let scan = scan_orders(primary, need).await?;
        let products = scan_products(primary).await?;
        let in_scope = |p: &ProductId| match &query.category {
            Some(c) => products.get(p).is_some_and(|x| &x.1 == c),
            None => products.contains_key(p),
        };
        let items: Vec<(ProductId, f64)> = match query.metric {
            PopularityMetric::Purchases => {
                scan.sales.iter().map(|(p, s)| (*p, s.0 as f64)).collect()
            }
            PopularityMetric::Units => scan.sales.iter().map(|(p, s)| (*p, s.1 as f64)).collect(),
            PopularityMetric::Buyers => scan
                .product_buyers
                .iter()
                .map(|(p, b)| (*p, b.len() as f64))
                .collect(),
        };
        let items = items.into_iter().filter(|(p, s)| *s > 0.0 && in_scope(p));
        Ok(scored(rank(items, query.limit), &products))
    }

    /// [`swiftbox_core::GraphStore::trending`], from the primary store.
    pub async fn trending(
        &self,
        primary: &dyn PrimaryBackend,
        query: &TrendingQuery,
    ) -> Result<Vec<ScoredProduct>> {
        self.limits.check_limit(query.limit)?;
        query.validate()?;
        let need = Need {
            timeline: Some((query.now - query.window, query.now)),
            ..Need::default()
        };
        let scan = scan_orders(primary, need).await?;
        let products = scan_products(primary).await?;
        let half_life_ms = query.half_life.num_milliseconds() as f64;
        let mut scores: HashMap<ProductId, f64> = HashMap::new();
        for (at, p, qty) in &scan.timeline {
            if let Some(c) = &query.category {
                if products.get(p).map(|x| &x.1) != Some(c) {
                    continue;
                }
            }
            let age_ms = (query.now - *at).num_milliseconds() as f64;
            *scores.entry(*p).or_default() += *qty as f64 * 0.5f64.powf(age_ms / half_life_ms);
        }
        Ok(scored(rank(scores, query.limit), &products))
    }

    /// [`swiftbox_core::GraphStore::similar_users`], from the primary store.
    pub async fn similar_users(
        &self,
        primary: &dyn PrimaryBackend,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<SimilarUser>> {
        self.limits.check_limit(limit)?;
        let need = Need {
            pairs: true,
            ..Need::default()
        };
        let scan = scan_orders(primary, need).await?;
        let Some(mine) = scan.user_products.get(user) else {
            return Ok(Vec::new());
        };
        let mut candidates: HashSet<UserId> = HashSet::new();
        for seed in recent(Some(mine), self.limits.seed_products) {
            candidates.extend(
                recent(
                    scan.product_buyers.get(&seed),
                    self.limits.buyers_per_product,
                )
                .into_iter()
                .filter(|u| u != user),
            );
        }
        let mut scored: Vec<(UserId, u64, f64)> = candidates
            .into_iter()
            .filter_map(|c| {
                let theirs = scan.user_products.get(&c)?;
                let shared = mine.keys().filter(|p| theirs.contains_key(p)).count() as u64;
                let union = (mine.len() + theirs.len()) as u64 - shared;
                Some((c, shared, shared as f64 / union as f64))
            })
            .collect();
        scored.sort_by(|a, b| {
            b.2.total_cmp(&a.2)
                .then_with(|| b.1.cmp(&a.1))
                .then_with(|| a.0.cmp(&b.0))
        });
        scored.truncate(limit);
        let mut out = Vec::with_capacity(scored.len());
        for (u, shared, similarity) in scored {
            let username = primary.get_user(&u).await?.username;
            out.push(SimilarUser {
                user: u,
                username,
                similarity,
                shared,
            });
        }
        Ok(out)
    }
}

fn scored(
    ranked: Vec<(ProductId, f64)>,
    products: &HashMap<ProductId, (String, String)>,
) -> Vec<ScoredProduct> {
    ranked
        .into_iter()
        .map(|(p, score)| ScoredProduct {
            product: p,
            name: products.get(&p).map(|x| x.0.clone()).unwrap_or_default(),
            score,
        })
        .collect()
}
