//! The plan: each row compared with the instance, field by field. Unchanged rows cost nothing;
//! creates carry the body they will send; updates only the fields that change.

use std::collections::{BTreeMap, HashMap};

use super::base::Base;
use super::journal::RowResult;
use super::{InputRow, Outcome};
use crate::api::{NewUser, UserUpdate};
use crate::file::Col;
use crate::instance::{Instance, InstanceUser};
use crate::rules::{damage, parse_date, parse_status, same_text, Action, Code, Problem, Status};
use crate::validate::Verdict;
use crate::vocab::change::{Change, ChangeClass, ClassCounts};

/// How to build the requests.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Rows with errors are reported `invalid` and the rest imported (else nothing is).
    pub skip_invalid: bool,
    /// `language` of new users.
    pub language: String,
    /// New users get a random password (never stored); `false` for SSO brands.
    pub passwords: bool,
    /// The snapshot the export left beside the file: fields are merged three ways.
    pub base: Option<Base>,
    /// Which side wins a field changed both in the file and in Qualtrics since the export.
    pub prefer: Option<Prefer>,
    /// Accounts that are never disabled, demoted or moved by accident.
    pub protect: Protect,
    /// `--allow-damaged-text`: an update may write a value that looks like a garbled copy of
    /// the one in Qualtrics (otherwise the row is invalid, T01).
    pub allow_damaged_text: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            skip_invalid: false,
            language: "en".into(),
            passwords: true,
            base: None,
            prefer: None,
            protect: Protect::default(),
            allow_damaged_text: false,
        }
    }
}

/// `--prefer file|live`: who wins a three-way conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Prefer {
    /// The edited file wins: its value is sent.
    File,
    /// Qualtrics wins: the field is left as it is now.
    Live,
}

/// The accounts an import must not lock out.
#[derive(Clone, Debug, Default)]
pub struct Protect {
    /// The id of the account the token belongs to (`GET /whoami`).
    pub self_id: Option<String>,
    /// `--allow-admin-changes`: protected accounts may be disabled, demoted or moved.
    pub allow_admin_changes: bool,
}

/// The user type of Brand Administrators, as the instance lists them.
pub const BRAND_ADMIN_TYPE: &str = "UT_BRANDADMIN";

impl Protect {
    /// Why a user is protected, if it is.
    pub fn why(&self, user: &InstanceUser) -> Option<&'static str> {
        if self.allow_admin_changes {
            return None;
        }
        if self.self_id.as_deref() == Some(user.id.as_str()) {
            Some("the account this token belongs to")
        } else if user.account_type.eq_ignore_ascii_case(BRAND_ADMIN_TYPE) {
            Some("a Brand Administrator")
        } else {
            None
        }
    }
}

/// What will be done with a row.
#[derive(Clone, Debug)]
pub enum Planned {
    /// `POST /users`, then `PUT` of the status when the row asks for a disabled account.
    Create { user: NewUser, disable: bool },
    Update {
        id: String,
        update: UserUpdate,
        changes: Vec<Change>,
    },
    /// Nothing: unchanged, invalid or skipped, with the reason.
    Nothing { outcome: Outcome, message: String },
    /// Done by an earlier, interrupted run (from the journal).
    Carried(RowResult),
}

/// A row and its plan.
#[derive(Clone, Debug)]
pub struct PlannedRow {
    pub input: InputRow,
    pub planned: Planned,
    /// What the plan decided beside the changes, for the report's message (fields kept
    /// because they changed in Qualtrics since the export, the upsert that found the user).
    pub notes: Vec<String>,
}

impl PlannedRow {
    /// The classes of change the row makes (empty unless it is a create or an update).
    pub fn classes(&self) -> Vec<ChangeClass> {
        match &self.planned {
            Planned::Create { .. } => vec![ChangeClass::Create],
            Planned::Update { changes, .. } => {
                let mut c: Vec<ChangeClass> = changes
                    .iter()
                    .filter_map(|c| ChangeClass::of(c.field))
                    .collect();
                c.sort();
                c.dedup();
                c
            }
            _ => Vec::new(),
        }
    }

    /// Whether the row disables an account.
    pub fn disables(&self) -> bool {
        matches!(&self.planned, Planned::Update { changes, .. }
            if changes.iter().any(|c| c.field == Col::AccountStatus && c.new == "disabled"))
    }

