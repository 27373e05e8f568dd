//! The presentation layer: the one room that turns facts into words for a person or a program.
//! Workflows below return typed facts (summaries, plans, outcomes); this layer renders them as
//! terminal text, JSON and self-contained HTML, and it alone writes to stdout and stderr.
//!
//! - [`console`]: the two standard streams, written without panicking on a closed pipe.
//! - [`fix`], [`split`], [`catalog`]: what fix, split, template and rules say.
//! - [`html`]: the validate and import pages.
//! - [`validate`]: validate's terminal summary and JSON.

pub mod catalog;
pub mod console;
pub mod fix;
pub mod html;
pub mod split;
pub mod validate;

/// `value` as pretty JSON with a final newline, every object's keys in alphabetical order (the
/// order the commands' JSON has always had: it was built as `serde_json::Value`s).
pub fn sorted_json(value: &impl serde::Serialize) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::to_value(value)?)? + "\n")
}
