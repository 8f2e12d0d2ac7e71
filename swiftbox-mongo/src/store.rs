//! [`MongoStore`]: the connection, the helpers every call goes through (operation timeout,
//! error mapping, pages), and [`PrimaryStore::ping`]. Each aggregate's trait is implemented in
//! its own module (`users`, `catalog`, `orders`, `reviews`), the [`swiftbox_core::SyncLedger`]
//! in `sync`.

use std::future::IntoFuture;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::{ClientOptions, DatabaseOptions, ReadPreference, SelectionCriteria};
use mongodb::{Client, Collection, Database};
use swiftbox_core::{EntityKind, Error, Page, PageRequest, PrimaryStore, Result};

use crate::config::MongoConfig;
use crate::error::{self, OperationTimedOut};
use crate::schema;

/// A [`PrimaryStore`] on MongoDB (or any server speaking its wire protocol with the same
/// semantics, such as FerretDB), through the official `mongodb` driver.
///
/// Cheap to clone: clones share the driver's connection pool. See the [crate docs](crate) for
/// the storage layout, the sync bookkeeping and how orders reserve stock.
#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    op_timeout: Duration,
    locks: bool,
    /// Whether the server is FerretDB (its `buildInfo` says so).
    ferretdb: bool,
    /// This store's (and its clones') writers waiting for a document lock, queued per lock
    /// key so that only the first asks the server (see the `lock` module, "Waiting").
    pub(crate) lock_queue: std::sync::Arc<keyed_lock::r#async::KeyedLock<String>>,
    config: MongoConfig,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects to the server at `uri` with the default settings, keeps everything in the
    /// database `database`, and runs [`MongoStore::migrate`].
    pub async fn connect(uri: &str, database: &str) -> Result<Self> {
        Self::connect_with(MongoConfig::builder(uri, database).build()?).await
    }

    /// Connects from [`MongoConfig::from_env`] (`SWIFTBOX_MONGO_URI`, `SWIFTBOX_MONGO_DB`).
    pub async fn from_env() -> Result<Self> {
        Self::connect_with(MongoConfig::from_env()?).await
    }

    /// Connects with `config` and runs [`MongoStore::migrate`]. Fails with
    /// [`Error::Unavailable`] when no server answers within the server selection timeout, and
    /// with [`Error::Invalid`] (field `uri`) when the driver refuses the connection string.
    #[tracing::instrument(skip_all, fields(uri = %config.redacted_uri(), db = %config.database), err(Display))]
    pub async fn connect_with(config: MongoConfig) -> Result<Self> {
        let mut options = ClientOptions::parse(&config.uri).await.map_err(|e| {
            if matches!(
                e.kind.as_ref(),
                mongodb::error::ErrorKind::InvalidArgument { .. }
            ) {
                Error::invalid("uri", e.to_string())
            } else {
                error::map_other(e)
            }
        })?;
        options.app_name.clone_from(&config.app_name);
        if config.max_pool_size.is_some() {
            options.max_pool_size = config.max_pool_size;
        }
        if config.min_pool_size.is_some() {
            options.min_pool_size = config.min_pool_size;
        }
        options.connect_timeout = Some(config.connect_timeout);
        options.server_selection_timeout = Some(config.server_selection_timeout);
        // Durable unless told otherwise: the builder's, else the connection string's, else
        // majority and journaled (see `MongoConfigBuilder::write_concern`).
        // A connection string that sets only `wtimeoutMS` keeps the durable `w` and journal.
        let from_uri = options.write_concern.take();
        let durable = MongoConfig::durable_write_concern();
        options.write_concern = Some(match (config.write_concern.clone(), from_uri) {
            (Some(set), _) => set,
            (None, Some(uri)) if uri.w.is_none() && uri.journal.is_none() => {
                let mut kept = durable;
                kept.w_timeout = uri.w_timeout;
                kept
            }
            (None, Some(uri)) => uri,
            (None, None) => durable,
        });
        let client = Client::with_options(options).map_err(error::map_other)?;
        // Every read goes to the primary, whatever the connection string's readPreference:
        // owed changes read from a lagging secondary would hide recent writes' markers from
        // the worker, and uniqueness and stock checks must see the latest writes.
        let db = client.database_with_options(
            &config.database,
            DatabaseOptions::builder()
                .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
                .build(),
        );
        let mut store = Self {
            db,
            op_timeout: config.operation_timeout,
            locks: false,
            ferretdb: false,
            lock_queue: std::sync::Arc::new(keyed_lock::r#async::KeyedLock::new()),
            config,
        };
        let info = store
            .run_raw(store.db.run_command(doc! { "buildInfo": 1 }))
            .await
            .map_err(error::map_other)?;
        store.ferretdb = crate::lock::is_ferretdb(&info);
        store.locks = store.config.document_locks.unwrap_or(store.ferretdb);
        tracing::debug!(
            ferretdb = store.ferretdb,
            document_locks = store.locks,
            "server detected"
        );
        store.migrate().await?;
        Ok(store)
    }

    /// Creates the collections' indexes (unique keys, lookups, owed changes). Idempotent;
    /// [`MongoStore::connect`] calls it.
    #[tracing::instrument(skip(self), fields(db = %self.config.database), err(Display))]
    pub async fn migrate(&self) -> Result<()> {
        self.run_raw(schema::migrate(&self.db, self.ferretdb))
            .await
            .map_err(error::map_other)
    }

    /// Whether updates take per-document locks (on FerretDB by default; see
    /// [`crate::MongoConfigBuilder::document_locks`]).
    pub fn document_locks(&self) -> bool {
        self.locks
    }

    /// The settings this store was connected with.
    pub fn config(&self) -> &MongoConfig {
        &self.config
    }

    /// The driver's database handle, for what SwiftBox does not cover (reporting, backups).
    /// Writing to SwiftBox's collections through it bypasses the sync bookkeeping.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The collection of `kind`.
    pub(crate) fn coll(&self, kind: EntityKind) -> Collection<Document> {
        self.db.collection(schema::collection_name(kind))
    }

    /// Runs driver work under the operation timeout.
    pub(crate) async fn run_raw<T>(
        &self,
        fut: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> mongodb::error::Result<T> {
        match tokio::time::timeout(self.op_timeout, fut.into_future()).await {
            Ok(r) => r,
            Err(_) => Err(mongodb::error::Error::custom(OperationTimedOut)),
        }
    }

    /// Runs driver work under the operation timeout, mapping errors for entities of `kind`.
    pub(crate) async fn run<T>(
        &self,
        kind: EntityKind,
        fut: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T> {
        self.run_raw(fut).await.map_err(|e| error::map(kind, e))
    }

    /// One live document by id.
    pub(crate) async fn find_live(&self, kind: EntityKind, id: &str) -> Result<Option<Document>> {
        let coll = self.coll(kind);
        self.run(kind, coll.find_one(crate::sync::live(id))).await
    }

    /// One live document by id, or NotFound.
    pub(crate) async fn get_live(&self, kind: EntityKind, id: &str) -> Result<Document> {
        self.find_live(kind, id)
            .await?
            .ok_or_else(|| Error::not_found(kind, id))
    }

    /// A page of live documents matching `filter`, by `_id` after the cursor.
    pub(crate) async fn page<T>(
        &self,
        kind: EntityKind,
        mut filter: Document,
        page: &PageRequest,
        convert: impl Fn(Document) -> Result<T>,
        id: impl Fn(&T) -> String,
    ) -> Result<Page<T>> {
        page.validate()?;
        filter.insert("deleted", false);
        if let Some(after) = &page.after {
            filter.insert("_id", doc! { "$gt": after.as_str() });
        }
        let coll = self.coll(kind);
        let docs: Vec<Document> = self
            .run(kind, async {
                coll.find(filter)
                    .sort(doc! { "_id": 1 })
                    .limit(i64::from(page.limit) + 1)
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        let items = docs.into_iter().map(convert).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.limit, id))
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn ping_impl(&self) -> Result<()> {
        self.run_raw(self.db.run_command(doc! { "ping": 1 }))
            .await
            .map(drop)
            .map_err(error::map_other)
    }
}

#[async_trait]
impl PrimaryStore for MongoStore {
    async fn ping(&self) -> Result<()> {
        self.ping_impl().await
    }
}
