//! MovieLens-100k as the `recbole` wheel on PyPI ships it (figure 6, issue 16).
//!
//! GroupLens' licence forbids redistributing the data, so it is never committed: [`fetch`]
//! runs `pip download --no-deps recbole==1.2.1 -d <cache>` once (nothing is installed; the
//! wheel is a zip), then reads `recbole/dataset_example/ml-100k/ml-100k.inter` out of it on
//! every run. The file is tab-separated with a header line: user, item, rating, timestamp.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use swiftbox_core::{Error, Result};

/// The wheel's file name under the cache folder.
pub const WHEEL: &str = "recbole-1.2.1-py3-none-any.whl";

/// The data file inside the wheel.
pub const ENTRY: &str = "recbole/dataset_example/ml-100k/ml-100k.inter";

/// One rating: in the implicit protocol, one purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rating {
    /// MovieLens user id.
    pub user: u32,
    /// MovieLens item (movie) id.
    pub item: u32,
    /// 1..=5 stars (unused by the implicit protocol).
    pub stars: u8,
    /// Seconds since the epoch.
    pub timestamp: i64,
}

/// The default cache folder: `target/bench/cache` (ignored by git, as `target/` is).
pub fn default_cache() -> PathBuf {
    PathBuf::from("target/bench/cache")
}

/// The wheel in `cache`, downloaded there first when it is not: `pip download` (then
/// `python3 -m pip download` when there is no `pip`).
pub fn wheel(cache: &Path) -> Result<PathBuf> {
    let path = cache.join(WHEEL);
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(cache)
        .map_err(|e| Error::backend("movielens", format!("cannot create {cache:?}: {e}")))?;
    let args = ["download", "--no-deps", "recbole==1.2.1", "-d"];
    let mut tried = Vec::new();
    for (program, pre) in [("pip", &[][..]), ("python3", &["-m", "pip"][..])] {
        match Command::new(program)
            .args(pre)
            .args(args)
            .arg(cache)
            .output()
        {
            Ok(out) if out.status.success() && path.is_file() => return Ok(path),
            Ok(out) => tried.push(format!(
                "{program}: {}; {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => tried.push(format!("{program}: {e}")),
        }
    }
    Err(Error::backend(
        "movielens",
        format!(
            "cannot download the recbole 1.2.1 wheel into {cache:?} (needs pip and PyPI): {}",
            tried.join(" / ")
        ),
    ))
}

/// Every rating of MovieLens-100k, read from the wheel in `cache` (downloaded first if needed).
pub fn fetch(cache: &Path) -> Result<Vec<Rating>> {
    let path = wheel(cache)?;
    let file = std::fs::File::open(&path)
        .map_err(|e| Error::backend("movielens", format!("cannot open {path:?}: {e}")))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| Error::backend("movielens", format!("{path:?} is not a zip: {e}")))?;
    let mut entry = zip
        .by_name(ENTRY)
        .map_err(|e| Error::backend("movielens", format!("{ENTRY} in {path:?}: {e}")))?;
    let mut text = String::new();
    entry
        .read_to_string(&mut text)
        .map_err(|e| Error::backend("movielens", format!("cannot read {ENTRY}: {e}")))?;
    parse(&text)
}

/// Parses the `.inter` text: a header line naming `user_id`, `item_id`, `rating` and
/// `timestamp` (in that order, with their recbole type suffixes), then one tab-separated
/// rating per line.
pub fn parse(text: &str) -> Result<Vec<Rating>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let names: Vec<&str> = header
        .split('\t')
        .map(|c| c.split(':').next().unwrap_or_default())
        .collect();
    if names != ["user_id", "item_id", "rating", "timestamp"] {
        return Err(Error::invalid(
            "movielens",
            format!("unexpected header {header:?}"),
        ));
    }
    let bad = |n: usize, line: &str| Error::invalid("movielens", format!("line {n}: {line:?}"));
    let mut out = Vec::with_capacity(100_000);
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut cols = line.split('\t');
        let mut next = || cols.next().map(str::trim).ok_or_else(|| bad(i + 2, line));
        let user = next()?.parse().map_err(|_| bad(i + 2, line))?;
        let item = next()?.parse().map_err(|_| bad(i + 2, line))?;
        let stars = next()?
            .parse::<f64>()
            .ok()
            .filter(|s| (1.0..=5.0).contains(s))
            .ok_or_else(|| bad(i + 2, line))? as u8;
        let timestamp = next()?.parse::<f64>().map_err(|_| bad(i + 2, line))? as i64;
        out.push(Rating {
            user,
            item,
            stars,
            timestamp,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_recbole_layout() {
        let text = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
                    196\t242\t3\t881250949\n186\t302\t3\t891717742\n";
        let r = parse(text).unwrap();
        assert_eq!(
            r,
            vec![
                Rating {
                    user: 196,
                    item: 242,
                    stars: 3,
                    timestamp: 881_250_949
                },
                Rating {
                    user: 186,
                    item: 302,
                    stars: 3,
                    timestamp: 891_717_742
                }
            ]
        );
        let err = parse("a\tb\n1\t2\n").unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
        let err =
            parse("user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\tx\t3\t4\n")
                .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
    }
}
