//! The journal: an append-only JSON-lines file beside the report. A row counts as done only
//! once its outcome line is written; a write about to go out is announced first, so that a
//! resume after a crash knows which creates to look up before sending anything again.
//!
//! Each line is written with one `write` call and no buffering: a killed process (SIGKILL)
//! loses nothing the kernel already has. (Power loss is another matter: no fsync per row,
//! which would cost a disk flush per user.)

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
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
}

/// One journal line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JournalEntry {
    /// The first line: which input this journal belongs to.
    Start {
        input: String,
        input_sha256: String,
        target: String,
    },
    /// A write for this row is about to be sent.
    Sending { row: u64, username: String },
    /// The row is finished.
    Done {
        row: u64,
        #[serde(flatten)]
        result: RowResult,
    },
}

/// What an interrupted import left.
#[derive(Debug, Default)]
pub struct Resumed {
    pub done: HashMap<u64, RowResult>,
    /// Rows whose write went out without a recorded outcome, with the username.
    pub sending: HashMap<u64, String>,
}

/// Why a journal cannot be resumed.
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

impl Journal {
    /// The journal beside a report: `report.csv` → `report.csv.journal`.
    pub fn path_for(report: &Path) -> PathBuf {
        let mut s = report.as_os_str().to_os_string();
        s.push(".journal");
        PathBuf::from(s)
    }

    fn io_err(path: &Path, source: io::Error) -> JournalError {
        JournalError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Starts a new journal; refuses when one is there already.
    pub fn create(path: &Path, start: JournalEntry) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    JournalError::Exists {
                        path: path.display().to_string(),
                    }
                } else {
                    Self::io_err(path, e)
                }
            })?;
        let mut j = Journal {
            file,
            path: path.to_path_buf(),
        };
        j.append(&start).map_err(|e| Self::io_err(path, e))?;
        Ok(j)
    }

    /// Opens a journal to continue it, checking it belongs to this input.
    pub fn resume(path: &Path, input_sha256: &str) -> Result<(Journal, Resumed), JournalError> {
        let file = File::open(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                JournalError::Missing {
                    path: path.display().to_string(),
                }
            } else {
                Self::io_err(path, e)
            }
        })?;
        let mut lines = io::BufReader::new(file).lines();
        let first = lines
            .next()
            .transpose()
            .map_err(|e| Self::io_err(path, e))?;
        let not_journal = || JournalError::NotAJournal {
            path: path.display().to_string(),
        };
        match first.as_deref().map(serde_json::from_str::<JournalEntry>) {
            Some(Ok(JournalEntry::Start {
                input_sha256: h,
                input,
                ..
            })) => {
                if h != input_sha256 {
                    return Err(JournalError::InputChanged {
                        input,
                        path: path.display().to_string(),
                    });
                }
            }
            _ => return Err(not_journal()),
        }
        let mut resumed = Resumed::default();
        for line in lines {
            let line = line.map_err(|e| Self::io_err(path, e))?;
            // A line cut short by a crash carries nothing that was relied on.
            match serde_json::from_str::<JournalEntry>(&line) {
                Ok(JournalEntry::Sending { row, username }) => {
                    resumed.sending.insert(row, username);
                }
                Ok(JournalEntry::Done { row, result }) => {
                    resumed.sending.remove(&row);
                    resumed.done.insert(row, result);
                }
                _ => {}
            }
        }
        let mut file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Self::io_err(path, e))?;
        // Make sure the next entry starts on a line of its own after a cut-short line.
        file.write_all(b"\n").map_err(|e| Self::io_err(path, e))?;
        Ok((
            Journal {
                file,
                path: path.to_path_buf(),
            },
            resumed,
        ))
    }

    /// Appends one entry with a single write.
    pub fn append(&mut self, entry: &JournalEntry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_cut_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.csv.journal");
        let start = JournalEntry::Start {
            input: "in.csv".into(),
            input_sha256: "abc".into(),
            target: "sim".into(),
        };
        let mut j = Journal::create(&path, start.clone()).expect("create");
        assert!(matches!(
            Journal::create(&path, start),
            Err(JournalError::Exists { .. })
        ));
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
        };
        j.append(&JournalEntry::Done {
            row: 1,
            result: done.clone(),
        })
        .expect("append");
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"kind\":\"done\",\"ro").expect("cut line");
        let (_, r) = Journal::resume(&path, "abc").expect("resume");
        assert_eq!(r.done.get(&1), Some(&done));
        assert_eq!(r.sending.get(&2).map(String::as_str), Some("b@x.org"));
        assert!(matches!(
            Journal::resume(&path, "other"),
            Err(JournalError::InputChanged { .. })
        ));
    }
}
