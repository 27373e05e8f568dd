//! The checks of one row (pure, run in parallel) and across rows (in input order).

use std::collections::HashSet;

use jiff::civil::Date;

use super::sso::{sso_username_issue, SsoIssue};
use super::values::{
    control_and_rare_bytes, describe_invisible, email_issue, find_invisible, find_lost_text_char,
    forbidden_symbols, format_file_date, has_control, has_lead_then_continuation, is_account_type,
    is_division_id, is_scientific_notation, is_user_id, may_have_invisible, nfc, parse_date,
    parse_status, two_digit_date, unmojibake, DateIssue,
};
use super::words;
use super::{Code, InstanceFacts, Problem, UserFacts};
use crate::file::{trim, Col, ColumnMap, Record};
use crate::vocab::row::Action;

/// The user of `instance` with this username, compared as usernames are: regardless of case
/// and of Unicode normalization (`José` typed on a Mac, `e` + U+0301, is the same name).
pub fn user_named<'a>(
    instance: &'a (impl InstanceFacts + ?Sized),
    name: &str,
) -> Option<UserFacts<'a>> {
    instance.user_by_name(name).or_else(|| {
        if name.is_ascii() {
            return None;
        }
        use unicode_normalization::UnicodeNormalization;
        let composed = nfc(name);
        let decomposed: String = name.nfd().collect();
        let found = [composed.as_ref(), decomposed.as_str()]
            .into_iter()
            .filter(|n| *n != name)
            .find_map(|n| instance.user_by_name(n));
        found
    })
}

/// What the row checks need besides the row.
pub struct CheckCtx<'a> {
    pub map: &'a ColumnMap,
    pub instance: Option<&'a dyn InstanceFacts>,
    pub today: Date,
    /// The SSO brand id: usernames end in `#id` and need not be email-shaped.
    pub sso_brand: Option<&'a str>,
    /// The worksheet the rows come from, when the file is a workbook.
    pub sheet: Option<&'a crate::file::SheetData>,
    /// `import --upsert`: a create whose username the instance has updates that user.
    pub upsert: Option<&'a Upsert>,
}

/// `import --upsert`, as the checks read it: a create row whose username the instance has is
/// an update of that user. Its action is update, and what only a new user needs is not asked
/// of it: the username free (U05), first and last name and email filled in (N01, N02, N04).
#[derive(Clone, Debug, Default)]
pub struct Upsert {
    /// Rows (by number) that the journal of an interrupted run of the import names: they keep
    /// what that run made of them (a create's own user makes its username taken on a resume).
    pub sent_before: HashSet<u64>,
}

/// A value in quotes for a message, cut after 60 characters.
fn quoted(s: &str) -> Quoted<'_> {
    Quoted(s)
}

/// What [`quoted`] gives: written straight into the message, not into a string of its own.
struct Quoted<'a>(&'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MAX: usize = 60;
        let s = self.0;
        // Bytes first: a value of at most MAX bytes has at most MAX characters.
        let past_max = if s.len() > MAX {
            s.char_indices().nth(MAX)
        } else {
            None
        };
        match past_max {
            Some((cut, _)) => write!(f, "\"{}…\"", &s[..cut]),
            None => write!(f, "\"{s}\""),
        }
    }
}

fn describe_control(c: char) -> String {
    match c {
        '\n' | '\r' => "a line break".into(),
        '\t' => "a tab".into(),
        '\0' => "a NUL byte".into(),
        c => format!("the invisible character U+{:04X}", c as u32),
    }
}

fn symbols_detail(col: Col, value: &str, found: &[(char, usize)]) -> String {
    let list: Vec<String> = found
        .iter()
        .take(3)
        .map(|(c, p)| format!("'{c}' at position {p}"))
        .collect();
    let more = if found.len() > 3 {
        format!(" and {} more", found.len() - 3)
    } else {
        String::new()
    };
    format!(
        "{} {} has {}{more}",
        col.name(),
        quoted(value),
        list.join(", ")
    )
}

/// The longest name, username or email Qualtrics holds, in characters.
const MAX_CHARS: usize = 255;

trait ColRules {
    /// An id, address or code: an apostrophe in front can only be Excel's text prefix.
    fn takes_no_apostrophe(self) -> bool;
    /// Names, usernames and emails are limited to [`MAX_CHARS`].
    fn has_length_limit(self) -> bool;
}

impl ColRules for Col {
    fn takes_no_apostrophe(self) -> bool {
        !matches!(self, Col::FirstName | Col::LastName)
    }
    fn has_length_limit(self) -> bool {
        matches!(
            self,
            Col::UserName | Col::FirstName | Col::LastName | Col::Email
        )
    }
}

/// Whether a record is the header line again (two files pasted together).
pub fn is_header_record(map: &ColumnMap, rec: Record) -> bool {
    let values: [&str; 9] = std::array::from_fn(|i| trim_value(map.field(rec, Col::ALL[i])));
    is_header_again(map, &values)
}

/// [`trim`], with the empty field (common: an unset column) answered without a search.
fn trim_value(s: &str) -> &str {
    if s.is_empty() {
        s
    } else {
        trim(s)
    }
}

/// A record that is the header again (two exports pasted together): every column present
/// holds its own name. `values` are the record's fields of each column, trimmed.
fn is_header_again(map: &ColumnMap, values: &[&str; 9]) -> bool {
    // The usual record fails on the first comparison.
    let first = Col::ALL
        .iter()
        .find(|c| map.pos[**c as usize].is_some())
        .copied();
    let Some(first) = first else {
        return false;
    };
    if !values[first as usize].eq_ignore_ascii_case(first.name()) {
        return false;
    }
    Col::ALL
        .iter()
        .filter(|c| map.pos[**c as usize].is_some())
        .all(|c| values[*c as usize].eq_ignore_ascii_case(c.name()))
}

/// T03 for the identifiers (`userName "2.02312E+11"`) written in scientific notation.
fn push_scientific(scientific: &[String], out: &mut Vec<Problem>) {
    if scientific.is_empty() {
        return;
    }
    out.push(Problem::new(
        Code::ScientificNumber,
        format!(
            "{} {} a number in Excel's scientific notation: Excel read the column as numbers and kept only six digits, so the original value cannot be recovered from the file",
            scientific.join(", "),
            if scientific.len() == 1 { "is" } else { "are" }
        ),
    ));
}

/// One record's values as the column checks see them.
struct Row<'a> {
    /// Each column's field as read (empty when the file lacks the column).
    texts: [&'a str; 9],
    /// The same, trimmed once.
    values: [&'a str; 9],
    map: &'a ColumnMap,
    /// What the userID says: a create when it is empty.
    action: Action,
    /// A create that updates the user the instance has with its username (see [`Upsert`]).
    upsert: bool,
}

impl<'a> Row<'a> {
    fn value(&self, col: Col) -> &'a str {
        self.values[col as usize]
    }

    /// The file has the column.
    fn has(&self, col: Col) -> bool {
        self.map.pos[col as usize].is_some()
    }

    /// The row makes a new user: a create that is no upsert.
    fn makes_user(&self) -> bool {
        self.action == Action::Create && !self.upsert
    }

    /// What the import does with the row: an upsert updates.
    fn import_action(&self) -> Action {
        match self.upsert {
            true => Action::Update,
            false => self.action,
        }
    }
}

