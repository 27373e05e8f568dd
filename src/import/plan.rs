//! The plan: each row compared with the instance, field by field. Unchanged rows cost nothing;
//! creates carry the body they will send; updates only the fields that change.

use serde::Serialize;

use std::collections::HashMap;

use super::base::{Base, BaseUser};
use super::journal::RowResult;
use super::{InputRow, Outcome};
use crate::api::{NewUser, UserUpdate};
use crate::file::Col;
use crate::instance::{Instance, InstanceUser};
use crate::rules::{parse_date, parse_status, Action, Code, Problem, Status};
use crate::validate::Verdict;

/// How to build the requests.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Rows with errors are reported `invalid` and the rest imported (else nothing is).
    pub skip_invalid: bool,
    /// `language` of new users.
    pub language: String,
    /// New users get a random password (never stored); `false` for SSO brands.
    pub passwords: bool,
    /// A create whose username exists in the instance (any case) updates that user instead.
    pub upsert: bool,
    /// The snapshot the export left beside the file: fields are merged three ways.
    pub base: Option<Base>,
    /// Which side wins a field changed both in the file and in Qualtrics since the export.
    pub prefer: Option<Prefer>,
    /// Accounts that are never disabled, demoted or moved by accident.
    pub protect: Protect,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            skip_invalid: false,
            language: "EN".into(),
            passwords: true,
            upsert: false,
            base: None,
            prefer: None,
            protect: Protect::default(),
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

/// The kinds of change the plan counts (and the brake watches).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeClass {
    Create,
    Rename,
    Status,
    UserType,
    Division,
    Expiration,
}

impl ChangeClass {
    pub const ALL: [ChangeClass; 6] = [
        ChangeClass::Create,
        ChangeClass::Rename,
        ChangeClass::Status,
        ChangeClass::UserType,
        ChangeClass::Division,
        ChangeClass::Expiration,
    ];

    /// The class of an update's field.
    pub fn of_field(field: &str) -> ChangeClass {
        match field {
            "accountStatus" => ChangeClass::Status,
            "accountType" => ChangeClass::UserType,
            "divisionId" => ChangeClass::Division,
            "expirationDate" => ChangeClass::Expiration,
            _ => ChangeClass::Rename,
        }
    }

    /// Plural, as the plan's counts name it.
    pub fn label(self) -> &'static str {
        match self {
            ChangeClass::Create => "creates",
            ChangeClass::Rename => "renames",
            ChangeClass::Status => "status changes",
            ChangeClass::UserType => "user-type changes",
            ChangeClass::Division => "division moves",
            ChangeClass::Expiration => "expirations",
        }
    }
}

/// One field an update changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: &'static str,
    pub old: String,
    pub new: String,
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
                    .map(|c| ChangeClass::of_field(c.field))
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
            if changes.iter().any(|c| c.field == "accountStatus" && c.new == "disabled"))
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
    /// `--upsert` rows: (line, the findings it dropped, the row's verdict before).
    pub upserted: Vec<(u64, Vec<Code>, Verdict)>,
}

impl Plan {
    pub fn creates(&self) -> usize {
        self.count(|p| matches!(p, Planned::Create { .. }))
    }

    pub fn updates(&self) -> usize {
        self.count(|p| matches!(p, Planned::Update { .. }))
    }

