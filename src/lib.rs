//! qusers: validate, import and export Qualtrics users from CSV/TSV files.
//!
//! Data flows one way: bytes → decoded text ([`file`]) → records with line numbers → checked
//! rows ([`rules`], [`validate`]) → reports ([`report`]); rows → plan → API calls → outcomes.
//!
//! The house, from the top floor down (an arrow only ever points down):
//! - [`cli`] turns flags into options and calls one workflow; [`present`] renders what the
//!   workflows return as text, JSON and HTML, and is the only room that writes to stdout or
//!   stderr (the `[lints]` table and `clippy.toml` hold every other room to it).
//! - Workflows: [`sync`], [`import`] (import and update), [`validate`], [`export`], `fix`,
//!   `split`, `integration`; the [`sim`]ulator beside them.
//! - Working parts: [`report`] (per-row CSV/JSONL), [`instance`] (what qusers knows of an
//!   instance), [`rules`] (the checks), [`file`] (bytes to records), [`api`] (the v3 client).
//! - The ground floor: [`vocab`] (the words every room shares: columns, rule codes, row
//!   positions, changes, outcomes), `text`, `fsx` (the one atomic writer), `numfmt`.
//!
//! Rooms that no test, bench or example needs from outside are private, and an item is
//! `pub(crate)` unless another crate can reach it (`unreachable_pub`).

pub mod api;
pub mod cli;
pub mod export;
pub mod fake;
pub mod file;
mod fix;
mod fsx;
pub mod import;
pub mod instance;
mod integration;
mod numfmt;
pub mod present;
pub mod report;
pub mod rules;
pub mod sim;
mod split;
pub mod sync;
mod text;
pub mod validate;
pub mod vocab;