/// Checks one record (data row number `number`) against every row rule that needs no other
/// row. Appends to `out`, in the order the report shows: the row's shape, what any value may
/// have wrong, then each column's own rules. Returns what an import does with the row: an
/// update when it has a userID or is an upsert (see [`Upsert`]), else a create.
pub fn check_row(rec: Record, number: u64, ctx: &CheckCtx, out: &mut Vec<Problem>) -> Action {
    let map = ctx.map;
    let all = rec.text();
    // The fields are all empty exactly when their text, back to back, trims to nothing.
    if trim_value(all).is_empty() {
        out.push(Problem::new(Code::EmptyRow, "every field is empty"));
        return Action::Create;
    }
    check_field_count(rec.len(), map.width, out);
    let texts: [&str; 9] = std::array::from_fn(|i| map.field(rec, Col::ALL[i]));
    // Each column's value as the rules see it, trimmed once.
    let values: [&str; 9] = std::array::from_fn(|i| trim_value(texts[i]));
    if is_header_again(map, &values) {
        out.push(Problem::new(
            Code::RepeatedHeader,
            "this line repeats the header (userID,userName,…): it is not a user",
        ));
        return Action::of_user_id(values[Col::UserId as usize]);
    }
    let mut row = Row {
        texts,
        values,
        map,
        action: Action::of_user_id(values[Col::UserId as usize]),
        upsert: false,
    };
    row.upsert = is_upsert(&row, number, ctx);

    // What any value may have wrong.
    let marks = mark_cells(&row);
    check_lengths(&row, marks.long, out);
    check_characters(&row, all, out);
    check_text_prefix(&row, marks.prefixed, out);
    check_spaces(marks.spaced, out);
    check_scientific(&row, out);

    // Each column's own rules.
    check_user_id(&row, ctx.instance, out);
    let name_shape = check_user_name(&row, ctx, out);
    check_names(&row, out);
    check_email(&row, name_shape, out);
    check_account_type(&row, ctx.instance, out);
    check_division(row.value(Col::DivisionId), ctx.instance, out);
    check_status(row.value(Col::AccountStatus), out);
    check_expiration(row.value(Col::ExpirationDate), ctx.today, out);
    row.import_action()
}

/// Whether a create row is an upsert (see [`Upsert`]): the import asks for upserts, no
/// interrupted run sent the row, and the instance has a user with its username.
fn is_upsert(row: &Row, number: u64, ctx: &CheckCtx) -> bool {
    row.action == Action::Create
        && ctx.upsert.is_some_and(|u| !u.sent_before.contains(&number))
        && ctx
            .instance
            .is_some_and(|i| user_named(i, row.value(Col::UserName)).is_some())
}

/// R01: a record with more or fewer fields than the header.
fn check_field_count(len: usize, width: usize, out: &mut Vec<Problem>) {
    if len != width {
        out.push(Problem::new(
            Code::FieldCount,
            format!(
                "the row has {} field{}, the header has {}",
                len,
                if len == 1 { "" } else { "s" },
                width
            ),
        ));
    }
}

/// The columns whose values break the cheap rules of any value, as bit sets (bit `i` is
/// `Col::ALL[i]`). One pass over the row finds them, and most rows leave every set empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Marks {
    /// More bytes than [`MAX_CHARS`] in a column that has a length limit (R07 counts the
    /// characters).
    long: u16,
    /// Starts with Excel's text prefix, in a column that takes no apostrophe (R06).
    prefixed: u16,
    /// Spaces around the value (W01).
    spaced: u16,
}

/// The [`Marks`] of a row.
fn mark_cells(row: &Row) -> Marks {
    let mut marks = Marks::default();
    for col in Col::ALL {
        let text = row.texts[col as usize];
        let value = row.value(col);
        let bit = 1u16 << col as u16;
        if value.len() != text.len() {
            marks.spaced |= bit;
        }
        if col.takes_no_apostrophe() && value.starts_with('\'') {
            marks.prefixed |= bit;
        }
        // Bytes first: a value of at most 255 bytes has at most 255 characters.
        if col.has_length_limit() && text.len() > MAX_CHARS {
            marks.long |= bit;
        }
    }
    marks
}

/// The columns of a bit set of [`Marks`], in template order.
fn marked(set: u16) -> impl Iterator<Item = Col> {
    Col::ALL
        .into_iter()
        .filter(move |c| set & (1 << *c as u16) != 0)
}

/// R07: a name, username or email longer than Qualtrics holds, one problem a column.
fn check_lengths(row: &Row, long: u16, out: &mut Vec<Problem>) {
    for col in marked(long) {
        let n = row.value(col).chars().count();
        if n > MAX_CHARS {
            out.push(Problem::new(
                Code::TooLong,
                format!(
                    "{} has {n} characters; Qualtrics holds at most {MAX_CHARS}",
                    col.name()
                ),
            ));
        }
    }
}

/// R02, R04, T02 and R08: control characters, invisible characters, characters a wrong
/// conversion left, and garbled accents. One look at the whole record (`all`) decides whether
/// its fields need these slower checks; most records skip them.
fn check_characters(row: &Row, all: &str, out: &mut Vec<Problem>) {
    let (any_control, any_rare) = control_and_rare_bytes(all.as_bytes());
    let maybe_invisible = any_rare && may_have_invisible(all);
    let maybe_garbled = any_rare && has_lead_then_continuation(all);
    if !(any_control || maybe_garbled || maybe_invisible) {
        return;
    }
    // Each list allocates only when it gets something, which few rows give.
    let mut controls = Vec::new();
    let mut invisible = Vec::new();
    let mut garbled = Vec::new();
    let mut lost = Vec::new();
    for col in Col::ALL {
        let text = row.texts[col as usize];
        let value = row.value(col);
        if any_control && has_control(text.as_bytes()) {
            if let Some(c) = text.chars().find(|c| c.is_control()) {
                controls.push(format!("{} has {}", col.name(), describe_control(c)));
            }
        }
        if maybe_garbled {
            if let Some(was) = unmojibake(text) {
                garbled.push(format!(
                    "{} {} was probably {}",
                    col.name(),
                    quoted(value),
                    quoted(trim(&was))
                ));
            }
        }
        if maybe_invisible {
            if let Some(c) = find_invisible(value) {
                invisible.push(format!("{} has {}", col.name(), describe_invisible(c)));
            }
            // (C1 controls and U+FFFD start with bytes that invisible characters share.)
            if let Some(c) = find_lost_text_char(value) {
                lost.push(format!(
                    "{} {} has U+{:04X}",
                    col.name(),
                    quoted(value),
                    c as u32
                ));
            }
        }
    }
    if !controls.is_empty() {
        out.push(Problem::new(Code::ControlChar, controls.join(", ")));
    }
    if !invisible.is_empty() {
        out.push(Problem::new(
            Code::InvisibleChar,
            format!("{} (invisible in Excel)", invisible.join(", ")),
        ));
    }
    if !lost.is_empty() {
        out.push(Problem::new(
            Code::LostText,
            format!(
                "{} (no one types it: a wrong text conversion left it)",
                lost.join(", ")
            ),
        ));
    }
    if !garbled.is_empty() {
        out.push(Problem::new(
            Code::Mojibake,
            format!(
                "{} (UTF-8 read as Windows-1252 and saved again)",
                garbled.join(", ")
            ),
        ));
    }
}

