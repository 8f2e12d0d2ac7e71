//! A server outage mid-run: calls fail with the retryable `Unavailable` kind while the server
//! is down, and the same `MongoStore` (no reconnect, no new store) works again once it is
//! back, with nothing lost.
//!
//! It stops and restarts a *private* FerretDB (the launcher `scripts/servers.sh ferretdb-bin`
//! builds, or `SWIFTBOX_FERRETDB_BIN`) on a port and data directory of its own, so the shared
//! test server is never disturbed. Without the launcher it is skipped loudly (fails under CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use swiftbox_core::{
    Currency, EntityKind, EntityRef, Error, Money, NewCategory, NewOrder, NewOrderItem, NewProduct,
    NewUser, PrimaryStore,
};
use swiftbox_mongo::{MongoConfig, MongoStore};

/// A FerretDB process of this test's own, killed on drop.
struct PrivateFerret {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl PrivateFerret {
    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.port)
    }

    /// Starts the server on this instance's port and data directory; waits until it listens.
    fn start(&mut self) {
        let uri_file = self.dir.join("uri");
        let _ = std::fs::remove_file(&uri_file);
        let child = Command::new(&self.bin)
            .arg("-listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("-data-dir")
            .arg(self.dir.join("data"))
            .arg("-uri-file")
            .arg(&uri_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        for _ in 0..600 {
            if uri_file.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "private FerretDB did not start listening on port {}",
            self.port
        );
    }

    /// Kills the server (as a crash or an operator would) and waits for it to be gone.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateFerret {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The launcher's path, or `None` after a loud skip (a panic under CI).
fn ferretdb_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SWIFTBOX_FERRETDB_BIN") {
        return Some(PathBuf::from(p));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/servers.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("ferretdb-bin")
        .stderr(Stdio::inherit())
        .output();
    let why = match out {
        Ok(o) if o.status.success() => {
            let path = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if Path::new(&path).is_file() {
                return Some(PathBuf::from(path));
            }
            format!("`servers.sh ferretdb-bin` printed no launcher ({path:?})")
        }
        Ok(o) => format!("`servers.sh ferretdb-bin` failed with {}", o.status),
        Err(e) => format!("cannot run {}: {e}", script.display()),
    };
    let why =
        format!("no FerretDB launcher for a private server: {why}; set SWIFTBOX_FERRETDB_BIN");
    if swiftbox_testsupport::in_ci() {
        panic!("{why}");
    }
    swiftbox_testsupport::skip(&why);
    None
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

fn assert_unavailable<T: std::fmt::Debug>(r: swiftbox_core::Result<T>, what: &str) {
    match r {
        Err(e @ Error::Unavailable { .. }) => assert!(e.is_retryable(), "{what}: {e}"),
        other => panic!("{what}: expected unavailable while the server is down, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_gives_unavailable_then_the_same_store_recovers() {
    let Some(bin) = ferretdb_bin() else { return };
    let dir = std::env::temp_dir().join(swiftbox_testsupport::unique_name("mongo_outage"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut ferret = PrivateFerret {
        bin,
        dir,
        port: free_port(),
        child: None,
    };
    ferret.start();

    let config = MongoConfig::builder(ferret.uri(), "outage")
        .server_selection_timeout(Duration::from_millis(1500))
        .connect_timeout(Duration::from_millis(1500))
        .operation_timeout(Duration::from_secs(10))
        .build()
        .expect("config");
    let store = MongoStore::connect_with(config).await.expect("connect");
    let ann = store
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .expect("user");
    let books = store
        .create_category(NewCategory::new("Books"))
        .await
        .expect("category");
    let dune = store
        .create_product(NewProduct {
            name: "Dune".into(),
            description: String::new(),
            price: Money::new(1999, Currency::USD),
            images: vec![],
            category: books.id,
            stock: 5,
        })
        .await
        .expect("product");

    ferret.stop();

    assert_unavailable(store.ping().await, "ping");
    assert_unavailable(store.get_product(&dune.id).await, "get_product");
    assert_unavailable(
        store
            .create_user(NewUser::new("bob", "bob@example.com"))
            .await,
        "create_user",
    );
    let order = NewOrder {
        user: ann.id,
        items: vec![NewOrderItem {
            product: dune.id,
            quantity: 2,
        }],
        shipping: common::shipping(),
    };
    assert_unavailable(store.place_order(order.clone()).await, "place_order");
    assert_unavailable(
        store
            .owed_changes(&swiftbox_core::OwedQuery::oldest(10))
            .await,
        "owed_changes",
    );

    ferret.start();

    // The same store, untouched: the driver reconnects by itself. Retry as a caller of a
    // retryable error would (bounded, so a broken recovery fails rather than hangs).
    let mut back = None;
    for _ in 0..60 {
        match store.get_product(&dune.id).await {
            Ok(p) => {
                back = Some(p);
                break;
            }
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => panic!("after restart: {e}"),
        }
    }
    let back = back.expect("the store never recovered after the server came back");
    assert_eq!(back.stock, 5, "nothing taken by the order that failed");
    assert_eq!(back, dune);

    let placed = store
        .place_order(order)
        .await
        .expect("order after recovery");
    assert_eq!(placed.total.minor, 2 * 1999);
    assert_eq!(store.get_product(&dune.id).await.expect("get").stock, 3);
    let bob = store
        .create_user(NewUser::new("bob", "bob@example.com"))
        .await
        .expect("a write refused during the outage succeeds now");
    let owed = store
        .owed_change(&EntityRef::new(EntityKind::User, bob.id))
        .await
        .expect("owed");
    assert!(
        owed.is_some(),
        "the write after recovery owes its graph change"
    );
}
