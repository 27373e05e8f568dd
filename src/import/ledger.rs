//! The ledger of a run: the planned rows and their results as rows finish, and everything
//! derived from them — the live report (each row on disk as soon as it is done, rewritten in
//! input order at the end), the outcome counts, the undo file and the file of rows that did
//! not succeed.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::journal::RowResult;
use super::outcome::Counts;
use super::plan::Plan;
use super::undo::{self, UndoWriter};
use super::{Outcome, RefusedRows};
use crate::instance::Instance;
use crate::report::{ReportKind, ReportRow, ReportWriter};

/// The files a run leaves beside its report.
pub(super) struct Left {
    /// Each plan row's result, in plan order (`None`: not done, the run was interrupted).
    pub(super) results: Vec<Option<RowResult>>,
    pub(super) undo: Option<PathBuf>,
    pub(super) undo_rows: usize,
    pub(super) not_undoable: Vec<String>,
    pub(super) failed: Option<PathBuf>,
}

/// The undo file written as rows finished (`REPORT.undo.csv`, every real run); the rows that
/// did not succeed (`REPORT.failed.csv`, every run that has some).
fn leave_undo_and_failed(
    report: &Path,
    plan: &Plan,
    results: &[Option<RowResult>],
    refused: Option<&mut RefusedRows>,
    undo_file: Option<(PathBuf, usize, Vec<String>)>,
) -> anyhow::Result<Left> {
    let done = || {
        results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, r.as_ref()?)))
    };
    let (undo_path, undo_rows, not_undoable) = match undo_file {
        Some((path, rows, notes)) => (Some(path), rows, notes),
        None => (None, 0, Vec::new()),
    };
    let failed_rows = undo::failed_rows(plan, done());
    let failed_path = undo::path_beside(report, "failed");
    let refused_failed = refused.as_ref().map_or(0, |r| r.not_empty());
    let failed = if failed_rows.is_empty() && refused_failed == 0 {
        // A file left by an earlier run with this report no longer says anything true.
        let _ = std::fs::remove_file(&failed_path);
        None
    } else {
        // The rows of a refused file (every one but the empty) are read back one at a time.
        let mut read_error = None;
        let refused_rows = match refused {
            Some(r) => Some(r.iter()?),
            None => None,
        };
        let refused_rows = refused_rows.into_iter().flatten().filter_map(|r| match r {
            Ok(r) => (!r.empty).then(|| r.fields.to_strings()),
            Err(e) => {
                read_error.get_or_insert(e);
                None
            }
        });
        let plan_rows = failed_rows.into_iter().map(super::Fields::to_strings);
        undo::write_template(&failed_path, plan_rows.chain(refused_rows))?;
        if let Some(e) = read_error {
            // Not a file to retry with: rows are missing from it.
            let _ = std::fs::remove_file(&failed_path);
            return Err(e).context("cannot read back the rows of the refused file");
        }
        Some(failed_path)
    };
    Ok(Left {
        results: Vec::new(),
        undo: undo_path,
        undo_rows,
        not_undoable,
        failed,
    })
}

/// The planned rows and their results while rows finish. The report is live: each row is
/// written (and flushed) as soon as it is done, so that a crash leaves every finished row on
/// disk, and at the end it is rewritten in input order (a new file renamed over it). The undo
/// file grows with the rows that changed something. The counts, the undo file made whole and
/// the failed file are all derived from the results held here.
pub(super) struct Ledger<'p> {
    writer: ReportWriter,
    plan: &'p Plan,
    /// The instance as planned against (the undo file's prior values).
    instance: &'p Instance,
    file_problems: Vec<(Option<u64>, crate::rules::Problem, bool)>,
    /// The rows of a refused file, reported after the file-level problems (all skipped).
    refused: Option<RefusedRows>,
    /// Each plan row's result, in plan order (`None`: not done yet).
    pub(super) results: Vec<Option<RowResult>>,
    counts: Counts,
    /// `REPORT.undo.csv`, every real run.
    undo: Option<UndoWriter>,
}

