//! The files a run leaves beside its report, both in the template layout `qusers import` takes:
//! `REPORT.undo.csv` (the prior value of every field the run changed, every user it created set
//! to disabled) and `REPORT.failed.csv` (the input rows that did not succeed, ready to fix and
//! import again).

use std::path::{Path, PathBuf};

use std::collections::{HashMap, HashSet};

use super::journal::{Prior, RowResult};
use super::plan::{Plan, Planned, PlannedRow};
use super::Outcome;
use crate::file::{Col, COLUMNS};
use crate::instance::Instance;

/// `users.report.csv` → `users.report.undo.csv` (any report extension; `suffix` is
/// `undo` or `failed`). A report that is not a file (`/dev/stdout`, a FIFO) has nothing to be
/// beside: the file goes to the working directory (`stdout.undo.csv`).
pub fn path_beside(report: &Path, suffix: &str) -> PathBuf {
    let stem = report
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    let name = format!("{stem}.{suffix}.csv");
    match std::fs::metadata(report) {
        Ok(m) if !m.is_file() => PathBuf::from(name),
        _ => report.with_file_name(name),
    }
}

/// A template file's rows (the nine columns, in order).
pub type TemplateRow = [String; 9];

/// What undoes a run.
#[derive(Debug, Default)]
pub struct Undo {
    pub rows: Vec<TemplateRow>,
    /// Changes the file cannot take back (a field that was empty: an empty cell leaves a field
    /// as it is), and updated rows whose prior values are not known, each by line.
    pub not_undoable: Vec<String>,
}

/// The file column of an update's field.
fn col_of(field: &str) -> Option<Col> {
    Some(match field {
        "firstName" => Col::FirstName,
        "lastName" => Col::LastName,
        "divisionId" => Col::DivisionId,
        "accountType" => Col::AccountType,
        "accountStatus" => Col::AccountStatus,
        "expirationDate" => Col::ExpirationDate,
        "email" => Col::Email,
        _ => return None,
    })
}

/// The undo of one finished row: the template row that takes it back (if any) and what it
/// cannot take back. `before` is the instance as the plan saw it; `priors` what the journal
/// holds of the values earlier runs' writes replaced (the earliest wins: a resumed run sees
/// the instance after them).
pub fn undo_row(
    row: &PlannedRow,
    result: &RowResult,
    before: &Instance,
    priors: &HashMap<u64, Prior>,
) -> (Option<TemplateRow>, Vec<String>) {
    let line = row.input.line;
    let mut notes = Vec::new();
    let created = match result.outcome {
        Outcome::Created => true,
        // A create whose disable step failed: the user exists all the same.
        Outcome::Failed => !result.user_id.is_empty(),
        _ => false,
    };
    let disable = |username: &str| {
        let mut r = TemplateRow::default();
        r[Col::UserId as usize] = result.user_id.clone();
        // The name it was created with (`--on-taken suffix` may have changed it).
        r[Col::UserName as usize] = result
            .username
            .clone()
            .unwrap_or_else(|| username.to_string());
        r[Col::AccountStatus as usize] = "disabled".into();
        r
    };
    match &row.planned {
        Planned::Create { user, .. } if created => return (Some(disable(&user.username)), notes),
        // Created by the interrupted run: its id is known, so it can be disabled.
        Planned::Carried(_) if created && row.input.action == crate::rules::Action::Create => {
            return (Some(disable(row.input.get(Col::UserName))), notes)
        }
        _ => {}
    }
    if result.outcome != Outcome::Updated {
        return (None, notes);
    }
    // The values this run's plan replaced, under what earlier runs journalled.
    let mut prior = priors.get(&row.input.row).cloned().unwrap_or_default();
    if let Planned::Update { id, changes, .. } = &row.planned {
        prior.merge_later(&Prior {
            user_id: id.clone(),
            username: String::new(),
            fields: changes
                .iter()
                .map(|c| (c.field.to_string(), c.old.clone()))
                .collect(),
        });
    }
    if prior.fields.is_empty() {
        notes.push(format!(
            "line {line}: updated by an interrupted run whose journal does not hold the values \
             it replaced (an older qusers); its prior values are not known"
        ));
        return (None, notes);
    }
    let id = if prior.user_id.is_empty() {
        result.user_id.clone()
    } else {
        prior.user_id.clone()
    };
    let mut r = TemplateRow::default();
    r[Col::UserId as usize] = id.clone();
    r[Col::UserName as usize] = before
        .by_id(&id)
        .map_or_else(|| prior.username.clone(), |u| u.username.clone());
    let mut any = false;
    for (field, old) in &prior.fields {
        let Some(col) = col_of(field) else { continue };
        if old.is_empty() {
            notes.push(format!(
                "line {line}: {id} {field} was empty before (an empty cell cannot clear it; \
                 clear it in Qualtrics)"
            ));
            continue;
        }
        r[col as usize] = old.clone();
        any = true;
    }
    (any.then_some(r), notes)
}

