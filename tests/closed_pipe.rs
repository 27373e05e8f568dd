//! Output to a reader that has gone (`qusers … | head -c1`): the output stops quietly, the
//! command still ends as it would have, and nothing panics.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A pipe whose reading end is already closed: its writing end.
fn closed_pipe() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `pipe` fills both descriptors on success; each is owned exactly once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let (reader, writer) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(reader);
    writer
}

/// Runs qusers with stdout a pipe whose reader has gone.
fn with_closed_stdout(dir: &Path, args: &[&str]) -> Output {
    let writer = closed_pipe();
    Command::new(env!("CARGO_BIN_EXE_qusers"))
        .current_dir(dir)
        .args(args)
        .env_remove("QUALTRICS_API_TOKEN")
        .env_remove("QUALTRICS_BASE_URL")
        .env_remove("QUALTRICS_DATACENTER")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("runs")
}

#[test]
fn export_json_summary_to_a_closed_pipe_does_not_panic() {
    // With -o FILE the summary is the only thing on stdout.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = with_closed_stdout(
        dir.path(),
        &[
            "export",
            "--sim",
            "-o",
            "users.csv",
            "--format",
            "json",
            "--quiet",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The export itself went to its file, whole.
    let csv = std::fs::read_to_string(dir.path().join("users.csv")).expect("the export");
    assert!(csv.starts_with("userID,userName,"), "{csv}");
    assert!(
        csv.lines().count() > 40,
        "the 40 demo users and the administrator: {csv}"
    );
}

#[test]
fn export_csv_to_a_closed_pipe_ends_quietly() {
    // `qusers export --format json | head -c1`: the CSV meets the closed pipe.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = with_closed_stdout(dir.path(), &["export", "--sim", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
