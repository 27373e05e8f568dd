//! What `qusers validate` says: the terminal summary of each file checked and the one JSON
//! object of `--format json`. The facts come from [`crate::validate`] as a [`FileSummary`];
//! this room only words them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::numfmt::plural;
use crate::validate::FileSummary;
use crate::vocab::rule::Severity;

/// The human summary of one file.
pub fn render_text(s: &mut String, f: &FileSummary, report: Option<&Path>) {
    let has_warnings = f.warning > 0
        || f.file_problems
            .iter()
            .any(|p| p.severity == Severity::Warning);
    let verdict = if !f.valid {
        "INVALID: fix the errors below, then validate again"
    } else if has_warnings {
        "valid, with warnings"
    } else {
        "valid"
    };
    let _ = writeln!(s, "{}: {verdict}", f.file);
    match (&f.encoding, &f.delimiter) {
        (Some(enc), Some(delim)) => {
            let _ = writeln!(
                s,
                "  read as {enc}, {delim}-delimited: {} ({} create, {} update), {}",
                plural(f.rows, "data row", "data rows"),
                crate::numfmt::count(f.creates),
                crate::numfmt::count(f.updates),
                plural(f.bytes, "byte", "bytes"),
            );
        }
        _ => {
            let _ = writeln!(s, "  not read: {}", plural(f.bytes, "byte", "bytes"));
        }
    }
    if let Some(b) = &f.sso_brand {
        let _ = writeln!(s, "  {}", b.describe());
    }
    if f.rows > 0 {
        let _ = writeln!(
            s,
            "  rows: {} ok, {} with warnings, {} with errors",
            crate::numfmt::count(f.ok),
            crate::numfmt::count(f.warning),
            crate::numfmt::count(f.error)
        );
    }
    // Errors first, then warnings (each in the order found).
    let by_severity = |sev: Severity| -> u8 { u8::from(sev == Severity::Warning) };
    let mut file_problems: Vec<_> = f.file_problems.iter().collect();
    file_problems.sort_by_key(|p| by_severity(p.severity));
    let mut rules: Vec<_> = f.rules.iter().collect();
    rules.sort_by_key(|r| by_severity(r.severity));
    if !file_problems.is_empty() {
        let _ = writeln!(s, "  file problems:");
        for p in file_problems {
            let at = p.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            let _ = writeln!(s, "    {}{at}: {}", p.severity.as_str(), p.message);
        }
    }
    if !rules.is_empty() {
        let _ = writeln!(s, "  rules broken:");
        for r in rules {
            let lines: Vec<String> = r.lines.iter().map(u64::to_string).collect();
            let more = if r.rows > r.lines.len() as u64 {
                ", …"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "    {} {:<7} {:>6}  {} (line{} {}{more})",
                r.code,
                r.severity.as_str(),
                plural(r.rows, "row", "rows"),
                r.title,
                if r.lines.len() > 1 { "s" } else { "" },
                lines.join(", "),
            );
        }
    }
    if !f.samples.is_empty() {
        let total: u64 = f.rules.iter().map(|r| r.rows).sum();
        let _ = writeln!(s, "  problems, first {}:", f.samples.len());
        for p in &f.samples {
            let _ = writeln!(
                s,
                "    line {} (row {}) {}: {}",
                p.line,
                p.row,
                p.severity.as_str(),
                p.message
            );
        }
        if total > f.samples.len() as u64 && report.is_none() {
            let _ = writeln!(s, "  every problem of every row: add --report report.csv");
        }
    }
    if let Some(r) = report {
        let _ = writeln!(s, "  report: {}", r.display());
    }
}

/// The terminal summaries of the files checked, in order, each with its report's path.
pub fn render_summaries(summaries: &[FileSummary], reports: &[Option<PathBuf>]) -> String {
    let mut s = String::new();
    for (summary, report) in summaries.iter().zip(reports) {
        render_text(&mut s, summary, report.as_deref());
    }
    s
}

/// `qusers validate --format json`: the run's verdict and one object per file checked.
#[derive(Debug, Serialize)]
pub struct ValidateJson<'a> {
    /// `valid`, `invalid`, `could-not-run`, … (the exit code in a word).
    pub verdict: &'static str,
    pub strict: bool,
    pub files: Vec<FileJson<'a>>,
    #[serde(rename = "exitCode")]
    pub exit_code: i32,
    /// The first file that could not be checked, as every command's error (its
    /// `error`/`causes`/`hint`); all of them under `errors`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causes: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub errors: &'a [serde_json::Value],
}

/// One file's summary with the report written for it.
#[derive(Debug, Serialize)]
pub struct FileJson<'a> {
    #[serde(flatten)]
    pub summary: &'a FileSummary,
    pub report: Option<String>,
}

impl<'a> ValidateJson<'a> {
    /// The object for a run that ended with `exit_code`; `errors` are the files that could not
    /// be checked, each as the command layer words an error.
    pub fn new(
        exit_code: i32,
        strict: bool,
        summaries: &'a [FileSummary],
        reports: &[Option<PathBuf>],
        errors: &'a [serde_json::Value],
    ) -> Self {
        let first = errors.first();
        ValidateJson {
            verdict: exit_word(exit_code),
            strict,
            files: summaries
                .iter()
                .zip(reports)
                .map(|(summary, r)| FileJson {
                    summary,
                    report: r.as_ref().map(|p| p.display().to_string()),
                })
                .collect(),
            exit_code,
            error: first.map(|e| &e["error"]),
            causes: first.map(|e| &e["causes"]),
            hint: first.map(|e| &e["hint"]),
            errors,
        }
    }
}

/// The verdict of a run by its exit code (0 ok, 1 invalid, 2 could not run, 3 held, 130
/// interrupted).
fn exit_word(code: i32) -> &'static str {
    match code {
        0 => "valid",
        1 => "invalid",
        3 => "held",
        130 => "interrupted",
        _ => "could-not-run",
    }
}
