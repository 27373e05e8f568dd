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