    pub fn count_outcome(&self, outcome: Outcome) -> usize {
        self.count(|p| matches!(p, Planned::Nothing { outcome: o, .. } if *o == outcome))
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

/// MM/DD/YYYY → YYYY-MM-DD, as the API wants it.
pub fn iso_date(file_date: &str) -> Option<String> {
    parse_date(file_date).ok().map(|d| d.to_string())
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
    // --upsert first: a create that finds its username in the instance is no longer invalid.
    let mut upserted = HashMap::new();
    let mut dropped = Vec::new();
    if opts.upsert {
        for row in &mut rows {
            if carried.contains_key(&row.row) {
                continue;
            }
            let (codes, verdict) = (row.problems.clone(), row.verdict);
            if let Some(id) = upsert(row, instance) {
                upserted.insert(row.row, id);
                let gone = codes
                    .iter()
                    .map(|p| p.code)
                    .filter(|c| !row.problems.iter().any(|p| p.code == *c))
                    .collect();
                dropped.push((row.line, gone, verdict));
            }
        }
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
                    let upsert_id = upserted.get(&input.row).map(String::as_str);
                    if let Some(id) = upsert_id {
                        notes.push(format!(
                            "upsert: {} exists in the instance as {id}",
                            input.get(Col::UserName)
                        ));
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
        upserted: dropped,
    }
}

/// The validation summary as `--upsert` leaves it: the findings upserted rows no longer have
/// (U05 "username taken", what only a create needs) are no longer counted, and those rows
/// count as the updates they became.
pub fn forget_upserted(summary: &mut crate::validate::FileSummary, plan: &Plan) {
    use crate::validate::Verdict as V;
    // Rows by line, once: looking each upserted row up in the plan would be quadratic.
    let by_line: HashMap<u64, &PlannedRow> = match plan.upserted.is_empty() {
        true => HashMap::new(),
        false => plan.rows.iter().map(|r| (r.input.line, r)).collect(),
    };
    for (line, gone, before) in &plan.upserted {
        let Some(row) = by_line.get(line) else {
            continue;
        };
        fn count(s: &mut crate::validate::FileSummary, v: V) -> &mut u64 {
            match v {
                V::Ok => &mut s.ok,
                V::Warning => &mut s.warning,
                V::Error => &mut s.error,
            }
        }
        let c = count(summary, *before);
        *c = c.saturating_sub(1);
        *count(summary, row.input.verdict) += 1;
        summary.creates = summary.creates.saturating_sub(1);
        summary.updates += 1;
        for code in gone {
            let id = code.id();
            for rc in summary.rules.iter_mut().filter(|rc| rc.code == id) {
                rc.rows = rc.rows.saturating_sub(1);
                rc.lines.retain(|l| l != line);
            }
            summary
                .samples
                .retain(|s| !(s.line == *line && s.code == id));
        }
    }
    summary.rules.retain(|rc| rc.rows > 0);
    summary.valid = summary.valid
        || (summary.error == 0
            && !summary
                .file_problems
                .iter()
                .any(|p| p.severity == crate::rules::Severity::Error));
}

/// `--upsert`: a create row whose username the instance has becomes an update of that user.
/// The "username taken" problem goes (the row no longer creates anything); the row's action
/// becomes `update`. Returns the user's id.
fn upsert(row: &mut InputRow, instance: &Instance) -> Option<String> {
    if row.action != Action::Create || row.empty || !row.get(Col::UserId).is_empty() {
        return None;
    }
    let user = instance.by_username(row.get(Col::UserName))?;
    row.problems.retain(|p| p.code != Code::UserNameTaken);
    // Update rows may leave cells empty: what only a create needs is no longer missing.
    row.problems.retain(|p| {
        !matches!(
            p.code,
            Code::FirstNameMissing | Code::LastNameMissing | Code::EmailMissing
        )
    });
    row.verdict = row
        .problems
        .iter()
        .map(|p| match p.severity(false) {
            crate::rules::Severity::Error => Verdict::Error,
            crate::rules::Severity::Warning => Verdict::Warning,
        })
        .max_by_key(|v| *v as u8)
        .unwrap_or(Verdict::Ok);
    row.action = Action::Update;
    Some(user.id.clone())
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

/// The base's value of a field.
fn base_value(base: &BaseUser, col: Col) -> &str {
    match col {
        Col::FirstName => &base.first_name,
        Col::LastName => &base.last_name,
        Col::DivisionId => &base.division_id,
        Col::AccountType => &base.account_type,
        Col::AccountStatus => &base.status,
        Col::ExpirationDate => &base.expiration,
        Col::UserId => &base.id,
        Col::UserName => &base.username,
        Col::Email => &base.email,
    }
}

/// Whether two values of a field mean the same: statuses by meaning (`Enabled` is `active`),
/// dates by day (`1/2/2027` is `01/02/2027`), everything else exactly.
pub fn same_value(col: Col, a: &str, b: &str) -> bool {
    if a == b {
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
            for (field, col, live) in fields(current) {
                let file = match col {
                    // The file's status in API terms (`Enabled` → `active`).
                    Col::AccountStatus => status.map(|s| s.as_str()).unwrap_or(""),
                    _ => get(col),
                };
                // An empty cell leaves the field as it is: the reading that loses nothing.
                if file.is_empty() || same_value(col, live, file) {
                    continue;
                }
                if let Some(base) = base {
                    let was = base_value(base, col);
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
                    field,
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
                        "accountStatus" if c.new == "disabled" => Some("disable"),
                        "accountType" => Some("change the user type of"),
                        "divisionId" => Some("move"),
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
                    "firstName" => update.first_name = v,
                    "lastName" => update.last_name = v,
                    "divisionId" => update.division_id = v,
                    "accountType" => update.user_type = v,
                    "accountStatus" => update.status = v,
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
        assert_eq!(iso_date("12/31/2027").as_deref(), Some("2027-12-31"));
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
                assert_eq!(changes[0].field, "firstName");
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
    fn upsert_turns_a_create_of_a_taken_username_into_an_update() {
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
        let opts = PlanOptions {
            upsert: true,
            ..Default::default()
        };
        let p = plan(vec![r], &inst, &opts, HashMap::new());
        assert!(!p.blocked_by_invalid);
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

    #[test]
    fn statuses_and_dates_compare_by_meaning() {
        assert!(same_value(Col::AccountStatus, "active", "Enabled"));
        assert!(!same_value(Col::ExpirationDate, "01/02/2027", "01/03/2027"));
        assert!(!same_value(Col::FirstName, "ann", "Ann"));
    }
}