/// R06: an id, address or code that starts with Excel's text prefix (').
fn check_text_prefix(row: &Row, prefixed: u16, out: &mut Vec<Problem>) {
    if prefixed == 0 {
        return;
    }
    let prefixed: Vec<String> = marked(prefixed)
        .map(|col| format!("{} {}", col.name(), quoted(row.value(col))))
        .collect();
    out.push(Problem::new(
        Code::TextPrefix,
        format!(
            "{} start{} with ', Excel's text prefix, saved as part of the value",
            prefixed.join(", "),
            if prefixed.len() == 1 { "s" } else { "" }
        ),
    ));
}

/// W01: spaces around values, one problem naming every such column.
fn check_spaces(spaced: u16, out: &mut Vec<Problem>) {
    if spaced == 0 {
        return;
    }
    let spaced: Vec<&str> = marked(spaced).map(Col::name).collect();
    out.push(Problem::new(
        Code::Whitespace,
        format!("spaces around {}", spaced.join(", ")),
    ));
}

/// T03: Excel's scientific notation in an identifier: the digits it dropped are gone. Only a
/// value that starts with a digit can be one (ids and addresses nearly never do).
fn check_scientific(row: &Row, out: &mut Vec<Problem>) {
    let idents = [Col::UserId, Col::UserName, Col::Email];
    let starts_with_digit = |c: Col| {
        row.value(c)
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_digit)
    };
    if idents.iter().any(|&c| starts_with_digit(c)) {
        let scientific: Vec<String> = idents
            .into_iter()
            .filter(|&c| {
                let value = row.value(c);
                let head = value.split_once('#').map_or(value, |(local, _)| local);
                starts_with_digit(c) && is_scientific_notation(head)
            })
            .map(|c| format!("{} {}", c.name(), quoted(row.value(c))))
            .collect();
        push_scientific(&scientific, out);
    }
}

/// I01 and I03, and on an update W02/W03: a userID's shape, whether the instance has it, and
/// what the row would change that bulk update ignores.
fn check_user_id(row: &Row, instance: Option<&dyn InstanceFacts>, out: &mut Vec<Problem>) {
    let id = row.value(Col::UserId);
    if id.is_empty() {
        return;
    }
    if !is_user_id(id) {
        out.push(Problem::new(
            Code::UserIdFormat,
            format!("userID {}", quoted(id)),
        ));
        return;
    }
    let Some(inst) = instance else {
        return;
    };
    let Some(user) = inst.user_by_id(id) else {
        out.push(Problem::new(
            Code::UserIdUnknown,
            format!("no user of the instance has the id {id}"),
        ));
        return;
    };
    let name = row.value(Col::UserName);
    if !name.is_empty() && !name.eq_ignore_ascii_case(user.username) {
        out.push(Problem::new(
            Code::UpdateUserName,
            format!(
                "userName {} differs from the instance's {}",
                quoted(name),
                quoted(user.username)
            ),
        ));
    }
    let email = row.value(Col::Email);
    if !email.is_empty() && !email.eq_ignore_ascii_case(user.email) {
        out.push(Problem::new(
            Code::UpdateEmail,
            format!(
                "email {} differs from the instance's {}",
                quoted(email),
                quoted(user.email)
            ),
        ));
    }
}

/// U01, U03, U02 (or U06/U07 on an SSO brand) and U05: the username of a create row (bulk
/// update ignores it; an upsert's names the user it updates, so it is not taken). Returns the username's shape as an address when it was judged: the
/// email is usually the same text, whose shape need not be judged twice.
fn check_user_name(row: &Row, ctx: &CheckCtx, out: &mut Vec<Problem>) -> Option<Option<String>> {
    if row.action != Action::Create || !row.has(Col::UserName) {
        return None;
    }
    let name = row.value(Col::UserName);
    if name.is_empty() {
        out.push(Problem::new(Code::UserNameMissing, "userName is empty"));
        return None;
    }
    let mut name_shape = None;
    let symbols = forbidden_symbols(name);
    if !symbols.is_empty() {
        out.push(Problem::new(
            Code::UserNameSymbol,
            symbols_detail(Col::UserName, name, &symbols),
        ));
    }
    match ctx.sso_brand {
        None => {
            let issue = email_issue(name);
            if let Some(why) = &issue {
                out.push(Problem::new(
                    Code::UserNameShape,
                    format!("userName {}: {why}", quoted(name)),
                ));
            }
            name_shape = Some(issue);
        }
        Some(brand) => match sso_username_issue(name, brand) {
            None => {}
            Some(SsoIssue::NoSuffix) => out.push(Problem::new(
                Code::SsoSuffixMissing,
                format!(
                    "userName {} does not end in #{brand}: on this SSO brand usernames end in #{brand}",
                    quoted(name)
                ),
            )),
            Some(SsoIssue::BadLocal(why)) => out.push(Problem::new(
                Code::SsoUserNameShape,
                format!("userName {}: {why}", quoted(name)),
            )),
        },
    }
    if let Some(user) = ctx
        .instance
        .filter(|_| !row.upsert)
        .and_then(|i| user_named(i, name))
    {
        out.push(Problem::new(
            Code::UserNameTaken,
            format!("{} is the username of {}", quoted(name), user.id),
        ));
    }
    name_shape
}

/// N01, N02 and N03: first and last names, needed on a new user (not on an upsert) and free of
/// forbidden symbols.
fn check_names(row: &Row, out: &mut Vec<Problem>) {
    for (col, missing) in [
        (Col::FirstName, Code::FirstNameMissing),
        (Col::LastName, Code::LastNameMissing),
    ] {
        if !row.has(col) {
            continue;
        }
        let value = row.value(col);
        if value.is_empty() {
            if row.makes_user() {
                out.push(Problem::new(missing, format!("{} is empty", col.name())));
            }
        } else {
            let symbols = forbidden_symbols(value);
            if !symbols.is_empty() {
                out.push(Problem::new(
                    Code::NameSymbol,
                    symbols_detail(col, value, &symbols),
                ));
            }
        }
    }
}

/// N04 and N05: the email of a create row, needed on a new user (not on an upsert).
/// `name_shape` is the username's shape when it was judged (see [`check_user_name`]).
fn check_email(row: &Row, name_shape: Option<Option<String>>, out: &mut Vec<Problem>) {
    if row.action != Action::Create || !row.has(Col::Email) {
        return;
    }
    let email = row.value(Col::Email);
    if email.is_empty() {
        if row.makes_user() {
            out.push(Problem::new(Code::EmailMissing, "email is empty"));
        }
    } else if let Some(why) = match name_shape {
        Some(issue) if email == row.value(Col::UserName) => issue,
        _ => email_issue(email),
    } {
        out.push(Problem::new(
            Code::EmailShape,
            format!("email {}: {why}", quoted(email)),
        ));
    }
}