    /// The report's `changes` cell: `firstName: Ann → Anne; accountStatus: active → disabled`
    /// for an update, the fields sent for a create.
    pub fn changes_text(&self) -> String {
        match &self.planned {
            Planned::Update { changes, .. } => describe_changes(changes),
            Planned::Create { user, disable } => {
                let mut parts = vec![
                    format!("userName: {}", user.username),
                    format!("firstName: {}", user.first_name),
                    format!("lastName: {}", user.last_name),
                    format!("email: {}", user.email),
                ];
                if let Some(d) = &user.division_id {
                    parts.push(format!("divisionId: {d}"));
                }
                parts.push(format!("accountType: {}", user.user_type));
                parts.push(format!(
                    "accountStatus: {}",
                    if *disable { "disabled" } else { "active" }
                ));
                if !self.input.get(Col::ExpirationDate).is_empty()
                    && user.account_expiration_date.is_some()
                {
                    parts.push(format!(
                        "expirationDate: {}",
                        self.input.get(Col::ExpirationDate)
                    ));
                }
                parts.join("; ")
            }
            _ => String::new(),
        }
    }

    pub fn user_id(&self) -> &str {
        match &self.planned {
            Planned::Update { id, .. } => id,
            _ => self.input.get(Col::UserId),
        }
    }

    pub fn user_name(&self) -> &str {
        self.input.get(Col::UserName)
    }
}

/// The whole plan.
#[derive(Debug, Default)]
pub struct Plan {
    pub rows: Vec<PlannedRow>,
    /// Rows with errors, when nothing is imported because of them.
    pub blocked_by_invalid: bool,
    /// Rows the plan found would write damaged text (T01): (line, row, the problem added, the
    /// row's verdict before).
    pub damaged: Vec<(u64, u64, Problem, Verdict)>,
}

impl Plan {
    pub fn creates(&self) -> usize {
        self.count(|p| matches!(p, Planned::Create { .. }))
    }

    pub fn updates(&self) -> usize {
        self.count(|p| matches!(p, Planned::Update { .. }))
    }

    /// Rows to send per class of change (a row counts in every class it changes), and the
    /// rows that disable an account: what the plan, the summary, the page and the brake show.
    pub fn class_counts(&self) -> ClassCounts {
        let mut c = ClassCounts::default();
        for r in &self.rows {
            for class in r.classes() {
                c.add(class);
            }
            if r.disables() {
                c.add_disable();
            }
        }
        c
    }

    /// The rows the plan sends that have warnings, counted by rule: `[("R08", 2), ("W01", 1)]`,
    /// in catalog order. A row counts once per rule.
    pub fn warnings_by_rule(&self) -> Vec<(&'static str, usize)> {
        let mut by: BTreeMap<crate::rules::Code, usize> = BTreeMap::new();
        for r in &self.rows {
            if !matches!(r.planned, Planned::Create { .. } | Planned::Update { .. }) {
                continue;
            }
            let mut codes: Vec<_> = r
                .input
                .problems
                .iter()
                .filter(|p| p.severity(false) == crate::rules::Severity::Warning)
                .map(|p| p.code)
                .collect();
            codes.sort();
            codes.dedup();
            for c in codes {
                *by.entry(c).or_default() += 1;
            }
        }
        by.into_iter().map(|(c, n)| (c.id(), n)).collect()
    }

    fn count(&self, f: impl Fn(&Planned) -> bool) -> usize {
        self.rows.iter().filter(|r| f(&r.planned)).count()
    }
}

