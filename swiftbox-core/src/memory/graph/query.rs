//! The queries, over the indexes of [`State`]: each one touches only what its caps allow, except
//! `popular` and `trending`, which scan the products (or one category's) and the purchases in
//! the trending window.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;

use super::fast::{HashMap, HashSet};
use super::state::State;
use super::trend::Window;
use crate::error::{EntityKind, Result};
use crate::graph::{
    buyer_weight, neighbour_similarity, round_score, seed_weight, GraphLimits, GraphRecord,
    PopularQuery, PopularityMetric, PurchaseRecord, Reason, Recommendation, ScoredProduct,
    SimilarUser, TrendingQuery,
};
use crate::id::{CategoryId, OrderId, ProductId, ReviewId, UserId};

/// The first `k` of `items` in `cmp` order, sorted (partial selection, then a sort of `k`).
fn top_k<T>(mut items: Vec<T>, k: usize, cmp: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    if k == 0 {
        return Vec::new();
    }
    if items.len() > k {
        items.select_nth_unstable_by(k - 1, &cmp);
        items.truncate(k);
    }
    items.sort_unstable_by(cmp);
    items
}

/// Score descending, then product id ascending.
fn by_score<T>(
    score: impl Fn(&T) -> f64,
    id: impl Fn(&T) -> ProductId,
) -> impl Fn(&T, &T) -> Ordering {
    move |a, b| {
        score(b)
            .total_cmp(&score(a))
            .then_with(|| id(a).cmp(&id(b)))
    }
}

/// Up to `limit` records of a map ordered by id whose canonical id sorts after `after`.
fn page<K: Ord + Copy + std::fmt::Display, V>(
    map: &BTreeMap<K, V>,
    after: Option<&str>,
    parse: impl Fn(&str) -> Result<K>,
    limit: usize,
    record: impl Fn(&V) -> GraphRecord,
) -> Vec<GraphRecord> {
    match after {
        None => map.values().take(limit).map(record).collect(),
        // Canonical ids sort as strings exactly as the ids do, so a valid `after` seeks.
        Some(a) => match parse(a) {
            Ok(k) if k.to_string() == a => map
                .range((Bound::Excluded(k), Bound::Unbounded))
                .take(limit)
                .map(|(_, v)| record(v))
                .collect(),
            _ => map
                .iter()
                .filter(|(k, _)| k.to_string().as_str() > a)
                .take(limit)
                .map(|(_, v)| record(v))
                .collect(),
        },
    }
}

/// A collaborative-filtering candidate: the summed weights of the peers that reached it, and
/// the smallest three seed ids through which they did (kept inline: there are up to 500 000
/// updates).
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f64,
    because: [ProductId; 3],
    len: usize,
}

impl Default for Candidate {
    fn default() -> Self {
        Self {
            score: 0.0,
            because: [ProductId::from_u128(0); 3],
            len: 0,
        }
    }
}

impl Candidate {
    fn add_seed(&mut self, seed: ProductId) {
        let held = &self.because[..self.len];
        let pos = match held.binary_search(&seed) {
            Ok(_) => return,
            Err(pos) => pos,
        };
        if pos >= 3 {
            return;
        }
        let end = (self.len + 1).min(3);
        for i in (pos + 1..end).rev() {
            self.because[i] = self.because[i - 1];
        }
        self.because[pos] = seed;
        self.len = end;
    }
}

impl State {
    fn product_name(&self, id: &ProductId) -> String {
        self.products
            .get(id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    fn scored(&self, id: ProductId, score: f64) -> ScoredProduct {
        ScoredProduct {
            product: id,
            name: self.product_name(&id),
            score,
        }
    }

    /// Recent products of a user (cap `n`).
    fn recent_products(&self, user: &UserId, n: usize) -> impl Iterator<Item = ProductId> + '_ {
        self.user_products
            .get(user)
            .into_iter()
            .flat_map(move |r| r.recent().take(n))
    }

    /// Recent buyers of a product (cap `n`).
    fn recent_buyers(&self, product: &ProductId, n: usize) -> impl Iterator<Item = UserId> + '_ {
        self.product_buyers
            .get(product)
            .into_iter()
            .flat_map(move |r| r.recent().take(n))
    }

    /// Products (overall, or of `category`) by purchase count descending then id ascending,
    /// leaving out unsold ones and those `skip` rejects: the first `n`.
    fn most_purchased(
        &self,
        category: Option<&str>,
        skip: impl Fn(&ProductId) -> bool,
        n: usize,
    ) -> Vec<(ProductId, u64)> {
        self.rankings
            .ranked(category, PopularityMetric::Purchases)
            .filter(|(p, _)| !skip(p))
            .take(n)
            .map(|(p, c)| (p, u64::try_from(c).unwrap_or(u64::MAX)))
            .collect()
    }

