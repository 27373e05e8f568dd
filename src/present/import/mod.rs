//! An import, an update or a sync as a person or a program reads it: the plan as text and the
//! confirmation question ([`plan`]), the summary as text or JSON ([`summary`]), and the HTML
//! page built from the outcome ([`page`]; [`crate::present::html`] renders it). Everything
//! here is read from the facts the import workflow returns ([`crate::import::ImportOutcome`],
//! [`crate::import::Plan`]); nothing is planned, sent or validated again.

pub mod page;
pub mod plan;
pub mod summary;

pub use page::{import_page, write_page};
pub use summary::Summary;