/// `field: old → new; …`, an empty old value shown as `(empty)`.
pub fn describe_changes(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| {
            let old = if c.old.is_empty() { "(empty)" } else { &c.old };
            format!("{}: {old} → {}", c.field, c.new)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// MM/DD/YYYY → the API's timestamp form (`2027-12-31T00:00:00Z`, see
/// [`crate::api::write_date`]).
pub fn iso_date(file_date: &str) -> Option<String> {
    parse_date(file_date).ok().map(crate::api::write_date)
}

fn nothing(outcome: Outcome, message: impl Into<String>) -> Planned {
    Planned::Nothing {
        outcome,
        message: message.into(),
    }
}

/// A strong random password: letters, digits and a symbol, 24 characters. From a CSPRNG
/// (ChaCha12) seeded from the OS for this password alone: one system call, where asking the OS
/// for every character took some 70 a create row (seconds for a large file's plan).
fn random_password() -> String {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    const SETS: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"-_.#@+",
    ];
    let mut rng = StdRng::from_os_rng();
    let mut pw: Vec<u8> = (0..24)
        .map(|i| {
            let set = SETS[if i < 4 { i } else { rng.random_range(0..3) }];
            set[rng.random_range(0..set.len())]
        })
        .collect();
    // Shuffle so the guaranteed characters are not always first.
    for i in (1..pw.len()).rev() {
        pw.swap(i, rng.random_range(0..=i));
    }
    String::from_utf8(pw).expect("ASCII")
}

/// Plans every row against the instance. Rows in `carried` (by row number) were finished by an
/// interrupted run and keep that result.
pub fn plan(
    mut rows: Vec<InputRow>,
    instance: &Instance,
    opts: &PlanOptions,
    mut carried: HashMap<u64, RowResult>,
) -> Plan {
    // Never write damage over a good value: an update whose text is a garbled copy of what
    // Qualtrics has is an error for its row, decided before anything is planned (so that,
    // without --skip-invalid, it stops the import as any invalid row does).
    let mut damaged = Vec::new();
    for row in &mut rows {
        if carried.contains_key(&row.row) || row.empty || row.action != Action::Update {
            continue;
        }
        let id = upserted_id(row, instance).unwrap_or(row.get(Col::UserId));
        let Some(current) = instance.by_id(id) else {
            continue;
        };
        let base = opts.base.as_ref().and_then(|b| b.user(id));
        let found = damaged_fields(row, current, base);
        if found.is_empty() {
            continue;
        }
        if opts.allow_damaged_text {
            continue;
        }
        let problem = Problem::new(
            Code::DamagedText,
            format!(
                "{}: nothing is written over the value in Qualtrics",
                found.join("; ")
            ),
        );
        let before = row.verdict;
        row.problems.push(problem.clone());
        row.verdict = Verdict::Error;
        damaged.push((row.line, row.row, problem, before));
    }
    let any_invalid = rows
        .iter()
        .any(|r| r.verdict == Verdict::Error && !carried.contains_key(&r.row));
    let blocked = any_invalid && !opts.skip_invalid;
    let planned = rows
        .into_iter()
        .map(|input| {
            let mut notes = Vec::new();
            let planned = match carried.remove(&input.row) {
                Some(result) => Planned::Carried(result),
                None => {
                    let upsert_id = upserted_id(&input, instance);
                    if let Some(id) = upsert_id {
                        notes.push(format!(
                            "upsert: {} exists in the instance as {id}",
                            input.get(Col::UserName)
                        ));
                    }
                    if opts.allow_damaged_text && input.action == Action::Update {
                        let id = upsert_id.unwrap_or(input.get(Col::UserId));
                        if let Some(current) = instance.by_id(id) {
                            let base = opts.base.as_ref().and_then(|b| b.user(id));
                            for d in damaged_fields(&input, current, base) {
                                notes.push(format!("{d} (written: --allow-damaged-text)"));
                            }
                        }
                    }
                    plan_row(&input, upsert_id, instance, opts, blocked, &mut notes)
                }
            };
            PlannedRow {
                input,
                planned,
                notes,
            }
        })
        .collect();
    Plan {
        rows: planned,
        blocked_by_invalid: blocked,
        damaged,
    }
}

/// The fields of an update row whose new text is a garbled copy of the user's value in
/// Qualtrics (or of the export's, when the file came with a base snapshot), each described:
/// `lastName "KrÃ¼ger" is Krüger (the value in Qualtrics) with its UTF-8 text read as
/// Windows-1252 and saved again`.
fn damaged_fields(
    row: &InputRow,
    current: &InstanceUser,
    base: Option<&super::base::BaseUser>,
) -> Vec<String> {
    let mut found = Vec::new();
    for (field, col, live) in fields(current) {
        if matches!(col, Col::AccountStatus | Col::ExpirationDate) {
            continue;
        }
        let file = row.get(col);
        if file.is_empty() || same_value(col, live, file) {
            continue;
        }
        let sources = [(live, "the value in Qualtrics")]
            .into_iter()
            .chain(base.and_then(|b| Some((b.value(col)?, "the value exported"))));
        for (good, whose) in sources {
            if let Some(how) = damage(good, file) {
                found.push(format!(
                    "{field} {file:?} is a garbled copy of {good:?} ({whose}): {how}"
                ));
                break;
            }
        }
    }
    found
}

/// The validation summary with the plan's T01 findings counted: the rows the plan found to
/// write damaged text are errors now, and the problem list quotes them.
pub(super) fn count_damaged(summary: &mut crate::validate::FileSummary, plan: &Plan) {
    use crate::rules::Severity;
    use crate::validate::{RowProblemOut, RuleCount, Verdict as V};
    if plan.damaged.is_empty() {
        return;
    }
    for (line, row, problem, before) in &plan.damaged {
        match before {
            V::Ok => summary.ok = summary.ok.saturating_sub(1),
            V::Warning => summary.warning = summary.warning.saturating_sub(1),
            V::Error => summary.error = summary.error.saturating_sub(1),
        }
        summary.error += 1;
        let id = problem.code.id();
        match summary.rules.iter_mut().find(|r| r.code == id) {
            Some(rc) => {
                rc.rows += 1;
                if rc.lines.len() < 5 {
                    rc.lines.push(*line);
                }
            }
            None => summary.rules.push(RuleCount {
                code: id,
                severity: Severity::Error,
                title: problem.code.rule().title,
                rows: 1,
                lines: vec![*line],
            }),
        }
        let sample = RowProblemOut {
            line: *line,
            row: *row,
            code: id,
            severity: Severity::Error,
            message: problem.message(),
        };
        // Errors come first in the problem list: after the errors quoted, before the warnings.
        let at = summary
            .samples
            .iter()
            .position(|s| s.severity != Severity::Error || s.line > *line)
            .unwrap_or(summary.samples.len());
        summary.samples.insert(at, sample);
    }
    let quoted = crate::validate::SAMPLE_PROBLEMS;
    summary.samples.truncate(quoted);
    summary.valid = false;
}

/// `import` reads columns by name, so an export's "Division Name"/"User Type Name" columns
/// (F12, an error for `validate`, whose files go to Qualtrics' own upload) are simply not
/// read: the finding becomes a note in the summary.
pub(super) fn accept_export_layout(
    summary: &mut crate::validate::FileSummary,
    file_problems: &mut Vec<(Option<u64>, Problem, bool)>,
) {
    use crate::rules::Severity;
    let id = Code::ExportNameColumns.id();
    let before = summary.file_problems.len();
    summary.file_problems.retain(|p| p.code != id);
    file_problems.retain(|(_, p, _)| p.code != Code::ExportNameColumns);
    if summary.file_problems.len() == before {
        return;
    }
    summary.notes.push(
        "the export's \"Division Name\"/\"User Type Name\" columns were ignored: import reads the \
         ids (divisionId, accountType) by column name"
            .into(),
    );
    summary.valid = summary.error == 0
        && !summary
            .file_problems
            .iter()
            .any(|p| p.severity == Severity::Error);
}

/// `--strict` on an import: every warning found while validating counts as an error, for the
/// rows (their verdict), the file-level problems and the summary.
pub(super) fn make_strict(
    rows: &mut [InputRow],
    file_problems: &mut [(Option<u64>, Problem, bool)],
    summary: &mut crate::validate::FileSummary,
) {
    use crate::rules::Severity;
    for r in rows.iter_mut() {
        if !r.problems.is_empty() {
            r.verdict = Verdict::Error;
        }
    }
    for (_, _, error) in file_problems.iter_mut() {
        *error = true;
    }
    summary.error += summary.warning;
    summary.warning = 0;
    for p in &mut summary.file_problems {
        p.severity = Severity::Error;
    }
    for r in &mut summary.rules {
        r.severity = Severity::Error;
    }
    for s in &mut summary.samples {
        s.severity = Severity::Error;
    }
    summary.valid = summary.error == 0 && summary.file_problems.is_empty();
}

/// The user an `--upsert` row updates. The checks decided the upsert (see
/// [`crate::rules::Upsert`]): they hand on a create whose username the instance has as an
/// update, which alone has no userID; its user is looked up again here, as the checks found it.
fn upserted_id<'i>(row: &InputRow, instance: &'i Instance) -> Option<&'i str> {
    if row.action != Action::Update || row.empty || !row.get(Col::UserId).is_empty() {
        return None;
    }
    crate::rules::user_named(instance, row.get(Col::UserName)).map(|u| u.id)
}

