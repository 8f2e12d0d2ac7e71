//! `swiftbox-bench --compare A.json B.json ...`: whether runs reproduce one another.
//!
//! A measurement (figure, scale, backend, what) *reproduces* when the median of every run lies
//! within the range of the passes of every other run: each run's stated spread covers the
//! others' results. Runs of one pass have no spread, so their medians must be equal. A weaker
//! test is also shown: every two runs' ranges of passes *overlap*. The spread of the runs'
//! medians (highest over lowest, in percent) says how far apart the runs are whatever their
//! own spreads. The goal verdicts of the runs are compared too: a goal that is met in one run
//! and missed or unsettled in another has not settled.
//!
//! With `--stated X.json Y.json ...` (earlier runs, such as those BENCHMARKS.md was written
//! from), each measurement is also checked against the spread those runs *state*: the range of
//! all their passes together. It is *predicted* when every compared run's median lies within
//! it, the test of a published figure that a later run on fresh servers should meet.
//!
//! A report is a run's JSON, or the Markdown table the run printed (`swiftbox-bench ... >
//! runN.out`, as `docs/bench/` keeps them; [`table`]): a table gives each measurement's
//! median, range and number of passes, all a comparison reads, rounded as the table prints
//! them.
//!
//! # What chance alone would give
//!
//! Three passes make a narrow range, so even runs that differ by nothing but pass-to-pass
//! noise often fail these tests. Each summary line therefore also says how many measurements
//! would pass were every pass of every run (the stated ones included) an independent draw from
//! one distribution, and how likely a count as low as the one seen would then be, were the
//! measurements also independent of one another ([`chance`]). They are not quite: a slow pass
//! moves a query's p50 and p99 together, and a growth row is the quotient of two others, so
//! read the expected count first and the probability as a rough guide. Two runs of three
//! passes have overlapping ranges with probability 0.9; three runs of three, every two of them,
//! with probability 27/35 (about 41 of 53 measurements); the median of a run of three lies
//! within the range of nine earlier passes with probability 10/11, and the medians of three
//! such runs all do with probability about 0.78 (about 41 of 53); every run's median lies
//! within every other's range with probability 9/70 (about 7 of 53). A count well below the
//! expected one says that the runs differ by more than their passes do: the host's speed from
//! one hour to the next, or the code.

mod chance;
mod table;

use std::fmt::Write as _;

use serde_json::Value;

use crate::report::{num, range};
use chance::{Chance, Test};
use table::table_rows;

/// One measurement of one run.
#[derive(Debug, Clone)]
struct Measured {
    value: f64,
    range: (f64, f64),
    /// How many passes the median and range are of.
    passes: usize,
    unit: String,
    verdict: &'static str,
}

/// The key of a measurement across runs.
type Key = (u64, String, String, String);

fn verdict(row: &Value) -> &'static str {
    if row.get("unsettled").and_then(Value::as_bool) == Some(true) {
        return "unsettled";
    }
    match row.get("met").and_then(Value::as_bool) {
        Some(true) => "met",
        Some(false) => "missed",
        None => "",
    }
}

/// The rows of one run's report (its JSON or its printed table), in their order.
fn rows(text: &str) -> Result<Vec<(Key, Measured)>, String> {
    if text.trim_start().starts_with('{') {
        json_rows(text)
    } else {
        table_rows(text)
    }
}

/// The rows of one run's JSON report.
fn json_rows(text: &str) -> Result<Vec<(Key, Measured)>, String> {
    let json: Value = serde_json::from_str(text).map_err(|e| format!("not a bench report: {e}"))?;
    let rows = json
        .get("rows")
        .and_then(Value::as_array)
        .ok_or("not a bench report: no rows")?;
    let s = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    rows.iter()
        .map(|r| {
            // serde_json writes NaN (a figure with no sample) as null.
            let value = match r.get("value") {
                Some(Value::Null) => f64::NAN,
                Some(v) => v.as_f64().ok_or("a row whose value is not a number")?,
                None => return Err("a row without a value".to_owned()),
            };
            let range = match r.get("range").and_then(Value::as_array) {
                Some(lohi) if lohi.len() == 2 => (
                    lohi[0].as_f64().unwrap_or(value),
                    lohi[1].as_f64().unwrap_or(value),
                ),
                _ => (value, value),
            };
            let figure = r.get("figure").and_then(Value::as_u64).unwrap_or(0);
            Ok::<_, String>((
                (figure, s(r, "scale"), s(r, "backend"), s(r, "what")),
                Measured {
                    value,
                    range,
                    passes: r
                        .get("passes")
                        .and_then(Value::as_u64)
                        .and_then(|p| usize::try_from(p).ok())
                        .unwrap_or(1)
                        .max(1),
                    unit: s(r, "unit"),
                    verdict: verdict(r),
                },
            ))
        })
        .collect()
}

