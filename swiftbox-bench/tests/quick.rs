//! Runs the benchmark in quick mode, so the harness never rots: every figure on the memory
//! backends, and on the real servers when `SWIFTBOX_MONGO_URI` / `SWIFTBOX_NEO4J_URI` name them
//! (skipped loudly otherwise, a failure under `CI`). Asserts the correctness checks each figure
//! makes and that each figure reported; never a time.

use swiftbox_bench::{run, Backend, BenchConfig, Report, ServerConfig};

fn assert_complete(report: &Report, backend: &str) {
    let failed = report.failed_checks();
    assert!(failed.is_empty(), "failed checks: {failed:#?}");
    for figure in [1u8, 2, 3, 4, 7] {
        assert!(
            report
                .rows
                .iter()
                .any(|r| r.figure == figure && r.backend.contains(backend)),
            "figure {figure} reported nothing for {backend}:\n{}",
            report.table()
        );
    }
    // Figure 4 compares five queries, each on several inputs, with the primary-only answer.
    let compared = report
        .checks
        .iter()
        .filter(|c| c.name.starts_with("fig4") && c.name.contains(backend))
        .count();
    assert!(
        compared >= 5 * 4,
        "only {compared} query comparisons for {backend}"
    );
}

/// Runs the bench as its binary does: polled on a thread with a main thread's stack (8 MiB),
/// not a test thread's 2 MiB. A debug build of the whole run (every figure, the drivers' deep poll
/// chains) overflowed 2 MiB in `quick_mode_on_real_servers`, twice and with different
/// builds, even with every figure's future boxed.
fn run_like_the_binary(cfg: BenchConfig) -> Report {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(run(&cfg)).expect("quick bench")
        })
        .expect("the bench thread")
        .join()
        .expect("the bench thread panicked (its message is above)")
}

#[test]
fn quick_mode_on_memory_backends() {
    let report = run_like_the_binary(BenchConfig::quick(vec![Backend::Memory], None));
    assert_complete(&report, "memory");
}

#[test]
fn quick_mode_on_real_servers() {
    // The test-support helper decides: env, else skip loudly (or fail under CI).
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some((mongo, neo4j)) = rt.block_on(async {
        Some((
            swiftbox_testsupport::mongo().await?,
            swiftbox_testsupport::neo4j().await?,
        ))
    }) else {
        return;
    };
    let servers = ServerConfig {
        mongo_uri: mongo.uri.clone(),
        neo4j_uri: neo4j.uri.clone(),
        neo4j_user: neo4j.user.clone(),
        neo4j_password: neo4j.password.clone(),
    };
    let report = run_like_the_binary(BenchConfig::quick(vec![Backend::Servers], Some(servers)));
    assert_complete(&report, "neo4j");
}
