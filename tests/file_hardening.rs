//! Files an admin (or an attacker) hands in that used to lose the input or sink the reader:
//! outputs that are the input, outputs that are devices, pipes, NUL bytes, Mac line ends,
//! split parts in the way.

mod support;

use std::path::{Path, PathBuf};

use support::{fixture, qusers};

fn tmp_copy(dir: &Path, name: &str, fixture_name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(fixture(fixture_name), &p).expect("copy fixture");
    p
}

/// `validate X --report X` (and the same through ./, a symlink, a hard link) leaves X as it was.
#[test]
fn validate_refuses_a_report_that_is_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = tmp_copy(dir.path(), "users.csv", "valid_create.csv");
    let before = std::fs::read(&input).expect("read");
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&input, &hard).expect("hard link");
    let mut reports: Vec<PathBuf> =
        vec![input.clone(), dir.path().join(".").join("users.csv"), hard];
    #[cfg(unix)]
    {
        let soft = dir.path().join("soft.csv");
        std::os::unix::fs::symlink(&input, &soft).expect("symlink");
        reports.push(soft);
    }
    for report in reports {
        let out = qusers()
            .current_dir(dir.path())
            .arg("validate")
            .arg("users.csv")
            .arg("--report")
            .arg(&report)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "report {}", report.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is the input file"), "{err}");
        assert!(err.contains("hint:"), "{err}");
        assert_eq!(std::fs::read(&input).expect("read"), before, "input intact");
    }
}

/// `import X --report X` refuses before anything is written (offline: `--dry-run --existing`).
#[test]
fn import_refuses_a_report_or_journal_that_is_an_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = tmp_copy(dir.path(), "users.csv", "valid_create.csv");
    let existing = tmp_copy(dir.path(), "export.csv", "existing_export.csv");
    let before = std::fs::read(&input).expect("read");
    let before_existing = std::fs::read(&existing).expect("read");
    for report in [input.clone(), existing.clone()] {
        let out = qusers()
            .arg("import")
            .arg(&input)
            .arg("--existing")
            .arg(&existing)
            .arg("--dry-run")
            .arg("--report")
            .arg(&report)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("is the input file"));
    }
    // The journal (REPORT.journal) may not be the input either.
    let journaled = dir.path().join("r.csv.journal");
    std::fs::copy(&input, &journaled).expect("copy");
    let out = qusers()
        .arg("import")
        .arg(&journaled)
        .arg("--existing")
        .arg(&existing)
        .arg("--dry-run")
        .arg("--report")
        .arg(dir.path().join("r.csv"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read(&input).expect("read"), before);
    assert_eq!(std::fs::read(&existing).expect("read"), before_existing);
}

/// `fix X -o ./X` through a hard link is refused too.
#[test]
fn fix_refuses_an_output_that_is_a_hard_link_to_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = tmp_copy(dir.path(), "users.csv", "fixable_cells.csv");
    let before = std::fs::read(&input).expect("read");
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&input, &hard).expect("hard link");
    let out = qusers()
        .arg("fix")
        .arg(&input)
        .arg("-o")
        .arg(&hard)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read(&input).expect("read"), before);
}

/// An old part in the way stops split before any part is written.
#[test]
fn split_refuses_before_writing_when_a_part_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from(
        "userID,userName,firstName,lastName,email,divisionId,accountType,accountStatus,expirationDate\n",
    );
    for i in 0..10 {
        text.push_str(&format!(
            ",u{i}@x.edu,A,B,u{i}@x.edu,,UT_4SjjZmbPphZGKDq,active,\n"
        ));
    }
    let input = dir.path().join("users.csv");
    std::fs::write(&input, &text).expect("write");
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).expect("mkdir");
    std::fs::write(parts.join("users.part-002.csv"), "old").expect("write");
    let out = qusers()
        .arg("split")
        .arg(&input)
        .arg("--out-dir")
        .arg(&parts)
        .args(["--rows", "5"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        !parts.join("users.part-001.csv").exists(),
        "no part written"
    );
    assert_eq!(
        std::fs::read(parts.join("users.part-002.csv")).expect("read"),
        b"old"
    );
}

/// `-o` naming a device, a FIFO or a symlink to one writes into it; the path stays what it was.
#[cfg(unix)]
#[test]
fn output_to_devices_fifos_and_stdout_is_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = tmp_copy(dir.path(), "users.csv", "fixable_cells.csv");

    // /dev/null, directly and through a symlink that must stay a symlink.
    let link = dir.path().join("null.csv");
    std::os::unix::fs::symlink("/dev/null", &link).expect("symlink");
    // (Only through a symlink: were this ever to regress, a rename replaces the link, not the
    // machine's /dev/null.)
    let o = qusers()
        .arg("fix")
        .arg(&input)
        .arg("-o")
        .arg(&link)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(std::fs::symlink_metadata(&link)
        .expect("still there")
        .file_type()
        .is_symlink());

    // A FIFO: its reader gets the copy, and it is still a FIFO afterwards.
    let fifo = dir.path().join("pipe.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).expect("read fifo"))
    };
    let o = qusers()
        .arg("fix")
        .arg(&input)
        .arg("-o")
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("runs");
    if o.status.code() != Some(0) {
        // Unblock the reader (still waiting for a writer) before failing.
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
    }
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let got = reader.join().expect("reader");
    assert!(
        got.starts_with(b"userID,userName"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(std::fs::symlink_metadata(&fifo)
        .expect("still there")
        .file_type()
        .is_fifo());

    // `-o -` is stdout; the summary goes to stderr.
    let o = qusers()
        .arg("fix")
        .arg(&input)
        .args(["-o", "-"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(o.stdout.starts_with(b"userID,userName"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be read back"));

    // template -o LINK-TO-/dev/null
    let o = qusers()
        .args(["template", "-o"])
        .arg(&link)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(std::fs::symlink_metadata(&link)
        .expect("still there")
        .file_type()
        .is_symlink());
}