/// `key`'s measurement in every run of `runs` that has it.
fn found<'a>(runs: &'a [Vec<(Key, Measured)>], key: &Key) -> Vec<&'a Measured> {
    runs.iter()
        .filter_map(|run| run.iter().find(|(k, _)| k == key).map(|(_, m)| m))
        .collect()
}

/// The spread the runs `stated` give for `key`: the range of all their passes, and how many
/// passes that is, if every one of them has the measurement.
fn stated_range(stated: &[Vec<(Key, Measured)>], key: &Key) -> Option<((f64, f64), usize)> {
    let found = found(stated, key);
    (!found.is_empty() && found.len() == stated.len()).then(|| {
        let ends: Vec<f64> = found.iter().flat_map(|m| [m.range.0, m.range.1]).collect();
        (range(&ends), found.iter().map(|m| m.passes).sum())
    })
}

/// The comparison of the runs `texts` (their reports: JSON or printed tables) as a Markdown
/// table and a summary; with `stated` reports (earlier runs), also whether each measurement's
/// medians lie within the range of all the stated runs' passes (module docs).
pub fn compare(texts: &[String], stated: &[String]) -> Result<String, String> {
    if texts.len() < 2 {
        return Err("--compare needs at least two reports".into());
    }
    let runs: Vec<Vec<(Key, Measured)>> =
        texts.iter().map(|t| rows(t)).collect::<Result<_, _>>()?;
    let stated: Vec<Vec<(Key, Measured)>> =
        stated.iter().map(|t| rows(t)).collect::<Result<_, _>>()?;
    let mut out = String::new();
    let head: Vec<String> = (1..=runs.len()).map(|i| format!("run {i}")).collect();
    let stated_head = if stated.is_empty() {
        ""
    } else {
        " stated spread | within it |"
    };
    let _ = writeln!(
        out,
        "| fig | scale | backend | measured | {} | medians' spread | reproduces | ranges overlap |{stated_head} goal |",
        head.join(" | ")
    );
    let columns = 8 + runs.len() + if stated.is_empty() { 0 } else { 2 };
    let _ = writeln!(out, "|{}", "---|".repeat(columns));
    let (mut total, mut reproduced, mut overlapping, mut unsteady_goals) = (0, 0, 0, Vec::new());
    let (mut with_stated, mut predicted) = (0, 0);
    let mut chance = Chance::default();
    let describe = |k: &Key| format!("fig {} {} {} {}", k.0, k.1, k.2, k.3);
    let mut unmatched: Vec<String> = Vec::new();
    // Measurements of later runs that the first run does not have.
    for run in &runs[1..] {
        for (k, _) in run {
            if !runs[0].iter().any(|(k0, _)| k0 == k) && !unmatched.contains(&describe(k)) {
                unmatched.push(describe(k));
            }
        }
    }
    for (key, _) in &runs[0] {
        let found = found(&runs, key);
        if found.len() != runs.len() {
            unmatched.push(describe(key));
            continue;
        }
        total += 1;
        let passes: Vec<usize> = found.iter().map(|m| m.passes).collect();
        // A measurement without a value in some run has nothing for chance to say about.
        let valued = found.iter().all(|m| m.value.is_finite());
        let covered = found.iter().enumerate().all(|(i, a)| {
            found
                .iter()
                .enumerate()
                .all(|(j, b)| i == j || (b.range.0 <= a.value && a.value <= b.range.1))
        });
        if covered {
            reproduced += 1;
        }
        if valued {
            chance.note(&passes, 0, Test::Reproduces, covered);
        }
        let overlap = found.iter().all(|a| {
            found
                .iter()
                .all(|b| a.range.0 <= b.range.1 && b.range.0 <= a.range.1)
        });
        if overlap {
            overlapping += 1;
        }
        if valued {
            chance.note(&passes, 0, Test::Overlap, overlap);
        }
        let medians: Vec<f64> = found.iter().map(|m| m.value).collect();
        let (lo, hi) = range(&medians);
        let spread = if lo.abs() > 0.0 {
            format!("{:.0}%", (hi - lo) / lo.abs() * 100.0)
        } else if hi == lo {
            "0%".to_owned()
        } else {
            "-".to_owned()
        };
        let verdicts: Vec<&str> = found.iter().map(|m| m.verdict).collect();
        let goal = if verdicts.iter().all(|v| v.is_empty()) {
            String::new()
        } else if verdicts.windows(2).all(|w| w[0] == w[1]) {
            format!("{} in every run", verdicts[0])
        } else {
            unsteady_goals.push(describe(key));
            format!("**differs**: {}", verdicts.join(" / "))
        };
        let cells: Vec<String> = found
            .iter()
            .map(|m| {
                format!(
                    "{} ({}-{}) {}",
                    num(m.value),
                    num(m.range.0),
                    num(m.range.1),
                    m.unit
                )
            })
            .collect();
        let stated_cells = if stated.is_empty() {
            String::new()
        } else if let Some(((lo, hi), stated_passes)) = stated_range(&stated, key) {
            with_stated += 1;
            let within = found.iter().all(|m| lo <= m.value && m.value <= hi);
            if within {
                predicted += 1;
            }
            if valued {
                chance.note(&passes, stated_passes, Test::WithinStated, within);
            }
            format!(
                " {}-{} | {} |",
                num(lo),
                num(hi),
                if within { "yes" } else { "**no**" }
            )
        } else {
            " | not stated |".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {spread} | {} | {} |{stated_cells} {goal} |",
            key.0,
            key.1,
            key.2,
            key.3,
            cells.join(" | "),
            if covered { "yes" } else { "**no**" },
            if overlap { "yes" } else { "**no**" },
        );
    }
    let _ = writeln!(
        out,
        "\n{reproduced} of {total} measurements reproduce (every run's median within every other run's range of passes){}, \
         {overlapping} of {total} have overlapping ranges{}; {} goal verdict(s) differ between runs{}",
        chance.said(Test::Reproduces),
        chance.said(Test::Overlap),
        unsteady_goals.len(),
        if unsteady_goals.is_empty() {
            String::new()
        } else {
            format!(": {}", unsteady_goals.join("; "))
        }
    );
    if !stated.is_empty() {
        let _ = writeln!(
            out,
            "\n{predicted} of {with_stated} measurements lie within the spread the {} stated run(s) give \
             (every run's median within the range of all their passes){}; {} not in every stated run",
            stated.len(),
            chance.said(Test::WithinStated),
            total - with_stated,
        );
    }
    if !unmatched.is_empty() {
        let _ = writeln!(
            out,
            "\nNot in every run, so not compared: {}",
            unmatched.join("; ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What, median, range of passes, goal met.
    type TestRow<'a> = (&'a str, f64, (f64, f64), Option<bool>);

    fn report(rows: &[TestRow<'_>]) -> String {
        let rows: Vec<Value> = rows
            .iter()
            .map(|(what, v, (lo, hi), met)| {
                serde_json::json!({
                    "figure": 4, "scale": "M", "backend": "neo4j", "what": what,
                    "value": v, "unit": "ms", "range": [lo, hi], "met": met,
                })
            })
            .collect();
        serde_json::json!({ "rows": rows }).to_string()
    }

    /// A report of one measurement of three passes: median `v`, passes from `v - 1` to `v + 1`.
    fn three_passes(figure: u64, backend: &str, what: &str, v: f64, unit: &str) -> String {
        serde_json::json!({ "rows": [{
            "figure": figure, "scale": "M", "backend": backend, "what": what,
            "value": v, "unit": unit, "range": [v - 1.0, v + 1.0], "passes": 3,
        }]})
        .to_string()
    }

    #[test]
    fn runs_reproduce_when_each_median_lies_in_every_other_range() {
        let a = report(&[
            ("p99", 10.0, (9.0, 12.0), Some(true)),
            ("p50", 2.0, (1.9, 2.1), None),
        ]);
        let b = report(&[
            ("p99", 11.0, (9.5, 11.5), Some(true)),
            ("p50", 3.0, (2.9, 3.2), None),
        ]);
        let out = compare(&[a, b], &[]).expect("compare");
        assert!(out.contains("1 of 2 measurements reproduce"), "{out}");
        assert!(out.contains("1 of 2 have overlapping ranges"), "{out}");
        assert!(
            out.contains("| p99 |") && out.contains("met in every run"),
            "{out}"
        );
        assert!(out.contains("| p50 |") && out.contains("**no**"), "{out}");
    }

    #[test]
    fn differing_verdicts_are_named() {
        let a = report(&[("p99", 19.0, (18.0, 19.5), Some(true))]);
        let b = report(&[("p99", 21.0, (20.0, 22.0), Some(false))]);
        let out = compare(&[a, b], &[]).expect("compare");
        assert!(out.contains("**differs**: met / missed"), "{out}");
        assert!(out.contains("1 goal verdict(s) differ"), "{out}");
        assert!(compare(&["{}".into()], &[]).is_err());
        let c = report(&[
            ("p99", 19.0, (18.0, 19.5), Some(true)),
            ("new", 1.0, (1.0, 1.0), None),
        ]);
        let d = report(&[("p99", 19.0, (18.0, 19.5), Some(true))]);
        let out = compare(&[c, d], &[]).expect("compare");
        assert!(out.contains("not compared: fig 4 M neo4j new"), "{out}");
        assert!(compare(&["{}".into(), "[]".into()], &[]).is_err());
    }

    #[test]
    fn a_stated_spread_is_the_range_of_all_the_stated_passes() {
        // Stated: p99 passes 9-12 and 10-13, so 9-13; p50 in one stated run only.
        let x = report(&[
            ("p99", 10.0, (9.0, 12.0), Some(true)),
            ("p50", 2.0, (1.9, 2.1), None),
        ]);
        let y = report(&[("p99", 12.0, (10.0, 13.0), Some(true))]);
        // New runs: p99 medians 12.5 and 13.5 (outside), then 9 and 13 (the edges, inside).
        let a = report(&[
            ("p99", 12.5, (12.0, 13.0), Some(true)),
            ("p50", 2.0, (2.0, 2.0), None),
        ]);
        let b = report(&[
            ("p99", 13.5, (13.0, 14.0), Some(true)),
            ("p50", 2.0, (2.0, 2.0), None),
        ]);
        let out = compare(&[a.clone(), b], &[x.clone(), y.clone()]).expect("compare");
        assert!(out.contains("| 9.00-13.00 | **no** |"), "{out}");
        assert!(out.contains("| not stated |"), "{out}");
        assert!(
            out.contains("0 of 1 measurements lie within the spread the 2 stated run(s) give"),
            "{out}"
        );
        assert!(out.contains("1 not in every stated run"), "{out}");
        let c = report(&[("p99", 9.0, (9.0, 9.0), Some(true))]);
        let d = report(&[("p99", 13.0, (13.0, 13.0), Some(true))]);
        let out = compare(&[c, d], &[x, y]).expect("compare");
        assert!(out.contains("| 9.00-13.00 | yes |"), "{out}");
        assert!(out.contains("1 of 1 measurements lie within"), "{out}");
        assert!(compare(&[a.clone(), a], &["{}".into()]).is_err());
    }

    #[test]
    fn a_run_is_compared_with_a_printed_table_as_its_stated_spread() {
        let run = |v: f64| {
            let what = "resync (batch 5000, 2 in flight) purchases/s";
            three_passes(1, "memory+neo4j", what, v, "purchases/s")
        };
        // Stated: a printed table, with a measurement the runs do not have.
        let printed = "\
| fig | scale | backend | measured | value (median, range) | baseline | ratio | goal | met | n | load | note |
|---|---|---|---|---|---|---|---|---|---|---|---|
| 1 | M | memory+neo4j | resync (batch 5000, 2 in flight) purchases/s | 15102 purchases/s (12813-15367, 3 passes) | 748.6 purchases/s | 20.53x | >= 20x | NO | 199864 | 1.9 |  |
| 4 | M | memory+neo4j | popular p50 | 0.705 ms (0.688-0.792, 3 passes) |  |  |  |  |  | 1.8 |  |
";
        let out = compare(&[run(15000.0), run(16000.0)], &[printed.into()]).expect("compare");
        assert!(out.contains("| 12813-15367 | **no** |"), "{out}");
        let out = compare(&[run(13000.0), run(15000.0)], &[printed.into()]).expect("compare");
        assert!(out.contains("| 12813-15367 | yes |"), "{out}");
        assert!(out.contains("1 of 1 measurements lie within"), "{out}");
    }

    #[test]
    fn the_summary_says_what_chance_alone_gives() {
        let run = |v: f64| three_passes(4, "neo4j", "p99", v, "ms");
        let out = compare(&[run(10.0), run(20.0)], &[]).expect("compare");
        assert!(
            out.contains("0 of 1 have overlapping ranges (pass-to-pass noise alone: about 0.9 of the 1 measurements expected, 0 or fewer with probability 0."),
            "{out}"
        );
    }
}
