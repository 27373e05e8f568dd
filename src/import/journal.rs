//! The journal: an append-only JSON-lines file beside the report. A row counts as done only
//! once its outcome line is written; a write about to go out is announced first, so that a
//! resume after a crash knows which creates to look up before sending anything again.
//!
//! Each line is written with one `write` call and no buffering: a killed process (SIGKILL)
//! loses nothing the kernel already has. (Power loss is another matter: no fsync per row,
//! which would cost a disk flush per user.)

use std::collections::{BTreeMap, HashMap};
use std::fs::File;

use crate::fsx;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Outcome;
use crate::file::Source;

/// A row's final result, as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowResult {
    pub outcome: Outcome,
    #[serde(rename = "userID")]
    pub user_id: String,
    #[serde(
        rename = "httpStatus",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub http_status: Option<u16>,
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub codes: String,
    #[serde(default)]
    pub message: String,
    /// The username the user got when it is not the file's (`--on-taken suffix`).
    #[serde(
        rename = "finalUserName",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub username: Option<String>,
}

impl Default for RowResult {
    fn default() -> Self {
        RowResult {
            outcome: Outcome::Planned,
            user_id: String::new(),
            http_status: None,
            request_id: None,
            codes: String::new(),
            message: String::new(),
            username: None,
        }
    }
}

impl RowResult {
    /// A failure that another try may cure: no answer (network, timeout), 429 or 5xx.
    /// Content refusals (4xx) are not.
    pub fn is_transient_failure(&self) -> bool {
        self.outcome == Outcome::Failed
            && self
                .http_status
                .is_none_or(|s| s == 429 || (500..600).contains(&s))
    }
}

/// What an update's write replaces, journalled with the write before it goes out: the undo
/// file is rebuilt from these, so that it holds the prior value of every field a run changed
/// whatever kills and resumes came between (a resumed run sees the instance after the write).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prior {
    #[serde(rename = "userID")]
    pub user_id: String,
    #[serde(rename = "userName", default)]
    pub username: String,
    /// Field (`firstName`, `expirationDate`, …) → its value before the write (`""`: empty).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

impl Prior {
    /// Adds what `later` knows and this one does not: the earliest value of a field wins
    /// (a later run sees the values an earlier write left).
    pub fn merge_later(&mut self, later: &Prior) {
        if self.user_id.is_empty() {
            self.user_id = later.user_id.clone();
        }
        if self.username.is_empty() {
            self.username = later.username.clone();
        }
        for (field, value) in &later.fields {
            self.fields
                .entry(field.clone())
                .or_insert_with(|| value.clone());
        }
    }
}

/// One journal line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JournalEntry {
    /// The first line: which input and which instance this journal belongs to.
    Start {
        input: String,
        input_sha256: String,
        /// The API's base URL.
        target: String,
        /// The brand and the user `whoami` named for the token (empty in older journals).
        #[serde(default, rename = "brandId", skip_serializing_if = "String::is_empty")]
        brand_id: String,
        #[serde(default, rename = "userId", skip_serializing_if = "String::is_empty")]
        user_id: String,
    },
    /// A write for this row is about to be sent (for a create, with the username it carries).
    Sending { row: u64, username: String },
    /// The values an update's write replaces, journalled just before its `sending`.
    Replacing {
        row: u64,
        #[serde(flatten)]
        prior: Prior,
    },
    /// The create of a row that also asks for a disabled account went in: the disable is next.
    /// `result` is what the row reports once the disable is done.
    Created {
        row: u64,
        #[serde(flatten)]
        result: RowResult,
    },
    /// The row is finished.
    Done {
        row: u64,
        #[serde(flatten)]
        result: RowResult,
    },
    /// The run went through every row; the journal stays only so that a later
    /// `--resume --retry-failed` can try its failed rows again. A new import over it starts
    /// afresh.
    Finished,
}

/// Which instance and account an import writes to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalTarget {
    pub base_url: String,
    pub brand_id: String,
    pub user_id: String,
}

impl JournalTarget {
    /// The base URL, and the brand and user when known.
    pub fn describe(&self) -> String {
        if self.brand_id.is_empty() {
            self.base_url.clone()
        } else {
            format!(
                "{} (brand {}, user {})",
                self.base_url, self.brand_id, self.user_id
            )
        }
    }

