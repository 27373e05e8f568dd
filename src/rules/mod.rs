//! The validation rules: the catalog ([`catalog`]) and the checks that apply it to one row
//! ([`check`]) and across rows ([`CrossRow`]).

pub mod catalog;
mod check;
mod sso;
mod values;
pub(crate) mod words;

pub use catalog::{Code, Problem, Rule, Scope, Severity, RULES};
pub use check::{
    check_row, duplicate_problems, is_header_record, user_named, Action, CheckCtx, CrossKeys,
    CrossRow, DateOrder, FirstLines,
};
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
