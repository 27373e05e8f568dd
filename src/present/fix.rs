//! What `qusers fix` says: the changes made to the copy, what could not be fixed, and what
//! validating the copy found, as terminal text or one JSON object.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::fix::FixReport;
use crate::validate::FileSummary;
use crate::vocab::rule::Severity;

/// `qusers fix --format json`.
#[derive(Debug, Serialize)]
pub struct FixJson<'a> {
    pub input: &'a str,
    pub output: String,
    pub changes: &'a FixReport,
    /// What validating the copy found (`None`: the copy went where it cannot be read back).
    pub remaining: Option<&'a FileSummary>,
}

/// The terminal summary of a fix of `input` into `output`.
pub fn render_text(
    input: &str,
    output: &Path,
    report: &FixReport,
    summary: Option<&FileSummary>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} → {}: {} rows, {} cells changed",
        input,
        output.display(),
        crate::numfmt::count(report.rows),
        crate::numfmt::count(report.total_cell_changes())
    );
    for c in &report.file_changes {
        let _ = writeln!(s, "  {c}");
    }
    const SHOWN: usize = 30;
    for c in report.cell_changes.iter().take(SHOWN) {
        let _ = writeln!(
            s,
            "  line {}, {}: \"{}\" → \"{}\"",
            c.line, c.column, c.before, c.after
        );
    }
    if report.total_cell_changes() > SHOWN as u64 {
        let counts: Vec<String> = report
            .counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let _ = writeln!(s, "  … in all: {}", counts.join(", "));
    }
    for n in &report.not_fixed {
        let _ = writeln!(s, "  not fixed: {n}");
    }
    if !report.lost_lines.is_empty() {
        let lines: Vec<String> = report.lost_lines.iter().map(u64::to_string).collect();
        let _ = writeln!(
            s,
            "the copy lacks input line(s) {}: they could not be read (see above); mend them in the input and run fix again",
            lines.join(", ")
        );
    }
    match &summary {
        None => {
            let _ = writeln!(
                s,
                "the copy went to {}, which cannot be read back: save it to a file and run `qusers validate` on it",
                output.display()
            );
        }
        Some(summary) if summary.valid => {
            let _ = writeln!(
                s,
                "the copy validates{}",
                if summary.warning > 0 {
                    " (with warnings)"
                } else {
                    ""
                }
            );
        }
        Some(summary) => {
            let _ = writeln!(
                s,
                "still to fix by hand (`qusers validate {}` shows every line):",
                output.display()
            );
            for p in summary
                .file_problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
            {
                let _ = writeln!(s, "  {}", p.message);
            }
            for r in summary
                .rules
                .iter()
                .filter(|r| r.severity == Severity::Error)
            {
                let lines: Vec<String> = r.lines.iter().map(u64::to_string).collect();
                let _ = writeln!(
                    s,
                    "  {} {} ({} rows: lines {})",
                    r.code,
                    r.title,
                    r.rows,
                    lines.join(", ")
                );
            }
        }
    }
    s
}
