//! What a sync remembers between runs, in `--state DIR` (default `ROSTER-STEM.qusers-sync/`
//! beside the roster): the run history (what the truncated-roster guard compares with), and per
//! user whether this sync manages it, since when it is missing from the roster, and whether
//! this sync retired it (so that only those come back on their own). One readable JSON file,
//! `state.json`, replaced atomically; `lock` keeps a second sync out while one runs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The state file's layout version.
const VERSION: u32 = 1;

/// The whole state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub version: u32,
    /// Every run that got as far as a decision (dry runs are not recorded), oldest first.
    pub runs: Vec<RunRecord>,
    /// By Qualtrics user id.
    pub users: BTreeMap<String, UserState>,
}

/// One run in the history.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// 1 for the first run; an interrupted run keeps its number for the run that finishes it.
    pub number: u64,
    /// When it ran (RFC 3339, UTC).
    pub at: String,
    /// The day it counted as (`QUSERS_TODAY` in tests), YYYY-MM-DD.
    pub today: String,
    pub roster: String,
    pub roster_sha256: String,
    /// Data rows in the roster.
    pub rows: u64,
    pub header: Vec<String>,
    pub counts: RunCounts,
    /// `done`, `done-with-problems`, `not-imported`, `held`, `interrupted`.
    pub outcome: String,
    /// Why it was held or what went wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl RunRecord {
    /// A run the truncated-roster guard may compare with: it was neither held nor stopped.
    pub fn successful(&self) -> bool {
        matches!(self.outcome.as_str(), "done" | "done-with-problems")
    }
}

/// What a run did, by kind.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RunCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub missing: u64,
    pub disabled: u64,
    pub expired: u64,
    pub reenabled: u64,
    pub invalid: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl RunCounts {
    /// Something was changed, failed or refused: what a notification is sent for by default.
    pub fn eventful(&self) -> bool {
        self.created
            + self.updated
            + self.disabled
            + self.expired
            + self.reenabled
            + self.invalid
            + self.failed
            + self.missing
            > 0
    }
}

/// What the sync knows of one user.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserState {
    pub username: String,
    /// Created by this sync or seen in its roster (the `managed` scope).
    #[serde(default)]
    pub managed: bool,
    /// The day it was first found missing from the roster (this absence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_since: Option<String>,
    /// Consecutive runs it has been missing, counted once per run number.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missing_runs: u64,
    /// The run number that last counted it missing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missing_last_run: u64,
    /// This sync retired it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<Retired>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How and when the sync retired a user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Retired {
    /// `disabled` or `expired`.
    pub how: String,
    pub on: String,
    pub run: u64,
    /// The request is known to have succeeded (false: written before sending, so that a run
    /// killed mid-apply leaves a state the next run can check against the instance).
    pub confirmed: bool,
}

impl State {
    /// The last run the guard compares with.
    pub fn last_successful(&self) -> Option<&RunRecord> {
        self.runs.iter().rev().find(|r| r.successful())
    }

    /// The number the next run records (the number of an interrupted run is taken again:
    /// interrupted runs are recorded, and the counters of that number are not counted twice).
    pub fn next_run(&self) -> u64 {
        match self.runs.last() {
            Some(r) if r.outcome == "interrupted" => r.number,
            Some(r) => r.number + 1,
            None => 1,
        }
    }

    /// Records `run`, replacing the record of the interrupted run it finishes.
    pub fn record(&mut self, run: RunRecord) {
        if self.runs.last().is_some_and(|r| r.number == run.number) {
            self.runs.pop();
        }
        self.runs.push(run);
    }
}

/// The state directory, held for one sync at a time.
pub struct StateDir {
    dir: PathBuf,
    lock: File,
}

impl StateDir {
    /// The default: `ROSTER-STEM.qusers-sync/` beside the roster.
    pub fn default_for(roster: &Path) -> PathBuf {
        let stem = roster
            .file_stem()
            .map_or_else(|| "roster".into(), |s| s.to_string_lossy().into_owned());
        roster.with_file_name(format!("{stem}.qusers-sync"))
    }

    /// Creates `dir` if needed and takes its lock, or says which process holds it.
    pub fn open(dir: &Path) -> anyhow::Result<StateDir> {
        use fs4::fs_std::FileExt;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the state folder {}", dir.display()))?;
        let path = dir.join("lock");
        // Never through a planted link, and never anything but a regular file (a victim file
        // is not overwritten with "pid N").
        let mut lock = crate::fsx::open(&path, crate::fsx::Open::ReadWrite)
            .with_context(|| format!("cannot open the lock {}", path.display()))?;
        if !lock.metadata().is_ok_and(|m| m.is_file()) {
            anyhow::bail!(
                "the lock {} is not a regular file: remove it, or give another --state",
                path.display()
            );
        }
        if !lock
            .try_lock_exclusive()
            .with_context(|| format!("cannot lock {}", path.display()))?
        {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "another sync is running with the state {} ({}): one sync at a time; wait for it, or give another --state",
                dir.display(),
                holder.trim()
            );
        }
        // Who holds it, for the message above (the lock is the flock, not the text).
        let _ = lock.set_len(0);
        let _ = writeln!(lock, "pid {}", std::process::id());
        Ok(StateDir {
            dir: dir.to_path_buf(),
            lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The state, or an empty one before the first run.
    pub fn load(&self) -> anyhow::Result<State> {
        read(&self.dir)
    }

    /// Replaces the state file atomically.
    pub fn save(&self, state: &State) -> anyhow::Result<()> {
        let mut state = state.clone();
        state.version = VERSION;
        let mut text = serde_json::to_vec_pretty(&state)?;
        text.push(b'\n');
        crate::fsx::write_bytes(&self.file(), &text)
            .with_context(|| format!("cannot write the sync state {}", self.file().display()))
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        use fs4::fs_std::FileExt;
        let _ = FileExt::unlock(&self.lock);
    }
}

/// Reads the state in `dir` without taking the lock (`--history`).
pub fn read(dir: &Path) -> anyhow::Result<State> {
    let path = dir.join("state.json");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let state: State = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "the sync state {} is not readable JSON (restore it from a backup, or remove it to start afresh: every user's grace period starts again)",
                    path.display()
                )
            })?;
            if state.version > VERSION {
                anyhow::bail!(
                    "the sync state {} was written by a newer qusers (layout {}): upgrade qusers",
                    path.display(),
                    state.version
                );
            }
            Ok(state)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
            version: VERSION,
            ..State::default()
        }),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_an_interrupted_run_keeps_its_number() {
        let dir = tempfile::tempdir().expect("dir");
        let s = StateDir::open(dir.path()).expect("open");
        let mut st = s.load().expect("empty");
        assert_eq!(st.next_run(), 1);
        st.record(RunRecord {
            number: 1,
            outcome: "interrupted".into(),
            ..RunRecord::default()
        });
        assert_eq!(st.next_run(), 1);
        st.record(RunRecord {
            number: 1,
            outcome: "done".into(),
            rows: 3,
            ..RunRecord::default()
        });
        assert_eq!(st.runs.len(), 1);
        assert_eq!(st.next_run(), 2);
        s.save(&st).expect("save");
        let back = s.load().expect("load");
        assert_eq!(back.runs, st.runs);
        assert_eq!(back.last_successful().map(|r| r.rows), Some(3));
        // A second sync on the same state is refused while the first holds it.
        let e = StateDir::open(dir.path()).err().expect("locked");
        assert!(e.to_string().contains("another sync"), "{e}");
    }
}
