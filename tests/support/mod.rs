//! The harness for integration tests: the real binary, fixtures, temp dirs, report parsing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

mod workdir;
// The harness's whole surface, whether or not a topic uses each part yet.
#[allow(unused_imports)]
pub use workdir::{interrupt, on_sim, run, run_in, run_offline, run_on, Run, Workdir};

/// The import template's header.
pub const HEADER: &str =
    "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate";

/// Writes a user file at `path`: the template header, then `rows`, one a line.
pub fn write_user_file(path: &Path, rows: &[String]) {
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).expect("write");
}

/// Lifts the client's ceiling (by default 35 requests/s, a courtesy to a real brand's shared
/// budget) for a run against the simulator whose test is not about pace: the same requests,
/// without the wait between them.
pub const NO_CEILING: [&str; 2] = ["--max-rps", "2000"];

/// The real binary, with no target or token from the environment and no colour.
pub fn qusers() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("qusers").expect("the qusers binary is built");
    cmd.env_remove("QUALTRICS_API_TOKEN")
        .env_remove("QUALTRICS_BASE_URL")
        .env_remove("QUALTRICS_DATACENTER")
        .env("NO_COLOR", "1");
    cmd
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A report row as tests compare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub line: String,
    pub row: String,
    pub outcome: String,
    pub codes: String,
}

/// `(line, row, outcome, codes)` shorthand for expectations.
pub fn row(line: &str, row: &str, outcome: &str, codes: &str) -> Row {
    Row {
        line: line.into(),
        row: row.into(),
        outcome: outcome.into(),
        codes: codes.into(),
    }
}

/// Every row of a CSV report, as a list of maps from column to value.
pub fn read_report(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut rdr = csv::Reader::from_path(path).expect("report exists");
    let headers = rdr.headers().expect("report header").clone();
    rdr.records()
        .map(|r| {
            let r = r.expect("report row");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The (line, row, outcome, codes) of every report row.
pub fn report_rows(path: &Path) -> Vec<Row> {
    read_report(path)
        .into_iter()
        .map(|m| Row {
            line: m["line"].clone(),
            row: m["row"].clone(),
            outcome: m["outcome"].clone(),
            codes: m["codes"].clone(),
        })
        .collect()
}

/// A `qusers sim` process, killed when dropped.
pub struct SimProcess {
    child: std::process::Child,
    pub url: String,
    pub token: String,
}

impl SimProcess {
    /// Starts `qusers sim --port 0 ARGS…` and reads the address it prints.
    pub fn start(args: &[&str]) -> SimProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"))
            .args(["sim", "--port", "0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("qusers sim starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().expect("a line").expect("text");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("the address")
            .to_string();
        let second = lines.next().expect("a line").expect("text");
        let token = second.trim_start_matches("token: ").to_string();
        // Keep draining stdout so the simulator never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        SimProcess { child, url, token }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a `--sim` state at `state` (through `qusers export`, its copy at `export`) and
/// returns the state as written and one of its user types that is not the brand admin's.
pub fn sim_state_and_user_type(state: &Path, export: &Path) -> (qusers::sim::Store, String) {
    let out = qusers()
        .args(["export", "--sim", "--sim-state"])
        .arg(state)
        .arg("-o")
        .arg(export)
        .args(NO_CEILING)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let store = qusers::sim::Store::load(state).expect("state");
    let user_type = store
        .user_types
        .keys()
        .find(|t| *t != "UT_BRANDADMIN")
        .expect("a user type")
        .clone();
    (store, user_type)
}