    /// Whether an import into `self` may continue a journal made for `journal`. Loopback URLs
    /// (the simulator) are compared without their port, which changes from run to run; the
    /// account is compared when the journal names one.
    pub fn same_as(&self, journal: &JournalTarget) -> bool {
        let strip = |u: &str| -> String {
            let u = u.trim_end_matches('/');
            let host_start = u.find("://").map_or(0, |i| i + 3);
            let host_end = u[host_start..]
                .find('/')
                .map_or(u.len(), |i| host_start + i);
            let host = &u[host_start..host_end];
            let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
            let loopback = bare == "localhost"
                || bare
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                format!("{}{}{}", &u[..host_start], bare, &u[host_end..])
            } else {
                u.to_string()
            }
        };
        strip(&self.base_url) == strip(&journal.base_url)
            && (journal.brand_id.is_empty()
                || (self.brand_id == journal.brand_id && self.user_id == journal.user_id))
    }
}

/// What an interrupted import left.
#[derive(Debug, Default)]
pub struct Resumed {
    /// The instance the journal was made for.
    pub target: JournalTarget,
    pub done: HashMap<u64, RowResult>,
    /// Rows whose write went out without a recorded outcome, with the username sent.
    pub sending: HashMap<u64, String>,
    /// Creates that went in whose disable step has no recorded outcome.
    pub created: HashMap<u64, RowResult>,
    /// The values update rows' writes replaced, by row, the earliest of every run.
    pub priors: HashMap<u64, Prior>,
    /// The last run went through every row (it was not interrupted after that).
    pub finished: bool,
}

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a qusers journal")]
    NotAJournal { path: String },
    #[error("{input} changed since the interrupted import (the journal {path} was made for another version of it)")]
    InputChanged { input: String, path: String },
    #[error("there is no journal at {path} to resume")]
    Missing { path: String },
    #[error("a journal of an interrupted import exists at {path}")]
    Exists { path: String },
    #[error("the journal {path} belongs to an import into {journal}, not into {this}")]
    OtherTarget {
        path: String,
        journal: String,
        this: String,
    },
    /// A file could not be written (a full disk, most often) while rows were being sent:
    /// the import stopped, and the journal holds every row sent so far.
    #[error("the import stopped: {error}; every row sent so far is in the journal {journal}")]
    Stopped {
        error: io::Error,
        journal: String,
        /// The command that resumes the import, when the caller knows it.
        resume: Option<String>,
    },
    #[error("another qusers import{} is using {report} (lock {lock})", pid.map(|p| format!(" (process {p})")).unwrap_or_default())]
    Locked {
        report: String,
        lock: String,
        pid: Option<u32>,
    },
}

impl JournalError {
    pub fn hint(&self) -> Option<String> {
        match self {
            JournalError::InputChanged { path, .. } => Some(format!(
                "restore the file as it was to resume, or delete {path} to start over (rows already done would then be checked against the instance again)"
            )),
            JournalError::Exists { .. } => Some(
                "add --resume to finish that import, or delete the journal to start over".into(),
            ),
            JournalError::Missing { .. } => {
                Some("give the same --report as the interrupted import".into())
            }
            JournalError::OtherTarget { path, .. } => Some(format!(
                "resume with the instance and API token of the interrupted import; to import into this one instead, give another --report (or delete {path})"
            )),
            JournalError::Stopped { resume, .. } => Some(match resume {
                Some(cmd) => format!("free some space (or fix the cause), then resume: {cmd}"),
                None => "free some space (or fix the cause), then run the same import again with --resume".into(),
            }),
            JournalError::Locked { .. } => Some(
                "wait until that import ends, or give another --report; one import at a time writes a report and its journal".into(),
            ),
            _ => None,
        }
    }
}

/// An open journal.
pub struct Journal {
    file: File,
    path: PathBuf,
}

