//! The validation rules: the checks that apply the rule catalog (which lives on the ground
//! floor, [`crate::vocab::rule`]) to one row ([`check`]) and across rows ([`CrossRow`]), and
//! what they need to know of an instance ([`InstanceFacts`]).

mod check;
mod facts;
mod sso;
mod values;
pub(crate) mod words;

/// The catalog's words, re-exported for the rooms that name them through `rules`.
pub use crate::vocab::row::Action;
pub use crate::vocab::rule::{Code, Problem, Rule, Scope, Severity, RULES};
pub use check::{
    check_row, duplicate_problems, is_header_record, user_named, CheckCtx, CrossKeys, CrossRow,
    DateOrder, FirstLines, Upsert,
};
pub use facts::{InstanceFacts, UserFacts};
pub use sso::{
    detect_sso_brand, is_brand_id, sso_username_issue, strip_brand, with_brand, SsoBrand,
    SsoDetection, SsoIssue,
};
pub use values::{
    damage, find_lost_text_char, is_lost_text_char, is_scientific_notation, nfc, same_text, Damage,
};
pub use values::{
    describe_invisible, email_issue, find_invisible, forbidden_symbols, format_file_date,
    invisible_name, is_account_type, is_division_id, is_user_id, parse_date, parse_status,
    remove_invisible, unmojibake, DateIssue, Status, FORBIDDEN,
};