/// The undo of a run: `results` are the finished rows (index into `plan.rows`, result). Each
/// user once: the first row that takes a user back wins.
pub fn undo<'r>(
    plan: &Plan,
    results: impl IntoIterator<Item = (usize, &'r RowResult)>,
    before: &Instance,
    priors: &HashMap<u64, Prior>,
) -> Undo {
    let mut out = Undo::default();
    let mut results: Vec<(usize, &RowResult)> = results.into_iter().collect();
    results.sort_by_key(|(i, _)| *i);
    let mut seen = HashSet::new();
    for (index, result) in results {
        let Some(row) = plan.rows.get(index) else {
            continue;
        };
        let (r, notes) = undo_row(row, result, before, priors);
        out.not_undoable.extend(notes);
        if let Some(r) = r {
            if seen.insert(r[Col::UserId as usize].clone()) {
                out.rows.push(r);
            }
        }
    }
    out
}

/// The undo file, written row by row as rows finish (each flushed), so that a run killed
/// outright still leaves the undo of every row it finished; a resume appends to it, and every
/// run that ends rewrites it whole from its results and the journal ([`UndoWriter::rewrite`]).
pub struct UndoWriter {
    w: csv::Writer<std::fs::File>,
    path: PathBuf,
    /// Rows in the file (those of an earlier, interrupted run included).
    pub rows: usize,
    pub not_undoable: Vec<String>,
    /// Users the file already takes back (an interrupted run's rows).
    seen: HashSet<String>,
    /// The values earlier runs' writes replaced (from the journal).
    priors: HashMap<u64, Prior>,
}

impl UndoWriter {
    /// Creates the file (header only), or with `append` continues the one there. `priors` are
    /// the values the journal says earlier runs' writes replaced.
    pub fn open(
        path: &Path,
        append: bool,
        priors: HashMap<u64, Prior>,
    ) -> std::io::Result<UndoWriter> {
        let ctx =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let continued = append && path.exists();
        let earlier = if continued {
            read_template(path)?
        } else {
            Vec::new()
        };
        // Never through a planted link (the error names the path).
        let file = crate::fsx::open(
            path,
            if continued {
                crate::fsx::Open::Append { create: false }
            } else {
                crate::fsx::Open::Truncate
            },
        )?;
        let mut w = csv::WriterBuilder::new().from_writer(file);
        if !continued {
            w.write_record(COLUMNS).map_err(|e| ctx(e.into()))?;
            w.flush().map_err(ctx)?;
        }
        Ok(UndoWriter {
            w,
            path: path.to_path_buf(),
            rows: earlier.len(),
            not_undoable: Vec::new(),
            seen: earlier
                .into_iter()
                .map(|r| r[Col::UserId as usize].clone())
                .collect(),
            priors,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds the undo of a finished row.
    pub fn add(
        &mut self,
        row: &PlannedRow,
        result: &RowResult,
        before: &Instance,
    ) -> std::io::Result<()> {
        let (r, notes) = undo_row(row, result, before, &self.priors);
        self.not_undoable.extend(notes);
        if let Some(r) = r {
            if !self.seen.insert(r[Col::UserId as usize].clone()) {
                // Taken back by an earlier row (or the interrupted run's rows) already.
                return Ok(());
            }
            let named = |e: std::io::Error| {
                std::io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))
            };
            self.w
                .write_record(&r)
                .map_err(|e| named(std::io::Error::from(e)))?;
            self.w.flush().map_err(named)?;
            self.rows += 1;
        }
        Ok(())
    }

    /// Replaces the file with the undo of every finished row (`results`, this run's and those
    /// carried from interrupted runs), each user once: whatever rows the kills before cost the
    /// file as it was appended, it is whole again. Returns the finished writer's figures.
    pub fn rewrite<'r>(
        mut self,
        plan: &Plan,
        results: impl IntoIterator<Item = (usize, &'r RowResult)>,
        before: &Instance,
    ) -> std::io::Result<(PathBuf, usize, Vec<String>)> {
        self.w.flush()?;
        let u = undo(plan, results, before, &self.priors);
        let path = self.path.clone();
        drop(self);
        write_template(&path, &u.rows)?;
        Ok((path, u.rows.len(), u.not_undoable))
    }
}

/// The rows of a run that did not succeed (invalid, failed, conflict, or skipped for a reason
/// other than being empty or unchanged), as the input had them (the plan's own: a copy of
/// every row of a large file cost more than its plan).
pub fn failed_rows<'r>(
    plan: &'r Plan,
    results: impl IntoIterator<Item = (usize, &'r RowResult)>,
) -> Vec<&'r crate::import::Fields> {
    let mut results: Vec<(usize, &RowResult)> = results.into_iter().collect();
    results.sort_by_key(|(i, _)| *i);
    results
        .into_iter()
        .filter_map(|(i, r)| {
            let row = plan.rows.get(i)?;
            let retry = match r.outcome {
                Outcome::Invalid | Outcome::Failed | Outcome::Conflict => true,
                Outcome::Skipped => !row.input.empty,
                _ => false,
            };
            retry.then_some(&row.input.fields)
        })
        .collect()
}

