//! `qusers update` without a spreadsheet: the users export's filters select, with the fields
//! `--set` gives, as an in-memory file in the template layout. It then goes through import's
//! workflow unchanged (every rule, the plan, the brake, protected accounts, report, undo), and
//! no temporary file is left for the admin to manage.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use super::workflow::ImportInput;
use super::Collect;
use crate::export::ExportFilter;
use crate::file::{Col, ReadOptions, Source, COLUMNS};
use crate::instance::Instance;
use crate::validate::{validate_source, FileSummary, ValidateOptions};

/// One `--set FIELD=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetField {
    pub col: Col,
    pub value: String,
}

/// The fields `update` may set: those a bulk update may change.
const EDITABLE: [(Col, &str); 6] = [
    (Col::FirstName, "firstName"),
    (Col::LastName, "lastName"),
    (Col::DivisionId, "divisionId"),
    (Col::AccountType, "accountType"),
    (Col::AccountStatus, "accountStatus"),
    (Col::ExpirationDate, "expirationDate"),
];

impl std::str::FromStr for SetField {
    type Err = String;

    /// `accountType=UT_abc` (field names in any case; the value is checked by the rules).
    fn from_str(s: &str) -> Result<Self, String> {
        let editable = EDITABLE.map(|(_, n)| n).join(", ");
        let Some((field, value)) = s.split_once('=') else {
            return Err(format!(
                "{s:?} is not FIELD=VALUE (e.g. accountType=UT_abc); fields: {editable}"
            ));
        };
        let field = field.trim();
        let value = value.trim();
        let Some((col, _)) = EDITABLE.iter().find(|(_, n)| n.eq_ignore_ascii_case(field)) else {
            let why = match field.to_ascii_lowercase().as_str() {
                "userid" => "the id is how a user is found: it never changes",
                "username" | "email" => "a bulk update cannot change it",
                _ => "no such field",
            };
            return Err(format!(
                "cannot set {field:?}: {why}; fields update sets: {editable}"
            ));
        };
        if value.is_empty() {
            return Err(format!(
                "{field}= has no value (an empty cell leaves a field as it is, so there is nothing to set)"
            ));
        }
        Ok(SetField {
            col: *col,
            value: value.to_string(),
        })
    }
}

/// The users `filter` selects (in instance order) as template rows setting `sets`, and how many
/// were selected. Each row carries the user's id and username and only the set fields: the
/// plan compares just those, so everything else stays as it is.
pub fn rows(instance: &Instance, filter: &ExportFilter, sets: &[SetField]) -> (Source, usize) {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let mut selected = 0;
    // Writing to a Vec cannot fail.
    let _ = w.write_record(COLUMNS);
    for u in instance.users().iter().filter(|u| filter.matches(u)) {
        let mut rec: [&str; 9] = Default::default();
        rec[Col::UserId as usize] = &u.id;
        rec[Col::UserName as usize] = &u.username;
        for s in sets {
            rec[s.col as usize] = &s.value;
        }
        let _ = w.write_record(rec);
        selected += 1;
    }
    let bytes = w.into_inner().unwrap_or_default();
    (Source::Stdin(Arc::new(bytes)), selected)
}

/// `qusers update`'s input for the import workflow: the rows are made from the instance the
/// workflow loads, when it validates them, so the selection is the instance as it is now.
/// An interrupted update is not resumed but run again: its rows are updates only, which are
/// idempotent, and users it already changed plan as unchanged (or leave the selection).
pub struct UpdateInput {
    pub filter: ExportFilter,
    pub sets: Vec<SetField>,
    /// How the selection is named ("the users with --division DV_a").
    pub description: String,
    made: OnceLock<(Source, usize)>,
}

impl UpdateInput {
    pub fn new(filter: ExportFilter, sets: Vec<SetField>, description: String) -> Self {
        UpdateInput {
            filter,
            sets,
            description,
            made: OnceLock::new(),
        }
    }

    /// How many users the filters selected (after validation ran).
    pub fn selected(&self) -> Option<usize> {
        self.made.get().map(|(_, n)| *n)
    }
}

impl ImportInput for UpdateInput {
    fn name(&self) -> String {
        self.description.clone()
    }

    /// The selection and the fields: the rows themselves are made from the instance later.
    fn fingerprint(&self) -> anyhow::Result<String> {
        let criteria = format!("{:?} {:?}", self.filter, self.sets);
        Ok(super::content_hash(&Source::Stdin(Arc::new(
            criteria.into_bytes(),
        )))?)
    }

    fn division_ids(&self) -> anyhow::Result<BTreeSet<String>> {
        Ok(self
            .sets
            .iter()
            .filter(|s| s.col == Col::DivisionId && crate::rules::is_division_id(&s.value))
            .map(|s| s.value.clone())
            .collect())
    }

    fn validate(
        &self,
        instance: &Instance,
        upsert: Option<&crate::rules::Upsert>,
        sink: &mut Collect,
    ) -> anyhow::Result<FileSummary> {
        let (source, _) = self
            .made
            .get_or_init(|| rows(instance, &self.filter, &self.sets));
        let opts = ValidateOptions {
            upsert: upsert.cloned(),
            ..ValidateOptions::new(ReadOptions::default(), false)
        };
        Ok(validate_source(source, &opts, Some(instance), sink)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::InstanceUser;

    #[test]
    fn set_fields_parse_and_refuse_what_update_cannot_change() {
        let s: SetField = "accounttype=UT_abc".parse().expect("ok");
        assert_eq!(s.col, Col::AccountType);
        assert_eq!(s.value, "UT_abc");
        let e = "userName=x@y.org".parse::<SetField>().expect_err("refused");
        assert!(e.contains("cannot set"), "{e}");
        assert!("accountType".parse::<SetField>().is_err());
        assert!("accountStatus=".parse::<SetField>().is_err());
    }

    #[test]
    fn rows_hold_exactly_the_selected_users_and_the_set_fields() {
        let mut inst = Instance::new();
        for (id, div) in [
            ("UR_aaaaaaaaaaa", "DV_a"),
            ("UR_bbbbbbbbbbb", "DV_b"),
            ("UR_ccccccccccc", "DV_a"),
        ] {
            inst.insert(InstanceUser {
                id: id.into(),
                username: format!("{id}@x.org"),
                division_id: div.into(),
                ..Default::default()
            });
        }
        let filter = ExportFilter {
            division: Some("DV_a".into()),
            ..Default::default()
        };
        let sets = vec!["accountStatus=disabled".parse().expect("set")];
        let (source, n) = rows(&inst, &filter, &sets);
        assert_eq!(n, 2);
        let Source::Stdin(bytes) = source else {
            panic!("in memory")
        };
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        assert_eq!(
            text,
            "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n\
             UR_aaaaaaaaaaa,UR_aaaaaaaaaaa@x.org,,,,,,disabled,\n\
             UR_ccccccccccc,UR_ccccccccccc@x.org,,,,,,disabled,\n"
        );
    }
}
