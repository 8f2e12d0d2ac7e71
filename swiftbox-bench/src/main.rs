//! `swiftbox-bench`: runs the benchmark figures, prints a Markdown table and writes JSON.
//!
//! ```text
//! swiftbox-bench [--quick] [--scales s,m,l] [--backends memory,servers] [--figures 1,2,3,4,5,6,7]
//!                [--json PATH] [--lag-rate N] [--lag-seconds N] [--lag-warmup N] [--lag-workers N] [--catalog U,P] [--mongo-lag-rate N,...]
//!                [--resync-batch N] [--resync-in-flight N] [--mongo-max-orders N] [--data-cache DIR]
//!                [--scale-workers 1,2,4] [--scale-rates N,..] [--scale-mongo-rates N,..] [--scale-seconds N]
//!                [--repeat N] [--query-reps N] [--no-warm-up] [--keep-graphs]
//! swiftbox-bench --compare A.json B.json [C.json ...] [--stated X.json [Y.json ...]]
//! ```
//! By default the timed figures run once as a warm-up (reported apart) and then three counted
//! times: each row is the median of the counted passes, with their range.
//! The servers backend is used when `SWIFTBOX_MONGO_URI` and `SWIFTBOX_NEO4J_URI` are set
//! (`eval "$(scripts/servers.sh start)"`), unless `--backends` says otherwise. Exits with 1 when
//! a store fails, 2 when a correctness check fails, 64 on a bad argument.
//!
//! `--compare` reads the reports of several runs (their JSON, or the tables they printed) and
//! prints, per measurement, whether every run's median lies within every other run's range of
//! passes, and whether the goal verdicts agree (`swiftbox_bench::compare`); with `--stated`,
//! also whether every run's median lies within the range of all the passes of the stated
//! (earlier) runs. Each count comes with the count chance alone would give.

use std::process::ExitCode;

use swiftbox_bench::{run, Backend, BenchConfig, Scale, ServerConfig};