/// The update fields in file order: (name, column, the instance's value).
fn fields(user: &InstanceUser) -> [(&'static str, Col, &str); 6] {
    [
        ("firstName", Col::FirstName, &user.first_name),
        ("lastName", Col::LastName, &user.last_name),
        ("divisionId", Col::DivisionId, &user.division_id),
        ("accountType", Col::AccountType, &user.account_type),
        ("accountStatus", Col::AccountStatus, &user.status),
        ("expirationDate", Col::ExpirationDate, &user.expiration),
    ]
}

/// Whether two values of a field mean the same: statuses by meaning (`Enabled` is `active`),
/// dates by day (`1/2/2027` is `01/02/2027`), everything else as the same text once
/// normalized (`Krüger` with `u` + U+0308 is `Krüger`): such a row is unchanged, and nothing
/// is sent for it.
pub fn same_value(col: Col, a: &str, b: &str) -> bool {
    if same_text(a, b) {
        return true;
    }
    match col {
        Col::AccountStatus => match (parse_status(a), parse_status(b)) {
            (Some((x, _)), Some((y, _))) => x == y,
            _ => false,
        },
        Col::ExpirationDate => match (parse_date(a), parse_date(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
        _ => false,
    }
}

fn plan_row(
    row: &InputRow,
    upsert_id: Option<&str>,
    instance: &Instance,
    opts: &PlanOptions,
    blocked: bool,
    notes: &mut Vec<String>,
) -> Planned {
    if row.empty {
        return nothing(Outcome::Skipped, "an empty row");
    }
    if row.verdict == Verdict::Error {
        // The message is the row's findings, which the result gets from the row (see
        // `finalize`): a copy here would hold every invalid row's messages twice.
        return nothing(Outcome::Invalid, String::new());
    }
    if blocked {
        return nothing(
            Outcome::Skipped,
            "not imported: other rows are invalid (fix them, or pass --skip-invalid)",
        );
    }
    let get = |c: Col| row.get(c);
    let status = parse_status(get(Col::AccountStatus)).map(|(s, _)| s);
    match row.action {
        Action::Create => {
            let opt = |c: Col| Some(get(c).to_string()).filter(|s| !s.is_empty());
            Planned::Create {
                user: NewUser {
                    username: get(Col::UserName).to_string(),
                    password: opts
                        .passwords
                        .then(|| crate::api::Secret::new(random_password())),
                    first_name: get(Col::FirstName).to_string(),
                    last_name: get(Col::LastName).to_string(),
                    user_type: get(Col::AccountType).to_string(),
                    email: get(Col::Email).to_string(),
                    language: opts.language.clone(),
                    division_id: opt(Col::DivisionId),
                    account_expiration_date: iso_date(get(Col::ExpirationDate)),
                    time_zone: None,
                },
                disable: status == Some(Status::Disabled),
            }
        }
        Action::Update => {
            let id = upsert_id.unwrap_or(get(Col::UserId)).to_string();
            let Some(current) = instance.by_id(&id) else {
                // Validation with the instance reports I03; without one there is nothing to
                // compare with, so the row cannot be planned.
                return nothing(
                    Outcome::Invalid,
                    Problem::new(
                        Code::UserIdUnknown,
                        format!("no user of the instance has the id {id}"),
                    )
                    .message(),
                );
            };
            let base = opts.base.as_ref().and_then(|b| b.user(&id));
            let mut changes = Vec::new();
            let mut conflicts = Vec::new();
            for (field, col, _) in fields(current) {
                let file = match col {
                    // The file's status in API terms (`Enabled` → `active`).
                    Col::AccountStatus => status.map(|s| s.as_str()).unwrap_or(""),
                    _ => get(col),
                };
                // An empty cell leaves the field as it is: the reading that loses nothing.
                if file.is_empty() {
                    continue;
                }
                // Unknown is not empty: a value the instance's source did not carry (and the
                // user's details could not be read) is never compared, and nothing is sent
                // whose prior value the undo file could not hold.
                let Some(live) = current.value(col) else {
                    return nothing(
                        Outcome::Failed,
                        format!(
                            "{field} of {id} is not known (the user list does not carry it and its \
                             details were not read); nothing was sent: run again (or --resume)"
                        ),
                    );
                };
                if same_value(col, live, file) {
                    continue;
                }
                // A field the snapshot does not know (an export without details) merges two-way.
                if let Some(was) = base.and_then(|b| b.value(col)) {
                    let show = |v: &str| {
                        if v.is_empty() {
                            "(empty)".to_string()
                        } else {
                            v.to_string()
                        }
                    };
                    if same_value(col, was, file) {
                        // Only Qualtrics changed it since the export: its value stays.
                        notes.push(format!(
                            "kept: changed in Qualtrics since the export ({field}: {} → {})",
                            show(was),
                            show(live)
                        ));
                        continue;
                    }
                    if !same_value(col, was, live) {
                        // Both sides changed it, differently.
                        match opts.prefer {
                            Some(Prefer::File) => notes.push(format!(
                                "{field}: the file's {} replaces {} (changed on both sides, --prefer file)",
                                show(file),
                                show(live)
                            )),
                            Some(Prefer::Live) => {
                                notes.push(format!(
                                    "kept: {field} {} from Qualtrics (changed on both sides, --prefer live)",
                                    show(live)
                                ));
                                continue;
                            }
                            None => {
                                conflicts.push(format!(
                                    "{field}: the file changed {} to {}, Qualtrics to {}",
                                    show(was),
                                    show(file),
                                    show(live)
                                ));
                                continue;
                            }
                        }
                    }
                }
                changes.push(Change {
                    field: col,
                    old: live.to_string(),
                    new: file.to_string(),
                });
            }
            if !conflicts.is_empty() {
                return nothing(
                    Outcome::Conflict,
                    format!(
                        "conflict: changed both in the file and in Qualtrics since the export: {} \
                         (nothing was sent for this row; edit the file, or pass --prefer file|live)",
                        conflicts.join("; ")
                    ),
                );
            }
            if let Some(who) = opts.protect.why(current) {
                let risky: Vec<&str> = changes
                    .iter()
                    .filter_map(|c| match c.field {
                        Col::AccountStatus if c.new == "disabled" => Some("disable"),
                        Col::AccountType => Some("change the user type of"),
                        Col::DivisionId => Some("move"),
                        _ => None,
                    })
                    .collect();
                if !risky.is_empty() {
                    return nothing(
                        Outcome::Skipped,
                        format!(
                            "protected: {} is {who}; qusers does not {} it without --allow-admin-changes",
                            current.username,
                            risky.join(", ")
                        ),
                    );
                }
            }
            if changes.is_empty() {
                return nothing(Outcome::Unchanged, "nothing to change");
            }
            let mut update = UserUpdate::default();
            for c in &changes {
                let v = Some(c.new.clone());
                match c.field {
                    Col::FirstName => update.first_name = v,
                    Col::LastName => update.last_name = v,
                    Col::DivisionId => update.division_id = v,
                    Col::AccountType => update.user_type = v,
                    Col::AccountStatus => update.status = v,
                    _ => update.account_expiration_date = iso_date(&c.new),
                }
            }
            Planned::Update {
                id,
                update,
                changes,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_strong_and_differ() {
        let a = random_password();
        let b = random_password();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().any(|c| c.is_ascii_uppercase()));
        assert!(a.bytes().any(|c| c.is_ascii_lowercase()));
        assert!(a.bytes().any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn a_planned_password_never_shows_in_debug_output() {
        let user = NewUser {
            password: Some(crate::api::Secret::new("hunter2-Secret")),
            ..Default::default()
        };
        assert!(!format!("{user:?}").contains("hunter2"));
        assert!(serde_json::to_string(&user)
            .expect("json")
            .contains("hunter2-Secret"));
    }

    #[test]
    fn iso_dates() {
        assert_eq!(
            iso_date("12/31/2027").as_deref(),
            Some("2027-12-31T00:00:00Z")
        );
        assert_eq!(iso_date(""), None);
    }

    fn user(id: &str, name: &str, first: &str, ty: &str) -> InstanceUser {
        InstanceUser {
            id: id.into(),
            username: name.into(),
            first_name: first.into(),
            last_name: "Lee".into(),
            email: name.into(),
            division_id: "DV_a".into(),
            account_type: ty.into(),
            status: "active".into(),
            expiration: String::new(),
            ..Default::default()
        }
    }

    fn row(n: u64, f: [&str; 9]) -> InputRow {
        InputRow {
            line: n + 1,
            row: n,
            action: if f[0].is_empty() {
                Action::Create
            } else {
                Action::Update
            },
            fields: f.into(),
            problems: Vec::new(),
            verdict: Verdict::Ok,
            empty: false,
        }
    }

    fn instance() -> Instance {
        let mut i = Instance::new();
        i.insert(user("UR_aaaaaaaaaaa", "ann@x.org", "Ann", "UT_staff"));
        i.insert(user("UR_bbbbbbbbbbb", "bo@x.org", "Bo", "UT_staff"));
        i.insert(user(
            "UR_admin000000",
            "boss@x.org",
            "Boss",
            BRAND_ADMIN_TYPE,
        ));
        i.insert(user("UR_self0000000", "me@x.org", "Me", "UT_staff"));
        i
    }

    fn only(p: &Plan) -> &Planned {
        &p.rows[0].planned
    }

    #[test]
    fn three_way_applies_file_edits_keeps_live_edits_and_flags_conflicts() {
        let base_inst = instance();
        let mut live = instance();
        // Since the export, Qualtrics renamed Ann's last name and Bo's first name.
        let mut ann = live.by_id("UR_aaaaaaaaaaa").cloned().expect("ann");
        ann.last_name = "Leigh".into();
        live.insert(ann);
        let mut bo = live.by_id("UR_bbbbbbbbbbb").cloned().expect("bo");
        bo.first_name = "Bob".into();
        live.insert(bo);
        let opts = PlanOptions {
            base: Some(Base::from_instance(&base_inst, "t", "f.csv")),
            ..Default::default()
        };
        // Ann: the file (an export) still has Lee; it changes her first name.
        let r = row(
            1,
            [
                "UR_aaaaaaaaaaa",
                "ann@x.org",
                "Anne",
                "Lee",
                "",
                "DV_a",
                "UT_staff",
                "active",
                "",
            ],
        );
        let p = plan(vec![r.clone()], &live, &opts, HashMap::new());
        match only(&p) {
            Planned::Update {
                changes, update, ..
            } => {
                assert_eq!(changes.len(), 1, "{changes:?}");
                assert_eq!(changes[0].field, Col::FirstName);
                assert_eq!(update.last_name, None, "the live change is not reverted");
            }
            other => panic!("{other:?}"),
        }
        assert!(p.rows[0].notes[0].starts_with("kept: changed in Qualtrics since the export"));
        // Without the base, the stale last name would be written back.
        let two_way = plan(vec![r], &live, &PlanOptions::default(), HashMap::new());
        match only(&two_way) {
            Planned::Update { update, .. } => assert_eq!(update.last_name.as_deref(), Some("Lee")),
            other => panic!("{other:?}"),
        }
        // Bo: the file changed the first name too, to something else: a conflict.
        let r = row(
            2,
            [
                "UR_bbbbbbbbbbb",
                "bo@x.org",
                "Robert",
                "Lee",
                "",
                "DV_a",
                "UT_staff",
                "active",
                "",
            ],
        );
        let p = plan(vec![r.clone()], &live, &opts, HashMap::new());
        match only(&p) {
            Planned::Nothing { outcome, message } => {
                assert_eq!(*outcome, Outcome::Conflict);
                assert!(message.contains("firstName"), "{message}");
                assert!(message.contains("--prefer"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let file_wins = PlanOptions {
            prefer: Some(Prefer::File),
            ..opts.clone()
        };
        let p = plan(vec![r.clone()], &live, &file_wins, HashMap::new());
        assert!(
            matches!(only(&p), Planned::Update { update, .. } if update.first_name.as_deref() == Some("Robert"))
        );
        let live_wins = PlanOptions {
            prefer: Some(Prefer::Live),
            ..opts
        };
        let p = plan(vec![r], &live, &live_wins, HashMap::new());
        assert!(matches!(
            only(&p),
            Planned::Nothing {
                outcome: Outcome::Unchanged,
                ..
            }
        ));
    }

    #[test]
    fn protected_accounts_are_skipped_unless_allowed() {
        let inst = instance();
        let protect = Protect {
            self_id: Some("UR_self0000000".into()),
            allow_admin_changes: false,
        };
        let opts = PlanOptions {
            protect: protect.clone(),
            ..Default::default()
        };
        let rows = vec![
            row(
                1,
                ["UR_self0000000", "", "", "", "", "", "", "disabled", ""],
            ),
            row(2, ["UR_admin000000", "", "", "", "", "DV_b", "", "", ""]),
            row(3, ["UR_admin000000", "", "Bossy", "", "", "", "", "", ""]),
            row(
                4,
                ["UR_aaaaaaaaaaa", "", "", "", "", "", "", "disabled", ""],
            ),
        ];
        let p = plan(rows.clone(), &inst, &opts, HashMap::new());
        match &p.rows[0].planned {
            Planned::Nothing { outcome, message } => {
                assert_eq!(*outcome, Outcome::Skipped);
                assert!(
                    message.contains("the account this token belongs to"),
                    "{message}"
                );
                assert!(message.contains("--allow-admin-changes"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&p.rows[1].planned, Planned::Nothing { outcome: Outcome::Skipped, message } if message.contains("Brand Administrator"))
        );
        assert!(
            matches!(&p.rows[2].planned, Planned::Update { .. }),
            "a rename is harmless"
        );
        assert!(matches!(&p.rows[3].planned, Planned::Update { .. }));
        let allowed = PlanOptions {
            protect: Protect {
                allow_admin_changes: true,
                ..protect
            },
            ..Default::default()
        };
        let p = plan(rows, &inst, &allowed, HashMap::new());
        assert!(p
            .rows
            .iter()
            .all(|r| matches!(r.planned, Planned::Update { .. })));
    }

    #[test]
    fn an_upserted_row_updates_the_user_its_username_names() {
        let inst = instance();
        let mut r = row(
            1,
            [
                "",
                "ANN@x.org",
                "Anne",
                "Lee",
                "ann@x.org",
                "",
                "UT_staff",
                "",
                "",
            ],
        );
        r.problems.push(Problem::new(Code::UserNameTaken, "taken"));
        r.verdict = Verdict::Error;
        let p = plan(
            vec![r.clone()],
            &inst,
            &PlanOptions::default(),
            HashMap::new(),
        );
        assert!(matches!(
            only(&p),
            Planned::Nothing {
                outcome: Outcome::Invalid,
                ..
            }
        ));
        // As the checks hand on an upsert: an update with no userID and nothing taken.
        r.problems.clear();
        r.verdict = Verdict::Ok;
        r.action = Action::Update;
        let p = plan(vec![r], &inst, &PlanOptions::default(), HashMap::new());
        assert!(!p.blocked_by_invalid);
        assert_eq!(
            p.rows[0].notes,
            ["upsert: ANN@x.org exists in the instance as UR_aaaaaaaaaaa"]
        );
        match only(&p) {
            Planned::Update { id, changes, .. } => {
                assert_eq!(id, "UR_aaaaaaaaaaa");
                assert_eq!(changes.len(), 1);
                assert_eq!(p.rows[0].changes_text(), "firstName: Ann → Anne");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.rows[0].input.action, Action::Update);
        assert_eq!(p.rows[0].user_id(), "UR_aaaaaaaaaaa");
    }

    fn update_row(n: u64, id: &str, first: &str, last: &str) -> InputRow {
        row(n, [id, "", first, last, "", "", "", "", ""])
    }

    #[test]
    fn a_garbled_copy_of_the_live_value_is_an_error_unless_allowed() {
        let mut inst = instance();
        let mut ann = inst.by_id("UR_aaaaaaaaaaa").cloned().expect("ann");
        ann.last_name = "Krüger".into();
        inst.insert(ann);
        let rows = vec![
            update_row(1, "UR_aaaaaaaaaaa", "", "KrÃ¼ger"),
            update_row(2, "UR_bbbbbbbbbbb", "Bob", ""),
        ];
        let p = plan(rows.clone(), &inst, &PlanOptions::default(), HashMap::new());
        assert!(p.blocked_by_invalid, "an invalid row stops the import");
        match &p.rows[0].planned {
            Planned::Nothing { outcome, .. } => {
                assert_eq!(*outcome, Outcome::Invalid);
                // The report's message is the row's findings.
                let message = p.rows[0].input.message();
                assert!(message.starts_with("T01"), "{message}");
                assert!(
                    message.contains("\"Krüger\""),
                    "the live value is quoted: {message}"
                );
                assert!(message.contains("Windows-1252"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.damaged.len(), 1);
        assert_eq!(p.damaged[0].3, Verdict::Ok);
        // --skip-invalid: the good row goes, the garbled one does not.
        let skip = PlanOptions {
            skip_invalid: true,
            ..Default::default()
        };
        let p = plan(rows.clone(), &inst, &skip, HashMap::new());
        assert!(matches!(
            p.rows[0].planned,
            Planned::Nothing {
                outcome: Outcome::Invalid,
                ..
            }
        ));
        assert!(matches!(p.rows[1].planned, Planned::Update { .. }));
        // --allow-damaged-text writes it, and says so.
        let allow = PlanOptions {
            allow_damaged_text: true,
            ..Default::default()
        };
        let p = plan(rows, &inst, &allow, HashMap::new());
        assert!(p.damaged.is_empty());
        match &p.rows[0].planned {
            Planned::Update { update, .. } => {
                assert_eq!(update.last_name.as_deref(), Some("KrÃ¼ger"))
            }
            other => panic!("{other:?}"),
        }
        assert!(p.rows[0].notes[0].contains("--allow-damaged-text"));
    }

    #[test]
    fn a_normalization_only_difference_is_unchanged_and_a_real_edit_is_sent() {
        let mut inst = instance();
        let mut ann = inst.by_id("UR_aaaaaaaaaaa").cloned().expect("ann");
        ann.first_name = "José".into();
        ann.last_name = "Dvořák".into();
        inst.insert(ann);
        let nfd = update_row(1, "UR_aaaaaaaaaaa", "Jose\u{301}", "Dvor\u{30c}a\u{301}k");
        let p = plan(vec![nfd], &inst, &PlanOptions::default(), HashMap::new());
        assert!(
            matches!(
                &p.rows[0].planned,
                Planned::Nothing {
                    outcome: Outcome::Unchanged,
                    ..
                }
            ),
            "{:?}",
            p.rows[0].planned
        );
        // Dvo?ák is damage; Dvorak, typed, is an edit.
        let rows = vec![
            update_row(1, "UR_aaaaaaaaaaa", "", "Dvo?ák"),
            update_row(2, "UR_aaaaaaaaaaa", "", "Dvorak"),
        ];
        let skip = PlanOptions {
            skip_invalid: true,
            ..Default::default()
        };
        let p = plan(rows, &inst, &skip, HashMap::new());
        assert!(
            matches!(
                &p.rows[0].planned,
                Planned::Nothing {
                    outcome: Outcome::Invalid,
                    ..
                }
            ) && p.rows[0].input.message().contains("\"Dvořák\""),
            "{}",
            p.rows[0].input.message()
        );
        assert!(
            matches!(&p.rows[1].planned, Planned::Update { update, .. } if update.last_name.as_deref() == Some("Dvorak"))
        );
    }

    #[test]
    fn strict_makes_every_warning_an_error() {
        let mut r = row(1, ["", "a@x.org", "A", "B", "a@x.org", "", "UT_x", "", ""]);
        r.problems.push(Problem::new(Code::Whitespace, "spaces"));
        r.verdict = Verdict::Warning;
        let mut rows = vec![
            r,
            row(2, ["", "b@x.org", "A", "B", "b@x.org", "", "UT_x", "", ""]),
        ];
        let mut file = vec![(Some(1), Problem::new(Code::LegacyEncoding, "1252"), false)];
        let mut summary = crate::validate::FileSummary {
            file: "f.csv".into(),
            valid: true,
            bytes: 1,
            encoding: None,
            delimiter: None,
            rows: 2,
            creates: 2,
            updates: 0,
            ok: 1,
            warning: 1,
            error: 0,
            file_problems: Vec::new(),
            rules: Vec::new(),
            samples: Vec::new(),
            sso_brand: None,
            notes: Vec::new(),
        };
        make_strict(&mut rows, &mut file, &mut summary);
        assert_eq!(rows[0].verdict, Verdict::Error);
        assert_eq!(rows[1].verdict, Verdict::Ok);
        assert!(file[0].2);
        assert_eq!(
            (summary.warning, summary.error, summary.valid),
            (0, 1, false)
        );
    }

    #[test]
    fn statuses_and_dates_compare_by_meaning() {
        assert!(same_value(Col::AccountStatus, "active", "Enabled"));
        assert!(!same_value(Col::ExpirationDate, "01/02/2027", "01/03/2027"));
        assert!(!same_value(Col::FirstName, "ann", "Ann"));
        assert!(same_value(Col::LastName, "Krüger", "Kru\u{308}ger"));
    }
}
