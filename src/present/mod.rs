//! The presentation layer: the one room that turns facts into words for a person or a program.
//! Workflows below return typed facts (summaries, plans, outcomes); this layer renders them as
//! terminal text, JSON and self-contained HTML, and it alone writes to stdout and stderr.
//!
//! - [`console`]: the two standard streams, written without panicking on a closed pipe.
//! - [`error`]: errors with their causes and hints, as text or one JSON object.
//! - [`export`]: the export's closing summary.
//! - [`html`]: the validate and import pages.
//! - [`integration_user`]: the steps `integration-user` took and what the partner needs.
//! - [`sim`]: what `qusers sim` prints once it listens.
//! - [`stats`]: the API's retries and requests by kind, as every run summary words them.
//! - [`sync`]: the sync's closing summary and its history.
//! - [`whoami`]: the identity and the ids an integration asks for.

pub mod console;
pub mod error;
pub mod export;
pub mod html;
pub mod integration_user;
pub mod sim;
pub mod stats;
pub mod sync;
pub mod whoami;