/// A01, A02 and A07: the user type, needed on a new user, an id, and one the instance uses.
fn check_account_type(row: &Row, instance: Option<&dyn InstanceFacts>, out: &mut Vec<Problem>) {
    if !row.has(Col::AccountType) {
        return;
    }
    let t = row.value(Col::AccountType);
    if t.is_empty() {
        if row.action == Action::Create {
            out.push(Problem::new(
                Code::AccountTypeMissing,
                "accountType is empty",
            ));
        }
    } else if !is_account_type(t) {
        out.push(Problem::new(
            Code::AccountTypeFormat,
            format!("accountType {}", quoted(t)),
        ));
    } else if instance.and_then(|i| i.knows_user_type(t)) == Some(false) {
        out.push(Problem::new(
            Code::AccountTypeUnknown,
            format!("no existing user has the user type {t}"),
        ));
    }
}

/// A03, A08 and A06: a division is an id, one the API knows, and one the instance uses.
fn check_division(div: &str, instance: Option<&dyn InstanceFacts>, out: &mut Vec<Problem>) {
    if div.is_empty() {
        return;
    }
    if !is_division_id(div) {
        out.push(Problem::new(
            Code::DivisionFormat,
            format!("divisionId {}", quoted(div)),
        ));
    } else if let Some(inst) = instance {
        if inst.division_confirmed_missing(div) {
            out.push(Problem::new(
                Code::DivisionNotFound,
                format!("the API does not know the division {div}"),
            ));
        } else if inst.knows_division(div) == Some(false) {
            out.push(Problem::new(
                Code::DivisionUnknown,
                format!("no existing user is in the division {div}"),
            ));
        }
    }
}

/// A04 and A05: accountStatus is active or disabled, or a synonym read as one.
fn check_status(status: &str, out: &mut Vec<Problem>) {
    if status.is_empty() {
        return;
    }
    match parse_status(status) {
        None => out.push(Problem::new(
            Code::StatusValue,
            format!("accountStatus {}", quoted(status)),
        )),
        Some((s, true)) => out.push(Problem::new(
            Code::StatusSynonym,
            format!("accountStatus {} is read as {}", quoted(status), s.as_str()),
        )),
        Some(_) => {}
    }
}

/// D01–D06: expirationDate is a real MM/DD/YYYY date, not before `today`.
fn check_expiration(exp: &str, today: Date, out: &mut Vec<Problem>) {
    if exp.is_empty() {
        return;
    }
    let in_past = |d: Date, out: &mut Vec<Problem>| {
        if d < today {
            out.push(Problem::new(
                Code::DatePast,
                format!(
                    "expirationDate {} is before today ({})",
                    quoted(exp),
                    format_file_date(today)
                ),
            ));
        }
    };
    match parse_date(exp) {
        Ok(d) => in_past(d, out),
        Err(DateIssue::Format(why)) => out.push(Problem::new(
            Code::DateFormat,
            format!("expirationDate {}: {why}", quoted(exp)),
        )),
        Err(DateIssue::Impossible(why)) => out.push(Problem::new(
            Code::DateImpossible,
            format!("expirationDate {}: {why}", quoted(exp)),
        )),
        Err(DateIssue::Iso(Some(d))) => out.push(Problem::new(
            Code::DateIso,
            format!(
                "expirationDate {} is YYYY-MM-DD: write {}",
                quoted(exp),
                format_file_date(d)
            ),
        )),
        // Not a date in any order: converting it would only hide that.
        Err(DateIssue::Iso(None)) => out.push(Problem::new(
            Code::DateImpossible,
            format!(
                "expirationDate {} is YYYY-MM-DD, and not a real date",
                quoted(exp)
            ),
        )),
        Err(DateIssue::DayFirst(d)) => out.push(Problem::new(
            Code::DateDayFirst,
            match d {
                Some(d) => format!(
                    "expirationDate {} has a day above 12 first: if it is DD/MM/YYYY, write {}",
                    quoted(exp),
                    format_file_date(d)
                ),
                None => format!("expirationDate {} has a day above 12 first", quoted(exp)),
            },
        )),
        Err(DateIssue::Unpadded(d)) => {
            out.push(Problem::new(
                Code::DateUnpadded,
                format!(
                    "expirationDate {}: write {}",
                    quoted(exp),
                    format_file_date(d)
                ),
            ));
            in_past(d, out);
        }
    }
}

/// One test a check: each builds the values of a row and reads what the check alone says.
#[cfg(test)]
mod column_tests {
    use super::*;

    /// A template row whose fields are `texts` (userID, userName, …, expirationDate).
    fn row<'a>(map: &'a ColumnMap, texts: [&'a str; 9]) -> Row<'a> {
        let values = texts.map(trim_value);
        Row {
            texts,
            values,
            map,
            action: Action::of_user_id(values[0]),
            upsert: false,
        }
    }

    /// A create row with these values set over a valid one.
    fn create<'a>(map: &'a ColumnMap, set: &[(Col, &'a str)]) -> Row<'a> {
        let mut texts = [
            "",
            "ann@x.org",
            "Ann",
            "Lee",
            "ann@x.org",
            "",
            "UT_ABC",
            "active",
            "",
        ];
        for (col, v) in set {
            texts[*col as usize] = v;
        }
        row(map, texts)
    }

    /// An instance of one user (UR_12345678901, ann@x.org), one user type and one division,
    /// and a division the API said does not exist.
    struct Table;

    impl InstanceFacts for Table {
        fn user_by_id(&self, id: &str) -> Option<UserFacts<'_>> {
            (id == "UR_12345678901").then_some(UserFacts {
                id: "UR_12345678901",
                username: "ann@x.org",
                email: "ann@x.org",
            })
        }
        fn user_by_name(&self, name: &str) -> Option<UserFacts<'_>> {
            self.user_by_id("UR_12345678901")
                .filter(|u| u.username.eq_ignore_ascii_case(name))
        }
        fn knows_user_type(&self, id: &str) -> Option<bool> {
            Some(id == "UT_ABC")
        }
        fn knows_division(&self, id: &str) -> Option<bool> {
            Some(id == "DV_abc123")
        }
        fn division_confirmed_missing(&self, id: &str) -> bool {
            id == "DV_gone12345"
        }
        fn usernames(&self) -> Box<dyn Iterator<Item = &str> + '_> {
            Box::new(["ann@x.org"].into_iter())
        }
    }