/// Writes a template file (header and rows), atomically. Cells are written as they are: a file
/// meant for import gets no spreadsheet guard.
pub fn write_template<R, F>(path: &Path, rows: impl IntoIterator<Item = R>) -> std::io::Result<()>
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    crate::fsx::write_atomic(path, |out| {
        let mut w = csv::WriterBuilder::new().from_writer(out);
        w.write_record(COLUMNS)?;
        for r in rows {
            w.write_record(r)?;
        }
        w.flush()
    })
}

/// Reads a template file this module wrote (header and nine columns per row).
pub fn read_template(path: &Path) -> std::io::Result<Vec<TemplateRow>> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        rows.push(std::array::from_fn(|i| {
            rec.get(i).unwrap_or_default().to_string()
        }));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{NewUser, UserUpdate};
    use crate::import::plan::PlannedRow;
    use crate::import::InputRow;
    use crate::instance::InstanceUser;
    use crate::rules::Action;
    use crate::validate::Verdict;
    use crate::vocab::change::Change;

    fn input(row: u64, fields: TemplateRow) -> InputRow {
        InputRow {
            line: row + 1,
            row,
            action: Action::Update,
            fields: fields.into(),
            problems: Vec::new(),
            verdict: Verdict::Ok,
            empty: false,
        }
    }

    fn result(outcome: Outcome, id: &str) -> RowResult {
        RowResult {
            outcome,
            user_id: id.into(),
            ..RowResult::default()
        }
    }

    #[test]
    fn undo_restores_prior_values_and_disables_created_users() {
        let mut before = Instance::new();
        before.insert(InstanceUser {
            id: "UR_aaaaaaaaaaa".into(),
            username: "ann@x.org".into(),
            ..Default::default()
        });
        let plan = Plan {
            rows: vec![
                PlannedRow {
                    input: input(1, Default::default()),
                    planned: Planned::Update {
                        id: "UR_aaaaaaaaaaa".into(),
                        update: UserUpdate::default(),
                        changes: vec![
                            Change {
                                field: Col::FirstName,
                                old: "Ann".into(),
                                new: "Anne".into(),
                            },
                            Change {
                                field: Col::ExpirationDate,
                                old: String::new(),
                                new: "12/31/2027".into(),
                            },
                        ],
                    },
                    notes: Vec::new(),
                },
                PlannedRow {
                    input: input(2, Default::default()),
                    planned: Planned::Create {
                        user: NewUser {
                            username: "new@x.org".into(),
                            ..Default::default()
                        },
                        disable: false,
                    },
                    notes: Vec::new(),
                },
            ],
            blocked_by_invalid: false,
            ..Default::default()
        };
        let r0 = result(Outcome::Updated, "UR_aaaaaaaaaaa");
        let r1 = result(Outcome::Created, "UR_bbbbbbbbbbb");
        let u = undo(&plan, [(1, &r1), (0, &r0)], &before, &HashMap::new());
        assert_eq!(u.rows.len(), 2);
        assert_eq!(u.rows[0][0], "UR_aaaaaaaaaaa");
        assert_eq!(u.rows[0][1], "ann@x.org");
        assert_eq!(u.rows[0][2], "Ann");
        assert_eq!(u.rows[0][8], "", "an empty prior value cannot be written");
        assert_eq!(u.not_undoable.len(), 1);
        assert!(u.not_undoable[0].contains("expirationDate"));
        assert_eq!(u.rows[1][0], "UR_bbbbbbbbbbb");
        assert_eq!(u.rows[1][7], "disabled");

        let dir = tempfile::tempdir().expect("tempdir");
        let report = dir.path().join("run.report.csv");
        let path = path_beside(&report, "undo");
        assert_eq!(path, dir.path().join("run.report.undo.csv"));
        write_template(&path, &u.rows).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(
            "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n"
        ));
        assert!(
            text.contains("UR_aaaaaaaaaaa,ann@x.org,Ann,,,,,,\n"),
            "{text}"
        );
    }

    #[test]
    fn failed_rows_keep_the_input_and_leave_out_successes_and_empty_rows() {
        let mut fields = TemplateRow::default();
        fields[1] = "=x@y.org".into();
        let mut rows = Vec::new();
        for (i, f) in [fields.clone(), TemplateRow::default(), fields.clone()]
            .into_iter()
            .enumerate()
        {
            let mut inp = input(i as u64 + 1, f);
            inp.empty = i == 1;
            rows.push(PlannedRow {
                input: inp,
                planned: Planned::Nothing {
                    outcome: Outcome::Skipped,
                    message: String::new(),
                },
                notes: Vec::new(),
            });
        }
        let plan = Plan {
            rows,
            blocked_by_invalid: false,
            ..Default::default()
        };
        let a = result(Outcome::Failed, "");
        let b = result(Outcome::Skipped, "");
        let c = result(Outcome::Updated, "");
        let failed = failed_rows(&plan, [(0, &a), (1, &b), (2, &c)]);
        assert_eq!(failed.len(), 1);
        assert_eq!(
            failed[0].get(crate::file::Col::UserName),
            "=x@y.org",
            "no spreadsheet guard in a file to import"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_report_that_is_not_a_file_puts_its_undo_in_the_working_directory() {
        assert_eq!(
            path_beside(Path::new("/dev/null"), "undo"),
            PathBuf::from("null.undo.csv")
        );
    }

    #[test]
    fn the_undo_file_is_written_as_rows_finish_and_a_resume_continues_it() {
        let before = Instance::new();
        let created = |n: u64| PlannedRow {
            input: InputRow {
                action: Action::Create,
                ..input(n, Default::default())
            },
            planned: Planned::Create {
                user: NewUser {
                    username: format!("u{n}@x.org"),
                    ..Default::default()
                },
                disable: false,
            },
            notes: Vec::new(),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.undo.csv");
        let mut w = UndoWriter::open(&path, false, HashMap::new()).expect("open");
        w.add(
            &created(1),
            &result(Outcome::Created, "UR_aaaaaaaaaaa"),
            &before,
        )
        .expect("add");
        // On disk at once, before the writer is finished (a killed run keeps it).
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.ends_with("UR_aaaaaaaaaaa,u1@x.org,,,,,,disabled,\n"),
            "{text}"
        );
        drop(w);

        let mut w = UndoWriter::open(&path, true, HashMap::new()).expect("reopen");
        assert_eq!(w.rows, 1);
        let carried = PlannedRow {
            planned: Planned::Carried(result(Outcome::Created, "UR_aaaaaaaaaaa")),
            ..created(1)
        };
        w.add(
            &carried,
            &result(Outcome::Created, "UR_aaaaaaaaaaa"),
            &before,
        )
        .expect("carried");
        assert!(w.not_undoable.is_empty(), "the earlier run's undo has it");
        assert_eq!(w.rows, 1, "not twice");
        // A create the interrupted run sent without recording its answer: found on resume,
        // so its id is known, and it is disabled by the undo as well.
        w.add(
            &carried,
            &result(Outcome::Created, "UR_ccccccccccc"),
            &before,
        )
        .expect("found on resume");
        assert_eq!(w.rows, 2);
        w.add(
            &created(2),
            &result(Outcome::Created, "UR_bbbbbbbbbbb"),
            &before,
        )
        .expect("add");
        assert_eq!(w.rows, 3);
        drop(w);
        let rows = read_template(&path).expect("read");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1][0], "UR_ccccccccccc");
        assert_eq!(rows[1][7], "disabled");
        assert_eq!(rows[2][0], "UR_bbbbbbbbbbb");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.matches("userID,").count(), 1, "one header: {text}");
    }
}
