//! Figures 4 and 5: query latency of the graph versus the primary-store-only answer, with the
//! answers compared.

use std::future::Future;
use std::time::Instant;

use swiftbox_core::{
    GraphLimits, PopularQuery, PopularityMetric, ProductId, Result, TrendingQuery, UserId,
};

use super::compare;
use super::resync::Prepared;
use crate::baseline::PrimaryOnly;
use crate::env::GraphKind;
use crate::report::{Bound, QueryPoint, Report, Row};
use crate::stats::Samples;
use crate::{BenchConfig, Scale};

const LIMIT: usize = 10;

async fn timed<T, F: Future<Output = Result<T>>>(f: F, samples: &mut Samples) -> Result<T> {
    let t = Instant::now();
    let out = f.await?;
    samples.push(t.elapsed());
    Ok(out)
}

/// The sampled inputs: heavy, median, light and cold-start users; the top product
/// (supernode), and products further down the power law; the top category.
struct Inputs {
    users: Vec<(String, UserId)>,
    products: Vec<(String, ProductId)>,
    popular: Vec<(String, PopularQuery)>,
    trending: Vec<(String, TrendingQuery)>,
}

fn inputs(p: &Prepared) -> Inputs {
    let shop = &p.shop;
    let mut per_user = vec![0usize; shop.users().len()];
    for o in shop.orders() {
        per_user[o.user as usize] += 1;
    }
    let mut buyers: Vec<(usize, usize)> = per_user
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (i, *n))
        .collect();
    buyers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut users = Vec::new();
    if let (Some(heavy), Some(light)) = (buyers.first(), buyers.last()) {
        let median = buyers[buyers.len() / 2];
        for (name, (i, n)) in [
            ("heaviest", *heavy),
            ("median", median),
            ("lightest", *light),
        ] {
            users.push((format!("{name} buyer ({n} orders)"), p.ids.users[i]));
        }
    }
    if let Some((i, _)) = per_user.iter().enumerate().rev().find(|(_, n)| **n == 0) {
        users.push(("cold-start user".into(), p.ids.users[i]));
    }
    let n = shop.products().len();
    let mut idx = vec![0, 10.min(n - 1), n / 10, n / 2];
    idx.dedup();
    let products = idx
        .into_iter()
        .map(|i| (format!("product #{i} by popularity"), p.ids.products[i]))
        .collect();
    let top_category = shop
        .products()
        .first()
        .and_then(|pr| shop.categories().get(pr.category as usize))
        .map(|c| c.1.clone());
    let popular = vec![
        (
            "all, purchases".to_owned(),
            PopularQuery {
                category: None,
                metric: PopularityMetric::Purchases,
                limit: LIMIT,
            },
        ),
        (
            "all, units".to_owned(),
            PopularQuery {
                category: None,
                metric: PopularityMetric::Units,
                limit: LIMIT,
            },
        ),
        (
            "all, buyers".to_owned(),
            PopularQuery {
                category: None,
                metric: PopularityMetric::Buyers,
                limit: LIMIT,
            },
        ),
        (
            "top category, purchases".to_owned(),
            PopularQuery {
                category: top_category.clone(),
                metric: PopularityMetric::Purchases,
                limit: LIMIT,
            },
        ),
    ];
    let now = swiftbox_core::time::now();
    let mut all = TrendingQuery::new(LIMIT);
    all.now = now;
    let mut in_category = all.clone();
    in_category.category = top_category;
    let trending = vec![("all".into(), all), ("top category".into(), in_category)];
    Inputs {
        users,
        products,
        popular,
        trending,
    }
}

/// The samples of one query. Repetition 0 of the graph query is a warm-up pass over every
/// input: it is timed into `warm_up` and reported apart, not in the percentiles, so a
/// statement's first planning (Neo4j caches query plans) or cold caches are not counted as
/// its steady latency.
#[derive(Default)]
struct Measured {
    graph: Samples,
    warm_up: Samples,
    baseline: Samples,
}

