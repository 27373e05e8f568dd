//! What `qusers rules` and `qusers template` say: the rule catalog as a table or JSON, and
//! what the template was written to.

use std::fmt::Write as _;

use serde::Serialize;

use crate::vocab::rule::Rule;

/// The rule catalog as a table: code, severity, whether `fix` repairs it, title, then the fix.
pub fn rules_text(rules: &[Rule]) -> String {
    let mut s = String::from("CODE  SEVERITY  FIX  WHAT IT CHECKS\n");
    for r in rules {
        let _ = writeln!(
            s,
            "{:<5} {:<9} {:<4} {}\n{:20}fix: {}",
            r.id,
            r.severity.as_str(),
            if r.fixable { "yes" } else { "" },
            r.title,
            "",
            r.hint
        );
    }
    s.push_str("\nFIX yes: `qusers fix` repairs it. Warnings become errors with --strict.\n");
    s
}

/// The rule catalog as one JSON array, each rule's fields in the catalog's order.
pub fn rules_json(rules: &[Rule]) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(rules)? + "\n")
}

/// `qusers template --format json`.
#[derive(Debug, Serialize)]
pub struct TemplateJson<'a> {
    /// The file written, or `stdout`.
    pub output: &'a str,
    pub workbook: bool,
    /// `comma` or `tab`; `None` for a workbook.
    pub delimiter: Option<&'static str>,
    pub columns: &'a [&'a str],
}

/// The line `qusers template` writes on stderr once the template is in a file.
pub fn template_written(output: &str, workbook: bool) -> String {
    format!(
        "wrote the template{} to {output}",
        if workbook { " workbook" } else { "" }
    )
}