    pub(super) fn recommendations_for(
        &self,
        user: &UserId,
        limit: usize,
        limits: &GraphLimits,
    ) -> Vec<Recommendation> {
        let bought = self.user_products.get(user);
        let has_bought = |p: &ProductId| bought.is_some_and(|b| b.contains(p));

        // Candidate -> summed weighted similarity and the first three seeds (by id) listing it.
        let mut candidates: HashMap<ProductId, Candidate> = HashMap::default();
        let seeds = self.recent_products(user, limits.recommendation_seeds);
        for (rank, seed) in seeds.enumerate() {
            let Some((_, list)) = self.neighbours.get(&seed) else {
                continue;
            };
            let weight = seed_weight(rank);
            for (q, similarity) in list {
                if has_bought(q) || !self.products.contains_key(q) {
                    continue;
                }
                let c = candidates.entry(*q).or_default();
                c.score += weight * similarity;
                c.add_seed(seed);
            }
        }
        let ranked = top_k(
            candidates
                .into_iter()
                .map(|(p, c)| {
                    (
                        p,
                        Candidate {
                            score: round_score(c.score),
                            ..c
                        },
                    )
                })
                .collect(),
            limit,
            by_score(|x: &(ProductId, Candidate)| x.1.score, |x| x.0),
        );
        let mut recs: Vec<Recommendation> = ranked
            .into_iter()
            .map(|(product, c)| Recommendation {
                product,
                name: self.product_name(&product),
                score: c.score,
                reason: Reason::CoPurchased {
                    because: c.because[..c.len].to_vec(),
                },
            })
            .collect();
        if recs.len() >= limit {
            return recs;
        }

        // Cold-start fill: the user's categories, then everything.
        let mut listed: HashSet<ProductId> = recs.iter().map(|r| r.product).collect();
        let mut touched: HashSet<ProductId> = bought
            .map(|b| b.keys().copied().collect())
            .unwrap_or_default();
        if let Some(viewed) = self.views.get(user) {
            touched.extend(viewed.keys().copied());
        }
        let mut per_category: HashMap<&str, u64> = HashMap::default();
        for p in &touched {
            if let Some(node) = self.products.get(p) {
                *per_category.entry(node.category.as_str()).or_default() += 1;
            }
        }
        let categories = {
            let mut c: Vec<(&str, u64)> = per_category.into_iter().collect();
            c.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            c.truncate(limits.fallback_categories);
            c
        };
        for (category, _) in categories {
            let want = limit - recs.len();
            let fill = self.most_purchased(
                Some(category),
                |p| listed.contains(p) || has_bought(p),
                want,
            );
            for (product, count) in fill {
                listed.insert(product);
                recs.push(Recommendation {
                    product,
                    name: self.product_name(&product),
                    score: count as f64,
                    reason: Reason::PopularInCategory {
                        category: category.to_owned(),
                    },
                });
            }
            if recs.len() >= limit {
                return recs;
            }
        }
        let want = limit - recs.len();
        let fill = self.most_purchased(None, |p| listed.contains(p) || has_bought(p), want);
        recs.extend(fill.into_iter().map(|(product, count)| Recommendation {
            product,
            name: self.product_name(&product),
            score: count as f64,
            reason: Reason::Popular,
        }));
        recs
    }

    /// `product`'s neighbour list as the graph stands (`GraphStore::refresh_neighbours`).
    pub(super) fn neighbour_list(
        &self,
        product: &ProductId,
        limits: &GraphLimits,
    ) -> Vec<(ProductId, f64)> {
        let buyers = |p: &ProductId| self.product_buyers.get(p).map_or(0, |b| b.len() as u64);
        let mut co: HashMap<ProductId, f64> = HashMap::default();
        for buyer in self.recent_buyers(product, limits.neighbour_buyers) {
            let weight = buyer_weight(self.user_lines.get(&buyer).copied().unwrap_or(0));
            for q in self.recent_products(&buyer, limits.neighbour_products) {
                if q != *product {
                    *co.entry(q).or_default() += weight;
                }
            }
        }
        let mine = buyers(product);
        top_k(
            co.into_iter()
                .map(|(q, w)| (q, neighbour_similarity(w, mine, buyers(&q))))
                .collect(),
            limits.neighbours,
            by_score(|x: &(ProductId, f64)| x.1, |x| x.0),
        )
    }