    fn codes(out: &[Problem]) -> Vec<&'static str> {
        out.iter().map(|p| p.code.id()).collect()
    }

    fn ctx<'a>(map: &'a ColumnMap, instance: Option<&'a dyn InstanceFacts>) -> CheckCtx<'a> {
        CheckCtx {
            map,
            instance,
            today: Date::new(2026, 6, 1).expect("date"),
            sso_brand: None,
            sheet: None,
            upsert: None,
        }
    }

    #[test]
    fn field_count_names_both_widths() {
        let mut out = Vec::new();
        check_field_count(9, 9, &mut out);
        assert!(out.is_empty());
        check_field_count(1, 9, &mut out);
        check_field_count(10, 9, &mut out);
        assert_eq!(out[0].detail, "the row has 1 field, the header has 9");
        assert_eq!(out[1].detail, "the row has 10 fields, the header has 9");
    }

    #[test]
    fn lengths_are_limited_in_names_and_addresses_only() {
        let map = ColumnMap::template();
        let long = "é".repeat(200); // 400 bytes, 200 characters: within the limit.
        let longer = "a".repeat(256);
        let mut out = Vec::new();
        let lengths = |r: &Row, out: &mut Vec<Problem>| check_lengths(r, mark_cells(r).long, out);
        lengths(&create(&map, &[(Col::FirstName, &long)]), &mut out);
        lengths(&create(&map, &[(Col::DivisionId, &longer)]), &mut out);
        assert!(out.is_empty());
        lengths(&create(&map, &[(Col::LastName, &longer)]), &mut out);
        assert_eq!(codes(&out), ["R07"]);
        assert_eq!(
            out[0].detail,
            "lastName has 256 characters; Qualtrics holds at most 255"
        );
    }

    #[test]
    fn characters_name_each_column_in_one_problem_a_kind() {
        let map = ColumnMap::template();
        let r = create(
            &map,
            &[
                (Col::FirstName, "A\nnn"),
                (Col::LastName, "Kr\u{c3}\u{bc}ger"),
                (Col::Email, "ann@x.org\u{200b}"),
                (Col::DivisionId, "DV_\u{fffd}"),
            ],
        );
        let all = r.texts.join(",");
        let mut out = Vec::new();
        check_characters(&r, &all, &mut out);
        assert_eq!(codes(&out), ["R02", "R04", "T02", "R08"]);
        assert_eq!(out[0].detail, "firstName has a line break");
        assert_eq!(
            out[1].detail,
            "email has U+200B zero-width space (invisible in Excel)"
        );
        assert!(out[3]
            .detail
            .starts_with("lastName \"KrÃ¼ger\" was probably \"Krüger\""));
        // Plain text takes none of these checks.
        out.clear();
        let r = create(&map, &[]);
        check_characters(&r, &r.texts.join(","), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn text_prefix_is_found_outside_names() {
        let map = ColumnMap::template();
        let mut out = Vec::new();
        let prefix =
            |r: &Row, out: &mut Vec<Problem>| check_text_prefix(r, mark_cells(r).prefixed, out);
        prefix(&create(&map, &[(Col::FirstName, "'Ann")]), &mut out);
        assert!(out.is_empty(), "a name may start with an apostrophe");
        prefix(&create(&map, &[(Col::AccountType, "'UT_ABC")]), &mut out);
        assert_eq!(codes(&out), ["R06"]);
        assert_eq!(
            out[0].detail,
            "accountType \"'UT_ABC\" starts with ', Excel's text prefix, saved as part of the value"
        );
    }

    #[test]
    fn spaces_name_every_spaced_column() {
        let map = ColumnMap::template();
        let mut out = Vec::new();
        let row = create(
            &map,
            &[(Col::FirstName, " Ann"), (Col::Email, "ann@x.org\t")],
        );
        check_spaces(mark_cells(&row).spaced, &mut out);
        assert_eq!(codes(&out), ["W01"]);
        assert_eq!(out[0].detail, "spaces around firstName, email");
    }

    #[test]
    fn scientific_identifiers_are_named_together() {
        let map = ColumnMap::template();
        let mut out = Vec::new();
        check_scientific(&create(&map, &[(Col::LastName, "2.02312E+11")]), &mut out);
        assert!(out.is_empty(), "only identifiers");
        check_scientific(
            &create(
                &map,
                &[(Col::UserName, "2.02312E+11#univ"), (Col::Email, "1.5E+10")],
            ),
            &mut out,
        );
        assert_eq!(codes(&out), ["T03"]);
        assert!(out[0]
            .detail
            .starts_with("userName \"2.02312E+11#univ\", email \"1.5E+10\" are a number"));
    }

    #[test]
    fn user_id_shape_then_the_instance() {
        let map = ColumnMap::template();
        let mut out = Vec::new();
        check_user_id(&create(&map, &[]), Some(&Table), &mut out);
        assert!(out.is_empty(), "a create has no id to check");
        check_user_id(
            &create(&map, &[(Col::UserId, "UR_1")]),
            Some(&Table),
            &mut out,
        );
        check_user_id(
            &create(&map, &[(Col::UserId, "UR_99999999999")]),
            Some(&Table),
            &mut out,
        );
        check_user_id(
            &create(&map, &[(Col::UserId, "UR_99999999999")]),
            None,
            &mut out,
        );
        assert_eq!(codes(&out), ["I01", "I03"]);
        out.clear();
        let update = create(
            &map,
            &[
                (Col::UserId, "UR_12345678901"),
                (Col::UserName, "ANN@x.org"),
                (Col::Email, "new@x.org"),
            ],
        );
        check_user_id(&update, Some(&Table), &mut out);
        assert_eq!(
            codes(&out),
            ["W03"],
            "a username differing in case only is the same"
        );
        assert_eq!(
            out[0].detail,
            "email \"new@x.org\" differs from the instance's \"ann@x.org\""
        );
    }

    #[test]
    fn user_name_of_a_new_user() {
        let map = ColumnMap::template();
        let mut out = Vec::new();
        let update = create(
            &map,
            &[(Col::UserId, "UR_12345678901"), (Col::UserName, "")],
        );
        assert_eq!(check_user_name(&update, &ctx(&map, None), &mut out), None);
        assert!(out.is_empty(), "bulk update ignores the username");
        let empty = create(&map, &[(Col::UserName, "")]);
        check_user_name(&empty, &ctx(&map, None), &mut out);
        assert_eq!(codes(&out), ["U01"]);
        out.clear();
        let bad = create(&map, &[(Col::UserName, "a!b")]);
        let shape = check_user_name(&bad, &ctx(&map, None), &mut out);
        assert_eq!(codes(&out), ["U03", "U02"]);
        assert!(
            matches!(shape, Some(Some(_))),
            "the shape is kept for the email"
        );
        out.clear();
        let taken = create(&map, &[(Col::UserName, "Ann@X.org")]);
        check_user_name(&taken, &ctx(&map, Some(&Table)), &mut out);
        assert_eq!(codes(&out), ["U05"]);
        assert_eq!(
            out[0].detail,
            "\"Ann@X.org\" is the username of UR_12345678901"
        );
        out.clear();
        let sso = CheckCtx {
            sso_brand: Some("univ"),
            ..ctx(&map, None)
        };
        assert_eq!(check_user_name(&create(&map, &[]), &sso, &mut out), None);
        assert_eq!(codes(&out), ["U06"]);
    }

    #[test]
    fn an_upsert_is_an_update_asked_nothing_only_a_new_user_needs() {
        let map = ColumnMap::template();
        let mut buf = crate::file::RecordBuf::new();
        // A taken username, with no first name and no email: a new user needs both.
        let taken = ["", "Ann@X.org", "", "Lee", "", "", "UT_ABC", "active", ""];
        buf.push(&csv::ByteRecord::from(taken.to_vec()), 2);
        // A username the instance does not have: a new user whatever the upsert.
        let free = [
            "", "bo@x.org", "", "Ng", "bo@x.org", "", "UT_ABC", "active", "",
        ];
        buf.push(&csv::ByteRecord::from(free.to_vec()), 3);
        let check = |upsert: Option<&Upsert>, i: usize| {
            let ctx = CheckCtx {
                upsert,
                ..ctx(&map, Some(&Table))
            };
            let mut out = Vec::new();
            let action = check_row(buf.get(i), i as u64 + 1, &ctx, &mut out);
            (action, codes(&out))
        };
        let as_create = (Action::Create, vec!["U05", "N01", "N04"]);
        assert_eq!(check(None, 0), as_create, "without --upsert");
        let upsert = Upsert::default();
        assert_eq!(check(Some(&upsert), 0), (Action::Update, vec![]));
        assert_eq!(check(Some(&upsert), 1), (Action::Create, vec!["N01"]));
        // The row an interrupted run sent as a create stays one (its own user took the name).
        let resumed = Upsert {
            sent_before: HashSet::from([1]),
        };
        assert_eq!(check(Some(&resumed), 0), as_create);
    }

    #[test]
    fn names_are_needed_on_creates_and_free_of_symbols() {
        let map = ColumnMap::template();
        let mut out = Vec::new();
        check_names(
            &create(&map, &[(Col::FirstName, ""), (Col::LastName, "a|b")]),
            &mut out,
        );
        assert_eq!(codes(&out), ["N01", "N03"]);
        assert_eq!(out[1].detail, "lastName \"a|b\" has '|' at position 2");
        out.clear();
        let update = create(
            &map,
            &[(Col::UserId, "UR_12345678901"), (Col::FirstName, "")],
        );
        check_names(&update, &mut out);
        assert!(out.is_empty(), "an update may leave a name empty");
    }

    #[test]
    fn email_reuses_the_username_shape() {
        let map = ColumnMap::template();
        let mut out = Vec::new();
        let same = create(&map, &[(Col::UserName, "bad"), (Col::Email, "bad")]);
        // The shape judged for the username stands for the same text in the email.
        check_email(&same, Some(Some("judged".into())), &mut out);
        assert_eq!(out[0].detail, "email \"bad\": judged");
        out.clear();
        check_email(&create(&map, &[(Col::Email, "")]), None, &mut out);
        check_email(
            &create(&map, &[(Col::Email, "a b@x.org")]),
            Some(None),
            &mut out,
        );
        assert_eq!(codes(&out), ["N04", "N05"]);
    }

    #[test]
    fn account_type_needed_an_id_and_used() {
        let map = ColumnMap::template();
        let mut out = Vec::new();
        for t in ["", "Brand Admin", "UT_ZZZ", "UT_ABC"] {
            check_account_type(
                &create(&map, &[(Col::AccountType, t)]),
                Some(&Table),
                &mut out,
            );
        }
        assert_eq!(codes(&out), ["A01", "A02", "A07"]);
    }

    #[test]
    fn division_an_id_known_to_the_api_and_used() {
        let mut out = Vec::new();
        check_division("", Some(&Table), &mut out);
        check_division("Sales", Some(&Table), &mut out);
        check_division("DV_gone12345", Some(&Table), &mut out);
        check_division("DV_other1234", Some(&Table), &mut out);
        check_division("DV_abc123", Some(&Table), &mut out);
        check_division("DV_other1234", None, &mut out);
        assert_eq!(codes(&out), ["A03", "A08", "A06"]);
    }

    #[test]
    fn status_words_and_synonyms() {
        let mut out = Vec::new();
        for s in ["", "active", "disabled", "bogus", "enabled"] {
            check_status(s, &mut out);
        }
        assert_eq!(codes(&out), ["A04", "A05"]);
        assert_eq!(out[1].detail, "accountStatus \"enabled\" is read as active");
    }

    #[test]
    fn expiration_dates() {
        let today = Date::new(2026, 6, 1).expect("date");
        let mut out = Vec::new();
        check_expiration("", today, &mut out);
        check_expiration("12/31/2027", today, &mut out);
        assert!(out.is_empty());
        check_expiration("1/2/2020", today, &mut out);
        assert_eq!(
            codes(&out),
            ["D06", "D05"],
            "an unpadded date is also checked for the past"
        );
        assert_eq!(
            out[1].detail,
            "expirationDate \"1/2/2020\" is before today (06/01/2026)"
        );
        out.clear();
        for d in [
            "2027-12-31",
            "2027-02-30",
            "02/30/2028",
            "31/12/2027",
            "soon",
        ] {
            check_expiration(d, today, &mut out);
        }
        assert_eq!(codes(&out), ["D03", "D02", "D02", "D04", "D01"]);
    }
}

/// A 128-bit fingerprint of a key: two independent 64-bit hashes. Two different keys share
/// one with a probability of about 2^-128 per pair (for a million rows, 10^-27 in all), so
/// the sets below keep fingerprints instead of the strings: 24 bytes a row whatever the key's
/// length, which keeps a 200 MB file's checks within a few tens of MiB.
fn fingerprint(key: &[u8]) -> u128 {
    use std::hash::BuildHasher;
    let a = foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15).hash_one(key);
    let b = foldhash::fast::FixedState::with_seed(0xc2b2_ae3d_27d4_eb4f).hash_one(key);
    (u128::from(a) << 64) | u128::from(b)
}