impl Measured {
    /// Where repetition `rep`'s graph samples go.
    fn sink(&mut self, rep: usize) -> &mut Samples {
        if rep == 0 {
            &mut self.warm_up
        } else {
            &mut self.graph
        }
    }
}

pub(crate) async fn run(
    report: &mut Report,
    cfg: &BenchConfig,
    scale: Scale,
    p: &Prepared,
    figure: u8,
) -> Result<()> {
    let graph = &*p.graph.store;
    let primary = &*p.primary.store;
    let base = PrimaryOnly {
        limits: GraphLimits::default(),
    };
    let inputs = inputs(p);
    let tag = format!("{} {}", scale.name(), p.backend);
    let mut results: Vec<(&'static str, Measured)> = Vec::new();
    crate::progress!("fig{figure} {tag}: queries");

    // recommendations_for
    let mut m = Measured::default();
    for rep in 0..=cfg.query_reps {
        for (_, u) in &inputs.users {
            timed(graph.recommendations_for(u, LIMIT), m.sink(rep)).await?;
        }
    }
    for (name, u) in inputs.users.iter().cycle().take(cfg.baseline_samples) {
        let b = timed(base.recommendations_for(primary, u, LIMIT), &mut m.baseline).await?;
        let g = graph.recommendations_for(u, LIMIT).await?;
        let diff = compare::recommendations(&g, &b);
        report.check(
            format!("fig4 {tag}: recommendations_for {name} equals primary-only"),
            diff.is_none(),
            diff.unwrap_or_default(),
        );
    }
    results.push(("recommendations_for", m));

    // also_bought
    let mut m = Measured::default();
    for rep in 0..=cfg.query_reps {
        for (_, pr) in &inputs.products {
            timed(graph.also_bought(pr, LIMIT), m.sink(rep)).await?;
        }
    }
    for (name, pr) in inputs.products.iter().cycle().take(cfg.baseline_samples) {
        let b = timed(base.also_bought(primary, pr, LIMIT), &mut m.baseline).await?;
        let g = graph.also_bought(pr, LIMIT).await?;
        let diff = compare::scored(&g, &b);
        report.check(
            format!("fig4 {tag}: also_bought {name} equals primary-only"),
            diff.is_none() && !g.is_empty(),
            diff.unwrap_or_else(|| "empty answer".into()),
        );
    }
    results.push(("also_bought", m));

    // popular
    let mut m = Measured::default();
    for rep in 0..=cfg.query_reps {
        for (_, q) in &inputs.popular {
            timed(graph.popular(q), m.sink(rep)).await?;
        }
    }
    for (name, q) in inputs.popular.iter().cycle().take(cfg.baseline_samples) {
        let b = timed(base.popular(primary, q), &mut m.baseline).await?;
        let g = graph.popular(q).await?;
        let diff = compare::scored(&g, &b);
        report.check(
            format!("fig4 {tag}: popular {name} equals primary-only"),
            diff.is_none() && g.len() == LIMIT,
            diff.unwrap_or_else(|| format!("{} results", g.len())),
        );
    }
    results.push(("popular", m));

    // trending
    let mut m = Measured::default();
    for rep in 0..=cfg.query_reps {
        for (_, q) in &inputs.trending {
            timed(graph.trending(q), m.sink(rep)).await?;
        }
    }
    for (name, q) in inputs.trending.iter().cycle().take(cfg.baseline_samples) {
        let b = timed(base.trending(primary, q), &mut m.baseline).await?;
        let g = graph.trending(q).await?;
        let diff = compare::scored(&g, &b);
        report.check(
            format!("fig4 {tag}: trending {name} equals primary-only"),
            diff.is_none() && g.len() == LIMIT,
            diff.unwrap_or_else(|| format!("{} results", g.len())),
        );
    }
    results.push(("trending", m));

    // similar_users
    let mut m = Measured::default();
    for rep in 0..=cfg.query_reps {
        for (_, u) in &inputs.users {
            timed(graph.similar_users(u, LIMIT), m.sink(rep)).await?;
        }
    }
    for (name, u) in inputs.users.iter().cycle().take(cfg.baseline_samples) {
        let b = timed(base.similar_users(primary, u, LIMIT), &mut m.baseline).await?;
        let g = graph.similar_users(u, LIMIT).await?;
        let diff = compare::similar(&g, &b);
        report.check(
            format!("fig4 {tag}: similar_users {name} equals primary-only"),
            diff.is_none(),
            diff.unwrap_or_default(),
        );
    }
    results.push(("similar_users", m));

    let graph_name = match p.graph_kind {
        GraphKind::Memory => "memory",
        GraphKind::Neo4j => "neo4j",
    };
    let primary_name = if p.backend.starts_with("mongo") {
        "MongoStore"
    } else {
        "MemoryStore"
    };
    for (query, m) in results {
        let (g50, g99, b50, b99) = (
            m.graph.p50(),
            m.graph.p99(),
            m.baseline.p50(),
            m.baseline.p99(),
        );
        let n = format!(
            "{} graph / {} primary-only",
            m.graph.len(),
            m.baseline.len()
        );
        report.rows.push(
            Row::new(
                figure,
                scale.name(),
                p.backend,
                format!("{query} p50"),
                g50,
                "ms",
            )
            .baseline(b50, format!("primary-only on {primary_name}"))
            .ratio(b50 / g50.max(1e-6), "primary-only / graph")
            .samples(n.clone()),
        );
        let mut row = Row::new(
            figure,
            scale.name(),
            p.backend,
            format!("{query} p99"),
            g99,
            "ms",
        )
        .baseline(b99, format!("primary-only on {primary_name}"))
        .ratio(b99 / g99.max(1e-6), "primary-only / graph")
        .samples(n)
        .note(format!(
            "after a warm-up pass over the inputs (not counted; its slowest call {:.2} ms); \
             primary-only p99 of few samples is their maximum",
            m.warm_up.quantile_ms(1.0)
        ));
        let ratio = b99 / g99.max(1e-6);
        if p.graph_kind == GraphKind::Neo4j && scale == Scale::M {
            row = row
                .goal("p99 < 20 ms and >= 10x", g99 < 20.0 && ratio >= 10.0)
                .bounds(Some(Bound::Below(20.0)), Some(Bound::AtLeast(10.0)));
        }
        if figure == 5 {
            row = row
                .goal("p99 < 5 ms", g99 < 5.0)
                .bounds(Some(Bound::Below(5.0)), None);
        }
        report.rows.push(row);
        report.query_points.push(QueryPoint {
            graph: graph_name,
            query,
            scale: scale.name(),
            purchases: p.shop.purchases(),
            p50_ms: g50,
        });
    }
    Ok(())
}

/// Rows comparing each graph query's median at the smallest measured scale with the larger
/// ones: the cost should grow more slowly than the number of purchases.
pub(crate) fn growth_rows(report: &mut Report) {
    let points = report.query_points.clone();
    for a in &points {
        for b in &points {
            if a.graph != b.graph || a.query != b.query || b.purchases <= a.purchases {
                continue;
            }
            // Only from the smallest scale of this graph and query.
            if points
                .iter()
                .any(|c| c.graph == a.graph && c.query == a.query && c.purchases < a.purchases)
            {
                continue;
            }
            let growth = b.p50_ms / a.p50_ms.max(1e-6);
            let data = b.purchases as f64 / a.purchases as f64;
            report.rows.push(
                Row::new(
                    4,
                    format!("{}->{}", a.scale, b.scale),
                    a.graph,
                    format!("{} p50 growth", b.query),
                    growth,
                    "x",
                )
                .baseline(data, "growth of purchases")
                .goal("sub-linear (below purchases growth)", growth < data)
                .bounds(Some(Bound::Below(data)), None),
            );
        }
    }
}
