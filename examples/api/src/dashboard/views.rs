//! The dashboard's templates (`templates/dashboard/`) and what they show. askama checks each
//! template against its struct at compile time and HTML-escapes every `{{ value }}`.

use std::collections::HashMap;

use askama::Template;
use swiftbox_core::{ProductId, PurchaseRecord, Reason, Recommendation, SimilarUser, User, UserId};

use super::svg::{Chart, Column, Graph};
use crate::operator::{
    DriftItem, DriftKind, DriftSummary, RepairSummary, ResyncState, ResyncStatus, Sample,
};
use crate::routes::health::Health;
use crate::routes::set_aside::SetAsideItem;

/// The page: log-in form, the dashboard's frame.
#[derive(Template)]
#[template(path = "dashboard/page.html")]
pub(super) struct Page;

/// A count per entity kind on both sides.
pub(super) struct KindRow {
    pub(super) kind: &'static str,
    pub(super) primary: u64,
    /// `None` when the graph did not answer.
    pub(super) graph: Option<u64>,
}

/// Both stores, the sync status and the chart.
#[derive(Template)]
#[template(path = "dashboard/status.html")]
pub(super) struct Status<'a> {
    pub(super) health: &'a Health,
    pub(super) kinds: Vec<KindRow>,
    pub(super) chart: Chart,
}

impl<'a> Status<'a> {
    pub(super) fn new(health: &'a Health, samples: &[Sample]) -> Self {
        let kinds = health
            .sync
            .as_ref()
            .map(|s| {
                s.primary_entities
                    .iter()
                    .map(|(kind, n)| KindRow {
                        kind: kind.as_str(),
                        primary: *n,
                        graph: s
                            .graph_entities
                            .as_ref()
                            .map(|g| g.get(kind).copied().unwrap_or(0)),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            health,
            kinds,
            chart: Chart::new(samples),
        }
    }
}

impl Status<'_> {
    /// The oldest owed change's age, as people read it; `none` when nothing is owed.
    fn oldest_owed(&self) -> String {
        self.health
            .sync
            .as_ref()
            .and_then(|s| s.oldest_owed_age_seconds)
            .map_or_else(|| "none".to_owned(), age)
    }
}

/// Seconds as people read them: `42 s`, `3 min 5 s`, `2 h 10 min`.
fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The set-aside changes.
#[derive(Template)]
#[template(path = "dashboard/set_aside.html")]
pub(super) struct SetAside<'a> {
    pub(super) items: &'a [SetAsideItem],
    pub(super) notice: Option<String>,
}

/// A drift check (and the repair before it, if any).
#[derive(Template)]
#[template(path = "dashboard/drift.html")]
pub(super) struct Drift<'a> {
    pub(super) summary: &'a DriftSummary,
    pub(super) repaired: Option<&'a RepairSummary>,
}

impl Drift<'_> {
    fn drift_label(&self, item: &DriftItem) -> &'static str {
        match item.drift() {
            DriftKind::Missing => "missing in the graph",
            DriftKind::Extra => "extra in the graph",
            DriftKind::OlderVersion => "stale: the graph holds an older version",
            DriftKind::NewerVersion => "stale: the graph holds a newer version",
            DriftKind::Content => "stale: same version, other content",
        }
    }
}

/// The resync job.
#[derive(Template)]
#[template(path = "dashboard/resync.html")]
pub(super) struct Resync<'a> {
    pub(super) status: &'a ResyncStatus,
    /// Why a start was refused.
    pub(super) refused: Option<String>,
}

impl Resync<'_> {
    fn state(&self) -> &'static str {
        match self.status.state() {
            ResyncState::Idle => "idle",
            ResyncState::Running => "running",
            ResyncState::Finished => "finished",
            ResyncState::Failed => "failed",
        }
    }

    fn kind(&self) -> &'static str {
        self.status.kind().map_or("", |k| k.as_str())
    }
}

