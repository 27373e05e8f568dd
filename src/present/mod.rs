//! The presentation layer: the one room that turns facts into words for a person or a program.
//! Workflows below return typed facts (summaries, plans, outcomes); this layer renders them as
//! terminal text, JSON and self-contained HTML, and it alone writes to stdout and stderr.
//!
//! - [`console`]: the two standard streams, written without panicking on a closed pipe.
//! - [`error`]: errors with their causes and hints, as text or one JSON object.
//! - [`export`]: the export's closing summary.
//! - [`html`]: the validate and import pages.
//! - [`stats`]: the API's retries and requests by kind, as every run summary words them.

pub mod console;
pub mod error;
pub mod export;
pub mod html;
pub mod stats;
