//! Reading the table a run printed (`report::Report::table`), so that the tables kept in
//! `docs/bench/` serve as reports: each measurement's median, range and number of passes, all a
//! comparison reads. Their numbers are as rounded as the table prints them (about three
//! significant digits): a median equal in print to a bound of a printed range counts as inside.

use super::{Key, Measured};

/// The header of the table a run prints (`report::rows_table`).
const TABLE_HEAD: &str = "| fig | scale | backend | measured | value (median, range) |";

/// The rows of the table a run printed: the lines after the first [`TABLE_HEAD`] up to the
/// first line that is not a table row. That is the counted passes' table; the warm-up pass's,
/// with the same head, follows it after a line of its own, and other tables of the output
/// (figure 7's) are left alone too.
pub(super) fn table_rows(text: &str) -> Result<Vec<(Key, Measured)>, String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(TABLE_HEAD));
    if lines.next().is_none() {
        return Err("not a bench report: neither JSON nor a printed table of results".into());
    }
    lines
        .filter(|l| !l.starts_with("|---"))
        .take_while(|l| l.starts_with('|'))
        .map(|line| table_row(line).ok_or_else(|| format!("a table row not understood: {line}")))
        .collect()
}

/// One row of a printed table: `| fig | scale | backend | measured | <median> <unit> (<lo>-<hi>,
/// <n> passes) | baseline | ratio | goal | met | ...`.
fn table_row(line: &str) -> Option<(Key, Measured)> {
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    // A leading empty cell, then the columns.
    let [_, figure, scale, backend, what, value, _baseline, _ratio, _goal, met, ..] = cells[..]
    else {
        return None;
    };
    let (head, spread) = match value.split_once(" (") {
        Some((head, rest)) => (head, Some(rest.strip_suffix(')')?)),
        None => (value, None),
    };
    let (value, unit) = head.split_once(' ').unwrap_or((head, ""));
    let number = |s: &str| s.parse::<f64>().ok();
    let value = number(value)?;
    let (range, passes) = match spread {
        Some(spread) => {
            let (lohi, passes) = spread.split_once(", ")?;
            let passes = passes.split_once(' ')?.0.parse().ok()?;
            // The low end may be negative: the separator is a `-` after its first character.
            let at = lohi.get(1..)?.find('-')? + 1;
            ((number(&lohi[..at])?, number(&lohi[at + 1..])?), passes)
        }
        None => ((value, value), 1),
    };
    let verdict = match met {
        "yes" => "met",
        "NO" => "missed",
        "unsettled" => "unsettled",
        _ => "",
    };
    Some((
        (
            figure.parse().ok()?,
            scale.into(),
            backend.into(),
            what.into(),
        ),
        Measured {
            value,
            range,
            passes,
            unit: unit.into(),
            verdict,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::super::rows;
    use crate::report::{num, Report, Row};

    /// A run's printed output, cut short: a few lines, the table, and another table after it.
    const PRINTED: &str = "swiftbox-bench full run at ... (commit abc), 2 CPUs, load 2.0 at start
3 counted pass(es) after a warm-up pass

| fig | scale | backend | measured | value (median, range) | baseline | ratio | goal | met | n | load | note |
|---|---|---|---|---|---|---|---|---|---|---|---|
| 3 | - | memory+neo4j | sync lag p99 at 500 writes/s (deferred, 1 worker(s)) | 16.97 ms (16.93-17.11, 3 passes) |  |  | p99 < 100 ms at 500 writes/s | yes | 5000 writes | 2.0 | 500 writes/s offered |
| 1 | M | memory+neo4j | resync (batch 5000, 2 in flight) purchases/s | 15102 purchases/s (12813-15367, 3 passes) | 748.6 purchases/s (1 apply call per order) | 20.53x (resync / per-change) | >= 20x | NO | 199864 | 1.9 |  |
| 4 | S->M | neo4j | popular p50 growth | 1.33 x (0.963-1.34, 3 passes) | 9.98 x (growth of purchases) |  | sub-linear | unsettled |  | 1.7 |  |
| 9 | - | memory | a difference | -0.500 ms (-1.00--0.250, 3 passes) |  |  |  |  |  | 1.3 |  |
| 6 | - | memory | P@10 | 0.315 |  |  |  |  |  | 1.3 | a | in a note |

figure 7, scale-out (medians, ranges):

| offered | 1 worker |
|---|---|
| 100 | 100 (253) |
";

    #[test]
    fn a_printed_table_reads_as_a_report() {
        let read = rows(PRINTED).expect("a table");
        assert_eq!(read.len(), 5, "{read:?}");
        let (key, lag) = &read[0];
        assert_eq!(key.0, 3);
        assert_eq!((key.1.as_str(), key.2.as_str()), ("-", "memory+neo4j"));
        assert!(key.3.starts_with("sync lag p99"));
        assert_eq!(
            (lag.value, lag.range, lag.passes),
            (16.97, (16.93, 17.11), 3)
        );
        assert_eq!((lag.unit.as_str(), lag.verdict), ("ms", "met"));
        let resync = &read[1].1;
        assert_eq!(
            (resync.range, resync.verdict),
            ((12813.0, 15367.0), "missed")
        );
        assert_eq!(resync.unit, "purchases/s");
        assert_eq!(
            (read[2].1.unit.as_str(), read[2].1.verdict),
            ("x", "unsettled")
        );
        assert_eq!((read[3].1.value, read[3].1.range), (-0.5, (-1.0, -0.25)));
        let one = &read[4].1;
        assert_eq!(
            (one.value, one.range, one.passes),
            (0.315, (0.315, 0.315), 1)
        );
        assert!(rows("no table here").is_err());
        let broken = PRINTED.replace("16.97 ms (16.93-17.11", "16.97 ms (16.93/17.11");
        assert!(rows(&broken).unwrap_err().contains("not understood"));
    }

    /// What the table of a report says is what its JSON says, but for the rounding.
    #[test]
    fn a_report_reads_the_same_from_its_table_and_its_json() {
        let pass = |v: f64| {
            let mut r = Report::default();
            r.rows.push(
                Row::new(
                    1,
                    "M",
                    "memory+neo4j",
                    "resync purchases/s",
                    v * 1000.0,
                    "purchases/s",
                )
                .goal(">= 30,000 purchases/s", v > 30.0),
            );
            r.rows
                .push(Row::new(4, "S", "neo4j", "popular p50", v / 7.0, "ms"));
            r
        };
        let mut report = Report::merge(vec![pass(12.345), pass(31.5), pass(29.0)]);
        // The warm-up pass's table, printed after the counted one, is not read.
        report.warm_up = pass(1.0).rows;
        let json = serde_json::to_string(&report).expect("json");
        let (from_table, from_json) = (
            rows(&report.table()).expect("table"),
            rows(&json).expect("json"),
        );
        assert_eq!(from_table.len(), 2);
        assert_eq!(from_table.len(), from_json.len());
        for ((kt, t), (kj, j)) in from_table.iter().zip(&from_json) {
            assert_eq!(kt, kj);
            assert_eq!(
                (t.passes, t.verdict, &t.unit),
                (j.passes, j.verdict, &j.unit)
            );
            assert_eq!(num(t.value), num(j.value));
            assert_eq!(
                (num(t.range.0), num(t.range.1)),
                (num(j.range.0), num(j.range.1))
            );
        }
        assert_eq!(from_json[0].1.verdict, "unsettled");
    }
}