/// The fingerprint of a username as usernames compare: case-insensitively, as
/// `str::to_lowercase` has it. An ASCII name (nearly all are) is lowercased a word at a time
/// into a buffer on the stack, so the common name costs no allocation and no second scan.
fn name_fingerprint(name: &str) -> u128 {
    // Longer names (rare) take the general path.
    const MAX: usize = 128;
    let b = name.as_bytes();
    if b.len() <= MAX {
        // Whole words are stored: room for the last one to run past the name.
        let mut buf = [0u8; MAX + 8];
        let mut high = 0u64;
        words::each_word(b, 0, |i, x| {
            high |= x & words::HIGH;
            // 0x80 >> 2 is 0x20, the bit that makes an ASCII capital small.
            let lower = x | (words::ascii_upper_lanes(x & !words::HIGH) >> 2);
            buf[i..i + 8].copy_from_slice(&lower.to_le_bytes());
        });
        if high == 0 {
            return fingerprint(&buf[..b.len()]);
        }
    }
    // Past ASCII, lowercasing is Unicode's (and may change the length), and names that differ
    // only in normalization (`é` as `e` + U+0301) are the same name.
    fingerprint(nfc(&name.to_lowercase()).as_bytes())
}

/// Cross-row checks: duplicate usernames (case-insensitive) and userIDs. Holds only their
/// fingerprints, so memory grows with the number of rows but not with their width.
#[derive(Default)]
pub struct CrossRow {
    usernames: FirstLines,
    ids: FirstLines,
}

/// A flat open-addressing table from a fingerprint to the line it was first seen on: 16 bytes
/// a slot (96 bits of the fingerprint and the line), at most seven eighths full, probed
/// linearly from the fingerprint's own bits (it is already a hash: nothing is hashed again).
/// Zeroed memory is an empty table, so a table sized up front costs pages only as they fill.
#[derive(Default)]
pub struct FirstLines {
    /// `[high half, low 32 bits of the low half << 32 | line + 1]`; 0 in the low 32 bits of
    /// the second word is an empty slot.
    slots: Vec<[u64; 2]>,
    len: usize,
    /// Keys first seen on a line past `u32::MAX - 1` (lines only grow, so a key found in
    /// neither place is new).
    far: std::collections::HashMap<u128, u64>,
}