impl<'p> Ledger<'p> {
    /// The ledger of `plan`: the report at `path` begun with the file-level problems and the
    /// refused rows, and the undo file `undo` (none on a dry run).
    pub(super) fn create(
        path: &Path,
        plan: &'p Plan,
        instance: &'p Instance,
        file_problems: Vec<(Option<u64>, crate::rules::Problem, bool)>,
        mut refused: Option<RefusedRows>,
        undo: Option<UndoWriter>,
    ) -> anyhow::Result<Self> {
        let mut writer =
            ReportWriter::create(path, ReportKind::Import).context("cannot create the report")?;
        write_file_problems(&mut writer, &file_problems)?;
        let mut counts = Counts::default();
        if let Some(rows) = &mut refused {
            write_refused(&mut writer, rows)?;
            counts.skipped += rows.len();
            writer.flush()?;
        }
        Ok(Ledger {
            writer,
            plan,
            instance,
            file_problems,
            refused,
            results: vec![None; plan.rows.len()],
            counts,
            undo,
        })
    }

    /// A row finished (sent, or done without a request): into the undo file and the report.
    /// The row is in the report even when the undo file could not take it (the first error
    /// is returned: the run stops there, resumable).
    pub(super) fn done(&mut self, index: usize, result: RowResult) -> std::io::Result<()> {
        let undo = self.undo_add(index, &result);
        let report = self
            .record(index, result)
            .and_then(|()| self.writer.flush());
        undo.and(report)
    }

    /// [`Ledger::done`] without the flush: for rows that finish without a request, all at
    /// once before any is sent (a write to the file per row cost more than the plan).
    pub(super) fn done_unflushed(
        &mut self,
        index: usize,
        result: RowResult,
    ) -> std::io::Result<()> {
        self.undo_add(index, &result)?;
        self.record(index, result)
    }

    fn undo_add(&mut self, index: usize, result: &RowResult) -> std::io::Result<()> {
        match &mut self.undo {
            Some(u) => u.add(&self.plan.rows[index], result, self.instance),
            None => Ok(()),
        }
    }

    /// Puts the rows recorded so far on disk.
    pub(super) fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }

    /// A row's result in the report only (a planned row: nothing to take back).
    pub(super) fn record(&mut self, index: usize, result: RowResult) -> std::io::Result<()> {
        self.counts.add(result.outcome);
        write_row(&mut self.writer, self.plan, index, &result)?;
        self.results[index] = Some(result);
        Ok(())
    }

    /// Rewrites the report in input order (a new file renamed over it, so a crash leaves
    /// one or the other whole); the counts. A report that is not a regular file (`/dev/stdout`,
    /// a FIFO) keeps the rows in the order they finished: it cannot be rewritten.
    pub(super) fn finish(&mut self) -> anyhow::Result<Counts> {
        self.writer.flush()?;
        let given = self.writer.path().to_path_buf();
        // Only a regular file is rewritten (the report was never opened through a link).
        if !std::fs::symlink_metadata(&given).is_ok_and(|m| m.is_file())
            || crate::fsx::is_special(&given)
        {
            return Ok(self.counts.clone());
        }
        // The given name's extension chose the format: the new file keeps it. Made new
        // (`O_EXCL`), then written without following links: nobody else's file is touched.
        let name = given.file_name().map(|n| n.to_string_lossy().into_owned());
        let tmp = given.with_file_name(format!(
            ".qusers-{}-{}",
            std::process::id(),
            name.unwrap_or_else(|| "report.csv".into())
        ));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot write the report beside {}", given.display()))?;
        let written = (|| {
            let mut w = ReportWriter::create(&tmp, ReportKind::Import)?;
            write_file_problems(&mut w, &self.file_problems)?;
            if let Some(rows) = &mut self.refused {
                write_refused(&mut w, rows)?;
            }
            for (i, r) in self.results.iter().enumerate() {
                if let Some(r) = r {
                    write_row(&mut w, self.plan, i, r)?;
                }
            }
            w.flush()?;
            drop(w);
            crate::fsx::rename_over(&tmp, &given)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e)
                .with_context(|| format!("cannot replace the report {}", given.display()));
        }
        Ok(self.counts.clone())
    }
}