    pub(super) fn also_bought(
        &self,
        product: &ProductId,
        limit: usize,
        limits: &GraphLimits,
    ) -> Vec<ScoredProduct> {
        let mut scores: HashMap<ProductId, u64> = HashMap::default();
        for buyer in self.recent_buyers(product, limits.buyers_per_product) {
            for q in self.recent_products(&buyer, limits.products_per_buyer) {
                if q != *product {
                    *scores.entry(q).or_default() += 1;
                }
            }
        }
        top_k(scores.into_iter().collect(), limit, |a, b| {
            b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0))
        })
        .into_iter()
        .map(|(p, s)| self.scored(p, s as f64))
        .collect()
    }

    pub(super) fn popular(&self, query: &PopularQuery) -> Vec<ScoredProduct> {
        self.rankings
            .ranked(query.category.as_deref(), query.metric)
            .take(query.limit)
            .map(|(p, s)| self.scored(p, s as f64))
            .collect()
    }

    pub(super) fn trending(&self, query: &TrendingQuery) -> Vec<ScoredProduct> {
        let mut window = Window::new(
            query.now - query.window,
            query.now,
            query.half_life.num_milliseconds(),
        );
        let mut scores: Vec<(ProductId, f64)> = Vec::new();
        let mut score = |product: &ProductId| {
            if let Some(s) = self
                .timelines
                .get(product)
                .and_then(|t| t.score(&mut window))
            {
                scores.push((*product, s));
            }
        };
        match &query.category {
            Some(c) => self
                .products_by_category
                .get(c)
                .into_iter()
                .flatten()
                .for_each(&mut score),
            None => scores = self.hours.scores(&self.timelines, &mut window),
        }
        top_k(
            scores,
            query.limit,
            by_score(|x: &(ProductId, f64)| x.1, |x| x.0),
        )
        .into_iter()
        .map(|(p, s)| self.scored(p, s))
        .collect()
    }

    pub(super) fn purchase_history(&self, user: &UserId, limit: usize) -> Vec<PurchaseRecord> {
        let Some(orders) = self.user_orders.get(user) else {
            return Vec::new();
        };
        orders
            .iter()
            .filter_map(|(_, id)| self.orders.get(id))
            .flat_map(|o| {
                o.items.iter().map(move |i| PurchaseRecord {
                    order_id: o.order_id,
                    product: i.product,
                    product_name: self.product_name(&i.product),
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                    purchased_at: o.placed_at,
                })
            })
            .take(limit)
            .collect()
    }

    pub(super) fn similar_users(
        &self,
        user: &UserId,
        limit: usize,
        limits: &GraphLimits,
    ) -> Vec<SimilarUser> {
        let Some(mine) = self.user_products.get(user) else {
            return Vec::new();
        };
        let mut candidates: HashSet<UserId> = HashSet::default();
        for seed in mine.recent().take(limits.seed_products) {
            candidates.extend(
                self.recent_buyers(&seed, limits.buyers_per_product)
                    .filter(|u| u != user),
            );
        }
        let scored: Vec<(UserId, u64, f64)> = candidates
            .into_iter()
            .filter_map(|c| {
                let theirs = self.user_products.get(&c)?;
                let (small, large) = if theirs.len() < mine.len() {
                    (theirs, mine)
                } else {
                    (mine, theirs)
                };
                let shared = small.keys().filter(|p| large.contains(p)).count() as u64;
                let union = (mine.len() + theirs.len()) as u64 - shared;
                Some((c, shared, shared as f64 / union as f64))
            })
            .collect();
        top_k(scored, limit, |a, b| {
            b.2.total_cmp(&a.2)
                .then_with(|| b.1.cmp(&a.1))
                .then_with(|| a.0.cmp(&b.0))
        })
        .into_iter()
        .map(|(u, shared, similarity)| SimilarUser {
            user: u,
            username: self
                .users
                .get(&u)
                .map(|n| n.username.clone())
                .unwrap_or_default(),
            similarity,
            shared,
        })
        .collect()
    }

    pub(super) fn records(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<GraphRecord> {
        match kind {
            EntityKind::User => page(&self.users, after, UserId::parse, limit, |n| {
                GraphRecord::User(n.clone())
            }),
            EntityKind::Category => page(&self.categories, after, CategoryId::parse, limit, |n| {
                GraphRecord::Category(n.clone())
            }),
            EntityKind::Product => page(&self.products, after, ProductId::parse, limit, |n| {
                GraphRecord::Product(n.clone())
            }),
            EntityKind::Order => page(&self.orders, after, OrderId::parse, limit, |o| {
                GraphRecord::Order(o.clone())
            }),
            EntityKind::Review => page(&self.reviews, after, ReviewId::parse, limit, |r| {
                GraphRecord::Review(r.clone())
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use super::*;
    use crate::graph::{
        CategoryNode, GraphChange, OrderPurchases, ProductNode, PurchasedItem, UserNode,
    };
    use crate::id::EntityRef;
    use crate::money::{Currency, Money};

    /// A list computed before a line change of its product is stored, but the product stays
    /// marked; a list computed earlier never replaces one computed later.
    #[test]
    fn a_line_change_during_a_refresh_keeps_the_mark() {
        let mut state = State::default();
        let (p1, p2) = (ProductId::from_u128(1), ProductId::from_u128(2));
        let user = UserId::from_u128(7);
        let mut changes = vec![
            GraphChange::Upsert(GraphRecord::Category(CategoryNode {
                id: CategoryId::from_u128(9),
                name: "C".into(),
                version: 1,
            })),
            GraphChange::Upsert(GraphRecord::User(UserNode {
                id: user,
                username: "u".into(),
                email: "u@example.com".into(),
                version: 1,
            })),
        ];
        for p in [p1, p2] {
            changes.push(GraphChange::Upsert(GraphRecord::Product(ProductNode {
                id: p,
                name: "p".into(),
                category: "C".into(),
                price: Money::new(1, Currency::USD),
                version: 1,
            })));
        }
        let order = |n: u128, items: &[ProductId]| {
            GraphChange::Upsert(GraphRecord::Order(OrderPurchases {
                order_id: OrderId::from_u128(n),
                user,
                placed_at: Utc::now() - Duration::minutes(n as i64),
                items: items
                    .iter()
                    .map(|p| PurchasedItem {
                        product: *p,
                        quantity: 1,
                        unit_price: Money::new(1, Currency::USD),
                    })
                    .collect(),
                version: 1,
            }))
        };
        changes.push(order(1, &[p1, p2]));
        state.apply(&changes).expect("apply");
        let limits = GraphLimits::default();

        // Pick and compute p1's list, then an order changes p1's lines before it is stored.
        let [(picked, seen)] = state.marked_products(1)[..] else {
            panic!("p1 is marked");
        };
        assert_eq!(picked, p1);
        let early = state.neighbour_list(&p1, &limits);
        state.apply(&[order(2, &[p1])]).expect("apply");
        state.store_neighbours(p1, seen, early.clone());
        assert!(state.marked.contains(&p1), "p1 must stay marked");

        // A later computation is stored; the earlier one, stored after it, does not replace it.
        let [(_, seen_now)] = state.marked_products(1)[..] else {
            panic!("p1 is marked");
        };
        let later = vec![(p2, 0.5)];
        state.store_neighbours(p1, seen_now, later.clone());
        assert!(!state.marked.contains(&p1));
        state.store_neighbours(p1, seen, early);
        assert_eq!(state.neighbours.get(&p1).map(|n| &n.1), Some(&later));
    }

    /// `popular` by brute force over the state's own counts.
    fn brute_popular(state: &State, q: &PopularQuery) -> Vec<(ProductId, f64)> {
        let mut items: Vec<(ProductId, f64)> = state
            .products
            .values()
            .filter(|p| q.category.as_ref().is_none_or(|c| &p.category == c))
            .map(|p| {
                let sales = state.sales.get(&p.id).copied().unwrap_or_default();
                let buyers = state.product_buyers.get(&p.id).map_or(0, |b| b.len());
                let s = match q.metric {
                    PopularityMetric::Purchases => sales.lines as f64,
                    PopularityMetric::Units => sales.units as f64,
                    PopularityMetric::Buyers => buyers as f64,
                };
                (p.id, s)
            })
            .filter(|(_, s)| *s > 0.0)
            .collect();
        items.sort_by(by_score(|x: &(ProductId, f64)| x.1, |x| x.0));
        items.truncate(q.limit);
        items
    }

    /// The maintained rankings agree with counting from scratch after purchases, a product
    /// changing category, an order replaced and deleted, and a product deleted.
    #[test]
    fn popular_rankings_follow_every_change() {
        let mut state = State::default();
        let cats = ["A", "B", "C"];
        let mut changes: Vec<GraphChange> = cats
            .iter()
            .enumerate()
            .map(|(i, c)| {
                GraphChange::Upsert(GraphRecord::Category(CategoryNode {
                    id: CategoryId::from_u128(1000 + i as u128),
                    name: (*c).into(),
                    version: 1,
                }))
            })
            .collect();
        let product = |i: u128, cat: &str, version: u64| {
            GraphChange::Upsert(GraphRecord::Product(ProductNode {
                id: ProductId::from_u128(i),
                name: format!("p{i}"),
                category: cat.into(),
                price: Money::new(1, Currency::USD),
                version,
            }))
        };
        for i in 0..12u128 {
            changes.push(product(i, cats[i as usize % 3], 1));
        }
        for u in 0..8u128 {
            changes.push(GraphChange::Upsert(GraphRecord::User(UserNode {
                id: UserId::from_u128(100 + u),
                username: format!("u{u}"),
                email: format!("u{u}@example.com"),
                version: 1,
            })));
        }
        let t0 = Utc::now();
        let order = |o: u128, u: u128, items: &[(u128, i64)], version: u64| {
            GraphChange::Upsert(GraphRecord::Order(OrderPurchases {
                order_id: OrderId::from_u128(500 + o),
                user: UserId::from_u128(100 + u),
                placed_at: t0 - Duration::minutes(o as i64),
                items: items
                    .iter()
                    .map(|(p, q)| PurchasedItem {
                        product: ProductId::from_u128(*p),
                        quantity: *q,
                        unit_price: Money::new(1, Currency::USD),
                    })
                    .collect(),
                version,
            }))
        };
        for o in 0..40u128 {
            let items: Vec<(u128, i64)> = (0..3)
                .map(|k| {
                    (
                        (o * 7 + k * 5) % 12 / (1 + k),
                        1 + (o as i64 + k as i64) % 4,
                    )
                })
                .collect();
            changes.push(order(o, o % 8, &items, 1));
        }
        state.apply(&changes).unwrap();
        let check = |state: &State, step: &str| {
            for metric in [
                PopularityMetric::Purchases,
                PopularityMetric::Units,
                PopularityMetric::Buyers,
            ] {
                for category in [None, Some("A"), Some("B"), Some("C"), Some("none")] {
                    for limit in [1, 5, 100] {
                        let q = PopularQuery {
                            category: category.map(String::from),
                            metric,
                            limit,
                        };
                        let got: Vec<(ProductId, f64)> = state
                            .popular(&q)
                            .iter()
                            .map(|s| (s.product, s.score))
                            .collect();
                        assert_eq!(got, brute_popular(state, &q), "{step}: {q:?}");
                    }
                }
            }
        };
        check(&state, "loaded");
        state
            .apply(&[product(3, "B", 2), product(4, "A", 2)])
            .unwrap();
        check(&state, "recategorised");
        state.apply(&[order(5, 1, &[(3, 9), (11, 2)], 2)]).unwrap();
        check(&state, "order replaced");
        let delete = |kind: EntityKind, id: String| GraphChange::Delete {
            entity: EntityRef { kind, id },
            version: 3,
        };
        state
            .apply(&[
                delete(EntityKind::Order, OrderId::from_u128(507).to_string()),
                delete(EntityKind::Product, ProductId::from_u128(0).to_string()),
                delete(EntityKind::User, UserId::from_u128(102).to_string()),
            ])
            .unwrap();
        check(&state, "deleted");
        assert!(!state
            .popular(&PopularQuery {
                category: None,
                metric: PopularityMetric::Purchases,
                limit: 100,
            })
            .is_empty());
    }

    /// `VIEWED.count` and `last_viewed` are not visible through `GraphStore`; check them here.
    #[test]
    fn views_count_up_and_keep_the_latest_time() {
        let mut state = State::default();
        let (u, p) = (UserId::from_u128(1), ProductId::from_u128(2));
        let changes = [
            GraphChange::Upsert(GraphRecord::Category(CategoryNode {
                id: CategoryId::from_u128(3),
                name: "Books".into(),
                version: 1,
            })),
            GraphChange::Upsert(GraphRecord::User(UserNode {
                id: u,
                username: "a".into(),
                email: "a@example.com".into(),
                version: 1,
            })),
            GraphChange::Upsert(GraphRecord::Product(ProductNode {
                id: p,
                name: "B".into(),
                category: "Books".into(),
                price: Money::new(1, Currency::USD),
                version: 1,
            })),
        ];
        let report = state.apply(&changes).unwrap();
        assert_eq!(report.applied, 3);
        let t = Utc::now();
        state.record_view(&u, &p, t).unwrap();
        state.record_view(&u, &p, t - Duration::hours(1)).unwrap();
        assert_eq!(state.view(&u, &p), Some((2, t)));
        state.record_view(&u, &p, t + Duration::hours(1)).unwrap();
        assert_eq!(state.view(&u, &p), Some((3, t + Duration::hours(1))));
        assert_eq!(state.counts().views, 1);
    }
}