impl FirstLines {
    /// Makes room for `more` keys beyond those held, so that no growth happens meanwhile.
    pub fn reserve(&mut self, more: usize) {
        let need = self.len.saturating_add(more);
        if need.saturating_mul(8) > self.slots.len().saturating_mul(7) {
            self.resize((need.saturating_mul(8) / 7 + 1).next_power_of_two().max(16));
        }
    }

    fn resize(&mut self, cap: usize) {
        // Zeroed by writing, not by asking the system for zeroed pages: a table of zero pages
        // would be read (a probe) before it is written, and each first write to a zero page is
        // a copy that stops every core running this process to flush its mappings. Written
        // first, a page costs one plain fault.
        let mut slots = Vec::with_capacity(cap);
        slots.resize(cap, [0u64; 2]);
        let old = std::mem::replace(&mut self.slots, slots);
        let mask = cap - 1;
        for slot in old.into_iter().filter(|s| s[1] as u32 != 0) {
            let mut i = slot[0] as usize & mask;
            while self.slots[i][1] as u32 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// The line `key` was first seen on; a new key is remembered with `line` (and `line` is
    /// returned). Lines are given in increasing order.
    pub fn first_line(&mut self, key: u128, line: u64) -> u64 {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.resize((self.slots.len() * 2).max(16));
        }
        let hi = (key >> 64) as u64;
        let tag = (key as u64) << 32;
        let mask = self.slots.len() - 1;
        let mut i = hi as usize & mask;
        loop {
            let slot = self.slots[i];
            let held = slot[1] as u32;
            if held == 0 {
                break;
            }
            if slot[0] == hi && slot[1] & !0xFFFF_FFFF == tag {
                return u64::from(held) - 1;
            }
            i = (i + 1) & mask;
        }
        match u32::try_from(line.saturating_add(1)) {
            Ok(held) => {
                self.slots[i] = [hi, tag | u64::from(held)];
                self.len += 1;
                line
            }
            Err(_) => *self.far.entry(key).or_insert(line),
        }
    }

    /// [`FirstLines::first_line`] for each `(key, line)` in order; `None` gives `None`. The
    /// slots are random places in a table of megabytes, so nearly every lookup would wait for
    /// memory: first every key's slot is read, in loads that do not wait for each other (the
    /// processor keeps many in flight), and then the lookups find their slots in cache.
    pub fn first_lines(&mut self, keys: &[Option<(u128, u64)>]) -> Vec<Option<u64>> {
        if let Some(mask) = self.slots.len().checked_sub(1) {
            let touched = keys.iter().flatten().fold(0u64, |seen, (key, _)| {
                seen ^ self.slots[(key >> 64) as usize & mask][1]
            });
            // Kept, so that the reads are not optimised away.
            std::hint::black_box(touched);
        }
        keys.iter()
            .map(|k| k.map(|(key, line)| self.first_line(key, line)))
            .collect()
    }
}

#[cfg(test)]
mod first_lines_tests {
    use super::*;

    #[test]
    fn remembers_the_first_line_through_growth_and_far_lines() {
        let mut t = FirstLines::default();
        // No reserve: the table grows from nothing, and keeps every key through each growth.
        for k in 0..10_000u64 {
            let key = fingerprint(k.to_string().as_bytes());
            assert_eq!(t.first_line(key, k + 2), k + 2);
        }
        for k in 0..10_000u64 {
            let key = fingerprint(k.to_string().as_bytes());
            assert_eq!(t.first_line(key, 50_000 + k), k + 2);
        }
        // Keys differing only in the bits that pick the slot, or only in the tag, stay apart.
        let a = 7u128 << 64 | 1;
        let b = 7u128 << 64 | 2;
        assert_eq!(t.first_line(a, 60_000), 60_000);
        assert_eq!(t.first_line(b, 60_001), 60_001);
        assert_eq!(t.first_line(a, 60_002), 60_000);
        // Lines past 32 bits.
        let far = u64::from(u32::MAX) + 10;
        assert_eq!(t.first_line(b, far), 60_001);
        let c = fingerprint(b"far");
        assert_eq!(t.first_line(c, far), far);
        assert_eq!(t.first_line(c, far + 1), far);
        let edge = fingerprint(b"edge");
        assert_eq!(
            t.first_line(edge, u64::from(u32::MAX) - 1),
            u64::from(u32::MAX) - 1
        );
        assert_eq!(t.first_line(edge, far + 2), u64::from(u32::MAX) - 1);
    }
}

/// What the cross-row checks need of a row, computed where the row was checked.
#[derive(Debug, Default)]
pub struct CrossKeys {
    pub name: Option<u128>,
    pub id: Option<u128>,
}

impl CrossKeys {
    pub fn of(user_id: &str, user_name: &str) -> CrossKeys {
        CrossKeys {
            name: (!user_name.is_empty()).then(|| name_fingerprint(user_name)),
            id: (!user_id.is_empty()).then(|| fingerprint(user_id.as_bytes())),
        }
    }
}

impl CrossRow {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes room for about `rows` rows.
    pub fn reserve(&mut self, rows: usize) {
        self.usernames.reserve(rows);
        self.ids.reserve(rows / 2);
    }

    /// Checks a row (in input order) against the earlier ones.
    pub fn check(&mut self, line: u64, user_id: &str, user_name: &str, out: &mut Vec<Problem>) {
        let keys = CrossKeys::of(user_id, user_name);
        self.check_keyed(line, user_id, user_name, &keys, out);
    }

    /// [`CrossRow::check`] with the keys computed beforehand (on a worker thread).
    pub fn check_keyed(
        &mut self,
        line: u64,
        user_id: &str,
        user_name: &str,
        keys: &CrossKeys,
        out: &mut Vec<Problem>,
    ) {
        let name = keys.name.map(|k| self.usernames.first_line(k, line));
        let id = keys.id.map(|k| self.ids.first_line(k, line));
        duplicate_problems(line, user_id, user_name, name, id, out);
    }

