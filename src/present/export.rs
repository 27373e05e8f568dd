//! `qusers export` in words: the closing summary as text or JSON, and what became of a
//! `--division NAME`. The export itself ([`crate::export`]) returns [`ExportStats`].

use std::fmt::Write as _;

use serde::Serialize;

use crate::api::{RequestCounts, TransientStats};
use crate::export::ExportStats;
use crate::numfmt::{count, rate};

/// The facts of a finished export, as `--format json` prints them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    #[serde(flatten)]
    pub stats: &'a ExportStats,
    /// The file written, or `stdout`.
    pub output: String,
    pub elapsed_seconds: f64,
    pub requests: RequestCounts,
    pub transient: &'a TransientStats,
}

impl Summary<'_> {
    /// The JSON object, pretty-printed, with a final newline.
    pub fn json(&self) -> serde_json::Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }

    /// `exported N of M users …`, the notes that apply, and the request lines.
    pub fn text(&self) -> String {
        let stats = self.stats;
        let secs = self.elapsed_seconds;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "exported {} of {} users ({} pages) in {} s ({} users/s) to {}",
            count(stats.users_written),
            count(stats.users_seen),
            count(stats.pages),
            rate(secs),
            rate(if secs > 0.0 {
                stats.users_written as f64 / secs
            } else {
                0.0
            }),
            self.output
        );
        if !stats.details {
            s.push_str("--no-details: expiration dates were not read (the user list does not carry them); the expirationDate column is empty and the base snapshot marks it unknown\n");
        }
        if stats.users_gone > 0 {
            let _ = writeln!(
                s,
                "{} users were deleted between the list and the reading of their details: not exported",
                count(stats.users_gone)
            );
        }
        let _ = writeln!(s, "{}", self.requests.render_line());
        let _ = writeln!(s, "{}", self.transient.render_line());
        s
    }
}

/// What a `--division NAME` matched, as a line for stderr: a warning when it matched no
/// division (always shown), else which id or ids it named (not with `--quiet`).
pub fn division_note(name: &str, stats: &ExportStats, quiet: bool) -> Option<String> {
    match stats.division_ids_matched.as_slice() {
        [] => {
            let known: Vec<String> = stats
                .divisions_seen
                .iter()
                .map(|(id, n)| format!("{n} ({id})"))
                .collect();
            Some(format!(
                "warning: no division named `{name}` among the divisions users are in{}; give --division one of these ids",
                if known.is_empty() {
                    String::new()
                } else {
                    format!(": {}", known.join(", "))
                }
            ))
        }
        [one] if !quiet => Some(format!("division `{name}` is {one}")),
        many if !quiet => Some(format!(
            "division name `{name}` is shared by {}: all were exported; give --division ID for one",
            many.join(", ")
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> ExportStats {
        ExportStats {
            users_seen: 1200,
            users_written: 1000,
            pages: 12,
            details: true,
            ..ExportStats::default()
        }
    }

    #[test]
    fn the_text_names_the_counts_and_the_notes_that_apply() {
        let transient = TransientStats::default();
        let summary = |st: &ExportStats| {
            Summary {
                stats: st,
                output: "users.csv".into(),
                elapsed_seconds: 2.0,
                requests: RequestCounts::default(),
                transient: &transient,
            }
            .text()
        };
        let mut st = stats();
        let text = summary(&st);
        assert!(
            text.starts_with(
                "exported 1,000 of 1,200 users (12 pages) in 2.0 s (500.0 users/s) to users.csv\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("--no-details") && !text.contains("deleted"),
            "{text}"
        );
        st.details = false;
        st.users_gone = 3;
        let text = summary(&st);
        assert!(
            text.contains("--no-details: expiration dates were not read"),
            "{text}"
        );
        assert!(
            text.contains("3 users were deleted between the list"),
            "{text}"
        );
    }

    #[test]
    fn a_division_name_that_matched_nothing_lists_the_known_ones_even_when_quiet() {
        let mut st = stats();
        st.divisions_seen = vec![("DV_1".into(), "Sales".into())];
        let note = division_note("Sails", &st, true).expect("a warning");
        assert!(
            note.starts_with("warning: no division named `Sails`"),
            "{note}"
        );
        assert!(note.contains("Sales (DV_1)"), "{note}");
        st.division_ids_matched = vec!["DV_1".into()];
        assert_eq!(division_note("Sales", &st, true), None);
        assert_eq!(
            division_note("Sales", &st, false).as_deref(),
            Some("division `Sales` is DV_1")
        );
    }
}
