//! The plan as text: counts per class of change, the first rows in full, every further row
//! listed under its class (nothing hidden behind "and N more"), then the rows that send nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::import::{Plan, Planned, PlannedRow};
use crate::validate::Verdict;
use crate::vocab::change::ChangeClass;
use crate::vocab::outcome::Outcome;

/// Rows shown in full before the rest are listed by class.
pub const DETAILED_ROWS: usize = 50;

/// One row to send, on one line.
fn row_line(r: &PlannedRow) -> Option<String> {
    let line = r.input.line;
    let text = match &r.planned {
        Planned::Create { user, .. } => format!(
            "  create     line {line}: {}: {}",
            user.username,
            r.changes_text()
        ),
        Planned::Update { id, .. } => {
            let name = r.user_name();
            let who = if name.is_empty() {
                id.clone()
            } else {
                format!("{id} {name}")
            };
            format!("  update     line {line}: {who}: {}", r.changes_text())
        }
        _ => return None,
    };
    let mut text = text;
    if !r.notes.is_empty() {
        let _ = write!(text, " ({})", r.notes.join("; "));
    }
    // A row sent despite warnings says so, with their codes (the report has the messages).
    if r.input.verdict == Verdict::Warning {
        let _ = write!(text, "  [warning: {}]", r.input.codes());
    }
    Some(text)
}

/// How many rows the plan sends despite warnings, and by rule: `3 rows with warnings (R08: 2,
/// W01: 1)`; `None` when none has.
pub fn warnings_line(plan: &Plan) -> Option<String> {
    let rows = plan
        .rows
        .iter()
        .filter(|r| {
            matches!(r.planned, Planned::Create { .. } | Planned::Update { .. })
                && r.input.verdict == Verdict::Warning
        })
        .count();
    if rows == 0 {
        return None;
    }
    let rules: Vec<String> = plan
        .warnings_by_rule()
        .iter()
        .map(|(c, n)| format!("{c}: {n}"))
        .collect();
    Some(format!(
        "{} with warnings ({})",
        crate::numfmt::plural(rows as u64, "row", "rows"),
        rules.join(", ")
    ))
}

/// The confirmation question: what will be sent where, and the rows that go despite warnings.
pub fn confirm_question(plan: &Plan, target: &str) -> String {
    let mut q = format!(
        "Apply {} creates and {} updates to {target}?",
        plan.creates(),
        plan.updates()
    );
    if let Some(w) = warnings_line(plan) {
        let _ = write!(q, " Among them {w}: the plan above marks them.");
    }
    q
}

/// A class of change, plural, as the terminal plan names it.
pub fn label(class: ChangeClass) -> &'static str {
    match class {
        ChangeClass::Create => "creates",
        ChangeClass::Name => "name changes",
        ChangeClass::Status => "status changes",
        ChangeClass::UserType => "user-type changes",
        ChangeClass::Division => "division moves",
        ChangeClass::Expiration => "expirations",
    }
}

/// `creates: 1, name changes: 2, status changes: 3 (disables: 1), …`: the rows per class.
pub fn class_line(plan: &Plan) -> String {
    let c = plan.class_counts();
    let parts: Vec<String> = c
        .iter()
        .map(|(class, n)| {
            if class == ChangeClass::Status && c.disables() > 0 {
                format!("{}: {n} (disables: {})", label(class), c.disables())
            } else {
                format!("{}: {n}", label(class))
            }
        })
        .collect();
    parts.join(", ")
}