/// The explorer's user picker.
#[derive(Template)]
#[template(path = "dashboard/users.html")]
pub(super) struct Users<'a> {
    pub(super) users: &'a [(UserId, String)],
    /// More users exist than are offered.
    pub(super) more: bool,
}

/// A recommendation as the explorer lists it.
pub(super) struct RecommendationRow {
    pub(super) name: String,
    pub(super) score: f64,
    pub(super) why: String,
}

/// One user's purchases, recommendations and peers, and the graph of why.
#[derive(Template)]
#[template(path = "dashboard/explorer.html")]
pub(super) struct Explorer {
    pub(super) user_id: String,
    pub(super) username: Option<String>,
    pub(super) purchases: Vec<PurchaseRecord>,
    pub(super) recommendations: Vec<RecommendationRow>,
    pub(super) peers: Vec<SimilarUser>,
    pub(super) graph: Graph,
}

/// The name of `product` as known, else its id.
fn name_of(names: &HashMap<ProductId, String>, product: &ProductId) -> String {
    names
        .get(product)
        .cloned()
        .unwrap_or_else(|| product.to_string())
}

impl Explorer {
    /// Nothing picked yet.
    pub(super) fn empty() -> Self {
        Self {
            user_id: String::new(),
            username: None,
            purchases: vec![],
            recommendations: vec![],
            peers: vec![],
            graph: Graph::default(),
        }
    }

    /// The explorer for `user`; `names` maps every product in the purchases and in the
    /// recommendations' `because` lists to its name.
    pub(super) fn new(
        user: &User,
        purchases: &[PurchaseRecord],
        recommendations: &[Recommendation],
        peers: &[SimilarUser],
        names: &HashMap<ProductId, String>,
    ) -> Self {
        let shown = super::EXPLORER_LIMIT;
        // Bought boxes: every `because` seed first (so every edge has both ends), then the most
        // recent other purchases, up to the limit.
        let mut bought: Vec<ProductId> = Vec::new();
        for r in recommendations {
            if let Reason::CoPurchased { because } = &r.reason {
                for seed in because {
                    if !bought.contains(seed) {
                        bought.push(*seed);
                    }
                }
            }
        }
        for p in purchases {
            if bought.len() >= shown {
                break;
            }
            if !bought.contains(&p.product) {
                bought.push(p.product);
            }
        }
        let bought_names: Vec<String> = bought.iter().map(|p| name_of(names, p)).collect();
        let mut links = Vec::new();
        let mut rows = Vec::new();
        let mut candidates = Vec::new();
        for (i, r) in recommendations.iter().enumerate() {
            let (why, class) = match &r.reason {
                Reason::CoPurchased { because } => {
                    for seed in because {
                        if let Some(from) = bought.iter().position(|b| b == seed) {
                            links.push((from, i));
                        }
                    }
                    let seeds: Vec<String> = because.iter().map(|p| name_of(names, p)).collect();
                    (
                        format!("bought with what you bought: {}", seeds.join(", ")),
                        "candidate",
                    )
                }
                Reason::PopularInCategory { category } => {
                    (format!("popular in {category}"), "popular")
                }
                Reason::Popular => ("popular overall".to_owned(), "popular"),
            };
            candidates.push((r.name.as_str(), format!("{} ({why})", r.name), class));
            rows.push(RecommendationRow {
                name: r.name.clone(),
                score: r.score,
                why,
            });
        }
        let graph = Graph::new(
            Column {
                boxes: vec![(user.username.as_str(), user.username.clone(), "user")],
            },
            Column {
                boxes: bought_names
                    .iter()
                    .map(|n| (n.as_str(), n.clone(), "bought"))
                    .collect(),
            },
            Column { boxes: candidates },
            &links,
        );
        Self {
            user_id: user.id.to_string(),
            username: Some(user.username.clone()),
            purchases: purchases.iter().take(shown).cloned().collect(),
            recommendations: rows,
            peers: peers.to_vec(),
            graph,
        }
    }
}