/// The SHA-256 of a source's bytes, hex.
pub fn content_hash(source: &Source) -> io::Result<String> {
    let mut rdr = source.reader().map_err(io::Error::other)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = rdr.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Opens a journal or lock through [`fsx::open`] (never through a link); its errors name the
/// path already.
fn open_file(path: &Path, how: fsx::Open) -> Result<File, JournalError> {
    fsx::open(path, how).map_err(|source| JournalError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn io_err(path: &Path, source: io::Error) -> JournalError {
    JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `report` + `suffix`, beside the report; for a report that is not a file (`/dev/stdout`, a
/// FIFO) there is nothing to be beside, so in the working directory (`stdout.journal`), as the
/// undo and failed files are: never a new file in `/dev`.
fn sidecar(report: &Path, suffix: &str) -> PathBuf {
    match std::fs::metadata(report) {
        Ok(m) if !m.is_file() => {
            let name = report
                .file_name()
                .map_or_else(|| "import".into(), |n| n.to_string_lossy().into_owned());
            PathBuf::from(format!("{name}{suffix}"))
        }
        _ => {
            let mut s = report.as_os_str().to_os_string();
            s.push(suffix);
            PathBuf::from(s)
        }
    }
}

impl Journal {
    /// The journal beside a report: `report.csv` → `report.csv.journal`.
    pub fn path_for(report: &Path) -> PathBuf {
        sidecar(report, ".journal")
    }

    /// Starts a new journal, replacing an empty one (the caller holds the [`ImportLock`] and
    /// has checked with [`Journal::read`] that no journal with content is there).
    pub fn create(path: &Path, start: JournalEntry) -> Result<Journal, JournalError> {
        let file = open_file(path, fsx::Open::Truncate)?;
        let mut j = Journal {
            file,
            path: path.to_path_buf(),
        };
        j.append(&start).map_err(|e| io_err(path, e))?;
        Ok(j)
    }

    /// Reads a journal: `None` when there is none, or when it is empty (a run killed between
    /// creating it and writing its first line sent nothing, so it is replaced as if absent).
    /// With `input_sha256`, a journal made for another version of the input is refused.
    pub fn read(path: &Path, input_sha256: Option<&str>) -> Result<Option<Resumed>, JournalError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path, e)),
        };
        let mut lines = bytes.split(|&b| b == b'\n');
        let first = lines.next().unwrap_or_default();
        let rest_is_empty = bytes.iter().skip(first.len()).all(u8::is_ascii_whitespace);
        let start = match serde_json::from_slice::<JournalEntry>(first) {
            Ok(JournalEntry::Start {
                input,
                input_sha256: h,
                target,
                brand_id,
                user_id,
            }) => {
                if input_sha256.is_some_and(|want| want != h) {
                    return Err(JournalError::InputChanged {
                        input,
                        path: path.display().to_string(),
                    });
                }
                JournalTarget {
                    base_url: target,
                    brand_id,
                    user_id,
                }
            }
            // Nothing, or a first line cut short: no write was ever announced.
            _ if rest_is_empty => return Ok(None),
            _ => {
                return Err(JournalError::NotAJournal {
                    path: path.display().to_string(),
                })
            }
        };
        let mut resumed = Resumed {
            target: start,
            ..Resumed::default()
        };
        for line in lines {
            // A line cut short by a crash carries nothing that was relied on.
            match serde_json::from_slice::<JournalEntry>(line) {
                Ok(JournalEntry::Finished) => resumed.finished = true,
                Ok(JournalEntry::Sending { row, username }) => {
                    resumed.finished = false;
                    resumed.sending.insert(row, username);
                }
                Ok(JournalEntry::Replacing { row, prior }) => {
                    resumed.priors.entry(row).or_default().merge_later(&prior);
                }
                Ok(JournalEntry::Created { row, result }) => {
                    resumed.finished = false;
                    resumed.sending.remove(&row);
                    resumed.created.insert(row, result);
                }
                Ok(JournalEntry::Done { row, result }) => {
                    resumed.finished = false;
                    resumed.sending.remove(&row);
                    resumed.created.remove(&row);
                    resumed.done.insert(row, result);
                }
                _ => {}
            }
        }
        Ok(Some(resumed))
    }

    /// Opens an existing journal to add to it.
    pub fn reopen(path: &Path) -> Result<Journal, JournalError> {
        let mut file = open_file(path, fsx::Open::Append { create: false })?;
        // Make sure the next entry starts on a line of its own after a cut-short line.
        file.write_all(b"\n").map_err(|e| io_err(path, e))?;
        Ok(Journal {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Opens a journal to continue it, checking it belongs to this input.
    pub fn resume(path: &Path, input_sha256: &str) -> Result<(Journal, Resumed), JournalError> {
        let resumed =
            Self::read(path, Some(input_sha256))?.ok_or_else(|| JournalError::Missing {
                path: path.display().to_string(),
            })?;
        Ok((Self::reopen(path)?, resumed))
    }

    /// Appends one entry with a single write (an error names the journal).
    pub fn append(&mut self, entry: &JournalEntry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The import finished every row: the journal is no longer needed.
    pub fn remove(self) -> io::Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path)
    }
}

/// One import at a time per report: an exclusive OS lock (`flock`/`LockFileEx`) on
/// `REPORT.lock`, which holds the pid of its owner. The OS releases it when the process ends,
/// crash included; a clean end also removes the file.
pub struct ImportLock {
    file: File,
    path: PathBuf,
}

impl ImportLock {
    /// The lock beside a report: `report.csv` → `report.csv.lock`.
    pub fn path_for(report: &Path) -> PathBuf {
        sidecar(report, ".lock")
    }

    /// Takes the lock of `report`, or names the process that holds it.
    pub fn acquire(report: &Path) -> Result<ImportLock, JournalError> {
        use fs4::fs_std::FileExt;
        let path = Self::path_for(report);
        // A holder that ends removes the file after we opened it: we would then hold a lock
        // on a file nobody else sees, so check that the path still names the locked file.
        for _ in 0..20 {
            // Never through a planted link: a victim file would get `pid N`.
            let mut file = open_file(&path, fsx::Open::ReadWrite)?;
            if !file.metadata().map_err(|e| io_err(&path, e))?.is_file() {
                return Err(io_err(
                    &path,
                    io::Error::other("the lock is not a regular file: remove it"),
                ));
            }
            if !file.try_lock_exclusive().map_err(|e| io_err(&path, e))? {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(JournalError::Locked {
                    report: report.display().to_string(),
                    lock: path.display().to_string(),
                    pid: text.split_whitespace().nth(1).and_then(|p| p.parse().ok()),
                });
            }
            if !same_file(&file, &path) {
                continue;
            }
            file.set_len(0).map_err(|e| io_err(&path, e))?;
            file.write_all(format!("pid {}\n", std::process::id()).as_bytes())
                .map_err(|e| io_err(&path, e))?;
            return Ok(ImportLock { file, path });
        }
        Err(io_err(
            &path,
            io::Error::other("the lock file keeps being replaced"),
        ))
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, path: &Path) -> bool {
    // Windows does not let a locked, open file be removed.
    path.exists()
}

impl Drop for ImportLock {
    fn drop(&mut self) {
        // Removed while still held, so that nobody takes a lock on a file about to vanish.
        let _ = std::fs::remove_file(&self.path);
        use fs4::fs_std::FileExt;
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_that_is_not_a_file_keeps_its_journal_and_lock_in_the_working_directory() {
        assert_eq!(
            Journal::path_for(Path::new("/dev/null")),
            PathBuf::from("null.journal")
        );
        assert_eq!(
            ImportLock::path_for(Path::new("/dev/null")),
            PathBuf::from("null.lock")
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let report = dir.path().join("r.csv");
        assert_eq!(Journal::path_for(&report), dir.path().join("r.csv.journal"));
        std::fs::write(&report, "").expect("write");
        assert_eq!(ImportLock::path_for(&report), dir.path().join("r.csv.lock"));
    }

    #[test]
    fn round_trip_and_cut_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.csv.journal");
        let start = JournalEntry::Start {
            input: "in.csv".into(),
            input_sha256: "abc".into(),
            target: "sim".into(),
            brand_id: String::new(),
            user_id: String::new(),
        };
        let mut j = Journal::create(&path, start.clone()).expect("create");
        j.append(&JournalEntry::Sending {
            row: 1,
            username: "a@x.org".into(),
        })
        .expect("append");
        j.append(&JournalEntry::Sending {
            row: 2,
            username: "b@x.org".into(),
        })
        .expect("append");
        let done = RowResult {
            outcome: Outcome::Created,
            user_id: "UR_1".into(),
            http_status: Some(200),
            request_id: Some("r".into()),
            codes: String::new(),
            message: String::new(),
            username: None,
        };
        j.append(&JournalEntry::Done {
            row: 1,
            result: done.clone(),
        })
        .expect("append");
        drop(j);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        f.write_all(b"{\"kind\":\"done\",\"ro").expect("cut line");
        let (_, r) = Journal::resume(&path, "abc").expect("resume");
        assert_eq!(r.done.get(&1), Some(&done));
        assert_eq!(r.sending.get(&2).map(String::as_str), Some("b@x.org"));
        assert!(matches!(
            Journal::resume(&path, "other"),
            Err(JournalError::InputChanged { .. })
        ));
    }

    #[test]
    fn the_values_an_update_replaces_are_read_back_the_earliest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.csv.journal");
        let start = JournalEntry::Start {
            input: "in.csv".into(),
            input_sha256: "abc".into(),
            target: "sim".into(),
            brand_id: String::new(),
            user_id: String::new(),
        };
        let prior = |first: &str, fields: &[(&str, &str)]| Prior {
            user_id: "UR_aaaaaaaaaaa".into(),
            username: first.into(),
            fields: fields
                .iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect(),
        };
        let mut j = Journal::create(&path, start).expect("create");
        // The first run saw the real values; a resumed run sees what the first write left,
        // and one field more.
        for p in [
            prior("ann@x.org", &[("firstName", "Ann"), ("expirationDate", "")]),
            prior(
                "ann@x.org",
                &[("firstName", "Anne"), ("accountStatus", "active")],
            ),
        ] {
            j.append(&JournalEntry::Replacing { row: 4, prior: p })
                .expect("append");
        }
        drop(j);
        let r = Journal::read(&path, Some("abc"))
            .expect("reads")
            .expect("a journal");
        let p = &r.priors[&4];
        assert_eq!(p.fields["firstName"], "Ann");
        assert_eq!(p.fields["expirationDate"], "");
        assert_eq!(p.fields["accountStatus"], "active");
        assert_eq!(p.user_id, "UR_aaaaaaaaaaa");
    }
}
