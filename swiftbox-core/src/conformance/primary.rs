//! The [`PrimaryStore`](crate::PrimaryStore) and [`SyncLedger`](crate::SyncLedger) conformance suite (a backend implements both: [`PrimaryBackend`](crate::PrimaryBackend)).
//!
//! Each check is a public async function taking a **fresh, empty** store and panicking with a
//! clear message on a violation. A backend runs them all with
//! [`primary_conformance_tests!`](crate::primary_conformance_tests), which expands into one
//! `#[tokio::test]` per check, each on its own fresh store:
//!
//! ```ignore
//! // my-backend/tests/primary.rs (needs `tokio` as a dev-dependency)
//! swiftbox_core::primary_conformance_tests!(|| async { MyStore::connect_fresh().await.unwrap() });
//! ```
//!
//! Besides the trait docs, the suite pins these decisions (see
//! [`MemoryStore`](crate::memory::MemoryStore)): reserving stock in `place_order` does not bump
//! the product's version; a category filter naming no category lists nothing; `credentials`
//! matches the username exactly or the e-mail ignoring case; `record_sync_failure` with
//! `set_aside_after == 0` never sets aside; a new write resets attempts and set-aside but keeps
//! `last_error`; a failure of a change already set aside keeps its retry schedule; `expected_graph` accepts `limit` in 1..=10000 and an id-shaped `after`.

mod entities;
mod idempotent;
mod invalid;
mod leases;
mod orders;
mod set_aside;
mod support;
mod sync;

pub use entities::{
    authenticate, categories_crud, products_crud, query_operators_are_literal, reviews_crud,
    user_uniqueness, users_crud,
};
pub use idempotent::{concurrent_retries_place_one_order, idempotent_orders};
pub use invalid::{
    category_bad_input, order_bad_input, product_bad_input, review_bad_input, user_bad_input,
};
pub use leases::lease_records_swap_atomically;
pub use orders::{
    cancelled_placements_leak_no_stock, concurrent_orders_never_oversell, orders_crud, pagination,
};
pub use set_aside::set_aside_retries_and_listing;
pub use sync::{
    ack_settles_only_the_acknowledged_version, deletes_leave_tombstones_until_acknowledged,
    dependents_of_deleted_entities_become_deletes, expected_graph_pages,
    failures_set_aside_and_release, owed_before_filter, owed_order_and_partitions,
    sync_stats_counts, writes_owe_one_change_each,
};

/// Expands into one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per check of
/// [`swiftbox_core::conformance::primary`](crate::conformance::primary), each calling `$make`
/// (a closure or function with no arguments returning a future of the store) for a fresh,
/// empty store. Requires `tokio` (with `macros` and `rt-multi-thread`) in the calling crate.
///
/// ```ignore
/// swiftbox_core::primary_conformance_tests!(|| async { swiftbox_core::memory::MemoryStore::new() });
/// ```
///
/// A backend whose server may be missing passes `skippable:` and a maker returning a future of
/// `Option<store>`: on `None` the test returns at once, so the maker must say loudly why (as
/// `swiftbox_testsupport::mongo()` does, or panic under CI).
///
/// ```ignore
/// swiftbox_core::primary_conformance_tests!(skippable: || async { fresh_store_if_server().await });
/// ```
#[macro_export]
macro_rules! primary_conformance_tests {
    (@list @$mode:ident $make:expr) => {
        $crate::primary_conformance_tests!(@checks @$mode $make;
            users_crud,
            user_uniqueness,
            authenticate,
            query_operators_are_literal,
            categories_crud,
            products_crud,
            reviews_crud,
            orders_crud,
            concurrent_orders_never_oversell,
            idempotent_orders,
            concurrent_retries_place_one_order,
            cancelled_placements_leak_no_stock,
            pagination,
            user_bad_input,
            category_bad_input,
            product_bad_input,
            order_bad_input,
            review_bad_input,
            writes_owe_one_change_each,
            ack_settles_only_the_acknowledged_version,
            deletes_leave_tombstones_until_acknowledged,
            dependents_of_deleted_entities_become_deletes,
            owed_order_and_partitions,
            owed_before_filter,
            failures_set_aside_and_release,
            set_aside_retries_and_listing,
            sync_stats_counts,
            expected_graph_pages,
            lease_records_swap_atomically,
        );
    };
    (@checks @always $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = ($make)().await;
                $crate::conformance::primary::$check(&store).await;
            }
        )*
    };
    (@checks @skippable $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(store) = ($make)().await else { return };
                $crate::conformance::primary::$check(&store).await;
            }
        )*
    };
    (skippable: $make:expr) => {
        $crate::primary_conformance_tests!(@list @skippable $make);
    };
    ($make:expr) => {
        $crate::primary_conformance_tests!(@list @always $make);
    };
}