    /// The two tables (usernames, userIDs), to fill side by side in input order.
    pub fn tables(&mut self) -> (&mut FirstLines, &mut FirstLines) {
        (&mut self.usernames, &mut self.ids)
    }
}

/// The problems of a row whose username and userID were first seen on the lines given.
pub fn duplicate_problems(
    line: u64,
    user_id: &str,
    user_name: &str,
    name_first: Option<u64>,
    id_first: Option<u64>,
    out: &mut Vec<Problem>,
) {
    if let Some(first) = name_first.filter(|&f| f != line) {
        out.push(Problem::new(
            Code::UserNameDuplicate,
            format!("userName {} was already on line {first}", quoted(user_name)),
        ));
    }
    if let Some(first) = id_first.filter(|&f| f != line) {
        out.push(Problem::new(
            Code::UserIdDuplicate,
            format!("userID {user_id} was already on line {first}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name with each letter's case flipped where `flips` says.
    fn recased(name: &str, flips: &[bool]) -> String {
        name.chars()
            .zip(flips.iter().cycle())
            .flat_map(|(c, &flip)| -> Vec<char> {
                match (flip, c.is_lowercase()) {
                    (false, _) => vec![c],
                    (true, true) => c.to_uppercase().collect(),
                    (true, false) => c.to_lowercase().collect(),
                }
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn quoted_values_as_before(s in "[aé颖\"]{0,70}") {
            const MAX: usize = 60;
            let old = if s.chars().count() > MAX {
                let cut: String = s.chars().take(MAX).collect();
                format!("\"{cut}…\"")
            } else {
                format!("\"{s}\"")
            };
            proptest::prop_assert_eq!(quoted(&s).to_string(), old);
        }

        #[test]
        fn name_fingerprints_compare_as_lowercase(
            a in "[a-zA-Z0-9.@_ÄäÖöΣσςİıẞßǅǄﬁKkÅå]{0,40}",
            b in "[a-zA-Z0-9.@_ÄäÖöΣσςİıẞßǅǄﬁKkÅå]{0,40}",
            long in 0usize..300,
            flips in proptest::collection::vec(proptest::bool::ANY, 1..8),
        ) {
            let a = format!("{a}{}", "x".repeat(long));
            for b in [b, recased(&a, &flips), a.to_uppercase(), a.to_ascii_uppercase()] {
                let same = nfc(&a.to_lowercase()) == nfc(&b.to_lowercase());
                proptest::prop_assert_eq!(
                    name_fingerprint(&a) == name_fingerprint(&b),
                    same,
                    "{:?} {:?}", a, b
                );
                proptest::prop_assert_eq!(
                    name_fingerprint(&b),
                    fingerprint(nfc(&b.to_lowercase()).as_bytes())
                );
            }
        }

        #[test]
        fn two_digit_dates_read_as_the_parser_does(s in "[0-9]{2}/[0-9]{2}/[0-9]{4}|[0-9/+-]{10}") {
            let parsed = {
                let mut it = s.splitn(3, '/');
                match (it.next(), it.next(), it.next()) {
                    (Some(a), Some(b), Some(y)) => match (a.parse::<i8>(), b.parse::<i8>(), y.parse::<i16>()) {
                        (Ok(a), Ok(b), Ok(y)) => Some((a, b, y)),
                        _ => None,
                    },
                    _ => None,
                }
            };
            if let Some(fast) = two_digit_date(&s) {
                proptest::prop_assert_eq!(Some(fast), parsed);
            }
        }

        #[test]
        fn batched_lookups_match_one_by_one(keys in proptest::collection::vec(proptest::option::of(0u128..40), 0..200)) {
            // Few distinct keys, spread over the slots and tags alike: many repeats.
            let spread = |k: u128| (k.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)) | (k % 3) << 64;
            let keys: Vec<Option<(u128, u64)>> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| k.map(|k| (spread(k), i as u64 + 2)))
                .collect();
            let mut one = FirstLines::default();
            let want: Vec<Option<u64>> = keys.iter().map(|k| k.map(|(key, line)| one.first_line(key, line))).collect();
            let mut batched = FirstLines::default();
            let (head, tail) = keys.split_at(keys.len() / 2);
            let mut got = batched.first_lines(head);
            got.extend(batched.first_lines(tail));
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn duplicates_name_the_first_line() {
        let mut cross = CrossRow::new();
        let mut out = Vec::new();
        cross.check(2, "", "Ann@X.org", &mut out);
        cross.check(3, "UR_1", "bo@x.org", &mut out);
        assert!(out.is_empty());
        cross.check(4, "UR_1", "ann@x.ORG", &mut out);
        let codes: Vec<_> = out.iter().map(|p| p.code).collect();
        assert_eq!(codes, [Code::UserNameDuplicate, Code::UserIdDuplicate]);
        assert!(out[0].detail.contains("line 2") && out[1].detail.contains("line 3"));
        // The same name in another normalization (e + U+0301 as a Mac types it) is a duplicate.
        out.clear();
        cross.check(5, "", "José@x.org", &mut out);
        assert!(out.is_empty());
        cross.check(6, "", "JOSE\u{301}@x.org", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].code, Code::UserNameDuplicate);
        assert!(out[0].detail.contains("line 5"), "{}", out[0].detail);
    }
}

/// What a file's dates say about their order, gathered row by row: a day above 12 in front
/// (31/12/2027) shows DD/MM, one in the middle (12/31/2027) MM/DD. In a file that is evidently
/// day-first, the dates that read both ways (03/04/2027) are named in one file-level warning.
#[derive(Debug, Default)]
pub struct DateOrder {
    day_first: u64,
    first_day_first: Option<(u64, String)>,
    month_first: u64,
    ambiguous: u64,
    ambiguous_lines: Vec<u64>,
    first_ambiguous: Option<String>,
}

impl DateOrder {
    /// Looks at one row's expirationDate (trimmed).
    pub fn observe(&mut self, line: u64, date: &str) {
        if date.len() < 8 || (date.as_bytes()[2] != b'/' && date.as_bytes()[1] != b'/') {
            return;
        }
        let Some((a, b, y)) = two_digit_date(date).or_else(|| {
            let mut it = date.splitn(3, '/');
            let (Some(a), Some(b), Some(y)) = (it.next(), it.next(), it.next()) else {
                return None;
            };
            let (Ok(a), Ok(b), Ok(y)) = (a.parse::<i8>(), b.parse::<i8>(), y.parse::<i16>()) else {
                return None;
            };
            Some((a, b, y))
        }) else {
            return;
        };
        // A real day-first date (31/12/2027) is evidence; an impossible one (29/02/2027) not.
        if a > 12 && Date::new(y, b, a).is_ok() {
            self.day_first += 1;
            self.first_day_first
                .get_or_insert_with(|| (line, date.to_string()));
        } else if b > 12 && (1..=12).contains(&a) {
            self.month_first += 1;
        } else if a != b && (1..=12).contains(&a) && (1..=12).contains(&b) {
            self.ambiguous += 1;
            if self.ambiguous_lines.len() < 5 {
                self.ambiguous_lines.push(line);
            }
            self.first_ambiguous.get_or_insert_with(|| date.to_string());
        }
    }

    /// The warning, when the file is evidently day-first and has dates that read both ways.
    pub fn finish(&self) -> Option<Problem> {
        if self.day_first == 0 || self.month_first > 0 || self.ambiguous == 0 {
            return None;
        }
        let (line, example) = self.first_day_first.as_ref()?;
        let lines: Vec<String> = self.ambiguous_lines.iter().map(u64::to_string).collect();
        let more = if self.ambiguous > self.ambiguous_lines.len() as u64 {
            ", …"
        } else {
            ""
        };
        Some(Problem::new(
            Code::DayFirstFile,
            format!(
                "{} date{} with a day above 12 in front (line {line}: {example}) and none in the middle: the file looks DD/MM/YYYY, so {} date{} such as {} (line{} {}{more}) would be read as MM/DD/YYYY, probably wrongly",
                self.day_first,
                if self.day_first == 1 { "" } else { "s" },
                self.ambiguous,
                if self.ambiguous == 1 { "" } else { "s" },
                self.first_ambiguous.as_deref().unwrap_or(""),
                if lines.len() == 1 { "" } else { "s" },
                lines.join(", ")
            ),
        ))
    }
}