/// `--compare A.json B.json ... [--stated X.json ...]`: prints whether the runs reproduce one
/// another, and the stated runs' spread.
fn compare(args: &[String]) -> ExitCode {
    let (paths, stated) = match args.iter().position(|a| a == "--stated") {
        Some(at) if at + 1 < args.len() => (&args[..at], &args[at + 1..]),
        Some(_) => return usage("--stated needs at least one report"),
        None => (args, &[][..]),
    };
    let read = |paths: &[String]| -> Result<Vec<String>, String> {
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}")))
            .collect()
    };
    let texts = read(paths).and_then(|t| Ok((t, read(stated)?)));
    match texts.and_then(|(t, s)| swiftbox_bench::compare::compare(&t, &s)) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(msg) => usage(&msg),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("swiftbox-bench: {msg}");
    eprintln!(
        "usage: swiftbox-bench [--quick] [--scales s,m,l] [--backends memory,servers] \
         [--figures 1,2,3,4,5,6,7] [--json PATH] [--lag-rate N] [--lag-seconds N] [--lag-warmup N] [--lag-workers N] [--catalog U,P] [--mongo-lag-rate N,...] [--resync-batch N] \
         [--resync-in-flight N] [--mongo-max-orders N] [--data-cache DIR] [--scale-workers N,..] \
         [--scale-rates N,..] [--scale-mongo-rates N,..] [--scale-seconds N] [--repeat N] [--query-reps N] [--no-warm-up] [--keep-graphs]\n\
         \x20      swiftbox-bench --compare A.json B.json [C.json ...] [--stated X.json [Y.json ...]]"
    );
    ExitCode::from(64)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--compare") {
        return compare(&args[1..]);
    }
    let servers = ServerConfig::from_env();
    let default_backends = if servers.is_some() {
        vec![Backend::Memory, Backend::Servers]
    } else {
        vec![Backend::Memory]
    };
    let mut cfg = if args.iter().any(|a| a == "--quick") {
        BenchConfig::quick(default_backends, servers)
    } else {
        BenchConfig::full(default_backends, servers)
    };
    let mut json = String::from("target/bench/latest.json");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        let r: Result<(), String> = (|| {
            match arg.as_str() {
                "--quick" => {}
                "--scales" => {
                    cfg.scales = value(arg)?
                        .split(',')
                        .map(|s| Scale::parse(s).ok_or(format!("unknown scale {s}")))
                        .collect::<Result<_, _>>()?;
                }
                "--backends" => {
                    cfg.backends = value(arg)?
                        .split(',')
                        .map(|s| match s {
                            "memory" => Ok(Backend::Memory),
                            "servers" => Ok(Backend::Servers),
                            _ => Err(format!("unknown backend {s}")),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "--figures" => {
                    cfg.figures = value(arg)?
                        .split(',')
                        .map(|s| s.parse().map_err(|_| format!("bad figure {s}")))
                        .collect::<Result<_, _>>()?;
                }
                "--json" => json = value(arg)?,
                "--lag-rate" => {
                    cfg.lag_load.0 = value(arg)?.parse().map_err(|_| "bad --lag-rate")?;
                }
                "--lag-seconds" => {
                    cfg.lag_load.1 = value(arg)?.parse().map_err(|_| "bad --lag-seconds")?;
                }
                "--catalog" => {
                    let v = value(arg)?;
                    let (u, p) = v.split_once(',').ok_or("bad --catalog (USERS,PRODUCTS)")?;
                    cfg.catalog = (
                        u.parse().map_err(|_| "bad --catalog users")?,
                        p.parse().map_err(|_| "bad --catalog products")?,
                    );
                    if cfg.catalog.0 == 0 || cfg.catalog.1 == 0 {
                        return Err("--catalog needs at least one user and one product".into());
                    }
                }
                "--mongo-lag-rate" => {
                    let list = value(arg)?
                        .split(',')
                        .map(|s| s.parse::<u32>().ok())
                        .collect::<Option<Vec<u32>>>()
                        .ok_or("bad --mongo-lag-rate (integers, comma-separated; 0 skips)")?;
                    // `0` alone (the old spelling) skips the MongoDB runs.
                    let mut rates: Vec<u32> = Vec::new();
                    for r in list.into_iter().filter(|r| *r > 0) {
                        if !rates.contains(&r) {
                            rates.push(r);
                        }
                    }
                    cfg.mongo_lag_rates = rates;
                }
                "--lag-warmup" => {
                    cfg.lag_warmup = value(arg)?.parse().map_err(|_| "bad --lag-warmup")?;
                }
                "--scale-workers" | "--scale-rates" | "--scale-mongo-rates" => {
                    let list = value(arg)?
                        .split(',')
                        .map(|s| s.parse::<u32>().ok().filter(|n| *n > 0))
                        .collect::<Option<Vec<u32>>>()
                        .ok_or(format!("bad {arg} (positive integers, comma-separated)"))?;
                    match arg.as_str() {
                        "--scale-workers" => cfg.scale_workers = list,
                        "--scale-rates" => cfg.scale_rates = list,
                        _ => cfg.scale_mongo_rates = list,
                    }
                }
                "--scale-seconds" => {
                    cfg.scale_load.0 = value(arg)?.parse().map_err(|_| "bad --scale-seconds")?;
                }
                "--lag-workers" => {
                    cfg.lag_workers = value(arg)?.parse().map_err(|_| "bad --lag-workers")?;
                }
                "--resync-batch" => {
                    cfg.resync_batch = value(arg)?.parse().map_err(|_| "bad --resync-batch")?;
                }
                "--resync-in-flight" => {
                    cfg.resync_in_flight =
                        value(arg)?.parse().map_err(|_| "bad --resync-in-flight")?;
                }
                "--mongo-max-orders" => {
                    cfg.mongo_load_max_orders =
                        value(arg)?.parse().map_err(|_| "bad --mongo-max-orders")?;
                }
                "--data-cache" => cfg.data_cache = value(arg)?.into(),
                "--repeat" => {
                    cfg.repeat = value(arg)?.parse().map_err(|_| "bad --repeat")?;
                    if cfg.repeat == 0 {
                        return Err("--repeat needs at least one pass".into());
                    }
                }
                "--query-reps" => {
                    cfg.query_reps = value(arg)?.parse().map_err(|_| "bad --query-reps")?;
                    if cfg.query_reps == 0 {
                        return Err("--query-reps needs at least one repetition".into());
                    }
                }
                "--no-warm-up" => cfg.warm_up = false,
                "--keep-graphs" => cfg.keep_graphs = true,
                other => return Err(format!("unknown argument {other}")),
            }
            Ok(())
        })();
        if let Err(msg) = r {
            return usage(&msg);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("swiftbox-bench: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let report = match runtime.block_on(run(&cfg)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("swiftbox-bench: {e}");
            return ExitCode::from(1);
        }
    };
    let m = &report.meta;
    println!(
        "swiftbox-bench {} at {} (commit {}), {} CPUs, load {:.1} at start",
        if m.quick { "--quick" } else { "full run" },
        m.started,
        m.commit.as_deref().unwrap_or("?"),
        m.cpus,
        m.load_at_start
    );
    println!(
        "{} counted pass(es){}",
        m.passes,
        if report.warm_up.is_empty() {
            ""
        } else {
            " after a warm-up pass"
        }
    );
    if let Some(c) = &m.cpu {
        println!(
            "CPU time of the machine during the run (/proc/stat, all CPUs): {:.1}% busy, {:.1}% waiting for I/O, {:.1}% stolen by the hypervisor",
            c.busy, c.iowait, c.steal
        );
    }
    for d in &m.datasets {
        println!("dataset {d}");
    }
    if let (Some(mo), Some(neo)) = (&m.mongo_server, &m.neo4j_server) {
        println!("servers: {mo}; {neo}");
    }
    for n in &m.notes {
        println!("note: {n}");
    }
    println!("\n{}", report.table());
    match serde_json::to_string_pretty(&report) {
        Ok(text) => {
            let path = std::path::Path::new(&json);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            match std::fs::write(path, text) {
                Ok(()) => println!("wrote {json}"),
                Err(e) => eprintln!("swiftbox-bench: cannot write {json}: {e}"),
            }
        }
        Err(e) => eprintln!("swiftbox-bench: cannot serialise the report: {e}"),
    }
    if report.failed_checks().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
