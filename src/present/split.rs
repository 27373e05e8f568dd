//! What `qusers split` says: the parts written, as terminal text or one JSON object.

use std::fmt::Write as _;

use serde::Serialize;

use crate::numfmt::count;
use crate::split::Part;

/// `qusers split --format json`.
#[derive(Debug, Serialize)]
pub struct SplitJson<'a> {
    pub input: &'a str,
    pub parts: &'a [Part],
}

/// The terminal summary of `input` cut into `parts`.
pub fn render_text(input: &str, parts: &[Part]) -> String {
    let mut s = String::new();
    let rows: u64 = parts.iter().map(|p| p.rows).sum();
    let _ = writeln!(
        s,
        "{}: {} data rows in {} part{}",
        input,
        count(rows),
        parts.len(),
        if parts.len() == 1 { "" } else { "s" }
    );
    for p in parts {
        let _ = writeln!(
            s,
            "  {}  {} rows  {} bytes",
            p.path.display(),
            count(p.rows),
            count(p.bytes)
        );
    }
    if parts.is_empty() {
        s.push_str("  nothing to split: the file has no data rows\n");
    }
    s
}
