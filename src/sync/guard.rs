//! The truncated-roster guard: a roster that looks broken holds the whole run before anything is
//! read from or sent to Qualtrics. Every trusted sync tool retires people on their first
//! absence, so a half-written export file deactivates real accounts; here it holds instead.
//! Compared with the last successful run: fewer rows than `--max-roster-drop` allows, a
//! changed header; on its own: an empty file, a last record cut off, a file older than
//! `--max-age` (the feed stopped).

use super::roster::Roster;
use super::state::RunRecord;

/// How the guard is set.
#[derive(Clone, Debug)]
pub struct GuardOptions {
    /// Percent of the last run's rows the roster may lose (default 10).
    pub max_drop_percent: f64,
    /// `--max-age` in days.
    pub max_age_days: Option<i64>,
}

impl Default for GuardOptions {
    fn default() -> Self {
        GuardOptions {
            max_drop_percent: 10.0,
            max_age_days: None,
        }
    }
}

/// Why the roster holds the run (empty: it does not).
pub fn check(
    roster: &Roster,
    last: Option<&RunRecord>,
    opts: &GuardOptions,
    today: jiff::civil::Date,
) -> Vec<String> {
    let mut why = Vec::new();
    if roster.empty {
        why.push(format!("{} is empty", roster.name));
        return why;
    }
    if let Some(cut) = &roster.cut {
        why.push(format!("{} looks cut off: {cut}", roster.name));
    }
    if roster.records.is_empty() {
        why.push(format!("{} has a header and no rows", roster.name));
    }
    if let Some(last) = last {
        let rows = roster.records.len() as u64;
        let floor = last.rows as f64 * (1.0 - opts.max_drop_percent / 100.0);
        if (rows as f64) < floor {
            why.push(format!(
                "{} has {rows} rows, {:.0} % fewer than the {} of the last successful run (run {}, {}); --max-roster-drop allows {} %",
                roster.name,
                100.0 * (1.0 - rows as f64 / last.rows.max(1) as f64),
                last.rows,
                last.number,
                last.today,
                opts.max_drop_percent
            ));
        }
        if !last.header.is_empty() && last.header != roster.header {
            why.push(format!(
                "{}'s header changed since the last successful run: was [{}], now [{}]",
                roster.name,
                last.header.join(", "),
                roster.header.join(", ")
            ));
        }
    }
    if let (Some(days), Some(modified)) = (opts.max_age_days, roster.modified) {
        let written = jiff::Timestamp::from_second(modified)
            .ok()
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date());
        if let Some(written) = written {
            let age = (today - written).get_days() as i64;
            if age > days {
                why.push(format!(
                    "{} was last written on {written}, {age} days ago: older than --max-age {days}d (has the feed stopped?)",
                    roster.name
                ));
            }
        }
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster(rows: usize) -> Roster {
        Roster {
            name: "r.csv".into(),
            header: vec!["NetID".into()],
            records: (0..rows)
                .map(|i| (i as u64 + 2, vec![format!("u{i}")]))
                .collect(),
            modified: Some(1_800_000_000),
            ..Roster::default()
        }
    }

    #[test]
    fn a_shrunk_or_changed_or_stale_roster_holds() {
        let today = jiff::civil::date(2027, 1, 5);
        let last = RunRecord {
            number: 3,
            rows: 100,
            header: vec!["NetID".into()],
            outcome: "done".into(),
            ..RunRecord::default()
        };
        let o = GuardOptions::default();
        assert!(check(&roster(90), Some(&last), &o, today).is_empty());
        let why = check(&roster(89), Some(&last), &o, today);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].contains("89 rows"), "{why:?}");
        let mut changed = roster(100);
        changed.header = vec!["Net ID".into()];
        assert!(check(&changed, Some(&last), &o, today)[0].contains("header changed"));
        // 1_800_000_000 s is 2027-01-15: written "after" today is not stale; ten days before is.
        let stale = GuardOptions {
            max_age_days: Some(2),
            ..o
        };
        assert!(check(&roster(100), Some(&last), &stale, today).is_empty());
        let later = jiff::civil::date(2027, 1, 25);
        assert!(check(&roster(100), Some(&last), &stale, later)[0].contains("--max-age"));
        assert!(check(&roster(0), None, &o, today)[0].contains("no rows"));
    }
}
