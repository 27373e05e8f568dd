//! `qusers sync` in words: the summary the notifications carry, the closing summary as text (what held the run, the import's
//! summary, the seats, the notified line and the state folder) or one JSON object (the
//! notified summary with the import's, the seats and the exit code), and `--history`.
//! The workflow ([`crate::sync::run`]) returns a [`SyncOutcome`].

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::present::import::Summary;
use crate::sync::state::{RunCounts, State};
use crate::sync::{Notice, SyncOutcome};

/// The outcome as one JSON object, pretty-printed, with a final newline.
pub fn json(outcome: &SyncOutcome, target: &str) -> serde_json::Result<String> {
    let mut v = notification(outcome, target);
    if let Some(o) = &outcome.import {
        v["import"] = serde_json::to_value(Summary::new(o, target, None))?;
    }
    if let Some(s) = &outcome.seats {
        v["seats"] = serde_json::to_value(s)?;
    }
    v["exitCode"] = outcome.exit_code().into();
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

/// The outcome as text: why it was held, the import's summary, the seats, the line the
/// notification carries and the state folder.
pub fn text(outcome: &SyncOutcome, target: &str) -> String {
    let mut text = String::new();
    if !outcome.held.is_empty() {
        text.push_str("HELD: nothing was sent\n");
        for why in &outcome.held {
            let _ = writeln!(text, "  - {why}");
        }
        text.push_str("  (--accept-roster takes the roster as it is, once)\n");
    }
    if let Some(o) = &outcome.import {
        Summary::new(o, target, None).render_text(&mut text, o);
    }
    if let Some(s) = &outcome.seats {
        let _ = writeln!(
            text,
            "seats: {} active before, {} after, of {} seats{}",
            s.active_before,
            s.active_after,
            s.seats,
            if s.active_after > s.seats {
                format!(" — {} over", s.active_after - s.seats)
            } else {
                String::new()
            }
        );
        if !s.candidates.is_empty() {
            text.push_str("  longest without a login (candidates, nothing changed):\n");
            for c in &s.candidates {
                let _ = writeln!(
                    text,
                    "    {}  {}  {}",
                    c.user_name,
                    c.user_id,
                    c.last_login_date.as_deref().unwrap_or("never logged in")
                );
            }
        }
        for u in &s.unread {
            let _ = writeln!(text, "  not read: {u}");
        }
    }
    let _ = writeln!(
        text,
        "{}\n  state: {}",
        notification(outcome, target)["text"]
            .as_str()
            .unwrap_or_default(),
        outcome.state_dir.display()
    );
    text
}

/// The summary a webhook receives (and a mail carries, under its `text`), with the `text`
/// chat tools show; `--format json` prints it too, with more.
pub fn notification(outcome: &SyncOutcome, target: &str) -> serde_json::Value {
    let record = &outcome.record;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Summary<'a> {
        text: String,
        tool: &'static str,
        outcome: &'a str,
        held: bool,
        reasons: &'a [String],
        run: u64,
        today: &'a str,
        roster: &'a str,
        rows: u64,
        target: &'a str,
        counts: &'a RunCounts,
        report: Option<String>,
        state: String,
    }
    let c = &record.counts;
    let held = record.outcome == "held";
    let mut text = if held {
        format!(
            "qusers sync of {} HELD, nothing sent: {}",
            record.roster,
            record.reasons.join("; ")
        )
    } else {
        format!(
            "qusers sync of {} ({}): {} created, {} updated, {} re-enabled, {} disabled, {} expired, {} missing, {} invalid, {} failed",
            record.roster,
            record.outcome,
            c.created,
            c.updated,
            c.reenabled,
            c.disabled,
            c.expired,
            c.missing,
            c.invalid,
            c.failed
        )
    };
    if !held && !record.reasons.is_empty() {
        text.push_str(&format!(" ({})", record.reasons.join("; ")));
    }
    let mut summary = serde_json::to_value(Summary {
        text,
        tool: "qusers sync",
        outcome: &record.outcome,
        held,
        reasons: &record.reasons,
        run: record.number,
        today: &record.today,
        roster: &record.roster,
        rows: record.rows,
        target,
        counts: c,
        report: Some(outcome.report.display().to_string()),
        state: outcome.state_dir.display().to_string(),
    })
    .unwrap_or_default();
    if let Some(s) = &outcome.seats {
        summary["seats"] = serde_json::to_value(s).unwrap_or_default();
    }
    summary
}

