//! qusers: validate, import and export Qualtrics users from CSV/TSV files.
//!
//! Data flows one way: bytes → decoded text ([`file`]) → records with line numbers → checked
//! rows ([`rules`], [`validate`]) → reports ([`report`]); rows → plan → API calls → outcomes.

pub mod api;
pub mod cli;
pub mod export;
pub mod fake;
pub mod file;
pub mod fix;
pub mod fsx;
pub mod import;
pub mod instance;
pub mod integration;
pub mod numfmt;
pub mod present;
pub mod report;
pub mod rules;
pub mod sim;
pub mod split;
pub mod sync;
pub mod text;
pub mod validate;
pub mod vocab;
