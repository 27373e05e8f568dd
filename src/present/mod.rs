//! The presentation layer: the one room that turns facts into words for a person or a program.
//! Workflows below return typed facts (summaries, plans, outcomes); this layer renders them as
//! terminal text, JSON and self-contained HTML, and it alone writes to stdout and stderr.
//!
//! - [`console`]: the two standard streams, written without panicking on a closed pipe.
//! - [`error`]: errors with their causes and hints, as text or one JSON object.
//! - [`export`]: the export's closing summary.
//! - [`fix`], [`split`], [`catalog`]: what fix, split, template and rules say.
//! - [`html`]: the validate and import pages.
//! - [`import`]: an import's plan, summary (text and JSON) and page, from its outcome.
//! - [`integration_user`]: the steps `integration-user` took and what the partner needs.
//! - [`json`]: the commands' JSON, written one way.
//! - [`output`]: a command's data to stdout or to a file (`-o`), replaced atomically.
//! - [`progress`]: the progress bars and spinners, drawn on a terminal only.
//! - [`sim`]: what `qusers sim` prints once it listens.
//! - [`stats`]: the API's retries and requests by kind, as every run summary words them.
//! - [`sync`]: the sync's closing summary and its history.
//! - [`validate`]: validate's terminal summary and JSON.
//! - [`whoami`]: the identity and the ids an integration asks for.
//!
//! This room alone may name `std::io::stdout`/`stderr` or use the print macros: the crate's
//! `[lints]` table and `clippy.toml` forbid them everywhere else.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

pub mod catalog;
pub mod console;
pub mod error;
pub mod export;
pub mod fix;
pub mod html;
pub mod import;
pub mod integration_user;
pub mod json;
pub mod output;
pub mod progress;
pub mod sim;
pub mod split;
pub mod stats;
pub mod sync;
pub mod validate;
pub mod whoami;