/// The notifications of a run: the summary for the webhook, and a mail whose subject is the
/// summary's `text` (120 characters at most) and whose body is that text and the summary.
pub fn notice(outcome: &SyncOutcome, target: &str) -> Notice {
    let summary = notification(outcome, target);
    let text = summary["text"].as_str().unwrap_or_default().to_string();
    let subject: String = text.chars().take(120).collect();
    let body = format!(
        "{text}\n\n{}\n",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    Notice {
        summary,
        subject,
        body,
    }
}

/// `--history` as text: one line a run (with its reasons under it), then who is retired and
/// missing now.
pub fn history(dir: &Path, state: &State) -> String {
    let mut text = format!(
        "sync history in {} ({} runs)\n",
        dir.display(),
        state.runs.len()
    );
    for r in &state.runs {
        let c = &r.counts;
        let _ = writeln!(
            text,
            "run {:>3}  {}  {:<18} {} rows  created {} updated {} re-enabled {} disabled {} expired {} missing {} invalid {} failed {}",
            r.number, r.today, r.outcome, r.rows, c.created, c.updated, c.reenabled, c.disabled, c.expired, c.missing, c.invalid, c.failed
        );
        for why in &r.reasons {
            let _ = writeln!(text, "          {why}");
        }
    }
    let retired = state.users.values().filter(|u| u.retired.is_some()).count();
    let missing = state
        .users
        .values()
        .filter(|u| u.missing_since.is_some())
        .count();
    let _ = writeln!(
        text,
        "users retired by this sync: {retired}; missing now: {missing}"
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::state::RunRecord;

    fn held() -> SyncOutcome {
        SyncOutcome {
            held: vec!["the roster has 1 rows, 50 % fewer".into()],
            import: None,
            record: RunRecord {
                number: 2,
                roster: "roster.csv".into(),
                outcome: "held".into(),
                reasons: vec!["the roster has 1 rows, 50 % fewer".into()],
                ..RunRecord::default()
            },
            state_dir: "roster.qusers-sync".into(),
            report: "roster.qusers-sync/report.csv".into(),
            eventful: Some(true),
            seats: None,
        }
    }

    #[test]
    fn a_held_run_is_told_as_held_on_the_terminal_in_the_webhook_and_in_the_mail() {
        let outcome = held();
        let text = text(&outcome, "the simulator");
        assert!(
            text.starts_with("HELD: nothing was sent\n  - the roster has 1 rows, 50 % fewer\n"),
            "{text}"
        );
        assert!(text.ends_with("qusers sync of roster.csv HELD, nothing sent: the roster has 1 rows, 50 % fewer\n  state: roster.qusers-sync\n"), "{text}");
        let notice = notice(&outcome, "the simulator");
        assert_eq!(notice.summary["held"], true);
        assert_eq!(notice.summary["target"], "the simulator");
        assert_eq!(notice.summary["report"], "roster.qusers-sync/report.csv");
        assert_eq!(
            notice.subject,
            "qusers sync of roster.csv HELD, nothing sent: the roster has 1 rows, 50 % fewer"
        );
        assert!(
            notice
                .body
                .starts_with(&format!("{}\n\n{{\n", notice.subject)),
            "{}",
            notice.body
        );
        let json: serde_json::Value =
            serde_json::from_str(&json(&outcome, "x").expect("json")).expect("parses");
        assert_eq!(json["exitCode"], 3);
    }

    #[test]
    fn a_long_summary_is_cut_to_120_characters_in_the_subject_only() {
        let mut outcome = held();
        outcome.record.reasons = vec!["é".repeat(200)];
        let notice = notice(&outcome, "x");
        assert_eq!(notice.subject.chars().count(), 120);
        assert!(notice.body.contains(&"é".repeat(200)));
    }
}