/// The text plan. `base` says how the rows were compared (three-way with a snapshot, or not).
pub fn render(plan: &Plan, base: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "plan: {} create, {} update: {}",
        plan.creates(),
        plan.updates(),
        class_line(plan)
    );
    if !base.is_empty() {
        let _ = writeln!(s, "  {base}");
    }
    if let Some(w) = warnings_line(plan) {
        let _ = writeln!(s, "  to send: {w}, marked [warning: …] below");
    }
    let mut beyond: BTreeMap<ChangeClass, Vec<String>> = BTreeMap::new();
    let mut shown = 0;
    for r in &plan.rows {
        let Some(text) = row_line(r) else { continue };
        if shown < DETAILED_ROWS {
            s.push_str(&text);
            s.push('\n');
        } else {
            let who = match &r.planned {
                Planned::Update { id, .. } if r.user_name().is_empty() => id.clone(),
                _ => r.user_name().to_string(),
            };
            for class in r.classes() {
                beyond
                    .entry(class)
                    .or_default()
                    .push(format!("line {} {who}", r.input.line));
            }
        }
        shown += 1;
    }
    if shown > DETAILED_ROWS {
        let _ = writeln!(
            s,
            "  beyond the first {DETAILED_ROWS} rows to send, by class (the report's changes column has each row's fields):"
        );
        for (class, rows) in &beyond {
            let _ = writeln!(
                s,
                "    {} ({}): {}",
                label(*class),
                rows.len(),
                rows.join(", ")
            );
        }
    }
    // Rows that send nothing but need a look: every one, with the reason.
    for r in &plan.rows {
        if let Planned::Nothing {
            outcome: outcome @ (Outcome::Conflict | Outcome::Skipped),
            message,
        } = &r.planned
        {
            if *outcome == Outcome::Skipped && !message.starts_with("protected") {
                continue;
            }
            let _ = writeln!(
                s,
                "  {:<10} line {}: {}: {message}",
                outcome.as_str(),
                r.input.line,
                r.user_name()
            );
        }
    }
    let kept: Vec<String> = plan
        .rows
        .iter()
        .filter(|r| {
            matches!(r.planned, Planned::Nothing { .. })
                && r.notes.iter().any(|n| n.starts_with("kept"))
        })
        .map(|r| format!("line {} {}", r.input.line, r.user_name()))
        .collect();
    if !kept.is_empty() {
        let _ = writeln!(
            s,
            "  kept       {} row{} changed only in Qualtrics since the export: {}",
            kept.len(),
            if kept.len() == 1 { "" } else { "s" },
            kept.join(", ")
        );
    }
    for (outcome, label) in [
        (Outcome::Unchanged, "unchanged"),
        (Outcome::Invalid, "invalid"),
        (Outcome::Skipped, "skipped"),
    ] {
        let lines: Vec<String> = plan
            .rows
            .iter()
            .filter(|r| {
                matches!(&r.planned, Planned::Nothing { outcome: o, message }
                    if *o == outcome && !(outcome == Outcome::Skipped && message.starts_with("protected")))
            })
            .map(|r| r.input.line.to_string())
            .collect();
        if !lines.is_empty() {
            let more = if lines.len() > 10 { ", …" } else { "" };
            let _ = writeln!(
                s,
                "  {label:<10} {} row{} (line{} {}{more})",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" },
                if lines.len() == 1 { "" } else { "s" },
                lines[..lines.len().min(10)].join(", ")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UserUpdate;
    use crate::import::InputRow;
    use crate::rules::Action;
    use crate::validate::Verdict;
    use crate::vocab::change::Change;
    use crate::vocab::Col;

    fn row(n: u64, changes: Vec<Change>) -> PlannedRow {
        let mut fields: [String; 9] = Default::default();
        fields[1] = format!("u{n}@x.org");
        PlannedRow {
            input: InputRow {
                line: n + 1,
                row: n,
                action: Action::Update,
                fields: fields.into(),
                problems: Vec::new(),
                verdict: Verdict::Ok,
                empty: false,
            },
            planned: Planned::Update {
                id: format!("UR_{n:011}"),
                update: UserUpdate::default(),
                changes,
            },
            notes: Vec::new(),
        }
    }

    fn ch(field: Col, old: &str, new: &str) -> Change {
        Change {
            field,
            old: old.into(),
            new: new.into(),
        }
    }

    #[test]
    fn rows_sent_with_warnings_are_marked_and_counted_by_rule() {
        use crate::rules::{Code, Problem};
        let mut warned = row(1, vec![ch(Col::LastName, "Lee", "Leigh")]);
        warned.input.problems = vec![
            Problem::new(Code::Mojibake, "garbled"),
            Problem::new(Code::Whitespace, "spaces"),
        ];
        warned.input.verdict = Verdict::Warning;
        let mut spaced = row(2, vec![ch(Col::FirstName, "Bo", "Bob")]);
        spaced.input.problems = vec![Problem::new(Code::Whitespace, "spaces")];
        spaced.input.verdict = Verdict::Warning;
        let clean = row(3, vec![ch(Col::FirstName, "Al", "Alan")]);
        let plan = Plan {
            rows: vec![warned, spaced, clean],
            ..Default::default()
        };
        assert_eq!(plan.warnings_by_rule(), vec![("R08", 1), ("W01", 2)]);
        let text = render(&plan, "");
        assert!(
            text.contains("to send: 2 rows with warnings (R08: 1, W01: 2)"),
            "{text}"
        );
        assert!(text.contains("Lee → Leigh  [warning: R08 W01]"), "{text}");
        assert!(text.contains("Bo → Bob  [warning: W01]"), "{text}");
        assert!(!text.contains("Al → Alan  [warning"), "{text}");
        let q = confirm_question(&plan, "the simulator");
        assert!(
            q.starts_with("Apply 0 creates and 3 updates to the simulator?"),
            "{q}"
        );
        assert!(q.contains("2 rows with warnings (R08: 1, W01: 2)"), "{q}");
        let quiet = Plan {
            rows: vec![row(4, vec![ch(Col::FirstName, "Al", "Alan")])],
            ..Default::default()
        };
        assert_eq!(warnings_line(&quiet), None);
        assert!(!confirm_question(&quiet, "x").contains("warning"));
    }

    #[test]
    fn counts_per_class_and_rows_beyond_fifty_are_listed_by_class() {
        let mut rows: Vec<PlannedRow> = (1..=50)
            .map(|n| row(n, vec![ch(Col::FirstName, "Ann", "Anne")]))
            .collect();
        rows.push(row(51, vec![ch(Col::AccountStatus, "active", "disabled")]));
        rows.push(row(
            52,
            vec![
                ch(Col::DivisionId, "DV_a", "DV_b"),
                ch(Col::LastName, "", "Lee"),
            ],
        ));
        let plan = Plan {
            rows,
            blocked_by_invalid: false,
            ..Default::default()
        };
        let text = render(
            &plan,
            "no base snapshot found: compared with the instance only",
        );
        assert!(
            text.contains(
                "name changes: 51, status changes: 1 (disables: 1), user-type changes: 0, division moves: 1"
            ),
            "{text}"
        );
        assert!(text.contains("no base snapshot found"), "{text}");
        assert!(text.contains("line 2: UR_00000000001 u1@x.org: firstName: Ann → Anne"));
        assert!(
            !text.contains("line 52: UR_"),
            "row 52 is beyond the first 50: {text}"
        );
        assert!(
            text.contains("status changes (1): line 52 u51@x.org"),
            "{text}"
        );
        assert!(
            text.contains("division moves (1): line 53 u52@x.org"),
            "{text}"
        );
        assert!(
            text.contains("name changes (1): line 53 u52@x.org"),
            "{text}"
        );
        assert!(!text.contains("more (the report"), "nothing hidden: {text}");
    }
}
