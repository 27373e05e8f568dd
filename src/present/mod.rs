//! The presentation layer: the one room that turns facts into words for a person or a program.
//! Workflows below return typed facts (summaries, plans, outcomes); this layer renders them as
//! terminal text, JSON and self-contained HTML, and it alone writes to stdout and stderr.
//!
//! - [`console`]: the two standard streams, written without panicking on a closed pipe.
//! - [`fix`], [`split`], [`catalog`]: what fix, split, template and rules say.
//! - [`html`]: the validate and import pages.
//! - [`json`]: the commands' JSON, written one way.
//! - [`validate`]: validate's terminal summary and JSON.
//! - [`import`]: an import's plan, summary (text and JSON) and page, from its outcome.

pub mod catalog;
pub mod console;
pub mod fix;
pub mod html;
pub mod import;
pub mod json;
pub mod split;
pub mod validate;