impl Ledger<'_> {
    /// The undo file whole again: rows a kill kept out of it as it was appended (a write that
    /// went out just before), from the results and the values the journal holds.
    pub(super) fn rewrite_undo(&mut self) -> anyhow::Result<Option<(PathBuf, usize, Vec<String>)>> {
        let Some(u) = self.undo.take() else {
            return Ok(None);
        };
        let done = self
            .results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, r.as_ref()?)));
        Ok(Some(u.rewrite(self.plan, done, self.instance)?))
    }

    /// Whether a row failed for want of an answer (and so a resume would try it again).
    pub(super) fn retry_left(&self) -> bool {
        self.results
            .iter()
            .any(|r| r.as_ref().is_some_and(RowResult::is_transient_failure))
    }

    /// Whether any row failed.
    pub(super) fn any_failed(&self) -> bool {
        self.results
            .iter()
            .any(|r| r.as_ref().is_some_and(|r| r.outcome == Outcome::Failed))
    }

    /// The undo and failed files left beside the report (`undo_file` as
    /// [`Ledger::rewrite_undo`] made it), and the results, which the ledger hands over.
    pub(super) fn leave(
        mut self,
        report: &Path,
        undo_file: Option<(PathBuf, usize, Vec<String>)>,
    ) -> anyhow::Result<Left> {
        let mut left = leave_undo_and_failed(
            report,
            self.plan,
            &self.results,
            self.refused.as_mut(),
            undo_file,
        )?;
        left.results = std::mem::take(&mut self.results);
        Ok(left)
    }
}

fn write_file_problems(
    writer: &mut ReportWriter,
    problems: &[(Option<u64>, crate::rules::Problem, bool)],
) -> std::io::Result<()> {
    for (line, p, error) in problems {
        writer.write(&ReportRow {
            line: *line,
            outcome: if *error { "invalid" } else { "warning" },
            codes: p.code.id(),
            message: &p.message(),
            ..Default::default()
        })?;
    }
    Ok(())
}

/// The rows of a refused file as the report shows them: skipped, with their own findings.
fn write_refused(writer: &mut ReportWriter, rows: &mut RefusedRows) -> std::io::Result<()> {
    use crate::file::Col;
    for r in rows.iter()? {
        let r = r?;
        writer.write(&ReportRow {
            line: Some(r.line),
            row: Some(r.row),
            user_id: r.fields.get(Col::UserId),
            user_name: r.fields.get(Col::UserName),
            action: r.action.as_str(),
            outcome: Outcome::Skipped.as_str(),
            codes: &r.codes,
            message: &r.report_message(),
            ..Default::default()
        })?;
    }
    Ok(())
}

/// One row as the report shows it (its result already carries the validation findings).
fn write_row(
    writer: &mut ReportWriter,
    plan: &Plan,
    index: usize,
    result: &RowResult,
) -> std::io::Result<()> {
    let row = &plan.rows[index];
    // What the plan decided beside the changes (fields kept, the upsert's user).
    let mut message = result.message.clone();
    for note in &row.notes {
        if !message.contains(note.as_str()) {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(note);
        }
    }
    writer.write(&ReportRow {
        line: Some(row.input.line),
        row: Some(row.input.row),
        user_id: &result.user_id,
        user_name: result.username.as_deref().unwrap_or(row.user_name()),
        action: row.input.action.as_str(),
        outcome: result.outcome.as_str(),
        codes: &result.codes,
        message: &message,
        http_status: result.http_status,
        request_id: result.request_id.as_deref(),
        changes: &row.changes_text(),
    })
}
